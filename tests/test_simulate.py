"""The seeded simulator: reproducible walks, reported violations and deadlocks."""

from __future__ import annotations

import random

import attrs
import pytest

from ybstate.drivers.simulate import Simulation, simulate
from ybstate.errors import ActionRejected, EnabledActionFailed, InvalidParameter
from ybstate.examples.twophase import twophase_spec
from ybstate.kernel import Goal, Invariant, Spec


@attrs.frozen(kw_only=True)
class Moved:
    """A step of the toy walk; ``seq`` numbers the events of a history like the cluster's."""

    seq: int
    by: int


def walk_spec(limit: int | None = None, stop_at: int | None = None) -> Spec:
    """A counter that moves by -1, +1 or +2; ``limit`` is an invariant bound on its value,
    and nothing is enabled once the value reaches ``stop_at``. The state is (seq, value)."""

    def enabled(state: tuple[int, int]) -> tuple[int, ...]:
        return () if stop_at is not None and state[1] >= stop_at else (-1, 1, 2)

    def decide(state: tuple[int, int], action: int) -> tuple[Moved, ...]:
        if action not in (-1, 1, 2):
            raise ActionRejected(f"cannot move by {action}")
        return (Moved(seq=state[0] + 1, by=action),)

    def below_limit(state: tuple[int, int]) -> str | None:
        if limit is not None and state[1] >= limit:
            return f"value {state[1]} reached the limit {limit}"
        return None

    return Spec(
        name="walk",
        init=lambda: (0, 0),
        enabled=enabled,
        decide=decide,
        apply=lambda state, event: (event.seq, state[1] + event.by),
        key=lambda state: state,
        invariants=(Invariant(name="BelowLimit", check=below_limit),),
    )


def history(result: Simulation) -> str:
    return repr((result.steps, result.state))


# -- reproducibility ----------------------------------------------------------------------------


def test_same_seed_gives_the_identical_history():
    spec = twophase_spec(4)
    first = simulate(spec, seed=42, steps=50)
    second = simulate(twophase_spec(4), seed=42, steps=50)
    assert history(first) == history(second)
    assert first == second


def test_different_seeds_give_different_histories():
    spec = walk_spec()
    histories = {history(simulate(spec, seed=seed, steps=40)) for seed in range(5)}
    assert len(histories) == 5


def test_the_choice_is_rng_choice_over_enabled_in_order():
    spec = walk_spec()
    result = simulate(spec, seed=7, steps=30)
    rng = random.Random(7)
    state = spec.init()
    expected = []
    for _ in range(30):
        action = rng.choice(list(spec.enabled(state)))
        events = tuple(spec.decide(state, action))
        for event in events:
            state = spec.apply(state, event)
        expected.append((action, events))
    assert result.steps == tuple(expected)
    assert result.state == state


def test_the_walk_starts_from_a_given_state():
    result = simulate(walk_spec(), seed=1, steps=3, state=(10, 100))
    assert result.steps[0][1][0].seq == 11
    assert result.state[0] == 13
    assert result.state[1] == 100 + sum(action for action, _ in result.steps)


# -- violations ---------------------------------------------------------------------------------


def test_planted_invariant_violation_is_reported_with_its_step_and_seed():
    spec = twophase_spec(3, bug="commit_without_all_prepared")
    found = [simulate(spec, seed=seed, steps=100) for seed in range(30)]
    broken = [r for r in found if r.violation is not None]
    assert broken, "some seed must reach the planted inconsistency"
    for result in broken:
        violation = result.violation
        assert violation.invariant == "TCConsistent"
        assert violation.step == len(result.steps)
        assert violation.seed == result.seed
        assert spec.violations(result.state)
        # One step earlier everything held: the report names the breaking step.
        before = simulate(spec, seed=result.seed, steps=violation.step - 1)
        assert before.violation is None
        assert before.steps == result.steps[:-1]


def test_violation_reports_the_seq_of_the_breaking_events():
    result = simulate(walk_spec(limit=5), seed=3, steps=1000)
    violation = result.violation
    assert violation is not None
    assert violation.step == len(result.steps)
    assert result.state[1] >= 5
    assert violation.seqs == (violation.step,)
    assert violation.since_step == violation.step
    assert "seed 3" in str(violation)
    assert f"step {violation.step}" in str(violation)


def test_walk_stops_at_the_first_violation():
    result = simulate(walk_spec(limit=5), seed=3, steps=1000)
    values = [0]
    for action, _ in result.steps:
        values.append(values[-1] + action)
    assert all(v < 5 for v in values[:-1])
    assert values[-1] >= 5
    assert not result.deadlock


