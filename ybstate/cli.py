"""The ``ybstate`` command (DESIGN 10).

Exit status: 0 on success; 1 when a check fails (an invariant is violated, a scenario
step is rejected or an expectation does not hold, a replay does not match); 2 for bad
input (a malformed scenario, a missing or foreign database, a bad SQL query, an unknown
tenant); 130 when interrupted (Ctrl-C), with nothing stored. Messages go to standard
error, results to standard output; never a traceback.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import inspect
import json
import os
import re
import sys
import time
from pathlib import Path

import attrs
import click
import duckdb
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from ybstate import model
from ybstate.api import COMMANDS, Caller, call, permission
from ybstate.archive.window import restorable_window
from ybstate.checks import (
    CheckFile,
    CheckRun,
    invariants_in_play,
    load_check,
    run_check,
    run_start,
    timed_for,
    with_flaws,
)
from ybstate.cluster import ghost
from ybstate.cluster.costs import spoken
from ybstate.cluster.protocol import FLAWS, Protocol
from ybstate.drivers.explore import DEADLOCK, REFUSAL
from ybstate.drivers.parallel import explorer
from ybstate.drivers.simulate import simulate as run_simulation
from ybstate.errors import QueryRefused, RestoreRejected, ScenarioFailed, SpecError, StoreError, YbstateError
from ybstate.examples.twophase import twophase_spec
from ybstate.files import replacing
from ybstate.flaws import flaws_dir, hunt_all
from ybstate.history import open_history, replay_store, verify_store
from ybstate.kernel.limits import LIMITS
from ybstate.model import ClusterScope, Scope, fingerprint_hex, model_spec, simulation_scope
from ybstate.restore.plan import estimate_duration, plan_restore
from ybstate.scenario import Scenario, load_scenario, run_scenario
from ybstate.scenario.parse import COMMAND_STEPS, command_step
from ybstate.scenario.run import TASK_KINDS, finish_task
from ybstate.store.base import GENESIS
from ybstate.store.duck import DuckDBStore
from ybstate.swarm import EXECUTORS, SWARM_FORMAT, SwarmResults, run_seed, run_swarm

__all__ = ["main", "cli", "DEFAULT_DB"]

DEFAULT_DB = "ybstate.duckdb"
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # as a shell reports a command ended by SIGINT

# Wide when writing to a file or a pipe, so tables of many columns are not cut short.
out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True)


class _SimulationWriter:
    """Stores a simulation's events as it goes: batches of at most BATCH events, each ending
    at a state whose fingerprint it records. A history holding a prefix of the same
    simulation (same seed and options, recorded in ybstate_meta) is resumed: events it
    holds already are checked against the digest chain it recorded, then skipped."""

    BATCH = 10_000

    def __init__(self, db: str, options: dict) -> None:
        self.db = db
        self.store = DuckDBStore(db)
        self.options = json.dumps(options, sort_keys=True)
        self.held = self.store.last_seq()
        if self.held:
            recorded = self.store.meta("simulation")
            if recorded != self.options:
                self.store.close()
                raise StoreError(
                    f"{db} holds {self.held} events that are not a prefix of this simulation "
                    f"(it records {recorded or 'no simulation'}, this is {self.options}); "
                    "simulate writes a new history or resumes its own"
                )
        self.digest = GENESIS
        self.pending: list[object] = []
        self.state = None

    def add(self, events, state) -> None:
        for event in events:
            if event.seq <= self.held:  # resuming: the stored prefix must be this walk's
                self.digest = self.store.digest_after(self.digest, event)
                if event.seq == self.held and (self.held, self.digest) != self.store.head():
                    raise StoreError(f"{self.db}: its events 1..{self.held} are not this simulation's")
            else:
                self.pending.append(event)
        self.state = state
        if len(self.pending) >= self.BATCH:
            self.flush()

    def finish(self) -> None:
        if self.state is not None and self.state.seq < self.held:
            raise StoreError(
                f"{self.db} holds {self.held} events, more than this simulation makes ({self.state.seq})"
            )
        self.flush()

    def flush(self) -> None:
        if self.pending:
            with self.store.transaction():
                self.store.append(self.pending, fingerprint_hex(self.state))
                self.store.set_meta("simulation", self.options)
            self.pending = []

    def kept(self) -> str:
        last = self.store.last_seq()
        return (
            f"events 1..{last} stored in {self.db} (the same command resumes)" if last else "nothing stored"
        )

    def close(self) -> None:
        self.store.close()


class Failure(click.ClickException):
    """A failure with its own exit status, printed to standard error."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.exit_code = code

    def show(self, file=None) -> None:
        # Messages quote user input (SQL, names, values); brackets in it are not markup.
        err.print(f"[bold red]error:[/] {escape(self.message)}", highlight=False)


def _bad_input(error: Exception) -> Failure:
    return Failure(str(error), EXIT_BAD_INPUT)


def _progress() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ybstate")
def cli() -> None:
    """ybstate: model-check YaoBase tenant backup, point-in-time restore and promotion."""


def _remove_new_file(store: DuckDBStore) -> None:
    if store.created:
        for suffix in ("", ".wal"):
            Path(store.path + suffix).unlink(missing_ok=True)


_history_option = click.option(
    "--db", default=DEFAULT_DB, show_default=True, help="The history (a DuckDB file) to use."
)
"""``--db`` of every command that reads or extends a stored history."""


def _flaw_option(what: str):
    return click.option(
        "--flaw",
        "flaws",
        multiple=True,
        type=click.Choice(list(FLAWS)),
        help=f"Put back one of the seed design's flaws (docs/flaws.md; repeatable); replaces {what}.",
    )


def _protocol(flaws: tuple[str, ...]) -> Protocol:
    try:
        return Protocol.with_flaws(flaws)
    except ValueError as error:
        raise Failure(f"--flaw: {error}", EXIT_BAD_INPUT) from None


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--db", default=DEFAULT_DB, show_default=True, help="DuckDB history file to append to.")
@click.option(
    "--fresh",
    is_flag=True,
    help="Start DB afresh: replace the history it holds with this run's, if the run succeeds.",
)
@_flaw_option("the scenario's [protocol]")
def run(spec: str, db: str, fresh: bool, flaws: tuple[str, ...]) -> None:
    """Run the scenario SPEC into the history file DB (all steps, or nothing stored)."""
    target = db
    try:
        scenario = load_scenario(spec)
        if flaws:
            cluster = attrs.evolve(scenario.cluster, protocol=_protocol(flaws))
            scenario = attrs.evolve(scenario, cluster=cluster)
        if fresh and Path(db).exists():
            open_history(db).close()  # replace a ybstate history only, never another file
            target = str(Path(db).with_name(f".{Path(db).name}.{os.getpid()}.fresh"))
        store = DuckDBStore(target)
    except (SpecError, StoreError) as error:
        raise _bad_input(error) from None
    table = Table(
        "step", "do", "events", "outcome", title=f"scenario {scenario.name!r} (seed {scenario.seed})"
    )
    try:
        result = run_scenario(
            scenario,
            store,
            query=lambda sql: store.query(sql)[1],
            on_step=lambda o: table.add_row(str(o.number), o.kind, str(o.events), escape(o.note)),
        )
    except ScenarioFailed as error:
        store.close()
        _remove_new_file(store)
        raise Failure(str(error), EXIT_CHECK_FAILED) from None
    except (SpecError, StoreError) as error:
        store.close()
        _remove_new_file(store)
        raise _bad_input(error) from None
    except KeyboardInterrupt:
        store.close()
        _remove_new_file(store)
        raise
    store.close()
    if target != db:  # --fresh: the new history takes the old one's place, whole
        Path(db + ".wal").unlink(missing_ok=True)
        os.replace(target, db)
    out.print(table)
    stored = (
        f"stored events {result.first_seq}..{result.state.seq}"
        if result.events
        else f"nothing new stored (it holds events 1..{result.state.seq})"
    )
    out.print(f"{stored} in {db}; fingerprint {fingerprint_hex(result.state)}", highlight=False)


