"""Online full backup of a tenant (issue 3), driven through the model's decide and apply.

Each test builds a small cluster with :func:`histories.backup_world`, writes rows, freezes,
and moves a backup along with its own actions (``AdvanceBackup``, the DAG's ``StartTask`` /
``FinishTask`` / ``FailTask``, ``CancelBackup``) while clients keep working. What a set
must hold is computed by the ghost history (``ghost.content_at_log``), never by the
backup code under test. Every scenario ends with every state invariant checked.
"""

from __future__ import annotations

import re

import attrs
import pytest
from histories import act, assert_catches, backup_world, commit_rows, drive_backup

from ybstate import dag
from ybstate.backup.actions import AdvanceBackup, CancelBackup, DropVersion, StartBackup
from ybstate.backup.events import BackupFailed, TabletCopied
from ybstate.backup.invariants import BACKUP_INVARIANTS
from ybstate.backup.state import BackupPhase, SetStatus
from ybstate.cluster import ghost, sstable
from ybstate.cluster.actions import Commit, CreateTable, DropTable, Freeze, Put, Write
from ybstate.cluster.state import ClusterConfig, ClusterState, evolve_state
from ybstate.errors import BackupInProgress, InvalidAction, NoFrozenVersion, UnknownBackup, VersionPinned
from ybstate.model import INVARIANTS, decide, fingerprint

P = BackupPhase
SHOP = {"shop": {"orders": 2, "users": 1}}
ROWS = {
    ("orders", "o1"): "ten",
    ("orders", "o2"): "twenty",
    ("orders", "o3"): "thirty",
    ("orders", "o4"): "forty",
    ("users", "u1"): "ann",
    ("users", "u2"): "bob",
}


def assert_invariants(state: ClusterState) -> None:
    broken = {inv.name: inv.check(state) for inv in INVARIANTS}
    assert {name: why for name, why in broken.items() if why is not None} == {}


def frozen_shop(rows: dict = ROWS, config: ClusterConfig | None = None) -> ClusterState:
    """shop with rows committed and frozen into version 1."""
    state = commit_rows(backup_world(SHOP, config), "shop", rows)
    return act(state, Freeze())[0]


def start(state: ClusterState, tenant: str = "shop", **fields) -> tuple[ClusterState, int]:
    state, (started,) = act(state, StartBackup(tenant=tenant, destination=f"/backup/{tenant}", **fields))
    return state, started.task_id


def held(state: ClusterState, set_id: int) -> dict[tuple[str, str], str]:
    """What backup storage holds for a set, rows named by table name."""
    rows = {}
    for tablet_id in state.backup_sets[set_id].tablets:
        stored = state.stored[(set_id, tablet_id)]
        rows.update({(stored.table_name, key): value for key, value in stored.rows})
    return rows


def version_content(state: ClusterState, tenant: str, version: int) -> dict[tuple[str, str], str]:
    tenant_id = state.tenant_named(tenant).tenant_id
    return ghost.content_at_log(state, tenant_id, state.frozen[version].log_id)


def write(state: ClusterState, tenant: str, table: str, key: str, value: str, tx: int | None = None):
    """Log one mutator (left open): the state after it and its event."""
    state, (written,) = act(
        state, Write(tenant=tenant, tx=tx, changes=(Put(table=table, key=key, value=value),))
    )
    return state, written


def copy_one(state: ClusterState, task_id: int) -> ClusterState:
    """Start and finish the first ready copy of a backup in DOING."""
    graph = state.dags[state.backups[task_id].dag_id]
    name = graph.ready()[0]
    return act(
        state, dag.StartTask(dag_id=graph.dag_id, task=name), dag.FinishTask(dag_id=graph.dag_id, task=name)
    )[0]


def first_key(state: ClusterState, set_id: int) -> tuple[int, int]:
    return min(key for key in state.stored if key[0] == set_id)


def stored_of(state: ClusterState, set_id: int) -> list:
    return [stored for (owner, _), stored in sorted(state.stored.items()) if owner == set_id]


