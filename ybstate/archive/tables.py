"""Archiving's tables computed from state, row for row: the seed's
__all_tenant_incremental_checkpoint, and the restorable window and its holes. The SQL
views in this package's views.sql must agree (the Hypothesis machine checks it)."""

from __future__ import annotations

from ybstate.archive.window import restorable_window
from ybstate.cluster.state import ClusterState
from ybstate.kernel import StateTable

__all__ = [
    "TABLES",
    "INCREMENTAL_CHECKPOINT_COLUMNS",
    "archive_holes_rows",
    "incremental_checkpoint_rows",
    "restorable_window_rows",
]

INCREMENTAL_CHECKPOINT_COLUMNS = (
    "tenant_id", "checkpoint_log_id", "checkpoint_time", "archive_dest", "archive_file_id",
    "archived_log_count", "archived_data_size",
)  # fmt: skip


def incremental_checkpoint_rows(state: ClusterState) -> list[tuple]:
    rows = []
    for tenant_id in sorted(state.archivers.keys()):
        archiver = state.archivers[tenant_id]
        pieces = [p for p in state.pieces.values() if p.tenant_id == tenant_id]
        rows.append(
            (
                tenant_id,
                archiver.checkpoint.last_log_id,
                archiver.checkpoint.archived_ts,
                archiver.destination,
                archiver.checkpoint.pieces,
                sum(p.entry_count for p in pieces),
                sum(p.data_size for p in pieces),
            )
        )
    return rows


def restorable_window_rows(state: ClusterState) -> list[tuple]:
    """tenant_restorable_window: (tenant_id, from_ts, to_ts, backup_set_id)."""
    rows = []
    for tenant_id in sorted(state.archivers.keys()):
        for interval in restorable_window(state, tenant_id).intervals:
            rows.append((tenant_id, interval.from_ts, interval.to_ts, interval.set_id))
    return rows


def archive_holes_rows(state: ClusterState) -> list[tuple]:
    """tenant_archive_holes: (tenant_id, first_log_id, last_log_id, reason)."""
    rows = []
    for tenant_id in sorted(state.archivers.keys()):
        for hole in restorable_window(state, tenant_id).holes:
            rows.append((tenant_id, hole.first_log_id, hole.last_log_id, hole.reason))
    return rows


TABLES = (
    StateTable(
        name="__all_tenant_incremental_checkpoint",
        columns=INCREMENTAL_CHECKPOINT_COLUMNS,
        rows=incremental_checkpoint_rows,
    ),
    StateTable(
        name="tenant_restorable_window",
        columns=("tenant_id", "from_ts", "to_ts", "backup_set_id"),
        rows=restorable_window_rows,
    ),
    StateTable(
        name="tenant_archive_holes",
        columns=("tenant_id", "first_log_id", "last_log_id", "reason"),
        rows=archive_holes_rows,
    ),
)
"""Archiving's tables computed from state, each with the SQL view (views.sql) that must agree."""
