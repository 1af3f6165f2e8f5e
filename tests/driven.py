"""Histories driven action by action through the model (``decide`` then ``apply``), for the
tests of the restore and promotion internal tables and of the SQL invariants.

:class:`Driven` keeps the state and every event. :func:`source_history` is shop (two
tables), backed up, archived, with DDL and a mark m1; restores and promotions of it are
driven to each of their ends, and :func:`several_restores` and :func:`several_promotions`
hold one of each kind in one history."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from histories import act, drive_backup

from ybstate import dag
from ybstate.archive.actions import ReadEntries, SealPiece, StartArchive
from ybstate.backup.actions import StartBackup
from ybstate.cluster.actions import (
    Commit,
    CreateTable,
    CreateTenant,
    DropTable,
    Freeze,
    Mark,
    Put,
    Start,
    Tick,
    Write,
)
from ybstate.cluster.state import ClusterConfig, ClusterState
from ybstate.model import EMPTY, Scope
from ybstate.promote.actions import AdvancePromotion, Decommission, FailPromotionStep, StartPromotion
from ybstate.promote.state import PromotionStep, PromotionTask
from ybstate.restore.actions import CancelRestore, StallWorker, StartRestore
from ybstate.restore.derive import fetch_task_name
from ybstate.restore.enabled import restore_enabled
from ybstate.restore.state import RestorePhase, RestoreTask

SHOP, STANDBY = 1001, 1003  # shop is the first tenant; blog 1002; the first standby comes next

# No operator cancel, no stalls, no fetch faults: the restore's own steps only.
QUIET = Scope()


class Driven:
    """A history built through decide and apply: the state and every event so far."""

    def __init__(self) -> None:
        self.state: ClusterState = EMPTY
        self.events: list[Any] = []

    def do(self, *actions: object) -> list[Any]:
        self.state, new = act(self.state, *actions)
        self.events.extend(new)
        return new

    def commit(self, tenant: str, rows: dict[tuple[str, str], str | None]) -> None:
        puts = tuple(Put(table=table, key=key, value=value) for (table, key), value in rows.items())
        (written,) = self.do(Write(tenant=tenant, tx=None, changes=puts))
        self.do(Commit(tx=written.tx_id))

    def task(self, task_id: int) -> RestoreTask:
        return self.state.restores[task_id]

    def of_task(self, task_id: int, kind: type) -> list[Any]:
        return [e for e in self.events if type(e) is kind and e.task_id == task_id]


def source_history() -> Driven:
    """shop (orders: 2 tablets, users: 1) and blog; a transaction straddling the freeze; a
    full backup of shop; then, archived: a write and a delete, CREATE TABLE later (with a
    row), DROP TABLE users, the mark m1, one more commit and a tick. Every shop entry is
    archived in sealed pieces."""
    h = Driven()
    h.do(
        Start(config=ClusterConfig(data_servers=2)),
        CreateTenant(name="shop"),
        CreateTable(tenant="shop", table="orders", tablets=2),
        CreateTable(tenant="shop", table="users", tablets=1),
        CreateTenant(name="blog"),
        CreateTable(tenant="blog", table="posts", tablets=1),
    )
    h.commit("shop", {("orders", "k1"): "a", ("users", "u1"): "ann"})
    (straddler,) = h.do(Write(tenant="shop", tx=None, changes=(Put(table="orders", key="k2", value="b"),)))
    h.do(Freeze())
    h.commit("blog", {("posts", "p"): "x"})
    h.do(Commit(tx=straddler.tx_id))
    (backup,) = h.do(StartBackup(tenant="shop", destination="/backup/shop"))
    h.state, new = drive_backup(h.state, backup.task_id)
    h.events.extend(new)
    h.do(StartArchive(tenant="shop", destination="/backup/shop"))
    h.commit("shop", {("orders", "k3"): "c", ("orders", "k1"): None})
    h.do(CreateTable(tenant="shop", table="later", tablets=1))
    h.commit("shop", {("later", "z"): "zz"})
    h.do(DropTable(tenant="shop", table="users"))
    h.do(Mark(name="m1"))
    h.commit("shop", {("orders", "k4"): "d"})
    h.do(Tick(micros=100))
    shop = h.state.tenant_named("shop").tenant_id
    while h.state.archivers[shop].next_log_id <= h.state.last_log_id:
        h.do(ReadEntries(tenant_id=shop, count=100))
    h.do(SealPiece(tenant_id=shop))
    return h


def drive(
    h: Driven,
    rng: random.Random,
    *,
    scope: Scope = QUIET,
    until: Callable[[Driven], bool] | None = None,
    swap: Callable[[object], object] | None = None,
) -> None:
    """Take random enabled restore steps until none is left (or ``until`` holds);
    ``swap`` may replace the chosen action (to inject a fault)."""
    while until is None or not until(h):
        actions = restore_enabled(h.state, scope)
        if not actions:
            return
        action = rng.choice(actions)
        h.do(action if swap is None else swap(action))


def start_restore(h: Driven, target: str, until: int | str, *, workers: int = 3, capacity: int = 4) -> int:
    restore = StartRestore(source="shop", target=target, until=until, workers=workers, capacity=capacity)
    (started,) = h.do(restore)
    return started.task_id


def restore_completed(h: Driven, target: str, until: int | str, seed: int) -> int:
    task_id = start_restore(h, target, until)
    drive(h, random.Random(seed))
    return task_id


def restore_timed_out(h: Driven, target: str, seed: int) -> int:
    """Worker of the entry the applier waits for stalls once three entries are applied;
    the restore then times out on it."""
    task_id = start_restore(h, target, "m1")

    def waiting_in_vain_soon(h: Driven) -> bool:
        task = h.task(task_id)
        return task.applied >= 3 and task.read > task.applied and task.applied + 1 not in task.rewritten

    drive(h, random.Random(seed), until=waiting_in_vain_soon)
    task = h.task(task_id)
    h.do(StallWorker(task_id=task_id, worker=task.worker_of(task.applied + 1)))
    drive(h, random.Random(seed))
    return task_id


def restore_fetch_failed(h: Driven, target: str, seed: int) -> int:
    """Every fetch of the baseline's tablet 1 fails: past task_retries the DAG fails."""
    task_id = start_restore(h, target, "m1")
    first_tablet = fetch_task_name(1)

    def fail_tablet_1(action: object) -> object:
        if isinstance(action, dag.FinishTask) and action.task == first_tablet:
            return dag.FailTask(dag_id=action.dag_id, task=action.task, reason="storage unreachable")
        return action

    drive(h, random.Random(seed), swap=fail_tablet_1)
    return task_id


