"""`ybstate verify` on a long history: each SQL invariant, trace validation, and each
state invariant's whole check of the final state, timed.

Generates (or reads from ``--cache``) a seeded simulated history of ``--events`` events
(five tenants writing, freezing; ``--ddl`` creates and drops tables as it goes), stores
it in a new DuckDB file, then runs what `verify` runs, one part at a time. Goal: the SQL
invariants together under 60 s at 1M events.

    PYTHONPATH=. python benchmarks/verify.py [--events 1000000] [--cache FILE] [--ddl]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH_SCOPE, DDL_SCOPE, cached_history
from rich.console import Console
from rich.table import Table

from ybstate.history import sql_invariants
from ybstate.model import INVARIANTS, validate_trace
from ybstate.store import DuckDBStore

SQL_GOAL = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cache", default=None, help="pickle file keeping the generated history")
    parser.add_argument("--ddl", action="store_true", help="create and drop tables as the walk goes")
    options = parser.parse_args()
    console = Console(width=150)
    history = cached_history(
        options.events, options.seed, options.cache, DDL_SCOPE if options.ddl else BENCH_SCOPE
    )
    table = Table("part", "kind", "seconds", "violations", title=f"verify over {len(history):,} events")
    with tempfile.TemporaryDirectory() as directory, DuckDBStore(str(Path(directory) / "h.duckdb")) as store:
        started = time.perf_counter()
        for start in range(0, len(history), 100_000):
            store.append(history[start : start + 100_000])
        table.add_row("(store the history)", "", f"{time.perf_counter() - started:.1f}", "")
        sql_total = 0.0
        for inv in sql_invariants():
            started = time.perf_counter()
            _, rows = store.query(inv.sql)
            seconds = time.perf_counter() - started
            sql_total += seconds
            table.add_row(inv.name, "sql", f"{seconds:.2f}", f"{len(rows)}")
        table.add_row(
            "all SQL invariants", "sql", f"{sql_total:.1f}", f"goal < {SQL_GOAL:.0f} s", style="bold"
        )
        started = time.perf_counter()
        state = validate_trace(store.load(store.chained_rows()))
        table.add_row(
            "history_replays (trace validation)", "state", f"{time.perf_counter() - started:.1f}", ""
        )
        state_total = 0.0
        for inv in INVARIANTS:
            started = time.perf_counter()
            message = inv.check(state)
            seconds = time.perf_counter() - started
            state_total += seconds
            table.add_row(inv.name, "state", f"{seconds:.3f}", "0" if message is None else "1")
        table.add_row("all state invariants", "state", f"{state_total:.1f}", "", style="bold")
    console.print(table)


if __name__ == "__main__":
    main()
