"""Exhaustive exploration of continuous log archiving: every interleaving of client writes,
heartbeats, reads, seals, idle checkpoints, crashes (and stops and restarts) within a small
scope, every invariant checked in every state; and the archiver flaw of DESIGN 11 (8), "the
archiver keeps its position in memory only: a crash re-archives from zero or skips", planted
both ways, which the exploration must find with a short trace.

The scope has two tenants, t1 archived and t2 not, one table each (their DDL entries are log
ids 1 and 2), pieces of two kept entries and two archiver crashes in all; ``max_log`` bounds
how many entries may follow, so the state space is finite and small.
"""

from __future__ import annotations

import attrs
import pytest
from histories import act, commit_rows

from ybstate.archive.actions import CrashArchiver, StartArchive
from ybstate.cluster.actions import Tick
from ybstate.cluster.protocol import ArchiverRestart, LogPinning
from ybstate.cluster.state import ClusterConfig, ClusterState
from ybstate.drivers.explore import explore, replay_counterexample
from ybstate.kernel import Invariant, Spec
from ybstate.model import ArchiveScope, ClusterScope, Scope, model_spec, start_state

T1, T2 = 1001, 1002
SMALL = Scope(
    cluster=ClusterScope(
        tenants=("t1", "t2"),
        tables=(("a", 1),),
        keys=("k1",),
        values=("x",),
        deletes=False,
        max_open_txns=1,
        max_log=3,  # the two DDL entries and one more: a write of either tenant, or a heartbeat
        freeze=False,
        tick=1000,
        config=ClusterConfig(data_servers=1, piece_entries=2),
    ),
    archive=ArchiveScope(
        archive_tenants=("t1",),
        archiver_crashes=2,
    ),
)


def observed(spec: Spec, seen: set) -> Spec:
    """``spec`` with one more invariant that never fails: it notes in ``seen`` what the
    archiver of t1 went through, so a test can tell the exploration reached it."""

    def observe(state: ClusterState) -> None:
        archiver = state.archivers.get(T1)
        if archiver is None:
            return None
        seen.add(("crashes", archiver.crashes))
        seen.add(("pieces", archiver.checkpoint.pieces))
        seen.add(("run", archiver.run))
        if archiver.piece is not None and archiver.piece.kept == state.config.piece_entries:
            seen.add("a full piece")
        if archiver.checkpoint.last_log_id > archiver.sealed_through:
            seen.add("an idle checkpoint ahead of the last piece")
        if state.recycled_through:
            seen.add("log recycled")
        for piece in state.pieces.values():
            covered = (state.log[i] for i in range(piece.first_log_id, piece.last_log_id + 1))
            if any(getattr(entry, "tenant_id", None) == T2 for entry in covered):
                seen.add("a piece covering t2's entry")
            if archiver.crashes and piece.piece_no > 1:
                seen.add("a piece sealed after a crash")
        return None

    return attrs.evolve(spec, invariants=(*spec.invariants, Invariant(name="observe", check=observe)))


def test_exploring_two_tenants_one_archived_with_two_crashes_finds_no_violation():
    seen: set = set()
    result = explore(observed(model_spec(SMALL), seen))
    assert result.complete and result.violation is None
    assert result.distinct_states > 1000
    assert {("crashes", 2), ("pieces", 2), "a full piece", "a piece covering t2's entry"} <= seen
    assert {"an idle checkpoint ahead of the last piece", "a piece sealed after a crash"} <= seen


def longer_log(scope: Scope) -> ClusterState:
    """The scope's cluster with a commit of each tenant and a heartbeat: log ids 1 and 2 the
    DDL, 3 and 4 t1's mutator and commit, 5 and 6 t2's, 7 a heartbeat."""
    state = commit_rows(start_state(scope), "t1", {("a", "k1"): "x"})
    state = commit_rows(state, "t2", {("a", "k1"): "x"})
    return act(state, Tick(micros=1000))[0]


