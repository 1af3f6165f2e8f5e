"""Real histories for the store, scenario, CLI and SQL-invariant tests.

Every history here is built by the cluster core itself (``decide`` then ``apply``, through
:func:`ybstate.kernel.step`), never written by hand, so the tests exercise the events the
model really produces. Plain functions, no fixtures: each test module decides what to share.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import duckdb
import pytest

from ybstate import dag
from ybstate.archive.actions import (
    PersistCheckpoint,
    ReadEntries,
    RecycleLog,
    SealPiece,
    SkipRecycledLog,
    StartArchive,
)
from ybstate.archive.events import (
    ArchiveResumed,
)
from ybstate.backup.actions import AdvanceBackup
from ybstate.backup.derive import tablet_of_task
from ybstate.backup.state import BackupPhase
from ybstate.cluster.actions import Commit, CreateTable, CreateTenant, Freeze, Put, Start, Tick, Write
from ybstate.cluster.costs import UNTIMED
from ybstate.cluster.enabled import setup_actions
from ybstate.cluster.protocol import Protocol
from ybstate.cluster.state import ClusterConfig, ClusterState, LogRetention
from ybstate.errors import (
    EventOutOfOrder,
)
from ybstate.kernel import step
from ybstate.model import (
    EMPTY,
    INVARIANTS,
    SUBSYSTEMS,
    ClusterScope,
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
from ybstate.store.base import GENESIS, EventStore, chain_digest
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
    return lambda sql: store.query(sql)[1]


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


def rechain(con: duckdb.DuckDBPyConnection) -> None:
    """Recompute every row's digest and the recorded head after a planted change: what a
    forger who knows the format does, and what the digest chain cannot catch."""
    previous, last = GENESIS, 0
    rows = con.execute(
        "SELECT seq, time, type, tenant_id, CAST(payload AS VARCHAR) FROM events ORDER BY seq"
    ).fetchall()
    for row in rows:
        previous, last = chain_digest(previous, row), row[0]
        con.execute("UPDATE events SET digest = ? WHERE seq = ?", [previous, last])
    con.execute("INSERT OR REPLACE INTO ybstate_meta VALUES ('head', ?)", [f"{last} {previous}"])


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


ONE_KEY = ClusterScope(
    tenants=("t1",),
    tables=(("a", 1),),
    keys=("k1",),
    values=("x",),
    deletes=False,
    max_open_txns=1,
    freeze=False,
    tick=None,
    config=ClusterConfig(data_servers=1, costs=UNTIMED),
)
"""The smallest cluster the exploration tests start from: one tenant t1, one table a of one
tablet, one key k1 with one value x, one transaction at a time, no freeze, no tick; untimed,
as an exhaustive check is by default (docs/durations.md)."""


def variant(part: str, **changes: Any) -> Model:
    """The model with subsystem ``part``'s record changed (deciders, handlers, enabled...),
    composed anew: how a test plants a bug without touching the project's own model."""
    parts = tuple(attrs.evolve(p, **changes) if p.name == part else p for p in SUBSYSTEMS)
    if parts == SUBSYSTEMS:
        raise ValueError(f"no subsystem {part!r}")
    return compose(parts)


# -- two tenants whose log entries interleave: the worlds of the archiving tests -----------------

RETENTION_INVARIANTS = {"archive_holes_account_for_the_rest", "archive_backup_first_pins_its_log"}
"""The archive invariants about log retention: their planted corruptions are in test_retention.py."""

SHOP, BLOG = 1001, 1002  # tenant ids, in order of creation
CONFIG = ClusterConfig(data_servers=1, piece_entries=3)


# The log busy_world builds: (log id, what, tenant id or None for a cluster-wide entry).
BUSY_LOG = (
    (1, "DDL", SHOP),
    (2, "DDL", BLOG),
    (3, "MUTATOR", SHOP),
    (4, "MUTATOR", BLOG),
    (5, "HEARTBEAT", None),
    (6, "COMMIT", SHOP),
    (7, "COMMIT", BLOG),
    (8, "FREEZE", None),
    (9, "MUTATOR", BLOG),
    (10, "COMMIT", BLOG),
    (11, "HEARTBEAT", None),
    (12, "MUTATOR", SHOP),
    (13, "COMMIT", SHOP),
    (14, "HEARTBEAT", None),
)


def assert_invariants(state: ClusterState) -> None:
    broken = {inv.name: inv.check(state) for inv in INVARIANTS}
    assert {name: why for name, why in broken.items() if why is not None} == {}


def put(tenant: str, table: str, key: str, tx: int | None = None) -> Write:
    return Write(tenant=tenant, tx=tx, changes=(Put(table=table, key=key, value="v"),))


def busy_world(config: ClusterConfig = CONFIG) -> ClusterState:
    """shop (table orders) and blog (table posts), and the log of BUSY_LOG."""
    state = backup_world({"shop": {"orders": 1}, "blog": {"posts": 1}}, config)
    state, _ = act(state, put("shop", "orders", "o1"), put("blog", "posts", "p1"), Tick(micros=10))
    state, _ = act(state, Commit(tx=1), Commit(tx=2), Freeze())
    state = commit_rows(state, "blog", {("posts", "p2"): "v"})
    state, _ = act(state, Tick(micros=10))
    state = commit_rows(state, "shop", {("orders", "o2"): "v"})
    return act(state, Tick(micros=10))[0]