_NEEDS_FILE = "with a check FILE only"


def _given(ctx: click.Context, names: tuple[str, ...]) -> list[str]:
    """The options among ``names`` the user typed (not left at their defaults)."""
    return [
        "--" + name.replace("_", "-")
        for name in names
        if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT
    ]


def _is_int(text: str) -> bool:
    """Whether ``text`` is a decimal integer in ASCII digits (``str.isdigit`` also takes
    "²" and other digits ``int`` refuses)."""
    return re.fullmatch(r"-?[0-9]+", text) is not None


def _refuse_mixed(
    ctx: click.Context, file: str | None, model_only: tuple[str, ...], file_only: tuple[str, ...]
):
    typed = _given(ctx, model_only if file is not None else file_only)
    if typed:
        why = "do not apply to a check FILE" if file is not None else f"apply {_NEEDS_FILE}"
        raise Failure(f"{', '.join(typed)} {why} (see ybstate {ctx.command.name} --help)", EXIT_BAD_INPUT)


@cli.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--seed", type=click.IntRange(0, 2**63 - 1), default=None, help="Seed (with FILE: the first one)."
)
@click.option("--steps", type=click.IntRange(min=0), default=None, help="Actions to take (per walk).")
@click.option("--seeds", type=click.IntRange(1, 10**6), default=None, help="FILE: how many walks (seeds).")
@click.option("--max-seconds", type=click.FloatRange(min=0.001), default=None, help="FILE: stop after this.")
@click.option("--json", "as_json", is_flag=True, help="FILE: print one JSON document (docs/checks.md).")
@click.option(
    "--trace-out",
    type=click.Path(file_okay=False),
    default=None,
    help="FILE: write a counterexample here (ITF JSON and a DuckDB history).",
)
@click.option("--db", default=None, help="DuckDB file to store the history in (new or empty).")
@click.option(
    "--tenants", type=click.IntRange(1, 50), default=3, show_default=True, help="Without FILE: tenants."
)
@click.option(
    "--keys", type=click.IntRange(1, 10_000), default=8, show_default=True, help="Without FILE: row keys."
)
@click.option(
    "--check-every",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Check every invariant after this many steps (and at the end).",
)
@_flaw_option("the check FILE's [protocol]")
@click.pass_context
def simulate(
    ctx: click.Context,
    file: str | None,
    seed: int | None,
    steps: int | None,
    seeds: int | None,
    max_seconds: float | None,
    as_json: bool,
    trace_out: str | None,
    db: str | None,
    tenants: int,
    keys: int,
    check_every: int,
    flaws: tuple[str, ...],
) -> None:
    """Walk at random among the enabled actions; the same seed gives the same history.

    With a check FILE (docs/checks.md): from its start, within its scope, one walk per seed
    (--seeds N from --seed on, --steps K each; the file's [check] values otherwise),
    checking its invariants at every step; prints the verdict and the coverage of all the
    walks, like ybstate check, and exits 1 on a violation or a vacuous run.

    Without FILE: one walk of --steps from --seed through the open-ended cluster (--tenants,
    --keys). With --db, the history is stored as it grows, in batches that each end at a
    replayable state with its fingerprint: a simulation killed or interrupted keeps what it
    did, and the same command resumes it (the walk is taken again and only what is new is
    stored)."""
    _refuse_mixed(
        ctx,
        file,
        model_only=("db", "tenants", "keys", "check_every"),
        file_only=("seeds", "max_seconds", "as_json", "trace_out"),
    )
    if file is not None:
        bounds = {"first_seed": seed, "seeds": seeds, "steps": steps, "max_seconds": max_seconds}
        _check_file(_load_check(file, flaws), "simulation", as_json, trace_out, bounds)
        return
    if seed is None or steps is None:
        raise Failure("--seed and --steps are needed without a check FILE", EXIT_BAD_INPUT)
    _simulate_cluster(seed, steps, db, tenants, keys, check_every, flaws)


def _simulate_cluster(
    seed: int, steps: int, db: str | None, tenants: int, keys: int, check_every: int, flaws: tuple[str, ...]
) -> None:
    scope = simulation_scope(tenants, keys)
    if flaws:
        config = attrs.evolve(scope.cluster.config, protocol=_protocol(flaws))
        scope = attrs.evolve(scope, cluster=attrs.evolve(scope.cluster, config=config))
    spec = model_spec(scope)
    spec = attrs.evolve(spec, invariants=invariants_in_play(scope, spec.init()))
    writer = None
    if db is not None:
        options: dict[str, object] = {"seed": seed, "tenants": tenants, "keys": keys}
        if flaws:  # a history of the corrected protocol keeps the options it always had
            options["flaws"] = list(_protocol(flaws).flaws)
        try:
            writer = _SimulationWriter(db, options)
        except StoreError as error:
            raise _bad_input(error) from None
    try:
        if writer is not None:
            writer.add(model.start_events(scope), spec.init())
        with _progress() as bar:
            task = bar.add_task(f"simulating seed {seed}", total=steps)

            def step(i, action, events, state) -> None:
                bar.advance(task)
                if writer is not None:
                    writer.add(events, state)

            result = run_simulation(spec, seed=seed, steps=steps, check_every=check_every, on_step=step)
        if writer is not None:
            writer.finish()
    except KeyboardInterrupt:
        kept = "nothing stored" if writer is None else writer.kept()
        raise Failure(f"interrupted; {kept}", EXIT_INTERRUPTED) from None
    except StoreError as error:
        raise _bad_input(error) from None
    finally:
        if writer is not None:
            writer.close()
    out.print(
        f"seed {seed}: {len(result.steps)} steps, {result.state.seq} events, "
        f"{result.state.last_log_id} log entries, fingerprint {fingerprint_hex(result.state)}",
        highlight=False,
    )
    if result.deadlock:
        out.print("stopped early: nothing was enabled")
    if result.coverage is not None:
        out.print(result.coverage.format(), highlight=False, markup=False)
    if result.violation is not None:
        raise Failure(
            f"{result.violation} (reproduce: ybstate simulate --seed {seed} --steps {result.violation.step})",
            EXIT_CHECK_FAILED,
        )


def _load_check(file: str, flaws: tuple[str, ...] = ()) -> CheckFile:
    try:
        checked = load_check(file)
        return with_flaws(checked, flaws) if flaws else checked
    except SpecError as error:
        raise _bad_input(error) from None


