"""Restore of a tenant into a new standby as of a point in time (issue 5), driven through the
model's decide and apply.

Most tests restore shop from :func:`world`, whose log is written out in WORLD_LOG: a
transaction straddles the freeze of backup set 1, another commits between its first entry
and the freeze, and after the backup come an aborted transaction, a delete, a table created
and written, a transaction still open at mark m2, a dropped table and a heartbeat. Restores
are moved with their own actions (``AdvanceRestore``, the baseline DAG's tasks,
``ReadArchived``, ``RewriteEntry``, ``ApplyEntry``, ...). What a standby must hold is read
from the ghost history (``ghost.content_as_of``), never from the restore code under test,
and every scenario ends with every state invariant checked.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import attrs
import pytest
from histories import (
    act,
    archive_all,
    assert_catches,
    assert_forgery_refused,
    assert_invariants,
    backup_world,
    commit_rows,
    drive_backup,
    read,
    recycle,
    retention_world,
    seal,
    skip,
)

from ybstate import dag
from ybstate.archive.actions import StartArchive, StopArchive
from ybstate.backup.actions import StartBackup
from ybstate.backup.state import BackupPhase, SetStatus
from ybstate.cluster import ghost
from ybstate.cluster.actions import Abort, Commit, CreateTable, DropTable, Freeze, Mark, Put, Tick, Write
from ybstate.cluster.costs import UNTIMED
from ybstate.cluster.events import MutatorLogged, TransactionCommitted
from ybstate.cluster.state import (
    Cell,
    ClusterConfig,
    ClusterState,
    LogRetention,
    Role,
    TenantStatus,
    evolve_state,
)
from ybstate.errors import (
    EventOutOfOrder,
    InvalidAction,
    RestoreNotReady,
    RestoreRejected,
    TenantNotWritable,
    UnknownRestore,
    UnknownTenant,
)
from ybstate.model import ClusterScope, RestoreScope, Scope, apply, decide, fingerprint
from ybstate.restore import decide as restore_decide
from ybstate.restore import reducer as restore_reducer
from ybstate.restore.actions import (
    AdvanceRestore,
    ApplyEntry,
    CancelRestore,
    ReadArchived,
    RewriteEntry,
    StallWorker,
    StartRestore,
    TimeOutRestore,
)
from ybstate.restore.derive import ApplierStep, fetch_task_name, pending_of, restore_advanceable
from ybstate.restore.enabled import restore_enabled
from ybstate.restore.events import (
    EntryApplied,
    EntryRead,
    RestoreCompleted,
    RestorePrepared,
    RestoreStarted,
    RestoreVerifying,
    TabletRestored,
)
from ybstate.restore.invariants import RESTORE_INVARIANTS
from ybstate.restore.plan import plan_restore
from ybstate.restore.state import Outcome, RestorePhase, RestoreTask, TableMapping
from ybstate.restore.verify import Contents

P = RestorePhase
SHOP, BLOG, STANDBY = 1001, 1002, 1003  # tenant ids, in order of creation
# Untimed: these tests read timestamps off the log, so the clock moves only with log
# entries and ticks (tests/test_durations.py times the same steps).
CONFIG = ClusterConfig(data_servers=2, piece_entries=4, costs=UNTIMED)
T0 = CONFIG.start_time  # an entry of the world is logged at T0 + its log id (until the heartbeat)
M1, M2 = T0 + 19, T0 + 21  # the marks' timestamps: the entries logged just before them
LATEST = T0 + 124  # the heartbeat, the last archived entry

# The log world() builds, shop's entries and the cluster-wide ones: (log id, what, tx id).
WORLD_LOG = (
    (1, "DDL orders (3001)", 0),
    (2, "DDL users (3002)", 0),
    (4, "MUTATOR k1=a u1=ann", 1),
    (5, "COMMIT", 1),
    (6, "MUTATOR k2=b", 2),  # tx 2 straddles the freeze: set 1's start_replay_log_id is 6
    (7, "MUTATOR u2=bob", 3),
    (8, "COMMIT", 3),  # before the freeze: in the baseline
    (9, "FREEZE", 0),  # frozen version 1, backup set 1's snapshot
    (12, "COMMIT", 2),  # after the freeze (blog's transaction 4 is log ids 10 and 11)
    (13, "MUTATOR k5=e", 5),
    (14, "ABORT", 5),
    (15, "MUTATOR k3=c k1=deleted", 6),
    (16, "COMMIT", 6),
    (17, "DDL later (3004)", 0),
    (18, "MUTATOR later z=zz", 7),
    (19, "COMMIT", 7),  # mark m1
    (20, "MUTATOR k6=f", 8),
    (21, "DROP users", 0),  # mark m2: transaction 8 is open
    (22, "COMMIT", 8),
    (23, "MUTATOR k4=d", 9),
    (24, "COMMIT", 9),
    (25, "HEARTBEAT", 0),  # logged at T0 + 124
)


def put(tenant: str, table: str, key: str, value: str | None = "v", tx: int | None = None) -> Write:
    return Write(tenant=tenant, tx=tx, changes=(Put(table=table, key=key, value=value),))


def world() -> ClusterState:
    """shop (orders in 2 tablets, users in 1) and blog (posts), backup set 1 of shop taken
    after a freeze that transaction 2 straddles, shop archived from the set's
    start_replay_log_id (nothing read yet), and the log of WORLD_LOG."""
    state = backup_world({"shop": {"orders": 2, "users": 1}, "blog": {"posts": 1}}, CONFIG)
    state = commit_rows(state, "shop", {("orders", "k1"): "a", ("users", "u1"): "ann"})
    state, (straddler,) = act(state, put("shop", "orders", "k2", "b"))
    state = commit_rows(state, "shop", {("users", "u2"): "bob"})
    state, _ = act(state, Freeze())
    state = commit_rows(state, "blog", {("posts", "p1"): "x"})
    state, _ = act(state, Commit(tx=straddler.tx_id))
    state, (backup,) = act(state, StartBackup(tenant="shop", destination="/backup/shop"))
    state, _ = drive_backup(state, backup.task_id)
    state, _ = act(state, StartArchive(tenant="shop", destination="/backup/shop"))
    state, (aborted,) = act(state, put("shop", "orders", "k5", "e"))
    state, _ = act(state, Abort(tx=aborted.tx_id))
    state = commit_rows(state, "shop", {("orders", "k3"): "c", ("orders", "k1"): None})
    state, _ = act(state, CreateTable(tenant="shop", table="later", tablets=1))
    state = commit_rows(state, "shop", {("later", "z"): "zz"})
    state, _ = act(state, Mark(name="m1"))
    state, (open_at_m2,) = act(state, put("shop", "orders", "k6", "f"))
    state, _ = act(state, DropTable(tenant="shop", table="users"))
    state, _ = act(state, Mark(name="m2"))
    state, _ = act(state, Commit(tx=open_at_m2.tx_id))
    state = commit_rows(state, "shop", {("orders", "k4"): "d"})
    return act(state, Tick(micros=100))[0]


_ARCHIVED: list[ClusterState] = []


def archived() -> ClusterState:
    """world() with shop's whole log archived (pieces of four kept entries, all sealed)."""
    if not _ARCHIVED:
        _ARCHIVED.append(archive_all(world(), SHOP))
    return _ARCHIVED[0]


def start(
    state: ClusterState, until: int | str = "m1", target: str = "back", **fields
) -> tuple[ClusterState, int]:
    state, (started,) = act(state, StartRestore(source="shop", target=target, until=until, **fields))
    return state, started.task_id


def next_step(state: ClusterState, task_id: int, failures: dict[int, int]) -> object:
    """The restore's next own step, deterministically: the baseline DAG's first enabled
    action (failing the first ``failures[tablet]`` attempts at a tablet), advance when it
    can, release the next entry, read, then let the lowest worker with work rewrite."""
    task = state.restores[task_id]
    if task.phase is P.RESTORING_BASELINE and task.dag_id and not state.dags[task.dag_id].finished:
        action = dag.enabled_dag(state.dags[task.dag_id], faults=False)[0]
        tablet = int(action.task.rsplit(" ", 1)[1])
        if isinstance(action, dag.FinishTask) and failures.get(tablet, 0) > 0:
            failures[tablet] -= 1
            return dag.FailTask(dag_id=task.dag_id, task=action.task, reason="injected")
        return action
    if restore_advanceable(state, task):
        return AdvanceRestore(task_id=task_id)
    if task.applied + 1 in task.rewritten:
        return ApplyEntry(task_id=task_id)
    if task.read < task.entries and task.read - task.applied < task.capacity:
        return ReadArchived(task_id=task_id)
    worker = next(w for w in range(task.workers) if pending_of(task, w) is not None)
    return RewriteEntry(task_id=task_id, worker=worker)


