"""The exception tree of ybstate.

Every error raised on purpose by ybstate derives from :class:`YbstateError` and carries
the offending values as attributes as well as in its message, so a caller can both
print it and act on it.
"""

from __future__ import annotations

import enum

__all__ = [
    "ResultCode",
    "YbstateError",
    "ActionRejected",
    "UnknownTenant",
    "UnknownTable",
    "UnknownTransaction",
    "DuplicateName",
    "CrossTenantTransaction",
    "TenantNotWritable",
    "TableBusy",
    "InvalidAction",
    "EventOutOfOrder",
    "SpecError",
    "StoreError",
    "ForeignDatabase",
    "QueryRefused",
    "HistoryInvalid",
    "HistoryTampered",
    "ExplorationError",
    "ActionNotEnabled",
    "InvalidParameter",
    "EnabledActionFailed",
    "CounterexampleNotReproduced",
    "NoFrozenVersion",
    "BackupInProgress",
    "DestinationNotAllowed",
    "UnknownBackup",
    "VersionPinned",
    "ArchiveRejected",
    "StartLogRecycled",
    "RecycleRejected",
    "RestoreRejected",
    "UnknownRestore",
    "PromotionRejected",
    "IllegalTransition",
    "NotReady",
    "BackupNotReady",
    "RestoreNotReady",
    "TraceInvalid",
    "ScenarioFailed",
    "CompositionError",
]


class ResultCode(enum.IntEnum):
    """The result code a command answers with (OceanBase's numbers where it has one; the
    backup-specific ones are this model's own, listed in docs/commands.md). A refusal's
    code is a class attribute of its error, ``code``."""

    OB_SUCCESS = 0
    OB_INVALID_ARGUMENT = -4002
    OB_PERMISSION_DENIED = -4009
    OB_ENTRY_NOT_EXIST = -4018
    OB_EAGAIN = -4023
    OB_TENANT_NOT_EXIST = -5150
    OB_BACKUP_NO_FROZEN_VERSION = -9001
    OB_BACKUP_IN_PROGRESS = -9002
    OB_BACKUP_DEST_NOT_ALLOWED = -9003
    OB_BACKUP_TASK_NOT_EXIST = -9004
    OB_ARCHIVE_REJECTED = -9010
    OB_ARCHIVE_LOG_RECYCLED = -9011
    OB_RESTORE_REJECTED = -9020
    OB_RESTORE_TASK_NOT_EXIST = -9021
    OB_PROMOTION_REJECTED = -9030


class YbstateError(Exception):
    """Root of every error ybstate raises on purpose."""


class ActionRejected(YbstateError):
    """`decide` refused an action; the state it was given is unchanged. ``code`` is the
    result code a command answers with for it."""

    code: ResultCode = ResultCode.OB_INVALID_ARGUMENT


class UnknownTenant(ActionRejected, LookupError):
    code = ResultCode.OB_TENANT_NOT_EXIST

    def __init__(self, tenant: str | int) -> None:
        self.tenant = tenant
        super().__init__(f"unknown tenant {tenant!r}")


class UnknownTable(ActionRejected, LookupError):
    def __init__(self, tenant: str, table: str | int) -> None:
        self.tenant = tenant
        self.table = table
        super().__init__(f"tenant {tenant!r} has no table {table!r}")


class UnknownTransaction(ActionRejected, LookupError):
    def __init__(self, tx_id: int, why: str = "is not open") -> None:
        self.tx_id = tx_id
        super().__init__(f"transaction {tx_id} {why}")


class DuplicateName(ActionRejected, ValueError):
    def __init__(self, kind: str, name: str, where: str = "") -> None:
        self.kind = kind
        self.name = name
        super().__init__(f"{kind} {name!r} already exists{where}")


class CrossTenantTransaction(ActionRejected):
    def __init__(self, tx_id: int | None, tx_tenant: str, table: str, table_tenant: str) -> None:
        self.tx_id = tx_id
        self.tx_tenant = tx_tenant
        self.table = table
        self.table_tenant = table_tenant
        which = "a new transaction" if tx_id is None else f"transaction {tx_id}"
        super().__init__(
            f"{which} of tenant {tx_tenant!r} may not touch table {table!r} "
            f"of tenant {table_tenant!r}: a transaction touches one tenant only"
        )


class TenantNotWritable(ActionRejected):
    def __init__(self, tenant: str, status: str) -> None:
        self.tenant = tenant
        self.status = status
        super().__init__(f"tenant {tenant!r} does not accept writes (status {status})")