def restore_cancelled(h: Driven, target: str, seed: int, *, when: Callable[[RestoreTask], bool]) -> int:
    task_id = start_restore(h, target, "latest")
    drive(h, random.Random(seed), until=lambda h: when(h.task(task_id)))
    h.do(CancelRestore(task_id=task_id, reason="the operator changed their mind"))
    drive(h, random.Random(seed))
    return task_id


def in_incremental_with_applied(n: int) -> Callable[[RestoreTask], bool]:
    return lambda task: task.phase is RestorePhase.RESTORING_INCREMENTAL and task.applied >= n


def several_restores() -> Driven:
    """One history holding a restore of each kind, one after the other: to m1 (replaying
    the CREATE and the DROP), to latest, timed out, fetch failed, cancelled in INIT and
    cancelled while replaying."""
    h = source_history()
    restore_completed(h, "to_m1", "m1", seed=1)
    restore_completed(h, "to_latest", "latest", seed=2)
    restore_timed_out(h, "stalled", seed=3)
    restore_fetch_failed(h, "unfetched", seed=4)
    restore_cancelled(h, "early", seed=5, when=lambda task: task.phase is RestorePhase.INIT)
    restore_cancelled(h, "late", seed=6, when=in_incremental_with_applied(2))
    return h


def archive_logged(h: Driven, tenant_id: int = SHOP) -> None:
    """The tenant's archiver reads every entry logged so far and seals its piece."""
    while h.state.archivers[tenant_id].next_log_id <= h.state.last_log_id:
        h.do(ReadEntries(tenant_id=tenant_id, count=100))
    h.do(SealPiece(tenant_id=tenant_id))


def writes_past_the_standby(h: Driven) -> None:
    """shop goes on past m1 (the standbys' T): a commit, a CREATE TABLE and a commit into
    it, and a transaction left open (the fence aborts it); all archived."""
    h.commit("shop", {("orders", "k5"): "e", ("orders", "k2"): None})
    h.do(CreateTable(tenant="shop", table="extra", tablets=1))
    h.commit("shop", {("extra", "x1"): "xx"})
    h.do(Write(tenant="shop", tx=None, changes=(Put(table="orders", key="k6", value="open"),)))
    archive_logged(h)


def restored(standby: str = "back", seed: int = 1) -> Driven:
    """The source history, a completed restore of shop to m1 into ``standby``, then shop's
    writes past m1."""
    h = source_history()
    restore_completed(h, standby, "m1", seed=seed)
    writes_past_the_standby(h)
    return h


