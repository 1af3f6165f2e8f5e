"""What restores derive from the state, shared by ``decide``, ``apply``, ``enabled`` and
the scenario runner: baseline fetch task names, whether the reader may read, which entry
a worker rewrites next, which entry the reorder queue releases, whether a task can take
its next step, the entry a stalled worker holds past the timeout, the entry an apply
failure hits, the tables a standby's mapping starts from, and what the applier does with
the next entry. Where a policy of :class:`~ybstate.cluster.protocol.Protocol` decides
(the reorder key, flaw 2; a full queue, flaw 3; the schema mapping's source, flaw 7),
they read it from the state. Pure."""

from __future__ import annotations

import attrs

from ybstate.cluster.events import (
    MutatorLogged,
    TableCreated,
    TableDropped,
    TransactionAborted,
    TransactionCommitted,
)
from ybstate.cluster.protocol import FullQueue, ReorderKey, ReplayStart, SchemaMapping
from ybstate.cluster.state import Cell, ClusterState
from ybstate.errors import RestoreRejected
from ybstate.restore.state import Outcome, RestorePhase, RestoreTask

__all__ = [
    "ApplierStep",
    "applier_outcome",
    "awaited",
    "awaited_log_id",
    "failable",
    "fetch_task_name",
    "mapping_may_lag",
    "mapping_tables",
    "pending_of",
    "queue_full",
    "queued_next",
    "readable",
    "released",
    "restore_advanceable",
    "rewrite_cells",
    "tablet_of_fetch",
    "timed_out",
]


def fetch_task_name(tablet_id: int) -> str:
    """The name of the baseline DAG task that fetches ``tablet_id``."""
    return f"fetch tablet {tablet_id}"


def tablet_of_fetch(task: str) -> int:
    """The tablet a fetch task (:func:`fetch_task_name`) fetches."""
    return int(task.rsplit(" ", 1)[1])


def pending_of(task: RestoreTask, worker: int) -> int | None:
    """The oldest entry ``worker`` holds and has not rewritten (or dropped) yet, if any: its
    next entry (``task.next_seqs``), once the reader has handed it out. O(1)."""
    entry_seq = task.next_seqs[worker]
    return entry_seq if entry_seq <= task.read else None


def queued_next(task: RestoreTask) -> bool:
    """Whether the entry the applier needs next (``applied + 1``) waits in the reorder
    queue, rewritten. The queue is ascending and holds only entries after ``applied``, so
    that entry can only be its head. O(1)."""
    return bool(task.rewritten) and task.rewritten[0] == task.applied + 1


def readable(state: ClusterState, task: RestoreTask) -> bool:
    """Whether the reader can hand out the next archived entry now: one is left, and there
    is room for it in flight (``capacity``: the reader waits for the applier). The seed's
    reader (flaw 3, ``protocol.full_queue`` DROP) does not wait: the reorder queue refuses
    what does not fit (:func:`queue_full`)."""
    if task.stopped or task.read >= task.entries:
        return False
    return state.config.protocol.full_queue is FullQueue.DROP or task.read - task.applied < task.capacity


def queue_full(task: RestoreTask) -> bool:
    """Whether the reorder queue holds ``capacity`` rewritten entries: a worker's next one
    does not fit. Never so when the reader waits for room (entries in flight, rewritten or
    not, are at most ``capacity``, and the one being pushed is one of them)."""
    return len(task.rewritten) >= task.capacity


def awaited_log_id(task: RestoreTask) -> int:
    """The log id the seed's reorder queue (flaw 2, ``protocol.reorder_key`` LOG_ID) waits
    for next: the one after the last entry it released, the replay's start first."""
    return task.restored_log_id + 1 if task.applied else task.start_log_id


def released(state: ClusterState, task: RestoreTask) -> int | None:
    """The entry the reorder queue releases to the applier now, if any: the next by the
    reader's sequence number, once rewritten. The seed's queue orders by the global log id
    (flaw 2): it releases that entry only if its log id is the one after the last released,
    which a tenant's archive does not have where another tenant's entry was."""
    if task.stopped or not queued_next(task):
        return None
    entry_seq = task.applied + 1
    by_log_id = state.config.protocol.reorder_key is ReorderKey.LOG_ID
    if by_log_id and state.restore_entries[task.task_id][task.applied].log_id != awaited_log_id(task):
        return None
    return entry_seq


def awaited(state: ClusterState, task: RestoreTask) -> str:
    """What the applier of a running restore waits for, in words (for a refusal, or a
    restore that hangs)."""
    entry_seq = task.applied + 1
    if state.config.protocol.reorder_key is ReorderKey.LOG_ID and queued_next(task):
        log_id = state.restore_entries[task.task_id][task.applied].log_id
        return (
            f"waits for log id {awaited_log_id(task)} in its reorder queue, which releases by global "
            f"log id; the next entry of the archive is log id {log_id}"
        )
    if entry_seq in task.dropped:
        return f"waits for entry {entry_seq}, which a full reorder queue refused and its worker dropped"
    return f"waits for entry {entry_seq} in its reorder queue"


def restore_advanceable(state: ClusterState, task: RestoreTask) -> bool:
    """Whether :class:`~ybstate.restore.actions.AdvanceRestore` would be accepted now."""
    if task.final:
        return False
    if task.phase is RestorePhase.RESTORING_BASELINE:
        return not task.dag_id or state.dags[task.dag_id].finished
    if task.phase is RestorePhase.RESTORING_INCREMENTAL:
        return task.stopped or task.applied == task.entries
    return True


