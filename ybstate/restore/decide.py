"""``decide`` for restores. Pure; refusals raise RestoreRejected (the restore cannot be
done as asked), UnknownRestore (no such task, or it has ended) or RestoreNotReady (the
task runs, but this step must wait).

Where a policy of the protocol decides (where the replay starts, what an apply failure
does, what verification compares with, where the mapping comes from), the decider reads
it from ``state.config.protocol`` and the reducer checks the event against the same
policy (DESIGN 14).

A decision that logs cluster entries for the standby (its tenant and tables, an applied
transaction, a replayed DDL) is a composite decision: it is handed a
:class:`~ybstate.kernel.Decision` and makes those entries with the cluster's own deciders
(``decision.decided(CreateTable(...))``), so ids, log ids and times follow the same rules
as any tenant's. The baseline's tablet fetches run as a DAG owned by
``Owner("restore", task_id)``; when a fetch finishes, :data:`DAG_HOOKS` load the tablet.
"""

from __future__ import annotations

from collections.abc import Callable

from ybstate import dag
from ybstate.backup.state import BackupSet
from ybstate.cluster.actions import CreateTable, DropTable
from ybstate.cluster.events import MutatorLogged, TenantCreated, TransactionCommitted
from ybstate.cluster.protocol import ApplyFailure
from ybstate.cluster.state import Cell, ClusterState, Role, TenantStatus
from ybstate.dag.subsystem import DagHooks, Finish, Owner
from ybstate.errors import InvalidAction, RestoreNotReady, RestoreRejected, UnknownRestore
from ybstate.kernel import Decision
from ybstate.kernel.limits import LIMITS, name_problem, within
from ybstate.restore.actions import (
    AdvanceRestore,
    ApplyEntry,
    CancelRestore,
    FailApply,
    ReadArchived,
    RewriteEntry,
    StallWorker,
    StartRestore,
    TimeOutRestore,
)
from ybstate.restore.derive import (
    applier_outcome,
    awaited,
    failable,
    fetch_task_name,
    mapping_tables,
    pending_of,
    queue_full,
    readable,
    released,
    restore_advanceable,
    rewrite_cells,
    tablet_of_fetch,
    timed_out,
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
from ybstate.restore.plan import incremental_entries, plan_restore
from ybstate.restore.state import Outcome, RestorePhase, RestoreTask, TableMapping
from ybstate.restore.verify import standby_content, verification_problem

__all__ = ["COMPOSITE_DECIDERS", "DAG_HOOKS", "OWNER_KIND", "RESTORE_DECIDERS", "standby_txn"]

OWNER_KIND = "restore"
"""The kind of :class:`~ybstate.dag.subsystem.Owner` of a restore's baseline DAG."""


def _task(state: ClusterState, task_id: object) -> RestoreTask:
    if isinstance(task_id, bool) or not isinstance(task_id, int):
        raise InvalidAction(f"a restore task id must be an int, got {task_id!r}")
    task = state.restores.get(task_id)
    if task is None:
        raise UnknownRestore(task_id)
    return task


def _taking(state: ClusterState, task_id: object, event_type: type) -> RestoreTask:
    """The task, if its phase lets ``event_type`` happen (the RESTORE_TASK lifecycle says)."""
    task = _task(state, task_id)
    if not RESTORE_TASK.allows(task.phase, event_type):
        legal = " or ".join(p.value for p in RESTORE_TASK.legal_before(event_type))
        raise RestoreNotReady(task.task_id, task.phase.value, f"is {task.phase.value}, not {legal}")
    return task


def _waits(task: RestoreTask, awaited: str) -> RestoreNotReady:
    return RestoreNotReady(task.task_id, task.phase.value, awaited)


def _start(state: ClusterState, a: StartRestore) -> list[object]:
    for name, value, kind in (("source", a.source, str), ("target", a.target, str)):
        if not isinstance(value, kind):
            raise InvalidAction(f"restore {name} must be a string, got {value!r}")
    for name, value in (("workers", a.workers), ("capacity", a.capacity)):
        if within(name, value) is not None:
            low, high = LIMITS[name].low, LIMITS[name].high
            raise InvalidAction(
                f"restore {name} must be an int {low}..{high} (0: the default), got {value!r}"
            )
    plan = plan_restore(state, a.source, a.until, a.backup_set)
    if not a.target:
        raise RestoreRejected(a.source, "the standby needs a non-empty name")
    problem = name_problem("tenant", a.target)
    if problem is not None:
        raise RestoreRejected(a.source, f"the standby's name: {problem}")
    taken = state.tenant_named(a.target) is not None or any(
        t.target_name == a.target and not t.target_tenant_id and not t.final for t in state.restores.values()
    )
    if taken:
        raise RestoreRejected(a.source, f"the name {a.target!r} is taken")
    workers = a.workers or state.config.restore_workers
    return [
        RestoreStarted(
            seq=state.seq + 1,
            time=state.clock,
            task_id=state.next_restore_task_id,
            source_tenant_id=plan.source_tenant_id,
            target_name=a.target,
            set_id=plan.set_id,
            until_ts=plan.until_ts,
            until=plan.until,
            start_log_id=plan.start_log_id,
            end_log_id=plan.end_log_id,
            workers=workers,
            capacity=a.capacity or 2 * workers,
            mark=a.until if isinstance(a.until, str) and a.until != "latest" else "",
            latest=a.until == "latest",
        )
    ]


# -- AdvanceRestore: the root server's next step, by phase --------------------------------------


def _preparing(d: Decision, task: RestoreTask) -> None:
    d.add(RestorePreparing(seq=d.seq, time=d.state.clock, task_id=task.task_id))


def _prepare(d: Decision, task: RestoreTask) -> None:
    """The standby tenant and its tables (from the set's schema, with new ids; or the live
    source's, flaw 7), and the baseline DAG of tablet fetches."""
    state = d.state
    chosen: BackupSet = state.backup_sets[task.set_id]
    schema = mapping_tables(state, task)
    mapping = tuple(
        TableMapping(
            source_table_id=t.table_id,
            target_table_id=state.next_table_id + i,
            name=t.name,
            schema_version=state.schema_version + 1 + i,
        )
        for i, t in enumerate(schema)
    )
    dag_id = state.next_dag_id if chosen.tablets else 0
    d.add(
        RestorePrepared(
            seq=d.seq,
            time=state.clock,
            task_id=task.task_id,
            target_tenant_id=state.next_tenant_id,
            mapping=mapping,
            dag_id=dag_id,
            tablets=len(chosen.tablets),
        )
    )
    d.add(
        TenantCreated(
            seq=d.seq,
            time=state.clock,
            tenant_id=state.next_tenant_id,
            name=task.target_name,
            role=Role.STANDBY,
            status=TenantStatus.RESTORING,
            writable=False,
        )
    )
    for table in schema:
        d.decided(CreateTable(tenant=task.target_name, table=table.name, tablets=len(table.tablets)))
    if chosen.tablets:
        for event in dag.decide_submit(
            d.state.dags,
            dag_id=dag_id,
            owner=str(Owner(OWNER_KIND, task.task_id)),
            tasks=tuple(fetch_task_name(t) for t in chosen.tablets),
            edges=(),
            workers=state.config.dag_workers,
            retries=state.config.task_retries,
            seq=d.seq,
            time=d.state.clock,
        ):
            d.add(event)


def _baseline_done(d: Decision, task: RestoreTask) -> None:
    state, seq, time = d.state, d.seq, d.state.clock
    graph = state.dags.get(task.dag_id) if task.dag_id else None
    if graph is not None and graph.status is dag.DagStatus.FAILED:
        failed = sorted(tablet_of_fetch(n) for n, s in graph.tasks.items() if s is dag.TaskState.FAILED)
        reason = f"fetch of tablets {failed} failed after {state.config.task_retries + 1} attempts"
        d.add(RestoreFailed(seq=seq, time=time, task_id=task.task_id, reason=reason))
        return
    if graph is not None and not graph.finished:
        raise _waits(task, f"is still restoring its baseline ({task.loaded} of {task.tablets} tablets)")
    entries = incremental_entries(state, task.source_tenant_id, task.start_log_id, task.until_ts)
    if entries is None:
        reason = f"no archive segment holds the replay start, log id {task.start_log_id}"
        d.add(RestoreFailed(seq=seq, time=time, task_id=task.task_id, reason=reason))
        return
    d.add(
        IncrementalStarted(
            seq=seq,
            time=time,
            task_id=task.task_id,
            entries=len(entries),
            first_log_id=entries[0].log_id if entries else 0,
            last_log_id=entries[-1].log_id if entries else 0,
        )
    )


def _replay_done(d: Decision, task: RestoreTask) -> None:
    if not restore_advanceable(d.state, task):
        raise _waits(task, f"is still replaying ({task.applied} of {task.entries} entries applied)")
    buffered = d.state.restore_buffers.get(task.task_id, {})
    d.add(RestoreVerifying(seq=d.seq, time=d.state.clock, task_id=task.task_id, open_dropped=len(buffered)))


def _verify(d: Decision, task: RestoreTask) -> None:
    state, seq, time = d.state, d.seq, d.state.clock
    found = standby_content(state, task)
    problem = verification_problem(state, task, found)
    if problem is not None:
        d.add(RestoreFailed(seq=seq, time=time, task_id=task.task_id, reason=f"verification: {problem}"))
        return
    rows, checksum = found.totals()
    d.add(
        RestoreCompleted(
            seq=seq,
            time=time,
            task_id=task.task_id,
            target_tenant_id=task.target_tenant_id,
            rows=rows,
            checksum=checksum,
        )
    )


# The root server's next step of a restore, by the phase it is in; the final phases have none.
_ADVANCE: dict[RestorePhase, Callable[[Decision, RestoreTask], None]] = {
    RestorePhase.INIT: _preparing,
    RestorePhase.PREPARING: _prepare,
    RestorePhase.RESTORING_BASELINE: _baseline_done,
    RestorePhase.RESTORING_INCREMENTAL: _replay_done,
    RestorePhase.VERIFYING: _verify,
}


def _advance(d: Decision, a: AdvanceRestore) -> None:
    task = _task(d.state, a.task_id)
    step = _ADVANCE.get(task.phase)
    if step is None:
        raise UnknownRestore(task.task_id, f"is {task.phase.value}: it has nothing left to do")
    step(d, task)


def _cancel(state: ClusterState, a: CancelRestore) -> list[object]:
    task = _task(state, a.task_id)
    if not RESTORE_TASK.allows(task.phase, RestoreCancelled):
        raise UnknownRestore(task.task_id, f"is already {task.phase.value}")
    seq = state.seq + 1
    events: list[object] = [
        RestoreCancelled(seq=seq, time=state.clock, task_id=task.task_id, reason=a.reason)
    ]
    graph = state.dags.get(task.dag_id) if task.dag_id else None
    if graph is not None and not graph.finished:
        cancel = dag.CancelDag(dag_id=graph.dag_id, reason=a.reason)
        events.extend(dag.decide_task(state.dags, cancel, seq=seq + 1, time=state.clock))
    return events


# -- the baseline: a finished fetch ----------------------------------------------------------------


def _fetched(state: ClusterState, task_id: int, task_name: str) -> Finish:
    """After a baseline DAG task succeeds: the tablet is fetched from backup storage, its
    table id rewritten, loaded as one standby transaction and checked against the manifest;
    it takes ``tablet_task_us`` and ``row_fetch_us`` per row fetched."""
    task = state.restores[task_id]
    tablet_id = tablet_of_fetch(task_name)
    stored = state.stored[(task.set_id, tablet_id)]
    mapped = task.mapped(stored.table_id)
    # Only a mapping taken from the live source (flaw 7) can lack a table of the set: one
    # dropped since the backup. Its rows are fetched and not loaded anywhere.
    tx_id = state.next_tx_id if stored.rows and mapped is not None else 0

    def loaded(seq: int, time: int) -> list[object]:
        events: list[object] = [
            TabletRestored(
                seq=seq,
                time=time,
                task_id=task.task_id,
                set_id=task.set_id,
                source_tablet_id=tablet_id,
                target_table_id=0 if mapped is None else mapped.target_table_id,
                row_count=stored.row_count,
                checksum=stored.checksum,
                tx_id=tx_id,
            )
        ]
        if tx_id:
            cells = tuple(Cell(table_id=mapped.target_table_id, rowkey=k, value=v) for k, v in stored.rows)
            events.extend(standby_txn(state, task.target_tenant_id, tx_id, cells, seq + 1, after=time))
        return events

    return Finish(work=state.config.costs.fetch_us(stored.row_count), events=loaded)


DAG_HOOKS = DagHooks(kind=OWNER_KIND, on_finish=_fetched)
"""A finished fetch task loads its tablet into the standby (``TabletRestored`` and a
standby transaction)."""


def standby_txn(
    state: ClusterState, tenant_id: int, tx_id: int, cells, seq: int, after: int | None = None
) -> list[object]:
    """One transaction of a standby: its MUTATOR and COMMIT entries, logged after ``after``
    (the decision's time so far; the state's clock when None)."""
    ids = {"tenant_id": tenant_id, "tx_id": tx_id}
    time = state.clock if after is None else after
    return [
        MutatorLogged(seq=seq, time=time + 1, log_id=state.next_log_id, cells=cells, **ids),
        TransactionCommitted(seq=seq + 1, time=time + 2, log_id=state.next_log_id + 1, **ids),
    ]


# -- the incremental pipeline: reader, workers, reorder queue, applier ----------------------------


def _read(state: ClusterState, a: ReadArchived) -> list[object]:
    task = _taking(state, a.task_id, EntryRead)
    if task.stopped or task.read >= task.entries:
        raise _waits(task, "has no archived entry left to read")
    if not readable(state, task):
        raise _waits(
            task, f"has {task.capacity} entries in flight, its reorder queue's bound: the reader waits"
        )
    entry_seq = task.read + 1
    entry = state.restore_entries[task.task_id][task.read]
    return [
        EntryRead(
            seq=state.seq + 1,
            time=state.clock,
            task_id=task.task_id,
            entry_seq=entry_seq,
            log_id=entry.log_id,
            worker=task.worker_of(entry_seq),
        )
    ]


def _worker(task: RestoreTask, worker: object) -> int:
    if isinstance(worker, bool) or not isinstance(worker, int) or not 0 <= worker < task.workers:
        raise InvalidAction(f"restore {task.task_id} has workers 0..{task.workers - 1}, not {worker!r}")
    return worker


def _rewrite(state: ClusterState, a: RewriteEntry) -> list[object]:
    task = _taking(state, a.task_id, EntryRewritten)
    worker = _worker(task, a.worker)
    if worker in task.stalled:
        raise _waits(task, f"has worker {worker} stalled")
    entry_seq = pending_of(task, worker)
    if entry_seq is None:
        raise _waits(task, f"has nothing for worker {worker} to rewrite")
    # A full reorder queue refuses the entry: only the seed's reader (flaw 3) lets it fill
    made = EntryDropped if queue_full(task) else EntryRewritten
    # The workers rewrite side by side: each rewrite takes its share of their time.
    time = state.clock + state.config.costs.rewrite_us(task.workers)
    return [made(seq=state.seq + 1, time=time, task_id=task.task_id, entry_seq=entry_seq, worker=worker)]


def _apply_entry(d: Decision, a: ApplyEntry) -> None:
    state = d.state
    task = _taking(state, a.task_id, EntryApplied)
    entry_seq = released(state, task)
    if entry_seq is None:
        raise _waits(task, awaited(state, task))
    entry = state.restore_entries[task.task_id][task.applied]
    step = applier_outcome(state, task, entry)
    applied = EntryApplied(
        seq=d.seq,
        time=state.clock + state.config.costs.entry_apply_us,
        task_id=task.task_id,
        entry_seq=entry_seq,
        log_id=entry.log_id,
        outcome=step.outcome,
        source_tx_id=step.source_tx_id,
        target_tx_id=step.target_tx_id,
        target_table_id=step.target_table_id,
    )
    d.add(applied)
    if step.outcome is Outcome.APPLIED:
        # Nothing buffered only where the seed's flaws lost the mutators (a replay started
        # after the transaction did, a mutator skipped): the commit applies what there is.
        buffered = state.restore_buffers.get(task.task_id, {}).get(entry.tx_id, ())
        cells = rewrite_cells(state, task, buffered)
        for event in standby_txn(d.state, task.target_tenant_id, step.target_tx_id, cells, d.seq):
            d.add(event)
    elif step.outcome is Outcome.TABLE_CREATED:
        d.decided(CreateTable(tenant=task.target_name, table=entry.name, tablets=len(entry.tablets)))
    elif step.outcome is Outcome.TABLE_DROPPED:
        target = state.tables[step.target_table_id]
        d.decided(DropTable(tenant=task.target_name, table=target.name))


def _fail_apply(state: ClusterState, a: FailApply) -> list[object]:
    """The applier fails on the entry the reorder queue releases next: the restore fails
    naming it, or (the seed's flaw 4, ``protocol.apply_failure`` SKIP) the applier records
    it skipped and carries on."""
    task = _taking(state, a.task_id, EntryApplied)
    entry_seq = failable(state, task)
    if entry_seq is None:
        raise _waits(task, f"has no entry to apply released to its applier (next: {task.applied + 1})")
    log_id = state.restore_entries[task.task_id][task.applied].log_id
    seq = state.seq + 1
    time = state.clock + state.config.costs.entry_apply_us  # the attempt takes an apply's time
    if state.config.protocol.apply_failure is ApplyFailure.SKIP:
        return [
            EntryApplied(
                seq=seq,
                time=time,
                task_id=task.task_id,
                entry_seq=entry_seq,
                log_id=log_id,
                outcome=Outcome.SKIPPED,
            )
        ]
    reason = (
        f"applying sequence number {entry_seq} (log id {log_id}) failed: "
        "the restore stops rather than skip it"
    )
    return [
        EntryApplyFailed(
            seq=seq, time=time, task_id=task.task_id, entry_seq=entry_seq, log_id=log_id, reason=reason
        )
    ]


def _stall(state: ClusterState, a: StallWorker) -> list[object]:
    task = _taking(state, a.task_id, WorkerStalled)
    worker = _worker(task, a.worker)
    if worker in task.stalled:
        raise _waits(task, f"has worker {worker} stalled already")
    return [WorkerStalled(seq=state.seq + 1, time=state.clock, task_id=task.task_id, worker=worker)]


def _timeout(state: ClusterState, a: TimeOutRestore) -> list[object]:
    task = _taking(state, a.task_id, EntryApplied)  # the applier waits for the missing entry
    missing = timed_out(task)
    if missing is None:
        raise _waits(task, "waits for no entry held by a stalled worker")
    log_id = state.restore_entries[task.task_id][missing - 1].log_id
    reason = (
        f"sequence number {missing} (log id {log_id}) missing past the timeout: "
        f"worker {task.worker_of(missing)} stalled"
    )
    return [RestoreFailed(seq=state.seq + 1, time=state.clock, task_id=task.task_id, reason=reason)]


RESTORE_DECIDERS: dict[type, Callable[[ClusterState, object], list[object]]] = {
    StartRestore: _start,
    CancelRestore: _cancel,
    ReadArchived: _read,
    RewriteEntry: _rewrite,
    StallWorker: _stall,
    TimeOutRestore: _timeout,
    FailApply: _fail_apply,
}

COMPOSITE_DECIDERS: dict[type, Callable[[Decision, object], None]] = {
    AdvanceRestore: _advance,
    ApplyEntry: _apply_entry,
}
"""Decisions that log standby entries with the cluster's own deciders."""
