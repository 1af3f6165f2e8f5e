"""The explorer on several processes against one, and the visited set's bytes per state.

For two-phase commit (N = 7 by default) and the largest shipped check file (by distinct
states), runs the one-process explorer and ``explore_parallel`` with 1 worker (its two
rounds per level in this process: the coordination's cost alone) and with 2 worker
processes, best of ``--repeat`` each, and prints seconds, states/s, the speedup of 2
workers over the one-process explorer (goal: at least 1.6x) and the bytes per visited
state (goal: at most 250 with a 128-bit fingerprint and a parent pointer). Then
two-phase commit with its symmetry reduction, for scale.

    PYTHONPATH=. python benchmarks/explore_parallel.py [--rms 7] [--repeat 3] [CHECK]
"""

from __future__ import annotations

import argparse
import gc
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ybstate.checks import check_spec, load_check, run_start
from ybstate.drivers.explore import explore
from ybstate.drivers.parallel import explore_parallel
from ybstate.examples.twophase import twophase_spec

SPEEDUP_GOAL = 1.6
BYTES_GOAL = 250
ROOT = Path(__file__).resolve().parent.parent


def best(run, repeat: int):
    results = []
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        result = run()
        results.append((time.perf_counter() - started, result))
    return min(results, key=lambda pair: pair[0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rms", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "check", nargs="?", type=Path, default=ROOT / "specs/checks/promotion_faults_decommission.toml"
    )
    options = parser.parse_args()
    check = load_check(options.check)
    models = [
        (f"twophase N={options.rms}", twophase_spec(options.rms), None),
        (options.check.stem, check_spec(check, run_start(check)), check.settings.max_states),
    ]
    table = Table(
        "model",
        "explorer",
        "distinct states",
        "seconds",
        "states/s",
        "speedup",
        "goal",
        "bytes/state",
        "goal",
        title="the explorer on processes (best of each)",
    )
    for name, spec, bound in models:
        runs = {
            "one process": lambda s=spec, b=bound: explore(s, max_states=b, measure_memory=True),
            "1 worker, in process": lambda s=spec, b=bound: explore_parallel(
                s, workers=1, max_states=b, measure_memory=True
            ),
            "2 workers": lambda s=spec, b=bound: explore_parallel(
                s, workers=2, max_states=b, measure_memory=True
            ),
        }
        timed = {label: best(run, options.repeat) for label, run in runs.items()}
        base = timed["one process"][0]
        for label, (seconds, result) in timed.items():
            table.add_row(
                name,
                label,
                f"{result.distinct_states:,}",
                f"{seconds:.2f}",
                f"{result.distinct_states / seconds:,.0f}",
                f"{base / seconds:.2f}",
                f">= {SPEEDUP_GOAL}" if label == "2 workers" else "",
                f"{result.visited_bytes / result.distinct_states:.0f}",
                f"<= {BYTES_GOAL}",
            )
    seconds, reduced = best(lambda: explore(twophase_spec(options.rms, symmetry=True)), options.repeat)
    table.add_row(
        f"twophase N={options.rms}",
        "one process, symmetry",
        f"{reduced.distinct_states:,}",
        f"{seconds:.2f}",
        f"{reduced.distinct_states / seconds:,.0f}",
        "",
        "",
        "",
        "",
    )
    Console(width=150).print(table)


if __name__ == "__main__":
    main()
