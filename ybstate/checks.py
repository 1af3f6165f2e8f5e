"""Check files (DESIGN 13): a start, a scope and what to check, run by the explorer.

A check file is TOML::

    [start]                      # a scenario (DESIGN 9): [start.cluster], [[start.tenants]],
    [[start.steps]]              # [[start.steps]]; run once to build the starting state
    do = "freeze"

    [scope.cluster]              # what may happen next, one table per part: cluster, dag,
    tenants = ["shop"]           # backup, archive, restore, promote (the keys of
    [scope.restore]              # ybstate.model.Scope's sections)
    restore_sources = ["shop"]

    [check]
    mode = "exhaustive"          # or "simulation": seeds random walks of steps steps each
    invariants = ["all"]         # "all", a part ("restore"), a name, or "package.module:function"
    goals = ["restore_completed"]  # names (ybstate.model.goals.GOALS) or import paths (state -> bool)
    progress = ["restore_can_complete"]  # names (ybstate.model.progress.PROGRESS), exhaustive only
    deadlock = true              # a task underway while nothing is enabled is a violation
    probe = true                 # requests not offered must be refused (exhaustive only)
    max_states = 200000          # and max_depth, max_seconds; seeds, steps, first_seed

    [protocol]                   # the corrected protocol unless flaws are named (DESIGN 14)
    flaws = ["skip_failed_apply"]

:func:`load_check` reads and checks one whole before anything runs: unknown keys, values
of the wrong type, unknown invariant or goal names, import paths that do not resolve and
bounds out of range are a :class:`~ybstate.errors.SpecError` naming the file and the key
(or the start's step). :func:`run_check` runs the start (into memory), then explores
breadth-first or walks at random from it, and gives a :class:`CheckRun` with one verdict.

``invariants = ["all"]`` means the invariants of every part the check is about: the
cluster's, and those of each part whose ``[scope.<part>]`` section allows something or
whose objects the start already holds (a backup set, an archiver, a restore...). Each
chosen invariant declares its subject; one whose subject never exists in the run makes
the run vacuous, as a goal never reached does.
"""

from __future__ import annotations

import importlib
import os
import time
import tomllib
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path
from typing import Any

import attrs

from ybstate.cluster.costs import UNTIMED
from ybstate.cluster.protocol import Protocol
from ybstate.cluster.state import ClusterState
from ybstate.drivers.coverage import Coverage, ProgressCoverage
from ybstate.drivers.explore import Counterexample, Exploration, rebuild_counterexample
from ybstate.drivers.parallel import explorer
from ybstate.drivers.simulate import simulate
from ybstate.drivers.trace import write_history, write_itf
from ybstate.errors import ActionRejected, ScenarioFailed, SpecError, StoreError
from ybstate.kernel import Completion, Goal, Invariant, Spec
from ybstate.model import MODEL, Scope
from ybstate.model.goals import GOALS
from ybstate.model.progress import PROGRESS
from ybstate.scenario import Scenario, run_scenario
from ybstate.scenario.parse import read_spec_text, scenario_from, structure
from ybstate.store.duck import DuckDBStore

__all__ = [
    "CheckFile",
    "CheckSettings",
    "CheckRun",
    "Start",
    "Walk",
    "invariants_in_play",
    "is_timed",
    "load_check",
    "parse_check",
    "run_check",
    "run_start",
    "timed_for",
    "with_flaws",
]

MODES = ("exhaustive", "simulation")
PARTS: dict[str, tuple[Invariant[ClusterState], ...]] = {
    part.name: part.invariants for part in MODEL.parts if part.invariants
}
"""Invariants by the part of the model they belong to (``invariants = ["restore"]``)."""

# [check] bounds: key -> (least, most).
BOUNDS: dict[str, tuple[float, float]] = {
    "max_states": (1, 10**9),
    "max_depth": (0, 10**9),
    "max_seconds": (0.001, 10**7),
    "seeds": (1, 10**6),
    "steps": (0, 10**7),
    "first_seed": (0, 2**63 - 1),
}


