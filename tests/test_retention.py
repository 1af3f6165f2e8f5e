"""Log retention under archiving (DESIGN 11, flaw 9), driven through the model's decide and apply.

The transaction server recycles its commit log (``RecycleLog``): no further than the newest
freeze entry, never from the first entry of a transaction still open, and, for a tenant that
archives *backup first*, never past what its running archiver has sealed into a piece. A
*business first* tenant's archiver may find its next entry recycled: it then skips
(``SkipRecycledLog``), ends its run and records the log ids it lost as holes, each with its
reason ("crash before a seal" for what it had read and lost in a crash, "recycled log" for
what it never read).

The scenarios run over the busy log of ``test_archive`` (BUSY_LOG: 14 entries of shop and
blog interleaved with heartbeats, the freeze at log id 8, no transaction open after it),
with each tenant's log retention chosen. What is expected is written out by hand from that
log; every scenario ends with every state invariant checked.
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
    ONE_KEY,
    RETENTION_INVARIANTS,
    SHOP,
    act,
    archive_all,
    archived_log_ids,
    assert_catches,
    assert_invariants,
    commit_rows,
    drive_backup,
    pieces_of,
    put,
    ranges,
    read,
    recycle,
    retention_world,
    seal,
    skip,
    start,
)

from ybstate.archive.actions import (
    CrashArchiver,
    PersistCheckpoint,
    ReadEntries,
    RecycleLog,
    SkipRecycledLog,
    StartArchive,
    StopArchive,
)
from ybstate.archive.enabled import archive_enabled
from ybstate.archive.events import ArchiveResumed, ArchiveStarted, EntriesRead, LogRecycled
from ybstate.archive.invariants import ARCHIVE_INVARIANTS
from ybstate.archive.retention import retention_limit
from ybstate.archive.state import CRASH_BEFORE_SEAL, RECYCLED, STOPPED, Hole, RunSpan
from ybstate.archive.window import Covered, Interval, restorable_window, segments
from ybstate.backup.actions import StartBackup
from ybstate.cluster.actions import Commit, CreateTable, CreateTenant, Freeze, Start, Tick
from ybstate.cluster.state import ClusterConfig, ClusterState, LogRetention, evolve_state
from ybstate.drivers.explore import explore
from ybstate.errors import (
    ArchiveRejected,
    EventOutOfOrder,
    InvalidAction,
    RecycleRejected,
    StartLogRecycled,
)
from ybstate.kernel import Invariant, Spec
from ybstate.model import EMPTY, ArchiveScope, Scope, apply, decide, fingerprint, model_spec

BACKUP_FIRST, BUSINESS_FIRST = LogRetention.BACKUP_FIRST, LogRetention.BUSINESS_FIRST
FREEZE_AT_8 = "the newest freeze entry is log id 8"
SHOP_KEEPS = [log_id for log_id, _, owner in BUSY_LOG if owner in (SHOP, None)]  # 1 3 5 6 8 11 12 13 14


def resumed(after: ClusterState, run: int, start_log_id: int, lost=(0, 0), recycled=(0, 0)) -> ArchiveResumed:
    """The ArchiveResumed event shop's skip must have made, ``after`` being the state it led to."""
    return ArchiveResumed(
        seq=after.seq,
        time=after.clock,
        tenant_id=SHOP,
        run=run,
        start_log_id=start_log_id,
        lost_first=lost[0],
        lost_last=lost[1],
        recycled_first=recycled[0],
        recycled_last=recycled[1],
    )


def sealed_first_piece(state: ClusterState) -> ClusterState:
    """shop's archiver started at log id 1 with piece 1 (log ids 1..5) sealed."""
    state = seal(read(start(state), count=100))
    assert ranges(state) == [(1, 5)] and state.archivers[SHOP].sealed_through == 5
    return state


def test_the_retention_world_is_the_busy_log_with_the_chosen_retention():
    state = retention_world(shop=BUSINESS_FIRST)
    kinds = {"TableCreated": "DDL", "MutatorLogged": "MUTATOR", "TransactionCommitted": "COMMIT"}
    kinds |= {"HeartbeatLogged": "HEARTBEAT", "VersionFrozen": "FREEZE"}
    found = tuple(
        (log_id, kinds[type(entry).__name__], getattr(entry, "tenant_id", None))
        for log_id, entry in sorted(state.log.items())
    )
    assert found == BUSY_LOG
    retention = {name: state.tenant_named(name).log_retention for name in ("shop", "blog")}
    assert retention == {"shop": BUSINESS_FIRST, "blog": BACKUP_FIRST}
    assert (state.recycled_through, len(state.open_txns)) == (0, 0)
    assert_invariants(state)


# -- how far the log may be recycled ---------------------------------------------------------


