"""State of continuous per-tenant log archiving (DESIGN 3.2): archivers and their pieces.

An archiver reads the shared commit log in order and keeps its tenant's entries (and the
cluster-wide FREEZE and HEARTBEAT entries that carry time forward) in an open piece held
in memory. Sealing writes the piece to backup storage together with a checkpoint, in
one step; a checkpoint may also advance on its own while the open piece holds none of
the tenant's entries (the tenant is idle), which is how the archived-up-to timestamp
moves over heartbeats. What is in memory (the read position and the open piece) is lost
in a crash; what is persisted (sealed pieces, the checkpoint) is not. A restart reads
on right after the last sealed piece, so the next piece starts where the last one
ended: pieces of a run cover consecutive log ranges, and every tenant entry is archived
exactly once.

The transaction server may recycle old log (see :class:`~ybstate.cluster.state.LogRetention`).
When a business-first tenant's archiver finds its next entry recycled, its run ends and a
new one begins at the oldest entry the server still has; the log ids between are recorded
as holes, each with its reason.
"""

from __future__ import annotations

import enum

import attrs

__all__ = [
    "ArchiverStatus",
    "Checkpoint",
    "OpenPiece",
    "Archiver",
    "Piece",
    "RunSpan",
    "Hole",
    "HOLE_REASONS",
    "STOPPED",
    "RECYCLED",
    "CRASH_BEFORE_SEAL",
]

STOPPED = "stopped"  # archiving was stopped, and started again further on
RECYCLED = "recycled log"  # the server recycled log the archiver had not read (business first)
CRASH_BEFORE_SEAL = "crash before a seal"  # read, lost in a crash, recycled before a re-read
HOLE_REASONS = (STOPPED, RECYCLED, CRASH_BEFORE_SEAL)


class ArchiverStatus(enum.Enum):
    RUNNING = "running"
    STOPPED = "stopped"


@attrs.frozen(kw_only=True)
class Checkpoint:
    """Persisted progress: every entry up to ``last_log_id`` is read, and every tenant
    entry among them is in a sealed piece. ``archived_ts`` is the timestamp of the entry
    at ``last_log_id``: every commit of the tenant at or before it is archived."""

    last_log_id: int
    archived_ts: int
    pieces: int  # sealed so far, over every run


@attrs.frozen(kw_only=True)
class OpenPiece:
    """The piece being filled, in memory: it covers global log ids from ``first_log_id``
    to the archiver's read position. Which entries it keeps follows from the log (its
    tenant's and the cluster-wide ones), so only counts are held here."""

    first_log_id: int
    kept: int  # entries kept (the tenant's, and cluster-wide ones)
    tenant_entries: int
    min_ts: int
    max_ts: int


@attrs.frozen(kw_only=True)
class RunSpan:
    """What one ended run of archiving covered: log ids ``start_log_id`` .. ``through``."""

    run: int
    start_log_id: int
    through: int
    through_ts: int


@attrs.frozen(kw_only=True)
class Hole:
    """Log ids ``first_log_id`` .. ``last_log_id`` are missing from the tenant's archive."""

    first_log_id: int
    last_log_id: int
    reason: str  # one of HOLE_REASONS


@attrs.frozen(kw_only=True)
class Archiver:
    tenant_id: int
    destination: str
    status: ArchiverStatus
    run: int  # 1 for the first start, +1 at each restart after a stop
    run_start_log_id: int  # where the current run began reading
    sealed_through: int  # persisted: end of the run's last sealed piece (run start - 1 if none)
    next_log_id: int  # in memory: the next entry to read
    piece: OpenPiece | None  # in memory
    checkpoint: Checkpoint  # persisted
    crashes: int = 0
    past_runs: tuple[RunSpan, ...] = ()  # runs ended by a stop or by recycled log, oldest first
    # The furthest log id read in this run, across crashes: what a crash lost is told
    # apart from what was never read when recycled log leaves a hole.
    read_through: int = 0
    holes: tuple[Hole, ...] = ()  # as recorded, oldest first

    @property
    def reach(self) -> int:
        """Log ids up to here are accounted for: covered by a run, or recorded as a hole."""
        return max(self.checkpoint.last_log_id, self.run_start_log_id - 1)


@attrs.frozen(kw_only=True)
class Piece:
    """A sealed archive piece in backup storage."""

    tenant_id: int
    piece_no: int
    run: int
    first_log_id: int  # first global log id covered
    last_log_id: int  # last global log id covered
    entries: tuple[object, ...]  # the log entries it holds, copied from the log at sealing
    entry_count: int
    tenant_entries: int
    min_ts: int
    max_ts: int
    checksum: int
    data_size: int
    path: str
