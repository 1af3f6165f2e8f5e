"""``decide`` for promotion and decommission. Pure; refusals raise PromotionRejected.

The fence (which aborts the old primary's open transactions), the catch-up (which replays
archived transactions and DDL into the standby) and a full decommission (which drops the
tenant's tables) log cluster entries with the cluster's own deciders: they are composite
decisions, handed a :class:`~ybstate.kernel.Decision` by the composition root.
"""

from __future__ import annotations

from collections.abc import Callable

from ybstate.cluster.actions import Abort, CreateTable, DropTable
from ybstate.cluster.state import Cell, ClusterState, Role, Tenant, TenantStatus
from ybstate.errors import InvalidAction, PromotionRejected, UnknownTenant
from ybstate.kernel import Decision
from ybstate.kernel.limits import RENAMED
from ybstate.promote.actions import AdvancePromotion, Decommission, FailPromotionStep, StartPromotion
from ybstate.promote.derive import (
    archived_through,
    catch_up_plan,
    catch_up_target,
    catch_up_waits,
    decommission_refusal,
    lost_transactions,
    promotion_of,
    stays_fenced,
)
from ybstate.promote.events import (
    PROMOTION_TASK,
    CaughtUp,
    PrimaryFenced,
    PromotionStarted,
    PromotionStepFailed,
    PromotionStopped,
    RoutingUpdated,
    SchemaSwitched,
    StandbyVerified,
    TenantDecommissioned,
    WritesEnabled,
)
from ybstate.promote.state import PromotionStep, PromotionTask
from ybstate.restore.decide import standby_txn
from ybstate.restore.state import RestorePhase, TableMapping
from ybstate.restore.verify import compare, expected_content, standby_content

__all__ = ["COMPOSITE_DECIDERS", "PROMOTE_DECIDERS"]


