"""The explorer on several processes (ybstate.drivers.parallel) gives the one-process
explorer's result: the same states, transitions, depth, verdict, counterexample and
coverage. ``warm_up=1`` forks the workers after the first level, so small models are
searched by the processes too."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
from test_probes import graph_spec

from ybstate.checks import check_spec, load_check, run_check, run_start
from ybstate.drivers.explore import explore
from ybstate.drivers.parallel import explore_parallel
from ybstate.errors import EnabledActionFailed, InvalidParameter
from ybstate.examples.twophase import BUGS, twophase_spec

ROOT = Path(__file__).resolve().parent.parent
FIGURES = (
    "distinct_states",
    "transitions",
    "depth",
    "complete",
    "truncated_by",
    "verdict",
    "progress_checked",
)


def assert_same(one, many) -> None:
    assert [getattr(many, f) for f in FIGURES] == [getattr(one, f) for f in FIGURES]
    if one.complete:  # a stopped search may have counted the rest of the level
        assert (many.probes_tried, many.probes_accepted) == (one.probes_tried, one.probes_accepted)
        assert many.coverage == one.coverage
    if one.violation is None:
        assert many.violation is None
    else:
        a, b = one.violation, many.violation
        assert (b.invariant, b.message, b.depth, b.steps) == (a.invariant, a.message, a.depth, a.steps)


@pytest.mark.parametrize("workers", [1, 2, 3])
@pytest.mark.parametrize("bug", [None, *sorted(BUGS)])
def test_two_phase_commit_on_processes_is_the_same_search(bug, workers):
    spec = twophase_spec(4, bug=bug)
    one = explore(spec)
    many = explore_parallel(spec, workers=workers, warm_up=1)
    assert_same(one, many)


@pytest.mark.parametrize("max_states", [1, 2, 50, 700])
def test_a_search_cut_by_a_bound_is_cut_at_the_same_state(max_states):
    spec = twophase_spec(4)
    assert_same(
        explore(spec, max_states=max_states), explore_parallel(spec, max_states=max_states, warm_up=1)
    )


def test_a_search_cut_by_depth_is_cut_at_the_same_depth():
    spec = twophase_spec(4)
    assert_same(explore(spec, max_depth=5), explore_parallel(spec, max_depth=5, warm_up=1))


CHECKS = [
    ROOT / "specs" / "checks" / "restore_two_workers.toml",
    ROOT / "specs" / "checks" / "backup_faults_cancel.toml",
    ROOT / "specs" / "checks" / "restore_three_workers_stall_cancel_ddl.toml",
    ROOT / "specs" / "flaws" / "reorder_by_log_id.toml",  # a deadlock
    ROOT / "specs" / "flaws" / "drop_when_queue_full.toml",  # a progress property
    ROOT / "specs" / "flaws" / "skip_failed_apply.toml",
    ROOT / "specs" / "flaws" / "archiver_restart_from_run_start.toml",
]


@pytest.mark.parametrize("path", CHECKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_shipped_checks_and_flaws_on_two_processes_are_the_same_search(path):
    check = load_check(path)
    spec = check_spec(check, run_start(check))
    one = explore(spec, max_states=check.settings.max_states)
    many = explore_parallel(spec, workers=2, max_states=check.settings.max_states, warm_up=1)
    assert_same(one, many)


@pytest.mark.parametrize("accepts", [set(), {5}, {9}])
def test_probes_on_processes_are_tried_and_judged_as_in_one(accepts):
    # a wide graph (the warm-up ends after its first level): a probe refused, one accepted
    # harmlessly, one accepted that breaks the invariant
    edges = {0: tuple(range(10, 20)), **{n: (n + 10,) for n in range(10, 20)}, 25: (5,)}
    spec = graph_spec(edges, probes={n: (5, 9) for n in range(20, 30)}, accepts=accepts)
    one, many = explore(spec), explore_parallel(spec, warm_up=1)
    assert (one.violation is not None) == (9 in accepts)
    assert_same(one, many)


def test_run_check_takes_workers_and_gives_the_same_run():
    check = load_check(ROOT / "specs" / "checks" / "restore_two_workers.toml")
    one, many = run_check(check), run_check(check, workers=2)
    assert many.to_json()["states"] == one.to_json()["states"]
    assert many.verdict == one.verdict == "holds"


def test_a_model_that_fails_in_a_worker_is_reported_with_its_path():
    spec = twophase_spec(3)

    def decide(state, action):
        if state[1] != "init":  # once the transaction manager has decided
            raise ValueError("boom")
        return spec.decide(state, action)

    bad = attrs.evolve(spec, decide=decide)
    with pytest.raises(EnabledActionFailed) as one:
        explore(bad)
    with pytest.raises(EnabledActionFailed) as many:
        explore_parallel(bad, warm_up=1)
    assert "boom" in str(many.value)
    assert many.value.path == one.value.path


@pytest.mark.parametrize("workers", [0, -1, True, 1.5])
def test_workers_must_be_a_positive_int(workers):
    with pytest.raises(InvalidParameter):
        explore_parallel(twophase_spec(3), workers=workers)


def test_both_explorers_measure_the_visited_set_when_asked():
    check = load_check(ROOT / "specs" / "checks" / "restore_three_workers_stall_cancel_ddl.toml")
    spec = check_spec(check, run_start(check))
    assert explore(spec).visited_bytes is None
    one, many = explore(spec, measure_memory=True), explore_parallel(spec, measure_memory=True, warm_up=1)
    # a 128-bit fingerprint, its number, a parent number and an action index: well under 250
    assert 60 < one.visited_bytes / one.distinct_states < 250
    assert many.visited_bytes == one.visited_bytes
