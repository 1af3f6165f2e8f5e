"""Events and actions of the DAG scheduler.

Events say what happened, in the past tense; each carries ``seq`` and ``time`` first
(numbered by whoever embeds the scheduler), then the ``dag_id`` it concerns. Each class
has an explicit stable tag in :data:`DAG_EVENT_TAGS`, never its class name, so a rename
cannot corrupt a stored history.

Actions are requests (start, finish or fail a task, cancel a DAG): ``decide_task`` may
refuse them.
"""

from __future__ import annotations

import attrs

from ybstate.dag.model import DagStatus

__all__ = [
    "DAG_ACTION_TAGS",
    "DagSubmitted",
    "TaskReady",
    "TaskStarted",
    "TaskSucceeded",
    "TaskFailed",
    "TaskUpstreamFailed",
    "TaskCancelled",
    "DagFinished",
    "DagEvent",
    "DAG_EVENTS",
    "DAG_EVENT_TAGS",
    "StartTask",
    "FinishTask",
    "FailTask",
    "CancelDag",
    "DagAction",
]


@attrs.frozen(kw_only=True)
class DagSubmitted:
    """A DAG of ``tasks`` with ``edges`` (a, b): b runs only after a succeeded.

    At most ``workers`` of its tasks run at once; a failed task is retried ``retries``
    times before it fails for good. ``edges`` are sorted.
    """

    seq: int
    time: int
    dag_id: int
    owner: str
    tasks: tuple[str, ...]
    edges: tuple[tuple[str, str], ...]
    workers: int
    retries: int


@attrs.frozen(kw_only=True)
class TaskReady:
    """pending -> ready when its last predecessor succeeded (roots: at submit), or
    failed -> ready for a retry."""

    seq: int
    time: int
    dag_id: int
    task: str


@attrs.frozen(kw_only=True)
class TaskStarted:
    """ready -> running: a worker took the task."""

    seq: int
    time: int
    dag_id: int
    task: str


@attrs.frozen(kw_only=True)
class TaskSucceeded:
    """running -> succeeded."""

    seq: int
    time: int
    dag_id: int
    task: str


@attrs.frozen(kw_only=True)
class TaskFailed:
    """running -> failed: the task's ``attempt``-th failure; ``final`` when it exceeds the
    DAG's retries, so that no retry follows."""

    seq: int
    time: int
    dag_id: int
    task: str
    attempt: int
    final: bool
    reason: str


@attrs.frozen(kw_only=True)
class TaskUpstreamFailed:
    """pending/ready -> upstream_failed: an ancestor failed for good."""

    seq: int
    time: int
    dag_id: int
    task: str


@attrs.frozen(kw_only=True)
class TaskCancelled:
    """pending/ready/running -> cancelled: the DAG was cancelled."""

    seq: int
    time: int
    dag_id: int
    task: str


@attrs.frozen(kw_only=True)
class DagFinished:
    """No task can make progress any more: the DAG ends with ``status``."""

    seq: int
    time: int
    dag_id: int
    status: DagStatus


DagEvent = (
    DagSubmitted
    | TaskReady
    | TaskStarted
    | TaskSucceeded
    | TaskFailed
    | TaskUpstreamFailed
    | TaskCancelled
    | DagFinished
)

DAG_EVENTS: tuple[type, ...] = (
    DagSubmitted,
    TaskReady,
    TaskStarted,
    TaskSucceeded,
    TaskFailed,
    TaskUpstreamFailed,
    TaskCancelled,
    DagFinished,
)

DAG_EVENT_TAGS: dict[type, str] = {
    DagSubmitted: "dag.submitted",
    TaskReady: "dag.task_ready",
    TaskStarted: "dag.task_started",
    TaskSucceeded: "dag.task_succeeded",
    TaskFailed: "dag.task_failed",
    TaskUpstreamFailed: "dag.task_upstream_failed",
    TaskCancelled: "dag.task_cancelled",
    DagFinished: "dag.finished",
}


@attrs.frozen(kw_only=True)
class StartTask:
    """A worker takes a ready task."""

    dag_id: int
    task: str


@attrs.frozen(kw_only=True)
class FinishTask:
    """A running task completes."""

    dag_id: int
    task: str


@attrs.frozen(kw_only=True)
class FailTask:
    """A running task fails (a fault)."""

    dag_id: int
    task: str
    reason: str = "fault"


@attrs.frozen(kw_only=True)
class CancelDag:
    """Cancel a running DAG: every task that has not ended is cancelled."""

    dag_id: int
    reason: str


DagAction = StartTask | FinishTask | FailTask | CancelDag


DAG_ACTION_TAGS: dict[type, str] = {
    FailTask: "dag.fail_task",
    FinishTask: "dag.finish_task",
    StartTask: "dag.start_task",
}
"""The stored tag of each dag action (a trace of actions round-trips by it; never the class name)."""
