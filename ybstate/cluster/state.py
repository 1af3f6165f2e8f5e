"""The state of the modelled YaoBase cluster: immutable values only.

Pure data; no behaviour beyond small lookups. ``apply`` in :mod:`ybstate.cluster.reducer`
is the only thing that makes new states, and it does so by sharing structure: the large
collections are persistent maps (:class:`~ybstate.pmap.HMap`, ``immutables.Map``), so one
event costs the same however long the history behind the state is.

Which fields take part in the fingerprint: every HMap and every counter, marked with
:data:`FINGERPRINT` metadata. What is derived from them (open and committed transactions
and the rows they wrote are functions of the log; the indexes are functions of the
catalog) is left out, so an event pays for hashing only what it adds to the log.
"""

from __future__ import annotations

import enum

import attrs
import immutables

from ybstate.cluster.costs import Costs
from ybstate.cluster.protocol import Protocol
from ybstate.evolve import slot_evolver
from ybstate.hashing import key_hash
from ybstate.pmap import HMap, PLog

__all__ = [
    "Role",
    "TenantStatus",
    "LogRetention",
    "ClusterConfig",
    "Tenant",
    "Tablet",
    "Table",
    "Cell",
    "OpenTxn",
    "CommittedTxn",
    "TenantBaseline",
    "OpenAtFreeze",
    "FrozenVersion",
    "ClusterState",
    "Version",
    "SYS_TENANT_ID",
    "SYS_TENANT_NAME",
    "FIRST_USER_TENANT_ID",
    "FIRST_USER_TABLE_ID",
    "KEY_SPACE",
    "evolve_state",
    "EMPTY",
    "FINGERPRINT",
]

SYS_TENANT_ID = 1
SYS_TENANT_NAME = "sys"
FIRST_USER_TENANT_ID = 1001
FIRST_USER_TABLE_ID = 3001  # OceanBase 0.4 numbers user tables from 3001
KEY_SPACE = 1 << 32  # tablets are ranges of the 32-bit key hash space


class Role(enum.Enum):
    PRIMARY = "primary"
    STANDBY = "standby"


class TenantStatus(enum.Enum):
    NORMAL = "normal"
    RESTORING = "restoring"
    READ_ONLY = "read_only"  # a completed standby, or a primary decommissioned read-only
    RETIRED = "retired"  # a standby decommissioned read-only: readable, no longer promotable
    DECOMMISSIONED = "decommissioned"


class LogRetention(enum.Enum):
    """What wins when a tenant's archiver lags and the transaction server wants to recycle
    old commit log (DESIGN 11 flaw 9). Backup first: a running archiver pins the log it has
    not sealed into a piece. Business first: the log is recycled anyway, and the tenant's
    archive gets a hole."""

    BACKUP_FIRST = "backup_first"
    BUSINESS_FIRST = "business_first"


@attrs.frozen(kw_only=True)
class ClusterConfig:
    """The `[cluster]` table of a scenario; fixed for the whole history."""

    data_servers: int = 3
    dag_workers: int = 4
    restore_workers: int = 4
    piece_entries: int = 1000
    start_time: int = 1_700_000_000_000_000
    task_retries: int = 2  # a failed DAG task is retried this many times, then fails for good
    backup_root: str = "/backup"  # every backup destination lies below it
    # The protocol's policies (DESIGN 14): the corrected one, or a variant with the seed's
    # flaws, set by a scenario's or check file's [protocol] table, never by [cluster].
    protocol: Protocol = Protocol()
    # How long the protocol's steps take (ybstate.cluster.costs, docs/durations.md): the
    # `[cluster.costs]` table.
    costs: Costs = Costs()


@attrs.frozen(kw_only=True)
class Tenant:
    tenant_id: int
    name: str
    role: Role = Role.PRIMARY
    status: TenantStatus = TenantStatus.NORMAL
    writable: bool = True
    log_retention: LogRetention = LogRetention.BACKUP_FIRST
    restored_to: int = 0  # a completed standby: the restore point T it holds
    fenced_log_id: int = 0  # fenced (promotion) or decommissioned: no commit after this log id


@attrs.frozen(kw_only=True)
class Tablet:
    """A key range [start, end) of one table, placed on one data server."""

    tablet_id: int
    table_id: int
    start: int
    end: int
    server: int

    def holds(self, key_position: int) -> bool:
        return self.start <= key_position < self.end


