"""The reorder queue's per-worker bookkeeping (``RestoreTask.next_seqs``): along random
interleavings of the pipeline's steps (reads, rewrites by any worker, releases, stalls),
under the corrected protocol and the seed's flaws that touch the queue (2, the reorder key;
3, a full queue dropping entries), what it answers in O(1) agrees with a scan of the entries
in flight, as ``pending_of`` answered before it was kept."""

from __future__ import annotations

import attrs
import pytest
from histories import act, under_flaws
from hypothesis import given
from hypothesis import strategies as st
from test_restore import archived, drive, start

from ybstate.errors import ActionRejected
from ybstate.model import decide
from ybstate.restore.actions import ApplyEntry, ReadArchived, RewriteEntry, StallWorker
from ybstate.restore.derive import pending_of, released, timed_out
from ybstate.restore.state import RestorePhase, RestoreTask, next_seqs_of


def scanned(task: RestoreTask, worker: int) -> int | None:
    """The oldest entry ``worker`` holds and has neither rewritten nor dropped, by a scan of
    the entries in flight."""
    first = task.applied + 1 + (worker - task.applied) % task.workers
    for entry_seq in range(first, task.read + 1, task.workers):
        if entry_seq not in task.rewritten and entry_seq not in task.dropped:
            return entry_seq
    return None


def assert_bookkeeping_agrees(task: RestoreTask) -> None:
    assert task.next_seqs == next_seqs_of(task)
    workers = range(task.workers)
    assert [pending_of(task, w) for w in workers] == [scanned(task, w) for w in workers]


def pipeline(state, task_id: int, workers: int) -> list[object]:
    """The pipeline's steps the model accepts now."""
    candidates = [
        ReadArchived(task_id=task_id),
        ApplyEntry(task_id=task_id),
        *(RewriteEntry(task_id=task_id, worker=w) for w in range(workers)),
        *(StallWorker(task_id=task_id, worker=w) for w in range(workers)),
    ]
    accepted = []
    for action in candidates:
        try:
            decide(state, action)
        except ActionRejected:
            continue
        accepted.append(action)
    return accepted


@given(
    data=st.data(),
    workers=st.integers(1, 5),
    capacity=st.integers(0, 6),
    flaws=st.sampled_from([[], ["reorder_by_log_id"], ["drop_when_queue_full"]]),
)
def test_the_per_worker_bookkeeping_agrees_with_a_scan_along_any_interleaving(data, workers, capacity, flaws):
    state, task_id = start(archived(), "latest", workers=workers, capacity=capacity)
    state, _ = drive(state, task_id, until=RestorePhase.RESTORING_INCREMENTAL)
    state = under_flaws(state, flaws)
    stalls = 0
    while True:
        task = state.restores[task_id]
        assert_bookkeeping_agrees(task)
        # What reads the queue's head agrees with a membership test of the queue.
        assert (released(state, task) is not None) <= (task.applied + 1 in task.rewritten)
        waiting = task.applied + 1
        stalled_waiting = (
            not task.stopped
            and waiting <= task.read
            and waiting not in task.rewritten
            and task.worker_of(waiting) in task.stalled
        )
        assert (timed_out(task) is not None) == stalled_waiting
        choices = pipeline(state, task_id, workers)
        if stalls >= 1:
            choices = [c for c in choices if not isinstance(c, StallWorker)]
        if not choices:
            break
        action = data.draw(st.sampled_from(choices))
        stalls += isinstance(action, StallWorker)
        state, _ = act(state, action)


def test_a_task_built_by_hand_gets_its_bookkeeping_from_its_fields():
    task = RestoreTask(
        task_id=1, source_tenant_id=1001, target_name="dr", set_id=1, until_ts=9, until="m1",
        start_log_id=2, end_log_id=8, workers=3, capacity=6, phase=RestorePhase.RESTORING_INCREMENTAL,
        started_ts=5, entries=20, read=9, applied=1, rewritten=(2, 3, 5, 6), dropped=(9,),
    )  # fmt: skip
    assert task.next_seqs == (4, 8, 12)
    assert [pending_of(task, w) for w in range(3)] == [4, 8, None]


def test_the_bookkeeping_stays_out_of_equality_and_the_digest():
    state, task_id = start(archived(), "latest", workers=2)
    state, _ = drive(state, task_id, until=lambda state, task: task.applied >= 2)
    task = state.restores[task_id]
    other = attrs.evolve(task, next_seqs=(0, 0))
    assert other == task and hash(other) == hash(task) and repr(other) == repr(task)


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_a_whole_restore_keeps_the_bookkeeping_in_step(workers):
    state, task_id = start(archived(), "latest", workers=workers)
    state, _ = drive(state, task_id, until=RestorePhase.RESTORING_INCREMENTAL)
    while state.restores[task_id].phase is RestorePhase.RESTORING_INCREMENTAL:
        assert_bookkeeping_agrees(state.restores[task_id])
        state, _ = drive(state, task_id, until=lambda s, t, seq=state.seq: s.seq > seq)
    assert state.restores[task_id].phase is RestorePhase.VERIFYING


def test_the_kept_text_of_a_task_is_the_text_made_anew_at_every_step():
    """``RestoreTask.head_text`` is a memo of the repr's unchanging part, handed on by evolve:
    at every step of a restore, and after any field changed by hand, the repr is the one a
    task without the memo makes."""
    state, task_id = start(archived(), "latest", workers=3)
    while not state.restores[task_id].final:
        task = state.restores[task_id]
        assert repr(task) == repr(attrs.evolve(task, head_text=None))
        for name, value in (("phases", ()), ("mapping", ()), ("target_tenant_id", 7), ("entries", 99)):
            changed = attrs.evolve(task, **{name: value})
            assert repr(changed) == repr(attrs.evolve(changed, head_text=None))
        state, _ = drive(state, task_id, until=lambda s, t, seq=state.seq: s.seq > seq)