def test_exploring_archiving_over_a_longer_log_while_one_more_entry_is_written_finds_no_violation():
    start = longer_log(SMALL)
    scope = attrs.evolve(
        SMALL,
        cluster=attrs.evolve(SMALL.cluster, max_log=len(start.log) + 1),
        archive=attrs.evolve(SMALL.archive, archive_batch=2),
    )
    seen: set = set()
    result = explore(observed(model_spec(scope, start), seen))
    assert result.complete and result.violation is None
    assert {("crashes", 2), ("pieces", 4), "a full piece", "a piece covering t2's entry"} <= seen
    assert {"an idle checkpoint ahead of the last piece", "a piece sealed after a crash"} <= seen


def test_exploring_a_stop_and_a_second_run_with_a_crash_finds_no_violation():
    scope = attrs.evolve(
        SMALL, archive=attrs.evolve(SMALL.archive, archive_stop=True, max_archive_runs=2, archiver_crashes=1)
    )
    seen: set = set()
    result = explore(observed(model_spec(scope), seen))
    assert result.complete and result.violation is None
    assert {("run", 2), ("crashes", 1), ("pieces", 2)} <= seen


# -- the archiver keeps its position in memory only (DESIGN 11, flaw 8) ------------------------


def flawed(scope: Scope, **policies) -> Scope:
    """``scope`` with its cluster running the protocol with ``policies`` changed (DESIGN 14)."""
    config = scope.cluster.config
    protocol = attrs.evolve(config.protocol, **policies)
    return attrs.evolve(
        scope, cluster=attrs.evolve(scope.cluster, config=attrs.evolve(config, protocol=protocol))
    )


FROM_THE_RUN_START = {"archiver_restart": ArchiverRestart.RUN_START}
"""The flaw: nothing persisted is consulted, so a restart re-archives from the beginning."""
AT_THE_READ_POSITION = {"archiver_restart": ArchiverRestart.READ_POSITION}
"""The flaw: the restart trusts the read position, which the open piece lost with it."""


def without(spec: Spec, name: str) -> Spec:
    return attrs.evolve(spec, invariants=tuple(inv for inv in spec.invariants if inv.name != name))


def test_a_restart_from_the_run_start_is_caught_reading_behind_its_last_piece():
    spec = model_spec(flawed(SMALL, **FROM_THE_RUN_START))
    cx = explore(spec).violation
    assert cx is not None and cx.invariant == "archive_checkpoint_honest"
    assert cx.message == "tenant 1001: reading at 1, behind its last piece"
    assert cx.depth == 4 and isinstance(cx.actions()[0], StartArchive)
    assert cx.actions()[-1] == CrashArchiver(tenant_id=T1)
    replay_counterexample(spec, cx)


def test_a_restart_from_the_run_start_archives_an_entry_twice():
    spec = without(
        model_spec(flawed(SMALL, **FROM_THE_RUN_START)), "archive_checkpoint_honest"
    )  # let the re-read happen
    cx = explore(spec).violation
    assert cx is not None and cx.invariant == "archive_pieces_consecutive"
    assert cx.message == "tenant 1001: piece 2 starts at log id 1, piece 1 ended at 1"
    assert cx.depth == 6
    state = replay_counterexample(spec, cx)
    twice = {v.invariant: v.message for v in spec.violations(state)}
    assert twice["archive_pieces_hold_exactly_their_range"] == "tenant 1001: log ids [1] are archived twice"


def test_a_restart_at_the_in_memory_read_position_is_caught_skipping_the_lost_entries():
    spec = model_spec(flawed(SMALL, **AT_THE_READ_POSITION))
    cx = explore(spec).violation
    assert cx is not None and cx.invariant == "archive_checkpoint_honest"
    assert cx.message == "tenant 1001: run 1 covers through 1 but log id 1 is in no piece"
    assert cx.depth == 4 and CrashArchiver(tenant_id=T1) in cx.actions()
    replay_counterexample(spec, cx)