def drive(
    state: ClusterState,
    task_id: int,
    *,
    until: RestorePhase | Callable[[ClusterState, RestoreTask], bool] | None = None,
    failures: dict[int, int] | None = None,
    check: bool = False,
) -> tuple[ClusterState, list]:
    """Take restore ``task_id``'s own steps until it ends, or reaches phase ``until``, or
    ``until(state, task)`` holds; every state invariant is checked after each step when ``check``."""
    done = until if callable(until) else lambda state, task: task.phase is until
    left = dict(failures or {})
    events: list = []
    while not state.restores[task_id].final and not done(state, state.restores[task_id]):
        state, new = act(state, next_step(state, task_id, left))
        events.extend(new)
        if check:
            assert_invariants(state)
    return state, events


def restored(until: int | str = "m1", **fields) -> tuple[ClusterState, int, list]:
    state, task_id = start(archived(), until, **fields)
    state, events = drive(state, task_id)
    return state, task_id, events


def names(events: list) -> list[str]:
    return [type(e).__name__ for e in events]


def refusal(state: ClusterState, action: object, error: type = RestoreRejected) -> str:
    """The message of ``decide``'s refusal of ``action`` (which must be of type ``error``)."""
    before = fingerprint(state)
    with pytest.raises(error) as refused:
        decide(state, action)
    assert type(refused.value) is error
    assert fingerprint(state) == before
    return str(refused.value)


def test_the_world_logs_what_world_log_says():
    state = archived()
    kinds = {
        "TableCreated": "DDL",
        "MutatorLogged": "MUTATOR",
        "TransactionCommitted": "COMMIT",
        "TransactionAborted": "ABORT",
        "VersionFrozen": "FREEZE",
        "HeartbeatLogged": "HEARTBEAT",
        "TableDropped": "DROP",
    }
    found = [
        (log_id, kinds[type(entry).__name__], getattr(entry, "tx_id", 0))
        for log_id, entry in sorted(state.log.items())
        if getattr(entry, "tenant_id", SHOP) == SHOP
    ]
    assert found == [(log_id, what.split()[0], tx) for log_id, what, tx in WORLD_LOG]
    assert [state.log[i].time - T0 for i in (9, 19, 21, 25)] == [9, 19, 21, 124]
    assert dict(state.marks.items()) == {"m1": M1, "m2": M2}
    chosen = state.backup_sets[1]
    assert (chosen.tenant_id, chosen.snapshot_ts, chosen.start_replay_log_id) == (SHOP, T0 + 9, 6)
    assert state.archivers[SHOP].checkpoint.last_log_id == 25
    assert_invariants(state)


# -- the plan and its refusals -----------------------------------------------------------------


def test_restoring_an_unknown_tenant_is_refused():
    state = archived()
    assert (
        refusal(state, StartRestore(source="nobody", target="x"), UnknownTenant) == "unknown tenant 'nobody'"
    )
    with pytest.raises(UnknownTenant, match="unknown tenant 'nobody'"):
        plan_restore(state, "nobody")


def test_a_tenant_without_a_completed_backup_set_is_refused():
    state = archived()
    message = refusal(state, StartRestore(source="blog", target="x"))
    assert message == "restore of tenant 'blog': the tenant has no completed backup set"
    # a set still being made does not count either
    state, (backup,) = act(state, StartBackup(tenant="blog", destination="/backup/blog"))
    state, _ = drive_backup(state, backup.task_id, until=BackupPhase.VERIFYING)
    assert state.backup_sets[2].status is SetStatus.CREATING
    assert refusal(state, StartRestore(source="blog", target="x", until=state.clock)) == message


def test_a_restore_point_before_every_backup_set_is_refused_naming_the_earliest_snapshot():
    state = archived()
    message = refusal(state, StartRestore(source="shop", target="x", until=T0 + 8))
    assert message == (
        f"restore of tenant 'shop': the restore point {T0 + 8} is before every backup set "
        f"(the earliest snapshot is {T0 + 9})"
    )
    assert plan_restore(state, "shop", T0 + 9).until_ts == T0 + 9  # the snapshot itself is restorable


def test_a_restore_point_after_the_archived_up_to_point_is_refused():
    state = archived()
    message = refusal(state, StartRestore(source="shop", target="x", until=LATEST + 1))
    assert message == (
        f"restore of tenant 'shop': the restore point {LATEST + 1} is after the archived-up-to point {LATEST}"
    )
    assert plan_restore(state, "shop", LATEST).end_log_id == 25


def test_a_restore_point_after_what_is_archived_so_far_is_refused_and_latest_stops_there():
    partial = world()
    # two full pieces sealed: log ids 6 7 8 9, then 12 13 14 15 (10 and 11 are blog's)
    partial = seal(read(seal(read(partial, count=100)), count=100))
    assert partial.archivers[SHOP].checkpoint.last_log_id == 15
    assert plan_restore(partial, "shop").until_ts == T0 + 15
    message = refusal(partial, StartRestore(source="shop", target="x", until=T0 + 16))
    assert message.endswith(f"the restore point {T0 + 16} is after the archived-up-to point {T0 + 15}")


def stopped_hole() -> ClusterState:
    """archived() with shop's archiving stopped, a transaction (log ids 26, 27) committed,
    archiving started again after it and one more transaction (28, 29) archived."""
    state, _ = act(archived(), StopArchive(tenant="shop"))
    state = commit_rows(state, "shop", {("orders", "h1"): "x"})
    state, _ = act(state, StartArchive(tenant="shop", destination="/backup/shop", start_log_id=28))
    state = commit_rows(state, "shop", {("orders", "h2"): "y"})
    return archive_all(state, SHOP)


def test_a_restore_point_past_a_stopped_hole_is_refused_naming_the_missing_log_ids():
    state = stopped_hole()
    assert state.log[29].time == T0 + 128
    message = refusal(state, StartRestore(source="shop", target="x", until=T0 + 128))
    assert message == (
        f"restore of tenant 'shop': the restore point {T0 + 128} is past a hole in the archive: "
        f"log ids 26..27 are missing (stopped); backup set 1 reaches {LATEST}"
    )
    # latest is the furthest point a set reaches, before the hole
    assert plan_restore(state, "shop").until_ts == LATEST
    assert_invariants(state)


def test_a_restore_point_past_a_recycled_log_hole_of_a_business_first_tenant_is_refused():
    state = retention_world(shop=LogRetention.BUSINESS_FIRST)
    state, (backup,) = act(state, StartBackup(tenant="shop", destination="/backup/shop"))
    state, _ = drive_backup(state, backup.task_id)
    state, _ = act(state, StartArchive(tenant="shop", destination="/backup/shop"))
    state = archive_all(state, SHOP)  # log ids 9..14
    reach = state.archivers[SHOP].checkpoint.archived_ts
    state = commit_rows(state, "shop", {("orders", "r1"): "x"})  # 15, 16
    state, _ = act(state, Freeze())  # 17
    state = recycle(state)
    state, _ = skip(state)  # 15..17 are lost
    state = commit_rows(state, "shop", {("orders", "r2"): "x"})  # 18, 19
    state = archive_all(state, SHOP)
    until = state.log[19].time
    message = refusal(state, StartRestore(source="shop", target="x", until=until))
    assert message == (
        f"restore of tenant 'shop': the restore point {until} is past a hole in the archive: "
        f"log ids 15..17 are missing (recycled log); backup set 1 reaches {reach}"
    )
    assert plan_restore(state, "shop").until_ts == reach
    assert_invariants(state)


def two_sets() -> ClusterState:
    """archived() then: a freeze (log id 26) and shop's backup set 2, blog's set 3, a failed
    backup of shop (set 4, deleted), and a transaction of shop (27, 28), all archived."""
    state, _ = act(archived(), Freeze())
    state, (second,) = act(state, StartBackup(tenant="shop", destination="/backup/shop"))
    state, _ = drive_backup(state, second.task_id)
    state, (blogs,) = act(state, StartBackup(tenant="blog", destination="/backup/blog"))
    state, _ = drive_backup(state, blogs.task_id)
    state, (failed,) = act(state, StartBackup(tenant="shop", destination="/backup/shop"))
    state, _ = drive_backup(state, failed.task_id, until=BackupPhase.DOING)
    tablet = state.backups[failed.task_id].tablets[0].tablet_id
    state, _ = drive_backup(state, failed.task_id, failures={tablet: 3})
    state = commit_rows(state, "shop", {("orders", "k7"): "g"})
    return archive_all(state, SHOP)