def test_sparse_checks_blame_every_step_since_the_last_passing_check():
    dense = simulate(walk_spec(limit=5), seed=3, steps=1000)
    sparse = simulate(walk_spec(limit=5), seed=3, steps=1000, check_every=4)
    violation = sparse.violation
    assert violation is not None
    assert violation.step % 4 == 0
    assert violation.step >= dense.violation.step
    assert violation.since_step == violation.step - 3
    assert violation.seqs == tuple(range(violation.since_step, violation.step + 1))


def test_invariants_are_checked_at_the_end_even_off_the_check_interval():
    # 7 steps with check_every=100: only the final check can see the violation.
    spec = walk_spec(limit=1)
    result = simulate(spec, seed=0, steps=7, check_every=100)
    assert result.violation is not None
    assert result.violation.step == 7
    assert result.violation.since_step == 1


def test_violation_in_the_start_state_is_reported_at_step_zero():
    result = simulate(walk_spec(limit=0), seed=0, steps=10)
    assert result.violation.step == 0
    assert result.steps == ()


# -- deadlock -----------------------------------------------------------------------------------


def test_deadlock_is_reported_when_nothing_is_enabled():
    spec = twophase_spec(3)
    result = simulate(spec, seed=5, steps=1000)
    assert result.deadlock
    assert result.violation is None
    assert len(result.steps) < 1000
    assert list(spec.enabled(result.state)) == []


def test_deadlocked_final_state_is_still_checked():
    spec = walk_spec(limit=4, stop_at=4)
    result = simulate(spec, seed=2, steps=1000, check_every=1000)
    assert result.deadlock
    assert result.violation is not None
    assert result.violation.step == len(result.steps)


def test_running_out_of_steps_is_not_a_deadlock():
    result = simulate(walk_spec(), seed=1, steps=25)
    assert len(result.steps) == 25
    assert not result.deadlock
    assert result.ok


# -- callbacks and errors -----------------------------------------------------------------------


def test_on_step_sees_every_step_in_order_with_the_state_it_reached():
    seen = []
    result = simulate(walk_spec(), seed=9, steps=12, on_step=lambda *args: seen.append(args))
    assert [i for i, *_ in seen] == list(range(1, 13))
    assert [(a, e) for _, a, e, _ in seen] == list(result.steps)
    assert seen[-1][3] == result.state
    assert all(state[0] == i for i, _, _, state in seen)


def test_enabled_action_that_decide_rejects_raises_exploration_error():
    spec = walk_spec()
    broken = attrs.evolve(spec, enabled=lambda state: (5,) if state[1] == 2 else (1,))
    with pytest.raises(EnabledActionFailed) as info:
        simulate(broken, seed=0, steps=10)
    assert info.value.action == 5
    assert info.value.depth == 2
    assert info.value.path == (1, 1)


@pytest.mark.parametrize(
    "arguments",
    [{"steps": -1}, {"check_every": 0}, {"seed": "7"}, {"steps": 2.5}],
)
def test_nonsensical_arguments_are_rejected(arguments):
    call = {"seed": 1, "steps": 5, **arguments}
    with pytest.raises(InvalidParameter):
        simulate(walk_spec(), **call)


# Coverage of a walk -------------------------------------------------------------------------------


def test_a_walk_counts_the_actions_it_chose_and_the_states_they_were_enabled_in():
    result = simulate(twophase_spec(3), seed=7, steps=12)
    coverage = result.coverage
    chosen = [type(action).__name__ for action, _ in result.steps]
    assert {name: c.taken for name, c in coverage.actions.items() if c.taken} == {
        name: chosen.count(name) for name in set(chosen)
    }
    assert all(c.enabled <= len(result.steps) for c in coverage.actions.values())
    assert result.verdict == "holds"


def test_a_walk_that_never_reaches_a_goal_is_vacuous_and_one_that_does_says_when():
    spec = twophase_spec(2)
    aborted = Goal(name="tm_aborted", reached=lambda s: s[1] == "aborted")  # s: (rm, tm, ...)
    never = Goal(name="never", reached=lambda s: False)
    walk = simulate(attrs.evolve(spec, goals=(aborted, never)), seed=1, steps=20)
    assert walk.verdict == "vacuous" and walk.coverage.vacuous == ("goal never was never reached",)
    first = next(i for i, (action, _) in enumerate(walk.steps, 1) if type(action).__name__ == "TMAbort")
    assert walk.coverage.goals["tm_aborted"].depth == first
    assert simulate(spec, seed=1, steps=5, coverage=False).coverage is None
