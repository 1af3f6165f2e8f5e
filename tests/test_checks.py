"""Check files (DESIGN 13, issue 12): a start, a scope and what to check, run from the
command line; the coverage says whether the run reached what it is about."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from ybstate.checks import PARTS, load_check, parse_check, run_check
from ybstate.cli import cli
from ybstate.drivers.coverage import InvariantCoverage
from ybstate.model import INVARIANTS
from ybstate.model.progress import stuck

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


@pytest.fixture(scope="module")
def shipped_runs():
    return {path.stem: run_check(load_check(path)) for path in SHIPPED}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_check_completes_holds_and_reaches_all_its_goals(shipped_runs, path):
    run = shipped_runs[path.stem]
    result = run.exploration
    assert result.verdict == "holds", (result.verdict, result.coverage.vacuous)
    assert result.complete and result.coverage.goals
    assert all(goal.reached for goal in result.coverage.goals.values())


def test_every_shipped_check_is_checked_for_deadlocks_and_has_none(shipped_runs):
    # a state with nothing enabled must be a final one: every backup, restore and promotion ended
    for run in shipped_runs.values():
        assert run.spec.stuck is stuck and run.counterexample is None
        # every shipped check but the archiving ones (no task) asks for progress properties:
        # <task>_can_complete where no fault dooms the task, <task>_can_end where one does
        asked = bool(run.check.progress)
        assert asked == (Path(run.check.path).name.startswith("archive_") is False)
        assert run.to_json()["progress_checked"] is asked
        assert all(p.checked and p.pending for p in run.coverage.progress.values())


def test_every_shipped_check_probes_and_refuses_every_request_it_does_not_offer(shipped_runs):
    for name, run in shipped_runs.items():
        probes = run.to_json()["probes"]
        assert probes["tried"] > 0 and probes["accepted"] == 0, name


def test_every_invariant_of_the_model_declares_a_subject_the_shipped_checks_meet(shipped_runs):
    met = {
        name
        for run in shipped_runs.values()
        for name, cover in run.coverage.invariants.items()
        if cover.subject and not cover.optional
    }
    assert all(inv.subject is not None for inv in INVARIANTS)
    assert met == {inv.name for inv in INVARIANTS}  # every one exercised by some shipped check


def test_all_means_the_parts_in_play_the_start_only_parts_optional(shipped_runs):
    coverage = shipped_runs["restore_two_workers"].coverage.invariants
    assert {name for name in coverage if name.startswith("promotion_")} == set()  # no promotion in scope
    assert coverage["restore_completed_standby_is_the_source_at_t"].optional is False
    assert coverage["restore_completed_standby_is_the_source_at_t"].subject > 0
    # the start holds a completed backup, so its invariants are checked, but no backup
    # runs in this scope: that no version is ever pinned does not make the run vacuous
    assert coverage["pinned_versions_kept"] == InvariantCoverage(37, 0, optional=True)


def test_an_invariant_named_outright_is_required_to_meet_its_subject(tmp_path):
    path = _variant(
        tmp_path,
        lambda text: text.replace('invariants = ["all"]', 'invariants = ["all", "pinned_versions_kept"]'),
    )
    shown = ybstate("check", path)
    assert shown.exit_code == 1
    assert "vacuous: invariant pinned_versions_kept never met its subject" in " ".join(shown.output.split())


def test_invariants_chosen_by_part(tmp_path):
    path = _variant(tmp_path, lambda text: text.replace('invariants = ["all"]', 'invariants = ["restore"]'))
    document = json.loads(ybstate("check", path, "--json").stdout)
    assert document["verdict"] == "holds"
    assert sorted(document["coverage"]["invariants"]) == sorted(inv.name for inv in PARTS["restore"])


# Simulation ---------------------------------------------------------------------------------


def test_simulating_a_check_file_walks_from_its_start_and_merges_the_walks_coverage():
    shown = ybstate("simulate", RESTORE, "--seeds", 12, "--steps", 40, "--json")
    assert shown.exit_code == 0, shown.output
    document = json.loads(shown.stdout)
    assert document["mode"] == "simulation" and document["verdict"] == "holds"
    assert [walk["seed"] for walk in document["walks"]] == list(range(12))
    assert document["coverage"]["goals"]["restore_completed"]["reached"]
    taken = sum(a["taken"] for a in document["coverage"]["actions"].values())
    assert taken == sum(walk["steps"] for walk in document["walks"])
    again = json.loads(ybstate("simulate", RESTORE, "--seeds", 12, "--steps", 40, "--json").stdout)
    assert {**again, "seconds": 0} == {**document, "seconds": 0}  # same seeds, same walks


def test_a_simulation_finds_a_users_invariant_broken_and_writes_a_counterexample_that_replays(tmp_path):
    path = _variant(
        tmp_path,
        lambda text: text.replace('invariants = ["all"]', 'invariants = ["histories:no_restore_completes"]'),
    )
    out = tmp_path / "cx"
    shown = ybstate("simulate", path, "--seeds", 50, "--steps", 40, "--trace-out", out)
    assert shown.exit_code == 1 and "histories:no_restore_completes violated" in shown.output
    seed = int(re.search(r"found by the walk of seed (\d+)", shown.output).group(1))
    again = ybstate("simulate", path, "--seed", seed, "--seeds", 1, "--steps", 40, "--json")
    assert again.exit_code == 1 and json.loads(again.stdout)["verdict"] == "violated"
    assert ybstate("replay", "--db", out / "counterexample.duckdb").exit_code == 0
    document = json.loads((out / "counterexample.itf.json").read_text())
    assert document["#meta"]["invariant"] == "histories:no_restore_completes"


def test_a_check_file_in_simulation_mode_is_simulated_by_check_too(tmp_path):
    path = _variant(tmp_path, lambda text: text + 'mode = "simulation"\nseeds = 5\nsteps = 30\n')
    document = json.loads(ybstate("check", path, "--json").stdout)
    assert document["mode"] == "simulation" and len(document["walks"]) == 5


def test_max_seconds_cuts_both_modes_short_and_says_so():
    archive = ROOT / "specs" / "checks" / "archive_crash_stop_recycle.toml"
    cut = run_check(load_check(archive), max_seconds=0.001)
    assert cut.verdict in ("incomplete", "vacuous") and cut.cut_by == "seconds"
    assert 1024 <= cut.states < 20_000  # the clock is read every 1,024 new states
    walked = run_check(load_check(RESTORE), mode="simulation", seeds=1000, max_seconds=0.001)
    assert walked.cut_by == "seconds" and len(walked.walks) < 1000


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["simulate", RESTORE, "--db", "x.duckdb"], "--db do not apply to a check FILE"),
        (["simulate", "--seeds", 3], "--seeds apply with a check FILE only"),
        (["simulate", "--steps", 3], "--seed and --steps are needed without a check FILE"),
        (["check", RESTORE, "--tenants", 3], "--tenants do not apply to a check FILE"),
    ],
    ids=["db-with-file", "seeds-without-file", "no-seed", "model-option-with-file"],
)
def test_options_that_do_not_go_together_are_bad_input(args, words):
    shown = ybstate(*args)
    assert shown.exit_code == 2 and words in " ".join(shown.output.split())


@pytest.mark.slow
def test_the_archiving_check_with_a_longer_log_still_holds():
    text = (ROOT / "specs" / "checks" / "archive_crash_stop_recycle.toml").read_text()
    check = parse_check(text.replace("max_log = 7", "max_log = 8"), "archive6.toml")
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
        (lambda t: t + "seeds = 0\n", "'seeds' must be 1.."),
        (lambda t: t + "max_seconds = -1\n", "'max_seconds' must be 0.001.."),
        (lambda t: t + "steps = 1.5\n", "'steps' must be int"),
        (
            lambda t: re.sub(
                r"goals = .*", "goals = []", t.replace('invariants = ["all"]', "invariants = []")
            ),
            "nothing to check",
        ),
        (lambda t: t + 'mode = "random"\n', "'mode' must be one of ['exhaustive', 'simulation']"),
        (
            lambda t: t.replace('progress = ["restore_can_complete"]', 'progress = ["restore_completes"]'),
            "unknown progress property 'restore_completes'",
        ),
        (lambda t: t + 'deadlock = "no"\n', "'deadlock'"),
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
        "seeds",
        "seconds",
        "steps",
        "nothing",
        "mode",
        "progress",
        "deadlock",
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
