"""Invariants of the cluster, checked over whole states.

Each function returns None when it holds, or a message naming the first offending value.
They read the ghost history freely (they are oracles, not protocol code). Each is written
once, in its incremental form ``<name>_since(before, after)``: it looks at the log
entries appended since ``before`` (and what they touched), so a check costs the same at
any history length; the whole-state check is that form from the empty cluster, where the
window is the whole log (:attr:`ybstate.kernel.Invariant.since`).
"""

from __future__ import annotations

from ybstate.cluster import ghost
from ybstate.cluster.events import (
    MutatorLogged,
    TableCreated,
    TableDropped,
    TransactionAborted,
    TransactionCommitted,
    VersionFrozen,
)
from ybstate.cluster.state import EMPTY, ClusterState, Table, TenantBaseline
from ybstate.hashing import key_hash, rows_checksum
from ybstate.kernel import Invariant

__all__ = ["CLUSTER_INVARIANTS", "log_since", "tenants_logged_since", "whole"]


def log_since(before: ClusterState, after: ClusterState):
    """(log id, entry) of every log entry of ``after`` appended since ``before``."""
    log = after.log
    for log_id in range(before.next_log_id, after.next_log_id):
        entry = log.get(log_id)
        if entry is not None:  # a hole is log_ids_dense's to report
            yield log_id, entry


def tenants_logged_since(before: ClusterState, after: ClusterState) -> set[int | None]:
    """The tenants with a log entry appended since ``before`` (None for a cluster-wide one)."""
    return {getattr(entry, "tenant_id", None) for _, entry in log_since(before, after)}


def whole(since):
    """The invariant over a whole state: its incremental form ``since`` from the empty
    cluster, where the log since is the whole log. The result carries ``since``."""

    def check(state: ClusterState) -> str | None:
        return since(EMPTY, state)

    check.__name__ = since.__name__.removesuffix("_since")
    check.__doc__ = since.__doc__
    check.since = since  # type: ignore[attr-defined]
    return check


def log_ids_dense_since(before: ClusterState, after: ClusterState) -> str | None:
    """Log ids are 1..n with no gap, each entry stored under its own id."""
    if after.next_log_id < before.next_log_id:
        return f"log runs to {after.last_log_id}, shorter than the {before.last_log_id} it had"
    for log_id in range(before.next_log_id, after.next_log_id):
        if log_id not in after.log:
            return f"log id {log_id} is missing (log runs to {after.last_log_id})"
        if after.log[log_id].log_id != log_id:
            return f"entry stored at log id {log_id} says log_id={after.log[log_id].log_id}"
    if len(after.log) != after.last_log_id:
        return f"log holds {len(after.log)} entries, expected {after.last_log_id}"
    return None


def log_time_increasing_since(before: ClusterState, after: ClusterState) -> str | None:
    """Timestamps increase strictly with log id."""
    last = after.log.get(before.last_log_id)
    previous = None if last is None else last.time
    for log_id, entry in log_since(before, after):
        if previous is not None and entry.time <= previous:
            return f"log id {log_id} has ts {entry.time}, not after {previous} of log id {log_id - 1}"
        previous = entry.time
    return None


def commit_ts_increasing_since(before: ClusterState, after: ClusterState) -> str | None:
    """Commit timestamps increase with the commit's log id (every committed transaction
    has its COMMIT in the log: transactions_match_log)."""
    previous = None
    for log_id in range(before.last_log_id, 0, -1):  # the last commit before the window
        entry = after.log.get(log_id)
        if isinstance(entry, TransactionCommitted):
            previous = after.committed.get(entry.tx_id)
            break
    for _, entry in log_since(before, after):
        if not isinstance(entry, TransactionCommitted) or entry.tx_id not in after.committed:
            continue
        record = after.committed[entry.tx_id]
        if previous is not None and record.commit_ts <= previous.commit_ts:
            return (
                f"transaction {record.tx_id} committed at log id {record.commit_log_id} with ts "
                f"{record.commit_ts}, not after {previous.commit_ts} of transaction {previous.tx_id}"
            )
        previous = record
    return None


