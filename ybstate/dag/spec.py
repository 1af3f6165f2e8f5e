"""One DAG on its own, as a :class:`~ybstate.kernel.Spec`, for the checkers.

The state is a :class:`DagSpecState`: the event count, the DAG map holding the one DAG
(id 1, submitted by ``init``), and how many faults were used. ``enabled`` offers what
:func:`~ybstate.dag.decide.enabled_dag` offers, with faults while fewer than
``max_failures`` were used (and, with ``cancel=True``, a cancel while the DAG runs);
``decide`` and ``apply`` wrap the scheduler's functions, ``apply`` checking ``seq``. The
invariants are :data:`~ybstate.dag.invariants.DAG_INVARIANTS` plus the fault count.

Pure. ``dag_spec`` raises the submission's refusals (:class:`~ybstate.errors.CyclicPlan`,
:class:`~ybstate.errors.InvalidPlan`) and :class:`~ybstate.errors.InvalidParameter`.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import reduce

import attrs
import immutables

from ybstate.dag.decide import decide_submit, decide_task, enabled_dag
from ybstate.dag.events import CancelDag, DagAction, DagEvent, TaskFailed
from ybstate.dag.invariants import DAG_INVARIANTS
from ybstate.dag.model import Dag, DagStatus, dag_digest
from ybstate.dag.reducer import apply_dag
from ybstate.errors import EventOutOfOrder, InvalidParameter
from ybstate.evolve import evolver
from ybstate.kernel import Invariant, Spec

__all__ = ["DagSpecState", "SPEC_DAG_ID", "dag_spec"]

SPEC_DAG_ID = 1


@attrs.frozen(kw_only=True)
class DagSpecState:
    seq: int
    dags: immutables.Map
    failures: int

    @property
    def dag(self) -> Dag:
        return self.dags[SPEC_DAG_ID]


_evolve = evolver(DagSpecState)


def _apply(state: DagSpecState, event: DagEvent) -> DagSpecState:
    if event.seq != state.seq + 1:
        raise EventOutOfOrder("seq", state.seq + 1, event.seq)
    failures = state.failures + 1 if type(event) is TaskFailed else state.failures
    return _evolve(state, seq=event.seq, dags=apply_dag(state.dags, event), failures=failures)


def _decide(state: DagSpecState, action: DagAction) -> list[DagEvent]:
    return decide_task(state.dags, action, seq=state.seq + 1, time=state.seq + 1)


def _key(state: DagSpecState) -> tuple[int, int, int]:
    return (state.seq, state.failures, dag_digest(state.dag))


def _faults_counted(state: DagSpecState) -> str | None:
    attempts = sum(state.dag.attempts.values())
    if attempts != state.failures:
        return f"{state.failures} faults were injected, the DAG counts {attempts} failed attempts"
    return None


def _on_the_dag(invariant: Invariant[Dag]) -> Invariant[DagSpecState]:
    check = invariant.check
    return Invariant(name=invariant.name, check=lambda state: check(state.dag))


def dag_spec(
    tasks: Iterable[str],
    edges: Iterable[tuple[str, str]],
    *,
    workers: int,
    retries: int,
    max_failures: int,
    cancel: bool = False,
) -> Spec:
    """The scheduler running one DAG of ``tasks`` and ``edges``.

    At most ``max_failures`` task failures are injected over a run; with ``cancel`` the
    DAG may also be cancelled at any point while it runs.
    """
    if isinstance(max_failures, bool) or not isinstance(max_failures, int) or max_failures < 0:
        raise InvalidParameter("max_failures", max_failures, "must be an int >= 0")
    events = decide_submit(
        immutables.Map(),
        dag_id=SPEC_DAG_ID,
        owner="spec",
        tasks=tuple(tasks),
        edges=tuple(edges),
        workers=workers,
        retries=retries,
        seq=1,
        time=1,
    )
    start = DagSpecState(seq=len(events), dags=reduce(apply_dag, events, immutables.Map()), failures=0)
    cancel_action = CancelDag(dag_id=SPEC_DAG_ID, reason="operator")

    def enabled(state: DagSpecState) -> list[DagAction]:
        dag = state.dag
        actions = enabled_dag(dag, faults=state.failures < max_failures)
        if cancel and dag.status is DagStatus.RUNNING:
            actions.append(cancel_action)
        return actions

    return Spec(
        name="dag",
        init=lambda: start,
        enabled=enabled,
        decide=_decide,
        apply=_apply,
        key=_key,
        invariants=(
            *(_on_the_dag(inv) for inv in DAG_INVARIANTS),
            Invariant(name="faults counted", check=_faults_counted),
        ),
    )
