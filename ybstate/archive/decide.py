"""``decide`` for log archiving. Pure; refusals raise ArchiveRejected naming the reason."""

from __future__ import annotations

from collections.abc import Callable

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
from ybstate.archive.derive import (
    entries_checksum,
    entries_size,
    kept,
    piece_entries,
    piece_path,
    restart_position,
    running_archiver,
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
from ybstate.archive.state import ArchiverStatus
from ybstate.backup.derive import allowed_destination
from ybstate.backup.state import SetStatus
from ybstate.cluster.state import ClusterState
from ybstate.errors import (
    ArchiveRejected,
    DestinationNotAllowed,
    InvalidAction,
    RecycleRejected,
    StartLogRecycled,
    UnknownTenant,
)

__all__ = ["ARCHIVE_DECIDERS"]


def _typed(**fields: tuple[object, type]) -> None:
    """The commands pass caller input straight through: a wrong type is a refusal (a
    result code), not a TypeError from a lookup below."""
    for name, (value, kind) in fields.items():
        if not isinstance(value, kind) or isinstance(value, bool):
            raise InvalidAction(f"{name} must be {'a string' if kind is str else 'an int'}, got {value!r}")


def _start(state: ClusterState, a: StartArchive) -> list[object]:
    _typed(tenant=(a.tenant, str), destination=(a.destination, str), start_log_id=(a.start_log_id, int))
    tenant = state.tenant_named(a.tenant)
    if tenant is None:
        raise UnknownTenant(a.tenant)
    destination = allowed_destination(a.destination, state.config.backup_root)
    if destination is None:
        raise DestinationNotAllowed(a.destination, state.config.backup_root)
    previous = state.archivers.get(tenant.tenant_id)
    if previous is not None and previous.status is ArchiverStatus.RUNNING:
        raise ArchiveRejected(a.tenant, "an archiver is already running")
    start = a.start_log_id
    if start == 0:
        sets = [
            s
            for s in state.backup_sets.values()
            if s.tenant_id == tenant.tenant_id and s.status is SetStatus.AVAILABLE
        ]
        if not sets:
            raise ArchiveRejected(a.tenant, "no completed backup set to extend; give a start log id")
        start = max(sets, key=lambda s: s.set_id).start_replay_log_id
        if previous is not None and start <= previous.reach:
            start = previous.reach + 1  # already archived (or passed): carry on after it
    if not 1 <= start <= state.next_log_id:
        raise ArchiveRejected(a.tenant, f"start log id {start} is not in the log (1..{state.next_log_id})")
    if start <= state.recycled_through:
        raise StartLogRecycled(a.tenant, start, state.recycled_through)
    if previous is not None and start <= previous.checkpoint.last_log_id:
        raise ArchiveRejected(
            a.tenant,
            f"start log id {start} is already archived (checkpoint at {previous.checkpoint.last_log_id})",
        )
    if previous is not None and start <= previous.reach:
        raise ArchiveRejected(
            a.tenant,
            f"start log id {start} is behind where archiving already started (run {previous.run} "
            f"from log id {previous.run_start_log_id}): runs go forward",
        )
    hole = stopped_hole(previous, start)
    return [
        ArchiveStarted(
            seq=state.seq + 1,
            time=state.clock,
            tenant_id=tenant.tenant_id,
            destination=destination,
            start_log_id=start,
            run=1 if previous is None else previous.run + 1,
            hole_first=0 if hole is None else hole.first_log_id,
            hole_last=0 if hole is None else hole.last_log_id,
        )
    ]


def _stop(state: ClusterState, a: StopArchive) -> list[object]:
    _typed(tenant=(a.tenant, str))
    tenant = state.tenant_named(a.tenant)
    if tenant is None:
        raise UnknownTenant(a.tenant)
    archiver = running_archiver(state, tenant.tenant_id)
    return [
        ArchiveStopped(
            seq=state.seq + 1,
            time=state.clock,
            tenant_id=tenant.tenant_id,
            last_log_id=archiver.checkpoint.last_log_id,
        )
    ]


def _read(state: ClusterState, a: ReadEntries) -> list[object]:
    archiver = running_archiver(state, a.tenant_id)
    if a.count < 1:
        raise ArchiveRejected(
            state.tenants[a.tenant_id].name, f"a read needs a count of at least 1, got {a.count}"
        )
    if archiver.next_log_id > state.last_log_id:
        raise ArchiveRejected(
            state.tenants[a.tenant_id].name, f"nothing to read after log id {state.last_log_id}"
        )
    if archiver.next_log_id <= state.recycled_through:
        raise ArchiveRejected(
            state.tenants[a.tenant_id].name,
            f"log id {archiver.next_log_id} is recycled (the log is kept from log id "
            f"{state.recycled_through + 1}); skip to it",
        )
    room = state.config.piece_entries - (archiver.piece.kept if archiver.piece else 0)
    if room <= 0:
        raise ArchiveRejected(state.tenants[a.tenant_id].name, "the open piece is full; seal it first")
    last = archiver.next_log_id - 1
    while last < state.last_log_id and last - archiver.next_log_id + 1 < a.count and room > 0:
        last += 1
        if kept(state.log[last], a.tenant_id):
            room -= 1
    # The archiver reads new log when it wakes: at the first wake-up at or after the commit
    # of the newest entry it reads.
    woke = state.config.costs.wake_at(state.log[last].time)
    return [
        EntriesRead(
            seq=state.seq + 1,
            time=max(state.clock, woke),
            tenant_id=a.tenant_id,
            first_log_id=archiver.next_log_id,
            last_log_id=last,
        )
    ]


def _seal(state: ClusterState, a: SealPiece) -> list[object]:
    archiver = running_archiver(state, a.tenant_id)
    piece = archiver.piece
    if piece is None or piece.kept == 0:
        raise ArchiveRejected(state.tenants[a.tenant_id].name, "the open piece holds no entry")
    entries = piece_entries(state, archiver)
    piece_no = archiver.checkpoint.pieces + 1
    return [
        PieceSealed(
            seq=state.seq + 1,
            time=state.clock + state.config.costs.piece_seal_us,
            tenant_id=a.tenant_id,
            piece_no=piece_no,
            first_log_id=piece.first_log_id,
            last_log_id=archiver.next_log_id - 1,
            entry_count=len(entries),
            tenant_entries=piece.tenant_entries,
            min_ts=piece.min_ts,
            max_ts=piece.max_ts,
            checksum=entries_checksum(entries),
            data_size=entries_size(entries),
            path=piece_path(archiver, piece_no),
        )
    ]


def _checkpoint(state: ClusterState, a: PersistCheckpoint) -> list[object]:
    archiver = running_archiver(state, a.tenant_id)
    name = state.tenants[a.tenant_id].name
    if archiver.piece is not None and archiver.piece.tenant_entries:
        raise ArchiveRejected(name, "the open piece holds tenant entries; only sealing persists them")
    last = archiver.next_log_id - 1
    if last <= archiver.checkpoint.last_log_id:
        raise ArchiveRejected(
            name, f"nothing read past the checkpoint at log id {archiver.checkpoint.last_log_id}"
        )
    return [
        CheckpointPersisted(
            seq=state.seq + 1,
            time=state.clock,
            tenant_id=a.tenant_id,
            last_log_id=last,
            archived_ts=state.log[last].time,
        )
    ]


def _crash(state: ClusterState, a: CrashArchiver) -> list[object]:
    archiver = running_archiver(state, a.tenant_id)
    return [
        ArchiverCrashed(
            seq=state.seq + 1,
            time=state.clock,
            tenant_id=a.tenant_id,
            lost_entries=archiver.piece.kept if archiver.piece else 0,
            restart_log_id=restart_position(archiver, state.config.protocol),
        )
    ]


def _skip(state: ClusterState, a: SkipRecycledLog) -> list[object]:
    archiver = running_archiver(state, a.tenant_id)
    name = state.tenants[a.tenant_id].name
    if archiver.next_log_id > state.recycled_through:
        raise ArchiveRejected(name, f"log id {archiver.next_log_id} is still kept; there is nothing to skip")
    if archiver.piece is not None and archiver.piece.kept:
        raise ArchiveRejected(name, "the open piece holds entries; seal it first")
    if archiver.next_log_id - 1 > archiver.reach:
        raise ArchiveRejected(
            name, f"read through log id {archiver.next_log_id - 1} but not persisted; checkpoint it first"
        )
    start, lost, recycled = skip_plan(archiver, state.recycled_through)
    return [
        ArchiveResumed(
            seq=state.seq + 1,
            time=state.clock,
            tenant_id=a.tenant_id,
            run=archiver.run + 1,
            start_log_id=start,
            lost_first=0 if lost is None else lost.first_log_id,
            lost_last=0 if lost is None else lost.last_log_id,
            recycled_first=0 if recycled is None else recycled.first_log_id,
            recycled_last=0 if recycled is None else recycled.last_log_id,
        )
    ]


def _recycle(state: ClusterState, a: RecycleLog) -> list[object]:
    if a.through < 0:
        raise InvalidAction(f"recycle through a log id of at least 1 (0: as far as allowed), got {a.through}")
    limit, why = retention_limit(state)
    through = a.through or limit
    if a.through == 0 and limit <= state.recycled_through:
        raise RecycleRejected(
            through, limit, f"nothing more may be recycled after log id {state.recycled_through} ({why})"
        )
    if through <= state.recycled_through:
        raise RecycleRejected(
            through, limit, f"the log is recycled through log id {state.recycled_through} already ({why})"
        )
    if through > limit:
        raise RecycleRejected(through, limit, f"{why}, so log id {limit} is the furthest")
    return [LogRecycled(seq=state.seq + 1, time=state.clock, through=through)]


ARCHIVE_DECIDERS: dict[type, Callable[[ClusterState, object], list[object]]] = {
    StartArchive: _start,
    StopArchive: _stop,
    ReadEntries: _read,
    SealPiece: _seal,
    PersistCheckpoint: _checkpoint,
    CrashArchiver: _crash,
    SkipRecycledLog: _skip,
    RecycleLog: _recycle,
}
