"""The breadth-first explorer, checked on two-phase commit and on toy models.

Counts are checked against the published TLC numbers and against an independent bare BFS
over plain tuples (``twophase_bare``), which shares no code with the Spec version.
"""

from __future__ import annotations

import itertools
from collections import deque

import attrs
import pytest

from ybstate.drivers.coverage import ActionCoverage, Coverage, GoalCoverage, InvariantCoverage
from ybstate.drivers.explore import (
    Counterexample,
    Progress,
    explore,
    replay_counterexample,
)
from ybstate.errors import (
    ActionNotEnabled,
    ActionRejected,
    CounterexampleNotReproduced,
    EnabledActionFailed,
    EventOutOfOrder,
    ExplorationError,
    InvalidParameter,
)
from ybstate.examples.twophase import (
    BUGS,
    RM_NEXT,
    RM_RULES,
    RmCommitted,
    RMPrepare,
    RmPrepared,
    RMRcvCommitMsg,
    TMCommit,
    TMRcvPrepared,
    twophase_spec,
)
from ybstate.examples.twophase_bare import bare_bfs, bare_consistent, bare_init, bare_successors
from ybstate.kernel import Completion, Goal, Invariant, Spec, changes, step
from ybstate.model import ClusterScope, Scope, model_spec

PUBLISHED = {3: 288, 5: 8_832, 7: 296_448}


# -- independent computations on the bare tuple model -----------------------------------------


def bare_levels(n: int, bug: str | None = None) -> list[int]:
    """How many distinct states first appear at each depth."""
    start = bare_init(n)
    seen = {start}
    level = [start]
    sizes = []
    while level:
        sizes.append(len(level))
        following = []
        for state in level:
            for nxt in bare_successors(state, n, bug):
                if nxt not in seen:
                    seen.add(nxt)
                    following.append(nxt)
        level = following
    return sizes


def bare_shortest_inconsistency(n: int, bug: str) -> list[tuple]:
    """The states of a shortest path to a TCConsistent violation, by BFS with parent pointers."""
    start = bare_init(n)
    parent = {start: None}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        if not bare_consistent(state):
            path = []
            while state is not None:
                path.append(state)
                state = parent[state]
            return path[::-1]
        for nxt in bare_successors(state, n, bug):
            if nxt not in parent:
                parent[nxt] = state
                queue.append(nxt)
    raise AssertionError(f"no inconsistent state reachable for n={n}, bug={bug}")


# -- toy models -----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Went:
    to: int


def graph_spec(edges: dict[int, tuple[int, ...]], bad: frozenset[int] = frozenset()) -> Spec:
    """States are nodes, actions are target nodes; ``bad`` nodes break the invariant."""

    def decide(state: int, action: int) -> tuple[Went, ...]:
        if action not in edges.get(state, ()):
            raise ActionRejected(f"no edge {state} -> {action}")
        return (Went(to=action),)

    return Spec(
        name="graph",
        init=lambda: 0,
        enabled=lambda state: edges.get(state, ()),
        decide=decide,
        apply=lambda state, event: event.to,
        key=lambda state: state,
        invariants=(Invariant(name="NotBad", check=lambda s: f"node {s} is bad" if s in bad else None),),
    )


# -- counts -----------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [3, 5])
def test_twophase_distinct_states_match_published_counts(n):
    result = explore(twophase_spec(n))
    assert result.distinct_states == PUBLISHED[n]
    assert result.complete
    assert result.truncated_by is None
    assert result.violation is None


@pytest.mark.slow
def test_twophase_with_seven_rms_has_296448_states():
    result = explore(twophase_spec(7))
    assert result.distinct_states == 296_448
    assert result.complete


@pytest.mark.parametrize("n", [3, 5])
def test_bare_bfs_counts_the_same_states_as_the_explorer(n):
    assert bare_bfs(n) == PUBLISHED[n] == explore(twophase_spec(n)).distinct_states


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_explorer_depth_and_count_agree_with_bare_levels(n):
    levels = bare_levels(n)
    result = explore(twophase_spec(n))
    assert result.distinct_states == sum(levels)
    assert result.depth == len(levels) - 1


