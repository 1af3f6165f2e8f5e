"""What each invariant costs per check as the history grows, whole and incremental.

A long-running world: the simulation's three tenants writing, freezing and changing
their schema, archiving, and a few backups, restores and a promotion (bounded, as a
deployment has a few of them while its log grows without end). The log is grown to each
of two history lengths (``--short`` and ``--long`` events) by the cluster and its
archivers alone, then the whole protocol runs ``--activity`` steps from there (a kind of
action drawn first, so the protocol's steps are not drowned by writes), and its next
``--windows`` windows of ``--every`` steps are checked as the simulator checks them:
each invariant's incremental form (``Invariant.since``) from the state checked before,
and, for reference, one whole-state check of the last window's last state. The table gives
the mean cost per check of each, the ratio long / short of the incremental cost (goal:
at most 1.5 for every invariant), and in how many windows the invariant's subject
existed (an invariant about nothing there was not measured). "(whole)": the invariant
has no incremental form; its whole check is what the drivers call.

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

_ARCHIVE = ArchiveScope(archive_tenants=("t1", "t2", "t3"), archive_batch=64)
GROW = attrs.evolve(simulation_scope(tenants=3, keys=8), archive=_ARCHIVE)
SCOPE = attrs.evolve(
    GROW,
    backup=BackupScope(max_backups=4, backup_parallel=2),
    restore=RestoreScope(restore_sources=("t1",), max_restores=2, restore_workers=2),
    promote=PromoteScope(promote=True),
)


def windows(spec, grow, lengths: list[int], every: int, count: int, activity: int, seed: int):
    """At each length (in events) yield (length, [(before, after)...]): the cluster's log
    grown to that length by ``grow`` (the cluster and its archivers), then ``activity`` steps
    of the whole protocol (so backups, archives, restores and a promotion are under way
    at every length alike), then ``count`` consecutive windows of ``every`` steps."""
    rng = random.Random(seed)
    state = grow.init()
    for length in lengths:
        while state.seq < length:
            state = step(grow, rng, state)
        busy = random.Random(seed + 1)
        now = state
        for _ in range(activity):
            now = step(spec, busy, now)
        pairs = []
        for _ in range(count):
            before = now
            for _ in range(every):
                now = step(spec, busy, now)
            pairs.append((before, now))
        yield length, pairs


def step(spec, rng: random.Random, state):
    """One step: a kind of action drawn first, then one action of that kind (the cluster's
    hundreds of possible writes would otherwise leave the protocol's steps rare)."""
    kinds: dict[type, list] = {}
    for action in spec.enabled(state):
        kinds.setdefault(type(action), []).append(action)
    chosen = rng.choice(rng.choice(list(kinds.values())))
    for event in spec.decide(state, chosen):
        state = spec.apply(state, event)
    return state


def per_check(function, pairs) -> float:
    started = time.perf_counter()
    for before, after in pairs:
        function(before, after)
    return (time.perf_counter() - started) / len(pairs)


def _once(check, pair) -> str:
    """One whole check of a window's last state, for reference (some take minutes at
    length: they are what the incremental forms replace)."""
    started = time.perf_counter()
    check(*pair)
    return f"{(time.perf_counter() - started) * 1e6:,.0f}"


def _met(inv, pairs) -> str:
    """In how many of the windows' last states the invariant's subject exists (a check of
    an invariant about nothing there measures nothing)."""
    if inv.subject is None:
        return "always"
    return f"{sum(1 for _, after in pairs if inv.subject(after))}/{len(pairs)}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--short", type=int, default=10_000)
    parser.add_argument("--long", type=int, default=100_000)
    parser.add_argument("--every", type=int, default=100, help="steps per window (the simulator's default)")
    parser.add_argument("--windows", type=int, default=40)
    parser.add_argument("--activity", type=int, default=2000, help="protocol steps before the windows")
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args()
    spec = model_spec(SCOPE)
    invariants = invariants_in_play(SCOPE, spec.init())
    grow = model_spec(GROW)
    lengths = [options.short, options.long]
    started = time.perf_counter()
    with paused_gc():
        measured = dict(
            windows(spec, grow, lengths, options.every, options.windows, options.activity, options.seed)
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
        "subject met",
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
            _once(whole, short[-1]),
            _once(whole, long[-1]),
            _met(inv, short + long),
        )
    console = Console(width=160)
    console.print(table)
    last = long[-1][1].seq
    console.print(f"{met} of {len(invariants)} invariants within the goal; last state: {last:,} events")


if __name__ == "__main__":
    main()
