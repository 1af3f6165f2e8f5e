"""Restore actions that may happen next, within the scope's ``restore`` section
(:class:`RestoreScope`) and the DAG's fault budget (``scope.dag.task_faults``: baseline
fetches fail within it, as backup copies do)."""

from __future__ import annotations

import attrs

from ybstate import dag
from ybstate.cluster.state import ClusterState
from ybstate.errors import ActionRejected
from ybstate.restore.actions import (
    AdvanceRestore,
    ApplyEntry,
    CancelRestore,
    FailApply,
    ReadArchived,
    RewriteEntry,
    StallWorker,
    StartRestore,
    TimeOutRestore,
)
from ybstate.restore.derive import failable, pending_of, readable, released, restore_advanceable, timed_out
from ybstate.restore.plan import plan_restore
from ybstate.restore.state import RestorePhase

__all__ = ["RestoreScope", "restore_enabled", "restore_probes"]


@attrs.frozen(kw_only=True)
class RestoreScope:
    """Which tenants may be restored (to "latest" or to a mark), how many restores in all,
    the pipeline's workers and reorder bound (0: twice the workers), how many workers may
    stall in all, how many times in all the applier may fail to apply an entry (the
    restore then fails; under ``skip_failed_apply`` the entry is skipped), and whether
    restores may be cancelled."""

    restore_sources: tuple[str, ...] = ()
    max_restores: int = 0
    restore_workers: int = 2
    restore_capacity: int = 0
    worker_stalls: int = 0
    apply_faults: int = 0
    cancel_restores: bool = False


def restore_enabled(state: ClusterState, scope) -> list[object]:
    own: RestoreScope = scope.restore
    actions: list[object] = []
    if len(state.restores) < own.max_restores:
        target = f"r{state.next_restore_task_id}"
        for source in own.restore_sources:
            for until in ("latest", *sorted(state.marks.keys())):
                try:
                    plan_restore(state, source, until)
                except ActionRejected:
                    continue
                actions.append(
                    StartRestore(
                        source=source,
                        target=target,
                        until=until,
                        workers=own.restore_workers,
                        capacity=own.restore_capacity,
                    )
                )
    faults = state.task_failures < scope.dag.task_faults
    stalls = sum(len(t.stalled) for t in state.restores.values()) < own.worker_stalls
    apply_faults = sum(t.apply_failures for t in state.restores.values()) < own.apply_faults
    for task_id in sorted(state.restores.keys()):
        task = state.restores[task_id]
        if task.final:
            continue
        if restore_advanceable(state, task):
            actions.append(AdvanceRestore(task_id=task_id))
        if (
            task.phase is RestorePhase.RESTORING_BASELINE
            and task.dag_id
            and not state.dags[task.dag_id].finished
        ):
            actions.extend(dag.enabled_dag(state.dags[task.dag_id], faults=faults))
        if task.phase is RestorePhase.RESTORING_INCREMENTAL and not task.stopped:
            if readable(state, task):
                actions.append(ReadArchived(task_id=task_id))
            for worker in range(task.workers):
                if worker not in task.stalled and pending_of(task, worker) is not None:
                    actions.append(RewriteEntry(task_id=task_id, worker=worker))
            if released(state, task) is not None:
                actions.append(ApplyEntry(task_id=task_id))
                if apply_faults and failable(state, task) is not None:
                    actions.append(FailApply(task_id=task_id))
            if timed_out(task) is not None:
                actions.append(TimeOutRestore(task_id=task_id))
            if stalls:
                actions.extend(
                    StallWorker(task_id=task_id, worker=w)
                    for w in range(task.workers)
                    if w not in task.stalled
                )
        if own.cancel_restores:
            actions.append(CancelRestore(task_id=task_id))
    return actions


def restore_probes(state: ClusterState, scope) -> list[object]:
    """The steps a restore's own components could take at any moment, offered or not: for
    every running restore, in whatever phase, advance it, the reader reads, each worker
    rewrites, the applier applies, the timeout fires (outside the replay, each must be
    refused for its phase). The explorer tries those ``enabled``
    does not offer, each of which must be refused (or be harmless)."""
    probes: list[object] = []
    for task_id in sorted(state.restores.keys()):
        task = state.restores[task_id]
        if task.final:
            continue
        probes.extend(
            (AdvanceRestore(task_id=task_id), ReadArchived(task_id=task_id), ApplyEntry(task_id=task_id))
        )
        probes.extend(RewriteEntry(task_id=task_id, worker=w) for w in range(task.workers))
        probes.append(TimeOutRestore(task_id=task_id))
    return probes
