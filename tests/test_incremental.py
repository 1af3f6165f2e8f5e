"""The invariants' incremental forms (``Invariant.since``): each looks only at what changed
since an earlier state of the same history, and judges as the whole-state check does.

Planted corruptions in the part of the history after ``before`` are reported by both
forms; along seeded walks the drivers' way of calling them (from the state checked last)
agrees with the whole check at every step."""

from __future__ import annotations

import random
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ybstate.checks import check_spec, load_check, run_start
from ybstate.cluster.events import TableCreated, TransactionCommitted, VersionFrozen
from ybstate.cluster.invariants import CLUSTER_INVARIANTS
from ybstate.cluster.state import ClusterState, OpenAtFreeze
from ybstate.drivers.explore import explore
from ybstate.drivers.simulate import simulate
from ybstate.model import model_spec, simulation_scope
from ybstate.pmap import PLog

ROOT = Path(__file__).resolve().parent.parent
SPEC = model_spec(simulation_scope(tenants=2, keys=4))
BY_NAME = {inv.name: inv for inv in CLUSTER_INVARIANTS}


def walk(seed: int, steps: int) -> list[ClusterState]:
    states = [SPEC.init()]
    simulate(SPEC, seed=seed, steps=steps, on_step=lambda i, a, e, s: states.append(s), coverage=False)
    return states


def window_with_everything() -> tuple[ClusterState, ClusterState]:
    """(before, after) 60 steps apart, the log between them holding a commit, a freeze
    with a transaction open across it, and a table created."""
    states = walk(3, 3000)
    for start in range(200, len(states) - 60, 10):
        before, after = states[start], states[start + 60]
        kinds = {type(after.log[i]) for i in range(before.next_log_id, after.next_log_id)}
        frozen = [after.log[i] for i in range(before.next_log_id, after.next_log_id)]
        straddled = any(isinstance(e, VersionFrozen) and e.open_transactions for e in frozen)
        if {TransactionCommitted, TableCreated, VersionFrozen} <= kinds and straddled:
            return before, after
    raise AssertionError("no window of the walk holds a commit, a freeze and a DDL")


BEFORE, AFTER = window_with_everything()


def new_entries(kind: type) -> list:
    return [e for e in AFTER.log.values() if isinstance(e, kind) and e.log_id >= BEFORE.next_log_id]


def with_entry(state: ClusterState, log_id: int, entry) -> ClusterState:
    log = PLog()
    for index, old in state.log.items():
        log = log.append(entry if index == log_id else old)
    return attrs.evolve(state, log=log)


def entry_with_wrong_id(state):
    last = state.log[state.last_log_id]
    return with_entry(state, last.log_id, attrs.evolve(last, log_id=last.log_id + 7)), "says log_id="


def time_going_back(state):
    entry = state.log[state.last_log_id]
    back = attrs.evolve(entry, time=state.log[BEFORE.next_log_id].time - 1)
    return with_entry(state, entry.log_id, back), "not after"


def commit_ts_going_back(state):
    commit = new_entries(TransactionCommitted)[-1]
    record = state.committed[commit.tx_id]
    changed = attrs.evolve(record, commit_ts=0)
    return attrs.evolve(state, committed=state.committed.set(commit.tx_id, changed)), "not after"


def cell_of_another_tenant(state):
    commit = new_entries(TransactionCommitted)[-1]
    record = state.committed[commit.tx_id]
    other = next(t for t in state.tables.values() if t.tenant_id != record.tenant_id)
    cells = (attrs.evolve(record.cells[0], table_id=other.table_id), *record.cells[1:])
    changed = attrs.evolve(record, cells=cells)
    return attrs.evolve(state, committed=state.committed.set(commit.tx_id, changed)), "of another tenant"


def committed_record_lost(state):
    commit = new_entries(TransactionCommitted)[-1]
    return attrs.evolve(state, committed=state.committed.delete(commit.tx_id)), f"transaction {commit.tx_id}"


def phantom_open_transaction(state):
    opened = attrs.evolve(next(iter(state.open_txns.values())), tx_id=999_999)
    return attrs.evolve(state, open_txns=state.open_txns.set(999_999, opened)), "open transaction"


def freeze_forgets_an_open_transaction(state):
    freeze = next(e for e in new_entries(VersionFrozen) if e.open_transactions)
    frozen = state.frozen[freeze.version]
    changed = attrs.evolve(frozen, open_transactions=frozen.open_transactions[1:])
    return attrs.evolve(state, frozen=state.frozen.set(freeze.version, changed)), "log says"


def freeze_with_an_extra_open_transaction(state):
    freeze = next(e for e in new_entries(VersionFrozen) if e.open_transactions)
    frozen = state.frozen[freeze.version]
    extra = OpenAtFreeze(tx_id=999_999, tenant_id=1001, first_log_id=1)
    changed = attrs.evolve(frozen, open_transactions=(*frozen.open_transactions, extra))
    return attrs.evolve(state, frozen=state.frozen.set(freeze.version, changed)), "log says"


