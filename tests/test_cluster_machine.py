"""The cluster driven by Hypothesis through its own `enabled` actions.

Several tenants write interleaved transactions, abort, freeze, create and drop tables,
while full backups start, copy (with copy failures and retries), get cancelled, and old
frozen versions are dropped. After every step: every state invariant holds (the
cluster's and the backups'), the incremental fingerprint equals one computed from
scratch, each tenant's content equals a plain-dict reference model, and content as of
any earlier commit equals the reference's snapshot then. Now and then (and at the end)
the DuckDB store, fed the same events, replays to the live fingerprint and its internal
tables (SQL views over the events) equal the same tables computed from state.
"""

from __future__ import annotations

import contextlib

from hypothesis import event as note_statistic
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tests.strategies import MACHINE_SCOPE
from ybstate import dag
from ybstate.access import DenyCommand
from ybstate.api import COMMANDS, Caller, call, permission
from ybstate.archive.actions import StartArchive
from ybstate.archive.enabled import archive_enabled
from ybstate.archive.state import ArchiverStatus
from ybstate.archive.tables import archive_holes_rows, incremental_checkpoint_rows, restorable_window_rows
from ybstate.archive.window import restorable_window
from ybstate.backup.actions import AdvanceBackup, CancelBackup, DropVersion, StartBackup
from ybstate.backup.enabled import backup_enabled
from ybstate.backup.state import BackupPhase
from ybstate.backup.tables import backup_set_rows, backup_tablet_rows, backup_task_rows
from ybstate.cluster import ghost
from ybstate.cluster.actions import Abort, Commit, DropTable, Freeze, Mark, Put, Write
from ybstate.cluster.events import (
    MutatorLogged,
    TableCreated,
    TableDropped,
    TenantCreated,
    TransactionAborted,
    TransactionCommitted,
)
from ybstate.commands import ResultCode
from ybstate.errors import ActionRejected
from ybstate.history import sql_invariants
from ybstate.model import (
    INVARIANTS,
    apply,
    decide,
    enabled,
    fingerprint,
    full_fingerprint,
    replay,
    start_events,
)
from ybstate.promote.enabled import promote_enabled
from ybstate.promote.tables import promotion_history_rows
from ybstate.restore.actions import CancelRestore
from ybstate.restore.enabled import restore_enabled
from ybstate.restore.tables import restore_task_rows, schema_mapping_rows
from ybstate.store import DuckDBStore

SQL_INVARIANTS = sql_invariants()

VIEWS = {
    "__all_tenant_backup_task": backup_task_rows,
    "__all_tenant_backup_set": backup_set_rows,
    "__all_tenant_backup_tablet": backup_tablet_rows,
    "__all_tenant_incremental_checkpoint": incremental_checkpoint_rows,
    "tenant_restorable_window": restorable_window_rows,
    "tenant_archive_holes": archive_holes_rows,
    "__all_tenant_restore_task": restore_task_rows,
    "__all_tenant_schema_mapping": schema_mapping_rows,
    "__all_tenant_promotion_history": promotion_history_rows,
}


DENY_FIELDS = ("caller_tenant", "user", "role", "command", "target", "reason")


class ClusterMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        events = start_events(MACHINE_SCOPE)
        self.state = replay(events)
        self.store = DuckDBStore(":memory:")
        self.store.append(events, f"{fingerprint(self.state):032x}")
        # The reference: plain dicts, updated only from what clients asked for.
        self.reference: dict[int, dict[tuple[str, str], str]] = {t: {} for t in self.state.tenants}
        self.buffered: dict[int, list[tuple[str, str, str | None]]] = {}
        self.snapshots: list[tuple[int, int, dict]] = []  # (commit ts, tenant, content)

    def teardown(self) -> None:
        for task in self.state.backups.values():  # shown by --hypothesis-show-statistics
            note_statistic(f"a backup ended {task.phase.value}")
        for task in self.state.restores.values():
            note_statistic(f"a restore ended {task.phase.value}")
        for promotion in self.state.promotions.values():
            note_statistic(f"a promotion ended {promotion.status.value}")
        for archiver in self.state.archivers.values():
            note_statistic(
                f"an archiver sealed {min(archiver.checkpoint.pieces, 3)}+ pieces, crashed {archiver.crashes}"
            )
            for reason in sorted({hole.reason for hole in archiver.holes}):
                note_statistic(f"an archive has a hole: {reason}")
        try:
            self.check_store_replays_to_live_fingerprint()
            for inv in SQL_INVARIANTS:  # the SQL invariants agree on every history too
                rows = self.store.con.execute(inv.sql).fetchall()
                assert rows == [], f"{inv.name}: {rows[:3]}"
        finally:
            self.store.close()

    def _do(self, action) -> list:
        events = decide(self.state, action)
        for event in events:
            self.state = apply(self.state, event)
        self.store.append(events, f"{fingerprint(self.state):032x}")
        return events

    @precondition(lambda self: bool(enabled(self.state, MACHINE_SCOPE)))
    @rule(data=st.data())
    def take_an_enabled_action(self, data) -> None:
        self._take(data.draw(st.sampled_from(enabled(self.state, MACHINE_SCOPE)), label="action"))

    # Writes outnumber the protocol's own steps among the enabled actions a hundred to
    # one; this rule gives backups (start, advance, DAG task start/finish/fail, cancel,
    # version drops) a fair share of the steps.
    @precondition(lambda self: bool(backup_enabled(self.state, MACHINE_SCOPE)))
    @rule(data=st.data())
    def take_backup_actions(self, data) -> None:
        # A backup needs a dozen steps to finish: take up to eight at once, checking every
        # invariant after each. Cancels and drops are always possible while advancing takes
        # several steps: keep them to one draw in eight so that backups also get to finish.
        for _ in range(data.draw(st.integers(1, 8), label="burst")):
            actions = backup_enabled(self.state, MACHINE_SCOPE)
            if not actions:
                return
            disruptive = [a for a in actions if isinstance(a, CancelBackup | DropVersion)]
            progressing = [a for a in actions if a not in disruptive]
            if progressing and (not disruptive or data.draw(st.integers(0, 7), label="disrupt?") > 0):
                actions = progressing
            self._take(data.draw(st.sampled_from(actions), label="backup action"))
            self.state_invariants_hold()

    @precondition(lambda self: bool(restore_enabled(self.state, MACHINE_SCOPE)))
    @rule(data=st.data())
    def take_restore_actions(self, data) -> None:
        # Restores start (to latest or a mark), advance, fetch (and fail to), read,
        # rewrite in any worker order, apply, stall, time out and, now and then, cancel:
        # up to twenty steps at once, every invariant checked after each.
        for _ in range(data.draw(st.integers(1, 20), label="burst")):
            actions = restore_enabled(self.state, MACHINE_SCOPE)
            going_on = [a for a in actions if not isinstance(a, CancelRestore)]
            if going_on and data.draw(st.integers(0, 9), label="no cancel") != 0:
                actions = going_on
            if not actions:
                return
            self._take(data.draw(st.sampled_from(actions), label="restore action"))
            self.state_invariants_hold()

    @precondition(lambda self: bool(promote_enabled(self.state, MACHINE_SCOPE)))
    @rule(data=st.data())
    def take_promotion_actions(self, data) -> None:
        # Completed standbys are promoted (with or without catch-up), steps advance or fail
        # (rolling back before the routing update), tenants are decommissioned; clients keep
        # writing through the other rules, to whichever tenant a name routes to.
        for _ in range(data.draw(st.integers(1, 8), label="burst")):
            actions = promote_enabled(self.state, MACHINE_SCOPE)
            if not actions:
                return
            self._take(data.draw(st.sampled_from(actions), label="promotion action"))
            self.state_invariants_hold()

    @precondition(lambda self: self.state.seq % 4 == 0)
    @rule(
        tenant=st.sampled_from(["sys", "t1", "t2", "t3", "nobody"]),
        role=st.sampled_from(["admin", "user"]),
        command=st.sampled_from(sorted(COMMANDS)),
        on=st.sampled_from(["t1", "t2", "t3"]),
    )
    def a_caller_calls_a_command(self, tenant, role, command, on) -> None:
        # Callers of every tenant and role try commands on some tenant: the refusals for
        # rights are events of the history (and must replay); what is allowed only asks
        # (its decision is not taken here: the other rules drive the protocol).
        arguments = {
            "tenant_backup_start": {"tenant": on, "destination": f"/backup/{on}"},
            "tenant_backup_status": {"task_id": 1},
            "tenant_incremental_backup_start": {"tenant": on, "destination": f"/backup/{on}"},
            "tenant_incremental_backup_stop": {"tenant": on},
            "tenant_restore_start": {"source": on, "target": "x"},
            "tenant_restore_status": {"task_id": 1},
            "tenant_promote_standby": {"standby": on, "old_primary": on},
            "tenant_decommission": {"tenant": on},
            "tenant_backup_tablet": {"tablet_id": 1},
        }[command]
        caller = Caller(tenant=tenant, user="u", role=role)
        reply = call(self.state, caller, command, **arguments)
        denied = permission(self.state, caller, COMMANDS[command], arguments)
        assert (reply.code is ResultCode.OB_PERMISSION_DENIED) == (denied is not None)
        if denied is not None:
            note_statistic("a call was refused for rights")
            self._take(DenyCommand(**{f: getattr(reply.events[0], f) for f in DENY_FIELDS}))

    def _restorable(self, tenant: str) -> bool:
        found = self.state.tenant_named(tenant)
        return bool(restorable_window(self.state, found.tenant_id).intervals)

    # Restores need a completed backup set that archived log extends: without help, a
    # random walk rarely lines these up, so this rule does (the backup's own steps run
    # in plan order; copy failures come from the other rules).
    @precondition(lambda self: self.state.frozen_version >= 1 and not self._restorable("t1"))
    @rule()
    def back_up_and_archive_t1(self) -> None:
        tenant_id = self.state.tenant_named("t1").tenant_id
        running = [t for t in self.state.backups.values() if t.tenant_id == tenant_id and not t.final]
        if not running:
            self._take(StartBackup(tenant="t1", destination="/backup/t1", parallel=2))
        task_id = max(t.task_id for t in self.state.backups.values() if t.tenant_id == tenant_id)
        while not self.state.backups[task_id].final:
            task = self.state.backups[task_id]
            graph = self.state.dags.get(task.dag_id)
            if task.phase is BackupPhase.DOING and not graph.finished:
                self._take(dag.enabled_dag(graph, faults=False)[0])
            else:
                self._take(AdvanceBackup(task_id=task_id))
        archiver = self.state.archivers.get(tenant_id)
        if archiver is None or archiver.status is ArchiverStatus.STOPPED:
            # refused when its log is already recycled or archived: a later backup may extend it
            with contextlib.suppress(ActionRejected):
                self._take(StartArchive(tenant="t1", destination="/backup/t1"))

    @precondition(lambda self: bool(archive_enabled(self.state, MACHINE_SCOPE)))
    @rule(data=st.data())
    def take_archive_actions(self, data) -> None:
        # Archivers start, read, seal, checkpoint, crash, stop and skip recycled log, and the
        # server recycles its log: up to eight steps at once, every invariant checked after
        # each.
        for _ in range(data.draw(st.integers(1, 8), label="burst")):
            actions = archive_enabled(self.state, MACHINE_SCOPE)
            if not actions:
                return
            self._take(data.draw(st.sampled_from(actions), label="archive action"))
            self.state_invariants_hold()

    # A freeze is one enabled action among dozens of writes; backups need frozen versions.
    @precondition(lambda self: self.state.frozen_version < 3)
    @rule()
    def freeze(self) -> None:
        self._take(Freeze())

    def _take(self, action) -> None:
        names = {t.table_id: t.name for t in self.state.tables.values()}
        for event in self._do(action):
            self._follow(event, names)

    def _follow(self, event, names) -> None:
        if isinstance(event, TenantCreated):  # a restore's standby
            self.reference[event.tenant_id] = {}
        elif isinstance(event, TableCreated):
            names[event.table_id] = event.name
        elif isinstance(event, MutatorLogged):
            self.buffered.setdefault(event.tx_id, []).extend(
                (names[c.table_id], c.rowkey, c.value) for c in event.cells
            )
        elif isinstance(event, TransactionCommitted):
            content = self.reference[event.tenant_id]
            for table, key, value in self.buffered.pop(event.tx_id):
                if value is None:
                    content.pop((table, key), None)
                else:
                    content[(table, key)] = value
            self.snapshots.append((event.time, event.tenant_id, dict(content)))
        elif isinstance(event, TransactionAborted):
            self.buffered.pop(event.tx_id)
        elif isinstance(event, TableDropped):
            content = self.reference[event.tenant_id]
            for row in [row for row in content if row[0] == event.name]:
                del content[row]

    # The other rules fire at some points of the history only, so most steps take an
    # enabled action (Hypothesis picks uniformly among the rules whose precondition holds).
    @precondition(lambda self: self.state.seq % 3 == 0)
    @rule(data=st.data())
    def try_an_illegal_action(self, data) -> None:
        tenants = list(MACHINE_SCOPE.cluster.tenants)
        candidates = [
            Commit(tx=self.state.next_tx_id + 5),
            Write(tenant="nobody", tx=None, changes=(Put(table="a", key="k", value="v"),)),
            Write(tenant=tenants[0], tx=None, changes=(Put(table="zz", key="k", value="v"),)),
            DropTable(tenant=tenants[1], table="zz"),
        ]
        for tx_id, txn in sorted(self.state.open_txns.items()):
            owner = self.state.tenants[txn.tenant_id].name
            other = next(t for t in tenants if t != owner)
            candidates.append(Write(tenant=other, tx=tx_id, changes=(Put(table="a", key="k", value="v"),)))
        ended = [tx for tx in self.state.committed]
        if ended:
            candidates.append(Abort(tx=ended[0]))
        if self.state.marks:
            candidates.append(Mark(name=next(iter(self.state.marks.keys()))))
        action = data.draw(st.sampled_from(candidates), label="illegal action")
        before = (fingerprint(self.state), full_fingerprint(self.state), self.state.seq)
        try:
            decide(self.state, action)
        except ActionRejected:
            pass
        else:
            raise AssertionError(f"{action!r} was accepted")
        assert (fingerprint(self.state), full_fingerprint(self.state), self.state.seq) == before

    @precondition(lambda self: self.state.seq % 5 == 0)
    @rule(name=st.sampled_from(["m1", "m2", "m3"]))
    def mark(self, name) -> None:
        if name not in self.state.marks:
            self._do(Mark(name=name))

    @precondition(lambda self: self.state.seq % 7 == 0)
    @rule()
    def check_store_replays_to_live_fingerprint(self) -> None:
        replayed = replay(self.store.load())
        assert fingerprint(replayed) == fingerprint(self.state)
        assert self.store.fingerprint() == (self.state.seq, f"{fingerprint(self.state):032x}")
        self.check_views_equal_state()

    def check_views_equal_state(self) -> None:
        """The internal tables computed by SQL over the events equal those from state."""
        for view, rows_of in VIEWS.items():
            assert self.store.con.execute(f"SELECT * FROM {view}").fetchall() == rows_of(self.state), view

    @invariant()
    def state_invariants_hold(self) -> None:
        for inv in INVARIANTS:
            message = inv.check(self.state)
            assert message is None, f"{inv.name}: {message}"

    @invariant()
    def fingerprint_is_exact(self) -> None:
        assert fingerprint(self.state) == full_fingerprint(self.state)

    @invariant()
    def content_equals_reference(self) -> None:
        for tenant_id, expected in self.reference.items():
            assert ghost.content(self.state, tenant_id) == expected

    @invariant()
    def past_content_equals_reference_snapshots(self) -> None:
        for ts, tenant_id, expected in self.snapshots[-3:]:
            assert ghost.content_as_of(self.state, tenant_id, ts) == expected


TestClusterMachine = ClusterMachine.TestCase
TestClusterMachine.settings = settings(stateful_step_count=max(settings().stateful_step_count, 60))