class TableBusy(ActionRejected):
    def __init__(self, tenant: str, table: str, tx_ids: tuple[int, ...]) -> None:
        self.tenant = tenant
        self.table = table
        self.tx_ids = tx_ids
        super().__init__(
            f"table {table!r} of tenant {tenant!r} cannot be dropped while "
            f"open transactions {list(tx_ids)} write to it"
        )


class ActionNotEnabled(ActionRejected):
    """The action's guard is false in the state it was decided in."""

    code = ResultCode.OB_EAGAIN

    def __init__(self, action: object, why: str) -> None:
        self.action = action
        self.why = why
        super().__init__(f"{action!r} is not enabled: {why}")


class InvalidAction(ActionRejected, ValueError):
    """An action whose own fields are malformed (empty write, negative tick, ...)."""


class EventOutOfOrder(YbstateError, ValueError):
    """`apply` was given an event that cannot follow the state (wrong seq, log id or time)."""

    def __init__(self, what: str, expected: object, found: object) -> None:
        self.what = what
        self.expected = expected
        self.found = found
        super().__init__(f"event out of order: expected {what} {expected!r}, found {found!r}")


class SpecError(YbstateError, ValueError):
    """A scenario file is malformed; nothing was written."""

    def __init__(self, path: str, step: int | None, message: str) -> None:
        self.path = path
        self.step = step
        self.detail = message
        where = f"{path}" if step is None else f"{path}, step {step}"
        super().__init__(f"{where}: {message}")


class StoreError(YbstateError):
    """An event store could not be opened, read or written."""


class QueryRefused(StoreError):
    """A user's SQL that ybstate will not run: it is not one statement that reads, or it
    does not parse, or it fails. Nothing was read or written outside the history."""

    def __init__(self, why: str, *, ran: bool = False) -> None:
        self.why = why
        self.ran = ran  # it was one statement that reads, and failed as it ran
        super().__init__(f"query {'failed' if ran else 'refused'}: {why}")


class ForeignDatabase(StoreError):
    def __init__(self, path: str, why: str) -> None:
        self.path = path
        super().__init__(f"{path} is not a ybstate history ({why}); refusing to touch it")


class InvalidParameter(YbstateError, ValueError):
    """A driver or a model was configured with a value it cannot work with."""

    def __init__(self, name: str, value: object, why: str) -> None:
        self.name = name
        self.value = value
        self.why = why
        super().__init__(f"{name}={value!r}: {why}")


class ExplorationError(YbstateError):
    """The explorer or the simulator could not do its job."""


class EnabledActionFailed(ExplorationError):
    """A model bug: ``decide`` or ``apply`` raised for an action ``enabled`` had offered.

    ``path`` is the actions from the start state to the state the action was offered in,
    so the failure can be replayed.
    """

    def __init__(
        self, action: object, depth: int, stage: str, cause: BaseException, path: tuple = ()
    ) -> None:
        self.action = action
        self.depth = depth
        self.stage = stage
        self.cause = cause
        self.path = path
        super().__init__(
            f"model bug: enabled offered {action!r} in a state at depth {depth}, but {stage} "
            f"raised {type(cause).__name__}: {cause}"
        )


class CounterexampleNotReproduced(ExplorationError):
    """Replaying a counterexample did not lead to a state that breaks its invariant."""

    def __init__(self, invariant: str, step: int, why: str) -> None:
        self.invariant = invariant
        self.step = step
        self.why = why
        super().__init__(f"counterexample for {invariant} does not reproduce at step {step}: {why}")


class NoFrozenVersion(ActionRejected):
    """A backup needs a frozen version that does not exist (or was dropped)."""

    code = ResultCode.OB_BACKUP_NO_FROZEN_VERSION

    def __init__(self, tenant: str, requested: int, newest: int) -> None:
        self.tenant = tenant
        self.requested = requested
        self.newest = newest
        if newest == 0:
            why = "the cluster has no frozen version yet (freeze first)"
        else:
            why = f"frozen version {requested} does not exist or was dropped (newest is {newest})"
        super().__init__(f"cannot back up tenant {tenant!r}: {why}")


class BackupInProgress(ActionRejected):
    code = ResultCode.OB_BACKUP_IN_PROGRESS

    def __init__(self, tenant: str, task_id: int) -> None:
        self.tenant = tenant
        self.task_id = task_id
        super().__init__(f"tenant {tenant!r} already has backup task {task_id} running")


