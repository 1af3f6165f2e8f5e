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

from _common import BENCH_SCOPE, DDL_SCOPE, cached_history, timed
from rich.console import Console
from rich.table import Table

from ybstate.codec import make_codec
from ybstate.model import fingerprint_hex, replay
from ybstate.store import DuckDBStore, MemoryStore


def append_all(store, history, batch: int) -> None:
    for start in range(0, len(history), batch):
        store.append(history[start : start + batch])


def decode_all(codec, rows) -> list[object]:
    return [codec.from_json(tag, payload) for _seq, _time, tag, _tenant, payload in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cache", default=None, help="pickle file keeping the generated history")
    parser.add_argument("--ddl", action="store_true", help="create and drop tables as the walk goes")
    args = parser.parse_args()
    console = Console(width=160)
    console.print(f"generating a simulated history of {args.events:,} events ...")
    history, _ = timed(
        cached_history, args.events, args.seed, args.cache, DDL_SCOPE if args.ddl else BENCH_SCOPE
    )
    expected = fingerprint_hex(replay(history))
    table = Table("store", "phase", "events", "seconds", "events/s", title="event store throughput")
    codec = make_codec()
    encoded, seconds = timed(codec.encode_all, history)
    count = len(encoded)
    table.add_row(
        "(codec)", "encode to JSON rows only", f"{count:,}", f"{seconds:.2f}", f"{count / seconds:,.0f}"
    )
    _, seconds = timed(decode_all, codec, encoded)
    table.add_row(
        "(codec)", "decode JSON rows only", f"{count:,}", f"{seconds:.2f}", f"{count / seconds:,.0f}"
    )
    del encoded
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
