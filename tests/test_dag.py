"""The DAG scheduler (DESIGN 6): ordering, the worker limit, retries, failure isolation,
cancel, cycle rejection and refusals, over random DAGs and exhaustively on small ones.

Random DAGs have 1..12 tasks named ``t00``, ``t01``, ...; an edge joins a task to one
drawn later in a random permutation of the names, so every DAG is acyclic and its
topological order is not simply the order of the names. Histories are driven by seeded
random choices among ``enabled_dag``; the checks recompute what they expect from the
edges with networkx, not from the scheduler's own indexes.
"""

from __future__ import annotations

import itertools
import json
import random
import time
from collections import deque
from functools import reduce

import attrs
import immutables
import networkx as nx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ybstate.codec import make_converter
from ybstate.dag import (
    DAG_EVENT_TAGS,
    DAG_EVENTS,
    DAG_INVARIANTS,
    DAG_TASK,
    CancelDag,
    CyclicPlan,
    Dag,
    DagFinished,
    DagNotRunning,
    DagStatus,
    DagSubmitted,
    DagTaskInWrongState,
    DagWorkersBusy,
    FailTask,
    FinishTask,
    InvalidPlan,
    StartTask,
    TaskCancelled,
    TaskFailed,
    TaskReady,
    TaskStarted,
    TaskState,
    TaskSucceeded,
    TaskUpstreamFailed,
    UnknownDag,
    UnknownDagTask,
    apply_dag,
    dag_digest,
    dag_spec,
    decide_submit,
    decide_task,
    enabled_dag,
    plan_order,
)
from ybstate.drivers.explore import explore, replay_counterexample
from ybstate.drivers.simulate import simulate
from ybstate.errors import ActionRejected, EnabledActionFailed, EventOutOfOrder, InvalidAction

S = TaskState
DAG = 1
DIAMOND = (("a", "b", "c", "d"), (("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")))
EMPTY = immutables.Map()
SEEDS = st.integers(min_value=0, max_value=2**32 - 1)

# -- random DAGs and seeded walks ----------------------------------------------------------------


@st.composite
def plans(draw, max_tasks: int = 12) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    n = draw(st.integers(min_value=1, max_value=max_tasks))
    labels = draw(st.permutations([f"t{i:02d}" for i in range(n)]))
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    chosen = draw(st.sets(st.sampled_from(pairs))) if pairs else set()
    edges = draw(st.permutations(sorted((labels[i], labels[j]) for i, j in chosen)))
    tasks = draw(st.permutations(labels))
    return tuple(tasks), tuple(edges)


def graph_of(tasks, edges) -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(tasks)
    graph.add_edges_from(edges)
    return graph


def predecessors_of(edges) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for tail, head in edges:
        found.setdefault(head, set()).add(tail)
    return found


@attrs.define
class Walk:
    """One DAG driven action by action, keeping its history."""

    dags: immutables.Map
    history: list

    @property
    def dag(self) -> Dag:
        return self.dags[DAG]

    def do(self, action) -> list:
        seq = len(self.history) + 1
        events = decide_task(self.dags, action, seq=seq, time=seq)
        if [e.seq for e in events] != list(range(seq, seq + len(events))):
            raise AssertionError(f"{action!r} made events numbered {[e.seq for e in events]} from {seq}")
        for event in events:
            self.dags = apply_dag(self.dags, event)
        self.history.extend(events)
        return events


def submitted(tasks, edges, *, workers: int, retries: int) -> Walk:
    events = decide_submit(
        EMPTY,
        dag_id=DAG,
        owner="test",
        tasks=tasks,
        edges=edges,
        workers=workers,
        retries=retries,
        seq=1,
        time=1,
    )
    return Walk(dags=reduce(apply_dag, events, EMPTY), history=list(events))


def walk(
    tasks,
    edges,
    *,
    workers: int,
    retries: int,
    seed: int,
    faults: int = 0,
    allow=None,
    steps: int | None = None,
) -> Walk:
    """Seeded random choices among ``enabled_dag`` (at most ``faults`` failures, actions
    filtered by ``allow``) until nothing is enabled or ``steps`` were taken."""
    rng = random.Random(seed)
    run = submitted(tasks, edges, workers=workers, retries=retries)
    failures = taken = 0
    while steps is None or taken < steps:
        actions = enabled_dag(run.dag, faults=failures < faults)
        if allow is not None:
            actions = [a for a in actions if allow(run.dag, a)]
        if not actions:
            break
        action = rng.choice(actions)
        run.do(action)
        failures += type(action) is FailTask
        taken += 1
    return run


