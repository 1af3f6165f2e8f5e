"""The explorer on the protocol: every shipped check file, and what coverage costs.

For each check in specs/checks/, runs its start once, then explores it with coverage and
without, alternating, keeping each one's best of ``--repeat`` runs, and prints distinct
states, depth, states per second and seconds, and the cost of the coverage bookkeeping
(goal: under 15%). Checks that finish in a few milliseconds are dominated by fixed costs
and timer noise; the ratio means something on the larger ones.

    PYTHONPATH=. python benchmarks/explore_protocol.py [--repeat K] [CHECK ...]
"""

from __future__ import annotations

import argparse
import gc
from pathlib import Path

import attrs
from rich.console import Console
from rich.table import Table

from ybstate.checks import load_check, run_check
from ybstate.drivers.explore import explore

GOAL = 0.15
ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "checks", nargs="*", type=Path, default=sorted((ROOT / "specs" / "checks").glob("*.toml"))
    )
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    table = Table(
        "check",
        "distinct states",
        "depth",
        "states/s",
        "seconds",
        "without coverage s",
        "coverage cost",
        title="explore: the shipped checks",
    )
    for path in options.checks:
        check = load_check(path)
        first = run_check(check)  # runs the start once; the spec explores from its state
        spec = first.spec
        best = {True: float("inf"), False: float("inf")}
        result = first.exploration
        for _ in range(options.repeat):
            for coverage in (False, True):
                gc.collect()
                run = explore(
                    spec,
                    max_states=check.settings.max_states,
                    max_depth=check.settings.max_depth,
                    coverage=coverage,
                )
                best[coverage] = min(best[coverage], run.seconds)
                if coverage:
                    result = attrs.evolve(run, seconds=best[True])
        cost = best[True] / best[False] - 1 if best[False] > 0 else 0.0
        table.add_row(
            path.name,
            f"{result.distinct_states:,}",
            str(result.depth),
            f"{result.distinct_states / best[True]:,.0f}",
            f"{best[True]:.3f}",
            f"{best[False]:.3f}",
            f"{cost:+.1%}",
        )
    Console(width=160).print(table)
    print(f"goal: coverage costs under {GOAL:.0%} of the exploration on the larger checks")


if __name__ == "__main__":
    main()
