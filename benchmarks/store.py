"""DuckDB event store throughput: append and load of a simulated history.

Appends the history to a new DuckDB file in batches (JSON encoding + one Arrow insert per
batch, in one transaction each), then loads it back (fetch + decode) and replays it to
check the fingerprint. Prints events/s for each phase.

    python benchmarks/store.py [--events 1000000] [--batch 100000] [--cache FILE]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import cached_history, timed
from rich.console import Console
from rich.table import Table

from ybstate.cluster.fingerprint import fingerprint_hex
from ybstate.cluster.reducer import replay
from ybstate.store import DuckDBStore, MemoryStore


def append_all(store, history, batch: int) -> None:
    for start in range(0, len(history), batch):
        store.append(history[start : start + batch])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cache", default=None, help="pickle file keeping the generated history")
    args = parser.parse_args()
    console = Console()
    console.print(f"generating a simulated history of {args.events:,} events ...")
    history, _ = timed(cached_history, args.events, args.seed, args.cache)
    expected = fingerprint_hex(replay(history))
    table = Table("store", "phase", "events", "seconds", "events/s", title="event store throughput")
    with tempfile.TemporaryDirectory() as tmp:
        for label, make in (
            ("duckdb file", lambda: DuckDBStore(Path(tmp) / "bench.duckdb")),
            ("memory", MemoryStore),
        ):
            store = make()
            _, seconds = timed(append_all, store, history, args.batch)
            table.add_row(
                label,
                f"append (batches of {args.batch:,})",
                f"{len(history):,}",
                f"{seconds:.2f}",
                f"{len(history) / seconds:,.0f}",
            )
            loaded, seconds = timed(store.load)
            table.add_row(
                label, "load", f"{len(loaded):,}", f"{seconds:.2f}", f"{len(loaded) / seconds:,.0f}"
            )
            if fingerprint_hex(replay(loaded)) != expected:
                raise SystemExit(f"{label}: the loaded history does not replay to the same fingerprint")
            store.close()
    console.print(table)
    console.print("loaded histories replay to the original fingerprint")


if __name__ == "__main__":
    main()