def _touched(before: ClusterState, after: ClusterState) -> set[int]:
    """The transactions with a log entry appended since ``before``."""
    return {
        entry.tx_id
        for _, entry in log_since(before, after)
        if isinstance(entry, MutatorLogged | TransactionCommitted | TransactionAborted)
    }


def single_tenant_transactions_since(before: ClusterState, after: ClusterState) -> str | None:
    """Every cell of every transaction belongs to a table of the transaction's tenant."""
    for log_id, entry in log_since(before, after):
        if isinstance(entry, MutatorLogged):
            for cell in entry.cells:
                owner = after.tables[cell.table_id].tenant_id
                if owner != entry.tenant_id:
                    return (
                        f"log id {log_id}: transaction {entry.tx_id} of tenant {entry.tenant_id} "
                        f"touches table {cell.table_id} of tenant {owner}"
                    )
    for tx_id in sorted(_touched(before, after)):
        record = after.committed.get(tx_id) or after.open_txns.get(tx_id)
        for cell in () if record is None else record.cells:
            if after.tables[cell.table_id].tenant_id != record.tenant_id:
                return f"transaction {tx_id} holds a cell of table {cell.table_id} of another tenant"
    return None


def transactions_match_log_since(before: ClusterState, after: ClusterState) -> str | None:
    """Open and committed transactions hold exactly their logged mutators.

    From ``before``, where they did: its open transactions carry their cells so far, and
    a transaction id below its ``next_tx_id`` that is not open there has ended."""
    cells = {tx_id: record.cells for tx_id, record in before.open_txns.items()}
    ended: dict[int, str] = {}
    commits = 0
    for log_id, entry in log_since(before, after):
        if isinstance(entry, MutatorLogged):
            if entry.tx_id in ended or (entry.tx_id not in cells and entry.tx_id < before.next_tx_id):
                why = ended.get(entry.tx_id, "end")
                return f"log id {log_id}: mutator of transaction {entry.tx_id} after its {why}"
            cells[entry.tx_id] = cells.get(entry.tx_id, ()) + entry.cells
        elif isinstance(entry, TransactionCommitted | TransactionAborted):
            committed = isinstance(entry, TransactionCommitted)
            ended[entry.tx_id] = "commit" if committed else "abort"
            commits += committed
    for tx_id, how in ended.items():
        record = after.committed.get(tx_id)
        if (how == "commit") != (record is not None) or (
            record is not None and cells.get(tx_id) != record.cells
        ):
            return f"committed transaction {tx_id} does not match its log entries"
    if len(after.committed) != len(before.committed) + commits:
        return f"{len(after.committed)} committed transactions, the log has {len(before.committed) + commits}"
    for tx_id, record in after.open_txns.items():
        if tx_id in ended or cells.get(tx_id) != record.cells:
            return f"open transaction {tx_id} does not match its log entries"
    open_in_log = {tx for tx in cells if tx not in ended}
    if open_in_log != set(after.open_txns.keys()):
        return (
            f"open transactions {sorted(after.open_txns.keys())} differ from the log's {sorted(open_in_log)}"
        )
    return None


def _tables_alive_at(before: ClusterState, after: ClusterState, log_id: int) -> dict[int, list[Table]]:
    """Tenant id -> its tables alive just after ``log_id`` (a log id since ``before``), by
    table id: the live ones now, with the DDL since then undone."""
    alive = {table_id for ids in after.live_tables.values() for table_id in ids}
    created = set()
    for at, entry in log_since(before, after):
        if at > log_id and isinstance(entry, TableCreated):
            created.add(entry.table_id)
        elif at > log_id and isinstance(entry, TableDropped):
            alive.add(entry.table_id)
    alive -= created  # created after log_id, whether dropped since or not
    found: dict[int, list[Table]] = {}
    for table_id in sorted(alive):
        table = after.tables[table_id]
        found.setdefault(table.tenant_id, []).append(table)
    return found


