"""``apply`` for log archiving: one handler per event, checking that each fits."""

from __future__ import annotations

from collections.abc import Callable

from ybstate.archive.derive import (
    entries_checksum,
    entries_size,
    kept,
    piece_entries,
    restart_position,
    stopped_hole,
)
from ybstate.archive.events import (
    ArchiverCrashed,
    ArchiveResumed,
    ArchiveStarted,
    ArchiveStopped,
    CheckpointPersisted,
    EntriesRead,
    LogRecycled,
    PieceSealed,
)
from ybstate.archive.retention import retention_limit, skip_plan
from ybstate.archive.state import Archiver, ArchiverStatus, Checkpoint, Hole, OpenPiece, Piece, RunSpan
from ybstate.cluster.state import ClusterState, evolve_state
from ybstate.errors import EventOutOfOrder
from ybstate.evolve import evolver

__all__ = ["ARCHIVE_HANDLERS"]

_evolve_archiver = evolver(Archiver)


def _running(state: ClusterState, e) -> Archiver:
    archiver = state.archivers.get(e.tenant_id)
    if archiver is None or archiver.status is not ArchiverStatus.RUNNING:
        raise EventOutOfOrder(f"a running archiver of tenant {e.tenant_id} for", type(e).__name__, "none")
    return archiver


def _set(state: ClusterState, e, archiver: Archiver, **changes) -> ClusterState:
    return evolve_state(
        state, seq=e.seq, clock=e.time, archivers=state.archivers.set(e.tenant_id, archiver), **changes
    )


def _started(state: ClusterState, e: ArchiveStarted) -> ClusterState:
    previous = state.archivers.get(e.tenant_id)
    if previous is not None and previous.status is ArchiverStatus.RUNNING:
        raise EventOutOfOrder(f"no running archiver of tenant {e.tenant_id}", "stopped", "running")
    expected_run = 1 if previous is None else previous.run + 1
    if e.run != expected_run:
        raise EventOutOfOrder(f"archiving run of tenant {e.tenant_id}", expected_run, e.run)
    checkpoint = (
        Checkpoint(last_log_id=0, archived_ts=0, pieces=0) if previous is None else previous.checkpoint
    )
    reach = 0 if previous is None else previous.reach
    if e.start_log_id <= reach:
        raise EventOutOfOrder("a start after where archiving reached", reach + 1, e.start_log_id)
    if not state.recycled_through < e.start_log_id <= state.next_log_id:
        raise EventOutOfOrder(
            "a start log id in the kept log", (state.recycled_through + 1, state.next_log_id), e.start_log_id
        )
    hole = stopped_hole(previous, e.start_log_id)
    expected_hole = (0, 0) if hole is None else (hole.first_log_id, hole.last_log_id)
    if (e.hole_first, e.hole_last) != expected_hole:
        raise EventOutOfOrder("the hole a start leaves", expected_hole, (e.hole_first, e.hole_last))
    holes = () if previous is None else previous.holes
    archiver = Archiver(
        tenant_id=e.tenant_id,
        destination=e.destination,
        status=ArchiverStatus.RUNNING,
        run=e.run,
        run_start_log_id=e.start_log_id,
        sealed_through=e.start_log_id - 1,
        next_log_id=e.start_log_id,
        piece=None,
        checkpoint=checkpoint,
        crashes=0 if previous is None else previous.crashes,
        past_runs=() if previous is None else previous.past_runs,
        read_through=e.start_log_id - 1,
        holes=holes if hole is None else (*holes, hole),
    )
    return _set(state, e, archiver)


