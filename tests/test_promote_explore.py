"""Exhaustive exploration of promotions: every interleaving of a promotion's steps (with and
without catch-up), one injected step failure anywhere, the old primary's archiver reading
and sealing, a second promotion after a rollback, and the decommission of the old primary,
with every invariant checked in every state; and two planted bugs, a fence that does not
stop commits and a rollback that forgets to unfence the old primary, which the exploration
must find with a short trace.

Each exploration starts from :func:`standby_ready`: tenant t1 with table a (one tablet),
backed up, archived, restored to mark m into the completed standby r1; after m, t1 commits
k2=z, creates table b and, after the restore, commits k3=w, which the archive has not read
yet. Clients write nothing more (``max_log`` is the log's length) except in the planted
fence bug's exploration.
"""

from __future__ import annotations

import attrs
from histories import ONE_KEY, act, archive_all, commit_rows, drive_backup, variant

from ybstate.archive.actions import StartArchive
from ybstate.backup.actions import StartBackup
from ybstate.cluster import ghost
from ybstate.cluster.actions import CreateTable, Freeze, Mark, Put, Write
from ybstate.cluster.state import ClusterState, Role, TenantStatus, evolve_state
from ybstate.drivers.explore import explore, replay_counterexample
from ybstate.kernel import Invariant, Spec
from ybstate.model import (
    MODEL,
    ArchiveScope,
    Model,
    PromoteScope,
    Scope,
    start_state,
)
from ybstate.promote import PROMOTE as PROMOTE_PART
from ybstate.promote.actions import AdvancePromotion, Decommission, FailPromotionStep, StartPromotion
from ybstate.promote.derive import archived_through
from ybstate.promote.events import PrimaryFenced, PromotionStepFailed
from ybstate.promote.state import PromotionStatus, PromotionStep
from ybstate.restore.actions import StartRestore
from ybstate.restore.enabled import restore_enabled

S = PromotionStep
T1, STANDBY = 1001, 1002
BASE = Scope(
    cluster=ONE_KEY,
    archive=ArchiveScope(
        archive_tenants=("t1",),
        archive_batch=50,  # one read takes the archiver to the end of the log
    ),
)
PROMOTE = attrs.evolve(BASE, promote=PromoteScope(promote=True, promotion_faults=1, decommission=True))
AT_T = {("a", "k1"): "y"}  # t1 as of m: the standby's content
AT_FENCE = {("a", "k1"): "y", ("a", "k2"): "z", ("a", "k3"): "w"}  # t1 from the fence on
AFTER_T = (3, 6)  # t1's transactions committed after m


def write(key: str, value: str, tx: int | None = None) -> Write:
    return Write(tenant="t1", tx=tx, changes=(Put(table="a", key=key, value=value),))


_READY: list[ClusterState] = []


def standby_ready() -> ClusterState:
    """t1: k1=x committed (log ids 2, 3), the freeze (4), set 1, archiving; k1=y (5, 6), mark
    m; k2=z (7, 8) and table b (9) after m, archived; restore 1 of t1 to m completed into r1
    (tenant 1002, its entries 10..14); then k3=w (15, 16), not archived yet."""
    if not _READY:
        state = commit_rows(start_state(BASE), "t1", {("a", "k1"): "x"})
        state, _ = act(state, Freeze())
        state, (backup,) = act(state, StartBackup(tenant="t1", destination="/backup/t1"))
        state, _ = drive_backup(state, backup.task_id)
        state, _ = act(state, StartArchive(tenant="t1", destination="/backup/t1"))
        state = commit_rows(state, "t1", {("a", "k1"): "y"})
        state, _ = act(state, Mark(name="m"))
        state = commit_rows(state, "t1", {("a", "k2"): "z"})
        state, _ = act(state, CreateTable(tenant="t1", table="b", tablets=1))
        state = archive_all(state, T1)
        state, (started,) = act(state, StartRestore(source="t1", target="r1", until="m", workers=1))
        while not state.restores[started.task_id].final:
            state, _ = act(state, restore_enabled(state, BASE)[0])
        _READY.append(commit_rows(state, "t1", {("a", "k3"): "w"}))
    return _READY[0]