def fold(events) -> immutables.Map:
    return reduce(apply_dag, events, EMPTY)


# -- ordering and the worker limit ---------------------------------------------------------------


@given(
    plan=plans(), workers=st.integers(1, 4), retries=st.integers(0, 2), faults=st.integers(0, 4), seed=SEEDS
)
def test_a_task_becomes_ready_and_starts_only_after_all_its_predecessors_succeeded(
    plan, workers, retries, faults, seed
):
    tasks, edges = plan
    run = walk(tasks, edges, workers=workers, retries=retries, seed=seed, faults=faults)
    before = predecessors_of(edges)
    succeeded: set[str] = set()
    for event in run.history:
        if type(event) in (TaskReady, TaskStarted):
            waiting = before.get(event.task, set()) - succeeded
            assert not waiting, f"{event!r} while {sorted(waiting)} had not succeeded"
        elif type(event) is TaskSucceeded:
            succeeded.add(event.task)
    assert run.dag.finished


@given(
    plan=plans(), workers=st.integers(1, 4), retries=st.integers(0, 2), faults=st.integers(0, 4), seed=SEEDS
)
def test_never_more_than_workers_tasks_run_at_once(plan, workers, retries, faults, seed):
    tasks, edges = plan
    run = walk(tasks, edges, workers=workers, retries=retries, seed=seed, faults=faults)
    running: set[str] = set()
    for event in run.history:
        if type(event) is TaskStarted:
            running.add(event.task)
            assert len(running) <= workers, f"{sorted(running)} run at once with {workers} workers"
        elif type(event) in (TaskSucceeded, TaskFailed, TaskCancelled):
            running.discard(event.task)


@pytest.mark.parametrize("workers", [1, 2, 3, 5])
def test_the_scheduler_fills_every_worker_when_enough_tasks_are_ready(workers):
    tasks = tuple(f"t{i:02d}" for i in range(8))
    run = submitted(tasks, (), workers=workers, retries=0)
    while True:
        starts = [a for a in enabled_dag(run.dag, faults=False) if type(a) is StartTask]
        if not starts:
            break
        run.do(starts[0])
    assert run.dag.running == workers
    assert run.dag.running_tasks() == list(tasks[:workers])
    with pytest.raises(DagWorkersBusy):
        decide_task(run.dags, StartTask(dag_id=DAG, task=tasks[workers]), seq=99, time=99)


@given(plan=plans(), seed=SEEDS)
def test_ready_and_running_tasks_are_listed_in_the_plan_order(plan, seed):
    tasks, edges = plan
    run = walk(tasks, edges, workers=3, retries=1, seed=seed, faults=2, steps=seed % 20)
    dag = run.dag
    order = plan_order(tasks, edges)
    assert dag.ready() == [t for t in order if dag.tasks[t] is S.READY]
    assert dag.running_tasks() == [t for t in order if dag.tasks[t] is S.RUNNING]


# -- retries and failure isolation ---------------------------------------------------------------


@given(plan=plans(), workers=st.integers(1, 4), retries=st.integers(0, 3), data=st.data())
def test_a_task_that_fails_no_more_than_retries_times_still_succeeds(plan, workers, retries, data):
    tasks, edges = plan
    budget = {t: data.draw(st.integers(0, retries), label=f"failures of {t}") for t in tasks}
    seed = data.draw(SEEDS, label="seed")

    def fails_exactly_its_budget(dag: Dag, action) -> bool:
        if type(action) is StartTask:
            return True
        used = dag.attempts.get(action.task, 0)
        return used < budget[action.task] if type(action) is FailTask else used == budget[action.task]

    run = walk(
        tasks,
        edges,
        workers=workers,
        retries=retries,
        seed=seed,
        faults=10**6,
        allow=fails_exactly_its_budget,
    )
    assert run.dag.status is DagStatus.SUCCEEDED
    assert all(run.dag.tasks[t] is S.SUCCEEDED for t in tasks)
    failures = [e for e in run.history if type(e) is TaskFailed]
    assert not any(e.final for e in failures)
    for event in failures:
        assert run.history[event.seq].task == event.task and type(run.history[event.seq]) is TaskReady
    assert dict(run.dag.attempts.items()) == {t: n for t, n in budget.items() if n}


