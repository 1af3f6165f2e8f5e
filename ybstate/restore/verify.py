"""Verification of a restore (DESIGN 4.4), against what the backup and the archive say
rather than the live source: the standby's content is compared, table by table, with a
plain sequential replay of the same archived entries over the set's stored rows (row
count, order-independent checksum, and a sample of rows). Checksums go by table name,
never table id, so source and standby compare.

What verification compares with is a policy (:class:`~ybstate.cluster.protocol.VerifySource`,
read from the state): the seed's flaw 5 compares the standby at T with the live source
tenant now, which a write after T changes and a decommission empties
(:func:`verification_problem`)."""

from __future__ import annotations

import attrs

from ybstate.cluster.events import (
    MutatorLogged,
    TableCreated,
    TableDropped,
    TransactionAborted,
    TransactionCommitted,
)
from ybstate.cluster.protocol import VerifySource
from ybstate.cluster.state import ClusterState, TenantStatus
from ybstate.hashing import CHECKSUM_MASK, row_hash
from ybstate.restore.state import RestoreTask

__all__ = [
    "Contents",
    "compare",
    "expected_content",
    "live_content",
    "standby_content",
    "verification_problem",
    "SAMPLE_ROWS",
]

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
                    if cell.table_id not in names:  # created before a replay that began too late (flaw 1)
                        continue
                    rows = tables[names[cell.table_id]]
                    if cell.value is None:
                        rows.pop(cell.rowkey, None)
                    else:
                        rows[cell.rowkey] = cell.value
        elif isinstance(entry, TableCreated) and entry.log_id > freeze_log_id:
            names[entry.table_id] = entry.name
            tables[entry.name] = {}
        elif isinstance(entry, TableDropped) and entry.log_id > freeze_log_id and entry.table_id in names:
            del tables[names.pop(entry.table_id)]
    return Contents(tables)


def live_content(state: ClusterState, tenant_id: int) -> Contents:
    """A tenant's live tables and their committed rows now."""
    tables: dict[str, dict[str, str]] = {}
    for table in state.tables_of(tenant_id):
        tables[table.name] = {k: v[2] for k, v in state.table_rows(table) if v[2] is not None}
    return Contents(tables)


def standby_content(state: ClusterState, task: RestoreTask) -> Contents:
    return live_content(state, task.target_tenant_id)


def verification_problem(state: ClusterState, task: RestoreTask, found: Contents | None = None) -> str | None:
    """Why the restore's standby (its content ``found``, read now if None) fails its
    verification, or None: compared with the backup and the archive replayed to T; the
    seed's flaw 5 (``protocol.verify_source`` LIVE_SOURCE): with the live source tenant
    now, or nothing to compare once it is gone."""
    if state.config.protocol.verify_source is VerifySource.LIVE_SOURCE:
        source = state.tenants.get(task.source_tenant_id)
        if source is None or source.status is TenantStatus.DECOMMISSIONED:
            return f"nothing to compare: the source tenant {task.source_tenant_id} is gone"
        expected = live_content(state, task.source_tenant_id)
    else:
        expected = expected_content(state, task)
    return compare(expected, standby_content(state, task) if found is None else found)


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