def test_transitions_count_every_enabled_action_of_every_state():
    spec = twophase_spec(3)
    seen = {spec.init()}
    queue = [spec.init()]
    edges = 0
    while queue:
        state = queue.pop()
        for action in spec.enabled(state):
            edges += 1
            nxt, _ = step(spec, state, action)
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    assert explore(spec).transitions == edges


@pytest.mark.parametrize("bug", sorted(BUGS))
def test_planted_bug_model_counts_match_bare_model_when_not_checking(bug):
    result = explore(twophase_spec(4, bug=bug), check_invariants=False)
    assert result.complete
    assert result.distinct_states == bare_bfs(4, bug)


# -- counterexamples --------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 3, 4])
@pytest.mark.parametrize("bug", sorted(BUGS))
def test_planted_bug_yields_a_shortest_counterexample_to_tc_consistent(bug, n):
    result = explore(twophase_spec(n, bug=bug))
    cx = result.violation
    assert cx is not None
    assert cx.invariant == "TCConsistent"
    assert not result.complete
    shortest = bare_shortest_inconsistency(n, bug)
    assert cx.depth == len(cx.steps) == len(shortest) - 1
    assert result.depth == cx.depth


def test_shortest_counterexample_lengths_are_the_expected_ones():
    # commit without all prepared: TMCommit, one RM aborts, another receives Commit.
    assert explore(twophase_spec(3, bug="commit_without_all_prepared")).violation.depth == 3
    # abort after prepare: n prepares, n receipts by the TM, commit, one commits, one aborts.
    for n in (2, 3, 4):
        assert explore(twophase_spec(n, bug="abort_after_prepare")).violation.depth == 2 * n + 3


@pytest.mark.parametrize("bug", sorted(BUGS))
def test_counterexample_replays_to_a_state_that_breaks_the_invariant(bug):
    spec = twophase_spec(3, bug=bug)
    cx = explore(spec).violation
    state = replay_counterexample(spec, cx)
    assert "TCConsistent" in [v.invariant for v in spec.violations(state)]
    # The prefix without the last step is still consistent: the violation is at the end.
    prefix = attrs.evolve(cx, steps=cx.steps[:-1], depth=cx.depth - 1)
    with pytest.raises(CounterexampleNotReproduced):
        replay_counterexample(spec, prefix)


def test_counterexample_does_not_replay_on_the_corrected_model():
    cx = explore(twophase_spec(3, bug="commit_without_all_prepared")).violation
    with pytest.raises(CounterexampleNotReproduced) as info:
        replay_counterexample(twophase_spec(3), cx)
    assert info.value.step == 1
    assert "TMCommit()" in str(info.value)


def test_counterexample_with_altered_events_does_not_replay():
    spec = twophase_spec(3, bug="commit_without_all_prepared")
    cx = explore(spec).violation
    action, _ = cx.steps[0]
    forged = attrs.evolve(cx, steps=((action, (RmPrepared(rm=0),)), *cx.steps[1:]))
    with pytest.raises(CounterexampleNotReproduced, match="decide made"):
        replay_counterexample(spec, forged)


def test_counterexample_events_are_what_decide_makes_along_the_path():
    spec = twophase_spec(3, bug="commit_without_all_prepared")
    cx = explore(spec).violation
    state = spec.init()
    for action, events in cx.steps:
        assert tuple(spec.decide(state, action)) == events
        state, _ = step(spec, state, action)
    assert spec.violations(state)


def test_counterexample_format_numbers_each_action_and_indents_its_events():
    cx = explore(twophase_spec(3, bug="commit_without_all_prepared")).violation
    lines = cx.format().splitlines()
    assert lines[0].startswith("TCConsistent violated after 3 steps: ")
    assert lines[1] == "1. TMCommit()"
    assert lines[2] == "      TmCommitted()"
    # TwoPhase describes its states as dicts: each step is followed by what it changed
    assert lines[3:5] == ["    ~ msgs: [] -> ['Commit']", "    ~ tm: 'init' -> 'committed'"]
    assert len([line for line in lines if not line.strip().startswith("~")]) == 1 + 2 * 3
    for number, (action, events) in enumerate(cx.steps, 1):
        assert f"{number}. {action!r}" in lines
        for event in events:
            assert lines[lines.index(f"{number}. {action!r}") + 1].strip() == repr(event)


