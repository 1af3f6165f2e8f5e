"""What archiving derives from the state, shared by ``decide``, ``apply``, ``enabled`` and
the invariants: which entries an archiver keeps, what its open piece holds, a piece's
figures, where a restart reads on, and the hole a new run leaves. Pure."""

from __future__ import annotations

from ybstate.archive.state import STOPPED, Archiver, ArchiverStatus, Hole
from ybstate.cluster.events import LOG_ENTRY_KINDS
from ybstate.cluster.protocol import ArchiverRestart, Protocol
from ybstate.cluster.state import ClusterState
from ybstate.errors import ArchiveRejected
from ybstate.hashing import rows_checksum

__all__ = [
    "entries_checksum",
    "entries_size",
    "kept",
    "piece_entries",
    "piece_path",
    "restart_position",
    "running_archiver",
    "stopped_hole",
]


def kept(entry: object, tenant_id: int) -> bool:
    """Whether an archiver of ``tenant_id`` keeps ``entry``: its tenant's, or cluster-wide."""
    owner = getattr(entry, "tenant_id", None)
    return owner is None or owner == tenant_id


def piece_entries(state: ClusterState, archiver: Archiver) -> list[object]:
    """The entries the open piece holds, taken from the log."""
    if archiver.piece is None:
        return []
    entries = (state.log[i] for i in range(archiver.piece.first_log_id, archiver.next_log_id))
    return [e for e in entries if kept(e, archiver.tenant_id)]


def piece_path(archiver: Archiver, piece_no: int) -> str:
    return f"{archiver.destination}/tenant_{archiver.tenant_id}/archive/piece_{piece_no:06d}"


def running_archiver(state: ClusterState, tenant_id: int) -> Archiver:
    """The tenant's running archiver; refused (ArchiveRejected) when none runs."""
    archiver = state.archivers.get(tenant_id)
    if archiver is None or archiver.status is not ArchiverStatus.RUNNING:
        name = state.tenants[tenant_id].name if tenant_id in state.tenants else f"#{tenant_id}"
        raise ArchiveRejected(name, "no archiver is running")
    return archiver


def entries_checksum(entries: list[object]) -> int:
    """Order-independent checksum of archived entries: kind, log id and timestamp each."""
    return rows_checksum((LOG_ENTRY_KINDS[type(e)], str(e.log_id), str(e.time)) for e in entries)


def entries_size(entries: list[object]) -> int:
    """Bytes archived entries take in the modelled piece format: their text, one each."""
    return sum(len(repr(e).encode()) for e in entries)


def restart_position(archiver: Archiver, protocol: Protocol) -> int:
    """Where a restarted archiver reads on: right after its run's last sealed piece, the
    persisted checkpoint. The seed's flaw 8 (``protocol.archiver_restart``): from where its
    run began (re-archiving what it sealed), or from its in-memory read position (which
    the crash lost, with the open piece: skipping what it had read and not sealed)."""
    if protocol.archiver_restart is ArchiverRestart.RUN_START:
        return archiver.run_start_log_id
    if protocol.archiver_restart is ArchiverRestart.READ_POSITION:
        return archiver.next_log_id
    return archiver.sealed_through + 1


def stopped_hole(previous: Archiver | None, start: int) -> Hole | None:
    """The log ids a new run starting at ``start`` leaves unarchived after the last one."""
    if previous is None or start <= previous.reach + 1:
        return None
    return Hole(first_log_id=previous.reach + 1, last_log_id=start - 1, reason=STOPPED)
