"""Invariants of the cluster, checked over whole states.

Each function returns None when it holds, or a message naming the first offending value.
They read the ghost history freely (they are oracles, not protocol code) and cost
O(history): the checkers call them on the small states they explore; long simulations
call them every so many steps.
"""

from __future__ import annotations

import itertools

from ybstate.cluster import ghost
from ybstate.cluster.events import MutatorLogged, TransactionAborted, TransactionCommitted
from ybstate.cluster.state import ClusterState, TenantBaseline
from ybstate.hashing import key_hash, rows_checksum
from ybstate.kernel import Invariant

__all__ = ["CLUSTER_INVARIANTS"]


def log_ids_dense(state: ClusterState) -> str | None:
    """Log ids are 1..n with no gap, each entry stored under its own id."""
    for log_id in range(1, state.next_log_id):
        if log_id not in state.log:
            return f"log id {log_id} is missing (log runs to {state.last_log_id})"
        if state.log[log_id].log_id != log_id:
            return f"entry stored at log id {log_id} says log_id={state.log[log_id].log_id}"
    if len(state.log) != state.last_log_id:
        return f"log holds {len(state.log)} entries, expected {state.last_log_id}"
    return None


def log_time_increasing(state: ClusterState) -> str | None:
    """Timestamps increase strictly with log id."""
    previous = None
    for log_id in range(1, state.next_log_id):
        ts = state.log[log_id].time
        if previous is not None and ts <= previous:
            return f"log id {log_id} has ts {ts}, not after {previous} of log id {log_id - 1}"
        previous = ts
    return None


def commit_ts_increasing(state: ClusterState) -> str | None:
    """Commit timestamps increase with the commit's log id."""
    records = sorted(state.committed.values(), key=lambda r: r.commit_log_id)
    for before, after in itertools.pairwise(records):
        if after.commit_ts <= before.commit_ts:
            return (
                f"transaction {after.tx_id} committed at log id {after.commit_log_id} with ts "
                f"{after.commit_ts}, not after {before.commit_ts} of transaction {before.tx_id}"
            )
    return None


def single_tenant_transactions(state: ClusterState) -> str | None:
    """Every cell of every transaction belongs to a table of the transaction's tenant."""
    for log_id in range(1, state.next_log_id):
        entry = state.log.get(log_id)
        if isinstance(entry, MutatorLogged):
            for cell in entry.cells:
                owner = state.tables[cell.table_id].tenant_id
                if owner != entry.tenant_id:
                    return (
                        f"log id {log_id}: transaction {entry.tx_id} of tenant {entry.tenant_id} "
                        f"touches table {cell.table_id} of tenant {owner}"
                    )
    for record in list(state.committed.values()) + list(state.open_txns.values()):
        for cell in record.cells:
            if state.tables[cell.table_id].tenant_id != record.tenant_id:
                return f"transaction {record.tx_id} holds a cell of table {cell.table_id} of another tenant"
    return None


def transactions_match_log(state: ClusterState) -> str | None:
    """Open and committed transactions hold exactly their logged mutators."""
    cells: dict[int, tuple] = {}
    ended: dict[int, str] = {}
    for log_id in range(1, state.next_log_id):
        entry = state.log[log_id]
        if isinstance(entry, MutatorLogged):
            if entry.tx_id in ended:
                return f"log id {log_id}: mutator of transaction {entry.tx_id} after its {ended[entry.tx_id]}"
            cells[entry.tx_id] = cells.get(entry.tx_id, ()) + entry.cells
        elif isinstance(entry, TransactionCommitted | TransactionAborted):
            ended[entry.tx_id] = "commit" if isinstance(entry, TransactionCommitted) else "abort"
    for tx_id, record in state.committed.items():
        if ended.get(tx_id) != "commit" or cells.get(tx_id) != record.cells:
            return f"committed transaction {tx_id} does not match its log entries"
    for tx_id, record in state.open_txns.items():
        if tx_id in ended or cells.get(tx_id) != record.cells:
            return f"open transaction {tx_id} does not match its log entries"
    open_in_log = {tx for tx in cells if tx not in ended}
    if open_in_log != set(state.open_txns.keys()):
        return (
            f"open transactions {sorted(state.open_txns.keys())} differ from the log's {sorted(open_in_log)}"
        )
    return None


