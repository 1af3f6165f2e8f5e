"""Requests concerning log archiving: the operator's and the archiver's own steps."""

from __future__ import annotations

import attrs

__all__ = [
    "ARCHIVE_ACTION_TAGS",
    "StartArchive",
    "StopArchive",
    "ReadEntries",
    "SealPiece",
    "PersistCheckpoint",
    "CrashArchiver",
    "SkipRecycledLog",
    "RecycleLog",
]


@attrs.frozen(kw_only=True)
class StartArchive:
    """tenant_incremental_backup_start: ``start_log_id`` 0 means the newest completed backup
    set's start_replay_log_id, or right after the checkpoint when archiving already covered
    that far (a restart after a stop carries on without a hole)."""

    tenant: str
    destination: str
    start_log_id: int = 0


@attrs.frozen(kw_only=True)
class StopArchive:
    tenant: str


@attrs.frozen(kw_only=True)
class ReadEntries:
    """The archiver reads up to ``count`` entries (and no further than a full piece)."""

    tenant_id: int
    count: int = 1


@attrs.frozen(kw_only=True)
class SealPiece:
    tenant_id: int


@attrs.frozen(kw_only=True)
class PersistCheckpoint:
    tenant_id: int


@attrs.frozen(kw_only=True)
class CrashArchiver:
    """A fault: the archiver process dies and restarts."""

    tenant_id: int


@attrs.frozen(kw_only=True)
class SkipRecycledLog:
    """The archiver's next entry is recycled: record the hole and read on from the oldest
    entry still kept (business first; the open piece must be sealed or checkpointed first)."""

    tenant_id: int


@attrs.frozen(kw_only=True)
class RecycleLog:
    """The transaction server recycles log ids up to ``through`` (0: as far as it may)."""

    through: int = 0


ARCHIVE_ACTION_TAGS: dict[type, str] = {
    CrashArchiver: "archive.crash_archiver",
    PersistCheckpoint: "archive.persist_checkpoint",
    ReadEntries: "archive.read_entries",
    RecycleLog: "archive.recycle_log",
    SealPiece: "archive.seal_piece",
    SkipRecycledLog: "archive.skip_recycled_log",
    StartArchive: "archive.start_archive",
    StopArchive: "archive.stop_archive",
}
"""The stored tag of each archive action (a trace of actions round-trips by it; never the class name)."""
