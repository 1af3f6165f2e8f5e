"""Run a parsed scenario: steps become actions, actions become events, events are stored.

The whole run happens inside one store transaction: events are appended after each step
(so ``expect`` steps can query them), and if any step fails the transaction is rolled
back, leaving the stored history exactly as it was. Internal choices (the random
transactions of a ``workload`` step) come from the scenario's seed, so a scenario always
produces the same history.
"""

from __future__ import annotations

import decimal
import random
from collections.abc import Callable
from typing import Any

import attrs

from ybstate import dag
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
from ybstate.archive.state import ArchiverStatus
from ybstate.backup.actions import AdvanceBackup, CancelBackup, StartBackup
from ybstate.backup.derive import tablet_of_task
from ybstate.backup.state import BackupPhase
from ybstate.cluster import actions as act
from ybstate.cluster.costs import spoken
from ybstate.cluster.state import ClusterState
from ybstate.errors import (
    ActionRejected,
    ArchiveRejected,
    CompositionError,
    InvalidAction,
    QueryRefused,
    ScenarioFailed,
    SpecError,
    UnknownTable,
    UnknownTenant,
)
from ybstate.model import apply, decide, fingerprint_hex, replay_stored
from ybstate.promote.actions import AdvancePromotion, Decommission, FailPromotionStep, StartPromotion
from ybstate.promote.derive import archived_through, catch_up_target
from ybstate.promote.state import PromotionStatus, PromotionStep
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
    awaited,
    failable,
    pending_of,
    readable,
    released,
    restore_advanceable,
    tablet_of_fetch,
    timed_out,
)
from ybstate.restore.state import RestorePhase
from ybstate.scenario.steps import (
    STEPS,
    ArchiverCrash,
    ArchiverStall,
    ArchiveStartStep,
    ArchiveStopStep,
    BackupStep,
    CreateTableStep,
    DecommissionStep,
    DropTableStep,
    EntryApplyFault,
    ExpectStep,
    FreezeStep,
    MarkStep,
    PromoteStep,
    PromotionStepFault,
    RecycleLogStep,
    RestoreStep,
    Scenario,
    Step,
    TabletCopyFault,
    TabletFetchFault,
    TickStep,
    WorkerStall,
    WorkloadStep,
    WriteStep,
)
from ybstate.store.base import EventStore

__all__ = ["RunResult", "StepOutcome", "run_scenario", "finish_task", "TASK_KINDS"]


def _failure(scenario: Scenario, step: int, kind: str, reason: str, seq: int) -> ScenarioFailed:
    return ScenarioFailed(scenario.path, scenario.seed, step, kind, reason, seq)


class RestoreHangs(Exception):
    """A restore the runner drives can take no step and cannot end: only the seed's flawed
    reorder queues (flaws 2 and 3) get there. The run fails at the step it was driven in."""

    def __init__(self, target: str, why: str) -> None:
        super().__init__(f"the restore into {target!r} hangs: {why}")


@attrs.frozen(kw_only=True)
class StepOutcome:
    number: int
    kind: str
    events: int
    note: str


@attrs.frozen(kw_only=True)
class RunResult:
    scenario: Scenario
    state: ClusterState
    first_seq: int
    outcomes: tuple[StepOutcome, ...]

    @property
    def events(self) -> int:
        return self.state.seq - self.first_seq + 1 if self.state.seq >= self.first_seq else 0


