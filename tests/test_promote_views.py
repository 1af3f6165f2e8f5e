"""The promotion internal table: the SQL view __all_tenant_promotion_history of
ybstate/promote/views.sql equals the same table computed from state
(ybstate/promote/tables.py), at the end of histories holding promotions driven to each of
their ends, and after every promotion event of one history holding them all: a
switchover (verified, caught up: nothing lost), a failover (neither verified nor caught
up: the old primary's commits after the standby's T are lost), a promotion rolled back
by a fault at FENCE, one whose ENABLE_WRITES fails once and is retried, and decommissions
(read-only, then full).

Histories are built by the model itself (``decide`` then ``apply``, tests/driven.py), on
its source history: shop, backed up and archived, restored to the mark
m1 into a standby; then shop writes on past m1 (a commit, a CREATE TABLE and a row in
it, a transaction left open) and archives it all before the promotion. The state
invariants (ybstate.model.INVARIANTS) are checked on them too. test_sql_invariants uses
``driven.several_promotions`` as a healthy history.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest
from driven import (
    Driven,
    decommissioned,
    enable_writes_retried,
    fail_at,
    failover,
    promote,
    promotion,
    restored,
    rolled_back_at_fence,
    several_promotions,
    start_promotion,
    switchover,
)
from histories import store_history

from ybstate.cluster.events import TransactionAborted, TransactionCommitted
from ybstate.cluster.state import TenantStatus
from ybstate.errors import PromotionRejected
from ybstate.model import EMPTY, apply
from ybstate.model import INVARIANTS as STATE_INVARIANTS
from ybstate.promote.events import (
    PROMOTE_EVENT_TAGS,
    PrimaryFenced,
    PromotionStarted,
    PromotionStepFailed,
    WritesEnabled,
)
from ybstate.promote.state import PromotionStatus, PromotionStep
from ybstate.promote.tables import PROMOTION_HISTORY_COLUMNS, promotion_history_rows
from ybstate.scenario import load_scenario, run_scenario
from ybstate.store import DuckDBStore

VIEW = "__all_tenant_promotion_history"

SHOP, STANDBY = 1001, 1003  # shop is the first tenant; blog 1002; the first standby comes next


# -- building histories ---------------------------------------------------------------------------


def _single(build: Callable[[Driven], int]) -> Callable[[], tuple[Driven, int]]:
    def history() -> tuple[Driven, int]:
        h = restored()
        return h, build(h)

    return history


HISTORIES: dict[str, Callable[[], tuple[Driven, int]]] = {
    "switchover": _single(switchover),
    "failover": _single(failover),
    "rolled-back-at-fence": _single(rolled_back_at_fence),
    "enable-writes-retried": _single(enable_writes_retried),
    "decommissioned": _single(decommissioned),
    "several": lambda: (several_promotions(), 3),
}


@cache
def history(name: str) -> tuple[Driven, int]:
    return HISTORIES[name]()


def _view(store: DuckDBStore) -> list[tuple]:
    return store.con.execute(f"SELECT * FROM {VIEW}").fetchall()


@cache
def stored(name: str) -> list[tuple]:
    """The view over the whole stored history."""
    h, _ = history(name)
    with DuckDBStore() as store:
        store_history(store, h.events, h.state)
        return _view(store)


def of_promotion(h: Driven, promotion_id: int, kind: type) -> list:
    return [e for e in h.events if type(e) is kind and e.promotion_id == promotion_id]


# -- the view equals the state --------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(HISTORIES))
def test_the_view_equals_the_rows_from_state_at_the_end(name):
    h, _ = history(name)
    assert stored(name) == promotion_history_rows(h.state)


@pytest.mark.parametrize("name", sorted(HISTORIES))
def test_the_state_invariants_hold_at_the_end(name):
    h, _ = history(name)
    assert {inv.name: inv.check(h.state) for inv in STATE_INVARIANTS} == {
        inv.name: None for inv in STATE_INVARIANTS
    }


def test_the_state_invariants_hold_after_every_action_of_several_promotions(monkeypatch):
    # after every decision, not every event: a catch-up's CaughtUp precedes the standby
    # transactions of its decision
    checked: list[tuple] = []
    do = Driven.do

    def checking_do(self: Driven, *actions: object) -> list:
        new = do(self, *actions)
        if any(isinstance(e, PromotionStarted) for e in self.events):
            broken = {inv.name: inv.check(self.state) for inv in STATE_INVARIANTS}
            assert {name: found for name, found in broken.items() if found is not None} == {}, actions
            checked.append(actions)
        return new

    monkeypatch.setattr(Driven, "do", checking_do)
    several_promotions()
    assert len(checked) > 25


def test_the_view_equals_the_rows_from_state_after_every_promotion_event_of_several():
    h, _ = history("several")
    first = next(i for i, e in enumerate(h.events) if isinstance(e, PromotionStarted))
    state = EMPTY
    checked = 0
    with DuckDBStore() as store:
        for event in h.events[:first]:
            state = apply(state, event)
        store_history(store, h.events[:first], state)
        assert _view(store) == []
        for event in h.events[first:]:
            state = apply(state, event)
            store_history(store, [event], state)
            if type(event) in PROMOTE_EVENT_TAGS:
                assert _view(store) == promotion_history_rows(state), event
                checked += 1
    assert state == h.state
    assert checked > 15


def test_the_view_columns_are_the_tables_columns():
    with DuckDBStore() as store:
        described = store.con.execute(f"DESCRIBE {VIEW}").fetchall()
    assert tuple(row[0] for row in described) == PROMOTION_HISTORY_COLUMNS
    types = {row[0]: row[1] for row in described}
    assert types["lost_transactions"] == "BIGINT[]"
    assert {types[c] for c in ("verification_passed", "row_count_match", "catch_up")} == {"BOOLEAN"}
    assert {types[c] for c in ("downtime_ms", "failures", "caught_up_transactions", "fence_log_id")} == {
        "BIGINT"
    }


def test_each_history_ends_the_way_it_was_driven():
    ends = {name: history(name)[0].state.promotions[history(name)[1]].status for name in HISTORIES}
    assert ends == {
        "switchover": PromotionStatus.COMPLETED,
        "failover": PromotionStatus.COMPLETED,
        "rolled-back-at-fence": PromotionStatus.ROLLED_BACK,
        "enable-writes-retried": PromotionStatus.COMPLETED,
        "decommissioned": PromotionStatus.COMPLETED,
        "several": PromotionStatus.COMPLETED,
    }
    several = history("several")[0].state
    assert [several.promotions[i].status for i in sorted(several.promotions.keys())] == [
        PromotionStatus.ROLLED_BACK,
        PromotionStatus.ROLLED_BACK,
        PromotionStatus.COMPLETED,
    ]
    assert several.tenants[SHOP].status is TenantStatus.DECOMMISSIONED
    assert several.tenant_named("spare").status is TenantStatus.DECOMMISSIONED


# -- exact rows ---------------------------------------------------------------------------------


def _shop_commits_past_m1(h: Driven) -> list[int]:
    """The tx ids of shop's commits after the mark m1 (the standby's T), in log order."""
    m1 = h.state.marks["m1"]
    return [
        e.tx_id
        for e in h.events
        if isinstance(e, TransactionCommitted) and e.tenant_id == SHOP and e.time > m1
    ]


def _fence_and_end(h: Driven, promotion_id: int) -> tuple[PrimaryFenced, WritesEnabled]:
    (fenced,) = of_promotion(h, promotion_id, PrimaryFenced)
    (enabled,) = of_promotion(h, promotion_id, WritesEnabled)
    return fenced, enabled


def test_a_switchover_row_loses_nothing():
    h, promotion_id = history("switchover")
    (began,) = of_promotion(h, promotion_id, PromotionStarted)
    fenced, enabled = _fence_and_end(h, promotion_id)
    # shop's commits past m1: k4 (before the restore), k5 with the delete of k2, x1 in extra
    assert len(_shop_commits_past_m1(h)) == 3
    # the fence is the log's end when it is taken; the open transaction aborts right after
    (abort,) = [e for e in h.events if isinstance(e, TransactionAborted) and e.seq > fenced.seq]
    assert (fenced.aborted, fenced.fence_log_id) == ((abort.tx_id,), abort.log_id - 1)
    # 2.5 ms of tick, then 1 us per entry: the abort, the standby's 3 transactions (a
    # mutator and a commit each) and its CREATE TABLE extra; and the cost table's four steps
    # after the fence (catch-up, switch, routing, writes), the catch-up applying 4 entries
    costs = h.state.config.costs
    steps = 4 * costs.promotion_step_us + 4 * costs.entry_apply_us
    assert enabled.time - fenced.time == 2_500 + 1 + 3 * 2 + 1 + steps
    expected = (
        promotion_id, STANDBY, SHOP, enabled.time, True, True, True, True, (2_509 + steps) // 1000,
        "COMPLETED", True, began.time, fenced.fence_log_id, 0, "", [], 3,
    )  # fmt: skip
    assert stored("switchover") == [expected]


def test_a_failover_row_lists_the_lost_transactions():
    h, promotion_id = history("failover")
    (began,) = of_promotion(h, promotion_id, PromotionStarted)
    fenced, enabled = _fence_and_end(h, promotion_id)
    lost = _shop_commits_past_m1(h)
    assert len(lost) == 3
    expected = (
        promotion_id, STANDBY, SHOP, enabled.time, False, False, False, False,
        (enabled.time - fenced.time) // 1000,
        "COMPLETED", False, began.time, fenced.fence_log_id, 0, "", sorted(lost), 0,
    )  # fmt: skip
    assert stored("failover") == [expected]
    # nothing logs between the fence (and its abort) and writes enabled: the downtime is the
    # three steps after the fence (no catch-up in a failover), as the cost table says
    assert expected[8] == 3 * h.state.config.costs.promotion_step_us // 1000 > 0


def test_a_promotion_rolled_back_at_fence_row():
    h, promotion_id = history("rolled-back-at-fence")
    (began,) = of_promotion(h, promotion_id, PromotionStarted)
    (failed,) = of_promotion(h, promotion_id, PromotionStepFailed)
    assert (failed.step, failed.rolled_back, failed.fault) == (PromotionStep.FENCE, True, True)
    expected = (
        promotion_id, STANDBY, SHOP, 0, True, True, True, True, 0,
        "ROLLED_BACK", True, began.time, 0, 1, "the old primary did not answer", [], 0,
    )  # fmt: skip
    assert stored("rolled-back-at-fence") == [expected]


def test_a_retried_enable_writes_row_counts_the_failure_and_keeps_its_reason():
    h, promotion_id = history("enable-writes-retried")
    (failed,) = of_promotion(h, promotion_id, PromotionStepFailed)
    assert (failed.step, failed.rolled_back) == (PromotionStep.ENABLE_WRITES, False)
    fenced, enabled = _fence_and_end(h, promotion_id)
    (row,) = stored("enable-writes-retried")
    assert row[3] == enabled.time and row[9] == "COMPLETED"
    assert row[12:] == (fenced.fence_log_id, 1, "the standby's servers were busy", [], 3)


def test_a_decommission_leaves_the_promotion_row_as_it_was():
    assert stored("decommissioned") == stored("switchover")
    h, _ = history("decommissioned")
    assert h.state.tenants[SHOP].status is TenantStatus.DECOMMISSIONED


def test_several_promotions_rows():
    h, _ = history("several")
    rows = stored("several")
    back1, back2 = (h.state.tenant_named(n) for n in ("shop", "back2"))  # back1 took shop's name
    assert [(r[0], r[1], r[2], r[9], r[13]) for r in rows] == [
        (1, back1.tenant_id, SHOP, "ROLLED_BACK", 1),
        (2, back2.tenant_id, SHOP, "ROLLED_BACK", 1),
        (3, back1.tenant_id, SHOP, "COMPLETED", 1),
    ]
    (fenced_2,) = of_promotion(h, 2, PrimaryFenced)
    assert rows[1][12] == fenced_2.fence_log_id > 0  # kept after the rollback
    assert rows[1][16] == 4  # caught up before the rollback: k4, k5, x1 and k7


# -- a standby promoted again after a rollback that followed its catch-up --------------------------
# The catch-up replayed commits and DDL after T into it, so it is no longer what its restore
# made: a new promotion of it is refused (restore a new standby instead).


def _caught_up_then_rolled_back() -> Driven:
    h = restored()
    promotion_id = start_promotion(h, "back")
    fail_at(h, promotion_id, PromotionStep.SWITCH_SCHEMA, "the schema service refused the rename")
    assert len(promotion(h, promotion_id).caught_up) == 3
    return h


@pytest.mark.parametrize("catch_up", [True, False])
def test_a_standby_a_rolled_back_catch_up_changed_is_not_promoted_again(catch_up):
    h = _caught_up_then_rolled_back()
    with pytest.raises(PromotionRejected, match="replayed more into it and rolled back"):
        promote(h, "back", verify=False, catch_up=catch_up)


def test_event_tenants_names_the_tenant_of_every_event_that_concerns_one(tmp_path):
    """Restore, DAG and promotion events have no tenant_id of their own: the view resolves
    theirs from the state (a restore's source and standby, a DAG's owner, a promotion's
    tenants); only cluster-wide events keep none."""
    failover = Path(__file__).resolve().parent.parent / "specs" / "failover.toml"
    with DuckDBStore(str(tmp_path / "f.duckdb")) as store:
        state = run_scenario(load_scenario(failover), store, query=lambda sql: store.query(sql)[1]).state
        _, rows = store.query("SELECT type, tenant_id, standby_tenant_id FROM event_tenants ORDER BY seq")
    restore = next(iter(state.restores.values()))
    promotion = next(iter(state.promotions.values()))
    by_part: dict[str, set] = {}
    for kind, tenant, standby in rows:
        by_part.setdefault(kind.split(".")[0], set()).add((tenant, standby))
    assert by_part["restore"] == {(restore.source_tenant_id, restore.target_tenant_id)}
    # a promotion's events are its old primary's, but those whose row names a tenant (the
    # routing moved to the standby) keep it
    assert by_part["promotion"] == {(promotion.primary_id, promotion.standby_id), (promotion.standby_id,) * 2}
    assert all(
        tenant is not None for kind, tenant, _ in rows if kind.split(".")[0] in ("dag", "backup", "archive")
    )
    assert {kind for kind, tenant, _ in rows if tenant is None} <= {
        "cluster.started",
        "cluster.mark_recorded",
        "log.freeze",
        "log.heartbeat",
    }


def test_the_readable_views_give_times_as_timestamps_and_every_status_a_code_and_a_name(tmp_path):
    failover = Path(__file__).resolve().parent.parent / "specs" / "failover.toml"
    with DuckDBStore(str(tmp_path / "f.duckdb")) as store:
        state = run_scenario(load_scenario(failover), store, query=lambda sql: store.query(sql)[1]).state
        restores = store.query("SELECT task_id, status_name, until_ts, restore_point_at FROM restore_tasks")[
            1
        ]
        promotions = store.query("SELECT promotion_id, status, status_code, status_name FROM promotions")[1]
        sets = store.query("SELECT status, status_name, snapshot_ts, snapshot_at FROM backup_sets")[1]
        committed = store.query(
            "SELECT commit_ts, committed_at FROM transactions WHERE commit_ts IS NOT NULL"
        )[1]
    epoch = datetime.datetime(1970, 1, 1)
    micros = lambda at: (at - epoch) // datetime.timedelta(microseconds=1)  # noqa: E731
    for task_id, name, until_ts, at in restores:
        assert name == state.restores[task_id].phase.value and micros(at) == until_ts
    codes = {"RUNNING": 0, "COMPLETED": 1, "ROLLED_BACK": 2, "STOPPED": 3}
    assert {(status, code, name) for _, status, code, name in promotions} == {
        (s, codes[s], s) for _, s, _, _ in promotions
    } and {p[1] for p in promotions} == {"ROLLED_BACK", "COMPLETED"}
    assert sets and all(
        name == "AVAILABLE" and micros(at) == ts for status, name, ts, at in sets if status == 1
    )
    assert committed and all(micros(at) == ts for ts, at in committed)
