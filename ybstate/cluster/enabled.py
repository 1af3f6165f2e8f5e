"""``enabled(state, scope)``: every action that may happen next, within a finite scope.

The cluster accepts infinitely many writes (any key, any value), so the checkers work
within a :class:`Scope`: a few tenants and tables, a small key and value domain, and
bounds on open transactions and on the length of the log. The list is deterministic
(built in a fixed order from the scope, never from set iteration), so a seeded simulator
that picks from it reproduces the same history.
"""

from __future__ import annotations

from functools import lru_cache

import attrs

from ybstate.archive.enabled import archive_enabled
from ybstate.backup.enabled import backup_enabled
from ybstate.cluster.actions import (
    Abort,
    Commit,
    CreateTable,
    CreateTenant,
    DropTable,
    Freeze,
    Put,
    Start,
    Tick,
    Write,
)
from ybstate.cluster.state import ClusterConfig, ClusterState, LogRetention, TenantStatus
from ybstate.promote.enabled import promote_enabled
from ybstate.restore.enabled import restore_enabled

__all__ = ["Scope", "enabled", "setup_actions", "simulation_scope"]


@attrs.frozen(kw_only=True)
class Scope:
    """The finite world the checkers explore.

    ``tables`` are created in every tenant at set-up; ``ddl_table`` (if set) is a table that
    can be created and dropped while the model runs. ``max_log`` bounds the log: no action
    that logs an entry is enabled once it is that long, which makes the state space finite.
    """

    tenants: tuple[str, ...] = ("t1", "t2")
    tables: tuple[tuple[str, int], ...] = (("a", 2),)
    keys: tuple[str, ...] = ("k1", "k2")
    values: tuple[str, ...] = ("x",)
    deletes: bool = True
    max_open_txns: int = 2
    max_cells_per_txn: int = 2
    max_log: int = 8
    freeze: bool = True
    tick: int | None = None
    ddl_table: str | None = None
    config: ClusterConfig = ClusterConfig(data_servers=2)
    # Full backups: how many may be started in all, their parallel degree, how many
    # tablet-copy attempts may fail in all, whether backups may be cancelled and
    # unpinned frozen versions dropped.
    max_backups: int = 0
    backup_parallel: int = 2
    copy_faults: int = 0
    cancel_backups: bool = False
    drop_versions: bool = False
    # Log archiving: which tenants may archive, entries per read, how many archiver crashes
    # may happen in all, whether archiving may be stopped, and how many runs a tenant's
    # archiving may have (a stop and a start make a new run).
    archive_tenants: tuple[str, ...] = ()
    archive_batch: int = 1
    archiver_crashes: int = 0
    archive_stop: bool = False
    max_archive_runs: int = 1
    # Log retention: tenants created business first (the others are backup first), and
    # whether the transaction server may recycle its log (as far as it may, each time).
    business_first: tuple[str, ...] = ()
    recycle_log: bool = False
    # Restores: which tenants may be restored (to "latest" or to a mark), how many restores
    # in all, the pipeline's workers and reorder bound (0: twice the workers), how many
    # workers may stall in all, and whether restores may be cancelled. Baseline fetches
    # fail within the copy_faults budget, which backups share.
    restore_sources: tuple[str, ...] = ()
    max_restores: int = 0
    restore_workers: int = 2
    restore_capacity: int = 0
    worker_stalls: int = 0
    cancel_restores: bool = False
    # Promotion: whether completed standbys may be promoted (with and without catch-up),
    # how many promotion steps may fail in all, and whether non-writable tenants may be
    # decommissioned.
    promote: bool = False
    promotion_faults: int = 0
    decommission: bool = False


def simulation_scope(tenants: int = 3, keys: int = 8, *, values: tuple[str, ...] = ("x", "y")) -> Scope:
    """The open-ended world of `ybstate simulate`, the benchmarks and the test histories:
    ``tenants`` tenants with tables ``a`` (4 tablets) and ``b`` (2), a table ``c`` created and
    dropped as the walk goes, ``keys`` row keys, interleaved transactions, freezes and
    heartbeats, and no bound on the log."""
    return Scope(
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


def setup_actions(scope: Scope) -> list[object]:
    """Actions that build the scope's starting cluster: tenants and their tables."""
    actions: list[object] = [Start(config=scope.config)]
    for tenant in scope.tenants:
        retention = (
            LogRetention.BUSINESS_FIRST if tenant in scope.business_first else LogRetention.BACKUP_FIRST
        )
        actions.append(CreateTenant(name=tenant, log_retention=retention))
        for table, tablets in scope.tables:
            actions.append(CreateTable(tenant=tenant, table=table, tablets=tablets))
    return actions


@lru_cache(maxsize=4096)
def _writes(scope: Scope, tenant: str, tables: tuple[str, ...], tx: int | None) -> tuple[Write, ...]:
    """Every one-row write a client of ``tenant`` may make: actions are values, so the
    same tuple serves every state with the same tables (a pure memo, not shared state)."""
    writes = []
    for table in tables:
        for key in scope.keys:
            for value in scope.values:
                writes.append(Write(tenant=tenant, tx=tx, changes=(Put(table=table, key=key, value=value),)))
            if scope.deletes:
                writes.append(Write(tenant=tenant, tx=tx, changes=(Put(table=table, key=key, value=None),)))
    return tuple(writes)


def enabled(state: ClusterState, scope: Scope) -> list[object]:
    """Client and operator actions that log entries (bounded by ``max_log``), then the
    protocol's own actions (backups and their DAG tasks), which log nothing."""
    actions = _logging_actions(state, scope) if len(state.log) < scope.max_log else []
    actions.extend(backup_enabled(state, scope))
    actions.extend(archive_enabled(state, scope))
    actions.extend(restore_enabled(state, scope))
    actions.extend(promote_enabled(state, scope))
    return actions


def _logging_actions(state: ClusterState, scope: Scope) -> list[object]:
    actions: list[object] = []
    tables_of: dict[str, tuple[str, ...]] = {}
    for tenant_name in scope.tenants:
        tenant = state.tenant_named(tenant_name)
        if tenant is None or not tenant.writable or tenant.status is not TenantStatus.NORMAL:
            continue
        tables = tuple(table.name for table in state.tables_of(tenant.tenant_id))
        tables_of[tenant_name] = tables
        if len(state.open_txns) < scope.max_open_txns:
            actions.extend(_writes(scope, tenant_name, tables, None))
    for tx_id in sorted(state.open_txns.keys()):
        open_txn = state.open_txns[tx_id]
        tenant = state.tenants[open_txn.tenant_id]
        if tenant.name in tables_of and len(open_txn.cells) < scope.max_cells_per_txn:
            actions.extend(_writes(scope, tenant.name, tables_of[tenant.name], tx_id))
        if tenant.name in tables_of:
            actions.append(Commit(tx=tx_id))
        actions.append(Abort(tx=tx_id))
    if scope.freeze:
        actions.append(Freeze())
    if scope.tick is not None:
        actions.append(Tick(micros=scope.tick))
    if scope.ddl_table is not None:
        for tenant_name in scope.tenants:
            tenant = state.tenant_named(tenant_name)
            if tenant is None:
                continue
            table = state.table_named(tenant.tenant_id, scope.ddl_table)
            if table is None:
                actions.append(CreateTable(tenant=tenant_name, table=scope.ddl_table, tablets=1))
            elif not any(c.table_id == table.table_id for t in state.open_txns.values() for c in t.cells):
                actions.append(DropTable(tenant=tenant_name, table=scope.ddl_table))
    return actions
