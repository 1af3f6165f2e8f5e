"""``apply`` for full backups.

One handler per event type; each moves the task along the
:data:`~ybstate.backup.events.BACKUP_TASK` lifecycle (IllegalTransition on an illegal move).
Storage changes per key: a stored tablet is one map entry, a set one catalog entry.
"""

from __future__ import annotations

from collections.abc import Callable

from ybstate.backup.events import (
    BACKUP_TASK,
    BackupCancelled,
    BackupCompleted,
    BackupCopied,
    BackupFailed,
    BackupPrepared,
    BackupPreparing,
    BackupStarted,
    TabletCopied,
    VersionDropped,
)
from ybstate.backup.state import BackupPhase, BackupSet, BackupTask, SetStatus, StoredTablet
from ybstate.cluster.state import ClusterState, FrozenVersion, evolve_state
from ybstate.errors import EventOutOfOrder
from ybstate.evolve import evolver

__all__ = ["BACKUP_HANDLERS"]

_evolve_task = evolver(BackupTask)
_evolve_set = evolver(BackupSet)
_evolve_frozen = evolver(FrozenVersion)


def _moved(state: ClusterState, e) -> BackupTask:
    task = state.backups.get(e.task_id)
    if task is None:
        raise EventOutOfOrder("an existing backup task", sorted(state.backups.keys()), e.task_id)
    if task.tenant_id != e.tenant_id:
        raise EventOutOfOrder(f"tenant of backup task {e.task_id}", task.tenant_id, e.tenant_id)
    following = BACKUP_TASK.next(task.phase, type(e), e.task_id)
    if following is task.phase:
        return task
    ended = e.time if following in (BackupPhase.COMPLETED, BackupPhase.FAILED, BackupPhase.CANCELLED) else 0
    return _evolve_task(task, phase=following, phases=(*task.phases, following), ended_ts=ended)


def _started(state: ClusterState, e: BackupStarted) -> ClusterState:
    if e.task_id != state.next_backup_task_id or e.set_id != state.next_backup_set_id:
        raise EventOutOfOrder(
            "backup task and set ids",
            (state.next_backup_task_id, state.next_backup_set_id),
            (e.task_id, e.set_id),
        )
    task = BackupTask(
        task_id=e.task_id,
        tenant_id=e.tenant_id,
        set_id=e.set_id,
        destination=e.destination,
        requested_version=e.requested_version,
        parallel=e.parallel,
        phase=BackupPhase.INIT,
        started_ts=e.time,
        phases=(BackupPhase.INIT,),
    )
    return evolve_state(
        state,
        seq=e.seq,
        clock=e.time,
        backups=state.backups.set(e.task_id, task),
        next_backup_task_id=e.task_id + 1,
        next_backup_set_id=e.set_id + 1,
    )


def _preparing(state: ClusterState, e: BackupPreparing) -> ClusterState:
    return evolve_state(
        state, seq=e.seq, clock=e.time, backups=state.backups.set(e.task_id, _moved(state, e))
    )


def _prepared(state: ClusterState, e: BackupPrepared) -> ClusterState:
    task = _moved(state, e)
    frozen = state.frozen.get(e.frozen_version)
    if frozen is None or not frozen.available:
        raise EventOutOfOrder("an available frozen version", state.frozen_version, e.frozen_version)
    task = _evolve_task(
        task,
        frozen_version=e.frozen_version,
        snapshot_ts=e.snapshot_ts,
        schema_version=e.schema_version,
        start_replay_log_id=e.start_replay_log_id,
        tablets=e.tablets,
        dag_id=e.dag_id,
    )
    catalog_entry = BackupSet(
        set_id=task.set_id,
        tenant_id=task.tenant_id,
        task_id=task.task_id,
        destination=task.destination,
        status=SetStatus.CREATING,
        started_ts=task.started_ts,
        completed_ts=0,
        frozen_version=e.frozen_version,
        snapshot_ts=e.snapshot_ts,
        schema_version=e.schema_version,
        start_replay_log_id=e.start_replay_log_id,
        tablets=tuple(t.tablet_id for t in e.tablets),
        schema=e.schema,
        data_size=0,
        manifest_path=e.manifest_path,
    )
    return evolve_state(
        state,
        seq=e.seq,
        clock=e.time,
        backups=state.backups.set(e.task_id, task),
        backup_sets=state.backup_sets.set(task.set_id, catalog_entry),
    )