def _check_file(
    checked: CheckFile, mode: str, as_json: bool, trace_out: str | None, bounds: dict, workers: int = 1
) -> None:
    """Run a check file in ``mode`` (progress on standard error), report, exit."""
    try:
        if mode == "exhaustive":
            run = run_check(checked, mode=mode, progress=_explore_progress, workers=workers, **bounds)
        else:
            with _progress() as bar:
                total = checked.settings.seeds if bounds.get("seeds") is None else bounds["seeds"]
                task = bar.add_task(f"simulating {Path(checked.path).name}", total=total)
                run = run_check(checked, mode=mode, progress=lambda walk: bar.advance(task), **bounds)
    except SpecError as error:
        raise _bad_input(error) from None
    _report(run, as_json, trace_out)


def _explore_progress(p) -> None:
    err.print(
        f"  {p.states:>10,} states  {p.transitions:>12,} transitions  depth {p.depth:>3}  "
        f"queue {p.queue:>9,}  {p.seconds:7.1f}s",
        highlight=False,
    )


@cli.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--model",
    "which",
    type=click.Choice(["cluster", "twophase"]),
    default="cluster",
    show_default=True,
    help="Without FILE: the cluster's own model, or two-phase commit.",
)
@click.option(
    "--rms",
    type=click.IntRange(1, 10),
    default=3,
    show_default=True,
    help="twophase: number of resource managers.",
)
@click.option("--tenants", type=click.IntRange(1, 4), default=2, show_default=True, help="cluster: tenants.")
@click.option("--keys", type=click.IntRange(1, 4), default=2, show_default=True, help="cluster: row keys.")
@click.option(
    "--max-log",
    type=click.IntRange(1, 64),
    default=7,
    show_default=True,
    help="cluster: longest commit log explored.",
)
@click.option(
    "--ddl/--no-ddl", default=False, show_default=True, help="cluster: create and drop a table too."
)
@click.option("--max-states", type=click.IntRange(min=1), default=None, help="Stop after this many states.")
@click.option(
    "--max-depth", type=click.IntRange(min=0), default=None, help="Go no deeper than this many steps."
)
@click.option("--max-seconds", type=click.FloatRange(min=0.001), default=None, help="Stop after this long.")
@click.option(
    "--symmetry",
    is_flag=True,
    help="twophase: the resource managers are interchangeable; one state per renaming is explored.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=1,
    show_default=True,
    help="Explore on this many processes (the same result as one; docs/performance.md).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (docs/checks.md) instead.")
@click.option(
    "--trace-out",
    type=click.Path(file_okay=False),
    default=None,
    help="Write a counterexample to this directory: ITF JSON, and (cluster) a DuckDB history.",
)
@_flaw_option("the check FILE's [protocol]; cluster: the corrected protocol")
@click.pass_context
def check(
    ctx: click.Context,
    file: str | None,
    which: str,
    rms: int,
    tenants: int,
    keys: int,
    max_log: int,
    ddl: bool,
    max_states: int | None,
    max_depth: int | None,
    max_seconds: float | None,
    symmetry: bool,
    workers: int,
    as_json: bool,
    trace_out: str | None,
    flaws: tuple[str, ...],
) -> None:
    """Check the check FILE (docs/checks.md) in its mode, exhaustive by default: every state
    reachable from its start within its scope, breadth-first (a counterexample is a shortest
    one), every chosen invariant in each. Without FILE, the model --model names.

    Prints the verdict and the coverage (actions enabled and taken, invariants' subjects,
    goals, states per depth); exits 1 when an invariant fails or the run is vacuous (a goal
    never reached, an invariant's subject never met), 2 on bad input."""
    _refuse_mixed(
        ctx, file, model_only=("which", "rms", "tenants", "keys", "max_log", "ddl", "symmetry"), file_only=()
    )
    if symmetry and which != "twophase":
        raise Failure(
            "--symmetry applies to --model twophase only: the protocol's model has no symmetry "
            "reduction (docs/performance.md, symmetry)",
            EXIT_BAD_INPUT,
        )
    bounds = {"max_states": max_states, "max_depth": max_depth, "max_seconds": max_seconds}
    if file is not None:
        checked = _load_check(file, flaws)
        _check_file(checked, checked.settings.mode, as_json, trace_out, bounds, workers)
        return
    start_events: tuple[object, ...] | None = None
    if which == "twophase":
        if flaws:
            raise Failure("--flaw applies to the protocol (a check FILE or --model cluster)", EXIT_BAD_INPUT)
        spec = twophase_spec(rms, symmetry=symmetry)
    else:
        cluster = ClusterScope(
            tenants=tuple(f"t{i}" for i in range(1, tenants + 1)),
            keys=tuple(f"k{i}" for i in range(1, keys + 1)),
            max_log=max_log,
            ddl_table="c" if ddl else None,
        )
        if flaws:
            cluster = attrs.evolve(cluster, config=attrs.evolve(cluster.config, protocol=_protocol(flaws)))
        scope = Scope(cluster=cluster)
        spec = model_spec(scope)
        spec = attrs.evolve(spec, invariants=invariants_in_play(scope, spec.init()))
        start_events = tuple(model.start_events(scope))
    result = explorer(workers)(spec, progress=_explore_progress, progress_every=50_000, **bounds)
    _report(CheckRun.of_exploration(spec, result, start_events), as_json, trace_out)


def _write_counterexample(run: CheckRun, trace_out: str | None) -> list[str]:
    if trace_out is None:
        return []
    try:
        return [str(path) for path in run.write_counterexample(trace_out)]
    except (OSError, StoreError) as error:
        raise Failure(f"{trace_out}: cannot write the counterexample: {error}", EXIT_BAD_INPUT) from None


def _report(run: CheckRun, as_json: bool, trace_out: str | None) -> None:
    """Print a check's result (text, or the DESIGN 13 JSON document), write its
    counterexample, and exit 1 when it is violated or vacuous."""
    written = _write_counterexample(run, trace_out)
    if as_json:
        click.echo(json.dumps(run.to_json(written), indent=1))
    else:
        if run.mode == "exhaustive":
            result = run.exploration
            assert result is not None
            status = (
                "complete"
                if result.complete
                else (f"cut by the {run.cut_by} bound" if run.cut_by else "stopped at a violation")
            )
            summary = (
                f"{result.distinct_states:,} distinct states, {result.transitions:,} transitions, "
                f"depth {result.depth}, {status}, {result.seconds:.2f}s "
                f"({result.states_per_second:,.0f} states/s)"
            )
            if result.probes_tried is not None:
                summary += (
                    f"; {result.probes_tried:,} requests not offered tried, "
                    f"{result.probes_tried - (result.probes_accepted or 0):,} refused"
                )
        else:
            early = sum(walk.ended_early for walk in run.walks)
            summary = (
                f"{len(run.walks):,} walks (seeds {run.walks[0].seed}..{run.walks[-1].seed}), "
                f"{sum(w.steps for w in run.walks):,} steps, {run.states:,} distinct states, "
                f"longest {run.depth}, {early:,} ended with nothing enabled"
                + (f", cut by the {run.cut_by} bound" if run.cut_by else "")
                + f", {run.seconds:.2f}s"
            )
        name = run.spec.name if run.check is None else Path(run.check.path).name
        out.print(f"{name}: {summary}; verdict: {run.verdict}", highlight=False)
        out.print(run.coverage.format(), highlight=False, markup=False)
        if run.counterexample is not None:
            if run.mode == "simulation":
                bad = run.walks[-1]
                out.print(f"found by the walk of seed {bad.seed} (reproduce: --seed {bad.seed} --seeds 1)")
            out.print(run.counterexample.format(), highlight=False, markup=False)
        for path in written:
            out.print(f"counterexample written to {path}", highlight=False)
    if run.counterexample is not None:
        raise Failure(f"{_property_kind(run)} {run.counterexample.invariant} violated", EXIT_CHECK_FAILED)
    if run.verdict == "vacuous":
        raise Failure("vacuous: " + "; ".join(run.vacuous), EXIT_CHECK_FAILED)


