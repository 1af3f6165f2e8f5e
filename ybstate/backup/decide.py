"""``decide`` for full backups: start, advance through the phases, copy, cancel.

Pure. Protocol code only: it reads SSTables of frozen versions (ybstate.cluster.sstable)
and backup storage, never the ghost history. Refusals raise a specific
:class:`~ybstate.errors.ActionRejected` subclass naming the offending value. A backup's
copies run as a DAG of the scheduler, owned by ``Owner("backup", task_id)``; when a copy
task finishes, :data:`DAG_HOOKS` write the tablet to backup storage.
"""

from __future__ import annotations

from collections.abc import Callable

from ybstate import dag
from ybstate.backup.actions import AdvanceBackup, CancelBackup, DropVersion, StartBackup
from ybstate.backup.derive import (
    allowed_destination,
    available_version,
    copy_task_name,
    running_backup,
    set_path,
    tablet_of_task,
)
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
from ybstate.backup.state import BackupPhase, BackupTask, TableSchema
from ybstate.cluster import sstable
from ybstate.cluster.state import ClusterState, Tablet
from ybstate.dag.subsystem import DagHooks, Finish, Owner
from ybstate.errors import (
    BackupInProgress,
    BackupNotReady,
    DestinationNotAllowed,
    InvalidAction,
    NoFrozenVersion,
    UnknownBackup,
    UnknownTenant,
    VersionPinned,
)
from ybstate.kernel.limits import within

__all__ = ["BACKUP_DECIDERS", "DAG_HOOKS", "OWNER_KIND"]

OWNER_KIND = "backup"
"""The kind of :class:`~ybstate.dag.subsystem.Owner` of a backup's copy DAG."""


def _task(state: ClusterState, task_id: int) -> BackupTask:
    task = state.backups.get(task_id)
    if task is None:
        raise UnknownBackup(task_id)
    return task


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _start(state: ClusterState, a: StartBackup) -> list[object]:
    # The commands pass caller input straight through: a wrong type must be a refusal
    # (a result code), not a TypeError from a comparison below.
    for field, value, ok, kind in (
        ("tenant", a.tenant, isinstance(a.tenant, str), "a string"),
        ("destination", a.destination, isinstance(a.destination, str), "a string"),
        ("frozen_version", a.frozen_version, _is_int(a.frozen_version), "an int"),
        ("parallel", a.parallel, _is_int(a.parallel), "an int"),
    ):
        if not ok:
            raise InvalidAction(f"backup {field} must be {kind}, got {value!r}")
    tenant = state.tenant_named(a.tenant)
    if tenant is None:
        raise UnknownTenant(a.tenant)
    destination = allowed_destination(a.destination, state.config.backup_root)
    if destination is None:
        raise DestinationNotAllowed(a.destination, state.config.backup_root)
    if a.frozen_version < 0 or available_version(state, a.frozen_version) is None:
        raise NoFrozenVersion(a.tenant, a.frozen_version, state.frozen_version)
    busy = running_backup(state, tenant.tenant_id)
    if busy is not None:
        raise BackupInProgress(a.tenant, busy.task_id)
    problem = within("parallel", a.parallel)
    if problem is not None:
        raise InvalidAction(f"backup parallel {problem}")
    parallel = a.parallel or state.config.dag_workers
    return [
        BackupStarted(
            seq=state.seq + 1,
            time=state.clock,
            task_id=state.next_backup_task_id,
            set_id=state.next_backup_set_id,
            tenant_id=tenant.tenant_id,
            destination=destination,
            requested_version=a.frozen_version,
            parallel=parallel,
        )
    ]


