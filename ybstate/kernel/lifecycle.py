"""A lifecycle: which event moves a thing from which phase to which, as one table.

``Lifecycle(name, phases, table)`` holds ``{(phase, EventType): next phase}``; a pair that
is not in the table is illegal. The reducer asks :meth:`Lifecycle.next` (which raises
:class:`~ybstate.errors.IllegalTransition`, one error shape for every lifecycle: the
event, the thing, its phase, and what would be legal there), ``decide`` asks
:meth:`Lifecycle.allows` before it makes an event, and a notebook draws
:meth:`Lifecycle.edges`. Transactions, DAG tasks, backups, restores and promotions each
have one.

The table says which moves exist. A move that also needs more than the thing's own phase
(a DAG task becomes ready only once its predecessors succeeded) is checked beside it by
the reducer that owns the thing.

Pure.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Generic, TypeVar

import attrs

from ybstate.errors import IllegalTransition

__all__ = ["Lifecycle"]

P = TypeVar("P", bound=enum.Enum)


def _name(phase: enum.Enum) -> str:
    return str(phase.value)


@attrs.frozen
class Lifecycle(Generic[P]):
    """``name`` says what moves ("transaction", "DAG task"); ``phases`` is its phase enum."""

    name: str
    phases: type[P]
    table: Mapping[tuple[P, type], P] = attrs.field(repr=False)

    def __attrs_post_init__(self) -> None:
        for (before, event_type), after in self.table.items():
            if not isinstance(before, self.phases) or not isinstance(after, self.phases):
                raise TypeError(f"{self.name} lifecycle: {before!r} -> {after!r} is not between phases")
            if not isinstance(event_type, type):
                raise TypeError(f"{self.name} lifecycle: {event_type!r} is not an event type")

    def allows(self, phase: P, event_type: type) -> bool:
        """Whether ``event_type`` may happen to a thing in ``phase``."""
        return (phase, event_type) in self.table

    def next(self, phase: P, event_type: type, ident: object) -> P:
        """The phase after ``event_type``; when the table has no such move, raises
        IllegalTransition naming the thing as ``f"{name} {ident}"`` (e.g. "backup task 3";
        the text is made only then, so a reducer may pass an id on its hot path)."""
        after = self.table.get((phase, event_type))
        if after is None:
            raise IllegalTransition(
                f"{self.name} {ident}",
                _name(phase),
                event_type.__name__,
                tuple(t.__name__ for t in self.legal_from(phase)),
            )
        return after

    def legal_from(self, phase: P) -> tuple[type, ...]:
        """The event types that may happen in ``phase``, in table order."""
        return tuple(t for (p, t) in self.table if p is phase)

    def legal_before(self, event_type: type) -> tuple[P, ...]:
        """The phases in which ``event_type`` may happen, in the enum's order."""
        return tuple(p for p in self.phases if (p, event_type) in self.table)

    def edges(self) -> tuple[tuple[P, str, P], ...]:
        """Every move as (phase before, event type name, phase after), in table order:
        what a picture of the lifecycle draws."""
        return tuple((before, kind.__name__, after) for (before, kind), after in self.table.items())

    def final(self) -> tuple[P, ...]:
        """The phases nothing leads out of, in the enum's order."""
        leaving = {before for (before, _) in self.table}
        return tuple(p for p in self.phases if p not in leaving)