def test_the_base_is_the_newest_completed_set_whose_snapshot_is_at_or_before_t():
    state = two_sets()
    sets = {s.set_id: (s.tenant_id, s.status, s.snapshot_ts) for s in state.backup_sets.values()}
    freeze2 = state.log[26].time
    assert sets == {
        1: (SHOP, SetStatus.AVAILABLE, T0 + 9),
        2: (SHOP, SetStatus.AVAILABLE, freeze2),
        3: (BLOG, SetStatus.AVAILABLE, freeze2),
        4: (SHOP, SetStatus.DELETED, freeze2),
    }
    assert plan_restore(state, "shop", "m2").set_id == 1
    assert plan_restore(state, "shop", freeze2 - 1).set_id == 1
    assert plan_restore(state, "shop", freeze2).set_id == 2
    latest = plan_restore(state, "shop")
    assert (latest.set_id, latest.until_ts, latest.until) == (2, state.log[28].time, "latest")
    assert (latest.start_log_id, latest.freeze_log_id, latest.end_log_id) == (27, 26, 28)
    assert plan_restore(state, "shop", "m2", backup_set=1).set_id == 1
    assert plan_restore(state, "shop", backup_set=1).until_ts == state.log[28].time
    state, task_id = start(state, "latest")
    state, _ = drive(state, task_id, check=True)
    task = state.restores[task_id]
    assert (task.set_id, task.start_log_id, task.phase) == (2, 27, P.COMPLETED)
    assert ghost.content(state, task.target_tenant_id) == {**EXPECTED["latest"], ("orders", "k7"): "g"}


@pytest.mark.parametrize(
    ("backup_set", "until", "why"),
    [
        (3, "latest", "backup set 3 is not a completed set of the tenant (its completed sets: [1, 2])"),
        (4, "latest", "backup set 4 is not a completed set of the tenant (its completed sets: [1, 2])"),
        (9, "latest", "backup set 9 is not a completed set of the tenant (its completed sets: [1, 2])"),
        (2, "m1", f"backup set 2's snapshot {T0 + 125} is after the restore point {M1}"),
        (-1, "m1", "backup_set must be a set id or 0 (the newest that fits), got -1"),
        (True, "m1", "backup_set must be a set id or 0 (the newest that fits), got True"),
        ("1", "m1", "backup_set must be a set id or 0 (the newest that fits), got '1'"),
    ],
)
def test_a_named_backup_set_that_does_not_fit_is_refused(backup_set, until, why):
    state = two_sets()
    assert state.log[26].time == T0 + 125
    action = StartRestore(source="shop", target="x", until=until, backup_set=backup_set)
    assert refusal(state, action) == f"restore of tenant 'shop': {why}"


def test_an_unknown_mark_is_refused_listing_the_marks():
    message = refusal(archived(), StartRestore(source="shop", target="x", until="m9"))
    assert message == "restore of tenant 'shop': there is no mark named 'm9' (marks: ['m1', 'm2'])"


def test_latest_resolves_to_the_archived_up_to_point_and_a_mark_to_its_timestamp():
    state = archived()
    for until, ts, end_log_id, entries in (
        ("latest", LATEST, 25, 18),
        ("m1", M1, 19, 13),
        ("m2", M2, 21, 15),
    ):
        plan = plan_restore(state, "shop", until)
        assert (plan.set_id, plan.until_ts, plan.until) == (1, ts, until)
        assert (plan.start_log_id, plan.freeze_log_id, plan.end_log_id) == (6, 9, end_log_id)
        assert (plan.entries, plan.rows, plan.tablets) == (entries, 3, 3)
    after, (started,) = act(state, StartRestore(source="shop", target="back", until="m2", workers=3))
    assert started == RestoreStarted(
        seq=state.seq + 1,
        time=state.clock,
        task_id=1,
        source_tenant_id=SHOP,
        target_name="back",
        set_id=1,
        until_ts=M2,
        until="m2",
        start_log_id=6,
        end_log_id=21,
        workers=3,
        capacity=6,  # twice the workers
        mark="m2",
        latest=False,
    )
    (latest,) = decide(state, StartRestore(source="shop", target="back"))
    assert (latest.until_ts, latest.until, latest.latest, latest.mark) == (LATEST, "latest", True, "")
    assert (latest.workers, latest.capacity) == (4, 8)  # the cluster's restore_workers
    (at_ts,) = decide(state, StartRestore(source="shop", target="back", until=M1, capacity=1))
    assert (at_ts.until_ts, at_ts.until, at_ts.mark, at_ts.capacity) == (M1, str(M1), "", 1)
    assert after.restores[1].phase is P.INIT
    assert_invariants(after)


def test_the_standby_name_must_be_new_and_not_wanted_by_a_pending_restore():
    state = archived()
    for taken in ("shop", "blog"):
        message = refusal(state, StartRestore(source="shop", target=taken))
        assert message == f"restore of tenant 'shop': the name {taken!r} is taken"
    assert refusal(state, StartRestore(source="shop", target="")) == (
        "restore of tenant 'shop': the standby needs a non-empty name"
    )
    state, task_id = start(state, target="back")
    assert refusal(state, StartRestore(source="shop", target="back")) == (
        "restore of tenant 'shop': the name 'back' is taken"
    )
    state, _ = drive(state, task_id, until=P.RESTORING_BASELINE)  # now the tenant exists
    assert state.tenant_named("back").tenant_id == STANDBY
    assert "the name 'back' is taken" in refusal(state, StartRestore(source="shop", target="back"))
    # a restore cancelled before it created its standby frees the name
    state, other = start(state, target="other")
    state, _ = act(state, CancelRestore(task_id=other))
    state, again = start(state, target="other")
    assert (again, state.restores[again].target_name) == (3, "other")
    assert_invariants(state)


@pytest.mark.parametrize(
    ("fields", "error", "why"),
    [
        ({"workers": -1}, InvalidAction, "restore workers must be an int 0..256 (0: the default), got -1"),
        ({"workers": 1.5}, InvalidAction, "restore workers must be an int 0..256 (0: the default), got 1.5"),
        (
            {"capacity": -2},
            InvalidAction,
            "restore capacity must be an int 0..1000000 (0: the default), got -2",
        ),
        (
            {"capacity": True},
            InvalidAction,
            "restore capacity must be an int 0..1000000 (0: the default), got True",
        ),
        (
            {"workers": 10**30},
            InvalidAction,
            "restore workers must be an int 0..256 (0: the default), got 1000000000000000000000000000000",
        ),
        (
            {"target": "a@b"},
            RestoreRejected,
            "restore of tenant 'shop': the standby's name: a tenant name may not contain '@' "
            "(it names replaced primaries), got 'a@b'",
        ),
        ({"source": 7}, InvalidAction, "restore source must be a string, got 7"),
        ({"target": None}, InvalidAction, "restore target must be a string, got None"),
        (
            {"until": 12.5},
            RestoreRejected,
            "restore of tenant 'shop': the restore point must be a timestamp, a mark or 'latest', got 12.5",
        ),
        (
            {"until": None},
            RestoreRejected,
            "restore of tenant 'shop': the restore point must be a timestamp, a mark or 'latest', got None",
        ),
        (
            {"until": False},
            RestoreRejected,
            "restore of tenant 'shop': the restore point must be a timestamp, a mark or 'latest', got False",
        ),
        (
            {"until": -5},
            RestoreRejected,
            "restore of tenant 'shop': the restore point must be a timestamp >= 0, got -5",
        ),
    ],
)
def test_malformed_start_restore_fields_are_refused(fields, error, why):
    action = StartRestore(**{"source": "shop", "target": "x", **fields})
    assert refusal(archived(), action, error) == why


# -- phases ------------------------------------------------------------------------------------


def tiny() -> ClusterState:
    """shop with one table of one tablet: k1 committed (log ids 2, 3), k2 written (4) by a
    transaction that straddles the freeze (5) and commits (6); set 1 of it; all archived;
    mark m at the commit."""
    state = backup_world({"shop": {"orders": 1}}, CONFIG)
    state = commit_rows(state, "shop", {("orders", "k1"): "a"})
    state, (straddler,) = act(state, put("shop", "orders", "k2", "b"))
    state, _ = act(state, Freeze(), Commit(tx=straddler.tx_id))
    state, (backup,) = act(state, StartBackup(tenant="shop", destination="/backup/shop"))
    state, _ = drive_backup(state, backup.task_id)
    state, _ = act(state, StartArchive(tenant="shop", destination="/backup/shop"), Mark(name="m"))
    return archive_all(state, SHOP)