@given(
    plan=plans(), workers=st.integers(1, 4), retries=st.integers(0, 2), faults=st.integers(1, 6), seed=SEEDS
)
def test_a_final_failure_blocks_exactly_its_descendants_and_the_rest_runs_to_completion(
    plan, workers, retries, faults, seed
):
    tasks, edges = plan
    run = walk(tasks, edges, workers=workers, retries=retries, seed=seed, faults=faults)
    failed = {e.task for e in run.history if type(e) is TaskFailed and e.final}
    graph = graph_of(tasks, edges)
    below = set().union(*(nx.descendants(graph, f) for f in failed))
    assert not failed & below
    for task in tasks:
        expected = S.FAILED if task in failed else S.UPSTREAM_FAILED if task in below else S.SUCCEEDED
        assert run.dag.tasks[task] is expected, f"{task} is {run.dag.tasks[task]}, expected {expected}"
    finished = [e for e in run.history if type(e) is DagFinished]
    assert finished == [run.history[-1]]
    assert finished[0].status is (DagStatus.FAILED if failed else DagStatus.SUCCEEDED)
    for event in run.history:
        if type(event) is TaskFailed:
            assert event.final is (event.attempt > retries)


def test_a_failure_does_not_finish_the_dag_while_an_independent_branch_still_runs():
    run = submitted(("a", "b", "c"), (("a", "b"),), workers=2, retries=0)
    run.do(StartTask(dag_id=DAG, task="a"))
    run.do(StartTask(dag_id=DAG, task="c"))
    events = run.do(FailTask(dag_id=DAG, task="a", reason="disk full"))
    assert [type(e) for e in events] == [TaskFailed, TaskUpstreamFailed]
    assert events[0].reason == "disk full" and events[0].final
    assert run.dag.status is DagStatus.RUNNING and run.dag.tasks["b"] is S.UPSTREAM_FAILED
    events = run.do(FinishTask(dag_id=DAG, task="c"))
    assert [type(e) for e in events] == [TaskSucceeded, DagFinished]
    assert events[-1].status is DagStatus.FAILED


def test_a_retry_makes_the_failed_task_ready_again_in_the_same_decision():
    run = submitted(("a",), (), workers=1, retries=2)
    run.do(StartTask(dag_id=DAG, task="a"))
    events = run.do(FailTask(dag_id=DAG, task="a"))
    assert events == [
        TaskFailed(seq=4, time=4, dag_id=DAG, task="a", attempt=1, final=False, reason="fault"),
        TaskReady(seq=5, time=4, dag_id=DAG, task="a"),
    ]
    assert run.dag.tasks["a"] is S.READY and run.dag.attempts["a"] == 1


# -- cancel ----------------------------------------------------------------------------------------


@given(
    plan=plans(), workers=st.integers(1, 4), retries=st.integers(0, 2), steps=st.integers(0, 30), seed=SEEDS
)
def test_cancel_ends_every_unfinished_task_cancelled_and_keeps_the_ended_ones(
    plan, workers, retries, steps, seed
):
    tasks, edges = plan
    run = walk(tasks, edges, workers=workers, retries=retries, seed=seed, faults=3, steps=steps)
    if run.dag.finished:
        with pytest.raises(DagNotRunning):
            decide_task(run.dags, CancelDag(dag_id=DAG, reason="operator"), seq=1, time=1)
        return
    before = {t: run.dag.tasks[t] for t in tasks}
    events = run.do(CancelDag(dag_id=DAG, reason="operator"))
    assert events[-1] == DagFinished(
        seq=events[-1].seq, time=events[-1].time, dag_id=DAG, status=DagStatus.CANCELLED
    )
    cancelled = {e.task for e in events[:-1]}
    assert all(type(e) is TaskCancelled for e in events[:-1])
    for task, state in before.items():
        if state in (S.PENDING, S.READY, S.RUNNING):
            assert task in cancelled and run.dag.tasks[task] is S.CANCELLED
        else:
            assert task not in cancelled and run.dag.tasks[task] is state
    assert run.dag.running == 0 and run.dag.ready() == []
    assert enabled_dag(run.dag, faults=True) == []
    with pytest.raises(DagNotRunning):
        decide_task(run.dags, StartTask(dag_id=DAG, task=tasks[0]), seq=1, time=1)


# -- the plan: order, cycles, malformed submissions ------------------------------------------------


@given(plan=plans(), data=st.data())
def test_plan_order_is_the_lexicographic_topological_order_whatever_the_input_order(plan, data):
    tasks, edges = plan
    order = plan_order(tasks, edges)
    assert type(order) is tuple
    assert order == tuple(nx.lexicographical_topological_sort(graph_of(tasks, edges)))
    shuffled = (data.draw(st.permutations(tasks)), data.draw(st.permutations(edges)))
    assert plan_order(*shuffled) == order
    at = {t: i for i, t in enumerate(order)}
    assert all(at[tail] < at[head] for tail, head in edges)