def frozen_baselines_exact_since(before: ClusterState, after: ClusterState) -> str | None:
    """Each frozen version holds exactly the commits at or before its freeze entry.

    A frozen version never changes once made (but for when its SSTables are dropped), so
    each is checked when it appears. One pass over the log since ``before`` keeps what
    the freezes there are compared with: the tables alive, their rows (from the commits,
    in log order) and the open transactions (from ``before``'s, then the log); so the
    whole check, from the empty cluster, is one pass over the whole log."""
    versions = range(before.frozen_version + 1, after.frozen_version + 1)
    if not versions:
        return None
    start = before.next_log_id - 1
    rows: dict[int, dict[str, str]] = {}  # live table id -> {row key -> value}, as of the pass
    for tenant_id, tables in _tables_alive_at(before, after, start).items():
        for table in tables:
            held = ghost.content_at_log(after, tenant_id, start, [table])
            rows[table.table_id] = {key: value for (_, key), value in held.items()}
    opened = set(before.open_txns.keys())
    checked = set()
    for log_id, entry in log_since(before, after):
        kind = type(entry)
        if kind is MutatorLogged:
            opened.add(entry.tx_id)
        elif kind is TransactionCommitted:
            opened.discard(entry.tx_id)
            record = after.committed.get(entry.tx_id)
            for cell in () if record is None else record.cells:
                table_rows = rows.get(cell.table_id)
                if table_rows is None:
                    continue  # a table dropped while the transaction was open
                if cell.value is None:
                    table_rows.pop(cell.rowkey, None)
                else:
                    table_rows[cell.rowkey] = cell.value
        elif kind is TransactionAborted:
            opened.discard(entry.tx_id)
        elif kind is TableCreated:
            rows[entry.table_id] = {}
        elif kind is TableDropped:
            rows.pop(entry.table_id, None)
        elif kind is VersionFrozen and entry.version in versions:
            checked.add(entry.version)
            message = _frozen_version_exact(after, entry.version, log_id, rows, opened)
            if message is not None:
                return message
    for version in versions:
        if version not in checked:
            return f"frozen version {version} has no freeze entry in the log"
    return None


def _frozen_version_exact(
    state: ClusterState, version: int, log_id: int, rows: dict[int, dict[str, str]], opened: set[int]
) -> str | None:
    """Frozen version ``version``, frozen by the entry at ``log_id``, against the tables
    alive then with their ``rows``, and the transactions ``opened`` then."""
    frozen = state.frozen.get(version)
    if frozen is None:
        return f"frozen version {version} is missing (the cluster is at version {state.frozen_version})"
    if frozen.log_id != log_id:
        where = f"says its freeze is at log id {frozen.log_id}, the log has it at {log_id}"
        return f"frozen version {version} {where}"
    tables: dict[int, list[Table]] = {}
    for table_id in sorted(rows):
        table = state.tables[table_id]
        tables.setdefault(table.tenant_id, []).append(table)
    summaries = []
    for tenant_id in sorted(state.tenants.keys()):
        mine = tables.get(tenant_id, [])
        held = ghost.baseline(state, tenant_id, version, mine)
        expected = {(t.name, key): value for t in mine for key, value in rows[t.table_id].items()}
        if held != expected:
            missing = sorted(set(expected.items()) - set(held.items()))[:3]
            extra = sorted(set(held.items()) - set(expected.items()))[:3]
            return (
                f"frozen version {version} (freeze at log id {frozen.log_id}) of tenant "
                f"{tenant_id}: missing {missing}, unexpected {extra}"
            )
        if mine:
            summaries.append(
                TenantBaseline(tenant_id=tenant_id, rows=len(held), checksum=ghost.checksum(held))
            )
    if tuple(summaries) != frozen.baseline:
        recomputed = tuple(summaries)
        return f"frozen version {version}: recorded baseline {frozen.baseline} != recomputed {recomputed}"
    straddling = sorted(opened)
    recorded = sorted(t.tx_id for t in frozen.open_transactions)
    if straddling != recorded:
        return f"frozen version {version}: open transactions {recorded}, log says {straddling}"
    return None


