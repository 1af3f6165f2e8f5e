"""What the cluster derives from its state, shared by ``decide``, ``apply`` and the
subsystems: the per-tenant baseline summary a freeze records, and names for ids. Pure."""

from __future__ import annotations

from ybstate.cluster.state import ClusterState, TenantBaseline
from ybstate.hashing import CHECKSUM_MASK

__all__ = ["table_name", "tenant_baselines", "tenant_name"]


def tenant_baselines(state: ClusterState) -> tuple[TenantBaseline, ...]:
    """Per-tenant (rows, checksum) of the committed data of live tables, now."""
    baselines = []
    for tenant_id, table_ids in sorted(state.live_tables.items()):
        if not table_ids:
            continue
        rows = checksum = 0
        for table_id in table_ids:
            count, sums = state.table_stats[table_id]
            rows += count
            checksum += sums
        baselines.append(TenantBaseline(tenant_id=tenant_id, rows=rows, checksum=checksum & CHECKSUM_MASK))
    return tuple(baselines)


def tenant_name(state: ClusterState, tenant_id: int) -> str:
    """The tenant's name, or ``#id`` for an id the state does not know (a forged event)."""
    tenant = state.tenants.get(tenant_id)
    return f"#{tenant_id}" if tenant is None else tenant.name


def table_name(state: ClusterState, table_id: int) -> str:
    """The table's name, or ``#id`` for an id the state does not know (a forged event)."""
    table = state.tables.get(table_id)
    return f"#{table_id}" if table is None else table.name
