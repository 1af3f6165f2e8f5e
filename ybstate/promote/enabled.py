"""Promotion and decommission actions that may happen next, within a Scope (promote,
promotion_faults, decommission)."""

from __future__ import annotations

from ybstate.cluster.state import ClusterState, Role, TenantStatus
from ybstate.errors import ActionRejected
from ybstate.promote.actions import AdvancePromotion, Decommission, FailPromotionStep, StartPromotion
from ybstate.promote.decide import PROMOTE_DECIDERS

__all__ = ["promote_enabled"]


def _accepted(state: ClusterState, action: object) -> bool:
    try:
        PROMOTE_DECIDERS[type(action)](state, action)
    except ActionRejected:
        return False
    return True


def promote_enabled(state: ClusterState, scope) -> list[object]:
    actions: list[object] = []
    if scope.promote:
        for standby in sorted(state.tenants.values(), key=lambda t: t.tenant_id):
            if standby.role is not Role.STANDBY or standby.status is not TenantStatus.READ_ONLY:
                continue
            restore = next(
                (r for r in state.restores.values() if r.target_tenant_id == standby.tenant_id), None
            )
            if restore is None:
                continue
            primary = state.tenants[restore.source_tenant_id]
            for catch_up in (True, False):
                action = StartPromotion(
                    standby=standby.name, primary=primary.name, verify=True, catch_up=catch_up
                )
                if _accepted(state, action):
                    actions.append(action)
    faults = sum(p.failures for p in state.promotions.values()) < scope.promotion_faults
    for promotion_id in sorted(state.promotions.keys()):
        task = state.promotions[promotion_id]
        if task.final:
            continue
        advance = AdvancePromotion(promotion_id=promotion_id)
        if _accepted(state, advance):
            actions.append(advance)
        if faults:
            actions.append(FailPromotionStep(promotion_id=promotion_id))
    if scope.decommission:
        for tenant in sorted(state.tenants.values(), key=lambda t: t.tenant_id):
            for read_only in (True, False):
                action = Decommission(tenant=tenant.name, read_only=read_only)
                if _accepted(state, action):
                    actions.append(action)
    return actions
