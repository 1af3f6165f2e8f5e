"""The backup commands (tenant_backup_start / _status / _tablet): a value on success, a
result code on every kind of bad input, never an exception, and no events when refused."""

from __future__ import annotations

from functools import reduce

import pytest
from histories import act, backup_world, commit_rows, drive_backup

from ybstate import dag
from ybstate.backup.actions import AdvanceBackup, CancelBackup
from ybstate.backup.events import BackupStarted
from ybstate.backup.state import BackupPhase
from ybstate.cluster.actions import Freeze
from ybstate.cluster.state import ClusterState
from ybstate.commands import (
    BackupStatus,
    ResultCode,
    TabletBackup,
    result_code_of,
    tenant_backup_start,
    tenant_backup_status,
    tenant_backup_tablet,
)
from ybstate.errors import (
    BackupInProgress,
    DestinationNotAllowed,
    InvalidAction,
    NoFrozenVersion,
    UnknownBackup,
    UnknownTenant,
)
from ybstate.model import EMPTY, apply, fingerprint

R = ResultCode
P = BackupPhase
ROWS = {("orders", f"o{i}"): f"value {i}" for i in range(12)}


def unfrozen() -> ClusterState:
    world = backup_world({"shop": {"orders": 4}, "blog": {"posts": 1}})
    return commit_rows(world, "shop", ROWS)


def frozen() -> ClusterState:
    return act(unfrozen(), Freeze())[0]


def started(state: ClusterState, tenant: str = "shop", **options) -> tuple[ClusterState, int]:
    reply = tenant_backup_start(state, tenant, f"/backup/{tenant}", **options)
    assert reply.ok, reply.message
    return reduce(apply, reply.events, state), reply.value


def refused(reply, code: ResultCode, *words: str) -> None:
    assert (reply.code, reply.ok, reply.value, reply.events) == (code, False, None, ())
    for word in words:
        assert word in reply.message, reply.message


# -- tenant_backup_start ------------------------------------------------------------------------


def test_start_answers_success_with_the_task_id_and_the_events_to_apply():
    state = frozen()
    reply = tenant_backup_start(state, "shop", "/backup/shop", parallel=3)
    assert (reply.code, reply.ok, reply.value) == (R.OB_SUCCESS, True, 1)
    (event,) = reply.events
    assert isinstance(event, BackupStarted)
    assert (event.task_id, event.set_id, event.destination, event.parallel) == (1, 1, "/backup/shop", 3)
    assert event.tenant_id == state.tenant_named("shop").tenant_id
    assert len(state.backups) == 0  # the command only says what happens; the caller applies it


def test_start_normalises_the_destination_and_takes_the_cluster_parallel_degree_by_default():
    reply = tenant_backup_start(frozen(), "shop", "/backup/./nightly//shop/")
    (event,) = reply.events
    assert event.destination == "/backup/nightly/shop"
    assert event.parallel == frozen().config.dag_workers


def test_start_of_an_unknown_tenant_answers_tenant_not_exist():
    refused(tenant_backup_start(frozen(), "nobody", "/backup/x"), R.OB_TENANT_NOT_EXIST, "'nobody'")


def test_start_before_any_freeze_answers_no_frozen_version():
    refused(
        tenant_backup_start(unfrozen(), "shop", "/backup/shop"), R.OB_BACKUP_NO_FROZEN_VERSION, "freeze first"
    )


@pytest.mark.parametrize("version", [2, 99, -1])
def test_start_naming_a_missing_frozen_version_answers_no_frozen_version(version):
    reply = tenant_backup_start(frozen(), "shop", "/backup/shop", frozen_version=version)
    refused(reply, R.OB_BACKUP_NO_FROZEN_VERSION, f"frozen version {version}", "newest is 1")


def test_start_while_the_tenant_has_a_backup_running_answers_in_progress():
    state, task_id = started(frozen())
    refused(
        tenant_backup_start(state, "shop", "/backup/other"), R.OB_BACKUP_IN_PROGRESS, f"backup task {task_id}"
    )
    assert tenant_backup_start(state, "blog", "/backup/blog").ok  # another tenant is free


@pytest.mark.parametrize(
    "destination",
    ["/tmp/shop", "backup/shop", "/backup", "/backup/", "/backup/../etc", "/backupx/shop", ""],
)
def test_start_into_a_destination_outside_the_root_answers_dest_not_allowed(destination):
    reply = tenant_backup_start(frozen(), "shop", destination)
    refused(reply, R.OB_BACKUP_DEST_NOT_ALLOWED, repr(destination), "'/backup'")