def test_a_small_restore_goes_init_preparing_baseline_incremental_verifying_completed():
    state, task_id = start(tiny(), "m", workers=1, capacity=1)
    state, events = drive(state, task_id, check=True)
    assert names(events) == [
        "RestorePreparing",
        # PREPARING: the standby tenant, its table, the baseline DAG of one fetch
        "RestorePrepared",
        "TenantCreated",
        "TableCreated",
        "DagSubmitted",
        "TaskReady",
        # RESTORING_BASELINE: the fetch runs, its tablet (k1) loads as one standby transaction
        "TaskStarted",
        "TaskSucceeded",
        "DagFinished",
        "TabletRestored",
        "MutatorLogged",
        "TransactionCommitted",
        # RESTORING_INCREMENTAL: log ids 4 (buffered), 5 (the freeze) and 6 (applied)
        "IncrementalStarted",
        "EntryRead",
        "EntryRewritten",
        "EntryApplied",
        "EntryRead",
        "EntryRewritten",
        "EntryApplied",
        "EntryRead",
        "EntryRewritten",
        "EntryApplied",
        "MutatorLogged",
        "TransactionCommitted",
        "RestoreVerifying",
        "RestoreCompleted",
    ]
    task = state.restores[task_id]
    assert task.phases == (
        P.INIT,
        P.PREPARING,
        P.RESTORING_BASELINE,
        P.RESTORING_INCREMENTAL,
        P.VERIFYING,
        P.COMPLETED,
    )
    assert [e.outcome for e in events if isinstance(e, EntryApplied)] == ["buffered", "time", "applied"]
    assert task.target_tenant_id == 1002  # the tiny cluster has shop only
    assert ghost.content(state, 1002) == {("orders", "k1"): "a", ("orders", "k2"): "b"}
    assert (task.baseline_progress, task.incremental_progress, task.error) == (100, 100, "")


def test_preparing_creates_a_restoring_standby_and_one_table_per_set_table_with_new_ids():
    state, task_id = start(archived())
    state, _ = act(state, AdvanceRestore(task_id=task_id))
    assert state.restores[task_id].phase is P.PREPARING
    state, events = act(state, AdvanceRestore(task_id=task_id))
    prepared = events[0]
    mapping = (
        TableMapping(source_table_id=3001, target_table_id=3005, name="orders", schema_version=6),
        TableMapping(source_table_id=3002, target_table_id=3006, name="users", schema_version=7),
    )
    assert prepared == RestorePrepared(
        seq=prepared.seq, time=prepared.time, task_id=1, target_tenant_id=STANDBY, mapping=mapping,
        dag_id=2, tablets=3,
    )  # fmt: skip
    standby = state.tenants[STANDBY]
    assert (standby.name, standby.role, standby.status, standby.writable) == (
        "back",
        Role.STANDBY,
        TenantStatus.RESTORING,
        False,
    )
    for m in mapping:
        source, target = state.tables[m.source_table_id], state.tables[m.target_table_id]
        assert (target.tenant_id, target.name, target.schema_version) == (STANDBY, m.name, m.schema_version)
        assert len(target.tablets) == len(source.tablets)
    task = state.restores[task_id]
    assert (task.phase, task.mapping, task.dag_id, task.tablets, task.loaded) == (
        P.RESTORING_BASELINE,
        mapping,
        2,
        3,
        0,
    )
    assert state.dags[2].owner == "restore:1"
    assert sorted(state.dags[2].tasks) == [fetch_task_name(t) for t in (1, 2, 3)]
    with pytest.raises(TenantNotWritable):
        decide(state, put("back", "orders", "k1"))
    assert ghost.content(state, STANDBY) == {}
    assert_invariants(state)


def test_each_baseline_tablet_loads_as_one_standby_transaction_through_the_mapping():
    state, task_id = start(archived())
    state, events = drive(state, task_id, until=P.RESTORING_INCREMENTAL, check=True)
    loads = [e for e in events if isinstance(e, TabletRestored)]
    stored = {t: state.stored[(1, t)] for t in (1, 2, 3)}
    assert [(e.source_tablet_id, e.target_table_id, e.row_count, e.tx_id) for e in loads] == [
        (1, 3005, 1, 10),  # orders k1
        (2, 3005, 0, 0),  # the other orders tablet is empty: no transaction
        (3, 3006, 2, 11),  # users u1 u2
    ]
    assert [e.checksum for e in loads] == [stored[t].checksum for t in (1, 2, 3)]
    standby_entries = [e for e in events if isinstance(e, MutatorLogged | TransactionCommitted)]
    assert [(type(e).__name__, e.tenant_id, e.tx_id) for e in standby_entries] == [
        ("MutatorLogged", STANDBY, 10),
        ("TransactionCommitted", STANDBY, 10),
        ("MutatorLogged", STANDBY, 11),
        ("TransactionCommitted", STANDBY, 11),
    ]
    assert standby_entries[0].cells == (Cell(table_id=3005, rowkey="k1", value="a"),)
    assert standby_entries[2].cells == (
        Cell(table_id=3006, rowkey="u1", value="ann"),
        Cell(table_id=3006, rowkey="u2", value="bob"),
    )
    task = state.restores[task_id]
    assert (task.loaded, task.tablets, task.baseline_progress) == (3, 3, 100)
    assert ghost.content(state, STANDBY) == ghost.baseline(state, SHOP, 1)
    assert ghost.content(state, STANDBY) == {
        ("orders", "k1"): "a",
        ("users", "u1"): "ann",
        ("users", "u2"): "bob",
    }


EXPECTED = {
    "m1": {
        ("orders", "k2"): "b",
        ("orders", "k3"): "c",
        ("users", "u1"): "ann",
        ("users", "u2"): "bob",
        ("later", "z"): "zz",
    },
    "m2": {("orders", "k2"): "b", ("orders", "k3"): "c", ("later", "z"): "zz"},
    "latest": {
        ("orders", "k2"): "b",
        ("orders", "k3"): "c",
        ("orders", "k4"): "d",
        ("orders", "k6"): "f",
        ("later", "z"): "zz",
    },
}


@pytest.mark.parametrize(("until", "ts"), [("m1", M1), ("m2", M2), ("latest", LATEST)])
def test_a_completed_standby_is_read_only_restored_to_t_and_equals_the_source_at_t(until, ts):
    state, task_id = start(archived(), until)
    state, events = drive(state, task_id, check=True)
    task = state.restores[task_id]
    standby = state.tenants[STANDBY]
    assert (task.phase, task.error, task.until_ts, task.target_tenant_id) == (P.COMPLETED, "", ts, STANDBY)
    assert (standby.name, standby.role, standby.status, standby.writable, standby.restored_to) == (
        "back",
        Role.STANDBY,
        TenantStatus.READ_ONLY,
        False,
        ts,
    )
    content = ghost.content(state, STANDBY)
    assert content == ghost.content_as_of(state, SHOP, ts) == EXPECTED[until]
    assert events[-1] == RestoreCompleted(
        seq=state.seq,
        time=state.clock,
        task_id=task_id,
        target_tenant_id=STANDBY,
        rows=len(EXPECTED[until]),
        checksum=ghost.checksum(EXPECTED[until]),
    )
    assert task.ended_ts == state.clock
    with pytest.raises(TenantNotWritable):
        decide(state, put("back", "orders", "k1"))


@pytest.mark.parametrize("seed", range(2))
def test_two_restores_of_one_tenant_interleaved_at_random_both_complete(seed):
    state, first = start(archived(), "m1", target="back")
    state, second = start(state, "latest", target="live", workers=3, capacity=3)
    scope = Scope(
        cluster=ClusterScope(tenants=()), restore=RestoreScope(restore_sources=("shop",), max_restores=2)
    )
    rng = random.Random(seed)
    while actions := restore_enabled(state, scope):
        state, _ = act(state, rng.choice(actions))
        assert_invariants(state)
    for task_id, until in ((first, "m1"), (second, "latest")):
        task = state.restores[task_id]
        assert task.phase is P.COMPLETED
        assert ghost.content(state, task.target_tenant_id) == EXPECTED[until]
    assert (state.restores[first].target_tenant_id, state.restores[second].target_tenant_id) in {
        (1003, 1004),
        (1004, 1003),
    }


# -- the applier --------------------------------------------------------------------------------


def applied_events(events: list) -> list[tuple]:
    return [
        (e.entry_seq, e.log_id, e.outcome, e.source_tx_id, e.target_tx_id, e.target_table_id)
        for e in events
        if isinstance(e, EntryApplied)
    ]


