"""What a run of a model covered, and whether it proved anything (as TLC's ``-coverage``,
Stateright's "sometimes" properties, Hypothesis's ``event()`` statistics).

A :class:`Coverage` says, per action kind, in how many states it was enabled and how many
times it was taken; per invariant, in how many states it was checked and in how many its
subject existed; per goal, whether it was reached and at what depth; per progress
property, whether it was judged and in how many states something was pending; and the
search's own figures (states first found at each depth, the chance of a fingerprint
collision). A run in which a goal is never reached, an invariant's subject never exists,
or nothing is ever pending for a progress property, is *vacuous*: :attr:`Coverage.vacuous`
says why, and the drivers' verdict says so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from ybstate.kernel import Goal, Invariant

__all__ = [
    "ActionCoverage",
    "InvariantCoverage",
    "GoalCoverage",
    "ProgressCoverage",
    "Coverage",
    "Observer",
    "collision_probability",
]


@attrs.frozen
class ActionCoverage:
    enabled: int  # states in which an action of this kind was enabled
    taken: int  # transitions of this kind tried (decided and applied)


@attrs.frozen
class InvariantCoverage:
    checked: int  # states it was checked in
    subject: int | None  # states holding its subject; None: it is about every state
    optional: bool = False  # never meeting its subject does not make the run vacuous

    @property
    def unmet(self) -> bool:
        """Checked, about something, and that something never existed."""
        return self.subject == 0 and self.checked > 0


@attrs.frozen
class GoalCoverage:
    reached: bool
    depth: int | None  # the depth of the first state reaching it (steps from the start)


@attrs.frozen
class ProgressCoverage:
    checked: bool  # judged on the whole explored graph (False: the run could not)
    pending: int | None  # states in which something was pending; None: not counted (walks)
    things: int | None  # distinct things ever pending

    @property
    def unmet(self) -> bool:
        """Nothing was ever pending: the property was never put to the test."""
        return self.pending == 0


@attrs.frozen(kw_only=True)
class Coverage:
    actions: Mapping[str, ActionCoverage]
    invariants: Mapping[str, InvariantCoverage]
    goals: Mapping[str, GoalCoverage]
    per_depth: tuple[int, ...] = ()  # distinct states first found at each depth
    collision_probability: float = 0.0  # 0 when states are keyed exactly
    progress: Mapping[str, ProgressCoverage] = attrs.field(factory=dict)  # those asked for

    @property
    def vacuous(self) -> tuple[str, ...]:
        """Why the run proved nothing about some property: goals never reached, invariants
        whose subject never existed, progress properties with nothing ever pending. Empty
        when it is not vacuous."""
        reasons = [f"goal {name} was never reached" for name, g in self.goals.items() if not g.reached]
        reasons += [
            f"invariant {name} never met its subject"
            for name, c in self.invariants.items()
            if c.unmet and not c.optional
        ]
        reasons += [
            f"progress {name}: nothing was ever pending" for name, p in self.progress.items() if p.unmet
        ]
        return tuple(reasons)

    @classmethod
    def merge(cls, runs: Sequence[Coverage]) -> Coverage:
        """The coverage of several runs of one spec (the walks of a simulation), as one:
        counts add up, a goal is reached if any run reached it, at the least depth."""
        actions: dict[str, ActionCoverage] = {}
        invariants: dict[str, InvariantCoverage] = {}
        goals: dict[str, GoalCoverage] = {}
        for run in runs:
            for name, a in run.actions.items():
                was = actions.get(name, ActionCoverage(0, 0))
                actions[name] = ActionCoverage(was.enabled + a.enabled, was.taken + a.taken)
            for name, i in run.invariants.items():
                if name not in invariants:
                    invariants[name] = i
                    continue
                was_i = invariants[name]
                subject = None if i.subject is None else (was_i.subject or 0) + i.subject
                invariants[name] = InvariantCoverage(was_i.checked + i.checked, subject, i.optional)
            for name, g in run.goals.items():
                depths = [
                    d for d in (goals.get(name, GoalCoverage(False, None)).depth, g.depth) if d is not None
                ]
                goals[name] = GoalCoverage(bool(depths), min(depths) if depths else None)
        return cls(actions=actions, invariants=invariants, goals=goals)

    def to_json(self) -> dict[str, Any]:
        """The ``coverage`` object of a check result (DESIGN 13)."""
        return {
            "actions": {k: {"enabled": v.enabled, "taken": v.taken} for k, v in sorted(self.actions.items())},
            "invariants": {
                k: {"checked": v.checked, "subject": v.subject, "optional": v.optional}
                for k, v in self.invariants.items()
            },
            "goals": {k: {"reached": v.reached, "depth": v.depth} for k, v in self.goals.items()},
            "per_depth": list(self.per_depth),
            "collision_probability": self.collision_probability,
            "progress": {
                k: {"checked": v.checked, "pending": v.pending, "things": v.things}
                for k, v in self.progress.items()
            },
        }

    def format(self) -> str:
        """Tables to read: actions, invariants, goals, then the search's figures."""
        lines = ["actions (states enabled in / transitions taken):"]
        width = max((len(name) for name in self.actions), default=0)
        for name, c in sorted(self.actions.items()):
            lines.append(f"  {name:<{width}}  {c.enabled:>10,}  {c.taken:>12,}")
        lines.append("invariants (states checked / states holding their subject):")
        width = max((len(name) for name in self.invariants), default=0)
        for name, c in self.invariants.items():
            subject = "every state" if c.subject is None else f"{c.subject:,}"
            flag = ""
            if c.unmet:
                flag = "   (never met; not required here)" if c.optional else "   <- never met: vacuous"
            lines.append(f"  {name:<{width}}  {c.checked:>10,}  {subject:>12}{flag}")
        if self.goals:
            lines.append("goals:")
            width = max(len(name) for name in self.goals)
            for name, g in self.goals.items():
                where = f"reached at depth {g.depth}" if g.reached else "NEVER REACHED: vacuous"
                lines.append(f"  {name:<{width}}  {where}")
        if self.progress:
            lines.append("progress (states with something pending / things pending):")
            width = max(len(name) for name in self.progress)
            for name, p in self.progress.items():
                counts = "" if p.pending is None else f"{p.pending:>10,}  {p.things or 0:>12,}"
                if p.unmet:
                    verdict = "   <- nothing ever pending: vacuous"
                elif p.checked:
                    verdict = "   judged on the whole graph"
                else:
                    verdict = "   NOT CHECKED: only a search of every reachable state can judge it"
                lines.append(f"  {name:<{width}}  {counts}{verdict}")
        if self.per_depth:
            lines.append(f"new states per depth: {', '.join(f'{n:,}' for n in self.per_depth)}")
        lines.append(f"fingerprint collision probability: {self.collision_probability:.2e}")
        return "\n".join(lines)


