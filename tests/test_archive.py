"""Continuous log archiving of a tenant (issue 4), driven through the model's decide and apply.

Each test builds a small cluster of two tenants, shop and blog, with :func:`busy_world`: a
shared commit log in which their entries interleave with cluster-wide heartbeats and a
freeze. Archivers are moved with their own actions (``StartArchive``, ``ReadEntries``,
``SealPiece``, ``PersistCheckpoint``, ``CrashArchiver``, ``StopArchive``). What a tenant's
archive must hold is read straight from the log (entries whose ``tenant_id`` is the
tenant's), never from the archiving code under test. Every scenario ends with every state
invariant checked.
"""

from __future__ import annotations

import re
from collections import Counter

import attrs
import pytest
from histories import (
    BLOG,
    BUSY_LOG,
    CONFIG,
    RETENTION_INVARIANTS,
    SHOP,
    act,
    archive_all,
    archived_log_ids,
    assert_catches,
    assert_invariants,
    busy_world,
    commit_rows,
    drive_backup,
    held,
    next_step,
    pieces_of,
    put,
    ranges,
    read,
    seal,
    start,
    tenant_log_ids,
)

from ybstate.archive.actions import (
    CrashArchiver,
    PersistCheckpoint,
    ReadEntries,
    SealPiece,
    StartArchive,
    StopArchive,
)
from ybstate.archive.events import (
    ArchiverCrashed,
    ArchiveStarted,
    ArchiveStopped,
    CheckpointPersisted,
    EntriesRead,
    PieceSealed,
)
from ybstate.archive.invariants import ARCHIVE_INVARIANTS
from ybstate.archive.state import ArchiverStatus, Checkpoint
from ybstate.backup.actions import StartBackup
from ybstate.backup.state import BackupPhase, SetStatus
from ybstate.cluster.actions import Commit, Freeze, Tick
from ybstate.cluster.protocol import Protocol
from ybstate.cluster.state import ClusterState, evolve_state
from ybstate.errors import ArchiveRejected, DestinationNotAllowed, EventOutOfOrder, UnknownTenant
from ybstate.hashing import rows_checksum
from ybstate.model import apply, decide, fingerprint


def test_the_busy_world_interleaves_both_tenants_with_cluster_wide_entries():
    state = busy_world()
    kinds = {"TableCreated": "DDL", "MutatorLogged": "MUTATOR", "TransactionCommitted": "COMMIT"}
    kinds |= {"HeartbeatLogged": "HEARTBEAT", "VersionFrozen": "FREEZE"}
    found = tuple(
        (log_id, kinds[type(entry).__name__], getattr(entry, "tenant_id", None))
        for log_id, entry in sorted(state.log.items())
    )
    assert found == BUSY_LOG
    assert_invariants(state)


# -- starting ----------------------------------------------------------------------------------


def test_starting_archiving_of_an_unknown_tenant_is_refused():
    state = busy_world()
    with pytest.raises(UnknownTenant, match="unknown tenant 'nobody'"):
        decide(state, StartArchive(tenant="nobody", destination="/backup/nobody", start_log_id=1))


@pytest.mark.parametrize("destination", ["/elsewhere/shop", "/backup", "/backup/../etc", "backup/shop"])
def test_an_archive_destination_outside_the_backup_root_is_refused(destination):
    state = busy_world()
    with pytest.raises(DestinationNotAllowed) as refused:
        decide(state, StartArchive(tenant="shop", destination=destination, start_log_id=1))
    assert (refused.value.destination, refused.value.root) == (destination, "/backup")
    assert state.archivers.get(SHOP) is None


def test_a_destination_below_the_root_is_normalised_into_the_piece_paths():
    action = StartArchive(tenant="shop", destination="/backup/x/../shop/", start_log_id=1)
    state = seal(read(act(busy_world(), action)[0]))
    assert state.archivers[SHOP].destination == "/backup/shop"
    assert state.pieces[(SHOP, 1)].path == "/backup/shop/tenant_1001/archive/piece_000001"
    assert_invariants(state)


def test_a_second_start_while_the_archiver_runs_is_refused():
    state = read(start(busy_world()))
    before = fingerprint(state)
    with pytest.raises(ArchiveRejected, match="an archiver is already running") as refused:
        decide(state, StartArchive(tenant="shop", destination="/backup/again", start_log_id=5))
    assert refused.value.tenant == "shop"
    assert fingerprint(state) == before
    state = start(state, "blog")  # another tenant's archiver runs alongside
    assert {t: a.status for t, a in state.archivers.items()} == {
        SHOP: ArchiverStatus.RUNNING,
        BLOG: ArchiverStatus.RUNNING,
    }
    assert_invariants(state)


