"""A scenario file (DESIGN 9), parsed and checked: typed steps, nothing executed.

:func:`parse_scenario` reads the TOML text and checks every step before anything runs.
Shapes are cattrs' job: one converter structures each ``[[steps]]`` table into its class of
:data:`~ybstate.scenario.steps.STEPS` through a tagged union on ``do`` (a fault's ``kind``
joins the tag), refusing keys the class does not take (``forbid_extra_keys``) and values
of the wrong type (strict hooks: TOML's ``true`` is no int, ``1.5`` no int, ``7`` no string).
The classes' attrs validators check single values; their ``follow`` checks names against
the timeline: tenants and tables that exist at that point (following create_table /
drop_table steps), transaction names not reused after they ended, marks defined once.

Every problem raises :class:`~ybstate.errors.SpecError` naming the file, the step number
(1-based, in file order), the key, what was expected and what was found. cattrs' errors
are translated here, in :func:`_explain`, and nowhere else.
"""

from __future__ import annotations

import copy
import tomllib
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import cattrs
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError
from cattrs.gen import make_dict_structure_fn, override
from cattrs.strategies import configure_tagged_union

from ybstate.cluster.costs import Costs
from ybstate.cluster.derive import config_problem, costs_problem
from ybstate.cluster.protocol import Protocol
from ybstate.cluster.state import ClusterConfig, LogRetention
from ybstate.errors import SpecError
from ybstate.kernel.limits import LIMITS, name_problem, within
from ybstate.promote.state import PromotionStep
from ybstate.scenario.steps import (
    FAULTS,
    STEPS,
    FaultStep,
    Scenario,
    Step,
    StepInvalid,
    TenantDecl,
    Timeline,
    step_tag,
)

__all__ = [
    "parse_scenario",
    "scenario_from",
    "load_scenario",
    "read_spec_text",
    "command_step",
    "structure",
    "COMMAND_STEPS",
    "KINDS",
]

KINDS: dict[str, type[Step]] = {cls.kind: cls for cls in STEPS}  # do -> class (FaultStep for faults)
KINDS["fault"] = FaultStep
FAULT_KINDS: dict[str, type[FaultStep]] = {cls.fault: cls for cls in FAULTS}
COMMAND_STEPS: dict[str, type[Step]] = {cls.command: cls for cls in STEPS if cls.command}
_BY_TAG = {step_tag(cls): cls for cls in STEPS}
PROMOTION_STEPS = {step.value.lower(): step for step in PromotionStep}
LOG_RETENTIONS = {mode.value: mode for mode in LogRetention}


class _WrongType(TypeError):
    """A value of the wrong type: '<key> must be <expected>, found <value>'."""

    def __init__(self, expected: str, value: object) -> None:
        super().__init__(expected, value)
        self.expected = expected
        self.value = value


class _BadItem(ValueError):
    """An item of a list or table is wrong: '<key> <message>', or '<message>' if it names
    the item itself."""

    def __init__(self, message: str, *, keyed: bool = True) -> None:
        super().__init__(message)
        self.keyed = keyed


# -- the converter -----------------------------------------------------------------------------


def _strict(*kinds: type, expected: str) -> Callable[[object, type], object]:
    def structure(value: object, _: type) -> object:
        # TOML booleans are ints to Python; never accept one where a number is asked.
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            raise _WrongType(expected, value)
        return value

    return structure


def _number(value: object, _: type) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _WrongType("int or float", value)
    return float(value)


def _names(value: object, _: type) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _WrongType("a list of names", value)
    for item in value:
        if not isinstance(item, str):
            raise _WrongType("a list of names", item)
    return tuple(value)


def _rows(width: int) -> Callable[[object, type], tuple[tuple[str, ...], ...]]:
    shape = "[table, key, value]" if width == 3 else "[table, key]"

    def structure(value: object, _: type) -> tuple[tuple[str, ...], ...]:
        if not isinstance(value, list):
            raise _WrongType(f"a list of {shape}", value)
        for index, item in enumerate(value, 1):
            if not (isinstance(item, list) and len(item) == width and all(isinstance(x, str) for x in item)):
                raise _BadItem(f"item {index} must be {shape} of strings, found {item!r}")
        return tuple(tuple(item) for item in value)

    return structure


