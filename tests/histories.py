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

import attrs
import duckdb
import pytest

from ybstate import dag
from ybstate.backup.actions import AdvanceBackup
from ybstate.backup.derive import tablet_of_task
from ybstate.backup.state import BackupPhase
from ybstate.cluster.actions import Commit, CreateTable, CreateTenant, Put, Start, Write
from ybstate.cluster.enabled import setup_actions
from ybstate.cluster.state import ClusterConfig, ClusterState
from ybstate.errors import EventOutOfOrder
from ybstate.kernel import step
from ybstate.model import (
    EMPTY,
    SUBSYSTEMS,
    Model,
    Scope,
    apply,
    compose,
    decide,
    fingerprint_hex,
    model_spec,
    simulation_scope,
)
from ybstate.scenario import RunResult, load_scenario, run_scenario
from ybstate.store.base import EventStore
from ybstate.store.duck import DuckDBStore

__all__ = [
    "variant",
    "assert_forgery_refused",
    "BACKUP",
    "QUICKSTART",
    "SIM_SCOPE",
    "act",
    "backup_world",
    "commit_rows",
    "drive_backup",
    "duck_query",
    "edit_payload",
    "event_rows",
    "RETENTION",
    "run_quickstart",
    "simulated_history",
    "store_history",
]

REPO = Path(__file__).resolve().parent.parent
QUICKSTART = REPO / "specs" / "quickstart.toml"
BACKUP = REPO / "specs" / "backup.toml"
RETENTION = REPO / "specs" / "retention.toml"

# Three tenants with two tables each, a table created and dropped as the walk goes, ticks
# and freezes: every event type of the cluster shows up in a few hundred steps.
SIM_SCOPE = simulation_scope(tenants=3, keys=6)


def simulated_history(seed: int, steps: int, scope: Scope = SIM_SCOPE) -> tuple[list[Any], ClusterState]:
    """The events of a seeded random walk from the empty cluster (set-up included), and
    the live state they lead to."""
    spec = model_spec(scope)
    state, events = EMPTY, []
    for action in setup_actions(scope.cluster):
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


# -- small clusters for the backup tests, built through decide and apply ------------------------


def act(state: ClusterState, *actions: object) -> tuple[ClusterState, list[Any]]:
    """Decide and apply ``actions`` in turn: the state they lead to and all their events."""
    events: list[Any] = []
    for action in actions:
        for event in decide(state, action):
            state = apply(state, event)
            events.append(event)
    return state, events


def backup_world(tenants: dict[str, dict[str, int]], config: ClusterConfig | None = None) -> ClusterState:
    """A started cluster with ``tenants`` ({tenant: {table: tablets}}), no rows, no freeze."""
    setup: list[object] = [Start(config=ClusterConfig(data_servers=2) if config is None else config)]
    for tenant, tables in tenants.items():
        setup.append(CreateTenant(name=tenant))
        setup.extend(CreateTable(tenant=tenant, table=t, tablets=n) for t, n in tables.items())
    return act(EMPTY, *setup)[0]


def commit_rows(state: ClusterState, tenant: str, rows: dict[tuple[str, str], str | None]) -> ClusterState:
    """One committed transaction of ``tenant`` writing ``rows`` ({(table, key): value or None})."""
    puts = tuple(Put(table=table, key=key, value=value) for (table, key), value in rows.items())
    state, (written,) = act(state, Write(tenant=tenant, tx=None, changes=puts))
    return act(state, Commit(tx=written.tx_id))[0]


def drive_backup(
    state: ClusterState, task_id: int, *, failures: dict[int, int] | None = None, until: object = None
) -> tuple[ClusterState, list[Any]]:
    """Take backup ``task_id``'s own steps until it ends (or reaches phase ``until``).

    Copies run in the plan order, one decision at a time: start every ready task a worker
    can take, then end the first running one; ``failures`` {tablet_id: n} makes the first
    n attempts at that tablet fail."""
    left = dict(failures or {})
    events: list[Any] = []
    while not state.backups[task_id].final and state.backups[task_id].phase != until:
        task = state.backups[task_id]
        graph = state.dags.get(task.dag_id)
        if task.phase is BackupPhase.DOING and not graph.finished:
            actions = dag.enabled_dag(graph, faults=False)
            action = actions[0]
            tablet = tablet_of_task(action.task)
            if isinstance(action, dag.FinishTask) and left.get(tablet, 0) > 0:
                left[tablet] -= 1
                action = dag.FailTask(dag_id=graph.dag_id, task=action.task, reason="injected")
        else:
            action = AdvanceBackup(task_id=task_id)
        state, new = act(state, action)
        events.extend(new)
    return state, events


def assert_forgery_refused(
    state: ClusterState, events: list[Any], index: int, changes: dict, message: str
) -> None:
    """Apply ``events`` up to ``index``, then the event at ``index`` with ``changes``: apply
    must refuse it with exactly ``message`` and leave the state as it was; the genuine
    events (when something was changed) still apply."""
    before = state
    for event in events[:index]:
        state = apply(state, event)
    forged = attrs.evolve(events[index], **changes)
    fingerprint_before = fingerprint_hex(state)
    with pytest.raises(EventOutOfOrder) as refused:
        apply(state, forged)
    assert str(refused.value) == message
    assert fingerprint_hex(state) == fingerprint_before
    if changes:
        for event in events[index:]:
            state = apply(state, event)
        assert state.seq == before.seq + len(events)


def assert_catches(invariants, name: str, state: ClusterState, corrupt: Callable) -> None:
    """Invariant ``name`` holds on ``state`` and reports the planted ``corrupt(state)``
    with a message containing the substring the planting expects."""
    (invariant,) = [inv for inv in invariants if inv.name == name]
    corrupted, expected = corrupt(state)
    assert invariant.check(state) is None
    message = invariant.check(corrupted)
    assert message is not None and expected in message, message


def variant(part: str, **changes: Any) -> Model:
    """The model with subsystem ``part``'s record changed (deciders, handlers, enabled...),
    composed anew: how a test plants a bug without touching the project's own model."""
    parts = tuple(attrs.evolve(p, **changes) if p.name == part else p for p in SUBSYSTEMS)
    if parts == SUBSYSTEMS:
        raise ValueError(f"no subsystem {part!r}")
    return compose(parts)
