"""Invariants of restores, over whole states (oracles: they may read the ghost).

Three of them hold only while a standby is in the restore's custody: once another
subsystem takes the standby over (a promotion replays more into it or makes it a
writable primary) that subsystem's invariants take over. Restore does not know who may do
so; a subsystem that may lends a ``released(state, tenant_id) -> bool`` under the hook
point :data:`STANDBY_RELEASED`, and the composition root binds them here
(:func:`restore_invariants`). A decommissioned standby is released by itself.

The two that compare a standby with the source's past have an incremental form
(:attr:`ybstate.kernel.Invariant.since`): a restore is looked at again only when it, its
standby or a promotion changed, or its standby logged an entry.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from ybstate.cluster import ghost
from ybstate.cluster.invariants import tenants_logged_since
from ybstate.cluster.protocol import FullQueue
from ybstate.cluster.state import ClusterState, TenantStatus
from ybstate.kernel import Invariant
from ybstate.restore.events import RESTORE_TASK
from ybstate.restore.state import RestorePhase, RestoreTask

__all__ = ["RESTORE_INVARIANTS", "STANDBY_RELEASED", "restore_invariants"]

STANDBY_RELEASED = "restore.standby_released"
"""The hook point of ``released(state, tenant_id) -> bool`` functions: whether another
subsystem has taken a standby out of the restore's custody."""

Released = Callable[[ClusterState, int], bool]
Only = Callable[[RestoreTask], bool] | None  # the restores to check (None: every one)


def _moved_on(state: ClusterState, tenant_id: int, released: Sequence[Released]) -> bool:
    """Whether the standby has left the restore's custody: removed, or released by another
    subsystem."""
    if state.tenants[tenant_id].status is TenantStatus.DECOMMISSIONED:
        return True
    return any(r(state, tenant_id) for r in released)


def _diff(found: dict, expected: dict) -> str:
    missing = sorted(set(expected.items()) - set(found.items()))[:3]
    extra = sorted(set(found.items()) - set(expected.items()))[:3]
    return f"missing {missing}, unexpected {extra}"


def completed_standby_is_the_source_at_t(
    state: ClusterState, released: Sequence[Released] = (), only: Only = None
) -> str | None:
    """PITR: a completed standby holds exactly the source's transactions with commit_ts <= T
    (through the table mapping: tables keep their names), and is a read-only standby."""
    for task in state.restores.values():
        if only is not None and not only(task):
            continue
        if task.phase is not RestorePhase.COMPLETED or _moved_on(state, task.target_tenant_id, released):
            continue
        standby = state.tenants[task.target_tenant_id]
        if (
            standby.writable
            or standby.status not in (TenantStatus.READ_ONLY, TenantStatus.RETIRED)
            or standby.restored_to != task.until_ts
        ):
            return f"restore {task.task_id}: its standby is {standby}"
        found = ghost.content(state, task.target_tenant_id)
        expected = ghost.content_as_of(state, task.source_tenant_id, task.until_ts)
        if found != expected:
            return f"restore {task.task_id} to T={task.until_ts}: {_diff(found, expected)}"
    return None


def standby_shows_whole_transactions(
    state: ClusterState, released: Sequence[Released] = (), only: Only = None
) -> str | None:
    """Atomicity: from the end of its baseline on, at every step, a standby holds exactly
    the source as of the last log entry its applier handled: whole transactions, in commit
    order, never part of one, and the tables the source had then."""
    for task in state.restores.values():
        if only is not None and not only(task):
            continue
        if RestorePhase.RESTORING_INCREMENTAL not in task.phases or _moved_on(
            state, task.target_tenant_id, released
        ):
            continue
        frozen = state.frozen[state.backup_sets[task.set_id].frozen_version]
        through = max(frozen.log_id, task.restored_log_id)
        found = ghost.content(state, task.target_tenant_id)
        expected = ghost.content_at_log(state, task.source_tenant_id, through)
        if found != expected:
            return f"restore {task.task_id} after log id {through}: {_diff(found, expected)}"
        tables = sorted(t.name for t in state.tables_of(task.target_tenant_id))
        then = sorted(
            t.name
            for t in state.tables_of(task.source_tenant_id, alive_only=False)
            if t.alive_at_log(through)
        )
        if tables != then:
            where = f"restore {task.task_id} after log id {through}"
            return f"{where}: standby tables {tables}, the source had {then}"
    return None