def _tables(value: object, _: type) -> tuple[tuple[str, int], ...]:
    if not isinstance(value, dict):
        raise _WrongType("dict", value)
    for table, tablets in value.items():
        if isinstance(tablets, bool) or not isinstance(tablets, int) or tablets < 1:
            raise _BadItem(
                f"table {table!r} needs a positive number of tablets, found {tablets!r}", keyed=False
            )
        if within("tablets", tablets) is not None:
            high = LIMITS["tablets"].high
            raise _BadItem(f"table {table!r} has at most {high} tablets, found {tablets}", keyed=False)
    return tuple(value.items())


def _choice(choices: Mapping[str, object]) -> Callable[[object, type], object]:
    def structure(value: object, _: type) -> object:
        if not isinstance(value, str) or value not in choices:
            raise _WrongType(f"one of {sorted(choices)}", value)
        return choices[value]

    return structure


@attrs.frozen(kw_only=True)
class _Document:
    """The top level of a scenario file."""

    name: str | None = None  # None: the file's stem
    seed: int = 0
    cluster: dict[str, Any] = attrs.Factory(dict)
    protocol: dict[str, Any] = attrs.Factory(dict)
    tenants: list[Any] = attrs.Factory(list)
    steps: list[Any] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class _ProtocolTable:
    """A scenario's ``[protocol]``: the seed's flaws to put back (DESIGN 14)."""

    flaws: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class _TenantEntry:
    name: str
    tables: tuple[tuple[str, int], ...] = ()
    log_retention: LogRetention = LogRetention.BACKUP_FIRST


def _converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    hook = converter.register_structure_hook
    hook(int, _strict(int, expected="int"))
    hook(str, _strict(str, expected="str"))
    hook(bool, _strict(bool, expected="bool"))
    hook(float, _number)
    hook(PromotionStep, _choice(PROMOTION_STEPS))
    hook(LogRetention, _choice(LOG_RETENTIONS))
    exact = converter.register_structure_hook_func
    exact(lambda t: t == int | str, _strict(int, str, expected="int or str"))
    exact(lambda t: t == dict[str, Any], _strict(dict, expected="dict"))
    exact(lambda t: t == list[Any], _strict(list, expected="list"))
    exact(lambda t: t == tuple[str, ...], _names)
    exact(lambda t: t == tuple[tuple[str, str, str], ...], _rows(3))
    exact(lambda t: t == tuple[tuple[str, str], ...], _rows(2))
    exact(lambda t: t == tuple[tuple[str, int], ...], _tables)
    for cls in STEPS:
        # A step's number is its place in the file and expect_rejected comes from `expect`:
        # neither is a key of its table.
        hook(
            cls,
            make_dict_structure_fn(
                cls, converter, number=override(omit=True), expect_rejected=override(omit=True)
            ),
        )
    configure_tagged_union(typing.Union[STEPS], converter, tag_generator=step_tag, tag_name="do")  # noqa: UP007
    return converter


_CONVERTER = _converter()
_STEP = typing.Union[STEPS]  # noqa: UP007


def _explain(error: Exception, cls: type, what: str, shown: Mapping[str, str] | None = None) -> str:
    """The message for a cattrs or validator error structuring ``cls``; ``shown`` renames
    fields to the keys the user typed."""
    shown = shown or {}
    if isinstance(error, StepInvalid):
        if error.key in shown and shown[error.key] != error.key:
            return f"{what}: {shown[error.key]!r} {error.detail}"
        return str(error)
    if isinstance(error, ClassValidationError):
        with_notes, others = error.group_exceptions()
        for exc, note in with_notes:
            key = shown.get(note.name, note.name)
            if isinstance(exc, KeyError):
                hint = getattr(cls, "hints", {}).get(note.name)
                return f"{what} needs key {key!r}" + (f" ({hint})" if hint else "")
            if isinstance(exc, _WrongType):
                return f"{what}: {key!r} must be {exc.expected}, found {exc.value!r}"
            if isinstance(exc, _BadItem):
                return f"{what}: {key} {exc}" if exc.keyed else f"{what}: {exc}"
            return f"{what}: {key!r}: {exc}"
        for exc in others:  # raised by the class itself: extra keys, then its validators
            if isinstance(exc, ForbiddenExtraKeysError | StepInvalid):
                return _explain(exc, cls, what, shown)
        return f"{what}: {error}"
    if isinstance(error, ForbiddenExtraKeysError):
        keys = sorted(shown.get(f.name, f.name) for f in _keys(cls)) + _tag_keys(cls)
        extra = sorted(shown.get(k, k) for k in error.extra_fields)
        return f"{what}: unexpected key {extra[0]!r} (expected one of {keys})"
    raise error


