"""What a restore would do, decided before it starts (DESIGN 4): the restore point T,
the base backup set, the archive segment and the entries to replay; or the refusal, with
the reason and the values. Pure; ``decide`` and ``ybstate restore-preview`` share it.

It reads what an operator can see: backup storage's catalog and pieces, and the
archive's checkpoints. The live source is not consulted (it may be gone or damaged).

Where the replay starts is a policy (:class:`~ybstate.cluster.protocol.ReplayStart`,
read from the state): the set's start_replay_log_id, the first entry of the oldest
transaction open at its freeze; or, the seed's flaw 1, where the tenant's archiving
(its current run) started (:func:`replay_start`).
"""

from __future__ import annotations

import attrs

from ybstate.archive.window import Covered, restorable_window, segments
from ybstate.backup.state import BackupSet, SetStatus
from ybstate.cluster.costs import shared
from ybstate.cluster.protocol import ReplayStart
from ybstate.cluster.state import ClusterState
from ybstate.errors import RestoreRejected, UnknownTenant

__all__ = [
    "DurationEstimate",
    "RestorePlan",
    "estimate_duration",
    "incremental_entries",
    "plan_restore",
    "replay_entries",
    "replay_start",
    "resolve_until",
    "segment_holding",
]


@attrs.frozen(kw_only=True)
class RestorePlan:
    source_tenant_id: int
    set_id: int
    until_ts: int
    until: str
    start_log_id: int  # where the replay starts: the set's start_replay_log_id (replay_start)
    freeze_log_id: int  # the set's freeze entry: commits up to it are in the baseline
    end_log_id: int  # the last archived log id with ts <= T
    segment: Covered  # the hole-free archive the replay reads
    pieces: tuple[int, ...]  # piece numbers the replay reads
    entries: int  # archived entries to replay (through the first one past T, if archived)
    rows: int  # baseline rows to load
    tablets: int


def resolve_until(state: ClusterState, source: str, until: int | str) -> tuple[int | None, str]:
    """T for ``until``: a timestamp, a mark's name, or "latest" (None: decided by the window)."""
    if isinstance(until, bool) or not isinstance(until, int | str):
        raise RestoreRejected(
            source, f"the restore point must be a timestamp, a mark or 'latest', got {until!r}"
        )
    if isinstance(until, int):
        if until < 0:
            raise RestoreRejected(source, f"the restore point must be a timestamp >= 0, got {until}")
        return until, str(until)
    if until == "latest":
        return None, until
    ts = state.marks.get(until)
    if ts is None:
        raise RestoreRejected(
            source, f"there is no mark named {until!r} (marks: {sorted(state.marks.keys())})"
        )
    return ts, until


def replay_start(state: ClusterState, chosen: BackupSet) -> int:
    """The log id a restore from ``chosen`` replays the archive from: the set's
    start_replay_log_id. The seed's flaw 1 (``protocol.replay_start`` ARCHIVE_START):
    where the tenant's archiving started, as its incremental checkpoint records it (the
    current run's start), whatever the set needs."""
    archiver = state.archivers.get(chosen.tenant_id)
    if state.config.protocol.replay_start is ReplayStart.ARCHIVE_START and archiver is not None:
        return archiver.run_start_log_id
    return chosen.start_replay_log_id


def _available_sets(state: ClusterState, tenant_id: int) -> list[BackupSet]:
    sets = [
        s for s in state.backup_sets.values() if s.tenant_id == tenant_id and s.status is SetStatus.AVAILABLE
    ]
    return sorted(sets, key=lambda s: s.set_id)


def plan_restore(
    state: ClusterState, source: str, until: int | str = "latest", backup_set: int = 0
) -> RestorePlan:
    tenant = state.tenant_named(source) if isinstance(source, str) else None
    if tenant is None:
        raise UnknownTenant(source)
    if isinstance(backup_set, bool) or not isinstance(backup_set, int) or backup_set < 0:
        raise RestoreRejected(
            source, f"backup_set must be a set id or 0 (the newest that fits), got {backup_set!r}"
        )
    until_ts, label = resolve_until(state, source, until)
    sets = _available_sets(state, tenant.tenant_id)
    if not sets:
        raise RestoreRejected(source, "the tenant has no completed backup set")
    window = restorable_window(state, tenant.tenant_id)
    reach = {i.set_id: i for i in window.intervals}
    if until_ts is None:  # latest: the furthest point any set's window reaches
        if not reach:
            raise RestoreRejected(source, _uncovered(state, sets[-1], window))
        until_ts = max(i.to_ts for i in reach.values())
    if backup_set:
        chosen = next((s for s in sets if s.set_id == backup_set), None)
        if chosen is None:
            raise RestoreRejected(
                source,
                f"backup set {backup_set} is not a completed set of the tenant "
                f"(its completed sets: {[s.set_id for s in sets]})",
            )
        if chosen.snapshot_ts > until_ts:
            raise RestoreRejected(
                source,
                f"backup set {backup_set}'s snapshot {chosen.snapshot_ts} is after the restore point "
                f"{until_ts}",
            )
    else:
        fitting = [s for s in sets if s.snapshot_ts <= until_ts]
        if not fitting:
            raise RestoreRejected(
                source,
                f"the restore point {until_ts} is before every backup set (the earliest snapshot is "
                f"{min(s.snapshot_ts for s in sets)})",
            )
        chosen = max(fitting, key=lambda s: (s.snapshot_ts, s.set_id))
    interval = reach.get(chosen.set_id)
    if interval is None:
        raise RestoreRejected(source, _uncovered(state, chosen, window))
    # A set without straddling transactions replays from its freeze + 1, which a segment
    # ending at the freeze does not reach yet: restorable to T = the snapshot, nothing to replay.
    segment = _segment_holding(window, chosen.start_replay_log_id)
    start = replay_start(state, chosen)
    if until_ts > interval.to_ts:
        hole = next((h for h in window.holes if h.first_log_id == segment.last_log_id + 1), None)
        if hole is not None:
            raise RestoreRejected(
                source,
                f"the restore point {until_ts} is past a hole in the archive: log ids {hole.first_log_id}.."
                f"{hole.last_log_id} are missing ({hole.reason}); backup set {chosen.set_id} reaches "
                f"{interval.to_ts}",
            )
        raise RestoreRejected(
            source, f"the restore point {until_ts} is after the archived-up-to point {interval.to_ts}"
        )
    replayed = segment if start == chosen.start_replay_log_id else _segment_holding(window, start)
    entries, pieces = (
        replay_entries(state, tenant.tenant_id, start, replayed, until_ts) if replayed else ((), ())
    )
    through = [e.log_id for e in entries if e.time <= until_ts]
    rows = sum(state.stored[(chosen.set_id, t)].row_count for t in chosen.tablets)
    return RestorePlan(
        source_tenant_id=tenant.tenant_id,
        set_id=chosen.set_id,
        until_ts=until_ts,
        until=label,
        start_log_id=start,
        freeze_log_id=state.frozen[chosen.frozen_version].log_id,
        end_log_id=through[-1] if through else start - 1,
        segment=segment,
        pieces=pieces,
        entries=len(entries),
        rows=rows,
        tablets=len(chosen.tablets),
    )


