"""The cluster's actions that may happen next, within a finite scope.

The cluster accepts infinitely many writes (any key, any value), so the checkers work
within a :class:`ClusterScope`: a few tenants and tables, a small key and value domain,
and bounds on open transactions and on the length of the log. The list is deterministic
(built in a fixed order from the scope, never from set iteration), so a seeded simulator
that picks from it reproduces the same history. The composed ``enabled`` (ybstate.model)
lists these first, then each subsystem's.
"""

from __future__ import annotations

from functools import lru_cache

import attrs

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
from ybstate.cluster.costs import UNTIMED
from ybstate.cluster.state import ClusterConfig, ClusterState, LogRetention, TenantStatus

__all__ = ["ClusterScope", "cluster_enabled", "cluster_probes", "setup_actions"]


@attrs.frozen(kw_only=True)
class ClusterScope:
    """The cluster's part of the finite world the checkers explore.

    ``tenants`` are created at set-up (those in ``business_first`` with that log
    retention, the others backup first), each with ``tables``; ``ddl_table`` (if set) is
    a table that can be created and dropped while the model runs. Clients write ``keys``
    and ``values`` (and delete, with ``deletes``), with at most ``max_open_txns``
    transactions open and ``max_cells_per_txn`` cells in one. ``max_log`` bounds the log:
    no action that logs an entry is enabled once it is that long, which makes the state
    space finite. ``freeze`` and ``tick`` (micros) let freezes and heartbeats happen.
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
    # Untimed: a model explored from its scope has no durations, as an exhaustive check
    # explores the untimed protocol (docs/durations.md); simulation_scope times its walks.
    config: ClusterConfig = ClusterConfig(data_servers=2, costs=UNTIMED)
    business_first: tuple[str, ...] = ()


def setup_actions(scope: ClusterScope) -> list[object]:
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
def _writes(scope: ClusterScope, tenant: str, tables: tuple[str, ...], tx: int | None) -> tuple[Write, ...]:
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


def cluster_enabled(state: ClusterState, scope) -> list[object]:
    """Client and operator actions that log entries, within ``scope.cluster``: none once
    the log is ``max_log`` entries long."""
    if len(state.log) >= scope.cluster.max_log:
        return []
    return _logging_actions(state, scope.cluster)


def _logging_actions(state: ClusterState, scope: ClusterScope) -> list[object]:
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


def cluster_probes(state: ClusterState, scope) -> list[object]:
    """A client's write to every tenant that must refuse it (not writable: a standby, a
    fenced or read-only primary, a restoring or decommissioned tenant), whatever the scope
    offers: one row into its first table. The explorer checks each is refused (or
    harmless). Writes to a writable tenant are the scope's to offer, and are not probed."""
    probes: list[object] = []
    for tenant_id in sorted(state.tenants.keys()):
        tenant = state.tenants[tenant_id]
        tables = state.tables_of(tenant_id)
        if tables and (not tenant.writable or tenant.status is not TenantStatus.NORMAL):
            probes.append(
                Write(
                    tenant=tenant.name, tx=None, changes=(Put(table=tables[0].name, key="probe", value="x"),)
                )
            )
    return probes
