"""Invariants of promotion and decommission (DESIGN 5 and 8), over whole states."""

from __future__ import annotations

from ybstate.cluster import ghost
from ybstate.cluster.events import MutatorLogged, TransactionCommitted
from ybstate.cluster.invariants import tenants_logged_since, whole
from ybstate.cluster.state import ClusterState, Role, TenantStatus
from ybstate.kernel import Invariant
from ybstate.promote.state import PromotionStatus, PromotionStep

__all__ = ["PROMOTE_INVARIANTS"]


def one_writable_tenant_per_name(state: ClusterState) -> str | None:
    """Never two writable tenants for one name: the two sides of a promotion are never
    writable at once, and a decommissioned, fenced or restoring tenant is never writable."""
    for task in state.promotions.values():
        if state.tenants[task.primary_id].writable and state.tenants[task.standby_id].writable:
            return f"promotion {task.promotion_id}: both {task.primary_name!r} sides are writable"
    for tenant in state.tenants.values():
        if tenant.writable and (
            tenant.fenced_log_id
            or tenant.status is not TenantStatus.NORMAL
            or tenant.role is not Role.PRIMARY
        ):
            status = f"{tenant.role.value}, {tenant.status.value}, fenced at {tenant.fenced_log_id}"
            return f"tenant {tenant.name!r} is writable while {status}"
    return None


def routing_sends_each_name_to_one_tenant(state: ClusterState) -> str | None:
    """Each routed name leads to one existing, not removed tenant; every tenant that is not
    removed is reachable by its name, but for the name a running promotion has switched
    and not yet routed (it still leads to the old primary); a removed tenant (decommissioned
    in full) holds no live table either: its tables went with it."""
    switching = {
        t.primary_name: t.primary_id
        for t in state.promotions.values()
        if not t.final and PromotionStep.SWITCH_SCHEMA in t.done and not t.routed
    }
    for name, tenant_id in state.routing.items():
        tenant = state.tenants.get(tenant_id)
        if tenant is None or tenant.status is TenantStatus.DECOMMISSIONED:
            gone = "missing" if tenant is None else "removed"
            return f"name {name!r} routes to tenant {tenant_id}, which is {gone}"
        if tenant.name != name and switching.get(name) != tenant_id:
            return f"name {name!r} routes to tenant {tenant_id}, named {tenant.name!r}"
    for tenant in state.tenants.values():
        if tenant.status is not TenantStatus.DECOMMISSIONED and tenant.name not in state.routing:
            return f"tenant {tenant.name!r} has no route"
        if tenant.status is TenantStatus.DECOMMISSIONED:
            tables = sorted(t.name for t in state.tables_of(tenant.tenant_id))
            if tables:
                return f"tenant {tenant.name!r} is removed but still holds tables {tables}"
    return None


def no_commit_after_the_fence_since(before: ClusterState, after: ClusterState) -> str | None:
    """A fenced or decommissioned tenant accepted no write after its fence point: no
    mutator logged for it, no commit. Looks at the log since ``before``, and since its
    fence for a tenant fenced since (every committed transaction has its COMMIT in the
    log: transactions_match_log)."""
    fences = {t.tenant_id: t.fenced_log_id for t in after.tenants.values() if t.fenced_log_id}
    if not fences:
        return None
    first = before.next_log_id
    for tenant_id, fence in fences.items():
        was = before.tenants.get(tenant_id)
        if was is None or was.fenced_log_id != fence:
            first = min(first, fence + 1)
    for kind, what in (
        (TransactionCommitted, "committed transaction"),
        (MutatorLogged, "logged a write of transaction"),
    ):
        for log_id in range(first, after.next_log_id):
            entry = after.log[log_id]
            fence = fences.get(getattr(entry, "tenant_id", None))  # type: ignore[arg-type]
            if type(entry) is kind and fence is not None and log_id > fence:
                return f"tenant {entry.tenant_id} {what} {entry.tx_id} at log id {log_id}, fenced at {fence}"
    return None


no_commit_after_the_fence = whole(no_commit_after_the_fence_since)


def _lost(state: ClusterState, task) -> tuple[int, ...]:
    """The oracle, computed apart from the protocol's own helpers (a bug there must not
    confirm itself): a promotion that caught up loses nothing (the catch-up replays every
    commit through the fence, and nothing commits after it); one that did not loses every
    commit of the old primary after the standby's T."""
    if task.catch_up:
        return ()
    # The log from its end back to T: commits are logged in time order (log_time_increasing),
    # so those after T are there, and reading them costs what happened since T, not the
    # whole history.
    lost = []
    for log_id in range(state.last_log_id, 0, -1):
        entry = state.log[log_id]
        if entry.time <= task.restored_to:
            break
        if type(entry) is TransactionCommitted and entry.tenant_id == task.primary_id:
            lost.append(entry.tx_id)
    return tuple(sorted(lost))