def test_breadth_first_finds_the_short_path_not_the_first_deep_one():
    # 0 -> 1 -> 2 -> 3 -> 9 (bad) is listed first; 0 -> 4 -> 9 is shorter.
    spec = graph_spec({0: (1, 4), 1: (2,), 2: (3,), 3: (9,), 4: (9,)}, bad=frozenset({9}))
    cx = explore(spec).violation
    assert [action for action, _ in cx.steps] == [4, 9]
    assert cx.steps[1] == (9, (Went(to=9),))
    assert replay_counterexample(spec, cx) == 9


def test_violation_in_the_start_state_gives_an_empty_counterexample():
    spec = graph_spec({0: (1,)}, bad=frozenset({0}))
    result = explore(spec)
    assert result.violation == Counterexample(
        invariant="NotBad", message="node 0 is bad", depth=0, steps=(), states=(repr(0),)
    )
    assert result.distinct_states == 1
    assert result.violation.format() == "NotBad violated in the start state: node 0 is bad"


def test_invariants_are_not_checked_when_switched_off():
    spec = graph_spec({0: (1,), 1: (2,)}, bad=frozenset({0, 2}))
    result = explore(spec, check_invariants=False)
    assert result.violation is None
    assert result.complete
    assert result.distinct_states == 3


# -- bounds -----------------------------------------------------------------------------------


def test_max_states_cuts_the_search_and_says_so():
    result = explore(twophase_spec(3), max_states=100)
    assert result.distinct_states == 100
    assert not result.complete
    assert result.truncated_by == "states"


def test_max_states_equal_to_the_whole_space_is_complete():
    result = explore(twophase_spec(3), max_states=288)
    assert result.distinct_states == 288
    assert result.complete
    assert result.truncated_by is None


@pytest.mark.parametrize("max_depth", [0, 1, 3, 6])
def test_max_depth_visits_exactly_the_states_within_that_depth(max_depth):
    levels = bare_levels(3)
    result = explore(twophase_spec(3), max_depth=max_depth)
    assert result.distinct_states == sum(levels[: max_depth + 1])
    assert result.depth == max_depth
    assert not result.complete
    assert result.truncated_by == "depth"


def test_max_depth_at_the_deepest_level_is_complete():
    deepest = len(bare_levels(3)) - 1
    result = explore(twophase_spec(3), max_depth=deepest)
    assert result.distinct_states == 288
    assert result.complete
    assert result.truncated_by is None


def test_a_bound_does_not_hide_a_violation_within_it():
    result = explore(twophase_spec(3, bug="commit_without_all_prepared"), max_depth=3)
    assert result.violation is not None
    assert result.truncated_by is None


def test_a_depth_bound_below_the_violation_misses_it_and_says_incomplete():
    result = explore(twophase_spec(3, bug="commit_without_all_prepared"), max_depth=2)
    assert result.violation is None
    assert result.truncated_by == "depth"
    assert not result.complete


@pytest.mark.parametrize(
    "bounds",
    [
        {"max_states": 0},
        {"max_states": -5},
        {"max_depth": -1},
        {"progress_every": 0},
        {"max_states": 1.5},
        {"max_depth": True},
        {"max_seconds": 0},
        {"max_seconds": "1"},
    ],
)
def test_nonsensical_bounds_are_rejected(bounds):
    with pytest.raises(InvalidParameter) as info:
        explore(twophase_spec(2), **bounds)
    name, value = next(iter(bounds.items()))
    assert info.value.name == name
    assert info.value.value == value


# -- progress -----------------------------------------------------------------------------------


