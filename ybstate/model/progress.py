"""What a proper end of the cluster is, and what must stay possible (issue 13).

:func:`stuck` declares the cluster's final states for the explorer's deadlock check: a
state in which nothing is enabled is a proper end when no backup, restore or promotion is
in a phase its lifecycle can leave (``Lifecycle.final``); otherwise it says which are
stuck, and where. Transactions are left out on purpose: an open transaction waits for its
client (the environment), and a scope's log bound may leave it open for good.

:data:`PROGRESS` are the progress properties a check file may name (DESIGN 13,
``[check] progress``): for each kind of task, ``<task>_can_complete`` (every task
underway can still reach COMPLETED) and ``<task>_can_end`` (every task underway can
still reach a final phase: completed, failed or cancelled; for a promotion completed,
rolled back or stopped). docs/checks.md says which to use when.

Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from ybstate.backup.events import BACKUP_TASK
from ybstate.cluster.state import ClusterState
from ybstate.kernel import Completion, Lifecycle
from ybstate.promote.events import PROMOTION_TASK
from ybstate.restore.derive import awaited
from ybstate.restore.events import RESTORE_TASK
from ybstate.restore.state import RestorePhase

__all__ = ["PROGRESS", "TASKS", "stuck"]

Tasks = Callable[[ClusterState], Any]

TASKS: tuple[tuple[str, Tasks, Lifecycle], ...] = (
    ("backup", lambda state: state.backups, BACKUP_TASK),
    ("restore", lambda state: state.restores, RESTORE_TASK),
    ("promotion", lambda state: state.promotions, PROMOTION_TASK),
)
"""Each kind of task the cluster runs: its name, where the state keeps them (id -> task,
each with a ``phase``), and its lifecycle, whose final phases (none leads out of them)
are where a task has ended."""

_FINALS = {kind: frozenset(lifecycle.final()) for kind, _, lifecycle in TASKS}


def _waiting(state: ClusterState, kind: str, task: Any) -> str:
    """What a task stuck in its phase waits for, where the model can tell: a replaying
    restore's applier."""
    if kind == "restore" and task.phase is RestorePhase.RESTORING_INCREMENTAL and not task.stopped:
        return f" (its applier {awaited(state, task)})"
    return ""


def stuck(state: ClusterState) -> str | None:
    """None when ``state`` is a proper end (every task in a final phase), else the tasks
    still underway, each with its phase and, for a replaying restore, what its applier
    waits for ("restore task 1 in RESTORING_INCREMENTAL (its applier waits for ...)")."""
    underway = [
        f"{lifecycle.name} {ident} in {task.phase.value}{_waiting(state, kind, task)}"
        for kind, tasks, lifecycle in TASKS
        for ident, task in sorted(tasks(state).items())
        if task.phase not in _FINALS[kind]
    ]
    return "; ".join(underway) if underway else None


def _underway(tasks: Tasks, finals: frozenset) -> Callable[[ClusterState], tuple[Hashable, ...]]:
    def pending(state: ClusterState) -> tuple[Hashable, ...]:
        return tuple(ident for ident, task in tasks(state).items() if task.phase not in finals)

    return pending


def _in(tasks: Tasks, phases: frozenset) -> Callable[[ClusterState], tuple[Hashable, ...]]:
    def done(state: ClusterState) -> tuple[Hashable, ...]:
        return tuple(ident for ident, task in tasks(state).items() if task.phase in phases)

    return done


def _properties() -> dict[str, Completion[ClusterState]]:
    found = {}
    for kind, tasks, lifecycle in TASKS:
        finals = _FINALS[kind]
        completed = frozenset(phase for phase in finals if phase.name == "COMPLETED")
        ends = ", ".join(sorted(phase.value for phase in finals))
        for name, phases, message in (
            (
                f"{kind}_can_complete",
                completed,
                f"{lifecycle.name} {{thing}} can no longer complete: no path from here reaches COMPLETED",
            ),
            (
                f"{kind}_can_end",
                finals,
                f"{lifecycle.name} {{thing}} can no longer end: no path from here reaches any of {ends}",
            ),
        ):
            found[name] = Completion(
                name=name, pending=_underway(tasks, finals), done=_in(tasks, phases), message=message
            )
    return found


PROGRESS: dict[str, Completion[ClusterState]] = _properties()
"""Every progress property a check file may name, by name."""