class _Run:
    def __init__(self, scenario: Scenario, store: EventStore, state: ClusterState, query) -> None:
        self.scenario = scenario
        self.store = store
        self.state = state
        self.query = query
        self.tx_ids: dict[str, int] = {}
        self.pending: list[object] = []
        self.background: list[int] = []  # backups started with wait = false, still running
        self.faults: list[_ArmedFault] = []
        self.crashes: dict[int, tuple[int, int]] = {}  # tenant id -> (entries to read, steps down)
        self.held: dict[int, int] = {}  # tenant id -> catch-ups its archiver still sits out
        self.restoring: list[int] = []  # restores started with wait = false, still running
        self.fetch_faults: list[_ArmedFault] = []  # armed tablet_fetch_fail faults
        self.stalls: dict[int, int] = {}  # source tenant id -> worker of its next restore to stall
        self.apply_faults: dict[int, int] = {}  # source tenant id -> entry its next restore fails to apply
        # standby tenant id -> {promotion step: failures still to inject}
        self.promotion_faults: dict[int, dict[PromotionStep, int]] = {}
        self.rng = random.Random(scenario.seed)  # the protocol's internal choices

    def do(self, action: object) -> list[object]:
        events = decide(self.state, action)
        for event in events:
            self.state = apply(self.state, event)
        self.pending.extend(events)
        return events

    def flush(self) -> int:
        count = len(self.pending)
        if self.pending:
            self.store.append(self.pending, fingerprint_hex(self.state))
            self.pending = []
        return count


@attrs.define
class _ArmedFault:
    """A fault step waiting for its moment: the next copies of a matching tablet fail."""

    tenant_id: int
    tablet_ids: frozenset[int] | None  # None: any tablet of the tenant
    remaining: int


RUNNERS: dict[type[Step], Callable[[_Run, Any], str]] = {}


def _runs(cls: type[Step]) -> Callable[[Callable[[_Run, Any], str]], Callable[[_Run, Any], str]]:
    """Register the decorated function as the runner of step class ``cls``; it returns the
    step's note."""

    def register(runner: Callable[[_Run, Any], str]) -> Callable[[_Run, Any], str]:
        RUNNERS[cls] = runner
        return runner

    return register


@_runs(BackupStep)
def _backup(run: _Run, step: BackupStep) -> str:
    destination = step.destination or f"{run.state.config.backup_root}/{step.tenant}"
    action = StartBackup(
        tenant=step.tenant,
        destination=destination,
        frozen_version=step.frozen_version,
        parallel=step.parallel,
    )
    (started,) = run.do(action)
    if not step.wait:
        run.background.append(started.task_id)
        return f"backup task {started.task_id} started (runs in the background)"
    return _drive_backup(run, started.task_id)


def _drive_backup(run: _Run, task_id: int, budget: int | None = None) -> str:
    """Take the backup's internal steps (seeded choices) until it ends, or ``budget`` steps."""
    taken = 0
    while not run.state.backups[task_id].final and (budget is None or taken < budget):
        run.do(_next_backup_action(run, task_id))
        taken += 1
    task = run.state.backups[task_id]
    if not task.final:
        return f"backup task {task_id} {task.phase.value}"
    took = spoken(task.ended_ts - task.started_ts)
    detail = (
        f": {task.error}"
        if task.error
        else f", backup set {task.set_id} (version {task.frozen_version}) in {took}"
    )
    return f"backup task {task_id} {task.phase.value}{detail}"


def _next_backup_action(run: _Run, task_id: int) -> object:
    state = run.state
    task = state.backups[task_id]
    if task.phase is BackupPhase.DOING and not state.dags[task.dag_id].finished:
        graph = state.dags[task.dag_id]
        for name in graph.running_tasks():
            fault = _armed(run.faults, task.tenant_id, tablet_of_task(name))
            if fault is not None:
                fault.remaining -= 1
                if fault.remaining == 0:
                    run.faults.remove(fault)
                return dag.FailTask(
                    dag_id=graph.dag_id, task=name, reason="tablet_copy_fail (scenario fault)"
                )
        return run.rng.choice(dag.enabled_dag(graph, faults=False))
    return AdvanceBackup(task_id=task_id)


def _armed(faults: list[_ArmedFault], tenant_id: int, tablet_id: int) -> _ArmedFault | None:
    for fault in faults:
        if fault.tenant_id == tenant_id and (fault.tablet_ids is None or tablet_id in fault.tablet_ids):
            return fault
    return None


@_runs(ArchiveStartStep)
def _archive_start(run: _Run, step: ArchiveStartStep) -> str:
    destination = step.destination or f"{run.state.config.backup_root}/{step.tenant}"
    (started,) = run.do(
        StartArchive(tenant=step.tenant, destination=destination, start_log_id=step.start_log_id)
    )
    return f"archiving from log id {started.start_log_id} (run {started.run})"