# -- phases ------------------------------------------------------------------------------------


def test_a_backup_moves_init_preparing_doing_verifying_completed_and_records_each_phase():
    state, task_id = start(frozen_shop())
    seen = [state.backups[task_id].phase]
    while not state.backups[task_id].final:
        state, _ = drive_backup(state, task_id, until=_after(seen[-1]))
        seen.append(state.backups[task_id].phase)
    task = state.backups[task_id]
    assert seen == [P.INIT, P.PREPARING, P.DOING, P.VERIFYING, P.COMPLETED]
    assert task.phases == (P.INIT, P.PREPARING, P.DOING, P.VERIFYING, P.COMPLETED)
    assert state.backup_sets[task.set_id].status is SetStatus.AVAILABLE
    assert task.ended_ts >= task.started_ts > 0
    assert_invariants(state)


def _after(phase: BackupPhase) -> BackupPhase:
    order = [P.INIT, P.PREPARING, P.DOING, P.VERIFYING, P.COMPLETED]
    return order[order.index(phase) + 1]


def test_the_set_is_registered_creating_at_preparing_and_available_only_once_verified():
    state, task_id = start(frozen_shop())
    state, _ = drive_backup(state, task_id, until=P.PREPARING)
    assert state.backup_sets.get(state.backups[task_id].set_id) is None
    state, _ = drive_backup(state, task_id, until=P.DOING)
    set_id = state.backups[task_id].set_id
    assert state.backup_sets[set_id].status is SetStatus.CREATING
    state, _ = drive_backup(state, task_id, until=P.VERIFYING)
    assert state.backup_sets[set_id].status is SetStatus.CREATING
    state, _ = drive_backup(state, task_id)
    entry = state.backup_sets[set_id]
    assert entry.status is SetStatus.AVAILABLE
    assert entry.data_size == sum(s.data_size for s in stored_of(state, set_id)) > 0
    assert_invariants(state)


def test_preparing_fixes_the_newest_version_its_schema_version_and_the_tenants_tablets_at_it():
    state = frozen_shop()
    state = commit_rows(state, "shop", {("orders", "o9"): "later"})
    state, _ = act(state, Freeze())  # version 2 is the newest
    state, task_id = start(state)
    state, _ = act(state, CreateTable(tenant="shop", table="coupons", tablets=3))  # after version 2
    state, _ = drive_backup(state, task_id, until=P.DOING)
    task = state.backups[task_id]
    frozen = state.frozen[2]
    shop = state.tenant_named("shop").tenant_id
    expected_tablets = tuple(
        t for table in state.tables_of(shop) if table.name != "coupons" for t in table.tablets
    )
    assert task.frozen_version == 2
    assert task.snapshot_ts == frozen.ts
    assert task.schema_version == frozen.schema_version < state.schema_version
    assert task.tablets == expected_tablets
    entry = state.backup_sets[task.set_id]
    assert [t.name for t in entry.schema] == ["orders", "users"]
    assert entry.tablets == tuple(t.tablet_id for t in expected_tablets)
    assert_invariants(state)


def test_a_backup_of_a_tenant_without_tables_completes_with_an_empty_set():
    state = act(backup_world({"empty": {}, "shop": {"orders": 1}}), Freeze())[0]
    state, task_id = start(state, "empty")
    state, _ = drive_backup(state, task_id)
    task = state.backups[task_id]
    assert task.phase is P.COMPLETED
    assert task.tablets == () and task.dag_id == 0
    assert state.backup_sets[task.set_id].status is SetStatus.AVAILABLE
    assert_invariants(state)


# -- start_replay_log_id -------------------------------------------------------------------------


def test_start_replay_log_id_follows_the_freeze_entry_when_no_transaction_of_the_tenant_is_open():
    state, task_id = start(frozen_shop())
    state, _ = drive_backup(state, task_id)
    assert state.backups[task_id].start_replay_log_id == state.frozen[1].log_id + 1
    assert state.backup_sets[state.backups[task_id].set_id].start_replay_log_id == state.frozen[1].log_id + 1
    assert_invariants(state)


