"""The life of a task, as a table.

``TASK_TRANSITIONS[(state, EventType)]`` is the state a task moves to when that event
happens to it; a pair that is not in the table is illegal. ``decide_task`` reads it to
refuse an action, ``apply_dag`` to refuse an event, and a notebook can draw the
lifecycle from it.

The table says which moves exist; a few need more than the task's own state, and the
reducer checks those too: ready from pending needs every predecessor succeeded, ready
from failed needs a retry left, started needs a free worker, upstream-failed needs a
predecessor that failed for good (or was itself blocked by one).
"""

from __future__ import annotations

from ybstate.dag.events import (
    TaskCancelled,
    TaskFailed,
    TaskReady,
    TaskStarted,
    TaskSucceeded,
    TaskUpstreamFailed,
)
from ybstate.dag.model import TaskState
from ybstate.errors import EventOutOfOrder

__all__ = ["TASK_TRANSITIONS", "legal_before", "next_task_state"]

_S = TaskState

TASK_TRANSITIONS: dict[tuple[TaskState, type], TaskState] = {
    (_S.PENDING, TaskReady): _S.READY,
    (_S.FAILED, TaskReady): _S.READY,  # a retry
    (_S.READY, TaskStarted): _S.RUNNING,
    (_S.RUNNING, TaskSucceeded): _S.SUCCEEDED,
    (_S.RUNNING, TaskFailed): _S.FAILED,
    (_S.PENDING, TaskUpstreamFailed): _S.UPSTREAM_FAILED,
    (_S.READY, TaskUpstreamFailed): _S.UPSTREAM_FAILED,
    (_S.PENDING, TaskCancelled): _S.CANCELLED,
    (_S.READY, TaskCancelled): _S.CANCELLED,
    (_S.RUNNING, TaskCancelled): _S.CANCELLED,
}


def legal_before(event_type: type) -> tuple[TaskState, ...]:
    """The states a task may be in for ``event_type`` to happen to it, in enum order."""
    return tuple(s for s in TaskState if (s, event_type) in TASK_TRANSITIONS)


def next_task_state(dag_id: int, task: str, state: TaskState, event_type: type) -> TaskState:
    """The state after ``event_type``; raises EventOutOfOrder if the table has no such move."""
    after = TASK_TRANSITIONS.get((state, event_type))
    if after is None:
        legal = [s.value for s in legal_before(event_type)] or ["none"]
        raise EventOutOfOrder(
            f"for {event_type.__name__}, task {task!r} of DAG {dag_id} in one of", legal, state.value
        )
    return after