def test_the_applier_applies_straddlers_whole_skips_the_baseline_drops_aborts_and_stops_past_t():
    state, task_id, events = restored("m1")
    assert applied_events(events) == [
        (1, 6, "buffered", 2, 0, 0),  # the straddler's mutator, before the freeze
        (2, 7, "buffered", 3, 0, 0),
        (3, 8, "in baseline", 3, 0, 0),  # committed before the freeze: the set holds u2
        (4, 9, "time", 0, 0, 0),  # the freeze
        (5, 12, "applied", 2, 12, 0),  # the straddler, whole, as standby transaction 12
        (6, 13, "buffered", 5, 0, 0),
        (7, 14, "dropped", 5, 0, 0),  # aborted
        (8, 15, "buffered", 6, 0, 0),
        (9, 16, "applied", 6, 13, 0),
        (10, 17, "table created", 0, 0, 3007),  # 'later', created after the backup
        (11, 18, "buffered", 7, 0, 0),
        (12, 19, "applied", 7, 14, 0),
        (13, 20, "past T", 0, 0, 0),  # the first entry after m1: the applier stops
    ]
    released = next(e for e in events if isinstance(e, EntryApplied) and e.log_id == 12)
    straddler = events[events.index(released) + 1]
    assert (type(straddler).__name__, straddler.tenant_id, straddler.tx_id, straddler.cells) == (
        "MutatorLogged",
        STANDBY,
        12,
        (Cell(table_id=3005, rowkey="k2", value="b"),),
    )
    task = state.restores[task_id]
    assert (task.entries, task.applied, task.stopped, task.applied_txns) == (13, 13, True, 3)
    assert (task.restored_log_id, task.applied_ts) == (19, M1)  # the entry past T is not counted
    assert task.mapping[-1] == TableMapping(
        source_table_id=3004, target_table_id=3007, name="later", schema_version=8
    )
    assert state.tables[3007].tenant_id == STANDBY
    assert sum(isinstance(e, RestoreVerifying) and e.open_dropped == 0 for e in events) == 1


def test_the_straddler_shows_in_the_standby_only_once_its_commit_is_applied():
    state, task_id = start(archived())
    state, _ = drive(state, task_id, until=P.RESTORING_INCREMENTAL)
    seen = []
    while state.restores[task_id].applied < 5:
        state, _ = act(state, next_step(state, task_id, {}))
        seen.append((state.restores[task_id].applied, ghost.content(state, STANDBY).get(("orders", "k2"))))
        assert_invariants(state)
    assert {value for applied, value in seen if applied < 5} == {None}
    assert seen[-1] == (5, "b")


def test_a_transaction_open_at_t_is_dropped_and_a_replayed_drop_drops_the_standby_table():
    state, task_id, events = restored("m2")
    assert applied_events(events)[-3:] == [
        (13, 20, "buffered", 8, 0, 0),  # transaction 8, open at m2
        (14, 21, "table dropped", 0, 0, 3006),  # users
        (15, 22, "past T", 0, 0, 0),  # its commit is after m2
    ]
    (verifying,) = [e for e in events if isinstance(e, RestoreVerifying)]
    assert verifying.open_dropped == 1
    assert [t.name for t in state.tables_of(STANDBY)] == ["orders", "later"]
    assert not state.tables[3006].alive
    assert [m.dropped for m in state.restores[task_id].mapping] == [False, True, False]
    assert ("orders", "k6") not in ghost.content(state, STANDBY)
    assert state.restores[task_id].phase is P.COMPLETED
    assert_invariants(state)


def test_the_applier_stops_at_the_first_entry_past_t_and_nothing_more_is_read_or_released():
    state, task_id = start(archived(), capacity=20)
    state, _ = drive(state, task_id, until=P.RESTORING_INCREMENTAL)
    while not state.restores[task_id].stopped:
        state, _ = act(state, next_step(state, task_id, {}))
    task = state.restores[task_id]
    assert (task.read, task.applied, task.entries, task.restored_log_id) == (13, 13, 13, 19)
    assert state.restore_entries[task_id][-1].log_id == 20  # read, and not applied
    assert refusal(state, ReadArchived(task_id=task_id), RestoreNotReady) == (
        "restore task 1 has no archived entry left to read"
    )
    assert refusal(state, ApplyEntry(task_id=task_id), RestoreNotReady) == (
        "restore task 1 waits for entry 14 in its reorder queue"
    )
    assert restore_enabled(state, Scope()) == [AdvanceRestore(task_id=task_id)]
    assert_invariants(state)


# -- the pipeline -------------------------------------------------------------------------------


def incremental(workers: int, capacity: int, until: int | str = "m1") -> tuple[ClusterState, int]:
    """A restore of archived() just after its incremental phase started (nothing read)."""
    state, task_id = start(archived(), until, workers=workers, capacity=capacity)
    return drive(state, task_id, until=P.RESTORING_INCREMENTAL)[0], task_id


def test_entries_are_numbered_in_log_order_and_handed_out_round_robin():
    state, task_id = incremental(workers=3, capacity=13)
    state, events = act(state, *[ReadArchived(task_id=task_id)] * 13)
    assert [(e.entry_seq, e.log_id, e.worker) for e in events] == [
        (1, 6, 0),
        (2, 7, 1),
        (3, 8, 2),
        (4, 9, 0),
        (5, 12, 1),
        (6, 13, 2),
        (7, 14, 0),
        (8, 15, 1),
        (9, 16, 2),
        (10, 17, 0),
        (11, 18, 1),
        (12, 19, 2),
        (13, 20, 0),
    ]
    # each worker rewrites the oldest entry it holds
    assert [pending_of(state.restores[task_id], w) for w in range(3)] == [1, 2, 3]
    assert_invariants(state)


def test_workers_finish_in_any_order_but_the_applier_takes_1_2_3():
    state, task_id = incremental(workers=3, capacity=6)
    state, _ = act(state, *[ReadArchived(task_id=task_id)] * 3)
    state, events = act(
        state, RewriteEntry(task_id=task_id, worker=2), RewriteEntry(task_id=task_id, worker=1)
    )
    assert [(e.entry_seq, e.worker) for e in events] == [(3, 2), (2, 1)]
    assert state.restores[task_id].rewritten == (2, 3)
    assert refusal(state, ApplyEntry(task_id=task_id), RestoreNotReady) == (
        "restore task 1 waits for entry 1 in its reorder queue"
    )
    assert ApplyEntry(task_id=task_id) not in restore_enabled(state, Scope())
    assert_invariants(state)
    state, (rewritten,) = act(state, RewriteEntry(task_id=task_id, worker=0))
    assert (rewritten.entry_seq, rewritten.worker) == (1, 0)
    state, events = act(state, *[ApplyEntry(task_id=task_id)] * 3)
    assert [e.entry_seq for e in events if isinstance(e, EntryApplied)] == [1, 2, 3]
    assert (state.restores[task_id].applied, state.restores[task_id].rewritten) == (3, ())
    assert_invariants(state)


def test_the_reader_waits_while_capacity_entries_are_in_flight_and_resumes_after_an_apply():
    state, task_id = incremental(workers=2, capacity=2)
    state, _ = act(state, ReadArchived(task_id=task_id), ReadArchived(task_id=task_id))
    bound = "restore task 1 has 2 entries in flight, its reorder queue's bound: the reader waits"
    assert refusal(state, ReadArchived(task_id=task_id), RestoreNotReady) == bound
    assert ReadArchived(task_id=task_id) not in restore_enabled(state, Scope())
    state, _ = act(state, RewriteEntry(task_id=task_id, worker=1), RewriteEntry(task_id=task_id, worker=0))
    assert (
        refusal(state, ReadArchived(task_id=task_id), RestoreNotReady) == bound
    )  # rewritten is still in flight
    state, _ = act(state, ApplyEntry(task_id=task_id))
    assert ReadArchived(task_id=task_id) in restore_enabled(state, Scope())
    state, (read,) = act(state, ReadArchived(task_id=task_id))
    assert (read.entry_seq, read.log_id, read.worker) == (3, 8, 0)
    # a forged read beyond the bound is refused by apply too
    forged = EntryRead(seq=state.seq + 1, time=state.clock, task_id=task_id, entry_seq=4, log_id=9, worker=1)
    with pytest.raises(EventOutOfOrder, match=r"the next entry read by restore 1 \(seq, worker\)"):
        apply(state, forged)
    assert_invariants(state)


def test_an_entry_held_by_a_stalled_worker_times_out_and_fails_the_restore_naming_it():
    state, task_id = incremental(workers=2, capacity=4)
    state, (stalled,) = act(state, StallWorker(task_id=task_id, worker=1))
    assert (stalled.worker, state.restores[task_id].stalled) == (1, (1,))
    state, _ = act(state, ReadArchived(task_id=task_id), ReadArchived(task_id=task_id))
    assert refusal(state, TimeOutRestore(task_id=task_id), RestoreNotReady) == (
        "restore task 1 waits for no entry held by a stalled worker"
    )
    state, _ = act(state, RewriteEntry(task_id=task_id, worker=0), ApplyEntry(task_id=task_id))
    assert TimeOutRestore(task_id=task_id) in restore_enabled(state, Scope())
    assert RewriteEntry(task_id=task_id, worker=1) not in restore_enabled(state, Scope())
    state, (failed,) = act(state, TimeOutRestore(task_id=task_id))
    reason = "sequence number 2 (log id 7) missing past the timeout: worker 1 stalled"
    assert failed.reason == reason
    task = state.restores[task_id]
    assert (task.phase, task.error, task.applied) == (P.FAILED, reason, 1)
    assert_invariants(state)


