"""``decide`` for restores. Pure; refusals raise RestoreRejected / UnknownRestore.

A decision that logs cluster entries for the standby (its tenant and tables, a loaded
tablet, an applied transaction, a replayed DDL) builds them on a scratch state with the
cluster's own deciders where they apply, so ids, log ids and times follow the same rules
as any tenant's.
"""

from __future__ import annotations

from collections.abc import Callable

from ybstate import dag
from ybstate.backup.state import BackupSet
from ybstate.cluster.actions import CreateTable, DropTable
from ybstate.cluster.events import (
    MutatorLogged,
    TableCreated,
    TableDropped,
    TenantCreated,
    TransactionAborted,
    TransactionCommitted,
)
from ybstate.cluster.state import Cell, ClusterState, Role, TenantStatus
from ybstate.errors import InvalidAction, RestoreRejected, UnknownRestore
from ybstate.restore.actions import (
    AdvanceRestore,
    ApplyEntry,
    CancelRestore,
    ReadArchived,
    RewriteEntry,
    StallWorker,
    StartRestore,
    TimeOutRestore,
)
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
    TabletRestored,
    WorkerStalled,
)
from ybstate.restore.plan import incremental_entries, plan_restore
from ybstate.restore.state import RestorePhase, RestoreTask, TableMapping
from ybstate.restore.verify import compare, expected_content, standby_content

__all__ = [
    "OWNER_PREFIX",
    "RESTORE_DECIDERS",
    "Scratch",
    "standby_txn",
    "fetch_task_name",
    "finish_fetch",
    "pending_of",
    "restore_advanceable",
    "tablet_of_fetch",
]

OWNER_PREFIX = "restore:"


def fetch_task_name(tablet_id: int) -> str:
    return f"fetch tablet {tablet_id}"


def tablet_of_fetch(task: str) -> int:
    return int(task.rsplit(" ", 1)[1])


def _task(state: ClusterState, task_id: object) -> RestoreTask:
    if isinstance(task_id, bool) or not isinstance(task_id, int):
        raise InvalidAction(f"a restore task id must be an int, got {task_id!r}")
    task = state.restores.get(task_id)
    if task is None:
        raise UnknownRestore(task_id)
    return task


def _running(state: ClusterState, task_id: object, phase: RestorePhase) -> RestoreTask:
    task = _task(state, task_id)
    if task.phase is not phase:
        raise UnknownRestore(task.task_id, f"is {task.phase.value}, not {phase.value}")
    return task


