"""Events of restores, and the lifecycle of a restore task: which event moves it to which phase.

A decision of the restore may also log cluster entries after its own event: PREPARING
creates the standby tenant and tables (TenantCreated, TableCreated), a loaded tablet and
an applied transaction are standby transactions (MutatorLogged, TransactionCommitted),
and a replayed DDL creates or drops a standby table. The standby's content is therefore
derived from the commit log like any tenant's.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from ybstate.cluster.derive import tenant_name
from ybstate.cluster.state import ClusterState
from ybstate.kernel import Lifecycle
from ybstate.restore import actions as act
from ybstate.restore.state import Outcome, RestorePhase, TableMapping

__all__ = [
    "RestoreStarted",
    "RestorePreparing",
    "RestorePrepared",
    "TabletRestored",
    "IncrementalStarted",
    "EntryRead",
    "EntryRewritten",
    "EntryApplied",
    "WorkerStalled",
    "EntryDropped",
    "EntryApplyFailed",
    "RestoreVerifying",
    "RestoreCompleted",
    "RestoreFailed",
    "RestoreCancelled",
    "RESTORE_EVENT_TAGS",
    "REQUESTS",
    "FOLLOWERS",
    "RESTORE_TASK",
]


@attrs.frozen(kw_only=True)
class RestoreStarted:
    """tenant_restore_start accepted, with the plan fixed: the base set, T and the log to
    replay (phase INIT)."""

    seq: int
    time: int
    task_id: int
    source_tenant_id: int
    target_name: str
    set_id: int
    until_ts: int
    until: str
    start_log_id: int
    end_log_id: int
    workers: int
    capacity: int
    mark: str = ""  # the mark T was asked as, if any
    latest: bool = False  # T was asked as "latest"


@attrs.frozen(kw_only=True)
class RestorePreparing:
    seq: int
    time: int
    task_id: int


@attrs.frozen(kw_only=True)
class RestorePrepared:
    """The standby tenant and its tables exist (the events after this one create them),
    mapped from the backup set's schema; the baseline DAG is submitted."""

    seq: int
    time: int
    task_id: int
    target_tenant_id: int
    mapping: tuple[TableMapping, ...]
    dag_id: int
    tablets: int


@attrs.frozen(kw_only=True)
class TabletRestored:
    """A baseline tablet was fetched, its table id rewritten, loaded (as standby transaction
    ``tx_id``, 0 for an empty tablet) and verified against the set's manifest."""

    seq: int
    time: int
    task_id: int
    set_id: int
    source_tablet_id: int
    target_table_id: int
    row_count: int
    checksum: int
    tx_id: int


@attrs.frozen(kw_only=True)
class IncrementalStarted:
    """The baseline is loaded; ``entries`` archived entries (log ids ``first_log_id`` ..
    ``last_log_id``) are to be replayed."""

    seq: int
    time: int
    task_id: int
    entries: int
    first_log_id: int
    last_log_id: int


@attrs.frozen(kw_only=True)
class EntryRead:
    """The reader numbered an archived entry ``entry_seq`` and handed it to ``worker``."""

    seq: int
    time: int
    task_id: int
    entry_seq: int
    log_id: int
    worker: int


@attrs.frozen(kw_only=True)
class EntryRewritten:
    """A worker rewrote entry ``entry_seq``'s table ids; it waits in the reorder queue."""

    seq: int
    time: int
    task_id: int
    entry_seq: int
    worker: int


@attrs.frozen(kw_only=True)
class EntryApplied:
    """The reorder queue released entry ``entry_seq`` to the applier, which did
    ``outcome`` with it: buffered (a mutator), applied (a commit at or before T: standby
    transaction ``target_tx_id``), in baseline (a commit the set already holds), dropped
    (an abort), table created / table dropped (a replayed DDL on ``target_table_id``),
    time (a freeze or heartbeat), or past T (the first entry after T: the applier stops).
    Only under the seed's flaws: skipped (it failed to apply and the applier carried on,
    ``skip_failed_apply``), ddl not replayed (``mapping_from_live_source``, or a DDL the
    mapping is out of step for)."""

    seq: int
    time: int
    task_id: int
    entry_seq: int
    log_id: int
    outcome: Outcome
    source_tx_id: int = 0
    target_tx_id: int = 0
    target_table_id: int = 0


@attrs.frozen(kw_only=True)
class WorkerStalled:
    """A fault: rewrite worker ``worker`` stops answering."""

    seq: int
    time: int
    task_id: int
    worker: int


@attrs.frozen(kw_only=True)
class EntryDropped:
    """Only under the seed's flaw 3 (``drop_when_queue_full``): worker ``worker`` rewrote
    entry ``entry_seq`` and found the reorder queue full (``capacity`` entries waiting); the
    queue refused it and the worker dropped it. No one holds it any more: the applier
    waits for it for good."""

    seq: int
    time: int
    task_id: int
    entry_seq: int
    worker: int


@attrs.frozen(kw_only=True)
class EntryApplyFailed:
    """The applier failed to apply entry ``entry_seq`` (a fault): the restore fails naming
    it rather than skip it (phase FAILED)."""

    seq: int
    time: int
    task_id: int
    entry_seq: int
    log_id: int
    reason: str


@attrs.frozen(kw_only=True)
class RestoreVerifying:
    """The applier is done; ``open_dropped`` transactions were still open at T (dropped)."""

    seq: int
    time: int
    task_id: int
    open_dropped: int


