"""Backup actions that may happen next, within the scope's ``backup`` section
(:class:`BackupScope`) and the DAG's fault budget (``scope.dag.task_faults``)."""

from __future__ import annotations

import attrs

from ybstate import dag
from ybstate.backup.actions import AdvanceBackup, CancelBackup, DropVersion, StartBackup
from ybstate.backup.derive import advanceable, available_version, running_backup
from ybstate.backup.state import BackupPhase
from ybstate.cluster.state import ClusterState

__all__ = ["BackupScope", "backup_enabled", "backup_probes"]


@attrs.frozen(kw_only=True)
class BackupScope:
    """How many backups may be started in all (of the scope's tenants), their parallel
    degree, and whether backups may be cancelled and unpinned frozen versions dropped."""

    max_backups: int = 0
    backup_parallel: int = 2
    cancel_backups: bool = False
    drop_versions: bool = False


def backup_enabled(state: ClusterState, scope) -> list[object]:
    own: BackupScope = scope.backup
    actions: list[object] = []
    if own.max_backups and len(state.backups) < own.max_backups and available_version(state, 0):
        for name in scope.cluster.tenants:
            tenant = state.tenant_named(name)
            if tenant is not None and running_backup(state, tenant.tenant_id) is None:
                actions.append(
                    StartBackup(
                        tenant=name,
                        destination=f"{state.config.backup_root}/{name}",
                        parallel=own.backup_parallel,
                    )
                )
    faults = state.task_failures < scope.dag.task_faults
    for task_id in sorted(state.backups.keys()):
        task = state.backups[task_id]
        if task.final:
            continue
        if advanceable(state, task):
            actions.append(AdvanceBackup(task_id=task_id))
        if task.phase is BackupPhase.DOING and not state.dags[task.dag_id].finished:
            actions.extend(dag.enabled_dag(state.dags[task.dag_id], faults=faults))
        if own.cancel_backups:
            actions.append(CancelBackup(task_id=task_id))
    if own.drop_versions:
        pinned = {task.pins for task in state.backups.values()}
        for version in range(1, state.frozen_version):
            if state.frozen[version].available and version not in pinned:
                actions.append(DropVersion(version=version))
    return actions


def backup_probes(state: ClusterState, scope) -> list[object]:
    """Every running backup told to take its next step, offered or not (the explorer tries
    those ``enabled`` does not offer: each must be refused, or be harmless)."""
    return [AdvanceBackup(task_id=i) for i in sorted(state.backups.keys()) if not state.backups[i].final]
