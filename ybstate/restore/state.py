"""State of restores: tasks, their schema mapping and the incremental pipeline's progress.

A restore task moves through the seed's phases (INIT, PREPARING, RESTORING_BASELINE,
RESTORING_INCREMENTAL, VERIFYING, then COMPLETED, FAILED or CANCELLED). PREPARING creates
the standby tenant (restoring, not writable) and one standby table per table of the backup
set's schema, with new table ids. The baseline is one DAG task per tablet of the set; each
finished task loads the tablet's stored rows into the standby as one transaction. The
incremental pipeline replays the archived entries (numbered 1, 2, 3, ... by the reader)
through N rewrite workers that finish in any order and a bounded reorder queue that
releases them to the applier strictly in order.

Only small counters live in a task (its digest is taken on every change); the entries
being replayed and the applier's buffered transactions are derived from backup storage
and kept beside the state's fingerprinted part (``ClusterState.restore_entries``).
"""

from __future__ import annotations

import enum
import operator

import attrs

__all__ = [
    "RestorePhase",
    "FINAL_RESTORE_PHASES",
    "RESTORE_STATUS_CODE",
    "Outcome",
    "TableMapping",
    "RestoreTask",
    "next_seqs_of",
]


class RestorePhase(enum.Enum):
    INIT = "INIT"
    PREPARING = "PREPARING"
    RESTORING_BASELINE = "RESTORING_BASELINE"
    RESTORING_INCREMENTAL = "RESTORING_INCREMENTAL"
    VERIFYING = "VERIFYING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


FINAL_RESTORE_PHASES = frozenset({RestorePhase.COMPLETED, RestorePhase.FAILED, RestorePhase.CANCELLED})

# __all_tenant_restore_task.status (DESIGN 10).
RESTORE_STATUS_CODE = {
    RestorePhase.INIT: 0,
    RestorePhase.PREPARING: 1,
    RestorePhase.RESTORING_BASELINE: 2,
    RestorePhase.RESTORING_INCREMENTAL: 3,
    RestorePhase.VERIFYING: 4,
    RestorePhase.COMPLETED: 5,
    RestorePhase.FAILED: 6,
    RestorePhase.CANCELLED: 7,
}


class Outcome(enum.StrEnum):
    """What the applier does with an archived entry the reorder queue releases (stored by
    its value in ``EntryApplied.outcome``)."""

    BUFFERED = "buffered"  # a mutator: held until its transaction ends
    APPLIED = "applied"  # a commit at or before T: the transaction becomes a standby transaction
    IN_BASELINE = "in baseline"  # a commit the backup set already holds
    DROPPED = "dropped"  # an abort: its buffered mutators are dropped
    TABLE_CREATED = "table created"  # a DDL after the set's freeze, replayed on the standby
    TABLE_DROPPED = "table dropped"
    TIME = "time"  # a freeze or a heartbeat: time passes
    PAST_T = "past T"  # the first entry after T: the applier stops
    # Only under the seed's flaws (DESIGN 14):
    SKIPPED = "skipped"  # it failed to apply and the applier carried on (skip_failed_apply)
    NOT_REPLAYED = "ddl not replayed"  # a DDL the seed's applier leaves alone (mapping_from_live_source)


@attrs.frozen(kw_only=True, repr=False)
class TableMapping:
    """A source table and the standby table that holds its rows."""

    source_table_id: int
    target_table_id: int
    name: str
    schema_version: int  # the standby table's
    dropped: bool = False  # its drop was replayed

    def __repr__(self) -> str:
        return (
            f"TableMapping({self.source_table_id}->{self.target_table_id} {self.name!r} "
            f"v{self.schema_version}{' dropped' if self.dropped else ''})"
        )