def data_loss_window_is_exact(state: ClusterState, only=None) -> str | None:
    """A completed promotion's data-loss list is exactly the old primary's commits after the
    standby's T that the new primary does not hold; and a caught-up standby holds the old
    primary's content and tables as of its fence until writes are enabled, each mapped
    with the standby table's name and schema version."""
    for task in state.promotions.values():
        if only is not None and not only(task):
            continue
        if task.status is PromotionStatus.COMPLETED and task.lost != _lost(state, task):
            return f"promotion {task.promotion_id}: reports {task.lost}, lost {_lost(state, task)}"
        if not task.final and task.caught_up_through:
            found = ghost.content(state, task.standby_id)
            expected = ghost.content_at_log(state, task.primary_id, task.fence_log_id)
            if found != expected:
                return f"promotion {task.promotion_id}: the caught-up standby differs from the fenced primary"
            tables = sorted(t.name for t in state.tables_of(task.standby_id))
            then = sorted(
                t.name
                for t in state.tables_of(task.primary_id, alive_only=False)
                if t.alive_at_log(task.fence_log_id)
            )
            if tables != then:
                where = f"promotion {task.promotion_id}: the caught-up standby has tables {tables}"
                return f"{where}, the fenced primary had {then}"
            for m in task.mapping:
                table = state.tables.get(m.target_table_id)
                if m.dropped or table is None:
                    continue
                if (table.name, table.schema_version) != (m.name, m.schema_version):
                    where = f"promotion {task.promotion_id}: its mapping says {m!r}"
                    return f"{where}, the standby's table is {table.name!r} v{table.schema_version}"
    return None


def data_loss_window_is_exact_since(before: ClusterState, after: ClusterState) -> str | None:
    """:func:`data_loss_window_is_exact` for the promotions that changed since ``before``,
    or whose standby or old primary changed or logged an entry: what the others were
    compared with has not moved (the old primary is fenced, the past never changes)."""
    logged = tenants_logged_since(before, after)
    old, tenants = before.promotions, before.tenants

    def again(task) -> bool:
        return (
            old.get(task.promotion_id) is not task
            or not logged.isdisjoint((task.standby_id, task.primary_id))
            or tenants.get(task.standby_id) is not after.tenants.get(task.standby_id)
            or tenants.get(task.primary_id) is not after.tenants.get(task.primary_id)
        )

    return data_loss_window_is_exact(after, only=again)


def rollback_restores_the_old_primary(state: ClusterState) -> str | None:
    """A promotion that failed before its routing update left the old primary as it was:
    its name, routing, role and writability (unless something later changed it), and the
    standby a standby. (In the corrected protocol such a promotion rolls back; the seed's
    stops where it failed, flaw 6, and this is what it breaks.)"""
    for task in state.promotions.values():
        if task.status not in (PromotionStatus.ROLLED_BACK, PromotionStatus.STOPPED):
            continue
        later = any(
            p.promotion_id > task.promotion_id and task.primary_id in (p.primary_id, p.standby_id)
            for p in state.promotions.values()
        )
        primary, standby = state.tenants[task.primary_id], state.tenants[task.standby_id]
        if later or primary.status is not TenantStatus.NORMAL:
            continue
        ended = f"promotion {task.promotion_id} " + (
            "rolled back"
            if task.status is PromotionStatus.ROLLED_BACK
            else f"stopped after fencing ({task.error}), not rolled back"
        )
        if (primary.name, primary.writable, primary.fenced_log_id) != (task.primary_name, True, 0):
            return f"{ended}, but the old primary is {primary}"
        if state.routing.get(task.primary_name) != task.primary_id:
            return f"{ended}, but {task.primary_name!r} routes elsewhere"
        if standby.role is not Role.STANDBY or standby.writable or standby.name != task.standby_name:
            return f"{ended}, but the standby is {standby}"
    return None


# Subjects: what each invariant is about, so a run that never got there says it proved
# nothing (docs/checks.md, "vacuous").


def _promoting(state: ClusterState) -> bool:
    return bool(state.promotions)


def _rerouted(state: ClusterState) -> bool:
    """A name was routed to another tenant, or a tenant was removed."""
    return any(p.routed for p in state.promotions.values()) or any(
        t.status is TenantStatus.DECOMMISSIONED for t in state.tenants.values()
    )


def _fenced(state: ClusterState) -> bool:
    return any(t.fenced_log_id for t in state.tenants.values())


def _promotion(status: PromotionStatus):
    return lambda state: any(p.status is status for p in state.promotions.values())


def _failed(state: ClusterState) -> bool:
    """A promotion failed before its routing update (and rolled back, or stopped)."""
    ended = (PromotionStatus.ROLLED_BACK, PromotionStatus.STOPPED)
    return any(p.status in ended for p in state.promotions.values())


PROMOTE_INVARIANTS: tuple[Invariant[ClusterState], ...] = (
    Invariant(
        name="promotion_one_writable_tenant_per_name", check=one_writable_tenant_per_name, subject=_promoting
    ),
    Invariant(
        name="promotion_routing_sends_each_name_to_one_tenant",
        check=routing_sends_each_name_to_one_tenant,
        subject=_rerouted,
    ),
    Invariant(
        name="promotion_no_commit_after_the_fence",
        check=no_commit_after_the_fence,
        subject=_fenced,
        since=no_commit_after_the_fence_since,
    ),
    Invariant(
        name="promotion_data_loss_window_is_exact",
        check=data_loss_window_is_exact,
        subject=_promotion(PromotionStatus.COMPLETED),
        since=data_loss_window_is_exact_since,
    ),
    Invariant(
        name="promotion_rollback_restores_the_old_primary",
        check=rollback_restores_the_old_primary,
        subject=_failed,
    ),
)