def test_progress_is_reported_every_progress_every_states():
    reports: list[Progress] = []
    result = explore(twophase_spec(5), progress=reports.append, progress_every=1000)
    assert [p.states for p in reports] == [1000 * i for i in range(1, 9)]
    assert all(a.transitions <= b.transitions for a, b in itertools.pairwise(reports))
    assert all(a.depth <= b.depth <= result.depth for a, b in itertools.pairwise(reports))
    assert all(0 < p.queue < p.states for p in reports)
    assert all(p.seconds >= 0 for p in reports)


def test_no_progress_callback_means_no_reports_and_same_result():
    assert explore(twophase_spec(3), progress_every=1).distinct_states == 288


# -- model bugs ---------------------------------------------------------------------------------


def test_enabled_action_that_decide_rejects_raises_exploration_error():
    # Node 2 offers an edge to 7 that decide does not know about.
    edges = {0: (1,), 1: (2,), 2: (3,)}
    good = graph_spec(edges)
    spec = attrs.evolve(good, enabled=lambda s: (*edges.get(s, ()), 7) if s == 2 else edges.get(s, ()))
    with pytest.raises(ExplorationError) as info:
        explore(spec)
    error = info.value
    assert isinstance(error, EnabledActionFailed)
    assert error.action == 7
    assert error.depth == 2
    assert error.stage == "decide"
    assert error.path == (1, 2)
    assert isinstance(error.__cause__, ActionRejected)
    assert "depth 2" in str(error)
    assert "7" in str(error)


def test_event_that_apply_rejects_raises_exploration_error():
    def apply(state: int, event: Went) -> int:
        if event.to == 3:
            raise EventOutOfOrder("a node below", 3, event.to)
        return event.to

    spec = attrs.evolve(graph_spec({0: (1,), 1: (3,)}), apply=apply)
    with pytest.raises(EnabledActionFailed) as info:
        explore(spec)
    assert info.value.stage == "apply"
    assert info.value.depth == 1
    assert info.value.action == 3


def test_nondeterministic_model_is_caught_when_rebuilding_the_counterexample():
    calls = {"n": 0}

    def apply(state: int, event: Went) -> int:
        calls["n"] += 1
        # The first time round the search goes to `to`; afterwards it strays to 5.
        return event.to if calls["n"] <= 3 else 5

    spec = attrs.evolve(graph_spec({0: (1,), 1: (2,)}, bad=frozenset({2})), apply=apply)
    with pytest.raises(CounterexampleNotReproduced, match="not deterministic"):
        explore(spec)


# -- the twophase model itself ------------------------------------------------------------------


def test_twophase_decide_rejects_an_action_whose_guard_is_false():
    spec = twophase_spec(3)
    start = spec.init()
    with pytest.raises(ActionNotEnabled, match="have not prepared") as info:
        spec.decide(start, TMCommit())
    assert info.value.action == TMCommit()
    with pytest.raises(ActionNotEnabled, match="no Commit message"):
        spec.decide(start, RMRcvCommitMsg(rm=0))
    with pytest.raises(ActionNotEnabled, match="no rm 3"):
        spec.decide(start, RMPrepare(rm=3))
    with pytest.raises(ActionNotEnabled, match="sent no Prepared"):
        spec.decide(start, TMRcvPrepared(rm=1))
    assert spec.init() == start


def test_twophase_apply_rejects_an_event_the_state_cannot_take():
    spec = twophase_spec(2)
    with pytest.raises(EventOutOfOrder):
        spec.apply(spec.init(), RmCommitted(rm=5))
    prepared = spec.apply(spec.init(), RmPrepared(rm=0))
    with pytest.raises(EventOutOfOrder, match="RmPrepared"):
        spec.apply(prepared, RmPrepared(rm=0))


def test_every_rm_rule_moves_along_the_rm_transition_table():
    for rule in RM_RULES:
        for rm_state in rule.rm_states:
            assert (rm_state, rule.event) in RM_NEXT


@pytest.mark.parametrize("bad", [{"n": 0}, {"n": True}, {"n": 3, "bug": "no_such_bug"}])
def test_twophase_spec_rejects_bad_parameters(bad):
    with pytest.raises(InvalidParameter):
        twophase_spec(**bad)


# Coverage: what a run covered, and whether it proved anything --------------------------------