def _property_kind(run: CheckRun) -> str:
    """What kind of property the counterexample breaks: an invariant, the deadlock check,
    or a progress property."""
    name = run.counterexample.invariant if run.counterexample else ""
    if name in (DEADLOCK, REFUSAL):
        return "check"
    return "progress property" if name in {prop.name for prop in run.spec.progress} else "invariant"


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--seeds", type=click.IntRange(1, 10**7), required=True, help="How many seeds (walks).")
@click.option(
    "--first-seed", type=click.IntRange(0, 2**62), default=1, show_default=True, help="The first seed."
)
@click.option(
    "--steps", type=click.IntRange(1, 10**7), default=None, help="Steps per walk (default: the file's steps)."
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=1,
    show_default=True,
    help="Processes (pool or local cluster).",
)
@click.option(
    "--executor",
    type=click.Choice(list(EXECUTORS)),
    default="local",
    show_default=True,
    help="local: a pool of forked processes; dask: a Dask cluster (--scheduler, or a local one).",
)
@click.option("--scheduler", default=None, help="dask: the scheduler's address (default: a local cluster).")
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default="swarm",
    show_default=True,
    help="Directory of the results: swarm.duckdb, parquet/, failures/ (run again: resumes).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of the summary.")
@_flaw_option("the check FILE's [protocol]")
def swarm(
    file: str,
    seeds: int,
    first_seed: int,
    steps: int | None,
    workers: int,
    executor: str,
    scheduler: str | None,
    out: str,
    as_json: bool,
    flaws: tuple[str, ...],
) -> None:
    """Many seeded walks of the check FILE, each with its own mix of faults (swarm testing).

    Each seed switches every fault kind of the file's scope on or off, with a drawn rate
    for those on, and walks --steps from the file's start with its invariants checked. One
    row per seed goes to OUT/swarm.duckdb (table swarm_runs) as the seed ends, and to
    OUT/parquet/swarm_runs.parquet at the end; a failing seed's counterexample to
    OUT/failures/seed-S/ with the command that reproduces it. Run again with the same OUT,
    it skips the seeds it has. A few seeds are run twice to check they give the same
    history. Exits 1 when a seed breaks an invariant or a rerun differs."""
    checked = timed_for(_load_check(file, flaws), "simulation")  # as run_swarm runs it
    steps = checked.settings.steps if steps is None else steps
    directory = Path(out)
    identity = {
        "check": str(Path(file).resolve()),
        "check_sha256": hashlib.sha256(Path(file).read_bytes()).hexdigest(),
        "steps": str(steps),
        "flaws": ",".join(sorted(flaws)),
        "format": SWARM_FORMAT,
    }
    try:
        results = SwarmResults(directory, identity)
    except YbstateError as error:
        raise _bad_input(error) from None
    except (OSError, duckdb.Error) as error:
        raise Failure(f"{directory}: cannot keep the results there: {error}", EXIT_BAD_INPUT) from None
    started = time.perf_counter()
    wanted = range(first_seed, first_seed + seeds)
    try:
        done = results.done()
        todo = [seed for seed in wanted if seed not in done]
        flags = "".join(f" --flaw {name}" for name in sorted(flaws))
        if scheduler is not None and executor != "dask":
            raise Failure("--scheduler applies to --executor dask", EXIT_BAD_INPUT)
        pool = {"workers": workers, "executor": executor, "scheduler": scheduler}
        ran = _swarm_seeds(checked, todo, steps, pool, directory / "failures", results, flags)
        rows = results.rows(wanted)
        checks = _swarm_determinism(checked, todo, steps, rows)
        parquet = results.export_parquet()
    except KeyboardInterrupt:
        kept = len(results.done())
        raise Failure(
            f"interrupted; {kept:,} seeds are kept in {directory / 'swarm.duckdb'} (run again to go on)",
            EXIT_INTERRUPTED,
        ) from None
    finally:
        results.close()
    seconds = time.perf_counter() - started
    document = _swarm_document(rows, ran, len(wanted) - len(todo), checks, seconds, directory, parquet)
    if as_json:
        click.echo(json.dumps(document, indent=1))
    else:
        _print_swarm(document)
    if document["violated"] or not document["determinism"]["same"]:
        raise Failure(
            f"{document['violated']} of {len(rows)} seeds broke an invariant"
            if document["violated"]
            else "a seed run again gave another history",
            EXIT_CHECK_FAILED,
        )


class _SeedRate(ProgressColumn):
    """Seeds per second, as the bar has measured them so far."""

    def render(self, task) -> Text:
        return Text(f"{task.speed or 0:,.1f} seeds/s")


