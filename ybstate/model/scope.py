"""The finite world the checkers explore, one section per subsystem.

A :class:`Scope` says what may happen next: the cluster's section (tenants, tables, keys,
values, open transactions, the log's length, freezes, ticks, DDL), the DAG scheduler's
fault budget, and each protocol's own section (backups, archiving, restores,
promotion). Each subsystem's ``enabled`` reads its own section and the cluster's.

    Scope(
        cluster=ClusterScope(tenants=("t1",), max_log=10),
        backup=BackupScope(max_backups=1),
        archive=ArchiveScope(archive_tenants=("t1",)),
        restore=RestoreScope(restore_sources=("t1",), max_restores=1),
    )

Pure data.
"""

from __future__ import annotations

import attrs

from ybstate.archive import ArchiveScope
from ybstate.backup import BackupScope
from ybstate.cluster import ClusterScope
from ybstate.cluster.state import ClusterConfig
from ybstate.dag import DagScope
from ybstate.promote import PromoteScope
from ybstate.restore import RestoreScope

__all__ = [
    "ArchiveScope",
    "BackupScope",
    "ClusterScope",
    "DagScope",
    "PromoteScope",
    "RestoreScope",
    "Scope",
    "simulation_scope",
]


@attrs.frozen(kw_only=True)
class Scope:
    """What may happen next, by subsystem; every section defaults to "nothing of it"
    except the cluster's, which defaults to two tenants with one table each."""

    cluster: ClusterScope = ClusterScope()
    dag: DagScope = DagScope()
    backup: BackupScope = BackupScope()
    archive: ArchiveScope = ArchiveScope()
    restore: RestoreScope = RestoreScope()
    promote: PromoteScope = PromoteScope()


def simulation_scope(tenants: int = 3, keys: int = 8, *, values: tuple[str, ...] = ("x", "y")) -> Scope:
    """The open-ended world of `ybstate simulate`, the benchmarks and the test histories:
    ``tenants`` tenants with tables ``a`` (4 tablets) and ``b`` (2), a table ``c`` created and
    dropped as the walk goes, ``keys`` row keys, interleaved transactions, freezes and
    heartbeats, and no bound on the log."""
    return Scope(
        cluster=ClusterScope(
            tenants=tuple(f"t{i}" for i in range(1, tenants + 1)),
            tables=(("a", 4), ("b", 2)),
            keys=tuple(f"k{i}" for i in range(keys)),
            values=values,
            max_open_txns=3,
            max_cells_per_txn=4,
            max_log=1 << 62,
            tick=1000,
            ddl_table="c",
            config=ClusterConfig(),
        )
    )
