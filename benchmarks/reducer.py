"""Reducer throughput over simulated histories of growing length.

Generates one seeded history of the largest size, then folds its prefixes of 10k, 100k
and 1M events with `apply` alone (no decide, no I/O), and prints events/s for each and
the ratio of each rate to the 10k rate. A flat cost per event gives ratios near 1.0; the
goal is at least 0.7 at 1M.

The fold pauses Python's cyclic collector (see ybstate/gcpause.py); the last column folds
the same events with the collector running, to show what that pause is worth.

    python benchmarks/reducer.py [--max-events 1000000] [--seed 1] [--cache FILE]
"""

from __future__ import annotations

import argparse
import functools
import gc
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH_SCOPE, DDL_SCOPE, cached_history, timed
from rich.console import Console
from rich.table import Table

from ybstate.model import EMPTY, apply, fingerprint, full_fingerprint, replay


def fold_with_collector(events):
    """The same fold as `replay`, with the cyclic collector left running."""
    return functools.reduce(apply, events, EMPTY)


def best_of(function, events, repeats: int):
    seconds = float("inf")
    for _ in range(repeats):
        gc.collect()
        state, took = timed(function, events)
        seconds = min(seconds, took)
    return state, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cache", default=None, help="pickle file keeping the generated history")
    parser.add_argument("--ddl", action="store_true", help="create and drop tables as the walk goes")
    args = parser.parse_args()
    sizes = [n for n in (10_000, 100_000, 1_000_000) if n <= args.max_events] or [args.max_events]
    console = Console(width=160)
    console.print(f"a simulated history of {sizes[-1]:,} events (seed {args.seed}) ...")
    history, seconds = timed(
        cached_history, sizes[-1], args.seed, args.cache, DDL_SCOPE if args.ddl else BENCH_SCOPE
    )
    console.print(f"  ready in {seconds:.1f}s")
    table = Table(
        "events",
        "replay s",
        "events/s",
        "ratio to 10k",
        "fingerprint",
        "full fingerprint s",
        "events/s, collector running",
        "ratio to 10k",
        title="reducer: apply over prefixes of one history",
    )
    # The history is input, not work: move it out of the collector's way so that every
    # size pays only for the objects the fold itself makes.
    gc.collect()
    gc.freeze()
    timed(replay, history[: sizes[0]])  # warm up
    base = running_base = None
    for size in sizes:
        prefix = history[:size]
        repeats = 3 if size <= 100_000 else 1  # best of 3 where that is cheap
        state, seconds = best_of(replay, prefix, repeats)
        rate = size / seconds
        base = base or rate
        _, fp_seconds = timed(fingerprint, state)
        _, full_seconds = timed(full_fingerprint, state)
        del state
        _, running = best_of(fold_with_collector, prefix, repeats)
        running_rate = size / running
        running_base = running_base or running_rate
        table.add_row(
            f"{size:,}",
            f"{seconds:.2f}",
            f"{rate:,.0f}",
            f"{rate / base:.2f}",
            f"{fp_seconds * 1e6:.0f}µs",
            f"{full_seconds:.2f}",
            f"{running_rate:,.0f}",
            f"{running_rate / running_base:.2f}",
        )
    console.print(table)


if __name__ == "__main__":
    main()
