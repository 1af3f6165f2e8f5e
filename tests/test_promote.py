"""Promotion of a completed standby to primary (switchover with catch-up, failover without)
and decommission of a tenant, driven through the model's decide and apply.

Most tests start from :func:`primed`, whose log is written out in WORLD_LOG: shop (orders in
two tablets, users in one) and blog (posts), both backed up after freeze 1 and archived;
mark m1 (T) between commits; after T shop commits twice and creates table ``later``, blog
commits once. Three restores to m1 have completed: shop_back and shop_b2 from shop, blog_back
from blog. Then shop commits k4=d (transaction 16, log ids 42 and 43) and opens transaction
17 (k5, log id 44, still open), and shop's whole log is archived.

What a promoted standby must hold is read from the ghost history (``ghost.content``,
``content_as_of``, ``content_at_log``), never from the promotion code under test, and
every state along a promotion is checked against every state invariant.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import pytest
from histories import (
    act,
    archive_all,
    assert_catches,
    assert_forgery_refused,
    assert_invariants,
    backup_world,
    commit_rows,
    drive_backup,
)

from ybstate import dag
from ybstate.archive.actions import PersistCheckpoint, ReadEntries, StartArchive, StopArchive
from ybstate.backup.actions import StartBackup
from ybstate.cluster import ghost
from ybstate.cluster.actions import (
    Commit,
    CreateTable,
    CreateTenant,
    DropTable,
    Freeze,
    Mark,
    Put,
    Tick,
    Write,
)
from ybstate.cluster.costs import UNTIMED
from ybstate.cluster.state import ClusterConfig, ClusterState, Role, TenantStatus, evolve_state
from ybstate.errors import (
    InvalidAction,
    PromotionRejected,
    TenantNotWritable,
    UnknownTenant,
    UnknownTransaction,
)
from ybstate.hashing import CHECKSUM_MASK, row_hash
from ybstate.model import (
    INVARIANTS,
    ClusterScope,
    PromoteScope,
    Scope,
    apply,
    decide,
    fingerprint,
    validate_trace,
)
from ybstate.promote import decide as promote_decide
from ybstate.promote.actions import AdvancePromotion, Decommission, FailPromotionStep, StartPromotion
from ybstate.promote.enabled import promote_enabled
from ybstate.promote.events import (
    CaughtUp,
    RoutingUpdated,
    SchemaSwitched,
    StandbyVerified,
    TenantDecommissioned,
    WritesEnabled,
)
from ybstate.promote.invariants import PROMOTE_INVARIANTS
from ybstate.promote.state import STEP_ORDER, PromotionStatus, PromotionStep
from ybstate.restore.actions import StartRestore
from ybstate.restore.enabled import restore_enabled
from ybstate.restore.state import RestorePhase, TableMapping
from ybstate.restore.verify import Contents

S = PromotionStep
SHOP, BLOG, BACK, B2, BLOG_BACK = 1001, 1002, 1003, 1004, 1005  # tenant ids, in order of creation
# Untimed: these tests read timestamps off the log, so the clock moves only with log
# entries and ticks (tests/test_durations.py times the same steps).
CONFIG = ClusterConfig(data_servers=2, piece_entries=4, costs=UNTIMED)
T0 = CONFIG.start_time  # entries up to the heartbeat are logged at T0 + their log id
M1 = T0 + 12  # mark m1, T of every restore: blog's commit at log id 12
OPEN_TX = 17  # shop's transaction open when the promotions start
FENCE = 44  # the last log id when a promotion of primed() fences shop
SHOP_AFTER_T = (5, 6, 16)  # shop's transactions committed after T
NO_FAULTS = Scope()  # restore_enabled within it: no new restores, no faults

# The log of primed(), shop's and blog's entries: (log id, what, tx id).
WORLD_LOG = (
    (1, "DDL shop orders (3001)", 0),
    (2, "DDL shop users (3002)", 0),
    (3, "DDL blog posts (3003)", 0),
    (4, "MUTATOR shop k1=a u1=ann", 1),
    (5, "COMMIT", 1),
    (6, "MUTATOR blog p1=x", 2),
    (7, "COMMIT", 2),
    (8, "FREEZE", 0),  # backup sets 1 (shop) and 2 (blog)
    (9, "MUTATOR shop k2=b", 3),
    (10, "COMMIT", 3),
    (11, "MUTATOR blog p2=y", 4),
    (12, "COMMIT", 4),  # mark m1 = T
    (13, "MUTATOR shop k3=c k1=deleted", 5),
    (14, "COMMIT", 5),
    (15, "DDL shop later (3004)", 0),
    (16, "MUTATOR shop later z=zz", 6),
    (17, "COMMIT", 6),
    (18, "MUTATOR blog p3=z", 7),
    (19, "COMMIT", 7),
    (20, "HEARTBEAT", 0),  # archived through here; 21..41 are the three standbys' entries
    (42, "MUTATOR shop k4=d", 16),
    (43, "COMMIT", 16),
    (44, "MUTATOR shop k5=e", 17),  # open
)

SHOP_AT_T = {("orders", "k1"): "a", ("orders", "k2"): "b", ("users", "u1"): "ann"}
SHOP_AT_FENCE = {
    ("orders", "k2"): "b",
    ("orders", "k3"): "c",
    ("orders", "k4"): "d",
    ("users", "u1"): "ann",
    ("later", "z"): "zz",
}


def put(tenant: str, table: str, key: str, value: str | None = "v", tx: int | None = None) -> Write:
    return Write(tenant=tenant, tx=tx, changes=(Put(table=table, key=key, value=value),))


def drive_restore(
    state: ClusterState,
    task_id: int,
    *,
    fetch_failures: int = 0,
    until: Callable[[ClusterState], bool] | None = None,
) -> ClusterState:
    """Take restore ``task_id``'s first enabled step until it ends (or ``until(state)``);
    the first ``fetch_failures`` baseline fetches that would finish fail instead."""
    left = fetch_failures
    while not state.restores[task_id].final and not (until is not None and until(state)):
        dag_id = state.restores[task_id].dag_id
        action = next(
            a
            for a in restore_enabled(state, NO_FAULTS)
            if getattr(a, "task_id", None) == task_id or (dag_id and getattr(a, "dag_id", None) == dag_id)
        )
        if isinstance(action, dag.FinishTask) and left:
            left -= 1
            action = dag.FailTask(dag_id=action.dag_id, task=action.task, reason="injected")
        state, _ = act(state, action)
    return state


def restore(state: ClusterState, source: str, target: str, **kwargs) -> ClusterState:
    state, (started,) = act(state, StartRestore(source=source, target=target, until="m1"))
    return drive_restore(state, started.task_id, **kwargs)


_CACHE: dict[str, ClusterState] = {}


def world() -> ClusterState:
    """The log of WORLD_LOG through the heartbeat (log id 20), shop and blog archived."""
    state = backup_world({"shop": {"orders": 2, "users": 1}, "blog": {"posts": 1}}, CONFIG)
    state = commit_rows(state, "shop", {("orders", "k1"): "a", ("users", "u1"): "ann"})
    state = commit_rows(state, "blog", {("posts", "p1"): "x"})
    state, _ = act(state, Freeze())
    for tenant in ("shop", "blog"):
        state, (backup,) = act(state, StartBackup(tenant=tenant, destination=f"/backup/{tenant}"))
        state, _ = drive_backup(state, backup.task_id)
        state, _ = act(state, StartArchive(tenant=tenant, destination=f"/backup/{tenant}"))
    state = commit_rows(state, "shop", {("orders", "k2"): "b"})
    state = commit_rows(state, "blog", {("posts", "p2"): "y"})
    state, _ = act(state, Mark(name="m1"))
    state = commit_rows(state, "shop", {("orders", "k3"): "c", ("orders", "k1"): None})
    state, _ = act(state, CreateTable(tenant="shop", table="later", tablets=1))
    state = commit_rows(state, "shop", {("later", "z"): "zz"})
    state = commit_rows(state, "blog", {("posts", "p3"): "z"})
    state, _ = act(state, Tick(micros=100))
    return archive_all(archive_all(state, SHOP), BLOG)


def restored() -> ClusterState:
    """world() with the three standbys restored to m1: shop_back, shop_b2 and blog_back."""
    if "restored" not in _CACHE:
        state = restore(world(), "shop", "shop_back")
        state = restore(state, "shop", "shop_b2")
        _CACHE["restored"] = restore(state, "blog", "blog_back")
    return _CACHE["restored"]


def primed() -> ClusterState:
    """restored(), then shop commits k4=d, opens transaction 17, and its log is archived."""
    if "primed" not in _CACHE:
        state = commit_rows(restored(), "shop", {("orders", "k4"): "d"})
        state, _ = act(state, put("shop", "orders", "k5", "e"))
        _CACHE["primed"] = archive_all(state, SHOP)
    return _CACHE["primed"]


def start(
    state: ClusterState, standby: str = "shop_back", primary: str = "shop", **flags
) -> tuple[ClusterState, int]:
    state, (started,) = act(state, StartPromotion(standby=standby, primary=primary, **flags))
    return state, started.promotion_id


def advance_to(state: ClusterState, promotion_id: int, step: PromotionStep) -> ClusterState:
    """Advance the promotion until its next step is ``step``."""
    while state.promotions[promotion_id].next_step is not step:
        state, _ = act(state, AdvancePromotion(promotion_id=promotion_id))
    return state


def drive(state: ClusterState, promotion_id: int) -> tuple[ClusterState, list[ClusterState], list[list]]:
    """Advance the promotion until it ends, checking every invariant after each step: the
    final state, the states after each step and each step's events."""
    states, decisions = [], []
    while not state.promotions[promotion_id].final:
        state, events = act(state, AdvancePromotion(promotion_id=promotion_id))
        assert_invariants(state)
        states.append(state)
        decisions.append(events)
    return state, states, decisions