def from_ready(
    scope: Scope, *, max_promotions: int | None = 2, standby_decommission: bool = False, model: Model = MODEL
) -> Spec:
    """The spec exploring from standby_ready() within ``scope`` (``max_log`` the log's length
        unless the scope sets more). Two restrictions of enabled, each for a bug found (see
        test_promote.py): at most ``max_promotions`` promotions are started (a standby whose
        promotion rolled back after its catch-up fails every later verification, so starting
        it again and again never ends), and no standby is decommissioned (the restore
        invariants do not expect a removed standby) unless ``standby_decommission``. ``model``
    is the project's own, or a variant with a planted bug."""
    state = standby_ready()
    if scope.cluster.max_log < len(state.log):
        scope = attrs.evolve(scope, cluster=attrs.evolve(scope.cluster, max_log=len(state.log)))
    spec = model.spec(scope, state)
    base = spec.enabled

    def enabled(state: ClusterState) -> list[object]:
        actions = []
        for action in base(state):
            if (
                isinstance(action, StartPromotion)
                and max_promotions is not None
                and len(state.promotions) >= max_promotions
            ):
                continue
            if (
                isinstance(action, Decommission)
                and not standby_decommission
                and state.tenant_named(action.tenant).role is Role.STANDBY
            ):
                continue
            actions.append(action)
        return actions

    return attrs.evolve(spec, enabled=enabled)


def observed(spec: Spec, seen: set) -> Spec:
    """``spec`` with one more invariant that never fails: it notes in ``seen`` what the
    promotions went through, so a test can tell the exploration reached it."""

    def observe(state: ClusterState) -> None:
        for task in state.promotions.values():
            kind = "switchover" if task.catch_up else "failover"
            if task.status is PromotionStatus.COMPLETED:
                seen.add((kind, "completed", task.promotion_id, task.failures, task.lost))
                if PromotionStep.ENABLE_WRITES not in state.promotions[task.promotion_id].done:
                    seen.add("completed without enabling writes")
                new = ghost.content(state, task.standby_id)
                seen.add((kind, "content", tuple(sorted(new.items()))))
                seen.add((kind, "tables", tuple(t.name for t in state.tables_of(task.standby_id))))
            elif task.status is PromotionStatus.ROLLED_BACK:
                cause = "fault" if task.error == "injected fault" else task.error.split(":")[0]
                seen.add((kind, "rolled back", task.next_step, cause))
            elif task.failures:
                seen.add((kind, "retrying", task.next_step))
            elif task.next_step is S.CATCH_UP:
                last = max(t.commit_log_id for t in state.committed.values() if t.tenant_id == T1)
                if archived_through(state, task) < last:
                    seen.add((kind, "catch-up waits for the archive"))
        old = state.tenants[T1]
        if old.status is not TenantStatus.NORMAL:
            seen.add(("old primary", old.name, old.status))
        return None

    return attrs.evolve(spec, invariants=(*spec.invariants, Invariant(name="observe", check=observe)))


def test_the_start_state_has_a_completed_standby_and_an_archive_behind_the_last_commit():
    state = standby_ready()
    assert state.tenants[STANDBY].role is Role.STANDBY
    assert state.tenants[STANDBY].status is TenantStatus.READ_ONLY
    assert state.restores[1].phase.value == "COMPLETED"
    assert ghost.content(state, STANDBY) == AT_T
    assert ghost.content(state, T1) == AT_FENCE
    assert state.last_log_id == 16
    assert state.archivers[T1].checkpoint.last_log_id == 9
    assert sorted(t.tx_id for t in state.committed.values() if t.tenant_id == T1) == [1, 2, 3, 6]
    assert [t.name for t in state.tables_of(T1)] == ["a", "b"]


