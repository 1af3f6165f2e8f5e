"""The shape every model in ybstate shares: three pure functions and a start state.

A :class:`Spec` bundles ``init``, ``enabled``, ``decide`` and ``apply`` of one model
(the YaoBase cluster, or a textbook protocol such as two-phase commit) with the
invariants that must hold in every reachable state. The drivers (simulator, explorer,
Hypothesis machines, scenario runner) only ever see a ``Spec``: they never reach into a
model's modules, so the same explorer checks every model.

Pure: no I/O, no clock, no randomness.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

import attrs

__all__ = ["Spec", "Invariant", "Goal", "Violation", "step"]

S = TypeVar("S")
A = TypeVar("A")
E = TypeVar("E")


@attrs.frozen(kw_only=True)
class Invariant(Generic[S]):
    """A named predicate over states. ``check`` returns None when it holds, else why not.

    ``subject`` says whether a state holds what the invariant is about (the PITR
    invariant's subject is a completed restore): a run in which no state has it proved
    nothing about the invariant, and the drivers call such a run vacuous. None: the
    invariant is about every state. ``optional``: checked, but a run that never meets its
    subject is not vacuous for it (a check chose it only because its start already holds
    what the invariant is about, not because the check's scope exercises it).
    """

    name: str
    check: Callable[[S], str | None]
    subject: Callable[[S], bool] | None = None
    optional: bool = False


@attrs.frozen(kw_only=True)
class Goal(Generic[S]):
    """A named "sometimes" property: a state where ``reached`` holds should be reachable
    (a restore completed through its pipeline, a promotion rolled back). A run that asks
    for a goal and never reaches it is vacuous."""

    name: str
    reached: Callable[[S], bool]


@attrs.frozen(kw_only=True)
class Violation:
    """An invariant that failed, with the reason it gave."""

    invariant: str
    message: str

    def __str__(self) -> str:
        return f"{self.invariant}: {self.message}"


@attrs.frozen(kw_only=True)
class Spec(Generic[S, A, E]):
    """One model: its start state, its three pure functions and its invariants.

    ``key`` maps a state to what the explorer's visited set stores: the state itself for
    small hashable models (exact, ``key_bits`` None), or a stable fingerprint of
    ``key_bits`` bits for large ones (the explorer then reports the chance that two
    distinct states collided). ``goals`` are what a run of this model should reach.
    """

    name: str
    init: Callable[[], S]
    enabled: Callable[[S], Sequence[A]]
    decide: Callable[[S, A], Sequence[E]]
    apply: Callable[[S, E], S]
    key: Callable[[S], Hashable]
    invariants: tuple[Invariant[S], ...] = ()
    describe: Callable[[S], Any] = repr
    goals: tuple[Goal[S], ...] = ()
    key_bits: int | None = None

    def violations(self, state: S) -> list[Violation]:
        """Every invariant that does not hold in ``state``, in declaration order."""
        found = []
        for inv in self.invariants:
            message = inv.check(state)
            if message is not None:
                found.append(Violation(invariant=inv.name, message=message))
        return found


def step(spec: Spec[S, A, E], state: S, action: A) -> tuple[S, Sequence[E]]:
    """Decide ``action`` in ``state`` and apply the resulting events."""
    events = spec.decide(state, action)
    for event in events:
        state = spec.apply(state, event)
    return state, events
