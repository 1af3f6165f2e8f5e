"""Trace validation accepts exactly the histories decide could have produced."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.histories import run_quickstart, simulated_history
from ybstate.cluster.events import HeartbeatLogged, MutatorLogged, TableCreated, VersionFrozen
from ybstate.cluster.state import Cell
from ybstate.errors import TraceInvalid
from ybstate.model import fingerprint, validate_trace
from ybstate.store import DuckDBStore


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 10_000))
def test_simulated_histories_are_valid_traces(seed):
    events, state = simulated_history(seed, 150)
    assert fingerprint(validate_trace(events)) == fingerprint(state)


def test_quickstart_history_is_a_valid_trace():
    store = DuckDBStore(":memory:")
    result = run_quickstart(store)
    assert fingerprint(validate_trace(store.load())) == fingerprint(result.state)
    store.close()


def _tamper(events, kind, change):
    index = next(i for i, e in enumerate(events) if isinstance(e, kind))
    return [*events[:index], change(events[index]), *events[index + 1 :]], events[index].seq


@pytest.mark.parametrize(
    ("kind", "change", "fragment"),
    [
        (MutatorLogged, lambda e: attrs.evolve(e, time=e.time + 5), "time"),
        (TableCreated, lambda e: attrs.evolve(e, tablets=e.tablets[::-1]), "tablets"),
        (VersionFrozen, lambda e: attrs.evolve(e, open_transactions=()), "open_transactions"),
        (HeartbeatLogged, lambda e: attrs.evolve(e, log_id=e.log_id + 1), "log_id"),
        (
            MutatorLogged,
            lambda e: attrs.evolve(e, cells=(Cell(table_id=3001, rowkey="", value="v"),)),
            "refused",
        ),
    ],
)
def test_an_edited_event_is_named_by_its_seq(kind, change, fragment):
    events, _ = simulated_history(11, 300)
    edited, seq = _tamper(events, kind, change)
    with pytest.raises(TraceInvalid, match=fragment) as info:
        validate_trace(edited)
    assert info.value.seq == seq
