"""The seed design's flaws as protocol variants (issue 13, DESIGN 11 and 14): each shipped
check in specs/flaws/ runs its flaw and must break the property named here with a
counterexample that replays, while the corrected protocol under the same check holds and
reaches every goal."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner

from ybstate.checks import load_check, run_check, with_flaws
from ybstate.cli import cli
from ybstate.cluster.protocol import FLAWS, Protocol
from ybstate.drivers.explore import replay_counterexample
from ybstate.errors import EventOutOfOrder
from ybstate.model import decide
from ybstate.promote.events import PromotionStepFailed, PromotionStopped
from ybstate.promote.state import PromotionStatus, PromotionStep
from ybstate.store.duck import DuckDBStore

FLAW_CHECKS = sorted((Path(__file__).resolve().parent.parent / "specs" / "flaws").glob("*.toml"))

BREAKS = {
    "no_promotion_rollback": "promotion_rollback_restores_the_old_primary",
    "archiver_restart_from_run_start": "archive_checkpoint_honest",
    "archiver_restart_from_read_position": "archive_checkpoint_honest",
    "unpinned_log_recycling": "archive_backup_first_pins_its_log",
    "replay_from_archive_start": "restore_standby_shows_whole_transactions",
    "skip_failed_apply": "restore_standby_shows_whole_transactions",
    "mapping_from_live_source": "restore_standby_shows_whole_transactions",
    "verify_against_live_source": "restore_verification_is_honest",
    "reorder_by_log_id": "deadlock",
    "drop_when_queue_full": "restore_can_complete",
}
"""The property each flaw's check breaks."""


def test_every_flaw_check_is_named_after_a_flaw_and_runs_it():
    for path in FLAW_CHECKS:
        assert path.stem in FLAWS and path.stem in BREAKS, path
        assert load_check(path).start.cluster.protocol.flaws == (path.stem,)


@pytest.mark.parametrize("path", FLAW_CHECKS, ids=lambda p: p.stem)
def test_the_flaw_breaks_its_property_and_the_corrected_protocol_holds(path):
    check = load_check(path)
    flawed = run_check(check)
    assert flawed.verdict == "violated" and flawed.counterexample.invariant == BREAKS[path.stem]
    replay_counterexample(flawed.spec, flawed.counterexample)  # raises unless it breaks it again
    corrected = run_check(with_flaws(check, []))
    assert corrected.verdict == "holds", corrected.vacuous
    assert corrected.coverage.goals and all(goal.reached for goal in corrected.coverage.goals.values())
    if flawed.counterexample.invariant in {prop.name for prop in check.progress}:
        # a progress property is judged on the whole graph: the flawed run explored it all
        assert flawed.exploration.progress_checked and flawed.exploration.truncated_by is None
    else:
        assert corrected.states > flawed.states  # the corrected run explored all, the flawed one stopped


# -- flaw 6: the promotion that stops fenced ---------------------------------------------------

NO_ROLLBACK = FLAW_CHECKS[0].parent / "no_promotion_rollback.toml"


@pytest.fixture(scope="module")
def stopped():
    """The flaw's shortest counterexample: its run, and the state before its last step."""
    run = run_check(load_check(NO_ROLLBACK))
    state = run.spec.init()
    for _, events in run.counterexample.steps[:-1]:
        for event in events:
            state = run.spec.apply(state, event)
    return run, state


def test_a_stop_is_refused_by_the_corrected_protocol_and_a_rollback_by_the_flawed_one(stopped):
    run, before = stopped
    (stop,) = run.counterexample.steps[-1][1]
    assert isinstance(stop, PromotionStopped) and stop.step is PromotionStep.CATCH_UP
    assert run.spec.apply(before, stop).promotions[1].status is PromotionStatus.STOPPED
    corrected = attrs.evolve(before, config=attrs.evolve(before.config, protocol=Protocol()))
    with pytest.raises(EventOutOfOrder, match="a stop only without rollback"):
        run.spec.apply(corrected, stop)
    # and deciding the same fault under the corrected protocol rolls back
    (rollback,) = decide(corrected, run.counterexample.steps[-1][0])
    assert isinstance(rollback, PromotionStepFailed) and rollback.rolled_back
    with pytest.raises(EventOutOfOrder, match="does not roll back once fenced"):
        run.spec.apply(before, rollback)


def test_the_history_of_a_stopped_promotion_shows_it_stopped(stopped, tmp_path):
    run, _ = stopped
    _, history = run.write_counterexample(tmp_path)
    with DuckDBStore(str(history)) as store:
        _, rows = store.query("SELECT status, failures, error_msg FROM __all_tenant_promotion_history")
    assert rows == [("STOPPED", 1, "injected fault")]


# -- ybstate flaws -------------------------------------------------------------------------------


def ybstate(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_ybstate_flaws_reports_each_flaw_caught_by_every_checker_and_the_corrected_protocol_holding():
    shown = ybstate("flaws", "--json", "--only", "no_promotion_rollback", "--only", "unpinned_log_recycling")
    assert shown.exit_code == 0, shown.output
    reports = {r["flaw"]: r for r in json.loads(shown.stdout)}
    assert list(reports) == ["no_promotion_rollback", "unpinned_log_recycling"]  # DESIGN 14's order
    for report in reports.values():
        assert {"flaw", "caught", "property", "length", "states", "seconds", "corrected_holds"} <= set(report)
        assert report["caught"] and report["corrected_holds"] and report["simulator_caught"]
        assert report["property"] == BREAKS[report["flaw"]] and report["length"] <= 4
    assert reports["no_promotion_rollback"]["machine_caught"]


def test_a_flaw_without_its_check_file_or_whose_file_does_not_run_it_is_uncaught(tmp_path):
    (tmp_path / "skip_failed_apply.toml").write_text(NO_ROLLBACK.read_text())  # runs flaw 6, not 4
    shown = ybstate(
        "flaws", "--dir", tmp_path, "--json", "--no-simulator", "--no-machine",
        "--only", "skip_failed_apply", "--only", "reorder_by_log_id",
    )  # fmt: skip
    assert shown.exit_code == 1
    assert "uncaught: skip_failed_apply, reorder_by_log_id" in " ".join(shown.output.split())
    first, second = json.loads(shown.stdout)
    assert not first["caught"] and "does not run the flaw" in first["note"]
    assert not second["caught"] and second["note"].startswith("no check file")
    assert first["simulator_caught"] is None and first["machine_caught"] is None
