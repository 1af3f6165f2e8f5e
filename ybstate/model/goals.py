"""The protocol's named goals: "sometimes" properties a check can require to be reached,
so that a run which never gets there says it proved nothing (it is vacuous).

Each goal is a predicate over the cluster's state, named as check files name it
(DESIGN 13, ``[check] goals``). docs/checks.md lists them.
"""

from __future__ import annotations

from ybstate.archive.state import ArchiverStatus
from ybstate.backup.state import BackupPhase
from ybstate.cluster.state import ClusterState, TenantStatus
from ybstate.kernel import Goal
from ybstate.promote.state import PromotionStatus
from ybstate.restore.state import RestorePhase

__all__ = ["GOALS"]


def _restore(phase: RestorePhase):
    return lambda state: any(t.phase is phase for t in state.restores.values())


def _backup(phase: BackupPhase):
    return lambda state: any(t.phase is phase for t in state.backups.values())


def _promotion(status: PromotionStatus):
    return lambda state: any(p.status is status for p in state.promotions.values())


def _replayed(state: ClusterState) -> bool:
    """A restore applied archived entries through its pipeline (not only a baseline)."""
    return any(t.applied > 0 for t in state.restores.values())


def _crashed(state: ClusterState) -> bool:
    return any(a.crashes for a in state.archivers.values())


def _stopped(state: ClusterState) -> bool:
    return any(a.status is ArchiverStatus.STOPPED for a in state.archivers.values())


def _hole(state: ClusterState) -> bool:
    return any(a.holes for a in state.archivers.values())


def _retired(state: ClusterState) -> bool:
    return any(
        t.status in (TenantStatus.RETIRED, TenantStatus.DECOMMISSIONED) for t in state.tenants.values()
    )


GOALS: dict[str, Goal[ClusterState]] = {
    goal.name: goal
    for goal in (
        Goal(name="backup_completed", reached=_backup(BackupPhase.COMPLETED)),
        Goal(name="backup_failed", reached=_backup(BackupPhase.FAILED)),
        Goal(name="backup_cancelled", reached=_backup(BackupPhase.CANCELLED)),
        Goal(name="archiver_crashed", reached=_crashed),
        Goal(name="archiver_stopped", reached=_stopped),
        Goal(name="archive_hole_recorded", reached=_hole),
        Goal(name="log_recycled", reached=lambda state: state.recycled_through > 0),
        Goal(name="restore_replayed_entries", reached=_replayed),
        Goal(name="restore_completed", reached=_restore(RestorePhase.COMPLETED)),
        Goal(name="restore_failed", reached=_restore(RestorePhase.FAILED)),
        Goal(name="restore_cancelled", reached=_restore(RestorePhase.CANCELLED)),
        Goal(name="promotion_completed", reached=_promotion(PromotionStatus.COMPLETED)),
        Goal(name="promotion_rolled_back", reached=_promotion(PromotionStatus.ROLLED_BACK)),
        Goal(name="tenant_decommissioned", reached=_retired),
    )
}
"""Every goal a check file may name, by name."""