def verification_is_honest(state: ClusterState, released: Sequence[Released] = ()) -> str | None:
    """A restore fails its verification only when its standby really differs from the
    source as of T: in its tables or their rows. The oracle is the ghost history (the
    source's tables alive at T and its content as of T), not the verifier's replay."""
    for task in state.restores.values():
        if (
            task.phase is not RestorePhase.FAILED
            or task.phases[-2:-1] != (RestorePhase.VERIFYING,)
            or _moved_on(state, task.target_tenant_id, released)
        ):
            continue
        tables = {t.name for t in state.tables_of(task.target_tenant_id)}
        then = {
            t.name
            for t in state.tables_of(task.source_tenant_id, alive_only=False)
            if t.alive_at_ts(task.until_ts)
        }
        found = ghost.content(state, task.target_tenant_id)
        if tables == then and found == ghost.content_as_of(state, task.source_tenant_id, task.until_ts):
            return (
                f"restore {task.task_id} failed its verification ({task.error}), yet its standby holds "
                f"exactly the source as of T={task.until_ts}"
            )
    return None


def applier_takes_entries_in_order(state: ClusterState) -> str | None:
    """Ordering: the applier has taken sequence numbers 1..applied with no gap and no
    repeat; what waits in the reorder queue lies after it and was read, and no more than
    its bound; no more entries are in flight than that bound (where the reader waits for
    room: the seed's reader of flaw 3 does not, and its queue drops what does not fit);
    the applier stops only at an entry past T."""
    for task in state.restores.values():
        if RestorePhase.RESTORING_INCREMENTAL not in task.phases:
            continue
        entries = state.restore_entries.get(task.task_id, ())
        where = f"restore {task.task_id}"
        if not 0 <= task.applied <= task.read <= task.entries == len(entries):
            return (
                f"{where}: applied {task.applied}, read {task.read}, of {task.entries} ({len(entries)} held)"
            )
        if list(task.rewritten) != sorted(set(task.rewritten)) or any(
            not task.applied < s <= task.read for s in task.rewritten
        ):
            return f"{where}: reorder queue {task.rewritten} outside ({task.applied}, {task.read}]"
        if len(task.rewritten) > task.capacity:
            return f"{where}: {len(task.rewritten)} entries in the reorder queue, bound {task.capacity}"
        waits = state.config.protocol.full_queue is FullQueue.WAIT
        if waits and task.read - task.applied > task.capacity:
            return f"{where}: {task.read - task.applied} entries in flight, bound {task.capacity}"
        if task.stopped and not (task.applied and entries[task.applied - 1].time > task.until_ts):
            return f"{where}: stopped at entry {task.applied}, which is not past T"
        if any(e.time > task.until_ts for e in entries[: task.applied - (1 if task.stopped else 0)]):
            return f"{where}: applied an entry past T before stopping"
    return None


def restores_touch_only_their_standby(state: ClusterState, released: Sequence[Released] = ()) -> str | None:
    """Isolation: a restore's mapping goes from the source's tables to its own standby's,
    no two restores share a standby, and a standby is never writable."""
    targets: dict[int, int] = {}
    for task in state.restores.values():
        if not task.target_tenant_id:
            continue
        if targets.setdefault(task.target_tenant_id, task.task_id) != task.task_id:
            other = targets[task.target_tenant_id]
            return f"restores {other} and {task.task_id} share tenant {task.target_tenant_id}"
        if state.tenants[task.target_tenant_id].writable and not _moved_on(
            state, task.target_tenant_id, released
        ):
            return f"restore {task.task_id}: standby {task.target_tenant_id} is writable"
        for mapping in task.mapping:
            source = state.tables.get(mapping.source_table_id)
            target = state.tables.get(mapping.target_table_id)
            if source is None or source.tenant_id != task.source_tenant_id:
                return f"restore {task.task_id}: maps table {mapping.source_table_id}, not the source's"
            if target is None or target.tenant_id != task.target_tenant_id:
                return (
                    f"restore {task.task_id}: maps to table {mapping.target_table_id}, "
                    f"not its standby's {mapping.name!r}"
                )
    return None


@functools.cache
def _allowed() -> frozenset:
    return frozenset((before, after) for before, _event, after in RESTORE_TASK.edges())


def _phases_of(state: ClusterState, tasks) -> str | None:
    allowed = _allowed()
    for task in tasks:
        if task.phases[:1] != (RestorePhase.INIT,) or task.phases[-1] is not task.phase:
            return f"restore {task.task_id}: phases {[p.value for p in task.phases]} now {task.phase.value}"
        for before, after in zip(task.phases, task.phases[1:]):
            if (before, after) not in allowed:
                return f"restore {task.task_id}: {before.value} -> {after.value}"
        graph = state.dags.get(task.dag_id) if task.final and task.dag_id else None
        if graph is not None and not graph.finished:
            where = f"restore {task.task_id} is {task.phase.value}"
            return f"{where}, but its baseline DAG {graph.dag_id} still runs"
    return None


