"""The SQL invariants in invariants/: silent on healthy histories, loud on planted faults.

Healthy histories come from the cluster core (the quickstart scenario, seeded random
walks, restores driven to each of their ends, and promotions rolled back, retried and
completed, then decommissions). Each fault is planted by editing the stored events with
DuckDB SQL, and breaks exactly one promise; the test states which invariants must then
return rows, and that no other one does. The quickstart holds no restore, so faults of
restores are planted in a copy of the restores history, and faults of promotions and
decommissions in a copy of the promotions history.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from driven import several_promotions, several_restores
from histories import RETENTION, duck_query, edit_payload, run_quickstart, simulated_history, store_history

from ybstate.history import invariants_dir, sql_invariants
from ybstate.scenario import load_scenario, parse_scenario, run_scenario
from ybstate.store import DuckDBStore

INVARIANTS = {inv.name: inv for inv in sql_invariants()}

# A freeze over tables that hold no rows yet, and one after a table was dropped empty.
EMPTY_TABLES = """\
[[tenants]]
name = "shop"
tables = { orders = 2, users = 1 }

[[tenants]]
name = "idle"
tables = { nothing = 1 }

[[steps]]
do = "freeze"

[[steps]]
do = "write"
tenant = "shop"
put = [["orders", "k1", "apple"]]

[[steps]]
do = "create_table"
tenant = "idle"
table = "later"

[[steps]]
do = "freeze"

[[steps]]
do = "drop_table"
tenant = "idle"
table = "later"

[[steps]]
do = "freeze"
"""


def _quickstart(path: Path) -> None:
    with DuckDBStore(path) as store:
        run_quickstart(store)


def _empty_tables(path: Path) -> None:
    with DuckDBStore(path) as store:
        run_scenario(parse_scenario(EMPTY_TABLES, "empty_tables.toml"), store)


def _retention(path: Path) -> None:
    with DuckDBStore(path) as store:
        run_scenario(load_scenario(RETENTION), store, query=duck_query(store))


def _simulated(seed: int, steps: int) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        events, state = simulated_history(seed, steps)
        with DuckDBStore(path) as store:
            store_history(store, events, state)

    return build


def _restores(path: Path) -> None:
    driven = several_restores()
    with DuckDBStore(path) as store:
        store_history(store, driven.events, driven.state)


def _promotions(path: Path) -> None:
    driven = several_promotions()
    with DuckDBStore(path) as store:
        store_history(store, driven.events, driven.state)


HEALTHY = {
    "quickstart": _quickstart,
    "restores": _restores,
    "promotions": _promotions,
    "empty-tables": _empty_tables,
    "retention": _retention,
    "simulated-1": _simulated(1, 400),
    "simulated-2": _simulated(2, 400),
    "simulated-3": _simulated(3, 150),
}


@pytest.fixture(scope="module")
def healthy(tmp_path_factory) -> dict[str, Path]:
    where = tmp_path_factory.mktemp("healthy")
    files = {}
    for name, build in HEALTHY.items():
        files[name] = where / f"{name}.duckdb"
        build(files[name])
    return files


def _rows(path: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("history", sorted(HEALTHY))
@pytest.mark.parametrize("invariant", sorted(INVARIANTS))
def test_invariant_returns_no_rows_on_a_healthy_history(healthy, invariant, history):
    assert _rows(healthy[history], INVARIANTS[invariant].sql) == []


def test_healthy_histories_hold_freezes_open_transactions_aborts_and_ddl(healthy):
    # the healthy histories must reach what the invariants look at, or silence means nothing
    for name in ("quickstart", "simulated-1"):
        kinds = dict(_rows(healthy[name], "SELECT kind, count(*) FROM commit_log GROUP BY kind"))
        assert set(kinds) >= {"DDL", "MUTATOR", "COMMIT", "ABORT", "FREEZE"}, name
        straddling = _rows(
            healthy[name],
            "SELECT count(*) FROM commit_log, unnest(CAST(payload -> 'open_transactions' AS JSON[])) "
            "WHERE kind = 'FREEZE'",
        )
        assert straddling[0][0] > 0, name


# Planted faults ---------------------------------------------------------------------------


def _one(con, sql: str, params=()) -> tuple:
    row = con.execute(sql, list(params)).fetchone()
    assert row is not None and row[0] is not None, sql
    return row


def _first_freeze(con) -> int:
    return _one(con, "SELECT min(seq) FROM events WHERE type = 'log.freeze'")[0]


def _aborted_blog_tx(con) -> int:
    return _one(
        con,
        "SELECT min(t.tx_id) FROM transactions t JOIN tenants n USING (tenant_id) "
        "WHERE t.outcome = 'aborted' AND n.name = 'blog'",
    )[0]


def _shop(con) -> tuple[int, int]:
    """The shop tenant's id and the id of its first table."""
    return _one(
        con,
        "SELECT n.tenant_id, min(t.table_id) FROM tenants n JOIN cluster_tables t USING (tenant_id) "
        "WHERE n.name = 'shop' GROUP BY n.tenant_id",
    )


