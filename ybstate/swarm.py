"""Swarm simulation: many seeded walks of one check file, each with its own mix of faults.

Swarm testing (Groce et al.; FoundationDB's nightly simulations, each with its own set of
BUGGIFY points switched on): a fault kind that is always possible drowns the rare
interleavings where another matters, so each seed switches every fault kind of the check
file's scope on or off and draws a rate for those on. The walk from the check's start
then weighs its choices: an action that is not a fault weighs 1, a fault switched on its
rate, one switched off 0 (never taken). Everything about a seed follows from the seed:
its mix (``FaultMix.draw``), its walk, its history, so ``ybstate swarm FILE --seeds 1
--first-seed S`` reproduces seed S exactly.

Results (DESIGN 15): ``DIR/swarm.duckdb`` holds ``swarm_runs``, one row per seed, written
as each seed ends (a swarm interrupted and run again skips the seeds it has); the same
rows as Parquet under ``DIR/parquet/``; for each failing seed its counterexample as ITF
and as a DuckDB history under ``DIR/failures/seed-S/``. Seeds run on a local process pool
(``workers``) or on a Dask cluster (docs/decisions.md says why Dask, not Ray).
"""

from __future__ import annotations

import json
import math
import multiprocessing
import random
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import attrs
import duckdb

from ybstate.checks import CheckFile, check_spec, load_check, run_start, timed_for, with_flaws
from ybstate.drivers.explore import rebuild_counterexample
from ybstate.drivers.simulate import simulate
from ybstate.drivers.trace import write_history, write_itf
from ybstate.errors import InvalidParameter
from ybstate.model import ACTION_TAGS, fingerprint_hex
from ybstate.promote.state import PromotionStatus
from ybstate.restore.state import RestorePhase

__all__ = [
    "FAULT_KINDS",
    "RATES",
    "EXECUTORS",
    "SWARM_FORMAT",
    "FaultMix",
    "SwarmRun",
    "faults_in_scope",
    "run_seed",
    "run_swarm",
]

RATES = (0.02, 0.1, 0.5, 2.0)
"""The weights a fault kind switched on may draw (an ordinary action weighs 1)."""


def _scope_switches() -> dict[str, Callable[[Any], bool]]:
    """Fault kind (action tag) -> whether a scope lets it happen at all."""
    return {
        "dag.fail_task": lambda s: s.dag.task_faults > 0,
        "backup.cancel_backup": lambda s: s.backup.cancel_backups,
        "backup.drop_version": lambda s: s.backup.drop_versions,
        "archive.crash_archiver": lambda s: s.archive.archiver_crashes > 0,
        "archive.stop_archive": lambda s: s.archive.archive_stop,
        "archive.recycle_log": lambda s: s.archive.recycle_log,
        "restore.stall_worker": lambda s: s.restore.worker_stalls > 0,
        "restore.time_out_restore": lambda s: s.restore.worker_stalls > 0,
        "restore.cancel_restore": lambda s: s.restore.cancel_restores,
        "restore.fail_apply": lambda s: s.restore.apply_faults > 0,
        "promote.fail_promotion_step": lambda s: s.promote.promotion_faults > 0,
        "promote.decommission": lambda s: s.promote.decommission,
    }


FAULT_KINDS: tuple[str, ...] = tuple(sorted(_scope_switches()))
"""Every fault kind a swarm switches: the disruptive actions (faults, cancels, stops, time
outs, decommission) by their stored tags."""


def faults_in_scope(scope: Any) -> tuple[str, ...]:
    """The fault kinds ``scope`` lets happen, in FAULT_KINDS order."""
    switches = _scope_switches()
    return tuple(kind for kind in FAULT_KINDS if switches[kind](scope))


