"""Backups in scenario files: specs/backup.toml, the `backup` and `fault` steps, and the three
backup views read back from the store against the same tables computed from the state."""

from __future__ import annotations

import textwrap
import tomllib

import pytest
from histories import BACKUP, duck_query, event_rows

from ybstate.backup.state import BackupPhase, SetStatus
from ybstate.backup.tables import backup_set_rows, backup_tablet_rows, backup_task_rows
from ybstate.errors import ScenarioFailed, SpecError
from ybstate.history import verify_store
from ybstate.model import INVARIANTS, fingerprint_hex
from ybstate.scenario import load_scenario, run_scenario
from ybstate.store import DuckDBStore

HEAD = """\
name = "b"
seed = 5

[cluster]
task_retries = 1

[[tenants]]
name = "shop"
tables = { orders = 2, users = 1 }

[[tenants]]
name = "blog"
tables = { posts = 1 }

[[steps]]
do = "write"
tenant = "shop"
put = [["orders", "o1", "ten"], ["orders", "o2", "twenty"], ["users", "u1", "ann"]]

[[steps]]
do = "freeze"
"""
HEAD_STEPS = 2

VIEWS = {
    "__all_tenant_backup_task": (backup_task_rows, "task_id"),
    "__all_tenant_backup_set": (backup_set_rows, "backup_set_id"),
    "__all_tenant_backup_tablet": (backup_tablet_rows, "backup_set_id, tablet_id"),
}


@pytest.fixture
def duck():
    store = DuckDBStore(":memory:")
    yield store
    store.close()


def _path(tmp_path, steps: str, head: str = HEAD):
    path = tmp_path / "scenario.toml"
    path.write_text(head + textwrap.dedent(steps))
    return path


def _run(store: DuckDBStore, path):
    return run_scenario(load_scenario(path), store, query=duck_query(store))


def _spec_error(tmp_path, steps: str) -> SpecError:
    path = _path(tmp_path, steps)
    with pytest.raises(SpecError) as caught:
        load_scenario(path)
    error = caught.value
    assert error.path == str(path) and str(path) in str(error)
    return error


def _assert_malformed_step(tmp_path, kind: str, fields: str, words: list[str]) -> None:
    """A step of ``kind`` with ``fields`` is a SpecError at its own step naming ``words``."""
    error = _spec_error(tmp_path, f'\n[[steps]]\ndo = "{kind}"\n' + fields + "\n")
    assert error.step == HEAD_STEPS + 1 and f"step {HEAD_STEPS + 1}" in str(error)
    for word in words:
        assert word in str(error)


def _view_equals_state(store: DuckDBStore, state) -> None:
    for view, (rows_of, order) in VIEWS.items():
        stored = store.con.execute(f"SELECT * FROM {view} ORDER BY {order}").fetchall()
        assert [tuple(row) for row in stored] == rows_of(state), view


# -- specs/backup.toml ------------------------------------------------------------------------------


def test_the_backup_scenario_runs_every_step_and_its_expectations_hold(duck):
    declared = tomllib.loads(BACKUP.read_text())["steps"]
    result = _run(duck, BACKUP)
    assert [o.kind for o in result.outcomes] == [step["do"] for step in declared]
    assert {"backup", "fault", "expect"} <= {step["do"] for step in declared}
    for outcome, step in zip(result.outcomes, declared, strict=True):
        if step.get("expect") == "rejected":
            assert outcome.note.startswith("rejected as expected") and outcome.events == 0, outcome
        elif step["do"] == "expect":
            assert outcome.note.startswith("holds"), outcome
        elif step["do"] == "backup" and step.get("wait", True):
            assert " COMPLETED, backup set " in outcome.note, outcome
    phases = [task.phase for task in result.state.backups.values()]
    assert phases and set(phases) == {BackupPhase.COMPLETED}  # background ones end with the run
    assert duck.fingerprint() == (result.state.seq, fingerprint_hex(result.state))


def test_every_state_and_sql_invariant_holds_over_the_stored_backup_scenario(duck):
    _run(duck, BACKUP)
    results = verify_store(duck)
    names = {r.name for r in results}
    assert names >= {inv.name for inv in INVARIANTS} | {"history_replays"}
    assert names >= {"backup_checksums_recompute", "backup_phases_forward", "backup_sets_equal_baseline"}
    assert [(r.name, r.violations) for r in results if not r.ok] == []


