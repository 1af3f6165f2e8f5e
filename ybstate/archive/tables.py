"""The seed's __all_tenant_incremental_checkpoint computed from state, row for row (the SQL
view in store/sql/archive_views.sql must agree)."""

from __future__ import annotations

from ybstate.cluster.state import ClusterState

__all__ = ["INCREMENTAL_CHECKPOINT_COLUMNS", "incremental_checkpoint_rows"]

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
