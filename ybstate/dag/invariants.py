"""Invariants of one DAG, checked over a whole :class:`~ybstate.dag.model.Dag`.

Each returns None when it holds, or a message naming the first offending task. They
read every task (O(n) or worse): the checkers call them on small DAGs. They hold between
actions, that is after all the events of one decision; a model that embeds the scheduler
checks each of its DAGs with :data:`DAG_INVARIANTS`.
"""

from __future__ import annotations

from collections import Counter

from ybstate.dag.model import Dag, DagStatus, TaskState
from ybstate.kernel import Invariant

__all__ = ["DAG_INVARIANTS", "ancestors"]

_S = TaskState
_OPEN = (_S.PENDING, _S.READY, _S.RUNNING)


def ancestors(dag: Dag) -> dict[str, frozenset[str]]:
    """Every task's ancestors (computed in ``order``, so predecessors come first)."""
    found: dict[str, frozenset[str]] = {}
    for name in dag.order:
        above: set[str] = set()
        for p in dag.predecessors[name]:
            above.add(p)
            above |= found[p]
        found[name] = frozenset(above)
    return found


def _failed_ancestor(dag: Dag, above: frozenset[str]) -> str | None:
    for name in dag.order:
        if name in above and dag.finally_failed(name):
            return name
    return None


def at_most_workers_running(dag: Dag) -> str | None:
    running = [name for name in dag.order if dag.tasks[name] is _S.RUNNING]
    if len(running) > dag.workers:
        return f"{len(running)} tasks run at once, the limit is {dag.workers}: {running}"
    return None


def predecessors_first(dag: Dag) -> str | None:
    """No task is ready, running or succeeded before all its predecessors succeeded."""
    for name in dag.order:
        state = dag.tasks[name]
        if state in (_S.READY, _S.RUNNING, _S.SUCCEEDED):
            for p in dag.predecessors[name]:
                if dag.tasks[p] is not _S.SUCCEEDED:
                    return (
                        f"task {name!r} is {state.value} while its predecessor {p!r} is {dag.tasks[p].value}"
                    )
    return None


def upstream_failure_has_a_cause(dag: Dag) -> str | None:
    """An upstream-failed task has an ancestor that failed for good."""
    above = ancestors(dag)
    for name in dag.order:
        if dag.tasks[name] is _S.UPSTREAM_FAILED and _failed_ancestor(dag, above[name]) is None:
            return f"task {name!r} is upstream_failed but no ancestor of it failed for good"
    return None


def failure_isolation(dag: Dag) -> str | None:
    """A failure blocks exactly its descendants.

    Below a task that failed for good, every task is upstream-failed. Any other task is
    never upstream-failed, is cancelled only by a cancel, and has succeeded by the time
    the DAG finishes (unless it failed itself or the DAG was cancelled).
    """
    above = ancestors(dag)
    status = dag.status
    for name in dag.order:
        state = dag.tasks[name]
        cause = _failed_ancestor(dag, above[name])
        if cause is not None:
            if state is not _S.UPSTREAM_FAILED:
                return f"task {name!r} is {state.value} although its ancestor {cause!r} failed for good"
            continue
        if state is _S.UPSTREAM_FAILED:
            return f"task {name!r} is upstream_failed but no ancestor of it failed"
        if state is _S.CANCELLED and status is not DagStatus.CANCELLED:
            return f"task {name!r} is cancelled in a DAG that is {status.value}"
        ended = status in (DagStatus.SUCCEEDED, DagStatus.FAILED)
        if ended and state is not _S.SUCCEEDED and not dag.finally_failed(name):
            return f"DAG finished {status.value} while task {name!r}, below no failure, is {state.value}"
    return None