def restore_phases_move_forward(state: ClusterState) -> str | None:
    """Each task went through the seed's phases along the RESTORE_TASK lifecycle, never back;
    one that ended (completed, failed or cancelled) left its baseline DAG finished, no
    fetch still running or ready."""
    return _phases_of(state, state.restores.values())


def restore_phases_move_forward_since(before: ClusterState, after: ClusterState) -> str | None:
    """:func:`restore_phases_move_forward` for the tasks that changed since ``before``, or
    whose baseline DAG did."""
    old, dags = before.restores, before.dags
    return _phases_of(
        after,
        (
            task
            for task_id, task in after.restores.items()
            if old.get(task_id) is not task
            or (task.dag_id and dags.get(task.dag_id) is not after.dags.get(task.dag_id))
        ),
    )


def _bound(
    check: Callable[..., str | None], released: Sequence[Released]
) -> Callable[[ClusterState], str | None]:
    return functools.update_wrapper(functools.partial(check, released=tuple(released)), check)


def _facet(task: RestoreTask) -> tuple:
    """What of a task the standby comparisons depend on."""
    return task.phase, task.restored_log_id, task.target_tenant_id


def _looked_at_again(before: ClusterState, after: ClusterState) -> Callable[[RestoreTask], bool]:
    """The restores whose standby's content may differ from what it was in ``before``:
    the task moved (its phase, its standby, or the last log id its applier handled), or its standby
    tenant changed, or the standby logged an entry since; every one when a promotion
    changed (it may take a standby out of custody, or give one back). The source's past,
    which the standby is compared with, never changes."""
    if before.promotions is not after.promotions:
        return lambda task: True
    logged = tenants_logged_since(before, after)
    old = before.restores

    def again(task: RestoreTask) -> bool:
        was = old.get(task.task_id)
        target = task.target_tenant_id
        return (
            was is None
            or (was is not task and _facet(was) != _facet(task))
            or target in logged
            or before.tenants.get(target) is not after.tenants.get(target)
        )

    return again


def _incremental(check: Callable[..., str | None], released: Sequence[Released]):
    """The incremental form of a check over restores' standbys: the restores
    :func:`_looked_at_again` picks, checked whole."""

    def since(before: ClusterState, after: ClusterState) -> str | None:
        return check(after, released=tuple(released), only=_looked_at_again(before, after))

    return since


# Subjects: what each invariant is about (docs/checks.md, "vacuous").


def _restoring(state: ClusterState) -> bool:
    return bool(state.restores)


def _has_standby(state: ClusterState) -> bool:
    return any(task.target_tenant_id for task in state.restores.values())


def _replaying(state: ClusterState) -> bool:
    """A restore has reached its incremental phase (its pipeline runs)."""
    return any(RestorePhase.RESTORING_INCREMENTAL in task.phases for task in state.restores.values())


def _completed(state: ClusterState) -> bool:
    return any(task.phase is RestorePhase.COMPLETED for task in state.restores.values())


def _verified(state: ClusterState) -> bool:
    """A restore's verification has given its verdict: it completed, or failed there."""
    return any(
        task.phase is RestorePhase.COMPLETED
        or (task.phase is RestorePhase.FAILED and task.phases[-2:-1] == (RestorePhase.VERIFYING,))
        for task in state.restores.values()
    )


def restore_invariants(released: Sequence[Released] = ()) -> tuple[Invariant[ClusterState], ...]:
    """Restore's invariants, a standby leaving custody when any of ``released`` says so."""
    return (
        Invariant(
            name="restore_phases_move_forward",
            check=restore_phases_move_forward,
            subject=_restoring,
            since=restore_phases_move_forward_since,
        ),
        Invariant(
            name="restore_applier_takes_entries_in_order",
            check=applier_takes_entries_in_order,
            subject=_replaying,
        ),
        Invariant(
            name="restore_touches_only_its_standby",
            check=_bound(restores_touch_only_their_standby, released),
            subject=_has_standby,
        ),
        Invariant(
            name="restore_standby_shows_whole_transactions",
            check=_bound(standby_shows_whole_transactions, released),
            subject=_replaying,
            since=_incremental(standby_shows_whole_transactions, released),
        ),
        Invariant(
            name="restore_completed_standby_is_the_source_at_t",
            check=_bound(completed_standby_is_the_source_at_t, released),
            subject=_completed,
            since=_incremental(completed_standby_is_the_source_at_t, released),
        ),
        Invariant(
            name="restore_verification_is_honest",
            check=_bound(verification_is_honest, released),
            subject=_verified,
        ),
    )


RESTORE_INVARIANTS = restore_invariants()
"""Restore's invariants with nothing but decommission releasing a standby."""