@attrs.frozen(kw_only=True)
class CheckSettings:
    """The ``[check]`` table (docs/checks.md)."""

    mode: str = "exhaustive"
    invariants: tuple[str, ...] = ("all",)
    goals: tuple[str, ...] = ()
    # progress properties by name (PROGRESS), judged on the whole explored graph
    progress: tuple[str, ...] = ()
    # a state with nothing enabled that is not a final state is a violation
    deadlock: bool = True
    # in each state, the requests enabled does not offer (the parts' probes) must be refused
    probe: bool = True
    max_states: int | None = None
    max_depth: int | None = None
    max_seconds: float | None = None
    # whether the protocol's steps take time from [start.cluster.costs] (docs/durations.md);
    # None: in simulation mode only (an exhaustive search explores the untimed protocol)
    timed: bool | None = None
    # simulation: walks from seeds first_seed .. first_seed + seeds - 1, of steps steps each
    seeds: int = 100
    steps: int = 100
    first_seed: int = 0


@attrs.frozen(kw_only=True)
class CheckFile:
    path: str
    start: Scenario
    scope: Scope
    settings: CheckSettings
    # Chosen by name, part or import path; "all" adds the parts in play once the start is known.
    invariants: tuple[Invariant[ClusterState], ...]
    all_invariants: bool
    goals: tuple[Goal[ClusterState], ...]
    progress: tuple[Completion[ClusterState], ...] = ()


@attrs.frozen(kw_only=True)
class Start:
    """A check file's start, run: the state it reached and the events it stored."""

    state: ClusterState
    events: tuple[object, ...]


@attrs.frozen(kw_only=True)
class Walk:
    """One random walk of a simulation check: its seed, how far it went, how it ended."""

    seed: int
    steps: int
    ended_early: bool  # nothing was enabled before the step budget ran out
    violation: str | None  # "invariant: message"


