"""What backups derive from the state, shared by ``decide``, ``apply`` and ``enabled``:
where a backup may write, which frozen version it copies, which backup of a tenant runs,
whether a task can take its next step, and the names of its copy tasks. Pure."""

from __future__ import annotations

import posixpath

from ybstate.backup.state import BackupPhase, BackupTask
from ybstate.cluster.state import ClusterState

__all__ = [
    "advanceable",
    "allowed_destination",
    "available_version",
    "copy_task_name",
    "running_backup",
    "set_path",
    "tablet_of_task",
]


def copy_task_name(tablet_id: int) -> str:
    """The name of the DAG task that copies ``tablet_id``."""
    return f"copy:{tablet_id:06d}"


def tablet_of_task(task: str) -> int:
    """The tablet a copy task (:func:`copy_task_name`) copies."""
    return int(task.split(":", 1)[1])


def allowed_destination(destination: str, root: str) -> str | None:
    """The normalised destination if it lies strictly below ``root``, else None."""
    if not destination.startswith("/"):
        return None
    normal = posixpath.normpath(destination)
    base = posixpath.normpath(root)
    if normal == base or not normal.startswith(base.rstrip("/") + "/"):
        return None
    return normal


def available_version(state: ClusterState, requested: int) -> int | None:
    """The frozen version a backup asking for ``requested`` (0: newest) would copy."""
    if requested == 0:
        for version in range(state.frozen_version, 0, -1):
            if state.frozen[version].available:
                return version
        return None
    frozen = state.frozen.get(requested)
    return requested if frozen is not None and frozen.available else None


def running_backup(state: ClusterState, tenant_id: int) -> BackupTask | None:
    for task in state.backups.values():
        if task.tenant_id == tenant_id and not task.final:
            return task
    return None


def advanceable(state: ClusterState, task: BackupTask) -> bool:
    """Whether :class:`~ybstate.backup.actions.AdvanceBackup` would be accepted for ``task`` now."""
    if task.final:
        return False
    if task.phase is BackupPhase.DOING:
        return state.dags[task.dag_id].finished
    return True


def set_path(task: BackupTask) -> str:
    """Where ``task``'s backup set lies in backup storage."""
    return f"{task.destination}/tenant_{task.tenant_id}/backup_set_{task.set_id}"
