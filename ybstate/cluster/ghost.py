"""The ghost history: the content of any tenant as of any time, and of any baseline.

Only invariants, oracles, tests and the ``rows`` command read these functions; the
protocol code (backup, archive, restore, promotion) must never consult the ghost.

Content is returned as ``{(table_name, rowkey): value}``: rows are named by table name,
not table id, so a restored copy under new ids compares equal to its source.
"""

from __future__ import annotations

from collections.abc import Iterable

from ybstate.cluster.state import ClusterState, FrozenVersion, Table, Version
from ybstate.hashing import rows_checksum

__all__ = [
    "Rows",
    "content",
    "content_as_of",
    "content_at_log",
    "baseline",
    "value_as_of",
    "checksum",
]

Rows = dict[tuple[str, str], str]


def value_as_of(version: Version | None, ts: int) -> str | None:
    """The value a row had at ``ts`` (None: absent or deleted)."""
    while version is not None and version[0] > ts:
        version = version[3]
    return None if version is None else version[2]


def _value_at_log(version: Version | None, log_id: int) -> str | None:
    while version is not None and version[1] > log_id:
        version = version[3]
    return None if version is None else version[2]


def content(state: ClusterState, tenant_id: int) -> Rows:
    """The tenant's committed content now (live tables only)."""
    result: Rows = {}
    for table in state.tables_of(tenant_id):
        for key, version in state.table_rows(table):
            if version[2] is not None:
                result[(table.name, key)] = version[2]
    return result


def content_as_of(state: ClusterState, tenant_id: int, ts: int) -> Rows:
    """The tenant's content holding exactly its transactions with commit_ts <= ``ts``."""
    result: Rows = {}
    for table in state.tables_of(tenant_id, alive_only=False):
        if not table.alive_at_ts(ts):
            continue
        for key, version in state.table_rows(table):
            value = value_as_of(version, ts)
            if value is not None:
                result[(table.name, key)] = value
    return result


def content_at_log(
    state: ClusterState, tenant_id: int, log_id: int, tables: Iterable[Table] | None = None
) -> Rows:
    """The tenant's content holding exactly its transactions whose COMMIT is at or before
    ``log_id``. ``tables``: the tenant's tables alive then, when the caller knows them."""
    result: Rows = {}
    if tables is None:
        tables = [t for t in state.tables_of(tenant_id, alive_only=False) if t.alive_at_log(log_id)]
    for table in tables:
        for key, version in state.table_rows(table):
            value = _value_at_log(version, log_id)
            if value is not None:
                result[(table.name, key)] = value
    return result


def _tables_at(state: ClusterState, tenant_id: int, frozen: FrozenVersion) -> list[Table]:
    return [t for t in state.tables_of(tenant_id, alive_only=False) if t.alive_at_log(frozen.log_id)]


def baseline(
    state: ClusterState, tenant_id: int, version: int, tables: Iterable[Table] | None = None
) -> Rows:
    """The tenant's rows in the baseline SSTables of frozen version ``version``.
    ``tables``: the tenant's tables alive at its freeze, when the caller knows them."""
    frozen = state.frozen[version]
    result: Rows = {}
    for table in _tables_at(state, tenant_id, frozen) if tables is None else tables:
        for key, version in state.table_rows(table, frozen.snapshot):
            if version[2] is not None:
                result[(table.name, key)] = version[2]
    return result


def checksum(rows: Rows) -> int:
    """Order-independent checksum of a content map (see :mod:`ybstate.hashing`)."""
    return rows_checksum((table, key, value) for (table, key), value in rows.items())
