"""Verification of a restore (DESIGN 4.4), against what the backup and the archive say
rather than the live source: the standby's content is compared, table by table, with a
plain sequential replay of the same archived entries over the set's stored rows (row
count, order-independent checksum, and a sample of rows). Checksums go by table name,
never table id, so source and standby compare."""

from __future__ import annotations

import attrs

from ybstate.cluster.events import (
    MutatorLogged,
    TableCreated,
    TableDropped,
    TransactionAborted,
    TransactionCommitted,
)
from ybstate.cluster.state import ClusterState
from ybstate.hashing import CHECKSUM_MASK, row_hash
from ybstate.restore.state import RestoreTask

__all__ = ["Contents", "compare", "expected_content", "standby_content", "SAMPLE_ROWS"]

SAMPLE_ROWS = 3  # rows compared one by one per table, the smallest keys


@attrs.frozen
class Contents:
    """Rows per table name: {table: {rowkey: value}}."""

    tables: dict[str, dict[str, str]]

    def figures(self, table: str) -> tuple[int, int]:
        rows = self.tables[table]
        return len(rows), sum(row_hash(table, k, v) for k, v in rows.items()) & CHECKSUM_MASK

    def totals(self) -> tuple[int, int]:
        count = checksum = 0
        for table in self.tables:
            rows, sums = self.figures(table)
            count += rows
            checksum += sums
        return count, checksum & CHECKSUM_MASK


def expected_content(state: ClusterState, task: RestoreTask) -> Contents:
    """The set's stored rows, then every archived transaction committed after the set's
    freeze and at or before T, applied in log order; DDL after the freeze replayed."""
    chosen = state.backup_sets[task.set_id]
    freeze_log_id = state.frozen[chosen.frozen_version].log_id
    tables: dict[str, dict[str, str]] = {schema.name: {} for schema in chosen.schema}
    names = {schema.table_id: schema.name for schema in chosen.schema}
    for tablet_id in chosen.tablets:
        stored = state.stored[(task.set_id, tablet_id)]
        tables[stored.table_name].update(stored.rows)
    pending: dict[int, list] = {}
    for entry in state.restore_entries.get(task.task_id, ()):
        if entry.time > task.until_ts:
            break
        if isinstance(entry, MutatorLogged):
            pending.setdefault(entry.tx_id, []).extend(entry.cells)
        elif isinstance(entry, TransactionAborted):
            pending.pop(entry.tx_id, None)
        elif isinstance(entry, TransactionCommitted):
            cells = pending.pop(entry.tx_id, [])
            if entry.log_id > freeze_log_id:
                for cell in cells:
                    rows = tables[names[cell.table_id]]
                    if cell.value is None:
                        rows.pop(cell.rowkey, None)
                    else:
                        rows[cell.rowkey] = cell.value
        elif isinstance(entry, TableCreated) and entry.log_id > freeze_log_id:
            names[entry.table_id] = entry.name
            tables[entry.name] = {}
        elif isinstance(entry, TableDropped) and entry.log_id > freeze_log_id:
            del tables[names.pop(entry.table_id)]
    return Contents(tables)


def standby_content(state: ClusterState, task: RestoreTask) -> Contents:
    tables: dict[str, dict[str, str]] = {}
    for table in state.tables_of(task.target_tenant_id):
        tables[table.name] = {k: v[2] for k, v in state.table_rows(table) if v[2] is not None}
    return Contents(tables)


def compare(expected: Contents, found: Contents) -> str | None:
    """The first difference between what should be and what is, in words, or None."""
    if set(expected.tables) != set(found.tables):
        return f"tables {sorted(found.tables)}, expected {sorted(expected.tables)}"
    for table in sorted(expected.tables):
        want, got = expected.figures(table), found.figures(table)
        if want != got:
            return f"table {table!r}: {got[0]} rows / checksum {got[1]}, expected {want[0]} / {want[1]}"
        for key in sorted(expected.tables[table])[:SAMPLE_ROWS]:
            if found.tables[table].get(key) != expected.tables[table][key]:
                got, want = found.tables[table].get(key), expected.tables[table][key]
                return f"table {table!r} row {key!r}: {got!r}, expected {want!r}"
    return None
