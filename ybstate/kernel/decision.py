"""A decision that makes nested decisions, given ``decide`` and ``apply`` from outside.

Some decisions log more than their own event: a restore's PREPARING creates the standby
with the cluster's own ``CreateTable``, a fence aborts the old primary's transactions with
``Abort``. Each event of such a decision must be decided in the state the previous ones
leave. A :class:`Decision` keeps that scratch state: :meth:`add` applies an event made
by the caller, :meth:`decided` decides an action in the scratch state and applies what it
makes. The part that needs it never imports the model's ``decide`` or ``apply``: the
composition root hands them over when it builds the model (ybstate.model.compose), so no
subsystem depends on the whole.

Pure. The states are the model's own (they carry ``seq``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["Decision"]


class Decision:
    """The events of one decision so far, and the state they lead to."""

    __slots__ = ("_apply", "_decide", "events", "state", "states")

    def __init__(
        self,
        state: Any,
        *,
        decide: Callable[[Any, Any], Sequence[Any]],
        apply: Callable[[Any, Any], Any],
    ) -> None:
        self.state = state
        self.events: list[Any] = []
        self.states: list[Any] = []  # the state after each event
        self._decide = decide
        self._apply = apply

    @property
    def seq(self) -> int:
        """The seq the next event of this decision takes."""
        return self.state.seq + 1

    def add(self, event: Any) -> None:
        """Apply ``event`` to the scratch state and keep it."""
        self.state = self._apply(self.state, event)
        self.events.append(event)
        self.states.append(self.state)

    def decided(self, action: Any) -> list[Any]:
        """Decide ``action`` in the scratch state, keep and apply what it makes; a refusal
        raises, as ``decide`` does."""
        made = list(self._decide(self.state, action))
        for event in made:
            self.add(event)
        return made
