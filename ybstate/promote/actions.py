"""Requests concerning promotion and decommission."""

from __future__ import annotations

import attrs

__all__ = ["PROMOTE_ACTION_TAGS", "StartPromotion", "AdvancePromotion", "FailPromotionStep", "Decommission"]


@attrs.frozen(kw_only=True)
class StartPromotion:
    """tenant_promote_standby(standby, old primary, verify, catch_up)."""

    standby: str
    primary: str
    verify: bool = True
    catch_up: bool = True


@attrs.frozen(kw_only=True)
class AdvancePromotion:
    """The root server takes the promotion's next step."""

    promotion_id: int


@attrs.frozen(kw_only=True)
class FailPromotionStep:
    """A fault: the promotion's next step fails."""

    promotion_id: int
    reason: str = "injected fault"


@attrs.frozen(kw_only=True)
class Decommission:
    """tenant_decommission(tenant, read_only)."""

    tenant: str
    read_only: bool = True


PROMOTE_ACTION_TAGS: dict[type, str] = {
    AdvancePromotion: "promote.advance_promotion",
    Decommission: "promote.decommission",
    FailPromotionStep: "promote.fail_promotion_step",
    StartPromotion: "promote.start_promotion",
}
"""The stored tag of each promote action (a trace of actions round-trips by it; never the class name)."""