@pytest.mark.parametrize(
    ("options", "word"),
    [
        ({"parallel": -1}, "backup parallel must be 0..256, got -1"),
        ({"parallel": 10**30}, "backup parallel must be 0..256, got 1000000000000000000000000000000"),
        ({"parallel": "2"}, "parallel must be an int"),
        ({"parallel": True}, "parallel must be an int"),
        ({"frozen_version": "1"}, "frozen_version must be an int"),
        ({"frozen_version": 1.0}, "frozen_version must be an int"),
        ({"frozen_version": None}, "frozen_version must be an int"),
    ],
)
def test_start_with_a_malformed_option_answers_invalid_argument(options, word):
    refused(tenant_backup_start(frozen(), "shop", "/backup/shop", **options), R.OB_INVALID_ARGUMENT, word)


@pytest.mark.parametrize(
    ("tenant", "destination"), [("shop", None), ("shop", 7), (None, "/backup/x"), (["shop"], "/b")]
)
def test_start_with_arguments_of_the_wrong_type_answers_invalid_argument(tenant, destination):
    refused(tenant_backup_start(frozen(), tenant, destination), R.OB_INVALID_ARGUMENT, "must be a string")


def test_start_on_a_cluster_not_started_answers_invalid_argument():
    refused(tenant_backup_start(EMPTY, "shop", "/backup/shop"), R.OB_INVALID_ARGUMENT, "not started")


def test_a_refused_start_changes_nothing():
    state = frozen()
    before = fingerprint(state)
    for reply in (
        tenant_backup_start(state, "nobody", "/backup/x"),
        tenant_backup_start(state, "shop", "/etc"),
        tenant_backup_start(state, "shop", "/backup/x", frozen_version=5),
    ):
        assert reply.events == ()
    assert fingerprint(state) == before and len(state.backups) == 0


@pytest.mark.parametrize(
    ("refusal", "code"),
    [
        (UnknownTenant("t"), R.OB_TENANT_NOT_EXIST),
        (NoFrozenVersion("t", 0, 0), R.OB_BACKUP_NO_FROZEN_VERSION),
        (BackupInProgress("t", 1), R.OB_BACKUP_IN_PROGRESS),
        (DestinationNotAllowed("/x", "/backup"), R.OB_BACKUP_DEST_NOT_ALLOWED),
        (UnknownBackup(1), R.OB_BACKUP_TASK_NOT_EXIST),
        (InvalidAction("bad"), R.OB_INVALID_ARGUMENT),
    ],
)
def test_each_refusal_has_its_result_code(refusal, code):
    assert result_code_of(refusal) is code


# -- tenant_backup_status -------------------------------------------------------------------------


def test_status_of_an_unknown_task_answers_task_not_exist():
    refused(tenant_backup_status(frozen(), 1), R.OB_BACKUP_TASK_NOT_EXIST, "backup task 1")
    state, task_id = started(frozen())
    refused(
        tenant_backup_status(state, task_id + 1), R.OB_BACKUP_TASK_NOT_EXIST, f"backup task {task_id + 1}"
    )


@pytest.mark.parametrize("task_id", ["1", 1.0, True, None, [1]])
def test_status_with_a_task_id_that_is_not_an_int_answers_invalid_argument(task_id):
    state, _ = started(frozen())
    refused(tenant_backup_status(state, task_id), R.OB_INVALID_ARGUMENT, "task_id must be an int")


def test_status_progress_goes_from_0_to_100_as_tablets_are_copied():
    state, task_id = started(frozen(), parallel=1)
    seen = []

    def look():
        reply = tenant_backup_status(state, task_id)
        assert reply.ok and reply.events == ()
        seen.append((reply.value.phase, reply.value.status, reply.value.progress))

    look()
    while not state.backups[task_id].final:
        task = state.backups[task_id]
        graph = state.dags.get(task.dag_id)
        if task.phase is BackupPhase.DOING and not graph.finished:
            action = dag.enabled_dag(graph, faults=False)[0]
        else:
            action = AdvanceBackup(task_id=task_id)
        state = act(state, action)[0]
        look()
    progress = [p for _, _, p in seen]
    assert progress == sorted(progress)
    assert sorted(set(progress)) == [0, 25, 50, 75, 100]  # four tablets, one at a time
    assert (P.DOING, 1, 75) in seen and (P.VERIFYING, 1, 100) in seen
    assert seen[0] == (P.INIT, 0, 0) and seen[-1] == (P.COMPLETED, 2, 100)


