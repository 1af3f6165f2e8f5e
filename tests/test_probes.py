"""The explorer probes what it is not offered (issue 13, item 8(c)): in every state it
expands, the requests a client or a faulty component could send that ``enabled`` does not
offer are tried, and each must be refused, or be harmless. A guard in ``decide`` that
``enabled`` never tests (because it never offers the refused request) is checked this
way: three such guards, each removed here as a mutant would remove it, pass every check
without probing and are caught with it."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from ybstate.archive.actions import PersistCheckpoint
from ybstate.archive.derive import running_archiver
from ybstate.archive.events import CheckpointPersisted
from ybstate.checks import chosen_invariants, load_check, run_check, run_start
from ybstate.drivers.explore import REFUSAL, explore, replay_counterexample
from ybstate.errors import CounterexampleNotReproduced, InvalidAction
from ybstate.kernel import Invariant, Spec
from ybstate.model import SUBSYSTEMS
from ybstate.model.compose import compose

CHECKS = Path(__file__).resolve().parent.parent / "specs" / "checks"
RESTORE = CHECKS / "restore_two_workers.toml"
ARCHIVE = CHECKS / "archive_crash_stop_recycle.toml"
PROMOTION = CHECKS / "promotion_faults_decommission.toml"


@attrs.frozen
class Went:
    to: int


def graph_spec(
    edges: dict[int, tuple[int, ...]], probes: dict[int, tuple[int, ...]], accepts: set[int]
) -> Spec:
    """States are nodes, actions the node an edge leads to; ``probes[n]``: what is tried in
    node n; decide accepts an action only if it is offered or in ``accepts``."""

    def decide(state: int, action: int) -> tuple[Went, ...]:
        if action not in edges.get(state, ()) and action not in accepts:
            raise InvalidAction(f"{action} is not an edge of {state}")
        return (Went(action),)

    return Spec(
        name="graph",
        init=lambda: 0,
        enabled=lambda state: list(edges.get(state, ())),
        decide=decide,
        apply=lambda state, event: event.to,
        key=lambda state: state,
        invariants=(Invariant(name="never_9", check=lambda s: "at 9" if s == 9 else None),),
        probes=lambda state: list(probes.get(state, ())),
    )


def test_requests_not_offered_that_decide_refuses_are_counted_and_hold():
    spec = graph_spec({0: (1,), 1: (2,)}, probes={0: (1, 9), 1: (9, 0)}, accepts=set())
    result = explore(spec)
    assert result.verdict == "holds"
    assert (result.probes_tried, result.probes_accepted) == (3, 0)  # 1 is offered in 0: not tried


def test_a_request_decide_accepts_harmlessly_is_counted_not_reported():
    spec = graph_spec({0: (1,)}, probes={0: (2,)}, accepts={2})
    result = explore(spec)
    assert result.verdict == "holds" and (result.probes_tried, result.probes_accepted) == (1, 1)


def test_a_request_not_offered_that_decide_accepts_and_breaks_an_invariant_is_a_violation():
    spec = graph_spec({0: (1,), 1: (2,)}, probes={1: (9,)}, accepts={9})
    result = explore(spec)
    cx = result.violation
    assert result.verdict == "violated" and cx.invariant == REFUSAL
    assert cx.actions() == (1, 9) and cx.depth == 2  # the path, then the probe itself
    assert "decide accepts int, which is not offered here, and it breaks never_9: at 9" in cx.message
    assert replay_counterexample(spec, cx) == 9
    guarded = graph_spec({0: (1,), 1: (2,)}, probes={1: (9,)}, accepts=set())
    with pytest.raises(CounterexampleNotReproduced, match="decide rejected 9"):
        replay_counterexample(guarded, cx)


def test_without_probes_nothing_is_tried():
    spec = attrs.evolve(graph_spec({0: (1,)}, probes={0: (9,)}, accepts={9}), probes=None)
    result = explore(spec)
    assert result.verdict == "holds" and result.probes_tried is None


# -- three guards only probing checks -------------------------------------------------------------


def _with_and_without_probes(check_path: Path, model=None):
    check = load_check(check_path)
    if model is None:
        return run_check(check), run_check(
            attrs.evolve(check, settings=attrs.evolve(check.settings, probe=False))
        )
    start = run_start(check)
    spec = attrs.evolve(
        model.spec(check.scope, start=start.state),
        invariants=chosen_invariants(check, start.state),
        goals=check.goals,
    )
    return explore(spec), explore(attrs.evolve(spec, probes=None))


def test_the_reorder_queue_releasing_an_entry_before_it_is_rewritten_is_caught_by_probing(monkeypatch):
    import ybstate.restore.decide as restore_decide

    # the mutant: the applier takes the next entry whether or not its worker rewrote it
    monkeypatch.setattr(
        restore_decide, "released", lambda state, task: None if task.stopped else task.applied + 1
    )
    probed, unprobed = _with_and_without_probes(RESTORE)
    assert unprobed.verdict == "holds"  # enabled never offers ApplyEntry there: nothing else sees it
    cx = probed.counterexample
    assert probed.verdict == "violated" and cx.invariant == REFUSAL
    # the applier's decision applies its own events as it makes them: the reducer refuses there
    assert cx.message.startswith("decide fails on ApplyEntry(task_id=1), which is not offered here")
    assert "the entry the reorder queue of restore 1 releases now 'none', found 1" in cx.message


def test_an_idle_checkpoint_over_unsealed_entries_is_caught_by_probing():
    archive = next(part for part in SUBSYSTEMS if part.name == "archive")

    def unguarded(state, a: PersistCheckpoint) -> list[object]:
        # the mutant: persists a checkpoint whether or not the open piece holds tenant entries
        archiver = running_archiver(state, a.tenant_id)
        last = archiver.next_log_id - 1
        if last <= archiver.checkpoint.last_log_id:
            raise InvalidAction("nothing read past the checkpoint")
        return [
            CheckpointPersisted(
                seq=state.seq + 1,
                time=state.clock,
                tenant_id=a.tenant_id,
                last_log_id=last,
                archived_ts=state.log[last].time,
            )
        ]

    mutant = compose(
        tuple(
            attrs.evolve(part, deciders={**part.deciders, PersistCheckpoint: unguarded})
            if part is archive
            else part
            for part in SUBSYSTEMS
        )
    )
    probed, unprobed = _with_and_without_probes(ARCHIVE, mutant)
    assert unprobed.verdict == "holds"
    assert probed.verdict == "violated" and probed.violation.invariant == REFUSAL
    assert "PersistCheckpoint" in probed.violation.message


def test_a_fenced_primary_taking_a_write_is_caught_by_probing(monkeypatch):
    import ybstate.cluster.decide as cluster_decide

    monkeypatch.setattr(cluster_decide, "_writable", lambda tenant: None)  # the mutant: no guard
    probed, unprobed = _with_and_without_probes(PROMOTION)
    assert unprobed.verdict == "holds"  # the scope's clients write nothing: no one writes to t1
    cx = probed.counterexample
    assert probed.verdict == "violated" and cx.invariant == REFUSAL
    assert "Write" in cx.message