def test_start_replay_log_id_is_the_first_log_id_of_the_oldest_transaction_open_at_the_freeze():
    state = commit_rows(backup_world(SHOP), "shop", ROWS)
    state, older = write(state, "shop", "orders", "o1", "x")
    state = commit_rows(state, "shop", {("users", "u3"): "cat"})
    state, newer = write(state, "shop", "users", "u4", "dan")
    state, _ = write(state, "shop", "orders", "o2", "y", tx=newer.tx_id)
    state, _ = act(state, Freeze())
    state, _ = act(state, Commit(tx=older.tx_id), Commit(tx=newer.tx_id))  # both commit after v1
    state, task_id = start(state)
    state, _ = drive_backup(state, task_id)
    task = state.backups[task_id]
    assert older.log_id < newer.log_id < state.frozen[1].log_id
    assert task.start_replay_log_id == older.log_id
    # Neither straddling transaction is in the set: they committed after the freeze.
    assert held(state, task.set_id) == version_content(state, "shop", 1)
    assert held(state, task.set_id)[("orders", "o1")] == "ten"
    assert_invariants(state)


def test_an_open_transaction_of_another_tenant_does_not_move_start_replay_log_id():
    state = backup_world({"shop": {"orders": 2}, "blog": {"posts": 1}})
    state = commit_rows(state, "shop", {("orders", "o1"): "ten"})
    state, other = write(state, "blog", "posts", "p1", "hi")
    state, _ = act(state, Freeze())
    assert [o.tx_id for o in state.frozen[1].open_transactions] == [other.tx_id]
    state, shop_task = start(state, "shop")
    state, blog_task = start(state, "blog")
    state, _ = drive_backup(state, shop_task)
    state, _ = drive_backup(state, blog_task)
    assert state.backups[shop_task].start_replay_log_id == state.frozen[1].log_id + 1
    assert state.backups[blog_task].start_replay_log_id == other.log_id
    assert_invariants(state)


# -- the set holds version v whatever happens meanwhile -------------------------------------------


def test_writes_ddl_and_a_new_freeze_during_the_backup_change_nothing_in_the_set():
    state = backup_world({"shop": {"orders": 2, "users": 1, "notes": 1}})
    state = commit_rows(state, "shop", {**ROWS, ("notes", "n1"): "keep me"})
    state, _ = act(state, Freeze())
    at_v1 = version_content(state, "shop", 1)
    state, task_id = start(state)
    state, _ = drive_backup(state, task_id, until=P.PREPARING)
    state = commit_rows(state, "shop", {("orders", "o1"): "changed in preparing", ("orders", "o5"): "new"})
    state, _ = drive_backup(state, task_id, until=P.DOING)
    # One tablet copied, then the world moves on before the others.
    state = copy_one(state, task_id)
    state = commit_rows(state, "shop", {("orders", "o2"): None, ("users", "u1"): "changed in doing"})
    state, _ = act(
        state,
        DropTable(tenant="shop", table="notes"),
        CreateTable(tenant="shop", table="notes", tablets=1),
        CreateTable(tenant="shop", table="coupons", tablets=1),
    )
    state = commit_rows(state, "shop", {("notes", "n1"): "recreated", ("coupons", "c1"): "new table"})
    state, _ = act(state, Freeze())
    state, _ = drive_backup(state, task_id, until=P.VERIFYING)
    state = commit_rows(state, "shop", {("users", "u2"): "changed in verifying"})
    state, _ = drive_backup(state, task_id)
    task = state.backups[task_id]
    assert task.phase is P.COMPLETED and task.frozen_version == 1
    assert held(state, task.set_id) == at_v1 == version_content(state, "shop", 1)
    now = ghost.content(state, state.tenant_named("shop").tenant_id)
    assert now != at_v1 and ("coupons", "c1") in now and ("coupons", "c1") not in at_v1
    assert_invariants(state)


