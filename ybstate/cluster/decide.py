"""``decide`` for the cluster substrate: what clients and operators ask of the cluster
itself (tenants, tables, writes, commits, freezes, time, marks), validated and turned into
events.

Pure. A rejected action raises a specific :class:`~ybstate.errors.ActionRejected`
subclass naming the offending value; the state given is never changed (it cannot be:
it is immutable). Times and ids are drawn from the state (the next log id, the clock),
never from a real clock. The composed ``decide`` (ybstate.model) dispatches here.
"""

from __future__ import annotations

from collections.abc import Callable

from ybstate.cluster import txn
from ybstate.cluster.actions import (
    Abort,
    Commit,
    CreateTable,
    CreateTenant,
    DropTable,
    Freeze,
    Mark,
    Start,
    Tick,
    Write,
)
from ybstate.cluster.derive import config_problem, tenant_baselines
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
    KEY_SPACE,
    Cell,
    ClusterState,
    OpenAtFreeze,
    Role,
    Tablet,
    Tenant,
    TenantStatus,
)
from ybstate.errors import (
    CrossTenantTransaction,
    DuplicateName,
    InvalidAction,
    TableBusy,
    TenantNotWritable,
    UnknownTable,
    UnknownTenant,
    UnknownTransaction,
)
from ybstate.kernel.limits import LIMITS, MAX_TIME, name_problem, within

__all__ = ["CLUSTER_DECIDERS", "MAX_TABLETS"]

MAX_TABLETS = LIMITS["tablets"].high


def _tenant(state: ClusterState, name: str) -> Tenant:
    tenant = state.tenant_named(name)
    if tenant is None:
        raise UnknownTenant(name)
    return tenant


def _writable(tenant: Tenant) -> None:
    if not tenant.writable or tenant.status is not TenantStatus.NORMAL:
        raise TenantNotWritable(tenant.name, tenant.status.value if tenant.writable else "not writable")


def _start(state: ClusterState, a: Start) -> list[object]:
    if state.seq != 0:
        raise InvalidAction("the cluster is already started")
    problem = config_problem(a.config)
    if problem is not None:
        raise InvalidAction(problem)
    return [ClusterStarted(seq=1, time=a.config.start_time, config=a.config)]


def _create_tenant(state: ClusterState, a: CreateTenant) -> list[object]:
    problem = name_problem("tenant", a.name)
    if problem is not None:
        raise InvalidAction(problem)
    if a.name in state.tenant_index:
        raise DuplicateName("tenant", a.name)
    return [
        TenantCreated(
            seq=state.seq + 1,
            time=state.clock,
            tenant_id=state.next_tenant_id,
            name=a.name,
            role=Role.PRIMARY,
            status=TenantStatus.NORMAL,
            writable=True,
            log_retention=a.log_retention,
        )
    ]


def _create_table(state: ClusterState, a: CreateTable) -> list[object]:
    tenant = _tenant(state, a.tenant)
    problem = name_problem("table", a.table)
    if problem is not None:
        raise InvalidAction(problem)
    problem = within("tablets", a.tablets)
    if problem is not None:
        raise InvalidAction(f"table {a.table!r}: tablets {problem}")
    if state.table_named(tenant.tenant_id, a.table) is not None:
        raise DuplicateName("table", a.table, f" in tenant {tenant.name!r}")
    table_id = state.next_table_id
    servers = state.config.data_servers
    tablets = tuple(
        Tablet(
            tablet_id=state.next_tablet_id + i,
            table_id=table_id,
            start=i * KEY_SPACE // a.tablets,
            end=(i + 1) * KEY_SPACE // a.tablets,
            server=(state.next_tablet_id + i) % servers,
        )
        for i in range(a.tablets)
    )
    return [
        TableCreated(
            seq=state.seq + 1,
            time=state.clock + 1,
            log_id=state.next_log_id,
            tenant_id=tenant.tenant_id,
            table_id=table_id,
            name=a.table,
            schema_version=state.schema_version + 1,
            tablets=tablets,
        )
    ]


def _drop_table(state: ClusterState, a: DropTable) -> list[object]:
    tenant = _tenant(state, a.tenant)
    table = state.table_named(tenant.tenant_id, a.table)
    if table is None:
        raise UnknownTable(tenant.name, a.table)
    busy = tuple(
        sorted(
            t.tx_id for t in state.open_txns.values() if any(c.table_id == table.table_id for c in t.cells)
        )
    )
    if busy:
        raise TableBusy(tenant.name, a.table, busy)
    return [
        TableDropped(
            seq=state.seq + 1,
            time=state.clock + 1,
            log_id=state.next_log_id,
            tenant_id=tenant.tenant_id,
            table_id=table.table_id,
            name=table.name,
            schema_version=state.schema_version + 1,
        )
    ]


