"""The shape every model in ybstate shares: three pure functions and a start state.

A :class:`Spec` bundles ``init``, ``enabled``, ``decide`` and ``apply`` of one model
(the YaoBase cluster, or a textbook protocol such as two-phase commit) with the
invariants that must hold in every reachable state. The drivers (simulator, explorer,
Hypothesis machines, scenario runner) only ever see a ``Spec``: they never reach into a
model's modules, so the same explorer checks every model.

Pure: no I/O, no clock, no randomness.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, Generic, TypeVar

import attrs

__all__ = ["Spec", "Invariant", "Goal", "Completion", "Violation", "step"]

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

    ``since(before, after)``, when given, is the incremental form: the same verdict as
    ``check(after)`` for a state ``after`` reached from ``before``, an earlier state of
    the same history in which every invariant of the model held, looking only at what
    changed between the two (the log entries appended since, the tasks they touched). It
    is how a check costs the same at any history length: the drivers call it with the
    last state they checked (the explorer: the parent) and ``check`` only where they
    have none (the start state, a state given on its own). By induction it judges the
    whole history, on one condition: what it does not look at cannot change without an
    event it does look at (the log is append-only; a frozen version's snapshot is
    written once).
    """

    name: str
    check: Callable[[S], str | None]
    subject: Callable[[S], bool] | None = None
    optional: bool = False
    since: Callable[[S, S], str | None] | None = None


@attrs.frozen(kw_only=True)
class Goal(Generic[S]):
    """A named "sometimes" property: a state where ``reached`` holds should be reachable
    (a restore completed through its pipeline, a promotion rolled back). A run that asks
    for a goal and never reaches it is vacuous."""

    name: str
    reached: Callable[[S], bool]


@attrs.frozen(kw_only=True)
class Completion(Generic[S]):
    """A named progress property: everything underway can still be done.

    ``pending(state)`` names the things underway in a state (restore task ids, say) and
    ``done(state)`` the things done there. The property holds when, from every reachable
    state and for every thing pending in it, some path leads to a state where that thing
    is done: AG(pending(x) -> EF done(x)), TLC's and Stateright's "eventually" judged on
    the explored graph, without fairness. It is about a whole graph, not one state, so
    only a search that visited every reachable state can judge it.

    ``message`` says what a violation means, with ``{thing}`` standing for the thing
    ("restore task {thing} can no longer complete").
    """

    name: str
    pending: Callable[[S], Iterable[Hashable]]
    done: Callable[[S], Iterable[Hashable]]
    message: str = "{thing} can no longer be done: no path from here leads to a state where it is"


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

    ``stuck`` declares the final states, for the explorer's deadlock check (TLC's): it is
    asked only about a state in which nothing is enabled, and answers None when that
    state is a proper end, else what is stuck there ("restore task 1 in
    RESTORING_INCREMENTAL"). None: the model declares no final states and nothing is
    judged a deadlock. ``progress`` are the progress properties a complete search checks
    on the graph it explored (:class:`Completion`). ``probes(state)`` are requests that
    could arrive in ``state`` whether or not ``enabled`` offers them; the explorer tries
    each one not offered and requires ``decide`` to refuse it (raise an
    :class:`~ybstate.errors.ActionRejected`) or what it decides to apply and keep every
    invariant. None: nothing is probed.
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
    stuck: Callable[[S], str | None] | None = None
    progress: tuple[Completion[S], ...] = ()
    probes: Callable[[S], Iterable[A]] | None = None

    def violations(self, state: S, before: S | None = None) -> list[Violation]:
        """Every invariant that does not hold in ``state``, in declaration order.

        ``before``: an earlier state of the same history in which every invariant held;
        an invariant with an incremental form (:attr:`Invariant.since`) then looks only at
        what changed since."""
        found = []
        for inv in self.invariants:
            if before is not None and inv.since is not None:
                message = inv.since(before, state)
            else:
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
