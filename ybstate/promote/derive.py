"""What promotion and decommission derive from the state, shared by ``decide``,
``apply``, ``enabled``, the invariants and the scenario runner: the running promotion of a
tenant, how far the old primary's archive reaches and must reach, what a catch-up
replays, what was lost, why a decommission is refused, and when a standby has left its
restore's custody. Pure."""

from __future__ import annotations

from ybstate.archive.state import ArchiverStatus
from ybstate.cluster.events import (
    MutatorLogged,
    TableCreated,
    TableDropped,
    TransactionAborted,
    TransactionCommitted,
)
from ybstate.cluster.protocol import PromotionFailure
from ybstate.cluster.state import SYS_TENANT_ID, Cell, ClusterState, Role, Tenant, TenantStatus
from ybstate.promote.state import PromotionStatus, PromotionStep, PromotionTask
from ybstate.restore.plan import incremental_entries, segment_holding

__all__ = [
    "archived_through",
    "catch_up_plan",
    "catch_up_target",
    "catch_up_waits",
    "decommission_refusal",
    "lost_transactions",
    "promotion_of",
    "standby_released",
    "stays_fenced",
]


def promotion_of(state: ClusterState, tenant_id: int) -> PromotionTask | None:
    """The running promotion that involves ``tenant_id``, if any."""
    for task in state.promotions.values():
        if not task.final and tenant_id in (task.standby_id, task.primary_id):
            return task
    return None


def archived_through(state: ClusterState, task: PromotionTask) -> int:
    """How far the old primary's archive reaches without a hole from the standby's
    replay start (0 if it does not)."""
    restore = state.restores[task.restore_task_id]
    segment = segment_holding(state, task.primary_id, restore.start_log_id)
    return 0 if segment is None else segment.last_log_id


def catch_up_target(state: ClusterState, task: PromotionTask) -> int:
    """The last log id the catch-up must replay: the old primary's last commit or DDL
    before its fence (what aborted at the fence needs nothing)."""
    commits = (t.commit_log_id for t in state.committed.values() if t.tenant_id == task.primary_id)
    ddl = (
        log_id
        for table in state.tables_of(task.primary_id, alive_only=False)
        for log_id in (table.created_log_id, table.dropped_log_id or 0)
        if log_id <= task.fence_log_id
    )
    return max((*commits, *ddl), default=0)


def catch_up_waits(state: ClusterState, task: PromotionTask) -> str | None:
    """Why the catch-up step must wait now, if it must: the old primary's archiver still
    runs and has archived some of its log, but not yet its last commit or DDL. (An archive
    that cannot get there, because archiving stopped or never began, fails the step.)"""
    needed = catch_up_target(state, task)
    reached = archived_through(state, task)
    if reached >= needed or not reached:
        return None
    archiver = state.archivers.get(task.primary_id)
    if archiver is None or archiver.status is not ArchiverStatus.RUNNING:
        return None
    return f"catch-up waits for the archive to reach log id {needed} (at {reached})"


def catch_up_plan(state: ClusterState, task: PromotionTask, through: int):
    """The archived entries after the standby's T up to ``through``, replayed in order: the
    old primary's transactions to apply (tx id, rewritten cells), and its DDL, as a list of
    ("txn", tx_id, cells) / ("create", entry) / ("drop", entry)."""
    restore = state.restores[task.restore_task_id]
    entries = incremental_entries(state, task.primary_id, restore.start_log_id, 1 << 62) or ()
    pending: dict[int, list[Cell]] = {}
    plan: list[tuple] = []
    for entry in entries:
        if entry.log_id > through:
            break
        if isinstance(entry, MutatorLogged):
            pending.setdefault(entry.tx_id, []).extend(entry.cells)
        elif isinstance(entry, TransactionAborted):
            pending.pop(entry.tx_id, None)
        elif isinstance(entry, TransactionCommitted):
            cells = pending.pop(entry.tx_id, [])
            if entry.time > task.restored_to:
                plan.append(("txn", entry.tx_id, tuple(cells)))
        elif isinstance(entry, TableCreated | TableDropped) and entry.time > task.restored_to:
            plan.append(("create" if isinstance(entry, TableCreated) else "drop", entry))
    return plan


def lost_transactions(state: ClusterState, task: PromotionTask) -> tuple[int, ...]:
    """The old primary's commits after the standby's T that the standby does not hold."""
    after = (
        t.tx_id
        for t in state.committed.values()
        if t.tenant_id == task.primary_id and t.commit_ts > task.restored_to
    )
    return tuple(sorted(set(after) - set(task.caught_up)))


def decommission_refusal(state: ClusterState, tenant: Tenant, read_only: bool) -> str | None:
    """Why ``tenant`` may not be made read-only (``read_only``) or removed now, if it may not."""
    if tenant.tenant_id == SYS_TENANT_ID:
        return "the system tenant cannot be decommissioned"
    if tenant.writable:
        return "a writable primary cannot be decommissioned; promote its standby first"
    running = promotion_of(state, tenant.tenant_id)
    if running is not None:
        return f"promotion {running.promotion_id} involving it is running"
    restoring = [
        t.task_id for t in state.restores.values() if t.target_tenant_id == tenant.tenant_id and not t.final
    ]
    if restoring:
        return f"restore {restoring[0]} into it is running"
    if tenant.status is TenantStatus.DECOMMISSIONED:
        return "is decommissioned already"
    if read_only and tenant.status is TenantStatus.RETIRED:
        return "is retired already (decommissioned read-only); read_only = false removes it"
    if read_only and tenant.status is TenantStatus.READ_ONLY and tenant.role is not Role.STANDBY:
        return "is decommissioned read-only already; read_only = false removes it"
    if not read_only and tenant.status not in (TenantStatus.READ_ONLY, TenantStatus.RETIRED):
        return f"full removal needs read-only first (it is {tenant.status.value})"
    return None


def standby_released(state: ClusterState, tenant_id: int) -> bool:
    """Whether a promotion has taken the standby out of its restore's custody: it replayed
    more into it (a catch-up), or made it the writable primary. Lent to restore's
    invariants (``ybstate.restore.STANDBY_RELEASED``)."""
    return any(
        p.standby_id == tenant_id and (p.caught_up_through or p.status is PromotionStatus.COMPLETED)
        for p in state.promotions.values()
    )


def stays_fenced(state: ClusterState, task: PromotionTask) -> bool:
    """Whether a step failing now stops ``task`` where it is instead of rolling it back:
    only in the seed's protocol without rollback (DESIGN 14, ``no_promotion_rollback``),
    and only once the primary is fenced and before the routing update."""
    return (
        state.config.protocol.promotion_failure is PromotionFailure.STAY_FENCED
        and PromotionStep.FENCE in task.done
        and not task.routed
    )