def test_a_named_older_frozen_version_is_the_one_copied():
    state = frozen_shop()
    state = commit_rows(state, "shop", {("orders", "o1"): "changed", ("users", "u9"): "zed"})
    state, _ = act(state, Freeze())
    state, task_id = start(state, frozen_version=1)
    state, _ = drive_backup(state, task_id)
    task = state.backups[task_id]
    assert task.frozen_version == 1
    assert state.backup_sets[task.set_id].snapshot_ts == state.frozen[1].ts
    assert held(state, task.set_id) == version_content(state, "shop", 1) != version_content(state, "shop", 2)
    assert_invariants(state)


def test_a_backup_without_any_frozen_version_is_rejected():
    state = commit_rows(backup_world(SHOP), "shop", ROWS)
    with pytest.raises(NoFrozenVersion, match="no frozen version yet"):
        decide(state, StartBackup(tenant="shop", destination="/backup/shop"))


@pytest.mark.parametrize("version", [2, -1])
def test_a_backup_naming_a_version_that_does_not_exist_is_rejected(version):
    with pytest.raises(NoFrozenVersion, match=f"frozen version {version}"):
        decide(frozen_shop(), StartBackup(tenant="shop", destination="/backup/shop", frozen_version=version))


def test_a_backup_naming_a_dropped_version_is_rejected():
    state = act(frozen_shop(), Freeze(), DropVersion(version=1))[0]
    with pytest.raises(NoFrozenVersion, match="does not exist or was dropped"):
        decide(state, StartBackup(tenant="shop", destination="/backup/shop", frozen_version=1))


def test_a_named_version_dropped_before_preparing_fixes_it_fails_the_backup():
    state = act(frozen_shop(), Freeze())[0]
    state, task_id = start(state, frozen_version=1)
    state, _ = act(state, DropVersion(version=1))  # not pinned yet: nothing is copied in INIT
    state, events = drive_backup(state, task_id)
    task = state.backups[task_id]
    assert task.phases == (P.INIT, P.PREPARING, P.FAILED)
    assert "frozen version 1 is no longer available" in task.error
    assert isinstance(events[-1], BackupFailed)
    assert_invariants(state)


# -- copy failures and retries --------------------------------------------------------------------


def test_a_failed_copy_is_retried_and_the_backup_completes_within_task_retries():
    state, task_id = start(frozen_shop(config=ClusterConfig(data_servers=2, task_retries=2)))
    state, _ = drive_backup(state, task_id, until=P.DOING)
    flaky = state.backups[task_id].tablets[0].tablet_id
    state, events = drive_backup(state, task_id, failures={flaky: 2})
    task = state.backups[task_id]
    failed = [e for e in events if isinstance(e, dag.TaskFailed)]
    copied = [e.tablet_id for e in events if isinstance(e, TabletCopied)]
    assert [(e.task, e.attempt, e.final) for e in failed] == [
        (f"copy:{flaky:06d}", 1, False),
        (f"copy:{flaky:06d}", 2, False),
    ]
    assert sorted(copied) == sorted(t.tablet_id for t in task.tablets)  # each tablet stored once
    assert task.phase is P.COMPLETED and state.task_failures == 2
    assert held(state, task.set_id) == version_content(state, "shop", 1)
    assert_invariants(state)


@pytest.mark.parametrize("retries", [0, 1, 2])
def test_copy_failures_past_task_retries_fail_the_backup_naming_the_tablet_and_delete_the_set(retries):
    state = act(frozen_shop(config=ClusterConfig(data_servers=2, task_retries=retries)), Freeze())[0]
    state, task_id = start(state, frozen_version=1)
    state, _ = drive_backup(state, task_id, until=P.DOING)
    tablets = [t.tablet_id for t in state.backups[task_id].tablets]
    broken = tablets[1]
    state, events = drive_backup(state, task_id, failures={broken: retries + 1})
    task = state.backups[task_id]
    assert task.phases == (P.INIT, P.PREPARING, P.DOING, P.FAILED)
    assert re.search(rf"tablets \[{broken}\]", task.error), task.error
    assert f"{retries + 1} attempts" in task.error
    copied = [e.tablet_id for e in events if isinstance(e, TabletCopied)]
    assert copied == [t for t in tablets if t != broken]  # stored, then deleted with the set
    assert state.dags[task.dag_id].status is dag.DagStatus.FAILED
    assert state.backup_sets[task.set_id].status is SetStatus.DELETED
    assert stored_of(state, task.set_id) == []
    assert task.pins is None
    act(state, DropVersion(version=1))  # the pin is released
    assert_invariants(state)