def promoted(catch_up: bool, verify: bool = True) -> tuple[ClusterState, ClusterState, list, list]:
    """shop_back promoted over shop from primed(): the state at the start, the final state,
    the states after each step and each step's events."""
    key = f"promoted {catch_up} {verify}"
    if key not in _CACHE:
        state, promotion_id = start(primed(), catch_up=catch_up, verify=verify)
        assert promotion_id == 1
        _CACHE[key] = (state, *drive(state, promotion_id))
    return _CACHE[key]


def names(events: list) -> list[str]:
    return [type(e).__name__ for e in events]


def refusal(state: ClusterState, action: object, error: type = PromotionRejected) -> str:
    """The message of ``decide``'s refusal of ``action`` (which must be of type ``error``)."""
    before = fingerprint(state)
    with pytest.raises(error) as refused:
        decide(state, action)
    assert type(refused.value) is error
    assert fingerprint(state) == before
    return str(refused.value)


def rejected(tenant: str, why: str) -> str:
    return f"promotion / decommission of {tenant!r}: {why}"


def test_primed_logs_what_world_log_says():
    state = primed()
    logged = {
        log_id: (type(entry).__name__, getattr(entry, "tx_id", 0))
        for log_id, entry in state.log.items()
        if getattr(entry, "tenant_id", None) in (None, SHOP, BLOG)
    }
    kinds = {
        "DDL": "TableCreated",
        "MUTATOR": "MutatorLogged",
        "COMMIT": "TransactionCommitted",
        "FREEZE": "VersionFrozen",
        "HEARTBEAT": "HeartbeatLogged",
    }
    assert logged == {log_id: (kinds[what.split()[0]], tx) for log_id, what, tx in WORLD_LOG}
    assert state.last_log_id == FENCE
    assert state.marks["m1"] == M1
    assert [t.tx_id for t in state.open_txns.values()] == [OPEN_TX]
    assert state.archivers[SHOP].checkpoint.last_log_id == FENCE
    assert [(r.target_tenant_id, r.phase, r.until_ts) for r in state.restores.values()] == [
        (BACK, RestorePhase.COMPLETED, M1),
        (B2, RestorePhase.COMPLETED, M1),
        (BLOG_BACK, RestorePhase.COMPLETED, M1),
    ]
    assert ghost.content(state, BACK) == ghost.content(state, B2) == SHOP_AT_T
    assert ghost.content(state, SHOP) == SHOP_AT_FENCE
    assert dict(state.routing.items()) == {
        "sys": 1,
        "shop": SHOP,
        "blog": BLOG,
        "shop_back": BACK,
        "shop_b2": B2,
        "blog_back": BLOG_BACK,
    }
    assert_invariants(state)


# -- StartPromotion refusals -------------------------------------------------------------------


def restoring() -> ClusterState:
    """primed() with a restore of shop into shop_r past PREPARING (its standby exists)."""
    state, (started,) = act(primed(), StartRestore(source="shop", target="shop_r", until="m1"))
    return drive_restore(
        state,
        started.task_id,
        until=lambda s: s.restores[started.task_id].phase is RestorePhase.RESTORING_BASELINE,
    )


def failed_restore() -> ClusterState:
    """primed() with a restore of shop into shop_f failed: the fetch of tablet 1 failed
    three times, past its retries."""
    state, (started,) = act(primed(), StartRestore(source="shop", target="shop_f", until="m1"))
    state = drive_restore(state, started.task_id, fetch_failures=3)
    task = state.restores[started.task_id]
    assert (task.phase, task.error) == (RestorePhase.FAILED, "fetch of tablets [1] failed after 3 attempts")
    return state


def running() -> ClusterState:
    """primed() with promotion 1 of shop_back started (nothing done yet)."""
    return start(primed())[0]


def fenced() -> ClusterState:
    """primed() with promotion 1 of shop_back past its fence."""
    state, promotion_id = start(primed())
    return advance_to(state, promotion_id, S.CATCH_UP)


def after_switchover() -> ClusterState:
    return promoted(catch_up=True)[1]