def test_recycling_is_refused_before_any_freeze_and_the_refusal_says_no_freeze_holds_the_log():
    state = act(
        EMPTY,
        Start(config=CONFIG),
        CreateTenant(name="shop"),
        CreateTable(tenant="shop", table="orders", tablets=1),
    )[0]
    state = commit_rows(state, "shop", {("orders", "o1"): "v"})
    assert state.last_log_id == 3 and not state.frozen
    assert retention_limit(state) == (0, "no freeze yet: no baseline holds what the log wrote")
    with pytest.raises(RecycleRejected) as refused:
        decide(state, RecycleLog(through=2))
    assert str(refused.value) == (
        "cannot recycle the log through log id 2: no freeze yet: no baseline holds what the log wrote, "
        "so log id 0 is the furthest"
    )
    assert (refused.value.through, refused.value.limit) == (2, 0)
    with pytest.raises(RecycleRejected, match="no freeze yet"):
        decide(state, RecycleLog())
    assert state.recycled_through == 0


def test_recycling_goes_no_further_than_the_newest_freeze_entry():
    state = retention_world()
    assert retention_limit(state) == (8, FREEZE_AT_8)
    with pytest.raises(RecycleRejected) as refused:
        decide(state, RecycleLog(through=9))
    assert (
        str(refused.value)
        == f"cannot recycle the log through log id 9: {FREEZE_AT_8}, so log id 8 is the furthest"
    )
    assert (refused.value.through, refused.value.limit) == (9, 8)
    state, (recycled,) = act(state, RecycleLog(through=8))
    assert recycled == LogRecycled(seq=state.seq, time=state.clock, through=8)
    state, _ = act(state, Freeze())  # log id 15: the newest freeze moves the limit
    assert retention_limit(state) == (15, "the newest freeze entry is log id 15")
    state = recycle(state, 15)
    assert state.recycled_through == 15
    assert_invariants(state)


def test_an_open_transaction_pins_the_log_from_its_first_log_id():
    state, _ = act(retention_world(), put("shop", "orders", "o3"), Freeze())  # tx 5 opens at 15, freeze at 16
    assert state.open_txns[5].first_log_id == 15 and state.last_log_id == 16
    assert retention_limit(state) == (14, "transaction 5 is not in a baseline and began at log id 15")
    with pytest.raises(
        RecycleRejected,
        match=re.escape(
            "through log id 15: transaction 5 is not in a baseline and began at log id 15, "
            "so log id 14 is the furthest"
        ),
    ):
        decide(state, RecycleLog(through=15))
    state, (recycled,) = act(state, RecycleLog())
    assert recycled.through == 14 and state.recycled_through == 14
    assert_invariants(state)


def test_a_transaction_open_at_the_newest_freeze_still_pins_its_first_log_id_after_it_commits():
    # tx 5's mutator is log id 15, the freeze at 16 leaves it out of the baseline, it commits at 17.
    state, _ = act(retention_world(), put("shop", "orders", "o3"), Freeze(), Commit(tx=5))
    (open_at_freeze,) = state.frozen[state.frozen_version].open_transactions
    assert (open_at_freeze.tx_id, open_at_freeze.first_log_id, state.last_log_id) == (5, 15, 17)
    state, (begun,) = act(state, StartBackup(tenant="shop", destination="/backup/shop"))
    state, _ = drive_backup(state, begun.task_id)
    assert state.backup_sets[1].start_replay_log_id == 15  # a restore from this set replays from 15
    assert retention_limit(state) == (14, "transaction 5 is not in a baseline and began at log id 15")


def test_recycling_must_move_past_what_is_already_recycled():
    state = recycle(retention_world(), 5)
    assert state.recycled_through == 5
    state = recycle(state)  # as far as allowed: 8
    assert state.recycled_through == 8
    before = fingerprint(state)
    for through in (3, 8):
        with pytest.raises(RecycleRejected) as refused:
            decide(state, RecycleLog(through=through))
        assert str(refused.value) == (
            f"cannot recycle the log through log id {through}: the log is recycled through log id 8 "
            f"already ({FREEZE_AT_8})"
        )
    with pytest.raises(RecycleRejected) as refused:
        decide(state, RecycleLog())  # as far as allowed: no further than where it is
    assert str(refused.value) == (
        "cannot recycle the log through log id 8: nothing more may be recycled after log id 8 "
        f"({FREEZE_AT_8})"
    )
    assert (refused.value.through, refused.value.limit) == (8, 8)
    assert fingerprint(state) == before


def test_recycling_through_zero_goes_as_far_as_allowed():
    state = retention_world()
    assert RecycleLog().through == 0
    state, (recycled,) = act(state, RecycleLog())
    assert recycled == LogRecycled(seq=state.seq, time=state.clock, through=8)
    assert state.recycled_through == 8
    assert_invariants(state)


@pytest.mark.parametrize("through", [-1, -8])
def test_a_negative_recycle_point_is_an_invalid_action(through):
    with pytest.raises(InvalidAction, match=f"got {through}$") as refused:
        decide(retention_world(), RecycleLog(through=through))
    assert not isinstance(refused.value, RecycleRejected)


