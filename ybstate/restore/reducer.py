"""``apply`` for restores: one handler per event, checking that each fits, under the
policies of the protocol that made it (``state.config.protocol``, DESIGN 14): the replay
start, the mapping's source, what an apply failure does, what verification compares."""

from __future__ import annotations

import bisect
from collections.abc import Callable

import immutables

from ybstate.cluster.protocol import ApplyFailure, FullQueue
from ybstate.cluster.state import ClusterState, Tenant, TenantStatus, evolve_state
from ybstate.errors import EventOutOfOrder
from ybstate.evolve import evolver, slot_evolver
from ybstate.restore.derive import (
    ApplierStep,
    applier_outcome,
    failable,
    mapping_tables,
    pending_of,
    queue_full,
    readable,
    released,
)
from ybstate.restore.events import (
    RESTORE_TASK,
    EntryApplied,
    EntryApplyFailed,
    EntryDropped,
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
    TabletRestored,
    WorkerStalled,
)
from ybstate.restore.plan import incremental_entries, replay_start
from ybstate.restore.state import Outcome, RestorePhase, RestoreTask, TableMapping
from ybstate.restore.verify import verification_problem

__all__ = ["RESTORE_HANDLERS"]

_evolve_task = slot_evolver(RestoreTask)
_evolve_tenant = evolver(Tenant)
_NO_BUFFERS: immutables.Map = immutables.Map()


def _task(state: ClusterState, e) -> RestoreTask:
    task = state.restores.get(e.task_id)
    if task is None:
        raise EventOutOfOrder("an existing restore task", "one", e.task_id)
    RESTORE_TASK.next(task.phase, type(e), e.task_id)
    return task


def _moved(task: RestoreTask, e, **changes) -> RestoreTask:
    phase = RESTORE_TASK.table[(task.phase, type(e))]
    if phase is not task.phase:
        changes["phases"] = (*task.phases, phase)
    return _evolve_task(task, phase=phase, **changes)


def _set(state: ClusterState, e, task: RestoreTask, **changes) -> ClusterState:
    return evolve_state(
        state, seq=e.seq, clock=e.time, restores=state.restores.set(task.task_id, task), **changes
    )


def _started(state: ClusterState, e: RestoreStarted) -> ClusterState:
    if e.task_id != state.next_restore_task_id:
        raise EventOutOfOrder("restore task_id", state.next_restore_task_id, e.task_id)
    chosen = state.backup_sets.get(e.set_id)
    if chosen is None or chosen.tenant_id != e.source_tenant_id:
        raise EventOutOfOrder(f"a backup set of tenant {e.source_tenant_id}", "one", e.set_id)
    if e.workers < 1 or e.capacity < 1:
        raise EventOutOfOrder("at least one worker and one entry in flight", (1, 1), (e.workers, e.capacity))
    if e.start_log_id != replay_start(state, chosen):
        raise EventOutOfOrder(
            f"the replay start of backup set {e.set_id} under the protocol's replay_start",
            replay_start(state, chosen),
            e.start_log_id,
        )
    task = RestoreTask(
        task_id=e.task_id,
        source_tenant_id=e.source_tenant_id,
        target_name=e.target_name,
        set_id=e.set_id,
        until_ts=e.until_ts,
        until=e.until,
        start_log_id=e.start_log_id,
        end_log_id=e.end_log_id,
        workers=e.workers,
        capacity=e.capacity,
        phase=RestorePhase.INIT,
        started_ts=e.time,
        phases=(RestorePhase.INIT,),
        applied_ts=chosen.snapshot_ts,
    )
    return _set(state, e, task, next_restore_task_id=e.task_id + 1)


def _preparing(state: ClusterState, e: RestorePreparing) -> ClusterState:
    return _set(state, e, _moved(_task(state, e), e))