def _prepare(state: ClusterState, task: BackupTask) -> list[object]:
    seq, time = state.seq + 1, state.clock
    version = available_version(state, task.requested_version)
    if version is None:
        reason = f"frozen version {task.requested_version or 'newest'} is no longer available"
        return [
            BackupFailed(seq=seq, time=time, task_id=task.task_id, tenant_id=task.tenant_id, reason=reason)
        ]
    frozen = state.frozen[version]
    tables = sstable.tables_at(state, task.tenant_id, version)
    tablets: tuple[Tablet, ...] = tuple(t for table in tables for t in table.tablets)
    schema = tuple(
        TableSchema(table_id=t.table_id, name=t.name, schema_version=t.schema_version, tablets=t.tablets)
        for t in tables
    )
    open_at_freeze = [o.first_log_id for o in frozen.open_transactions if o.tenant_id == task.tenant_id]
    start_replay = min(open_at_freeze) if open_at_freeze else frozen.log_id + 1
    dag_id = state.next_dag_id if tablets else 0
    prepared = BackupPrepared(
        seq=seq,
        time=time,
        task_id=task.task_id,
        tenant_id=task.tenant_id,
        frozen_version=version,
        snapshot_ts=frozen.ts,
        schema_version=frozen.schema_version,
        start_replay_log_id=start_replay,
        tablets=tablets,
        schema=schema,
        manifest_path=f"{set_path(task)}/manifest",
        dag_id=dag_id,
    )
    if not tablets:  # nothing to copy: straight to verification
        return [
            prepared,
            BackupCopied(seq=seq + 1, time=time, task_id=task.task_id, tenant_id=task.tenant_id),
        ]
    submitted = dag.decide_submit(
        state.dags,
        dag_id=dag_id,
        owner=str(Owner(OWNER_KIND, task.task_id)),
        tasks=tuple(copy_task_name(t.tablet_id) for t in tablets),
        edges=(),
        workers=task.parallel,
        retries=state.config.task_retries,
        seq=seq + 1,
        time=time,
    )
    return [prepared, *submitted]


def _preparing(state: ClusterState, task: BackupTask) -> list[object]:
    return [
        BackupPreparing(seq=state.seq + 1, time=state.clock, task_id=task.task_id, tenant_id=task.tenant_id)
    ]


def _copies_done(state: ClusterState, task: BackupTask) -> list[object]:
    seq, time = state.seq + 1, state.clock
    ids = {"task_id": task.task_id, "tenant_id": task.tenant_id}
    graph = state.dags[task.dag_id]
    if graph.status is dag.DagStatus.SUCCEEDED:
        return [BackupCopied(seq=seq, time=time, **ids)]
    if graph.status is dag.DagStatus.FAILED:
        failed = sorted(name for name, s in graph.tasks.items() if s is dag.TaskState.FAILED)
        tablets = [tablet_of_task(name) for name in failed]
        reason = f"copy of tablets {tablets} failed after {state.config.task_retries + 1} attempts"
        return [BackupFailed(seq=seq, time=time, reason=reason, **ids)]
    raise BackupNotReady(
        task.task_id, task.phase.value, f"is still copying ({graph.succeeded} of {len(graph.order)})"
    )


def _verify(state: ClusterState, task: BackupTask) -> list[object]:
    seq, time = state.seq + 1, state.clock
    ids = {"task_id": task.task_id, "tenant_id": task.tenant_id}
    for tablet in task.tablets:
        stored = state.stored[(task.set_id, tablet.tablet_id)]
        reread = sstable.tablet_checksum(stored.table_name, stored.rows)
        if reread != stored.checksum or len(stored.rows) != stored.row_count:
            reason = (
                f"tablet {tablet.tablet_id}: stored checksum {stored.checksum} / "
                f"{stored.row_count} rows, "
                f"re-read {reread} / {len(stored.rows)} rows"
            )
            return [BackupFailed(seq=seq, time=time, reason=reason, **ids)]
    size = sum(state.stored[(task.set_id, t.tablet_id)].data_size for t in task.tablets)
    return [
        BackupCompleted(
            seq=seq, time=time, set_id=task.set_id, tablet_count=len(task.tablets), data_size=size, **ids
        )
    ]


