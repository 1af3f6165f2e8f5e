"""Real histories for the store, scenario, CLI and SQL-invariant tests.

Every history here is built by the cluster core itself (``decide`` then ``apply``, through
:func:`ybstate.kernel.step`), never written by hand, so the tests exercise the events the
model really produces. Plain functions, no fixtures: each test module decides what to share.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from ybstate.cluster.enabled import Scope, setup_actions, simulation_scope
from ybstate.cluster.fingerprint import fingerprint_hex
from ybstate.cluster.reducer import EMPTY
from ybstate.cluster.spec import cluster_spec
from ybstate.cluster.state import ClusterState
from ybstate.kernel import step
from ybstate.scenario import RunResult, load_scenario, run_scenario
from ybstate.store.base import EventStore
from ybstate.store.duck import DuckDBStore

__all__ = [
    "QUICKSTART",
    "SIM_SCOPE",
    "duck_query",
    "edit_payload",
    "event_rows",
    "run_quickstart",
    "simulated_history",
    "store_history",
]

REPO = Path(__file__).resolve().parent.parent
QUICKSTART = REPO / "specs" / "quickstart.toml"

# Three tenants with two tables each, a table created and dropped as the walk goes, ticks
# and freezes: every event type of the cluster shows up in a few hundred steps.
SIM_SCOPE = simulation_scope(tenants=3, keys=6)


def simulated_history(seed: int, steps: int, scope: Scope = SIM_SCOPE) -> tuple[list[Any], ClusterState]:
    """The events of a seeded random walk from the empty cluster (set-up included), and
    the live state they lead to."""
    spec = cluster_spec(scope)
    state, events = EMPTY, []
    for action in setup_actions(scope):
        state, new = step(spec, state, action)
        events.extend(new)
    rng = random.Random(seed)
    for _ in range(steps):
        actions = list(spec.enabled(state))
        if not actions:
            break
        state, new = step(spec, state, rng.choice(actions))
        events.extend(new)
    return events, state


def store_history(store: EventStore, events: list[Any], state: ClusterState) -> None:
    """Append a whole history with the live state's fingerprint."""
    store.append(events, fingerprint_hex(state))


def duck_query(store: DuckDBStore) -> Callable[[str], list[tuple]]:
    return lambda sql: store.con.execute(sql).fetchall()


def run_quickstart(store: DuckDBStore) -> RunResult:
    return run_scenario(load_scenario(QUICKSTART), store, query=duck_query(store))


def event_rows(path: str | Path) -> list[tuple]:
    """Every column of every stored event, read straight from the file (not through ybstate)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(
            "SELECT seq, time, type, tenant_id, CAST(payload AS VARCHAR) FROM events ORDER BY seq"
        ).fetchall()
    finally:
        con.close()


def edit_payload(con: duckdb.DuckDBPyConnection, seq: int, change: Callable[[dict], object]) -> None:
    """Rewrite the JSON payload of event ``seq`` in place (to plant a corruption)."""
    (text,) = con.execute("SELECT CAST(payload AS VARCHAR) FROM events WHERE seq = ?", [seq]).fetchone()
    payload = json.loads(text)
    change(payload)
    con.execute("UPDATE events SET payload = ? WHERE seq = ?", [json.dumps(payload), seq])