def _prepared(state: ClusterState, e: RestorePrepared) -> ClusterState:
    task = _task(state, e)
    sources = tuple(t.table_id for t in mapping_tables(state, task))
    expected = tuple(range(state.next_table_id, state.next_table_id + len(sources)))
    if e.target_tenant_id != state.next_tenant_id or tuple(m.target_table_id for m in e.mapping) != expected:
        raise EventOutOfOrder(
            "the standby's tenant and table ids", (state.next_tenant_id, expected),
            (e.target_tenant_id, tuple(m.target_table_id for m in e.mapping)),
        )  # fmt: skip
    if tuple(m.source_table_id for m in e.mapping) != sources:
        raise EventOutOfOrder(
            "the source tables of the mapping under the protocol's schema_mapping",
            sources,
            tuple(m.source_table_id for m in e.mapping),
        )
    task = _moved(
        task, e, target_tenant_id=e.target_tenant_id, mapping=e.mapping, dag_id=e.dag_id, tablets=e.tablets
    )
    return _set(state, e, task)


def _tablet_restored(state: ClusterState, e: TabletRestored) -> ClusterState:
    task = _task(state, e)
    stored = state.stored.get((task.set_id, e.source_tablet_id))
    if stored is None or (stored.row_count, stored.checksum) != (e.row_count, e.checksum):
        raise EventOutOfOrder(
            f"tablet {e.source_tablet_id} of backup set {task.set_id} as its manifest records",
            None if stored is None else (stored.row_count, stored.checksum),
            (e.row_count, e.checksum),
        )
    mapped = task.mapped(stored.table_id)
    loads = bool(stored.rows) and mapped is not None  # unmapped only under flaw 7: nowhere to load
    if e.tx_id not in (0, state.next_tx_id) or (e.tx_id == 0) == loads:
        raise EventOutOfOrder("the standby transaction loading the tablet", state.next_tx_id, e.tx_id)
    if e.target_table_id != (0 if mapped is None else mapped.target_table_id):
        raise EventOutOfOrder(
            f"the standby table of source table {stored.table_id}",
            0 if mapped is None else mapped.target_table_id,
            e.target_table_id,
        )
    return _set(state, e, _moved(task, e, loaded=task.loaded + 1))


def _incremental_started(state: ClusterState, e: IncrementalStarted) -> ClusterState:
    task = _task(state, e)
    entries = incremental_entries(state, task.source_tenant_id, task.start_log_id, task.until_ts)
    if entries is None:
        raise EventOutOfOrder("an archive segment holding the replay start", task.start_log_id, None)
    recorded = (e.entries, e.first_log_id, e.last_log_id)
    expected = (len(entries), entries[0].log_id if entries else 0, entries[-1].log_id if entries else 0)
    if recorded != expected:
        raise EventOutOfOrder(
            "the archived entries to replay (count, first and last log id)", expected, recorded
        )
    return _set(
        state,
        e,
        _moved(task, e, entries=len(entries)),
        restore_entries=state.restore_entries.set(task.task_id, entries),
    )


def _entry_read(state: ClusterState, e: EntryRead) -> ClusterState:
    task = _task(state, e)
    entries = state.restore_entries[task.task_id]
    fits = (
        readable(state, task)
        and e.entry_seq == task.read + 1
        and entries[task.read].log_id == e.log_id
        and e.worker == task.worker_of(e.entry_seq)
    )
    if not fits:
        expected = (task.read + 1, task.worker_of(task.read + 1))
        raise EventOutOfOrder(
            f"the next entry read by restore {task.task_id} (seq, worker)", expected, (e.entry_seq, e.worker)
        )
    return _set(state, e, _moved(task, e, read=e.entry_seq))


def _held(task: RestoreTask, e: EntryRewritten | EntryDropped) -> None:
    """The entry a worker rewrote (or dropped) must be the oldest it holds."""
    held = pending_of(task, e.worker) if 0 <= e.worker < task.workers else None
    if e.worker in task.stalled or held is None or held != e.entry_seq:
        raise EventOutOfOrder(f"the oldest entry worker {e.worker} holds", held, e.entry_seq)


def _entry_rewritten(state: ClusterState, e: EntryRewritten) -> ClusterState:
    task = _task(state, e)
    _held(task, e)
    if queue_full(task):
        raise EventOutOfOrder(
            f"room in the reorder queue of restore {task.task_id} (entries waiting)",
            f"fewer than {task.capacity}",
            len(task.rewritten),
        )
    queue = task.rewritten
    at = bisect.bisect(queue, e.entry_seq)
    rewritten = (*queue[:at], e.entry_seq, *queue[at:])
    return _set(state, e, _moved(task, e, rewritten=rewritten, next_seqs=task.after(e.worker)))