def _uncovered(state: ClusterState, chosen: BackupSet, window) -> str:
    freeze = state.frozen[chosen.frozen_version].log_id
    holes = [
        f"{h.first_log_id}..{h.last_log_id} ({h.reason})"
        for h in window.holes
        if h.first_log_id <= freeze and h.last_log_id >= chosen.start_replay_log_id
    ]
    missing = f": log ids {', '.join(holes)} are missing" if holes else ""
    return (
        f"the archive does not cover backup set {chosen.set_id}'s log from its start_replay_log_id "
        f"{chosen.start_replay_log_id} through its freeze entry {freeze} and its snapshot{missing}"
    )


def replay_entries(
    state: ClusterState, tenant_id: int, start_log_id: int, segment: Covered, until_ts: int
) -> tuple[tuple[object, ...], tuple[int, ...]]:
    """The archived entries a restore replays, in log order, from the pieces of
    ``segment``: from ``start_log_id`` up to and including the first entry past T (the
    applier stops there), and the numbers of the pieces they come from."""
    entries: list[object] = []
    used: list[int] = []
    pieces = sorted(
        (p for p in state.pieces.values() if p.tenant_id == tenant_id),
        key=lambda p: p.piece_no,
    )
    for piece in pieces:
        if (
            piece.last_log_id < start_log_id
            or not segment.first_log_id <= piece.first_log_id <= segment.last_log_id
        ):
            continue
        took = False
        for entry in piece.entries:
            if entry.log_id < start_log_id:
                continue
            entries.append(entry)
            took = True
            if entry.time > until_ts:
                used.append(piece.piece_no)
                return tuple(entries), tuple(used)
        if took:
            used.append(piece.piece_no)
    return tuple(entries), tuple(used)


def _segment_holding(window, log_id: int) -> Covered | None:
    """The hole-free stretch of archive a replay from ``log_id`` reads (it may start right
    after a segment's end: then there is nothing to replay yet)."""
    for segment in segments(list(window.covered)):
        if segment.first_log_id <= log_id <= segment.last_log_id + 1:
            return segment
    return None


def segment_holding(state: ClusterState, tenant_id: int, log_id: int) -> Covered | None:
    """The tenant's archive segment a replay from ``log_id`` reads now, if any."""
    return _segment_holding(restorable_window(state, tenant_id), log_id)


def incremental_entries(
    state: ClusterState, tenant_id: int, start_log_id: int, until_ts: int
) -> tuple | None:
    """The entries a restore's incremental phase replays, read from the archive segment
    that holds its replay start now (None if no segment does)."""
    segment = segment_holding(state, tenant_id, start_log_id)
    if segment is None:
        return None
    return replay_entries(state, tenant_id, start_log_id, segment, until_ts)[0]


@attrs.frozen(kw_only=True)
class DurationEstimate:
    """How long a planned restore takes under the cluster's cost table (docs/durations.md),
    without faults: the baseline's tablet fetches, each sharing the DAG's ``parallel``
    fetches, then each archived entry rewritten (a share of the ``workers``) and applied.
    A run adds a microsecond for each log entry the standby writes (its tables, and two for
    each transaction it loads or applies), and what failed attempts take."""

    baseline_us: int
    incremental_us: int
    parallel: int
    workers: int

    @property
    def total_us(self) -> int:
        return self.baseline_us + self.incremental_us


def estimate_duration(state: ClusterState, plan: RestorePlan, workers: int = 0) -> DurationEstimate:
    """The duration of the restore ``plan`` describes, run by ``workers`` rewrite workers
    (0: the cluster's ``restore_workers``), as the model would time it."""
    costs = state.config.costs
    chosen = state.backup_sets[plan.set_id]
    parallel = max(1, min(state.config.dag_workers, len(chosen.tablets)))
    workers = workers or state.config.restore_workers
    baseline = sum(
        shared(costs.fetch_us(state.stored[(plan.set_id, t)].row_count), parallel) for t in chosen.tablets
    )
    per_entry = costs.rewrite_us(workers) + costs.entry_apply_us
    return DurationEstimate(
        baseline_us=baseline, incremental_us=plan.entries * per_entry, parallel=parallel, workers=workers
    )