def _read(state: ClusterState, e: EntriesRead) -> ClusterState:
    archiver = _running(state, e)
    if e.first_log_id != archiver.next_log_id or not e.first_log_id <= e.last_log_id <= state.last_log_id:
        raise EventOutOfOrder("entries read from", archiver.next_log_id, (e.first_log_id, e.last_log_id))
    if e.first_log_id <= state.recycled_through:
        raise EventOutOfOrder("a read of kept log, after log id", state.recycled_through, e.first_log_id)
    # A new piece begins where this read begins: it covers only what the archiver read.
    piece = archiver.piece or OpenPiece(
        first_log_id=e.first_log_id, kept=0, tenant_entries=0, min_ts=0, max_ts=0
    )
    count, tenant_entries, min_ts, max_ts = piece.kept, piece.tenant_entries, piece.min_ts, piece.max_ts
    for log_id in range(e.first_log_id, e.last_log_id + 1):
        entry = state.log[log_id]
        if not kept(entry, e.tenant_id):
            continue
        count += 1
        if getattr(entry, "tenant_id", None) is not None:
            tenant_entries += 1
        min_ts = entry.time if min_ts == 0 else min(min_ts, entry.time)
        max_ts = max(max_ts, entry.time)
    if count > state.config.piece_entries:
        raise EventOutOfOrder(
            "at most piece_entries kept entries in a piece", state.config.piece_entries, count
        )
    piece = OpenPiece(
        first_log_id=piece.first_log_id,
        kept=count,
        tenant_entries=tenant_entries,
        min_ts=min_ts,
        max_ts=max_ts,
    )
    archiver = _evolve_archiver(
        archiver,
        next_log_id=e.last_log_id + 1,
        piece=piece,
        read_through=max(archiver.read_through, e.last_log_id),
    )
    return _set(state, e, archiver)


def _sealed(state: ClusterState, e: PieceSealed) -> ClusterState:
    archiver = _running(state, e)
    piece = archiver.piece
    if piece is None or e.piece_no != archiver.checkpoint.pieces + 1:
        raise EventOutOfOrder("a piece to seal, numbered", archiver.checkpoint.pieces + 1, e.piece_no)
    entries = tuple(piece_entries(state, archiver))
    expected = (
        piece.first_log_id,
        archiver.next_log_id - 1,
        len(entries),
        piece.tenant_entries,
        piece.min_ts,
        piece.max_ts,
        entries_checksum(list(entries)),
        entries_size(list(entries)),
    )
    recorded = (
        e.first_log_id,
        e.last_log_id,
        e.entry_count,
        e.tenant_entries,
        e.min_ts,
        e.max_ts,
        e.checksum,
        e.data_size,
    )
    if recorded != expected:
        raise EventOutOfOrder(
            f"the open piece of tenant {e.tenant_id} (first and last log id, entries, tenant entries, "
            "min and max ts, checksum, size)",
            expected,
            recorded,
        )
    stored = Piece(
        tenant_id=e.tenant_id,
        piece_no=e.piece_no,
        run=archiver.run,
        first_log_id=e.first_log_id,
        last_log_id=e.last_log_id,
        entries=entries,
        entry_count=e.entry_count,
        tenant_entries=e.tenant_entries,
        min_ts=e.min_ts,
        max_ts=e.max_ts,
        checksum=e.checksum,
        data_size=e.data_size,
        path=e.path,
    )
    checkpoint = archiver.checkpoint
    if e.last_log_id > checkpoint.last_log_id:
        checkpoint = Checkpoint(
            last_log_id=e.last_log_id, archived_ts=state.log[e.last_log_id].time, pieces=e.piece_no
        )
    else:  # re-read after a crash, up to where an idle checkpoint had already reached
        checkpoint = Checkpoint(
            last_log_id=checkpoint.last_log_id, archived_ts=checkpoint.archived_ts, pieces=e.piece_no
        )
    archiver = _evolve_archiver(archiver, piece=None, checkpoint=checkpoint, sealed_through=e.last_log_id)
    return _set(state, e, archiver, pieces=state.pieces.set((e.tenant_id, e.piece_no), stored))


def _checkpoint(state: ClusterState, e: CheckpointPersisted) -> ClusterState:
    archiver = _running(state, e)
    if archiver.piece is not None and archiver.piece.tenant_entries:
        raise EventOutOfOrder(
            "an open piece without tenant entries at a checkpoint", 0, archiver.piece.tenant_entries
        )
    if e.last_log_id != archiver.next_log_id - 1 or e.last_log_id <= archiver.checkpoint.last_log_id:
        raise EventOutOfOrder(
            "checkpoint at the read position, past the last one", archiver.next_log_id - 1, e.last_log_id
        )
    if e.archived_ts != state.log[e.last_log_id].time:
        raise EventOutOfOrder(
            f"archived_ts of log id {e.last_log_id}", state.log[e.last_log_id].time, e.archived_ts
        )
    checkpoint = Checkpoint(
        last_log_id=e.last_log_id, archived_ts=e.archived_ts, pieces=archiver.checkpoint.pieces
    )
    return _set(state, e, _evolve_archiver(archiver, checkpoint=checkpoint))


