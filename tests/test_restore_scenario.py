"""Restore at the surfaces a user sees: the bundled specs/pitr.toml, the `restore` step and
the `worker_stall` / `tablet_fetch_fail` faults, `ybstate restore-preview`, and the
tenant_restore_start / tenant_restore_status commands."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from histories import REPO, duck_query

from ybstate.cli import cli
from ybstate.cluster import ghost
from ybstate.commands import ResultCode, tenant_restore_start, tenant_restore_status
from ybstate.errors import ScenarioFailed, SpecError
from ybstate.history import open_history, verify_store
from ybstate.model import fingerprint_hex
from ybstate.restore.state import RestorePhase
from ybstate.scenario import load_scenario, parse_scenario, run_scenario
from ybstate.store import DuckDBStore

PITR = REPO / "specs" / "pitr.toml"
R = ResultCode


@pytest.fixture(scope="module")
def pitr(tmp_path_factory):
    path = tmp_path_factory.mktemp("pitr") / "pitr.duckdb"
    with DuckDBStore(path) as store:
        result = run_scenario(load_scenario(PITR), store, query=duck_query(store))
    return path, result


def _invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_pitr_runs_every_step_refuses_each_bad_restore_and_every_expectation_holds(pitr):
    _, result = pitr
    notes = {o.number: o.note for o in result.outcomes}
    refusals = [n for n in notes.values() if n.startswith("rejected as expected")]
    assert len(refusals) == 5
    for words in (
        "is before every backup set (the earliest snapshot is",
        "is after the archived-up-to point",
        "the name 'blog' is taken",
        "is past a hole in the archive: log ids",
        "backup set 2's snapshot",
    ):
        assert sum(words in n for n in refusals) == 1, words
    assert "missing (stopped)" in next(n for n in refusals if "past a hole" in n)
    done = [o for o in result.outcomes if o.kind == "restore" and not o.note.startswith("rejected")]
    assert [o.note.split(":")[0] for o in done] == [
        "restore task 1 COMPLETED",
        "restore task 2 COMPLETED",
        "restore task 3 FAILED",
        "restore task 4 COMPLETED",
    ]
    assert all(o.note.startswith("holds") for o in result.outcomes if o.kind == "expect")


def test_pitr_standbys_equal_the_source_at_their_points_and_are_read_only_standbys(pitr):
    _, result = pitr
    state = result.state
    for task in state.restores.values():
        standby = state.tenants[task.target_tenant_id]
        assert standby.role.value == "standby" and not standby.writable
        if task.phase is RestorePhase.COMPLETED:
            assert standby.status.value == "read_only" and standby.restored_to == task.until_ts
            assert ghost.content(state, standby.tenant_id) == ghost.content_as_of(
                state, task.source_tenant_id, task.until_ts
            )
        else:
            assert standby.status.value == "restoring" and standby.restored_to == 0
    before = state.restores[1]
    assert before.until_ts == state.marks["before_mistake"]
    rows = ghost.content(state, before.target_tenant_id)
    assert rows[("orders", "o-long")] == "pending" and rows[("orders", "o-new")] == "shipped"
    assert rows[("coupons", "c1")] == "10%" and not any(table == "legacy" for table, _ in rows)


def test_pitr_history_verifies_and_replays_to_its_fingerprint(pitr):
    path, result = pitr
    with open_history(path) as store:
        results = verify_store(store)
        assert store.fingerprint()[1] == fingerprint_hex(result.state)
    names = {r.name for r in results}
    assert {
        "restore_applies_in_order",
        "restore_completed_standby_is_the_source_at_t",
        "history_replays",
    } <= names
    assert [(r.name, r.violations) for r in results if not r.ok] == []


def test_restore_preview_lists_the_set_pieces_log_range_rows_and_entries_without_changing_anything(pitr):
    path, result = pitr
    before = path.read_bytes()
    shown = _invoke("restore-preview", "--db", str(path), "--tenant", "shop", "--until", "before_mistake")
    assert shown.exit_code == 0, shown.output
    text = _flat(shown.output)
    task = result.state.restores[1]  # the same restore, as it was run
    assert f"restore point T │ {task.until_ts}" in text
    assert "backup set │ 1 (snapshot" in text
    assert f"log ids {task.start_log_id}..{task.end_log_id}" in text
    assert f"archived entries │ {task.entries}" in text
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("until", "code", "words"),
    [
        ("1", 1, "is before every backup set"),
        ("9000000000000000", 1, "is after the archived-up-to point"),
        ("no_such_mark", 1, "there is no mark named 'no_such_mark'"),
    ],
)
def test_restore_preview_of_a_refused_restore_exits_1_with_the_reason(pitr, until, code, words):
    path, _ = pitr
    shown = _invoke("restore-preview", "--db", str(path), "--tenant", "shop", "--until", until)
    assert shown.exit_code == code and words in _flat(shown.output)


def test_restore_preview_of_an_unknown_tenant_exits_2(pitr):
    path, _ = pitr
    shown = _invoke("restore-preview", "--db", str(path), "--tenant", "nobody")
    assert shown.exit_code == 2 and "unknown tenant 'nobody'" in _flat(shown.output)


# -- the restore step and its faults --------------------------------------------------------------

HEAD = """
[cluster]
piece_entries = 8
[[tenants]]
name = "shop"
tables = { orders = 2 }
[[steps]]
do = "workload"
tenant = "shop"
transactions = 4
keys = 4
[[steps]]
do = "freeze"
[[steps]]
do = "backup"
tenant = "shop"
[[steps]]
do = "archive_start"
tenant = "shop"
[[steps]]
do = "workload"
tenant = "shop"
transactions = 4
keys = 4
[[steps]]
do = "mark"
name = "m"
"""


def _step(do: str, **keys: object) -> str:
    def value(v: object) -> str:
        return f'"{v}"' if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v)

    return "[[steps]]\n" + f'do = "{do}"\n' + "".join(f"{k} = {value(v)}\n" for k, v in keys.items())


def _run(text: str, tmp_path):
    tmp_path.mkdir(parents=True, exist_ok=True)
    with DuckDBStore(tmp_path / "h.duckdb") as store:
        return run_scenario(parse_scenario(text, "x.toml"), store, query=duck_query(store))


@pytest.mark.parametrize(
    ("step", "words"),
    [
        (_step("restore", source="shop"), "restore needs key 'target'"),
        (_step("restore", source="nobody", target="x"), "unknown tenant 'nobody'"),
        (_step("restore", source="shop", target="shop"), "the target 'shop' names a tenant that exists"),
        (_step("restore", source="shop", target="x", until="nope"), "'until' names no mark defined"),
        (_step("restore", source="shop", target="x", until=-1), "'until' must be a timestamp 0.."),
        (
            _step("restore", source="shop", target="x", workers=-1),
            "'workers' must be 0 (the default) or more",
        ),
        (_step("restore", source="shop", target="x", until=1.5), "'until' must be int or str"),
        (_step("fault", kind="worker_stall", tenant="shop", worker=-1), "'worker' must be 0 or more"),
        (_step("fault", kind="tablet_fetch_fail", tenant="shop", table="nope"), "has no table 'nope'"),
    ],
)
def test_a_malformed_restore_step_is_a_spec_error_naming_the_file_and_step(step, words):
    with pytest.raises(SpecError) as error:
        parse_scenario(HEAD + step, "x.toml")
    assert error.value.step == 7 and "x.toml" in str(error.value) and words in str(error.value)


def test_a_restore_step_to_a_mark_completes_and_later_steps_may_name_the_standby(tmp_path):
    text = (
        HEAD
        + _step("restore", source="shop", target="back", until="m")
        + _step("expect", sql="SELECT status FROM __all_tenant_restore_task", equals=5)
    )
    result = _run(text, tmp_path)
    task = result.state.restores[1]
    assert task.phase is RestorePhase.COMPLETED and task.until_ts == result.state.marks["m"]


def test_a_restore_in_the_background_advances_one_step_per_later_step_and_ends_with_the_run(tmp_path):
    text = HEAD + _step("restore", source="shop", target="back", wait=False) + _step("tick", micros=5)
    result = _run(text, tmp_path)
    assert result.outcomes[6].note == "restore task 1 started (runs in the background)"
    assert result.state.restores[1].phase is RestorePhase.COMPLETED


def test_a_tablet_fetch_failure_is_retried_and_a_second_beyond_the_retries_fails_the_restore(tmp_path):
    once = HEAD + _step("fault", kind="tablet_fetch_fail", tenant="shop", table="orders", tablet=0)
    result = _run(once + _step("restore", source="shop", target="back"), tmp_path / "a")
    assert result.state.restores[1].phase is RestorePhase.COMPLETED
    assert result.state.task_failures == 1
    always = HEAD + _step("fault", kind="tablet_fetch_fail", tenant="shop", table="orders", tablet=0, times=3)
    result = _run(always + _step("restore", source="shop", target="back"), tmp_path / "b")
    task = result.state.restores[1]
    tablet = result.state.table_named(task.source_tenant_id, "orders").tablets[0].tablet_id
    assert task.phase is RestorePhase.FAILED
    assert task.error == f"fetch of tablets [{tablet}] failed after 3 attempts"


def test_a_stalled_worker_fails_the_restore_naming_the_missing_sequence_number(tmp_path):
    text = HEAD + _step("fault", kind="worker_stall", tenant="shop", worker=1)
    result = _run(text + _step("restore", source="shop", target="back", until="m", workers=2), tmp_path)
    task = result.state.restores[1]
    assert task.phase is RestorePhase.FAILED and task.stalled == (1,)
    assert task.error.startswith("sequence number 2 (log id ")
    assert task.error.endswith("missing past the timeout: worker 1 stalled")
    assert task.applied == 1  # entry 1 was applied; nothing after the missing one was


def test_a_restore_step_refused_without_expect_fails_the_run_naming_the_step(tmp_path):

    with pytest.raises(ScenarioFailed) as failed:
        _run(HEAD + _step("restore", source="shop", target="back", until=1), tmp_path)
    assert failed.value.step == 7 and "is before every backup set" in str(failed.value)


# -- the commands ---------------------------------------------------------------------------------


def test_restore_commands_answer_the_task_and_its_status_with_progress(pitr):
    _, result = pitr
    state = result.state
    reply = tenant_restore_start(state, "shop", "again", "before_mistake")
    assert reply.code is R.OB_SUCCESS and reply.value == 5 and len(reply.events) == 1
    status = tenant_restore_status(state, 1).value
    assert (status.status, status.phase, status.target_name) == (5, RestorePhase.COMPLETED, "shop_before")
    assert (status.baseline_progress, status.incremental_progress) == (100, 100)
    failed = tenant_restore_status(state, 3).value
    assert failed.status == 6 and "missing past the timeout" in failed.error


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("nobody", "x"), R.OB_TENANT_NOT_EXIST),
        (("shop", "blog"), R.OB_RESTORE_REJECTED),
        (("shop", "x", 1), R.OB_RESTORE_REJECTED),
        (("shop", "x", "no_mark"), R.OB_RESTORE_REJECTED),
        (("shop", "x", 1.5), R.OB_RESTORE_REJECTED),
        ((["shop"], "x"), R.OB_INVALID_ARGUMENT),
    ],
)
def test_each_restore_refusal_has_its_result_code_and_changes_nothing(pitr, args, code):
    _, result = pitr
    reply = tenant_restore_start(result.state, *args)
    assert reply.code is code and reply.events == () and reply.message


@pytest.mark.parametrize(
    ("task_id", "code"), [(99, R.OB_RESTORE_TASK_NOT_EXIST), ("1", R.OB_INVALID_ARGUMENT)]
)
def test_status_of_a_missing_or_malformed_restore_task(pitr, task_id, code):
    _, result = pitr
    assert tenant_restore_status(result.state, task_id).code is code