def collision_probability(states: int, key_bits: int | None) -> float:
    """The chance that two of ``states`` distinct states share a ``key_bits``-bit fingerprint
    (the birthday bound, as TLC reports it); 0 when states are keyed exactly."""
    if key_bits is None or states < 2:
        return 0.0
    return min(1.0, states * (states - 1) / 2 / 2.0**key_bits)


class Observer:
    """Counts what one run covers; a driver calls :meth:`expanded` for each state whose
    actions it tries and :meth:`visited` for each distinct state it checks."""

    def __init__(self, invariants: Sequence[Invariant], goals: Sequence[Goal]) -> None:
        # How many expanded states offered each sequence of action kinds: far fewer
        # sequences than states, so counting them is cheap; the counts per kind follow.
        self.signatures: dict[tuple[type, ...], int] = {}
        # A random walk takes one action per state: what it chose, by kind (None: a search,
        # which takes every action it is offered).
        self.chosen: Counter[type] | None = None
        self.invariants = tuple(invariants)
        # Each distinct subject predicate once per state (invariants share them), with the
        # invariants whose count it feeds.
        shared: dict[Any, list[int]] = {}
        for index, inv in enumerate(self.invariants):
            if inv.subject is not None:
                shared.setdefault(inv.subject, []).append(index)
        self.subjects = [(subject, tuple(indexes)) for subject, indexes in shared.items()]
        self.subject_counts = [0] * len(self.invariants)
        self.goals = tuple(goals)
        self.pending = list(self.goals)
        self.reached: dict[str, int] = {}
        self.watching = bool(self.subjects or self.pending)

    def expanded(self, actions: Sequence[Any]) -> None:
        signature = tuple(map(type, actions))
        self.signatures[signature] = self.signatures.get(signature, 0) + 1

    def visited(self, state: Any, depth: int) -> None:
        """Count ``state``, first found ``depth`` steps from the start, for the subjects and
        goals (a driver may skip the call while :attr:`watching` is False)."""
        if not self.watching:
            return
        counts = self.subject_counts
        for subject, indexes in self.subjects:
            if subject(state):
                for index in indexes:
                    counts[index] += 1
        if self.pending:
            for goal in list(self.pending):
                if goal.reached(state):
                    self.reached[goal.name] = depth
                    self.pending.remove(goal)
            self.watching = bool(self.subjects or self.pending)

    def coverage(self, checked: int, per_depth: Sequence[int] = (), key_bits: int | None = None) -> Coverage:
        """The coverage of a run that checked ``checked`` distinct states."""
        taken: Counter[type] = Counter()
        enabled_in: Counter[type] = Counter()
        for signature, count in self.signatures.items():
            for kind, times in Counter(signature).items():
                taken[kind] += times * count
                enabled_in[kind] += count
        if self.chosen is not None:
            taken = self.chosen
        actions = {k.__name__: ActionCoverage(enabled_in[k], taken[k]) for k in enabled_in}
        invariants = {
            inv.name: InvariantCoverage(
                checked, self.subject_counts[i] if inv.subject else None, inv.optional
            )
            for i, inv in enumerate(self.invariants)
        }
        goals = {g.name: GoalCoverage(g.name in self.reached, self.reached.get(g.name)) for g in self.goals}
        return Coverage(
            actions=actions,
            invariants=invariants,
            goals=goals,
            per_depth=tuple(per_depth),
            collision_probability=collision_probability(checked, key_bits),
        )
