"""``decide`` for promotion and decommission. Pure; refusals raise PromotionRejected."""

from __future__ import annotations

from collections.abc import Callable

from ybstate.cluster.actions import Abort, CreateTable, DropTable
from ybstate.cluster.events import (
    MutatorLogged,
    TableCreated,
    TableDropped,
    TransactionAborted,
    TransactionCommitted,
)
from ybstate.cluster.state import Cell, ClusterState, Role, Tenant, TenantStatus
from ybstate.errors import InvalidAction, PromotionRejected, UnknownTenant
from ybstate.promote.actions import AdvancePromotion, Decommission, FailPromotionStep, StartPromotion
from ybstate.promote.events import (
    CaughtUp,
    PrimaryFenced,
    PromotionStarted,
    PromotionStepFailed,
    RoutingUpdated,
    SchemaSwitched,
    StandbyVerified,
    TenantDecommissioned,
    WritesEnabled,
)
from ybstate.promote.state import PromotionStep, PromotionTask
from ybstate.restore.decide import Scratch, standby_txn
from ybstate.restore.plan import incremental_entries, segment_holding
from ybstate.restore.state import RestorePhase, TableMapping
from ybstate.restore.verify import compare, expected_content, standby_content

__all__ = [
    "PROMOTE_DECIDERS",
    "archived_through",
    "catch_up_plan",
    "catch_up_target",
    "lost_transactions",
    "promotion_of",
]