def frozen_baselines_exact(state: ClusterState) -> str | None:
    """Each frozen version holds exactly the commits at or before its freeze entry."""
    for version, frozen in sorted(state.frozen.items()):
        tenant_ids = sorted(state.tenants.keys())
        summaries = []
        for tenant_id in tenant_ids:
            held = ghost.baseline(state, tenant_id, version)
            expected = ghost.content_at_log(state, tenant_id, frozen.log_id)
            if held != expected:
                missing = sorted(set(expected.items()) - set(held.items()))[:3]
                extra = sorted(set(held.items()) - set(expected.items()))[:3]
                return (
                    f"frozen version {version} (freeze at log id {frozen.log_id}) of tenant "
                    f"{tenant_id}: missing {missing}, unexpected {extra}"
                )
            if any(t.alive_at_log(frozen.log_id) for t in state.tables_of(tenant_id, alive_only=False)):
                summaries.append(
                    TenantBaseline(tenant_id=tenant_id, rows=len(held), checksum=ghost.checksum(held))
                )
        if tuple(summaries) != frozen.baseline:
            recomputed = tuple(summaries)
            return f"frozen version {version}: recorded baseline {frozen.baseline} != recomputed {recomputed}"
        straddling = sorted(
            tx_id
            for tx_id, first, end in _tx_spans(state)
            if first < frozen.log_id and (end is None or end > frozen.log_id)
        )
        recorded = sorted(t.tx_id for t in frozen.open_transactions)
        if straddling != recorded:
            return f"frozen version {version}: open transactions {recorded}, log says {straddling}"
    return None


def _tx_spans(state: ClusterState):
    first: dict[int, int] = {}
    end: dict[int, int] = {}
    for log_id in range(1, state.next_log_id):
        entry = state.log[log_id]
        if isinstance(entry, MutatorLogged):
            first.setdefault(entry.tx_id, log_id)
        elif isinstance(entry, TransactionCommitted | TransactionAborted):
            end[entry.tx_id] = log_id
    return [(tx_id, f, end.get(tx_id)) for tx_id, f in first.items()]


def table_stats_exact(state: ClusterState) -> str | None:
    """Per-table row counts and checksums kept by the reducer equal those of the data."""
    for table_id, (rows, checksum) in state.table_stats.items():
        name = state.tables[table_id].name
        live = [(k, v[2]) for k, v in state.table_rows(state.tables[table_id]) if v[2] is not None]
        expected = rows_checksum((name, k, value) for k, value in live)
        if (rows, checksum) != (len(live), expected):
            return f"table {table_id}: stats say {rows} rows / {checksum}, data has {len(live)} / {expected}"
    return None


def rows_in_their_tablets(state: ClusterState) -> str | None:
    """Every row sits in the tablet whose key range holds its key."""
    for table in state.tables.values():
        for tablet in table.tablets:
            for key in state.data.get(tablet.tablet_id, {}):
                if not tablet.holds(key_hash(key)):
                    where = f"tablet {tablet.tablet_id}, outside its range"
                    return f"row {key!r} of table {table.table_id} sits in {where}"
    return None


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


CLUSTER_INVARIANTS: tuple[Invariant[ClusterState], ...] = (
    Invariant(name="log_ids_dense", check=log_ids_dense, subject=_logged),
    Invariant(name="log_time_increasing", check=log_time_increasing, subject=_logged),
    Invariant(name="commit_ts_increasing", check=commit_ts_increasing, subject=_two_commits),
    Invariant(name="single_tenant_transactions", check=single_tenant_transactions, subject=_transactions),
    Invariant(name="transactions_match_log", check=transactions_match_log, subject=_transactions),
    Invariant(name="frozen_baselines_exact", check=frozen_baselines_exact, subject=_frozen),
    Invariant(name="table_stats_exact", check=table_stats_exact, subject=_rows),
    Invariant(name="rows_in_their_tablets", check=rows_in_their_tablets, subject=_rows),
)
