"""Invariants of full backups (oracles: they may read the ghost). A set is checked against
the baseline when it becomes available (``completed_sets_equal_baseline_since``)."""

from __future__ import annotations

import functools

from ybstate.backup.events import BACKUP_TASK
from ybstate.backup.state import BackupPhase, SetStatus
from ybstate.cluster import ghost, sstable
from ybstate.cluster.invariants import whole
from ybstate.cluster.state import ClusterState
from ybstate.kernel import Invariant

__all__ = ["BACKUP_INVARIANTS"]


def completed_sets_equal_baseline_since(before: ClusterState, after: ClusterState) -> str | None:
    """An available set holds exactly the tenant's commits at or before its freeze entry.

    What a set holds never changes once it is available (its stored tablets are written
    before), so each is checked when it becomes available."""
    for entry in after.backup_sets.values():
        if entry.status is not SetStatus.AVAILABLE:
            continue
        was = before.backup_sets.get(entry.set_id)
        if was is not None and was.status is SetStatus.AVAILABLE:
            continue
        frozen = after.frozen[entry.frozen_version]
        expected = ghost.content_at_log(after, entry.tenant_id, frozen.log_id)
        held = {}
        for tablet_id in entry.tablets:
            stored = after.stored[(entry.set_id, tablet_id)]
            for key, value in stored.rows:
                held[(stored.table_name, key)] = value
        if held != expected:
            missing = sorted(set(expected.items()) - set(held.items()))[:3]
            extra = sorted(set(held.items()) - set(expected.items()))[:3]
            where = f"backup set {entry.set_id} (version {entry.frozen_version})"
            return f"{where}: missing {missing}, unexpected {extra}"
    return None


completed_sets_equal_baseline = whole(completed_sets_equal_baseline_since)


def sets_hold_one_tenant(state: ClusterState) -> str | None:
    """Every stored tablet of a set belongs to a table of the set's tenant."""
    for (set_id, tablet_id), stored in state.stored.items():
        entry = state.backup_sets[set_id]
        owner = state.tables[stored.table_id].tenant_id
        if owner != entry.tenant_id:
            return f"set {set_id} of tenant {entry.tenant_id} holds tablet {tablet_id} of tenant {owner}"
    return None


@functools.cache
def _legal() -> frozenset:
    return frozenset((before, after) for before, _event, after in BACKUP_TASK.edges() if before is not after)


def _phases_of(tasks) -> str | None:
    legal = _legal()
    for task in tasks:
        if task.phases[0] is not BackupPhase.INIT or task.phases[-1] is not task.phase:
            return f"backup task {task.task_id} went through {[p.value for p in task.phases]}"
        for before, after in zip(task.phases, task.phases[1:]):
            if (before, after) not in legal:
                return f"backup task {task.task_id} moved from {before.value} to {after.value}"
    return None


def phases_move_forward(state: ClusterState) -> str | None:
    """Each task's phases follow the phase table from INIT, never back."""
    return _phases_of(state.backups.values())


def phases_move_forward_since(before: ClusterState, after: ClusterState) -> str | None:
    """:func:`phases_move_forward` for the tasks that changed since ``before``."""
    old = before.backups
    return _phases_of(t for task_id, t in after.backups.items() if old.get(task_id) is not t)


def pinned_versions_kept(state: ClusterState) -> str | None:
    """No SSTable version a running backup needs has been dropped."""
    for task in state.backups.values():
        if task.pins is not None and not state.frozen[task.pins].available:
            return f"backup task {task.task_id} needs frozen version {task.pins}, which was dropped"
    return None


def checksums_recompute(state: ClusterState) -> str | None:
    """Recorded row counts, sizes and checksums equal those recomputed from stored rows."""
    for (set_id, tablet_id), stored in state.stored.items():
        recomputed = (
            len(stored.rows),
            sstable.data_size(stored.rows),
            sstable.tablet_checksum(stored.table_name, stored.rows),
        )
        recorded = (stored.row_count, stored.data_size, stored.checksum)
        if recomputed != recorded:
            return f"set {set_id} tablet {tablet_id}: recorded {recorded}, recomputed {recomputed}"
    return None


def available_sets_complete(state: ClusterState) -> str | None:
    """An available set has every tablet of its manifest in storage; a deleted one has none."""
    for entry in state.backup_sets.values():
        present = [(entry.set_id, t) in state.stored for t in entry.tablets]
        if entry.status is SetStatus.AVAILABLE and not all(present):
            return f"available set {entry.set_id} misses tablets in storage"
        if entry.status is SetStatus.DELETED and any(present):
            return f"deleted set {entry.set_id} still has tablets in storage"
    return None


# Subjects: what each invariant is about (docs/checks.md, "vacuous").


def _completed(state: ClusterState) -> bool:
    return any(task.phase is BackupPhase.COMPLETED for task in state.backups.values())


def _has_sets(state: ClusterState) -> bool:
    return bool(state.backup_sets)


def _backing_up(state: ClusterState) -> bool:
    return bool(state.backups)


def _pinning(state: ClusterState) -> bool:
    return any(task.pins is not None for task in state.backups.values())


def _stored(state: ClusterState) -> bool:
    return bool(state.stored)


def _available(state: ClusterState) -> bool:
    return any(entry.status is SetStatus.AVAILABLE for entry in state.backup_sets.values())


BACKUP_INVARIANTS: tuple[Invariant[ClusterState], ...] = (
    Invariant(
        name="completed_sets_equal_baseline",
        check=completed_sets_equal_baseline,
        subject=_completed,
        since=completed_sets_equal_baseline_since,
    ),
    Invariant(name="sets_hold_one_tenant", check=sets_hold_one_tenant, subject=_has_sets),
    Invariant(
        name="backup_phases_move_forward",
        check=phases_move_forward,
        subject=_backing_up,
        since=phases_move_forward_since,
    ),
    Invariant(name="pinned_versions_kept", check=pinned_versions_kept, subject=_pinning),
    Invariant(name="backup_checksums_recompute", check=checksums_recompute, subject=_stored),
    Invariant(name="available_sets_complete", check=available_sets_complete, subject=_available),
)