def test_verifying_fails_the_backup_when_a_stored_tablet_no_longer_matches_its_checksum():
    state, task_id = start(frozen_shop())
    state, _ = drive_backup(state, task_id, until=P.VERIFYING)
    task = state.backups[task_id]
    key = (task.set_id, task.tablets[0].tablet_id)
    stored = state.stored[key]
    damaged = attrs.evolve(stored, rows=stored.rows[1:])  # storage lost a row after the copy
    state = evolve_state(state, stored=state.stored.set(key, damaged))
    state, _ = act(state, AdvanceBackup(task_id=task_id))
    task = state.backups[task_id]
    assert task.phase is P.FAILED
    assert f"tablet {key[1]}:" in task.error and f"{stored.row_count} rows" in task.error
    assert state.backup_sets[task.set_id].status is SetStatus.DELETED


def test_verifying_fails_the_backup_when_damage_keeps_the_row_count():
    # A changed value (bit rot, a torn write) keeps every count: only the checksum sees it.
    state, task_id = start(frozen_shop())
    state, _ = drive_backup(state, task_id, until=P.VERIFYING)
    task = state.backups[task_id]
    key = next(
        (task.set_id, t.tablet_id) for t in task.tablets if state.stored[(task.set_id, t.tablet_id)].rows
    )
    stored = state.stored[key]
    (rowkey, value), *rest = stored.rows
    damaged = attrs.evolve(stored, rows=((rowkey, value + "~"), *rest))
    assert len(damaged.rows) == stored.row_count
    state = evolve_state(state, stored=state.stored.set(key, damaged))
    state, _ = act(state, AdvanceBackup(task_id=task_id))
    task = state.backups[task_id]
    assert task.phase is P.FAILED and f"stored checksum {stored.checksum}" in task.error


# -- cancel ---------------------------------------------------------------------------------------


def _in_phase(phase: BackupPhase) -> tuple[ClusterState, int]:
    """A shop backup of version 1 in ``phase``, version 2 frozen since (so 1 is not the newest);
    in DOING one tablet is copied and another is running."""
    state, task_id = start(frozen_shop())
    state, _ = drive_backup(state, task_id, until=phase)
    if phase is P.DOING:
        graph = state.dags[state.backups[task_id].dag_id]
        first, second = graph.ready()[:2]
        state, _ = act(
            state,
            dag.StartTask(dag_id=graph.dag_id, task=first),
            dag.FinishTask(dag_id=graph.dag_id, task=first),
            dag.StartTask(dag_id=graph.dag_id, task=second),
        )
    return act(state, Freeze())[0], task_id


@pytest.mark.parametrize("phase", [P.INIT, P.PREPARING, P.DOING, P.VERIFYING])
def test_cancel_works_in_every_non_final_phase_and_releases_everything(phase):
    state, task_id = _in_phase(phase)
    assert state.backups[task_id].phase is phase
    state, _ = act(state, CancelBackup(task_id=task_id, reason="operator said so"))
    task = state.backups[task_id]
    assert task.phase is P.CANCELLED
    assert task.phases == (*task.phases[:-1], P.CANCELLED) and task.phases[-2] is phase
    assert task.error == "operator said so"
    if phase in (P.INIT, P.PREPARING):
        assert task.dag_id == 0 and len(state.dags) == 0
        assert task.set_id not in state.backup_sets
    else:
        assert state.backup_sets[task.set_id].status is SetStatus.DELETED
        assert stored_of(state, task.set_id) == []
    if phase is P.DOING:
        graph = state.dags[task.dag_id]
        assert graph.status is dag.DagStatus.CANCELLED
        assert sorted(s.value for s in graph.tasks.values()) == ["cancelled", "cancelled", "succeeded"]
        with pytest.raises(dag.DagNotRunning):
            decide(state, dag.FinishTask(dag_id=graph.dag_id, task=graph.order[1]))
    assert task.pins is None
    dropped, _ = act(state, DropVersion(version=1))
    assert not dropped.frozen[1].available
    assert_invariants(dropped)


