"""``apply`` for promotion and decommission: one handler per event, checking that each fits."""

from __future__ import annotations

from collections.abc import Callable

from ybstate.cluster.state import ClusterState, Role, Tenant, TenantStatus, evolve_state
from ybstate.errors import EventOutOfOrder
from ybstate.evolve import evolver
from ybstate.promote.derive import lost_transactions, stays_fenced
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
from ybstate.promote.state import PromotionStatus, PromotionStep, PromotionTask

__all__ = ["PROMOTE_HANDLERS"]

_evolve_task = evolver(PromotionTask)
_evolve_tenant = evolver(Tenant)


def _task(state: ClusterState, e, step: PromotionStep) -> PromotionTask:
    task = state.promotions.get(e.promotion_id)
    if task is None or task.final:
        raise EventOutOfOrder(
            "a running promotion", e.promotion_id, None if task is None else task.status.value
        )
    if task.next_step is not step:
        raise EventOutOfOrder(f"promotion {task.promotion_id}'s next step", task.next_step, step)
    PROMOTION_TASK.next(task.phase, type(e), task.promotion_id)
    return task


def _set(state: ClusterState, e, task: PromotionTask, **changes) -> ClusterState:
    return evolve_state(
        state, seq=e.seq, clock=e.time, promotions=state.promotions.set(task.promotion_id, task), **changes
    )


def _did(task: PromotionTask, step: PromotionStep, **changes) -> PromotionTask:
    return _evolve_task(task, done=(*task.done, step), **changes)


def _tenant(state: ClusterState, tenant_id: int, **changes):
    return state.tenants.set(tenant_id, _evolve_tenant(state.tenants[tenant_id], **changes))


def _started(state: ClusterState, e: PromotionStarted) -> ClusterState:
    if e.promotion_id != state.next_promotion_id:
        raise EventOutOfOrder("promotion_id", state.next_promotion_id, e.promotion_id)
    restore = state.restores.get(e.restore_task_id)
    standby, primary = state.tenants.get(e.standby_id), state.tenants.get(e.primary_id)
    if restore is None or standby is None or primary is None or restore.target_tenant_id != e.standby_id:
        raise EventOutOfOrder("a standby made by the named restore", e.restore_task_id, e.standby_id)
    task = PromotionTask(
        promotion_id=e.promotion_id,
        standby_id=e.standby_id,
        primary_id=e.primary_id,
        verify=e.verify,
        catch_up=e.catch_up,
        primary_name=primary.name,
        standby_name=standby.name,
        restored_to=standby.restored_to,
        restore_task_id=e.restore_task_id,
        status=PromotionStatus.RUNNING,
        started_ts=e.time,
        mapping=restore.mapping,
    )
    return _set(state, e, task, next_promotion_id=e.promotion_id + 1)


def _verified(state: ClusterState, e: StandbyVerified) -> ClusterState:
    task = _task(state, e, PromotionStep.VERIFY)
    done = _did(task, PromotionStep.VERIFY, row_count_match=True, checksum_match=True, sample_match=True)
    return _set(state, e, done)


def _fenced(state: ClusterState, e: PrimaryFenced) -> ClusterState:
    task = _task(state, e, PromotionStep.FENCE)
    open_now = tuple(sorted(t.tx_id for t in state.open_txns.values() if t.tenant_id == task.primary_id))
    if e.fence_log_id != state.last_log_id or e.aborted != open_now:
        raise EventOutOfOrder(
            "the fence point and the old primary's open transactions",
            (state.last_log_id, open_now),
            (e.fence_log_id, e.aborted),
        )
    tenants = _tenant(state, task.primary_id, writable=False, fenced_log_id=e.fence_log_id)
    return _set(
        state,
        e,
        _did(task, PromotionStep.FENCE, fence_log_id=e.fence_log_id, fenced_ts=e.time),
        tenants=tenants,
    )


def _caught_up(state: ClusterState, e: CaughtUp) -> ClusterState:
    task = _task(state, e, PromotionStep.CATCH_UP)
    mapping = tuple(
        m if m.source_table_id not in e.dropped else evolver(type(m))(m, dropped=True)
        for m in (*task.mapping, *e.created)  # a table the catch-up created may be dropped too
    )
    done = _did(
        task, PromotionStep.CATCH_UP, caught_up=e.applied, caught_up_through=e.through_log_id, mapping=mapping
    )
    return _set(state, e, done)


def _renamed(state: ClusterState, renames: dict[int, str]) -> dict:
    """Tenants, index and routing after renaming tenants. A name that goes out of use stops
    routing; a new name routes to its tenant; a name passed from one tenant to another
    keeps routing where it did (the routing update is a step of its own)."""
    tenants, index, routing = state.tenants, state.tenant_index, state.routing
    for tenant_id in renames:
        old = state.tenants[tenant_id].name
        index = index.delete(old)
        if routing.get(old) == tenant_id and old not in renames.values():
            routing = routing.delete(old)
    for tenant_id, name in renames.items():
        if name in index:
            raise EventOutOfOrder("an unused tenant name", "unused", name)
        tenants = tenants.set(tenant_id, _evolve_tenant(tenants[tenant_id], name=name))
        index = index.set(name, tenant_id)
        if name not in routing:
            routing = routing.set(name, tenant_id)
    return {"tenants": tenants, "tenant_index": index, "routing": routing}


