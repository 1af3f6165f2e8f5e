"""``apply`` for the cluster substrate: one handler per event of the cluster itself.

Pure: never mutates its input, never does I/O. Each handler checks that the event can
follow the state (next log id, time moving forward, ids that exist, the transaction's
phase) and raises :class:`~ybstate.errors.EventOutOfOrder` otherwise, so replaying a
stored or foreign trace validates it as it goes; the composed ``apply``
(ybstate.model) checks ``seq`` and the clock for every event first.

Cost per event is flat in the length of the history: every collection is a persistent
map updated per key, never copied whole.
"""

from __future__ import annotations

from collections.abc import Callable

import immutables

from ybstate.cluster import txn
from ybstate.cluster.derive import tenant_baselines
from ybstate.cluster.events import (
    ClusterStarted,
    HeartbeatLogged,
    MarkRecorded,
    MutatorLogged,
    TableCreated,
    TableDropped,
    TenantCreated,
    TransactionAborted,
    TransactionCommitted,
    VersionFrozen,
)
from ybstate.cluster.state import (
    SYS_TENANT_ID,
    SYS_TENANT_NAME,
    ClusterState,
    CommittedTxn,
    FrozenVersion,
    OpenTxn,
    Table,
    Tenant,
    evolve_state,
)
from ybstate.errors import EventOutOfOrder
from ybstate.evolve import evolver
from ybstate.hashing import CHECKSUM_MASK, row_hash

__all__ = ["CLUSTER_HANDLERS"]

_evolve_state = evolve_state
_evolve_txn = evolver(OpenTxn)
_evolve_table = evolver(Table)


def _started(state: ClusterState, e: ClusterStarted) -> ClusterState:
    if state.seq != 0:
        raise EventOutOfOrder("no ClusterStarted after seq", 0, e.seq)
    sys_tenant = Tenant(tenant_id=SYS_TENANT_ID, name=SYS_TENANT_NAME)
    return _evolve_state(
        state,
        config=e.config,
        seq=e.seq,
        clock=e.time,
        tenants=state.tenants.set(SYS_TENANT_ID, sys_tenant),
        tenant_index=state.tenant_index.set(SYS_TENANT_NAME, SYS_TENANT_ID),
        routing=state.routing.set(SYS_TENANT_NAME, SYS_TENANT_ID),
    )


def _tenant_created(state: ClusterState, e: TenantCreated) -> ClusterState:
    if e.tenant_id != state.next_tenant_id:
        raise EventOutOfOrder("tenant_id", state.next_tenant_id, e.tenant_id)
    if e.name in state.tenant_index:
        raise EventOutOfOrder("a new tenant name", "unused", e.name)
    tenant = Tenant(
        tenant_id=e.tenant_id,
        name=e.name,
        role=e.role,
        status=e.status,
        writable=e.writable,
        log_retention=e.log_retention,
    )
    return _evolve_state(
        state,
        seq=e.seq,
        clock=e.time,
        next_tenant_id=e.tenant_id + 1,
        tenants=state.tenants.set(e.tenant_id, tenant),
        tenant_index=state.tenant_index.set(e.name, e.tenant_id),
        routing=state.routing.set(e.name, e.tenant_id),
    )


def _check_entry(state: ClusterState, e) -> None:
    if e.log_id != state.next_log_id:
        raise EventOutOfOrder("log_id", state.next_log_id, e.log_id)
    if e.time <= state.clock:
        raise EventOutOfOrder(f"a log timestamp > {state.clock} at log_id", e.log_id, e.time)


def _logged(state: ClusterState, e, **changes) -> ClusterState:
    """The state after log entry ``e``: its seq, its time, the entry in the log, plus ``changes``."""
    return _evolve_state(
        state,
        seq=e.seq,
        clock=e.time,
        next_log_id=e.log_id + 1,
        log=state.log.set(e.log_id, e),
        **changes,
    )


