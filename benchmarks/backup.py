"""Full backup throughput: one tenant with 1M rows in 64 tablets.

Loads the rows through decide/apply (1,000-row transactions), freezes, then times the
backup: PREPARING, the copy of every tablet as DAG tasks (W at once), VERIFYING (every
stored tablet re-read and its checksum recomputed), and encoding the backup's events for
the store. Prints rows/s for each phase.

    python benchmarks/backup.py [--rows 1000000] [--tablets 64] [--workers 8]
"""

from __future__ import annotations

import argparse
import random
import time

from rich.console import Console
from rich.table import Table

from ybstate import dag
from ybstate.backup.actions import AdvanceBackup, StartBackup
from ybstate.backup.state import BackupPhase
from ybstate.cluster.actions import Commit, CreateTable, CreateTenant, Freeze, Put, Start, Write
from ybstate.cluster.state import ClusterConfig, ClusterState
from ybstate.codec import make_codec
from ybstate.gcpause import paused_gc
from ybstate.model import EMPTY, apply, decide


def act(state: ClusterState, action) -> tuple[ClusterState, list]:
    events = decide(state, action)
    for event in events:
        state = apply(state, event)
    return state, events


def loaded_cluster(rows: int, tablets: int, batch: int = 1000) -> ClusterState:
    state = EMPTY
    for action in (
        Start(config=ClusterConfig(dag_workers=8)),
        CreateTenant(name="big"),
        CreateTable(tenant="big", table="t", tablets=tablets),
    ):
        state, _ = act(state, action)
    for start in range(0, rows, batch):
        changes = tuple(
            Put(table="t", key=f"key{i:08d}", value=f"value-{i}")
            for i in range(start, min(rows, start + batch))
        )
        state, (mutator,) = act(state, Write(tenant="big", tx=None, changes=changes))
        state, _ = act(state, Commit(tx=mutator.tx_id))
    state, _ = act(state, Freeze())
    return state


def run_backup(state: ClusterState, workers: int, seed: int) -> tuple[ClusterState, list, dict[str, float]]:
    rng = random.Random(seed)
    timings: dict[str, float] = {}
    events: list = []
    started = time.perf_counter()
    state, new = act(state, StartBackup(tenant="big", destination="/backup/big", parallel=workers))
    events += new
    task_id = new[0].task_id
    for _ in range(2):  # INIT -> PREPARING -> DOING
        state, new = act(state, AdvanceBackup(task_id=task_id))
        events += new
    timings["prepare"] = time.perf_counter() - started
    started = time.perf_counter()
    task = state.backups[task_id]
    while not state.dags[task.dag_id].finished:
        state, new = act(state, rng.choice(dag.enabled_dag(state.dags[task.dag_id], faults=False)))
        events += new
    timings["copy"] = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(2):  # DOING -> VERIFYING -> COMPLETED
        state, new = act(state, AdvanceBackup(task_id=task_id))
        events += new
    timings["verify"] = time.perf_counter() - started
    if state.backups[task_id].phase is not BackupPhase.COMPLETED:
        raise SystemExit(f"the backup ended {state.backups[task_id].phase.value}")
    return state, events, timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--tablets", type=int, default=64)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    console = Console(width=160)
    console.print(f"loading {args.rows:,} rows into {args.tablets} tablets ...")
    with paused_gc():
        started = time.perf_counter()
        state = loaded_cluster(args.rows, args.tablets)
        load = time.perf_counter() - started
        state, events, timings = run_backup(state, args.workers, args.seed)
        started = time.perf_counter()
        make_codec().encode_all(events)
        timings["encode events"] = time.perf_counter() - started
    table = Table(
        "phase",
        "seconds",
        "rows/s",
        title=f"full backup of {args.rows:,} rows in {args.tablets} tablets, W={args.workers}",
    )
    table.add_row("(load through decide/apply)", f"{load:.2f}", f"{args.rows / load:,.0f}")
    for phase, seconds in timings.items():
        table.add_row(phase, f"{seconds:.2f}", f"{args.rows / seconds:,.0f}" if seconds else "-")
    total = timings["prepare"] + timings["copy"] + timings["verify"]
    table.add_row("backup (prepare + copy + verify)", f"{total:.2f}", f"{args.rows / total:,.0f}")
    console.print(table)
    console.print(
        f"{len(events):,} backup events; set holds {sum(s.row_count for s in state.stored.values()):,} rows"
    )


if __name__ == "__main__":
    main()