def _entry_dropped(state: ClusterState, e: EntryDropped) -> ClusterState:
    task = _task(state, e)
    if state.config.protocol.full_queue is not FullQueue.DROP:
        raise EventOutOfOrder("no entry dropped (the reader waits for room: full_queue = wait)", "none", e)
    _held(task, e)
    if not queue_full(task):
        raise EventOutOfOrder(
            f"a full reorder queue of restore {task.task_id} (entries waiting)",
            task.capacity,
            len(task.rewritten),
        )
    return _set(
        state, e, _moved(task, e, dropped=(*task.dropped, e.entry_seq), next_seqs=task.after(e.worker))
    )


def _entry_applied(state: ClusterState, e: EntryApplied) -> ClusterState:
    task = _task(state, e)
    if e.entry_seq != released(state, task):
        release = released(state, task)
        raise EventOutOfOrder(
            f"the entry the reorder queue of restore {task.task_id} releases now",
            "none" if release is None else release,
            e.entry_seq,
        )
    entry = state.restore_entries[task.task_id][task.applied]
    step = _skipped(state, task, e) if e.outcome == Outcome.SKIPPED else applier_outcome(state, task, entry)
    outcome = step.outcome
    expected = (entry.log_id, outcome.value, step.source_tx_id, step.target_tx_id, step.target_table_id)
    recorded = (e.log_id, str(e.outcome), e.source_tx_id, e.target_tx_id, e.target_table_id)
    if recorded != expected:
        raise EventOutOfOrder(
            "what the applier does with the entry (log id, outcome, ids)", expected, recorded
        )
    held = state.restore_buffers.get(task.task_id, _NO_BUFFERS)
    buffers = held
    changes: dict = {
        "applied": e.entry_seq,
        "rewritten": task.rewritten[1:],  # the entry released is the queue's head
        "restored_log_id": e.log_id if outcome is not Outcome.PAST_T else task.restored_log_id,
    }
    if outcome is Outcome.SKIPPED:
        changes["apply_failures"] = task.apply_failures + 1
    elif outcome is Outcome.PAST_T:
        changes["stopped"] = True
    elif outcome is Outcome.BUFFERED:
        # Source cells: a transaction that commits before the freeze (in the baseline) may
        # have written a table the set's schema no longer has; only applied ones are rewritten.
        buffers = buffers.set(entry.tx_id, buffers.get(entry.tx_id, ()) + entry.cells)
    elif outcome in (Outcome.APPLIED, Outcome.IN_BASELINE, Outcome.DROPPED) and hasattr(entry, "tx_id"):
        if entry.tx_id in buffers:
            buffers = buffers.delete(entry.tx_id)
        if outcome is Outcome.APPLIED:
            changes["applied_txns"] = task.applied_txns + 1
            changes["applied_ts"] = entry.time
    elif outcome is Outcome.TABLE_CREATED:
        added = TableMapping(
            source_table_id=entry.table_id,
            target_table_id=e.target_table_id,
            name=entry.name,
            schema_version=state.schema_version + 1,
        )
        changes["mapping"] = (*task.mapping, added)
    elif outcome is Outcome.TABLE_DROPPED:
        changes["mapping"] = tuple(
            TableMapping(
                source_table_id=m.source_table_id,
                target_table_id=m.target_table_id,
                name=m.name,
                schema_version=m.schema_version,
                dropped=True,
            )
            if m.source_table_id == entry.table_id
            else m
            for m in task.mapping
        )
    if buffers is held:  # a time entry, a DDL: the applier's buffers stay as they are
        return _set(state, e, _moved(task, e, **changes))
    return _set(
        state, e, _moved(task, e, **changes), restore_buffers=state.restore_buffers.set(task.task_id, buffers)
    )


def _skipped(state: ClusterState, task: RestoreTask, e: EntryApplied) -> ApplierStep:
    """The step of an entry the applier failed to apply and skipped: only under the seed's
    flaw 4, and only an entry the applier writes for."""
    if state.config.protocol.apply_failure is not ApplyFailure.SKIP:
        raise EventOutOfOrder("a failed entry failing the restore (the protocol never skips one)", "fail", e)
    if failable(state, task) != e.entry_seq:
        raise EventOutOfOrder("an entry to apply released to the applier", failable(state, task), e.entry_seq)
    return ApplierStep(Outcome.SKIPPED)