@pytest.mark.parametrize("ending", ["completed", "failed", "cancelled"])
def test_a_backup_that_has_ended_cannot_be_cancelled(ending):
    state, task_id = start(frozen_shop())
    if ending == "cancelled":
        state, _ = act(state, CancelBackup(task_id=task_id))
    else:
        every_tablet_breaks = {tablet_id: 3 for tablet_id in (1, 2, 3)}
        state, _ = drive_backup(state, task_id, failures={} if ending == "completed" else every_tablet_breaks)
    assert state.backups[task_id].phase.value == ending.upper()
    with pytest.raises(UnknownBackup, match=f"backup task {task_id} is already {ending.upper()}"):
        decide(state, CancelBackup(task_id=task_id))
    assert_invariants(state)


def test_cancelling_or_advancing_an_unknown_backup_is_refused():
    for action in (CancelBackup(task_id=7), AdvanceBackup(task_id=7)):
        with pytest.raises(UnknownBackup, match="backup task 7 does not exist"):
            decide(frozen_shop(), action)


# -- pinned versions ----------------------------------------------------------------------------


@pytest.mark.parametrize("phase", [P.DOING, P.VERIFYING])
def test_dropping_the_version_a_running_backup_copies_is_refused_naming_the_task(phase):
    state, task_id = _in_phase(phase)
    before = fingerprint(state)
    with pytest.raises(VersionPinned) as refused:
        decide(state, DropVersion(version=1))
    assert refused.value.version == 1 and refused.value.holders == (task_id,)
    assert f"backup tasks [{task_id}]" in str(refused.value)
    assert fingerprint(state) == before and state.frozen[1].available
    state, _ = drive_backup(state, task_id)
    assert state.backups[task_id].phase is P.COMPLETED
    act(state, DropVersion(version=1))  # accepted once the backup is done
    assert_invariants(state)


def test_the_newest_frozen_version_cannot_be_dropped():
    state = frozen_shop()
    with pytest.raises(InvalidAction, match="frozen version 1 is the newest"):
        decide(state, DropVersion(version=1))
    state = act(state, Freeze())[0]
    with pytest.raises(InvalidAction, match="frozen version 2 is the newest"):
        decide(state, DropVersion(version=2))
    state, _ = act(state, DropVersion(version=1))
    with pytest.raises(InvalidAction, match="does not exist or is already dropped"):
        decide(state, DropVersion(version=1))
    assert_invariants(state)


# -- one backup per tenant at a time --------------------------------------------------------------


@pytest.mark.parametrize("phase", [P.INIT, P.PREPARING, P.DOING, P.VERIFYING])
def test_a_second_backup_of_the_same_tenant_is_refused_while_one_runs(phase):
    state = backup_world({"shop": {"orders": 2}, "blog": {"posts": 1}})
    state = act(commit_rows(state, "shop", {("orders", "o1"): "ten"}), Freeze())[0]
    state, first = start(state)
    state, _ = drive_backup(state, first, until=phase)
    before = fingerprint(state)
    with pytest.raises(BackupInProgress) as refused:
        decide(state, StartBackup(tenant="shop", destination="/backup/again"))
    assert (refused.value.tenant, refused.value.task_id) == ("shop", first)
    assert fingerprint(state) == before
    state, other = start(state, "blog")  # another tenant's backup runs alongside
    state, _ = drive_backup(state, first)
    state, again = start(state)  # and once the first has ended, shop can be backed up again
    state, _ = drive_backup(state, again)
    state, _ = drive_backup(state, other)
    assert [state.backups[t].phase for t in (first, other, again)] == [P.COMPLETED] * 3
    assert_invariants(state)