def mapping_tables(state: ClusterState, task: RestoreTask) -> list:
    """The source tables a restore's standby starts with (each with ``table_id``, ``name``
    and ``tablets``), by table id: the backup set's schema, later DDL replayed from the
    archive. The seed's flaw 7 (``protocol.schema_mapping`` LIVE_SOURCE): the live source
    tenant's tables now, taken once."""
    if state.config.protocol.schema_mapping is SchemaMapping.LIVE_SOURCE:
        return state.tables_of(task.source_tenant_id)
    return sorted(state.backup_sets[task.set_id].schema, key=lambda t: t.table_id)


def mapping_may_lag(state: ClusterState) -> bool:
    """Whether a standby's mapping may be out of step with the entries replayed: only under
    the seed's flaws, a mapping taken once from the live source (flaw 7), or a replay that
    starts after the set's start and misses DDL (flaw 1). The seed's applier then does not
    replay a DDL it cannot, and its rewriter leaves out the cells of a table it cannot map;
    in the corrected protocol either would be a bug, and is refused."""
    protocol = state.config.protocol
    return (
        protocol.schema_mapping is SchemaMapping.LIVE_SOURCE
        or protocol.replay_start is ReplayStart.ARCHIVE_START
    )


def failable(state: ClusterState, task: RestoreTask) -> int | None:
    """The entry an apply failure would hit now: the one the reorder queue releases next,
    if the applier writes for it (a mutator it buffers, a commit it applies)."""
    entry_seq = released(state, task)
    if entry_seq is None:
        return None
    entry = state.restore_entries[task.task_id][task.applied]
    writes = applier_outcome(state, task, entry).outcome in (Outcome.BUFFERED, Outcome.APPLIED)
    return entry_seq if writes else None


def timed_out(task: RestoreTask) -> int | None:
    """The entry the reorder queue waits for in vain (its worker stalled), if any."""
    waiting = task.applied + 1
    if task.stopped or waiting > task.read or queued_next(task):
        return None
    return waiting if task.worker_of(waiting) in task.stalled else None


@attrs.frozen
class ApplierStep:
    """What the applier does with one entry, and the ids it names (0 where none)."""

    outcome: Outcome
    source_tx_id: int = 0
    target_tx_id: int = 0
    target_table_id: int = 0


def applier_outcome(state: ClusterState, task: RestoreTask, entry: object) -> ApplierStep:
    """What the applier does with ``entry`` (see :class:`~ybstate.restore.state.Outcome`)."""
    if entry.time > task.until_ts:
        return ApplierStep(Outcome.PAST_T)
    freeze_log_id = state.frozen[state.backup_sets[task.set_id].frozen_version].log_id
    if isinstance(entry, MutatorLogged):
        return ApplierStep(Outcome.BUFFERED, source_tx_id=entry.tx_id)
    if isinstance(entry, TransactionCommitted):
        if entry.log_id <= freeze_log_id:
            return ApplierStep(Outcome.IN_BASELINE, source_tx_id=entry.tx_id)
        return ApplierStep(Outcome.APPLIED, source_tx_id=entry.tx_id, target_tx_id=state.next_tx_id)
    if isinstance(entry, TransactionAborted):
        return ApplierStep(Outcome.DROPPED, source_tx_id=entry.tx_id)
    if isinstance(entry, TableCreated | TableDropped) and entry.log_id <= freeze_log_id:
        return ApplierStep(Outcome.IN_BASELINE)  # the set's schema already has it (or not)
    if isinstance(entry, TableCreated | TableDropped) and _not_replayed(state, task, entry):
        return ApplierStep(Outcome.NOT_REPLAYED)
    if isinstance(entry, TableCreated):
        return ApplierStep(Outcome.TABLE_CREATED, target_table_id=state.next_table_id)
    if isinstance(entry, TableDropped):
        return ApplierStep(Outcome.TABLE_DROPPED, target_table_id=task.mapped(entry.table_id).target_table_id)
    return ApplierStep(Outcome.TIME)


def _not_replayed(state: ClusterState, task: RestoreTask, entry: TableCreated | TableDropped) -> bool:
    """Whether the seed's applier leaves a DDL after the freeze alone: every one, with the
    mapping taken once (flaw 7); one it cannot replay, with a mapping out of step (the
    standby has the table's name already, or no live table for the dropped one)."""
    if state.config.protocol.schema_mapping is SchemaMapping.LIVE_SOURCE:
        return True
    if not mapping_may_lag(state):
        return False
    if isinstance(entry, TableCreated):
        return state.table_named(task.target_tenant_id, entry.name) is not None
    mapped = task.mapped(entry.table_id)
    return mapped is None or mapped.dropped


def rewrite_cells(state: ClusterState, task: RestoreTask, cells: tuple[Cell, ...]) -> tuple[Cell, ...]:
    """A transaction's cells with the source table ids rewritten to the standby's. Where
    the seed's flaws put the mapping out of step (:func:`mapping_may_lag`), a cell of a
    table the mapping lacks is left out, as the seed's rewriter does with a table id it
    cannot map; otherwise that is refused."""
    lenient = mapping_may_lag(state)
    rewritten = []
    for cell in cells:
        mapped = task.mapped(cell.table_id)
        if (mapped is None or mapped.dropped) and lenient:
            continue
        if mapped is None or mapped.dropped:
            raise RestoreRejected(
                task.target_name,
                f"restore task {task.task_id} maps no live standby table for source table {cell.table_id}",
            )
        rewritten.append(Cell(table_id=mapped.target_table_id, rowkey=cell.rowkey, value=cell.value))
    return tuple(rewritten)