@attrs.frozen(kw_only=True, repr=False)
class RestoreTask:
    task_id: int
    source_tenant_id: int
    target_name: str
    set_id: int
    until_ts: int  # T: the standby holds exactly the source's commits with commit_ts <= T
    until: str  # as asked: a timestamp, a mark's name, or "latest"
    start_log_id: int  # the set's start_replay_log_id
    end_log_id: int  # the last archived log id with ts <= T
    workers: int
    capacity: int  # entries in flight (read, not yet applied) at most: the reorder queue's bound
    phase: RestorePhase
    started_ts: int
    ended_ts: int = 0
    error: str = ""
    phases: tuple[RestorePhase, ...] = ()
    target_tenant_id: int = 0
    mapping: tuple[TableMapping, ...] = ()
    dag_id: int = 0
    tablets: int = 0  # baseline tablets to load
    loaded: int = 0  # baseline tablets loaded
    # The incremental pipeline.
    entries: int = 0  # archived entries to replay
    read: int = 0  # sequence numbers 1..read handed to workers
    rewritten: tuple[int, ...] = ()  # rewritten, waiting in the reorder queue (ascending)
    applied: int = 0  # sequence numbers 1..applied released to and handled by the applier
    stalled: tuple[int, ...] = ()  # workers that stopped answering
    stopped: bool = False  # the applier met the first entry past T
    applied_txns: int = 0  # source transactions applied to the standby
    applied_ts: int = 0  # commit_ts of the last applied one (the set's snapshot before any)
    restored_log_id: int = 0  # log id of the last entry the applier handled
    apply_failures: int = 0  # entries the applier failed to apply (a fault)
    dropped: tuple[int, ...] = ()  # entries a full reorder queue refused (drop_when_queue_full only)
    # Bookkeeping, not state: per worker, the oldest entry it holds or will be handed that it
    # has not rewritten or dropped. A worker takes its entries in order, so what it has done is
    # a prefix of its entries (seq w + 1, w + 1 + W, ...): this is a function of ``applied``,
    # ``rewritten`` and ``dropped`` (:func:`next_seqs_of`), kept so that finding a worker's
    # next entry costs O(1). Outside eq, hash and repr: the fingerprint does not see it.
    next_seqs: tuple[int, ...] = attrs.field(
        default=attrs.Factory(lambda task: next_seqs_of(task), takes_self=True), eq=False
    )
    # A memo, not state: the text of the fields the pipeline never changes, with the values
    # it was made from (see ``_head``). Outside eq, hash and repr.
    head_text: tuple | None = attrs.field(default=None, eq=False)

    @property
    def _failures_text(self) -> str:
        # Only a task the applier failed on, or that dropped entries, says so, so existing
        # histories keep their fingerprints.
        failures = f" apply failures {self.apply_failures}" if self.apply_failures else ""
        return failures + (f" dropped {self.dropped}" if self.dropped else "")

    def __repr__(self) -> str:
        # Every field, compactly: the state's digest hashes this text on each change of a
        # task (the pipeline changes it per entry), so it is written out by hand, and the
        # text of the fields up to ``entries``, which the pipeline never changes, is reused.
        head = self._head()
        return (
            f"{head} read {self.read} queue {self.rewritten} applied {self.applied} "
            f"stalled {self.stalled} stopped {self.stopped} txns {self.applied_txns} at {self.applied_ts} "
            f"log {self.restored_log_id}{self._failures_text})"
        )

    def _head(self) -> str:
        """The text of the fields up to ``entries``: the one ``head_text`` keeps if it was
        made from these very objects (the same objects: the same text), else made anew and
        kept in ``head_text`` of this task, which ``evolve`` hands on to the next."""
        values = (
            self.task_id, self.source_tenant_id, self.target_name, self.target_tenant_id, self.set_id,
            self.until_ts, self.until, self.start_log_id, self.end_log_id, self.workers, self.capacity,
            self.phase, self.phases, self.started_ts, self.ended_ts, self.error, self.mapping, self.dag_id,
            self.loaded, self.tablets, self.entries,
        )  # fmt: skip
        kept = self.head_text
        if kept is not None and all(map(operator.is_, kept[0], values)):
            return kept[1]
        text = (
            f"RestoreTask({self.task_id} {self.source_tenant_id}->{self.target_name!r}/"
            f"{self.target_tenant_id} set {self.set_id} T {self.until_ts} ({self.until!r}) "
            f"log {self.start_log_id}..{self.end_log_id} "
            f"W {self.workers} cap {self.capacity} {self.phase.value} "
            f"[{' '.join(p.value for p in self.phases)}] {self.started_ts}..{self.ended_ts} {self.error!r} "
            f"{self.mapping!r} dag {self.dag_id} tablets {self.loaded}/{self.tablets} "
            f"entries {self.entries}"
        )
        object.__setattr__(self, "head_text", (values, text))  # a memo: not state
        return text

    def after(self, worker: int) -> tuple[int, ...]:
        """``next_seqs`` once ``worker`` has rewritten or dropped its next entry."""
        seqs = self.next_seqs
        return (*seqs[:worker], seqs[worker] + self.workers, *seqs[worker + 1 :])

    @property
    def final(self) -> bool:
        return self.phase in FINAL_RESTORE_PHASES

    def worker_of(self, seq: int) -> int:
        """Entries are handed out round-robin: entry ``seq`` goes to this worker (from 0)."""
        return (seq - 1) % self.workers

    def mapped(self, source_table_id: int) -> TableMapping | None:
        for entry in self.mapping:
            if entry.source_table_id == source_table_id:
                return entry
        return None

    @property
    def incremental_progress(self) -> int:
        if self.phase in (RestorePhase.VERIFYING, RestorePhase.COMPLETED):
            return 100
        if not self.entries:
            return 0
        return 100 * self.applied // self.entries

    @property
    def baseline_progress(self) -> int:
        if self.tablets == 0:  # nothing to load once prepared (an empty set), nothing before
            return 100 if RestorePhase.RESTORING_BASELINE in self.phases else 0
        return 100 * self.loaded // self.tablets


def next_seqs_of(task: RestoreTask) -> tuple[int, ...]:
    """Per worker, from scratch: the oldest entry after ``applied`` it is handed that is
    neither in the reorder queue nor dropped (what ``RestoreTask.next_seqs`` keeps)."""
    done = set(task.rewritten) | set(task.dropped)
    seqs = []
    for worker in range(task.workers):
        entry_seq = task.applied + 1 + (worker - task.applied) % task.workers
        while entry_seq in done:
            entry_seq += task.workers
        seqs.append(entry_seq)
    return tuple(seqs)
