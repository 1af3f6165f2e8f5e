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
    mode = "exhaustive"          # the only mode this version runs
    invariants = ["all"]         # names, or "package.module:function" (state -> message or None)
    goals = ["restore_completed"]  # names (ybstate.model.goals.GOALS) or import paths (state -> bool)
    max_states = 200000          # and max_depth

:func:`load_check` reads and checks one whole before anything runs: unknown keys, values
of the wrong type, unknown invariant or goal names, import paths that do not resolve and
bounds out of range are a :class:`~ybstate.errors.SpecError` naming the file and the key
(or the start's step). :func:`run_check` runs the start (into memory), then explores.
"""

from __future__ import annotations

import importlib
import os
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from ybstate.cluster.state import ClusterState
from ybstate.drivers.explore import Exploration, explore
from ybstate.errors import ActionRejected, ScenarioFailed, SpecError, StoreError
from ybstate.kernel import Goal, Invariant, Spec
from ybstate.model import INVARIANTS, MODEL, Scope
from ybstate.model.goals import GOALS
from ybstate.scenario import Scenario, run_scenario
from ybstate.scenario.parse import read_spec_text, scenario_from, structure
from ybstate.store.duck import DuckDBStore

__all__ = ["CheckFile", "CheckSettings", "CheckRun", "load_check", "parse_check", "run_check"]

MODES = ("exhaustive",)


@attrs.frozen(kw_only=True)
class CheckSettings:
    """The ``[check]`` table."""

    mode: str = "exhaustive"
    invariants: tuple[str, ...] = ("all",)
    goals: tuple[str, ...] = ()
    max_states: int | None = None
    max_depth: int | None = None


@attrs.frozen(kw_only=True)
class CheckFile:
    path: str
    start: Scenario
    scope: Scope
    settings: CheckSettings
    invariants: tuple[Invariant[ClusterState], ...]
    goals: tuple[Goal[ClusterState], ...]


@attrs.frozen(kw_only=True)
class CheckRun:
    """What running a check file gave: the exploration, the spec it explored, and the
    events of its start (for writing a counterexample as a history)."""

    check: CheckFile
    spec: Spec
    exploration: Exploration
    start_events: tuple[object, ...]


@attrs.frozen(kw_only=True)
class _Document:
    name: str | None = None
    start: dict[str, Any] = attrs.Factory(dict)
    scope: dict[str, Any] = attrs.Factory(dict)
    check: dict[str, Any] = attrs.Factory(dict)


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
    known = {inv.name: inv for inv in INVARIANTS}
    chosen: list[Invariant] = []
    for name in names:
        if name == "all":
            chosen.extend(INVARIANTS)
        elif name in known:
            chosen.append(known[name])
        elif ":" in name:
            chosen.append(Invariant(name=name, check=_resolve(name, "invariant", fail)))
        else:
            known_names = ["all", *sorted(known)]
            raise fail(
                f"[check]: unknown invariant {name!r} (known: {known_names}, or 'package.module:function')"
            )
    unique: dict[str, Invariant] = {}
    for inv in chosen:
        unique.setdefault(inv.name, inv)
    return tuple(unique.values())


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
    start = scenario_from({"name": document.name or Path(path).stem, **document.start}, path)
    scope = _scope(document.scope, fail)
    settings = structure(document.check, CheckSettings, fail, "[check]")
    if settings.mode not in MODES:
        raise fail(f"[check]: 'mode' must be one of {list(MODES)} in this version, found {settings.mode!r}")
    for key, least in (("max_states", 1), ("max_depth", 0)):
        value = getattr(settings, key)
        if value is not None and not least <= value <= 10**9:
            raise fail(f"[check]: {key!r} must be {least}..{10**9}, found {value}")
    return CheckFile(
        path=path,
        start=start,
        scope=scope,
        settings=settings,
        invariants=_invariants(settings.invariants, fail),
        goals=_goals(settings.goals, fail),
    )


def load_check(path: str | os.PathLike) -> CheckFile:
    return parse_check(read_spec_text(path), str(path))


def run_check(check: CheckFile, **options: Any) -> CheckRun:
    """Run the start into memory, then explore from it; ``options`` go to ``explore``
    (``progress``, ``progress_every``). A start that is refused is a SpecError (bad input)."""
    with DuckDBStore() as store:
        try:
            result = run_scenario(check.start, store, query=lambda sql: store.query(sql)[1])
        except ScenarioFailed as error:
            raise SpecError(check.path, error.step, f"[start] {error.reason}") from None
        except (ActionRejected, StoreError) as error:
            raise SpecError(check.path, None, f"[start]: {error}") from None
        events = tuple(store.load())
    spec = attrs.evolve(
        MODEL.spec(check.scope, start=result.state), invariants=check.invariants, goals=check.goals
    )
    exploration = explore(
        spec, max_states=check.settings.max_states, max_depth=check.settings.max_depth, **options
    )
    return CheckRun(check=check, spec=spec, exploration=exploration, start_events=events)