@_runs(ArchiveStopStep)
def _archive_stop(run: _Run, step: ArchiveStopStep) -> str:
    tenant = run.state.tenant_named(step.tenant)
    if tenant is not None and tenant.tenant_id in run.state.archivers and not run.held.get(tenant.tenant_id):
        _catch_up(run, run.state.archivers[tenant.tenant_id])  # archive what came before the stop
    (stopped,) = run.do(StopArchive(tenant=step.tenant))
    return f"archiving stopped, archived through log id {stopped.last_log_id}"


def _catch_up_all(run: _Run) -> None:
    """Background work between steps: every running archiver reads to the end of the log,
    seals what it holds, and persists its progress (a crash fault strikes first)."""
    for tenant_id in sorted(run.state.archivers.keys()):
        archiver = run.state.archivers[tenant_id]
        if archiver.status is ArchiverStatus.RUNNING:
            _catch_up(run, archiver)


def _catch_up(run: _Run, archiver) -> None:
    tenant_id = archiver.tenant_id
    if archiver.status is not ArchiverStatus.RUNNING:
        return
    if run.held.get(tenant_id):  # stalled, or down after a crash
        run.held[tenant_id] -= 1
        return
    _skip_recycled(run, tenant_id)
    if tenant_id in run.crashes and run.state.archivers[tenant_id].next_log_id <= run.state.last_log_id:
        # An armed crash strikes in the first catch-up that has something to read.
        read, down = run.crashes.pop(tenant_id)
        _read(run, tenant_id, read)
        run.do(CrashArchiver(tenant_id=tenant_id))
        if down:
            run.held[tenant_id] = down
            return
        _skip_recycled(run, tenant_id)
    _read(run, tenant_id, None)
    _persist(run, tenant_id)


def _persist(run: _Run, tenant_id: int) -> None:
    """Seal what the open piece holds (a catch-up is the piece's time limit), or persist an
    idle checkpoint when it holds nothing."""
    archiver = run.state.archivers[tenant_id]
    if archiver.piece is not None and archiver.piece.kept:
        run.do(SealPiece(tenant_id=tenant_id))
    elif archiver.next_log_id - 1 > archiver.checkpoint.last_log_id:
        run.do(PersistCheckpoint(tenant_id=tenant_id))


def _skip_recycled(run: _Run, tenant_id: int) -> None:
    """A business-first archiver whose next entry is recycled records the hole and reads on
    from the oldest entry still kept."""
    if run.state.archivers[tenant_id].next_log_id <= run.state.recycled_through:
        _persist(run, tenant_id)
        run.do(SkipRecycledLog(tenant_id=tenant_id))


def _read(run: _Run, tenant_id: int, limit: int | None) -> None:
    """Read up to ``limit`` entries (all when None), sealing each piece that fills up."""
    done = 0
    while limit is None or done < limit:
        archiver = run.state.archivers[tenant_id]
        if archiver.next_log_id > run.state.last_log_id:
            return
        if archiver.piece is not None and archiver.piece.kept >= run.state.config.piece_entries:
            run.do(SealPiece(tenant_id=tenant_id))
            continue
        count = run.state.last_log_id if limit is None else limit - done
        (read,) = run.do(ReadEntries(tenant_id=tenant_id, count=count))
        done += read.last_log_id - read.first_log_id + 1


def _tenant_id(run: _Run, name: str) -> int:
    tenant = run.state.tenant_named(name)
    if tenant is None:
        raise UnknownTenant(name)
    return tenant.tenant_id


@_runs(PromotionStepFault)
def _promotion_step_fault(run: _Run, step: PromotionStepFault) -> str:
    failing = run.promotion_faults.setdefault(_tenant_id(run, step.tenant), {})
    failing[step.step] = failing.get(step.step, 0) + step.times
    return (
        f"armed: step {step.step.value} of the next promotion of {step.tenant!r} fails {step.times} time(s)"
    )


@_runs(WorkerStall)
def _worker_stall(run: _Run, step: WorkerStall) -> str:
    run.stalls[_tenant_id(run, step.tenant)] = step.worker
    return f"armed: worker {step.worker} of the next restore of {step.tenant!r} stalls when it replays"


