"""Tests for what the mutation check found the tests did not see (docs/flaws.md, "Mutation
check"): each would fail under the mutant named in its docstring."""

from __future__ import annotations

from ybstate.model import decide
from ybstate.restore.actions import StartRestore
from ybstate.testing import start_from_toml

DDL_AFTER_THE_BACKUP = """
[cluster]
data_servers = 2
[[tenants]]
name = "shop"
tables = { orders = 1 }
[[steps]]
do = "write"
tenant = "shop"
put = [["orders", "o1", "new"]]
[[steps]]
do = "freeze"
[[steps]]
do = "backup"
tenant = "shop"
[[steps]]
do = "archive_start"
tenant = "shop"
[[steps]]
do = "create_table"
tenant = "shop"
table = "items"
tablets = 3
[[steps]]
do = "write"
tenant = "shop"
put = [["items", "i1", "x"]]
[[steps]]
do = "restore"
source = "shop"
target = "shop_back"
"""


def _tablets(state, tenant: str, table: str) -> int:
    found = state.table_named(state.tenant_named(tenant).tenant_id, table)
    return len(found.tablets)


def test_a_table_created_after_the_backup_is_restored_with_its_tablets():
    """Mutant: the applier replays a CreateTable without its tablet count (restore/decide.py,
    _apply_entry): the rows all arrive, in one tablet instead of three."""
    state = start_from_toml(DDL_AFTER_THE_BACKUP)
    assert _tablets(state, "shop", "items") == _tablets(state, "shop_back", "items") == 3


def test_a_table_created_after_t_is_caught_up_with_its_tablets_and_a_later_schema_version():
    """Mutants: the promotion's catch-up replays a CreateTable without its tablet count, or
    numbers the standby's tables and schema versions from 1 (promote/decide.py, _catch_up)."""
    state = start_from_toml(
        DDL_AFTER_THE_BACKUP
        + """
[[steps]]
do = "create_table"
tenant = "shop"
table = "notes"
tablets = 2
[[steps]]
do = "create_table"
tenant = "shop"
table = "tags"
tablets = 2
[[steps]]
do = "write"
tenant = "shop"
put = [["notes", "n1", "y"], ["tags", "t1", "z"]]
[[steps]]
do = "promote"
standby = "shop_back"
primary = "shop"
"""
    )
    new = state.tenant_named("shop")  # the promoted standby now holds the name
    notes = state.table_named(new.tenant_id, "notes")
    tags = state.table_named(new.tenant_id, "tags")
    assert (len(notes.tablets), len(tags.tablets)) == (2, 2)
    ids = [t.table_id for t in state.tables.values()]
    assert len(ids) == len(set(ids)) and tags.table_id > notes.table_id
    assert tags.schema_version > notes.schema_version
    # the promotion's mapping names the standby's tables as they were created
    (promotion,) = state.promotions.values()
    mapped = {m.name: (m.target_table_id, m.schema_version) for m in promotion.mapping}
    assert mapped["notes"] == (notes.table_id, notes.schema_version)
    assert mapped["tags"] == (tags.table_id, tags.schema_version)


def test_a_restore_without_a_capacity_bounds_its_queue_at_twice_its_workers_and_to_latest_has_no_mark():
    """Mutants restore.decide._start #94 (three times the workers) and #100 (a restore to
    "latest" recorded with the mark "latest"): both documented (docs/scenarios.md), and no
    checker can tell a default from another value."""
    before = start_from_toml(
        DDL_AFTER_THE_BACKUP[: DDL_AFTER_THE_BACKUP.index('do = "restore"') - len("[[steps]]\n")]
    )
    started = decide(before, StartRestore(source="shop", target="shop_back", until="latest", workers=3))[0]
    assert (started.workers, started.capacity) == (3, 6)
    assert started.until == "latest" and started.latest and started.mark == ""