START_REFUSALS = {
    "unknown standby": (
        primed,
        StartPromotion(standby="nope", primary="shop"),
        UnknownTenant,
        "unknown tenant 'nope'",
    ),
    "unknown primary": (
        primed,
        StartPromotion(standby="shop_back", primary="nope"),
        UnknownTenant,
        "unknown tenant 'nope'",
    ),
    "the standby is a primary": (
        primed,
        StartPromotion(standby="blog", primary="shop"),
        PromotionRejected,
        rejected("blog", "is not a completed standby (role primary, status normal)"),
    ),
    "the standby is restoring": (
        restoring,
        StartPromotion(standby="shop_r", primary="shop"),
        PromotionRejected,
        rejected("shop_r", "is not a completed standby (role standby, status restoring)"),
    ),
    "the standby's restore failed": (
        failed_restore,
        StartPromotion(standby="shop_f", primary="shop"),
        PromotionRejected,
        rejected("shop_f", "is not a completed standby (role standby, status restoring)"),
    ),
    "the standby was restored from another tenant": (
        primed,
        StartPromotion(standby="blog_back", primary="shop"),
        PromotionRejected,
        rejected("blog_back", "was restored from tenant 'blog', not from 'shop'"),
    ),
    "the primary is a standby of it": (
        primed,
        StartPromotion(standby="shop_b2", primary="shop_back"),
        PromotionRejected,
        rejected("shop_b2", "was restored from tenant 'shop', not from 'shop_back'"),
    ),
    "the primary is fenced": (
        fenced,
        StartPromotion(standby="shop_b2", primary="shop"),
        PromotionRejected,
        rejected("shop_b2", "'shop' is not a writable primary"),
    ),
    "the primary was promoted over": (
        after_switchover,
        StartPromotion(standby="shop_b2", primary="shop@1001"),
        PromotionRejected,
        rejected("shop_b2", "'shop@1001' is not a writable primary"),
    ),
    "the standby is being promoted": (
        running,
        StartPromotion(standby="shop_back", primary="shop", catch_up=False),
        PromotionRejected,
        rejected("shop_back", "promotion 1 of 'shop_back' is running"),
    ),
    "the primary is being promoted over": (
        running,
        StartPromotion(standby="shop_b2", primary="shop"),
        PromotionRejected,
        rejected("shop_b2", "promotion 1 of 'shop' is running"),
    ),
    "verify not a bool": (
        primed,
        StartPromotion(standby="shop_back", primary="shop", verify=1),
        InvalidAction,
        "promotion verify must be true or false, got 1",
    ),
    "catch_up not a bool": (
        primed,
        StartPromotion(standby="shop_back", primary="shop", catch_up="yes"),
        InvalidAction,
        "promotion catch_up must be true or false, got 'yes'",
    ),
    "the standby not a name": (
        primed,
        StartPromotion(standby=None, primary="shop"),
        InvalidAction,
        "the standby must be a tenant name (a string), got None",
    ),
    "the primary not a name": (
        primed,
        StartPromotion(standby="shop_back", primary=1001),
        InvalidAction,
        "the old primary must be a tenant name (a string), got 1001",
    ),
}


@pytest.mark.parametrize("name", list(START_REFUSALS))
def test_start_promotion_refusals_name_the_reason(name):
    build, action, error, message = START_REFUSALS[name]
    assert refusal(build(), action, error) == message


def test_a_refused_start_is_not_offered_by_enabled_and_an_accepted_one_is():
    scope = Scope(cluster=ClusterScope(tenants=()), promote=PromoteScope(promote=True))
    assert promote_enabled(primed(), scope) == [
        StartPromotion(standby="shop_back", primary="shop", verify=True, catch_up=True),
        StartPromotion(standby="shop_back", primary="shop", verify=True, catch_up=False),
        StartPromotion(standby="shop_b2", primary="shop", verify=True, catch_up=True),
        StartPromotion(standby="shop_b2", primary="shop", verify=True, catch_up=False),
        StartPromotion(standby="blog_back", primary="blog", verify=True, catch_up=True),
        StartPromotion(standby="blog_back", primary="blog", verify=True, catch_up=False),
    ]
    # promotion 1 of shop_back running: only blog's standby may start; promotion 1 advances
    assert promote_enabled(running(), scope) == [
        StartPromotion(standby="blog_back", primary="blog", verify=True, catch_up=True),
        StartPromotion(standby="blog_back", primary="blog", verify=True, catch_up=False),
        AdvancePromotion(promotion_id=1),
    ]


@pytest.mark.parametrize(
    ("build", "action", "error", "message"),
    [
        (
            primed,
            AdvancePromotion(promotion_id=1),
            PromotionRejected,
            rejected("#1", "there is no such promotion"),
        ),
        (
            running,
            AdvancePromotion(promotion_id=True),
            InvalidAction,
            "a promotion id must be an int, got True",
        ),
        (
            running,
            FailPromotionStep(promotion_id="1"),
            InvalidAction,
            "a promotion id must be an int, got '1'",
        ),
        (
            after_switchover,
            AdvancePromotion(promotion_id=1),
            PromotionRejected,
            rejected("shop_back", "promotion 1 is COMPLETED"),
        ),
        (
            after_switchover,
            FailPromotionStep(promotion_id=1),
            PromotionRejected,
            rejected("shop_back", "promotion 1 is COMPLETED"),
        ),
    ],
    ids=["unknown", "a bool id", "a str id", "advance finished", "fail finished"],
)
def test_advance_and_fail_refusals(build, action, error, message):
    assert refusal(build(), action, error) == message


# -- switchover: verify, fence, catch-up ---------------------------------------------------------


def test_a_switchover_takes_its_six_steps_in_order():
    start_state, final, _, decisions = promoted(catch_up=True)
    assert [names(events)[0] for events in decisions] == [
        "StandbyVerified",
        "PrimaryFenced",
        "CaughtUp",
        "SchemaSwitched",
        "RoutingUpdated",
        "WritesEnabled",
    ]
    task = final.promotions[1]
    assert (
        task.steps
        == STEP_ORDER
        == (
            S.VERIFY,
            S.FENCE,
            S.CATCH_UP,
            S.SWITCH_SCHEMA,
            S.UPDATE_ROUTING,
            S.ENABLE_WRITES,
        )
    )
    assert task.done == STEP_ORDER
    assert (task.status, task.failures, task.error, task.next_step) == (
        PromotionStatus.COMPLETED,
        0,
        "",
        None,
    )
    assert (task.standby_id, task.primary_id, task.restore_task_id, task.restored_to) == (BACK, SHOP, 1, M1)
    assert (task.primary_name, task.standby_name) == ("shop", "shop_back")
    assert (task.row_count_match, task.checksum_match, task.sample_match) == (True, True, True)
    verified = decisions[0][0]
    checksum = sum(row_hash(table, key, value) for (table, key), value in SHOP_AT_T.items())
    assert (verified.rows, verified.checksum) == (3, checksum & CHECKSUM_MASK)
    assert task.started_ts == start_state.clock and task.ended_ts == final.clock


def test_the_fence_aborts_the_old_primarys_open_transactions_and_refuses_its_writes():
    start_state, _, states, decisions = promoted(catch_up=True)
    fence = decisions[1]
    assert names(fence) == ["PrimaryFenced", "TransactionAborted"]
    assert (fence[0].fence_log_id, fence[0].aborted) == (FENCE, (OPEN_TX,))
    assert (fence[1].tenant_id, fence[1].tx_id, fence[1].log_id) == (SHOP, OPEN_TX, FENCE + 1)
    after = states[1]
    shop = after.tenants[SHOP]
    assert (shop.name, shop.writable, shop.fenced_log_id, shop.status) == (
        "shop",
        False,
        FENCE,
        TenantStatus.NORMAL,
    )
    assert after.open_txns.get(OPEN_TX) is None
    # before the fence shop accepts a write and a commit of its open transaction ...
    decide(start_state, put("shop", "orders", "k9"))
    decide(start_state, Commit(tx=OPEN_TX))
    # ... after it, neither
    assert refusal(after, put("shop", "orders", "k9"), TenantNotWritable) == (
        "tenant 'shop' does not accept writes (status not writable)"
    )
    assert refusal(after, put("shop", "orders", "k9", tx=OPEN_TX), TenantNotWritable) == (
        "tenant 'shop' does not accept writes (status not writable)"
    )
    assert refusal(after, Commit(tx=OPEN_TX), UnknownTransaction) == "transaction 17 is aborted, not open"
    # between the fence and its aborts (the decision's first event applied alone) the open
    # transaction may not commit either
    between = apply(states[0], fence[0])
    assert OPEN_TX in between.open_txns
    assert refusal(between, Commit(tx=OPEN_TX), TenantNotWritable) == (
        "tenant 'shop' does not accept writes (status not writable)"
    )
    # nothing of shop's is committed after the fence, to the end
    final = states[-1]
    assert max(t.commit_log_id for t in final.committed.values() if t.tenant_id == SHOP) == 43