def start_promotion(h: Driven, standby: str, *, verify: bool = True, catch_up: bool = True) -> int:
    (started,) = h.do(StartPromotion(standby=standby, primary="shop", verify=verify, catch_up=catch_up))
    return started.promotion_id


def promotion(h: Driven, promotion_id: int) -> PromotionTask:
    return h.state.promotions[promotion_id]


def advance_until(h: Driven, promotion_id: int, until: Callable[[PromotionTask], bool]) -> None:
    """Take the promotion's next steps until ``until`` holds of it (or it ended)."""
    while not promotion(h, promotion_id).final and not until(promotion(h, promotion_id)):
        h.do(AdvancePromotion(promotion_id=promotion_id))


def promote(h: Driven, standby: str, *, verify: bool = True, catch_up: bool = True) -> int:
    """Start a promotion of ``standby`` over shop and take its steps to its end."""
    promotion_id = start_promotion(h, standby, verify=verify, catch_up=catch_up)
    advance_until(h, promotion_id, lambda task: False)
    return promotion_id


def fail_at(h: Driven, promotion_id: int, step: PromotionStep, reason: str) -> None:
    """Advance the promotion to ``step`` and make that step fail."""
    advance_until(h, promotion_id, lambda task: task.next_step is step)
    assert promotion(h, promotion_id).next_step is step
    h.do(FailPromotionStep(promotion_id=promotion_id, reason=reason))


def switchover(h: Driven, standby: str = "back") -> int:
    """A planned promotion: verified, caught up to the old primary's last commit; 2.5 ms
    pass between the fence and the catch-up."""
    promotion_id = start_promotion(h, standby, verify=True, catch_up=True)
    advance_until(h, promotion_id, lambda task: PromotionStep.FENCE in task.done)
    h.do(Tick(micros=2_500))
    advance_until(h, promotion_id, lambda task: False)
    return promotion_id


def failover(h: Driven, standby: str = "back") -> int:
    """An emergency promotion: no verification, no catch-up; the commits past T are lost."""
    return promote(h, standby, verify=False, catch_up=False)


def rolled_back_at_fence(h: Driven, standby: str = "back") -> int:
    promotion_id = start_promotion(h, standby)
    fail_at(h, promotion_id, PromotionStep.FENCE, "the old primary did not answer")
    return promotion_id


def enable_writes_retried(h: Driven, standby: str = "back") -> int:
    """ENABLE_WRITES fails once, past the routing update: retried, then completed."""
    promotion_id = start_promotion(h, standby)
    fail_at(h, promotion_id, PromotionStep.ENABLE_WRITES, "the standby's servers were busy")
    advance_until(h, promotion_id, lambda task: False)
    return promotion_id


def decommissioned(h: Driven) -> int:
    """A switchover, then the old primary decommissioned read-only, then fully."""
    promotion_id = switchover(h)
    old = h.state.tenants[SHOP].name
    h.do(Decommission(tenant=old, read_only=True))
    h.do(Decommission(tenant=old, read_only=False))
    return promotion_id


def several_promotions() -> Driven:
    """One history holding a promotion of each end, over three standbys of shop (back1,
    back2 and spare, restored to m1): back1's promotion rolled back at FENCE; back2's
    rolled back at SWITCH_SCHEMA, after its fence and catch-up, and shop (writable again)
    commits on; back1 promoted again, its ENABLE_WRITES failing once (completed); the old
    shop decommissioned read-only then fully, and spare, a standby never promoted, fully
    (its fence is the log's end then); last, two commits of the new shop."""
    h = source_history()
    for seed, standby in enumerate(("back1", "back2", "spare"), 1):
        restore_completed(h, standby, "m1", seed=seed)
    writes_past_the_standby(h)
    rolled_back_at_fence(h, "back1")
    h.commit("shop", {("orders", "k7"): "f"})
    archive_logged(h)
    back2 = start_promotion(h, "back2")
    fail_at(h, back2, PromotionStep.SWITCH_SCHEMA, "the schema service refused the rename")
    h.commit("shop", {("orders", "k8"): "g"})
    h.commit("shop", {("extra", "x2"): "yy"})
    archive_logged(h)
    enable_writes_retried(h, "back1")
    old = h.state.tenants[SHOP].name
    h.do(Decommission(tenant=old, read_only=True))
    h.do(Decommission(tenant=old, read_only=False))
    h.do(Decommission(tenant="spare", read_only=False))
    h.commit("shop", {("orders", "k9"): "h"})  # the new primary takes writes
    h.commit("shop", {("extra", "x3"): "zz"})
    return h