def _crashed(state: ClusterState, e: ArchiverCrashed) -> ClusterState:
    archiver = _running(state, e)
    restart = restart_position(archiver, state.config.protocol)
    if e.restart_log_id != restart:
        raise EventOutOfOrder("restart after the checkpoint at", restart, e.restart_log_id)
    archiver = _evolve_archiver(
        archiver, next_log_id=e.restart_log_id, piece=None, crashes=archiver.crashes + 1
    )
    return _set(state, e, archiver)


def _run_span(archiver: Archiver) -> RunSpan:
    """What the archiver's current run covered, as it ends."""
    through = archiver.reach
    return RunSpan(
        run=archiver.run,
        start_log_id=archiver.run_start_log_id,
        through=through,
        through_ts=archiver.checkpoint.archived_ts if through == archiver.checkpoint.last_log_id else 0,
    )


def _stopped(state: ClusterState, e: ArchiveStopped) -> ClusterState:
    archiver = _running(state, e)
    stopped = _evolve_archiver(
        archiver,
        status=ArchiverStatus.STOPPED,
        piece=None,
        past_runs=(*archiver.past_runs, _run_span(archiver)),
    )
    return _set(state, e, stopped)


def _hole_fields(hole: Hole | None) -> tuple[int, int]:
    return (0, 0) if hole is None else (hole.first_log_id, hole.last_log_id)


def _resumed(state: ClusterState, e: ArchiveResumed) -> ClusterState:
    archiver = _running(state, e)
    if archiver.next_log_id > state.recycled_through:
        raise EventOutOfOrder("a next log id already recycled", state.recycled_through, archiver.next_log_id)
    if (archiver.piece is not None and archiver.piece.kept) or archiver.next_log_id - 1 > archiver.reach:
        raise EventOutOfOrder(
            "an archiver with nothing unpersisted", archiver.reach, archiver.next_log_id - 1
        )
    start, lost, recycled = skip_plan(archiver, state.recycled_through)
    expected = (archiver.run + 1, start, *_hole_fields(lost), *_hole_fields(recycled))
    recorded = (e.run, e.start_log_id, e.lost_first, e.lost_last, e.recycled_first, e.recycled_last)
    if recorded != expected:
        raise EventOutOfOrder(
            f"the resumption of tenant {e.tenant_id}'s archiving (run, start, lost and recycled log ids)",
            expected,
            recorded,
        )
    resumed = _evolve_archiver(
        archiver,
        run=e.run,
        run_start_log_id=start,
        sealed_through=start - 1,
        next_log_id=start,
        piece=None,
        read_through=start - 1,
        past_runs=(*archiver.past_runs, _run_span(archiver)),
        holes=(*archiver.holes, *(h for h in (lost, recycled) if h is not None)),
    )
    return _set(state, e, resumed)


def _recycled(state: ClusterState, e: LogRecycled) -> ClusterState:
    limit, why = retention_limit(state)
    if not state.recycled_through < e.through <= limit:
        raise EventOutOfOrder(f"a recycle point after {state.recycled_through} ({why})", limit, e.through)
    return evolve_state(state, seq=e.seq, clock=e.time, recycled_through=e.through)


ARCHIVE_HANDLERS: dict[type, Callable[[ClusterState, object], ClusterState]] = {
    ArchiveStarted: _started,
    EntriesRead: _read,
    PieceSealed: _sealed,
    CheckpointPersisted: _checkpoint,
    ArchiverCrashed: _crashed,
    ArchiveStopped: _stopped,
    ArchiveResumed: _resumed,
    LogRecycled: _recycled,
}
