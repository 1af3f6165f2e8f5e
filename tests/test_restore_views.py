"""The restore internal tables: the SQL views of ybstate/restore/views.sql equal the same
tables computed from state (ybstate/restore/tables.py), at the end of histories holding
restores driven to each of their ends, and after every restore event of one history
holding them all: completed (to a mark, replaying a CREATE TABLE and a DROP
TABLE made after the backup, and to "latest"), failed (a stalled worker timed out, a
baseline fetch failing past its retries) and cancelled.

Histories are built by the model itself (``decide`` then ``apply``, tests/driven.py); a
restore's own steps are chosen at random (seeded) among those ``restore_enabled`` offers,
with the faults injected by name. test_sql_invariants uses ``driven.several_restores`` as
a healthy history.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import pytest
from driven import (
    Driven,
    in_incremental_with_applied,
    restore_cancelled,
    restore_completed,
    restore_fetch_failed,
    restore_timed_out,
    several_restores,
    source_history,
)
from histories import store_history

from ybstate.cluster.events import TableDropped
from ybstate.cluster.state import ClusterState
from ybstate.model import EMPTY, apply
from ybstate.restore.events import (
    RESTORE_EVENT_TAGS,
    EntryApplied,
    EntryRead,
    RestoreCancelled,
    RestoreCompleted,
    RestoreFailed,
    RestoreStarted,
)
from ybstate.restore.state import RestorePhase
from ybstate.restore.tables import (
    RESTORE_TASK_COLUMNS,
    SCHEMA_MAPPING_COLUMNS,
    restore_task_rows,
    schema_mapping_rows,
)
from ybstate.store import DuckDBStore

VIEWS: dict[str, Callable[[ClusterState], list[tuple]]] = {
    "__all_tenant_restore_task": restore_task_rows,
    "__all_tenant_schema_mapping": schema_mapping_rows,
}


def _single(build: Callable[[Driven], int]) -> Callable[[], tuple[Driven, int]]:
    def history() -> tuple[Driven, int]:
        h = source_history()
        return h, build(h)

    return history


HISTORIES: dict[str, Callable[[], tuple[Driven, int]]] = {
    "to-mark": _single(lambda h: restore_completed(h, "back", "m1", seed=1)),
    "to-latest": _single(lambda h: restore_completed(h, "back", "latest", seed=2)),
    "timed-out": _single(lambda h: restore_timed_out(h, "back", seed=3)),
    "fetch-failed": _single(lambda h: restore_fetch_failed(h, "back", seed=4)),
    "cancelled": _single(lambda h: restore_cancelled(h, "back", seed=6, when=in_incremental_with_applied(2))),
    "several": lambda: (several_restores(), 1),
}


@cache
def history(name: str) -> tuple[Driven, int]:
    return HISTORIES[name]()


def _views(store: DuckDBStore) -> dict[str, list[tuple]]:
    return {view: store.con.execute(f"SELECT * FROM {view}").fetchall() for view in VIEWS}


@cache
def stored(name: str) -> dict[str, list[tuple]]:
    """The views over the whole stored history."""
    h, _ = history(name)
    with DuckDBStore() as store:
        store_history(store, h.events, h.state)
        return _views(store)


# -- the views equal the state -------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(HISTORIES))
def test_the_views_equal_the_rows_from_state_at_the_end(name):
    h, _ = history(name)
    assert stored(name) == {view: rows_of(h.state) for view, rows_of in VIEWS.items()}


def test_the_views_equal_the_rows_from_state_after_every_restore_event_of_several_restores():
    # Only restore events change either side (the views read the rest of the history, the
    # backup set's destination and the DDL before a replayed CREATE TABLE, but those are
    # fixed by then); the end of every other kind of event is checked by the test above.
    h, _ = history("several")
    first = next(i for i, e in enumerate(h.events) if isinstance(e, RestoreStarted))
    state = EMPTY
    checked = 0
    with DuckDBStore() as store:
        for event in h.events[:first]:
            state = apply(state, event)
        store_history(store, h.events[:first], state)
        assert _views(store) == {view: [] for view in VIEWS}
        for event in h.events[first:]:
            state = apply(state, event)
            store_history(store, [event], state)
            if type(event) in RESTORE_EVENT_TAGS:
                assert _views(store) == {view: rows_of(state) for view, rows_of in VIEWS.items()}, event
                checked += 1
    assert state == h.state
    assert checked > 100


def test_the_view_columns_are_the_tables_columns():
    with DuckDBStore() as store:
        for view, columns in (
            ("__all_tenant_restore_task", RESTORE_TASK_COLUMNS),
            ("__all_tenant_schema_mapping", SCHEMA_MAPPING_COLUMNS),
        ):
            described = store.con.execute(f"DESCRIBE {view}").fetchall()
            assert tuple(row[0] for row in described) == columns, view


def test_each_history_ends_the_way_it_was_driven():
    ends = {name: history(name)[0].task(history(name)[1]).phase for name in HISTORIES}
    assert ends == {
        "to-mark": RestorePhase.COMPLETED,
        "to-latest": RestorePhase.COMPLETED,
        "timed-out": RestorePhase.FAILED,
        "fetch-failed": RestorePhase.FAILED,
        "cancelled": RestorePhase.CANCELLED,
        "several": RestorePhase.COMPLETED,
    }
    several = history("several")[0]
    assert [several.task(i).phase for i in sorted(several.state.restores.keys())] == [
        RestorePhase.COMPLETED,
        RestorePhase.COMPLETED,
        RestorePhase.FAILED,
        RestorePhase.FAILED,
        RestorePhase.CANCELLED,
        RestorePhase.CANCELLED,
    ]


# -- exact rows ---------------------------------------------------------------------------------

SHOP, STANDBY = 1001, 1003  # shop is the first tenant; blog 1002; the standby comes next
ORDERS, USERS, POSTS, LATER = 3001, 3002, 3003, 3004  # table ids in creation order


def _times(h: Driven, task_id: int) -> tuple[int, int]:
    """The task's start time (its restore.started) and end time (its final event)."""
    (began,) = h.of_task(task_id, RestoreStarted)
    finals = (RestoreCompleted, RestoreFailed, RestoreCancelled)
    (ended,) = [e for kind in finals for e in h.of_task(task_id, kind)]
    return began.time, ended.time


