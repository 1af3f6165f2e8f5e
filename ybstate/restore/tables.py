"""The restore internal tables computed from state, row for row: the seed's
__all_tenant_restore_task and ybstate's __all_tenant_schema_mapping.

The same tables exist as SQL views over the events (``views.sql`` in this package);
tests check that both give the same rows. Columns are the seed's
(docs/internal-tables.md), in the seed's order, plus ybstate's additions at the end.
"""

from __future__ import annotations

from ybstate.cluster.state import ClusterState
from ybstate.kernel import StateTable
from ybstate.restore.state import RESTORE_STATUS_CODE

__all__ = [
    "TABLES",
    "RESTORE_TASK_COLUMNS",
    "SCHEMA_MAPPING_COLUMNS",
    "restore_task_rows",
    "schema_mapping_rows",
]

RESTORE_TASK_COLUMNS = (
    "task_id", "src_tenant_id", "dest_tenant_id", "backup_set_id", "restore_timestamp", "status",
    "backup_dest", "start_time", "end_time", "baseline_progress", "incremental_progress",
    "restored_log_id", "error_msg", "until_ts", "target_name",
)  # fmt: skip
SCHEMA_MAPPING_COLUMNS = (
    "task_id", "src_tenant_id", "dest_tenant_id", "src_table_id", "dest_table_id", "table_name",
    "dest_schema_version", "dropped",
)  # fmt: skip


def restore_task_rows(state: ClusterState) -> list[tuple]:
    """One row per restore task, by task id. restore_timestamp is 0 for a restore asked
    for "latest" (until_ts holds the T it resolved to), else T."""
    rows = []
    for task in sorted(state.restores.values(), key=lambda t: t.task_id):
        rows.append(
            (
                task.task_id, task.source_tenant_id, task.target_tenant_id, task.set_id,
                0 if task.until == "latest" else task.until_ts, RESTORE_STATUS_CODE[task.phase],
                state.backup_sets[task.set_id].destination, task.started_ts, task.ended_ts,
                task.baseline_progress, task.incremental_progress, task.restored_log_id, task.error,
                task.until_ts, task.target_name,
            )
        )  # fmt: skip
    return rows


def schema_mapping_rows(state: ClusterState) -> list[tuple]:
    """One row per standby table a restore created (from the backup set's schema, or by a
    replayed DDL), by task id then standby table id."""
    rows = []
    for task in sorted(state.restores.values(), key=lambda t: t.task_id):
        for entry in sorted(task.mapping, key=lambda m: m.target_table_id):
            rows.append(
                (
                    task.task_id, task.source_tenant_id, task.target_tenant_id, entry.source_table_id,
                    entry.target_table_id, entry.name, entry.schema_version, entry.dropped,
                )
            )  # fmt: skip
    return rows


TABLES = (
    StateTable(name="__all_tenant_restore_task", columns=RESTORE_TASK_COLUMNS, rows=restore_task_rows),
    StateTable(name="__all_tenant_schema_mapping", columns=SCHEMA_MAPPING_COLUMNS, rows=schema_mapping_rows),
)
"""The restore internal tables, each with the SQL view (views.sql) that must agree."""