def test_plan_order_breaks_ties_by_name():
    assert plan_order(["c", "b", "a", "d"], [("c", "d")]) == ("a", "b", "c", "d")
    assert plan_order(["z", "y", "x"], [("z", "x")]) == ("y", "z", "x")


@given(plan=plans(), data=st.data())
def test_a_cycle_is_rejected_naming_its_edges(plan, data):
    tasks, edges = plan
    graph = graph_of(tasks, edges)
    candidates = [(u, v) for u in tasks for v in (nx.descendants(graph, u) | {u})]
    top, bottom = data.draw(st.sampled_from(candidates), label="path")
    cyclic = (*edges, (bottom, top))
    for attempt in (
        lambda: plan_order(tasks, cyclic),
        lambda: decide_submit(
            EMPTY, dag_id=7, owner="o", tasks=tasks, edges=cyclic, workers=1, retries=0, seq=1, time=1
        ),
    ):
        with pytest.raises(CyclicPlan) as caught:
            attempt()
        cycle = caught.value.cycle
        assert isinstance(caught.value, ActionRejected) and isinstance(caught.value, ValueError)
        assert cycle and set(cycle) <= set(cyclic)
        assert all(cycle[i][1] == cycle[(i + 1) % len(cycle)][0] for i in range(len(cycle)))
        for edge in cycle:
            assert repr(edge) in str(caught.value)
    assert "DAG 7" in str(caught.value)
    event = DagSubmitted(seq=1, time=1, dag_id=1, owner="o", tasks=tasks, edges=cyclic, workers=1, retries=0)
    with pytest.raises(EventOutOfOrder, match="cycle"):
        apply_dag(EMPTY, event)


def test_plan_order_on_a_wide_dag_is_not_quadratic():
    # nx.find_cycle over the whole graph walks again below every unexplored node: on this
    # DAG of 60 layers of 60 tasks it takes about two seconds; finding the strongly
    # connected components first keeps plan_order under a tenth of that.

    rng = random.Random(5)
    layers = [[f"n{layer:03d}_{i:03d}" for i in range(60)] for layer in range(60)]
    tasks = [t for layer in layers for t in layer]
    edges = [
        (a, b) for above, below in itertools.pairwise(layers) for b in below for a in rng.sample(above, 2)
    ]
    started = time.perf_counter()
    order = plan_order(tasks, edges)
    assert time.perf_counter() - started < 0.5
    assert len(order) == len(tasks)


@pytest.mark.parametrize(
    ("change", "what", "value"),
    [
        ({"tasks": ("a", "b", "a")}, "tasks", ["a"]),
        ({"tasks": ("a", "")}, "task name", ""),
        ({"tasks": ("a", 3)}, "task name", 3),
        ({"edges": (("a", "x"),)}, "edge", ("a", "x")),
        ({"edges": (("a", "b"), ("a", "b"))}, "edges", [("a", "b")]),
        ({"edges": (("a", "b", "c"),)}, "edge", ("a", "b", "c")),
        ({"workers": 0}, "workers", 0),
        ({"workers": True}, "workers", True),
        ({"retries": -1}, "retries", -1),
        ({"owner": None}, "owner", None),
        ({"dag_id": 5}, "dag_id", 5),
    ],
)
def test_a_malformed_submission_is_rejected_naming_the_value(change, what, value):
    existing = submitted(("q",), (), workers=1, retries=0).dags.set(5, None)
    request = {
        "dag_id": 9,
        "owner": "o",
        "tasks": ("a", "b"),
        "edges": (),
        "workers": 2,
        "retries": 1,
    } | change
    with pytest.raises(InvalidPlan) as caught:
        decide_submit(existing, seq=1, time=1, **request)
    assert isinstance(caught.value, InvalidAction)
    assert (caught.value.what, caught.value.value) == (what, value)
    assert repr(value) in str(caught.value)


def test_a_dag_without_tasks_finishes_at_once():
    events = decide_submit(
        EMPTY, dag_id=3, owner="o", tasks=(), edges=(), workers=1, retries=0, seq=10, time=5
    )
    assert [type(e) for e in events] == [DagSubmitted, DagFinished]
    assert [e.seq for e in events] == [10, 11] and events[1].status is DagStatus.SUCCEEDED
    assert fold(events)[3].status is DagStatus.SUCCEEDED


def test_submit_makes_every_root_ready_in_the_plan_order():
    _, edges = DIAMOND
    events = decide_submit(
        EMPTY,
        dag_id=DAG,
        owner="o",
        tasks=("d", "c", "x", "b", "a"),
        edges=edges,
        workers=1,
        retries=0,
        seq=4,
        time=2,
    )
    assert [(type(e), getattr(e, "task", None), e.seq) for e in events] == [
        (DagSubmitted, None, 4),
        (TaskReady, "a", 5),
        (TaskReady, "x", 6),
    ]
    assert events[0].edges == tuple(sorted(edges))


