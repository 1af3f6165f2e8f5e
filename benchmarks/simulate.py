"""The seeded simulator's cost per step as its history grows, with the default invariant
checking and without.

``ybstate simulate --seed S --steps N`` without a check file: the open-ended cluster
(three tenants, eight keys), every invariant in play checked every ``--check-every``
steps (default 100, as the command) and coverage kept. The walk is timed by segments of
``--segment`` steps; the table gives steps/s in the first segment and in the last one
before ``--steps`` (goal: the last at least 0.8x the first), then the whole walk with
checking and with no invariant at all (goal: checking costs at most 1.5x).

    PYTHONPATH=. python benchmarks/simulate.py [--steps 100000] [--seed 1]
"""

from __future__ import annotations

import argparse
import time

import attrs
from rich.console import Console
from rich.table import Table

from ybstate.checks import invariants_in_play
from ybstate.drivers.simulate import simulate
from ybstate.model import model_spec, simulation_scope

FLAT_GOAL = 0.8
CHECKING_GOAL = 1.5


def walk(spec, seed: int, steps: int, check_every: int, segment: int):
    """(seconds of the whole walk, [(steps so far, seconds so far)] at each segment's end,
    the walk's result)."""
    marks = []
    started = time.perf_counter()

    def on_step(number, action, events, state) -> None:
        if number % segment == 0:
            marks.append((number, time.perf_counter() - started))

    result = simulate(spec, seed=seed, steps=steps, check_every=check_every, on_step=on_step)
    return time.perf_counter() - started, marks, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--segment", type=int, default=10_000)
    parser.add_argument("--check-every", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args()
    scope = simulation_scope(3, 8)
    spec = model_spec(scope)
    spec = attrs.evolve(spec, invariants=invariants_in_play(scope, spec.init()))
    checked, marks, result = walk(spec, options.seed, options.steps, options.check_every, options.segment)
    bare = attrs.evolve(spec, invariants=())
    unchecked, bare_marks, _ = walk(bare, options.seed, options.steps, options.check_every, options.segment)
    console = Console(width=140)
    segments = Table(
        "steps",
        "steps/s, checked",
        "ratio to the first",
        "goal",
        "steps/s, no invariant",
        "ratio to the first",
        title=f"seed {options.seed}, invariants checked every {options.check_every} steps, coverage kept",
    )
    firsts: list[float] = []
    previous = [(0, 0.0), (0, 0.0)]
    for (number, seconds), (_, bare_seconds) in zip(marks, bare_marks, strict=True):
        rates = [
            (number - previous[0][0]) / (seconds - previous[0][1]),
            (number - previous[1][0]) / (bare_seconds - previous[1][1]),
        ]
        firsts = firsts or rates
        segments.add_row(
            f"{previous[0][0]:,}..{number:,}",
            f"{rates[0]:,.0f}",
            f"{rates[0] / firsts[0]:.2f}",
            f">= {FLAT_GOAL}",
            f"{rates[1]:,.0f}",
            f"{rates[1] / firsts[1]:.2f}",
        )
        previous = [(number, seconds), (number, bare_seconds)]
    console.print(segments)
    whole = Table(
        "invariants checked",
        "seconds",
        "steps/s",
        "ratio",
        "goal",
        title=f"the whole walk of {options.steps:,} steps ({result.state.seq:,} events)",
    )
    whole.add_row(
        f"every {options.check_every} steps",
        f"{checked:.1f}",
        f"{options.steps / checked:,.0f}",
        f"{checked / unchecked:.2f}",
        f"<= {CHECKING_GOAL}",
    )
    whole.add_row("none", f"{unchecked:.1f}", f"{options.steps / unchecked:,.0f}", "1.00", "")
    console.print(whole)


if __name__ == "__main__":
    main()