@pytest.mark.parametrize(
    ("already", "through", "message"),
    [
        (0, 9, f"a recycle point after 0 ({FREEZE_AT_8}) 8, found 9"),
        (0, 0, f"a recycle point after 0 ({FREEZE_AT_8}) 8, found 0"),
        (5, 5, f"a recycle point after 5 ({FREEZE_AT_8}) 8, found 5"),
        (5, 4, f"a recycle point after 5 ({FREEZE_AT_8}) 8, found 4"),
    ],
)
def test_apply_refuses_a_forged_recycle_outside_the_allowed_range_and_the_state_is_unchanged(
    already, through, message
):
    state = recycle(retention_world(), already) if already else retention_world()
    before = fingerprint(state)
    forged = LogRecycled(seq=state.seq + 1, time=state.clock, through=through)
    with pytest.raises(EventOutOfOrder, match=re.escape(message)):
        apply(state, forged)
    assert fingerprint(state) == before and state.recycled_through == already


def test_apply_refuses_a_forged_recycle_past_a_backup_first_archivers_last_piece():
    state = read(sealed_first_piece(retention_world()), count=3)
    forged = LogRecycled(seq=state.seq + 1, time=state.clock, through=8)
    with pytest.raises(EventOutOfOrder, match="sealed its log through log id 5\\) 5, found 8"):
        apply(state, forged)


# -- backup first: a running archiver pins its log ---------------------------------------------


def test_a_running_backup_first_archiver_pins_the_log_after_its_last_sealed_piece():
    state = read(sealed_first_piece(retention_world()), count=3)  # 6..8 in the open piece
    why = "tenant 'shop' archives backup first and has sealed its log through log id 5"
    assert retention_limit(state) == (5, why)
    with pytest.raises(RecycleRejected) as refused:
        decide(state, RecycleLog(through=8))
    assert (
        str(refused.value) == f"cannot recycle the log through log id 8: {why}, so log id 5 is the furthest"
    )
    assert (refused.value.through, refused.value.limit) == (8, 5)
    state = recycle(state)
    assert state.recycled_through == 5
    assert_invariants(state)


def test_a_backup_first_archiver_that_has_sealed_nothing_pins_the_log_from_its_start():
    state = read(start(retention_world(), start_log_id=3), count=2)
    assert retention_limit(state) == (
        2,
        "tenant 'shop' archives backup first and has sealed its log through log id 2",
    )
    assert recycle(state).recycled_through == 2


def test_after_a_backup_first_archiver_seals_the_log_can_be_recycled_that_far():
    state = seal(read(sealed_first_piece(retention_world()), count=3))
    assert ranges(state) == [(1, 5), (6, 8)]
    assert retention_limit(state) == (8, FREEZE_AT_8)
    state = recycle(state, 8)
    assert state.recycled_through == 8
    state = archive_all(state)
    assert ranges(state) == [(1, 5), (6, 8), (9, 13), (14, 14)]
    assert state.archivers[SHOP].holes == ()
    assert_invariants(state)


def test_a_backup_first_archiver_crashing_after_a_recycle_re_reads_without_a_hole():
    state = read(sealed_first_piece(retention_world()), count=3)  # 6..8 read, unsealed
    state = recycle(state)
    assert state.recycled_through == 5
    state, (crashed,) = act(state, CrashArchiver(tenant_id=SHOP))
    assert (crashed.restart_log_id, crashed.lost_entries) == (6, 2)
    state = archive_all(state)
    assert ranges(state) == [(1, 5), (6, 11), (12, 14)]
    assert archived_log_ids(state, SHOP) == Counter(SHOP_KEEPS)  # every kept entry exactly once
    archiver = state.archivers[SHOP]
    assert (archiver.holes, archiver.run, archiver.crashes) == ((), 1, 1)
    assert restorable_window(state, SHOP).holes == ()
    assert_invariants(state)


def test_every_running_backup_first_archiver_pins_not_only_the_first():
    # shop (the first tenant) has sealed through 5; blog, started later at 3, has sealed
    # nothing: the later one, further behind, holds the limit.
    state = read(sealed_first_piece(retention_world()), count=3)
    state = read(start(state, "blog", start_log_id=3), count=2, tenant_id=BLOG)
    assert (state.archivers[SHOP].sealed_through, state.archivers[BLOG].sealed_through) == (5, 2)
    assert retention_limit(state) == (
        2,
        "tenant 'blog' archives backup first and has sealed its log through log id 2",
    )
    with pytest.raises(RecycleRejected):
        decide(state, RecycleLog(through=3))
    assert_invariants(recycle(state))


def test_only_backup_first_archivers_pin_the_log():
    state = start(retention_world(shop=BUSINESS_FIRST), "blog")  # blog, backup first, has sealed nothing
    state = read(start(state), count=3)  # shop, business first, has sealed nothing either
    assert retention_limit(state) == (
        0,
        "tenant 'blog' archives backup first and has sealed its log through log id 0",
    )
    state = archive_all(state, BLOG)
    assert retention_limit(state) == (8, FREEZE_AT_8)  # shop's unsealed read pins nothing
    assert_invariants(recycle(state))