def freeze_with_a_wrong_baseline(state):
    freeze = new_entries(VersionFrozen)[-1]
    frozen = state.frozen[freeze.version]
    wrong = (attrs.evolve(frozen.baseline[0], rows=frozen.baseline[0].rows + 1), *frozen.baseline[1:])
    changed = attrs.evolve(frozen, baseline=wrong)
    return attrs.evolve(state, frozen=state.frozen.set(freeze.version, changed)), "recorded baseline"


def stats_off_by_one(state):
    commit = new_entries(TransactionCommitted)[-1]
    table_id = state.committed[commit.tx_id].cells[0].table_id
    rows, checksum = state.table_stats[table_id]
    return attrs.evolve(state, table_stats=state.table_stats.set(table_id, (rows + 1, checksum))), "stats say"


def row_in_the_wrong_tablet(state):
    commit = new_entries(TransactionCommitted)[-1]
    cell = state.committed[commit.tx_id].cells[0]
    table = state.tables[cell.table_id]
    home = table.tablet_for(cell.rowkey).tablet_id
    other = next(t.tablet_id for t in table.tablets if t.tablet_id != home)
    version = state.data[home][cell.rowkey]
    data = state.data.set(other, state.data[other].set(cell.rowkey, version))
    return attrs.evolve(state, data=data), "outside its range"


CORRUPTIONS = {
    "log_ids_dense": [entry_with_wrong_id],
    "log_time_increasing": [time_going_back],
    "commit_ts_increasing": [commit_ts_going_back],
    "single_tenant_transactions": [cell_of_another_tenant],
    "transactions_match_log": [committed_record_lost, phantom_open_transaction],
    "frozen_baselines_exact": [
        freeze_forgets_an_open_transaction,
        freeze_with_an_extra_open_transaction,
        freeze_with_a_wrong_baseline,
    ],
    "table_stats_exact": [stats_off_by_one],
    "rows_in_their_tablets": [row_in_the_wrong_tablet],
}


def test_every_cluster_invariant_has_an_incremental_form_and_a_planted_corruption():
    assert all(inv.since is not None for inv in CLUSTER_INVARIANTS)
    assert set(CORRUPTIONS) == set(BY_NAME)


@pytest.mark.parametrize(
    ("name", "corrupt"),
    [(name, c) for name, cs in CORRUPTIONS.items() for c in cs],
    ids=lambda x: getattr(x, "__name__", x),
)
def test_a_corruption_after_before_is_reported_by_both_forms(name, corrupt):
    inv = BY_NAME[name]
    assert inv.check(AFTER) is None and inv.since(BEFORE, AFTER) is None
    corrupted, expected = corrupt(AFTER)
    whole, incremental = inv.check(corrupted), inv.since(BEFORE, corrupted)
    assert whole is not None and expected in whole, whole
    assert incremental is not None and expected in incremental, incremental


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), every=st.integers(1, 40))
def test_checked_every_k_steps_the_incremental_forms_agree_with_the_whole_checks(seed, every):
    states = walk(seed, 300)
    rng = random.Random(seed)
    checked = states[0]
    for index in range(every, len(states), every):
        after = states[index]
        for inv in CLUSTER_INVARIANTS:
            assert inv.since(checked, after) == inv.check(after), inv.name
        # the step from a state further back judges the same
        before = states[rng.randrange(index)]
        assert [inv.since(before, after) for inv in CLUSTER_INVARIANTS] == [None] * len(CLUSTER_INVARIANTS)
        checked = after


CHECK_FILES = sorted((ROOT / "specs" / "checks").glob("*.toml")) + sorted(
    (ROOT / "specs" / "flaws").glob("*.toml")
)


@pytest.mark.parametrize("path", CHECK_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_exploring_with_the_incremental_forms_finds_what_the_whole_checks_find(path):
    """Every shipped check and every flaw's check, explored twice: with the invariants'
    incremental forms (as the drivers run) and with every invariant checked whole. Same
    states, same verdict, the same counterexample (property, length, message)."""
    check = load_check(path)
    start = run_start(check)
    spec = check_spec(check, start)
    whole = attrs.evolve(spec, invariants=tuple(attrs.evolve(inv, since=None) for inv in spec.invariants))
    assert any(inv.since for inv in spec.invariants)
    bound = min(check.settings.max_states or 15_000, 15_000)
    fast, slow = explore(spec, max_states=bound), explore(whole, max_states=bound)
    figures = ("distinct_states", "transitions", "depth", "truncated_by", "probes_tried", "probes_accepted")
    assert [getattr(fast, f) for f in figures] == [getattr(slow, f) for f in figures]
    if slow.violation is None:
        assert fast.violation is None
    else:
        a, b = fast.violation, slow.violation
        assert (a.invariant, a.depth, a.message) == (b.invariant, b.depth, b.message)
