"""Exhaustive exploration of a full backup: every scheduling of the tablet copies, faults,
cancels, writes, freezes and version drops within a small scope, every invariant checked
in every state; and two planted bugs the exploration must find with a short trace.

The start state is the scope's cluster (one tenant, one table of two tablets) with rows in
both tablets and frozen version 1; ``max_log`` bounds how many log entries (writes,
commits, freezes) may follow, so the state space is finite and small.
"""

from __future__ import annotations

import attrs
from histories import act, commit_rows, variant

from ybstate import dag
from ybstate.backup import BACKUP
from ybstate.backup.actions import AdvanceBackup, DropVersion, StartBackup
from ybstate.backup.derive import tablet_of_task
from ybstate.backup.enabled import backup_enabled
from ybstate.backup.events import TabletCopied, VersionDropped
from ybstate.backup.state import BackupPhase
from ybstate.cluster import sstable
from ybstate.cluster.actions import Commit, Freeze
from ybstate.cluster.state import ClusterConfig, ClusterState, evolve_state
from ybstate.drivers.explore import explore, replay_counterexample
from ybstate.kernel import Invariant, Spec
from ybstate.model import MODEL, BackupScope, ClusterScope, DagScope, Model, Scope, start_state

ROWS = {("a", key): "x" for key in ("k1", "k2", "k3", "k4")}
SMALL = Scope(
    cluster=ClusterScope(
        tenants=("t1",),
        tables=(("a", 2),),
        keys=(),
        config=ClusterConfig(data_servers=2),
    ),
    dag=DagScope(
        task_faults=1,
    ),
    backup=BackupScope(
        max_backups=1,
        backup_parallel=2,
    ),
)


def frozen_start(scope: Scope) -> ClusterState:
    """The scope's cluster with ROWS committed (in both tablets) and frozen as version 1."""
    return act(commit_rows(start_state(scope), "t1", ROWS), Freeze())[0]


def backup_spec(scope: Scope, more_log_entries: int = 0, model: Model = MODEL) -> Spec:
    """``model`` within ``scope`` from :func:`frozen_start`, allowing ``more_log_entries`` more."""
    start = frozen_start(scope)
    bounded = attrs.evolve(
        scope, cluster=attrs.evolve(scope.cluster, max_log=len(start.log) + more_log_entries)
    )
    return model.spec(bounded, start)


def test_the_start_state_has_rows_in_both_tablets_and_a_frozen_version():
    start = frozen_start(SMALL)
    (table,) = start.tables.values()
    assert start.frozen_version == 1
    assert all(sstable.read_tablet(start, tablet, 1) for tablet in table.tablets)


# -- the order in which copies end ------------------------------------------------------------------


@attrs.frozen
class Traced:
    """A cluster state and the copy outcomes so far: ("ok" | "fail", tablet id), in order."""

    state: ClusterState
    outcomes: tuple[tuple[str, int], ...]


def traced(spec: Spec, finals: set) -> Spec:
    """``spec`` with each state carrying the order its copies ended in (part of the key, so
    no two schedulings merge); ``finals`` collects (phase, outcomes) of every ended backup."""

    def apply(t: Traced, event: object) -> Traced:
        outcomes = t.outcomes
        if isinstance(event, TabletCopied):
            outcomes += (("ok", event.tablet_id),)
        elif isinstance(event, dag.TaskFailed):
            outcomes += (("fail", tablet_of_task(event.task)),)
        return Traced(spec.apply(t.state, event), outcomes)

    def observe(t: Traced) -> None:
        for task in t.state.backups.values():
            if task.final:
                finals.add((task.phase, t.outcomes))

    invariants = tuple(Invariant(name=i.name, check=lambda t, c=i.check: c(t.state)) for i in spec.invariants)
    return Spec(
        name=f"{spec.name}+order",
        init=lambda: Traced(spec.init(), ()),
        enabled=lambda t: spec.enabled(t.state),
        decide=lambda t, action: spec.decide(t.state, action),
        apply=apply,
        key=lambda t: (spec.key(t.state), t.outcomes),
        invariants=(*invariants, Invariant(name="observe", check=observe)),
    )


def test_exploring_a_backup_with_two_workers_and_one_copy_fault_finds_no_violation():
    result = explore(backup_spec(SMALL))
    assert result.complete and result.violation is None
    assert result.distinct_states > 20


def test_every_order_of_the_two_copies_with_and_without_a_fault_on_either_tablet_completes():
    finals: set = set()
    result = explore(traced(backup_spec(SMALL), finals))
    assert result.complete and result.violation is None
    ok1, ok2, fail1, fail2 = ("ok", 1), ("ok", 2), ("fail", 1), ("fail", 2)
    assert {outcomes for phase, outcomes in finals if phase is BackupPhase.COMPLETED} == {
        (ok1, ok2),
        (ok2, ok1),
        (fail1, ok1, ok2),
        (fail1, ok2, ok1),
        (ok2, fail1, ok1),
        (fail2, ok2, ok1),
        (fail2, ok1, ok2),
        (ok1, fail2, ok2),
    }
    assert {phase for phase, _ in finals} == {BackupPhase.COMPLETED}  # a retry always saves it