def test_the_catch_up_replays_the_commits_and_the_table_after_t_so_nothing_is_lost():
    _, final, states, decisions = promoted(catch_up=True)
    caught = decisions[2]
    assert names(caught) == [
        "CaughtUp",
        "MutatorLogged",
        "TransactionCommitted",
        "TableCreated",
        "MutatorLogged",
        "TransactionCommitted",
        "MutatorLogged",
        "TransactionCommitted",
    ]
    event = caught[0]
    later = TableMapping(source_table_id=3004, target_table_id=3010, name="later", schema_version=10)
    assert (event.through_log_id, event.applied, event.created, event.dropped) == (
        43,
        SHOP_AFTER_T,
        (later,),
        (),
    )
    assert {e.tenant_id for e in caught[1:]} == {BACK}
    assert (caught[3].table_id, caught[3].name) == (3010, "later")
    assert [c.value for c in caught[4].cells] == ["zz"]
    task = final.promotions[1]
    assert (task.caught_up, task.caught_up_through, task.lost) == (SHOP_AFTER_T, 43, ())
    assert [m.name for m in task.mapping] == ["orders", "users", "later"]
    assert decisions[-1][0].lost == ()
    # the standby holds shop as of its fence from the catch-up on
    for state in states[2:]:
        assert ghost.content(state, BACK) == ghost.content_at_log(state, SHOP, FENCE) == SHOP_AT_FENCE
    assert ghost.content(final, SHOP) == SHOP_AT_FENCE


def test_names_swap_at_the_schema_switch_and_the_name_routes_to_the_standby_only_at_update_routing():
    start_state, _, states, _ = promoted(catch_up=True)

    def view(state: ClusterState) -> tuple:
        return (
            state.tenants[SHOP].name,
            state.tenants[BACK].name,
            state.routing.get("shop"),
            state.routing.get("shop_back"),
            state.routing.get("shop@1001"),
            state.tenant_named("shop").tenant_id,
        )

    assert [view(s) for s in [start_state, *states]] == [
        ("shop", "shop_back", SHOP, BACK, None, SHOP),  # started
        ("shop", "shop_back", SHOP, BACK, None, SHOP),  # verified
        ("shop", "shop_back", SHOP, BACK, None, SHOP),  # fenced
        ("shop", "shop_back", SHOP, BACK, None, SHOP),  # caught up
        ("shop@1001", "shop", SHOP, None, SHOP, BACK),  # switched: "shop" still routes to the old primary
        ("shop@1001", "shop", BACK, None, SHOP, BACK),  # routed
        ("shop@1001", "shop", BACK, None, SHOP, BACK),  # writes enabled
    ]
    final = states[-1]
    assert dict(final.routing.items()) == {
        "sys": 1,
        "shop": BACK,
        "shop@1001": SHOP,
        "blog": BLOG,
        "shop_b2": B2,
        "blog_back": BLOG_BACK,
    }
    # only the last step makes the standby a writable primary
    assert [(s.tenants[BACK].role, s.tenants[BACK].writable) for s in states] == [
        (Role.STANDBY, False)
    ] * 5 + [(Role.PRIMARY, True)]
    new, old = final.tenants[BACK], final.tenants[SHOP]
    assert (new.status, new.fenced_log_id, new.restored_to) == (TenantStatus.NORMAL, 0, M1)
    assert (old.role, old.status, old.writable, old.fenced_log_id) == (
        Role.PRIMARY,
        TenantStatus.NORMAL,
        False,
        FENCE,
    )


def test_no_user_tenant_can_take_the_name_a_replaced_primary_gets():
    assert refusal(primed(), CreateTenant(name="shop@1001"), InvalidAction) == (
        "a tenant name may not contain '@' (it names replaced primaries), got 'shop@1001'"
    )


def test_after_a_switchover_clients_of_the_name_reach_the_new_primary():
    _, final, _, _ = promoted(catch_up=True)
    state, (written,) = act(final, put("shop", "later", "z2", "new"))
    assert (written.tenant_id, written.cells[0].table_id) == (BACK, 3010)
    state, (committed,) = act(state, Commit(tx=written.tx_id))
    assert committed.tenant_id == BACK
    state = commit_rows(state, "shop", {("orders", "k2"): None})
    assert ghost.content(state, BACK) == {
        ("orders", "k3"): "c",
        ("orders", "k4"): "d",
        ("users", "u1"): "ann",
        ("later", "z"): "zz",
        ("later", "z2"): "new",
    }
    assert ghost.content(state, SHOP) == SHOP_AT_FENCE
    assert refusal(state, put("shop@1001", "orders", "k9"), TenantNotWritable) == (
        "tenant 'shop@1001' does not accept writes (status not writable)"
    )
    assert_invariants(state)


@pytest.mark.parametrize("catch_up", [True, False])
def test_a_promotion_history_passes_trace_validation(catch_up):
    start_state, final, _, decisions = promoted(catch_up=catch_up)
    events = [e for events in decisions for e in events]
    assert fingerprint(validate_trace(events, start_state)) == fingerprint(final)


# -- failover: no catch-up ------------------------------------------------------------------------


def test_a_failover_loses_exactly_the_old_primarys_commits_after_t():
    start_state, final, _, decisions = promoted(catch_up=False)
    assert [names(events)[0] for events in decisions] == [
        "StandbyVerified",
        "PrimaryFenced",
        "SchemaSwitched",
        "RoutingUpdated",
        "WritesEnabled",
    ]
    task = final.promotions[1]
    assert task.done == (S.VERIFY, S.FENCE, S.SWITCH_SCHEMA, S.UPDATE_ROUTING, S.ENABLE_WRITES)
    after_t = tuple(
        sorted(t.tx_id for t in final.committed.values() if t.tenant_id == SHOP and t.commit_ts > M1)
    )
    assert after_t == SHOP_AFTER_T
    assert task.lost == decisions[-1][0].lost == SHOP_AFTER_T
    assert (task.caught_up, task.caught_up_through, task.status) == ((), 0, PromotionStatus.COMPLETED)
    # the new primary holds what the standby held: shop as of T
    assert ghost.content(final, BACK) == ghost.content(start_state, BACK) == SHOP_AT_T
    assert ghost.content(final, BACK) == ghost.content_as_of(final, SHOP, M1)
    assert ghost.content(final, SHOP) == SHOP_AT_FENCE
    assert final.routing.get("shop") == BACK and final.tenants[BACK].writable


def test_a_failover_without_verification_takes_four_steps():
    _, final, _, decisions = promoted(catch_up=False, verify=False)
    assert [names(events)[0] for events in decisions] == [
        "PrimaryFenced",
        "SchemaSwitched",
        "RoutingUpdated",
        "WritesEnabled",
    ]
    task = final.promotions[1]
    assert (task.lost, task.row_count_match) == (SHOP_AFTER_T, False)


# -- catch-up waits for the archive, and fails without it -----------------------------------------


def lagging() -> tuple[ClusterState, int]:
    """restored(), then shop commits k4=d (log ids 42 and 43) not yet archived (the archive
    is at 20), and promotion 1 of shop_back with catch-up advanced to CATCH_UP."""
    state = commit_rows(restored(), "shop", {("orders", "k4"): "d"})
    assert state.archivers[SHOP].checkpoint.last_log_id == 20
    state, promotion_id = start(state)
    return advance_to(state, promotion_id, S.CATCH_UP), promotion_id


