"""Check files (DESIGN 13, issue 12): a start, a scope and what to check, run from the
command line; the coverage says whether the run reached what it is about."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from ybstate.checks import load_check, parse_check, run_check
from ybstate.cli import cli

ROOT = Path(__file__).resolve().parent.parent
RESTORE = ROOT / "specs" / "checks" / "restore_two_workers.toml"


def ybstate(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _variant(tmp_path, change) -> Path:
    path = tmp_path / "check.toml"
    path.write_text(change(RESTORE.read_text()))
    return path


def test_the_shipped_restore_check_explores_every_interleaving_and_reaches_its_goals():
    shown = ybstate("check", RESTORE, "--json")
    assert shown.exit_code == 0, shown.output
    document = json.loads(shown.stdout)
    assert document["verdict"] == "holds" and document["counterexample"] is None
    goals = document["coverage"]["goals"]
    assert goals["restore_completed"]["reached"] and goals["restore_replayed_entries"]["reached"]
    taken = document["coverage"]["actions"]
    assert taken["RewriteEntry"]["taken"] > taken["ReadArchived"]["taken"]  # two workers: more orders
    run = run_check(load_check(RESTORE))
    assert run.exploration.distinct_states == document["states"] > 10


SHIPPED = sorted((ROOT / "specs" / "checks").glob("*.toml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_check_completes_holds_and_reaches_all_its_goals(path):
    run = run_check(load_check(path))
    result = run.exploration
    assert result.verdict == "holds", (result.verdict, result.coverage.vacuous)
    assert result.complete and result.coverage.goals
    assert all(goal.reached for goal in result.coverage.goals.values())


@pytest.mark.slow
def test_the_archiving_check_with_a_longer_log_still_holds():
    text = (ROOT / "specs" / "checks" / "archive_crash_stop_recycle.toml").read_text()
    check = parse_check(text.replace("max_log = 5", "max_log = 6"), "archive6.toml")
    result = run_check(check).exploration
    assert result.verdict == "holds" and result.distinct_states > 100_000


def test_a_check_whose_goal_is_never_reached_is_vacuous(tmp_path):
    path = _variant(tmp_path, lambda text: text.replace("max_restores = 1", "max_restores = 0"))
    shown = ybstate("check", path)
    assert shown.exit_code == 1
    assert "vacuous: goal restore_completed was never reached" in " ".join(shown.output.split())


def test_a_users_invariant_by_import_path_fails_with_a_counterexample_written_out(tmp_path):
    path = _variant(
        tmp_path,
        lambda text: text.replace('invariants = ["all"]', 'invariants = ["histories:no_restore_completes"]'),
    )
    out = tmp_path / "cx"
    shown = ybstate("check", path, "--trace-out", out)
    assert shown.exit_code == 1 and "histories:no_restore_completes violated" in shown.output
    assert (out / "counterexample.itf.json").exists()
    history = out / "counterexample.duckdb"
    assert ybstate("replay", "--db", history).exit_code == 0
    assert ybstate("rows", "--db", history, "--tenant", "r1").exit_code == 0  # the standby the path made


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (
            lambda t: t.replace("[scope.restore]", "[scope.restore]\ncolour = 1"),
            "[scope.restore]: unexpected key 'colour'",
        ),
        (
            lambda t: t.replace("[scope.restore]", "[scope.moon]\nx = 1\n[scope.restore]"),
            "[scope]: unexpected key 'moon'",
        ),
        (lambda t: t.replace('invariants = ["all"]', 'invariants = ["pitr"]'), "unknown invariant 'pitr'"),
        (
            lambda t: t.replace('invariants = ["all"]', 'invariants = ["nowhere.at.all:f"]'),
            "does not resolve",
        ),
        (
            lambda t: t.replace('"restore_completed", ', '"restore_finished", '),
            "unknown goal 'restore_finished'",
        ),
        (lambda t: t + "max_states = 0\n", "'max_states' must be 1.."),
        (lambda t: t + 'mode = "simulation"\n', "'mode' must be one of ['exhaustive']"),
        (lambda t: t.replace('name = "m1"', 'name = ""'), "step 6"),
        (
            lambda t: t.replace("restore_workers = 2", 'restore_workers = "two"'),
            "'restore_workers' must be int",
        ),
    ],
    ids=[
        "scope-key",
        "scope-section",
        "invariant",
        "import-path",
        "goal",
        "bound",
        "mode",
        "start-step",
        "type",
    ],
)
def test_a_bad_check_file_is_refused_naming_the_key_or_step(tmp_path, change, words):
    shown = ybstate("check", _variant(tmp_path, change))
    assert shown.exit_code == 2, shown.output
    assert words in " ".join(shown.output.split()) and "check.toml" in shown.output


def test_a_start_the_model_refuses_is_bad_input(tmp_path):
    path = _variant(
        tmp_path,
        lambda text: text.replace(
            'do = "backup"\ntenant = "t1"', 'do = "backup"\ntenant = "t1"\nfrozen_version = 7'
        ),
    )
    shown = ybstate("check", path)
    assert shown.exit_code == 2 and re.search(r"\[start\].*rejected", " ".join(shown.output.split()))