def test_exploring_promotions_with_a_fault_and_decommission_finds_no_violation():
    seen: set = set()
    result = explore(observed(from_ready(PROMOTE), seen))
    assert result.complete and result.violation is None
    # a switchover and a failover complete, each also after a failed ENABLE_WRITES retried,
    # and as a second promotion after a rollback
    for promotion_id in (1, 2):
        assert ("switchover", "completed", promotion_id, 0, ()) in seen
        assert ("failover", "completed", promotion_id, 0, AFTER_T) in seen
    assert ("switchover", "completed", 1, 1, ()) in seen
    assert ("failover", "completed", 1, 1, AFTER_T) in seen
    assert {("switchover", "retrying", S.ENABLE_WRITES), ("failover", "retrying", S.ENABLE_WRITES)} <= seen
    # what the new primary holds: t1 at its fence after a switchover, at m after a failover
    assert {item for item in seen if item[1] == "content"} == {
        ("switchover", "content", tuple(sorted(AT_FENCE.items()))),
        ("failover", "content", tuple(sorted(AT_T.items()))),
    }
    assert {item for item in seen if item[1] == "tables"} == {
        ("switchover", "tables", ("a", "b")),  # b, created after m, by the catch-up
        ("failover", "tables", ("a",)),
    }
    # a failure put at each step before the routing update rolls the promotion back
    for step in (S.VERIFY, S.FENCE, S.CATCH_UP, S.SWITCH_SCHEMA, S.UPDATE_ROUTING):
        assert ("switchover", "rolled back", step, "fault") in seen
    for step in (S.VERIFY, S.FENCE, S.SWITCH_SCHEMA, S.UPDATE_ROUTING):
        assert ("failover", "rolled back", step, "fault") in seen
    assert ("failover", "rolled back", S.CATCH_UP, "fault") not in seen
    assert ("switchover", "catch-up waits for the archive") in seen
    assert "completed without enabling writes" not in seen
    # the old primary, renamed, is decommissioned read-only and then removed
    assert {
        ("old primary", "t1@1001", TenantStatus.READ_ONLY),
        ("old primary", "t1@1001", TenantStatus.DECOMMISSIONED),
    } <= seen


def test_exploring_with_standbys_decommissioned_too_finds_no_violation():
    result = explore(from_ready(PROMOTE, standby_decommission=True))
    assert result.violation is None, result.violation.format()


def test_exploring_without_a_bound_on_promotions_is_complete():
    # a standby a rolled-back catch-up changed is not promoted again, so the space is finite
    result = explore(from_ready(PROMOTE, max_promotions=None), max_states=20_000)
    assert result.violation is None
    assert result.complete


# -- a fence that does not stop commits ---------------------------------------------------------


def leaky_fence() -> Model:
    """The bug: the fence records its log id and aborts the open transactions, but leaves
    the old primary writable, so clients go on writing and committing to it."""
    real = PROMOTE_PART.handlers[PrimaryFenced]

    def leaky(state: ClusterState, event: PrimaryFenced) -> ClusterState:
        after = real(state, event)
        primary_id = after.promotions[event.promotion_id].primary_id
        tenant = attrs.evolve(after.tenants[primary_id], writable=True)
        return evolve_state(after, tenants=after.tenants.set(primary_id, tenant))

    return variant("promote", handlers={**PROMOTE_PART.handlers, PrimaryFenced: leaky})


def leaky_fence_spec(state: ClusterState, *, without: str | None) -> Spec:
    """Promotions from standby_ready() while clients may log two more entries: a write and
    a commit of t1 (a single transaction: k1=x only); ``without`` drops one invariant."""
    spec = from_ready(
        attrs.evolve(
            PROMOTE,
            cluster=attrs.evolve(PROMOTE.cluster, max_log=len(state.log) + 2),
            promote=PromoteScope(promote=True),
        ),
        model=leaky_fence(),
    )
    return attrs.evolve(spec, invariants=tuple(inv for inv in spec.invariants if inv.name != without))