def test_the_catch_up_waits_while_a_running_archiver_lags_and_goes_on_once_it_caught_up():
    state, promotion_id = lagging()
    waiting = rejected("shop_back", "catch-up waits for the archive to reach log id 43 (at 20)")
    assert refusal(state, AdvancePromotion(promotion_id=promotion_id)) == waiting
    scope = Scope(cluster=ClusterScope(tenants=()), promote=PromoteScope(promotion_faults=1))
    assert promote_enabled(state, scope) == [FailPromotionStep(promotion_id=promotion_id)]
    # the archive reads on and persists an idle checkpoint: still waiting, naming where it is
    state, _ = act(state, ReadEntries(tenant_id=SHOP, count=4), PersistCheckpoint(tenant_id=SHOP))
    reached = state.archivers[SHOP].checkpoint.last_log_id
    assert reached == 24
    assert refusal(state, AdvancePromotion(promotion_id=promotion_id)) == rejected(
        "shop_back", f"catch-up waits for the archive to reach log id 43 (at {reached})"
    )
    state = archive_all(state, SHOP)
    state, events = act(state, AdvancePromotion(promotion_id=promotion_id))
    assert (events[0].through_log_id, events[0].applied) == (43, SHOP_AFTER_T)
    state, _, _ = drive(state, promotion_id)
    assert state.promotions[promotion_id].lost == ()
    assert ghost.content(state, BACK) == ghost.content(state, SHOP)


def test_the_catch_up_fails_the_promotion_when_archiving_stopped_short_of_the_last_commit():
    state, promotion_id = lagging()
    state, _ = act(state, StopArchive(tenant="shop"))
    before = state
    state, events = act(state, AdvancePromotion(promotion_id=promotion_id))
    assert names(events) == ["PromotionStepFailed"]
    failed = events[0]
    reason = "the archive holds the old primary's log through 20, its last commit or DDL is 43"
    assert (failed.step, failed.reason, failed.rolled_back, failed.fault) == (S.CATCH_UP, reason, True, False)
    task = state.promotions[promotion_id]
    assert (task.status, task.error, task.failures) == (PromotionStatus.ROLLED_BACK, reason, 1)
    shop = state.tenants[SHOP]
    assert (shop.name, shop.writable, shop.fenced_log_id) == ("shop", True, 0)
    assert ghost.content(state, BACK) == ghost.content(before, BACK) == SHOP_AT_T
    assert_invariants(state)


# -- a failed step: rolled back before the routing update, retried after -------------------------


@pytest.mark.parametrize("step", [S.VERIFY, S.FENCE, S.CATCH_UP, S.SWITCH_SCHEMA, S.UPDATE_ROUTING])
def test_a_step_failing_before_the_routing_update_rolls_the_promotion_back(step):
    before = primed()
    state, promotion_id = start(before)
    state = advance_to(state, promotion_id, step)
    state, events = act(state, FailPromotionStep(promotion_id=promotion_id, reason="disk full"))
    assert names(events) == ["PromotionStepFailed"]
    failed = events[0]
    assert (failed.step, failed.reason, failed.rolled_back, failed.fault) == (step, "disk full", True, True)
    task = state.promotions[promotion_id]
    assert (task.status, task.error, task.failures, task.ended_ts) == (
        PromotionStatus.ROLLED_BACK,
        "disk full",
        1,
        state.clock,
    )
    assert task.done == STEP_ORDER[: STEP_ORDER.index(step)]
    shop, back = state.tenants[SHOP], state.tenants[BACK]
    assert (shop.name, shop.role, shop.status, shop.writable, shop.fenced_log_id) == (
        "shop",
        Role.PRIMARY,
        TenantStatus.NORMAL,
        True,
        0,
    )
    assert (back.name, back.role, back.status, back.writable) == (
        "shop_back",
        Role.STANDBY,
        TenantStatus.READ_ONLY,
        False,
    )
    assert dict(state.routing.items()) == dict(before.routing.items())
    assert dict(state.tenant_index.items()) == dict(before.tenant_index.items())
    assert ghost.content(state, SHOP) == SHOP_AT_FENCE
    assert_invariants(state)
    assert refusal(state, AdvancePromotion(promotion_id=promotion_id)) == rejected(
        "shop_back", "promotion 1 is ROLLED_BACK"
    )
    # the old primary takes writes again under its name
    state = commit_rows(state, "shop", {("orders", "k9"): "again"})
    assert ghost.content(state, SHOP)[("orders", "k9")] == "again"
    assert_invariants(state)


def test_a_failure_at_enable_writes_is_not_rolled_back_and_the_step_is_retried():
    state, promotion_id = start(primed())
    state = advance_to(state, promotion_id, S.ENABLE_WRITES)
    for attempt in (1, 2):
        state, events = act(state, FailPromotionStep(promotion_id=promotion_id, reason=f"timeout {attempt}"))
        failed = events[0]
        assert (failed.step, failed.rolled_back, failed.fault) == (S.ENABLE_WRITES, False, True)
        task = state.promotions[promotion_id]
        assert (task.status, task.failures, task.error, task.next_step) == (
            PromotionStatus.RUNNING,
            attempt,
            f"timeout {attempt}",
            S.ENABLE_WRITES,
        )
        # in between, the name routes to the new primary, which does not take writes yet
        assert state.routing.get("shop") == BACK
        assert not state.tenants[BACK].writable and not state.tenants[SHOP].writable
        assert_invariants(state)
    state, events = act(state, AdvancePromotion(promotion_id=promotion_id))
    assert names(events) == ["WritesEnabled"]
    task = state.promotions[promotion_id]
    assert (task.status, task.done, task.failures, task.lost) == (
        PromotionStatus.COMPLETED,
        STEP_ORDER,
        2,
        (),
    )
    assert state.tenants[BACK].writable
    assert_invariants(state)


@pytest.mark.parametrize("how", ["content", "compare"])
def test_a_standby_failing_verification_rolls_the_promotion_back(monkeypatch, how):
    if how == "content":
        real = promote_decide.standby_content

        def without_users(state, task):
            tables = dict(real(state, task).tables)
            del tables["users"]
            return Contents(tables)

        monkeypatch.setattr(promote_decide, "standby_content", without_users)
        problem = "tables ['orders'], expected ['orders', 'users']"
    else:
        problem = "table 'orders' row 'k1': None, expected 'a'"
        monkeypatch.setattr(promote_decide, "compare", lambda expected, found: problem)
    state, promotion_id = start(primed())
    state, events = act(state, AdvancePromotion(promotion_id=promotion_id))
    failed = events[0]
    assert names(events) == ["PromotionStepFailed"]
    assert (failed.step, failed.reason, failed.rolled_back, failed.fault) == (
        S.VERIFY,
        f"verification: {problem}",
        True,
        False,
    )
    task = state.promotions[promotion_id]
    assert (task.status, task.error, task.done) == (
        PromotionStatus.ROLLED_BACK,
        f"verification: {problem}",
        (),
    )
    assert (task.row_count_match, task.checksum_match, task.sample_match) == (False, False, False)
    assert state.tenants[SHOP].writable and state.routing.get("shop") == SHOP
    assert_invariants(state)


# -- decommission ----------------------------------------------------------------------------------


def test_decommission_refusals():
    state = after_switchover()
    assert refusal(primed(), Decommission(tenant="shop")) == rejected(
        "shop", "a writable primary cannot be decommissioned; promote its standby first"
    )
    assert refusal(state, Decommission(tenant="shop")) == rejected(
        "shop", "a writable primary cannot be decommissioned; promote its standby first"
    )
    assert refusal(primed(), Decommission(tenant="sys")) == rejected(
        "sys", "the system tenant cannot be decommissioned"
    )
    assert refusal(primed(), Decommission(tenant="sys", read_only=False)) == rejected(
        "sys", "the system tenant cannot be decommissioned"
    )
    assert refusal(state, Decommission(tenant="shop@1001", read_only=False)) == rejected(
        "shop@1001", "full removal needs read-only first (it is normal)"
    )
    assert refusal(state, Decommission(tenant="nope"), UnknownTenant) == "unknown tenant 'nope'"
    assert refusal(state, Decommission(tenant="shop@1001", read_only="yes"), InvalidAction) == (
        "decommission read_only must be true or false, got 'yes'"
    )
    assert refusal(state, Decommission(tenant=7), InvalidAction) == (
        "the tenant must be a tenant name (a string), got 7"
    )
    # the two sides of a running promotion
    assert refusal(fenced(), Decommission(tenant="shop")) == rejected(
        "shop", "promotion 1 involving it is running"
    )
    assert refusal(running(), Decommission(tenant="shop_back", read_only=False)) == rejected(
        "shop_back", "promotion 1 involving it is running"
    )


