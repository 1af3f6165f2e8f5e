"""Events of full backups, and the lifecycle of a backup task: which event moves it to which phase."""

from __future__ import annotations

from collections.abc import Callable

import attrs

from ybstate.backup.actions import AdvanceBackup, CancelBackup, DropVersion, StartBackup
from ybstate.backup.state import BackupPhase, TableSchema
from ybstate.cluster.derive import tenant_name
from ybstate.cluster.state import ClusterState, Tablet
from ybstate.kernel import Lifecycle

__all__ = [
    "BackupStarted",
    "BackupPreparing",
    "BackupPrepared",
    "TabletCopied",
    "BackupCopied",
    "BackupCompleted",
    "BackupFailed",
    "BackupCancelled",
    "VersionDropped",
    "BACKUP_EVENT_TAGS",
    "REQUESTS",
    "FOLLOWERS",
    "BACKUP_TASK",
]


@attrs.frozen(kw_only=True)
class BackupStarted:
    """tenant_backup_start accepted: task and backup set ids are given out (phase INIT)."""

    seq: int
    time: int
    task_id: int
    set_id: int
    tenant_id: int
    destination: str
    requested_version: int
    parallel: int


@attrs.frozen(kw_only=True)
class BackupPreparing:
    seq: int
    time: int
    task_id: int
    tenant_id: int


@attrs.frozen(kw_only=True)
class BackupPrepared:
    """PREPARING fixed what the backup copies; the set is registered as creating."""

    seq: int
    time: int
    task_id: int
    tenant_id: int
    frozen_version: int
    snapshot_ts: int
    schema_version: int
    start_replay_log_id: int
    tablets: tuple[Tablet, ...]
    schema: tuple[TableSchema, ...]
    manifest_path: str
    dag_id: int


@attrs.frozen(kw_only=True)
class TabletCopied:
    """One tablet's SSTable at the backup's version, written to backup storage."""

    seq: int
    time: int
    task_id: int
    tenant_id: int
    set_id: int
    tablet_id: int
    table_id: int
    table_name: str
    rows: tuple[tuple[str, str], ...]
    row_count: int
    data_size: int
    checksum: int
    path: str


@attrs.frozen(kw_only=True)
class BackupCopied:
    """Every tablet is copied: VERIFYING re-reads them next."""

    seq: int
    time: int
    task_id: int
    tenant_id: int


@attrs.frozen(kw_only=True)
class BackupCompleted:
    """Every stored tablet re-read and its checksum confirmed: the set is available."""

    seq: int
    time: int
    task_id: int
    tenant_id: int
    set_id: int
    tablet_count: int
    data_size: int


@attrs.frozen(kw_only=True)
class BackupFailed:
    seq: int
    time: int
    task_id: int
    tenant_id: int
    reason: str


@attrs.frozen(kw_only=True)
class BackupCancelled:
    seq: int
    time: int
    task_id: int
    tenant_id: int
    reason: str


@attrs.frozen(kw_only=True)
class VersionDropped:
    """The data servers drop the SSTables of an old frozen version (never a pinned one)."""

    seq: int
    time: int
    version: int


BACKUP_EVENT_TAGS: dict[type, str] = {
    BackupStarted: "backup.started",
    BackupPreparing: "backup.preparing",
    BackupPrepared: "backup.prepared",
    TabletCopied: "backup.tablet_copied",
    BackupCopied: "backup.copied",
    BackupCompleted: "backup.completed",
    BackupFailed: "backup.failed",
    BackupCancelled: "backup.cancelled",
    VersionDropped: "cluster.version_dropped",
}


def _advance(state: ClusterState, e) -> AdvanceBackup:
    return AdvanceBackup(task_id=e.task_id)


REQUESTS: dict[type, Callable[[ClusterState, object], object]] = {
    BackupStarted: lambda s, e: StartBackup(
        tenant=tenant_name(s, e.tenant_id),
        destination=e.destination,
        frozen_version=e.requested_version,
        parallel=e.parallel,
    ),
    BackupPreparing: _advance,
    BackupPrepared: _advance,
    BackupCopied: _advance,
    BackupCompleted: _advance,
    BackupFailed: _advance,
    BackupCancelled: lambda s, e: CancelBackup(task_id=e.task_id, reason=e.reason),
    VersionDropped: lambda s, e: DropVersion(version=e.version),
}
"""The request behind each backup event that opens a decision."""

FOLLOWERS = frozenset({TabletCopied})
"""Backup events that only follow another in a decision (a copy follows its task's finish)."""

_P = BackupPhase
_RUNNING = (_P.INIT, _P.PREPARING, _P.DOING, _P.VERIFYING)

BACKUP_TASK: Lifecycle[BackupPhase] = Lifecycle(
    "backup task",
    BackupPhase,
    {
        (_P.INIT, BackupPreparing): _P.PREPARING,
        (_P.PREPARING, BackupPrepared): _P.DOING,
        (_P.DOING, TabletCopied): _P.DOING,
        (_P.DOING, BackupCopied): _P.VERIFYING,
        (_P.VERIFYING, BackupCompleted): _P.COMPLETED,
        **{(phase, BackupFailed): _P.FAILED for phase in _RUNNING if phase is not _P.INIT},
        **{(phase, BackupCancelled): _P.CANCELLED for phase in _RUNNING},
    },
)
"""Which event moves a backup task to which phase; phases only move forward, and
TabletCopied keeps the task in DOING."""