# The root server's next step of a backup, by the phase it is in; the final phases have none.
_ADVANCE: dict[BackupPhase, Callable[[ClusterState, BackupTask], list[object]]] = {
    BackupPhase.INIT: _preparing,
    BackupPhase.PREPARING: _prepare,
    BackupPhase.DOING: _copies_done,
    BackupPhase.VERIFYING: _verify,
}


def _advance(state: ClusterState, a: AdvanceBackup) -> list[object]:
    task = _task(state, a.task_id)
    step = _ADVANCE.get(task.phase)
    if step is None:
        raise UnknownBackup(task.task_id, f"is {task.phase.value}: it has nothing left to do")
    return step(state, task)


def _cancel(state: ClusterState, a: CancelBackup) -> list[object]:
    """The backup is cancelled first, then its DAG's unfinished tasks (so the decision
    opens with the event that names the request)."""
    task = _task(state, a.task_id)
    if not BACKUP_TASK.allows(task.phase, BackupCancelled):
        raise UnknownBackup(task.task_id, f"is already {task.phase.value}")
    seq = state.seq + 1
    events: list[object] = [
        BackupCancelled(
            seq=seq, time=state.clock, task_id=task.task_id, tenant_id=task.tenant_id, reason=a.reason
        )
    ]
    graph = state.dags.get(task.dag_id) if task.dag_id else None
    if graph is not None and not graph.finished:
        cancel = dag.CancelDag(dag_id=graph.dag_id, reason=a.reason)
        events.extend(dag.decide_task(state.dags, cancel, seq=seq + 1, time=state.clock))
    return events


def _drop_version(state: ClusterState, a: DropVersion) -> list[object]:
    frozen = state.frozen.get(a.version)
    if frozen is None or not frozen.available:
        raise InvalidAction(f"frozen version {a.version} does not exist or is already dropped")
    if a.version == state.frozen_version:
        raise InvalidAction(f"frozen version {a.version} is the newest; the data servers keep it")
    holders = tuple(sorted(t.task_id for t in state.backups.values() if t.pins == a.version))
    if holders:
        raise VersionPinned(a.version, holders)
    return [VersionDropped(seq=state.seq + 1, time=state.clock, version=a.version)]


def _copy(state: ClusterState, task_id: int, task_name: str) -> Finish:
    """After a copy task succeeds: the tablet's SSTable at the backup's frozen version,
    written to backup storage with its figures; it takes ``tablet_task_us`` and
    ``row_copy_us`` per row copied."""
    task = state.backups[task_id]
    tablet_id = tablet_of_task(task_name)
    tablet = next(t for t in task.tablets if t.tablet_id == tablet_id)
    table = state.tables[tablet.table_id]
    rows = sstable.read_tablet(state, tablet, task.frozen_version)

    def copied(seq: int, time: int) -> list[object]:
        return [
            TabletCopied(
                seq=seq,
                time=time,
                task_id=task.task_id,
                tenant_id=task.tenant_id,
                set_id=task.set_id,
                tablet_id=tablet_id,
                table_id=tablet.table_id,
                table_name=table.name,
                rows=rows,
                row_count=len(rows),
                data_size=sstable.data_size(rows),
                checksum=sstable.tablet_checksum(table.name, rows),
                path=f"{set_path(task)}/tablet_{tablet_id}.sst",
            )
        ]

    return Finish(work=state.config.costs.copy_us(len(rows)), events=copied)


DAG_HOOKS = DagHooks(kind=OWNER_KIND, on_finish=_copy)
"""A finished copy task writes its tablet to backup storage (``TabletCopied``)."""

BACKUP_DECIDERS: dict[type, Callable[[ClusterState, object], list[object]]] = {
    StartBackup: _start,
    AdvanceBackup: _advance,
    CancelBackup: _cancel,
    DropVersion: _drop_version,
}