def test_without_retries_a_single_copy_fault_fails_the_backup_in_every_order():
    scope = attrs.evolve(
        SMALL, cluster=attrs.evolve(SMALL.cluster, config=ClusterConfig(data_servers=2, task_retries=0))
    )
    finals: set = set()
    result = explore(traced(backup_spec(scope), finals))
    assert result.complete and result.violation is None
    ok1, ok2, fail1, fail2 = ("ok", 1), ("ok", 2), ("fail", 1), ("fail", 2)
    assert {outcomes for phase, outcomes in finals if phase is BackupPhase.FAILED} == {
        (fail1, ok2),
        (ok2, fail1),
        (fail2, ok1),
        (ok1, fail2),
    }
    assert {outcomes for phase, outcomes in finals if phase is BackupPhase.COMPLETED} == {
        (ok1, ok2),
        (ok2, ok1),
    }


def test_exploring_with_cancels_a_new_freeze_and_version_drops_finds_no_violation():
    scope = attrs.evolve(SMALL, backup=attrs.evolve(SMALL.backup, cancel_backups=True, drop_versions=True))
    finals: set = set()
    result = explore(traced(backup_spec(scope, more_log_entries=1), finals))
    assert result.complete and result.violation is None
    assert {phase for phase, _ in finals} == {BackupPhase.COMPLETED, BackupPhase.CANCELLED}


def test_exploring_with_a_write_committed_during_the_backup_finds_no_violation():
    scope = attrs.evolve(
        SMALL,
        cluster=attrs.evolve(
            SMALL.cluster, keys=("k1",), values=("y",), deletes=False, freeze=False, max_open_txns=1
        ),
    )
    result = explore(backup_spec(scope, more_log_entries=2))
    assert result.complete and result.violation is None


# -- planted bugs -----------------------------------------------------------------------------------


_READ_FROZEN = sstable.read_tablet


def _read_live(state: ClusterState, tablet, version: int) -> tuple[tuple[str, str], ...]:
    """The bug: the tablet's rows as committed now, not as of the frozen version."""
    frozen = attrs.evolve(state.frozen[version], snapshot=state.data)
    return _READ_FROZEN(evolve_state(state, frozen=state.frozen.set(version, frozen)), tablet, version)


def test_a_copy_reading_live_data_instead_of_the_frozen_version_is_caught(monkeypatch):
    monkeypatch.setattr(sstable, "read_tablet", _read_live)
    scope = attrs.evolve(
        SMALL,
        cluster=attrs.evolve(
            SMALL.cluster, keys=("k1",), values=("y",), deletes=False, freeze=False, max_open_txns=1
        ),
    )
    spec = backup_spec(scope, more_log_entries=2)
    result = explore(spec)
    cx = result.violation
    assert cx is not None and cx.invariant == "completed_sets_equal_baseline"
    assert "('a', 'k1')" in cx.message
    actions = cx.actions()
    assert cx.depth == len(actions) <= 11
    assert any(isinstance(a, Commit) for a in actions) and isinstance(actions[-1], AdvanceBackup)
    replay_counterexample(spec, cx)


def _drop_ignoring_pins(state: ClusterState, action: DropVersion) -> list[object]:
    frozen = state.frozen.get(action.version)
    if frozen is None or not frozen.available or action.version == state.frozen_version:
        raise AssertionError(f"the test offers only droppable versions, not {action.version}")
    return [VersionDropped(seq=state.seq + 1, time=state.clock, version=action.version)]


def _apply_drop_ignoring_pins(state: ClusterState, event: VersionDropped) -> ClusterState:
    dropped = attrs.evolve(state.frozen[event.version], dropped_ts=event.time)
    return evolve_state(
        state, seq=event.seq, clock=event.time, frozen=state.frozen.set(event.version, dropped)
    )


def test_a_version_garbage_collector_that_ignores_pins_is_caught():
    def offer_every_drop(state: ClusterState, scope: Scope) -> list[object]:
        actions = [a for a in backup_enabled(state, scope) if not isinstance(a, DropVersion)]
        droppable = range(1, state.frozen_version)
        return actions + [DropVersion(version=v) for v in droppable if state.frozen[v].available]

    planted = variant(
        "backup",
        enabled=offer_every_drop,
        deciders={**BACKUP.deciders, DropVersion: _drop_ignoring_pins},
        handlers={**BACKUP.handlers, VersionDropped: _apply_drop_ignoring_pins},
    )
    scope = attrs.evolve(SMALL, backup=attrs.evolve(SMALL.backup, drop_versions=True))
    spec = backup_spec(scope, more_log_entries=1, model=planted)
    cx = explore(spec).violation
    assert cx is not None and cx.invariant == "pinned_versions_kept"
    assert cx.message == "backup task 1 needs frozen version 1, which was dropped"
    assert isinstance(cx.actions()[0], StartBackup)
    assert cx.actions()[-2:] == (Freeze(), DropVersion(version=1)) and cx.depth == 5
    replay_counterexample(spec, cx)


def test_without_the_planted_bug_the_same_scope_never_drops_a_pinned_version():
    result = explore(
        backup_spec(
            attrs.evolve(SMALL, backup=attrs.evolve(SMALL.backup, drop_versions=True)), more_log_entries=1
        )
    )
    assert result.complete and result.violation is None