def log_id_gap(con) -> None:
    """Every entry from log id 100 on is numbered one too high: log id 100 is missing."""
    con.execute(
        "UPDATE events SET payload = json_merge_patch(payload, "
        "json_object('log_id', CAST(payload ->> 'log_id' AS BIGINT) + 1)) "
        "WHERE type LIKE 'log.%' AND CAST(payload ->> 'log_id' AS BIGINT) >= 100"
    )


def commit_at_the_same_time_as_its_predecessor(con) -> None:
    seq, previous = _one(
        con,
        "SELECT seq, previous FROM (SELECT seq, kind, lag(ts) OVER (ORDER BY log_id) AS previous "
        "FROM commit_log) WHERE kind = 'COMMIT' ORDER BY seq LIMIT 1 OFFSET 5",
    )
    con.execute("UPDATE events SET time = ? WHERE seq = ?", [previous, seq])


def commit_going_back_in_time(con) -> None:
    seq, previous = _one(
        con,
        "SELECT seq, previous FROM (SELECT seq, kind, lag(ts) OVER (ORDER BY log_id) AS previous "
        "FROM commit_log) WHERE kind = 'COMMIT' ORDER BY seq LIMIT 1 OFFSET 5",
    )
    con.execute("UPDATE events SET time = ? WHERE seq = ?", [previous - 10, seq])


def cell_of_another_tenants_table(con) -> None:
    _, shop_table = _shop(con)
    (seq,) = _one(
        con, "SELECT min(seq) FROM commit_log WHERE kind = 'MUTATOR' AND tx_id = ?", [_aborted_blog_tx(con)]
    )
    edit_payload(con, seq, lambda p: p["cells"][0].update(table_id=shop_table))


def transaction_under_two_tenants(con) -> None:
    shop_id, _ = _shop(con)
    tx_id = _aborted_blog_tx(con)
    (seq,) = _one(con, "SELECT seq FROM commit_log WHERE kind = 'ABORT' AND tx_id = ?", [tx_id])
    con.execute("UPDATE events SET tenant_id = ? WHERE seq = ?", [shop_id, seq])
    edit_payload(con, seq, lambda p: p.update(tenant_id=shop_id))


def baseline_checksum_wrong(con) -> None:
    def change(payload):
        entry = payload["baseline"][0]
        entry["checksum"] = (entry["checksum"] + 1) % (1 << 64)

    edit_payload(con, _first_freeze(con), change)


def baseline_row_count_wrong(con) -> None:
    def change(payload):
        payload["baseline"][0]["rows"] += 1

    edit_payload(con, _first_freeze(con), change)