def _swarm_seeds(checked, todo, steps, pool, failures, results, flags) -> int:
    """Run the seeds, storing each row as it comes; a progress bar on a terminal, a line
    every few seconds otherwise. Returns how many ran."""
    ran = 0
    started = time.perf_counter()
    said = started
    runs = run_swarm(checked, todo, steps, failures=failures, flags=flags, **pool)
    if err.is_terminal:
        columns = (
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            _SeedRate(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=err, transient=True) as bar:
            task = bar.add_task(f"swarm of {Path(checked.path).name}", total=len(todo))
            for run in runs:
                results.add(run)
                ran += 1
                bar.advance(task)
        return ran
    for run in runs:
        results.add(run)
        ran += 1
        now = time.perf_counter()
        if now - said >= 5 or ran == len(todo):
            rate = ran / (now - started) if now > started else 0.0
            left = (len(todo) - ran) / rate if rate else 0.0
            err.print(
                f"swarm: {ran:,}/{len(todo):,} seeds, {rate:,.1f} seeds/s, {left:,.0f} s left",
                highlight=False,
            )
            said = now
    return ran


def _swarm_determinism(checked, todo, steps, rows) -> dict:
    """Run up to three of the seeds just run again, here: each must give the same
    fingerprint and verdict."""
    sample = sorted({todo[0], todo[len(todo) // 2], todo[-1]}) if todo else []
    stored = {row["seed"]: row for row in rows}
    start = run_start(checked) if sample else None
    differ = []
    for seed in sample:
        again = run_seed(checked, start, seed, steps)
        row = stored[seed]
        if (again.fingerprint, again.verdict) != (row["fingerprint"], row["verdict"]):
            differ.append(seed)
    return {"checked": sample, "differ": differ, "same": not differ}


def _swarm_document(rows, ran, skipped, checks, seconds, directory, parquet) -> dict:
    verdicts: dict[str, int] = {}
    by_invariant: dict[str, int] = {}
    for row in rows:
        verdicts[row["verdict"]] = verdicts.get(row["verdict"], 0) + 1
        if row["invariant"]:
            by_invariant[row["invariant"]] = by_invariant.get(row["invariant"], 0) + 1
    failing = [row for row in rows if row["verdict"] == "violated"]
    return {
        "seeds": len(rows),
        "ran": ran,
        "skipped": skipped,
        "verdicts": verdicts,
        "violated": len(failing),
        "violations_by_invariant": by_invariant,
        "failures": [
            {
                "seed": row["seed"],
                "invariant": row["invariant"],
                "message": row["message"],
                "faults": row["fault_label"],
                "reproduce": row["reproduce"],
                "trace": str(directory / "failures" / f"seed-{row['seed']}"),
            }
            for row in failing
        ],
        "determinism": checks,
        "seconds": round(seconds, 3),
        "seeds_per_second": round(ran / seconds, 2) if seconds > 0 else None,
        "results": {"duckdb": str(directory / "swarm.duckdb"), "parquet": str(parquet)},
    }


def _print_swarm(document: dict) -> None:
    table = Table("verdict", "seeds", title=f"swarm: {document['seeds']:,} seeds")
    for verdict, count in sorted(document["verdicts"].items()):
        table.add_row(verdict, f"{count:,}")
    out.print(table)
    for name, count in sorted(document["violations_by_invariant"].items()):
        out.print(f"  {name}: {count:,} seeds", highlight=False)
    for failure in document["failures"][:10]:
        out.print(
            f"seed {failure['seed']} ({failure['faults']}): {failure['invariant']}: {failure['message']}\n"
            f"  reproduce: {failure['reproduce']}\n  trace: {failure['trace']}",
            highlight=False,
            markup=False,
        )
    if len(document["failures"]) > 10:
        out.print(f"... and {len(document['failures']) - 10:,} more failing seeds (see --json)")
    check = document["determinism"]
    same = "the same history" if check["same"] else f"ANOTHER history for seeds {check['differ']}"
    out.print(
        f"{document['ran']:,} seeds run, {document['skipped']:,} kept from before, "
        f"{document['seconds']:.1f} s ({document['seeds_per_second'] or 0:,.1f} seeds/s); "
        f"seeds {check['checked']} run again: {same}",
        highlight=False,
    )
    out.print(f"results: {document['results']['duckdb']}, {document['results']['parquet']}", highlight=False)


@cli.command()
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON list (docs/flaws.md) instead of a table."
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    default=None,
    help="Where the flaws' check files are (default: the ones shipped, specs/flaws/).",
)
@click.option("--only", "only", multiple=True, type=click.Choice(list(FLAWS)), help="These flaws only.")
@click.option("--no-simulator", is_flag=True, help="Skip the seeded simulator.")
@click.option("--no-machine", is_flag=True, help="Skip the Hypothesis machine.")
def flaws(
    as_json: bool, directory: str | None, only: tuple[str, ...], no_simulator: bool, no_machine: bool
) -> None:
    """For each of the seed design's flaws (docs/flaws.md): whether the explorer finds it from its
    check file (the property, the shortest counterexample's length, the states and seconds it
    took), whether the seeded simulator and the Hypothesis machine find it, and whether the
    corrected protocol passes the same check with every goal reached. Exits 1 if a flaw goes
    uncaught or the corrected protocol fails."""
    names = only or tuple(FLAWS)
    where = flaws_dir() if directory is None else Path(directory)
    with _progress() as bar:
        task = bar.add_task("hunting the seed's flaws", total=len(names))

        def started(flaw: str) -> None:
            bar.update(task, description=f"hunting {flaw}")

        reports = []
        for report in hunt_all(
            where, names, simulator=not no_simulator, machine=not no_machine, started=started
        ):
            reports.append(report)
            bar.advance(task)
    if as_json:
        click.echo(json.dumps([report.to_json() for report in reports], indent=1))
    else:
        table = Table(
            "flaw",
            "caught",
            "property",
            "length",
            "states",
            "seconds",
            "simulator",
            "machine",
            "corrected",
            title=f"the seed's flaws ({where})",
        )

        def found(report, value: bool | None, extra: str = "") -> str:
            if not report.walks_judge:
                return "n/a (progress)"
            return "-" if value is None else ("yes" + extra if value else "no")

        for r in reports:
            table.add_row(
                r.flaw,
                "yes" if r.caught else "NO",
                escape(r.property or r.note),
                "" if r.length is None else str(r.length),
                "" if r.states is None else f"{r.states:,}",
                "" if r.seconds is None else f"{r.seconds:.2f}",
                found(r, r.simulator_caught, f" ({r.simulator_seeds} seeds)" if r.simulator_caught else ""),
                found(r, r.machine_caught),
                "-"
                if r.corrected_verdict is None
                else ("holds" if r.corrected_holds else f"FAILS ({r.corrected_verdict})"),
            )
        out.print(table)
    missed = [r.flaw for r in reports if not r.caught]
    broken = [r.flaw for r in reports if r.caught and not r.corrected_holds]
    if missed or broken:
        why = []
        if missed:
            why.append(f"uncaught: {', '.join(missed)}")
        if broken:
            why.append(f"the corrected protocol fails the check of: {', '.join(broken)}")
        raise Failure("; ".join(why), EXIT_CHECK_FAILED)


def _first_sentence(text: str) -> str:
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


def _writable(db: str) -> DuckDBStore:
    """The existing history in ``db``, opened to append to; a missing or foreign file exits 2."""
    if not Path(db).exists():
        raise Failure(f"{db}: no such history file", EXIT_BAD_INPUT)
    try:
        return DuckDBStore(db, create=False)
    except StoreError as error:
        raise _bad_input(error) from None


def _open(db: str):
    try:
        return open_history(db)
    except StoreError as error:
        raise _bad_input(error) from None


@cli.command()
@_history_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead.")
def replay(db: str, as_json: bool) -> None:
    """Rebuild the state from the stored events and compare its fingerprint."""
    store = _open(db)
    try:
        with err.status(f"replaying the history in {escape(db)} ..."):
            replayed = replay_store(store)
    except YbstateError as error:
        raise Failure(f"{db}: the stored history does not replay: {error}", EXIT_CHECK_FAILED) from None
    finally:
        store.close()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "events": replayed.events,
                    "seq": replayed.state.seq,
                    "fingerprint": replayed.fingerprint,
                    "recorded": None if replayed.recorded is None else list(replayed.recorded),
                    "matches": replayed.matches,
                },
                indent=1,
            )
        )
    else:
        out.print(f"{replayed.events} events replayed; fingerprint {replayed.fingerprint}", highlight=False)
    if replayed.recorded is None:
        raise Failure(f"{db}: no fingerprint was recorded with the history", EXIT_CHECK_FAILED)
    if not replayed.matches:
        seq, recorded = replayed.recorded
        raise Failure(
            f"{db}: replay gives {replayed.fingerprint} at seq {replayed.state.seq}, "
            f"recorded {recorded} at seq {seq}",
            EXIT_CHECK_FAILED,
        )
    if not as_json:
        out.print("matches the recorded fingerprint")