def retries_respected(dag: Dag) -> str | None:
    """Attempts are counted for failed tasks only, never beyond retries + 1, and a failed
    task is seen only once its retries are used up (a retry follows a failure at once)."""
    for name, attempts in dag.attempts.items():
        if not 1 <= attempts <= dag.retries + 1:
            return f"task {name!r} has {attempts} failed attempts, allowed 1..{dag.retries + 1}"
    for name in dag.order:
        if dag.tasks[name] is _S.FAILED and not dag.finally_failed(name):
            used = dag.failed_attempts(name)
            return f"task {name!r} failed with a retry left ({used} of {dag.retries}) but was not retried"
    return None


def counters_match(dag: Dag) -> str | None:
    """``running``, ``succeeded`` and the derived indexes agree with the task map."""
    counts = Counter(dag.tasks.values())
    if dag.running != counts[_S.RUNNING]:
        return f"running is {dag.running}, the task map has {counts[_S.RUNNING]} running tasks"
    if dag.succeeded != counts[_S.SUCCEEDED]:
        return f"succeeded is {dag.succeeded}, the task map has {counts[_S.SUCCEEDED]} succeeded tasks"
    if len(dag.tasks) != len(dag.order) or set(dag.tasks) != set(dag.order):
        return f"the task map holds {sorted(dag.tasks)}, the plan {sorted(dag.order)}"
    if dag.tasks.digest != dag.tasks.recomputed_digest():
        return "the task map's digest differs from its recomputed digest"
    for index, state in ((dag.ready_index, _S.READY), (dag.running_index, _S.RUNNING)):
        listed = {name for name in dag.order if dag.tasks[name] is state}
        if set(index) != listed:
            return f"the {state.value} index holds {sorted(index)}, the task map {sorted(listed)}"
    for name in dag.order:
        waiting = sum(dag.tasks[p] is not _S.SUCCEEDED for p in dag.predecessors[name])
        if dag.unmet[name] != waiting:
            return f"task {name!r} waits for {waiting} predecessors, unmet says {dag.unmet[name]}"
    failed = sum(dag.finally_failed(name) for name in dag.order)
    settled = counts[_S.SUCCEEDED] + counts[_S.UPSTREAM_FAILED] + counts[_S.CANCELLED] + failed
    derived = (dag.unsettled, dag.failed, dag.cancelled)
    expected = (len(dag.order) - settled, failed, counts[_S.CANCELLED])
    if derived != expected:
        return f"(unsettled, failed, cancelled) is {derived}, the task map gives {expected}"
    return None


def status_consistent(dag: Dag) -> str | None:
    """The DAG's status says what its tasks say; a running DAG can make progress."""
    states = Counter(dag.tasks.values())
    open_tasks = sum(states[s] for s in _OPEN)
    failed = sum(dag.finally_failed(name) for name in dag.order)
    status = dag.status
    if status is DagStatus.SUCCEEDED and states[_S.SUCCEEDED] != len(dag.order):
        return f"DAG succeeded with tasks {_census(states)}"
    if status is DagStatus.FAILED and (open_tasks or states[_S.CANCELLED] or not failed):
        return f"DAG failed with tasks {_census(states)}"
    if status is DagStatus.CANCELLED and (open_tasks or not states[_S.CANCELLED]):
        return f"DAG cancelled with tasks {_census(states)}"
    if status is DagStatus.RUNNING and (states[_S.CANCELLED] or not states[_S.READY] + states[_S.RUNNING]):
        return f"DAG still running with tasks {_census(states)}: no task can make progress"
    return None


def _census(states: Counter) -> dict[str, int]:
    return {s.value: states[s] for s in TaskState if states[s]}


DAG_INVARIANTS: tuple[Invariant[Dag], ...] = (
    Invariant(name="at most W running", check=at_most_workers_running),
    Invariant(name="predecessors first", check=predecessors_first),
    Invariant(name="upstream failure has a cause", check=upstream_failure_has_a_cause),
    Invariant(name="failure isolation", check=failure_isolation),
    Invariant(name="retries respected", check=retries_respected),
    Invariant(name="counters match", check=counters_match),
    Invariant(name="status consistent", check=status_consistent),
)
