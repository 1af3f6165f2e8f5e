"""What each invariant costs per check as the history grows, whole and incremental.

One seeded walk through a long-running world: the simulation's three tenants writing,
freezing and changing their schema, archiving all along, with a few backups, restores
and a promotion on the way (bounded, as a deployment has a few of them while its log
grows without end). At each of two history lengths (``--short`` and ``--long`` events)
the walk's next ``--windows`` windows of ``--every`` steps are checked as the simulator
checks them: each invariant's incremental form (``Invariant.since``) from the state
checked before, and, for reference, the whole-state check of the window's last state.
The table gives the mean cost per check of each, and the ratio long / short of the
incremental cost (goal: at most 1.5 for every invariant).

    PYTHONPATH=. python benchmarks/invariants.py [--short 10000] [--long 100000]
"""

from __future__ import annotations

import argparse
import random
import time

import attrs
from rich.console import Console
from rich.table import Table

from ybstate.checks import invariants_in_play
from ybstate.gcpause import paused_gc
from ybstate.model import ArchiveScope, BackupScope, PromoteScope, RestoreScope, model_spec, simulation_scope

GOAL = 1.5

_CLUSTER = simulation_scope(tenants=3, keys=8)
SCOPE = attrs.evolve(
    _CLUSTER,
    backup=BackupScope(max_backups=4, backup_parallel=2),
    archive=ArchiveScope(archive_tenants=("t1", "t2", "t3"), archive_batch=8),
    restore=RestoreScope(restore_sources=("t1",), max_restores=2, restore_workers=2),
    promote=PromoteScope(promote=True),
)


def windows(spec, rng: random.Random, state, lengths: list[int], every: int, count: int):
    """Walk from ``state``; at each length (in events) yield (length, [(before, after)...]):
    ``count`` consecutive windows of ``every`` steps."""
    for length in lengths:
        while state.seq < length:
            state = step(spec, rng, state)
        pairs = []
        for _ in range(count):
            before = state
            for _ in range(every):
                state = step(spec, rng, state)
            pairs.append((before, state))
        yield length, pairs


def step(spec, rng: random.Random, state):
    for event in spec.decide(state, rng.choice(spec.enabled(state))):
        state = spec.apply(state, event)
    return state


def per_check(function, pairs) -> float:
    started = time.perf_counter()
    for before, after in pairs:
        function(before, after)
    return (time.perf_counter() - started) / len(pairs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--short", type=int, default=10_000)
    parser.add_argument("--long", type=int, default=100_000)
    parser.add_argument("--every", type=int, default=100, help="steps per window (the simulator's default)")
    parser.add_argument("--windows", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args()
    spec = model_spec(SCOPE)
    invariants = invariants_in_play(SCOPE, spec.init())
    rng = random.Random(options.seed)
    started = time.perf_counter()
    with paused_gc():
        measured = dict(
            windows(spec, rng, spec.init(), [options.short, options.long], options.every, options.windows)
        )
    walked = time.perf_counter() - started
    table = Table(
        "invariant",
        "incremental µs, short",
        "incremental µs, long",
        "ratio",
        "goal",
        "whole µs, short",
        "whole µs, long",
        title=(
            f"cost per check over {options.windows} windows of {options.every} steps, at "
            f"{options.short:,} and {options.long:,} events (walk: {walked:.0f} s)"
        ),
    )
    short, long = measured[options.short], measured[options.long]
    met = 0
    for inv in invariants:
        since = inv.since or (lambda before, after, check=inv.check: check(after))
        whole = lambda before, after, check=inv.check: check(after)  # noqa: E731
        a, b = per_check(since, short), per_check(since, long)
        ratio = b / a if a else float("inf")
        met += ratio <= GOAL
        table.add_row(
            inv.name + ("" if inv.since else " (whole)"),
            f"{a * 1e6:,.0f}",
            f"{b * 1e6:,.0f}",
            f"{ratio:.2f}",
            f"<= {GOAL}",
            f"{per_check(whole, short) * 1e6:,.0f}",
            f"{per_check(whole, long) * 1e6:,.0f}",
        )
    console = Console(width=160)
    console.print(table)
    last = long[-1][1].seq
    console.print(f"{met} of {len(invariants)} invariants within the goal; last state: {last:,} events")


if __name__ == "__main__":
    main()
