"""The seed's RPC commands as a Python API: each answers with a result code, never a crash.

A command takes the current state and returns a :class:`Reply`: a result code from
:class:`ResultCode`, a message, the value asked for, and the events to apply (empty for
queries and refusals). Commands are pure; the caller applies the events.

Result codes (:class:`~ybstate.errors.ResultCode`) carry OceanBase-style names; the
numbers of the backup-specific ones are this model's own (the seed defines none), listed
in docs/commands.md. Each refusal's code is its error class's ``code``.
"""

from __future__ import annotations

from typing import Any

import attrs

from ybstate.archive.actions import StartArchive, StopArchive
from ybstate.backup.actions import StartBackup
from ybstate.backup.state import TASK_STATUS_CODE, BackupPhase
from ybstate.cluster.state import ClusterState
from ybstate.errors import ActionRejected, ResultCode, UnknownBackup, UnknownRestore
from ybstate.model import decide
from ybstate.promote.actions import Decommission, StartPromotion
from ybstate.restore.actions import StartRestore
from ybstate.restore.state import RESTORE_STATUS_CODE, RestorePhase

__all__ = [
    "ResultCode",
    "Reply",
    "BackupStatus",
    "TabletBackup",
    "result_code_of",
    "tenant_backup_start",
    "tenant_backup_status",
    "tenant_backup_tablet",
    "tenant_incremental_backup_start",
    "tenant_incremental_backup_stop",
    "tenant_restore_start",
    "tenant_restore_status",
    "tenant_promote_standby",
    "tenant_decommission",
    "RestoreStatus",
]


def result_code_of(refusal: ActionRejected) -> ResultCode:
    """The result code a command answers a refusal with: the error's own ``code``."""
    return refusal.code


@attrs.frozen(kw_only=True)
class Reply:
    code: ResultCode
    message: str = ""
    value: Any = None
    events: tuple[object, ...] = ()

    @property
    def ok(self) -> bool:
        return self.code is ResultCode.OB_SUCCESS


@attrs.frozen(kw_only=True)
class BackupStatus:
    task_id: int
    tenant_id: int
    phase: BackupPhase
    status: int  # __all_tenant_backup_task.status
    progress: int
    backup_set_id: int
    frozen_version: int
    error: str


@attrs.frozen(kw_only=True)
class TabletBackup:
    backup_set_id: int
    tablet_id: int
    checksum: int
    row_count: int
    data_size: int
    path: str


def tenant_backup_start(
    state: ClusterState, tenant: str, destination: str, *, frozen_version: int = 0, parallel: int = 0
) -> Reply:
    """Start a full backup of ``tenant`` into ``destination``; the value is the task id."""
    action = StartBackup(
        tenant=tenant, destination=destination, frozen_version=frozen_version, parallel=parallel
    )
    try:
        events = decide(state, action)
    except ActionRejected as refusal:
        return Reply(code=result_code_of(refusal), message=str(refusal))
    return Reply(code=ResultCode.OB_SUCCESS, value=events[0].task_id, events=tuple(events))


def _bad_id(**ids: object) -> Reply | None:
    """OB_INVALID_ARGUMENT for an id that is not an int (a list would not even hash)."""
    for name, value in ids.items():
        if not isinstance(value, int) or isinstance(value, bool):
            return Reply(code=ResultCode.OB_INVALID_ARGUMENT, message=f"{name} must be an int, got {value!r}")
    return None


def tenant_backup_status(state: ClusterState, task_id: int) -> Reply:
    refusal = _bad_id(task_id=task_id)
    if refusal is not None:
        return refusal
    task = state.backups.get(task_id)
    if task is None:
        return Reply(code=ResultCode.OB_BACKUP_TASK_NOT_EXIST, message=str(UnknownBackup(task_id)))
    status = BackupStatus(
        task_id=task.task_id,
        tenant_id=task.tenant_id,
        phase=task.phase,
        status=TASK_STATUS_CODE[task.phase],
        progress=task.progress,
        backup_set_id=task.set_id,
        frozen_version=task.frozen_version,
        error=task.error,
    )
    return Reply(code=ResultCode.OB_SUCCESS, value=status)


def tenant_backup_tablet(state: ClusterState, tablet_id: int, *, backup_set_id: int = 0) -> Reply:
    """The checksum (and row count, size, path) recorded for one tablet in backup storage:
    in ``backup_set_id``, or in the newest set holding that tablet when 0."""
    refusal = _bad_id(tablet_id=tablet_id, backup_set_id=backup_set_id)
    if refusal is not None:
        return refusal
    candidates = [
        stored
        for (set_id, stored_tablet), stored in state.stored.items()
        if stored_tablet == tablet_id and backup_set_id in (0, set_id)
    ]
    if not candidates:
        where = f"backup set {backup_set_id}" if backup_set_id else "any backup set"
        return Reply(
            code=ResultCode.OB_ENTRY_NOT_EXIST, message=f"tablet {tablet_id} is not stored in {where}"
        )
    stored = max(candidates, key=lambda s: s.set_id)
    value = TabletBackup(
        backup_set_id=stored.set_id,
        tablet_id=tablet_id,
        checksum=stored.checksum,
        row_count=stored.row_count,
        data_size=stored.data_size,
        path=stored.path,
    )
    return Reply(code=ResultCode.OB_SUCCESS, value=value)