def test_status_reports_the_task_its_set_version_and_the_reason_it_ended():
    state, task_id = started(frozen())
    state, _ = drive_backup(state, task_id, until=BackupPhase.DOING)
    state, _ = act(state, CancelBackup(task_id=task_id, reason="maintenance window over"))
    reply = tenant_backup_status(state, task_id)
    assert reply.value == BackupStatus(
        task_id=task_id,
        tenant_id=state.tenant_named("shop").tenant_id,
        phase=BackupPhase.CANCELLED,
        status=4,
        progress=0,
        backup_set_id=1,
        frozen_version=1,
        error="maintenance window over",
    )


def test_status_of_a_failed_backup_has_status_3_and_names_the_tablet():
    state, task_id = started(frozen())
    state, _ = drive_backup(state, task_id, failures={2: 10})
    value = tenant_backup_status(state, task_id).value
    assert (value.phase, value.status) == (BackupPhase.FAILED, 3)
    assert "tablets [2]" in value.error


# -- tenant_backup_tablet -------------------------------------------------------------------------


def completed_twice() -> ClusterState:
    """shop backed up at version 1 (set 1), rows changed, backed up at version 2 (set 2)."""
    state, first = started(frozen())
    state, _ = drive_backup(state, first)
    state = act(commit_rows(state, "shop", {key: "changed" for key in ROWS}), Freeze())[0]
    state, second = started(state)
    return drive_backup(state, second)[0]


def test_tablet_answers_the_recorded_checksum_of_the_newest_set_holding_it():
    state = completed_twice()
    shop = state.tenant_named("shop").tenant_id
    for tablet_id in (1, 2, 3, 4):
        reply = tenant_backup_tablet(state, tablet_id)
        stored = state.stored[(2, tablet_id)]
        assert reply.ok and reply.events == ()
        assert reply.value == TabletBackup(
            backup_set_id=2,
            tablet_id=tablet_id,
            checksum=stored.checksum,
            row_count=stored.row_count,
            data_size=stored.data_size,
            path=f"/backup/shop/tenant_{shop}/backup_set_2/tablet_{tablet_id}.sst",
        )


def test_tablet_in_a_named_set_answers_that_sets_checksum():
    state = completed_twice()
    one = tenant_backup_tablet(state, 1, backup_set_id=1).value
    two = tenant_backup_tablet(state, 1, backup_set_id=2).value
    assert (one.backup_set_id, one.checksum) == (1, state.stored[(1, 1)].checksum)
    assert (two.backup_set_id, two.checksum) == (2, state.stored[(2, 1)].checksum)
    assert one.checksum != two.checksum  # every row changed between the versions


@pytest.mark.parametrize(
    ("tablet_id", "set_id", "where"),
    [(99, 0, "any backup set"), (1, 7, "backup set 7"), (5, 1, "backup set 1")],
)
def test_tablet_not_in_backup_storage_answers_entry_not_exist(tablet_id, set_id, where):
    state = completed_twice()
    refused(
        tenant_backup_tablet(state, tablet_id, backup_set_id=set_id),
        R.OB_ENTRY_NOT_EXIST,
        f"tablet {tablet_id}",
        where,
    )


@pytest.mark.parametrize(
    ("ids", "word"),
    [
        ({"tablet_id": "1"}, "tablet_id must be an int"),
        ({"tablet_id": [1]}, "tablet_id must be an int"),
        ({"tablet_id": 1, "backup_set_id": None}, "backup_set_id must be an int"),
        ({"tablet_id": 1, "backup_set_id": 1.0}, "backup_set_id must be an int"),
    ],
)
def test_tablet_with_an_id_that_is_not_an_int_answers_invalid_argument(ids, word):
    tablet_id = ids.pop("tablet_id")
    refused(tenant_backup_tablet(completed_twice(), tablet_id, **ids), R.OB_INVALID_ARGUMENT, word)


def test_tablets_of_a_failed_backup_are_not_in_storage():
    state, task_id = started(frozen())
    state, _ = drive_backup(state, task_id, failures={4: 10})
    assert state.backups[task_id].copied == 3
    for tablet_id in (1, 2, 3, 4):
        refused(tenant_backup_tablet(state, tablet_id), R.OB_ENTRY_NOT_EXIST)