def test_starting_from_the_backup_set_is_refused_while_the_tenant_has_no_completed_set():
    state = busy_world()
    default = StartArchive(tenant="shop", destination="/backup/shop")
    assert default.start_log_id == 0
    with pytest.raises(ArchiveRejected, match="no completed backup set to extend; give a start log id"):
        decide(state, default)
    state, (begun,) = act(state, StartBackup(tenant="shop", destination="/backup/shop"))
    state, _ = drive_backup(state, begun.task_id, until=BackupPhase.VERIFYING)
    assert state.backup_sets[1].status is SetStatus.CREATING  # a set being made does not count
    with pytest.raises(ArchiveRejected, match="no completed backup set"):
        decide(state, default)
    state, _ = drive_backup(state, begun.task_id)
    state, (started,) = act(state, default)
    assert started.start_log_id == state.backup_sets[1].start_replay_log_id
    assert_invariants(state)


def test_starting_from_the_backup_set_begins_at_the_newest_available_sets_start_replay_log_id():
    state = busy_world()
    state, (first,) = act(state, StartBackup(tenant="shop", destination="/backup/shop"))
    state, _ = drive_backup(state, first.task_id)
    state, _ = act(state, put("shop", "orders", "o3"), Freeze())  # tx 5 stays open at the freeze
    state, (second,) = act(state, StartBackup(tenant="shop", destination="/backup/shop"))
    state, _ = drive_backup(state, second.task_id)
    state, _ = act(state, Commit(tx=5), Freeze())
    state, (third,) = act(state, StartBackup(tenant="shop", destination="/backup/shop"))
    state, _ = drive_backup(state, third.task_id, until=BackupPhase.DOING)
    tablet = state.backups[third.task_id].tablets[0].tablet_id
    state, _ = drive_backup(state, third.task_id, failures={tablet: 3})
    sets = [state.backup_sets[set_id] for set_id in (1, 2, 3)]
    assert [s.status for s in sets] == [SetStatus.AVAILABLE, SetStatus.AVAILABLE, SetStatus.DELETED]
    starts = [s.start_replay_log_id for s in sets]
    assert len(set(starts)) == 3  # so the test tells which set was taken
    state, (started,) = act(state, StartArchive(tenant="shop", destination="/backup/shop"))
    assert started.start_log_id == starts[1] == 15  # the mutator open at the freeze of set 2
    assert state.archivers[SHOP].run_start_log_id == state.archivers[SHOP].next_log_id == starts[1]
    assert_invariants(state)


@pytest.mark.parametrize("offset", [1, 2, 100])
def test_a_start_log_id_beyond_the_log_is_refused(offset):
    state = busy_world()
    beyond = state.next_log_id + offset
    with pytest.raises(ArchiveRejected, match=f"start log id {beyond} is not in the log \\(1..15\\)"):
        decide(state, StartArchive(tenant="shop", destination="/backup/shop", start_log_id=beyond))
    state = start(state, start_log_id=state.next_log_id)  # the next entry to be logged is fine
    assert state.archivers[SHOP].next_log_id == 15
    assert_invariants(state)


@pytest.mark.parametrize("start_log_id", [-1, -100])
def test_a_negative_start_log_id_is_refused(start_log_id):
    with pytest.raises(ArchiveRejected, match=f"start log id {start_log_id} is not in the log"):
        decide(busy_world(), StartArchive(tenant="shop", destination="/backup/s", start_log_id=start_log_id))


# -- reading -----------------------------------------------------------------------------------


def test_reading_keeps_the_tenants_and_cluster_wide_entries_and_the_piece_range_covers_the_others():
    state = start(busy_world())
    state, (event,) = act(state, ReadEntries(tenant_id=SHOP, count=100))
    assert (event.first_log_id, event.last_log_id) == (1, 5)  # the third kept entry fills the piece
    piece = state.archivers[SHOP].piece
    assert (piece.first_log_id, piece.kept, piece.tenant_entries) == (1, 3, 2)
    state = seal(state)
    assert ranges(state) == [(1, 5)]
    assert held(state, 1) == [1, 3, 5]  # shop's DDL and mutator, the heartbeat; blog's 2 and 4 skipped
    assert_invariants(state)


def test_an_archive_never_holds_another_tenants_entry_and_holds_every_cluster_wide_one():
    state = archive_all(start(start(busy_world()), "blog"), SHOP)
    state = archive_all(state, BLOG)
    for tenant_id in (SHOP, BLOG):
        kept = [log_id for log_id, _, owner in BUSY_LOG if owner in (tenant_id, None)]
        assert archived_log_ids(state, tenant_id) == Counter(kept)  # each once: 5, 8, 11, 14 in both
        owners = {getattr(e, "tenant_id", None) for p in pieces_of(state, tenant_id) for e in p.entries}
        assert owners == {tenant_id, None}
    assert_invariants(state)


