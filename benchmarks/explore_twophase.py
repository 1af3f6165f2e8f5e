"""Explorer speed against a bare CPython BFS, on two-phase commit with N = 3, 5, 7.

For each N, runs ``explore`` on ``twophase_spec(N)`` (invariants checked, as by default,
and once more without them) and ``bare_bfs(N)`` (plain tuples, no invariants, no parent
pointers) in this process, alternating them and keeping each one's best of ``--repeat``
runs, then prints distinct states per second and the ratio bare / explorer. The goal is
a ratio of at most 2.0 on the largest N (296,448 states at N = 7; at N = 3 the whole
search takes about a millisecond, and fixed costs and timer noise dominate). The
explorer's time is its own ``Exploration.seconds``: building
the spec (about 0.1 ms, once per N) is not counted; the bare BFS is timed whole.

    PYTHONPATH=. python benchmarks/explore_twophase.py [--repeat K] [N ...]
"""

from __future__ import annotations

import argparse
import gc
import time

from rich.console import Console
from rich.table import Table

from ybstate.drivers.explore import explore
from ybstate.examples.twophase import twophase_spec
from ybstate.examples.twophase_bare import bare_bfs

GOAL = 2.0
PUBLISHED = {3: 288, 5: 8_832, 7: 296_448}


def _explorer_seconds(n: int, check_invariants: bool) -> tuple[int, float]:
    spec = twophase_spec(n)
    result = explore(spec, check_invariants=check_invariants)
    if not result.complete or result.violation is not None:
        raise SystemExit(f"N={n}: exploration incomplete or violated: {result}")
    return result.distinct_states, result.seconds


def _bare_seconds(n: int) -> tuple[int, float]:
    started = time.perf_counter()
    count = bare_bfs(n)
    return count, time.perf_counter() - started


def measure(n: int, repeat: int) -> dict[str, float]:
    best = {"explorer": float("inf"), "explorer_noinv": float("inf"), "bare": float("inf")}
    counts = set()
    for _ in range(repeat):
        for name, run in (
            ("explorer", lambda: _explorer_seconds(n, True)),
            ("bare", lambda: _bare_seconds(n)),
            ("explorer_noinv", lambda: _explorer_seconds(n, False)),
        ):
            gc.collect()
            count, seconds = run()
            counts.add(count)
            best[name] = min(best[name], seconds)
    if counts != {PUBLISHED.get(n, next(iter(counts)))} or len(counts) != 1:
        raise SystemExit(f"N={n}: distinct-state counts disagree: {sorted(counts)}")
    states = counts.pop()
    return {
        "states": states,
        "explorer": states / best["explorer"],
        "explorer_noinv": states / best["explorer_noinv"],
        "bare": states / best["bare"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[3, 5, 7])
    parser.add_argument("--repeat", type=int, default=0, help="runs per N (default: 500, 40, 3)")
    args = parser.parse_args()

    table = Table(title="explore vs bare BFS on TwoPhase (best of repeated runs)")
    for column in ("N", "distinct states", "explorer states/s", "bare states/s", "bare / explorer"):
        table.add_column(column, justify="right")
    table.add_column("without invariants", justify="right")
    ratio = 0.0
    for n in args.sizes:
        repeat = args.repeat or {3: 500, 5: 40}.get(n, 3)
        m = measure(n, repeat)
        ratio = m["bare"] / m["explorer"]
        table.add_row(
            str(n),
            f"{m['states']:,}",
            f"{m['explorer']:,.0f}",
            f"{m['bare']:,.0f}",
            f"{ratio:.2f}",
            f"{m['bare'] / m['explorer_noinv']:.2f}",
        )
    console = Console()
    console.print(table)
    verdict = "meets" if ratio <= GOAL else "MISSES"
    console.print(f"N={args.sizes[-1]}: ratio {ratio:.2f}, {verdict} the goal of {GOAL:.1f}")


if __name__ == "__main__":
    main()