def _drop_of_users(h: Driven) -> TableDropped:
    (dropped,) = [e for e in h.events if isinstance(e, TableDropped) and e.table_id == USERS]
    return dropped


def test_a_restore_to_a_mark_row():
    h, task_id = history("to-mark")
    began, ended = _times(h, task_id)
    until_ts = h.state.marks["m1"]
    # m1 was set right after DROP TABLE users: the last entry at or before T is that drop
    drop = _drop_of_users(h)
    assert drop.time == until_ts
    expected = (
        task_id, SHOP, STANDBY, 1, until_ts, 5, "/backup/shop", began, ended, 100, 100, drop.log_id, "",
        until_ts, "back",
    )  # fmt: skip
    assert stored("to-mark")["__all_tenant_restore_task"] == [expected]


def test_a_restore_to_a_mark_maps_the_set_schema_and_the_replayed_create_and_drop():
    # the set's schema is orders and users (schema versions 1, 2); posts (3) is blog's; later (4)
    # and the drop of users (5) came after the backup. The standby's tables are created next:
    # orders and users when PREPARING (3005 and 3006, versions 6 and 7), later when its
    # CREATE TABLE is replayed (3007, version 8); the replayed drop marks users dropped.
    assert stored("to-mark")["__all_tenant_schema_mapping"] == [
        (1, SHOP, STANDBY, ORDERS, 3005, "orders", 6, False),
        (1, SHOP, STANDBY, USERS, 3006, "users", 7, True),
        (1, SHOP, STANDBY, LATER, 3007, "later", 8, False),
    ]


def test_a_restore_to_latest_row_shows_restore_timestamp_0_and_t_resolved():
    h, task_id = history("to-latest")
    began, ended = _times(h, task_id)
    shop = h.state.archivers[SHOP]
    # latest: the archived-up-to point of shop's archive; every archived entry is replayed
    until_ts = shop.checkpoint.archived_ts
    last_replayed = h.of_task(task_id, EntryApplied)[-1]
    assert last_replayed.outcome != "past T"
    expected = (
        task_id, SHOP, STANDBY, 1, 0, 5, "/backup/shop", began, ended, 100, 100, last_replayed.log_id, "",
        until_ts, "back",
    )  # fmt: skip
    assert stored("to-latest")["__all_tenant_restore_task"] == [expected]
    # the set's schema (orders, users) when PREPARING: later was created after the backup and
    # users dropped, both replayed
    assert stored("to-latest")["__all_tenant_schema_mapping"] == [
        (1, SHOP, STANDBY, ORDERS, 3005, "orders", 6, False),
        (1, SHOP, STANDBY, USERS, 3006, "users", 7, True),
        (1, SHOP, STANDBY, LATER, 3007, "later", 8, False),
    ]


