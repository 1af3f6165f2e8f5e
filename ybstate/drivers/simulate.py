"""The seeded simulator: one random walk through any :class:`~ybstate.kernel.Spec`.

At each step ``random.Random(seed)`` picks ``rng.choice(list(enabled))``; the pick depends
only on the seed and on the order ``enabled`` returns its actions, so the same seed on the
same model gives the same history, event for event. The walk stops at the first invariant
violation, when nothing is enabled, or after ``steps`` steps. A walk that ends with
nothing enabled in a state the model does not accept as final (``spec.stuck``) has found
a deadlock: a violation named "deadlock", as the explorer reports it.

The randomness lives here, in the driver; the model's three functions stay pure.

Raises :class:`~ybstate.errors.InvalidParameter` for a bad argument and
:class:`~ybstate.errors.EnabledActionFailed` when the model rejects an action it offered.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from ybstate.drivers.coverage import Coverage, Observer
from ybstate.drivers.explore import DEADLOCK, deadlock_message
from ybstate.errors import EnabledActionFailed, InvalidParameter
from ybstate.gcpause import paused_gc
from ybstate.kernel import Spec

__all__ = ["Simulation", "SimulationViolation", "simulate"]

OnStep = Callable[[int, Any, Sequence[Any], Any], object]


@attrs.frozen(kw_only=True)
class SimulationViolation:
    """An invariant found broken during a simulation, with what is needed to reproduce it.

    ``step`` is the number of steps taken when the check failed (0: the start state).
    With ``check_every > 1`` the breaking step lies somewhere in ``since_step .. step``;
    ``seqs`` are the ``seq`` numbers of the events of those steps, for events that have one.
    """

    invariant: str
    message: str
    seed: int
    step: int
    since_step: int
    seqs: tuple[int, ...]

    def __str__(self) -> str:
        if self.since_step < self.step:
            where = f"steps {self.since_step}..{self.step}"
        else:
            where = f"step {self.step}"
        if len(self.seqs) == 1:
            where += f", event seq {self.seqs[0]}"
        elif self.seqs:
            where += f", event seqs {self.seqs[0]}..{self.seqs[-1]}"
        return f"{self.invariant} violated at {where} (seed {self.seed}): {self.message}"


@attrs.frozen(kw_only=True)
class Simulation:
    """One simulated history: the steps taken, where it ended, and why it stopped."""

    seed: int
    state: Any
    steps: tuple[tuple[Any, tuple[Any, ...]], ...]
    violation: SimulationViolation | None
    deadlock: bool
    # What the walk covered: per action kind the states it was enabled in and the times it
    # was chosen; invariants' subjects and goals over the states it passed through.
    coverage: Coverage | None = None

    @property
    def ok(self) -> bool:
        return self.violation is None

    @property
    def verdict(self) -> str:
        """ "violated", "vacuous" (a goal never reached, an invariant's subject never met on
        the walk) or "holds" (nothing broke on this walk)."""
        if self.violation is not None:
            return "violated"
        if self.coverage is not None and self.coverage.vacuous:
            return "vacuous"
        return "holds"


def _check_int(name: str, value: int, least: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameter(name, value, "must be an int")
    if least is not None and value < least:
        raise InvalidParameter(name, value, f"must be >= {least}")


def _violation(
    spec: Spec, state: Any, seed: int, step: int, since: int, taken: list, before: Any = None
) -> SimulationViolation | None:
    """The first invariant ``state`` breaks, blamed on the steps after ``since`` (``before``:
    the state checked there, for the invariants' incremental forms)."""
    found = spec.violations(state, before)
    if not found:
        return None
    seqs = tuple(
        event.seq
        for _, events in taken[since:step]
        for event in events
        if isinstance(getattr(event, "seq", None), int)
    )
    return SimulationViolation(
        invariant=found[0].invariant,
        message=found[0].message,
        seed=seed,
        step=step,
        since_step=min(since + 1, step),
        seqs=seqs,
    )


def simulate(
    spec: Spec,
    *,
    seed: int,
    steps: int,
    state: Any = None,
    check_every: int = 1,
    on_step: OnStep | None = None,
    coverage: bool = True,
    weigh: Callable[[Any], float] | None = None,
) -> Simulation:
    """Walk at most ``steps`` seeded random steps from ``state`` (``spec.init()`` if None).

    ``weigh(action)``, when given, weights the choice (``rng.choices``): an action of
    weight 0 is never taken, and a state whose enabled actions all weigh 0 ends the walk
    as one with nothing enabled does, but is not judged a deadlock (something was on
    offer; the walk chose not to take it). Without it every enabled action is equally
    likely (``rng.choice``), as it always was.

    Invariants are checked in the start state, after every ``check_every``-th step and in
    the final state. ``on_step(i, action, events, state)`` is called after step ``i``
    (counted from 1) with the state that step reached.
    """
    _check_int("seed", seed)
    _check_int("steps", steps, 0)
    _check_int("check_every", check_every, 1)
    rng = random.Random(seed)
    if state is None:
        state = spec.init()
    taken: list[tuple[Any, tuple[Any, ...]]] = []
    checked_through = 0
    observer = Observer(spec.invariants, spec.goals) if coverage else None
    if observer is not None:
        observer.chosen = Counter()
        observer.visited(state, 0)
    checks = 1
    violation = _violation(spec, state, seed, 0, 0, taken)
    checked = state  # the last state checked: every invariant held there
    deadlock = False
    number = 0
    # The walk makes no reference cycles (the model's values are immutable and acyclic):
    # left running, the cyclic collector walks the whole growing history every so often,
    # and a step's cost grows with it (ybstate.gcpause).
    with paused_gc():
        while violation is None and number < steps:
            actions = list(spec.enabled(state))
            if not actions:
                deadlock = True
                break
            if weigh is None:
                action = rng.choice(actions)
            else:
                weights = [weigh(a) for a in actions]
                if not any(weights):
                    break  # only what this walk leaves out is on offer: it rests here
                action = rng.choices(actions, weights)[0]
            if observer is not None:
                observer.expanded(actions)
                observer.chosen[type(action)] += 1  # type: ignore[index]
            try:
                events = tuple(spec.decide(state, action))
            except Exception as exc:
                path = tuple(a for a, _ in taken)
                raise EnabledActionFailed(action, number, "decide", exc, path) from exc
            try:
                for event in events:
                    state = spec.apply(state, event)
            except Exception as exc:
                path = tuple(a for a, _ in taken)
                raise EnabledActionFailed(action, number, "apply", exc, path) from exc
            taken.append((action, events))
            number += 1
            if observer is not None:
                observer.visited(state, number)
            if on_step is not None:
                on_step(number, action, events, state)
            if number % check_every == 0 or number == steps:
                violation = _violation(spec, state, seed, number, checked_through, taken, checked)
                checked_through = number
                checked = state
                checks += 1
    if deadlock and checked_through < number:
        violation = _violation(spec, state, seed, number, checked_through, taken, checked)
        checks += 1
    if deadlock and violation is None and spec.stuck is not None:
        what = spec.stuck(state)
        if what is not None:
            violation = SimulationViolation(
                invariant=DEADLOCK,
                message=deadlock_message(what),
                seed=seed,
                step=number,
                since_step=number,
                seqs=(),  # no step is to blame: nothing is enabled after the last
            )
    return Simulation(
        seed=seed,
        state=state,
        steps=tuple(taken),
        violation=violation,
        deadlock=deadlock,
        coverage=None if observer is None else observer.coverage(checks),
    )