def test_coverage_counts_every_transition_and_state_of_a_complete_search():
    result = explore(twophase_spec(3))
    coverage = result.coverage
    assert result.verdict == "holds" and coverage.vacuous == ()
    assert sum(c.taken for c in coverage.actions.values()) == result.transitions
    assert sum(coverage.per_depth) == result.distinct_states == 288
    assert len(coverage.per_depth) == result.depth + 1 and coverage.per_depth[0] == 1
    assert all(0 < c.enabled <= min(c.taken, result.distinct_states) for c in coverage.actions.values())
    assert coverage.actions["TMCommit"].taken == coverage.actions["TMCommit"].enabled  # one per state at most
    assert {name: c.checked for name, c in coverage.invariants.items()} == {
        "TypeOK": 288,
        "TCConsistent": 288,
    }
    assert coverage.collision_probability == 0.0  # states keyed exactly


def test_coverage_counts_actions_as_a_plain_loop_does():
    spec = twophase_spec(2)
    enabled_in, taken, seen, queue = {}, {}, {spec.key(spec.init())}, deque([spec.init()])
    while queue:
        state = queue.popleft()
        actions = spec.enabled(state)
        for kind in {type(a).__name__ for a in actions}:
            enabled_in[kind] = enabled_in.get(kind, 0) + 1
        for action in actions:
            taken[type(action).__name__] = taken.get(type(action).__name__, 0) + 1
            nxt, _ = step(spec, state, action)
            if spec.key(nxt) not in seen:
                seen.add(spec.key(nxt))
                queue.append(nxt)
    coverage = explore(spec).coverage
    assert {k: (c.enabled, c.taken) for k, c in coverage.actions.items()} == {
        k: (enabled_in[k], taken[k]) for k in taken
    }


def _with(spec, *, goals=(), subjects=None):
    invariants = tuple(attrs.evolve(inv, subject=(subjects or {}).get(inv.name)) for inv in spec.invariants)
    return attrs.evolve(spec, goals=tuple(goals), invariants=invariants)


def test_a_goal_reached_is_reported_with_the_depth_of_its_first_state():
    committed = Goal(name="some_rm_committed", reached=lambda s: "committed" in s[0])  # s: (rm, tm, ...)
    result = explore(_with(twophase_spec(3), goals=[committed]))
    assert result.verdict == "holds"
    goal = result.coverage.goals["some_rm_committed"]
    # 3 RMs prepare, the TM receives the 3 messages and commits, and one RM learns it
    assert goal.reached and goal.depth == 8


def test_a_goal_never_reached_makes_the_run_vacuous():
    impossible = Goal(name="all_committed_and_aborted", reached=lambda s: False)
    result = explore(_with(twophase_spec(2), goals=[impossible]))
    assert result.violation is None and result.complete
    assert result.verdict == "vacuous"
    assert result.coverage.vacuous == ("goal all_committed_and_aborted was never reached",)


def test_an_invariant_whose_subject_never_exists_makes_the_run_vacuous():
    never = {"TCConsistent": lambda s: False, "TypeOK": lambda s: True}
    result = explore(_with(twophase_spec(2), subjects=never))
    assert result.verdict == "vacuous"
    assert result.coverage.invariants["TypeOK"].subject == result.distinct_states
    assert result.coverage.vacuous == ("invariant TCConsistent never met its subject",)


def test_an_optional_invariant_never_meeting_its_subject_is_reported_but_not_vacuous():
    spec = _with(twophase_spec(2), subjects={"TCConsistent": lambda s: False})
    spec = attrs.evolve(spec, invariants=tuple(attrs.evolve(i, optional=True) for i in spec.invariants))
    result = explore(spec)
    assert result.verdict == "holds" and result.coverage.vacuous == ()
    assert result.coverage.invariants["TCConsistent"] == InvariantCoverage(result.distinct_states, 0, True)
    assert "(never met; not required here)" in result.coverage.format()


def test_a_time_bound_cuts_the_search_and_says_so():
    result = explore(twophase_spec(7), max_seconds=0.001)
    assert result.truncated_by == "seconds" and not result.complete and result.verdict == "incomplete"
    assert result.distinct_states < 296_448