def committed_value_changed_under_a_freeze(con) -> None:
    """A value of the first committed transaction is rewritten: the freezes recorded the old one."""
    (seq,) = _one(
        con,
        "SELECT min(m.seq) FROM commit_log m JOIN transactions t USING (tx_id) "
        "WHERE m.kind = 'MUTATOR' AND t.outcome = 'committed'",
    )
    edit_payload(con, seq, lambda p: p["cells"][-1].update(value=p["cells"][-1]["value"] + "-changed"))


def open_transaction_left_out(con) -> None:
    def change(payload):
        assert payload["open_transactions"], "the first freeze of the quickstart straddles a transaction"
        payload["open_transactions"] = []

    edit_payload(con, _first_freeze(con), change)


def ended_transaction_listed_as_open(con) -> None:
    (tx_id, tenant_id, first) = _one(
        con,
        "SELECT tx_id, tenant_id, first_log_id FROM transactions "
        "WHERE end_log_id < (SELECT min(log_id) FROM commit_log WHERE kind = 'FREEZE') "
        "ORDER BY tx_id LIMIT 1",
    )
    entry = {"tx_id": tx_id, "tenant_id": tenant_id, "first_log_id": first}
    edit_payload(con, _first_freeze(con), lambda p: p["open_transactions"].append(entry))


def seq_gap(con) -> None:
    con.execute("UPDATE events SET seq = seq + 1 WHERE seq = (SELECT max(seq) FROM events)")


def event_missing(con) -> None:
    (seq,) = _one(con, "SELECT seq FROM marks WHERE name = 'before_mistake'")
    con.execute("DELETE FROM events WHERE seq = ?", [seq])


def event_going_back_in_time(con) -> None:
    (seq,) = _one(con, "SELECT seq FROM marks WHERE name = 'before_mistake'")
    con.execute("UPDATE events SET time = time - 5 WHERE seq = ?", [seq])


# planting -> the invariants that must return rows (and no other may)
def _first_backup_event(con, kind: str) -> int:
    return _one(con, "SELECT min(seq) FROM events WHERE type = ?", [kind])[0]


def backup_completed_before_it_was_prepared(con) -> None:
    seq = _first_backup_event(con, "backup.preparing")
    con.execute("UPDATE events SET type = 'backup.completed' WHERE seq = ?", [seq])


def stored_tablet_checksum_wrong(con) -> None:
    seq = _first_backup_event(con, "backup.tablet_copied")
    edit_payload(con, seq, lambda p: p.update(checksum=(p["checksum"] + 1) % (1 << 64)))


def stored_row_value_changed(con) -> None:
    seq = _one(
        con,
        "SELECT min(seq) FROM events "
        "WHERE type = 'backup.tablet_copied' AND json_array_length(payload -> 'rows') > 0",
    )[0]

    def change(payload):
        key, value = payload["rows"][0]
        payload["rows"][0] = [key, value + "!"]

    edit_payload(con, seq, change)


def version_dropped_under_a_running_backup(con) -> None:
    """A drop of the backup's version is slipped in between its PREPARING and its end."""
    (prepared, version) = _one(
        con,
        "SELECT seq, CAST(payload ->> 'frozen_version' AS BIGINT) FROM events "
        "WHERE type = 'backup.prepared' ORDER BY seq LIMIT 1",
    )
    con.execute(
        "UPDATE events SET type = 'cluster.version_dropped', payload = json_object('seq', seq, 'time', time, "
        "'version', ?) WHERE seq = (SELECT min(seq) FROM events WHERE seq > ? AND type = 'dag.task_started')",
        [version, prepared],
    )


def archive_piece_starting_one_entry_late(con) -> None:
    """A sealed piece claims to start one log id after where the previous one ended."""
    seq = _one(con, "SELECT max(seq) FROM events WHERE type = 'archive.piece_sealed'")[0]
    edit_payload(con, seq, lambda p: p.update(first_log_id=p["first_log_id"] + 1))