@_runs(EntryApplyFault)
def _entry_apply_fault(run: _Run, step: EntryApplyFault) -> str:
    run.apply_faults[_tenant_id(run, step.tenant)] = step.entry
    return f"armed: the applier of the next restore of {step.tenant!r} fails to apply entry {step.entry}"


def _running_archiver(run: _Run, step: ArchiverCrash | ArchiverStall, what: str) -> int:
    tenant_id = _tenant_id(run, step.tenant)
    archiver = run.state.archivers.get(tenant_id)
    if archiver is None or archiver.status is not ArchiverStatus.RUNNING:
        raise ArchiveRejected(step.tenant, f"no archiver is running to {what}")
    return tenant_id


@_runs(ArchiverStall)
def _archiver_stall(run: _Run, step: ArchiverStall) -> str:
    # +1: the catch-up right after this step sits out too, and is not one of the steps.
    run.held[_running_archiver(run, step, "stall")] = step.steps + 1
    return f"armed: the archiver reads nothing during the next {step.steps} steps"


@_runs(ArchiverCrash)
def _archiver_crash(run: _Run, step: ArchiverCrash) -> str:
    run.crashes[_running_archiver(run, step, "crash")] = (step.read, step.steps)
    down = f", and stays down for {step.steps} steps" if step.steps else ""
    return f"armed: the archiver crashes after reading {step.read} entries, before sealing them{down}"


def _armed_tablets(run: _Run, step: TabletCopyFault) -> tuple[_ArmedFault, str]:
    tenant_id = _tenant_id(run, step.tenant)
    tablet_ids = None
    target = f"any tablet of tenant {step.tenant!r}"
    if step.table is not None:
        table = run.state.table_named(tenant_id, step.table)
        if table is None:
            raise UnknownTable(step.tenant, step.table)
        chosen = table.tablets if step.tablet is None else table.tablets[step.tablet : step.tablet + 1]
        if not chosen:
            raise InvalidAction(
                f"table {step.table!r} has {len(table.tablets)} tablets, no tablet {step.tablet}"
            )
        tablet_ids = frozenset(t.tablet_id for t in chosen)
        target = f"tablets {sorted(tablet_ids)} of table {step.table!r}"
    return _ArmedFault(tenant_id=tenant_id, tablet_ids=tablet_ids, remaining=step.times), target


@_runs(TabletFetchFault)
def _tablet_fetch_fault(run: _Run, step: TabletFetchFault) -> str:
    armed, target = _armed_tablets(run, step)
    run.fetch_faults.append(armed)
    return f"armed: the next {step.times} restore fetches of {target} fail"


@_runs(TabletCopyFault)
def _tablet_copy_fault(run: _Run, step: TabletCopyFault) -> str:
    armed, target = _armed_tablets(run, step)
    run.faults.append(armed)
    return f"armed: the next {step.times} copy attempts of {target} fail"


@_runs(RestoreStep)
def _restore(run: _Run, step: RestoreStep) -> str:
    action = StartRestore(
        source=step.source,
        target=step.target,
        until=step.until,
        backup_set=step.backup_set,
        workers=step.workers,
        capacity=step.capacity,
    )
    (started,) = run.do(action)
    stalled = run.stalls.get(started.source_tenant_id)
    if stalled is not None and stalled >= started.workers:
        raise InvalidAction(
            f"a worker_stall fault names worker {stalled} of this restore of {step.source!r}, "
            f"which has workers 0..{started.workers - 1}"
        )
    if not step.wait:
        run.restoring.append(started.task_id)
        return f"restore task {started.task_id} started (runs in the background)"
    return _drive_restore(run, started.task_id)


