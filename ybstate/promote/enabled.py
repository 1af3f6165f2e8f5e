"""Promotion and decommission actions that may happen next, within the scope's
``promote`` section (:class:`PromoteScope`)."""

from __future__ import annotations

import attrs

from ybstate.cluster.state import ClusterState, Role, TenantStatus
from ybstate.errors import ActionRejected
from ybstate.promote.actions import AdvancePromotion, Decommission, FailPromotionStep, StartPromotion
from ybstate.promote.decide import PROMOTE_DECIDERS
from ybstate.promote.derive import catch_up_waits, decommission_refusal
from ybstate.promote.state import PromotionStep

__all__ = ["PromoteScope", "promote_enabled", "promote_probes"]


@attrs.frozen(kw_only=True)
class PromoteScope:
    """Whether completed standbys may be promoted (with and without catch-up), how many
    promotion steps may fail in all, and whether non-writable tenants may be
    decommissioned."""

    promote: bool = False
    promotion_faults: int = 0
    decommission: bool = False


def _startable(state: ClusterState, action: StartPromotion) -> bool:
    try:
        PROMOTE_DECIDERS[StartPromotion](state, action)
    except ActionRejected:
        return False
    return True


def promote_enabled(state: ClusterState, scope) -> list[object]:
    own: PromoteScope = scope.promote
    actions: list[object] = []
    if own.promote:
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
                if _startable(state, action):
                    actions.append(action)
    faults = sum(p.failures for p in state.promotions.values()) < own.promotion_faults
    for promotion_id in sorted(state.promotions.keys()):
        task = state.promotions[promotion_id]
        if task.final:
            continue
        if task.next_step is not PromotionStep.CATCH_UP or catch_up_waits(state, task) is None:
            actions.append(AdvancePromotion(promotion_id=promotion_id))
        if faults:
            actions.append(FailPromotionStep(promotion_id=promotion_id))
    if own.decommission:
        for tenant in sorted(state.tenants.values(), key=lambda t: t.tenant_id):
            for read_only in (True, False):
                if decommission_refusal(state, tenant, read_only) is None:
                    actions.append(Decommission(tenant=tenant.name, read_only=read_only))
    return actions


def promote_probes(state: ClusterState, scope) -> list[object]:
    """Every running promotion told to take its next step, offered or not (the explorer
    tries those ``enabled`` does not offer: each must be refused, or be harmless)."""
    return [
        AdvancePromotion(promotion_id=i)
        for i in sorted(state.promotions.keys())
        if not state.promotions[i].final
    ]
