"""Shared by the benchmark scripts: a simulated history of a given length, and timing."""

from __future__ import annotations

import random
import time

from ybstate.cluster.decide import decide
from ybstate.cluster.enabled import Scope, enabled
from ybstate.cluster.reducer import apply
from ybstate.cluster.spec import start_events, start_state
from ybstate.cluster.state import ClusterConfig

BENCH_SCOPE = Scope(
    tenants=tuple(f"t{i}" for i in range(1, 6)),
    tables=(("a", 4), ("b", 2)),
    keys=tuple(f"k{i}" for i in range(6)),
    values=("x",),
    max_open_txns=4,
    max_cells_per_txn=4,
    max_log=1 << 62,
    tick=1000,
    ddl_table="c",
    config=ClusterConfig(),
)


def simulated_history(events: int, seed: int = 1, scope: Scope = BENCH_SCOPE) -> list[object]:
    """A seeded random walk over `enabled` until the history holds `events` events."""
    rng = random.Random(seed)
    history = start_events(scope)
    state = start_state(scope)
    choice = rng.choice
    while len(history) < events:
        for event in decide(state, choice(enabled(state, scope))):
            state = apply(state, event)
            history.append(event)
    return history[:events]


def timed(function, *args):
    started = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - started
