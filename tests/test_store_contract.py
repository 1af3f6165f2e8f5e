"""The event store contract (ybstate.store.base), written once and run against every store.

The histories are real: a seeded walk through the cluster model. The DuckDB-file tests at
the end cover what only a file can do: outlive its connection, and be someone else's file.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import duckdb
import pytest
from histories import simulated_history, store_history

from ybstate.codec import make_codec
from ybstate.errors import ForeignDatabase, StoreError
from ybstate.model import fingerprint_hex, replay
from ybstate.sqlfiles import package_sql
from ybstate.store import DuckDBStore, EventStore, MemoryStore
from ybstate.store.duck import SCHEMA, VIEW_FILES


class Boom(Exception):
    """An error raised inside a store transaction by the test itself."""


@pytest.fixture(params=["memory", "duckdb-memory", "duckdb-file"])
def store(request, tmp_path) -> EventStore:
    if request.param == "memory":
        opened: EventStore = MemoryStore()
    elif request.param == "duckdb-memory":
        opened = DuckDBStore(":memory:")
    else:
        opened = DuckDBStore(tmp_path / "h.duckdb")
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def history():
    """About 250 events of every kind, and the state they lead to."""
    events, state = simulated_history(seed=11, steps=240)
    return events, state


def _snapshot(store: EventStore):
    return store.rows(), store.last_seq(), store.fingerprint()


# Append and load ------------------------------------------------------------------------


def test_empty_store_holds_nothing(store):
    assert store.last_seq() == 0
    assert store.load() == []
    assert store.rows() == []
    assert store.fingerprint() is None


def test_appended_events_load_back_equal(store, history):
    events, state = history
    store_history(store, events, state)
    assert store.load() == events
    assert store.last_seq() == events[-1].seq


def test_batches_appended_in_turn_load_back_as_one_history(store, history):
    events, _ = history
    cuts = [0, 1, 7, 50, 51, 180, len(events)]
    for start, end in itertools.pairwise(cuts):
        store.append(events[start:end])
        assert store.last_seq() == events[end - 1].seq
    assert store.load() == events


def test_rows_hold_seq_time_type_and_tenant_of_each_event(store, history):
    events, _ = history
    store.append(events)
    codec = make_codec()
    rows = store.rows()
    assert [row[:4] for row in rows] == [
        (e.seq, e.time, codec.tag(e), getattr(e, "tenant_id", None)) for e in events
    ]
    assert [codec.from_json(row[2], row[4]) for row in rows] == events
    # cluster-wide events (start, freeze, heartbeat, mark) have no tenant
    assert any(row[3] is None for row in rows)
    assert any(row[3] is not None for row in rows)


def test_appending_an_empty_batch_changes_nothing(store, history):
    events, state = history
    store_history(store, events[:10], state)
    before = _snapshot(store)
    store.append([], "ignored")
    assert _snapshot(store) == before


# Appends out of order are refused, atomically -------------------------------------------


def test_first_batch_that_does_not_start_at_seq_one_is_refused(store, history):
    events, _ = history
    with pytest.raises(StoreError, match="expected seq 1, found 2"):
        store.append(events[1:20], "fp")
    assert _snapshot(store) == ([], 0, None)


@pytest.mark.parametrize(
    "batch_of",
    [
        pytest.param(lambda events: events[41:60], id="gap-after-stored"),
        pytest.param(lambda events: events[30:60], id="overlaps-stored"),
        pytest.param(lambda events: events[:5], id="restarts-at-one"),
        pytest.param(lambda events: events[40:45] + events[46:60], id="gap-inside-batch"),
        pytest.param(lambda events: events[40:45] + events[43:60], id="repeat-inside-batch"),
    ],
)
def test_batch_not_continuing_the_stored_seq_is_refused_and_nothing_of_it_stored(store, history, batch_of):
    events, state = history
    store.append(events[:40], "fp-40")
    before = _snapshot(store)
    with pytest.raises(StoreError, match="append out of order"):
        store.append(batch_of(events), "fp-bad")
    assert _snapshot(store) == before
    # the store is still usable: the right continuation goes in
    store.append(events[40:], fingerprint_hex(state))
    assert store.load() == events


# Transactions -----------------------------------------------------------------------------


def test_transaction_rolls_back_every_append_made_inside_it_on_an_exception(store, history):
    events, _ = history
    store.append(events[:30], "fp-30")
    before = _snapshot(store)
    with pytest.raises(Boom), store.transaction():
        store.append(events[30:60], "fp-60")
        store.append(events[60:90], "fp-90")
        assert store.last_seq() == events[89].seq  # visible inside the transaction
        raise Boom
    assert _snapshot(store) == before
    assert store.load() == events[:30]


def test_transaction_rolls_back_when_an_append_inside_it_is_refused(store, history):
    events, _ = history
    store.append(events[:30], "fp-30")
    before = _snapshot(store)
    with pytest.raises(StoreError), store.transaction():
        store.append(events[30:60], "fp-60")
        store.append(events[70:80], "fp-80")
    assert _snapshot(store) == before


def test_transaction_keeps_every_append_when_it_ends_normally(store, history):
    events, state = history
    with store.transaction():
        store.append(events[:100], "fp-100")
        store.append(events[100:], fingerprint_hex(state))
    assert store.load() == events
    assert store.fingerprint() == (events[-1].seq, fingerprint_hex(state))


def test_rollback_after_an_empty_start_leaves_the_store_empty(store, history):
    events, _ = history
    with pytest.raises(Boom), store.transaction():
        store.append(events, "fp")
        raise Boom
    assert _snapshot(store) == ([], 0, None)
    store.append(events[:5], "fp-5")  # and the store takes a fresh history afterwards
    assert store.load() == events[:5]


# Fingerprints -----------------------------------------------------------------------------


def test_recorded_fingerprint_is_the_one_given_with_the_last_append(store, history):
    events, _ = history
    store.append(events[:10], "first")
    assert store.fingerprint() == (events[9].seq, "first")
    store.append(events[10:25], "second")
    assert store.fingerprint() == (events[24].seq, "second")


def test_append_without_a_fingerprint_keeps_the_last_recorded_one(store, history):
    events, _ = history
    store.append(events[:10], "first")
    store.append(events[10:25])
    assert store.fingerprint() == (events[9].seq, "first")


def test_loading_and_replaying_gives_the_live_state_fingerprint(store, history):
    events, live = history
    store_history(store, events, live)
    replayed = replay(store.load())
    assert fingerprint_hex(replayed) == fingerprint_hex(live)
    assert store.fingerprint() == (replayed.seq, fingerprint_hex(replayed))


def test_replaying_a_prefix_gives_the_fingerprint_recorded_with_that_prefix(store):
    events, _ = simulated_history(seed=5, steps=60)
    live = replay(events[:30])
    store.append(events[:30], fingerprint_hex(live))
    assert fingerprint_hex(replay(store.load())) == store.fingerprint()[1]


# A DuckDB file ----------------------------------------------------------------------------


def test_reopened_file_continues_after_the_stored_history(tmp_path, history):
    events, state = history
    path = tmp_path / "h.duckdb"
    with DuckDBStore(path) as first:
        first.append(events[:100], fingerprint_hex(replay(events[:100])))
    with DuckDBStore(path) as second:
        assert second.last_seq() == events[99].seq
        assert second.load() == events[:100]
        with pytest.raises(StoreError):
            second.append(events[:10])
        second.append(events[100:], fingerprint_hex(state))
    with DuckDBStore(path, create=False) as third:
        assert third.load() == events
        assert third.fingerprint() == (events[-1].seq, fingerprint_hex(state))


def test_rolled_back_appends_are_not_in_the_file_after_reopening(tmp_path, history):
    events, _ = history
    path = tmp_path / "h.duckdb"
    with DuckDBStore(path) as store:
        store.append(events[:50], "fp-50")
        with pytest.raises(Boom), store.transaction():
            store.append(events[50:], "fp-all")
            raise Boom
    with DuckDBStore(path) as store:
        assert store.load() == events[:50]
        assert store.fingerprint() == (events[49].seq, "fp-50")


def test_read_only_store_reads_the_history_of_a_file(tmp_path, history):
    events, state = history
    path = tmp_path / "h.duckdb"
    with DuckDBStore(path) as store:
        store_history(store, events, state)
    with DuckDBStore(path, create=False, read_only=True) as reader:
        assert reader.load() == events


def test_file_that_is_not_a_duckdb_database_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "notes.duckdb"
    content = b"shopping list: apples, pears\n" * 200
    path.write_bytes(content)
    for options in ({}, {"create": False}, {"create": False, "read_only": True}):
        with pytest.raises(ForeignDatabase) as caught:
            DuckDBStore(path, **options)
        assert caught.value.path == str(path)
        assert str(path) in str(caught.value)
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.duckdb"]


def _foreign_duckdb(path: Path) -> bytes:
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE customers (id INTEGER, name VARCHAR)")
    con.execute("INSERT INTO customers VALUES (1, 'ann'), (2, 'bob')")
    con.close()
    return path.read_bytes()


def test_duckdb_file_with_other_tables_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "crm.duckdb"
    content = _foreign_duckdb(path)
    for options in ({}, {"create": False, "read_only": True}):
        with pytest.raises(ForeignDatabase, match="customers") as caught:
            DuckDBStore(path, **options)
        assert caught.value.path == str(path)
    assert path.read_bytes() == content
    con = duckdb.connect(str(path), read_only=True)
    tables = con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    con.close()
    assert tables == [("customers",)]


def test_history_of_another_format_version_is_refused_and_left_untouched(tmp_path, history):
    events, state = history
    path = tmp_path / "future.duckdb"
    with DuckDBStore(path) as store:
        store_history(store, events[:20], state)
    con = duckdb.connect(str(path))
    con.execute("UPDATE ybstate_meta SET value = '99' WHERE key = 'format_version'")
    con.close()
    content = path.read_bytes()
    with pytest.raises(ForeignDatabase, match="'99'"):
        DuckDBStore(path)
    assert path.read_bytes() == content


def test_create_false_on_a_missing_path_raises_store_error_and_creates_nothing(tmp_path):
    path = tmp_path / "absent.duckdb"
    for options in ({"create": False}, {"create": False, "read_only": True}, {"read_only": True}):
        with pytest.raises(StoreError, match=r"absent\.duckdb"):
            DuckDBStore(path, **options)
    assert list(tmp_path.iterdir()) == []


def test_events_table_has_the_columns_of_design_section_10_then_the_digest(tmp_path):
    with DuckDBStore(tmp_path / "h.duckdb") as store:
        columns = store.con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'events' ORDER BY ordinal_position"
        ).fetchall()
    # DESIGN 10's columns, in its order; then ybstate's: each row's chained digest.
    assert [c for (c,) in columns] == ["seq", "time", "type", "tenant_id", "payload", "digest"]


def test_events_table_rejects_a_second_row_with_the_same_seq(tmp_path, history):
    events, _ = history
    with DuckDBStore(tmp_path / "h.duckdb") as store:
        store.append(events[:3])
        with pytest.raises(duckdb.ConstraintException):
            store.con.execute("INSERT INTO events SELECT * FROM events WHERE seq = 2")


def test_every_schema_and_view_statement_has_a_header_comment():
    statements = package_sql(*SCHEMA)
    assert {"create_meta", "create_events"} == set(statements)
    for package, filename in VIEW_FILES:
        statements = {**statements, **package_sql(package, filename)}
    for statement in statements.values():
        assert len(statement.doc.split()) >= 5, statement.name