@attrs.frozen(kw_only=True)
class RestoreCompleted:
    """Verification passed: the standby is read-only, role standby, restored to T."""

    seq: int
    time: int
    task_id: int
    target_tenant_id: int
    rows: int
    checksum: int


@attrs.frozen(kw_only=True)
class RestoreFailed:
    seq: int
    time: int
    task_id: int
    reason: str


@attrs.frozen(kw_only=True)
class RestoreCancelled:
    seq: int
    time: int
    task_id: int
    reason: str


RESTORE_EVENT_TAGS: dict[type, str] = {
    RestoreStarted: "restore.started",
    RestorePreparing: "restore.preparing",
    RestorePrepared: "restore.prepared",
    TabletRestored: "restore.tablet_restored",
    IncrementalStarted: "restore.incremental_started",
    EntryRead: "restore.entry_read",
    EntryRewritten: "restore.entry_rewritten",
    EntryApplied: "restore.entry_applied",
    WorkerStalled: "restore.worker_stalled",
    EntryDropped: "restore.entry_dropped",
    EntryApplyFailed: "restore.entry_apply_failed",
    RestoreVerifying: "restore.verifying",
    RestoreCompleted: "restore.completed",
    RestoreFailed: "restore.failed",
    RestoreCancelled: "restore.cancelled",
}


def _started(state: ClusterState, e: RestoreStarted) -> act.StartRestore:
    until = "latest" if e.latest else (e.mark or e.until_ts)
    return act.StartRestore(
        source=tenant_name(state, e.source_tenant_id),
        target=e.target_name,
        until=until,
        backup_set=e.set_id,
        workers=e.workers,
        capacity=e.capacity,
    )


def _failed(state: ClusterState, e: RestoreFailed) -> object:
    task = state.restores.get(e.task_id)
    if task is not None and task.phase is RestorePhase.RESTORING_INCREMENTAL:
        return act.TimeOutRestore(task_id=e.task_id)
    return act.AdvanceRestore(task_id=e.task_id)


def _released(state: ClusterState, e: EntryApplied) -> object:
    if e.outcome == Outcome.SKIPPED:  # the seed's applier skips an entry it failed to apply
        return act.FailApply(task_id=e.task_id)
    return act.ApplyEntry(task_id=e.task_id)


def _advance(state: ClusterState, e) -> act.AdvanceRestore:
    return act.AdvanceRestore(task_id=e.task_id)


REQUESTS: dict[type, Callable[[ClusterState, object], object]] = {
    RestoreStarted: _started,
    RestorePreparing: _advance,
    RestorePrepared: _advance,
    IncrementalStarted: _advance,
    RestoreVerifying: _advance,
    RestoreCompleted: _advance,
    RestoreFailed: _failed,
    RestoreCancelled: lambda s, e: act.CancelRestore(task_id=e.task_id, reason=e.reason),
    EntryRead: lambda s, e: act.ReadArchived(task_id=e.task_id),
    EntryRewritten: lambda s, e: act.RewriteEntry(task_id=e.task_id, worker=e.worker),
    EntryApplied: _released,
    EntryApplyFailed: lambda s, e: act.FailApply(task_id=e.task_id),
    WorkerStalled: lambda s, e: act.StallWorker(task_id=e.task_id, worker=e.worker),
    EntryDropped: lambda s, e: act.RewriteEntry(task_id=e.task_id, worker=e.worker),
}
"""The request behind each restore event that opens a decision."""

FOLLOWERS = frozenset({TabletRestored})
"""Restore events that only follow another in a decision (a loaded tablet follows its fetch)."""

_P = RestorePhase
_RUNNING = (_P.INIT, _P.PREPARING, _P.RESTORING_BASELINE, _P.RESTORING_INCREMENTAL, _P.VERIFYING)

RESTORE_TASK: Lifecycle[RestorePhase] = Lifecycle(
    "restore task",
    RestorePhase,
    {
        (_P.INIT, RestorePreparing): _P.PREPARING,
        (_P.PREPARING, RestorePrepared): _P.RESTORING_BASELINE,
        (_P.RESTORING_BASELINE, TabletRestored): _P.RESTORING_BASELINE,
        (_P.RESTORING_BASELINE, IncrementalStarted): _P.RESTORING_INCREMENTAL,
        (_P.RESTORING_INCREMENTAL, EntryRead): _P.RESTORING_INCREMENTAL,
        (_P.RESTORING_INCREMENTAL, EntryRewritten): _P.RESTORING_INCREMENTAL,
        (_P.RESTORING_INCREMENTAL, EntryApplied): _P.RESTORING_INCREMENTAL,
        (_P.RESTORING_INCREMENTAL, WorkerStalled): _P.RESTORING_INCREMENTAL,
        (_P.RESTORING_INCREMENTAL, EntryDropped): _P.RESTORING_INCREMENTAL,
        (_P.RESTORING_INCREMENTAL, EntryApplyFailed): _P.FAILED,
        (_P.RESTORING_INCREMENTAL, RestoreVerifying): _P.VERIFYING,
        (_P.VERIFYING, RestoreCompleted): _P.COMPLETED,
        **{(phase, RestoreFailed): _P.FAILED for phase in _RUNNING if phase is not _P.INIT},
        **{(phase, RestoreCancelled): _P.CANCELLED for phase in _RUNNING},
    },
)
"""Which event moves a restore task to which phase; a pair not listed is out of order."""
