"""Archiving actions that may happen next, within the scope's ``archive`` section
(:class:`ArchiveScope`)."""

from __future__ import annotations

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
from ybstate.archive.retention import retention_limit
from ybstate.archive.state import ArchiverStatus
from ybstate.cluster.state import ClusterState

__all__ = ["ArchiveScope", "archive_enabled", "archive_probes"]


@attrs.frozen(kw_only=True)
class ArchiveScope:
    """Which tenants may archive, entries per read, how many archiver crashes may happen in
    all, whether archiving may be stopped, how many runs a tenant's archiving may have (a
    stop and a start make a new run), and whether the transaction server may recycle its
    log (as far as it may, each time)."""

    archive_tenants: tuple[str, ...] = ()
    archive_batch: int = 1
    archiver_crashes: int = 0
    archive_stop: bool = False
    max_archive_runs: int = 1
    recycle_log: bool = False


def archive_enabled(state: ClusterState, scope) -> list[object]:
    own: ArchiveScope = scope.archive
    actions: list[object] = []
    crashes = sum(a.crashes for a in state.archivers.values())
    for name in own.archive_tenants:
        tenant = state.tenant_named(name)
        if tenant is None:
            continue
        archiver = state.archivers.get(tenant.tenant_id)
        if archiver is None or archiver.status is ArchiverStatus.STOPPED:
            if archiver is None or archiver.run < own.max_archive_runs:
                start = 1 if archiver is None else archiver.reach + 1
                start = max(start, state.recycled_through + 1)
                if start <= state.next_log_id:
                    destination = f"{state.config.backup_root}/{name}"
                    actions.append(StartArchive(tenant=name, destination=destination, start_log_id=start))
            continue
        piece = archiver.piece
        full = piece is not None and piece.kept >= state.config.piece_entries
        recycled = archiver.next_log_id <= state.recycled_through
        if archiver.next_log_id <= state.last_log_id and not full and not recycled:
            actions.append(ReadEntries(tenant_id=tenant.tenant_id, count=own.archive_batch))
        if recycled and (piece is None or not piece.kept) and archiver.next_log_id - 1 <= archiver.reach:
            actions.append(SkipRecycledLog(tenant_id=tenant.tenant_id))
        if piece is not None and piece.kept:
            actions.append(SealPiece(tenant_id=tenant.tenant_id))
        if (
            piece is None or not piece.tenant_entries
        ) and archiver.next_log_id - 1 > archiver.checkpoint.last_log_id:
            actions.append(PersistCheckpoint(tenant_id=tenant.tenant_id))
        if crashes < own.archiver_crashes:
            actions.append(CrashArchiver(tenant_id=tenant.tenant_id))
        if own.archive_stop:
            actions.append(StopArchive(tenant=name))
    if own.recycle_log:
        limit, _ = retention_limit(state)
        if limit > state.recycled_through:
            actions.append(RecycleLog(through=limit))
    return actions


def archive_probes(state: ClusterState, scope) -> list[object]:
    """What every archiver in the scope could be told at any moment, offered or not: read a
    batch, seal its piece, persist its checkpoint, skip past recycled log (an archiver
    outside the scope stands still, and is not probed). The explorer tries those
    ``enabled`` does not offer, each of which must be refused (or be harmless): a
    checkpoint over unsealed entries, a seal of nothing, a read past the log or by a
    stopped archiver, a skip over log still kept or read and not persisted."""
    named = [state.tenant_named(name) for name in scope.archive.archive_tenants]
    probed = sorted(t.tenant_id for t in named if t is not None and t.tenant_id in state.archivers)
    return [
        probe
        for tenant_id in probed
        for probe in (
            ReadEntries(tenant_id=tenant_id, count=scope.archive.archive_batch),
            SealPiece(tenant_id=tenant_id),
            PersistCheckpoint(tenant_id=tenant_id),
            SkipRecycledLog(tenant_id=tenant_id),
        )
    ]
