"""The cluster core: decide validates, apply folds, the ghost remembers."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.strategies import MACHINE_SCOPE
from ybstate.cluster import ghost
from ybstate.cluster.actions import (
    Abort,
    Commit,
    CreateTable,
    CreateTenant,
    DropTable,
    Freeze,
    Mark,
    Put,
    Start,
    Tick,
    Write,
)
from ybstate.cluster.events import MutatorLogged, TransactionCommitted
from ybstate.cluster.invariants import CLUSTER_INVARIANTS
from ybstate.cluster.state import KEY_SPACE, Cell, ClusterConfig, ClusterState, OpenTxn, Table, evolve_state
from ybstate.errors import (
    CrossTenantTransaction,
    DuplicateName,
    EventOutOfOrder,
    InvalidAction,
    TableBusy,
    TenantNotWritable,
    UnknownTable,
    UnknownTenant,
    UnknownTransaction,
)
from ybstate.evolve import evolver, slot_evolver
from ybstate.model import EMPTY, apply, decide, enabled, fingerprint, full_fingerprint, replay, start_state
from ybstate.restore.state import RestorePhase, RestoreTask

ROOT = Path(__file__).resolve().parents[1]


def run(state: ClusterState, *actions) -> tuple[ClusterState, list]:
    events = []
    for action in actions:
        for event in decide(state, action):
            state = apply(state, event)
            events.append(event)
    return state, events


def shop() -> ClusterState:
    state, _ = run(
        EMPTY,
        Start(config=ClusterConfig(data_servers=3)),
        CreateTenant(name="shop"),
        CreateTenant(name="blog"),
        CreateTable(tenant="shop", table="orders", tablets=4),
        CreateTable(tenant="blog", table="posts", tablets=2),
    )
    return state


def put(tenant, table, key, value, tx=None):
    return Write(tenant=tenant, tx=tx, changes=(Put(table=table, key=key, value=value),))


def open_tx(state, tenant, table, key, value):
    state, (event,) = run(state, put(tenant, table, key, value))
    return state, event.tx_id


def test_table_ids_and_schema_versions_are_global_across_tenants():
    state = shop()
    orders = state.table_named(state.tenant_named("shop").tenant_id, "orders")
    posts = state.table_named(state.tenant_named("blog").tenant_id, "posts")
    assert (orders.table_id, posts.table_id) == (3001, 3002)
    assert (orders.schema_version, posts.schema_version) == (1, 2)
    assert state.schema_version == 2


def test_tablets_split_the_key_space_into_ranges_placed_round_robin():
    orders = shop().table_named(1001, "orders")
    assert orders.tablets[0].start == 0 and orders.tablets[-1].end == KEY_SPACE
    for before, after in zip(orders.tablets, orders.tablets[1:]):
        assert before.end == after.start
    assert len({t.server for t in orders.tablets}) == 3


def test_open_transaction_at_freeze_is_not_in_that_baseline_but_in_the_next():
    state = shop()
    state, long_tx = open_tx(state, "shop", "orders", "k2", "pear")
    state, _ = run(state, put("shop", "orders", "k1", "apple"))
    state, _ = run(state, Commit(tx=state.next_tx_id - 1))
    state, (frozen1,) = run(state, Freeze())
    state, _ = run(state, Commit(tx=long_tx), Freeze())
    assert [t.tx_id for t in frozen1.open_transactions] == [long_tx]
    assert ghost.baseline(state, 1001, 1) == {("orders", "k1"): "apple"}
    assert ghost.baseline(state, 1001, 2) == {("orders", "k1"): "apple", ("orders", "k2"): "pear"}
    assert state.frozen[1].baseline[0].rows == 1
    assert all(inv.check(state) is None for inv in CLUSTER_INVARIANTS)


def test_ghost_answers_content_as_of_any_commit_timestamp():
    state = shop()
    history = []
    for value in ("a", "b", None, "c"):
        change = Put(table="orders", key="k", value=value)
        state, events = run(state, Write(tenant="shop", tx=None, changes=(change,)))
        state, events = run(state, Commit(tx=events[0].tx_id))
        history.append((events[0].time, value))
    for ts, value in history:
        expected = {} if value is None else {("orders", "k"): value}
        assert ghost.content_as_of(state, 1001, ts) == expected
        assert ghost.content_as_of(state, 1001, ts - 1) != expected
    assert ghost.content(state, 1001) == {("orders", "k"): "c"}


def test_dropped_table_leaves_content_but_stays_in_the_past():
    state = shop()
    state, tx = open_tx(state, "shop", "orders", "k", "v")
    state, (commit,) = run(state, Commit(tx=tx))
    state, _ = run(state, DropTable(tenant="shop", table="orders"))
    assert ghost.content(state, 1001) == {}
    assert ghost.content_as_of(state, 1001, commit.time) == {("orders", "k"): "v"}
    state, _ = run(state, CreateTable(tenant="shop", table="orders", tablets=1))
    assert state.table_named(1001, "orders").table_id == 3003
    assert ghost.content(state, 1001) == {}


def assert_rejected(state, action, error_type, *fragments):
    before = (fingerprint(state), full_fingerprint(state), state.seq)
    with pytest.raises(error_type) as info:
        decide(state, action)
    for fragment in fragments:
        assert fragment in str(info.value)
    assert (fingerprint(state), full_fingerprint(state), state.seq) == before
    return info.value


def test_cross_tenant_transaction_is_rejected_naming_both_tenants():
    state, tx = open_tx(shop(), "shop", "orders", "k", "v")
    error = assert_rejected(
        state,
        put("blog", "posts", "p", "x", tx=tx),
        CrossTenantTransaction,
        "'shop'",
        "'blog'",
        "'posts'",
        str(tx),
    )
    assert (error.tx_tenant, error.table_tenant, error.table) == ("shop", "blog", "posts")


@pytest.mark.parametrize(
    ("action", "error_type", "fragment"),
    [
        (put("nobody", "orders", "k", "v"), UnknownTenant, "'nobody'"),
        (put("shop", "posts", "k", "v"), UnknownTable, "'posts'"),
        (Write(tenant="shop", tx=None, changes=()), InvalidAction, "at least one"),
        (put("shop", "orders", "", "v"), InvalidAction, "row key"),
        (Commit(tx=99), UnknownTransaction, "99 was never started"),
        (Abort(tx=99), UnknownTransaction, "99"),
        (CreateTenant(name="shop"), DuplicateName, "'shop'"),
        (CreateTable(tenant="shop", table="orders"), DuplicateName, "'orders'"),
        (CreateTable(tenant="shop", table="x", tablets=0), InvalidAction, "got 0"),
        (DropTable(tenant="shop", table="nope"), UnknownTable, "'nope'"),
        (Tick(micros=0), InvalidAction, "got 0"),
        (Start(config=ClusterConfig()), InvalidAction, "already started"),
    ],
)
def test_rejected_action_raises_a_specific_error_and_leaves_state_untouched(action, error_type, fragment):
    assert_rejected(shop(), action, error_type, fragment)


def test_ended_transaction_cannot_be_continued_or_ended_again():
    state, tx = open_tx(shop(), "shop", "orders", "k", "v")
    state, _ = run(state, Commit(tx=tx))
    assert_rejected(state, Commit(tx=tx), UnknownTransaction, "committed, not open")
    assert_rejected(state, put("shop", "orders", "k", "w", tx=tx), UnknownTransaction, "committed")
    state, tx2 = open_tx(state, "shop", "orders", "k", "w")
    state, _ = run(state, Abort(tx=tx2))
    assert_rejected(state, Abort(tx=tx2), UnknownTransaction, "aborted, not open")


def test_table_with_open_writers_cannot_be_dropped():
    state, tx = open_tx(shop(), "shop", "orders", "k", "v")
    error = assert_rejected(state, DropTable(tenant="shop", table="orders"), TableBusy, str(tx))
    assert error.tx_ids == (tx,)


def test_mark_names_are_unique():
    state, _ = run(shop(), Mark(name="m"))
    assert_rejected(state, Mark(name="m"), DuplicateName, "'m'")


def test_non_writable_tenant_refuses_writes_and_commits():
    state, tx = open_tx(shop(), "shop", "orders", "k", "v")
    tenant = attrs.evolve(state.tenants[1001], writable=False)
    fenced = attrs.evolve(state, tenants=state.tenants.set(1001, tenant))
    assert_rejected(fenced, put("shop", "orders", "k", "w"), TenantNotWritable, "'shop'")
    assert_rejected(fenced, Commit(tx=tx), TenantNotWritable, "'shop'")
    run(fenced, Abort(tx=tx))  # aborting stays possible


def test_apply_validates_events_it_did_not_decide():
    state, tx = open_tx(shop(), "shop", "orders", "k", "v")
    (commit,) = decide(state, Commit(tx=tx))
    with pytest.raises(EventOutOfOrder, match="seq"):
        apply(state, attrs.evolve(commit, seq=commit.seq + 1))
    with pytest.raises(EventOutOfOrder, match="log_id"):
        apply(state, attrs.evolve(commit, log_id=commit.log_id + 1))
    with pytest.raises(EventOutOfOrder, match="timestamp"):
        apply(state, attrs.evolve(commit, time=state.clock))
    with pytest.raises(EventOutOfOrder, match="transaction 42"):
        apply(state, attrs.evolve(commit, tx_id=42))
    foreign_cell = Cell(table_id=3002, rowkey="p", value="x")  # a blog table
    mutator = MutatorLogged(
        seq=state.seq + 1,
        time=state.clock + 1,
        log_id=state.next_log_id,
        tenant_id=1001,
        tx_id=tx,
        cells=(foreign_cell,),
    )
    with pytest.raises(EventOutOfOrder, match="tenant 1001"):
        apply(state, mutator)
    with pytest.raises(EventOutOfOrder, match="ClusterStarted"):
        apply(EMPTY, TransactionCommitted(seq=1, time=1, log_id=1, tenant_id=1, tx_id=1))


def _history(seed: int, steps: int):

    rng = random.Random(seed)
    state = start_state(MACHINE_SCOPE)
    events = []
    for _ in range(steps):
        action = rng.choice(enabled(state, MACHINE_SCOPE))
        for event in decide(state, action):
            state = apply(state, event)
            events.append(event)
    return state, events


def _deep_snapshot(state: ClusterState):
    return (
        repr(state),
        full_fingerprint(state),
        {k: dict(v.items()) for k, v in state.data.items()},
        dict(state.open_txns.items()),
        dict(state.table_stats.items()),
        dict(state.tenant_index.items()),
        dict(state.table_index.items()),
    )


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000))
def test_apply_never_mutates_its_input(seed):
    state = start_state(MACHINE_SCOPE)
    _, events = _history(seed, 60)
    for event in events:
        before = _deep_snapshot(state)
        following = apply(state, event)
        assert _deep_snapshot(state) == before
        assert following is not state
        state = following


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000))
def test_incremental_fingerprint_equals_one_computed_from_scratch(seed):
    state, events = _history(seed, 80)
    assert fingerprint(state) == full_fingerprint(state)
    assert fingerprint(replay(events, start_state(MACHINE_SCOPE))) == fingerprint(state)


def test_different_states_have_different_fingerprints():
    a, _ = _history(1, 40)
    b, _ = _history(2, 40)
    assert fingerprint(a) != fingerprint(b)


def test_fingerprint_does_not_depend_on_the_process_hash_seed():
    code = (
        "import sys; sys.path.insert(0, 'tests'); from histories import simulated_history;"
        "from ybstate.model import fingerprint; print(fingerprint(simulated_history(5, 200)[1]))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={"PYTHONHASHSEED": seed, "PATH": ""},
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outputs) == 1 and outputs.pop().strip().isdigit()


@pytest.mark.parametrize("cls", [ClusterState, OpenTxn, Table])
def test_evolver_gives_what_attrs_evolve_gives(cls):
    state, _ = _history(3, 50)
    sample = {
        ClusterState: state,
        OpenTxn: next(iter(state.open_txns.values()), None),
        Table: state.tables[3001],
    }[cls]
    if sample is None:
        sample = OpenTxn(tx_id=1, tenant_id=1001, first_log_id=1, first_ts=1, cells=())
    for field in attrs.fields(cls):
        value = getattr(sample, field.name)
        if isinstance(value, int) and not isinstance(value, bool):
            changed = evolver(cls)(sample, **{field.name: value + 1})
            assert changed == attrs.evolve(sample, **{field.name: value + 1})
            assert getattr(changed, field.name) == value + 1
            assert changed != sample or not field.eq
    assert evolver(cls)(sample) == sample


def test_the_states_evolver_gives_what_attrs_evolve_gives():
    state, _ = _history(3, 50)
    for field in attrs.fields(ClusterState):
        value = getattr(state, field.name)
        if isinstance(value, int) and not isinstance(value, bool):
            made = evolve_state(state, **{field.name: value + 1})
            expected = attrs.evolve(state, **{field.name: value + 1})
            assert made == expected and getattr(made, field.name) == value + 1
            assert fingerprint(made) == fingerprint(expected)
    assert evolve_state(state) == state and fingerprint(evolve_state(state)) == fingerprint(state)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        evolve_state(state).seq = 5


def test_slot_evolver_gives_what_attrs_evolve_gives():
    task = RestoreTask(
        task_id=1, source_tenant_id=1001, target_name="dr", set_id=1, until_ts=9, until="m1",
        start_log_id=2, end_log_id=8, workers=2, capacity=4, phase=RestorePhase.RESTORING_INCREMENTAL,
        started_ts=5, entries=6, read=4, rewritten=(2, 3), applied=1,
    )  # fmt: skip
    fast = slot_evolver(RestoreTask)
    assert fast(task) == task and fast(task).next_seqs == task.next_seqs
    for field in attrs.fields(RestoreTask):
        value = getattr(task, field.name)
        if isinstance(value, bool) or not isinstance(value, int | tuple):
            continue
        changed = value + 1 if isinstance(value, int) else value[1:]
        made = fast(task, **{field.name: changed})
        assert made == attrs.evolve(task, **{field.name: changed}) and getattr(made, field.name) == changed
        assert repr(made) == repr(attrs.evolve(task, **{field.name: changed}))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        fast(task).read = 5


def test_slot_evolver_refuses_a_class_whose_init_does_more_than_assign():
    @attrs.frozen
    class Checked:
        size: int = attrs.field(validator=attrs.validators.ge(0))

    with pytest.raises(TypeError, match=r"Checked\.size has a validator"):
        slot_evolver(Checked)
