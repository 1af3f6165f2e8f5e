"""Shared by the benchmark scripts: a simulated history of a given length, and timing."""

from __future__ import annotations

import pickle
import random
import time
from pathlib import Path

import attrs

from ybstate.model import Scope, apply, decide, enabled, simulation_scope, start_events, start_state

# Five tenants writing interleaved transactions, with freezes and heartbeats. Tables are
# not created and dropped as the walk goes (`--ddl` puts that back): in the simulation
# scope a DDL is one action in twenty-five, which makes 39k tables in 1M events, and
# every map keyed by table id grows with them.
_SIMULATION = simulation_scope(tenants=5, keys=6, values=("x",))
BENCH_SCOPE = attrs.evolve(_SIMULATION, cluster=attrs.evolve(_SIMULATION.cluster, ddl_table=None))
DDL_SCOPE = simulation_scope(tenants=5, keys=6, values=("x",))


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


def cached_history(events: int, seed: int, cache: str | None, scope: Scope = BENCH_SCOPE) -> list[object]:
    """`simulated_history`, kept in a pickle file between runs when `cache` names one
    (generation is the slow part: it runs enabled and decide for every event)."""
    if cache is not None and Path(cache).exists():
        with open(cache, "rb") as handle:
            stored = pickle.load(handle)  # a file this script wrote itself
        if len(stored) >= events:
            return stored[:events]
    history = simulated_history(events, seed, scope)
    if cache is not None:
        with open(cache, "wb") as handle:
            pickle.dump(history, handle, protocol=pickle.HIGHEST_PROTOCOL)
    return history


def timed(function, *args):
    started = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - started