def test_a_stopped_backup_first_archiver_pins_nothing_and_restarts_after_a_stopped_hole():
    state = read(sealed_first_piece(retention_world()), count=3)
    state = act(state, StopArchive(tenant="shop"))[0]
    assert retention_limit(state) == (8, FREEZE_AT_8)
    state = recycle(state)
    assert state.recycled_through == 8
    with pytest.raises(StartLogRecycled):
        decide(state, StartArchive(tenant="shop", destination="/backup/shop", start_log_id=6))
    state, (started,) = act(state, StartArchive(tenant="shop", destination="/backup/shop", start_log_id=9))
    assert (started.run, started.hole_first, started.hole_last) == (2, 6, 8)
    assert state.archivers[SHOP].holes == (Hole(first_log_id=6, last_log_id=8, reason=STOPPED),)
    state = archive_all(state)
    assert_invariants(state)


# -- business first: recycled log leaves holes -------------------------------------------------


def test_recycling_past_a_business_first_archivers_unread_log_refuses_its_reads():
    state = sealed_first_piece(retention_world(shop=BUSINESS_FIRST))
    assert retention_limit(state) == (8, FREEZE_AT_8)
    state = recycle(state)
    assert state.recycled_through == 8
    with pytest.raises(ArchiveRejected) as refused:
        decide(state, ReadEntries(tenant_id=SHOP, count=1))
    assert str(refused.value) == (
        "log archiving of tenant 'shop': log id 6 is recycled (the log is kept from log id 9); skip to it"
    )
    forged = EntriesRead(seq=state.seq + 1, time=state.clock, tenant_id=SHOP, first_log_id=6, last_log_id=6)
    with pytest.raises(EventOutOfOrder, match=re.escape("a read of kept log, after log id 8, found 6")):
        apply(state, forged)
    offered = archive_enabled(
        state, Scope(archive=ArchiveScope(archive_tenants=("shop",), archive_stop=True))
    )
    assert offered == [SkipRecycledLog(tenant_id=SHOP), StopArchive(tenant="shop")]
    assert_invariants(state)


def test_skipping_recycled_log_records_a_recycled_log_hole_and_starts_a_new_run_after_it():
    state = recycle(sealed_first_piece(retention_world(shop=BUSINESS_FIRST)))
    five = state.log[5].time
    state, event = skip(state)
    assert event == resumed(state, run=2, start_log_id=9, recycled=(6, 8))
    archiver = state.archivers[SHOP]
    assert archiver.holes == (Hole(first_log_id=6, last_log_id=8, reason=RECYCLED),)
    assert (archiver.run, archiver.run_start_log_id, archiver.next_log_id) == (2, 9, 9)
    assert (archiver.sealed_through, archiver.read_through, archiver.reach) == (8, 8, 8)
    assert archiver.past_runs == (RunSpan(run=1, start_log_id=1, through=5, through_ts=five),)
    state = archive_all(state)
    assert [(p.run, p.first_log_id, p.last_log_id) for p in pieces_of(state)] == [
        (1, 1, 5),
        (2, 9, 13),
        (2, 14, 14),
    ]
    assert archived_log_ids(state, SHOP) == Counter([1, 3, 5, 11, 12, 13, 14])  # 6 and 8 recycled unread
    assert_invariants(state)


def crash_then_recycle() -> ClusterState:
    """shop business first; a freeze at 15; piece 1 (1..5) sealed, 6..11 read, then a crash
    (the archiver restarts at 6 with read_through 11), then the log recycled through 15."""
    state = act(retention_world(shop=BUSINESS_FIRST), Freeze())[0]
    state = read(sealed_first_piece(state), count=100)
    assert state.archivers[SHOP].next_log_id == 12  # 6, 8 and 11 kept: the piece is full
    state = act(state, CrashArchiver(tenant_id=SHOP))[0]
    archiver = state.archivers[SHOP]
    assert (archiver.next_log_id, archiver.read_through, archiver.reach) == (6, 11, 5)
    return recycle(state)


def test_a_crash_then_recycling_leaves_a_crash_before_a_seal_hole_and_a_recycled_log_hole():
    state = crash_then_recycle()
    assert state.recycled_through == 15
    state, event = skip(state)
    assert event == resumed(state, run=2, start_log_id=16, lost=(6, 11), recycled=(12, 15))
    assert state.archivers[SHOP].holes == (
        Hole(first_log_id=6, last_log_id=11, reason=CRASH_BEFORE_SEAL),
        Hole(first_log_id=12, last_log_id=15, reason=RECYCLED),
    )
    assert_invariants(state)
    state = archive_all(commit_rows(state, "shop", {("orders", "o3"): "v"}))
    assert [(p.run, p.first_log_id, p.last_log_id) for p in pieces_of(state)] == [(1, 1, 5), (2, 16, 17)]
    assert_invariants(state)