def _drive_restore(run: _Run, task_id: int, budget: int | None = None) -> str:
    """Take the restore's internal steps (seeded choices) until it ends, or ``budget`` steps."""
    taken = 0
    while not run.state.restores[task_id].final and (budget is None or taken < budget):
        run.do(_next_restore_action(run, task_id))
        taken += 1
    task = run.state.restores[task_id]
    if not task.final:
        return f"restore task {task_id} {task.phase.value}"
    if task.error:
        return f"restore task {task_id} {task.phase.value}: {task.error}"
    return (
        f"restore task {task_id} {task.phase.value}: standby {task.target_name!r} restored to "
        f"{task.until_ts} (backup set {task.set_id}, {task.applied} of {task.entries} archived entries, "
        f"{task.applied_txns} transaction{'' if task.applied_txns == 1 else 's'} applied) "
        f"in {spoken(task.ended_ts - task.started_ts)}"
    )


def _next_restore_action(run: _Run, task_id: int) -> object:
    state = run.state
    task = state.restores[task_id]
    if task.phase is RestorePhase.RESTORING_BASELINE and task.dag_id and not state.dags[task.dag_id].finished:
        graph = state.dags[task.dag_id]
        for name in graph.running_tasks():
            fault = _armed(run.fetch_faults, task.source_tenant_id, tablet_of_fetch(name))
            if fault is not None:
                fault.remaining -= 1
                if fault.remaining == 0:
                    run.fetch_faults.remove(fault)
                return dag.FailTask(
                    dag_id=graph.dag_id, task=name, reason="tablet_fetch_fail (scenario fault)"
                )
        return run.rng.choice(dag.enabled_dag(graph, faults=False))
    if task.phase is RestorePhase.RESTORING_INCREMENTAL and not restore_advanceable(state, task):
        worker = run.stalls.get(task.source_tenant_id)
        if worker is not None and worker < task.workers:
            del run.stalls[task.source_tenant_id]
            return StallWorker(task_id=task_id, worker=worker)
        failing = _failing_entry(run, task)
        if failing is not None and failable(state, task) == failing:
            del run.apply_faults[task.source_tenant_id]
            return FailApply(task_id=task_id)
        choices: list[object] = []
        if readable(state, task):
            choices.append(ReadArchived(task_id=task_id))
        choices.extend(
            RewriteEntry(task_id=task_id, worker=w)
            for w in range(task.workers)
            if w not in task.stalled and pending_of(task, w) is not None
        )
        if released(state, task) is not None:
            choices.append(ApplyEntry(task_id=task_id))
        if choices:
            return run.rng.choice(choices)
        if timed_out(task) is not None:  # only the entry a stalled worker holds is missing
            return TimeOutRestore(task_id=task_id)
        # Only the seed's flawed queues (reorder_by_log_id, drop_when_queue_full) get here
        raise RestoreHangs(task.target_name, f"its applier {awaited(state, task)}, and nothing can happen")
    return AdvanceRestore(task_id=task_id)


def _failing_entry(run: _Run, task) -> int | None:
    """The entry an armed entry_apply_fail fault makes the restore's applier fail on, if
    any; refused when the restore applies fewer entries than that, or not that one."""
    entry = run.apply_faults.get(task.source_tenant_id)
    if entry is None:
        return None
    source = run.state.tenants[task.source_tenant_id].name
    entries = run.state.restore_entries[task.task_id]
    before_t = sum(1 for e in entries if e.time <= task.until_ts)
    if entry > before_t:
        raise InvalidAction(
            f"an entry_apply_fail fault names entry {entry} of this restore of {source!r}, "
            f"which applies {before_t} archived entr{'y' if before_t == 1 else 'ies'} before T"
        )
    return entry


@_runs(PromoteStep)
def _promote(run: _Run, step: PromoteStep) -> str:
    action = StartPromotion(
        standby=step.standby, primary=step.primary, verify=step.verify, catch_up=step.catch_up
    )
    (started,) = run.do(action)
    return _drive_promotion(run, started.promotion_id, run.promotion_faults.get(started.standby_id, {}))