@cli.command()
@_history_option
@click.option(
    "--invariants",
    "directory",
    type=click.Path(file_okay=False, exists=True),
    default=None,
    help="Directory of SQL invariants (default: the ones shipped with ybstate).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead.")
def verify(db: str, directory: str | None, as_json: bool) -> None:
    """Run every invariant over the stored history: the SQL ones, then the state ones."""
    store = _open(db)
    try:
        with err.status(f"running every invariant over {escape(db)} ..."):
            results = verify_store(store, Path(directory) if directory else None)
    except StoreError as error:  # an invariants directory or file that cannot be run
        raise _bad_input(error) from None
    except YbstateError as error:
        raise Failure(f"{db}: {error}", EXIT_CHECK_FAILED) from None
    finally:
        store.close()
    broken = [r for r in results if not r.ok]
    if as_json:
        document = [
            {
                "invariant": r.name,
                "kind": r.kind,
                "holds": r.ok,
                "doc": _first_sentence(r.doc),
                "columns": list(r.columns),
                "violations": [list(row) for row in r.violations],
            }
            for r in results
        ]
        click.echo(json.dumps(document, indent=1, default=str))
        if broken:
            raise Failure(f"{len(broken)} invariants violated in {db}", EXIT_CHECK_FAILED)
        return
    table = Table("invariant", "kind", "result", "checks")
    for r in results:
        result = "[green]holds[/]" if r.ok else f"[red]{len(r.violations)} violations[/]"
        table.add_row(escape(r.name), r.kind, result, escape(_first_sentence(r.doc)))
    out.print(table)
    broken = [r for r in results if not r.ok]
    for r in broken:
        columns = escape(", ".join(r.columns))
        err.print(f"[red]{escape(r.name)}[/] violated; first rows ({columns}):", highlight=False)
        for row in r.violations[:10]:
            err.print(f"  {row}", highlight=False, markup=False)
    if broken:
        raise Failure(f"{len(broken)} invariants violated in {db}", EXIT_CHECK_FAILED)


@cli.command()
@_history_option
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV instead of a table.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list, one entry per statement.")
@click.option(
    "-f", "--file", "query_file", type=click.File("r", encoding="utf-8"), default=None,
    help="Read the statements from this file ('-': standard input) instead of QUERY.",
)  # fmt: skip
@click.option(
    "--max-rows",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    help="Print at most this many rows of each result, and say how many were left out (0: all).",
)
@click.argument("query", required=False)
def sql(db: str, as_csv: bool, as_json: bool, query_file, max_rows: int, query: str | None) -> None:
    """Run SQL over the history (events, commit_log and the other views): QUERY, or the
    statements of -f FILE, or of standard input when QUERY is '-'. Each statement runs on
    its own, sandboxed (it reads the history and nothing else), and each result is printed
    in turn."""
    if as_csv and as_json:
        raise Failure("--csv or --json, not both", EXIT_BAD_INPUT)
    if query_file is not None and query is not None:
        raise Failure("give QUERY or -f FILE, not both", EXIT_BAD_INPUT)
    if query_file is not None:
        text = query_file.read()
    elif query == "-":
        text = sys.stdin.read()
    elif query is not None:
        text = query
    else:
        raise Failure("give a QUERY, '-' for standard input, or -f FILE", EXIT_BAD_INPUT)
    try:
        statements = [s.query.strip() for s in duckdb.connect().extract_statements(text)] or [text]
    except duckdb.Error as error:
        raise Failure(f"{db}: {error}", EXIT_BAD_INPUT) from None
    store = _open(db)
    results = []
    try:
        for statement in statements:
            columns, rows = store.query(statement)
            results.append((statement, columns, rows))
    except QueryRefused as error:
        where = f" (statement {len(results) + 1} of {len(statements)})" if len(statements) > 1 else ""
        raise Failure(f"{db}: {error}{where}", EXIT_BAD_INPUT) from None
    finally:
        store.close()
    cap = max_rows or None
    if as_json:
        document = [
            {
                "statement": statement,
                "columns": columns,
                "rows": [list(row) for row in rows[:cap]],
                "rows_left_out": len(rows) - len(rows[:cap]),
            }
            for statement, columns, rows in results
        ]
        click.echo(json.dumps(document, indent=1, default=str))
        return
    for number, (statement, columns, rows) in enumerate(results):
        shown = rows[:cap]
        if as_csv:
            if number:
                sys.stdout.write("\n")
            writer = csv.writer(sys.stdout, lineterminator="\n")
            writer.writerow(columns)
            writer.writerows(shown)
        else:
            table = Table(
                *(escape(c) for c in columns), title=escape(statement) if len(results) > 1 else None
            )
            for row in shown:
                table.add_row(*("NULL" if v is None else escape(str(v)) for v in row))
            out.print(table)
        if len(shown) < len(rows):
            err.print(
                f"{len(rows) - len(shown):,} more rows left out (--max-rows {max_rows}; 0 prints all)",
                highlight=False,
            )


@cli.command()
@_history_option
@click.option(
    "--format",
    "kind",
    type=click.Choice(["parquet", "csv"]),
    default="parquet",
    show_default=True,
    help="With QUERY: the file's format.",
)
@click.option(
    "--out", "target", default=None, type=click.Path(dir_okay=False), help="File to write (with QUERY)."
)
@click.option(
    "--parquet",
    "parquet_dir",
    default=None,
    type=click.Path(file_okay=False),
    help="Instead of QUERY: write the events and every view to DIR/<table>/run=<run>/<table>.parquet.",
)
@click.option(
    "--run", "run_name", default=None, help="--parquet: the run's name (default: the history file's name)."
)
@click.option("--force", is_flag=True, help="Replace files that exist (never the history itself).")
@click.argument("query", required=False)
def export(
    db: str,
    kind: str,
    target: str | None,
    parquet_dir: str | None,
    run_name: str | None,
    force: bool,
    query: str | None,
) -> None:
    """Write what QUERY returns over the history to a Parquet or CSV file (--out), or the
    whole history as Parquet (--parquet DIR): its events and every view, one file per table
    under DIR/<table>/run=<run>/, so many histories exported into one DIR are read together
    with read_parquet('DIR/events/**/*.parquet', hive_partitioning = true).

    The one way to write a file from a history: the query runs sandboxed like `ybstate sql`
    (no COPY there), and each file is written whole or not at all."""
    if parquet_dir is not None:
        if query is not None or target is not None:
            raise Failure("--parquet writes every table: give no QUERY and no --out", EXIT_BAD_INPUT)
        _export_run(db, Path(parquet_dir), run_name or Path(db).stem, force)
        return
    if query is None or target is None:
        raise Failure("give a QUERY and --out FILE, or --parquet DIR", EXIT_BAD_INPUT)
    if run_name is not None:
        raise Failure("--run applies to --parquet", EXIT_BAD_INPUT)
    out_path = Path(target)
    if out_path.exists() and not force:
        raise Failure(f"{target} exists; pass --force to replace it", EXIT_BAD_INPUT)
    if out_path.exists() and out_path.resolve() == Path(db).resolve():
        raise Failure(f"{target} is the history itself; refusing to replace it", EXIT_BAD_INPUT)
    store = _open(db)
    try:
        table = store.query_arrow(query)
    except QueryRefused as error:
        raise Failure(f"{db}: {error}", EXIT_BAD_INPUT) from None
    finally:
        store.close()
    try:
        with replacing(out_path) as partial:
            if kind == "parquet":
                pq.write_table(table, partial)
            else:
                pa_csv.write_csv(table, partial)
    except (OSError, pa.ArrowException) as error:
        why = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise Failure(f"{target}: cannot write it: {why}", EXIT_BAD_INPUT) from None
    out.print(f"{table.num_rows} rows written to {target} ({kind})", highlight=False)


