"""What the cluster derives from its state, shared by ``decide``, ``apply`` and the
subsystems: the per-tenant baseline summary a freeze records, and names for ids. Pure."""

from __future__ import annotations

import posixpath

import attrs

from ybstate.cluster.costs import COST_LIMITS, Costs
from ybstate.cluster.protocol import Protocol
from ybstate.cluster.state import ClusterConfig, ClusterState, TenantBaseline
from ybstate.hashing import CHECKSUM_MASK
from ybstate.kernel.limits import within

__all__ = ["config_problem", "costs_problem", "table_name", "tenant_baselines", "tenant_name"]


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


def costs_problem(costs: Costs) -> str | None:
    """Why ``costs`` is not a cost table (a cost not an int in its range), or None."""
    for name, (low, high) in COST_LIMITS.items():
        value = getattr(costs, name)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return f"{name!r} must be {low}..{high} (microseconds), found {value!r}"
    return None


def config_problem(config: ClusterConfig) -> str | None:
    """Why ``config`` cannot start a cluster (a size out of its range, a backup root that is
    not an absolute, normalised path below ``/``), or None."""
    for field in attrs.fields(ClusterConfig):
        if field.name in ("backup_root", "protocol", "costs"):
            continue
        problem = within(field.name, getattr(config, field.name))
        if problem is not None:
            return f"{field.name} {problem}"
    if not isinstance(config.protocol, Protocol):
        return f"protocol must be a Protocol, got {config.protocol!r}"
    if not isinstance(config.costs, Costs):
        return f"costs must be a Costs, got {config.costs!r}"
    problem = costs_problem(config.costs)
    if problem is not None:
        return f"costs: {problem}"
    root = config.backup_root
    if (
        not isinstance(root, str)
        or not root.startswith("/")
        or posixpath.normpath(root) != root
        or root == "/"
    ):
        return f"backup_root must be an absolute, normalised path below '/' (like '/backup'), got {root!r}"
    return None