def start(state: ClusterState, tenant: str = "shop", start_log_id: int = 1) -> ClusterState:
    action = StartArchive(tenant=tenant, destination=f"/backup/{tenant}", start_log_id=start_log_id)
    return act(state, action)[0]


def read(state: ClusterState, count: int = 1, tenant_id: int = SHOP) -> ClusterState:
    return act(state, ReadEntries(tenant_id=tenant_id, count=count))[0]


def seal(state: ClusterState, tenant_id: int = SHOP) -> ClusterState:
    return act(state, SealPiece(tenant_id=tenant_id))[0]


def next_step(state: ClusterState, tenant_id: int, *, idle_checkpoints: bool) -> object | None:
    """The archiver's next own step: seal a full piece, persist an idle checkpoint (when
    asked to), read on, seal what is left at the end of the log; None when all is archived."""
    archiver = state.archivers[tenant_id]
    piece = archiver.piece
    if piece is not None and piece.kept >= state.config.piece_entries:
        return SealPiece(tenant_id=tenant_id)
    idle = piece is None or piece.tenant_entries == 0
    if idle_checkpoints and idle and archiver.next_log_id - 1 > archiver.checkpoint.last_log_id:
        return PersistCheckpoint(tenant_id=tenant_id)
    if archiver.next_log_id <= state.last_log_id:
        return ReadEntries(tenant_id=tenant_id)
    if piece is not None and piece.kept:
        return SealPiece(tenant_id=tenant_id)
    return None


def archive_all(state: ClusterState, tenant_id: int = SHOP, *, idle_checkpoints: bool = False):
    while (action := next_step(state, tenant_id, idle_checkpoints=idle_checkpoints)) is not None:
        state, _ = act(state, action)
    return state


def tenant_log_ids(state: ClusterState, tenant_id: int) -> list[int]:
    """Log ids of the tenant's entries, read from the log."""
    return [log_id for log_id, entry in state.log.items() if getattr(entry, "tenant_id", None) == tenant_id]


def archived_log_ids(state: ClusterState, tenant_id: int) -> Counter:
    """How often each log id is held by one of the tenant's pieces."""
    return Counter(e.log_id for p in state.pieces.values() if p.tenant_id == tenant_id for e in p.entries)


def pieces_of(state: ClusterState, tenant_id: int = SHOP) -> list:
    return sorted((p for p in state.pieces.values() if p.tenant_id == tenant_id), key=lambda p: p.piece_no)


def ranges(state: ClusterState, tenant_id: int = SHOP) -> list[tuple[int, int]]:
    return [(p.first_log_id, p.last_log_id) for p in pieces_of(state, tenant_id)]


def held(state: ClusterState, piece_no: int, tenant_id: int = SHOP) -> list[int]:
    return [e.log_id for e in state.pieces[(tenant_id, piece_no)].entries]


def retention_world(
    shop: LogRetention = LogRetention.BACKUP_FIRST, blog: LogRetention = LogRetention.BACKUP_FIRST
) -> ClusterState:
    """The busy world (the log of BUSY_LOG), with shop's and blog's log
    retention chosen: shop (table orders), blog (table posts)."""
    state = act(
        EMPTY,
        Start(config=CONFIG),
        CreateTenant(name="shop", log_retention=shop),
        CreateTable(tenant="shop", table="orders", tablets=1),
        CreateTenant(name="blog", log_retention=blog),
        CreateTable(tenant="blog", table="posts", tablets=1),
    )[0]
    state, _ = act(state, put("shop", "orders", "o1"), put("blog", "posts", "p1"), Tick(micros=10))
    state, _ = act(state, Commit(tx=1), Commit(tx=2), Freeze())
    state = commit_rows(state, "blog", {("posts", "p2"): "v"})
    state, _ = act(state, Tick(micros=10))
    state = commit_rows(state, "shop", {("orders", "o2"): "v"})
    return act(state, Tick(micros=10))[0]


def recycle(state: ClusterState, through: int = 0) -> ClusterState:
    return act(state, RecycleLog(through=through))[0]


def skip(state: ClusterState, tenant_id: int = SHOP) -> tuple[ClusterState, ArchiveResumed]:
    state, (event,) = act(state, SkipRecycledLog(tenant_id=tenant_id))
    return state, event


def no_restore_completes(state: ClusterState) -> str | None:
    """A user's invariant, named by import path in check-file tests (``histories:...``):
    broken as soon as a restore completes."""
    done = [t.task_id for t in state.restores.values() if t.phase.value == "COMPLETED"]
    return f"restore {done[0]} completed" if done else None


def under_flaws(state: ClusterState, flaws: list[str]) -> ClusterState:
    """``state`` as if the cluster ran the protocol with ``flaws`` (DESIGN 14): to ask the
    other variant's deciders and reducers about the same state."""
    return attrs.evolve(state, config=attrs.evolve(state.config, protocol=Protocol.with_flaws(flaws)))