def test_a_completed_standby_no_longer_wanted_retires_then_is_removed():
    state = primed()
    standby = state.tenant_named("shop_back")
    content = ghost.content(state, standby.tenant_id)
    state, events = act(state, Decommission(tenant="shop_back", read_only=True))
    assert [type(e).__name__ for e in events] == ["TenantDecommissioned"]
    retired = state.tenants[standby.tenant_id]
    assert (retired.role, retired.status, retired.writable) == (Role.STANDBY, TenantStatus.RETIRED, False)
    assert ghost.content(state, standby.tenant_id) == content  # still readable
    assert refusal(state, StartPromotion(standby="shop_back", primary="shop")) == rejected(
        "shop_back", "is not a completed standby (role standby, status retired)"
    )
    assert refusal(state, Decommission(tenant="shop_back")) == rejected(
        "shop_back", "is retired already (decommissioned read-only); read_only = false removes it"
    )
    assert_invariants(state)
    state, events = act(state, Decommission(tenant="shop_back", read_only=False))
    assert state.tenants[standby.tenant_id].status is TenantStatus.DECOMMISSIONED
    assert {type(e).__name__ for e in events[1:]} == {"TableDropped"}
    assert_invariants(state)


def test_decommission_goes_read_only_then_removes_the_tables_and_the_route():
    state = after_switchover()
    state, events = act(state, Decommission(tenant="shop@1001", read_only=True))
    assert events == [
        TenantDecommissioned(seq=events[0].seq, time=state.clock, tenant_id=SHOP, read_only=True)
    ]
    old = state.tenants[SHOP]
    assert (old.status, old.writable, old.fenced_log_id) == (TenantStatus.READ_ONLY, False, FENCE)
    assert state.routing.get("shop@1001") == SHOP
    assert ghost.content(state, SHOP) == SHOP_AT_FENCE  # reads still served
    assert refusal(state, put("shop@1001", "orders", "k9"), TenantNotWritable) == (
        "tenant 'shop@1001' does not accept writes (status not writable)"
    )
    assert refusal(state, Decommission(tenant="shop@1001")) == rejected(
        "shop@1001", "is decommissioned read-only already; read_only = false removes it"
    )
    assert_invariants(state)

    state, events = act(state, Decommission(tenant="shop@1001", read_only=False))
    assert names(events) == ["TenantDecommissioned", "TableDropped", "TableDropped", "TableDropped"]
    assert events[0].read_only is False
    assert [(e.tenant_id, e.table_id, e.name) for e in events[1:]] == [
        (SHOP, 3001, "orders"),
        (SHOP, 3002, "users"),
        (SHOP, 3004, "later"),
    ]
    old = state.tenants[SHOP]
    assert (old.status, old.writable, old.fenced_log_id) == (TenantStatus.DECOMMISSIONED, False, FENCE)
    assert state.tables_of(SHOP) == []
    assert ghost.content(state, SHOP) == {}
    assert "shop@1001" not in state.routing
    assert state.routing.get("shop") == BACK
    assert refusal(state, put("shop@1001", "orders", "k9"), TenantNotWritable) == (
        "tenant 'shop@1001' does not accept writes (status not writable)"
    )
    assert refusal(state, Decommission(tenant="shop@1001")) == rejected(
        "shop@1001", "is decommissioned already"
    )
    assert refusal(state, Decommission(tenant="shop@1001", read_only=False)) == rejected(
        "shop@1001", "is decommissioned already"
    )
    # the new primary, and the restore of shop_b2 from the removed tenant, are unaffected
    assert ghost.content(state, BACK) == SHOP_AT_FENCE
    assert ghost.content(state, B2) == SHOP_AT_T
    assert_invariants(state)
    # and the name is served by the new primary
    state = commit_rows(state, "shop", {("orders", "k1"): "back"})
    assert ghost.content(state, BACK)[("orders", "k1")] == "back"
    assert_invariants(state)


# -- apply refuses forged promotion events --------------------------------------------------------


def failover_at(step: PromotionStep) -> Callable[[], tuple[ClusterState, int]]:
    def build() -> tuple[ClusterState, int]:
        state, promotion_id = start(primed(), catch_up=False)
        return advance_to(state, promotion_id, step), promotion_id

    build.__name__ = f"failover_at_{step.value}"
    return build


def switchover_at(step: PromotionStep) -> Callable[[], tuple[ClusterState, int]]:
    def build() -> tuple[ClusterState, int]:
        state, promotion_id = start(primed())
        return advance_to(state, promotion_id, step), promotion_id

    build.__name__ = f"switchover_at_{step.value}"
    return build


def advance(state: ClusterState, promotion_id: int) -> list:
    return decide(state, AdvancePromotion(promotion_id=promotion_id))


def fail(state: ClusterState, promotion_id: int) -> list:
    return decide(state, FailPromotionStep(promotion_id=promotion_id))


def routing_now(state: ClusterState, promotion_id: int) -> list:
    """A RoutingUpdated made up for the promotion's tenants, whatever its next step."""
    return [
        RoutingUpdated(
            seq=state.seq + 1, time=state.clock, promotion_id=promotion_id, name="shop", tenant_id=BACK
        )
    ]


def writes_now(state: ClusterState, promotion_id: int) -> list:
    return [WritesEnabled(seq=state.seq + 1, time=state.clock, promotion_id=promotion_id, lost=())]


def start_blog(state: ClusterState, promotion_id: int) -> list:
    return decide(state, StartPromotion(standby="blog_back", primary="blog"))


def completed() -> tuple[ClusterState, int]:
    return after_switchover(), 1


