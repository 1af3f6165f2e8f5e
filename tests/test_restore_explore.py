"""Exhaustive exploration of restores: every order in which the rewrite workers of the
incremental pipeline finish, every interleaving of reads, rewrites and releases, with
every invariant checked in every state; and two planted applier bugs, a reorder queue that
releases what it holds out of order and an applier that applies what the baseline already
holds, which the exploration must find with a short trace.

The explorations start from a small cluster, tenant t1 with table a (one tablet), backed
up and archived, most of them just after ``StartRestore`` (two let ``enabled`` start it, to
latest or to a mark). Only the restore moves: the scope writes nothing (``max_log`` is the
log's length, no freeze, no heartbeat), archives nothing and starts no other restore.
"""

from __future__ import annotations

import itertools
import random
from functools import cache

import attrs
import immutables
import pytest
from histories import ONE_KEY, act, archive_all, commit_rows, drive_backup, variant

from ybstate.archive.actions import StartArchive
from ybstate.backup.actions import StartBackup
from ybstate.cluster import ghost
from ybstate.cluster.actions import Commit, Freeze, Mark, Put, Write
from ybstate.cluster.events import TransactionCommitted
from ybstate.cluster.state import ClusterState, evolve_state
from ybstate.drivers.explore import explore, replay_counterexample
from ybstate.kernel import Decision, Invariant, Spec
from ybstate.model import INVARIANTS, MODEL, Model, RestoreScope, Scope, model_spec, start_state
from ybstate.restore import RESTORE
from ybstate.restore import decide as restore_decide
from ybstate.restore import reducer as restore_reducer
from ybstate.restore.actions import ApplyEntry, StartRestore
from ybstate.restore.derive import ApplierStep
from ybstate.restore.events import EntryApplied, EntryRewritten
from ybstate.restore.state import Outcome, RestorePhase

T1, STANDBY = 1001, 1002
BASE = Scope(
    cluster=ONE_KEY,
    restore=RestoreScope(
        restore_sources=("t1",),
        max_restores=1,  # the one started already
    ),
)


def write(key: str, value: str | None, tx: int | None = None) -> Write:
    return Write(tenant="t1", tx=tx, changes=(Put(table="a", key=key, value=value),))


def backed_up_and_archiving(state: ClusterState) -> ClusterState:
    """``state`` frozen, backed up (set 1) and archiving from the set's start_replay_log_id."""
    state, _ = act(state, Freeze())
    state, (backup,) = act(state, StartBackup(tenant="t1", destination="/backup/t1"))
    state, _ = drive_backup(state, backup.task_id)
    return act(state, StartArchive(tenant="t1", destination="/backup/t1"))[0]


def two_transactions() -> ClusterState:
    """t1: k1=x committed (log ids 2, 3), the freeze (4), set 1 (replay from 5); then two
    transactions of two mutators and a commit each (5 6 7, 8 9 10), all archived."""
    state = commit_rows(start_state(BASE), "t1", {("a", "k1"): "x"})
    state = backed_up_and_archiving(state)
    state, (first,) = act(state, write("k1", "y"))
    state, _ = act(state, write("k2", "y", first.tx_id), Commit(tx=first.tx_id))
    state, (second,) = act(state, write("k2", None))
    state, _ = act(state, write("k3", "z", second.tx_id), Commit(tx=second.tx_id))
    return archive_all(state, T1)


def restoring(state: ClusterState, scope: Scope, model: Model = MODEL, **fields) -> tuple[ClusterState, Spec]:
    """``state`` just after StartRestore of t1 to latest, and the spec of ``model`` (the
    project's, or a variant with a planted bug) exploring from it within ``scope`` (which
    writes nothing more: max_log is the log's length)."""
    state, _ = act(state, StartRestore(source="t1", target="r1", until="latest", **fields))
    scope = attrs.evolve(scope, cluster=attrs.evolve(scope.cluster, max_log=len(state.log)))
    return state, model.spec(scope, state)


def recording(spec: Spec, edges: dict) -> Spec:
    """``spec`` whose apply notes every step it takes between fingerprints, labelled with
    the entry a worker rewrote (None for any other event), in ``edges``."""
    base = spec.apply

    def apply(state: ClusterState, event: object) -> ClusterState:
        after = base(state, event)
        label = event.entry_seq if isinstance(event, EntryRewritten) else None
        edges.setdefault(spec.key(state), set()).add((label, spec.key(after)))
        return after

    return attrs.evolve(spec, apply=apply)