def _switched(state: ClusterState, e: SchemaSwitched) -> ClusterState:
    task = _task(state, e, PromotionStep.SWITCH_SCHEMA)
    if e.standby_name != task.primary_name:
        raise EventOutOfOrder("the standby taking the tenant's name", task.primary_name, e.standby_name)
    changes = _renamed(state, {task.primary_id: e.primary_name, task.standby_id: e.standby_name})
    return _set(state, e, _did(task, PromotionStep.SWITCH_SCHEMA), **changes)


def _routed(state: ClusterState, e: RoutingUpdated) -> ClusterState:
    task = _task(state, e, PromotionStep.UPDATE_ROUTING)
    if (e.name, e.tenant_id) != (task.primary_name, task.standby_id):
        raise EventOutOfOrder(
            "the tenant's name routed to the standby",
            (task.primary_name, task.standby_id),
            (e.name, e.tenant_id),
        )
    primary = state.tenants[task.primary_id]
    routing = state.routing.set(e.name, e.tenant_id).set(primary.name, primary.tenant_id)
    return _set(state, e, _did(task, PromotionStep.UPDATE_ROUTING), routing=routing)


def _enabled(state: ClusterState, e: WritesEnabled) -> ClusterState:
    task = _task(state, e, PromotionStep.ENABLE_WRITES)
    lost = lost_transactions(state, task)
    if e.lost != lost:
        raise EventOutOfOrder("the old primary's commits the new primary lacks", lost, e.lost)
    tenants = _tenant(state, task.standby_id, role=Role.PRIMARY, status=TenantStatus.NORMAL, writable=True)
    done = _did(
        task, PromotionStep.ENABLE_WRITES, lost=e.lost, status=PromotionStatus.COMPLETED, ended_ts=e.time
    )
    return _set(state, e, done, tenants=tenants)


def _stopped(state: ClusterState, e: PromotionStopped) -> ClusterState:
    task = _task(state, e, e.step)
    if not stays_fenced(state, task):
        raise EventOutOfOrder("a stop only without rollback, fenced and not routed", "a rollback", e)
    ended = _evolve_task(
        task, failures=task.failures + 1, error=e.reason, status=PromotionStatus.STOPPED, ended_ts=e.time
    )
    return _set(state, e, ended)


def _step_failed(state: ClusterState, e: PromotionStepFailed) -> ClusterState:
    task = _task(state, e, e.step)
    if stays_fenced(state, task):
        raise EventOutOfOrder("a stop (the protocol does not roll back once fenced)", "a stop", e)
    if e.rolled_back != (not task.routed):
        raise EventOutOfOrder(
            "a rollback exactly when the routing is not yet updated", not task.routed, e.rolled_back
        )
    switched = e.rolled_back and PromotionStep.SWITCH_SCHEMA in task.done
    names = (task.primary_name, task.standby_name) if switched else ("", "")
    if (e.primary_name, e.standby_name) != names:
        raise EventOutOfOrder("the names a rollback restores", names, (e.primary_name, e.standby_name))
    if not e.rolled_back:
        return _set(state, e, _evolve_task(task, failures=task.failures + 1, error=e.reason))
    changes: dict = {}
    if PromotionStep.SWITCH_SCHEMA in task.done:
        changes = _renamed(state, {task.primary_id: task.primary_name, task.standby_id: task.standby_name})
        state = evolve_state(state, **changes)
    tenants = _tenant(state, task.primary_id, writable=True, fenced_log_id=0)
    ended = _evolve_task(
        task, failures=task.failures + 1, error=e.reason, status=PromotionStatus.ROLLED_BACK, ended_ts=e.time
    )
    return _set(state, e, ended, **{**changes, "tenants": tenants})


def _decommissioned(state: ClusterState, e: TenantDecommissioned) -> ClusterState:
    tenant = state.tenants.get(e.tenant_id)
    if tenant is None or tenant.writable or tenant.status is TenantStatus.DECOMMISSIONED:
        raise EventOutOfOrder("a tenant that is not writable and not decommissioned", e.tenant_id, tenant)
    if not e.read_only and tenant.status not in (TenantStatus.READ_ONLY, TenantStatus.RETIRED):
        raise EventOutOfOrder("read-only before full removal", TenantStatus.READ_ONLY, tenant.status)
    fence = tenant.fenced_log_id or state.last_log_id
    if e.read_only:
        # A completed standby retires (no longer promotable); a primary becomes read-only.
        retiring = tenant.role is Role.STANDBY and tenant.status is TenantStatus.READ_ONLY
        status = TenantStatus.RETIRED if retiring else TenantStatus.READ_ONLY
        tenants = _tenant(state, e.tenant_id, status=status, fenced_log_id=fence)
        return evolve_state(state, seq=e.seq, clock=e.time, tenants=tenants)
    tenants = _tenant(state, e.tenant_id, status=TenantStatus.DECOMMISSIONED, fenced_log_id=fence)
    routing = (
        state.routing.delete(tenant.name) if state.routing.get(tenant.name) == e.tenant_id else state.routing
    )
    return evolve_state(state, seq=e.seq, clock=e.time, tenants=tenants, routing=routing)


PROMOTE_HANDLERS: dict[type, Callable[[ClusterState, object], ClusterState]] = {
    PromotionStarted: _started,
    StandbyVerified: _verified,
    PrimaryFenced: _fenced,
    CaughtUp: _caught_up,
    SchemaSwitched: _switched,
    RoutingUpdated: _routed,
    WritesEnabled: _enabled,
    PromotionStepFailed: _step_failed,
    PromotionStopped: _stopped,
    TenantDecommissioned: _decommissioned,
}
