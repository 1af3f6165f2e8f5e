"""Access control's trace in the history: a refused command is recorded as an event.

Who may call what is decided by :mod:`ybstate.api`; this module holds the one action and
event a refusal makes, so the history shows every attempt that was turned away.
"""

from __future__ import annotations

import attrs

from ybstate.cluster.state import ClusterState, evolve_state
from ybstate.errors import InvalidAction
from ybstate.kernel import Subsystem

__all__ = ["ACCESS_ACTION_TAGS", "ACCESS", "CommandDenied", "DenyCommand"]


@attrs.frozen(kw_only=True)
class DenyCommand:
    """Record that ``caller`` (tenant, user, role) may not run ``command`` on ``target``."""

    caller_tenant: str
    user: str
    role: str
    command: str
    target: str
    reason: str


@attrs.frozen(kw_only=True)
class CommandDenied:
    seq: int
    time: int
    caller_tenant: str
    user: str
    role: str
    command: str
    target: str
    reason: str


def _deny(state: ClusterState, a: DenyCommand) -> list[object]:
    for name in ("caller_tenant", "user", "role", "command", "target", "reason"):
        if not isinstance(getattr(a, name), str):
            raise InvalidAction(f"a denied command's {name} must be a string, got {getattr(a, name)!r}")
    return [CommandDenied(seq=state.seq + 1, time=state.clock, **attrs.asdict(a))]


def _denied(state: ClusterState, e: CommandDenied) -> ClusterState:
    return evolve_state(state, seq=e.seq, clock=e.time)


def _request(state: ClusterState, e: CommandDenied) -> DenyCommand:
    return DenyCommand(
        caller_tenant=e.caller_tenant,
        user=e.user,
        role=e.role,
        command=e.command,
        target=e.target,
        reason=e.reason,
    )


ACCESS_ACTION_TAGS: dict[type, str] = {
    DenyCommand: "access.deny_command",
}
"""The stored tag of each access action (a trace of actions round-trips by it; never the class name)."""


ACCESS = Subsystem(
    name="access",
    deciders={DenyCommand: _deny},
    handlers={CommandDenied: _denied},
    event_tags={CommandDenied: "command.denied"},
    action_tags=ACCESS_ACTION_TAGS,
    requests={CommandDenied: _request},
)
"""Access control's record: the one action and event a refusal for rights makes."""