def test_a_crash_then_recycling_only_part_of_what_was_read_leaves_only_a_crash_before_a_seal_hole():
    state = act(retention_world(shop=BUSINESS_FIRST), Freeze())[0]
    state = read(sealed_first_piece(state), count=100)
    state = recycle(act(state, CrashArchiver(tenant_id=SHOP))[0], 8)
    state, event = skip(state)
    assert event == resumed(state, run=2, start_log_id=9, lost=(6, 8))
    assert state.archivers[SHOP].holes == (Hole(first_log_id=6, last_log_id=8, reason=CRASH_BEFORE_SEAL),)
    state = archive_all(state)  # 9..11, read before the crash, are kept and read again
    assert ranges(state) == [(1, 5), (9, 13), (14, 15)]
    assert_invariants(state)


def test_skipping_is_refused_while_the_open_piece_holds_entries_until_it_is_sealed():
    state = recycle(read(start(retention_world(shop=BUSINESS_FIRST))))  # shop's DDL read, unsealed
    assert state.recycled_through == 8
    with pytest.raises(ArchiveRejected) as refused:
        decide(state, SkipRecycledLog(tenant_id=SHOP))
    assert (refused.value.tenant, refused.value.why) == (
        "shop",
        "the open piece holds entries; seal it first",
    )
    state = seal(state)
    assert ranges(state) == [(1, 1)]
    state, event = skip(state)
    assert (event.start_log_id, event.recycled_first, event.recycled_last) == (9, 2, 8)
    assert_invariants(state)


def test_skipping_is_refused_while_the_next_entry_is_still_kept():
    state = sealed_first_piece(retention_world(shop=BUSINESS_FIRST))
    for through in (0, 5):
        state = recycle(state, through) if through else state
        with pytest.raises(ArchiveRejected) as refused:
            decide(state, SkipRecycledLog(tenant_id=SHOP))
        assert refused.value.why == "log id 6 is still kept; there is nothing to skip"
    assert state.recycled_through == 5
    assert SkipRecycledLog(tenant_id=SHOP) not in archive_enabled(
        state, Scope(archive=ArchiveScope(archive_tenants=("shop",)))
    )


def test_skipping_is_refused_while_what_was_read_is_not_persisted_until_it_is_checkpointed():
    state = read(start(retention_world(shop=BUSINESS_FIRST), start_log_id=2))  # blog's DDL: read, not kept
    state = recycle(state)
    with pytest.raises(ArchiveRejected) as refused:
        decide(state, SkipRecycledLog(tenant_id=SHOP))
    assert refused.value.why == "read through log id 2 but not persisted; checkpoint it first"
    state = act(state, PersistCheckpoint(tenant_id=SHOP))[0]
    state, event = skip(state)
    assert event == resumed(state, run=2, start_log_id=9, recycled=(3, 8))
    assert_invariants(state)


def test_skipping_is_refused_without_a_running_archiver():
    state = recycle(
        act(sealed_first_piece(retention_world(shop=BUSINESS_FIRST)), StopArchive(tenant="shop"))[0]
    )
    with pytest.raises(ArchiveRejected, match="'shop': no archiver is running"):
        decide(state, SkipRecycledLog(tenant_id=SHOP))


@pytest.mark.parametrize(
    "change",
    [
        {"run": 3},
        {"start_log_id": 10},
        {"lost_first": 6, "lost_last": 8},
        {"recycled_first": 7},
        {"recycled_last": 7},
    ],
    ids=lambda change: ",".join(change),
)
def test_apply_refuses_a_forged_resumption(change):
    state = recycle(sealed_first_piece(retention_world(shop=BUSINESS_FIRST)))
    (genuine,) = decide(state, SkipRecycledLog(tenant_id=SHOP))
    before = fingerprint(state)
    with pytest.raises(EventOutOfOrder, match="the resumption of tenant 1001's archiving"):
        apply(state, attrs.evolve(genuine, **change))
    assert fingerprint(state) == before
    assert_invariants(apply(state, genuine))


# -- starting at recycled log -------------------------------------------------------------------


@pytest.mark.parametrize("start_log_id", [1, 6, 8])
def test_starting_at_a_recycled_log_id_is_refused_naming_the_first_kept_log_id(start_log_id):
    state = recycle(retention_world())
    with pytest.raises(StartLogRecycled) as refused:
        decide(state, StartArchive(tenant="shop", destination="/backup/shop", start_log_id=start_log_id))
    assert isinstance(refused.value, ArchiveRejected)
    assert str(refused.value) == (
        f"log archiving of tenant 'shop': start log id {start_log_id} is already recycled "
        "(the log is kept from log id 9)"
    )
    assert (refused.value.start_log_id, refused.value.recycled_through) == (start_log_id, 8)
    state, (started,) = act(state, StartArchive(tenant="shop", destination="/backup/shop", start_log_id=9))
    assert started.start_log_id == 9
    assert_invariants(state)


