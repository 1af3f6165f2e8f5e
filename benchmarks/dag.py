"""Scheduler overhead per task on large DAGs.

Builds three shapes of DAG (a chain, a wide fan-out/fan-in, a random layered DAG), and
for each: the time networkx takes to order the plan (`plan_order`), the time to submit
it (`decide_submit` and `apply_dag` of its events: the plan is validated and ordered
twice, once to decide and once to build the DAG), and the time to drive every task
through start and finish with `decide_task` + `apply_dag` at W workers (in µs per task
and per event). The driver keeps its own FIFO of ready tasks, fed by the TaskReady
events, so the figures are the scheduler's alone. Comparing the sizes shows whether a
step's cost depends on the size of the DAG.

    python benchmarks/dag.py [--sizes 1000,10000] [--workers 8] [--seed 1] [--repeats 3]
"""

from __future__ import annotations

import argparse
import gc
import itertools
import random
import time
from collections import deque

import immutables
from rich.console import Console
from rich.table import Table

from ybstate.dag import (
    DagStatus,
    FinishTask,
    StartTask,
    TaskReady,
    apply_dag,
    decide_submit,
    decide_task,
    plan_order,
)
from ybstate.gcpause import paused_gc

DAG_ID = 1


def names(n: int) -> list[str]:
    return [f"t{i:05d}" for i in range(n)]


def chain(n: int, rng: random.Random) -> tuple[list[str], list[tuple[str, str]]]:
    tasks = names(n)
    return tasks, list(itertools.pairwise(tasks))


def fan(n: int, rng: random.Random) -> tuple[list[str], list[tuple[str, str]]]:
    """One source, n - 2 independent middle tasks, one sink."""
    tasks = names(n)
    source, middle, sink = tasks[0], tasks[1:-1], tasks[-1]
    return tasks, [(source, m) for m in middle] + [(m, sink) for m in middle]


def layered(n: int, rng: random.Random) -> tuple[list[str], list[tuple[str, str]]]:
    """Layers of about sqrt(n) tasks; each task after the first layer depends on 1 to 3
    random tasks of the layer before."""
    tasks = names(n)
    width = max(1, round(n**0.5))
    layers = [tasks[i : i + width] for i in range(0, n, width)]
    edges = []
    for above, below in itertools.pairwise(layers):
        for task in below:
            for parent in rng.sample(above, min(len(above), rng.randint(1, 3))):
                edges.append((parent, task))
    return tasks, edges


SHAPES = {"chain": chain, "fan-out/fan-in": fan, "random layered": layered}


def submit(tasks, edges, workers):
    events = decide_submit(
        immutables.Map(),
        dag_id=DAG_ID,
        owner="bench",
        tasks=tasks,
        edges=edges,
        workers=workers,
        retries=1,
        seq=1,
        time=1,
    )
    dags = immutables.Map()
    for event in events:
        dags = apply_dag(dags, event)
    return dags, events


def drive(dags, events, workers):
    """Start ready tasks while a worker is free, else finish the oldest running one."""
    ready = deque(e.task for e in events if type(e) is TaskReady)
    running: deque[str] = deque()
    seq = len(events) + 1
    count = 0
    while ready or running:
        while ready and len(running) < workers:
            task = ready.popleft()
            for event in decide_task(dags, StartTask(dag_id=DAG_ID, task=task), seq=seq, time=seq):
                dags = apply_dag(dags, event)
                seq += 1
                count += 1
            running.append(task)
        task = running.popleft()
        for event in decide_task(dags, FinishTask(dag_id=DAG_ID, task=task), seq=seq, time=seq):
            dags = apply_dag(dags, event)
            seq += 1
            count += 1
            if type(event) is TaskReady:
                ready.append(event.task)
    return dags, count


def best(function, *args, repeats):
    seconds, result = float("inf"), None
    for _ in range(repeats):
        gc.collect()
        with paused_gc():
            started = time.perf_counter()
            result = function(*args)
            seconds = min(seconds, time.perf_counter() - started)
    return result, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated task counts")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    table = Table(
        "shape",
        "tasks",
        "edges",
        "plan_order ms",
        "submit ms",
        "events driven",
        "drive ms",
        "µs / task (start+finish)",
        "µs / event",
        title=f"DAG scheduler: decide_task + apply_dag, W = {args.workers}, best of {args.repeats}",
    )
    for shape, build in SHAPES.items():
        for size in sizes:
            tasks, edges = build(size, random.Random(args.seed))
            _, order_seconds = best(plan_order, tasks, edges, repeats=args.repeats)
            (dags, events), submit_seconds = best(submit, tasks, edges, args.workers, repeats=args.repeats)
            (final, count), drive_seconds = best(drive, dags, events, args.workers, repeats=args.repeats)
            dag = final[DAG_ID]
            if dag.status is not DagStatus.SUCCEEDED or dag.succeeded != size:
                raise SystemExit(
                    f"{shape} of {size} tasks ended {dag.status.value} with {dag.succeeded} done"
                )
            table.add_row(
                shape,
                f"{size:,}",
                f"{len(edges):,}",
                f"{order_seconds * 1e3:.1f}",
                f"{submit_seconds * 1e3:.1f}",
                f"{count:,}",
                f"{drive_seconds * 1e3:.1f}",
                f"{drive_seconds / size * 1e6:.1f}",
                f"{drive_seconds / count * 1e6:.2f}",
            )
    Console(width=170).print(table)


if __name__ == "__main__":
    main()