# -- refusals ---------------------------------------------------------------------------------------


@given(plan=plans(), workers=st.integers(1, 3), steps=st.integers(0, 25), seed=SEEDS)
def test_decide_accepts_exactly_the_task_actions_enabled_offers_and_a_refusal_changes_nothing(
    plan, workers, steps, seed
):
    tasks, edges = plan
    run = walk(tasks, edges, workers=workers, retries=1, seed=seed, faults=3, steps=steps)
    dags, dag = run.dags, run.dag
    snapshot = (dag_digest(dag), dag.tasks.digest, dict(dag.tasks.items()))
    offered = set(enabled_dag(dag, faults=True))
    for task in tasks:
        for kind in (StartTask, FinishTask, FailTask):
            action = kind(dag_id=DAG, task=task)
            try:
                events = decide_task(dags, action, seq=1, time=1)
            except ActionRejected as refusal:
                assert action not in offered, f"{action!r} is enabled but refused: {refusal}"
                expected = DagNotRunning if dag.finished else (DagTaskInWrongState, DagWorkersBusy)
                assert isinstance(refusal, expected)
            else:
                assert action in offered, f"{action!r} is accepted but not enabled"
                assert events
    for action, error in (
        (StartTask(dag_id=DAG, task="nope"), DagNotRunning if dag.finished else UnknownDagTask),
        (FinishTask(dag_id=2, task=tasks[0]), UnknownDag),
        (CancelDag(dag_id=2, reason="r"), UnknownDag),
        ("not an action", InvalidAction),
    ):
        with pytest.raises(error):
            decide_task(dags, action, seq=1, time=1)
    assert run.dags is dags
    assert (dag_digest(dags[DAG]), dags[DAG].tasks.digest, dict(dags[DAG].tasks.items())) == snapshot


def test_a_refusal_names_the_task_its_state_and_what_it_needed():
    run = submitted(*DIAMOND, workers=1, retries=0)
    with pytest.raises(DagTaskInWrongState) as caught:
        decide_task(run.dags, StartTask(dag_id=DAG, task="d"), seq=1, time=1)
    assert (caught.value.task, caught.value.state, caught.value.needed) == ("d", S.PENDING, (S.READY,))
    assert "'d' of DAG 1 is pending; it must be ready" in str(caught.value)
    run.do(StartTask(dag_id=DAG, task="a"))
    run.do(FinishTask(dag_id=DAG, task="a"))
    run.do(StartTask(dag_id=DAG, task="b"))
    with pytest.raises(DagWorkersBusy, match="already runs 1 tasks, its limit is 1"):
        decide_task(run.dags, StartTask(dag_id=DAG, task="c"), seq=1, time=1)


# -- the reducer refuses events that cannot follow ---------------------------------------------------


def _at(run: Walk, **fields):
    seq = len(run.history) + 1
    return {"seq": seq, "time": seq, "dag_id": DAG, **fields}


@pytest.mark.parametrize(
    ("setup", "event", "match"),
    [
        ([], lambda r: TaskStarted(**_at(r, task="d")), "pending"),
        ([], lambda r: TaskReady(**_at(r, task="d")), "wait for"),
        ([], lambda r: TaskSucceeded(**_at(r, task="a")), "ready"),
        ([], lambda r: TaskStarted(**_at(r, task="zz")), "zz"),
        ([], lambda r: TaskStarted(**_at(r, task="a", dag_id=4)), "submitted DAG"),
        ([], lambda r: TaskUpstreamFailed(**_at(r, task="b")), "failed for good"),
        ([], lambda r: DagFinished(**_at(r, status=DagStatus.SUCCEEDED)), "succeeded tasks"),
        ([], lambda r: DagFinished(**_at(r, status=DagStatus.FAILED)), "can still change"),
        ([], lambda r: DagFinished(**_at(r, status=DagStatus.RUNNING)), "final status"),
        (
            [],
            lambda r: DagSubmitted(**_at(r, owner="o", tasks=("x",), edges=(), workers=1, retries=0)),
            "new id",
        ),
        ([], lambda r: "a string", "DAG event type"),
        (["start a"], lambda r: TaskFailed(**_at(r, task="a", attempt=2, final=True, reason="")), "attempt"),
        (["start a"], lambda r: TaskFailed(**_at(r, task="a", attempt=1, final=False, reason="")), "final"),
        (["start a"], lambda r: TaskStarted(**_at(r, task="a")), "running"),
        (["start a", "finish a", "start b"], lambda r: TaskStarted(**_at(r, task="c")), "fewer than 1"),
        (["start a", "fail a"], lambda r: TaskReady(**_at(r, task="a")), "no retry"),
        (["start a", "fail a"], lambda r: TaskStarted(**_at(r, task="b")), "upstream_failed"),
        (["start e", "finish e", "start a", "fail a"], lambda r: TaskReady(**_at(r, task="a")), "finished"),
        (["cancel"], lambda r: TaskReady(**_at(r, task="a")), "finished"),
    ],
)
def test_apply_refuses_an_event_that_cannot_follow_and_the_map_is_unchanged(setup, event, match):
    # The diamond a -> b, c -> d and an independent task e, one worker, no retry.
    run = submitted((*DIAMOND[0], "e"), DIAMOND[1], workers=1, retries=0)
    verbs = {"start": StartTask, "finish": FinishTask, "fail": FailTask}
    for step in setup:
        if step == "cancel":
            run.do(CancelDag(dag_id=DAG, reason="test"))
        else:
            verb, task = step.split()
            run.do(verbs[verb](dag_id=DAG, task=task))
    dags = run.dags
    snapshot = dag_digest(dags[DAG])
    with pytest.raises(EventOutOfOrder, match=match):
        apply_dag(dags, event(run))
    assert dag_digest(dags[DAG]) == snapshot and fold(run.history) == dags