@attrs.frozen(kw_only=True)
class CheckRun:
    """What running a check file gave, in either mode: the verdict, the coverage, a
    counterexample (a shortest one when exhaustive), and what is needed to write it out
    (the spec checked and the events of the start)."""

    check: CheckFile | None  # None: a model checked by name (ybstate check --model)
    spec: Spec
    mode: str
    verdict: str  # "holds", "violated", "vacuous" or "incomplete" (DESIGN 13)
    states: int  # distinct states visited
    depth: int  # the deepest state visited (steps from the start)
    seconds: float
    coverage: Coverage
    counterexample: Counterexample | None
    start_events: tuple[object, ...] | None  # None: a model with no stored history (twophase)
    exploration: Exploration | None = None  # exhaustive mode
    walks: tuple[Walk, ...] = ()  # simulation mode
    cut_by: str | None = None  # the bound that stopped the run short ("states", "depth", "seconds")

    @classmethod
    def of_exploration(
        cls,
        spec: Spec,
        result: Exploration,
        start_events: tuple[object, ...] | None,
        check: CheckFile | None = None,
    ) -> CheckRun:
        assert result.coverage is not None  # explore records it unless told not to
        return cls(
            check=check,
            spec=spec,
            mode="exhaustive",
            verdict=result.verdict,
            states=result.distinct_states,
            depth=result.depth,
            seconds=result.seconds,
            coverage=result.coverage,
            counterexample=result.violation,
            start_events=start_events,
            exploration=result,
            cut_by=result.truncated_by,
        )

    @property
    def vacuous(self) -> tuple[str, ...]:
        return self.coverage.vacuous

    def write_counterexample(self, directory: str | os.PathLike) -> list[Path]:
        """Write the counterexample into ``directory`` (made if need be), each file whole or
        not at all: ``counterexample.itf.json`` (ITF, DESIGN 13) and, when the run has a
        stored start, ``counterexample.duckdb`` (a history that ``ybstate replay``,
        ``verify``, ``rows`` and ``sql`` read). Nothing is written when the run holds.
        Raises OSError or StoreError when a file cannot be written."""
        if self.counterexample is None:
            return []
        where = Path(directory)
        where.mkdir(parents=True, exist_ok=True)
        written = [write_itf(self.counterexample, where / "counterexample.itf.json")]
        if self.start_events is not None:
            written.append(
                write_history(self.start_events, self.counterexample, where / "counterexample.duckdb")
            )
        return written

    def to_json(self, files: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
        """The check result document (DESIGN 13); ``files``: where the counterexample was written."""
        cx = self.counterexample
        document: dict[str, Any] = {
            "verdict": self.verdict,
            "mode": self.mode,
            "states": self.states,
            "depth": self.depth,
            "seconds": round(self.seconds, 3),
            "cut_by": self.cut_by,
            "timed": None if self.check is None else self.check.start.cluster.costs.timed,
            "coverage": self.coverage.to_json(),
            "vacuous": list(self.vacuous),
            "counterexample": None
            if cx is None
            else {"property": cx.invariant, "message": cx.message, "length": cx.depth, "files": list(files)},
        }
        # progress properties are judged only by a search that visited every reachable state
        document["progress_checked"] = self.exploration is not None and self.exploration.progress_checked
        if self.exploration is not None:
            document["transitions"] = self.exploration.transitions
            tried = self.exploration.probes_tried
            document["probes"] = (
                None if tried is None else {"tried": tried, "accepted": self.exploration.probes_accepted}
            )
        if self.mode == "simulation":
            document["walks"] = [attrs.asdict(walk) for walk in self.walks]
        return document


@attrs.frozen(kw_only=True)
class _Document:
    name: str | None = None
    start: dict[str, Any] = attrs.Factory(dict)
    scope: dict[str, Any] = attrs.Factory(dict)
    check: dict[str, Any] = attrs.Factory(dict)
    protocol: dict[str, Any] = attrs.Factory(dict)


def _resolve(path: str, what: str, fail: Callable[[str], SpecError]) -> Callable[[ClusterState], Any]:
    module_name, colon, attribute = path.partition(":")
    if not colon or not module_name or not attribute:
        raise fail(f"[check]: {what} {path!r} is not a known name nor 'package.module:function'")
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise fail(f"[check]: {what} {path!r} does not resolve: {error}") from None
    if not callable(found):
        raise fail(f"[check]: {what} {path!r} is not a function")
    return found


def _invariants(names: tuple[str, ...], fail: Callable[[str], SpecError]) -> tuple[Invariant, ...]:
    """The invariants ``names`` choose, but for "all" (resolved once the start is known)."""
    known = {inv.name: inv for inv in MODEL.invariants}
    chosen: list[Invariant] = []
    for name in names:
        if name == "all":
            continue
        if name in PARTS:
            chosen.extend(PARTS[name])
        elif name in known:
            chosen.append(known[name])
        elif ":" in name:
            chosen.append(Invariant(name=name, check=_resolve(name, "invariant", fail)))
        else:
            raise fail(
                f"[check]: unknown invariant {name!r} (known: 'all', a part {sorted(PARTS)}, "
                f"a name {sorted(known)}, or 'package.module:function')"
            )
    return _unique(chosen)


def _unique(invariants: list[Invariant]) -> tuple[Invariant, ...]:
    found: dict[str, Invariant] = {}
    for inv in invariants:
        found.setdefault(inv.name, inv)
    return tuple(found.values())


def in_play(scope: Scope, start: ClusterState) -> dict[str, str]:
    """The parts a check is about, each with why: "scope" for each part whose scope section
    allows something (the cluster's: its log may still grow from the start; another's: it
    differs from its default, which allows nothing), "start" for a part only the start
    holds objects of (its invariants' subjects hold there)."""
    default = Scope()
    parts = {}
    for name, invariants in PARTS.items():
        section = getattr(scope, name, None)
        if name == "cluster":
            allows = len(start.log) < scope.cluster.max_log
        else:
            allows = section is not None and section != getattr(default, name)
        if allows:
            parts[name] = "scope"
        elif any(inv.subject is not None and inv.subject(start) for inv in invariants):
            parts[name] = "start"
    return parts


def invariants_in_play(scope: Scope, start: ClusterState) -> tuple[Invariant[ClusterState], ...]:
    """What ``invariants = ["all"]`` means within ``scope`` from ``start``: the invariants
    of the parts in play; those of a part in play only through the start are optional (it
    does not make the run vacuous that, say, no backup pins a version when the check's
    scope starts no backup)."""
    chosen = []
    for part, why in in_play(scope, start).items():
        for inv in PARTS[part]:
            chosen.append(inv if why == "scope" else attrs.evolve(inv, optional=True))
    return tuple(chosen)


def chosen_invariants(check: CheckFile, start: ClusterState) -> tuple[Invariant[ClusterState], ...]:
    """The invariants a run of ``check`` from ``start`` checks, in the model's order, then the user's."""
    chosen = list(check.invariants)
    if check.all_invariants:  # an invariant also named outright stays required
        named = {inv.name for inv in chosen}
        implied = [inv for inv in invariants_in_play(check.scope, start) if inv.name not in named]
        chosen = [*implied, *chosen]
    order = {inv.name: index for index, inv in enumerate(MODEL.invariants)}
    return tuple(sorted(_unique(chosen), key=lambda inv: order.get(inv.name, len(order))))


def _goals(names: tuple[str, ...], fail: Callable[[str], SpecError]) -> tuple[Goal, ...]:
    goals = []
    for name in names:
        if name in GOALS:
            goals.append(GOALS[name])
        elif ":" in name:
            goals.append(Goal(name=name, reached=_resolve(name, "goal", fail)))
        else:
            raise fail(
                f"[check]: unknown goal {name!r} (known: {sorted(GOALS)}, or 'package.module:function')"
            )
    return tuple(goals)


def _progress(names: tuple[str, ...], fail: Callable[[str], SpecError]) -> tuple[Completion, ...]:
    unknown = [name for name in names if name not in PROGRESS]
    if unknown:
        raise fail(f"[check]: unknown progress property {unknown[0]!r} (known: {sorted(PROGRESS)})")
    return tuple(PROGRESS[name] for name in dict.fromkeys(names))


def _scope(table: dict[str, Any], fail: Callable[[str], SpecError]) -> Scope:
    """The ``[scope]`` table, section by section, so a message names ``[scope.<part>]``."""
    sections = {field.name: field.type for field in attrs.fields(attrs.resolve_types(Scope))}
    unknown = sorted(set(table) - set(sections))
    if unknown:
        raise fail(f"[scope]: unexpected key {unknown[0]!r} (expected one of {sorted(sections)})")
    built = {}
    for name, value in table.items():
        if not isinstance(value, dict):
            raise fail(f"[scope]: {name!r} must be a table, found {value!r}")
        built[name] = structure(value, sections[name], fail, f"[scope.{name}]")
    return Scope(**built)


def parse_check(text: str, path: str = "<check>") -> CheckFile:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SpecError(path, None, f"not valid TOML: {error}") from None

    def fail(message: str) -> SpecError:
        return SpecError(path, None, message)

    document = structure(raw, _Document, fail, "check file")
    if "protocol" in document.start:
        raise fail("[start]: unexpected key 'protocol' (a check file's variant is its top-level [protocol])")
    start = scenario_from(
        {"name": document.name or Path(path).stem, **document.start, "protocol": document.protocol}, path
    )
    scope = _scope(document.scope, fail)
    settings = structure(document.check, CheckSettings, fail, "[check]")
    if settings.mode not in MODES:
        raise fail(f"[check]: 'mode' must be one of {list(MODES)}, found {settings.mode!r}")
    for key, (least, most) in BOUNDS.items():
        value = getattr(settings, key)
        if value is not None and not least <= value <= most:
            raise fail(f"[check]: {key!r} must be {least:g}..{most:g}, found {value}")
    if not settings.invariants and not settings.goals:
        raise fail("[check]: nothing to check: 'invariants' and 'goals' are both empty")
    return CheckFile(
        path=path,
        start=start,
        scope=scope,
        settings=settings,
        invariants=_invariants(settings.invariants, fail),
        all_invariants="all" in settings.invariants,
        goals=_goals(settings.goals, fail),
        progress=_progress(settings.progress, fail),
    )


def load_check(path: str | os.PathLike) -> CheckFile:
    return parse_check(read_spec_text(path), str(path))


def with_flaws(check: CheckFile, flaws: Iterable[str]) -> CheckFile:
    """``check`` run under the protocol with ``flaws`` (DESIGN 14) instead of its
    ``[protocol]``. Raises SpecError naming the check for an unknown or conflicting flaw."""
    try:
        protocol = Protocol.with_flaws(flaws)
    except ValueError as error:
        raise SpecError(check.path, None, f"--flaw: {error}") from None
    start = check.start
    return attrs.evolve(
        check, start=attrs.evolve(start, cluster=attrs.evolve(start.cluster, protocol=protocol))
    )


def is_timed(check: CheckFile, mode: str) -> bool:
    """Whether ``check`` run in ``mode`` gives the protocol's steps durations: its ``timed``,
    or by default in simulation mode only. Durations change when things happen, never what
    can happen; exhaustively they would make each interleaving of a commit with a protocol
    step a state of its own (its timestamp differs), so an exhaustive search explores the
    untimed protocol unless asked."""
    timed = check.settings.timed
    return mode == "simulation" if timed is None else timed


def timed_for(check: CheckFile, mode: str) -> CheckFile:
    """``check`` as run in ``mode``: its start's cost table, or every cost 0 when the run is
    untimed (:func:`is_timed`). The configuration is stored with the start, so a
    counterexample replays as it was found."""
    if is_timed(check, mode):
        return check
    start = check.start
    return attrs.evolve(check, start=attrs.evolve(start, cluster=attrs.evolve(start.cluster, costs=UNTIMED)))


def run_start(check: CheckFile) -> Start:
    """Run ``check``'s start into memory. A start the model refuses is a SpecError (bad
    input) naming the file and the step."""
    with DuckDBStore() as store:
        try:
            result = run_scenario(check.start, store, query=lambda sql: store.query(sql)[1])
        except ScenarioFailed as error:
            raise SpecError(check.path, error.step, f"[start] {error.reason}") from None
        except (ActionRejected, StoreError) as error:
            raise SpecError(check.path, None, f"[start]: {error}") from None
        return Start(state=result.state, events=tuple(store.load()))


def check_spec(check: CheckFile, start: Start) -> Spec:
    """The model within ``check``'s scope, from ``start``, with its invariants, goals and
    progress properties, its final states unless ``deadlock = false`` and its probes unless
    ``probe = false``."""
    spec = MODEL.spec(check.scope, start=start.state)
    return attrs.evolve(
        spec,
        invariants=chosen_invariants(check, start.state),
        goals=check.goals,
        progress=check.progress,
        stuck=spec.stuck if check.settings.deadlock else None,
        probes=spec.probes if check.settings.probe else None,
    )


def run_check(
    check: CheckFile,
    *,
    mode: str | None = None,
    progress: Callable[[Any], object] | None = None,
    workers: int = 1,
    **bounds: Any,
) -> CheckRun:
    """Run the start into memory, then check from it in ``mode`` (default: the file's).
    An exhaustive check with ``workers`` > 1 runs on that many processes
    (:func:`~ybstate.drivers.parallel.explore_parallel`: the same result).

    ``bounds`` override the file's ``[check]`` values (``max_states``, ``max_depth``,
    ``max_seconds``, ``seeds``, ``steps``, ``first_seed``; None keeps the file's).
    ``progress`` is called now and then: with an explorer's
    :class:`~ybstate.drivers.explore.Progress`, or with each finished :class:`Walk`."""
    unknown = sorted(set(bounds) - set(BOUNDS))
    if unknown:
        raise TypeError(f"run_check() got unexpected bounds {unknown}")
    settings = attrs.evolve(check.settings, **{k: v for k, v in bounds.items() if v is not None})
    mode = settings.mode if mode is None else mode
    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}, found {mode!r}")
    check = timed_for(check, mode)
    start = run_start(check)
    spec = check_spec(check, start)
    if mode == "exhaustive":
        return _explore(check, spec, start, settings, progress, workers)
    return _simulate(check, spec, start, settings, progress)