def _table_created(state: ClusterState, e: TableCreated) -> ClusterState:
    _check_entry(state, e)
    if e.table_id != state.next_table_id:
        raise EventOutOfOrder("table_id", state.next_table_id, e.table_id)
    if e.schema_version != state.schema_version + 1:
        raise EventOutOfOrder("schema_version", state.schema_version + 1, e.schema_version)
    if e.tenant_id not in state.tenants:
        raise EventOutOfOrder("an existing tenant_id", sorted(state.tenants), e.tenant_id)
    if (e.tenant_id, e.name) in state.table_index:
        raise EventOutOfOrder("an unused table name", "unused", e.name)
    expected_ids = list(range(state.next_tablet_id, state.next_tablet_id + len(e.tablets)))
    if [t.tablet_id for t in e.tablets] != expected_ids:
        raise EventOutOfOrder("tablet ids", expected_ids, [t.tablet_id for t in e.tablets])
    table = Table(
        table_id=e.table_id,
        tenant_id=e.tenant_id,
        name=e.name,
        schema_version=e.schema_version,
        created_log_id=e.log_id,
        created_ts=e.time,
        tablets=e.tablets,
    )
    return _logged(
        state,
        e,
        next_table_id=e.table_id + 1,
        next_tablet_id=state.next_tablet_id + len(e.tablets),
        schema_version=e.schema_version,
        tables=state.tables.set(e.table_id, table),
        table_index=state.table_index.set((e.tenant_id, e.name), e.table_id),
        live_tables=state.live_tables.set(e.tenant_id, (*state.live_tables.get(e.tenant_id, ()), e.table_id)),
        data=_with_empty_tablets(state.data, e.tablets),
        table_stats=state.table_stats.set(e.table_id, (0, 0)),
    )


def _with_empty_tablets(data: immutables.Map, tablets) -> immutables.Map:
    for tablet in tablets:
        data = data.set(tablet.tablet_id, immutables.Map())
    return data


def _table_dropped(state: ClusterState, e: TableDropped) -> ClusterState:
    _check_entry(state, e)
    table = state.tables.get(e.table_id)
    if table is None or not table.alive or table.tenant_id != e.tenant_id:
        raise EventOutOfOrder("a live table of the tenant", (e.tenant_id, e.name), e.table_id)
    if e.schema_version != state.schema_version + 1:
        raise EventOutOfOrder("schema_version", state.schema_version + 1, e.schema_version)
    dropped = _evolve_table(
        table, dropped_log_id=e.log_id, dropped_ts=e.time, dropped_schema_version=e.schema_version
    )
    return _logged(
        state,
        e,
        schema_version=e.schema_version,
        tables=state.tables.set(e.table_id, dropped),
        table_index=state.table_index.delete((e.tenant_id, table.name)),
        live_tables=state.live_tables.set(
            e.tenant_id, tuple(t for t in state.live_tables[e.tenant_id] if t != e.table_id)
        ),
    )


def _mutator(state: ClusterState, e: MutatorLogged) -> ClusterState:
    _check_entry(state, e)
    current = state.open_txns.get(e.tx_id)
    txn.TRANSACTION.next(txn.phase_of(state, e.tx_id), MutatorLogged, e.tx_id)
    if current is None:
        if e.tx_id != state.next_tx_id:
            raise EventOutOfOrder("a new tx_id", state.next_tx_id, e.tx_id)
        current = OpenTxn(
            tx_id=e.tx_id, tenant_id=e.tenant_id, first_log_id=e.log_id, first_ts=e.time, cells=()
        )
    elif current.tenant_id != e.tenant_id:
        raise EventOutOfOrder(f"tenant of transaction {e.tx_id}", current.tenant_id, e.tenant_id)
    for cell in e.cells:
        table = state.tables.get(cell.table_id)
        if table is None or not table.alive or table.tenant_id != e.tenant_id:
            raise EventOutOfOrder(
                f"a live table of tenant {e.tenant_id} in transaction {e.tx_id}",
                "owned table",
                cell.table_id,
            )
    opened = _evolve_txn(current, cells=current.cells + e.cells)
    return _logged(
        state,
        e,
        next_tx_id=max(state.next_tx_id, e.tx_id + 1),
        open_txns=state.open_txns.set(e.tx_id, opened),
    )