def test_the_backup_scenario_run_twice_stores_byte_identical_rows(tmp_path):
    paths = [tmp_path / "one.duckdb", tmp_path / "two.duckdb"]
    for path in paths:
        with DuckDBStore(path) as store:
            _run(store, BACKUP)
    first, second = (event_rows(p) for p in paths)
    assert sum(1 for row in first if row[2].startswith("backup.")) > 10
    assert first == second


def test_the_backup_views_equal_the_tables_computed_from_the_state(duck):
    state = _run(duck, BACKUP).state
    available = [entry for entry in state.backup_sets.values() if entry.status is SetStatus.AVAILABLE]
    assert len(available) >= 2
    assert len(backup_tablet_rows(state)) == sum(len(entry.tablets) for entry in available)
    _view_equals_state(duck, state)


# -- the backup and fault steps at run time ---------------------------------------------------------


def test_a_fault_beyond_task_retries_fails_the_backup_and_the_views_say_so(tmp_path, duck):
    path = _path(
        tmp_path,
        """
        [[steps]]
        do = "fault"
        kind = "tablet_copy_fail"
        tenant = "shop"
        table = "orders"
        tablet = 1
        times = 2

        [[steps]]
        do = "backup"
        tenant = "shop"

        [[steps]]
        do = "expect"
        sql = "SELECT status, progress FROM __all_tenant_backup_task"
        equals = [[3, 66]]

        [[steps]]
        do = "backup"
        tenant = "shop"
        """,
    )
    result = _run(duck, path)
    failed, completed = result.state.backups[1], result.state.backups[2]
    orders = result.state.table_named(failed.tenant_id, "orders")
    assert failed.phase is BackupPhase.FAILED and completed.phase is BackupPhase.COMPLETED
    assert f"tablets [{orders.tablets[1].tablet_id}]" in failed.error
    ((status, error),) = duck.con.execute(
        "SELECT status, error_msg FROM __all_tenant_backup_task WHERE task_id = 1"
    ).fetchall()
    assert (status, error) == (3, failed.error)
    assert duck.con.execute("SELECT backup_set_id, status FROM __all_tenant_backup_set").fetchall() == [
        (1, 3),
        (2, 1),
    ]
    assert {
        row[0] for row in duck.con.execute("SELECT backup_set_id FROM __all_tenant_backup_tablet").fetchall()
    } == {2}
    _view_equals_state(duck, result.state)


def test_a_fault_within_task_retries_is_retried_and_the_backup_completes(tmp_path, duck):
    path = _path(
        tmp_path,
        """
        [[steps]]
        do = "fault"
        kind = "tablet_copy_fail"
        tenant = "shop"
        times = 1

        [[steps]]
        do = "backup"
        tenant = "shop"
        """,
    )
    result = _run(duck, path)
    assert result.state.backups[1].phase is BackupPhase.COMPLETED
    assert result.state.task_failures == 1
    assert duck.con.execute("SELECT count(*) FROM events WHERE type = 'dag.task_failed'").fetchone() == (1,)


def test_an_unexpectedly_rejected_backup_step_fails_the_run_and_stores_nothing(tmp_path, duck):
    path = _path(
        tmp_path,
        """
        [[steps]]
        do = "backup"
        tenant = "shop"
        frozen_version = 4
        """,
    )
    with pytest.raises(ScenarioFailed) as caught:
        _run(duck, path)
    assert (caught.value.step, caught.value.kind) == (HEAD_STEPS + 1, "backup")
    assert "frozen version 4" in caught.value.reason
    assert duck.last_seq() == 0 and duck.rows() == []


def test_a_backup_step_expected_rejected_but_accepted_fails_the_run_and_stores_nothing(tmp_path, duck):
    path = _path(
        tmp_path,
        """
        [[steps]]
        do = "backup"
        tenant = "shop"
        expect = "rejected"
        """,
    )
    with pytest.raises(ScenarioFailed, match="accepted, but the scenario expects it to be rejected"):
        _run(duck, path)
    assert duck.rows() == []