def test_stall_and_rewrite_requests_that_do_not_fit_are_refused():
    state, task_id = start(archived(), workers=2)
    state, _ = drive(state, task_id, until=P.RESTORING_BASELINE)
    for action in (RewriteEntry(task_id=task_id, worker=0), StallWorker(task_id=task_id, worker=0)):
        assert refusal(state, action, RestoreNotReady) == (
            "restore task 1 is RESTORING_BASELINE, not RESTORING_INCREMENTAL"
        )
    state, _ = drive(state, task_id, until=P.RESTORING_INCREMENTAL)
    assert refusal(state, RewriteEntry(task_id=task_id, worker=0), RestoreNotReady) == (
        "restore task 1 has nothing for worker 0 to rewrite"
    )
    for worker in (2, -1, "0", True):
        for action in (
            RewriteEntry(task_id=task_id, worker=worker),
            StallWorker(task_id=task_id, worker=worker),
        ):
            assert refusal(state, action, InvalidAction) == f"restore 1 has workers 0..1, not {worker!r}"
    state, _ = act(state, StallWorker(task_id=task_id, worker=1), ReadArchived(task_id=task_id))
    state, _ = act(state, ReadArchived(task_id=task_id))
    assert refusal(state, StallWorker(task_id=task_id, worker=1), RestoreNotReady) == (
        "restore task 1 has worker 1 stalled already"
    )
    assert refusal(state, RewriteEntry(task_id=task_id, worker=1), RestoreNotReady) == (
        "restore task 1 has worker 1 stalled"
    )
    assert refusal(state, ReadArchived(task_id=9), UnknownRestore) == "restore task 9 does not exist"
    assert (
        refusal(state, ReadArchived(task_id="1"), InvalidAction)
        == "a restore task id must be an int, got '1'"
    )
    assert_invariants(state)


# -- baseline fetch failures --------------------------------------------------------------------


def test_a_fetch_failing_past_its_retries_fails_the_restore_naming_the_tablet():
    state, task_id = start(archived())
    assert state.config.task_retries == 2
    state, events = drive(state, task_id, failures={3: 3}, check=True)
    task = state.restores[task_id]
    assert (task.phase, task.error) == (P.FAILED, "fetch of tablets [3] failed after 3 attempts")
    assert task.phases[-2:] == (P.RESTORING_BASELINE, P.FAILED)
    assert (task.loaded, task.tablets) == (2, 3)
    assert names(events).count("TaskFailed") == 3
    assert state.dags[task.dag_id].status is dag.DagStatus.FAILED


def test_a_fetch_that_fails_within_its_retries_is_retried_and_the_restore_completes():
    state, task_id = start(archived())
    state, events = drive(state, task_id, failures={1: 2, 3: 1}, check=True)
    task = state.restores[task_id]
    assert (task.phase, task.loaded) == (P.COMPLETED, 3)
    assert names(events).count("TaskFailed") == 3
    assert [e.source_tablet_id for e in events if isinstance(e, TabletRestored)] == [1, 2, 3]
    assert ghost.content(state, STANDBY) == EXPECTED["m1"]


# -- cancel -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "phase", [P.INIT, P.PREPARING, P.RESTORING_BASELINE, P.RESTORING_INCREMENTAL, P.VERIFYING]
)
def test_cancel_ends_a_restore_from_each_running_phase(phase):
    state, task_id = start(archived())
    state, _ = drive(state, task_id, until=phase)
    if phase is P.RESTORING_BASELINE:  # one fetch running, two waiting
        state, _ = act(state, dag.StartTask(dag_id=2, task=fetch_task_name(1)))
    if phase is P.RESTORING_INCREMENTAL:  # two entries in flight, one transaction buffered
        state, _ = act(state, ReadArchived(task_id=task_id), ReadArchived(task_id=task_id))
        state, _ = act(state, RewriteEntry(task_id=task_id, worker=0), ApplyEntry(task_id=task_id))
        # the applier holds the source cells; it rewrites them when it applies the commit
        assert dict(state.restore_buffers[task_id]) == {2: (Cell(table_id=3001, rowkey="k2", value="b"),)}
    state, events = act(state, CancelRestore(task_id=task_id, reason="wrong point"))
    task = state.restores[task_id]
    assert (task.phase, task.error, task.phases[-2:]) == (P.CANCELLED, "wrong point", (phase, P.CANCELLED))
    assert task_id not in state.restore_buffers
    if phase is P.RESTORING_BASELINE:
        assert names(events)[0] == "RestoreCancelled"
        assert "TaskCancelled" in names(events)
        assert state.dags[2].status is dag.DagStatus.CANCELLED
        assert task.loaded == 0
    else:
        assert names(events) == ["RestoreCancelled"]
    assert restore_enabled(state, Scope(restore=RestoreScope(cancel_restores=True))) == []
    assert_invariants(state)


def test_cancelling_or_advancing_a_finished_restore_is_refused():
    state, task_id, _ = restored()
    assert (
        refusal(state, CancelRestore(task_id=task_id), UnknownRestore)
        == "restore task 1 is already COMPLETED"
    )
    assert refusal(state, AdvanceRestore(task_id=task_id), UnknownRestore) == (
        "restore task 1 is COMPLETED: it has nothing left to do"
    )
    state, other = start(state, target="other")
    state, _ = act(state, CancelRestore(task_id=other))
    assert (
        refusal(state, CancelRestore(task_id=other), UnknownRestore) == "restore task 2 is already CANCELLED"
    )
    state, failing = start(state, target="third")
    state, _ = drive(state, failing, failures={1: 3})
    assert state.restores[failing].phase is P.FAILED
    assert (
        refusal(state, CancelRestore(task_id=failing), UnknownRestore) == "restore task 3 is already FAILED"
    )
    assert refusal(state, CancelRestore(task_id=4), UnknownRestore) == "restore task 4 does not exist"


# -- apply refuses forged events ----------------------------------------------------------------


def at(phase: RestorePhase | Callable, until: str = "m1", **fields) -> Callable[[], tuple[ClusterState, int]]:
    """A builder of archived() with a restore driven to ``phase`` (or a predicate)."""

    def build() -> tuple[ClusterState, int]:
        state, task_id = start(archived(), until, **fields)
        return drive(state, task_id, until=phase)[0], task_id

    return build


def baseline_running() -> tuple[ClusterState, int]:
    state, task_id = at(P.RESTORING_BASELINE)()
    return act(state, dag.StartTask(dag_id=2, task=fetch_task_name(1)))[0], task_id


def queued() -> tuple[ClusterState, int]:
    """Entries 1 and 2 read (capacity 2: the reader waits), both rewritten, none applied."""
    state, task_id = incremental(workers=2, capacity=2)
    state, _ = act(state, ReadArchived(task_id=task_id), ReadArchived(task_id=task_id))
    state, _ = act(state, RewriteEntry(task_id=task_id, worker=1), RewriteEntry(task_id=task_id, worker=0))
    return state, task_id


def baseline_done(state: ClusterState, task: RestoreTask) -> bool:
    return task.phase is P.RESTORING_BASELINE and restore_advanceable(state, task)


def replay_ended(state: ClusterState, task: RestoreTask) -> bool:
    return task.phase is P.RESTORING_INCREMENTAL and restore_advanceable(state, task)


def read_beyond_capacity(state: ClusterState, task_id: int) -> list:
    return [EntryRead(seq=state.seq + 1, time=state.clock, task_id=task_id, entry_seq=3, log_id=8, worker=0)]


def finish_fetch_1(state: ClusterState, task_id: int) -> list:
    return decide(state, dag.FinishTask(dag_id=2, task=fetch_task_name(1)))


def advance(state: ClusterState, task_id: int) -> list:
    return decide(state, AdvanceRestore(task_id=task_id))


def apply_next(state: ClusterState, task_id: int) -> list:
    return decide(state, ApplyEntry(task_id=task_id))


def read_next(state: ClusterState, task_id: int) -> list:
    return decide(state, ReadArchived(task_id=task_id))