def _apply_failed(state: ClusterState, e: EntryApplyFailed) -> ClusterState:
    task = _task(state, e)
    if state.config.protocol.apply_failure is not ApplyFailure.FAIL:
        raise EventOutOfOrder("a failed entry skipped (the protocol skips it: skip_failed_apply)", "skip", e)
    released = failable(state, task)
    if released is None or e.entry_seq != released:
        raise EventOutOfOrder(
            f"an entry to apply released to the applier of restore {task.task_id}", released, e.entry_seq
        )
    log_id = state.restore_entries[task.task_id][task.applied].log_id
    if e.log_id != log_id:
        raise EventOutOfOrder(f"the log id of entry {e.entry_seq}", log_id, e.log_id)
    return _ended(state, e, _evolve_task(task, apply_failures=task.apply_failures + 1), error=e.reason)


def _worker_stalled(state: ClusterState, e: WorkerStalled) -> ClusterState:
    task = _task(state, e)
    if e.worker in task.stalled or not 0 <= e.worker < task.workers:
        raise EventOutOfOrder(f"a worker of restore {task.task_id} still answering", "one", e.worker)
    return _set(state, e, _moved(task, e, stalled=tuple(sorted((*task.stalled, e.worker)))))


def _ended(state: ClusterState, e, task: RestoreTask, error: str = "", **state_changes) -> ClusterState:
    buffers = state.restore_buffers
    if task.task_id in buffers:
        buffers = buffers.delete(task.task_id)
    ended = _moved(task, e, ended_ts=e.time, error=error)
    return _set(state, e, ended, restore_buffers=buffers, **state_changes)


def _verifying(state: ClusterState, e: RestoreVerifying) -> ClusterState:
    task = _task(state, e)
    if not (task.stopped or task.applied == task.entries):
        raise EventOutOfOrder("a replay that has ended", task.entries, task.applied)
    buffers = state.restore_buffers.get(task.task_id, _NO_BUFFERS)
    if e.open_dropped != len(buffers):
        raise EventOutOfOrder("transactions still open at T", len(buffers), e.open_dropped)
    rest = (
        state.restore_buffers.delete(task.task_id)
        if task.task_id in state.restore_buffers
        else state.restore_buffers
    )
    return _set(state, e, _moved(task, e), restore_buffers=rest)


def _completed(state: ClusterState, e: RestoreCompleted) -> ClusterState:
    task = _task(state, e)
    if e.target_tenant_id != task.target_tenant_id:
        raise EventOutOfOrder("the restore's standby", task.target_tenant_id, e.target_tenant_id)
    problem = verification_problem(state, task)
    if problem is not None:
        raise EventOutOfOrder(f"restore {task.task_id}'s standby passing its verification", None, problem)
    standby = state.tenants[task.target_tenant_id]
    standby = _evolve_tenant(
        standby, status=TenantStatus.READ_ONLY, writable=False, restored_to=task.until_ts
    )
    return _ended(state, e, task, tenants=state.tenants.set(standby.tenant_id, standby))


def _failed(state: ClusterState, e: RestoreFailed) -> ClusterState:
    return _ended(state, e, _task(state, e), error=e.reason)


def _cancelled(state: ClusterState, e: RestoreCancelled) -> ClusterState:
    return _ended(state, e, _task(state, e), error=e.reason)


RESTORE_HANDLERS: dict[type, Callable[[ClusterState, object], ClusterState]] = {
    RestoreStarted: _started,
    RestorePreparing: _preparing,
    RestorePrepared: _prepared,
    TabletRestored: _tablet_restored,
    IncrementalStarted: _incremental_started,
    EntryRead: _entry_read,
    EntryRewritten: _entry_rewritten,
    EntryApplied: _entry_applied,
    WorkerStalled: _worker_stalled,
    EntryDropped: _entry_dropped,
    EntryApplyFailed: _apply_failed,
    RestoreVerifying: _verifying,
    RestoreCompleted: _completed,
    RestoreFailed: _failed,
    RestoreCancelled: _cancelled,
}