def _tag_keys(cls: type) -> list[str]:
    """The keys a step's table has besides its fields: ``do``, a fault's ``kind``, ``expect``."""
    if not (isinstance(cls, type) and issubclass(cls, Step)):
        return []
    return ["do"] + (["kind"] if issubclass(cls, FaultStep) else []) + (["expect"] if cls.rejectable else [])


def structure(table: dict[str, Any], cls: type, fail: Callable[[str], SpecError], what: str):
    """``table`` structured as ``cls`` by the scenario parser's strict converter; a problem
    is ``fail(message)`` with the message a scenario step would get (``what``: the table)."""
    return _structure(table, cls, fail, what)


def _keys(cls: type) -> list[attrs.Attribute]:
    return [f for f in attrs.fields(cls) if f.name not in ("number", "expect_rejected")]


def _structure(
    table: dict[str, Any],
    cls: type,
    fail: Callable[[str], SpecError],
    what: str,
    *,
    via: Any = None,
    **shown: str,
):
    """``table`` structured as ``cls`` (through ``via``, a union holding it, if given)."""
    try:
        return _CONVERTER.structure(table, cls if via is None else via)
    except (ClassValidationError, ForbiddenExtraKeysError, StepInvalid) as error:
        raise fail(_explain(error, cls, what, shown)) from None


# -- steps -------------------------------------------------------------------------------------


def _step(path: str, number: int, raw: object, timeline: Timeline) -> Step:
    def fail(message: str) -> SpecError:
        return SpecError(path, number, message)

    if not isinstance(raw, dict):
        raise fail(f"a step must be a table, found {raw!r}")
    table = dict(raw)
    kind = table.get("do")
    if kind is None:
        raise fail("step needs key 'do'")
    if not isinstance(kind, str):
        raise fail(f"step: 'do' must be str, found {kind!r}")
    if kind not in KINDS:
        raise fail(f"unknown step kind {kind!r} (expected one of {sorted(KINDS)})")
    if kind == "fault":
        fault = table.pop("kind", None)
        if fault is None:
            raise fail("fault needs key 'kind'")
        if fault not in FAULT_KINDS:
            raise fail(f"unknown fault kind {fault!r} (expected one of {list(FAULT_KINDS)})")
        table["do"] = f"fault:{fault}"
    cls = _BY_TAG[table["do"]]
    expect_rejected = False
    if cls.rejectable:
        expectation = table.pop("expect", None)
        if expectation not in (None, "rejected", "accepted"):
            raise fail(f"{kind}: 'expect' must be 'rejected' or 'accepted', found {expectation!r}")
        expect_rejected = expectation == "rejected"
    step = _structure(table, cls, fail, kind, via=_STEP)
    step = attrs.evolve(step, number=number, expect_rejected=expect_rejected)
    if expect_rejected:
        timeline = copy.deepcopy(timeline)
        timeline.lenient = True
    try:
        return step.follow(timeline)
    except StepInvalid as error:
        raise fail(str(error)) from None


def command_step(command: str, arguments: Mapping[str, object]) -> Step:
    """The scenario step that runs ``command`` (one that starts a task) to its end, for
    ``ybstate call --wait``: the same class, validation and runner as in a scenario file."""
    cls = COMMAND_STEPS[command]
    path = f"<ybstate call {command}>"

    def fail(message: str) -> SpecError:
        return SpecError(path, None, message)

    names = cls.command_arguments
    unknown = sorted(set(arguments) - set(names))
    if unknown:
        raise fail(f"{command}: unexpected argument {unknown[0]!r} (arguments: {sorted(names)})")
    shown = {field: argument for argument, field in names.items()}
    table = {names[argument]: value for argument, value in arguments.items()}
    for field in _keys(cls):
        if field.default is attrs.NOTHING and field.name not in table:
            raise fail(f"{command} needs argument {shown[field.name]!r}")
    return attrs.evolve(_structure(table, cls, fail, command, **shown), number=1)


# -- the file ----------------------------------------------------------------------------------