FORGERIES = {
    # name: (state builder, the genuine events, index of the one forged, changes, apply's message)
    "entry applied out of order": (
        queued,
        apply_next,
        0,
        {"entry_seq": 2, "log_id": 7, "source_tx_id": 3},
        "expected the entry the reorder queue of restore 1 releases now 1, found 2",
    ),
    "entry applied with a wrong outcome": (
        queued,
        apply_next,
        0,
        {"outcome": "applied", "target_tx_id": 12},
        "expected what the applier does with the entry (log id, outcome, ids) (6, 'buffered', 2, 0, 0), "
        "found (6, 'applied', 2, 12, 0)",
    ),
    "entry applied naming another transaction": (
        queued,
        apply_next,
        0,
        {"source_tx_id": 3},
        "expected what the applier does with the entry (log id, outcome, ids) (6, 'buffered', 2, 0, 0), "
        "found (6, 'buffered', 3, 0, 0)",
    ),
    "entry read beyond capacity": (
        queued,
        read_beyond_capacity,
        0,
        {},
        "expected the next entry read by restore 1 (seq, worker) (3, 0), found (3, 0)",
    ),
    "entry read of another log id": (
        at(P.RESTORING_INCREMENTAL),
        read_next,
        0,
        {"log_id": 7},
        "expected the next entry read by restore 1 (seq, worker) (1, 0), found (1, 0)",
    ),
    "entry read handed to the wrong worker": (
        at(P.RESTORING_INCREMENTAL),
        read_next,
        0,
        {"worker": 1},
        "expected the next entry read by restore 1 (seq, worker) (1, 0), found (1, 1)",
    ),
    "prepared with a wrong standby tenant id": (
        at(P.PREPARING),
        advance,
        0,
        {"target_tenant_id": 1004},
        "expected the standby's tenant and table ids (1003, (3005, 3006)), found (1004, (3005, 3006))",
    ),
    "prepared with wrong table ids": (
        at(P.PREPARING),
        advance,
        0,
        {
            "mapping": (
                TableMapping(source_table_id=3001, target_table_id=3001, name="orders", schema_version=6),
            )
        },
        "expected the standby's tenant and table ids (1003, (3005, 3006)), found (1003, (3001,))",
    ),
    "tablet restored with a wrong checksum": (
        baseline_running,
        finish_fetch_1,
        1,
        {"checksum": 1},
        "expected tablet 1 of backup set 1 as its manifest records (1, 7217346039535011426), found (1, 1)",
    ),
    "tablet restored with a wrong row count": (
        baseline_running,
        finish_fetch_1,
        1,
        {"row_count": 2},
        "expected tablet 1 of backup set 1 as its manifest records (1, 7217346039535011426), "
        "found (2, 7217346039535011426)",
    ),
    "incremental started with a wrong entry count": (
        at(baseline_done),
        advance,
        0,
        {"entries": 12},
        "expected the archived entries to replay (count, first and last log id) (13, 6, 20), "
        "found (12, 6, 20)",
    ),
    "verifying with a wrong count of open transactions": (
        at(replay_ended, "m2"),
        advance,
        0,
        {"open_dropped": 0},
        "expected transactions still open at T 1, found 0",
    ),
    "completed naming another standby": (
        at(P.VERIFYING),
        advance,
        0,
        {"target_tenant_id": SHOP},
        "expected the restore's standby 1003, found 1001",
    ),
}


@pytest.mark.parametrize("name", list(FORGERIES))
def test_apply_refuses_a_forged_restore_event_and_the_state_is_unchanged(name):
    build, genuine, index, changes, message = FORGERIES[name]
    state, task_id = build()
    assert_forgery_refused(state, genuine(state, task_id), index, changes, f"event out of order: {message}")


# -- verification -------------------------------------------------------------------------------


def figures(rows: dict[str, str], table: str) -> tuple[int, int]:
    """Row count and checksum of one table's rows, computed here from the rows themselves."""
    return len(rows), ghost.checksum({(table, key): value for key, value in rows.items()})


def test_verification_fails_the_restore_when_the_standby_holds_a_wrong_row(monkeypatch):
    # decide imported standby_content by name: the reading it verifies with is replaced there
    real = restore_decide.standby_content

    def corrupted(state: ClusterState, task: RestoreTask) -> Contents:
        found = real(state, task)
        return Contents({**found.tables, "orders": {**found.tables["orders"], "k2": "forged"}})

    monkeypatch.setattr(restore_decide, "standby_content", corrupted)
    state, task_id, events = restored("m1")
    task = state.restores[task_id]
    got = figures({"k2": "forged", "k3": "c"}, "orders")
    want = figures({"k2": "b", "k3": "c"}, "orders")
    reason = (
        f"verification: table 'orders': {got[0]} rows / checksum {got[1]}, expected {want[0]} / {want[1]}"
    )
    assert (task.phase, task.error) == (P.FAILED, reason)
    assert task.phases[-2:] == (P.VERIFYING, P.FAILED)
    assert state.tenants[STANDBY].status is TenantStatus.RESTORING  # never marked restored
    assert names(events)[-2:] == ["RestoreVerifying", "RestoreFailed"]


def test_verification_fails_the_restore_when_the_applier_skipped_a_transaction(monkeypatch):
    real = restore_decide.applier_outcome

    def skipping(state: ClusterState, task: RestoreTask, entry: object) -> ApplierStep:
        if isinstance(entry, TransactionCommitted) and entry.tx_id == 6:  # k3=c and the delete of k1
            return ApplierStep(Outcome.DROPPED, source_tx_id=6)
        return real(state, task, entry)

    monkeypatch.setattr(restore_decide, "applier_outcome", skipping)
    monkeypatch.setattr(restore_reducer, "applier_outcome", skipping)
    state, task_id, _ = restored("m1")
    got = figures({"k1": "a", "k2": "b"}, "orders")
    want = figures({"k2": "b", "k3": "c"}, "orders")
    task = state.restores[task_id]
    assert (task.phase, task.error) == (
        P.FAILED,
        f"verification: table 'orders': {got[0]} rows / checksum {got[1]}, expected {want[0]} / {want[1]}",
    )
    # the atomicity invariant sees it too, from the step the transaction was skipped
    (whole,) = [inv for inv in RESTORE_INVARIANTS if inv.name == "restore_standby_shows_whole_transactions"]
    assert whole.check(state) == (
        "restore 1 after log id 19: missing [(('orders', 'k3'), 'c')], unexpected [(('orders', 'k1'), 'a')]"
    )


def test_verification_fails_the_restore_when_a_table_is_missing_from_the_standby(monkeypatch):
    real = restore_decide.standby_content

    def without_later(state: ClusterState, task: RestoreTask) -> Contents:
        return Contents({n: rows for n, rows in real(state, task).tables.items() if n != "later"})

    monkeypatch.setattr(restore_decide, "standby_content", without_later)
    state, task_id, _ = restored("m1")
    assert state.restores[task_id].error == (
        "verification: tables ['orders', 'users'], expected ['later', 'orders', 'users']"
    )


# -- each restore invariant catches a planted corruption ---------------------------------------


def _varied_state() -> ClusterState:
    """Restore 1 of shop to m1 completed (standby 1003); restore 2 of shop to latest
    (standby 1004, 3 workers) replaying: entries 1..5 applied (the straddler's commit is
    entry 5), 6..8 read, 8 rewritten."""
    state, first, _ = restored("m1")
    state, second = start(state, "latest", target="live", workers=3, capacity=6)
    state, _ = drive(state, second, until=P.RESTORING_INCREMENTAL)
    state, _ = act(state, *[ReadArchived(task_id=second)] * 6)
    for worker in (0, 1, 2, 0, 1):
        state, _ = act(state, RewriteEntry(task_id=second, worker=worker))
    state, _ = act(state, *[ApplyEntry(task_id=second)] * 5)
    state, _ = act(state, ReadArchived(task_id=second), ReadArchived(task_id=second))
    state, _ = act(state, RewriteEntry(task_id=second, worker=1))
    task = state.restores[second]
    assert (task.read, task.applied, task.rewritten, task.restored_log_id) == (8, 5, (8,), 12)
    assert (state.restores[first].phase, task.target_tenant_id) == (P.COMPLETED, 1004)
    return state


def _with_task(state: ClusterState, task_id: int, **changes) -> ClusterState:
    task = attrs.evolve(state.restores[task_id], **changes)
    return evolve_state(state, restores=state.restores.set(task_id, task))


def _with_tenant(state: ClusterState, tenant_id: int, **changes) -> ClusterState:
    tenant = attrs.evolve(state.tenants[tenant_id], **changes)
    return evolve_state(state, tenants=state.tenants.set(tenant_id, tenant))


def _phase_skipped(state):
    phases = (P.INIT, P.PREPARING, P.RESTORING_INCREMENTAL, P.VERIFYING, P.COMPLETED)
    return _with_task(state, 1, phases=phases), "restore 1: PREPARING -> RESTORING_INCREMENTAL"


def _phase_not_last_recorded(state):
    corrupted = _with_task(state, 2, phases=(P.INIT, P.PREPARING))
    return corrupted, "restore 2: phases ['INIT', 'PREPARING'] now RESTORING_INCREMENTAL"


def _phase_back(state):
    phases = (P.INIT, P.PREPARING, P.RESTORING_BASELINE, P.RESTORING_INCREMENTAL, P.RESTORING_BASELINE)
    corrupted = _with_task(state, 2, phases=phases, phase=P.RESTORING_BASELINE)
    return corrupted, "restore 2: RESTORING_INCREMENTAL -> RESTORING_BASELINE"


