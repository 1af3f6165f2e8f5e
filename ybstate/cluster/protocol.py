"""The protocol's policies as values: where the seed design's nine flaws live (DESIGN 11, 14).

A :class:`Protocol` holds one field per policy; each default is the corrected choice, and
each flaw of DESIGN 14 names the other value of one field (the archiver's restart has two
flawed values, the two halves of flaw 8). The protocol is part of the cluster's
configuration (:class:`~ybstate.cluster.state.ClusterConfig`), so it is stored with the
history in its first event, and decide, apply and enabled read it from the state: a
history replays, verifies and validates under the variant that made it.

    Protocol.with_flaws(["skip_failed_apply"]).apply_failure is ApplyFailure.SKIP

Pure data.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

import attrs

__all__ = [
    "ApplyFailure",
    "ArchiverRestart",
    "FLAWS",
    "FullQueue",
    "LogPinning",
    "PromotionFailure",
    "Protocol",
    "ReorderKey",
    "ReplayStart",
    "SchemaMapping",
    "VerifySource",
]


class ReplayStart(enum.Enum):
    """Where a restore starts replaying the archive."""

    FREEZE_POINT = "freeze_point"  # the freeze point's oldest open transaction (start_replay_log_id)
    ARCHIVE_START = "archive_start"  # where archiving started (flaw 1)


class ReorderKey(enum.Enum):
    """What the reorder queue releases entries in order of."""

    SEQUENCE = "sequence"  # the reader's sequence number: consecutive for the tenant's entries
    LOG_ID = "log_id"  # the global log id, which has holes where other tenants' entries were (flaw 2)


class FullQueue(enum.Enum):
    """What happens to a read entry when the reorder queue is full."""

    WAIT = "wait"  # the reader waits for room
    DROP = "drop"  # the worker drops the entry (flaw 3)


class ApplyFailure(enum.Enum):
    """What the applier does with an entry it fails to apply."""

    FAIL = "fail"  # the restore fails
    SKIP = "skip"  # the entry is skipped and the applier carries on (flaw 4)


class VerifySource(enum.Enum):
    """What a completed restore's standby is verified against."""

    BACKUP_AND_ARCHIVE = "backup_and_archive"  # the source as of T, rebuilt from the backup and the archive
    LIVE_SOURCE = "live_source"  # the live source tenant now (flaw 5)


class PromotionFailure(enum.Enum):
    """What a promotion does when a step fails after the primary was fenced."""

    ROLL_BACK = "roll_back"  # undo the steps taken: the old primary writable again
    STAY_FENCED = "stay_fenced"  # stop where it is: no tenant is writable (flaw 6)


class SchemaMapping(enum.Enum):
    """Where a restore's table mapping comes from."""

    BACKUP_SCHEMA = "backup_schema"  # the backup's schema, DDL in the archive replayed
    LIVE_SOURCE = "live_source"  # taken once from the live source tenant (flaw 7)


class ArchiverRestart(enum.Enum):
    """Where a crashed archiver reads on."""

    CHECKPOINT = "checkpoint"  # after its last sealed piece, persisted
    RUN_START = "run_start"  # from where its run began: re-archives (flaw 8, first half)
    READ_POSITION = "read_position"  # from its in-memory read position: skips (flaw 8, second half)


class LogPinning(enum.Enum):
    """Whether running backup-first archivers pin the log the server may recycle."""

    PINNED = "pinned"  # after the last sealed piece: where a crash restarts the archiver
    UNPINNED = "unpinned"  # the server recycles whatever a baseline holds (flaw 9)
    # Not one of the seed's flaws, a subtler bug kept for the tests (no flaw name): the pin
    # trusts the in-memory read position, which a crash loses.
    READ_POSITION = "read_position"


@attrs.frozen(kw_only=True)
class Protocol:
    """One choice per policy; the defaults are the corrected protocol."""

    replay_start: ReplayStart = ReplayStart.FREEZE_POINT
    reorder_key: ReorderKey = ReorderKey.SEQUENCE
    full_queue: FullQueue = FullQueue.WAIT
    apply_failure: ApplyFailure = ApplyFailure.FAIL
    verify_source: VerifySource = VerifySource.BACKUP_AND_ARCHIVE
    promotion_failure: PromotionFailure = PromotionFailure.ROLL_BACK
    schema_mapping: SchemaMapping = SchemaMapping.BACKUP_SCHEMA
    archiver_restart: ArchiverRestart = ArchiverRestart.CHECKPOINT
    log_pinning: LogPinning = LogPinning.PINNED

    @classmethod
    def with_flaws(cls, names: Iterable[str]) -> Protocol:
        """The corrected protocol with the flaws ``names`` (DESIGN 14) put back. Raises
        ValueError for an unknown name, or for two flaws that set one policy two ways."""
        chosen: dict[str, enum.Enum] = {}
        for name in names:
            if name not in FLAWS:
                raise ValueError(f"unknown flaw {name!r} (known: {list(FLAWS)})")
            field, value = FLAWS[name]
            if chosen.get(field, value) is not value:
                raise ValueError(f"flaws {flaw_name(field, chosen[field])!r} and {name!r} both set {field}")
            chosen[field] = value
        return cls(**chosen)

    @property
    def flaws(self) -> tuple[str, ...]:
        """The flaws this protocol has, in DESIGN 14's order."""
        return tuple(name for name, (field, value) in FLAWS.items() if getattr(self, field) is value)


FLAWS: dict[str, tuple[str, enum.Enum]] = {
    "replay_from_archive_start": ("replay_start", ReplayStart.ARCHIVE_START),
    "reorder_by_log_id": ("reorder_key", ReorderKey.LOG_ID),
    "drop_when_queue_full": ("full_queue", FullQueue.DROP),
    "skip_failed_apply": ("apply_failure", ApplyFailure.SKIP),
    "verify_against_live_source": ("verify_source", VerifySource.LIVE_SOURCE),
    "no_promotion_rollback": ("promotion_failure", PromotionFailure.STAY_FENCED),
    "mapping_from_live_source": ("schema_mapping", SchemaMapping.LIVE_SOURCE),
    "archiver_restart_from_run_start": ("archiver_restart", ArchiverRestart.RUN_START),
    "archiver_restart_from_read_position": ("archiver_restart", ArchiverRestart.READ_POSITION),
    "unpinned_log_recycling": ("log_pinning", LogPinning.UNPINNED),
}
"""Each flaw of DESIGN 14, by name, in its order: the policy it sets and the flawed value."""


def flaw_name(field: str, value: enum.Enum) -> str:
    return next(name for name, (f, v) in FLAWS.items() if (f, v) == (field, value))