def rewrite_orders(edges: dict, start: object) -> frozenset[tuple[int, ...]]:
    """Every sequence of rewritten entries along a path from ``start`` to a final state."""

    @cache
    def orders(node: object) -> frozenset[tuple[int, ...]]:
        steps = [(label, after) for label, after in edges.get(node, ()) if after != node]
        if not steps:
            return frozenset({()})
        found: set[tuple[int, ...]] = set()
        for label, after in steps:
            found.update(o if label is None else (label, *o) for o in orders(after))
        return frozenset(found)

    return orders(start)


def pipeline_states(workers: int, entries: int, commits: tuple[int, ...]) -> int:
    """The distinct states of the incremental pipeline, counted here without the model:
    (read, applied, the reorder queue) and, once the first commit is applied, how many
    reads and rewrites came before it (the standby's log entries carry the event seq,
    so the fingerprint tells those states apart). Each worker rewrites its own entries
    oldest first; the reader is never blocked (capacity = entries)."""
    first_commit = commits[0]
    start = (0, 0, frozenset(), None)
    seen = {start}
    todo = [start]
    while todo:
        read, applied, queue, when = todo.pop()
        following = []
        if read < entries:
            following.append((read + 1, applied, queue, when))
        for worker in range(workers):
            held = [s for s in range(applied + 1, read + 1) if (s - 1) % workers == worker and s not in queue]
            if held:
                following.append((read, applied, queue | {held[0]}, when))
        if applied + 1 in queue:
            if applied + 1 == first_commit:
                when = read + applied + len(queue)  # reads and rewrites so far
            following.append((read, applied + 1, queue - {applied + 1}, when))
        for state in following:
            if state not in seen:
                seen.add(state)
                todo.append(state)
    return len(seen)


def test_exploring_three_workers_replaying_six_entries_reaches_every_rewrite_order():
    state, spec = restoring(
        two_transactions(),
        attrs.evolve(BASE, restore=attrs.evolve(BASE.restore, restore_workers=3, restore_capacity=6)),
        workers=3,
        capacity=6,
    )
    assert state.restores[1].phase is RestorePhase.INIT
    edges: dict = {}
    result = explore(recording(spec, edges))
    assert result.complete and result.violation is None
    # Entries 1..6 are log ids 5..10; worker w holds entries w+1 and w+4 and rewrites them in
    # that order, so a complete replay rewrites in one of 6! / (2! 2! 2!) = 90 orders.
    every = {
        order
        for order in itertools.permutations(range(1, 7))
        if all(order.index(s) < order.index(s + 3) for s in (1, 2, 3))
    }
    assert len(every) == 90
    orders = rewrite_orders(edges, spec.key(state))
    assert orders == every
    # The states: INIT and PREPARING, three of the baseline (its one fetch ready, running,
    # done), 271 of the pipeline (counted by pipeline_states), and VERIFYING and
    # COMPLETED once for each of the 7 moments the first commit can be applied at (after
    # 3 reads and 3 rewrites at the earliest, 6 and 6 at the latest).
    pipeline = pipeline_states(workers=3, entries=6, commits=(3, 6))
    assert pipeline == 271
    assert result.distinct_states == 2 + 3 + pipeline + 2 * 7 == 290


def test_every_final_state_of_the_exploration_is_a_completed_standby_equal_to_the_source():
    seen: set = set()

    def note(state: ClusterState) -> None:
        task = state.restores[1]
        if task.final:
            content = ghost.content(state, STANDBY)
            seen.add((task.phase, tuple(sorted(content.items()))))
        return None

    _, spec = restoring(
        two_transactions(),
        attrs.evolve(BASE, restore=attrs.evolve(BASE.restore, restore_workers=2, restore_capacity=3)),
    )
    spec = attrs.evolve(spec, invariants=(*spec.invariants, Invariant(name="note", check=note)))
    result = explore(spec)
    assert result.complete and result.violation is None
    assert seen == {(RestorePhase.COMPLETED, ((("a", "k1"), "y"), (("a", "k3"), "z")))}


