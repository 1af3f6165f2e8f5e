"""What each invariant costs per check as the history grows, whole and incremental.

A long-running world: the simulation's three tenants writing and freezing, archiving,
and a few backups, restores and a promotion (bounded, as a
deployment has a few of them while its log grows without end). The log is grown to each
of two history lengths (``--short`` and ``--long`` events) by the cluster and its
archivers alone, every archiver is caught up, then the whole protocol runs
``--activity`` steps from there (a kind of action drawn first, so the protocol's steps
are not drowned by writes), and its next
``--windows`` windows of ``--every`` steps are checked as the simulator checks them
(the same steps at both lengths: drawn at the first, taken again at the second, each
transaction by the id it has there):
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

from ybstate.archive.actions import ReadEntries, SealPiece
from ybstate.archive.state import ArchiverStatus
from ybstate.checks import invariants_in_play
from ybstate.cluster.actions import Write
from ybstate.errors import ActionRejected
from ybstate.gcpause import paused_gc
from ybstate.model import (
    ArchiveScope,
    BackupScope,
    PromoteScope,
    RestoreScope,
    model_spec,
    simulation_scope,
)

GOAL = 1.5

_ARCHIVE = ArchiveScope(archive_tenants=("t1", "t2", "t3"), archive_batch=64)
_CLUSTER = simulation_scope(tenants=3, keys=8)
# No DDL: table and tablet ids then are the same at every length, and so are the names of
# the DAG tasks that fetch or copy them, which the protocol steps taken again refer to.
GROW = attrs.evolve(_CLUSTER, cluster=attrs.evolve(_CLUSTER.cluster, ddl_table=None), archive=_ARCHIVE)
SCOPE = attrs.evolve(
    GROW,
    backup=BackupScope(max_backups=4, backup_parallel=2),
    restore=RestoreScope(restore_sources=("t1",), max_restores=2, restore_workers=2),
    promote=PromoteScope(promote=True),
)


def windows(spec, grow, lengths: list[int], every: int, count: int, activity: int, seed: int):
    """At each length (in events) yield (length, [(before, after)...], actions skipped):
    the cluster's log grown to that length by ``grow`` (the cluster and its archivers),
    then the same protocol steps at every length: ``activity`` steps, then ``count``
    windows of ``every`` steps. The steps are drawn once, at the first length, and taken
    again at the others (an action the longer history refuses, a commit of a transaction
    numbered otherwise, say, is skipped and counted), so the windows do the same work."""
    rng = random.Random(seed)
    state = grow.init()
    plan: list | None = None
    for length in lengths:
        while state.seq < length:
            state = take(grow, state, drawn(grow, rng, state))
        state = caught_up(grow, state)
        busy = random.Random(seed + 1)
        now, taken, skipped, pairs = state, [], 0, []
        renamed: dict[int, int] = {}  # a transaction's id at the first length -> its id here
        for number in range(activity + count * every):
            if number >= activity and (number - activity) % every == 0:
                before = now
            if plan is None:
                action = drawn(spec, busy, now)
                taken.append((action, now.next_tx_id))
            else:
                action, first_id = plan[number]
                if getattr(action, "tx", None) in renamed:
                    action = attrs.evolve(action, tx=renamed[action.tx])
                if isinstance(action, Write) and action.tx is None:
                    renamed[first_id] = now.next_tx_id
            try:
                now = take(spec, now, action)
            except ActionRejected:
                skipped += 1
            if number >= activity and (number - activity) % every == every - 1:
                pairs.append((before, now))
        plan = taken if plan is None else plan
        yield length, pairs, skipped


def caught_up(spec, state):
    """``state`` with every running archiver having read and sealed all the log: the
    protocol steps then start from the same archive backlog (none) at every length."""
    for archiver in list(state.archivers.values()):
        tenant_id = archiver.tenant_id
        while True:
            current = state.archivers[tenant_id]
            if current.status is not ArchiverStatus.RUNNING:
                break
            if current.next_log_id < state.next_log_id:
                try:
                    state = take(spec, state, ReadEntries(tenant_id=tenant_id, count=1000))
                    continue
                except ActionRejected:  # the open piece is full: seal it first
                    pass
            if current.piece is None or not current.piece.kept:
                break
            state = take(spec, state, SealPiece(tenant_id=tenant_id))
    return state


def drawn(spec, rng: random.Random, state):
    """A kind of action drawn first, then one action of that kind (the cluster's hundreds
    of possible writes would otherwise leave the protocol's steps rare)."""
    kinds: dict[type, list] = {}
    for action in spec.enabled(state):
        kinds.setdefault(type(action), []).append(action)
    return rng.choice(rng.choice(list(kinds.values())))


def take(spec, state, action):
    for event in spec.decide(state, action):
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
        measured, skipped = {}, {}
        for length, pairs, refused in windows(
            spec, grow, lengths, options.every, options.windows, options.activity, options.seed
        ):
            measured[length], skipped[length] = pairs, refused
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
    steps = options.activity + options.windows * options.every
    console.print(
        f"the same {steps:,} protocol steps at both lengths; refused at {options.long:,} events "
        f"(skipped): {skipped[options.long]:,}"
    )


if __name__ == "__main__":
    main()