def test_merged_coverage_adds_counts_and_keeps_the_shallowest_goal():
    first = Coverage(
        actions={"A": ActionCoverage(2, 1)},
        invariants={"I": InvariantCoverage(3, 0), "J": InvariantCoverage(3, None)},
        goals={"g": GoalCoverage(False, None)},
    )
    second = Coverage(
        actions={"A": ActionCoverage(1, 1), "B": ActionCoverage(1, 1)},
        invariants={"I": InvariantCoverage(2, 1), "J": InvariantCoverage(2, None)},
        goals={"g": GoalCoverage(True, 4)},
    )
    third = attrs.evolve(second, goals={"g": GoalCoverage(True, 2)})
    merged = Coverage.merge([first, second, third])
    assert merged.actions == {"A": ActionCoverage(4, 3), "B": ActionCoverage(2, 2)}
    assert merged.invariants == {"I": InvariantCoverage(7, 2), "J": InvariantCoverage(7, None)}
    assert merged.goals == {"g": GoalCoverage(True, 2)}
    assert Coverage.merge([first]).vacuous == (
        "goal g was never reached",
        "invariant I never met its subject",
    )


def test_a_cut_search_is_incomplete_and_a_violation_wins_over_everything():
    assert explore(twophase_spec(3), max_states=50).verdict == "incomplete"
    impossible = Goal(name="never", reached=lambda s: False)
    broken = _with(twophase_spec(3, bug="commit_without_all_prepared"), goals=[impossible])
    assert explore(broken).verdict == "violated"


def test_coverage_can_be_skipped_and_a_fingerprinted_model_reports_its_collision_chance():
    assert explore(twophase_spec(2), coverage=False).coverage is None
    keyed = attrs.evolve(twophase_spec(3), key=lambda s: hash(s) & (2**16 - 1), key_bits=16)
    result = explore(keyed)
    assert 0 < result.coverage.collision_probability < 1


def test_judging_progress_does_not_change_what_the_search_visits():
    ends = Completion(
        name="rm_can_end",
        pending=lambda state: [i for i, rm in enumerate(state[0]) if rm == "working"],
        done=lambda state: [i for i, rm in enumerate(state[0]) if rm != "working"],
    )
    plain = explore(twophase_spec(5))
    judged = explore(attrs.evolve(twophase_spec(5), progress=(ends,)))
    assert judged.progress_checked and not plain.progress_checked
    assert (judged.distinct_states, judged.transitions, judged.depth) == (
        plain.distinct_states,
        plain.transitions,
        plain.depth,
    )
    assert judged.coverage.per_depth == plain.coverage.per_depth


def test_a_counterexample_of_the_cluster_shows_what_each_step_changed():
    spec = model_spec(Scope(cluster=ClusterScope(tenants=("t1",), keys=("k1",), max_log=6)))
    no_commit = Invariant(name="no_commit", check=lambda s: "a commit" if s.committed else None)
    cx = explore(attrs.evolve(spec, invariants=(no_commit,))).violation
    listing = cx.format().splitlines()
    assert listing[0] == "no_commit violated after 2 steps: a commit"
    changed = [line.strip() for line in listing if line.strip().startswith("~")]
    assert changed == [
        "~ log.last_log_id: 1 -> 2",
        "~ + open_transactions.1: 't1'",
        "~ log.last_log_id: 2 -> 3",
        "~ - open_transactions.1: 't1'",
        "~ tenants.t1.rows: 0 -> 1",
    ]
    assert len(cx.states) == 3 and cx.states[-1]["tenants"]["t1"]["rows"] == 1


def test_changes_lists_added_gone_and_changed_paths():
    before = {"a": {"x": 1, "y": [1]}, "gone": 2, "empty": {}}
    after = {"a": {"x": 2, "y": [1]}, "new": {"k": "v"}, "empty": {}}
    assert changes(before, after) == ["a.x: 1 -> 2", "- gone: 2", "+ new.k: 'v'"]
