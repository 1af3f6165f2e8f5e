"""Events of the cluster: what happened, in the past tense, as immutable records.

Every event carries ``seq`` (its place in the history, 1, 2, 3, ...) and ``time`` (the
logical clock in microseconds when it happened). Events that are entries of the shared
commit log also carry ``log_id``; for them ``time`` is the entry's timestamp, and a
COMMIT's ``time`` is the transaction's commit_ts.

Each class has an explicit, stable tag in :data:`EVENT_TAGS`: the stored type names never
depend on Python class names, so renaming a class cannot corrupt a stored history. Each
also has, in :data:`REQUESTS`, the request that makes it (trace validation decides that
request again and requires the recorded event).
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from ybstate.cluster import actions as act
from ybstate.cluster.derive import table_name, tenant_name
from ybstate.cluster.state import (
    Cell,
    ClusterConfig,
    ClusterState,
    LogRetention,
    OpenAtFreeze,
    Role,
    Tablet,
    TenantBaseline,
    TenantStatus,
)

__all__ = [
    "ClusterStarted",
    "TenantCreated",
    "TableCreated",
    "TableDropped",
    "MutatorLogged",
    "TransactionCommitted",
    "TransactionAborted",
    "VersionFrozen",
    "HeartbeatLogged",
    "MarkRecorded",
    "ClusterEvent",
    "LogEntry",
    "EVENT_TAGS",
    "LOG_ENTRY_KINDS",
    "REQUESTS",
]


@attrs.frozen(kw_only=True)
class ClusterStarted:
    """The first event of every history: the cluster and its system tenant come up."""

    seq: int
    time: int
    config: ClusterConfig


@attrs.frozen(kw_only=True)
class TenantCreated:
    seq: int
    time: int
    tenant_id: int
    name: str
    role: Role
    status: TenantStatus
    writable: bool
    log_retention: LogRetention = LogRetention.BACKUP_FIRST


@attrs.frozen(kw_only=True)
class TableCreated:
    """DDL entry: a table and its tablets; bumps the global schema version."""

    seq: int
    time: int
    log_id: int
    tenant_id: int
    table_id: int
    name: str
    schema_version: int
    tablets: tuple[Tablet, ...]


@attrs.frozen(kw_only=True)
class TableDropped:
    """DDL entry: a table is dropped; bumps the global schema version."""

    seq: int
    time: int
    log_id: int
    tenant_id: int
    table_id: int
    name: str
    schema_version: int


@attrs.frozen(kw_only=True)
class MutatorLogged:
    """MUTATOR entry: row changes of one transaction (the first one opens it)."""

    seq: int
    time: int
    log_id: int
    tenant_id: int
    tx_id: int
    cells: tuple[Cell, ...]


@attrs.frozen(kw_only=True)
class TransactionCommitted:
    """COMMIT entry; ``time`` is the commit timestamp."""

    seq: int
    time: int
    log_id: int
    tenant_id: int
    tx_id: int


@attrs.frozen(kw_only=True)
class TransactionAborted:
    """ABORT entry: the transaction's mutators are discarded."""

    seq: int
    time: int
    log_id: int
    tenant_id: int
    tx_id: int


@attrs.frozen(kw_only=True)
class VersionFrozen:
    """FREEZE entry (cluster-wide): frozen version ``version`` is made.

    Its baseline holds exactly the transactions whose COMMIT has a log id <= ``log_id``;
    ``baseline`` summarises it per tenant (rows, checksum) and ``open_transactions`` lists
    the transactions that straddle the freeze, so both can be checked from the log alone.
    """

    seq: int
    time: int
    log_id: int
    version: int
    schema_version: int
    baseline: tuple[TenantBaseline, ...]
    open_transactions: tuple[OpenAtFreeze, ...]


@attrs.frozen(kw_only=True)
class HeartbeatLogged:
    """HEARTBEAT entry (cluster-wide): time passes while nothing else is logged."""

    seq: int
    time: int
    log_id: int


@attrs.frozen(kw_only=True)
class MarkRecorded:
    """A scenario names the timestamp ``ts`` of the newest log entry so far."""

    seq: int
    time: int
    name: str
    ts: int


ClusterEvent = (
    ClusterStarted
    | TenantCreated
    | TableCreated
    | TableDropped
    | MutatorLogged
    | TransactionCommitted
    | TransactionAborted
    | VersionFrozen
    | HeartbeatLogged
    | MarkRecorded
)

LogEntry = (
    TableCreated
    | TableDropped
    | MutatorLogged
    | TransactionCommitted
    | TransactionAborted
    | VersionFrozen
    | HeartbeatLogged
)

EVENT_TAGS: dict[type, str] = {
    ClusterStarted: "cluster.started",
    TenantCreated: "cluster.tenant_created",
    MarkRecorded: "cluster.mark_recorded",
    TableCreated: "log.ddl_create_table",
    TableDropped: "log.ddl_drop_table",
    MutatorLogged: "log.mutator",
    TransactionCommitted: "log.commit",
    TransactionAborted: "log.abort",
    VersionFrozen: "log.freeze",
    HeartbeatLogged: "log.heartbeat",
}

# The commit-log entry kind of each logged event (DESIGN 2).
LOG_ENTRY_KINDS: dict[type, str] = {
    TableCreated: "DDL",
    TableDropped: "DDL",
    MutatorLogged: "MUTATOR",
    TransactionCommitted: "COMMIT",
    TransactionAborted: "ABORT",
    VersionFrozen: "FREEZE",
    HeartbeatLogged: "HEARTBEAT",
}


def _write(state: ClusterState, e: MutatorLogged) -> act.Write:
    changes = tuple(
        act.Put(table=table_name(state, cell.table_id), key=cell.rowkey, value=cell.value) for cell in e.cells
    )
    tx = e.tx_id if e.tx_id in state.open_txns else None
    return act.Write(tenant=tenant_name(state, e.tenant_id), tx=tx, changes=changes)


REQUESTS: dict[type, Callable[[ClusterState, object], object]] = {
    ClusterStarted: lambda s, e: act.Start(config=e.config),
    TenantCreated: lambda s, e: act.CreateTenant(name=e.name, log_retention=e.log_retention),
    TableCreated: lambda s, e: act.CreateTable(
        tenant=tenant_name(s, e.tenant_id), table=e.name, tablets=len(e.tablets)
    ),
    TableDropped: lambda s, e: act.DropTable(
        tenant=tenant_name(s, e.tenant_id), table=table_name(s, e.table_id)
    ),
    MutatorLogged: _write,
    TransactionCommitted: lambda s, e: act.Commit(tx=e.tx_id),
    TransactionAborted: lambda s, e: act.Abort(tx=e.tx_id),
    VersionFrozen: lambda s, e: act.Freeze(),
    HeartbeatLogged: lambda s, e: act.Tick(micros=e.time - s.clock),
    MarkRecorded: lambda s, e: act.Mark(name=e.name),
}
"""The request behind each event of the cluster, when the event opens a decision."""
