"""ybstate.testing, the library for users' pytest tests (docs/library.md): the test file the
page shows passes as written; each function does what it says, and says what was wrong
with bad input; the protocol machine completes restores in most examples (measured, not
assumed), catches a broken invariant and fails loudly on an action the model refuses."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from ybstate import checks, testing
from ybstate.checks import run_start
from ybstate.errors import ActionRejected, EnabledActionFailed, SpecError
from ybstate.model import ACTION_TAGS, MODEL, fingerprint
from ybstate.model.goals import GOALS
from ybstate.restore.actions import RewriteEntry
from ybstate.testing import (
    ADVANCING,
    DISRUPTIVE,
    PARTS,
    assert_check,
    check_from_toml,
    load_check,
    protocol_machine,
    run_check,
    start_from_toml,
)

ROOT = Path(__file__).resolve().parent.parent
LIBRARY_MD = ROOT / "docs" / "library.md"
RESTORE_TWO_WORKERS = ROOT / "specs" / "checks" / "restore_two_workers.toml"
FAST = (Phase.explicit, Phase.reuse, Phase.generate)  # a failure is all these tests need: no shrinking

START = """
    [cluster]
    data_servers = 1
    [[tenants]]
    name = "shop"
    tables = { orders = 2 }
    [[steps]]
    do = "write"
    tenant = "shop"
    put = [["orders", "o1", "new"]]
    [[steps]]
    do = "freeze"
    [[steps]]
    do = "backup"
    tenant = "shop"