def test_exploring_stalls_fetch_faults_and_cancels_finds_no_violation():
    seen: set = set()

    def note(state: ClusterState) -> None:
        task = state.restores[1]
        seen.add(task.phase)
        if task.error:
            seen.add(task.error.split(":")[0].split(" (")[0])
        return None

    scope = attrs.evolve(
        BASE,
        restore=attrs.evolve(
            BASE.restore, restore_workers=2, restore_capacity=2, worker_stalls=1, cancel_restores=True
        ),
        dag=attrs.evolve(BASE.dag, task_faults=1),
    )
    _, spec = restoring(small_straddle(), scope, workers=2, capacity=2)
    spec = attrs.evolve(spec, invariants=(*spec.invariants, Invariant(name="note", check=note)))
    result = explore(spec)
    assert result.complete and result.violation is None
    assert {RestorePhase.COMPLETED, RestorePhase.FAILED, RestorePhase.CANCELLED} <= seen
    assert {
        "sequence number 1",
        "sequence number 2",
        "sequence number 3",
        "cancelled by the operator",
    } <= seen


def small_straddle() -> ClusterState:
    """t1: k2 written (log id 2) by a transaction that straddles the freeze (3) and commits
    (4); set 1 replays from 2; archived."""
    state, (straddler,) = act(start_state(BASE), write("k2", "b"))
    state = backed_up_and_archiving(state)
    state, _ = act(state, Commit(tx=straddler.tx_id))
    return archive_all(state, T1)


def marked_between() -> ClusterState:
    """two_transactions() with mark m between them (after log id 7)."""
    state = commit_rows(start_state(BASE), "t1", {("a", "k1"): "x"})
    state = backed_up_and_archiving(state)
    state, (first,) = act(state, write("k1", "y"))
    state, _ = act(state, write("k2", "y", first.tx_id), Commit(tx=first.tx_id), Mark(name="m"))
    state, (second,) = act(state, write("k2", None))
    state, _ = act(state, write("k3", "z", second.tx_id), Commit(tx=second.tx_id))
    return archive_all(state, T1)


def from_enabled(workers: int, capacity: int, faults: int) -> tuple[Spec, set]:
    """The spec exploring from marked_between(), where enabled starts the restore (to latest
    or to m), with ``faults`` worker stalls and fetch failures and cancels; and the set
    its observing invariant fills with (restore point, final phase, standby content)."""
    state = marked_between()
    scope = attrs.evolve(
        BASE,
        cluster=attrs.evolve(BASE.cluster, max_log=len(state.log)),
        restore=attrs.evolve(
            BASE.restore,
            restore_workers=workers,
            restore_capacity=capacity,
            worker_stalls=faults,
            cancel_restores=True,
        ),
        dag=attrs.evolve(BASE.dag, task_faults=faults),
    )
    seen: set = set()

    def note(state: ClusterState) -> None:
        for task in state.restores.values():
            if task.phase is RestorePhase.COMPLETED:
                seen.add((task.until, task.phase, tuple(sorted(ghost.content(state, STANDBY).items()))))
            elif task.final:
                seen.add((task.until, task.phase))
        return None

    spec = model_spec(scope, state)
    return attrs.evolve(spec, invariants=(*spec.invariants, Invariant(name="note", check=note))), seen


def test_exploring_restores_started_by_enabled_to_latest_or_a_mark_finds_no_violation():
    spec, seen = from_enabled(workers=2, capacity=2, faults=1)
    result = explore(spec)
    assert result.complete and result.violation is None
    completed = {item for item in seen if item[1] is RestorePhase.COMPLETED}
    assert completed == {
        ("m", RestorePhase.COMPLETED, ((("a", "k1"), "y"), (("a", "k2"), "y"))),
        ("latest", RestorePhase.COMPLETED, ((("a", "k1"), "y"), (("a", "k3"), "z"))),
    }
    assert {(u, p) for u in ("m", "latest") for p in (RestorePhase.FAILED, RestorePhase.CANCELLED)} <= seen


@pytest.mark.slow
def test_exploring_three_workers_with_three_stalls_and_fetch_faults_finds_no_violation():
    # about 10 s (22,101 states)
    spec, seen = from_enabled(workers=3, capacity=6, faults=3)
    result = explore(spec)
    assert result.complete and result.violation is None
    assert len(seen) == 6