@pytest.mark.parametrize("piece_entries", [1, 2, 3, 4])
def test_a_read_never_puts_more_than_piece_entries_kept_entries_in_a_piece(piece_entries):
    state = start(busy_world(attrs.evolve(CONFIG, piece_entries=piece_entries)))
    state, (event,) = act(state, ReadEntries(tenant_id=SHOP, count=100))
    kept = [log_id for log_id, _, owner in BUSY_LOG if owner in (SHOP, None)]
    assert state.archivers[SHOP].piece.kept == piece_entries
    assert event.last_log_id == kept[piece_entries - 1]  # stops at the entry that fills the piece
    with pytest.raises(ArchiveRejected, match="the open piece is full; seal it first"):
        decide(state, ReadEntries(tenant_id=SHOP, count=1))
    state = archive_all(state)
    assert all(p.entry_count == len(p.entries) <= piece_entries for p in pieces_of(state))
    assert_invariants(state)


def test_apply_refuses_a_read_that_would_overfill_the_piece():
    state = start(busy_world())
    (event,) = decide(state, ReadEntries(tenant_id=SHOP, count=100))
    with pytest.raises(EventOutOfOrder, match="at most piece_entries kept entries in a piece"):
        apply(state, attrs.evolve(event, last_log_id=6))
    apply(state, event)


def test_reading_in_batches_stops_at_the_count():
    state = start(busy_world(attrs.evolve(CONFIG, piece_entries=10)))
    state, (event,) = act(state, ReadEntries(tenant_id=SHOP, count=4))
    assert (event.first_log_id, event.last_log_id) == (1, 4)
    assert state.archivers[SHOP].next_log_id == 5
    assert state.archivers[SHOP].piece.kept == 2
    assert_invariants(state)


def test_reading_past_the_end_of_the_log_or_a_count_below_one_is_refused():
    state = archive_all(start(busy_world()))
    with pytest.raises(ArchiveRejected, match="nothing to read after log id 14"):
        decide(state, ReadEntries(tenant_id=SHOP))
    state = start(busy_world())
    for count in (0, -1):
        with pytest.raises(ArchiveRejected, match=f"a read needs a count of at least 1, got {count}"):
            decide(state, ReadEntries(tenant_id=SHOP, count=count))


# -- sealing -----------------------------------------------------------------------------------


def test_sealing_records_range_count_timestamps_and_checksum_and_moves_the_checkpoint_with_it():
    state = read(start(busy_world()), count=100)
    state, (sealed,) = act(state, SealPiece(tenant_id=SHOP))
    log = state.log
    expected_checksum = rows_checksum(
        [
            ("DDL", "1", str(log[1].time)),
            ("MUTATOR", "3", str(log[3].time)),
            ("HEARTBEAT", "5", str(log[5].time)),
        ]
    )
    assert (sealed.piece_no, sealed.first_log_id, sealed.last_log_id) == (1, 1, 5)
    assert (sealed.entry_count, sealed.tenant_entries) == (3, 2)
    assert (sealed.min_ts, sealed.max_ts) == (log[1].time, log[5].time)
    assert sealed.checksum == expected_checksum
    assert sealed.path == "/backup/shop/tenant_1001/archive/piece_000001"
    piece = state.pieces[(SHOP, 1)]
    assert (piece.first_log_id, piece.last_log_id, piece.entry_count) == (1, 5, 3)
    assert (piece.min_ts, piece.max_ts, piece.checksum) == (log[1].time, log[5].time, expected_checksum)
    assert piece.entries == (log[1], log[3], log[5]) and piece.run == 1
    archiver = state.archivers[SHOP]
    assert archiver.checkpoint == Checkpoint(last_log_id=5, archived_ts=log[5].time, pieces=1)
    assert (archiver.piece, archiver.sealed_through, archiver.next_log_id) == (None, 5, 6)
    assert_invariants(state)


def test_pieces_are_numbered_in_order_and_cover_consecutive_ranges_of_the_whole_log():
    state = archive_all(start(busy_world()))
    assert [p.piece_no for p in pieces_of(state)] == [1, 2, 3]
    assert ranges(state) == [(1, 5), (6, 11), (12, 14)]
    assert [held(state, n) for n in (1, 2, 3)] == [[1, 3, 5], [6, 8, 11], [12, 13, 14]]
    assert archived_log_ids(state, SHOP) == Counter(
        {1: 1, 3: 1, 5: 1, 6: 1, 8: 1, 11: 1, 12: 1, 13: 1, 14: 1}
    )
    assert state.archivers[SHOP].checkpoint.last_log_id == 14
    assert_invariants(state)