def test_a_fault_naming_a_tablet_the_table_lacks_is_a_spec_error_before_anything_runs(tmp_path):
    error = _spec_error(
        tmp_path,
        """
        [[steps]]
        do = "fault"
        kind = "tablet_copy_fail"
        tenant = "shop"
        table = "users"
        tablet = 3
        """,
    )
    assert error.step == HEAD_STEPS + 1
    assert "table 'users' has 1 tablets (0..0), no tablet 3" in str(error)


def test_a_background_backup_runs_alongside_later_steps_and_ends_with_the_run(tmp_path, duck):
    path = _path(
        tmp_path,
        """
        [[steps]]
        do = "backup"
        tenant = "shop"
        wait = false

        [[steps]]
        do = "expect"
        sql = "SELECT status FROM __all_tenant_backup_task"
        equals = 1

        [[steps]]
        do = "write"
        tenant = "shop"
        put = [["orders", "o3", "thirty"]]
        """,
    )
    result = _run(duck, path)
    assert result.state.backups[1].phase is BackupPhase.COMPLETED
    assert ("orders", "o3") not in {
        (s.table_name, key) for s in result.state.stored.values() for key, _ in s.rows
    }
    _view_equals_state(duck, result.state)


# -- scenario errors for the new steps --------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ("tenant = 5", ["'tenant' must be str", "5"]),
        ('tenant = "shop"\nfrozen_version = "1"', ["'frozen_version' must be int"]),
        ('tenant = "shop"\nfrozen_version = true', ["'frozen_version' must be int"]),
        ('tenant = "shop"\nfrozen_version = -2', ["'frozen_version' must be 0 (newest) or a version", "-2"]),
        ('tenant = "shop"\nparallel = -1', ["'parallel' must be 0", "-1"]),
        ('tenant = "shop"\nparallel = 1.5', ["'parallel' must be int"]),
        ('tenant = "shop"\nwait = "yes"', ["'wait' must be bool", "'yes'"]),
        ('tenant = "shop"\ndestination = 3', ["'destination' must be str"]),
        ('tenant = "shop"\nspeed = 3', ["unexpected key 'speed'"]),
        ('tenant = "nobody"', ["unknown tenant 'nobody'"]),
        ("", ["backup needs key 'tenant'"]),
    ],
)
def test_a_malformed_backup_step_is_a_spec_error_naming_the_step(tmp_path, fields, words):
    _assert_malformed_step(tmp_path, "backup", fields, words)


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ('kind = "disk_full"\ntenant = "shop"', ["unknown fault kind 'disk_full'", "'tablet_copy_fail'"]),
        ('kind = "tablet_copy_fail"\ntenant = "shop"\ntablet = 0', ["'tablet'", "needs 'table'"]),
        ('kind = "tablet_copy_fail"\ntenant = "shop"\ntable = "orders"\ntablet = -1', ["'tablet'"]),
        (
            'kind = "tablet_copy_fail"\ntenant = "shop"\ntable = "invoices"',
            ["no table 'invoices'", "'orders'"],
        ),
        (
            'kind = "tablet_copy_fail"\ntenant = "shop"\ntable = "posts"',
            ["tenant 'shop' has no table 'posts'"],
        ),
        ('kind = "tablet_copy_fail"\ntenant = "nobody"', ["unknown tenant 'nobody'"]),
        ('kind = "tablet_copy_fail"\ntenant = "shop"\ntimes = 0', ["'times' must be at least 1"]),
        ('kind = "tablet_copy_fail"\ntenant = "shop"\ntimes = "2"', ["'times' must be int"]),
        ('kind = "tablet_copy_fail"\ntenant = "shop"\nexpect = "rejected"', ["unexpected key 'expect'"]),
        ('tenant = "shop"', ["fault needs key 'kind'"]),
    ],
)
def test_a_malformed_fault_step_is_a_spec_error_naming_the_step(tmp_path, fields, words):
    _assert_malformed_step(tmp_path, "fault", fields, words)


def test_a_fault_naming_a_table_dropped_by_an_earlier_step_is_a_spec_error(tmp_path):
    error = _spec_error(
        tmp_path,
        """
        [[steps]]
        do = "drop_table"
        tenant = "shop"
        table = "users"

        [[steps]]
        do = "fault"
        kind = "tablet_copy_fail"
        tenant = "shop"
        table = "users"
        """,
    )
    assert error.step == HEAD_STEPS + 2
    assert "tenant 'shop' has no table 'users'" in str(error)
