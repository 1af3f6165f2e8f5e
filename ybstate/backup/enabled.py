"""Backup actions that may happen next, within a :class:`~ybstate.cluster.enabled.Scope`."""

from __future__ import annotations

from ybstate import dag
from ybstate.backup.actions import AdvanceBackup, CancelBackup, DropVersion, StartBackup
from ybstate.backup.decide import advanceable, available_version, running_backup
from ybstate.backup.state import BackupPhase
from ybstate.cluster.state import ClusterState

__all__ = ["backup_enabled"]


def backup_enabled(state: ClusterState, scope) -> list[object]:
    actions: list[object] = []
    if scope.max_backups and len(state.backups) < scope.max_backups and available_version(state, 0):
        for name in scope.tenants:
            tenant = state.tenant_named(name)
            if tenant is not None and running_backup(state, tenant.tenant_id) is None:
                actions.append(
                    StartBackup(
                        tenant=name,
                        destination=f"{state.config.backup_root}/{name}",
                        parallel=scope.backup_parallel,
                    )
                )
    faults = state.task_failures < scope.copy_faults
    for task_id in sorted(state.backups.keys()):
        task = state.backups[task_id]
        if task.final:
            continue
        if advanceable(state, task):
            actions.append(AdvanceBackup(task_id=task_id))
        if task.phase is BackupPhase.DOING and not state.dags[task.dag_id].finished:
            actions.extend(dag.enabled_dag(state.dags[task.dag_id], faults=faults))
        if scope.cancel_backups:
            actions.append(CancelBackup(task_id=task_id))
    if scope.drop_versions:
        pinned = {task.pins for task in state.backups.values()}
        for version in range(1, state.frozen_version):
            if state.frozen[version].available and version not in pinned:
                actions.append(DropVersion(version=version))
    return actions