@attrs.frozen(kw_only=True)
class Table:
    table_id: int
    tenant_id: int
    name: str
    schema_version: int
    created_log_id: int
    created_ts: int
    tablets: tuple[Tablet, ...]
    dropped_log_id: int | None = None
    dropped_ts: int | None = None
    dropped_schema_version: int | None = None

    @property
    def alive(self) -> bool:
        return self.dropped_log_id is None

    def alive_at_log(self, log_id: int) -> bool:
        """Whether the table existed just after log entry ``log_id``."""
        return self.created_log_id <= log_id and (self.dropped_log_id is None or self.dropped_log_id > log_id)

    def alive_at_ts(self, ts: int) -> bool:
        return self.created_ts <= ts and (self.dropped_ts is None or self.dropped_ts > ts)

    def tablet_for(self, rowkey: str) -> Tablet:
        """The tablet whose key range holds ``rowkey`` (ranges split the space evenly)."""
        position = key_hash(rowkey)
        tablets = self.tablets
        index = position * len(tablets) // KEY_SPACE
        while position < tablets[index].start:
            index -= 1
        while position >= tablets[index].end:
            index += 1
        return tablets[index]


@attrs.frozen(kw_only=True)
class Cell:
    """One row change inside a mutator: a put of ``value``, or a delete when it is None."""

    table_id: int
    rowkey: str
    value: str | None


@attrs.frozen(kw_only=True)
class OpenTxn:
    tx_id: int
    tenant_id: int
    first_log_id: int
    first_ts: int
    cells: tuple[Cell, ...]


@attrs.frozen(kw_only=True)
class CommittedTxn:
    """A transaction of the ghost history: what committed, where and when."""

    tx_id: int
    tenant_id: int
    first_log_id: int
    commit_log_id: int
    commit_ts: int
    cells: tuple[Cell, ...]


@attrs.frozen(kw_only=True)
class TenantBaseline:
    """Summary of one tenant's baseline at a frozen version: rows and their checksum."""

    tenant_id: int
    rows: int
    checksum: int


@attrs.frozen(kw_only=True)
class OpenAtFreeze:
    """A transaction still open when a freeze entry was logged (it is not in that baseline)."""

    tx_id: int
    tenant_id: int
    first_log_id: int


@attrs.frozen(kw_only=True)
class FrozenVersion:
    """Frozen version ``version``: the baseline SSTables made by the freeze at ``log_id``.

    ``snapshot`` is the committed data as of the freeze (shared structure, O(1) to keep);
    it is derived from the ghost history, so it is left out of equality and fingerprints.
    """

    version: int
    log_id: int
    ts: int
    schema_version: int
    baseline: tuple[TenantBaseline, ...]
    open_transactions: tuple[OpenAtFreeze, ...]
    snapshot: immutables.Map = attrs.field(eq=False, repr=False)
    dropped_ts: int | None = None  # when the data servers dropped its SSTables

    @property
    def available(self) -> bool:
        return self.dropped_ts is None


_NO_ROWS: immutables.Map = immutables.Map()

# A version of one row in the ghost history: (commit_ts, commit_log_id, value or None
# for a delete, the previous version or None). A linked list, newest first, so a commit
# prepends in O(1) and "as of T" walks back from the newest.
Version = tuple


FINGERPRINT = "ybstate.fingerprint"
"""The attrs metadata key saying how a field of :class:`ClusterState` enters the
fingerprint (ybstate.cluster.fingerprint): ``"counter"`` (its value), ``"map"`` (the
content digest an HMap or PLog keeps), ``"digest"`` (an int digest its owner keeps).
Fields without it are derived and left out."""


def _counter(default: object):
    return attrs.field(default=default, metadata={FINGERPRINT: "counter"})


def _hashed(kind: type = HMap):
    return attrs.field(factory=kind, metadata={FINGERPRINT: "map"})


