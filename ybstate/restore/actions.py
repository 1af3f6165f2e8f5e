"""Requests concerning restores: the operator's, the restore's own steps, and faults."""

from __future__ import annotations

import attrs

__all__ = [
    "RESTORE_ACTION_TAGS",
    "StartRestore",
    "AdvanceRestore",
    "CancelRestore",
    "ReadArchived",
    "RewriteEntry",
    "ApplyEntry",
    "StallWorker",
    "TimeOutRestore",
    "FailApply",
]


@attrs.frozen(kw_only=True)
class StartRestore:
    """tenant_restore_start: restore ``source`` into a new standby ``target`` as of
    ``until`` (a timestamp, a mark's name, or "latest"), from backup set ``backup_set``
    (0: the newest completed set with snapshot <= T). ``workers`` 0 means the cluster's
    restore_workers; ``capacity`` 0 means twice the workers."""

    source: str
    target: str
    until: int | str = "latest"
    backup_set: int = 0
    workers: int = 0
    capacity: int = 0


@attrs.frozen(kw_only=True)
class AdvanceRestore:
    """The root server moves a restore to its next phase when it can."""

    task_id: int


@attrs.frozen(kw_only=True)
class CancelRestore:
    task_id: int
    reason: str = "cancelled by the operator"


@attrs.frozen(kw_only=True)
class ReadArchived:
    """The reader numbers the next archived entry and hands it to its worker."""

    task_id: int


@attrs.frozen(kw_only=True)
class RewriteEntry:
    """``worker`` rewrites the oldest entry it holds."""

    task_id: int
    worker: int


@attrs.frozen(kw_only=True)
class ApplyEntry:
    """The reorder queue releases the next entry in order to the applier."""

    task_id: int


@attrs.frozen(kw_only=True)
class StallWorker:
    """A fault: ``worker`` stops answering."""

    task_id: int
    worker: int


@attrs.frozen(kw_only=True)
class FailApply:
    """A fault: the applier fails to apply the entry the reorder queue releases next (a
    corrupt mutator, a write the standby refuses). The corrected protocol fails the
    restore naming the entry; the seed's (``skip_failed_apply``) skips it and carries on."""

    task_id: int


@attrs.frozen(kw_only=True)
class TimeOutRestore:
    """The entry the applier waits for stayed missing past the timeout: the restore fails
    naming it (nothing is ever skipped)."""

    task_id: int


RESTORE_ACTION_TAGS: dict[type, str] = {
    AdvanceRestore: "restore.advance_restore",
    ApplyEntry: "restore.apply_entry",
    CancelRestore: "restore.cancel_restore",
    FailApply: "restore.fail_apply",
    ReadArchived: "restore.read_archived",
    RewriteEntry: "restore.rewrite_entry",
    StallWorker: "restore.stall_worker",
    StartRestore: "restore.start_restore",
    TimeOutRestore: "restore.time_out_restore",
}
"""The stored tag of each restore action (a trace of actions round-trips by it; never the class name)."""