def test_sealing_a_piece_without_kept_entries_is_refused():
    state = start(busy_world(), start_log_id=2)
    with pytest.raises(ArchiveRejected, match="the open piece holds no entry"):
        decide(state, SealPiece(tenant_id=SHOP))  # nothing read yet
    state = read(state)  # blog's DDL: read, not kept
    assert state.archivers[SHOP].piece.kept == 0
    with pytest.raises(ArchiveRejected, match="the open piece holds no entry"):
        decide(state, SealPiece(tenant_id=SHOP))
    assert_invariants(state)


# -- idle checkpoints --------------------------------------------------------------------------


def idle_shop() -> ClusterState:
    """shop archived through log id 14; then blog commits and heartbeats, shop is idle:
    15 heartbeat, 16 blog mutator, 17 blog commit, 18 heartbeat."""
    state = archive_all(start(busy_world()))
    state, _ = act(state, Tick(micros=10))
    state = commit_rows(state, "blog", {("posts", "p3"): "v"})
    return act(state, Tick(micros=10))[0]


def test_an_idle_checkpoint_advances_archived_ts_over_heartbeats_while_the_tenant_is_idle():
    state = read(idle_shop(), count=2)  # 15 heartbeat, 16 blog mutator
    state, (persisted,) = act(state, PersistCheckpoint(tenant_id=SHOP))
    assert (persisted.last_log_id, persisted.archived_ts) == (16, state.log[16].time)
    assert state.archivers[SHOP].checkpoint == Checkpoint(
        last_log_id=16, archived_ts=state.log[16].time, pieces=3
    )
    state = read(state, count=2)  # 17 blog commit, 18 heartbeat
    state, _ = act(state, PersistCheckpoint(tenant_id=SHOP))
    checkpoint = state.archivers[SHOP].checkpoint
    assert (checkpoint.last_log_id, checkpoint.archived_ts, checkpoint.pieces) == (18, state.log[18].time, 3)
    assert state.log[18].time > state.log[16].time
    assert len(state.pieces) == 3  # no piece was written for it
    assert state.archivers[SHOP].piece.kept == 2  # the heartbeats stay in the open piece
    assert_invariants(state)


def test_an_idle_checkpoint_is_refused_while_the_open_piece_holds_tenant_entries():
    state = read(start(busy_world()))  # shop's DDL
    before = fingerprint(state)
    with pytest.raises(
        ArchiveRejected, match="the open piece holds tenant entries; only sealing persists them"
    ):
        decide(state, PersistCheckpoint(tenant_id=SHOP))
    assert fingerprint(state) == before
    forged = CheckpointPersisted(
        seq=state.seq + 1, time=state.clock, tenant_id=SHOP, last_log_id=1, archived_ts=state.log[1].time
    )
    with pytest.raises(EventOutOfOrder, match="an open piece without tenant entries at a checkpoint"):
        apply(state, forged)
    assert_invariants(state)


def test_an_idle_checkpoint_needs_progress_past_the_last_checkpoint():
    state = idle_shop()
    with pytest.raises(ArchiveRejected, match="nothing read past the checkpoint at log id 14"):
        decide(state, PersistCheckpoint(tenant_id=SHOP))
    state = act(read(state), PersistCheckpoint(tenant_id=SHOP))[0]
    with pytest.raises(ArchiveRejected, match="nothing read past the checkpoint at log id 15"):
        decide(state, PersistCheckpoint(tenant_id=SHOP))
    assert_invariants(state)


# -- crashes -----------------------------------------------------------------------------------


def test_a_crash_drops_the_open_piece_and_the_archiver_reads_on_right_after_its_last_sealed_piece():
    state = seal(read(start(busy_world()), count=100))  # piece 1: 1..5
    state = read(state, count=3)  # 6 shop commit, 7 blog commit, 8 freeze
    checkpoint = state.archivers[SHOP].checkpoint
    state, (crashed,) = act(state, CrashArchiver(tenant_id=SHOP))
    assert (crashed.lost_entries, crashed.restart_log_id) == (2, 6)
    archiver = state.archivers[SHOP]
    assert (archiver.piece, archiver.next_log_id, archiver.crashes) == (None, 6, 1)
    assert archiver.checkpoint == checkpoint and archiver.status is ArchiverStatus.RUNNING
    state = archive_all(state)
    assert ranges(state) == [(1, 5), (6, 11), (12, 14)]
    assert_invariants(state)