"""


def restore_check(check_table: str):
    """restore_two_workers.toml with its ``[check]`` table replaced by ``check_table``."""
    text = RESTORE_TWO_WORKERS.read_text(encoding="utf-8")
    return check_from_toml(text[: text.index("[check]")] + check_table, name="restore.toml")


def test_the_test_file_of_docs_library_md_passes_as_written(tmp_path):
    (code,) = re.findall(r"^```python\n(.*?)^```", LIBRARY_MD.read_text(encoding="utf-8"), re.S | re.M)
    test_file = tmp_path / "test_restore.py"
    test_file.write_text(code, encoding="utf-8")
    # Run from the checkout (the page reads the shipped check by a relative path), but
    # outside this project's pytest configuration and conftest, as a user's project would.
    ran = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--hypothesis-show-statistics",
            test_file,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = ran.stdout + ran.stderr
    assert ran.returncode == 0, out
    assert re.search(r"^5 passed", out, re.M), out
    # the statistics show the machine's labels, and it threw few examples away
    for label in (
        "action: restore.start_restore",
        "goal: restore_completed",
        "subject met: restore_completed_standby_is_the_source_at_t",
    ):
        assert label in out, out
    assert "subject met: log_ids_dense" not in out  # met by the start: met in every example
    passing, invalid = map(
        int, re.search(r"(\d+) passing examples, 0 failing examples, (\d+) invalid", out).groups()
    )
    assert invalid * 2 <= passing, out


def test_the_checks_api_is_re_exported():
    for name in ("load_check", "parse_check", "run_check", "CheckFile", "CheckRun"):
        assert getattr(testing, name) is getattr(checks, name)
        assert name in testing.__all__


def test_check_from_toml_takes_indented_text():
    text = RESTORE_TWO_WORKERS.read_text(encoding="utf-8")
    indented = "\n".join("        " + line if line else "" for line in text.splitlines())
    check = check_from_toml(indented, name="mine.toml")
    assert check.path == "mine.toml"
    assert check == testing.parse_check(text, "mine.toml")


def test_check_from_toml_names_the_check_and_the_key_of_bad_input():
    with pytest.raises(SpecError) as error:
        restore_check('[check]\ninvariants = ["all"]\nmax_sates = 3\n')
    assert error.value.path == "restore.toml"
    assert "max_sates" in str(error.value)


def test_start_from_toml_runs_the_steps_in_memory():
    state = start_from_toml(START)
    shop = state.tenant_named("shop").tenant_id
    assert [task.phase.value for task in state.backups.values()] == ["COMPLETED"]
    assert state.frozen_version == 1
    assert {t.tenant_id for t in state.backups.values()} == {shop}


def test_start_from_toml_a_step_the_model_refuses_is_a_spec_error_naming_the_step():
    too_early = START.replace('    do = "freeze"\n', '    do = "tick"\n    micros = 5\n')
    with pytest.raises(SpecError) as error:
        start_from_toml(too_early, name="too_early.toml")
    assert (error.value.path, error.value.step) == ("too_early.toml", 3)
    assert "no frozen version" in str(error.value)


def test_start_from_toml_a_step_of_the_wrong_shape_is_a_spec_error_naming_the_step():
    with pytest.raises(SpecError) as error:
        start_from_toml(START.replace('tenant = "shop"\n    put', 'tenant = "shop"\n    puts'))
    assert (error.value.path, error.value.step) == ("<start>", 1)
    assert "puts" in str(error.value)


def test_assert_check_returns_the_run_of_a_check_that_holds():
    run = assert_check(load_check(RESTORE_TWO_WORKERS))
    assert run.verdict == "holds"
    assert run.coverage.goals["restore_completed"].reached
    assert run.coverage.invariants["restore_completed_standby_is_the_source_at_t"].subject > 0
    assert assert_check(run) is run


def test_assert_check_on_a_vacuous_run_says_which_goal_was_never_reached():
    check = restore_check(
        '[check]\ninvariants = ["all"]\ngoals = ["restore_completed", "restore_cancelled"]\n'
    )
    with pytest.raises(AssertionError) as failed:
        assert_check(check)
    message = str(failed.value)
    assert message.startswith("check restore.toml: vacuous")
    assert "goal restore_cancelled was never reached" in message
    assert "goal restore_completed" not in message.split("goals:")[0]  # reached: not a reason
    assert "NEVER REACHED" in message  # the coverage tables follow


def test_assert_check_on_a_violated_run_shows_the_counterexample_listing():
    run = run_check(restore_check('[check]\ninvariants = ["histories:no_restore_completes"]\n'))
    assert run.verdict == "violated"
    with pytest.raises(AssertionError) as failed:
        assert_check(run)
    message = str(failed.value)
    assert message.startswith("check restore.toml: violated (exhaustive")
    assert run.counterexample.format() in message
    assert "histories:no_restore_completes violated after" in message and "StartRestore(" in message


def test_assert_check_on_a_run_cut_short_names_the_bound():
    check = restore_check('[check]\ninvariants = ["log_ids_dense"]\n')
    with pytest.raises(
        AssertionError, match=r"^check restore.toml: incomplete[\s\S]*cut short by the states bound"
    ):
        assert_check(check, max_states=5)
    # cut before any restore completed: vacuous, and the message says where it was cut
    with pytest.raises(AssertionError, match=r"^check [^:]*: vacuous[\s\S]*cut short by the states bound"):
        assert_check(load_check(RESTORE_TWO_WORKERS), max_states=5)


def test_assert_check_takes_no_bounds_with_a_finished_run():
    run = run_check(load_check(RESTORE_TWO_WORKERS))
    with pytest.raises(TypeError):
        assert_check(run, max_states=5)


def test_the_action_groups_name_real_action_kinds_and_parts():
    tags = set(ACTION_TAGS.values())
    assert tags >= ADVANCING | DISRUPTIVE
    assert not ADVANCING & DISRUPTIVE
    assert set(PARTS) == {part.name for part in MODEL.parts if part.actions}
    rules = {name for name in dir(testing.ProtocolMachine) if name.startswith("take_a")}
    for part in set(PARTS) - {"access"}:  # access control offers no action
        assert any(part[:6] in rule for rule in rules), part


def test_protocol_machine_starts_every_example_at_the_check_start():
    check = load_check(RESTORE_TWO_WORKERS)
    machine = protocol_machine(check)
    assert machine.__name__ == "RestoreTwoWorkersMachine"
    assert fingerprint(machine.start) == fingerprint(run_start(check).state)
    assert machine.spec.invariants == checks.check_spec(check, run_start(check)).invariants
    assert [goal.name for goal in machine.spec.goals] == ["restore_completed", "restore_replayed_entries"]


def test_protocol_machine_of_a_start_the_model_refuses_is_a_spec_error():
    text = RESTORE_TWO_WORKERS.read_text(encoding="utf-8").replace('do = "freeze"', 'do = "tick"\nmicros = 5')
    with pytest.raises(SpecError) as error:
        protocol_machine(check_from_toml(text, name="no_freeze.toml"))
    assert (error.value.path, error.value.step) == ("no_freeze.toml", 3)


def _completions(machine: type[testing.ProtocolMachine], chosen: settings) -> tuple[int, int]:
    """Run ``machine`` under ``chosen``: how many examples ran, and in how many a restore
    completed (counted in each example's teardown)."""
    counts = {"examples": 0, "completed": 0}
    completed = GOALS["restore_completed"].reached

    class Counting(machine):
        def teardown(self) -> None:
            counts["examples"] += 1
            counts["completed"] += completed(self.state)

    run_state_machine_as_test(Counting, settings=chosen)
    return counts["examples"], counts["completed"]


def test_the_machine_completes_a_restore_in_most_examples():
    machine = protocol_machine(load_check(RESTORE_TWO_WORKERS))
    examples, completed = _completions(machine, settings())  # the profile's (default: 40 examples)
    print(f"restore completed in {completed} of {examples} examples")
    assert examples >= settings().max_examples
    assert completed * 3 >= examples


@pytest.mark.slow
def test_the_machine_completes_a_restore_in_most_examples_of_a_long_run():
    machine = protocol_machine(load_check(RESTORE_TWO_WORKERS))
    examples, completed = _completions(machine, settings(max_examples=150, stateful_step_count=50))
    print(f"restore completed in {completed} of {examples} examples")
    assert examples >= 150
    assert completed * 3 >= examples


def test_the_machine_catches_a_broken_user_invariant():
    machine = protocol_machine(restore_check('[check]\ninvariants = ["histories:no_restore_completes"]\n'))
    with pytest.raises(AssertionError) as failed:
        run_state_machine_as_test(machine, settings=settings(max_examples=40, phases=FAST, database=None))
    assert str(failed.value).startswith("histories:no_restore_completes: restore 1 completed (after ")
    assert "Falsifying example:" in failed.value.__notes__


def test_an_action_the_model_refuses_fails_the_machine_loudly():
    machine = protocol_machine(load_check(RESTORE_TWO_WORKERS))
    decide = machine.spec.decide

    def refuse_rewrites(state, action):
        if isinstance(action, RewriteEntry):
            raise ActionRejected("planted: a rewrite is refused")
        return decide(state, action)

    class Refusing(machine):
        spec = attrs.evolve(machine.spec, decide=refuse_rewrites)

    with pytest.raises(EnabledActionFailed) as failed:
        run_state_machine_as_test(Refusing, settings=settings(max_examples=40, phases=FAST, database=None))
    assert isinstance(failed.value.action, RewriteEntry)
    assert failed.value.stage == "decide"
    assert str(failed.value.cause) == "planted: a rewrite is refused"
    assert len(failed.value.path) == failed.value.depth > 0
