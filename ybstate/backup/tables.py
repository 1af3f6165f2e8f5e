"""The seed's backup internal tables computed from state, row for row.

The same tables exist as SQL views over the events (``views.sql`` in this package); a
test checks, for every history Hypothesis makes, that both give the same rows. Columns
are the seed's (docs/internal-tables.md), in the seed's order, plus ybstate's additions
at the end.
"""

from __future__ import annotations

from ybstate.backup.state import TASK_STATUS_CODE
from ybstate.cluster.state import ClusterState
from ybstate.kernel import StateTable

__all__ = [
    "TABLES",
    "BACKUP_TASK_COLUMNS",
    "BACKUP_SET_COLUMNS",
    "BACKUP_TABLET_COLUMNS",
    "backup_task_rows",
    "backup_set_rows",
    "backup_tablet_rows",
    "key_text",
]

BACKUP_TASK_COLUMNS = (
    "task_id", "tenant_id", "task_type", "status", "backup_dest", "start_time", "end_time",
    "backup_set_id", "start_log_id", "end_log_id", "progress", "error_msg",
)  # fmt: skip
BACKUP_SET_COLUMNS = (
    "backup_set_id", "tenant_id", "backup_type", "status", "backup_dest", "start_time", "end_time",
    "frozen_version", "schema_version", "data_size", "tablet_count", "manifest_path",
    "start_replay_log_id", "snapshot_ts",
)  # fmt: skip
BACKUP_TABLET_COLUMNS = (
    "backup_set_id", "tablet_id", "tenant_id", "table_id", "start_key", "end_key", "row_count",
    "data_size", "checksum", "sstable_path", "backup_time",
)  # fmt: skip


def key_text(position: int) -> str:
    """A tablet range bound as the seed's serialized key column shows it: 8 hex digits."""
    return f"{position:08x}"


def backup_task_rows(state: ClusterState) -> list[tuple]:
    rows = []
    for task in sorted(state.backups.values(), key=lambda t: t.task_id):
        rows.append(
            (
                task.task_id, task.tenant_id, 0, TASK_STATUS_CODE[task.phase], task.destination,
                task.started_ts, task.ended_ts, task.set_id, 0, 0, task.progress, task.error,
            )
        )  # fmt: skip
    return rows


def backup_set_rows(state: ClusterState) -> list[tuple]:
    rows = []
    for entry in sorted(state.backup_sets.values(), key=lambda s: s.set_id):
        rows.append(
            (
                entry.set_id, entry.tenant_id, 0, int(entry.status), entry.destination, entry.started_ts,
                entry.completed_ts, entry.frozen_version, entry.schema_version, entry.data_size,
                len(entry.tablets), entry.manifest_path, entry.start_replay_log_id, entry.snapshot_ts,
            )
        )  # fmt: skip
    return rows


def backup_tablet_rows(state: ClusterState) -> list[tuple]:
    rows = []
    for (set_id, tablet_id), stored in sorted(state.stored.items()):
        tenant_id = state.backup_sets[set_id].tenant_id
        rows.append(
            (
                set_id, tablet_id, tenant_id, stored.table_id, key_text(stored.start), key_text(stored.end),
                stored.row_count, stored.data_size, stored.checksum, stored.path, stored.stored_ts,
            )
        )  # fmt: skip
    return rows


TABLES = (
    StateTable(name="__all_tenant_backup_task", columns=BACKUP_TASK_COLUMNS, rows=backup_task_rows),
    StateTable(name="__all_tenant_backup_set", columns=BACKUP_SET_COLUMNS, rows=backup_set_rows),
    StateTable(name="__all_tenant_backup_tablet", columns=BACKUP_TABLET_COLUMNS, rows=backup_tablet_rows),
)
"""The backup internal tables, each with the SQL view (views.sql) that must agree."""
