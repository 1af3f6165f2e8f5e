"""The explorer on the protocol: every shipped check file, and what coverage, progress and probing cost.

For each check in specs/checks/, runs its start once, then explores it with coverage and
without, and with every progress property of the catalogue (``ybstate.model.progress``),
alternating, keeping each one's best of ``--repeat`` runs, and prints distinct states,
depth, states per second and seconds, the cost of the coverage bookkeeping (goal: under
15%) and that of judging progress (the explored graph kept, the backward pass). Checks
that finish in a few milliseconds are dominated by fixed costs and timer noise; the
ratios mean something on the larger ones.

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
from ybstate.model.progress import PROGRESS

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
        "with progress s",
        "progress cost",
        "with probing s",
        "probing cost",
        title="explore: the shipped checks",
    )
    for path in options.checks:
        check = load_check(path)
        first = run_check(check)  # runs the start once; the spec explores from its state
        # the check's own progress properties and probes are measured apart, below
        spec = attrs.evolve(first.spec, progress=(), probes=None)
        judged = attrs.evolve(spec, progress=tuple(PROGRESS.values()))
        probing = attrs.evolve(spec, probes=first.spec.probes)
        best = {True: float("inf"), False: float("inf"), "progress": float("inf"), "probing": float("inf")}
        result = first.exploration
        for _ in range(options.repeat):
            runs = ((False, spec), (True, spec), ("progress", judged), ("probing", probing))
            for coverage, model in runs:
                gc.collect()
                run = explore(
                    model,
                    max_states=check.settings.max_states,
                    max_depth=check.settings.max_depth,
                    coverage=coverage is not False,
                )
                best[coverage] = min(best[coverage], run.seconds)
                if coverage is True:
                    result = attrs.evolve(run, seconds=best[True])
        cost = best[True] / best[False] - 1 if best[False] > 0 else 0.0
        progress = best["progress"] / best[True] - 1 if best[True] > 0 else 0.0
        probes = best["probing"] / best[True] - 1 if best[True] > 0 else 0.0
        table.add_row(
            path.name,
            f"{result.distinct_states:,}",
            str(result.depth),
            f"{result.distinct_states / best[True]:,.0f}",
            f"{best[True]:.3f}",
            f"{best[False]:.3f}",
            f"{cost:+.1%}",
            f"{best['progress']:.3f}",
            f"{progress:+.1%}",
            f"{best['probing']:.3f}",
            f"{probes:+.1%}",
        )
    Console(width=200).print(table)
    print(f"goal: coverage costs under {GOAL:.0%} of the exploration on the larger checks")
    print(f"progress: all {len(PROGRESS)} properties of the catalogue, against the run with coverage")
    print("probing: the requests not offered tried in every state, against the run with coverage")


if __name__ == "__main__":
    main()
