"""Events of promotion and decommission.

Like a restore's, a promotion decision may log cluster entries after its own event: the
fence aborts the old primary's open transactions (TransactionAborted), the catch-up logs
standby transactions and DDL, and a full decommission drops the tenant's tables.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from ybstate.cluster.derive import tenant_name
from ybstate.cluster.state import ClusterState
from ybstate.kernel import Lifecycle
from ybstate.promote import actions as act
from ybstate.promote.state import PromotionPhase, PromotionStep
from ybstate.restore.state import TableMapping

__all__ = [
    "PromotionStarted",
    "StandbyVerified",
    "PrimaryFenced",
    "CaughtUp",
    "SchemaSwitched",
    "RoutingUpdated",
    "WritesEnabled",
    "PromotionStepFailed",
    "PromotionStopped",
    "TenantDecommissioned",
    "PROMOTE_EVENT_TAGS",
    "PROMOTION_TASK",
    "REQUESTS",
]


@attrs.frozen(kw_only=True)
class PromotionStarted:
    seq: int
    time: int
    promotion_id: int
    standby_id: int
    primary_id: int
    verify: bool
    catch_up: bool
    restore_task_id: int  # the restore that made the standby


@attrs.frozen(kw_only=True)
class StandbyVerified:
    """The standby equals what its backup set and the archive say, as of its T."""

    seq: int
    time: int
    promotion_id: int
    rows: int
    checksum: int


@attrs.frozen(kw_only=True)
class PrimaryFenced:
    """The old primary accepts no commit after ``fence_log_id``; its open transactions
    ``aborted`` abort (the events after this one)."""

    seq: int
    time: int
    promotion_id: int
    fence_log_id: int
    aborted: tuple[int, ...]


@attrs.frozen(kw_only=True)
class CaughtUp:
    """The standby replayed the archived entries after its T through ``through_log_id``:
    the old primary's transactions ``applied``, tables ``created`` (mapped) and the source
    tables whose drop it replayed (``dropped``); the standby entries follow."""

    seq: int
    time: int
    promotion_id: int
    through_log_id: int
    applied: tuple[int, ...]
    created: tuple[TableMapping, ...]
    dropped: tuple[int, ...]


@attrs.frozen(kw_only=True)
class SchemaSwitched:
    """The standby takes over the tenant's name; the old primary is renamed."""

    seq: int
    time: int
    promotion_id: int
    primary_name: str  # the old primary's new name
    standby_name: str  # the standby's new name: the tenant's


@attrs.frozen(kw_only=True)
class RoutingUpdated:
    seq: int
    time: int
    promotion_id: int
    name: str
    tenant_id: int


@attrs.frozen(kw_only=True)
class WritesEnabled:
    """The standby is the writable primary. ``lost``: the old primary's committed
    transactions the new primary does not hold (the data-loss window)."""

    seq: int
    time: int
    promotion_id: int
    lost: tuple[int, ...]


@attrs.frozen(kw_only=True)
class PromotionStepFailed:
    """A step failed (a fault). Before the routing update it rolls the promotion back;
    from then on the step is retried."""

    seq: int
    time: int
    promotion_id: int
    step: PromotionStep
    reason: str
    rolled_back: bool
    fault: bool  # an injected fault (FailPromotionStep), not the step's own finding
    # A rollback after the schema switch gives both tenants their names back: these.
    primary_name: str = ""
    standby_name: str = ""


@attrs.frozen(kw_only=True)
class PromotionStopped:
    """The seed's protocol without rollback (DESIGN 14, ``no_promotion_rollback``): a step
    failed after the primary was fenced and before the routing update, and the promotion
    stops where it is: the primary stays fenced, the names and routing as they are."""

    seq: int
    time: int
    promotion_id: int
    step: PromotionStep
    reason: str
    fault: bool  # an injected fault (FailPromotionStep), not the step's own finding


@attrs.frozen(kw_only=True)
class TenantDecommissioned:
    """tenant_decommission: read-only keeps reads and refuses writes; full removal (after
    read-only) drops the tenant's tables (the events after this one) and its routing."""

    seq: int
    time: int
    tenant_id: int
    read_only: bool


PROMOTE_EVENT_TAGS: dict[type, str] = {
    PromotionStarted: "promotion.started",
    StandbyVerified: "promotion.verified",
    PrimaryFenced: "promotion.fenced",
    CaughtUp: "promotion.caught_up",
    SchemaSwitched: "promotion.schema_switched",
    RoutingUpdated: "promotion.routing_updated",
    WritesEnabled: "promotion.writes_enabled",
    PromotionStepFailed: "promotion.step_failed",
    PromotionStopped: "promotion.stopped",
    TenantDecommissioned: "tenant.decommissioned",
}


def _advance(state: ClusterState, e) -> act.AdvancePromotion:
    return act.AdvancePromotion(promotion_id=e.promotion_id)


def _step_failed(state: ClusterState, e: PromotionStepFailed | PromotionStopped) -> object:
    if e.fault:
        return act.FailPromotionStep(promotion_id=e.promotion_id, reason=e.reason)
    return act.AdvancePromotion(promotion_id=e.promotion_id)


REQUESTS: dict[type, Callable[[ClusterState, object], object]] = {
    PromotionStarted: lambda s, e: act.StartPromotion(
        standby=tenant_name(s, e.standby_id),
        primary=tenant_name(s, e.primary_id),
        verify=e.verify,
        catch_up=e.catch_up,
    ),
    StandbyVerified: _advance,
    PrimaryFenced: _advance,
    CaughtUp: _advance,
    SchemaSwitched: _advance,
    RoutingUpdated: _advance,
    WritesEnabled: _advance,
    PromotionStepFailed: _step_failed,
    PromotionStopped: _step_failed,
    TenantDecommissioned: lambda s, e: act.Decommission(
        tenant=tenant_name(s, e.tenant_id), read_only=e.read_only
    ),
}
"""The request behind each promotion event (every one opens a decision)."""

_P = PromotionPhase

PROMOTION_TASK: Lifecycle[PromotionPhase] = Lifecycle(
    "promotion",
    PromotionPhase,
    {
        (_P.STARTED, StandbyVerified): _P.VERIFIED,
        (_P.STARTED, PrimaryFenced): _P.FENCED,  # without verification
        (_P.VERIFIED, PrimaryFenced): _P.FENCED,
        (_P.FENCED, CaughtUp): _P.CAUGHT_UP,
        (_P.FENCED, SchemaSwitched): _P.SWITCHED,  # without catch-up
        (_P.CAUGHT_UP, SchemaSwitched): _P.SWITCHED,
        (_P.SWITCHED, RoutingUpdated): _P.ROUTED,
        (_P.ROUTED, WritesEnabled): _P.COMPLETED,
        **{
            (phase, PromotionStepFailed): _P.ROLLED_BACK
            for phase in (_P.STARTED, _P.VERIFIED, _P.FENCED, _P.CAUGHT_UP, _P.SWITCHED)
        },
        (_P.ROUTED, PromotionStepFailed): _P.ROUTED,  # past the point of no return: retried
        # the seed's protocol: no rollback once the primary is fenced (DESIGN 14)
        **{(phase, PromotionStopped): _P.STOPPED for phase in (_P.FENCED, _P.CAUGHT_UP, _P.SWITCHED)},
    },
)
"""Which event moves a promotion from which phase to which. The steps a promotion takes
(with or without verification and catch-up) are its own choice; the reducer checks the
event is the next of those, then that the move is in this table."""