def _name(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidAction(f"{what} must be a tenant name (a string), got {value!r}")
    return value


def _tenant(state: ClusterState, name: str) -> Tenant:
    tenant = state.tenant_named(name)
    if tenant is None:
        raise UnknownTenant(name)
    return tenant


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


def _step_time(state: ClusterState) -> int:
    """When a promotion step that begins now ends: each takes ``promotion_step_us``."""
    return state.clock + state.config.costs.promotion_step_us


def _task(state: ClusterState, promotion_id: object) -> PromotionTask:
    if isinstance(promotion_id, bool) or not isinstance(promotion_id, int):
        raise InvalidAction(f"a promotion id must be an int, got {promotion_id!r}")
    task = state.promotions.get(promotion_id)
    if task is None:
        raise PromotionRejected(f"#{promotion_id}", "there is no such promotion")
    if not PROMOTION_TASK.legal_from(task.phase):  # it has ended
        raise PromotionRejected(task.standby_name, f"promotion {promotion_id} is {task.status.value}")
    return task


def _failed(
    state: ClusterState, task: PromotionTask, step: PromotionStep, reason: str, fault: bool = False
) -> PromotionStepFailed | PromotionStopped:
    """A failed step: rolled back before the routing update, retried after it; in the seed's
    protocol (``promotion_failure`` STAY_FENCED) a failure after the fence stops the
    promotion where it is."""
    if stays_fenced(state, task):
        return PromotionStopped(
            seq=state.seq + 1,
            time=_step_time(state),
            promotion_id=task.promotion_id,
            step=step,
            reason=reason,
            fault=fault,
        )
    return PromotionStepFailed(
        seq=state.seq + 1,
        time=_step_time(state),
        promotion_id=task.promotion_id,
        step=step,
        reason=reason,
        rolled_back=not task.routed,
        fault=fault,
        **_names_back(task),
    )


def _names_back(task: PromotionTask) -> dict[str, str]:
    """The names a rollback restores, if the schema was switched (and not yet routed)."""
    if task.routed or PromotionStep.SWITCH_SCHEMA not in task.done:
        return {}
    return {"primary_name": task.primary_name, "standby_name": task.standby_name}


# -- AdvancePromotion: the promotion's next step -----------------------------------------------


def _verify(d: Decision, task: PromotionTask) -> None:
    state = d.state
    restore = state.restores[task.restore_task_id]
    found = standby_content(state, restore)
    problem = compare(expected_content(state, restore), found)
    if problem is not None:
        d.add(_failed(state, task, PromotionStep.VERIFY, f"verification: {problem}"))
        return
    rows, checksum = found.totals()
    d.add(
        StandbyVerified(
            seq=d.seq, time=_step_time(state), promotion_id=task.promotion_id, rows=rows, checksum=checksum
        )
    )


def _fence(d: Decision, task: PromotionTask) -> None:
    state = d.state
    aborted = tuple(sorted(t.tx_id for t in state.open_txns.values() if t.tenant_id == task.primary_id))
    d.add(
        PrimaryFenced(
            seq=d.seq,
            time=_step_time(state),
            promotion_id=task.promotion_id,
            fence_log_id=state.last_log_id,
            aborted=aborted,
        )
    )
    for tx_id in aborted:
        d.decided(Abort(tx=tx_id))


def _catch_up_step(d: Decision, task: PromotionTask) -> None:
    state = d.state
    waiting = catch_up_waits(state, task)
    if waiting is not None:
        raise PromotionRejected(task.standby_name, waiting)
    needed = catch_up_target(state, task)
    reached = archived_through(state, task)
    if reached < needed:
        reason = (
            f"the archive holds the old primary's log through {reached}, its last commit or DDL is {needed}"
        )
        d.add(_failed(state, task, PromotionStep.CATCH_UP, reason))
        return
    _catch_up(d, task, needed)


def _switch_schema(d: Decision, task: PromotionTask) -> None:
    state = d.state
    # Unique: tenant ids are, and no name a user gives contains RENAMED.
    new_name = f"{task.primary_name}{RENAMED}{task.primary_id}"
    d.add(
        SchemaSwitched(
            seq=d.seq,
            time=_step_time(state),
            promotion_id=task.promotion_id,
            primary_name=new_name,
            standby_name=task.primary_name,
        )
    )


def _update_routing(d: Decision, task: PromotionTask) -> None:
    d.add(
        RoutingUpdated(
            seq=d.seq,
            time=_step_time(d.state),
            promotion_id=task.promotion_id,
            name=task.primary_name,
            tenant_id=task.standby_id,
        )
    )


def _enable_writes(d: Decision, task: PromotionTask) -> None:
    lost = lost_transactions(d.state, task)
    d.add(WritesEnabled(seq=d.seq, time=_step_time(d.state), promotion_id=task.promotion_id, lost=lost))


# What each step of a promotion does; the steps a promotion takes are its own (task.steps).
_STEPS: dict[PromotionStep, Callable[[Decision, PromotionTask], None]] = {
    PromotionStep.VERIFY: _verify,
    PromotionStep.FENCE: _fence,
    PromotionStep.CATCH_UP: _catch_up_step,
    PromotionStep.SWITCH_SCHEMA: _switch_schema,
    PromotionStep.UPDATE_ROUTING: _update_routing,
    PromotionStep.ENABLE_WRITES: _enable_writes,
}


def _advance(d: Decision, a: AdvancePromotion) -> None:
    task = _task(d.state, a.promotion_id)
    step = task.next_step
    if step is None:
        raise PromotionRejected(task.standby_name, f"promotion {task.promotion_id} has no step left")
    _STEPS[step](d, task)


def _catch_up(d: Decision, task: PromotionTask, through: int) -> None:
    state = d.state
    plan = catch_up_plan(state, task, through)
    mapping = {m.source_table_id: m for m in task.mapping}
    created: list[TableMapping] = []
    dropped: list[int] = []
    applied: list[int] = []
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
                lambda e=entry: d.decided(
                    CreateTable(tenant=standby_name, table=e.name, tablets=len(e.tablets))
                )
            )
        elif item[0] == "drop":
            entry = item[1]
            version += 1
            dropped.append(entry.table_id)
            target = mapping[entry.table_id]
            follow.append(lambda t=target: d.decided(DropTable(tenant=standby_name, table=t.name)))
        else:
            _, tx_id, cells = item
            applied.append(tx_id)
            rewritten = tuple(
                Cell(table_id=mapping[c.table_id].target_table_id, rowkey=c.rowkey, value=c.value)
                for c in cells
            )
            follow.append(lambda r=rewritten: _logged_txn(d, task, r))
    d.add(
        CaughtUp(
            seq=d.seq,
            time=_step_time(state) + len(plan) * state.config.costs.entry_apply_us,
            promotion_id=task.promotion_id,
            through_log_id=through,
            applied=tuple(applied),
            created=tuple(created),
            dropped=tuple(dropped),
        )
    )
    for step in follow:
        step()


def _logged_txn(d: Decision, task: PromotionTask, cells: tuple[Cell, ...]) -> None:
    for event in standby_txn(d.state, task.standby_id, d.state.next_tx_id, cells, d.seq):
        d.add(event)


def _fail(state: ClusterState, a: FailPromotionStep) -> list[object]:
    task = _task(state, a.promotion_id)
    return [_failed(state, task, task.next_step, a.reason, fault=True)]


def _decommission(d: Decision, a: Decommission) -> None:
    state = d.state
    tenant = _tenant(state, _name(a.tenant, "the tenant"))
    if not isinstance(a.read_only, bool):
        raise InvalidAction(f"decommission read_only must be true or false, got {a.read_only!r}")
    refusal = decommission_refusal(state, tenant, a.read_only)
    if refusal is not None:
        raise PromotionRejected(a.tenant, refusal)
    d.add(
        TenantDecommissioned(seq=d.seq, time=state.clock, tenant_id=tenant.tenant_id, read_only=a.read_only)
    )
    if not a.read_only:
        for table in state.tables_of(tenant.tenant_id):
            d.decided(DropTable(tenant=tenant.name, table=table.name))


PROMOTE_DECIDERS: dict[type, Callable[[ClusterState, object], list[object]]] = {
    StartPromotion: _start,
    FailPromotionStep: _fail,
}

COMPOSITE_DECIDERS: dict[type, Callable[[Decision, object], None]] = {
    AdvancePromotion: _advance,
    Decommission: _decommission,
}
"""Decisions that log cluster entries with the cluster's own deciders."""
