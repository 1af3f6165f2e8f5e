"""Invariants of log archiving.

Those about pieces are written once, in their incremental form ``<name>_since(before,
after)``: sealed pieces never change, so each is checked when it appears, and coverage
when it grows; the whole-state check is that form from the empty cluster
(:attr:`ybstate.kernel.Invariant.since`)."""

from __future__ import annotations

from ybstate.archive.derive import entries_checksum, entries_size, kept
from ybstate.archive.state import STOPPED, ArchiverStatus, Piece
from ybstate.archive.window import covered_runs
from ybstate.cluster.invariants import whole
from ybstate.cluster.state import ClusterState, LogRetention
from ybstate.kernel import Invariant

__all__ = ["ARCHIVE_INVARIANTS"]


_last_new: list = [None, None, []]  # (before, after, their new pieces): five invariants ask in a row


def _new_pieces(before: ClusterState, after: ClusterState) -> list[Piece]:
    """The pieces sealed since ``before``, by tenant and number. A tenant's pieces are
    numbered 1, 2, ... as they are sealed, and its checkpoint counts them; pieces are
    never changed or removed once sealed (piece_figures_recompute checks the count)."""
    if _last_new[0] is before and _last_new[1] is after:
        return _last_new[2]
    if before.pieces is after.pieces:
        found: list[Piece] = []
    else:
        found = _sealed_since(before, after)
    _last_new[:] = [before, after, found]
    return found


def _sealed_since(before: ClusterState, after: ClusterState) -> list[Piece]:
    found = []
    for tenant_id in sorted(after.archivers.keys()):
        was = before.archivers.get(tenant_id)
        first = 1 if was is None else was.checkpoint.pieces + 1
        for piece_no in range(first, after.archivers[tenant_id].checkpoint.pieces + 1):
            piece = after.pieces.get((tenant_id, piece_no))
            if piece is not None:
                found.append(piece)
    return found


def _reaching_back(state: ClusterState, tenant_id: int, below: int, first_log_id: int):
    """The tenant's pieces numbered below ``below``, newest first, as long as they reach
    ``first_log_id`` (a run's pieces follow one another, so older ones end before)."""
    for piece_no in range(below - 1, 0, -1):
        piece = state.pieces.get((tenant_id, piece_no))
        if piece is None:
            continue  # lost: what it held is missing, for checkpoint_honest to say
        if piece.last_log_id < first_log_id:
            return
        yield piece


def pieces_consecutive_since(before: ClusterState, after: ClusterState) -> str | None:
    """Within one archiving run, each piece starts right after the previous one ends."""
    for piece in _new_pieces(before, after):
        previous = after.pieces.get((piece.tenant_id, piece.piece_no - 1))
        if (
            previous is not None
            and piece.run == previous.run
            and piece.first_log_id != previous.last_log_id + 1
        ):
            return (
                f"tenant {piece.tenant_id}: piece {piece.piece_no} starts at log id {piece.first_log_id}, "
                f"piece {previous.piece_no} ended at {previous.last_log_id}"
            )
    return None


def pieces_hold_exactly_their_range_since(before: ClusterState, after: ClusterState) -> str | None:
    """A piece holds exactly the entries of its range that its tenant keeps, and no other
    tenant's; no entry is in two pieces of a tenant."""
    for piece in _new_pieces(before, after):
        tenant_id = piece.tenant_id
        expected = [
            after.log[i]
            for i in range(piece.first_log_id, piece.last_log_id + 1)
            if kept(after.log[i], tenant_id)
        ]
        if list(piece.entries) != expected:
            return f"tenant {tenant_id}: piece {piece.piece_no} does not hold exactly its range's entries"
        held = {e.log_id for e in piece.entries}
        twice = set()
        for older in _reaching_back(after, tenant_id, piece.piece_no, piece.first_log_id):
            twice.update(held.intersection(e.log_id for e in older.entries))
        if twice:
            return f"tenant {tenant_id}: log ids {sorted(twice)[:5]} are archived twice"
    return None