def _tenants(path: str, entries: list[Any], timeline: Timeline) -> tuple[TenantDecl, ...]:
    def fail(message: str) -> SpecError:
        return SpecError(path, None, message)

    tenants = []
    for index, raw in enumerate(entries, 1):
        if not isinstance(raw, dict):
            raise fail(f"tenants entry {index} must be a table, found {raw!r}")
        named = isinstance(raw.get("name"), str) and raw["name"]
        what = f"tenant {raw['name']!r}" if named else f"tenants entry {index}"
        entry = _structure(raw, _TenantEntry, fail, what)
        if not entry.name:
            raise fail(f"tenants entry {index} needs a non-empty name")
        problem = name_problem("tenant", entry.name) or next(
            (f"table {t!r}: {p}" for t, _ in entry.tables if (p := name_problem("table", t))), None
        )
        if problem is not None:
            raise fail(f"{what}: {problem}")
        if entry.name in timeline.tables or entry.name == "sys":
            raise fail(f"tenant {entry.name!r} is declared twice (or is the system tenant)")
        timeline.tables[entry.name] = dict(entry.tables)
        tenants.append(TenantDecl(name=entry.name, tables=entry.tables, log_retention=entry.log_retention))
    return tuple(tenants)


def _cluster(path: str, table: dict[str, Any], protocol: dict[str, Any]) -> ClusterConfig:
    def fail(message: str) -> SpecError:
        return SpecError(path, None, message)

    if "protocol" in table:
        raise fail("[cluster]: unexpected key 'protocol' (a variant is chosen by [protocol] flaws = [...])")
    table = dict(table)
    costs = table.pop("costs", {})
    if not isinstance(costs, dict):
        raise fail(f"[cluster]: 'costs' must be a table ([cluster.costs]), found {costs!r}")
    config = _structure(table, ClusterConfig, fail, "[cluster]")
    config = attrs.evolve(config, costs=_structure(costs, Costs, fail, "[cluster.costs]"))
    flaws = _structure(protocol, _ProtocolTable, fail, "[protocol]").flaws
    try:
        config = attrs.evolve(config, protocol=Protocol.with_flaws(flaws))
    except ValueError as error:
        raise fail(f"[protocol]: {error}") from None
    for field in attrs.fields(ClusterConfig):
        value = getattr(config, field.name)
        limit = LIMITS.get(field.name)
        if limit is not None and not limit.low <= value <= limit.high:
            raise fail(
                f"[cluster]: {field.name!r} must be {limit.low}..{limit.high} ({limit.what}), found {value}"
            )
    problem = costs_problem(config.costs)
    if problem is not None:
        raise fail(f"[cluster.costs]: {problem}")
    problem = config_problem(config)
    if problem is not None:
        raise fail(f"[cluster]: {problem}")
    return config


def parse_scenario(text: str, path: str = "<scenario>") -> Scenario:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SpecError(path, None, f"not valid TOML: {error}") from error
    return scenario_from(raw, path)


def scenario_from(raw: dict[str, Any], path: str) -> Scenario:
    """The scenario a parsed TOML table describes (a scenario file's top level, or a check
    file's ``[start]``), checked whole."""

    def fail(message: str) -> SpecError:
        return SpecError(path, None, message)

    document = _structure(raw, _Document, fail, "scenario")
    if not 0 <= document.seed < 2**63:  # random.Random(-n) is random.Random(n)
        raise fail(f"scenario: 'seed' must be 0..{2**63 - 1}, found {document.seed}")
    cluster = _cluster(path, document.cluster, document.protocol)
    timeline = Timeline()
    tenants = _tenants(path, document.tenants, timeline)
    steps = tuple(_step(path, number, item, timeline) for number, item in enumerate(document.steps, 1))
    return Scenario(
        path=path,
        name=Path(path).stem if document.name is None else document.name,
        seed=document.seed,
        cluster=cluster,
        tenants=tenants,
        steps=steps,
    )


def read_spec_text(path: str | Path) -> str:
    """The text of a scenario or check file; one that cannot be read, or is not UTF-8, is a
    SpecError naming it."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise SpecError(str(path), None, f"cannot read it: {error.strerror}") from None
    except UnicodeDecodeError as error:
        found = error.object[error.start]
        raise SpecError(str(path), None, f"not UTF-8 text: byte {error.start} is {found:#04x}") from None


def load_scenario(path: str | Path) -> Scenario:
    return parse_scenario(read_spec_text(path), str(path))