def idle_shop_log() -> ClusterState:
    """The busy log, then shop idle a while (blog and heartbeats), then shop again:
    15 heartbeat, 16 and 17 blog's commit, 18 and 19 heartbeats, 20 and 21 shop's commit."""
    state = busy_world()
    state, _ = act(state, Tick(micros=10))
    state = commit_rows(state, "blog", {("posts", "p3"): "v"})
    state, _ = act(state, Tick(micros=10), Tick(micros=10))
    return commit_rows(state, "shop", {("orders", "o9"): "v"})


def archive_with_crashes(state: ClusterState, crash_before: set[int], *, idle_checkpoints: bool):
    """Archive shop to the end of the log, crashing before the archiver's own steps
    numbered in ``crash_before`` (0 is the first)."""
    steps = 0
    while (action := next_step(state, SHOP, idle_checkpoints=idle_checkpoints)) is not None:
        if steps in crash_before:
            crash_before = crash_before - {steps}
            state, _ = act(state, CrashArchiver(tenant_id=SHOP))
            continue
        state, _ = act(state, action)
        steps += 1
    return state


@pytest.mark.parametrize("idle_checkpoints", [False, True], ids=["seals-only", "idle-checkpoints"])
def test_after_crashes_at_any_step_every_kept_entry_ends_in_exactly_one_piece(idle_checkpoints):
    world = start(idle_shop_log())
    kept = [
        log_id for log_id, entry in world.log.items() if getattr(entry, "tenant_id", None) in (SHOP, None)
    ]
    assert tenant_log_ids(world, SHOP) == [1, 3, 6, 12, 13, 20, 21]
    uninterrupted = archive_with_crashes(world, set(), idle_checkpoints=idle_checkpoints)
    steps = uninterrupted.seq - world.seq
    for first in range(steps):
        for crashes in ({first}, {first, first + 1}, {first, first + 3}):
            state = archive_with_crashes(world, crashes, idle_checkpoints=idle_checkpoints)
            assert state.archivers[SHOP].crashes >= 1
            assert archived_log_ids(state, SHOP) == Counter(kept), crashes
            assert state.archivers[SHOP].checkpoint.last_log_id == state.last_log_id
            assert_invariants(state)


def test_a_crash_after_an_idle_checkpoint_does_not_move_the_checkpoint_back():
    state = read(idle_shop(), count=4)  # 15..18: heartbeats and blog only
    state = act(state, PersistCheckpoint(tenant_id=SHOP))[0]
    checkpoint = state.archivers[SHOP].checkpoint
    assert checkpoint.last_log_id == 18
    state, (crashed,) = act(state, CrashArchiver(tenant_id=SHOP))
    assert (crashed.restart_log_id, crashed.lost_entries) == (15, 2)  # after piece 3, before the checkpoint
    assert state.archivers[SHOP].checkpoint == checkpoint
    with pytest.raises(ArchiveRejected, match="nothing read past the checkpoint at log id 18"):
        decide(read(state, count=4), PersistCheckpoint(tenant_id=SHOP))
    state = seal(read(state))  # the heartbeat at 15 again, sealed alone: the piece ends below 18
    assert ranges(state)[-1] == (15, 15)
    assert state.archivers[SHOP].checkpoint == attrs.evolve(checkpoint, pieces=4)
    state = seal(read(state, count=3))
    assert ranges(state)[-1] == (16, 18)
    assert state.archivers[SHOP].checkpoint == attrs.evolve(checkpoint, pieces=5)
    state = commit_rows(state, "shop", {("orders", "o5"): "v"})
    state = archive_all(state)
    assert state.archivers[SHOP].checkpoint.last_log_id == 20
    assert_invariants(state)


def test_a_new_piece_covers_only_what_was_read_so_a_restart_that_skips_leaves_a_visible_hole():
    # The seed's flaw 8 (DESIGN 14, archiver_restart_from_read_position): the restart keeps
    # the in-memory read position. The next piece must start where reading resumed, not
    # claim the lost entries.
    config = attrs.evolve(CONFIG, protocol=Protocol.with_flaws(["archiver_restart_from_read_position"]))
    state = act(read(start(busy_world(config)), count=2), CrashArchiver(tenant_id=SHOP))[0]  # 1, 2 lost
    state = seal(read(state, count=3))
    assert ranges(state) == [(3, 5)] and held(state, 1) == [3, 5]
    assert archived_log_ids(state, SHOP)[1] == 0
    (honest,) = [inv for inv in ARCHIVE_INVARIANTS if inv.name == "archive_checkpoint_honest"]
    assert honest.check(state) == "tenant 1001: run 1 covers through 5 but log id 1 is in no piece"


def test_a_crash_before_any_piece_restarts_at_the_run_start():
    state = read(start(busy_world(), start_log_id=3), count=2)
    state, (crashed,) = act(state, CrashArchiver(tenant_id=SHOP))
    assert crashed.restart_log_id == 3
    state = archive_all(state)
    assert ranges(state)[0][0] == 3
    assert_invariants(state)