class DestinationNotAllowed(ActionRejected, ValueError):
    code = ResultCode.OB_BACKUP_DEST_NOT_ALLOWED

    def __init__(self, destination: str, root: str) -> None:
        self.destination = destination
        self.root = root
        super().__init__(f"backup destination {destination!r} is outside the allowed root {root!r}")


class UnknownBackup(ActionRejected, LookupError):
    code = ResultCode.OB_BACKUP_TASK_NOT_EXIST

    def __init__(self, task_id: int, why: str = "does not exist") -> None:
        self.task_id = task_id
        super().__init__(f"backup task {task_id} {why}")


class VersionPinned(ActionRejected):
    def __init__(self, version: int, holders: tuple[int, ...]) -> None:
        self.version = version
        self.holders = holders
        super().__init__(
            f"frozen version {version} cannot be dropped: "
            f"backup tasks {list(holders)} still read its SSTables"
        )


# -- the DAG scheduler (ybstate.dag) ----------------------------------------------------------

__all__ += [
    "CyclicPlan",
    "InvalidPlan",
    "UnknownDag",
    "UnknownDagTask",
    "DagTaskInWrongState",
    "DagWorkersBusy",
    "DagNotRunning",
]


def _plan_name(dag_id: int | None) -> str:
    return "the plan" if dag_id is None else f"the plan of DAG {dag_id}"


class CyclicPlan(ActionRejected, ValueError):
    """A DAG submission whose edges close a cycle; ``cycle`` lists the edges around it."""

    def __init__(self, cycle: list[tuple[str, str]], dag_id: int | None = None) -> None:
        self.cycle = cycle
        self.dag_id = dag_id
        path = " -> ".join([cycle[0][0], *(head for _, head in cycle)]) if cycle else "?"
        super().__init__(f"{_plan_name(dag_id)} has a cycle {path} (edges {cycle})")


class InvalidPlan(InvalidAction):
    """A DAG submission that is malformed: repeated or unknown task names, a repeated edge,
    workers < 1, retries < 0, a DAG id already in use."""

    def __init__(self, what: str, value: object, why: str, dag_id: int | None = None) -> None:
        self.what = what
        self.value = value
        self.why = why
        self.dag_id = dag_id
        super().__init__(f"{_plan_name(dag_id)} is rejected: {what} {value!r} {why}")


class UnknownDag(ActionRejected, LookupError):
    def __init__(self, dag_id: int) -> None:
        self.dag_id = dag_id
        super().__init__(f"unknown DAG {dag_id!r}")


class UnknownDagTask(InvalidAction, LookupError):
    def __init__(self, dag_id: int, task: str) -> None:
        self.dag_id = dag_id
        self.task = task
        super().__init__(f"DAG {dag_id} has no task {task!r}")


class DagTaskInWrongState(ActionNotEnabled):
    """A task action for a task whose state does not allow it (start a pending task, ...)."""

    def __init__(self, action: object, dag_id: int, task: str, state: object, needed: tuple) -> None:
        self.dag_id = dag_id
        self.task = task
        self.state = state
        self.needed = needed
        names = " or ".join(getattr(s, "value", str(s)) for s in needed)
        current = getattr(state, "value", state)
        super().__init__(action, f"task {task!r} of DAG {dag_id} is {current}; it must be {names}")


class DagWorkersBusy(ActionNotEnabled):
    """A task would start while all ``workers`` slots of its DAG are taken."""

    def __init__(self, action: object, dag_id: int, workers: int, running: int) -> None:
        self.dag_id = dag_id
        self.workers = workers
        self.running = running
        super().__init__(action, f"DAG {dag_id} already runs {running} tasks, its limit is {workers}")


class DagNotRunning(ActionNotEnabled):
    """An action for a DAG that has already finished (succeeded, failed or cancelled)."""

    def __init__(self, action: object, dag_id: int, status: object) -> None:
        self.dag_id = dag_id
        self.status = status
        super().__init__(action, f"DAG {dag_id} has finished ({getattr(status, 'value', status)})")


class ArchiveRejected(ActionRejected):
    """A request about log archiving that cannot be honoured, with the reason."""

    code = ResultCode.OB_ARCHIVE_REJECTED

    def __init__(self, tenant: str, why: str) -> None:
        self.tenant = tenant
        self.why = why
        super().__init__(f"log archiving of tenant {tenant!r}: {why}")


class StartLogRecycled(ArchiveRejected):
    """Archiving would start at a log id the transaction server has already recycled."""

    code = ResultCode.OB_ARCHIVE_LOG_RECYCLED

    def __init__(self, tenant: str, start_log_id: int, recycled_through: int) -> None:
        self.start_log_id = start_log_id
        self.recycled_through = recycled_through
        super().__init__(
            tenant,
            f"start log id {start_log_id} is already recycled "
            f"(the log is kept from log id {recycled_through + 1})",
        )


