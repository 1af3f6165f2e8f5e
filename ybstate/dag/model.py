"""The values of the DAG scheduler: task and DAG states, and one submitted DAG.

A :class:`Dag` is immutable. Its per-task collections are persistent maps, so the
reducer changes one task in O(log n) and shares everything else with the previous
version; the plan (order, edges, successors, predecessors) is computed once, when the
DAG is submitted, and shared by every later version.

Pure: no I/O.
"""

from __future__ import annotations

import enum

import attrs
import immutables

from ybstate.hashing import digest
from ybstate.pmap import HMap

__all__ = ["TaskState", "DagStatus", "Dag", "dag_digest"]


class TaskState(enum.Enum):
    PENDING = "pending"
    READY = "ready"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UPSTREAM_FAILED = "upstream_failed"


class DagStatus(enum.Enum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


@attrs.frozen(kw_only=True)
class Dag:
    """One submitted DAG.

    ``tasks`` maps every task name to its :class:`TaskState`; ``attempts`` holds the
    failed attempts so far of each task that failed at least once. ``running`` and
    ``succeeded`` count tasks in those states.

    The fields after ``succeeded`` are derived, kept so that every step costs O(log n):
    they are excluded from equality and repr, since ``tasks`` and ``attempts`` with the
    plan determine them.

    * ``successors``, ``predecessors``: name -> names, each tuple in ``order``;
    * ``position``: name -> index in ``order``;
    * ``plan_digest``: a stable digest of the plan (order and edges);
    * ``unmet``: name -> how many of its predecessors have not succeeded;
    * ``ready_index``, ``running_index``: name -> position, for the READY (RUNNING) tasks;
    * ``unsettled``: tasks that can still change (pending, ready, running, or failed with
      a retry left); the DAG is done when it reaches 0;
    * ``failed``, ``cancelled``: tasks failed for good, tasks cancelled.

    A finally failed task is one in FAILED whose ``attempts`` exceed ``retries``; a
    FAILED task with attempts left is only ever seen between a failure and its retry
    (within the events of one action).
    """

    dag_id: int
    owner: str
    workers: int
    retries: int
    status: DagStatus
    order: tuple[str, ...]
    edges: tuple[tuple[str, str], ...]
    tasks: HMap[str, TaskState]
    attempts: HMap[str, int]
    running: int
    succeeded: int
    successors: immutables.Map = attrs.field(eq=False, repr=False)
    predecessors: immutables.Map = attrs.field(eq=False, repr=False)
    position: immutables.Map = attrs.field(eq=False, repr=False)
    plan_digest: int = attrs.field(eq=False, repr=False)
    unmet: immutables.Map = attrs.field(eq=False, repr=False)
    ready_index: immutables.Map = attrs.field(eq=False, repr=False)
    running_index: immutables.Map = attrs.field(eq=False, repr=False)
    unsettled: int = attrs.field(eq=False, repr=False)
    failed: int = attrs.field(eq=False, repr=False)
    cancelled: int = attrs.field(eq=False, repr=False)

    def ready(self) -> list[str]:
        """The READY tasks, in ``order``."""
        return _by_position(self.ready_index)

    def running_tasks(self) -> list[str]:
        """The RUNNING tasks, in ``order``."""
        return _by_position(self.running_index)

    @property
    def finished(self) -> bool:
        return self.status is not DagStatus.RUNNING

    def failed_attempts(self, task: str) -> int:
        """How many times ``task`` has failed so far."""
        found = self.attempts.get(task)
        return 0 if found is None else found

    def finally_failed(self, task: str) -> bool:
        """Whether ``task`` failed and has no retry left."""
        return self.tasks[task] is TaskState.FAILED and self.failed_attempts(task) > self.retries


def _by_position(index: immutables.Map) -> list[str]:
    # Sorting (position, name) pairs: positions are unique, so names are never compared.
    return [name for _, name in sorted((at, name) for name, at in index.items())]


def dag_digest(dag: Dag) -> int:
    """A stable 128-bit digest of ``dag`` in O(1): equal DAGs have equal digests.

    Use it (not an :class:`~ybstate.pmap.HMap` of DAGs, whose entry digests read the
    repr, which spells out the whole plan) to fingerprint a state holding DAGs.
    """
    return digest(
        (
            dag.dag_id,
            dag.owner,
            dag.workers,
            dag.retries,
            dag.status,
            dag.running,
            dag.succeeded,
            dag.plan_digest,
            dag.tasks.digest,
            dag.attempts.digest,
        )
    )