def test_a_fence_that_does_not_stop_writes_is_caught_writing_after_the_fence():
    start = standby_ready()
    # the invariant that no side of a promotion stays writable sees the leak first, at the
    # fence itself; without it, the fence invariant sees the write that follows (its
    # mutator, before any commit)
    spec = leaky_fence_spec(start, without="promotion_one_writable_tenant_per_name")
    cx = explore(spec).violation
    assert cx is not None and cx.invariant == "promotion_no_commit_after_the_fence"
    assert cx.message == "tenant 1001 logged a write of transaction 7 at log id 17, fenced at 16"
    assert cx.depth == 4
    assert cx.actions() == (
        StartPromotion(standby="r1", primary="t1", verify=True, catch_up=True),
        AdvancePromotion(promotion_id=1),
        AdvancePromotion(promotion_id=1),
        write("k1", "x"),
    )
    assert [type(e).__name__ for e in cx.steps[2][1]] == ["PrimaryFenced"]
    final = replay_counterexample(spec, cx)
    assert final.tenants[T1].fenced_log_id == 16 and 7 not in final.committed
    assert ghost.content(final, T1) == AT_FENCE  # the write is logged, not committed


def test_the_leaky_fence_is_seen_at_the_fence_by_the_one_writable_tenant_invariant():
    spec = leaky_fence_spec(standby_ready(), without=None)
    cx = explore(spec).violation
    assert cx is not None and cx.invariant == "promotion_one_writable_tenant_per_name"
    assert cx.message == "tenant 't1' is writable while primary, normal, fenced at 16"
    assert cx.depth == 3
    replay_counterexample(spec, cx)


# -- a rollback that forgets to unfence the old primary -----------------------------------------


def fenced_rollback() -> Model:
    """The bug: a rollback gives the names and the routing back and ends the promotion, but
    leaves the old primary as the fence made it: not writable, fenced."""
    real = PROMOTE_PART.handlers[PromotionStepFailed]

    def forgetful(state: ClusterState, event: PromotionStepFailed) -> ClusterState:
        after = real(state, event)
        if not event.rolled_back:
            return after
        primary_id = after.promotions[event.promotion_id].primary_id
        before = state.tenants[primary_id]
        tenant = attrs.evolve(
            after.tenants[primary_id], writable=before.writable, fenced_log_id=before.fenced_log_id
        )
        return evolve_state(after, tenants=after.tenants.set(primary_id, tenant))

    return variant("promote", handlers={**PROMOTE_PART.handlers, PromotionStepFailed: forgetful})


def test_a_rollback_that_forgets_to_unfence_the_old_primary_is_caught():
    spec = from_ready(
        attrs.evolve(PROMOTE, promote=attrs.evolve(PROMOTE.promote, decommission=False)),
        model=fenced_rollback(),
    )
    cx = explore(spec).violation
    assert cx is not None and cx.invariant == "promotion_rollback_restores_the_old_primary"
    assert cx.message.startswith(
        "promotion 1 rolled back, but the old primary is Tenant(tenant_id=1001, name='t1', "
        "role=<Role.PRIMARY: 'primary'>, status=<TenantStatus.NORMAL: 'normal'>, writable=False, "
    )
    assert cx.message.endswith("fenced_log_id=16)")
    # a rollback before the fence leaves nothing to unfence: the shortest trace fails the
    # step after the fence (CATCH_UP of a switchover)
    assert cx.depth == 4
    assert cx.actions() == (
        StartPromotion(standby="r1", primary="t1", verify=True, catch_up=True),
        AdvancePromotion(promotion_id=1),
        AdvancePromotion(promotion_id=1),
        FailPromotionStep(promotion_id=1),
    )
    (failed,) = cx.steps[-1][1]
    assert (failed.step, failed.rolled_back, failed.fault) == (S.CATCH_UP, True, True)
    final = replay_counterexample(spec, cx)
    assert final.promotions[1].status is PromotionStatus.ROLLED_BACK
    assert (final.tenants[T1].writable, final.tenants[T1].fenced_log_id) == (False, 16)