def _recycle_everything_at_the_mark(con) -> None:
    """The 'before_mistake' mark becomes a recycling of the whole log: every later read of
    shop's archiver reads recycled log."""
    (seq,) = _one(con, "SELECT seq FROM marks WHERE name = 'before_mistake'")
    (last,) = _one(con, "SELECT max(log_id) FROM commit_log")
    con.execute(
        "UPDATE events SET type = 'cluster.log_recycled', tenant_id = NULL, "
        "payload = json_object('seq', seq, 'time', time, 'through', ?) WHERE seq = ?",
        [last, seq],
    )


def log_recycled_under_a_backup_first_archiver(con) -> None:
    _recycle_everything_at_the_mark(con)


def log_recycled_under_a_business_first_archiver(con) -> None:
    """As above, with shop archiving business first: the reads are still of recycled log,
    but the pin was not shop's to keep."""
    _recycle_everything_at_the_mark(con)
    shop_id, _ = _shop(con)
    (seq,) = _one(
        con, "SELECT seq FROM events WHERE type = 'cluster.tenant_created' AND tenant_id = ?", [shop_id]
    )
    edit_payload(con, seq, lambda p: p.update(log_retention="business_first"))


PLANTED: dict[Callable, set[str]] = {
    log_recycled_under_a_backup_first_archiver: {"archive_reads_kept", "archive_backup_first_pins"},
    log_recycled_under_a_business_first_archiver: {"archive_reads_kept"},
    archive_piece_starting_one_entry_late: {"archive_pieces_consecutive"},
    version_dropped_under_a_running_backup: {"pinned_versions_kept"},
    backup_completed_before_it_was_prepared: {"backup_phases_forward"},
    stored_tablet_checksum_wrong: {"backup_checksums_recompute"},
    stored_row_value_changed: {"backup_checksums_recompute", "backup_sets_equal_baseline"},
    log_id_gap: {"log_ids_dense"},
    commit_at_the_same_time_as_its_predecessor: {"commit_ts_increasing"},
    commit_going_back_in_time: {"commit_ts_increasing", "events_seq_dense"},
    cell_of_another_tenants_table: {"single_tenant_transactions"},
    transaction_under_two_tenants: {"single_tenant_transactions"},
    baseline_checksum_wrong: {"freeze_baseline_exact"},
    baseline_row_count_wrong: {"freeze_baseline_exact"},
    committed_value_changed_under_a_freeze: {"freeze_baseline_exact", "backup_sets_equal_baseline"},
    open_transaction_left_out: {"freeze_open_transactions"},
    ended_transaction_listed_as_open: {"freeze_open_transactions"},
    seq_gap: {"events_seq_dense"},
    event_missing: {"events_seq_dense"},
    event_going_back_in_time: {"events_seq_dense"},
}


@pytest.fixture
def quickstart_copy(healthy, tmp_path) -> Path:
    path = tmp_path / "planted.duckdb"
    shutil.copy(healthy["quickstart"], path)
    return path