def _events_or_refusal(state: ClusterState, action: object) -> Reply:
    try:
        events = decide(state, action)
    except ActionRejected as refusal:
        return Reply(code=result_code_of(refusal), message=str(refusal))
    return Reply(code=ResultCode.OB_SUCCESS, events=tuple(events))


def tenant_incremental_backup_start(
    state: ClusterState, tenant: str, destination: str, *, start_log_id: int = 0
) -> Reply:
    """Start archiving ``tenant``'s log from ``start_log_id`` (0: the newest completed
    backup set's start_replay_log_id); the value is the start log id used."""
    if (
        not isinstance(start_log_id, int)
        or isinstance(start_log_id, bool)
        or not isinstance(destination, str)
    ):
        return Reply(
            code=ResultCode.OB_INVALID_ARGUMENT, message="start_log_id must be an int, destination a str"
        )
    reply = _events_or_refusal(
        state, StartArchive(tenant=tenant, destination=destination, start_log_id=start_log_id)
    )
    return attrs.evolve(reply, value=reply.events[0].start_log_id) if reply.ok else reply


def tenant_incremental_backup_stop(state: ClusterState, tenant: str) -> Reply:
    """Stop archiving ``tenant``'s log; the value is the log id archived through."""
    reply = _events_or_refusal(state, StopArchive(tenant=tenant))
    return attrs.evolve(reply, value=reply.events[0].last_log_id) if reply.ok else reply


@attrs.frozen(kw_only=True)
class RestoreStatus:
    task_id: int
    source_tenant_id: int
    target_tenant_id: int  # 0 until PREPARING created the standby
    target_name: str
    phase: RestorePhase
    status: int  # __all_tenant_restore_task.status
    backup_set_id: int
    until_ts: int
    baseline_progress: int
    incremental_progress: int
    restored_log_id: int
    error: str


def tenant_restore_start(
    state: ClusterState,
    source: str,
    target: str,
    until: int | str = "latest",
    *,
    backup_set_id: int = 0,
    workers: int = 0,
) -> Reply:
    """Restore ``source`` into a new standby ``target`` as of ``until`` (a timestamp, a
    mark's name, or "latest"), from ``backup_set_id`` (0: the newest that fits); the value
    is the restore task id."""
    refusal = _bad_id(backup_set_id=backup_set_id, workers=workers)
    if refusal is not None:
        return refusal
    action = StartRestore(
        source=source, target=target, until=until, backup_set=backup_set_id, workers=workers
    )
    reply = _events_or_refusal(state, action)
    return attrs.evolve(reply, value=reply.events[0].task_id) if reply.ok else reply


def tenant_restore_status(state: ClusterState, task_id: int) -> Reply:
    refusal = _bad_id(task_id=task_id)
    if refusal is not None:
        return refusal
    task = state.restores.get(task_id)
    if task is None:
        return Reply(code=ResultCode.OB_RESTORE_TASK_NOT_EXIST, message=str(UnknownRestore(task_id)))
    status = RestoreStatus(
        task_id=task.task_id,
        source_tenant_id=task.source_tenant_id,
        target_tenant_id=task.target_tenant_id,
        target_name=task.target_name,
        phase=task.phase,
        status=RESTORE_STATUS_CODE[task.phase],
        backup_set_id=task.set_id,
        until_ts=task.until_ts,
        baseline_progress=task.baseline_progress,
        incremental_progress=task.incremental_progress,
        restored_log_id=task.restored_log_id,
        error=task.error,
    )
    return Reply(code=ResultCode.OB_SUCCESS, value=status)


def tenant_promote_standby(
    state: ClusterState, standby: str, old_primary: str, *, verify: bool = True, catch_up: bool = True
) -> Reply:
    """Start promoting ``standby`` in place of ``old_primary``; the value is the promotion id
    (its steps follow; ``__all_tenant_promotion_history`` shows how it ended)."""
    reply = _events_or_refusal(
        state, StartPromotion(standby=standby, primary=old_primary, verify=verify, catch_up=catch_up)
    )
    return attrs.evolve(reply, value=reply.events[0].promotion_id) if reply.ok else reply


def tenant_decommission(state: ClusterState, tenant: str, *, read_only: bool = True) -> Reply:
    """Make ``tenant`` read-only, or (read_only=False, after read-only) remove it."""
    return _events_or_refusal(state, Decommission(tenant=tenant, read_only=read_only))