def _drive_promotion(run: _Run, promotion_id: int, faults: dict[PromotionStep, int]) -> str:
    """Take the promotion's steps to its end, failing those ``faults`` names."""
    while not run.state.promotions[promotion_id].final:
        task = run.state.promotions[promotion_id]
        if faults.get(task.next_step):
            faults[task.next_step] -= 1
            run.do(
                FailPromotionStep(
                    promotion_id=promotion_id, reason=f"{task.next_step.value} failed (scenario fault)"
                )
            )
            continue
        if task.next_step is PromotionStep.CATCH_UP and archived_through(run.state, task) < catch_up_target(
            run.state, task
        ):
            archiver = run.state.archivers.get(task.primary_id)
            if (
                archiver is not None
                and archiver.status is ArchiverStatus.RUNNING
                and not run.held.get(task.primary_id)
            ):
                _catch_up(run, archiver)  # the catch-up waits for archiving to reach the last commit
        run.do(AdvancePromotion(promotion_id=promotion_id))
    task = run.state.promotions[promotion_id]
    if task.status in (PromotionStatus.ROLLED_BACK, PromotionStatus.STOPPED):
        return f"promotion {promotion_id} {task.status.value}: {task.error}"
    lost = f"lost transactions {list(task.lost)}" if task.lost else "nothing lost"
    return (
        f"promotion {promotion_id} COMPLETED: {task.primary_name!r} is tenant {task.standby_id} "
        f"(the old primary is {run.state.tenants[task.primary_id].name!r}); {lost}; "
        f"downtime {spoken(task.ended_ts - task.fenced_ts)}"
    )


@_runs(DecommissionStep)
def _decommission(run: _Run, step: DecommissionStep) -> str:
    run.do(Decommission(tenant=step.tenant, read_only=step.read_only))
    return f"tenant {step.tenant!r} {'read-only' if step.read_only else 'removed'}"


@_runs(RecycleLogStep)
def _recycle_log(run: _Run, step: RecycleLogStep) -> str:
    (event,) = run.do(RecycleLog(through=step.through))
    return f"log recycled through log id {event.through}"


@_runs(WriteStep)
def _write(run: _Run, step: WriteStep) -> str:
    changes = tuple(act.Put(table=t, key=k, value=v) for t, k, v in step.put) + tuple(
        act.Put(table=t, key=k, value=None) for t, k in step.delete
    )
    tx = run.tx_ids.get(step.tx) if step.tx is not None else None
    if changes:
        (event,) = run.do(act.Write(tenant=step.tenant, tx=tx, changes=changes))
        tx = event.tx_id
        if step.tx is not None:
            run.tx_ids[step.tx] = tx
    if step.end == "commit":
        run.do(act.Commit(tx=tx))
    elif step.end == "abort":
        run.do(act.Abort(tx=tx))
    outcome = {"commit": "committed", "abort": "aborted", "open": "left open"}[step.end]
    return f"transaction {tx} {outcome}"


@_runs(WorkloadStep)
def _workload(run: _Run, step: WorkloadStep) -> str:
    rng = random.Random(run.scenario.seed * 1_000_003 + step.number)
    keys = [f"k{i}" for i in range(step.keys)]
    open_tx: dict[int, int] = {}  # tx id -> cells still to write
    started = committed = aborted = 0
    while started < step.transactions or open_tx:
        can_start = started < step.transactions and len(open_tx) < step.concurrency
        if can_start and (not open_tx or rng.random() < 0.5):
            tx, left = None, rng.randint(1, step.ops)
            started += 1
        else:
            tx = rng.choice(sorted(open_tx))
            left = open_tx[tx]
            if left == 0:
                del open_tx[tx]
                if rng.random() < step.abort_ratio:
                    run.do(act.Abort(tx=tx))
                    aborted += 1
                else:
                    run.do(act.Commit(tx=tx))
                    committed += 1
                continue
        table = rng.choice(step.tables)
        key = rng.choice(keys)
        if rng.random() < step.delete_ratio:
            value = None
        else:
            value = f"s{step.number}-{started}-{rng.randrange(1 << 30):08x}"
        (event,) = run.do(
            act.Write(tenant=step.tenant, tx=tx, changes=(act.Put(table=table, key=key, value=value),))
        )
        open_tx[event.tx_id] = left - 1
    return f"{committed} committed, {aborted} aborted"


def _normalise(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, tuple | list):
        return [_normalise(v) for v in value]
    return value