def _tables_written(before: ClusterState, after: ClusterState) -> list[int]:
    """The tables whose rows or stats the log entries since ``before`` changed."""
    found: set[int] = set()
    for _, entry in log_since(before, after):
        if isinstance(entry, TableCreated):
            found.add(entry.table_id)
        elif isinstance(entry, TransactionCommitted) and entry.tx_id in after.committed:
            found.update(cell.table_id for cell in after.committed[entry.tx_id].cells)
    return sorted(found)


def table_stats_exact_since(before: ClusterState, after: ClusterState) -> str | None:
    """Per-table row counts and checksums kept by the reducer equal those of the data."""
    for table_id in _tables_written(before, after):
        if table_id not in after.table_stats:
            return f"table {table_id} has no stats"
        rows, checksum = after.table_stats[table_id]
        name = after.tables[table_id].name
        live = [(k, v[2]) for k, v in after.table_rows(after.tables[table_id]) if v[2] is not None]
        expected = rows_checksum((name, k, value) for k, value in live)
        if (rows, checksum) != (len(live), expected):
            return f"table {table_id}: stats say {rows} rows / {checksum}, data has {len(live)} / {expected}"
    return None


def rows_in_their_tablets_since(before: ClusterState, after: ClusterState) -> str | None:
    """Every row sits in the tablet whose key range holds its key."""
    for table_id in _tables_written(before, after):
        table = after.tables[table_id]
        for tablet in table.tablets:
            for key in after.data.get(tablet.tablet_id, {}):
                if not tablet.holds(key_hash(key)):
                    where = f"tablet {tablet.tablet_id}, outside its range"
                    return f"row {key!r} of table {table.table_id} sits in {where}"
    return None


log_ids_dense = whole(log_ids_dense_since)
log_time_increasing = whole(log_time_increasing_since)
commit_ts_increasing = whole(commit_ts_increasing_since)
single_tenant_transactions = whole(single_tenant_transactions_since)
transactions_match_log = whole(transactions_match_log_since)
frozen_baselines_exact = whole(frozen_baselines_exact_since)
table_stats_exact = whole(table_stats_exact_since)
rows_in_their_tablets = whole(rows_in_their_tablets_since)


# Subjects: what each invariant is about (docs/checks.md, "vacuous").


def _logged(state: ClusterState) -> bool:
    return state.next_log_id > 2  # two entries: something to be dense and increasing


def _two_commits(state: ClusterState) -> bool:
    return len(state.committed) >= 2


def _transactions(state: ClusterState) -> bool:
    return bool(state.committed or state.open_txns)


def _frozen(state: ClusterState) -> bool:
    return state.frozen_version > 0


def _rows(state: ClusterState) -> bool:
    return any(state.data.values())


def _invariant(check, subject) -> Invariant[ClusterState]:
    return Invariant(name=check.__name__, check=check, subject=subject, since=check.since)


CLUSTER_INVARIANTS: tuple[Invariant[ClusterState], ...] = (
    _invariant(log_ids_dense, _logged),
    _invariant(log_time_increasing, _logged),
    _invariant(commit_ts_increasing, _two_commits),
    _invariant(single_tenant_transactions, _transactions),
    _invariant(transactions_match_log, _transactions),
    _invariant(frozen_baselines_exact, _frozen),
    _invariant(table_stats_exact, _rows),
    _invariant(rows_in_their_tablets, _rows),
)
