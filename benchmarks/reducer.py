"""Reducer throughput over simulated histories of growing length.

Generates one seeded history of the largest size, then folds its prefixes of 10k, 100k
and 1M events with `apply` alone (no decide, no I/O), and prints events/s for each and
the ratio of each rate to the 10k rate. A flat cost per event gives ratios near 1.0; the
goal is at least 0.7 at 1M.

    python benchmarks/reducer.py [--max-events 1000000] [--seed 1]
"""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import simulated_history, timed
from rich.console import Console
from rich.table import Table

from ybstate.cluster.fingerprint import fingerprint, full_fingerprint
from ybstate.cluster.reducer import replay


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    sizes = [n for n in (10_000, 100_000, 1_000_000) if n <= args.max_events] or [args.max_events]
    console = Console()
    console.print(f"generating a simulated history of {sizes[-1]:,} events (seed {args.seed}) ...")
    history, seconds = timed(simulated_history, sizes[-1], args.seed)
    console.print(
        f"  generated in {seconds:.1f}s ({sizes[-1] / seconds:,.0f} events/s with decide and enabled)"
    )
    table = Table(
        "events",
        "replay s",
        "events/s",
        "ratio to 10k",
        "fingerprint s",
        "full fingerprint s",
        title="reducer: apply over prefixes of one history",
    )
    # The history is input, not work: move it out of the collector's way so that every
    # size pays only for the objects the fold itself makes.
    gc.collect()
    gc.freeze()
    timed(replay, history[: sizes[0]])  # warm up
    base = None
    for size in sizes:
        prefix = history[:size]
        seconds = float("inf")
        for _ in range(3 if size <= 100_000 else 1):  # best of 3 where that is cheap
            gc.collect()
            state, took = timed(replay, prefix)
            seconds = min(seconds, took)
        rate = size / seconds
        base = base or rate
        _, fp_seconds = timed(fingerprint, state)
        _, full_seconds = timed(full_fingerprint, state)
        table.add_row(
            f"{size:,}",
            f"{seconds:.2f}",
            f"{rate:,.0f}",
            f"{rate / base:.2f}",
            f"{fp_seconds * 1e6:.0f}µs",
            f"{full_seconds:.2f}",
        )
    console.print(table)


if __name__ == "__main__":
    main()