class RecycleRejected(ActionRejected):
    """The transaction server may not recycle the log that far, and why."""

    def __init__(self, through: int, limit: int, why: str) -> None:
        self.through = through
        self.limit = limit
        self.why = why
        super().__init__(f"cannot recycle the log through log id {through}: {why}")


class RestoreRejected(ActionRejected):
    """A restore that cannot be done as asked, with the reason and the values."""

    code = ResultCode.OB_RESTORE_REJECTED

    def __init__(self, tenant: object, why: str) -> None:
        self.tenant = tenant
        self.why = why
        super().__init__(f"restore of tenant {tenant!r}: {why}")


class UnknownRestore(ActionRejected, LookupError):
    code = ResultCode.OB_RESTORE_TASK_NOT_EXIST

    def __init__(self, task_id: object, why: str = "does not exist") -> None:
        self.task_id = task_id
        super().__init__(f"restore task {task_id!r} {why}")


class PromotionRejected(ActionRejected):
    """A promotion or decommission that cannot be done, with the reason."""

    code = ResultCode.OB_PROMOTION_REJECTED

    def __init__(self, tenant: object, why: str) -> None:
        self.tenant = tenant
        self.why = why
        super().__init__(f"promotion / decommission of {tenant!r}: {why}")


class IllegalTransition(EventOutOfOrder):
    """A lifecycle table (ybstate.kernel.Lifecycle) has no move for this event in this
    phase: one shape for transactions, DAG tasks, backups, restores and promotions."""

    def __init__(self, subject: str, phase: str, event: str, legal: tuple[str, ...]) -> None:
        self.what = f"for {subject} in phase {phase} one of"
        self.expected = list(legal) or ["nothing"]
        self.found = event
        self.subject = subject
        self.phase = phase
        self.event = event
        self.legal = legal
        YbstateError.__init__(
            self,
            f"event out of order: {event} cannot happen to {subject} in phase {phase}; "
            f"legal there: {', '.join(legal) or 'nothing'}",
        )


class NotReady(ActionNotEnabled):
    """The task an action is about exists and runs, but the action must wait: for another
    phase, for an entry, for a worker. ``phase`` is the task's phase, ``awaited`` what it
    waits for (or why the action has nothing to do now)."""

    def __init__(self, subject: str, phase: str, awaited: str) -> None:
        self.subject = subject
        self.phase = phase
        self.awaited = awaited
        self.action = None
        self.why = awaited
        YbstateError.__init__(self, f"{subject} {awaited}")


class BackupNotReady(NotReady):
    def __init__(self, task_id: int, phase: str, awaited: str) -> None:
        self.task_id = task_id
        super().__init__(f"backup task {task_id}", phase, awaited)


class RestoreNotReady(NotReady):
    def __init__(self, task_id: int, phase: str, awaited: str) -> None:
        self.task_id = task_id
        super().__init__(f"restore task {task_id}", phase, awaited)


class TraceInvalid(YbstateError):
    """A recorded event is not what ``decide`` makes of the request behind it."""

    def __init__(self, seq: int, why: str) -> None:
        self.seq = seq
        self.why = why
        super().__init__(f"event seq {seq}: {why}")


class HistoryInvalid(StoreError):
    """A stored event that cannot be read or applied: its seq, its type, and why."""

    def __init__(self, seq: int, event_type: str, why: str) -> None:
        self.seq = seq
        self.event_type = event_type
        self.why = why
        super().__init__(f"event seq {seq} ({event_type}): {why}")


class HistoryTampered(StoreError):
    """The stored rows are not the ones appended: the digest chain breaks (names the seq)."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(f"the stored history was changed after it was written: {problem}")


class ScenarioFailed(YbstateError):
    """A scenario step was rejected unexpectedly, accepted when it should not be, or an
    expect step did not hold; nothing of the run was stored."""

    def __init__(self, path: str, seed: int, step: int, kind: str, reason: str, seq: int) -> None:
        self.path = path
        self.seed = seed
        self.step = step
        self.kind = kind
        self.reason = reason
        self.seq = seq
        super().__init__(
            f"{path}, step {step} ({kind}): {reason} [seed {seed}, last event seq {seq}; nothing was stored]"
        )


class CompositionError(YbstateError):
    """Subsystems that do not fit together: two claim the same action, event or tag, or an
    event lacks a handler, a tag or a trace request. Raised when the model is composed."""