# -- a reorder queue that releases the lowest entry it holds -----------------------------------


def lowest_first() -> Model:
    """The bug: the reorder queue releases the lowest entry it holds even when an earlier
    one is still missing, and the applier takes it as the next one (its counter jumps over
    the missing ones) and commits whatever it buffered for the transaction, maybe nothing.
    The restore record's decider and handler are both replaced in a variant model."""
    real_decide = RESTORE.composite[ApplyEntry]
    real_apply = RESTORE.handlers[EntryApplied]

    def as_next(state: ClusterState, task_id: int, entry_seq: int) -> ClusterState:
        task = attrs.evolve(state.restores[task_id], applied=entry_seq - 1)
        return evolve_state(state, restores=state.restores.set(task_id, task))

    def release_lowest(decision: Decision, action: ApplyEntry) -> None:
        state = decision.state
        task = state.restores.get(action.task_id)
        if task is None or task.stopped or not task.rewritten:
            real_decide(decision, action)
            return
        lowest = task.rewritten[0]
        pretend = as_next(state, task.task_id, lowest)
        entry = state.restore_entries[task.task_id][lowest - 1]
        buffers = state.restore_buffers.get(task.task_id, immutables.Map())
        if isinstance(entry, TransactionCommitted) and entry.tx_id not in buffers:
            buffers = buffers.set(entry.tx_id, ())
            pretend = evolve_state(
                pretend, restore_buffers=pretend.restore_buffers.set(task.task_id, buffers)
            )
        decision.state = pretend  # decided as if the lowest were the next one
        real_decide(decision, action)

    def take_as_next(state: ClusterState, event: EntryApplied) -> ClusterState:
        return real_apply(as_next(state, event.task_id, event.entry_seq), event)

    return variant(
        "restore",
        composite={**RESTORE.composite, ApplyEntry: release_lowest},
        handlers={**RESTORE.handlers, EntryApplied: take_as_next},
    )


def offering_any_release(spec: Spec) -> Spec:
    """``spec`` whose enabled offers ApplyEntry whenever the reorder queue holds anything."""
    base = spec.enabled

    def enabled(state: ClusterState) -> list[object]:
        actions = list(base(state))
        for task in state.restores.values():
            release = ApplyEntry(task_id=task.task_id)
            busy = task.phase is RestorePhase.RESTORING_INCREMENTAL and not task.stopped and task.rewritten
            if busy and release not in actions:
                actions.append(release)
        return actions

    return attrs.evolve(spec, enabled=enabled)


def test_a_queue_releasing_the_lowest_entry_it_holds_is_caught_showing_part_of_a_transaction():
    _, spec = restoring(
        two_transactions(),
        attrs.evolve(BASE, restore=attrs.evolve(BASE.restore, restore_workers=3, restore_capacity=6)),
        lowest_first(),
    )
    spec = offering_any_release(spec)
    cx = explore(spec).violation
    assert cx is not None and cx.invariant == "restore_standby_shows_whole_transactions"
    # the commit (entry 3, log id 7) released before the two mutators: the standby shows
    # neither of its writes, and still the k1 of the baseline
    assert cx.message == (
        "restore 1 after log id 7: missing [(('a', 'k1'), 'y'), (('a', 'k2'), 'y')], "
        "unexpected [(('a', 'k1'), 'x')]"
    )
    assert cx.depth == 10  # 5 steps to the pipeline, then read 1 2 3, rewrite 3, release it
    assert cx.actions()[-1] == ApplyEntry(task_id=1)
    released = [e for _, events in cx.steps for e in events if isinstance(e, EntryApplied)]
    assert [(e.entry_seq, e.outcome) for e in released] == [(3, "applied")]
    final = replay_counterexample(spec, cx)
    assert final.restores[1].applied == 3 and final.restores[1].rewritten == ()


# -- an applier that applies what the baseline already holds -----------------------------------


