"""What the duration model costs: the simulator's steps/s timed against untimed on the same
seeds (goal: at most 5% slower), the restore pipeline's entries/s the same way, and the
distinct states an exhaustive search visits untimed and timed (why exhaustive checks are
untimed by default; docs/durations.md).

    PYTHONPATH=. python benchmarks/durations.py [--seeds 20] [--steps 2000] [--entries 20000]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import attrs
from rich.console import Console
from rich.table import Table

from ybstate.checks import check_spec, load_check, run_check, run_start, timed_for
from ybstate.cluster.costs import UNTIMED, Costs
from ybstate.drivers.simulate import simulate
from ybstate.scenario import parse_scenario, run_scenario
from ybstate.store import DuckDBStore

ROOT = Path(__file__).resolve().parent.parent
WALKED = ROOT / "benchmarks" / "data" / "swarm_long.toml"  # walks that do not end early
EXPLORED = ("promotion_faults_decommission", "archive_crash_stop_recycle")
OVERHEAD_GOAL = 1.05


def _with_timed(check, timed: bool):
    return timed_for(attrs.evolve(check, settings=attrs.evolve(check.settings, timed=timed)), "simulation")


def walks(seeds: int, steps: int) -> tuple[float, float, int]:
    """Steps/s of ``seeds`` walks of the combined check, untimed then timed (best of 2)."""
    check = load_check(WALKED)
    rates = []
    taken = 0
    for timed in (False, True):
        run = _with_timed(check, timed)
        spec = check_spec(run, run_start(run))
        best = float("inf")
        for _ in range(2):
            started = time.perf_counter()
            taken = sum(
                len(simulate(spec, seed=seed, steps=steps, coverage=False).steps) for seed in range(seeds)
            )
            best = min(best, time.perf_counter() - started)
        rates.append(taken / best)
    return rates[0], rates[1], taken


RESTORE = """
name = "bench"
seed = 1
[cluster]
piece_entries = 1000
restore_workers = 4
[[tenants]]
name = "shop"
tables = {{ orders = 4 }}
[[steps]]
do = "freeze"
[[steps]]
do = "backup"
tenant = "shop"
[[steps]]
do = "archive_start"
tenant = "shop"
[[steps]]
do = "workload"
tenant = "shop"
transactions = {transactions}
keys = 1000
[[steps]]
do = "restore"
source = "shop"
target = "standby"
"""


def restore(entries: int, costs: Costs) -> tuple[float, int, int]:
    """The restore step of a scenario that archives about ``entries`` entries: its wall
    time, the entries it replayed and its logical duration."""
    scenario = parse_scenario(RESTORE.format(transactions=max(1, entries // 4)), "bench.toml")
    scenario = attrs.evolve(scenario, cluster=attrs.evolve(scenario.cluster, costs=costs))
    seconds = {}

    def on_step(outcome) -> None:
        seconds[outcome.number] = time.perf_counter()

    with DuckDBStore() as store:
        started = time.perf_counter()
        result = run_scenario(scenario, store, on_step=on_step)
    ordered = [started, *sorted(seconds.values())]
    wall = ordered[-1] - ordered[-2]  # the last step: the restore
    (task,) = result.state.restores.values()
    return wall, task.entries, task.ended_ts - task.started_ts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--entries", type=int, default=20_000)
    options = parser.parse_args()
    console = Console(width=140)

    table = Table("measure", "untimed", "timed", "ratio", "goal", title="the duration model's cost")
    untimed, timed, taken = walks(options.seeds, options.steps)
    table.add_row(
        f"simulator, steps/s ({taken:,} steps, {options.seeds} walks of {WALKED.stem})",
        f"{untimed:,.0f}",
        f"{timed:,.0f}",
        f"{untimed / timed:.3f}x slower",
        f"<= {OVERHEAD_GOAL}x",
    )
    bare = restore(options.entries, UNTIMED)
    costed = restore(options.entries, Costs())
    table.add_row(
        f"restore, entries/s ({bare[1]:,} entries)",
        f"{bare[1] / bare[0]:,.0f}",
        f"{costed[1] / costed[0]:,.0f}",
        f"{costed[0] / bare[0]:.3f}x slower",
        f"<= {OVERHEAD_GOAL}x",
    )
    table.add_row(
        "restore, logical duration",
        f"{bare[2]:,} µs",
        f"{costed[2] / 1e6:,.3f} s",
        "",
        "timed: the cost table's",
    )
    for name in EXPLORED:
        check = load_check(ROOT / "specs" / "checks" / f"{name}.toml")
        states = []
        for flag in (False, True):
            run = run_check(attrs.evolve(check, settings=attrs.evolve(check.settings, timed=flag)))
            states.append(run.states)
        table.add_row(
            f"exhaustive, distinct states ({name})",
            f"{states[0]:,}",
            f"{states[1]:,}",
            f"{states[1] / states[0]:.2f}x more",
            "untimed by default",
        )
    console.print(table)


if __name__ == "__main__":
    main()
