"""Log retention: how far the transaction server may recycle its commit log, and what a
business-first tenant's archiver records when its next entry is gone. Pure helpers, used
alike by ``decide`` (to make events) and ``apply`` (to check them)."""

from __future__ import annotations

from ybstate.archive.state import CRASH_BEFORE_SEAL, RECYCLED, Archiver, ArchiverStatus, Hole
from ybstate.cluster.protocol import LogPinning
from ybstate.cluster.state import ClusterState, LogRetention

__all__ = ["retention_limit", "skip_plan"]


def retention_limit(state: ClusterState) -> tuple[int, str]:
    """The furthest log id the server may recycle now, and what holds it there.

    An entry may go once a frozen baseline holds what it wrote: no further than the newest
    FREEZE entry, and not from the first entry of a transaction open at that freeze or
    since (its mutators are in no baseline yet). A running archiver of a backup-first tenant pins every entry
    after its last sealed piece: that is where a crash restarts it.
    """
    newest = state.frozen.get(state.frozen_version)
    if newest is None:
        return 0, "no freeze yet: no baseline holds what the log wrote"
    limit, why = newest.log_id, f"the newest freeze entry is log id {newest.log_id}"
    # Transactions open at that freeze (committed since, or not) wrote nothing into its
    # baseline; those open now began after it or straddled it.
    straddling = [*newest.open_transactions, *state.open_txns.values()]
    if straddling:
        oldest = min(straddling, key=lambda t: (t.first_log_id, t.tx_id))
        if oldest.first_log_id - 1 < limit:
            limit = oldest.first_log_id - 1
            why = f"transaction {oldest.tx_id} is not in a baseline and began at log id {oldest.first_log_id}"
    if state.config.protocol.log_pinning is LogPinning.UNPINNED:
        return limit, why  # the seed's flaw 9: archivers pin nothing
    for tenant_id in sorted(state.archivers.keys()):
        archiver = state.archivers[tenant_id]
        tenant = state.tenants[tenant_id]
        if archiver.status is not ArchiverStatus.RUNNING:
            continue
        pinned = (
            archiver.next_log_id - 1
            if state.config.protocol.log_pinning is LogPinning.READ_POSITION
            else archiver.sealed_through
        )
        if tenant.log_retention is LogRetention.BACKUP_FIRST and pinned < limit:
            limit = pinned
            why = (
                f"tenant {tenant.name!r} archives backup first and has sealed its log "
                f"through log id {archiver.sealed_through}"
            )
    return limit, why


def skip_plan(archiver: Archiver, recycled_through: int) -> tuple[int, Hole | None, Hole | None]:
    """Where an archiver whose next entry is recycled reads on, and the holes it leaves:
    log ids it had read before a crash and lost with it, then log ids it never read."""
    reach = archiver.reach
    start = max(reach, recycled_through) + 1
    lost_last = min(archiver.read_through, recycled_through)
    lost = (
        Hole(first_log_id=reach + 1, last_log_id=lost_last, reason=CRASH_BEFORE_SEAL)
        if lost_last > reach
        else None
    )
    never_read = max(reach, archiver.read_through) + 1
    recycled = (
        Hole(first_log_id=never_read, last_log_id=recycled_through, reason=RECYCLED)
        if recycled_through >= never_read
        else None
    )
    return start, lost, recycled
