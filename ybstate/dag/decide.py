"""Deciding what happens to a DAG: submit, start, finish, fail, cancel; and what may.

``decide_submit`` and ``decide_task`` validate a request against the current DAGs and
return the events it makes, numbered ``seq``, ``seq + 1``, ... and all at ``time``; they
never change anything (the DAGs are immutable), and a refusal raises a specific
:class:`~ybstate.errors.ActionRejected`. ``enabled_dag`` lists every action possible
next, in a deterministic order, for the simulator and the explorer to choose from.

Pure. Refusals: :class:`~ybstate.errors.CyclicPlan`, :class:`~ybstate.errors.InvalidPlan`
(malformed submission), :class:`~ybstate.errors.UnknownDag`,
:class:`~ybstate.errors.UnknownDagTask`, :class:`~ybstate.errors.DagNotRunning`,
:class:`~ybstate.errors.DagTaskInWrongState`, :class:`~ybstate.errors.DagWorkersBusy`,
:class:`~ybstate.errors.InvalidAction` (not a DAG action).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import immutables

from ybstate.dag.events import (
    CancelDag,
    DagAction,
    DagEvent,
    DagFinished,
    DagSubmitted,
    FailTask,
    FinishTask,
    StartTask,
    TaskCancelled,
    TaskFailed,
    TaskReady,
    TaskStarted,
    TaskSucceeded,
    TaskUpstreamFailed,
)
from ybstate.dag.lifecycle import DAG_TASK
from ybstate.dag.model import Dag, DagStatus, TaskState
from ybstate.dag.plan import build_plan
from ybstate.errors import (
    DagNotRunning,
    DagTaskInWrongState,
    DagWorkersBusy,
    InvalidAction,
    InvalidPlan,
    UnknownDag,
    UnknownDagTask,
)

__all__ = ["decide_submit", "decide_task", "enabled_dag"]

_S = TaskState


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def decide_submit(
    dags: immutables.Map,
    *,
    dag_id: int,
    owner: str,
    tasks: Iterable[str],
    edges: Iterable[tuple[str, str]],
    workers: int,
    retries: int,
    seq: int,
    time: int,
) -> list[DagEvent]:
    """``DagSubmitted``, then ``TaskReady`` for each root in ``order`` (and, for a DAG
    without tasks, ``DagFinished(SUCCEEDED)`` at once)."""
    if dag_id in dags:
        raise InvalidPlan("dag_id", dag_id, "is already in use", dag_id)
    if not isinstance(owner, str):
        raise InvalidPlan("owner", owner, "must be a string", dag_id)
    if not _is_int(workers) or workers < 1:
        raise InvalidPlan("workers", workers, "must be an int >= 1", dag_id)
    if not _is_int(retries) or retries < 0:
        raise InvalidPlan("retries", retries, "must be an int >= 0", dag_id)
    names = tuple(tasks)
    plan = build_plan(names, edges, dag_id)
    events: list[DagEvent] = [
        DagSubmitted(
            seq=seq,
            time=time,
            dag_id=dag_id,
            owner=owner,
            tasks=names,
            edges=plan.edges,
            workers=workers,
            retries=retries,
        )
    ]
    for name in plan.order:
        if not plan.predecessors[name]:
            events.append(TaskReady(seq=seq + len(events), time=time, dag_id=dag_id, task=name))
    if not plan.order:
        events.append(DagFinished(seq=seq + 1, time=time, dag_id=dag_id, status=DagStatus.SUCCEEDED))
    return events


def decide_task(dags: immutables.Map, action: DagAction, *, seq: int, time: int) -> list[DagEvent]:
    """The events of ``action`` (StartTask, FinishTask, FailTask or CancelDag)."""
    handler = _DECIDERS.get(type(action))
    if handler is None:
        raise InvalidAction(f"not a DAG action: {action!r}")
    dag = dags.get(action.dag_id)
    if dag is None:
        raise UnknownDag(action.dag_id)
    if dag.status is not DagStatus.RUNNING:
        raise DagNotRunning(action, dag.dag_id, dag.status)
    return handler(dag, action, seq, time)


def _require(dag: Dag, action: StartTask | FinishTask | FailTask, event_type: type) -> None:
    """Refuse ``action`` unless its task may take ``event_type`` (read from the table)."""
    state = dag.tasks.get(action.task)
    if state is None:
        raise UnknownDagTask(dag.dag_id, action.task)
    if not DAG_TASK.allows(state, event_type):
        raise DagTaskInWrongState(action, dag.dag_id, action.task, state, DAG_TASK.legal_before(event_type))


def _start(dag: Dag, a: StartTask, seq: int, time: int) -> list[DagEvent]:
    _require(dag, a, TaskStarted)
    if dag.running >= dag.workers:
        raise DagWorkersBusy(a, dag.dag_id, dag.workers, dag.running)
    return [TaskStarted(seq=seq, time=time, dag_id=dag.dag_id, task=a.task)]


def _finish(dag: Dag, a: FinishTask, seq: int, time: int) -> list[DagEvent]:
    _require(dag, a, TaskSucceeded)
    dag_id = dag.dag_id
    events: list[DagEvent] = [TaskSucceeded(seq=seq, time=time, dag_id=dag_id, task=a.task)]
    unmet = dag.unmet
    tasks = dag.tasks
    for name in dag.successors[a.task]:
        # This task is the last predecessor it waits for.
        if unmet[name] == 1 and tasks[name] is _S.PENDING:
            events.append(TaskReady(seq=seq + len(events), time=time, dag_id=dag_id, task=name))
    if dag.unsettled == 1:
        status = DagStatus.FAILED if dag.failed else DagStatus.SUCCEEDED
        events.append(DagFinished(seq=seq + len(events), time=time, dag_id=dag_id, status=status))
    return events


def _fail(dag: Dag, a: FailTask, seq: int, time: int) -> list[DagEvent]:
    _require(dag, a, TaskFailed)
    dag_id = dag.dag_id
    attempt = dag.failed_attempts(a.task) + 1
    final = attempt > dag.retries
    events: list[DagEvent] = [
        TaskFailed(
            seq=seq, time=time, dag_id=dag_id, task=a.task, attempt=attempt, final=final, reason=a.reason
        )
    ]
    if not final:
        events.append(TaskReady(seq=seq + 1, time=time, dag_id=dag_id, task=a.task))
        return events
    blocked = _to_block(dag, a.task)
    for name in blocked:
        events.append(TaskUpstreamFailed(seq=seq + len(events), time=time, dag_id=dag_id, task=name))
    # Failure isolation: the DAG ends only once no independent branch can run any more.
    if dag.unsettled - 1 - len(blocked) == 0:
        events.append(DagFinished(seq=seq + len(events), time=time, dag_id=dag_id, status=DagStatus.FAILED))
    return events


def _to_block(dag: Dag, failed: str) -> list[str]:
    """The descendants of ``failed`` that become upstream-failed, in ``order``.

    A descendant already upstream-failed is not walked through: an earlier failure
    blocked everything below it already.
    """
    tasks = dag.tasks
    successors = dag.successors
    seen: set[str] = set()
    found = []
    stack = list(successors[failed])
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        if DAG_TASK.allows(tasks[name], TaskUpstreamFailed):
            found.append(name)
            stack.extend(successors[name])
    position = dag.position
    found.sort(key=position.__getitem__)
    return found


def _cancel(dag: Dag, a: CancelDag, seq: int, time: int) -> list[DagEvent]:
    dag_id = dag.dag_id
    tasks = dag.tasks
    events: list[DagEvent] = []
    for name in dag.order:
        if DAG_TASK.allows(tasks[name], TaskCancelled):
            events.append(TaskCancelled(seq=seq + len(events), time=time, dag_id=dag_id, task=name))
    events.append(DagFinished(seq=seq + len(events), time=time, dag_id=dag_id, status=DagStatus.CANCELLED))
    return events


_DECIDERS: dict[type, Callable[[Dag, Any, int, int], list[DagEvent]]] = {
    StartTask: _start,
    FinishTask: _finish,
    FailTask: _fail,
    CancelDag: _cancel,
}


def enabled_dag(dag: Dag, *, faults: bool) -> list[DagAction]:
    """Every action possible next: StartTask for each ready task while a worker is free
    (in ``order``), FinishTask for each running task, then FailTask for each running
    task when ``faults``. Nothing once the DAG has finished."""
    if dag.status is not DagStatus.RUNNING:
        return []
    dag_id = dag.dag_id
    actions: list[DagAction] = []
    if dag.running < dag.workers:
        actions = [StartTask(dag_id=dag_id, task=name) for name in dag.ready()]
    running = dag.running_tasks()
    actions.extend(FinishTask(dag_id=dag_id, task=name) for name in running)
    if faults:
        actions.extend(FailTask(dag_id=dag_id, task=name) for name in running)
    return actions