# name: (build, genuine events, index of the forged one, changes, message)
FORGERIES = {
    "WritesEnabled with a wrong lost list": (
        failover_at(S.ENABLE_WRITES),
        advance,
        0,
        {"lost": (5, 6)},
        "the old primary's commits the new primary lacks (5, 6, 16), found (5, 6)",
    ),
    "WritesEnabled hiding a loss": (
        failover_at(S.ENABLE_WRITES),
        advance,
        0,
        {"lost": ()},
        "the old primary's commits the new primary lacks (5, 6, 16), found ()",
    ),
    "WritesEnabled inventing a loss": (
        switchover_at(S.ENABLE_WRITES),
        advance,
        0,
        {"lost": (16,)},
        "the old primary's commits the new primary lacks (), found (16,)",
    ),
    "WritesEnabled before the routing update": (
        switchover_at(S.UPDATE_ROUTING),
        writes_now,
        0,
        {},
        "promotion 1's next step <PromotionStep.UPDATE_ROUTING: 'UPDATE_ROUTING'>, "
        "found <PromotionStep.ENABLE_WRITES: 'ENABLE_WRITES'>",
    ),
    "PrimaryFenced with a wrong fence log id": (
        switchover_at(S.FENCE),
        advance,
        0,
        {"fence_log_id": 43},
        "the fence point and the old primary's open transactions (44, (17,)), found (43, (17,))",
    ),
    "PrimaryFenced aborting nothing": (
        switchover_at(S.FENCE),
        advance,
        0,
        {"aborted": ()},
        "the fence point and the old primary's open transactions (44, (17,)), found (44, ())",
    ),
    "RoutingUpdated before the schema switch": (
        switchover_at(S.SWITCH_SCHEMA),
        routing_now,
        0,
        {},
        "promotion 1's next step <PromotionStep.SWITCH_SCHEMA: 'SWITCH_SCHEMA'>, "
        "found <PromotionStep.UPDATE_ROUTING: 'UPDATE_ROUTING'>",
    ),
    "RoutingUpdated to another tenant": (
        switchover_at(S.UPDATE_ROUTING),
        advance,
        0,
        {"tenant_id": B2},
        "the tenant's name routed to the standby ('shop', 1003), found ('shop', 1004)",
    ),
    "RoutingUpdated of another name": (
        switchover_at(S.UPDATE_ROUTING),
        advance,
        0,
        {"name": "shop_back"},
        "the tenant's name routed to the standby ('shop', 1003), found ('shop_back', 1003)",
    ),
    "PromotionStepFailed not rolling back before the routing update": (
        switchover_at(S.SWITCH_SCHEMA),
        fail,
        0,
        {"rolled_back": False},
        "a rollback exactly when the routing is not yet updated True, found False",
    ),
    "PromotionStepFailed rolling back after the routing update": (
        switchover_at(S.ENABLE_WRITES),
        fail,
        0,
        {"rolled_back": True},
        "a rollback exactly when the routing is not yet updated False, found True",
    ),
    "PromotionStepFailed at another step": (
        switchover_at(S.CATCH_UP),
        fail,
        0,
        {"step": S.SWITCH_SCHEMA},
        "promotion 1's next step <PromotionStep.CATCH_UP: 'CATCH_UP'>, "
        "found <PromotionStep.SWITCH_SCHEMA: 'SWITCH_SCHEMA'>",
    ),
    "CaughtUp in a failover": (
        failover_at(S.SWITCH_SCHEMA),
        lambda state, pid: [
            CaughtUp(
                seq=state.seq + 1,
                time=state.clock,
                promotion_id=pid,
                through_log_id=43,
                applied=SHOP_AFTER_T,
                created=(),
                dropped=(),
            )
        ],
        0,
        {},
        "promotion 1's next step <PromotionStep.SWITCH_SCHEMA: 'SWITCH_SCHEMA'>, "
        "found <PromotionStep.CATCH_UP: 'CATCH_UP'>",
    ),
    "SchemaSwitched giving the standby another name": (
        switchover_at(S.SWITCH_SCHEMA),
        advance,
        0,
        {"standby_name": "shop2"},
        "the standby taking the tenant's name 'shop', found 'shop2'",
    ),
    "SchemaSwitched renaming the old primary to a name in use": (
        switchover_at(S.SWITCH_SCHEMA),
        advance,
        0,
        {"primary_name": "blog"},
        "an unused tenant name 'unused', found 'blog'",
    ),
    "StandbyVerified twice": (
        switchover_at(S.FENCE),
        lambda state, pid: [
            StandbyVerified(seq=state.seq + 1, time=state.clock, promotion_id=pid, rows=3, checksum=0)
        ],
        0,
        {},
        "promotion 1's next step <PromotionStep.FENCE: 'FENCE'>, found <PromotionStep.VERIFY: 'VERIFY'>",
    ),
    "PromotionStarted with a used promotion id": (
        switchover_at(S.VERIFY),
        start_blog,
        0,
        {"promotion_id": 1},
        "promotion_id 2, found 1",
    ),
    "PromotionStarted naming another standby's restore": (
        switchover_at(S.VERIFY),
        start_blog,
        0,
        {"restore_task_id": 2},
        "a standby made by the named restore 2, found 1005",
    ),
    "an event of an unknown promotion": (
        switchover_at(S.VERIFY),
        lambda state, pid: [
            SchemaSwitched(
                seq=state.seq + 1, time=state.clock, promotion_id=7, primary_name="x", standby_name="shop"
            )
        ],
        0,
        {},
        "a running promotion 7, found None",
    ),
    "an event of a completed promotion": (
        completed,
        routing_now,
        0,
        {},
        "a running promotion 1, found 'COMPLETED'",
    ),
    "TenantDecommissioned removing a tenant that is not read-only": (
        completed,
        lambda state, pid: decide(state, Decommission(tenant="shop@1001")),
        0,
        {"read_only": False},
        "read-only before full removal <TenantStatus.READ_ONLY: 'read_only'>, "
        "found <TenantStatus.NORMAL: 'normal'>",
    ),
}


@pytest.mark.parametrize("name", list(FORGERIES))
def test_apply_refuses_a_forged_promotion_event_and_the_state_is_unchanged(name):
    build, genuine, index, changes, message = FORGERIES[name]
    state, promotion_id = build()
    assert_forgery_refused(
        state, genuine(state, promotion_id), index, changes, f"event out of order: expected {message}"
    )


# -- each promotion invariant catches a planted corruption ----------------------------------------


def _varied_state() -> ClusterState:
    """primed() with promotion 1 (shop_back over shop, switchover) completed and the old
    primary shop@1001 decommissioned; promotion 2 (blog_back over blog, failover) rolled back
    by a failure at UPDATE_ROUTING, after its schema switch."""
    state = after_switchover()
    state, _ = act(state, Decommission(tenant="shop@1001"), Decommission(tenant="shop@1001", read_only=False))
    state, promotion_id = start(state, "blog_back", "blog", catch_up=False)
    state = advance_to(state, promotion_id, S.UPDATE_ROUTING)
    state, _ = act(state, FailPromotionStep(promotion_id=promotion_id))
    assert promotion_id == 2 and state.promotions[2].status is PromotionStatus.ROLLED_BACK
    return state


def _with_task(state: ClusterState, promotion_id: int, **changes) -> ClusterState:
    task = attrs.evolve(state.promotions[promotion_id], **changes)
    return evolve_state(state, promotions=state.promotions.set(promotion_id, task))


def _with_tenant(state: ClusterState, tenant_id: int, **changes) -> ClusterState:
    tenant = attrs.evolve(state.tenants[tenant_id], **changes)
    return evolve_state(state, tenants=state.tenants.set(tenant_id, tenant))


def _with_route(state: ClusterState, name: str, tenant_id: int | None) -> ClusterState:
    routing = state.routing.delete(name) if tenant_id is None else state.routing.set(name, tenant_id)
    return evolve_state(state, routing=routing)


def _both_sides_writable(state):
    return _with_tenant(state, SHOP, writable=True), "promotion 1: both 'shop' sides are writable"


def _writable_standby(state):
    return _with_tenant(
        state, B2, writable=True
    ), "tenant 'shop_b2' is writable while standby, read_only, fenced at 0"


def _writable_fenced_primary(state):
    corrupted = _with_tenant(state, BLOG, fenced_log_id=19)
    return corrupted, "tenant 'blog' is writable while primary, normal, fenced at 19"


def _writable_read_only_primary(state):
    corrupted = _with_tenant(state, BLOG, status=TenantStatus.READ_ONLY)
    return corrupted, "tenant 'blog' is writable while primary, read_only, fenced at 0"


def _route_to_a_missing_tenant(state):
    return _with_route(state, "ghost", 4242), "name 'ghost' routes to tenant 4242, which is missing"


def _route_to_a_removed_tenant(state):
    return _with_route(state, "shop@1001", SHOP), "name 'shop@1001' routes to tenant 1001, which is removed"


def _route_to_another_tenant(state):
    return _with_route(state, "blog", BACK), "name 'blog' routes to tenant 1003, named 'shop'"


def _tenant_without_route(state):
    return _with_route(state, "shop_b2", None), "tenant 'shop_b2' has no route"


