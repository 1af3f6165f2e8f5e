"""State of full (baseline) backups: tasks, backup sets, and what backup storage holds.

Pure data. A backup task moves through the seed's phases (INIT, PREPARING, DOING,
VERIFYING, then COMPLETED, FAILED or CANCELLED) along :data:`~ybstate.backup.events.BACKUP_TASK`;
its tablet copies run as one DAG of the scheduler. Backup storage is modelled as a
catalog of backup sets per destination, each with a manifest (tablets, schema) and the
stored rows of each tablet with their checksum.
"""

from __future__ import annotations

import enum

import attrs

from ybstate.cluster.state import Tablet

__all__ = [
    "BackupPhase",
    "SetStatus",
    "TableSchema",
    "StoredTablet",
    "BackupTask",
    "BackupSet",
    "TASK_STATUS_CODE",
    "FINAL_PHASES",
]


class BackupPhase(enum.Enum):
    INIT = "INIT"
    PREPARING = "PREPARING"
    DOING = "DOING"
    VERIFYING = "VERIFYING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


FINAL_PHASES = frozenset({BackupPhase.COMPLETED, BackupPhase.FAILED, BackupPhase.CANCELLED})

# __all_tenant_backup_task.status (DESIGN 10): 0 init, 1 running, 2 success, 3 failed, 4 canceled.
TASK_STATUS_CODE = {
    BackupPhase.INIT: 0,
    BackupPhase.PREPARING: 1,
    BackupPhase.DOING: 1,
    BackupPhase.VERIFYING: 1,
    BackupPhase.COMPLETED: 2,
    BackupPhase.FAILED: 3,
    BackupPhase.CANCELLED: 4,
}


class SetStatus(enum.IntEnum):
    """__all_tenant_backup_set.status (DESIGN 10)."""

    CREATING = 0
    AVAILABLE = 1
    DELETING = 2
    DELETED = 3


@attrs.frozen(kw_only=True)
class TableSchema:
    """One table of a backed-up tenant's schema, as of the backup's frozen version."""

    table_id: int
    name: str
    schema_version: int
    tablets: tuple[Tablet, ...]


@attrs.frozen(kw_only=True)
class StoredTablet:
    """One tablet's SSTable as stored in backup storage: its rows and what was recorded."""

    set_id: int
    tablet_id: int
    table_id: int
    table_name: str
    start: int
    end: int
    rows: tuple[tuple[str, str], ...]  # (rowkey, value), sorted by rowkey
    row_count: int
    data_size: int
    checksum: int
    path: str
    stored_ts: int


@attrs.frozen(kw_only=True)
class BackupTask:
    task_id: int
    tenant_id: int
    set_id: int
    destination: str
    requested_version: int  # 0: the newest at PREPARING
    parallel: int
    phase: BackupPhase
    started_ts: int
    ended_ts: int = 0
    frozen_version: int = 0
    snapshot_ts: int = 0
    schema_version: int = 0
    start_replay_log_id: int = 0
    tablets: tuple[Tablet, ...] = ()
    dag_id: int = 0
    copied: int = 0
    error: str = ""
    phases: tuple[BackupPhase, ...] = ()  # every phase it has been in, in order

    @property
    def final(self) -> bool:
        return self.phase in FINAL_PHASES

    @property
    def pins(self) -> int | None:
        """The frozen version whose SSTables this task still needs, if any."""
        if self.frozen_version and self.phase in (BackupPhase.DOING, BackupPhase.VERIFYING):
            return self.frozen_version
        return None

    @property
    def progress(self) -> int:
        """Percent done: tablets copied during DOING, 100 from VERIFYING on."""
        if self.phase in (BackupPhase.VERIFYING, BackupPhase.COMPLETED):
            return 100
        if not self.tablets:
            return 0
        return 100 * self.copied // len(self.tablets)


@attrs.frozen(kw_only=True)
class BackupSet:
    """A catalog entry of backup storage: one full backup of one tenant."""

    set_id: int
    tenant_id: int
    task_id: int
    destination: str
    status: SetStatus
    started_ts: int
    completed_ts: int
    frozen_version: int
    snapshot_ts: int
    schema_version: int
    start_replay_log_id: int
    tablets: tuple[int, ...]
    schema: tuple[TableSchema, ...]
    data_size: int
    manifest_path: str