def overwritten_before_the_freeze() -> ClusterState:
    """t1: k2 written (log id 2) by a transaction that straddles the freeze; k1=x committed
    (3, 4) and overwritten with y (5, 6) before the freeze (7); the straddler commits (8).
    Set 1 replays from 2: both commits before the freeze are in its baseline (k1=y)."""
    state, (straddler,) = act(start_state(BASE), write("k2", "s"))
    state = commit_rows(state, "t1", {("a", "k1"): "x"})
    state = commit_rows(state, "t1", {("a", "k1"): "y"})
    state = backed_up_and_archiving(state)
    state, _ = act(state, Commit(tx=straddler.tx_id))
    return archive_all(state, T1)


def plant_reapply(monkeypatch) -> None:
    """The bug: the applier applies every commit, also those at or before the set's freeze
    entry. ``decide`` and ``apply`` both ask applier_outcome, so both are replaced."""
    real = restore_decide.applier_outcome

    def reapplying(state: ClusterState, task, entry) -> ApplierStep:
        step = real(state, task, entry)
        if step.outcome is Outcome.IN_BASELINE and isinstance(entry, TransactionCommitted):
            return ApplierStep(Outcome.APPLIED, source_tx_id=entry.tx_id, target_tx_id=state.next_tx_id)
        return step

    monkeypatch.setattr(restore_decide, "applier_outcome", reapplying)
    monkeypatch.setattr(restore_reducer, "applier_outcome", reapplying)


def test_an_applier_applying_commits_before_the_freeze_again_is_caught_going_back_in_time(monkeypatch):
    plant_reapply(monkeypatch)
    start, spec = restoring(
        overwritten_before_the_freeze(),
        attrs.evolve(BASE, restore=attrs.evolve(BASE.restore, restore_workers=2)),
    )
    assert start.backup_sets[1].start_replay_log_id == 2
    assert start.frozen[1].log_id == 7
    cx = explore(spec).violation
    assert cx is not None and cx.invariant == "restore_standby_shows_whole_transactions"
    # k1=x committed again over the baseline's k1=y
    assert (
        cx.message
        == "restore 1 after log id 7: missing [(('a', 'k1'), 'y')], unexpected [(('a', 'k1'), 'x')]"
    )
    assert cx.depth == 14  # 5 steps to the pipeline, then read, rewrite and release entries 1..3
    released = [e for _, events in cx.steps for e in events if isinstance(e, EntryApplied)]
    assert [(e.entry_seq, e.log_id, e.outcome) for e in released] == [
        (1, 2, "buffered"),
        (2, 3, "buffered"),
        (3, 4, "applied"),
    ]
    replay_counterexample(spec, cx)


def test_only_the_atomicity_invariant_sees_commits_before_the_freeze_applied_again(monkeypatch):
    # Applied again in log order, x then y, the baseline's commits end where the baseline
    # was: the completed standby is right and verification passes; only the states in
    # between show k1 going back to x.
    plant_reapply(monkeypatch)
    _, spec = restoring(
        overwritten_before_the_freeze(),
        attrs.evolve(BASE, restore=attrs.evolve(BASE.restore, restore_workers=2)),
    )
    seen: set = set()

    def note(state: ClusterState) -> None:
        task = state.restores[1]
        if task.final:
            seen.add((task.phase, task.applied_txns, tuple(sorted(ghost.content(state, STANDBY).items()))))
        return None

    others = tuple(inv for inv in spec.invariants if inv.name != "restore_standby_shows_whole_transactions")
    result = explore(attrs.evolve(spec, invariants=(*others, Invariant(name="note", check=note))))
    assert result.complete and result.violation is None
    assert seen == {(RestorePhase.COMPLETED, 3, ((("a", "k1"), "y"), (("a", "k2"), "s")))}


# -- random walks -------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_random_walks_of_a_restore_with_stalls_and_fetch_faults_keep_every_invariant(seed):
    state, spec = restoring(
        two_transactions(),
        attrs.evolve(
            BASE,
            restore=attrs.evolve(BASE.restore, restore_workers=3, restore_capacity=4, worker_stalls=1),
            dag=attrs.evolve(BASE.dag, task_faults=2),
        ),
    )
    rng = random.Random(seed)
    while actions := spec.enabled(state):
        state, _ = act(state, rng.choice(actions))
        broken = {inv.name: inv.check(state) for inv in INVARIANTS}
        assert {name: why for name, why in broken.items() if why is not None} == {}
    assert state.restores[1].final