def _commit_after_the_fence(state):
    corrupted = _with_tenant(state, SHOP, fenced_log_id=40)
    return corrupted, "tenant 1001 committed transaction 16 at log id 43, fenced at 40"


def _fence_before_a_commit(state):
    corrupted = _with_tenant(state, BLOG, fenced_log_id=15)
    return corrupted, "tenant 1002 committed transaction 7 at log id 19, fenced at 15"


def _lost_misreported(state):
    return _with_task(state, 1, lost=(5,)), "promotion 1: reports (5,), lost ()"


def _failover_lost_misreported(state):
    corrupted = _with_task(state, 1, catch_up=False, caught_up=(), lost=(5, 6))
    return corrupted, "promotion 1: reports (5, 6), lost (5, 6, 16)"


def _caught_up_but_lost(state):
    corrupted = _with_task(state, 1, caught_up=(), lost=SHOP_AFTER_T)
    return corrupted, "promotion 1: reports (5, 6, 16), lost ()"  # a caught-up promotion loses nothing


def _caught_up_standby_differs(state):
    # a third promotion, of blog_back over blog with catch-up, advanced past CATCH_UP
    state, promotion_id = start(state, "blog_back", "blog")
    state = advance_to(state, promotion_id, S.SWITCH_SCHEMA)
    assert state.promotions[promotion_id].caught_up == (7,)
    assert promote_invariant("promotion_data_loss_window_is_exact").check(state) is None
    corrupted = _with_task(state, promotion_id, fence_log_id=12)  # p3=z committed at 19
    return corrupted, "promotion 3: the caught-up standby differs from the fenced primary"


def _rollback_left_the_primary_fenced(state):
    corrupted = _with_tenant(state, BLOG, writable=False, fenced_log_id=19)
    return corrupted, "promotion 2 rolled back, but the old primary is Tenant(tenant_id=1002, name='blog', "


def _rollback_left_the_primary_renamed(state):
    corrupted = _with_tenant(state, BLOG, name="blog@1002")
    return (
        corrupted,
        "promotion 2 rolled back, but the old primary is Tenant(tenant_id=1002, name='blog@1002', ",
    )


def _rollback_left_the_route_moved(state):
    return _with_route(state, "blog", BLOG_BACK), "promotion 2 rolled back, but 'blog' routes elsewhere"


def _rollback_left_the_standby_promoted(state):
    corrupted = _with_tenant(state, BLOG_BACK, role=Role.PRIMARY)
    return corrupted, "promotion 2 rolled back, but the standby is Tenant(tenant_id=1005, name='blog_back', "


def _rollback_left_the_standby_renamed(state):
    corrupted = _with_tenant(state, BLOG_BACK, name="blog")
    return corrupted, "promotion 2 rolled back, but the standby is Tenant(tenant_id=1005, name='blog', "


def _decommissioned_with_tables(state):
    # shop_b2 was decommissioned read-only and keeps its tables; in full, it would not
    corrupted = _with_tenant(state, B2, status=TenantStatus.DECOMMISSIONED)
    corrupted = evolve_state(corrupted, routing=corrupted.routing.delete("shop_b2"))  # removed: no route
    return corrupted, "tenant 'shop_b2' is removed but still holds tables ['orders', 'users']"


PROMOTE_CORRUPTIONS = {
    "promotion_one_writable_tenant_per_name": [
        _both_sides_writable,
        _writable_standby,
        _writable_fenced_primary,
        _writable_read_only_primary,
    ],
    "promotion_routing_sends_each_name_to_one_tenant": [
        _route_to_a_missing_tenant,
        _route_to_a_removed_tenant,
        _route_to_another_tenant,
        _tenant_without_route,
        _decommissioned_with_tables,
    ],
    "promotion_no_commit_after_the_fence": [_commit_after_the_fence, _fence_before_a_commit],
    "promotion_data_loss_window_is_exact": [
        _lost_misreported,
        _failover_lost_misreported,
        _caught_up_but_lost,
        _caught_up_standby_differs,
    ],
    "promotion_rollback_restores_the_old_primary": [
        _rollback_left_the_primary_fenced,
        _rollback_left_the_primary_renamed,
        _rollback_left_the_route_moved,
        _rollback_left_the_standby_promoted,
        _rollback_left_the_standby_renamed,
    ],
}


def promote_invariant(name: str):
    (invariant,) = [inv for inv in PROMOTE_INVARIANTS if inv.name == name]
    return invariant


def test_every_promotion_invariant_has_a_planted_corruption():
    assert sorted(PROMOTE_CORRUPTIONS) == sorted(inv.name for inv in PROMOTE_INVARIANTS)
    assert all(PROMOTE_CORRUPTIONS.values())
    assert {inv.name for inv in PROMOTE_INVARIANTS} <= {inv.name for inv in INVARIANTS}


@pytest.fixture(scope="module")
def varied() -> ClusterState:
    state = _varied_state()
    assert_invariants(state)
    return state


@pytest.mark.parametrize(
    ("name", "corrupt"),
    [(name, corrupt) for name, corruptions in PROMOTE_CORRUPTIONS.items() for corrupt in corruptions],
    ids=lambda value: value if isinstance(value, str) else value.__name__.strip("_"),
)
def test_each_promotion_invariant_catches_its_planted_corruption(varied, name, corrupt):
    assert_catches(PROMOTE_INVARIANTS, name, varied, corrupt)


# -- found while writing these tests ---------------------------------------------------------------


def test_a_table_dropped_after_the_last_commit_is_dropped_by_the_catch_up_too():
    state, _ = act(restored(), DropTable(tenant="shop", table="users"))
    state, promotion_id = start(archive_all(state, SHOP))
    state, _, _ = drive(state, promotion_id)  # checks every invariant after every step
    assert ghost.content(state, BACK) == ghost.content(state, SHOP)
    assert [t.name for t in state.tables_of(BACK)] == ["orders", "later"]


@pytest.mark.parametrize("verify", [True, False])
def test_a_standby_whose_promotion_rolled_back_after_the_catch_up_is_not_promoted_again(verify):
    # The catch-up replayed commits and DDL after T into it: it is no longer what its
    # restore made, so a new promotion is refused (restore a new standby instead).
    state, first = start(primed())
    state = advance_to(state, first, S.SWITCH_SCHEMA)
    state, _ = act(state, FailPromotionStep(promotion_id=first))
    assert state.promotions[first].status is PromotionStatus.ROLLED_BACK
    with pytest.raises(PromotionRejected, match="replayed more into it and rolled back"):
        start(state, verify=verify)
    offered = promote_enabled(
        state, Scope(cluster=ClusterScope(tenants=()), promote=PromoteScope(promote=True))
    )
    assert not any(isinstance(a, StartPromotion) and a.standby == "shop_back" for a in offered)


def test_removing_a_completed_standby_keeps_every_invariant():
    state, events = act(primed(), Decommission(tenant="shop_b2", read_only=False))
    assert names(events) == ["TenantDecommissioned", "TableDropped", "TableDropped"]
    assert state.tenants[B2].status is TenantStatus.DECOMMISSIONED
    assert_invariants(state)


def test_a_standby_being_restored_is_not_decommissioned_under_its_restore():
    state = restoring()
    assert state.tenant_named("shop_r").status is TenantStatus.RESTORING
    try:
        state, _ = act(state, Decommission(tenant="shop_r"))
    except PromotionRejected:
        return  # refused while the restore runs: fine
    # accepted: then the restore must not write into the decommissioned tenant
    task_id = max(state.restores.keys())
    while not state.restores[task_id].final:
        state = drive_restore(state, task_id, until=lambda s, n=state.seq: s.seq > n)
        assert_invariants(state)