def _newly_covered(before: ClusterState, after: ClusterState, tenant_id: int) -> list[tuple[int, int, int]]:
    """(run, first, last) log id ranges a run of the tenant covers in ``after`` and did not
    in ``before``."""
    old = covered_runs(before, tenant_id)
    ranges = []
    for span in covered_runs(after, tenant_id):
        low = span.first_log_id
        for was in old:
            if was.first_log_id <= low <= was.last_log_id:
                low = was.last_log_id + 1
        if low <= span.last_log_id:
            ranges.append((span.run, low, span.last_log_id))
    return ranges


def checkpoint_honest_since(before: ClusterState, after: ClusterState) -> str | None:
    """Every tenant entry in the log a run covered (from its start to its checkpoint) is in
    a piece, and archived_ts is the checkpoint entry's timestamp."""
    sealed = {piece.tenant_id for piece in _new_pieces(before, after)}
    for tenant_id, archiver in after.archivers.items():
        if before.archivers.get(tenant_id) is archiver and tenant_id not in sealed:
            continue  # what it says and what it covers are as they were
        last = archiver.checkpoint.last_log_id
        ranges = _newly_covered(before, after, tenant_id)
        if ranges:
            low = min(first for _, first, _ in ranges)
            newest = archiver.checkpoint.pieces + 1
            archived = {e.log_id for p in _reaching_back(after, tenant_id, newest, low) for e in p.entries}
            for run, first, through in ranges:
                for log_id in range(first, through + 1):
                    entry = after.log[log_id]
                    if getattr(entry, "tenant_id", None) == tenant_id and log_id not in archived:
                        return (
                            f"tenant {tenant_id}: run {run} covers through {through} "
                            f"but log id {log_id} is in no piece"
                        )
        if last and archiver.checkpoint.archived_ts != after.log[last].time:
            return f"tenant {tenant_id}: archived_ts {archiver.checkpoint.archived_ts} != ts of log id {last}"
        if archiver.next_log_id <= archiver.sealed_through:
            return f"tenant {tenant_id}: reading at {archiver.next_log_id}, behind its last piece"
    return None


def piece_figures_recompute_since(before: ClusterState, after: ClusterState) -> str | None:
    """A sealed piece's recorded count, tenant entries, min and max ts, checksum and size
    equal those recomputed from the entries it holds; the checkpoints count every piece."""
    counted = sum(a.checkpoint.pieces for a in after.archivers.values())
    if len(after.pieces) != counted:
        return f"{len(after.pieces)} pieces are stored, the archivers' checkpoints count {counted}"
    for piece in _new_pieces(before, after):
        entries = list(piece.entries)
        stamps = [e.time for e in entries]
        recomputed = (
            len(entries),
            sum(1 for e in entries if getattr(e, "tenant_id", None) == piece.tenant_id),
            min(stamps, default=0),
            max(stamps, default=0),
            entries_checksum(entries),
            entries_size(entries),
        )
        recorded = (
            piece.entry_count,
            piece.tenant_entries,
            piece.min_ts,
            piece.max_ts,
            piece.checksum,
            piece.data_size,
        )
        if recomputed != recorded:
            where = f"tenant {piece.tenant_id} piece {piece.piece_no}"
            return f"{where}: recorded {recorded}, recomputed {recomputed}"
    return None