@attrs.frozen(kw_only=True)
class ClusterState:
    """The whole modelled cluster: the substrate's fields first, then one group of fields
    per subsystem (each touched only by its own handlers). The fingerprint takes the
    marked fields in this order."""

    config: ClusterConfig = attrs.field(metadata={FINGERPRINT: "counter"})
    seq: int = _counter(0)
    clock: int = _counter(0)
    next_log_id: int = _counter(1)
    next_tx_id: int = _counter(1)
    next_tenant_id: int = _counter(FIRST_USER_TENANT_ID)
    next_table_id: int = _counter(FIRST_USER_TABLE_ID)
    next_tablet_id: int = _counter(1)
    schema_version: int = _counter(0)
    frozen_version: int = _counter(0)
    tenants: HMap = _hashed()
    tables: HMap = _hashed()
    log: PLog = _hashed(PLog)
    frozen: HMap = _hashed()
    marks: HMap = _hashed()
    # The DAG scheduler (ybstate.dag): dag_id -> Dag. Not an HMap: a Dag's repr spells out
    # its whole plan, so the fingerprint keeps ``dags_digest``, the sum of
    # ybstate.dag.dag_digest (O(1) each).
    dags: immutables.Map = attrs.field(factory=immutables.Map)
    dags_digest: int = attrs.field(default=0, metadata={FINGERPRINT: "digest"})
    # Full backups (ybstate.backup).
    backups: HMap = _hashed()  # task_id -> BackupTask
    backup_sets: HMap = _hashed()  # set_id -> BackupSet
    stored: HMap = _hashed()  # (set_id, tablet_id) -> StoredTablet
    next_dag_id: int = _counter(1)
    next_backup_task_id: int = _counter(1)
    next_backup_set_id: int = _counter(1)
    task_failures: int = _counter(0)  # DAG task attempts that failed, over the whole history
    # Log archiving (ybstate.archive).
    archivers: HMap = _hashed()  # tenant_id -> Archiver
    # The transaction server no longer has log ids 1 .. recycled_through. The model keeps
    # the whole log as its ghost record; nothing of the protocol reads below this mark.
    recycled_through: int = _counter(0)
    pieces: HMap = _hashed()  # (tenant_id, piece_no) -> Piece
    # Restores (ybstate.restore).
    restores: HMap = _hashed()  # task_id -> RestoreTask
    next_restore_task_id: int = _counter(1)
    # Promotion and decommission (ybstate.promote): where each tenant name routes.
    routing: HMap = _hashed()  # name -> tenant_id
    promotions: HMap = _hashed()  # promotion_id -> PromotionTask
    next_promotion_id: int = _counter(1)
    # Derived from the log (open and committed transactions, the rows they wrote) or
    # from other fields (indexes): not part of the fingerprint.
    open_txns: immutables.Map = attrs.field(factory=immutables.Map, eq=False, repr=False)
    committed: immutables.Map = attrs.field(factory=immutables.Map, eq=False, repr=False)
    tenant_index: immutables.Map = attrs.field(factory=immutables.Map, eq=False, repr=False)
    table_index: immutables.Map = attrs.field(factory=immutables.Map, eq=False, repr=False)
    # tenant id -> ids of its live tables, ascending; DDL keeps it, so per-tenant lookups
    # do not grow with the number of tables ever dropped.
    live_tables: immutables.Map = attrs.field(factory=immutables.Map, eq=False, repr=False)
    # tablet id -> {rowkey -> Version}: one small map per tablet, so a commit updates the
    # tablet's map and a tablet is read without scanning its table.
    data: immutables.Map = attrs.field(factory=immutables.Map, eq=False, repr=False)
    table_stats: immutables.Map = attrs.field(factory=immutables.Map, eq=False, repr=False)
    # task id -> the archived entries a restore replays (taken from backup storage when
    # its incremental phase starts) and -> {source tx id -> rewritten cells} its applier
    # holds: functions of the fingerprinted part, so left out of the fingerprint.
    restore_entries: immutables.Map = attrs.field(factory=immutables.Map, eq=False, repr=False)
    restore_buffers: immutables.Map = attrs.field(factory=immutables.Map, eq=False, repr=False)

    # Lookups ------------------------------------------------------------------------

    def tenant_named(self, name: str) -> Tenant | None:
        tenant_id = self.tenant_index.get(name)
        return None if tenant_id is None else self.tenants[tenant_id]

    def table_named(self, tenant_id: int, name: str) -> Table | None:
        table_id = self.table_index.get((tenant_id, name))
        return None if table_id is None else self.tables[table_id]

    def table_rows(self, table: Table, data: immutables.Map | None = None):
        """(rowkey, Version) of every row ever written to ``table``, tablet by tablet, from
        ``data`` (the current data when None, or a frozen version's snapshot)."""
        data = self.data if data is None else data
        for tablet in table.tablets:
            yield from data.get(tablet.tablet_id, _NO_ROWS).items()

    def tables_of(self, tenant_id: int, *, alive_only: bool = True) -> list[Table]:
        """The tenant's tables, by table id (with ``alive_only=False``, dropped ones too)."""
        if alive_only:
            return [self.tables[t] for t in self.live_tables.get(tenant_id, ())]
        found = [t for t in self.tables.values() if t.tenant_id == tenant_id and (t.alive or not alive_only)]
        found.sort(key=lambda t: t.table_id)
        return found

    @property
    def last_log_id(self) -> int:
        return self.next_log_id - 1


evolve_state = slot_evolver(ClusterState)
"""``attrs.evolve`` for ClusterState, generated once, filling the slots directly (see
:mod:`ybstate.evolve`): half the cost of calling ``__init__`` for its forty-odd fields."""

EMPTY = ClusterState(config=ClusterConfig())
"""The state before ``ClusterStarted``: every history starts here."""