@attrs.frozen
class FaultMix:
    """Per fault kind of the scope: its weight (0: switched off)."""

    rates: tuple[tuple[str, float], ...]

    @classmethod
    def draw(cls, seed: int, kinds: Sequence[str]) -> FaultMix:
        """The mix of ``seed``: each kind on with chance 1/2, at a rate drawn from RATES.
        Drawn from its own generator (seeded by the text "mix" and the seed), so the walk's
        generator is the simulator's own, and a seed means one mix on every machine."""
        rng = random.Random(f"mix:{seed}")
        return cls(tuple((kind, rng.choice(RATES) if rng.random() < 0.5 else 0.0) for kind in kinds))

    def weigher(self) -> Callable[[Any], float]:
        weights = dict(self.rates)

        def weigh(action: Any) -> float:
            return weights.get(ACTION_TAGS[type(action)], 1.0)

        return weigh

    def to_json(self) -> dict[str, float]:
        return dict(self.rates)

    def label(self) -> str:
        """The kinds switched on, with their rates: ``"archive.crash_archiver@0.5,..."``."""
        return ",".join(f"{kind}@{rate:g}" for kind, rate in self.rates if rate) or "none"


@attrs.frozen(kw_only=True)
class SwarmRun:
    """One seed's walk: a row of ``swarm_runs``."""

    seed: int
    faults: str  # JSON: kind -> rate (0: off)
    fault_label: str
    steps: int
    events: int
    verdict: str  # "holds", "violated" ("deadlock" is an invariant of it), "rested"
    invariant: str | None
    message: str | None
    seq: int | None  # the first event of the step that broke it
    fingerprint: str
    seconds: float
    archive_lag_p50: int | None
    archive_lag_p99: int | None
    archive_lag_max: int | None
    restores_completed: int
    restore_duration_mean: float | None
    restore_entries_mean: float | None  # archived entries the completed restores replayed
    promotions_completed: int
    promotion_downtime_mean: float | None  # µs from the fence to writes enabled, completed ones
    data_lost: int
    reproduce: str

    @classmethod
    def columns(cls) -> list[str]:
        return [f.name for f in attrs.fields(cls)]


def _percentile(values: list[int], q: float) -> int | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def _mean(values: list[int]) -> float | None:
    return sum(values) / len(values) if values else None


def run_seed(
    check: CheckFile,
    start: Any,
    seed: int,
    steps: int,
    failures: Path | None = None,
    spec: Any = None,
    flags: str = "",
) -> SwarmRun:
    """Walk ``steps`` steps of ``check`` from ``start`` (a :class:`~ybstate.checks.Start`)
    with the mix of ``seed``; a failing walk's counterexample is written under
    ``failures/seed-S/`` when ``failures`` is given. ``flags``: what the command that
    reproduces it needs besides the seed (``" --flaw NAME"``...)."""
    spec = check_spec(check, start) if spec is None else spec
    mix = FaultMix.draw(seed, faults_in_scope(check.scope))
    lags: list[int] = []

    def sample(number: int, action: Any, events: Any, state: Any) -> None:
        if number % 10 == 0:
            for archiver in state.archivers.values():
                if archiver.checkpoint.archived_ts:
                    lags.append(state.clock - archiver.checkpoint.archived_ts)

    started = time.perf_counter()
    walk = simulate(spec, seed=seed, steps=steps, on_step=sample, coverage=False, weigh=mix.weigher())
    seconds = time.perf_counter() - started
    state = walk.state
    bad = walk.violation
    if bad is not None:
        verdict = "violated"
    elif len(walk.steps) < steps and not walk.deadlock:
        verdict = "rested"  # only faults this mix switched off were on offer
    else:
        verdict = "holds"
    finished = [t for t in state.restores.values() if t.phase is RestorePhase.COMPLETED and t.ended_ts]
    durations = [task.ended_ts - task.started_ts for task in finished]
    replayed = [task.entries for task in finished]
    completed = [p for p in state.promotions.values() if p.status is PromotionStatus.COMPLETED]
    downtimes = [p.ended_ts - p.fenced_ts for p in completed]
    seq = None
    if bad is not None and bad.seqs:
        seq = bad.seqs[0]
    reproduce = (
        f"ybstate swarm {check.path} --seeds 1 --first-seed {seed} --steps {steps}{flags} "
        f"--out swarm-seed-{seed}"
    )
    if bad is not None and failures is not None:
        _write_failure(check, start, spec, walk, failures / f"seed-{seed}")
    return SwarmRun(
        seed=seed,
        faults=json.dumps(mix.to_json(), sort_keys=True),
        fault_label=mix.label(),
        steps=len(walk.steps),
        events=state.seq - start.state.seq,
        verdict=verdict,
        invariant=None if bad is None else bad.invariant,
        message=None if bad is None else bad.message,
        seq=seq,
        fingerprint=fingerprint_hex(state),
        seconds=round(seconds, 4),
        archive_lag_p50=_percentile(lags, 0.5),
        archive_lag_p99=_percentile(lags, 0.99),
        archive_lag_max=max(lags) if lags else None,
        restores_completed=sum(1 for t in state.restores.values() if t.phase is RestorePhase.COMPLETED),
        restore_duration_mean=_mean(durations),
        restore_entries_mean=_mean(replayed),
        promotions_completed=len(completed),
        promotion_downtime_mean=_mean(downtimes),
        data_lost=sum(len(p.lost) for p in completed),
        reproduce=reproduce,
    )