def test_a_restart_at_the_in_memory_read_position_leaves_a_hole_between_pieces():
    spec = without(model_spec(flawed(SMALL, **AT_THE_READ_POSITION)), "archive_checkpoint_honest")
    cx = explore(spec).violation
    assert cx is not None and cx.invariant == "archive_pieces_consecutive"
    assert cx.message == "tenant 1001: piece 2 starts at log id 3, piece 1 ended at 1"
    assert cx.depth == 8 and CrashArchiver(tenant_id=T1) in cx.actions()
    replay_counterexample(spec, cx)


# -- nothing stops the server recycling log the archiver has not read (DESIGN 11, flaw 9) ------

# t1 archives backup first; the log may be frozen and recycled, and the archiver may crash.
RETAINED = attrs.evolve(
    SMALL,
    cluster=attrs.evolve(SMALL.cluster, max_log=3, freeze=True),
    archive=attrs.evolve(SMALL.archive, recycle_log=True, archiver_crashes=1),
)


UNPINNED = {"log_pinning": LogPinning.UNPINNED}
"""The seed's flaw 9: the server recycles everything a baseline holds, archivers or not."""
PINNED_AT_THE_READ_POSITION = {"log_pinning": LogPinning.READ_POSITION}
"""A subtler bug: the pin trusts the read position, but a crash restarts the archiver at
its last sealed piece, so what it read and had not sealed is lost."""


def test_exploring_recycling_under_a_backup_first_archiver_with_a_crash_finds_no_violation():
    seen: set = set()
    result = explore(observed(model_spec(RETAINED), seen))
    assert result.complete and result.violation is None
    assert {("crashes", 1), ("pieces", 2), "log recycled"} <= seen


@pytest.mark.slow
def test_exploring_recycling_over_one_more_entry_with_t1_business_first_finds_no_violation():
    # about 90 s: every interleaving of a write or heartbeat, a freeze, recycling and a crash
    scope = attrs.evolve(RETAINED, cluster=attrs.evolve(RETAINED.cluster, max_log=4, business_first=("t1",)))
    seen: set = set()
    result = explore(observed(model_spec(scope), seen))
    assert result.complete and result.violation is None
    assert {("crashes", 1), ("run", 2), "log recycled"} <= seen


def test_recycling_without_a_pin_is_caught_under_a_backup_first_archiver():
    spec = model_spec(flawed(RETAINED, **UNPINNED))
    cx = explore(spec).violation
    assert cx is not None and cx.invariant == "archive_backup_first_pins_its_log"
    assert cx.message == (
        "tenant 't1' (backup first): log recycled through 3, its archiver has sealed only through 0"
    )
    assert cx.depth == 3
    replay_counterexample(spec, cx)


def test_a_pin_at_the_read_position_is_caught_when_read_but_unsealed_log_is_recycled():
    spec = model_spec(flawed(RETAINED, **PINNED_AT_THE_READ_POSITION))
    cx = explore(spec).violation
    assert cx is not None and cx.invariant == "archive_backup_first_pins_its_log"
    assert "its archiver has sealed only through 0" in cx.message
    assert cx.depth == 4
    replay_counterexample(spec, cx)


def test_a_pin_at_the_read_position_turns_a_crash_into_a_hole():
    spec = model_spec(flawed(RETAINED, **PINNED_AT_THE_READ_POSITION))
    # Judge by the archive alone: with the pin check gone, the crash shows as a lost range.
    spec = attrs.evolve(
        spec,
        invariants=(
            *(inv for inv in spec.invariants if inv.name != "archive_backup_first_pins_its_log"),
            Invariant(
                name="no_hole_but_stopped",
                check=lambda s: next(
                    (f"{h}" for a in s.archivers.values() for h in a.holes if h.reason != "stopped"), None
                ),
            ),
        ),
    )
    cx = explore(spec).violation
    assert cx is not None and cx.invariant == "no_hole_but_stopped"
    assert "crash before a seal" in cx.message
    assert CrashArchiver(tenant_id=T1) in cx.actions()
    replay_counterexample(spec, cx)
