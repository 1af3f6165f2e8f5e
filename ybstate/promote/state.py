"""State of promotions: one task per tenant_promote_standby, moving through its steps.

Steps, in order: VERIFY (optional: the standby against its backup and archive, as a
restore's verification), FENCE (the old primary accepts no commit from here on; its open
transactions abort), CATCH_UP (optional: the standby replays archived entries up to the
old primary's last commit), SWITCH_SCHEMA (the standby takes over the tenant's name; the
old primary is renamed, so names stay unique), UPDATE_ROUTING (the name routes to the
standby), ENABLE_WRITES (the standby becomes a writable primary). A failure before
UPDATE_ROUTING rolls everything back: the old primary is writable under its name again
and the standby stays a standby. From UPDATE_ROUTING on there is no going back: a failed
step is retried.
"""

from __future__ import annotations

import enum

import attrs

from ybstate.restore.state import TableMapping

__all__ = ["PromotionStep", "PromotionStatus", "PromotionPhase", "PromotionTask", "STEP_ORDER"]


class PromotionStep(enum.Enum):
    VERIFY = "VERIFY"
    FENCE = "FENCE"
    CATCH_UP = "CATCH_UP"
    SWITCH_SCHEMA = "SWITCH_SCHEMA"
    UPDATE_ROUTING = "UPDATE_ROUTING"
    ENABLE_WRITES = "ENABLE_WRITES"


STEP_ORDER = tuple(PromotionStep)


class PromotionStatus(enum.Enum):
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    ROLLED_BACK = "ROLLED_BACK"
    STOPPED = "STOPPED"  # the seed's protocol: a failure after the fence, not rolled back


class PromotionPhase(enum.Enum):
    """Where a promotion stands: the last step it took, or how it ended."""

    STARTED = "STARTED"
    VERIFIED = "VERIFIED"
    FENCED = "FENCED"
    CAUGHT_UP = "CAUGHT_UP"
    SWITCHED = "SWITCHED"
    ROUTED = "ROUTED"
    COMPLETED = "COMPLETED"
    ROLLED_BACK = "ROLLED_BACK"
    STOPPED = "STOPPED"


_PHASE_AFTER = {
    PromotionStep.VERIFY: PromotionPhase.VERIFIED,
    PromotionStep.FENCE: PromotionPhase.FENCED,
    PromotionStep.CATCH_UP: PromotionPhase.CAUGHT_UP,
    PromotionStep.SWITCH_SCHEMA: PromotionPhase.SWITCHED,
    PromotionStep.UPDATE_ROUTING: PromotionPhase.ROUTED,
    PromotionStep.ENABLE_WRITES: PromotionPhase.COMPLETED,
}


@attrs.frozen(kw_only=True)
class PromotionTask:
    promotion_id: int
    standby_id: int
    primary_id: int
    verify: bool
    catch_up: bool
    primary_name: str  # the names before the switch
    standby_name: str
    restored_to: int  # the standby's T when the promotion began
    restore_task_id: int
    status: PromotionStatus
    started_ts: int
    ended_ts: int = 0
    done: tuple[PromotionStep, ...] = ()
    failures: int = 0  # failed step attempts
    error: str = ""
    fence_log_id: int = 0  # the old primary's commits end at or before this log id
    # When the fence ended the old primary's writes: its downtime begins. Read by the tables
    # only, never by a decision; out of the repr (the fingerprint's text), so a history made
    # before it was kept keeps its fingerprint.
    fenced_ts: int = attrs.field(default=0, repr=False)
    row_count_match: bool = False
    checksum_match: bool = False
    sample_match: bool = False
    mapping: tuple[TableMapping, ...] = ()  # source table -> standby table, kept up to date
    caught_up: tuple[int, ...] = ()  # the old primary's transactions the catch-up applied
    caught_up_through: int = 0  # log id the catch-up replayed through
    lost: tuple[int, ...] = ()  # the old primary's commits the new primary does not hold

    @property
    def steps(self) -> tuple[PromotionStep, ...]:
        """The steps this promotion takes, in order."""
        return tuple(
            s
            for s in STEP_ORDER
            if (s is not PromotionStep.VERIFY or self.verify)
            and (s is not PromotionStep.CATCH_UP or self.catch_up)
        )

    @property
    def next_step(self) -> PromotionStep | None:
        for step in self.steps:
            if step not in self.done:
                return step
        return None

    @property
    def final(self) -> bool:
        return self.status is not PromotionStatus.RUNNING

    @property
    def phase(self) -> PromotionPhase:
        """Derived from the steps done and the status (what the PROMOTION_TASK lifecycle reads)."""
        if self.status is PromotionStatus.ROLLED_BACK:
            return PromotionPhase.ROLLED_BACK
        if self.status is PromotionStatus.STOPPED:
            return PromotionPhase.STOPPED
        return _PHASE_AFTER[self.done[-1]] if self.done else PromotionPhase.STARTED

    @property
    def routed(self) -> bool:
        """Past the point of no return: the name routes to the standby."""
        return PromotionStep.UPDATE_ROUTING in self.done