def _violated(path: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        found = {name: con.execute(inv.sql).fetchall() for name, inv in INVARIANTS.items()}
    finally:
        con.close()
    return {name: rows for name, rows in found.items() if rows}


@pytest.mark.parametrize("plant", list(PLANTED), ids=lambda plant: plant.__name__)
def test_planted_violation_is_reported_by_the_invariant_that_checks_it(quickstart_copy, plant):
    con = duckdb.connect(str(quickstart_copy))
    try:
        plant(con)
    finally:
        con.close()
    assert set(_violated(quickstart_copy)) == PLANTED[plant]


def test_cross_tenant_rows_say_which_problem_they_are(quickstart_copy):
    con = duckdb.connect(str(quickstart_copy))
    try:
        cell_of_another_tenants_table(con)
        transaction_under_two_tenants(con)
    finally:
        con.close()
    problems = {row[-1] for row in _violated(quickstart_copy)["single_tenant_transactions"]}
    assert problems == {"cell of another tenant's table", "transaction under several tenants"}


def test_open_transaction_rows_say_which_way_the_lists_differ(quickstart_copy):
    con = duckdb.connect(str(quickstart_copy))
    try:
        open_transaction_left_out(con)
        ended_transaction_listed_as_open(con)
    finally:
        con.close()
    problems = {row[-1] for row in _violated(quickstart_copy)["freeze_open_transactions"]}
    assert problems == {"open at the freeze, not recorded", "recorded, but not open at the freeze"}


def test_every_invariant_has_a_planted_violation():
    planted = (*PLANTED.values(), *RESTORE_PLANTED.values(), *PROMOTE_PLANTED.values())
    assert set().union(*planted) == set(INVARIANTS)


# Planted faults of restores, in a copy of the restores history -----------------------------


def _applied_pair(con) -> tuple[int, int]:
    """The seqs of two consecutive restore.entry_applied events of task 1 where the second
    entry was rewritten before the first was applied (a worker finished out of order)."""
    return _one(
        con,
        "WITH a AS (SELECT seq, CAST(payload ->> 'entry_seq' AS BIGINT) AS entry_seq, "
        "lead(seq) OVER (ORDER BY seq) AS next_seq, "
        "lead(CAST(payload ->> 'entry_seq' AS BIGINT)) OVER (ORDER BY seq) AS next_entry "
        "FROM events WHERE type = 'restore.entry_applied' AND CAST(payload ->> 'task_id' AS BIGINT) = 1) "
        "SELECT a.seq, a.next_seq FROM a JOIN events w ON w.type = 'restore.entry_rewritten' "
        "AND CAST(w.payload ->> 'task_id' AS BIGINT) = 1 "
        "AND CAST(w.payload ->> 'entry_seq' AS BIGINT) = a.next_entry AND w.seq < a.seq "
        "ORDER BY a.seq LIMIT 1",
    )


def _restore_event(con, kind: str, entry_seq: int) -> int:
    """The seq of task 1's ``kind`` event for entry ``entry_seq``."""
    return _one(
        con,
        "SELECT min(seq) FROM events WHERE type = ? AND CAST(payload ->> 'task_id' AS BIGINT) = 1 "
        "AND CAST(payload ->> 'entry_seq' AS BIGINT) = ?",
        [kind, entry_seq],
    )[0]


def applied_entries_swapped(con) -> None:
    """Two entries reach the applier in the wrong order (both already rewritten)."""
    first, second = _applied_pair(con)
    (a,) = _one(con, "SELECT CAST(payload ->> 'entry_seq' AS BIGINT) FROM events WHERE seq = ?", [first])
    (b,) = _one(con, "SELECT CAST(payload ->> 'entry_seq' AS BIGINT) FROM events WHERE seq = ?", [second])
    edit_payload(con, first, lambda p: p.update(entry_seq=b))
    edit_payload(con, second, lambda p: p.update(entry_seq=a))


def entry_applied_without_its_rewrite(con) -> None:
    """The rewrite of entry 2 is recorded as one of an entry never read: entry 2 is
    applied unrewritten."""
    edit_payload(con, _restore_event(con, "restore.entry_rewritten", 2), lambda p: p.update(entry_seq=1000))


def reader_skips_a_number(con) -> None:
    """The reader numbers its second entry 3: entry 2 is applied without having been read,
    and the reads go 1, 3, 3."""
    edit_payload(con, _restore_event(con, "restore.entry_read", 2), lambda p: p.update(entry_seq=3))


# planting -> the invariants that must return rows (and no other may); then the problems named
RESTORE_PLANTED: dict[Callable, set[str]] = {
    applied_entries_swapped: {"restore_applies_in_order"},
    entry_applied_without_its_rewrite: {"restore_applies_in_order"},
    reader_skips_a_number: {"restore_applies_in_order"},
}
RESTORE_PROBLEMS: dict[Callable, set[str]] = {
    applied_entries_swapped: {"applied out of order"},
    entry_applied_without_its_rewrite: {"applied before it was rewritten"},
    reader_skips_a_number: {"applied before it was read", "read out of order"},
}


@pytest.fixture
def restores_copy(healthy, tmp_path) -> Path:
    path = tmp_path / "planted-restores.duckdb"
    shutil.copy(healthy["restores"], path)
    return path


@pytest.mark.parametrize("plant", list(RESTORE_PLANTED), ids=lambda plant: plant.__name__)
def test_planted_restore_violation_is_reported_by_the_invariant_that_checks_it(restores_copy, plant):
    con = duckdb.connect(str(restores_copy))
    try:
        plant(con)
    finally:
        con.close()
    violated = _violated(restores_copy)
    assert set(violated) == RESTORE_PLANTED[plant]
    rows = violated["restore_applies_in_order"]
    assert {row[-1] for row in rows} == RESTORE_PROBLEMS[plant]
    assert {row[0] for row in rows} == {1}  # only the task planted in


def test_the_restores_history_reorders_rewrites_and_ends_every_way(healthy):
    # restore_applies_in_order is silent on it only if workers really finish out of order
    out_of_order = _rows(
        healthy["restores"],
        "SELECT count(*) FROM (SELECT CAST(payload ->> 'entry_seq' AS BIGINT) AS entry_seq, "
        "lag(CAST(payload ->> 'entry_seq' AS BIGINT)) OVER (PARTITION BY payload ->> 'task_id' ORDER BY seq) "
        "AS previous FROM events WHERE type = 'restore.entry_rewritten') WHERE entry_seq < previous",
    )
    assert out_of_order[0][0] > 0
    ends = _rows(
        healthy["restores"],
        "SELECT type, count(*) FROM events "
        "WHERE type IN ('restore.completed', 'restore.failed', 'restore.cancelled') "
        "GROUP BY type ORDER BY type",
    )
    assert ends == [("restore.cancelled", 2), ("restore.completed", 2), ("restore.failed", 2)]


# Planted faults of promotions, in a copy of the promotions history --------------------------
# Its promotions: 1 rolled back at FENCE, 2 rolled back at SWITCH_SCHEMA (after its fence;
# the old primary commits on), 3 completed; then the old primary decommissioned (read-only,
# then fully), the standby spare fully, and two commits of the new primary.

OLD_PRIMARY = 1001  # shop, the first tenant


def _promotion_event(con, kind: str, promotion_id: int) -> int:
    return _one(
        con,
        "SELECT min(seq) FROM events WHERE type = ? AND CAST(payload ->> 'promotion_id' AS BIGINT) = ?",
        [kind, promotion_id],
    )[0]


def _payload_int(con, seq: int, key: str) -> int:
    return _one(
        con, "SELECT CAST(json_extract_string(payload, ?) AS BIGINT) FROM events WHERE seq = ?", [key, seq]
    )[0]


def _new_primary(con) -> int:
    """The standby promotion 3 made the new primary."""
    return _payload_int(con, _promotion_event(con, "promotion.started", 3), "standby_id")


def _decommission_of(con, tenant_id: int) -> int:
    """The seq of the tenant's first tenant.decommissioned event."""
    return _one(
        con, "SELECT min(seq) FROM events WHERE type = 'tenant.decommissioned' AND tenant_id = ?", [tenant_id]
    )[0]


def _spare(con) -> int:
    return _one(con, "SELECT tenant_id FROM tenants WHERE name = 'spare'")[0]


def _commits(con, tenant_id: int, after_seq: int, before_seq: int) -> list[tuple[int, int, int]]:
    """(tx_id, log_id, seq) of the tenant's COMMIT entries between two seqs, in order."""
    return con.execute(
        "SELECT tx_id, log_id, seq FROM commit_log WHERE kind = 'COMMIT' AND tenant_id = ? "
        "AND seq > ? AND seq < ? ORDER BY seq",
        [tenant_id, after_seq, before_seq],
    ).fetchall()


def fence_below_the_last_commit(con) -> None:
    """Promotion 3's fence point is recorded one log id before the old primary's last
    commit: that commit now lies past the fence (and past the decommission's, which keeps
    it)."""
    fenced = _promotion_event(con, "promotion.fenced", 3)
    (*_, (_, last_commit, _)) = _commits(con, OLD_PRIMARY, 0, fenced)
    edit_payload(con, fenced, lambda p: p.update(fence_log_id=last_commit - 1))


def rollback_not_recorded(con) -> None:
    """Promotion 2's failed step is recorded as not rolling back: its fence stays, and the
    old primary's commits after the rollback lie past it."""
    seq = _promotion_event(con, "promotion.step_failed", 2)
    edit_payload(con, seq, lambda p: p.update(rolled_back=False))


def decommission_of_the_new_primary(con) -> None:
    """The decommission of the standby spare is recorded as one of the new primary, which
    commits after it."""
    seq, new_primary = _decommission_of(con, _spare(con)), _new_primary(con)
    con.execute("UPDATE events SET tenant_id = ? WHERE seq = ?", [new_primary, seq])
    edit_payload(con, seq, lambda p: p.update(tenant_id=new_primary))


# planting -> the invariants that must return rows (and no other may)
PROMOTE_PLANTED: dict[Callable, set[str]] = {
    fence_below_the_last_commit: {"promotion_no_commit_after_fence"},
    rollback_not_recorded: {"promotion_no_commit_after_fence"},
    decommission_of_the_new_primary: {"promotion_no_commit_after_fence"},
}


@pytest.fixture
def promotions_copy(healthy, tmp_path) -> Path:
    path = tmp_path / "planted-promotions.duckdb"
    shutil.copy(healthy["promotions"], path)
    return path


def _plant(path: Path, plant: Callable) -> None:
    con = duckdb.connect(str(path))
    try:
        plant(con)
    finally:
        con.close()


def _read(path: Path, read: Callable):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return read(con)
    finally:
        con.close()


@pytest.mark.parametrize("plant", list(PROMOTE_PLANTED), ids=lambda plant: plant.__name__)
def test_planted_promotion_violation_is_reported_by_the_invariant_that_checks_it(promotions_copy, plant):
    _plant(promotions_copy, plant)
    assert set(_violated(promotions_copy)) == PROMOTE_PLANTED[plant]


def test_a_fence_below_a_commit_reports_it_under_the_promotion_and_the_decommission(promotions_copy):
    def facts(con):
        fenced = _promotion_event(con, "promotion.fenced", 3)
        *_, last_commit = _commits(con, OLD_PRIMARY, 0, fenced)
        return fenced, last_commit, _decommission_of(con, OLD_PRIMARY)

    fenced, (tx_id, log_id, seq), decommissioned = _read(promotions_copy, facts)
    _plant(promotions_copy, fence_below_the_last_commit)
    # the decommission keeps the fence the old primary had: the planted one
    assert _violated(promotions_copy)["promotion_no_commit_after_fence"] == [
        (OLD_PRIMARY, tx_id, log_id, seq, log_id - 1, "promotion 3", fenced),
        (OLD_PRIMARY, tx_id, log_id, seq, log_id - 1, "decommission", decommissioned),
    ]


def test_an_unrecorded_rollback_reports_the_commits_after_it(promotions_copy):
    def facts(con):
        fenced = _promotion_event(con, "promotion.fenced", 2)
        rolled_back = _promotion_event(con, "promotion.step_failed", 2)
        # what the old primary committed between the rollback and promotion 3's fence
        after = _commits(con, OLD_PRIMARY, rolled_back, _promotion_event(con, "promotion.fenced", 3))
        return fenced, _payload_int(con, fenced, "fence_log_id"), after

    fenced, fence_log_id, after = _read(promotions_copy, facts)
    assert len(after) == 2
    _plant(promotions_copy, rollback_not_recorded)
    assert _violated(promotions_copy)["promotion_no_commit_after_fence"] == [
        (OLD_PRIMARY, tx_id, log_id, seq, fence_log_id, "promotion 2", fenced) for tx_id, log_id, seq in after
    ]


def test_a_decommission_fences_at_the_last_log_id_before_it(promotions_copy):
    def facts(con):
        decommissioned, new_primary = _decommission_of(con, _spare(con)), _new_primary(con)
        (last_log_id,) = _one(con, "SELECT max(log_id) FROM commit_log WHERE seq < ?", [decommissioned])
        return decommissioned, new_primary, last_log_id, _commits(con, new_primary, decommissioned, 1 << 62)

    decommissioned, new_primary, last_log_id, after = _read(promotions_copy, facts)
    assert len(after) == 2
    _plant(promotions_copy, decommission_of_the_new_primary)
    assert _violated(promotions_copy)["promotion_no_commit_after_fence"] == [
        (new_primary, tx_id, log_id, seq, last_log_id, "decommission", decommissioned)
        for tx_id, log_id, seq in after
    ]


def test_the_promotions_history_fences_rolls_back_and_decommissions(healthy):
    # promotion_no_commit_after_fence is silent on it only if it reaches what it looks at
    kinds = dict(
        _rows(
            healthy["promotions"],
            "SELECT type, count(*) FROM events WHERE type IN ('promotion.fenced', "
            "'promotion.step_failed', 'promotion.writes_enabled', 'tenant.decommissioned') GROUP BY type",
        )
    )
    assert kinds == {
        "promotion.fenced": 2,
        "promotion.step_failed": 3,
        "promotion.writes_enabled": 1,
        "tenant.decommissioned": 3,
    }
    # the old primary committed past promotion 2's fence point, once it was rolled back
    after_rollback = _rows(
        healthy["promotions"],
        "SELECT count(*) FROM commit_log c, events f WHERE c.kind = 'COMMIT' AND c.tenant_id = 1001 "
        "AND f.type = 'promotion.fenced' AND CAST(f.payload ->> 'promotion_id' AS BIGINT) = 2 "
        "AND c.log_id > CAST(f.payload ->> 'fence_log_id' AS BIGINT)",
    )
    assert after_rollback == [(2,)]


# The files themselves ---------------------------------------------------------------------


def _invariant_files() -> list[Path]:
    return sorted(invariants_dir().glob("*.sql"))


def test_invariants_directory_holds_the_sql_invariants():
    assert [p.stem for p in _invariant_files()] == sorted(INVARIANTS)
    assert len(INVARIANTS) >= 6


@pytest.mark.parametrize("path", _invariant_files(), ids=lambda p: p.name)
def test_invariant_file_starts_with_a_header_comment_saying_what_its_rows_mean(path):
    lines = path.read_text().splitlines()
    header = []
    for line in lines:
        if not line.startswith("--"):
            break
        header.append(line[2:].strip())
    assert lines[0].startswith("-- "), "the first line is the header comment"
    text = " ".join(header)
    assert len(text.split()) >= 10, "the header says what is checked"
    assert "Returns" in text, "the header says what a returned row means"
    assert INVARIANTS[path.stem].doc == text


def test_the_retention_history_recycles_log_and_resumes_archiving_past_holes(healthy):
    # the retention invariants are silent on it only if it reaches what they look at
    kinds = dict(
        _rows(
            healthy["retention"],
            "SELECT type, count(*) FROM events "
            "WHERE type IN ('cluster.log_recycled', 'archive.resumed', 'archive.entries_read') GROUP BY type",
        )
    )
    assert kinds["cluster.log_recycled"] == 4
    assert kinds["archive.resumed"] == 2
    assert kinds["archive.entries_read"] > 10