@_runs(ExpectStep)
def _expect(run: _Run, step: ExpectStep) -> str:
    run.flush()
    if run.query is None:
        raise SpecError(run.scenario.path, step.number, "expect steps need a DuckDB store to query")
    try:
        rows = [_normalise(row) for row in run.query(step.sql)]
    except QueryRefused as error:
        raise SpecError(run.scenario.path, step.number, f"expect: {error}") from None
    wanted = step.equals
    if isinstance(wanted, list):
        found: Any = rows
        wanted = [_normalise(row) if isinstance(row, list) else [row] for row in wanted]
    else:
        if len(rows) != 1 or len(rows[0]) != 1:
            raise _failure(
                run.scenario,
                step.number,
                "expect",
                f"expected a single value {wanted!r}, the query returned {rows!r}",
                run.state.seq,
            )
        found = rows[0][0]
    if found != wanted:
        message = f" ({step.message})" if step.message else ""
        raise _failure(
            run.scenario,
            step.number,
            "expect",
            f"expected {wanted!r}, found {found!r}{message}; query: {step.sql}",
            run.state.seq,
        )
    return f"holds: {found!r}"


@_runs(CreateTableStep)
def _create_table(run: _Run, step: CreateTableStep) -> str:
    run.do(act.CreateTable(tenant=step.tenant, table=step.table, tablets=step.tablets))
    return f"table {step.table!r} created with {step.tablets} tablets"


@_runs(DropTableStep)
def _drop_table(run: _Run, step: DropTableStep) -> str:
    run.do(act.DropTable(tenant=step.tenant, table=step.table))
    return f"table {step.table!r} dropped"


@_runs(FreezeStep)
def _freeze(run: _Run, step: FreezeStep) -> str:
    (event,) = run.do(act.Freeze())
    return f"frozen version {event.version} at log id {event.log_id}"


@_runs(TickStep)
def _tick(run: _Run, step: TickStep) -> str:
    run.do(act.Tick(micros=step.micros))
    return f"clock at {run.state.clock}"


@_runs(MarkStep)
def _mark(run: _Run, step: MarkStep) -> str:
    (event,) = run.do(act.Mark(name=step.name))
    return f"mark {step.name!r} = {event.ts}"


_UNRUN = set(STEPS) ^ set(RUNNERS)
if _UNRUN:  # the registry and the runners must name the same step kinds
    raise CompositionError(
        f"step kinds without a runner, or runners of no step kind: {sorted(c.__name__ for c in _UNRUN)}"
    )


def run_scenario(
    scenario: Scenario,
    store: EventStore,
    *,
    query: Callable[[str], list[tuple]] | None = None,
    on_step: Callable[[StepOutcome], None] | None = None,
) -> RunResult:
    """Run ``scenario`` after whatever ``store`` already holds; all or nothing.

    ``query`` runs SQL over the store (for ``expect`` steps); ``on_step`` sees each step's
    outcome as it finishes.
    """
    with store.transaction():
        stored = store.load()
        state = replay_stored(stored)
        run = _Run(scenario, store, state, query)
        first_seq = state.seq + 1
        try:
            _start(run)
        except ActionRejected as refusal:  # the parser checks what it can; the model has the last word
            raise SpecError(
                scenario.path, None, f"the cluster and tenants cannot be set up: {refusal}"
            ) from None
        run.flush()
        outcomes = []
        for step in scenario.steps:
            kind = step.kind
            before = len(run.pending)
            checkpoint = run.state
            try:
                note = RUNNERS[type(step)](run, step)
            except RestoreHangs as hang:
                raise _failure(scenario, step.number, kind, str(hang), run.state.seq) from None
            except ActionRejected as refusal:
                if not step.expect_rejected:
                    raise _failure(
                        scenario, step.number, kind, f"rejected: {refusal}", run.state.seq
                    ) from refusal
                # A step rejected as expected leaves no trace, even if it had partly run.
                run.state = checkpoint
                del run.pending[before:]
                note = f"rejected as expected: {refusal}"
            else:
                if step.expect_rejected:
                    raise _failure(
                        scenario,
                        step.number,
                        kind,
                        "accepted, but the scenario expects it to be rejected",
                        run.state.seq,
                    )
            try:
                _advance_background(run)
            except RestoreHangs as hang:
                raise _failure(scenario, step.number, kind, str(hang), run.state.seq) from None
            if kind != "expect":
                _catch_up_all(run)
            count = run.flush() if kind != "expect" else 0
            outcome = StepOutcome(number=step.number, kind=kind, events=count, note=note)
            outcomes.append(outcome)
            if on_step is not None:
                on_step(outcome)
        for task_id in list(run.background):
            _drive_backup(run, task_id)
        run.background.clear()
        for task_id in list(run.restoring):
            try:
                _drive_restore(run, task_id)
            except RestoreHangs as hang:
                last = scenario.steps[-1] if scenario.steps else None
                number, kind = (last.number, last.kind) if last else (0, "start")
                why = f"after the last step, {hang}"
                raise _failure(scenario, number, kind, why, run.state.seq) from None
        run.restoring.clear()
        run.flush()
        return RunResult(scenario=scenario, state=run.state, first_seq=first_seq, outcomes=tuple(outcomes))