def _export_run(db: str, directory: Path, run: str, force: bool) -> None:
    """``export --parquet``: the events and every view of the history ``db``."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", run):
        raise Failure(f"--run {run!r}: a run's name is letters, digits, '_', '.' and '-'", EXIT_BAD_INPUT)
    store = _open(db)
    try:
        views = [
            name
            for (name,) in store.con.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'main' AND table_type = 'VIEW' ORDER BY table_name"
            ).fetchall()
        ]
        tables = ["events", *views]
        targets = {name: directory / name / f"run={run}" / f"{name}.parquet" for name in tables}
        existing = [str(path) for path in targets.values() if path.exists()]
        if existing and not force:
            raise Failure(
                f"{existing[0]} exists ({len(existing)} in all); pass --force to replace", EXIT_BAD_INPUT
            )
        written = 0
        for name, path in targets.items():
            table = store.query_arrow(f"SELECT * FROM {name}")
            path.parent.mkdir(parents=True, exist_ok=True)
            with replacing(path) as partial:
                pq.write_table(table, partial)
            written += table.num_rows
    except QueryRefused as error:
        raise Failure(f"{db}: {error}", EXIT_BAD_INPUT) from None
    except (OSError, pa.ArrowException) as error:
        why = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise Failure(f"{directory}: cannot write it: {why}", EXIT_BAD_INPUT) from None
    finally:
        store.close()
    out.print(
        f"{len(targets)} tables ({written:,} rows) written under {directory}/<table>/run={run}/",
        highlight=False,
    )


@cli.command()
@_history_option
@click.option("--tenant", required=True, help="Tenant name.")
@click.option("--as-of", "as_of", default=None, help="A timestamp (microseconds) or a mark name.")
def rows(db: str, tenant: str, as_of: str | None) -> None:
    """Print a tenant's rows as sorted table,key,value lines (with --as-of: from the ghost history)."""
    state = _replayed(db)
    found = state.tenant_named(tenant)
    if found is None:
        names = sorted(t.name for t in state.tenants.values())
        raise Failure(f"{db}: unknown tenant {tenant!r} (tenants: {names})", EXIT_BAD_INPUT)
    if as_of is None:
        content = ghost.content(state, found.tenant_id)
    else:
        if _is_int(as_of):
            ts = int(as_of)
        elif as_of in state.marks:
            ts = state.marks[as_of]
        else:
            raise Failure(
                f"--as-of {as_of!r} is neither a timestamp nor a mark (marks: {sorted(state.marks)})",
                EXIT_BAD_INPUT,
            )
        content = ghost.content_as_of(state, found.tenant_id, ts)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    for (table, key), value in sorted(content.items()):
        writer.writerow((table, key, value))


@cli.command()
@_history_option
@click.option("--tenant", required=True, help="Tenant name.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead.")
def window(db: str, tenant: str, as_json: bool) -> None:
    """Print the tenant's restorable window: intervals of restorable time, and holes."""
    state = _replayed(db)
    found = _tenant(db, state, tenant)
    result = restorable_window(state, found.tenant_id)
    if as_json:
        click.echo(json.dumps(attrs.asdict(result), indent=1, default=str))
        return
    table = Table("from_ts", "to_ts", "backup_set_id", title=f"restorable window of {escape(tenant)!s}")
    for interval in result.intervals:
        table.add_row(str(interval.from_ts), str(interval.to_ts), str(interval.set_id))
    out.print(table)
    for span in result.covered:
        out.print(
            f"run {span.run}: log ids {span.first_log_id}..{span.last_log_id} archived, "
            f"up to ts {span.until_ts}",
            highlight=False,
        )
    for hole in result.holes:
        out.print(f"hole: log ids {hole.first_log_id}..{hole.last_log_id} ({hole.reason})", highlight=False)
    if not result.intervals:
        out.print("no restorable time: no completed backup set is covered by archived log")


def _replayed(db: str):
    """The state of the history in ``db``; one that was changed or does not replay exits 1."""
    store = _open(db)
    try:
        with err.status(f"replaying the history in {escape(db)} ..."):
            return replay_store(store).state
    except YbstateError as error:
        raise Failure(f"{db}: the stored history does not replay: {error}", EXIT_CHECK_FAILED) from None
    finally:
        store.close()


def _tenant(db: str, state, tenant: str):
    found = state.tenant_named(tenant)
    if found is None:
        names = sorted(t.name for t in state.tenants.values())
        raise Failure(f"{db}: unknown tenant {tenant!r} (tenants: {names})", EXIT_BAD_INPUT)
    return found


@cli.command("restore-preview")
@_history_option
@click.option("--tenant", required=True, help="The source tenant's name.")
@click.option("--until", default="latest", show_default=True, help="A timestamp, a mark's name, or latest.")
@click.option("--backup-set", default=0, type=int, help="A backup set id (0: the newest that fits).")
@click.option(
    "--workers",
    default=0,
    type=click.IntRange(0, LIMITS["workers"].high),
    help="Rewrite workers the estimate assumes (0: the cluster's restore_workers).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead.")