def _write_failure(check: CheckFile, start: Any, spec: Any, walk: Any, where: Path) -> None:
    """The failing walk's counterexample: ITF and a DuckDB history, each whole or not at all."""
    actions = [action for action, _ in walk.steps]
    bad = walk.violation
    cx = rebuild_counterexample(spec, actions, bad.invariant, bad.message)
    where.mkdir(parents=True, exist_ok=True)
    write_itf(cx, where / "counterexample.itf.json")
    write_history(start.events, cx, where / "counterexample.duckdb")


# -- the pool -----------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(check: CheckFile, steps: int, failures: str | None, flags: str) -> None:
    start = run_start(check)
    _WORKER.update(
        check=check,
        start=start,
        spec=check_spec(check, start),
        steps=steps,
        failures=None if failures is None else Path(failures),
        flags=flags,
    )


def _run_in_worker(seed: int) -> SwarmRun:
    w = _WORKER
    return run_seed(w["check"], w["start"], seed, w["steps"], w["failures"], w["spec"], w["flags"])


SWARM_FORMAT = "2"
"""The shape of a swarm directory's rows: 2 since walks are timed and rows give promotion
downtime. A directory of another format is refused, not resumed."""

EXECUTORS = ("local", "dask")
"""Where the seeds run: a local pool of forked processes, or a Dask cluster."""