# -- stopping and new runs ---------------------------------------------------------------------


def test_stopping_keeps_the_checkpoint_and_drops_the_open_piece():
    state = read(seal(read(start(busy_world()), count=100)), count=2)
    state, (stopped,) = act(state, StopArchive(tenant="shop"))
    assert stopped == ArchiveStopped(seq=state.seq, time=state.clock, tenant_id=SHOP, last_log_id=5)
    archiver = state.archivers[SHOP]
    assert (archiver.status, archiver.piece, archiver.checkpoint.last_log_id) == (
        ArchiverStatus.STOPPED,
        None,
        5,
    )
    assert_invariants(state)


def test_a_new_run_may_start_only_after_the_checkpoint():
    state = act(seal(read(start(busy_world()), count=100)), StopArchive(tenant="shop"))[0]
    for at_or_before in (1, 5):
        with pytest.raises(
            ArchiveRejected, match=f"start log id {at_or_before} is already archived \\(checkpoint at 5\\)"
        ):
            decide(state, StartArchive(tenant="shop", destination="/backup/shop", start_log_id=at_or_before))
    state, (started,) = act(state, StartArchive(tenant="shop", destination="/backup/shop", start_log_id=9))
    assert started.run == 2
    archiver = state.archivers[SHOP]
    assert (archiver.run, archiver.run_start_log_id, archiver.next_log_id) == (2, 9, 9)
    assert archiver.checkpoint.last_log_id == 5  # kept until the new run seals
    state = archive_all(state)
    assert [(p.piece_no, p.run, p.first_log_id) for p in pieces_of(state)] == [
        (1, 1, 1),
        (2, 2, 9),
        (3, 2, 14),
    ]
    assert 6 not in archived_log_ids(state, SHOP)  # the stop left a gap, by the operator's choice
    assert_invariants(state)


def test_a_stopped_archiver_refuses_reads_seals_checkpoints_crashes_and_a_second_stop():
    state = act(read(start(busy_world())), StopArchive(tenant="shop"))[0]
    before = fingerprint(state)
    for action in (
        ReadEntries(tenant_id=SHOP),
        SealPiece(tenant_id=SHOP),
        PersistCheckpoint(tenant_id=SHOP),
        CrashArchiver(tenant_id=SHOP),
        StopArchive(tenant="shop"),
    ):
        with pytest.raises(ArchiveRejected, match="log archiving of tenant 'shop': no archiver is running"):
            decide(state, action)
    assert fingerprint(state) == before
    forged = EntriesRead(seq=state.seq + 1, time=state.clock, tenant_id=SHOP, first_log_id=2, last_log_id=2)
    with pytest.raises(EventOutOfOrder, match="a running archiver of tenant 1001"):
        apply(state, forged)
    assert_invariants(state)


def test_a_tenant_that_never_archived_refuses_archiver_steps():
    state = busy_world()
    with pytest.raises(ArchiveRejected, match="'blog': no archiver is running"):
        decide(state, ReadEntries(tenant_id=BLOG))
    with pytest.raises(UnknownTenant):
        decide(state, StopArchive(tenant="nobody"))


# -- apply checks that each event fits ---------------------------------------------------------


def _midway() -> ClusterState:
    """shop: piece 1 (1..5) sealed, 6..8 read into the open piece."""
    return read(seal(read(start(busy_world()), count=100)), count=3)


def _decided(state: ClusterState, action: object) -> object:
    (event,) = decide(state, action)
    return event


def _read_not_at_the_read_position(state):
    event = _decided(state, ReadEntries(tenant_id=SHOP))
    return state, event, attrs.evolve(event, first_log_id=event.first_log_id + 1, last_log_id=10)


def _read_beyond_the_log(state):
    event = _decided(state, ReadEntries(tenant_id=SHOP))
    return state, event, attrs.evolve(event, last_log_id=state.last_log_id + 1)


def _seal_skipping_a_number(state):
    event = _decided(state, SealPiece(tenant_id=SHOP))
    return state, event, attrs.evolve(event, piece_no=event.piece_no + 1)


def _seal_of_another_range(state):
    event = _decided(state, SealPiece(tenant_id=SHOP))
    return state, event, attrs.evolve(event, last_log_id=event.last_log_id - 1)


def _seal_with_another_checksum(state):
    event = _decided(state, SealPiece(tenant_id=SHOP))
    return state, event, attrs.evolve(event, checksum=event.checksum ^ 1)


def _seal_with_other_timestamps(state):
    event = _decided(state, SealPiece(tenant_id=SHOP))
    return state, event, attrs.evolve(event, min_ts=event.min_ts - 1)


