"""Log archiving throughput and lag.

1. Throughput: a shared commit log of N entries written by 10 tenants (interleaved
   one-row transactions, a heartbeat now and then), then one archiver per tenant
   catching up with it: reads in batches, seals a piece every piece_entries kept
   entries. Prints log entries filtered per second, per archiver and in all.
2. Lag (RPO): a seeded run in which tenants write and each archiver catches up at
   random moments; after every log entry, the lag of each tenant's archive is
   clock - archived-up-to ts. Prints the distribution in logical microseconds (every log
   entry takes 1 µs, a heartbeat 1 ms).

    python benchmarks/archive.py [--entries 1000000] [--tenants 10]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from rich.console import Console
from rich.table import Table

from ybstate.archive.actions import PersistCheckpoint, ReadEntries, SealPiece, StartArchive
from ybstate.cluster.actions import Commit, CreateTable, CreateTenant, Put, Start, Tick, Write
from ybstate.cluster.state import ClusterConfig, ClusterState
from ybstate.gcpause import paused_gc
from ybstate.model import EMPTY, apply, decide


def act(state: ClusterState, action) -> ClusterState:
    for event in decide(state, action):
        state = apply(state, event)
    return state


def cluster(tenants: int, piece_entries: int) -> ClusterState:
    state = act(EMPTY, Start(config=ClusterConfig(piece_entries=piece_entries)))
    for i in range(tenants):
        state = act(state, CreateTenant(name=f"t{i}"))
        state = act(state, CreateTable(tenant=f"t{i}", table="a", tablets=4))
    return state


def write(state: ClusterState, rng: random.Random, tenants: int) -> ClusterState:
    if rng.random() < 0.01:
        return act(state, Tick(micros=1000))
    tenant = f"t{rng.randrange(tenants)}"
    key = f"k{rng.randrange(1000)}"
    (mutator,) = decide(state, Write(tenant=tenant, tx=None, changes=(Put(table="a", key=key, value="v"),)))
    state = apply(state, mutator)
    return act(state, Commit(tx=mutator.tx_id))


def catch_up(state: ClusterState, tenant_id: int) -> ClusterState:
    while True:
        archiver = state.archivers[tenant_id]
        if archiver.piece is not None and archiver.piece.kept >= state.config.piece_entries:
            state = act(state, SealPiece(tenant_id=tenant_id))
            continue
        if archiver.next_log_id > state.last_log_id:
            break
        state = act(state, ReadEntries(tenant_id=tenant_id, count=state.last_log_id))
    archiver = state.archivers[tenant_id]
    if archiver.piece is not None and archiver.piece.tenant_entries:
        return act(state, SealPiece(tenant_id=tenant_id))
    if archiver.next_log_id - 1 > archiver.checkpoint.last_log_id:
        return act(state, PersistCheckpoint(tenant_id=tenant_id))
    return state


def throughput(entries: int, tenants: int, console: Console) -> None:
    rng = random.Random(1)
    state = cluster(tenants, piece_entries=1000)
    for i in range(tenants):
        state = act(state, StartArchive(tenant=f"t{i}", destination=f"/backup/t{i}", start_log_id=1))
    started = time.perf_counter()
    while state.last_log_id < entries:
        state = write(state, rng, tenants)
    console.print(f"wrote {state.last_log_id:,} log entries in {time.perf_counter() - started:.1f}s")
    title = f"archiving a {state.last_log_id:,}-entry log shared by {tenants} tenants"
    table = Table("archiver", "log entries read", "kept", "pieces", "seconds", "entries/s", title=title)
    total = 0.0
    for i in range(tenants):
        tenant_id = state.tenant_named(f"t{i}").tenant_id
        started = time.perf_counter()
        state = catch_up(state, tenant_id)
        seconds = time.perf_counter() - started
        total += seconds
        pieces = [p for p in state.pieces.values() if p.tenant_id == tenant_id]
        table.add_row(f"t{i}", f"{state.last_log_id:,}", f"{sum(p.entry_count for p in pieces):,}",
                      str(len(pieces)), f"{seconds:.2f}", f"{state.last_log_id / seconds:,.0f}")  # fmt: skip
    table.add_row("all", f"{state.last_log_id * tenants:,}", "", "", f"{total:.2f}",
                  f"{state.last_log_id * tenants / total:,.0f}")  # fmt: skip
    console.print(table)


def lag(entries: int, tenants: int, console: Console) -> None:
    rng = random.Random(2)
    state = cluster(tenants, piece_entries=100)
    ids = [state.tenant_named(f"t{i}").tenant_id for i in range(tenants)]
    for i in range(tenants):
        state = act(state, StartArchive(tenant=f"t{i}", destination=f"/backup/t{i}", start_log_id=1))
    lags: list[int] = []
    while state.last_log_id < entries:
        state = write(state, rng, tenants)
        if rng.random() < 0.05:  # an archiver wakes up
            state = catch_up(state, rng.choice(ids))
        for tenant_id in ids:
            archived = state.archivers[tenant_id].checkpoint.archived_ts
            lags.append(state.clock - archived if archived else state.clock - state.config.start_time)
    lags.sort()
    table = Table("samples", "mean", "p50", "p90", "p99", "max", title="archive lag (RPO), logical µs")
    table.add_row(
        f"{len(lags):,}",
        f"{statistics.fmean(lags):,.0f}",
        *(f"{lags[int(q * (len(lags) - 1))]:,}" for q in (0.5, 0.9, 0.99)),
        f"{lags[-1]:,}",
    )
    console.print(table)
    console.print("(archivers wake at random, about every 20 log entries, one tenant at a time)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--lag-entries", type=int, default=50_000)
    args = parser.parse_args()
    console = Console(width=160)
    with paused_gc():
        throughput(args.entries, args.tenants, console)
        lag(args.lag_entries, args.tenants, console)


if __name__ == "__main__":
    main()