def test_starting_from_the_newest_backup_set_is_refused_when_its_start_replay_log_id_is_recycled():
    state, (first,) = act(retention_world(), StartBackup(tenant="shop", destination="/backup/shop"))
    state, _ = drive_backup(state, first.task_id)
    assert state.backup_sets[1].start_replay_log_id == 9  # nothing open at the freeze at 8
    state = recycle(act(state, Freeze())[0])  # the freeze at 15
    assert state.recycled_through == 15
    default = StartArchive(tenant="shop", destination="/backup/shop")
    with pytest.raises(StartLogRecycled) as refused:
        decide(state, default)
    assert str(refused.value) == (
        "log archiving of tenant 'shop': start log id 9 is already recycled (the log is kept from log id 16)"
    )
    forged = ArchiveStarted(
        seq=state.seq + 1, time=state.clock, tenant_id=SHOP, destination="/backup/shop", start_log_id=9, run=1
    )
    with pytest.raises(EventOutOfOrder, match=re.escape("a start log id in the kept log (16, 16), found 9")):
        apply(state, forged)
    state, (second,) = act(state, StartBackup(tenant="shop", destination="/backup/shop"))
    state, _ = drive_backup(state, second.task_id)
    state, (started,) = act(state, default)  # the newer set replays from 16, which is kept
    assert started.start_log_id == state.backup_sets[2].start_replay_log_id == 16
    assert_invariants(state)


# -- the restorable window ----------------------------------------------------------------------


def test_the_window_lists_each_hole_with_its_reason_and_exact_range():
    state = skip(crash_then_recycle())[0]
    state = archive_all(commit_rows(state, "shop", {("orders", "o3"): "v"}))
    window = restorable_window(state, SHOP)
    assert window.holes == (
        Hole(first_log_id=6, last_log_id=11, reason=CRASH_BEFORE_SEAL),
        Hole(first_log_id=12, last_log_id=15, reason=RECYCLED),
    )
    assert window.covered == (
        Covered(run=1, first_log_id=1, last_log_id=5, until_ts=state.log[5].time),
        Covered(run=2, first_log_id=16, last_log_id=17, until_ts=state.log[17].time),
    )
    assert_invariants(state)


def test_adjacent_recycled_holes_of_two_skips_merge_in_the_window():
    state = skip(recycle(sealed_first_piece(retention_world(shop=BUSINESS_FIRST))))[
        0
    ]  # hole 6..8, run 2 at 9
    state = skip(recycle(act(state, Freeze())[0]))[0]  # run 2 read nothing: hole 9..15, run 3 at 16
    archiver = state.archivers[SHOP]
    assert archiver.holes == (
        Hole(first_log_id=6, last_log_id=8, reason=RECYCLED),
        Hole(first_log_id=9, last_log_id=15, reason=RECYCLED),
    )
    assert (archiver.run, archiver.run_start_log_id) == (3, 16)
    assert restorable_window(state, SHOP).holes == (Hole(first_log_id=6, last_log_id=15, reason=RECYCLED),)
    assert_invariants(state)


def test_a_backup_set_whose_replay_range_straddles_a_recycled_hole_gets_no_interval_from_the_old_segment():
    state = archive_all(start(retention_world(shop=BUSINESS_FIRST)))  # shop archived through 14
    state, _ = act(state, put("shop", "orders", "o3"), Freeze(), Commit(tx=5))  # 15 mutator, 16, 17
    state, (begun,) = act(state, StartBackup(tenant="shop", destination="/backup/shop"))
    state, _ = drive_backup(state, begun.task_id)
    first_set = state.backup_sets[1]
    assert (first_set.start_replay_log_id, state.frozen[first_set.frozen_version].log_id) == (15, 16)
    state = seal(read(state))  # 15 alone: the archive reaches into the set's replay range
    assert ranges(state)[-1] == (15, 15)

    # Without a hole the archive goes on past the freeze, and the set is restorable.
    whole = archive_all(state)
    assert restorable_window(whole, SHOP).intervals == (
        Interval(from_ts=first_set.snapshot_ts, to_ts=whole.log[17].time, set_id=1),
    )

    # With 16..19 recycled unread, the segment holding 15 ends short of the freeze at 16.
    state, _ = act(state, Tick(micros=10), Freeze())  # 18, 19
    state = skip(recycle(state))[0]
    assert state.archivers[SHOP].holes == (Hole(first_log_id=16, last_log_id=19, reason=RECYCLED),)
    state = commit_rows(state, "shop", {("orders", "o4"): "v"})  # 20, 21
    state, (again,) = act(state, StartBackup(tenant="shop", destination="/backup/shop"))
    state, _ = drive_backup(state, again.task_id)
    assert state.backup_sets[2].start_replay_log_id == 20
    state = archive_all(state)
    window = restorable_window(state, SHOP)
    assert [(s.first_log_id, s.last_log_id) for s in segments(list(window.covered))] == [(1, 15), (20, 21)]
    assert window.intervals == (
        Interval(from_ts=state.backup_sets[2].snapshot_ts, to_ts=state.log[21].time, set_id=2),
    )
    assert_invariants(state)