def _checkpoint_behind_the_last_one(state):
    state = read(act(read(idle_shop(), count=2), PersistCheckpoint(tenant_id=SHOP))[0])
    event = _decided(state, PersistCheckpoint(tenant_id=SHOP))
    return state, event, attrs.evolve(event, last_log_id=15, archived_ts=state.log[15].time)


def _checkpoint_with_another_timestamp(state):
    state = read(idle_shop(), count=2)
    event = _decided(state, PersistCheckpoint(tenant_id=SHOP))
    return state, event, attrs.evolve(event, archived_ts=event.archived_ts + 1)


def _restart_at_the_read_position(state):
    event = _decided(state, CrashArchiver(tenant_id=SHOP))
    return state, event, attrs.evolve(event, restart_log_id=state.archivers[SHOP].next_log_id)


def _start_at_the_checkpoint(state):
    state = act(state, StopArchive(tenant="shop"))[0]
    event = _decided(state, StartArchive(tenant="shop", destination="/backup/shop", start_log_id=6))
    return state, event, attrs.evolve(event, start_log_id=5)


def _start_with_a_wrong_run_number(state):
    state = act(state, StopArchive(tenant="shop"))[0]
    event = _decided(state, StartArchive(tenant="shop", destination="/backup/shop", start_log_id=6))
    return state, event, attrs.evolve(event, run=1)


def _start_beyond_the_log(state):
    event = _decided(state, StartArchive(tenant="blog", destination="/backup/blog", start_log_id=3))
    return state, event, attrs.evolve(event, start_log_id=99)


FORGERIES = {
    _read_not_at_the_read_position: "entries read from 9",
    _read_beyond_the_log: "entries read from 9",
    _seal_skipping_a_number: "a piece to seal, numbered 2, found 3",
    _seal_of_another_range: "the open piece of tenant 1001",
    _seal_with_another_checksum: "the open piece of tenant 1001",
    _seal_with_other_timestamps: "the open piece of tenant 1001",
    _checkpoint_behind_the_last_one: "checkpoint at the read position, past the last one 17, found 15",
    _checkpoint_with_another_timestamp: "archived_ts of log id 16",
    _restart_at_the_read_position: "restart after the checkpoint at 6, found 9",
    _start_at_the_checkpoint: "a start after where archiving reached 6, found 5",
    _start_with_a_wrong_run_number: "archiving run of tenant 1001 2, found 1",
    _start_beyond_the_log: "a start log id in the kept log",
}


@pytest.mark.parametrize("forge", FORGERIES, ids=lambda forge: forge.__name__.strip("_"))
def test_apply_refuses_archive_events_that_do_not_fit(forge):
    state, genuine, forged = forge(_midway())
    before = fingerprint(state)
    with pytest.raises(EventOutOfOrder, match=re.escape(FORGERIES[forge])):
        apply(state, forged)
    assert fingerprint(state) == before
    assert_invariants(apply(state, genuine))  # the event decide made fits


def test_apply_refuses_a_checkpoint_going_back_after_a_crash_re_reads_below_it():
    state = act(read(idle_shop(), count=2), PersistCheckpoint(tenant_id=SHOP))[0]
    state = read(act(state, CrashArchiver(tenant_id=SHOP))[0])  # 15 again, below the checkpoint at 16
    forged = CheckpointPersisted(
        seq=state.seq + 1, time=state.clock, tenant_id=SHOP, last_log_id=15, archived_ts=state.log[15].time
    )
    with pytest.raises(EventOutOfOrder, match="past the last one"):
        apply(state, forged)
    assert_invariants(state)


def test_each_archive_event_type_but_the_stop_has_a_forgery_apply_refuses():
    forged = {type(forge(_midway())[2]) for forge in FORGERIES}
    assert forged == {EntriesRead, PieceSealed, CheckpointPersisted, ArchiverCrashed, ArchiveStarted}


# -- each invariant catches a planted corruption ---------------------------------------------


def _varied_state() -> ClusterState:
    """shop: pieces 1 (1..5) and 2 (6..11) sealed, 12 (shop's mutator) read into the open
    piece; blog archived through the whole log in pieces 1..3."""
    state = start(start(busy_world()), "blog")
    state = archive_all(state, BLOG)
    state = seal(read(seal(read(state, count=100)), count=100))
    state = read(state)
    assert ranges(state) == [(1, 5), (6, 11)] and state.archivers[SHOP].piece.tenant_entries == 1
    assert ranges(state, BLOG) == [(1, 5), (6, 9), (10, 14)]
    return state


def _with_piece(state, piece):
    return evolve_state(state, pieces=state.pieces.set((piece.tenant_id, piece.piece_no), piece))