def _advance_background(run: _Run) -> None:
    """Background backups and restores take one internal step after each scenario step."""
    for task_id in list(run.background):
        _drive_backup(run, task_id, budget=1)
        if run.state.backups[task_id].final:
            run.background.remove(task_id)
    for task_id in list(run.restoring):
        _drive_restore(run, task_id, budget=1)
        if run.state.restores[task_id].final:
            run.restoring.remove(task_id)


def _start(run: _Run) -> None:
    scenario = run.scenario
    if run.state.seq == 0:
        run.do(act.Start(config=scenario.cluster))
    elif run.state.config != scenario.cluster:
        raise SpecError(
            scenario.path,
            None,
            f"[cluster] differs from the stored history's: stored {run.state.config}, "
            f"scenario {scenario.cluster}",
        )
    for tenant in scenario.tenants:
        if run.state.tenant_named(tenant.name) is not None:
            raise SpecError(
                scenario.path,
                None,
                f"tenant {tenant.name!r} already exists in the stored history; "
                "use another --db or another tenant name, or run --fresh to replace the history",
            )
        run.do(act.CreateTenant(name=tenant.name, log_retention=tenant.log_retention))
        for table, tablets in tenant.tables:
            run.do(act.CreateTable(tenant=tenant.name, table=table, tablets=tablets))


TASK_KINDS = ("backup", "restore", "promotion")


def finish_task(store: EventStore, kind: str, task_id: int, *, cancel: bool = False) -> str:
    """Drive a task that was started without waiting (``ybstate call`` without ``--wait``) to
    its end, as the scenario step of its kind would, with seed 0; or cancel it (backups and
    restores). All or nothing; returns the note a scenario step would print.

    Raises :class:`SpecError` for a task that does not exist, and the model's refusal
    (an :class:`ActionRejected`) for one that is over or cannot be cancelled."""
    path = f"<ybstate task {kind} {task_id}>"
    with store.transaction():
        state = replay_stored(store.load())
        tasks = {"backup": state.backups, "restore": state.restores, "promotion": state.promotions}[kind]
        if task_id not in tasks:
            raise SpecError(path, None, f"there is no {kind} {task_id} (there are: {sorted(tasks)})")
        scenario = Scenario(path=path, name=kind, seed=0, cluster=state.config, tenants=(), steps=())
        run = _Run(scenario, store, state, None)
        if tasks[task_id].final:
            raise InvalidAction(f"{kind} {task_id} is over already")
        if cancel:
            if kind == "promotion":
                raise InvalidAction("a promotion cannot be cancelled; a failed step rolls it back")
            run.do(CancelBackup(task_id=task_id) if kind == "backup" else CancelRestore(task_id=task_id))
            note = f"{kind} {task_id} cancelled"
        elif kind == "backup":
            note = _drive_backup(run, task_id)
        elif kind == "restore":
            note = _drive_restore(run, task_id)
        else:
            note = _drive_promotion(run, task_id, {})
        run.flush()
        return note