def _open_txn_for(state: ClusterState, e) -> OpenTxn:
    txn.TRANSACTION.next(txn.phase_of(state, e.tx_id), type(e), e.tx_id)
    current = state.open_txns[e.tx_id]
    if current.tenant_id != e.tenant_id:
        raise EventOutOfOrder(f"tenant of transaction {e.tx_id}", current.tenant_id, e.tenant_id)
    return current


def _committed(state: ClusterState, e: TransactionCommitted) -> ClusterState:
    _check_entry(state, e)
    current = _open_txn_for(state, e)
    data = state.data
    stats = state.table_stats
    tables = state.tables
    for cell in current.cells:
        table_id = cell.table_id
        table = tables[table_id]
        tablet_id = table.tablet_for(cell.rowkey).tablet_id
        rows = data[tablet_id]
        previous = rows.get(cell.rowkey)
        old_value = None if previous is None else previous[2]
        count, checksum = stats[table_id]
        name = table.name
        if old_value is not None:
            count -= 1
            checksum -= row_hash(name, cell.rowkey, old_value)
        if cell.value is not None:
            count += 1
            checksum += row_hash(name, cell.rowkey, cell.value)
        data = data.set(tablet_id, rows.set(cell.rowkey, (e.time, e.log_id, cell.value, previous)))
        stats = stats.set(table_id, (count, checksum & CHECKSUM_MASK))
    record = CommittedTxn(
        tx_id=e.tx_id,
        tenant_id=e.tenant_id,
        first_log_id=current.first_log_id,
        commit_log_id=e.log_id,
        commit_ts=e.time,
        cells=current.cells,
    )
    return _logged(
        state,
        e,
        open_txns=state.open_txns.delete(e.tx_id),
        committed=state.committed.set(e.tx_id, record),
        data=data,
        table_stats=stats,
    )


def _aborted(state: ClusterState, e: TransactionAborted) -> ClusterState:
    _check_entry(state, e)
    _open_txn_for(state, e)
    return _logged(
        state,
        e,
        open_txns=state.open_txns.delete(e.tx_id),
    )


def _frozen(state: ClusterState, e: VersionFrozen) -> ClusterState:
    _check_entry(state, e)
    if e.version != state.frozen_version + 1:
        raise EventOutOfOrder("frozen version", state.frozen_version + 1, e.version)
    if e.schema_version != state.schema_version:
        raise EventOutOfOrder("schema_version at freeze", state.schema_version, e.schema_version)
    expected = tenant_baselines(state)
    if e.baseline != expected:
        raise EventOutOfOrder(f"baseline of version {e.version}", expected, e.baseline)
    version = FrozenVersion(
        version=e.version,
        log_id=e.log_id,
        ts=e.time,
        schema_version=e.schema_version,
        baseline=e.baseline,
        open_transactions=e.open_transactions,
        snapshot=state.data,
    )
    return _logged(
        state,
        e,
        frozen_version=e.version,
        frozen=state.frozen.set(e.version, version),
    )


def _heartbeat(state: ClusterState, e: HeartbeatLogged) -> ClusterState:
    _check_entry(state, e)
    return _logged(state, e)


def _mark(state: ClusterState, e: MarkRecorded) -> ClusterState:
    if e.name in state.marks:
        raise EventOutOfOrder("a new mark name", "unused", e.name)
    return _evolve_state(state, seq=e.seq, clock=e.time, marks=state.marks.set(e.name, e.ts))


CLUSTER_HANDLERS: dict[type, Callable[[ClusterState, object], ClusterState]] = {
    ClusterStarted: _started,
    TenantCreated: _tenant_created,
    TableCreated: _table_created,
    TableDropped: _table_dropped,
    MutatorLogged: _mutator,
    TransactionCommitted: _committed,
    TransactionAborted: _aborted,
    VersionFrozen: _frozen,
    HeartbeatLogged: _heartbeat,
    MarkRecorded: _mark,
}