def _name(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidAction(f"{what} must be a tenant name (a string), got {value!r}")
    return value


def _tenant(state: ClusterState, name: str) -> Tenant:
    tenant = state.tenant_named(name)
    if tenant is None:
        raise UnknownTenant(name)
    return tenant


def promotion_of(state: ClusterState, tenant_id: int) -> PromotionTask | None:
    """The running promotion that involves ``tenant_id``, if any."""
    for task in state.promotions.values():
        if not task.final and tenant_id in (task.standby_id, task.primary_id):
            return task
    return None


def _start(state: ClusterState, a: StartPromotion) -> list[object]:
    standby = _tenant(state, _name(a.standby, "the standby"))
    primary = _tenant(state, _name(a.primary, "the old primary"))
    for flag, value in (("verify", a.verify), ("catch_up", a.catch_up)):
        if not isinstance(value, bool):
            raise InvalidAction(f"promotion {flag} must be true or false, got {value!r}")
    if standby.role is not Role.STANDBY or standby.status is not TenantStatus.READ_ONLY:
        raise PromotionRejected(
            a.standby,
            f"is not a completed standby (role {standby.role.value}, status {standby.status.value})",
        )
    restore = next(
        (
            t
            for t in state.restores.values()
            if t.target_tenant_id == standby.tenant_id and t.phase is RestorePhase.COMPLETED
        ),
        None,
    )
    if restore is None or restore.source_tenant_id != primary.tenant_id:
        source = (
            "no restore" if restore is None else f"tenant {state.tenants[restore.source_tenant_id].name!r}"
        )
        raise PromotionRejected(a.standby, f"was restored from {source}, not from {a.primary!r}")
    if primary.role is not Role.PRIMARY or primary.status is not TenantStatus.NORMAL or not primary.writable:
        raise PromotionRejected(a.standby, f"{a.primary!r} is not a writable primary")
    diverged = [
        p.promotion_id
        for p in state.promotions.values()
        if p.standby_id == standby.tenant_id and p.caught_up_through
    ]
    if diverged:
        raise PromotionRejected(
            a.standby,
            f"promotion {diverged[0]} replayed more into it and rolled back: it is no longer the restore's "
            "standby (restore a new one)",
        )
    for tenant in (standby, primary):
        running = promotion_of(state, tenant.tenant_id)
        if running is not None:
            raise PromotionRejected(
                a.standby, f"promotion {running.promotion_id} of {tenant.name!r} is running"
            )
    return [
        PromotionStarted(
            seq=state.seq + 1,
            time=state.clock,
            promotion_id=state.next_promotion_id,
            standby_id=standby.tenant_id,
            primary_id=primary.tenant_id,
            verify=a.verify,
            catch_up=a.catch_up,
            restore_task_id=restore.task_id,
        )
    ]


def _task(state: ClusterState, promotion_id: object) -> PromotionTask:
    if isinstance(promotion_id, bool) or not isinstance(promotion_id, int):
        raise InvalidAction(f"a promotion id must be an int, got {promotion_id!r}")
    task = state.promotions.get(promotion_id)
    if task is None:
        raise PromotionRejected(f"#{promotion_id}", "there is no such promotion")
    if task.final:
        raise PromotionRejected(task.standby_name, f"promotion {promotion_id} is {task.status.value}")
    return task


def archived_through(state: ClusterState, task: PromotionTask) -> int:
    """How far the old primary's archive reaches without a hole from the standby's
    replay start (0 if it does not)."""
    restore = state.restores[task.restore_task_id]
    segment = segment_holding(state, task.primary_id, restore.start_log_id)
    return 0 if segment is None else segment.last_log_id


def catch_up_target(state: ClusterState, task: PromotionTask) -> int:
    """The last log id the catch-up must replay: the old primary's last commit or DDL
    before its fence (what aborted at the fence needs nothing)."""
    commits = (t.commit_log_id for t in state.committed.values() if t.tenant_id == task.primary_id)
    ddl = (
        log_id
        for table in state.tables_of(task.primary_id, alive_only=False)
        for log_id in (table.created_log_id, table.dropped_log_id or 0)
        if log_id <= task.fence_log_id
    )
    return max((*commits, *ddl), default=0)


def catch_up_plan(state: ClusterState, task: PromotionTask, through: int):
    """The archived entries after the standby's T up to ``through``, replayed in order: the
    old primary's transactions to apply (tx id, rewritten cells), and its DDL, as a list of
    ("txn", tx_id, cells) / ("create", entry) / ("drop", entry)."""
    restore = state.restores[task.restore_task_id]
    entries = incremental_entries(state, task.primary_id, restore.start_log_id, 1 << 62) or ()
    pending: dict[int, list[Cell]] = {}
    plan: list[tuple] = []
    for entry in entries:
        if entry.log_id > through:
            break
        if isinstance(entry, MutatorLogged):
            pending.setdefault(entry.tx_id, []).extend(entry.cells)
        elif isinstance(entry, TransactionAborted):
            pending.pop(entry.tx_id, None)
        elif isinstance(entry, TransactionCommitted):
            cells = pending.pop(entry.tx_id, [])
            if entry.time > task.restored_to:
                plan.append(("txn", entry.tx_id, tuple(cells)))
        elif isinstance(entry, TableCreated | TableDropped) and entry.time > task.restored_to:
            plan.append(("create" if isinstance(entry, TableCreated) else "drop", entry))
    return plan


def lost_transactions(state: ClusterState, task: PromotionTask) -> tuple[int, ...]:
    """The old primary's commits after the standby's T that the standby does not hold."""
    after = (
        t.tx_id
        for t in state.committed.values()
        if t.tenant_id == task.primary_id and t.commit_ts > task.restored_to
    )
    return tuple(sorted(set(after) - set(task.caught_up)))


def _failed(
    state: ClusterState, task: PromotionTask, step: PromotionStep, reason: str, fault: bool = False
) -> list[object]:
    return [
        PromotionStepFailed(
            seq=state.seq + 1,
            time=state.clock,
            promotion_id=task.promotion_id,
            step=step,
            reason=reason,
            rolled_back=not task.routed,
            fault=fault,
            **_names_back(task),
        )
    ]


def _names_back(task: PromotionTask) -> dict[str, str]:
    """The names a rollback restores, if the schema was switched (and not yet routed)."""
    if task.routed or PromotionStep.SWITCH_SCHEMA not in task.done:
        return {}
    return {"primary_name": task.primary_name, "standby_name": task.standby_name}


def _advance(state: ClusterState, a: AdvancePromotion) -> list[object]:
    task = _task(state, a.promotion_id)
    step = task.next_step
    seq, time, pid = state.seq + 1, state.clock, task.promotion_id
    if step is PromotionStep.VERIFY:
        restore = state.restores[task.restore_task_id]
        found = standby_content(state, restore)
        problem = compare(expected_content(state, restore), found)
        if problem is not None:
            return _failed(state, task, step, f"verification: {problem}")
        rows, checksum = found.totals()
        return [StandbyVerified(seq=seq, time=time, promotion_id=pid, rows=rows, checksum=checksum)]
    if step is PromotionStep.FENCE:
        aborted = tuple(sorted(t.tx_id for t in state.open_txns.values() if t.tenant_id == task.primary_id))
        scratch = Scratch(state)
        scratch.add(
            PrimaryFenced(
                seq=seq, time=time, promotion_id=pid, fence_log_id=state.last_log_id, aborted=aborted
            )
        )
        for tx_id in aborted:
            scratch.decided(Abort(tx=tx_id))
        return scratch.events
    if step is PromotionStep.CATCH_UP:
        needed = catch_up_target(state, task)
        reached = archived_through(state, task)
        if reached < needed:
            archiver = state.archivers.get(task.primary_id)
            if archiver is not None and archiver.status.value == "running" and reached:
                raise PromotionRejected(
                    task.standby_name,
                    f"catch-up waits for the archive to reach log id {needed} (at {reached})",
                )
            return _failed(
                state,
                task,
                step,
                f"the archive holds the old primary's log through {reached}, "
                f"its last commit or DDL is {needed}",
            )
        return _catch_up(state, task, needed)
    if step is PromotionStep.SWITCH_SCHEMA:
        new_name = f"{task.primary_name}@{task.primary_id}"
        while state.tenant_named(new_name) is not None:
            new_name += "'"
        return [
            SchemaSwitched(
                seq=seq, time=time, promotion_id=pid, primary_name=new_name, standby_name=task.primary_name
            )
        ]
    if step is PromotionStep.UPDATE_ROUTING:
        return [
            RoutingUpdated(
                seq=seq, time=time, promotion_id=pid, name=task.primary_name, tenant_id=task.standby_id
            )
        ]
    if step is PromotionStep.ENABLE_WRITES:
        return [WritesEnabled(seq=seq, time=time, promotion_id=pid, lost=lost_transactions(state, task))]
    raise PromotionRejected(task.standby_name, f"promotion {pid} has no step left")


def _catch_up(state: ClusterState, task: PromotionTask, through: int) -> list[object]:
    plan = catch_up_plan(state, task, through)
    mapping = {m.source_table_id: m for m in task.mapping}
    created: list[TableMapping] = []
    dropped: list[int] = []
    applied: list[int] = []
    scratch = Scratch(state)
    follow: list[Callable[[], None]] = []
    next_table = state.next_table_id
    version = state.schema_version
    standby_name = state.tenants[task.standby_id].name
    for item in plan:
        if item[0] == "create":
            entry = item[1]
            version += 1
            added = TableMapping(
                source_table_id=entry.table_id,
                target_table_id=next_table,
                name=entry.name,
                schema_version=version,
            )
            next_table += 1
            mapping[entry.table_id] = added
            created.append(added)
            follow.append(
                lambda e=entry: scratch.decided(
                    CreateTable(tenant=standby_name, table=e.name, tablets=len(e.tablets))
                )
            )
        elif item[0] == "drop":
            entry = item[1]
            version += 1
            dropped.append(entry.table_id)
            target = mapping[entry.table_id]
            follow.append(lambda t=target: scratch.decided(DropTable(tenant=standby_name, table=t.name)))
        else:
            _, tx_id, cells = item
            applied.append(tx_id)
            rewritten = tuple(
                Cell(table_id=mapping[c.table_id].target_table_id, rowkey=c.rowkey, value=c.value)
                for c in cells
            )
            follow.append(lambda r=rewritten: _logged_txn(scratch, task, r))
    scratch.add(
        CaughtUp(
            seq=state.seq + 1,
            time=state.clock,
            promotion_id=task.promotion_id,
            through_log_id=through,
            applied=tuple(applied),
            created=tuple(created),
            dropped=tuple(dropped),
        )
    )
    for step in follow:
        step()
    return scratch.events


def _logged_txn(scratch: Scratch, task: PromotionTask, cells: tuple[Cell, ...]) -> None:
    state = scratch.state
    for event in standby_txn(state, task.standby_id, state.next_tx_id, cells, scratch.seq):
        scratch.add(event)


def _fail(state: ClusterState, a: FailPromotionStep) -> list[object]:
    task = _task(state, a.promotion_id)
    return _failed(state, task, task.next_step, a.reason, fault=True)


def _decommission(state: ClusterState, a: Decommission) -> list[object]:
    tenant = _tenant(state, _name(a.tenant, "the tenant"))
    if not isinstance(a.read_only, bool):
        raise InvalidAction(f"decommission read_only must be true or false, got {a.read_only!r}")
    if tenant.tenant_id == 1:
        raise PromotionRejected(a.tenant, "the system tenant cannot be decommissioned")
    if tenant.writable:
        raise PromotionRejected(
            a.tenant, "a writable primary cannot be decommissioned; promote its standby first"
        )
    running = promotion_of(state, tenant.tenant_id)
    if running is not None:
        raise PromotionRejected(a.tenant, f"promotion {running.promotion_id} involving it is running")
    restoring = [
        t.task_id for t in state.restores.values() if t.target_tenant_id == tenant.tenant_id and not t.final
    ]
    if restoring:
        raise PromotionRejected(a.tenant, f"restore {restoring[0]} into it is running")
    if tenant.status is TenantStatus.DECOMMISSIONED:
        raise PromotionRejected(a.tenant, "is decommissioned already")
    if a.read_only and tenant.status is TenantStatus.READ_ONLY:
        raise PromotionRejected(a.tenant, "is read-only already")
    if not a.read_only and tenant.status is not TenantStatus.READ_ONLY:
        raise PromotionRejected(a.tenant, f"full removal needs read-only first (it is {tenant.status.value})")
    scratch = Scratch(state)
    scratch.add(
        TenantDecommissioned(
            seq=state.seq + 1, time=state.clock, tenant_id=tenant.tenant_id, read_only=a.read_only
        )
    )
    if not a.read_only:
        for table in state.tables_of(tenant.tenant_id):
            scratch.decided(DropTable(tenant=tenant.name, table=table.name))
    return scratch.events


PROMOTE_DECIDERS: dict[type, Callable[[ClusterState, object], list[object]]] = {
    StartPromotion: _start,
    AdvancePromotion: _advance,
    FailPromotionStep: _fail,
    Decommission: _decommission,
}