def _copied_tablet(state: ClusterState, e: TabletCopied) -> ClusterState:
    task = _moved(state, e)
    tablet = next((t for t in task.tablets if t.tablet_id == e.tablet_id), None)
    if e.set_id != task.set_id or tablet is None:
        raise EventOutOfOrder(
            f"a tablet of backup task {e.task_id}", [t.tablet_id for t in task.tablets], e.tablet_id
        )
    if (e.set_id, e.tablet_id) in state.stored:
        raise EventOutOfOrder(f"tablet {e.tablet_id} copied once into set", e.set_id, "a second copy")
    stored = StoredTablet(
        set_id=e.set_id,
        tablet_id=e.tablet_id,
        table_id=e.table_id,
        table_name=e.table_name,
        start=tablet.start,
        end=tablet.end,
        rows=e.rows,
        row_count=e.row_count,
        data_size=e.data_size,
        checksum=e.checksum,
        path=e.path,
        stored_ts=e.time,
    )
    return evolve_state(
        state,
        seq=e.seq,
        clock=e.time,
        backups=state.backups.set(e.task_id, _evolve_task(task, copied=task.copied + 1)),
        stored=state.stored.set((e.set_id, e.tablet_id), stored),
    )


def _copied(state: ClusterState, e: BackupCopied) -> ClusterState:
    return evolve_state(
        state, seq=e.seq, clock=e.time, backups=state.backups.set(e.task_id, _moved(state, e))
    )


def _completed(state: ClusterState, e: BackupCompleted) -> ClusterState:
    task = _moved(state, e)
    entry = state.backup_sets[task.set_id]
    entry = _evolve_set(entry, status=SetStatus.AVAILABLE, completed_ts=e.time, data_size=e.data_size)
    return evolve_state(
        state,
        seq=e.seq,
        clock=e.time,
        backups=state.backups.set(e.task_id, task),
        backup_sets=state.backup_sets.set(task.set_id, entry),
    )


def _ended_badly(state: ClusterState, e: BackupFailed | BackupCancelled) -> ClusterState:
    """A failed or cancelled backup: its partial set is deleted from storage."""
    task = _evolve_task(_moved(state, e), error=e.reason)
    sets, stored = state.backup_sets, state.stored
    if task.set_id in sets:
        sets = sets.set(task.set_id, _evolve_set(sets[task.set_id], status=SetStatus.DELETED))
        for tablet in task.tablets:
            if (task.set_id, tablet.tablet_id) in stored:
                stored = stored.delete((task.set_id, tablet.tablet_id))
    return evolve_state(
        state,
        seq=e.seq,
        clock=e.time,
        backups=state.backups.set(e.task_id, task),
        backup_sets=sets,
        stored=stored,
    )


def _version_dropped(state: ClusterState, e: VersionDropped) -> ClusterState:
    frozen = state.frozen.get(e.version)
    if frozen is None or not frozen.available:
        raise EventOutOfOrder("an available frozen version to drop", state.frozen_version, e.version)
    holders = [t.task_id for t in state.backups.values() if t.pins == e.version]
    if holders:
        raise EventOutOfOrder(f"no backup pinning version {e.version}", [], holders)
    dropped = _evolve_frozen(frozen, dropped_ts=e.time)
    return evolve_state(state, seq=e.seq, clock=e.time, frozen=state.frozen.set(e.version, dropped))


BACKUP_HANDLERS: dict[type, Callable[[ClusterState, object], ClusterState]] = {
    BackupStarted: _started,
    BackupPreparing: _preparing,
    BackupPrepared: _prepared,
    TabletCopied: _copied_tablet,
    BackupCopied: _copied,
    BackupCompleted: _completed,
    BackupFailed: _ended_badly,
    BackupCancelled: _ended_badly,
    VersionDropped: _version_dropped,
}
