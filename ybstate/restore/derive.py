"""What restores derive from the state, shared by ``decide``, ``apply``, ``enabled`` and
the scenario runner: baseline fetch task names, which entry a worker rewrites next,
whether a task can take its next step, the entry a stalled worker holds past the
timeout, and what the applier does with the next entry. Pure."""

from __future__ import annotations

import attrs

from ybstate.cluster.events import (
    MutatorLogged,
    TableCreated,
    TableDropped,
    TransactionAborted,
    TransactionCommitted,
)
from ybstate.cluster.state import Cell, ClusterState
from ybstate.errors import RestoreRejected
from ybstate.restore.state import Outcome, RestorePhase, RestoreTask

__all__ = [
    "ApplierStep",
    "applier_outcome",
    "fetch_task_name",
    "pending_of",
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
    """The oldest entry ``worker`` holds and has not rewritten yet, if any."""
    first = task.applied + 1 + (worker - task.applied) % task.workers
    for entry_seq in range(first, task.read + 1, task.workers):
        if entry_seq not in task.rewritten:
            return entry_seq
    return None


def restore_advanceable(state: ClusterState, task: RestoreTask) -> bool:
    """Whether :class:`~ybstate.restore.actions.AdvanceRestore` would be accepted now."""
    if task.final:
        return False
    if task.phase is RestorePhase.RESTORING_BASELINE:
        return not task.dag_id or state.dags[task.dag_id].finished
    if task.phase is RestorePhase.RESTORING_INCREMENTAL:
        return task.stopped or task.applied == task.entries
    return True


def timed_out(task: RestoreTask) -> int | None:
    """The entry the reorder queue waits for in vain (its worker stalled), if any."""
    waiting = task.applied + 1
    if task.stopped or waiting > task.read or waiting in task.rewritten:
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
    if isinstance(entry, TableCreated):
        return ApplierStep(Outcome.TABLE_CREATED, target_table_id=state.next_table_id)
    if isinstance(entry, TableDropped):
        return ApplierStep(Outcome.TABLE_DROPPED, target_table_id=task.mapped(entry.table_id).target_table_id)
    return ApplierStep(Outcome.TIME)


def rewrite_cells(task: RestoreTask, cells: tuple[Cell, ...]) -> tuple[Cell, ...]:
    """A transaction's cells with the source table ids rewritten to the standby's."""
    rewritten = []
    for cell in cells:
        mapped = task.mapped(cell.table_id)
        if mapped is None or mapped.dropped:
            raise RestoreRejected(
                task.target_name,
                f"restore task {task.task_id} maps no live standby table for source table {cell.table_id}",
            )
        rewritten.append(Cell(table_id=mapped.target_table_id, rowkey=cell.rowkey, value=cell.value))
    return tuple(rewritten)
