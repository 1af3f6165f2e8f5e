"""Requests concerning full backups: the operator's and the root server's own steps."""

from __future__ import annotations

import attrs

__all__ = ["BACKUP_ACTION_TAGS", "StartBackup", "AdvanceBackup", "CancelBackup", "DropVersion"]


@attrs.frozen(kw_only=True)
class StartBackup:
    """tenant_backup_start: ``frozen_version`` 0 means the newest; ``parallel`` 0 means the
    cluster's dag_workers."""

    tenant: str
    destination: str
    frozen_version: int = 0
    parallel: int = 0


@attrs.frozen(kw_only=True)
class AdvanceBackup:
    """The root server moves a backup task to its next phase when it can."""

    task_id: int


@attrs.frozen(kw_only=True)
class CancelBackup:
    task_id: int
    reason: str = "cancelled by the operator"


@attrs.frozen(kw_only=True)
class DropVersion:
    """The data servers drop the SSTables of an old frozen version."""

    version: int


BACKUP_ACTION_TAGS: dict[type, str] = {
    AdvanceBackup: "backup.advance_backup",
    CancelBackup: "backup.cancel_backup",
    DropVersion: "backup.drop_version",
    StartBackup: "backup.start_backup",
}
"""The stored tag of each backup action (a trace of actions round-trips by it; never the class name)."""
