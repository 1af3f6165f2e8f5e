"""The DAG scheduler (DESIGN 6): a pure, event-sourced component that models embed.

A DAG of tasks is submitted (``decide_submit``); tasks become ready when their
predecessors have succeeded, at most ``workers`` run at once, a failed task is retried
up to ``retries`` times and then blocks only its descendants, and a DAG can be
cancelled. ``decide_task`` turns an action into events, ``apply_dag`` folds an event
into the map of DAGs, ``enabled_dag`` lists what may happen next; ``dag_spec`` wraps one
DAG as a :class:`~ybstate.kernel.Spec` for the simulator and the explorer. Inside the
cluster's state the scheduler is the ``dag`` subsystem (:data:`DAG`, in ``subsystem.py``):
DAGs belong to an :class:`Owner`, whose :class:`DagHooks` say what a finished task does.

Pure: no I/O, no clock, no randomness.
"""

from ybstate.dag.decide import decide_submit, decide_task, enabled_dag
from ybstate.dag.events import (
    DAG_EVENT_TAGS,
    DAG_EVENTS,
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
from ybstate.dag.invariants import DAG_INVARIANTS
from ybstate.dag.lifecycle import DAG_TASK
from ybstate.dag.model import Dag, DagStatus, TaskState, dag_digest
from ybstate.dag.plan import plan_order
from ybstate.dag.reducer import apply_dag
from ybstate.dag.spec import SPEC_DAG_ID, DagSpecState, dag_spec
from ybstate.dag.subsystem import DAG, OWNER_HOOK, DagHooks, DagScope, Owner
from ybstate.errors import (
    CyclicPlan,
    DagNotRunning,
    DagTaskInWrongState,
    DagWorkersBusy,
    InvalidPlan,
    UnknownDag,
    UnknownDagTask,
)

__all__ = [
    "DAG",
    "DagHooks",
    "DagScope",
    "OWNER_HOOK",
    "Owner",
    "TaskState",
    "DagStatus",
    "Dag",
    "dag_digest",
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
    "CyclicPlan",
    "InvalidPlan",
    "UnknownDag",
    "UnknownDagTask",
    "DagTaskInWrongState",
    "DagWorkersBusy",
    "DagNotRunning",
    "plan_order",
    "decide_submit",
    "decide_task",
    "apply_dag",
    "enabled_dag",
    "DAG_TASK",
    "DAG_INVARIANTS",
    "DagSpecState",
    "SPEC_DAG_ID",
    "dag_spec",
]