@pytest.mark.parametrize(
    "event",
    [
        DagSubmitted(seq=1, time=1, dag_id=1, owner="o", tasks=("a", "a"), edges=(), workers=1, retries=0),
        DagSubmitted(
            seq=1, time=1, dag_id=1, owner="o", tasks=("a",), edges=(("a", "b"),), workers=1, retries=0
        ),
        DagSubmitted(seq=1, time=1, dag_id=1, owner="o", tasks=("a",), edges=(), workers=0, retries=0),
        DagSubmitted(seq=1, time=1, dag_id=1, owner="o", tasks=("a",), edges=(), workers=1, retries=-1),
    ],
)
def test_apply_refuses_a_malformed_submission(event):
    with pytest.raises(EventOutOfOrder):
        apply_dag(EMPTY, event)


# -- replay, sharing, events --------------------------------------------------------------------------


@given(
    plan=plans(), workers=st.integers(1, 4), retries=st.integers(0, 2), faults=st.integers(0, 4), seed=SEEDS
)
def test_replaying_the_history_rebuilds_the_same_dag(plan, workers, retries, faults, seed):
    tasks, edges = plan
    run = walk(tasks, edges, workers=workers, retries=retries, seed=seed, faults=faults)
    rebuilt = fold(run.history)
    assert rebuilt == run.dags
    assert dag_digest(rebuilt[DAG]) == dag_digest(run.dag)
    assert run.dag.tasks.digest == run.dag.tasks.recomputed_digest()
    assert run.dag.attempts.digest == run.dag.attempts.recomputed_digest()
    assert [inv.name for inv in DAG_INVARIANTS if inv.check(run.dag) is not None] == []


def test_a_task_event_shares_the_plan_and_the_other_tasks_with_the_previous_dag():
    tasks = tuple(f"t{i:04d}" for i in range(2000))
    run = submitted(tasks, tuple(itertools.pairwise(tasks)), workers=8, retries=0)
    before = run.dag
    run.do(StartTask(dag_id=DAG, task=tasks[0]))
    after = run.dag
    for field in ("order", "edges", "successors", "predecessors", "position", "unmet"):
        assert getattr(after, field) is getattr(before, field), field
    assert after.tasks[tasks[1]] is S.PENDING and after.tasks is not before.tasks
    assert after != before and after.running == 1


@given(plan=plans(), faults=st.integers(0, 3), seed=SEEDS)
def test_every_dag_event_round_trips_through_the_converter_as_json(plan, faults, seed):
    tasks, edges = plan
    run = walk(tasks, edges, workers=2, retries=1, seed=seed, faults=faults)
    if not run.dag.finished:
        run.do(CancelDag(dag_id=DAG, reason="stop"))
    converter = make_converter()
    for event in run.history:
        payload = json.loads(json.dumps(converter.unstructure(event)))
        assert converter.structure(payload, type(event)) == event


