"""For each of the seed design's flaws, the seeds a swarm needs to find it, and the
corrected protocol over the same seeds (docs/flaws.md's swarm table).

Each flaw's check file (specs/flaws/) is swarmed seed by seed from seed 1, up to
``--seeds``, until a seed breaks the property the explorer reports for it (a walk cannot
judge a progress property: flaw 3 is one); then the corrected protocol (the same file
without the flaw) is swarmed over all ``--seeds`` seeds, and must hold (or rest) on each.

    PYTHONPATH=. python benchmarks/swarm_flaws.py [--seeds 1000] [--steps 200]
"""

from __future__ import annotations

import argparse
import time

from rich.console import Console
from rich.table import Table

from ybstate.checks import check_spec, load_check, run_check, run_start, with_flaws
from ybstate.cluster.protocol import FLAWS
from ybstate.flaws import flaws_dir
from ybstate.swarm import run_seed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=200)
    options = parser.parse_args()
    table = Table(
        "flaw",
        "property (explorer)",
        "first failing seed",
        "its fault mix",
        "failing seeds",
        "corrected: seeds clean",
        "seconds",
        title=f"swarms of up to {options.seeds:,} seeds, {options.steps} steps each",
    )
    for flaw in FLAWS:
        check = load_check(flaws_dir() / f"{flaw}.toml")
        expected = run_check(check, mode="exhaustive").counterexample
        wanted = None if expected is None else expected.invariant
        started = time.perf_counter()
        start = run_start(check)
        spec = check_spec(check, start)
        first, mix, failing, ran = None, "", 0, 0
        for seed in range(1, options.seeds + 1):
            row = run_seed(check, start, seed, options.steps, spec=spec)
            ran = seed
            if row.verdict == "violated":
                failing += 1
                if first is None and row.invariant == wanted:
                    first, mix = seed, row.fault_label
                    break
        corrected = with_flaws(check, [])
        fixed_start = run_start(corrected)
        fixed_spec = check_spec(corrected, fixed_start)
        clean = sum(
            run_seed(corrected, fixed_start, seed, options.steps, spec=fixed_spec).verdict != "violated"
            for seed in range(1, options.seeds + 1)
        )
        progress = wanted in {prop.name for prop in check.progress}
        table.add_row(
            flaw,
            str(wanted),
            ("n/a (a progress property)" if progress else "not found") if first is None else f"{first:,}",
            mix,
            f"{failing:,} of {ran:,}",
            f"{clean:,} of {options.seeds:,}",
            f"{time.perf_counter() - started:.1f}",
        )
    Console(width=170).print(table)


if __name__ == "__main__":
    main()