def restore_preview(db: str, tenant: str, until: str, backup_set: int, workers: int, as_json: bool) -> None:
    """Show what a restore of TENANT to UNTIL would use and move, changing nothing: the
    backup set, the archive pieces, the log range to replay, the rows and entries, and how
    long it would take under the history's cost table (docs/durations.md).
    Exits 1 (with the reason) when such a restore would be refused."""
    state = _replayed(db)
    _tenant(db, state, tenant)
    point: int | str = int(until) if _is_int(until) else until
    try:
        plan = plan_restore(state, tenant, point, backup_set)
    except RestoreRejected as refusal:
        raise Failure(f"{db}: {refusal}", EXIT_CHECK_FAILED) from None
    chosen = state.backup_sets[plan.set_id]
    estimate = estimate_duration(state, plan, workers)
    if as_json:
        document = {
            "tenant": tenant,
            "until": plan.until,
            "until_ts": plan.until_ts,
            "backup_set": {
                "set_id": plan.set_id,
                "snapshot_ts": chosen.snapshot_ts,
                "frozen_version": chosen.frozen_version,
            },
            "rows": plan.rows,
            "tablets": plan.tablets,
            "pieces": list(plan.pieces),
            "start_log_id": plan.start_log_id,
            "end_log_id": plan.end_log_id,
            "freeze_log_id": plan.freeze_log_id,
            "entries": plan.entries,
            "estimate": {
                "baseline_us": estimate.baseline_us,
                "incremental_us": estimate.incremental_us,
                "total_us": estimate.total_us,
                "parallel_fetches": estimate.parallel,
                "workers": estimate.workers,
                "timed": state.config.costs.timed,
            },
        }
        click.echo(json.dumps(document, indent=1, default=str))
        return
    table = Table("what", "value", title=f"restore of {escape(tenant)} to {escape(plan.until)}")
    rows = (
        ("restore point T", str(plan.until_ts)),
        ("backup set", f"{plan.set_id} (snapshot {chosen.snapshot_ts}, version {chosen.frozen_version})"),
        ("baseline", f"{plan.rows} rows in {plan.tablets} tablets"),
        ("archive pieces", ", ".join(str(p) for p in plan.pieces) or "none"),
        (
            "log to replay",
            f"log ids {plan.start_log_id}..{plan.end_log_id} (the freeze is {plan.freeze_log_id})",
        ),
        ("archived entries", str(plan.entries)),
        (
            "estimated duration",
            f"{spoken(estimate.total_us)}: baseline {spoken(estimate.baseline_us)} "
            f"({estimate.parallel} fetches at once), replay {spoken(estimate.incremental_us)} "
            f"({estimate.workers} workers)"
            + ("" if state.config.costs.timed else " (the history is untimed: every cost is 0)"),
        ),
    )
    for what, value in rows:
        table.add_row(what, value)
    out.print(table)


def _argument(text: str) -> tuple[str, object]:
    key, equals, value = text.partition("=")
    if not equals or not key:
        raise Failure(f"an argument is KEY=VALUE, found {text!r}", EXIT_BAD_INPUT)
    if value in ("true", "false"):
        return key, value == "true"
    if _is_int(value):
        return key, int(value)
    return key, value


@cli.command("task")
@_history_option
@click.option("--cancel", is_flag=True, help="Cancel the task instead (backups and restores).")
@click.argument("kind", type=click.Choice(TASK_KINDS))
@click.argument("task_id", type=click.IntRange(min=1))
def task_command(db: str, cancel: bool, kind: str, task_id: int) -> None:
    """Drive a task started without --wait (by `ybstate call`) to its end, like the scenario
    step of its kind (seed 0), or cancel it. Exits 1 if the task is over or refuses."""
    store = _writable(db)
    try:
        note = finish_task(store, kind, task_id, cancel=cancel)
    except (SpecError, StoreError) as error:
        raise _bad_input(error) from None
    except YbstateError as error:
        raise Failure(f"{kind} {task_id}: {error}", EXIT_CHECK_FAILED) from None
    finally:
        store.close()
    out.print(escape(note), highlight=False)


def _shown(value: object) -> str:
    """A default as it is typed on the command line (booleans as true and false)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _commands_epilog() -> str:
    """The nine commands for ``call --help``: each one's arguments (optional ones in
    brackets, with their defaults) and who may call it."""
    lines = ["\b", "Commands (docs/commands.md):"]
    for name, command in COMMANDS.items():
        params = list(inspect.signature(command.function).parameters.values())[1:]
        words = [
            p.name if p.default is inspect.Parameter.empty else f"[{p.name}={_shown(p.default)}]"
            for p in params
        ]
        lines.append(f"  {name} {' '.join(words)}")
        rights = "a system admin" + (", or an admin of the tenant it acts on" if command.own_tenant else "")
        lines.append(f"      may be called by {rights}")
    return "\n".join(lines)


@cli.command("call", epilog=_commands_epilog())
@_history_option
@click.option(
    "--as", "caller", default="sys:root:admin", show_default=True, help="TENANT:USER:ROLE of the caller."
)
@click.option("--wait", is_flag=True, help="Run a task the command starts to its end (seed 0).")
@click.argument("command")
@click.argument("arguments", nargs=-1)
def call_command(db: str, caller: str, wait: bool, command: str, arguments: tuple[str, ...]) -> None:
    """Run COMMAND (one of the nine below) with KEY=VALUE ARGUMENTS as a caller, and
    append what it decided to the history. Exits 0 on OB_SUCCESS, 1 when refused.
    A VALUE of digits is a number, true or false a boolean, anything else text."""

    parts = caller.split(":")
    if len(parts) != 3:
        raise Failure(f"--as is TENANT:USER:ROLE, found {caller!r}", EXIT_BAD_INPUT)
    who = Caller(tenant=parts[0], user=parts[1], role=parts[2])
    if command not in COMMANDS:
        raise Failure(f"unknown command {command!r} (commands: {sorted(COMMANDS)})", EXIT_BAD_INPUT)
    given = dict(_argument(a) for a in arguments)
    store = _writable(db)
    try:
        try:
            state = replay_store(store).state
        except YbstateError as error:
            raise Failure(f"{db}: the stored history does not replay: {error}", EXIT_CHECK_FAILED) from None
        if wait and command in COMMAND_STEPS and permission(state, who, COMMANDS[command], given) is None:
            try:
                step = command_step(command, given)
            except SpecError as error:
                raise _bad_input(error) from None
            scenario = Scenario(
                path=f"<ybstate call {command}>",
                name=command,
                seed=0,
                cluster=state.config,
                tenants=(),
                steps=(step,),
            )
            try:
                result = run_scenario(scenario, store)
            except ScenarioFailed as error:
                raise Failure(str(error), EXIT_CHECK_FAILED) from None
            except SpecError as error:
                raise _bad_input(error) from None
            out.print(f"{command}: {escape(result.outcomes[0].note)}", highlight=False)
            return
        reply = call(state, who, command, **given)
        if reply.events:
            for event in reply.events:
                state = model.apply(state, event)
            store.append(list(reply.events), fingerprint_hex(state))
        value = "" if reply.value is None else f" {reply.value!r}"
        out.print(
            f"{reply.code.name} ({int(reply.code)}){value} {escape(reply.message)}".rstrip(), highlight=False
        )
        if not reply.ok:
            raise Failure(f"{command}: {reply.message}", EXIT_CHECK_FAILED)
    finally:
        store.close()


def _interruptible(callback):
    """Ctrl-C ends any command with exit 130 and a one-line message: a run's transaction is
    rolled back (and a file it created removed) on the way out, so nothing is stored."""

    @functools.wraps(callback)
    def run(*args, **kwargs):
        try:
            return callback(*args, **kwargs)
        except KeyboardInterrupt:
            raise Failure("interrupted; nothing stored", EXIT_INTERRUPTED) from None

    return run


for _command in cli.commands.values():
    _command.callback = _interruptible(_command.callback)


def main() -> None:
    """The `ybstate` command. Never a traceback: an error that is not one of ybstate's own
    (a bug) is printed as one line, with exit 2; YBSTATE_TRACEBACK=1 shows where it was."""
    try:
        cli(prog_name="ybstate")
    except Exception as error:
        if os.environ.get("YBSTATE_TRACEBACK"):
            raise
        err.print(
            f"[bold red]internal error:[/] {escape(type(error).__name__)}: {escape(str(error))} "
            "(a bug in ybstate: please report it; YBSTATE_TRACEBACK=1 shows where)",
            highlight=False,
        )
        sys.exit(EXIT_BAD_INPUT)
