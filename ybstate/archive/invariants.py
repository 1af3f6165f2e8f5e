"""Invariants of log archiving, over whole states."""

from __future__ import annotations

import itertools
from collections import Counter

from ybstate.archive.derive import entries_checksum, entries_size, kept
from ybstate.archive.state import STOPPED, ArchiverStatus
from ybstate.archive.window import restorable_window
from ybstate.cluster.state import ClusterState, LogRetention
from ybstate.kernel import Invariant

__all__ = ["ARCHIVE_INVARIANTS"]


def _pieces_by_tenant(state: ClusterState) -> dict[int, list]:
    found: dict[int, list] = {}
    for piece in state.pieces.values():
        found.setdefault(piece.tenant_id, []).append(piece)
    for pieces in found.values():
        pieces.sort(key=lambda p: p.piece_no)
    return found


def pieces_consecutive(state: ClusterState) -> str | None:
    """Within one archiving run, each piece starts right after the previous one ends."""
    for tenant_id, pieces in _pieces_by_tenant(state).items():
        for before, after in itertools.pairwise(pieces):
            if after.run == before.run and after.first_log_id != before.last_log_id + 1:
                return (
                    f"tenant {tenant_id}: piece {after.piece_no} starts at log id {after.first_log_id}, "
                    f"piece {before.piece_no} ended at {before.last_log_id}"
                )
    return None


def pieces_hold_exactly_their_range(state: ClusterState) -> str | None:
    """A piece holds exactly the entries of its range that its tenant keeps, and no other
    tenant's; no entry is in two pieces of a tenant."""
    for tenant_id, pieces in _pieces_by_tenant(state).items():
        seen = Counter()
        for piece in pieces:
            expected = [
                state.log[i]
                for i in range(piece.first_log_id, piece.last_log_id + 1)
                if kept(state.log[i], tenant_id)
            ]
            if list(piece.entries) != expected:
                return f"tenant {tenant_id}: piece {piece.piece_no} does not hold exactly its range's entries"
            seen.update(e.log_id for e in piece.entries)
        twice = sorted(log_id for log_id, n in seen.items() if n > 1)
        if twice:
            return f"tenant {tenant_id}: log ids {twice[:5]} are archived twice"
    return None


def checkpoint_honest(state: ClusterState) -> str | None:
    """Every tenant entry in the log a run covered (from its start to its checkpoint) is in
    a piece, and archived_ts is the checkpoint entry's timestamp."""
    by_tenant = _pieces_by_tenant(state)
    for tenant_id, archiver in state.archivers.items():
        last = archiver.checkpoint.last_log_id
        archived = {e.log_id for p in by_tenant.get(tenant_id, ()) for e in p.entries}
        for span in restorable_window(state, tenant_id).covered:
            for log_id in range(span.first_log_id, span.last_log_id + 1):
                entry = state.log[log_id]
                if getattr(entry, "tenant_id", None) == tenant_id and log_id not in archived:
                    return (
                        f"tenant {tenant_id}: run {span.run} covers through {span.last_log_id} "
                        f"but log id {log_id} is in no piece"
                    )
        if last and archiver.checkpoint.archived_ts != state.log[last].time:
            return f"tenant {tenant_id}: archived_ts {archiver.checkpoint.archived_ts} != ts of log id {last}"
        if archiver.next_log_id <= archiver.sealed_through:
            return f"tenant {tenant_id}: reading at {archiver.next_log_id}, behind its last piece"
    return None


def piece_figures_recompute(state: ClusterState) -> str | None:
    """A sealed piece's recorded count, tenant entries, min and max ts, checksum and size
    equal those recomputed from the entries it holds."""
    for (tenant_id, piece_no), piece in state.pieces.items():
        entries = list(piece.entries)
        stamps = [e.time for e in entries]
        recomputed = (
            len(entries),
            sum(1 for e in entries if getattr(e, "tenant_id", None) == tenant_id),
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
            return f"tenant {tenant_id} piece {piece_no}: recorded {recorded}, recomputed {recomputed}"
    return None


def holes_account_for_the_rest(state: ClusterState) -> str | None:
    """From where archiving first started to where it is accounted for, every log id is
    either covered by a run or in exactly one recorded hole; no piece holds an entry of a
    hole."""
    for tenant_id, archiver in state.archivers.items():
        window = restorable_window(state, tenant_id)
        ranges = sorted(
            [(c.first_log_id, c.last_log_id, f"run {c.run}") for c in window.covered]
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
        for piece in state.pieces.values():
            if piece.tenant_id != tenant_id:
                continue
            for hole in archiver.holes:
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
    Invariant(name="archive_piece_figures_recompute", check=piece_figures_recompute, subject=_sealed),
    Invariant(name="archive_pieces_consecutive", check=pieces_consecutive, subject=_sealed),
    Invariant(
        name="archive_pieces_hold_exactly_their_range", check=pieces_hold_exactly_their_range, subject=_sealed
    ),
    Invariant(name="archive_checkpoint_honest", check=checkpoint_honest, subject=_checkpointed),
    Invariant(
        name="archive_holes_account_for_the_rest", check=holes_account_for_the_rest, subject=_archiving
    ),
    Invariant(
        name="archive_backup_first_pins_its_log",
        check=backup_first_pins_its_log,
        subject=_backup_first_archived,
    ),
)