# -- checksums ------------------------------------------------------------------------------------


def _checksums(state: ClusterState, set_id: int) -> list[tuple[int, int, int]]:
    """(start, end, checksum) of each stored tablet of a set, by key range."""
    return sorted((s.start, s.end, s.checksum) for s in stored_of(state, set_id))


def test_tablet_checksums_do_not_depend_on_table_ids_or_write_order():
    state = backup_world({"t1": {"a": 2}, "t2": {"a": 2}})
    keys = [f"k{i}" for i in range(8)]
    state = commit_rows(state, "t1", {("a", k): f"v{k}" for k in keys})
    state = commit_rows(state, "t2", {("a", k): f"v{k}" for k in reversed(keys)})
    state, _ = act(state, Freeze())
    state, one = start(state, "t1")
    state, two = start(state, "t2")
    state, _ = drive_backup(state, one)
    state, _ = drive_backup(state, two)
    set_one, set_two = state.backups[one].set_id, state.backups[two].set_id
    ids = {s.table_id for s in stored_of(state, set_one)}, {s.table_id for s in stored_of(state, set_two)}
    assert ids[0].isdisjoint(ids[1])
    assert _checksums(state, set_one) == _checksums(state, set_two)
    assert all(s.row_count > 0 and s.checksum != 0 for s in stored_of(state, set_one))
    assert_invariants(state)


def test_a_dropped_and_recreated_table_with_the_same_rows_has_the_same_checksums():
    rows = {("a", f"k{i}"): "same" for i in range(6)}
    state = act(commit_rows(backup_world({"t1": {"a": 2}}), "t1", rows), Freeze())[0]
    state, first = start(state, "t1")
    state, _ = drive_backup(state, first)
    state, _ = act(state, DropTable(tenant="t1", table="a"), CreateTable(tenant="t1", table="a", tablets=2))
    state = act(commit_rows(state, "t1", rows), Freeze())[0]
    state, second = start(state, "t1")
    state, _ = drive_backup(state, second)
    one, two = state.backups[first].set_id, state.backups[second].set_id
    assert {s.table_id for s in stored_of(state, one)} != {s.table_id for s in stored_of(state, two)}
    assert _checksums(state, one) == _checksums(state, two)
    assert_invariants(state)


def test_the_same_rows_under_another_table_name_have_another_checksum():
    rows = (("k1", "x"), ("k2", "y"), ("k3", "z"))
    assert sstable.tablet_checksum("a", rows) == sstable.tablet_checksum("a", tuple(reversed(rows)))
    assert sstable.tablet_checksum("a", rows) != sstable.tablet_checksum("b", rows)
    assert sstable.tablet_checksum("a", rows) != sstable.tablet_checksum("a", rows[:2])


# -- the backup invariants catch what they are meant to --------------------------------------------


def _varied_state() -> ClusterState:
    """Set 1 of shop available, set 2 of shop deleted (copy failed), blog's task 3 copying."""
    state = backup_world({"shop": {"orders": 2, "users": 1}, "blog": {"posts": 2}})
    state = commit_rows(state, "shop", ROWS)
    state = commit_rows(state, "blog", {("posts", f"p{i}"): "post" for i in range(5)})
    state, _ = act(state, Freeze())
    state, done = start(state)
    state, _ = drive_backup(state, done)
    state, failed = start(state)
    state, _ = drive_backup(state, failed, until=P.DOING)
    first = state.backups[failed].tablets[0].tablet_id
    state, _ = drive_backup(state, failed, failures={first: 3})
    state, running = start(state, "blog")
    state, _ = drive_backup(state, running, until=P.DOING)
    state = copy_one(state, running)
    assert [state.backups[t].phase for t in (done, failed, running)] == [P.COMPLETED, P.FAILED, P.DOING]
    assert state.backups[running].pins == 1
    return state


