"""The life of a task, as a :class:`~ybstate.kernel.Lifecycle`.

``DAG_TASK.table[(state, EventType)]`` is the state a task moves to when that event happens
to it; a pair that is not in the table is illegal. ``decide_task`` asks it before it
makes an event, ``apply_dag`` to refuse one, and a notebook can draw it.

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
from ybstate.kernel import Lifecycle

__all__ = ["DAG_TASK"]

_S = TaskState

DAG_TASK: Lifecycle[TaskState] = Lifecycle(
    "task",
    TaskState,
    {
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
    },
)