def _check_phase(state: ClusterState, tx_id: int, event_type: type) -> None:
    phase = txn.phase_of(state, tx_id)
    if not txn.TRANSACTION.allows(phase, event_type):
        why = "was never started" if phase is txn.TxPhase.NONE else f"is {phase.value}, not open"
        raise UnknownTransaction(tx_id, why)


def _write(state: ClusterState, a: Write) -> list[object]:
    tenant = _tenant(state, a.tenant)
    _writable(tenant)
    if not a.changes:
        raise InvalidAction(f"a write to tenant {a.tenant!r} needs at least one put or delete")
    if a.tx is None:
        tx_id = state.next_tx_id
    else:
        tx_id = a.tx
        _check_phase(state, tx_id, MutatorLogged)
        owner = state.open_txns[tx_id].tenant_id
        if owner != tenant.tenant_id:
            raise CrossTenantTransaction(tx_id, state.tenants[owner].name, a.changes[0].table, tenant.name)
    cells = []
    for put in a.changes:
        table = state.table_named(tenant.tenant_id, put.table)
        if table is None:
            raise UnknownTable(tenant.name, put.table)
        if not isinstance(put.key, str) or not put.key:
            raise InvalidAction(f"row key must be a non-empty string, got {put.key!r}")
        if put.value is not None and not isinstance(put.value, str):
            raise InvalidAction(f"row value must be a string, got {put.value!r}")
        cells.append(Cell(table_id=table.table_id, rowkey=put.key, value=put.value))
    return [
        MutatorLogged(
            seq=state.seq + 1,
            time=state.clock + 1,
            log_id=state.next_log_id,
            tenant_id=tenant.tenant_id,
            tx_id=tx_id,
            cells=tuple(cells),
        )
    ]


def _end(event_type: type, check_writable: bool) -> Callable[[ClusterState, object], list[object]]:
    def decide_end(state: ClusterState, a: Commit | Abort) -> list[object]:
        _check_phase(state, a.tx, event_type)
        tenant = state.tenants[state.open_txns[a.tx].tenant_id]
        if check_writable:
            _writable(tenant)
        return [
            event_type(
                seq=state.seq + 1,
                time=state.clock + 1,
                log_id=state.next_log_id,
                tenant_id=tenant.tenant_id,
                tx_id=a.tx,
            )
        ]

    return decide_end


def _freeze(state: ClusterState, a: Freeze) -> list[object]:
    open_now = tuple(
        OpenAtFreeze(tx_id=t.tx_id, tenant_id=t.tenant_id, first_log_id=t.first_log_id)
        for t in sorted(state.open_txns.values(), key=lambda t: t.tx_id)
    )
    return [
        VersionFrozen(
            seq=state.seq + 1,
            time=state.clock + 1,
            log_id=state.next_log_id,
            version=state.frozen_version + 1,
            schema_version=state.schema_version,
            baseline=tenant_baselines(state),
            open_transactions=open_now,
        )
    ]


def _tick(state: ClusterState, a: Tick) -> list[object]:
    problem = within("micros", a.micros)
    if problem is not None:
        raise InvalidAction(f"tick micros {problem}")
    if state.clock + a.micros > MAX_TIME:
        raise InvalidAction(f"a tick of {a.micros} would move the clock past {MAX_TIME}")
    return [HeartbeatLogged(seq=state.seq + 1, time=state.clock + a.micros, log_id=state.next_log_id)]


def _mark(state: ClusterState, a: Mark) -> list[object]:
    problem = name_problem("mark", a.name)
    if problem is not None:
        raise InvalidAction(problem)
    if a.name in state.marks:
        raise DuplicateName("mark", a.name)
    newest = state.log.get(state.last_log_id)
    ts = state.clock if newest is None else newest.time
    return [MarkRecorded(seq=state.seq + 1, time=state.clock, name=a.name, ts=ts)]


CLUSTER_DECIDERS: dict[type, Callable[[ClusterState, object], list[object]]] = {
    Start: _start,
    CreateTenant: _create_tenant,
    CreateTable: _create_table,
    DropTable: _drop_table,
    Write: _write,
    Commit: _end(TransactionCommitted, check_writable=True),
    Abort: _end(TransactionAborted, check_writable=False),
    Freeze: _freeze,
    Tick: _tick,
    Mark: _mark,
}
