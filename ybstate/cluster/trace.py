"""Trace validation: is a recorded history one that ``decide`` could have produced?

``apply`` already refuses events that cannot follow the state (wrong seq, log id, time,
transaction phase). :func:`validate_trace` goes further: for each recorded event it
reconstructs the request that would have caused it (a ``Commit`` for a COMMIT entry, a
``Write`` naming tables for a MUTATOR, ...), asks ``decide`` what that request produces
in the state at that point, and requires exactly the recorded event. A history written
by another tool, or edited by hand, passes only if every event is one the model itself
would have made. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs

from ybstate import dag
from ybstate.access import CommandDenied, DenyCommand
from ybstate.archive.actions import (
    CrashArchiver,
    PersistCheckpoint,
    ReadEntries,
    RecycleLog,
    SealPiece,
    SkipRecycledLog,
    StartArchive,
    StopArchive,
)
from ybstate.archive.events import (
    ArchiverCrashed,
    ArchiveResumed,
    ArchiveStarted,
    ArchiveStopped,
    CheckpointPersisted,
    EntriesRead,
    LogRecycled,
    PieceSealed,
)
from ybstate.backup.actions import AdvanceBackup, CancelBackup, DropVersion, StartBackup
from ybstate.backup.events import (
    BackupCancelled,
    BackupCompleted,
    BackupCopied,
    BackupFailed,
    BackupPrepared,
    BackupPreparing,
    BackupStarted,
    VersionDropped,
)
from ybstate.cluster import actions as act
from ybstate.cluster.decide import decide
from ybstate.cluster.events import (
    ClusterStarted,
    HeartbeatLogged,
    MarkRecorded,
    MutatorLogged,
    TableCreated,
    TableDropped,
    TenantCreated,
    TransactionAborted,
    TransactionCommitted,
    VersionFrozen,
)
from ybstate.cluster.reducer import EMPTY, apply
from ybstate.cluster.state import ClusterState
from ybstate.errors import ActionRejected, YbstateError
from ybstate.promote import actions as pa
from ybstate.promote import events as pe
from ybstate.restore import actions as rs
from ybstate.restore.events import (
    EntryApplied,
    EntryRead,
    EntryRewritten,
    IncrementalStarted,
    RestoreCancelled,
    RestoreCompleted,
    RestoreFailed,
    RestorePrepared,
    RestorePreparing,
    RestoreStarted,
    RestoreVerifying,
    WorkerStalled,
)
from ybstate.restore.state import RestorePhase

__all__ = ["TraceInvalid", "request_for", "validate_trace"]


class TraceInvalid(YbstateError):
    """A recorded event is not what ``decide`` makes of the request behind it."""

    def __init__(self, seq: int, why: str) -> None:
        self.seq = seq
        super().__init__(f"event seq {seq}: {why}")


def _tenant_name(state: ClusterState, tenant_id: int) -> str:
    tenant = state.tenants.get(tenant_id)
    return f"#{tenant_id}" if tenant is None else tenant.name


def _write(state: ClusterState, e: MutatorLogged) -> act.Write:
    changes = []
    for cell in e.cells:
        table = state.tables.get(cell.table_id)
        name = f"#{cell.table_id}" if table is None else table.name
        changes.append(act.Put(table=name, key=cell.rowkey, value=cell.value))
    tx = e.tx_id if e.tx_id in state.open_txns else None
    return act.Write(tenant=_tenant_name(state, e.tenant_id), tx=tx, changes=tuple(changes))


def _table(state: ClusterState, table_id: int) -> str:
    table = state.tables.get(table_id)
    return f"#{table_id}" if table is None else table.name


def _restore_failed(state: ClusterState, e: RestoreFailed) -> object:
    task = state.restores.get(e.task_id)
    if task is not None and task.phase is RestorePhase.RESTORING_INCREMENTAL:
        return rs.TimeOutRestore(task_id=e.task_id)
    return rs.AdvanceRestore(task_id=e.task_id)


def _restore_started(state: ClusterState, e: RestoreStarted) -> rs.StartRestore:
    until = "latest" if e.latest else (e.mark or e.until_ts)
    return rs.StartRestore(
        source=_tenant_name(state, e.source_tenant_id),
        target=e.target_name,
        until=until,
        backup_set=e.set_id,
        workers=e.workers,
        capacity=e.capacity,
    )


def _promotion_started(state: ClusterState, e: pe.PromotionStarted) -> pa.StartPromotion:
    return pa.StartPromotion(
        standby=_tenant_name(state, e.standby_id),
        primary=_tenant_name(state, e.primary_id),
        verify=e.verify,
        catch_up=e.catch_up,
    )


def _promotion_failed(state: ClusterState, e: pe.PromotionStepFailed) -> object:
    if e.fault:
        return pa.FailPromotionStep(promotion_id=e.promotion_id, reason=e.reason)
    return pa.AdvancePromotion(promotion_id=e.promotion_id)


def _advance_promotion(state: ClusterState, e) -> pa.AdvancePromotion:
    return pa.AdvancePromotion(promotion_id=e.promotion_id)


_REQUESTS: dict[type, Callable[[ClusterState, object], object]] = {
    CommandDenied: lambda s, e: DenyCommand(
        caller_tenant=e.caller_tenant,
        user=e.user,
        role=e.role,
        command=e.command,
        target=e.target,
        reason=e.reason,
    ),
    pe.PromotionStarted: _promotion_started,
    pe.StandbyVerified: _advance_promotion,
    pe.PrimaryFenced: _advance_promotion,
    pe.CaughtUp: _advance_promotion,
    pe.SchemaSwitched: _advance_promotion,
    pe.RoutingUpdated: _advance_promotion,
    pe.WritesEnabled: _advance_promotion,
    pe.PromotionStepFailed: _promotion_failed,
    pe.TenantDecommissioned: lambda s, e: pa.Decommission(
        tenant=_tenant_name(s, e.tenant_id), read_only=e.read_only
    ),
    RestoreStarted: _restore_started,
    RestorePreparing: lambda s, e: rs.AdvanceRestore(task_id=e.task_id),
    RestorePrepared: lambda s, e: rs.AdvanceRestore(task_id=e.task_id),
    IncrementalStarted: lambda s, e: rs.AdvanceRestore(task_id=e.task_id),
    RestoreVerifying: lambda s, e: rs.AdvanceRestore(task_id=e.task_id),
    RestoreCompleted: lambda s, e: rs.AdvanceRestore(task_id=e.task_id),
    RestoreFailed: _restore_failed,
    RestoreCancelled: lambda s, e: rs.CancelRestore(task_id=e.task_id, reason=e.reason),
    EntryRead: lambda s, e: rs.ReadArchived(task_id=e.task_id),
    EntryRewritten: lambda s, e: rs.RewriteEntry(task_id=e.task_id, worker=e.worker),
    EntryApplied: lambda s, e: rs.ApplyEntry(task_id=e.task_id),
    WorkerStalled: lambda s, e: rs.StallWorker(task_id=e.task_id, worker=e.worker),
    ArchiveStarted: lambda s, e: StartArchive(
        tenant=_tenant_name(s, e.tenant_id), destination=e.destination, start_log_id=e.start_log_id
    ),
    EntriesRead: lambda s, e: ReadEntries(tenant_id=e.tenant_id, count=e.last_log_id - e.first_log_id + 1),
    PieceSealed: lambda s, e: SealPiece(tenant_id=e.tenant_id),
    CheckpointPersisted: lambda s, e: PersistCheckpoint(tenant_id=e.tenant_id),
    ArchiverCrashed: lambda s, e: CrashArchiver(tenant_id=e.tenant_id),
    ArchiveStopped: lambda s, e: StopArchive(tenant=_tenant_name(s, e.tenant_id)),
    ArchiveResumed: lambda s, e: SkipRecycledLog(tenant_id=e.tenant_id),
    LogRecycled: lambda s, e: RecycleLog(through=e.through),
    BackupStarted: lambda s, e: StartBackup(
        tenant=_tenant_name(s, e.tenant_id),
        destination=e.destination,
        frozen_version=e.requested_version,
        parallel=e.parallel,
    ),
    BackupPreparing: lambda s, e: AdvanceBackup(task_id=e.task_id),
    BackupPrepared: lambda s, e: AdvanceBackup(task_id=e.task_id),
    BackupCopied: lambda s, e: AdvanceBackup(task_id=e.task_id),
    BackupCompleted: lambda s, e: AdvanceBackup(task_id=e.task_id),
    BackupFailed: lambda s, e: AdvanceBackup(task_id=e.task_id),
    BackupCancelled: lambda s, e: CancelBackup(task_id=e.task_id, reason=e.reason),
    VersionDropped: lambda s, e: DropVersion(version=e.version),
    dag.TaskStarted: lambda s, e: dag.StartTask(dag_id=e.dag_id, task=e.task),
    dag.TaskSucceeded: lambda s, e: dag.FinishTask(dag_id=e.dag_id, task=e.task),
    dag.TaskFailed: lambda s, e: dag.FailTask(dag_id=e.dag_id, task=e.task, reason=e.reason),
    ClusterStarted: lambda s, e: act.Start(config=e.config),
    TenantCreated: lambda s, e: act.CreateTenant(name=e.name, log_retention=e.log_retention),
    TableCreated: lambda s, e: act.CreateTable(
        tenant=_tenant_name(s, e.tenant_id), table=e.name, tablets=len(e.tablets)
    ),
    TableDropped: lambda s, e: act.DropTable(
        tenant=_tenant_name(s, e.tenant_id), table=_table(s, e.table_id)
    ),
    MutatorLogged: _write,
    TransactionCommitted: lambda s, e: act.Commit(tx=e.tx_id),
    TransactionAborted: lambda s, e: act.Abort(tx=e.tx_id),
    VersionFrozen: lambda s, e: act.Freeze(),
    HeartbeatLogged: lambda s, e: act.Tick(micros=e.time - s.clock),
    MarkRecorded: lambda s, e: act.Mark(name=e.name),
}


def request_for(state: ClusterState, event: object) -> object:
    """The request that, decided in ``state``, should produce ``event`` (and the events
    that follow it in the same decision)."""
    make = _REQUESTS.get(type(event))
    if make is None:
        why = f"{type(event).__name__} does not open a decision (it only follows another event)"
        raise TraceInvalid(getattr(event, "seq", 0), why)
    return make(state, event)


def validate_trace(events: Sequence[object], state: ClusterState = EMPTY) -> ClusterState:
    """Replay ``events``, requiring each decision to be exactly what ``decide`` makes of
    the request behind its first event.

    Returns the final state; raises :class:`TraceInvalid` at the first event that is not.
    """
    events = list(events)
    position = 0
    while position < len(events):
        event = events[position]
        request = request_for(state, event)
        try:
            decided = decide(state, request)
        except ActionRejected as refusal:
            raise TraceInvalid(
                event.seq, f"the request behind it, {request!r}, is refused: {refusal}"
            ) from None
        recorded = events[position : position + len(decided)]
        if decided != recorded:
            seq, detail = _difference(recorded, decided)
            raise TraceInvalid(seq, f"not what decide makes of {request!r}: {detail}")
        for event in recorded:
            state = apply(state, event)
        position += len(decided)
    return state


def _difference(recorded: list[object], decided: list[object]) -> tuple[int, str]:
    """Where a recorded decision first departs from the decided one, and how."""
    for got, want in zip(recorded, decided):
        if got == want:
            continue
        if type(got) is not type(want):
            return got.seq, f"recorded {type(got).__name__}, decided {type(want).__name__}"
        fields = [
            f"{f.name}: recorded {getattr(got, f.name)!r}, decided {getattr(want, f.name)!r}"
            for f in attrs.fields(type(got))
            if getattr(got, f.name) != getattr(want, f.name)
        ]
        return got.seq, "; ".join(fields)
    seq = recorded[-1].seq if recorded else 0
    return seq, f"the decision has {len(decided)} events, the history only {len(recorded)} from here"