def _gap_between_pieces(state):
    second = state.pieces[(SHOP, 2)]
    moved = attrs.evolve(second, first_log_id=7)
    return _with_piece(state, moved), "tenant 1001: piece 2 starts at log id 7, piece 1 ended at 5"


def _overlapping_pieces(state):
    second = state.pieces[(SHOP, 2)]
    moved = attrs.evolve(second, first_log_id=5, entries=(state.log[5], *second.entries))
    return _with_piece(state, moved), "tenant 1001: piece 2 starts at log id 5, piece 1 ended at 5"


def _entry_removed(state):
    first = state.pieces[(SHOP, 1)]
    trimmed = attrs.evolve(first, entries=first.entries[1:], entry_count=first.entry_count - 1)
    return _with_piece(state, trimmed), "tenant 1001: piece 1 does not hold exactly its range's entries"


def _entry_duplicated_into_the_next_piece(state):
    first, second = state.pieces[(SHOP, 1)], state.pieces[(SHOP, 2)]
    grown = attrs.evolve(second, entries=(first.entries[1], *second.entries))
    return _with_piece(state, grown), "tenant 1001: piece 2 does not hold exactly its range's entries"


def _range_duplicated_into_the_next_piece(state):
    second = state.pieces[(SHOP, 2)]
    grown = attrs.evolve(second, first_log_id=3, entries=(state.log[3], state.log[5], *second.entries))
    return _with_piece(state, grown), "tenant 1001: log ids [3, 5] are archived twice"


def _other_tenants_entry(state):
    first = state.pieces[(SHOP, 1)]
    foreign = attrs.evolve(first, entries=(*first.entries[:1], state.log[2], *first.entries[1:]))
    return _with_piece(state, foreign), "tenant 1001: piece 1 does not hold exactly its range's entries"


def _checkpoint_beyond_an_unsealed_entry(state):
    archiver = state.archivers[SHOP]
    claim = Checkpoint(last_log_id=12, archived_ts=state.log[12].time, pieces=2)
    forged = attrs.evolve(archiver, checkpoint=claim)
    message = "tenant 1001: run 1 covers through 12 but log id 12 is in no piece"
    return evolve_state(state, archivers=state.archivers.set(SHOP, forged)), message


def _checkpoint_with_a_later_timestamp(state):
    archiver = state.archivers[SHOP]
    forged = attrs.evolve(
        archiver, checkpoint=attrs.evolve(archiver.checkpoint, archived_ts=state.log[12].time)
    )
    return evolve_state(state, archivers=state.archivers.set(SHOP, forged)), "tenant 1001: archived_ts"


def _piece_lost_under_the_checkpoint(state):
    return evolve_state(state, pieces=state.pieces.delete((SHOP, 2))), "log id 6 is in no piece"


def _reading_behind_the_last_piece(state):
    archiver = state.archivers[SHOP]
    forged = attrs.evolve(archiver, next_log_id=6, piece=None)
    return evolve_state(
        state, archivers=state.archivers.set(SHOP, forged)
    ), "reading at 6, behind its last piece"


def _piece_checksum_forged(state):
    first = state.pieces[(SHOP, 1)]
    forged = attrs.evolve(first, checksum=(first.checksum + 1) % (1 << 64))
    return _with_piece(state, forged), "tenant 1001 piece 1: recorded"


def _piece_max_ts_forged(state):
    second = state.pieces[(SHOP, 2)]
    forged = attrs.evolve(second, max_ts=second.max_ts + 1)
    return _with_piece(state, forged), "tenant 1001 piece 2: recorded"


CORRUPTIONS = {
    "archive_piece_figures_recompute": [_piece_checksum_forged, _piece_max_ts_forged],
    "archive_pieces_consecutive": [_gap_between_pieces, _overlapping_pieces],
    "archive_pieces_hold_exactly_their_range": [
        _entry_removed,
        _entry_duplicated_into_the_next_piece,
        _range_duplicated_into_the_next_piece,
        _other_tenants_entry,
    ],
    "archive_checkpoint_honest": [
        _checkpoint_beyond_an_unsealed_entry,
        _checkpoint_with_a_later_timestamp,
        _piece_lost_under_the_checkpoint,
        _reading_behind_the_last_piece,
    ],
}


def test_every_archive_invariant_has_a_planted_corruption_here_or_in_test_retention():
    # the log retention invariants plant theirs in test_retention.py, on states with holes
    # (its test_every_retention_invariant_... names the same two)
    assert set(CORRUPTIONS) == {inv.name for inv in ARCHIVE_INVARIANTS} - RETENTION_INVARIANTS


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
def test_each_archive_invariant_catches_its_planted_corruption(varied, name, corrupt):
    assert_catches(ARCHIVE_INVARIANTS, name, varied, corrupt)
