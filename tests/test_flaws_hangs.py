"""The seed design's two flaws that hang a restore rather than corrupt it (issue 13, DESIGN
11, 14): a reorder queue keyed by the global log id (flaw 2, ``reorder_by_log_id``) and a
full queue that drops entries (flaw 3, ``drop_when_queue_full``). The explorer finds the
first as a deadlock and the second, with a cancel still possible, as a restore that can
no longer complete; the seeded simulator and the Hypothesis machine find the deadlock too.
Decide, apply and enabled read the same policies, and an event of one protocol is refused
under the other; a scenario that hangs fails naming its step and what the applier waits
for, with nothing stored."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
from histories import under_flaws

from ybstate.checks import load_check, run_check, with_flaws
from ybstate.drivers.explore import DEADLOCK
from ybstate.errors import EventOutOfOrder, RestoreNotReady, ScenarioFailed
from ybstate.flaws import hunt
from ybstate.model import apply, decide, enabled
from ybstate.restore.actions import ApplyEntry, ReadArchived, RewriteEntry
from ybstate.restore.events import EntryDropped, EntryRewritten
from ybstate.restore.invariants import applier_takes_entries_in_order
from ybstate.scenario import parse_scenario, run_scenario
from ybstate.store import DuckDBStore

FLAWS_DIR = Path(__file__).resolve().parent.parent / "specs" / "flaws"
REORDER = FLAWS_DIR / "reorder_by_log_id.toml"
DROP = FLAWS_DIR / "drop_when_queue_full.toml"


@pytest.fixture(scope="module")
def reorder_run():
    return run_check(load_check(REORDER))


@pytest.fixture(scope="module")
def drop_run():
    return run_check(load_check(DROP))


def _end(run):
    """The state the counterexample ends in."""
    state = run.spec.init()
    for _, events in run.counterexample.steps:
        for event in events:
            state = run.spec.apply(state, event)
    return state


# -- flaw 2: the reorder queue keyed by the global log id -----------------------------------------


def test_a_queue_keyed_by_log_id_deadlocks_at_the_first_hole_of_the_tenants_archive(reorder_run):
    cx = reorder_run.counterexample
    assert cx.invariant == DEADLOCK and cx.depth == 16
    assert "restore task 1 in RESTORING_INCREMENTAL" in cx.message
    assert "waits for log id 8" in cx.message and "the next entry of the archive is log id 10" in cx.message
    end = _end(reorder_run)
    assert reorder_run.spec.enabled(end) == []
    task = end.restores[1]
    assert (task.applied, task.restored_log_id, task.rewritten) == (2, 7, (3, 4))


def test_the_applier_is_refused_at_the_hole_and_a_recorded_apply_there_is_out_of_order(reorder_run):
    end = _end(reorder_run)
    with pytest.raises(RestoreNotReady, match="waits for log id 8"):
        decide(end, ApplyEntry(task_id=1))
    corrected = under_flaws(end, [])
    assert ApplyEntry(task_id=1) in enabled(corrected, reorder_run.check.scope)
    (applied,) = decide(corrected, ApplyEntry(task_id=1))
    assert applied.log_id == 10
    with pytest.raises(EventOutOfOrder, match=r"releases now 'none', found 3"):
        apply(end, applied)  # the same event, under the flawed protocol: the queue never released it


def test_the_corrected_protocol_completes_the_same_restore(reorder_run):
    corrected = run_check(with_flaws(reorder_run.check, []))
    assert corrected.verdict == "holds" and corrected.counterexample is None
    assert all(goal.reached for goal in corrected.coverage.goals.values())


def test_without_the_deadlock_check_the_hang_goes_unnoticed_and_the_run_is_vacuous(reorder_run):
    unchecked = attrs.evolve(
        reorder_run.check, settings=attrs.evolve(reorder_run.check.settings, deadlock=False)
    )
    run = run_check(unchecked)
    assert run.counterexample is None and run.verdict == "vacuous"
    assert "goal restore_completed was never reached" in run.vacuous


def test_the_simulator_and_the_machine_find_the_deadlock():
    report = hunt("reorder_by_log_id", FLAWS_DIR)
    assert report.caught and report.property == DEADLOCK and report.walks_judge
    assert report.simulator_caught and report.simulator_seeds >= 1
    assert report.machine_caught
    assert report.corrected_holds


# -- flaw 3: a full reorder queue drops entries ---------------------------------------------------


def test_a_dropped_entry_leaves_the_restore_unable_to_complete(drop_run):
    cx = drop_run.counterexample
    assert cx.invariant == "restore_can_complete" and cx.depth == 10
    assert cx.message == "restore task 1 can no longer complete: no path from here reaches COMPLETED"
    action, events = cx.steps[-1]
    assert action == RewriteEntry(task_id=1, worker=0) and type(events[0]) is EntryDropped
    end = _end(drop_run)
    assert end.restores[1].dropped == (2,)
    assert drop_run.exploration.progress_checked  # judged on the whole graph, not cut short


def test_without_a_cancel_the_dropped_entry_is_a_deadlock(drop_run):
    scope = drop_run.check.scope
    no_cancel = attrs.evolve(
        drop_run.check, scope=attrs.evolve(scope, restore=attrs.evolve(scope.restore, cancel_restores=False))
    )
    run = run_check(no_cancel)
    assert run.counterexample.invariant == DEADLOCK
    words = "waits for entry 2, which a full reorder queue refused and its worker dropped"
    assert words in run.counterexample.message


def test_the_flawed_reader_does_not_wait_and_the_worker_drops_what_does_not_fit(drop_run):
    state = _end(drop_run)
    before = drop_run.spec.init()
    for _, events in drop_run.counterexample.steps[:-2]:  # both entries read, none rewritten
        for event in events:
            before = drop_run.spec.apply(before, event)
    task = before.restores[1]
    assert (task.read, task.applied, task.capacity) == (2, 0, 1)  # two in flight, bound one
    assert applier_takes_entries_in_order(before) is None  # in flight is not bounded under the flaw
    assert (
        applier_takes_entries_in_order(under_flaws(before, [])) == "restore 1: 2 entries in flight, bound 1"
    )
    assert state.restores[1].rewritten == (1,)


def test_the_corrected_reader_waits_and_a_drop_is_refused_under_it(drop_run):
    state = drop_run.spec.init()
    steps = drop_run.counterexample.steps
    for _, events in steps[:7]:  # the first entry read
        for event in events:
            state = drop_run.spec.apply(state, event)
    corrected = under_flaws(state, [])
    assert ReadArchived(task_id=1) not in enabled(corrected, drop_run.check.scope)
    with pytest.raises(RestoreNotReady, match="the reader waits"):
        decide(corrected, ReadArchived(task_id=1))
    assert ReadArchived(task_id=1) in enabled(state, drop_run.check.scope)
    for _, events in steps[7:-1]:
        for event in events:
            state = drop_run.spec.apply(state, event)
    (dropped,) = steps[-1][1]
    with pytest.raises(EventOutOfOrder, match="no entry dropped"):
        apply(under_flaws(state, []), dropped)
    rewritten = EntryRewritten(**{f.name: getattr(dropped, f.name) for f in attrs.fields(EntryDropped)})
    with pytest.raises(EventOutOfOrder, match="room in the reorder queue"):
        apply(state, rewritten)  # the queue is full: under the flaw the entry can only be dropped


def test_the_corrected_protocol_holds_and_every_restore_can_still_complete(drop_run):
    corrected = run_check(with_flaws(drop_run.check, []))
    assert corrected.verdict == "holds" and corrected.exploration.progress_checked
    assert corrected.coverage.progress["restore_can_complete"].pending > 0


def test_the_walkers_are_not_asked_about_a_progress_property():
    report = hunt("drop_when_queue_full", FLAWS_DIR)
    assert report.caught and not report.walks_judge
    assert report.simulator_caught is None and report.machine_caught is None


# -- scenarios that hang ------------------------------------------------------------------------

SCENARIO = """
seed = 1
[cluster]
data_servers = 1
piece_entries = 4
[[tenants]]
name = "t1"
tables = { a = 1 }
[[tenants]]
name = "t2"
tables = { a = 1 }
[[steps]]
do = "write"
tenant = "t1"
put = [["a", "k1", "x"]]
[[steps]]
do = "freeze"
[[steps]]
do = "backup"
tenant = "t1"
[[steps]]
do = "archive_start"
tenant = "t1"
[[steps]]
do = "write"
tenant = "t1"
put = [["a", "k1", "y"]]
[[steps]]
do = "write"
tenant = "t2"
put = [["a", "k1", "z"]]
[[steps]]
do = "write"
tenant = "t1"
put = [["a", "k2", "w"]]
[[steps]]
do = "mark"
name = "m1"
[[steps]]
do = "restore"
source = "t1"
target = "r1"
until = "m1"
workers = 1
capacity = 1
"""


@pytest.mark.parametrize(
    ("flaw", "words"),
    [
        ("reorder_by_log_id", "its applier waits for log id 8 in its reorder queue"),
        ("drop_when_queue_full", "which a full reorder queue refused and its worker dropped"),
    ],
)
def test_a_scenario_whose_restore_hangs_fails_at_its_step_and_stores_nothing(tmp_path, flaw, words):
    text = SCENARIO + f'[protocol]\nflaws = ["{flaw}"]\n'
    store = DuckDBStore(str(tmp_path / "h.duckdb"))
    with pytest.raises(ScenarioFailed) as caught:
        run_scenario(parse_scenario(text, "hang.toml"), store)
    assert caught.value.step == 9 and caught.value.kind == "restore"
    assert "the restore into 'r1' hangs" in caught.value.reason and words in caught.value.reason
    assert store.load() == []
    corrected = run_scenario(parse_scenario(SCENARIO, "hang.toml"), store)
    assert corrected.state.restores[1].phase.value == "COMPLETED"
