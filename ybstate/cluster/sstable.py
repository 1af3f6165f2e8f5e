"""What the data servers hold: baseline SSTables of frozen versions, read by tablet.

This is the protocol's view of stored data (a backup copies from here). It reads the
frozen version's snapshot only, never the ghost history's past versions, and refuses a
version whose SSTables were dropped. Pure.
"""

from __future__ import annotations

import immutables

from ybstate.cluster.state import ClusterState, Tablet
from ybstate.errors import InvalidAction
from ybstate.hashing import rows_checksum

__all__ = ["read_tablet", "tablet_checksum", "data_size", "tables_at"]

ROW_OVERHEAD = 16  # bytes of per-row framing in the modelled SSTable format


def read_tablet(state: ClusterState, tablet: Tablet, version: int) -> tuple[tuple[str, str], ...]:
    """The rows of ``tablet`` in the SSTable of frozen version ``version``, by row key."""
    frozen = state.frozen.get(version)
    if frozen is None or not frozen.available:
        raise InvalidAction(f"frozen version {version} has no SSTables to read (missing or dropped)")
    rows = frozen.snapshot.get(tablet.tablet_id, immutables.Map())
    found = [(key, version_[2]) for key, version_ in rows.items() if version_[2] is not None]
    found.sort()
    return tuple(found)


def tablet_checksum(table_name: str, rows: tuple[tuple[str, str], ...]) -> int:
    """Order-independent checksum of a tablet's rows, by table name (not id)."""
    return rows_checksum((table_name, key, value) for key, value in rows)


def data_size(rows: tuple[tuple[str, str], ...]) -> int:
    """Bytes a tablet's rows take in the modelled SSTable format."""
    return sum(len(key.encode()) + len(value.encode()) + ROW_OVERHEAD for key, value in rows)


def tables_at(state: ClusterState, tenant_id: int, version: int):
    """The tenant's tables alive at frozen version ``version``'s freeze entry, by table id."""
    frozen = state.frozen[version]
    return [t for t in state.tables_of(tenant_id, alive_only=False) if t.alive_at_log(frozen.log_id)]
