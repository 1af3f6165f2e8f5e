"""Hangs found by the explorer (issue 13): deadlocks (a state with nothing enabled that is
not a declared final state) and progress properties (everything underway can still be
done) judged on the whole explored graph, each with a shortest counterexample."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner

from ybstate.checks import check_spec, load_check, parse_check, run_check, run_start
from ybstate.cli import cli
from ybstate.drivers.explore import DEADLOCK, explore, replay_counterexample
from ybstate.errors import CounterexampleNotReproduced, SpecError
from ybstate.examples.twophase import ABORTED, COMMITTED, twophase_spec
from ybstate.kernel import Completion, Spec
from ybstate.model import model_spec
from ybstate.model.progress import PROGRESS, stuck
from ybstate.restore.actions import AdvanceRestore

ROOT = Path(__file__).resolve().parent.parent
CHECKS = ROOT / "specs" / "checks"
RESTORE = CHECKS / "restore_two_workers.toml"
STALLS = CHECKS / "restore_three_workers_stall_cancel_ddl.toml"


@attrs.frozen
class Went:
    to: int


def graph_spec(
    edges: dict[int, tuple[int, ...]],
    final: frozenset[int] | None = None,
    progress: tuple[Completion, ...] = (),
) -> Spec:
    """States are nodes, actions the nodes an edge leads to; ``final``: the nodes that are a
    proper end (None: no deadlock check)."""
    return Spec(
        name="graph",
        init=lambda: 0,
        enabled=lambda state: edges.get(state, ()),
        decide=lambda state, action: (Went(action),),
        apply=lambda state, event: event.to,
        key=lambda state: state,
        stuck=None if final is None else (lambda s: None if s in final else f"job at node {s}"),
        progress=progress,
    )


# The job is underway at nodes 1..4 and done at node 9.
JOB = Completion(
    name="job_can_finish",
    pending=lambda s: ("job",) if 1 <= s <= 4 else (),
    done=lambda s: ("job",) if s == 9 else (),
    message="the {thing} can no longer finish",
)


# -- deadlocks -------------------------------------------------------------------------------------


def test_a_state_with_nothing_enabled_that_is_not_final_is_a_deadlock_with_a_shortest_trace():
    # 0 -> 1 -> 2 -> 3 (stuck, deep) and 0 -> 4 -> 5 (stuck, shallow); 9 is the proper end.
    spec = graph_spec({0: (1, 4, 9), 1: (2,), 2: (3,), 4: (5,)}, final=frozenset({9}))
    result = explore(spec)
    cx = result.violation
    assert result.verdict == "violated" and cx is not None
    assert cx.invariant == DEADLOCK and cx.actions() == (4, 5)
    assert cx.message == "nothing is enabled, and this is not a final state: job at node 5"
    assert replay_counterexample(spec, cx) == 5


def test_a_final_state_with_nothing_enabled_is_a_proper_end():
    spec = graph_spec({0: (1,), 1: (9,)}, final=frozenset({9}))
    assert explore(spec).verdict == "holds"


def test_without_declared_final_states_nothing_is_a_deadlock():
    assert explore(graph_spec({0: (1,)})).verdict == "holds"


def test_a_start_state_with_nothing_enabled_is_a_deadlock_of_no_steps():
    cx = explore(graph_spec({}, final=frozenset())).violation
    assert cx is not None and cx.invariant == DEADLOCK and cx.depth == 0


def test_a_deadlock_counterexample_does_not_replay_where_the_end_is_final():
    cx = explore(graph_spec({0: (1,)}, final=frozenset())).violation
    assert cx is not None
    with pytest.raises(CounterexampleNotReproduced, match="final state"):
        replay_counterexample(graph_spec({0: (1,)}, final=frozenset({1})), cx)


# -- progress -------------------------------------------------------------------------------------


def test_a_livelock_that_never_finishes_the_job_breaks_progress_with_a_shortest_path():
    # 0 -> 1 -> 2 -> 9 finishes; 0 -> 3 <-> 4 cycles for ever without finishing (no
    # deadlock: something is always enabled there).
    spec = graph_spec({0: (1, 3), 1: (2,), 2: (9,), 3: (4,), 4: (3,)}, progress=(JOB,))
    result = explore(spec)
    cx = result.violation
    assert result.verdict == "violated" and result.progress_checked
    assert cx is not None and cx.invariant == "job_can_finish" and cx.actions() == (3,)
    assert cx.message == "the job can no longer finish"
    assert replay_counterexample(spec, cx) == 3
    with pytest.raises(CounterexampleNotReproduced, match="can still be done"):
        replay_counterexample(graph_spec({0: (1, 3), 3: (4,), 4: (3, 9)}, progress=(JOB,)), cx)


def test_progress_holds_when_every_pending_state_can_still_reach_done():
    # the same cycle, with a way out of it: no fairness is assumed, a path is enough
    spec = graph_spec({0: (1, 3), 1: (2,), 2: (9,), 3: (4,), 4: (3, 2)}, progress=(JOB,))
    result = explore(spec)
    assert result.verdict == "holds" and result.complete and result.progress_checked
    assert result.coverage is not None
    judged = result.coverage.progress["job_can_finish"]
    assert judged.checked and judged.pending == 4 and judged.things == 1


def test_the_shallowest_stalled_state_is_reported_whatever_the_order_of_things():
    other = Completion(name="other", pending=lambda s: ("x",) if s == 5 else (), done=lambda s: ())
    spec = graph_spec({0: (1, 3), 1: (5,), 3: (4,), 4: (3,), 5: (9,)}, progress=(other, JOB))
    cx = explore(spec).violation
    assert cx is not None and cx.invariant == "job_can_finish" and cx.depth == 1


def test_a_search_cut_by_a_bound_does_not_judge_progress_and_says_so():
    spec = graph_spec({0: (1, 3), 1: (2,), 2: (9,), 3: (4,), 4: (3,)}, progress=(JOB,))
    result = explore(spec, max_depth=1)
    assert result.verdict == "incomplete" and not result.progress_checked
    assert result.coverage is not None and not result.coverage.progress["job_can_finish"].checked
    assert "NOT CHECKED" in result.coverage.format()


def test_a_progress_property_with_nothing_ever_pending_makes_the_run_vacuous():
    result = explore(graph_spec({0: (9,)}, progress=(JOB,)))
    assert result.verdict == "vacuous"
    assert result.coverage is not None
    assert result.coverage.vacuous == ("progress job_can_finish: nothing was ever pending",)


def test_an_exploration_without_progress_properties_keeps_no_graph():
    result = explore(graph_spec({0: (1,), 1: (0,)}))
    assert not result.progress_checked and result.coverage is not None and not result.coverage.progress


def test_every_resource_manager_of_two_phase_commit_can_still_end():
    ends = Completion(
        name="rm_can_end",
        pending=lambda state: (i for i, rm in enumerate(state[0]) if rm not in (COMMITTED, ABORTED)),
        done=lambda state: (i for i, rm in enumerate(state[0]) if rm in (COMMITTED, ABORTED)),
    )
    result = explore(attrs.evolve(twophase_spec(3), progress=(ends,)))
    assert result.verdict == "holds" and result.distinct_states == 288 and result.progress_checked


# -- the cluster ----------------------------------------------------------------------------------


def _spec(path: Path, *progress: str) -> Spec:
    check = load_check(path)
    return attrs.evolve(check_spec(check, run_start(check)), progress=tuple(PROGRESS[p] for p in progress))


def test_the_cluster_declares_its_final_states_by_the_tasks_lifecycles():
    assert model_spec().stuck is stuck
    spec = _spec(RESTORE)
    assert stuck(spec.init()) is None  # the start: the backup completed, no restore yet


def test_a_restore_that_can_no_longer_advance_is_a_deadlock_naming_it():
    spec = _spec(RESTORE)
    offered = spec.enabled
    frozen = attrs.evolve(
        spec,
        enabled=lambda state: [
            a for a in offered(state) if not (isinstance(a, AdvanceRestore) and state.restores[1].loaded)
        ],
    )
    cx = explore(frozen).violation
    assert cx is not None and cx.invariant == DEADLOCK
    assert cx.message.endswith("restore task 1 in RESTORING_BASELINE")
    replay_counterexample(frozen, cx)


@pytest.mark.parametrize(
    ("path", "progress"),
    [
        (RESTORE, ("restore_can_complete", "restore_can_end")),
        (STALLS, ("restore_can_end",)),
        (CHECKS / "backup_faults_cancel.toml", ("backup_can_end",)),
        (CHECKS / "promotion_faults_decommission.toml", ("promotion_can_complete", "promotion_can_end")),
    ],
)
def test_tasks_of_the_shipped_checks_can_always_still_end(path, progress):
    result = explore(_spec(path, *progress))
    assert result.verdict == "holds" and result.progress_checked


def test_a_stalled_worker_means_the_restore_can_no_longer_complete():
    spec = _spec(STALLS, "restore_can_complete")
    cx = explore(spec).violation
    assert cx is not None and cx.invariant == "restore_can_complete"
    assert type(cx.actions()[-1]).__name__ == "StallWorker"
    assert cx.message == "restore task 1 can no longer complete: no path from here reaches COMPLETED"
    replay_counterexample(spec, cx)


def test_a_dag_task_failing_for_good_means_the_backup_can_no_longer_complete():
    cx = explore(_spec(CHECKS / "backup_faults_cancel.toml", "backup_can_complete")).violation
    assert cx is not None and cx.invariant == "backup_can_complete"
    assert type(cx.actions()[-1]).__name__ == "FailTask"


# -- check files ----------------------------------------------------------------------------------


def _text(progress: str = "", extra: str = "") -> str:
    """The shipped restore check with its own progress line replaced by ``progress``."""
    text = RESTORE.read_text().replace('progress = ["restore_can_complete"]\n', "")
    return text.replace("[check]\n", f"[check]\n{progress}{extra}")


def test_a_check_file_names_its_progress_properties_and_the_json_says_they_were_judged(tmp_path):
    path = tmp_path / "check.toml"
    path.write_text(_text('progress = ["restore_can_complete"]\n'))
    shown = CliRunner().invoke(cli, ["check", str(path), "--json"])
    assert shown.exit_code == 0, shown.output
    document = json.loads(shown.stdout)
    assert document["verdict"] == "holds" and document["progress_checked"] is True
    assert document["coverage"]["progress"]["restore_can_complete"]["checked"] is True


def test_a_check_cut_by_a_bound_says_progress_was_not_checked(tmp_path):
    path = tmp_path / "check.toml"
    path.write_text(_text('progress = ["restore_can_complete"]\n'))
    # one state short of the whole space (37 states): every goal reached, not every state seen
    shown = CliRunner().invoke(cli, ["check", str(path), "--max-states", "36"])
    assert shown.exit_code == 0, shown.output
    assert "verdict: incomplete" in shown.output and "NOT CHECKED" in shown.output
    run = run_check(load_check(path), max_states=36)
    assert run.verdict == "incomplete" and run.to_json()["progress_checked"] is False


def test_a_simulation_does_not_judge_progress_and_says_so(tmp_path):
    check = parse_check(_text('progress = ["restore_can_complete"]\n'), "check.toml")
    run = run_check(check, mode="simulation", seeds=2)
    assert run.to_json()["progress_checked"] is False
    assert not run.coverage.progress["restore_can_complete"].checked


def test_a_check_asking_a_progress_property_its_faults_break_is_violated():
    check = load_check(STALLS)
    check = attrs.evolve(check, progress=(PROGRESS["restore_can_complete"],))
    run = run_check(check)
    assert run.verdict == "violated" and run.counterexample is not None
    assert run.counterexample.invariant == "restore_can_complete"


def test_deadlock_false_turns_the_deadlock_check_off():
    assert check_spec(parse_check(_text(), "c.toml"), run_start(load_check(RESTORE))).stuck is stuck
    off = parse_check(_text(extra="deadlock = false\n"), "c.toml")
    assert not off.settings.deadlock and check_spec(off, run_start(off)).stuck is None


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ('progress = ["restore_can_finish"]\n', "unknown progress property 'restore_can_finish'"),
        ('progress = "restore_can_complete"\n', "progress"),
        ('deadlock = "yes"\n', "deadlock"),
    ],
)
def test_a_bad_progress_or_deadlock_key_is_refused_naming_the_file_and_key(line, words):
    with pytest.raises(SpecError) as raised:
        parse_check(_text(line), "bad.toml")
    assert words in str(raised.value) and "bad.toml" in str(raised.value)