def _explore(
    check: CheckFile, spec: Spec, start: Start, settings: CheckSettings, progress, workers: int = 1
) -> CheckRun:
    options: dict[str, Any] = {} if progress is None else {"progress": progress, "progress_every": 50_000}
    result = explorer(workers)(
        spec,
        max_states=settings.max_states,
        max_depth=settings.max_depth,
        max_seconds=settings.max_seconds,
        **options,
    )
    return CheckRun.of_exploration(spec, result, start.events, check)


def _simulate(check: CheckFile, spec: Spec, start: Start, settings: CheckSettings, progress) -> CheckRun:
    """Walk from seeds first_seed, first_seed + 1, ... until one breaks an invariant, every
    seed has walked, or max_seconds have passed (checked between walks)."""
    started = time.perf_counter()
    seen: set[Hashable] = {spec.key(start.state)}
    walks: list[Walk] = []
    coverages: list[Coverage] = []
    counterexample = None
    depth = 0
    cut_by = None

    def visit(number: int, action: object, events: object, state: object) -> None:
        seen.add(spec.key(state))

    for seed in range(settings.first_seed, settings.first_seed + settings.seeds):
        if settings.max_seconds is not None and time.perf_counter() - started > settings.max_seconds:
            cut_by = "seconds"
            break
        walk = simulate(spec, seed=seed, steps=settings.steps, on_step=visit)
        assert walk.coverage is not None  # simulate records it unless told not to
        coverages.append(walk.coverage)
        depth = max(depth, len(walk.steps))
        bad = walk.violation
        walks.append(
            Walk(
                seed=seed,
                steps=len(walk.steps),
                ended_early=walk.deadlock,
                violation=None if bad is None else f"{bad.invariant}: {bad.message}",
            )
        )
        if progress is not None:
            progress(walks[-1])
        if bad is not None:
            actions = [action for action, _ in walk.steps]
            counterexample = rebuild_counterexample(spec, actions, bad.invariant, bad.message)
            break
    coverage = Coverage.merge(coverages)
    if spec.progress:  # walks cannot judge a property of the whole graph: say so
        coverage = attrs.evolve(
            coverage,
            progress={
                p.name: ProgressCoverage(checked=False, pending=None, things=None) for p in spec.progress
            },
        )
    if counterexample is not None:
        verdict = "violated"
    elif coverage.vacuous:
        verdict = "vacuous"
    else:
        verdict = "holds" if cut_by is None else "incomplete"
    return CheckRun(
        check=check,
        spec=spec,
        mode="simulation",
        verdict=verdict,
        states=len(seen),
        depth=depth,
        seconds=time.perf_counter() - started,
        coverage=coverage,
        counterexample=counterexample,
        start_events=start.events,
        walks=tuple(walks),
        cut_by=cut_by,
    )
