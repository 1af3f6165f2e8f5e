"""The DAG reducer: ``apply_dag(dags, event) -> dags``.

``dags`` is an ``immutables.Map`` from dag id to :class:`~ybstate.dag.model.Dag`. One
handler per event type, from an explicit dict. Each checks that the event can follow the
DAG (the move is in the :data:`~ybstate.dag.lifecycle.DAG_TASK` lifecycle, and the extra
conditions that table's module lists hold) and raises
:class:`~ybstate.errors.EventOutOfOrder` otherwise, so a replayed or foreign history is
validated as it goes. ``seq`` and ``time`` are not checked here: the embedding reducer
owns them.

Pure. A task event costs O(log n) in the size of its DAG (plus O(successors) when a task
succeeds); only ``DagSubmitted`` reads the whole plan, once, through networkx.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import immutables

from ybstate.dag.events import (
    DagEvent,
    DagFinished,
    DagSubmitted,
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
from ybstate.errors import ActionRejected, EventOutOfOrder
from ybstate.evolve import evolver
from ybstate.hashing import DIGEST_MASK, digest
from ybstate.pmap import HMap

__all__ = ["apply_dag", "new_dag"]

_evolve = evolver(Dag)
_S = TaskState
_EMPTY: immutables.Map = immutables.Map()


def apply_dag(dags: immutables.Map, event: DagEvent) -> immutables.Map:
    """Fold one DAG event into ``dags``."""
    kind = type(event)
    if isinstance(event, DagSubmitted):
        return _submitted(dags, event)
    handler = _HANDLERS.get(kind)
    if handler is None:
        known = sorted(t.__name__ for t in (DagSubmitted, *_HANDLERS))
        raise EventOutOfOrder("a DAG event type", known, kind.__name__)
    dag = dags.get(event.dag_id)
    if dag is None:
        raise EventOutOfOrder("the id of a submitted DAG", sorted(dags), event.dag_id)
    if dag.status is not DagStatus.RUNNING:
        raise EventOutOfOrder(
            f"no {kind.__name__} after DAG {dag.dag_id} finished; its status", "running", dag.status.value
        )
    return dags.set(event.dag_id, handler(dag, event))


def new_dag(event: DagSubmitted) -> Dag:
    """The DAG ``event`` submits, every task pending: the plan is computed here, once."""
    if isinstance(event.workers, bool) or not isinstance(event.workers, int) or event.workers < 1:
        raise EventOutOfOrder(f"workers >= 1 for DAG {event.dag_id}", ">= 1", event.workers)
    if isinstance(event.retries, bool) or not isinstance(event.retries, int) or event.retries < 0:
        raise EventOutOfOrder(f"retries >= 0 for DAG {event.dag_id}", ">= 0", event.retries)
    try:
        plan = build_plan(event.tasks, event.edges, event.dag_id)
    except ActionRejected as rejected:
        raise EventOutOfOrder(f"a valid plan for DAG {event.dag_id}", "a valid plan", str(rejected)) from None
    pending = _S.PENDING
    digests = {name: digest((name, pending)) for name in plan.order}
    tasks: HMap[str, TaskState] = HMap(
        immutables.Map({name: pending for name in plan.order}),
        sum(digests.values()) & DIGEST_MASK,
        immutables.Map(digests),
    )
    return Dag(
        dag_id=event.dag_id,
        owner=event.owner,
        workers=event.workers,
        retries=event.retries,
        status=DagStatus.RUNNING,
        order=plan.order,
        edges=plan.edges,
        tasks=tasks,
        attempts=HMap(),
        running=0,
        succeeded=0,
        successors=immutables.Map(plan.successors),
        predecessors=immutables.Map(plan.predecessors),
        position=immutables.Map(plan.position),
        plan_digest=digest((plan.order, plan.edges)),
        unmet=immutables.Map({name: len(before) for name, before in plan.predecessors.items()}),
        ready_index=_EMPTY,
        running_index=_EMPTY,
        unsettled=len(plan.order),
        failed=0,
        cancelled=0,
    )


def _submitted(dags: immutables.Map, e: DagSubmitted) -> immutables.Map:
    if e.dag_id in dags:
        raise EventOutOfOrder("a dag_id not yet used", "a new id", e.dag_id)
    return dags.set(e.dag_id, new_dag(e))


def _state(dag: Dag, task: str) -> TaskState:
    state = dag.tasks.get(task)
    if state is None:
        raise EventOutOfOrder(f"a task of DAG {dag.dag_id}", f"one of {len(dag.order)} tasks", task)
    return state


def _moved(dag: Dag, task: str, before: TaskState, after: TaskState, **changes) -> Dag:
    """``dag`` with ``task`` moved from ``before`` to ``after``, its indexes kept in step."""
    ready_index = dag.ready_index
    running_index = dag.running_index
    running = dag.running
    if before is _S.READY:
        ready_index = ready_index.delete(task)
    elif before is _S.RUNNING:
        running_index = running_index.delete(task)
        running -= 1
    if after is _S.READY:
        ready_index = ready_index.set(task, dag.position[task])
    elif after is _S.RUNNING:
        running_index = running_index.set(task, dag.position[task])
        running += 1
    return _evolve(
        dag,
        tasks=dag.tasks.set(task, after),
        ready_index=ready_index,
        running_index=running_index,
        running=running,
        **changes,
    )


def _task_ready(dag: Dag, e: TaskReady) -> Dag:
    before = _state(dag, e.task)
    after = DAG_TASK.next(before, TaskReady, f"{e.task!r} of DAG {dag.dag_id}")
    if before is _S.PENDING and dag.unmet[e.task]:
        waiting = [p for p in dag.predecessors[e.task] if dag.tasks[p] is not _S.SUCCEEDED]
        raise EventOutOfOrder(f"task {e.task!r} of DAG {dag.dag_id} to wait for", waiting, "ready")
    if before is _S.FAILED and dag.attempts[e.task] > dag.retries:
        raise EventOutOfOrder(
            f"no retry of task {e.task!r} of DAG {dag.dag_id}: failed attempts",
            f"<= {dag.retries}",
            dag.attempts[e.task],
        )
    return _moved(dag, e.task, before, after)


def _task_started(dag: Dag, e: TaskStarted) -> Dag:
    before = _state(dag, e.task)
    after = DAG_TASK.next(before, TaskStarted, f"{e.task!r} of DAG {dag.dag_id}")
    if dag.running >= dag.workers:
        raise EventOutOfOrder(
            f"fewer than {dag.workers} running tasks in DAG {dag.dag_id} to start {e.task!r}",
            dag.workers - 1,
            dag.running,
        )
    return _moved(dag, e.task, before, after)


def _task_succeeded(dag: Dag, e: TaskSucceeded) -> Dag:
    before = _state(dag, e.task)
    after = DAG_TASK.next(before, TaskSucceeded, f"{e.task!r} of DAG {dag.dag_id}")
    following = dag.successors[e.task]
    unmet = dag.unmet
    if len(following) > 8:
        with unmet.mutate() as m:
            for name in following:
                m[name] -= 1
            unmet = m.finish()
    else:
        for name in following:
            unmet = unmet.set(name, unmet[name] - 1)
    return _moved(
        dag,
        e.task,
        before,
        after,
        succeeded=dag.succeeded + 1,
        unsettled=dag.unsettled - 1,
        unmet=unmet,
    )


def _task_failed(dag: Dag, e: TaskFailed) -> Dag:
    before = _state(dag, e.task)
    after = DAG_TASK.next(before, TaskFailed, f"{e.task!r} of DAG {dag.dag_id}")
    attempt = dag.failed_attempts(e.task) + 1
    if e.attempt != attempt:
        raise EventOutOfOrder(f"attempt of task {e.task!r} of DAG {dag.dag_id}", attempt, e.attempt)
    final = attempt > dag.retries
    if e.final is not final:
        raise EventOutOfOrder(
            f"final for attempt {attempt} of task {e.task!r} with {dag.retries} retries", final, e.final
        )
    changes: dict[str, Any] = {"attempts": dag.attempts.set(e.task, attempt)}
    if final:
        changes.update(unsettled=dag.unsettled - 1, failed=dag.failed + 1)
    return _moved(dag, e.task, before, after, **changes)


def _task_upstream_failed(dag: Dag, e: TaskUpstreamFailed) -> Dag:
    before = _state(dag, e.task)
    after = DAG_TASK.next(before, TaskUpstreamFailed, f"{e.task!r} of DAG {dag.dag_id}")
    blocked = _S.UPSTREAM_FAILED
    if not any(dag.tasks[p] is blocked or dag.finally_failed(p) for p in dag.predecessors[e.task]):
        raise EventOutOfOrder(
            f"a predecessor of task {e.task!r} of DAG {dag.dag_id} failed for good, among",
            list(dag.predecessors[e.task]),
            "none",
        )
    return _moved(dag, e.task, before, after, unsettled=dag.unsettled - 1)


def _task_cancelled(dag: Dag, e: TaskCancelled) -> Dag:
    before = _state(dag, e.task)
    after = DAG_TASK.next(before, TaskCancelled, f"{e.task!r} of DAG {dag.dag_id}")
    return _moved(dag, e.task, before, after, unsettled=dag.unsettled - 1, cancelled=dag.cancelled + 1)


def _dag_finished(dag: Dag, e: DagFinished) -> Dag:
    status = e.status
    where = f"DagFinished({getattr(status, 'value', status)}) of DAG {dag.dag_id}"
    if status is DagStatus.SUCCEEDED:
        if dag.succeeded != len(dag.order):
            raise EventOutOfOrder(f"{where}: succeeded tasks", len(dag.order), dag.succeeded)
    elif status in (DagStatus.FAILED, DagStatus.CANCELLED):
        if dag.unsettled:
            raise EventOutOfOrder(f"{where}: tasks that can still change", 0, dag.unsettled)
        if status is DagStatus.FAILED and (dag.failed == 0 or dag.cancelled):
            raise EventOutOfOrder(
                f"{where}: (tasks failed for good, tasks cancelled)", "(>= 1, 0)", (dag.failed, dag.cancelled)
            )
        if status is DagStatus.CANCELLED and dag.cancelled == 0:
            raise EventOutOfOrder(f"{where}: cancelled tasks", ">= 1", 0)
    else:
        raise EventOutOfOrder(f"{where}: a final status", "succeeded, failed or cancelled", status)
    return _evolve(dag, status=status)


_HANDLERS: dict[type, Callable[[Dag, Any], Dag]] = {
    TaskReady: _task_ready,
    TaskStarted: _task_started,
    TaskSucceeded: _task_succeeded,
    TaskFailed: _task_failed,
    TaskUpstreamFailed: _task_upstream_failed,
    TaskCancelled: _task_cancelled,
    DagFinished: _dag_finished,
}