def test_a_timed_out_restore_row_names_the_missing_entry():
    h, task_id = history("timed-out")
    task = h.task(task_id)
    began, ended = _times(h, task_id)
    missing = task.applied + 1
    (read,) = [e for e in h.of_task(task_id, EntryRead) if e.entry_seq == missing]
    worker = (missing - 1) % 3
    assert task.stalled == (worker,)
    reason = (
        f"sequence number {missing} (log id {read.log_id}) missing past the timeout: worker {worker} stalled"
    )
    last_applied = h.of_task(task_id, EntryApplied)[-1]
    assert last_applied.entry_seq == task.applied >= 3
    expected = (
        task_id, SHOP, STANDBY, 1, h.state.marks["m1"], 6, "/backup/shop", began, ended, 100,
        100 * task.applied // task.entries, last_applied.log_id, reason, h.state.marks["m1"], "back",
    )  # fmt: skip
    assert 0 < expected[10] < 100
    assert stored("timed-out")["__all_tenant_restore_task"] == [expected]


def test_a_restore_whose_fetches_fail_past_the_retries_row():
    h, task_id = history("fetch-failed")
    began, ended = _times(h, task_id)
    retries = h.state.config.task_retries
    # tablet 1 never loads; tablets 2 and 3 do (a failed task blocks only its descendants)
    expected = (
        task_id, SHOP, STANDBY, 1, h.state.marks["m1"], 6, "/backup/shop", began, ended, 66, 0, 0,
        f"fetch of tablets [1] failed after {retries + 1} attempts", h.state.marks["m1"], "back",
    )  # fmt: skip
    assert stored("fetch-failed")["__all_tenant_restore_task"] == [expected]
    # the standby and its tables exist: the mapping is the set's schema
    assert stored("fetch-failed")["__all_tenant_schema_mapping"] == [
        (1, SHOP, STANDBY, ORDERS, 3005, "orders", 6, False),
        (1, SHOP, STANDBY, USERS, 3006, "users", 7, False),
    ]


def test_a_cancelled_restore_row():
    h, task_id = history("cancelled")
    task = h.task(task_id)
    began, ended = _times(h, task_id)
    assert task.applied >= 2
    last_applied = h.of_task(task_id, EntryApplied)[-1]
    latest = h.state.archivers[SHOP].checkpoint.archived_ts
    expected = (
        task_id, SHOP, STANDBY, 1, 0, 7, "/backup/shop", began, ended, 100,
        100 * task.applied // task.entries, last_applied.log_id, "the operator changed their mind", latest,
        "back",
    )  # fmt: skip
    assert 0 < expected[10] < 100
    assert stored("cancelled")["__all_tenant_restore_task"] == [expected]


def test_several_restores_get_one_row_each_and_their_own_standbys():
    rows = stored("several")["__all_tenant_restore_task"]
    assert [(r[0], r[2], r[5], r[14]) for r in rows] == [
        (1, 1003, 5, "to_m1"),
        (2, 1004, 5, "to_latest"),
        (3, 1005, 6, "stalled"),
        (4, 1006, 6, "unfetched"),
        (5, 0, 7, "early"),  # cancelled in INIT: no standby was created
        (6, 1007, 7, "late"),
    ]
    mapping = stored("several")["__all_tenant_schema_mapping"]
    assert [r[:3] for r in mapping if r[0] == 2] == [(2, SHOP, 1004)] * 3
    assert not [r for r in mapping if r[0] == 5]


def test_a_restore_cancelled_in_init_shows_no_baseline_progress():
    h, _ = history("several")
    early = h.task(5)
    assert early.phases == (RestorePhase.INIT, RestorePhase.CANCELLED)
    assert early.baseline_progress == 0