def run_swarm(
    check: CheckFile,
    seeds: Sequence[int],
    steps: int,
    *,
    workers: int = 1,
    failures: Path | None = None,
    flags: str = "",
    executor: str = "local",
    scheduler: str | None = None,
) -> Iterator[SwarmRun]:
    """Run ``seeds`` and yield each seed's row as it ends (in no set order).

    ``executor="local"``: in this process with ``workers=1``, else on a pool of that many
    forked processes, each running the check's start once. ``executor="dask"``: on the
    Dask cluster at ``scheduler``, or, without one, on a local cluster of ``workers``
    processes started for the swarm and closed after it; each Dask worker loads the check
    file and runs its start once. The same seed gives the same row on either."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InvalidParameter("workers", workers, "must be an int >= 1")
    if executor not in EXECUTORS:
        raise InvalidParameter("executor", executor, f"must be one of {list(EXECUTORS)}")
    if not seeds:
        return
    check = timed_for(check, "simulation")  # a swarm's walks are timed unless the file says not
    folder = None if failures is None else str(failures)
    if executor == "dask":
        yield from _on_dask(check, seeds, steps, workers, folder, flags, scheduler)
        return
    if workers == 1:
        _init_worker(check, steps, folder, flags)
        for seed in seeds:
            yield _run_in_worker(seed)
        return
    context = multiprocessing.get_context("fork")
    setup = (check, steps, folder, flags)
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=setup) as pool:
        yield from pool.map(_run_in_worker, seeds, chunksize=max(1, min(16, len(seeds) // (workers * 8))))


# A Dask worker's loaded checks: (path, flaws, steps, failures, flags) -> its _WORKER dict.
_LOADED: dict[tuple, dict[str, Any]] = {}


def _dask_seed(seed: int, path: str, flaws: tuple[str, ...], steps: int, failures: str | None, flags: str):
    """One seed on a Dask worker: the check file read and its start run once per worker
    process (a check's invariants are functions, not sent over the wire)."""
    key = (path, flaws, steps, failures, flags)
    loaded = _LOADED.get(key)
    if loaded is None:
        check = load_check(path)
        check = timed_for(with_flaws(check, flaws) if flaws else check, "simulation")
        start = run_start(check)
        loaded = _LOADED[key] = {"check": check, "start": start, "spec": check_spec(check, start)}
    where = None if failures is None else Path(failures)
    return run_seed(loaded["check"], loaded["start"], seed, steps, where, loaded["spec"], flags)


def _on_dask(check, seeds, steps, workers, folder, flags, scheduler) -> Iterator[SwarmRun]:
    from distributed import Client, LocalCluster, as_completed

    flaws = tuple(check.start.cluster.protocol.flaws)
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
    client = Client(scheduler if scheduler is not None else cluster)
    try:
        settings = {
            "path": str(check.path),
            "flaws": flaws,
            "steps": steps,
            "failures": folder,
            "flags": flags,
        }
        futures = client.map(_dask_seed, list(seeds), pure=False, **settings)
        for future in as_completed(futures):
            yield future.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# -- results ------------------------------------------------------------------------------

_TYPES = {
    "seed": "BIGINT PRIMARY KEY",
    "faults": "VARCHAR",
    "fault_label": "VARCHAR",
    "steps": "BIGINT",
    "events": "BIGINT",
    "verdict": "VARCHAR",
    "invariant": "VARCHAR",
    "message": "VARCHAR",
    "seq": "BIGINT",
    "fingerprint": "VARCHAR",
    "seconds": "DOUBLE",
    "archive_lag_p50": "BIGINT",
    "archive_lag_p99": "BIGINT",
    "archive_lag_max": "BIGINT",
    "restores_completed": "BIGINT",
    "restore_duration_mean": "DOUBLE",
    "restore_entries_mean": "DOUBLE",
    "promotions_completed": "BIGINT",
    "promotion_downtime_mean": "DOUBLE",
    "data_lost": "BIGINT",
    "reproduce": "VARCHAR",
}


class SwarmResults:
    """``DIR/swarm.duckdb``: the ``swarm_runs`` table and what the swarm was (the check
    file's path and digest, the steps per walk), so a swarm run again in the same
    directory resumes it, and one of another check or length is refused."""

    def __init__(self, directory: Path, identity: dict[str, str]) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.path = directory / "swarm.duckdb"
        self.con = duckdb.connect(str(self.path))
        columns = ", ".join(f"{name} {kind}" for name, kind in _TYPES.items())
        self.con.execute(f"CREATE TABLE IF NOT EXISTS swarm_runs ({columns})")
        self.con.execute("CREATE TABLE IF NOT EXISTS swarm_meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        stored = dict(self.con.execute("SELECT key, value FROM swarm_meta").fetchall())
        if stored and stored != identity:
            differs = sorted(k for k in identity if stored.get(k) != identity[k])
            self.con.close()
            was = ", ".join(f"{k} {stored.get(k)}" for k in differs)
            raise InvalidParameter("out", str(directory), f"holds a swarm of another check ({was})")
        if not stored:
            self.con.executemany("INSERT INTO swarm_meta VALUES (?, ?)", sorted(identity.items()))

    def done(self) -> set[int]:
        return {seed for (seed,) in self.con.execute("SELECT seed FROM swarm_runs").fetchall()}

    def add(self, run: SwarmRun) -> None:
        values = attrs.astuple(run)
        marks = ", ".join("?" for _ in values)
        self.con.execute(f"INSERT INTO swarm_runs VALUES ({marks})", list(values))

    def rows(self, seeds: Sequence[int] | None = None) -> list[dict[str, Any]]:
        names = SwarmRun.columns()
        found = self.con.execute(f"SELECT {', '.join(names)} FROM swarm_runs ORDER BY seed").fetchall()
        rows = [dict(zip(names, row, strict=True)) for row in found]
        if seeds is None:
            return rows
        wanted = set(seeds)
        return [r for r in rows if r["seed"] in wanted]

    def export_parquet(self) -> Path:
        """``DIR/parquet/swarm_runs.parquet``: every row, by seed, written whole or not at all."""
        folder = self.directory / "parquet"
        folder.mkdir(exist_ok=True)
        target = folder / "swarm_runs.parquet"
        partial = folder / "swarm_runs.parquet.partial"
        self.con.execute(
            f"COPY (SELECT * FROM swarm_runs ORDER BY seed) TO '{partial.as_posix()}' (FORMAT PARQUET)"
        )
        partial.replace(target)
        return target

    def close(self) -> None:
        self.con.close()
