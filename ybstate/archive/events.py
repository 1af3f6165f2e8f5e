"""Events of log archiving. Entry contents are not repeated in events: a read or a seal
names log ids, and the reducer takes the entries from the commit log. :data:`REQUESTS`
says which request makes each one."""

from __future__ import annotations

from collections.abc import Callable

import attrs

from ybstate.archive.actions import (
    CrashArchiver,
    PersistCheckpoint,
    ReadEntries,
    RecycleLog,
    SealPiece,
    SkipRecycledLog,
    StartArchive,
    StopArchive,
)
from ybstate.cluster.derive import tenant_name
from ybstate.cluster.state import ClusterState

__all__ = [
    "ArchiveStarted",
    "EntriesRead",
    "PieceSealed",
    "CheckpointPersisted",
    "ArchiverCrashed",
    "ArchiveStopped",
    "ArchiveResumed",
    "LogRecycled",
    "ARCHIVE_EVENT_TAGS",
    "REQUESTS",
]


@attrs.frozen(kw_only=True)
class ArchiveStarted:
    """tenant_incremental_backup_start accepted: archiving (re)starts at ``start_log_id``."""

    seq: int
    time: int
    tenant_id: int
    destination: str
    start_log_id: int
    run: int
    # The log ids between the previous run's reach and this start: a hole, reason "stopped"
    # (0 and 0 when there is none: a first start, or a start right where the last run ended).
    hole_first: int = 0
    hole_last: int = 0


@attrs.frozen(kw_only=True)
class EntriesRead:
    """The archiver read log entries ``first_log_id`` .. ``last_log_id`` into its open piece
    (keeping its tenant's and the cluster-wide ones)."""

    seq: int
    time: int
    tenant_id: int
    first_log_id: int
    last_log_id: int


@attrs.frozen(kw_only=True)
class PieceSealed:
    """The open piece is written to backup storage, and the checkpoint with it."""

    seq: int
    time: int
    tenant_id: int
    piece_no: int
    first_log_id: int
    last_log_id: int
    entry_count: int
    tenant_entries: int
    min_ts: int
    max_ts: int
    checksum: int
    data_size: int
    path: str


@attrs.frozen(kw_only=True)
class CheckpointPersisted:
    """While the open piece holds none of the tenant's entries, progress is persisted
    without a piece: the archived-up-to timestamp moves over an idle tenant's time."""

    seq: int
    time: int
    tenant_id: int
    last_log_id: int
    archived_ts: int


@attrs.frozen(kw_only=True)
class ArchiverCrashed:
    """The archiver lost what it held in memory and restarts from its checkpoint."""

    seq: int
    time: int
    tenant_id: int
    lost_entries: int  # kept entries of the open piece, to be read again
    restart_log_id: int


@attrs.frozen(kw_only=True)
class ArchiveStopped:
    """tenant_incremental_backup_stop: the open piece is dropped, the checkpoint stays."""

    seq: int
    time: int
    tenant_id: int
    last_log_id: int


@attrs.frozen(kw_only=True)
class LogRecycled:
    """The transaction server recycled log ids up to ``through``: it no longer has them."""

    seq: int
    time: int
    through: int


@attrs.frozen(kw_only=True)
class ArchiveResumed:
    """A business-first tenant's archiver found its next entry recycled: its run ends where
    it is accounted for, and run ``run`` begins at ``start_log_id``, the oldest entry it can
    still read. What lies between is missing: log ids read before a crash and lost with it
    (``lost_first`` .. ``lost_last``: "crash before a seal") and log ids never read
    (``recycled_first`` .. ``recycled_last``: "recycled log"); 0 and 0 where there is none."""

    seq: int
    time: int
    tenant_id: int
    run: int
    start_log_id: int
    lost_first: int
    lost_last: int
    recycled_first: int
    recycled_last: int


ARCHIVE_EVENT_TAGS: dict[type, str] = {
    ArchiveStarted: "archive.started",
    EntriesRead: "archive.entries_read",
    PieceSealed: "archive.piece_sealed",
    CheckpointPersisted: "archive.checkpoint",
    ArchiverCrashed: "archive.crashed",
    ArchiveStopped: "archive.stopped",
    ArchiveResumed: "archive.resumed",
    LogRecycled: "cluster.log_recycled",
}

REQUESTS: dict[type, Callable[[ClusterState, object], object]] = {
    ArchiveStarted: lambda s, e: StartArchive(
        tenant=tenant_name(s, e.tenant_id), destination=e.destination, start_log_id=e.start_log_id
    ),
    EntriesRead: lambda s, e: ReadEntries(tenant_id=e.tenant_id, count=e.last_log_id - e.first_log_id + 1),
    PieceSealed: lambda s, e: SealPiece(tenant_id=e.tenant_id),
    CheckpointPersisted: lambda s, e: PersistCheckpoint(tenant_id=e.tenant_id),
    ArchiverCrashed: lambda s, e: CrashArchiver(tenant_id=e.tenant_id),
    ArchiveStopped: lambda s, e: StopArchive(tenant=tenant_name(s, e.tenant_id)),
    ArchiveResumed: lambda s, e: SkipRecycledLog(tenant_id=e.tenant_id),
    LogRecycled: lambda s, e: RecycleLog(through=e.through),
}
"""The request behind each archiving event (every one opens a decision)."""