def holes_account_for_the_rest_since(before: ClusterState, after: ClusterState) -> str | None:
    """From where archiving first started to where it is accounted for, every log id is
    either covered by a run or in exactly one recorded hole; no piece holds an entry of a
    hole."""
    new_pieces = _new_pieces(before, after)
    sealed = {piece.tenant_id for piece in new_pieces}
    for tenant_id, archiver in after.archivers.items():
        if before.archivers.get(tenant_id) is archiver and tenant_id not in sealed:
            continue  # its runs, holes and pieces are as they were
        ranges = sorted(
            [(c.first_log_id, c.last_log_id, f"run {c.run}") for c in covered_runs(after, tenant_id)]
            + [(h.first_log_id, h.last_log_id, f"hole ({h.reason})") for h in archiver.holes]
        )
        first = archiver.past_runs[0].start_log_id if archiver.past_runs else archiver.run_start_log_id
        expected = first
        for low, high, what in ranges:
            if low != expected:
                return f"tenant {tenant_id}: {what} starts at log id {low}, expected {expected}"
            expected = high + 1
        if expected - 1 != archiver.reach:
            return (
                f"tenant {tenant_id}: runs and holes end at log id {expected - 1}, reach is {archiver.reach}"
            )
        was = before.archivers.get(tenant_id)
        new_holes = archiver.holes[0 if was is None else len(was.holes) :]
        newest = archiver.checkpoint.pieces + 1
        for hole in archiver.holes:
            older = _reaching_back(after, tenant_id, newest, hole.first_log_id) if hole in new_holes else ()
            for piece in (*(p for p in new_pieces if p.tenant_id == tenant_id), *older):
                if piece.first_log_id <= hole.last_log_id and hole.first_log_id <= piece.last_log_id:
                    return f"tenant {tenant_id}: piece {piece.piece_no} overlaps the hole {hole}"
    return None


def backup_first_pins_its_log(state: ClusterState) -> str | None:
    """A backup-first tenant loses no log to recycling: the server has recycled nothing its
    running archiver has not sealed, and its archive has no hole but where it was stopped."""
    for tenant_id, archiver in state.archivers.items():
        tenant = state.tenants[tenant_id]
        if tenant.log_retention is not LogRetention.BACKUP_FIRST:
            continue
        if archiver.status is ArchiverStatus.RUNNING and state.recycled_through > archiver.sealed_through:
            return (
                f"tenant {tenant.name!r} (backup first): log recycled through {state.recycled_through}, "
                f"its archiver has sealed only through {archiver.sealed_through}"
            )
        lost = [h for h in archiver.holes if h.reason != STOPPED]
        if lost:
            return f"tenant {tenant.name!r} (backup first) has holes {lost}"
    return None


pieces_consecutive = whole(pieces_consecutive_since)
pieces_hold_exactly_their_range = whole(pieces_hold_exactly_their_range_since)
checkpoint_honest = whole(checkpoint_honest_since)
piece_figures_recompute = whole(piece_figures_recompute_since)
holes_account_for_the_rest = whole(holes_account_for_the_rest_since)


# Subjects: what each invariant is about (docs/checks.md, "vacuous").


def _sealed(state: ClusterState) -> bool:
    return bool(state.pieces)


def _archiving(state: ClusterState) -> bool:
    return bool(state.archivers)


def _checkpointed(state: ClusterState) -> bool:
    return any(a.checkpoint.last_log_id for a in state.archivers.values())


def _backup_first_archived(state: ClusterState) -> bool:
    """A backup-first tenant is archived (its archive must then have no hole but where it
    was stopped, whatever the server recycles)."""
    return any(
        state.tenants[tenant_id].log_retention is LogRetention.BACKUP_FIRST for tenant_id in state.archivers
    )


ARCHIVE_INVARIANTS: tuple[Invariant[ClusterState], ...] = (
    Invariant(
        name="archive_piece_figures_recompute",
        check=piece_figures_recompute,
        subject=_sealed,
        since=piece_figures_recompute_since,
    ),
    Invariant(
        name="archive_pieces_consecutive",
        check=pieces_consecutive,
        subject=_sealed,
        since=pieces_consecutive_since,
    ),
    Invariant(
        name="archive_pieces_hold_exactly_their_range",
        check=pieces_hold_exactly_their_range,
        subject=_sealed,
        since=pieces_hold_exactly_their_range_since,
    ),
    Invariant(
        name="archive_checkpoint_honest",
        check=checkpoint_honest,
        subject=_checkpointed,
        since=checkpoint_honest_since,
    ),
    Invariant(
        name="archive_holes_account_for_the_rest",
        check=holes_account_for_the_rest,
        subject=_archiving,
        since=holes_account_for_the_rest_since,
    ),
    Invariant(
        name="archive_backup_first_pins_its_log",
        check=backup_first_pins_its_log,
        subject=_backup_first_archived,
    ),
)
