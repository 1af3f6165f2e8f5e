"""Swarm throughput: seeds/s inline, on a local pool of 1 and 2 processes, and on a local
Dask cluster of 2 workers, over the same seeds of one check file (by default
benchmarks/data/swarm_long.toml: walks of up to 1,000 steps, a few hundred ms each; the
shipped checks' scopes end their walks within a few ms, where start-up costs dominate).

Goals: 2 local workers at least 1.7x one; the pool's overhead per seed (1 worker against
the same seeds run inline) under 10%; Dask on its local 2-worker cluster at least 0.8x the
local pool of 2 (its start counted). Every executor must give the same fingerprints.

    PYTHONPATH=. python benchmarks/swarm.py [CHECK] [--seeds 60] [--steps 1000]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ybstate.checks import check_spec, load_check, run_start
from ybstate.swarm import run_seed, run_swarm

ROOT = Path(__file__).resolve().parent.parent
SPEEDUP_GOAL = 1.7
OVERHEAD_GOAL = 0.10
DASK_GOAL = 0.8


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "check",
        nargs="?",
        type=Path,
        default=ROOT / "benchmarks/data/swarm_long.toml",
    )
    parser.add_argument("--seeds", type=int, default=60)
    parser.add_argument("--steps", type=int, default=1000)
    options = parser.parse_args()
    check = load_check(options.check)
    seeds = range(1, options.seeds + 1)
    start = run_start(check)
    spec = check_spec(check, start)
    timings: dict[str, float] = {}
    prints: dict[str, list[str]] = {}
    began = time.perf_counter()
    rows = [run_seed(check, start, seed, options.steps, spec=spec) for seed in seeds]
    timings["inline (this process, no executor)"] = time.perf_counter() - began
    prints["inline (this process, no executor)"] = [r.fingerprint for r in rows]
    runs = {
        "local pool, 1 worker": {"workers": 1, "executor": "local"},
        "local pool, 2 workers": {"workers": 2, "executor": "local"},
        "Dask, local cluster of 2 workers": {"workers": 2, "executor": "dask"},
    }
    for label, how in runs.items():
        began = time.perf_counter()
        found = sorted(run_swarm(check, seeds, options.steps, **how), key=lambda r: r.seed)
        timings[label] = time.perf_counter() - began
        prints[label] = [r.fingerprint for r in found]
    inline = timings["inline (this process, no executor)"]
    one = timings["local pool, 1 worker"]
    two = timings["local pool, 2 workers"]
    table = Table(
        "executor",
        "seconds",
        "seeds/s",
        "ratio",
        "goal",
        "same fingerprints",
        title=f"{options.seeds:,} seeds of {options.check.name}, {options.steps} steps each",
    )
    goals = {
        "inline (this process, no executor)": ("", ""),
        "local pool, 1 worker": (f"overhead {one / inline - 1:+.1%}", f"< {OVERHEAD_GOAL:.0%}"),
        "local pool, 2 workers": (f"{one / two:.2f}x 1 worker", f">= {SPEEDUP_GOAL}x"),
        "Dask, local cluster of 2 workers": (
            f"{two / timings['Dask, local cluster of 2 workers']:.2f}x the pool of 2",
            f">= {DASK_GOAL}x",
        ),
    }
    base = prints["inline (this process, no executor)"]
    for label, seconds in timings.items():
        ratio, goal = goals[label]
        table.add_row(
            label,
            f"{seconds:.2f}",
            f"{options.seeds / seconds:,.1f}",
            ratio,
            goal,
            str(prints[label] == base),
        )
    Console(width=150).print(table)


if __name__ == "__main__":
    main()
