"""The restorable window of a tenant (DESIGN 3.3), computed from state.

Restore to T needs a completed backup set S with S.snapshot_ts <= T, and archived log
covering, without a hole, every log id from S.start_replay_log_id to the entry at T.
Archiving covers log ids in runs: a run covers from where it started to its checkpoint
(every entry read, every tenant entry in a sealed piece). A stop ends a run and a later
start begins a new one; so does recycled log under a business-first tenant's archiver.
What lies between two runs is a hole, recorded with its reason when it arose (stopped,
recycled log, crash before a seal); runs that meet without a hole form one segment.

This reads backup storage's catalog and the archive's checkpoints only: the view an
operator has, not the ghost. Pure.
"""

from __future__ import annotations

import attrs

from ybstate.archive.state import ArchiverStatus, Hole
from ybstate.backup.state import SetStatus
from ybstate.cluster.state import ClusterState

__all__ = [
    "Covered",
    "Hole",
    "Interval",
    "Window",
    "covered_runs",
    "merged_holes",
    "restorable_window",
    "segments",
]


@attrs.frozen(kw_only=True)
class Covered:
    """Log ids ``first_log_id`` .. ``last_log_id`` archived without a hole, up to ``until_ts``."""

    run: int
    first_log_id: int
    last_log_id: int
    until_ts: int


@attrs.frozen(kw_only=True)
class Interval:
    """Every T in [from_ts, to_ts] is restorable, from backup set ``set_id``."""

    from_ts: int
    to_ts: int
    set_id: int


@attrs.frozen(kw_only=True)
class Window:
    tenant_id: int
    intervals: tuple[Interval, ...]
    covered: tuple[Covered, ...]  # per run, only runs that covered something
    holes: tuple[Hole, ...]  # adjacent holes of one reason merged


def covered_runs(state: ClusterState, tenant_id: int) -> list[Covered]:
    """What each run of the tenant's archiving covered (its archiver alone decides)."""
    archiver = state.archivers.get(tenant_id)
    if archiver is None:
        return []
    spans = [
        Covered(run=r.run, first_log_id=r.start_log_id, last_log_id=r.through, until_ts=r.through_ts)
        for r in archiver.past_runs
        if r.through >= r.start_log_id
    ]
    through = archiver.checkpoint.last_log_id
    if archiver.status is ArchiverStatus.RUNNING and through >= archiver.run_start_log_id:
        spans.append(
            Covered(
                run=archiver.run,
                first_log_id=archiver.run_start_log_id,
                last_log_id=through,
                until_ts=archiver.checkpoint.archived_ts,
            )
        )
    return spans


def segments(covered: list[Covered]) -> list[Covered]:
    """Covered runs that meet (one starts right after the other ends) joined into one."""
    joined: list[Covered] = []
    for span in covered:
        if joined and span.first_log_id == joined[-1].last_log_id + 1:
            joined[-1] = attrs.evolve(joined[-1], last_log_id=span.last_log_id, until_ts=span.until_ts)
        else:
            joined.append(span)
    return joined


def merged_holes(holes: tuple[Hole, ...]) -> tuple[Hole, ...]:
    """Recorded holes with adjacent ones of the same reason joined (a run that covered
    nothing between two stops leaves two pieces of one hole)."""
    joined: list[Hole] = []
    for hole in holes:
        if joined and joined[-1].reason == hole.reason and joined[-1].last_log_id + 1 == hole.first_log_id:
            joined[-1] = attrs.evolve(joined[-1], last_log_id=hole.last_log_id)
        else:
            joined.append(hole)
    return tuple(joined)


def restorable_window(state: ClusterState, tenant_id: int) -> Window:
    covered = covered_runs(state, tenant_id)
    archiver = state.archivers.get(tenant_id)
    holes = () if archiver is None else merged_holes(archiver.holes)
    intervals = []
    for entry in sorted(state.backup_sets.values(), key=lambda s: s.set_id):
        if entry.tenant_id != tenant_id or entry.status is not SetStatus.AVAILABLE:
            continue
        freeze_log_id = state.frozen[entry.frozen_version].log_id
        for span in segments(covered):
            if span.first_log_id <= entry.start_replay_log_id and span.last_log_id >= freeze_log_id:
                if span.until_ts >= entry.snapshot_ts:
                    intervals.append(
                        Interval(from_ts=entry.snapshot_ts, to_ts=span.until_ts, set_id=entry.set_id)
                    )
                break
    return Window(tenant_id=tenant_id, intervals=tuple(intervals), covered=tuple(covered), holes=holes)