def test_a_skip_below_what_the_run_reached_leaves_no_hole_and_the_runs_form_one_segment():
    state, (begun,) = act(
        retention_world(shop=BUSINESS_FIRST), StartBackup(tenant="shop", destination="/backup/shop")
    )
    state, _ = drive_backup(state, begun.task_id)  # set 1: the freeze at 8, replay from 9
    state = archive_all(start(state))  # through 14
    state, _ = act(state, Tick(micros=10))  # 15
    state = commit_rows(state, "blog", {("posts", "p3"): "v"})  # 16, 17
    state, _ = act(state, Tick(micros=10), Freeze())  # 18, 19
    state = act(read(state, count=4), PersistCheckpoint(tenant_id=SHOP))[0]  # idle checkpoint at 18
    state = act(state, CrashArchiver(tenant_id=SHOP))[0]  # reads on from 15 (after piece 14..14)
    state = recycle(state, 16)  # below the idle checkpoint
    state, event = skip(state)
    assert event == resumed(state, run=2, start_log_id=19)
    assert state.archivers[SHOP].holes == ()
    state = seal(read(state))  # the freeze at 19
    window = restorable_window(state, SHOP)
    assert window.covered == (
        Covered(run=1, first_log_id=1, last_log_id=18, until_ts=state.log[18].time),
        Covered(run=2, first_log_id=19, last_log_id=19, until_ts=state.log[19].time),
    )
    assert segments(list(window.covered)) == [
        Covered(run=1, first_log_id=1, last_log_id=19, until_ts=state.log[19].time)
    ]
    assert window.holes == ()
    assert window.intervals == (
        Interval(from_ts=state.backup_sets[1].snapshot_ts, to_ts=state.log[19].time, set_id=1),
    )
    assert_invariants(state)


# -- each retention invariant catches a planted corruption --------------------------------------


def _retention_state() -> ClusterState:
    """shop (business first): piece 1 (1..5), hole 6..8 (recycled log), run 2 archived 9..14.
    blog (backup first): running, pieces 1..5 and 6..9 sealed."""
    state = start(start(retention_world(shop=BUSINESS_FIRST)), "blog")
    state = seal(read(seal(read(state, count=100, tenant_id=BLOG), BLOG), count=100, tenant_id=BLOG), BLOG)
    assert ranges(state, BLOG) == [(1, 5), (6, 9)]
    state = seal(read(state, count=100))
    state = archive_all(skip(recycle(state))[0])
    assert ranges(state) == [(1, 5), (9, 13), (14, 14)]
    assert state.archivers[SHOP].holes == (Hole(first_log_id=6, last_log_id=8, reason=RECYCLED),)
    return state


def _with_archiver(state: ClusterState, tenant_id: int, **changes) -> ClusterState:
    archiver = attrs.evolve(state.archivers[tenant_id], **changes)
    return evolve_state(state, archivers=state.archivers.set(tenant_id, archiver))


def _hole_dropped(state):
    return _with_archiver(state, SHOP, holes=()), "tenant 1001: run 2 starts at log id 9, expected 6"


def _hole_shrunk(state):
    hole = Hole(first_log_id=6, last_log_id=7, reason=RECYCLED)
    return _with_archiver(state, SHOP, holes=(hole,)), "tenant 1001: run 2 starts at log id 9, expected 8"


def _overlapping_hole_added(state):
    extra = Hole(first_log_id=5, last_log_id=7, reason=STOPPED)
    corrupted = _with_archiver(state, SHOP, holes=(*state.archivers[SHOP].holes, extra))
    return corrupted, "tenant 1001: hole (stopped) starts at log id 5, expected 6"


def _hole_recorded_twice(state):
    (hole,) = state.archivers[SHOP].holes
    corrupted = _with_archiver(state, SHOP, holes=(hole, hole))
    return corrupted, "tenant 1001: hole (recycled log) starts at log id 6, expected 9"


def _hole_beyond_the_reach(state):
    extra = Hole(first_log_id=15, last_log_id=16, reason=RECYCLED)
    corrupted = _with_archiver(state, SHOP, holes=(*state.archivers[SHOP].holes, extra))
    return corrupted, "tenant 1001: runs and holes end at log id 16, reach is 14"


def _piece_inside_a_hole(state):
    piece = state.pieces[(SHOP, 2)]
    moved = attrs.evolve(piece, first_log_id=8)
    corrupted = evolve_state(state, pieces=state.pieces.set((SHOP, 2), moved))
    return corrupted, "tenant 1001: piece 2 overlaps the hole"


def _recycled_past_a_backup_first_archivers_last_piece(state):
    corrupted = evolve_state(state, recycled_through=10)
    return (
        corrupted,
        "tenant 'blog' (backup first): log recycled through 10, its archiver has sealed only through 9",
    )


def _backup_first_tenant_with_a_recycled_log_hole(state):
    hole = Hole(first_log_id=10, last_log_id=11, reason=RECYCLED)
    return _with_archiver(state, BLOG, holes=(hole,)), "tenant 'blog' (backup first) has holes"