def test_every_event_type_has_its_own_stable_tag_and_the_shape_of_an_event():
    assert set(DAG_EVENT_TAGS) == set(DAG_EVENTS) and len(DAG_EVENTS) == 8
    tags = list(DAG_EVENT_TAGS.values())
    assert len(set(tags)) == len(tags)
    for cls, tag in DAG_EVENT_TAGS.items():
        assert tag.startswith("dag.") and cls.__name__ not in tag
        names = [f.name for f in attrs.fields(cls)]
        assert names[:3] == ["seq", "time", "dag_id"], cls
        assert "__slots__" in cls.__dict__ and all(f.kw_only for f in attrs.fields(cls))
        assert not any(issubclass(cls, other) for other in DAG_EVENTS if other is not cls)
    sample = TaskReady(seq=1, time=1, dag_id=1, task="a")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        sample.task = "b"  # type: ignore[misc]


def test_the_phase_table_is_the_documented_task_lifecycle():
    # Ready -> upstream-failed cannot happen today (a ready task's ancestors all
    # succeeded), but the lifecycle allows it, so that a later cause of blocking fits.
    documented = {
        (S.PENDING, TaskReady): S.READY,
        (S.FAILED, TaskReady): S.READY,
        (S.READY, TaskStarted): S.RUNNING,
        (S.RUNNING, TaskSucceeded): S.SUCCEEDED,
        (S.RUNNING, TaskFailed): S.FAILED,
        (S.PENDING, TaskUpstreamFailed): S.UPSTREAM_FAILED,
        (S.READY, TaskUpstreamFailed): S.UPSTREAM_FAILED,
        (S.PENDING, TaskCancelled): S.CANCELLED,
        (S.READY, TaskCancelled): S.CANCELLED,
        (S.RUNNING, TaskCancelled): S.CANCELLED,
    }
    assert documented == DAG_TASK.table


def test_the_phase_table_moves_only_from_non_final_states_and_never_out_of_a_final_one():
    final = {S.SUCCEEDED, S.UPSTREAM_FAILED, S.CANCELLED}
    assert not [key for key in DAG_TASK.table if key[0] in final]
    reachable = {S.PENDING}
    frontier = deque([S.PENDING])
    while frontier:
        state = frontier.popleft()
        for (before, _), after in DAG_TASK.table.items():
            if before is state and after not in reachable:
                reachable.add(after)
                frontier.append(after)
    assert reachable == set(TaskState)


# -- the standalone spec: simulation and exhaustive exploration ---------------------------------------


@given(
    plan=plans(),
    workers=st.integers(1, 3),
    retries=st.integers(0, 2),
    faults=st.integers(0, 3),
    cancel=st.booleans(),
    seed=SEEDS,
)
def test_simulating_dag_spec_runs_to_a_finished_dag_without_a_violation(
    plan, workers, retries, faults, cancel, seed
):
    tasks, edges = plan
    spec = dag_spec(tasks, edges, workers=workers, retries=retries, max_failures=faults, cancel=cancel)
    result = simulate(spec, seed=seed, steps=10_000)
    assert result.ok, str(result.violation)
    assert result.deadlock and result.state.dag.finished
    assert result.state.seq == spec.init().seq + sum(len(events) for _, events in result.steps)


def _end_statuses(spec) -> set[DagStatus]:
    """Every status a DAG of ``spec`` ends in, by a plain search of its own."""
    start = spec.init()
    seen = {spec.key(start)}
    queue = deque([start])
    ends = set()
    while queue:
        state = queue.popleft()
        actions = spec.enabled(state)
        if not actions:
            ends.add(state.dag.status)
        for action in actions:
            nxt = reduce(spec.apply, spec.decide(state, action), state)
            if spec.key(nxt) not in seen:
                seen.add(spec.key(nxt))
                queue.append(nxt)
    return ends


@pytest.mark.parametrize(
    ("workers", "retries", "max_failures", "cancel", "ends"),
    [
        (2, 1, 1, False, {DagStatus.SUCCEEDED}),
        (2, 1, 2, False, {DagStatus.SUCCEEDED, DagStatus.FAILED}),
        (2, 0, 2, True, {DagStatus.SUCCEEDED, DagStatus.FAILED, DagStatus.CANCELLED}),
        (1, 1, 3, True, {DagStatus.SUCCEEDED, DagStatus.FAILED, DagStatus.CANCELLED}),
    ],
)
def test_exploring_every_order_of_a_diamond_finds_no_violation(workers, retries, max_failures, cancel, ends):
    spec = dag_spec(*DIAMOND, workers=workers, retries=retries, max_failures=max_failures, cancel=cancel)
    result = explore(spec)
    assert result.violation is None, result.violation.format()
    assert result.complete and result.distinct_states > 20
    assert _end_statuses(spec) == ends