def _restamp(stored, rows):
    return attrs.evolve(
        stored,
        rows=rows,
        row_count=len(rows),
        data_size=sstable.data_size(rows),
        checksum=sstable.tablet_checksum(stored.table_name, rows),
    )


def _wrong_value(state):
    """A row of available set 1 holds another value (recorded figures made to agree)."""
    key = next(k for k in sorted(state.stored) if k[0] == 1 and state.stored[k].rows)
    stored = state.stored[key]
    rows = ((stored.rows[0][0], "forged"), *stored.rows[1:])
    return evolve_state(state, stored=state.stored.set(key, _restamp(stored, rows))), "backup set 1"


def _foreign_tablet(state):
    key = first_key(state, 1)
    blog_table = state.table_named(state.tenant_named("blog").tenant_id, "posts").table_id
    forged = attrs.evolve(state.stored[key], table_id=blog_table)
    shop = state.backup_sets[1].tenant_id
    return evolve_state(state, stored=state.stored.set(key, forged)), f"set 1 of tenant {shop} holds"


def _skipped_phase(state):
    task = attrs.evolve(state.backups[1], phases=(P.INIT, P.PREPARING, P.VERIFYING, P.COMPLETED))
    return evolve_state(state, backups=state.backups.set(1, task)), "moved from PREPARING to VERIFYING"


def _phase_not_last_recorded(state):
    task = attrs.evolve(state.backups[3], phases=(P.INIT, P.PREPARING))
    return evolve_state(state, backups=state.backups.set(3, task)), "backup task 3 went through"


def _pinned_dropped(state):
    dropped = attrs.evolve(state.frozen[1], dropped_ts=state.clock)
    return evolve_state(state, frozen=state.frozen.set(1, dropped)), "backup task 3 needs frozen version 1"


def _bad_checksum(state):
    key = first_key(state, 1)
    stored = state.stored[key]
    forged = attrs.evolve(stored, checksum=stored.checksum ^ 1)
    return evolve_state(state, stored=state.stored.set(key, forged)), f"set 1 tablet {key[1]}"


def _bad_row_count(state):
    key = first_key(state, 1)
    forged = attrs.evolve(state.stored[key], row_count=state.stored[key].row_count + 1)
    return evolve_state(state, stored=state.stored.set(key, forged)), f"set 1 tablet {key[1]}"


def _missing_tablet(state):
    key = first_key(state, 1)
    return evolve_state(state, stored=state.stored.delete(key)), "available set 1 misses tablets"


def _leftover_tablet(state):
    tablet_id = state.backup_sets[2].tablets[0]
    leftover = attrs.evolve(state.stored[(1, tablet_id)], set_id=2)
    return evolve_state(state, stored=state.stored.set((2, tablet_id), leftover)), "deleted set 2 still has"


CORRUPTIONS = {
    "completed_sets_equal_baseline": [_wrong_value],
    "sets_hold_one_tenant": [_foreign_tablet],
    "backup_phases_move_forward": [_skipped_phase, _phase_not_last_recorded],
    "pinned_versions_kept": [_pinned_dropped],
    "backup_checksums_recompute": [_bad_checksum, _bad_row_count],
    "available_sets_complete": [_missing_tablet, _leftover_tablet],
}


def test_every_backup_invariant_has_a_planted_corruption():
    assert sorted(CORRUPTIONS) == sorted(inv.name for inv in BACKUP_INVARIANTS)


@pytest.fixture(scope="module")
def varied() -> ClusterState:
    state = _varied_state()
    assert_invariants(state)
    return state


@pytest.mark.parametrize(
    ("name", "corrupt"),
    [(name, corrupt) for name, corruptions in CORRUPTIONS.items() for corrupt in corruptions],
    ids=lambda value: value if isinstance(value, str) else value.__name__.strip("_"),
)
def test_each_backup_invariant_catches_its_planted_corruption(varied, name, corrupt):
    assert_catches(BACKUP_INVARIANTS, name, varied, corrupt)