def _start(state: ClusterState, a: StartRestore) -> list[object]:
    for name, value, kind in (("source", a.source, str), ("target", a.target, str)):
        if not isinstance(value, kind):
            raise InvalidAction(f"restore {name} must be a string, got {value!r}")
    for name, value in (("workers", a.workers), ("capacity", a.capacity)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidAction(f"restore {name} must be an int >= 0 (0: the default), got {value!r}")
    plan = plan_restore(state, a.source, a.until, a.backup_set)
    if not a.target:
        raise RestoreRejected(a.source, "the standby needs a non-empty name")
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


class Scratch:
    """Events of one decision, each applied to a scratch state as it is made."""

    def __init__(self, state: ClusterState) -> None:
        from ybstate.cluster.reducer import apply  # the cluster's apply dispatches to ours

        self._apply = apply
        self.state = state
        self.events: list[object] = []

    def add(self, event: object) -> None:
        self.state = self._apply(self.state, event)
        self.events.append(event)

    def decided(self, action: object) -> None:
        from ybstate.cluster.decide import decide

        for event in decide(self.state, action):
            self.add(event)

    @property
    def seq(self) -> int:
        return self.state.seq + 1


def _prepare(state: ClusterState, task: RestoreTask) -> list[object]:
    chosen: BackupSet = state.backup_sets[task.set_id]
    schema = sorted(chosen.schema, key=lambda t: t.table_id)
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
    scratch = Scratch(state)
    scratch.add(
        RestorePrepared(
            seq=scratch.seq,
            time=state.clock,
            task_id=task.task_id,
            target_tenant_id=state.next_tenant_id,
            mapping=mapping,
            dag_id=dag_id,
            tablets=len(chosen.tablets),
        )
    )
    scratch.add(
        TenantCreated(
            seq=scratch.seq,
            time=state.clock,
            tenant_id=state.next_tenant_id,
            name=task.target_name,
            role=Role.STANDBY,
            status=TenantStatus.RESTORING,
            writable=False,
        )
    )
    for table in schema:
        scratch.decided(CreateTable(tenant=task.target_name, table=table.name, tablets=len(table.tablets)))
    if chosen.tablets:
        for event in dag.decide_submit(
            scratch.state.dags,
            dag_id=dag_id,
            owner=f"{OWNER_PREFIX}{task.task_id}",
            tasks=tuple(fetch_task_name(t) for t in chosen.tablets),
            edges=(),
            workers=state.config.dag_workers,
            retries=state.config.task_retries,
            seq=scratch.seq,
            time=scratch.state.clock,
        ):
            scratch.add(event)
    return scratch.events


def finish_fetch(state: ClusterState, owner: str, task_name: str, seq: int, time: int) -> list[object]:
    """After a baseline DAG task succeeds: the tablet is fetched from backup storage, its
    table id rewritten, loaded as one standby transaction and checked against the manifest."""
    task = state.restores[int(owner[len(OWNER_PREFIX) :])]
    tablet_id = tablet_of_fetch(task_name)
    stored = state.stored[(task.set_id, tablet_id)]
    mapped = task.mapped(stored.table_id)
    tx_id = state.next_tx_id if stored.rows else 0
    events: list[object] = [
        TabletRestored(
            seq=seq,
            time=time,
            task_id=task.task_id,
            set_id=task.set_id,
            source_tablet_id=tablet_id,
            target_table_id=mapped.target_table_id,
            row_count=stored.row_count,
            checksum=stored.checksum,
            tx_id=tx_id,
        )
    ]
    if stored.rows:
        cells = tuple(Cell(table_id=mapped.target_table_id, rowkey=k, value=v) for k, v in stored.rows)
        events.extend(standby_txn(state, task.target_tenant_id, tx_id, cells, seq + 1))
    return events


def standby_txn(state: ClusterState, tenant_id: int, tx_id: int, cells, seq: int) -> list[object]:
    """One transaction of a standby: its MUTATOR and COMMIT entries."""
    ids = {"tenant_id": tenant_id, "tx_id": tx_id}
    return [
        MutatorLogged(seq=seq, time=state.clock + 1, log_id=state.next_log_id, cells=cells, **ids),
        TransactionCommitted(seq=seq + 1, time=state.clock + 2, log_id=state.next_log_id + 1, **ids),
    ]


def restore_advanceable(state: ClusterState, task: RestoreTask) -> bool:
    """Whether :class:`AdvanceRestore` would be accepted for ``task`` now."""
    if task.final:
        return False
    if task.phase is RestorePhase.RESTORING_BASELINE:
        return not task.dag_id or state.dags[task.dag_id].finished
    if task.phase is RestorePhase.RESTORING_INCREMENTAL:
        return task.stopped or task.applied == task.entries
    return True


def _advance(state: ClusterState, a: AdvanceRestore) -> list[object]:
    task = _task(state, a.task_id)
    seq, time = state.seq + 1, state.clock
    if task.phase is RestorePhase.INIT:
        return [RestorePreparing(seq=seq, time=time, task_id=task.task_id)]
    if task.phase is RestorePhase.PREPARING:
        return _prepare(state, task)
    if task.phase is RestorePhase.RESTORING_BASELINE:
        graph = state.dags.get(task.dag_id) if task.dag_id else None
        if graph is not None and graph.status is dag.DagStatus.FAILED:
            failed = sorted(tablet_of_fetch(n) for n, s in graph.tasks.items() if s is dag.TaskState.FAILED)
            reason = f"fetch of tablets {failed} failed after {state.config.task_retries + 1} attempts"
            return [RestoreFailed(seq=seq, time=time, task_id=task.task_id, reason=reason)]
        if graph is not None and not graph.finished:
            raise UnknownRestore(
                task.task_id, f"is still restoring its baseline ({task.loaded} of {task.tablets} tablets)"
            )
        entries = incremental_entries(state, task.source_tenant_id, task.start_log_id, task.until_ts)
        if entries is None:
            reason = f"no archive segment holds the replay start, log id {task.start_log_id}"
            return [RestoreFailed(seq=seq, time=time, task_id=task.task_id, reason=reason)]
        return [
            IncrementalStarted(
                seq=seq,
                time=time,
                task_id=task.task_id,
                entries=len(entries),
                first_log_id=entries[0].log_id if entries else 0,
                last_log_id=entries[-1].log_id if entries else 0,
            )
        ]
    if task.phase is RestorePhase.RESTORING_INCREMENTAL:
        if not restore_advanceable(state, task):
            raise UnknownRestore(
                task.task_id, f"is still replaying ({task.applied} of {task.entries} entries applied)"
            )
        buffered = state.restore_buffers.get(task.task_id, {})
        return [RestoreVerifying(seq=seq, time=time, task_id=task.task_id, open_dropped=len(buffered))]
    if task.phase is RestorePhase.VERIFYING:
        expected = expected_content(state, task)
        found = standby_content(state, task)
        problem = compare(expected, found)
        if problem is not None:
            return [
                RestoreFailed(seq=seq, time=time, task_id=task.task_id, reason=f"verification: {problem}")
            ]
        rows, checksum = found.totals()
        return [
            RestoreCompleted(
                seq=seq,
                time=time,
                task_id=task.task_id,
                target_tenant_id=task.target_tenant_id,
                rows=rows,
                checksum=checksum,
            )
        ]
    raise UnknownRestore(task.task_id, f"is {task.phase.value}: it has nothing left to do")


def _cancel(state: ClusterState, a: CancelRestore) -> list[object]:
    task = _task(state, a.task_id)
    if task.final:
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


def pending_of(task: RestoreTask, worker: int) -> int | None:
    """The oldest entry ``worker`` holds and has not rewritten yet, if any."""
    first = task.applied + 1 + (worker - task.applied) % task.workers
    for entry_seq in range(first, task.read + 1, task.workers):
        if entry_seq not in task.rewritten:
            return entry_seq
    return None


def _read(state: ClusterState, a: ReadArchived) -> list[object]:
    task = _running(state, a.task_id, RestorePhase.RESTORING_INCREMENTAL)
    if task.stopped or task.read >= task.entries:
        raise UnknownRestore(task.task_id, "has no archived entry left to read")
    if task.read - task.applied >= task.capacity:
        raise UnknownRestore(
            task.task_id,
            f"has {task.capacity} entries in flight, its reorder queue's bound: the reader waits",
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


def _rewrite(state: ClusterState, a: RewriteEntry) -> list[object]:
    task = _running(state, a.task_id, RestorePhase.RESTORING_INCREMENTAL)
    if isinstance(a.worker, bool) or not isinstance(a.worker, int) or not 0 <= a.worker < task.workers:
        raise InvalidAction(f"restore {task.task_id} has workers 0..{task.workers - 1}, not {a.worker!r}")
    if a.worker in task.stalled:
        raise UnknownRestore(task.task_id, f"has worker {a.worker} stalled")
    entry_seq = pending_of(task, a.worker)
    if entry_seq is None:
        raise UnknownRestore(task.task_id, f"has nothing for worker {a.worker} to rewrite")
    return [
        EntryRewritten(
            seq=state.seq + 1, time=state.clock, task_id=task.task_id, entry_seq=entry_seq, worker=a.worker
        )
    ]


def _apply_entry(state: ClusterState, a: ApplyEntry) -> list[object]:
    task = _running(state, a.task_id, RestorePhase.RESTORING_INCREMENTAL)
    entry_seq = task.applied + 1
    if task.stopped or entry_seq not in task.rewritten:
        raise UnknownRestore(task.task_id, f"waits for entry {entry_seq} in its reorder queue")
    entry = state.restore_entries[task.task_id][task.applied]
    outcome, extra = applier_outcome(state, task, entry)
    scratch = Scratch(state)
    applied = EntryApplied(
        seq=scratch.seq,
        time=state.clock,
        task_id=task.task_id,
        entry_seq=entry_seq,
        log_id=entry.log_id,
        outcome=outcome,
        **extra,
    )
    scratch.add(applied)
    if outcome == "applied":
        cells = rewrite_cells(task, state.restore_buffers[task.task_id][entry.tx_id])
        for event in standby_txn(
            scratch.state, task.target_tenant_id, applied.target_tx_id, cells, scratch.seq
        ):
            scratch.add(event)
    elif outcome == "table created":
        scratch.decided(CreateTable(tenant=task.target_name, table=entry.name, tablets=len(entry.tablets)))
    elif outcome == "table dropped":
        target = state.tables[applied.target_table_id]
        scratch.decided(DropTable(tenant=task.target_name, table=target.name))
    return scratch.events


def rewrite_cells(task: RestoreTask, cells: tuple[Cell, ...]) -> tuple[Cell, ...]:
    """A transaction's cells with the source table ids rewritten to the standby's."""
    rewritten = []
    for cell in cells:
        mapped = task.mapped(cell.table_id)
        if mapped is None or mapped.dropped:
            raise UnknownRestore(task.task_id, f"maps no live standby table for source table {cell.table_id}")
        rewritten.append(Cell(table_id=mapped.target_table_id, rowkey=cell.rowkey, value=cell.value))
    return tuple(rewritten)


def applier_outcome(state: ClusterState, task: RestoreTask, entry: object) -> tuple[str, dict]:
    """What the applier does with ``entry`` (and the ids it names): see EntryApplied."""
    if entry.time > task.until_ts:
        return "past T", {}
    freeze_log_id = state.frozen[state.backup_sets[task.set_id].frozen_version].log_id
    if isinstance(entry, MutatorLogged):
        return "buffered", {"source_tx_id": entry.tx_id}
    if isinstance(entry, TransactionCommitted):
        if entry.log_id <= freeze_log_id:
            return "in baseline", {"source_tx_id": entry.tx_id}
        return "applied", {"source_tx_id": entry.tx_id, "target_tx_id": state.next_tx_id}
    if isinstance(entry, TransactionAborted):
        return "dropped", {"source_tx_id": entry.tx_id}
    if isinstance(entry, TableCreated | TableDropped) and entry.log_id <= freeze_log_id:
        return "in baseline", {}  # the set's schema already has it (or not)
    if isinstance(entry, TableCreated):
        return "table created", {"target_table_id": state.next_table_id}
    if isinstance(entry, TableDropped):
        return "table dropped", {"target_table_id": task.mapped(entry.table_id).target_table_id}
    return "time", {}


def _stall(state: ClusterState, a: StallWorker) -> list[object]:
    task = _running(state, a.task_id, RestorePhase.RESTORING_INCREMENTAL)
    if isinstance(a.worker, bool) or not isinstance(a.worker, int) or not 0 <= a.worker < task.workers:
        raise InvalidAction(f"restore {task.task_id} has workers 0..{task.workers - 1}, not {a.worker!r}")
    if a.worker in task.stalled:
        raise UnknownRestore(task.task_id, f"has worker {a.worker} stalled already")
    return [WorkerStalled(seq=state.seq + 1, time=state.clock, task_id=task.task_id, worker=a.worker)]


def timed_out(task: RestoreTask) -> int | None:
    """The entry the reorder queue waits for in vain (its worker stalled), if any."""
    waiting = task.applied + 1
    if task.stopped or waiting > task.read or waiting in task.rewritten:
        return None
    return waiting if task.worker_of(waiting) in task.stalled else None


def _timeout(state: ClusterState, a: TimeOutRestore) -> list[object]:
    task = _running(state, a.task_id, RestorePhase.RESTORING_INCREMENTAL)
    missing = timed_out(task)
    if missing is None:
        raise UnknownRestore(task.task_id, "waits for no entry held by a stalled worker")
    log_id = state.restore_entries[task.task_id][missing - 1].log_id
    reason = (
        f"sequence number {missing} (log id {log_id}) missing past the timeout: "
        f"worker {task.worker_of(missing)} stalled"
    )
    return [RestoreFailed(seq=state.seq + 1, time=state.clock, task_id=task.task_id, reason=reason)]


RESTORE_DECIDERS: dict[type, Callable[[ClusterState, object], list[object]]] = {
    StartRestore: _start,
    AdvanceRestore: _advance,
    CancelRestore: _cancel,
    ReadArchived: _read,
    RewriteEntry: _rewrite,
    ApplyEntry: _apply_entry,
    StallWorker: _stall,
    TimeOutRestore: _timeout,
}