def _offering_pending_starts(spec):
    def enabled(state):
        dag = state.dag
        extra = [StartTask(dag_id=DAG, task=t) for t in dag.order if dag.tasks[t] is S.PENDING]
        return (
            [*spec.enabled(state), *extra]
            if dag.running < dag.workers and not dag.finished
            else spec.enabled(state)
        )

    return attrs.evolve(spec, enabled=enabled)


def test_a_planted_phase_table_row_that_starts_pending_tasks_is_caught_by_the_explorer(monkeypatch):
    spec = _offering_pending_starts(dag_spec(*DIAMOND, workers=2, retries=1, max_failures=1))
    # Without the row, decide refuses what the buggy enabled offers: a model bug.
    with pytest.raises(EnabledActionFailed) as caught:
        explore(spec)
    assert isinstance(caught.value.cause, DagTaskInWrongState)
    monkeypatch.setitem(DAG_TASK.table, (S.PENDING, TaskStarted), S.RUNNING)
    result = explore(spec)
    assert result.violation is not None and result.violation.invariant == "predecessors first"
    assert result.violation.depth == 1
    replay_counterexample(spec, result.violation)


def _blocking_nothing(decide):
    """The planted bug: a task's final failure blocks none of its descendants, so (with
    other tasks unsettled) the DAG does not end either."""

    def decide_(state, action):
        events = [e for e in decide(state, action) if not isinstance(e, TaskUpstreamFailed | DagFinished)]
        return [attrs.evolve(e, seq=state.seq + 1 + i) for i, e in enumerate(events)]

    return decide_


def test_a_planted_failure_that_blocks_no_descendant_is_caught_by_the_explorer():
    spec = dag_spec(*DIAMOND, workers=2, retries=0, max_failures=1)
    assert explore(spec).violation is None
    buggy = attrs.evolve(spec, decide=_blocking_nothing(spec.decide))
    result = explore(buggy)
    assert result.violation is not None and result.violation.invariant == "failure isolation"
    assert [type(a) for a in result.violation.actions()] == [StartTask, FailTask]
    replay_counterexample(buggy, result.violation)


def _corrupted(change):
    run = submitted(*DIAMOND, workers=2, retries=1)
    run.do(StartTask(dag_id=DAG, task="a"))
    run.do(FinishTask(dag_id=DAG, task="a"))
    run.do(StartTask(dag_id=DAG, task="b"))
    run.do(StartTask(dag_id=DAG, task="c"))
    dag = run.dag
    assert all(inv.check(dag) is None for inv in DAG_INVARIANTS)
    return change(dag)


@pytest.mark.parametrize(
    ("invariant", "change"),
    [
        ("at most W running", lambda d: attrs.evolve(d, workers=1)),
        ("predecessors first", lambda d: attrs.evolve(d, tasks=d.tasks.set("d", S.READY))),
        (
            "upstream failure has a cause",
            lambda d: attrs.evolve(d, tasks=d.tasks.set("d", S.UPSTREAM_FAILED)),
        ),
        ("failure isolation", lambda d: attrs.evolve(d, tasks=d.tasks.set("d", S.CANCELLED))),
        (
            "failure isolation",
            lambda d: attrs.evolve(d, tasks=d.tasks.set("b", S.FAILED), attempts=d.attempts.set("b", 2)),
        ),
        ("retries respected", lambda d: attrs.evolve(d, attempts=d.attempts.set("a", 3))),
        (
            "retries respected",
            lambda d: attrs.evolve(d, tasks=d.tasks.set("b", S.FAILED), attempts=d.attempts.set("b", 1)),
        ),
        ("counters match", lambda d: attrs.evolve(d, running=1)),
        ("counters match", lambda d: attrs.evolve(d, unsettled=0)),
        ("status consistent", lambda d: attrs.evolve(d, status=DagStatus.SUCCEEDED)),
        (
            "status consistent",
            lambda d: attrs.evolve(d, tasks=d.tasks.set("b", S.PENDING).set("c", S.PENDING), running=0),
        ),
    ],
)
def test_each_dag_invariant_reports_a_state_that_breaks_it(invariant, change):
    dag = _corrupted(change)
    (check,) = [inv.check for inv in DAG_INVARIANTS if inv.name == invariant]
    message = check(dag)
    assert message is not None and message


@pytest.mark.slow
@given(plan=plans(max_tasks=5), workers=st.integers(1, 3), retries=st.integers(0, 1))
def test_exploring_small_random_dags_with_faults_and_cancel_finds_no_violation(plan, workers, retries):
    tasks, edges = plan
    result = explore(dag_spec(tasks, edges, workers=workers, retries=retries, max_failures=2, cancel=True))
    assert result.violation is None, result.violation.format()
    assert result.complete