def _backup_first_tenant_with_a_crash_before_a_seal_hole(state):
    hole = Hole(first_log_id=10, last_log_id=11, reason=CRASH_BEFORE_SEAL)
    return _with_archiver(state, BLOG, holes=(hole,)), "tenant 'blog' (backup first) has holes"


RETENTION_CORRUPTIONS = {
    "archive_holes_account_for_the_rest": [
        _hole_dropped,
        _hole_shrunk,
        _overlapping_hole_added,
        _hole_recorded_twice,
        _hole_beyond_the_reach,
        _piece_inside_a_hole,
    ],
    "archive_backup_first_pins_its_log": [
        _recycled_past_a_backup_first_archivers_last_piece,
        _backup_first_tenant_with_a_recycled_log_hole,
        _backup_first_tenant_with_a_crash_before_a_seal_hole,
    ],
}


def test_every_retention_invariant_is_an_archive_invariant_with_a_planted_corruption():
    names = {inv.name for inv in ARCHIVE_INVARIANTS}
    assert set(RETENTION_CORRUPTIONS) == RETENTION_INVARIANTS
    assert set(RETENTION_CORRUPTIONS) <= names


@pytest.fixture(scope="module")
def retained() -> ClusterState:
    state = _retention_state()
    assert_invariants(state)
    return state


@pytest.mark.parametrize(
    ("name", "corrupt"),
    [(name, corrupt) for name, corruptions in RETENTION_CORRUPTIONS.items() for corrupt in corruptions],
    ids=lambda value: value if isinstance(value, str) else value.__name__.strip("_"),
)
def test_each_retention_invariant_catches_its_planted_corruption(retained, name, corrupt):
    assert_catches(ARCHIVE_INVARIANTS, name, retained, corrupt)


# -- exhaustive exploration ---------------------------------------------------------------------

T1 = 1001
TINY = Scope(
    cluster=attrs.evolve(
        ONE_KEY,
        max_cells_per_txn=1,
        max_log=3,  # the DDL entry and two more: a write, its commit, a freeze
        freeze=True,
        config=ClusterConfig(data_servers=1, piece_entries=2),
    ),
    archive=ArchiveScope(
        archive_tenants=("t1",),
        archive_batch=2,
        archiver_crashes=1,
        recycle_log=True,
    ),
)


def noting(spec: Spec, seen: set) -> Spec:
    """``spec`` with one more invariant that never fails: it notes in ``seen`` the holes of
    t1's archive, whether the log was recycled and whether the archiver crashed."""

    def note(state: ClusterState) -> None:
        if state.recycled_through:
            seen.add("recycled")
        archiver = state.archivers.get(T1)
        if archiver is not None:
            seen.update(archiver.holes)
            if archiver.crashes:
                seen.add("crashed")
            if archiver.crashes and state.recycled_through >= archiver.next_log_id:
                seen.add("crashed, its next entry recycled")
        return None

    return attrs.evolve(spec, invariants=(*spec.invariants, Invariant(name="note", check=note)))


def test_exploring_a_business_first_tenant_with_a_crash_and_recycling_finds_no_violation():
    seen: set = set()
    result = explore(
        noting(
            model_spec(attrs.evolve(TINY, cluster=attrs.evolve(TINY.cluster, business_first=("t1",)))), seen
        )
    )
    assert result.complete and result.violation is None
    assert result.distinct_states > 1000
    reasons = {item.reason for item in seen if isinstance(item, Hole)}
    assert reasons == {RECYCLED, CRASH_BEFORE_SEAL}
    assert Hole(first_log_id=1, last_log_id=1, reason=CRASH_BEFORE_SEAL) in seen  # the DDL read, then lost
    assert {"recycled", "crashed", "crashed, its next entry recycled"} <= seen


def test_exploring_a_backup_first_tenant_with_a_crash_and_recycling_reaches_no_hole():
    seen: set = set()
    result = explore(noting(model_spec(TINY), seen))
    assert result.complete and result.violation is None
    assert result.distinct_states > 1000
    assert {"recycled", "crashed"} <= seen
    assert {item for item in seen if isinstance(item, Hole)} == set()
    assert "crashed, its next entry recycled" not in seen


def test_a_new_run_never_starts_behind_where_the_last_run_started():
    # found by the Hypothesis machine: a run that covered nothing was stopped, and a start
    # at an earlier log id (after the checkpoint, which had not moved) was accepted
    state = retention_world()
    state, (started,) = act(state, StartArchive(tenant="shop", destination="/backup/shop", start_log_id=9))
    state, _ = act(state, StopArchive(tenant="shop"))
    assert state.archivers[SHOP].checkpoint.last_log_id == 0 and state.archivers[SHOP].reach == 8
    with pytest.raises(ArchiveRejected, match="behind where archiving already started"):
        decide(state, StartArchive(tenant="shop", destination="/backup/shop", start_log_id=3))
    forged = attrs.evolve(started, seq=state.seq + 1, run=2, start_log_id=3)
    with pytest.raises(EventOutOfOrder, match="a start after where archiving reached 9, found 3"):
        apply(state, forged)
