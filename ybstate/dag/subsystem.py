"""The DAG scheduler inside the cluster's state, as the ``dag`` subsystem.

Backups and restores run their tablet copies and fetches as DAGs of the scheduler. The
DAGs live in ``ClusterState.dags``; this module applies the scheduler's events there
(keeping ``dags_digest`` and the count of failed attempts) and decides the task actions
(start, finish, fail a task), which every owner's ``enabled`` offers.

A DAG belongs to an :class:`Owner` (a kind and an id, stored as ``"kind:id"`` in
``DagSubmitted.owner`` and parsed back here only). When a task finishes, the owner's
:class:`DagHooks` say what follows in the same decision (a backup copies the tablet, a
restore loads it). Owners lend their hooks under :data:`OWNER_HOOK` in their subsystem
record; :func:`bind` collects them when the model is composed, so the scheduler never
imports its owners.

Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import attrs

from ybstate.cluster.costs import shared
from ybstate.cluster.state import ClusterState, evolve_state
from ybstate.dag.decide import decide_task
from ybstate.dag.events import (
    DAG_ACTION_TAGS,
    DAG_EVENT_TAGS,
    DAG_EVENTS,
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
from ybstate.dag.model import TaskState, dag_digest
from ybstate.dag.reducer import apply_dag
from ybstate.errors import CompositionError, EventOutOfOrder, InvalidAction
from ybstate.hashing import DIGEST_MASK
from ybstate.kernel import Subsystem

__all__ = ["DAG", "OWNER_HOOK", "DagHooks", "DagScope", "Finish", "Owner", "dags_digest"]

OWNER_HOOK = "dag.owner"
"""The hook point under which a subsystem that submits DAGs lends its :class:`DagHooks`."""


@attrs.frozen
class Owner:
    """Who submitted a DAG: a kind (one per owning subsystem) and the id of its task."""

    kind: str
    id: int

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"

    @classmethod
    def parse(cls, text: str) -> Owner:
        """The owner a stored ``"kind:id"`` names."""
        kind, colon, ident = text.partition(":")
        if not colon or not kind or not (ident.isascii() and ident.isdigit()):
            raise InvalidAction(f"a DAG owner is 'kind:id', found {text!r}")
        return cls(kind, int(ident))


@attrs.frozen
class Finish:
    """What a task's owner does when the task finishes: ``work``, its cost in microseconds
    from the cluster's cost table (docs/durations.md), and ``events(seq, time)``, the
    events that follow the task's ``TaskSucceeded`` (and any ``TaskReady``/``DagFinished``)
    in the same decision, numbered from ``seq``, at ``time``."""

    work: int
    events: Callable[[int, int], list[object]]


@attrs.frozen(kw_only=True)
class DagHooks:
    """What the owner of a DAG does when one of its tasks finishes.

    ``on_finish(state, owner_id, task)`` gives the :class:`Finish`, read from the state
    the decision starts from. The finish moves the clock by its work shared among the
    tasks that run at once: the DAG's parallel degree, at most its task count.
    """

    kind: str
    on_finish: Callable[[ClusterState, int, str], Finish]


@attrs.frozen(kw_only=True)
class DagScope:
    """The scheduler's part of what the checkers may do: ``task_faults`` DAG task attempts
    may fail in all (tablet copies of backups and fetches of restores alike)."""

    task_faults: int = 0


def dags_digest(state: ClusterState) -> int:
    """``ClusterState.dags_digest`` recomputed from every DAG (the fingerprint's check)."""
    return sum(dag_digest(d) for d in state.dags.values()) & DIGEST_MASK


def _dag_event(state: ClusterState, e) -> ClusterState:
    changes = {}
    if isinstance(e, DagSubmitted):
        if e.dag_id != state.next_dag_id:
            raise EventOutOfOrder("dag_id", state.next_dag_id, e.dag_id)
        changes["next_dag_id"] = e.dag_id + 1
    elif isinstance(e, TaskFailed):
        changes["task_failures"] = state.task_failures + 1
    dags = apply_dag(state.dags, e)
    before = state.dags.get(e.dag_id)
    digest = state.dags_digest + dag_digest(dags[e.dag_id])
    if before is not None:
        digest -= dag_digest(before)
    return evolve_state(
        state, seq=e.seq, clock=e.time, dags=dags, dags_digest=digest & DIGEST_MASK, **changes
    )


def _task_decider(hooks: Mapping[str, DagHooks]) -> Callable[[ClusterState, object], list[object]]:
    def decide_task_action(state: ClusterState, action: StartTask | FinishTask | FailTask) -> list[object]:
        graph = state.dags.get(action.dag_id)
        if graph is None:
            raise InvalidAction(f"there is no DAG {action.dag_id}")
        seq = state.seq + 1
        owner = Owner.parse(graph.owner)
        hook = hooks.get(owner.kind) if isinstance(action, FinishTask) else None
        time = state.clock
        finish = None
        if hook is not None and graph.tasks.get(action.task) is TaskState.RUNNING:
            finish = hook.on_finish(state, owner.id, action.task)
            time += shared(finish.work, min(graph.workers, len(graph.order)))
        events: list[object] = list(decide_task(state.dags, action, seq=seq, time=time))
        if finish is not None:
            events.extend(finish.events(seq + len(events), time))
        return events

    return decide_task_action


def _deciders(hooks: Mapping[str, DagHooks]) -> dict[type, Callable]:
    # No CancelDag: an owner's DAG is cancelled by cancelling the owner's task.
    decider = _task_decider(hooks)
    return {StartTask: decider, FinishTask: decider, FailTask: decider}


def bind(dag: Subsystem, parts: tuple[Subsystem, ...]) -> Subsystem:
    """The scheduler with the hooks of every part that owns DAGs."""
    hooks: dict[str, DagHooks] = {}
    for part in parts:
        lent = part.hooks.get(OWNER_HOOK)
        if lent is None:
            continue
        if lent.kind in hooks:
            raise CompositionError(f"two subsystems own DAGs of kind {lent.kind!r}")
        hooks[lent.kind] = lent
    return attrs.evolve(dag, deciders=_deciders(hooks), bind=None)


DAG = Subsystem(
    name="dag",
    deciders=_deciders({}),
    handlers={event_type: _dag_event for event_type in DAG_EVENTS},
    event_tags=DAG_EVENT_TAGS,
    action_tags=DAG_ACTION_TAGS,
    requests={
        TaskStarted: lambda s, e: StartTask(dag_id=e.dag_id, task=e.task),
        TaskSucceeded: lambda s, e: FinishTask(dag_id=e.dag_id, task=e.task),
        TaskFailed: lambda s, e: FailTask(dag_id=e.dag_id, task=e.task, reason=e.reason),
    },
    followers=frozenset({DagSubmitted, TaskReady, TaskUpstreamFailed, TaskCancelled, DagFinished}),
    scope=DagScope,
    lifecycles=(DAG_TASK,),
    bind=bind,
)
"""The scheduler's record; the composition root binds it to the owners' hooks."""