def _applied_beyond_read(state):
    return _with_task(state, 2, applied=9), "restore 2: applied 9, read 8, of 18 (18 held)"


def _entries_lost(state):
    entries = state.restore_entries[2][:-1]
    corrupted = evolve_state(state, restore_entries=state.restore_entries.set(2, entries))
    return corrupted, "restore 2: applied 5, read 8, of 18 (17 held)"


def _queue_holds_an_applied_entry(state):
    return _with_task(state, 2, rewritten=(5, 8)), "restore 2: reorder queue (5, 8) outside (5, 8]"


def _queue_holds_an_unread_entry(state):
    return _with_task(state, 2, rewritten=(8, 9)), "restore 2: reorder queue (8, 9) outside (5, 8]"


def _queue_out_of_order(state):
    return _with_task(state, 2, rewritten=(8, 7)), "restore 2: reorder queue (8, 7) outside (5, 8]"


def _over_the_bound(state):
    return _with_task(state, 2, capacity=2), "restore 2: 3 entries in flight, bound 2"


def _stopped_not_past_t(state):
    return _with_task(state, 2, stopped=True), "restore 2: stopped at entry 5, which is not past T"


def _applied_past_t(state):
    return _with_task(state, 2, until_ts=T0 + 11), "restore 2: applied an entry past T before stopping"


def _shared_standby(state):
    return _with_task(state, 2, target_tenant_id=STANDBY), "share tenant 1003"


def _writable_standby(state):
    return _with_tenant(state, STANDBY, writable=True), "restore 1: standby 1003 is writable"


def _mapped_to_the_source(state):
    mapping = state.restores[1].mapping
    wrong = (attrs.evolve(mapping[0], target_table_id=3001), *mapping[1:])
    return _with_task(state, 1, mapping=wrong), "restore 1: maps to table 3001, not its standby's 'orders'"


def _mapped_from_another_tenant(state):
    mapping = state.restores[1].mapping
    wrong = (attrs.evolve(mapping[0], source_table_id=3003), *mapping[1:])  # blog's posts
    return _with_task(state, 1, mapping=wrong), "restore 1: maps table 3003, not the source's"


def _mapped_into_another_standby(state):
    mapping = state.restores[2].mapping
    wrong = (attrs.evolve(mapping[0], target_table_id=3005), *mapping[1:])  # restore 1's orders
    return _with_task(state, 2, mapping=wrong), "restore 2: maps to table 3005, not its standby's 'orders'"


def _restored_log_id_behind(state):
    corrupted = _with_task(state, 2, restored_log_id=9)
    return corrupted, "restore 2 after log id 9: missing [], unexpected [(('orders', 'k2'), 'b')]"


def _restored_log_id_ahead(state):
    corrupted = _with_task(state, 1, restored_log_id=24)
    return corrupted, "restore 1 after log id 24: missing [(('orders', 'k4'), 'd'), (('orders', 'k6'), 'f')]"


def _source_table_created_earlier(state):
    later = next(t for t in state.tables_of(SHOP) if t.name == "later")  # created after restore 2's log id 12
    corrupted = evolve_state(
        state, tables=state.tables.set(later.table_id, attrs.evolve(later, created_log_id=1))
    )
    return (
        corrupted,
        "restore 2 after log id 12: standby tables ['orders', 'users'], the source had ['later',",
    )


def _completed_restore_failed_in_verification(state):
    task = state.restores[1]
    failed = (*task.phases[:-1], P.FAILED)
    corrupted = _with_task(state, 1, phase=P.FAILED, phases=failed, error="verification: forged")
    return (
        corrupted,
        "restore 1 failed its verification (verification: forged), yet its standby holds exactly",
    )


def _other_restore_point(state):
    corrupted = _with_tenant(_with_task(state, 1, until_ts=M2), STANDBY, restored_to=M2)
    expected = (
        f"restore 1 to T={M2}: missing [], unexpected [(('users', 'u1'), 'ann'), (('users', 'u2'), 'bob')]"
    )
    return corrupted, expected


def _completed_standby_still_restoring(state):
    return _with_tenant(state, STANDBY, status=TenantStatus.RESTORING), "restore 1: its standby is Tenant("


def _completed_standby_restored_to_another_point(state):
    return _with_tenant(state, STANDBY, restored_to=M2), f"restored_to={M2}"


RESTORE_CORRUPTIONS = {
    "restore_phases_move_forward": [_phase_skipped, _phase_not_last_recorded, _phase_back],
    "restore_applier_takes_entries_in_order": [
        _applied_beyond_read,
        _entries_lost,
        _queue_holds_an_applied_entry,
        _queue_holds_an_unread_entry,
        _queue_out_of_order,
        _over_the_bound,
        _stopped_not_past_t,
        _applied_past_t,
    ],
    "restore_touches_only_its_standby": [
        _shared_standby,
        _writable_standby,
        _mapped_to_the_source,
        _mapped_from_another_tenant,
        _mapped_into_another_standby,
    ],
    "restore_standby_shows_whole_transactions": [
        _restored_log_id_behind,
        _restored_log_id_ahead,
        _source_table_created_earlier,
    ],
    "restore_completed_standby_is_the_source_at_t": [
        _other_restore_point,
        _completed_standby_still_restoring,
        _completed_standby_restored_to_another_point,
    ],
    "restore_verification_is_honest": [_completed_restore_failed_in_verification],
}


def test_every_restore_invariant_has_a_planted_corruption():
    assert sorted(RESTORE_CORRUPTIONS) == sorted(inv.name for inv in RESTORE_INVARIANTS)
    assert all(RESTORE_CORRUPTIONS.values())


@pytest.fixture(scope="module")
def varied() -> ClusterState:
    state = _varied_state()
    assert_invariants(state)
    return state


@pytest.mark.parametrize(
    ("name", "corrupt"),
    [(name, corrupt) for name, corruptions in RESTORE_CORRUPTIONS.items() for corrupt in corruptions],
    ids=lambda value: value if isinstance(value, str) else value.__name__.strip("_"),
)
def test_each_restore_invariant_catches_its_planted_corruption(varied, name, corrupt):
    assert_catches(RESTORE_INVARIANTS, name, varied, corrupt)


# -- found while writing these tests ------------------------------------------------------------


def test_a_transaction_before_the_freeze_writing_a_table_dropped_before_the_freeze_does_not_stop_the_replay():
    state = backup_world({"shop": {"orders": 1, "tmp": 1}}, CONFIG)
    state, (straddler,) = act(state, put("shop", "orders", "k2", "b"))  # log id 3: the replay starts here
    state = commit_rows(state, "shop", {("tmp", "t1"): "x"})  # 4, 5: in the baseline
    state, _ = act(state, DropTable(tenant="shop", table="tmp"), Freeze(), Commit(tx=straddler.tx_id))
    state, (backup,) = act(state, StartBackup(tenant="shop", destination="/backup/shop"))
    state, _ = drive_backup(state, backup.task_id)
    assert [t.name for t in state.backup_sets[1].schema] == ["orders"]
    assert state.backup_sets[1].start_replay_log_id == 3
    state, _ = act(state, StartArchive(tenant="shop", destination="/backup/shop"))
    state, task_id = start(archive_all(state, SHOP), "latest")
    state, _ = drive(state, task_id, check=True)  # raises on entry 2, tmp's MUTATOR (log id 4)
    assert state.restores[task_id].phase is P.COMPLETED
    assert ghost.content(state, 1002) == {("orders", "k2"): "b"}


def test_a_table_created_between_the_replay_start_and_the_freeze_is_replayed_as_in_the_baseline():
    state = backup_world({"shop": {"orders": 1}}, CONFIG)
    state, (straddler,) = act(state, put("shop", "orders", "k2", "b"))  # log id 2: the replay starts here
    state, _ = act(
        state, CreateTable(tenant="shop", table="extra", tablets=1), Freeze(), Commit(tx=straddler.tx_id)
    )
    state, (backup,) = act(state, StartBackup(tenant="shop", destination="/backup/shop"))
    state, _ = drive_backup(state, backup.task_id)
    assert [t.name for t in state.backup_sets[1].schema] == ["orders", "extra"]
    state, _ = act(state, StartArchive(tenant="shop", destination="/backup/shop"))
    state, task_id = start(archive_all(state, SHOP), "latest")
    state, events = drive(state, task_id, check=True)  # raises on entry 2, the DDL (log id 3)
    assert [(e.log_id, e.outcome) for e in events if isinstance(e, EntryApplied)] == [
        (2, "buffered"),
        (3, "in baseline"),
        (4, "time"),
        (5, "applied"),
    ]
    assert state.restores[task_id].phase is P.COMPLETED
    assert [t.name for t in state.tables_of(1002)] == ["orders", "extra"]
