"""JSON Schemas (draft 2020-12) of scenario files and check files, generated from the
classes their parser structures (docs/check-schema.md).

Nothing here restates a key, a type or a bound by hand where the code has it: the step
registry (:data:`~ybstate.scenario.steps.STEPS`, one branch per ``do``, a fault's branch
also picked by its ``kind``) with each step's attrs fields, defaults and validators
(``_at_least``, ``_at_most`` with :data:`~ybstate.kernel.limits.LIMITS`, ``_one_of``,
names...), :class:`~ybstate.cluster.state.ClusterConfig` with the ranges the parser holds
``[cluster]`` to, the sections of :class:`~ybstate.model.Scope`,
:class:`~ybstate.checks.CheckSettings` with ``BOUNDS`` and ``MODES``, and the flaws,
invariants, parts and goals by name. A type, validator or top-level key this module does
not know is a ``TypeError`` when the schema is generated, never a silently looser schema,
and a test holds the committed copy (``docs/check-file.schema.json``) to what it makes.

The schema refuses only what the parser refuses; the parser refuses more: names that must
exist at that point of the timeline, import paths that must resolve, a start the model
must accept (docs/check-schema.md lists them).

    python -m ybstate.schema > docs/check-file.schema.json
    python -m ybstate.schema scenario              # a scenario file's schema
"""

from __future__ import annotations

import enum
import inspect
import itertools
import json
import sys
import types
import typing
from collections.abc import Mapping
from typing import Any

import attrs

from ybstate.checks import BOUNDS, MODES, PARTS, CheckSettings
from ybstate.cluster.costs import COST_LIMITS
from ybstate.cluster.protocol import FLAWS
from ybstate.cluster.state import ClusterConfig, LogRetention
from ybstate.kernel.limits import LIMITS, MAX_TIME, NAME_LENGTH, RENAMED
from ybstate.model import MODEL, Scope
from ybstate.model.goals import GOALS
from ybstate.promote.state import PromotionStep
from ybstate.scenario.parse import LOG_RETENTIONS, PROMOTION_STEPS
from ybstate.scenario.steps import STEPS, FaultStep, Step, TenantDecl

__all__ = ["check_file_schema", "scenario_schema", "schema_text"]

JSON = dict[str, Any]

DRAFT = "https://json-schema.org/draft/2020-12/schema"
IMPORT_PATH = r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"
SEED_MAX = 2**63 - 1  # scenario_from: random.Random(-n) is random.Random(n), so no negative seed
# config_problem: an absolute path that posixpath.normpath leaves as it is, other than "/"
# (no empty, "." or ".." segment, no trailing slash; POSIX keeps exactly two leading slashes).
BACKUP_ROOT = r"^(//|/?(/([^/.][^/]*|\.[^/.][^/]*|\.\.[^/]+))+)$"  # no lookahead: any regex engine

# An enum a file names other than by its value: the parser's own table of choices.
_CHOICES: dict[type[enum.Enum], Mapping[str, enum.Enum]] = {
    PromotionStep: PROMOTION_STEPS,
    LogRetention: LOG_RETENTIONS,
}
# A step's place in the file and its expect_rejected flag are fields of every step, but no
# key of its table (the parser omits them and reads `expect` instead).
_BOOKKEEPING = tuple(field.name for field in attrs.fields(Step))
_FACTORY: type = type(attrs.Factory(tuple))  # a default made by a function (attrs types Factory as one)


# -- values --------------------------------------------------------------------------------------


def _name(kind: str) -> JSON:
    """A name of a ``kind`` as :func:`~ybstate.kernel.limits.name_problem` accepts it. The
    pattern refuses control characters, a subset of what ``str.isprintable`` refuses."""
    refused = r"\u0000-\u001f\u007f-\u009f" + (RENAMED if kind == "tenant" else "")
    return {"type": "string", "minLength": 1, "maxLength": NAME_LENGTH, "pattern": f"^[^{refused}]*$"}


def _row(width: int, *, key_required: bool = False) -> JSON:
    """``[table, key, value]`` (or ``[table, key]``) of strings, as the parser's ``_rows``.
    ``items`` types every cell and the lengths bound the row, so a validator of an older
    draft, which ignores ``prefixItems``, misses only the check of a non-empty key."""
    cells: list[JSON] = [{"type": "string"} for _ in range(width)]
    if key_required:
        cells[1]["minLength"] = 1
    row: JSON = {"type": "array", "items": {"type": "string"}, "minItems": width, "maxItems": width}
    if key_required:
        row["prefixItems"] = cells
    return row


def _tables() -> JSON:
    """``{ table = tablets }``, as the parser's ``_tables``: 1..LIMITS["tablets"] tablets."""
    tablets = LIMITS["tablets"]
    return {
        "type": "object",
        "additionalProperties": {"type": "integer", "minimum": tablets.low, "maximum": tablets.high},
    }


# The converter's hooks (ybstate.scenario.parse._converter), by the exact type they take.
_EXACT: dict[object, JSON] = {
    int: {"type": "integer"},  # strict: TOML's true is no int
    str: {"type": "string"},
    bool: {"type": "boolean"},
    float: {"type": "number"},  # an int is taken too
    int | str: {"type": ["integer", "string"]},
    tuple[str, ...]: {"type": "array", "items": {"type": "string"}},
    tuple[tuple[str, str, str], ...]: {"type": "array", "items": _row(3)},
    tuple[tuple[str, str], ...]: {"type": "array", "items": _row(2)},
    tuple[tuple[str, int], ...]: _tables(),
    typing.Any: {},  # an expect step's `equals`: any value
}


def _type(tp: Any, where: str) -> JSON:
    """The schema of a value of type ``tp`` as the parser's converter structures it."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in typing.get_args(tp):
        # TOML has no null: None is the key left out, so only the other type is written.
        (inner,) = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        return _type(inner, where)
    if tp in _EXACT:
        return dict(_EXACT[tp])
    if tp in _CHOICES:
        return {"enum": list(_CHOICES[tp])}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):  # cattrs' default: the member's value
        return {"enum": [member.value for member in tp]}
    if attrs.has(tp):  # a nested table, structured with the same converter
        return _object(tp)
    raise TypeError(f"{where}: no schema for type {tp!r}; teach ybstate/schema.py how the parser reads it")


def _file_value(value: Any, tp: Any) -> Any:
    """``value`` (of type ``tp``) as a file writes it: for a field's ``default``."""
    if isinstance(value, enum.Enum):
        choices = _CHOICES.get(type(value))
        return value.value if choices is None else next(k for k, v in choices.items() if v is value)
    if attrs.has(type(value)):
        fields = attrs.fields(attrs.resolve_types(type(value)))
        shown = {f.name: _file_value(getattr(value, f.name), f.type) for f in fields}
        return {key: item for key, item in shown.items() if item is not None}
    if tp == tuple[tuple[str, int], ...]:
        return dict(value)
    if isinstance(value, tuple):
        return [_file_value(item, None) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"no file form for the default {value!r}; teach ybstate/schema.py")


# -- the steps' validators -----------------------------------------------------------------------


def _validators(field: attrs.Attribute) -> tuple[Any, ...]:
    if field.validator is None:
        return ()
    # attrs keeps a list of validators as an and_ validator holding them in `_validators`.
    return tuple(getattr(field.validator, "_validators", (field.validator,)))


def _checked(cls: type, field: attrs.Attribute) -> tuple[JSON, JSON]:
    """What the validators of ``cls.field`` add: keywords of the field's schema, and of the
    whole table's (a key that needs another). Each validator of
    :mod:`ybstate.scenario.steps` is known here by its name; one that is not fails loudly."""
    own: JSON = {}
    table: JSON = {}
    for check in _validators(field):
        where = f"{cls.__name__}.{field.name}"
        if check.__module__ != Step.__module__:
            raise TypeError(f"{where}: no schema for validator {check!r}; teach ybstate/schema.py")
        factory = check.__qualname__.partition(".<locals>.")[0]
        bound = inspect.getclosurevars(check).nonlocals
        if factory == "_at_least":
            own["minimum"] = bound["low"]
        elif factory == "_at_most":
            own["maximum"] = bound["high"]
        elif factory == "_one_of":
            own["enum"] = list(bound["choices"])
        elif factory == "_name":
            own.update(_name(bound["kind"]))
        elif factory == "_non_empty":
            own["minLength"] = 1
        elif factory == "_ratio":
            own.update(minimum=0, maximum=1)
        elif factory == "_until":  # a timestamp; a string is a mark or "latest"
            own.update(minimum=0, maximum=MAX_TIME)
        elif factory == "_tablet":  # an index from 0 of a tablet of `table`
            own["minimum"] = 0
            table["dependentRequired"] = {field.name: ["table"]}
        elif factory == "_check_rows":  # no row with an empty key
            (row,) = typing.get_args(field.type)[:1]
            own["items"] = _row(len(typing.get_args(row)), key_required=True)
        else:
            raise TypeError(f"{where}: no schema for validator {check.__qualname__}; teach ybstate/schema.py")
    return own, table


# -- tables --------------------------------------------------------------------------------------


def _description(cls: type) -> str | None:
    """The first paragraph of the class's own docstring, on one line."""
    doc = cls.__dict__.get("__doc__")
    return None if not doc else " ".join(inspect.cleandoc(doc).split("\n\n")[0].split())


def _object(cls: type, *, skip: tuple[str, ...] = ()) -> JSON:
    """A table structured as the attrs class ``cls``: its fields with their types, defaults
    and validators, those without a default required, no other key allowed."""
    cls = attrs.resolve_types(cls)
    properties: JSON = {}
    required = []
    table: JSON = {}
    for field in attrs.fields(cls):
        if field.name in skip:
            continue
        schema = _type(field.type, f"{cls.__name__}.{field.name}")
        own, whole = _checked(cls, field)
        schema.update(own)
        for keyword, entries in whole.items():  # e.g. dependentRequired, from several fields
            table.setdefault(keyword, {}).update(entries)
        if field.default is attrs.NOTHING:
            required.append(field.name)
        else:
            default = field.default
            if isinstance(default, _FACTORY):
                default = typing.cast(Any, default).factory()
            if default is not None:
                schema["default"] = _file_value(default, field.type)
        properties[field.name] = schema
    schema = {"type": "object", "properties": properties, "additionalProperties": False, **table}
    if required:
        schema["required"] = required
    description = _description(cls)
    if description:
        schema["description"] = description
    return schema


def _step_name(cls: type[Step]) -> str:
    return f"step.fault.{cls.fault}" if issubclass(cls, FaultStep) else f"step.{cls.kind}"


def _step(cls: type[Step]) -> JSON:
    """One step kind's table: its fields, ``do``, a fault's ``kind``, ``expect`` if it may be
    expected to be refused."""
    schema = _object(cls, skip=_BOOKKEEPING)
    tags: JSON = {"do": {"const": cls.kind}}
    if issubclass(cls, FaultStep):
        tags["kind"] = {"const": cls.fault}
    if cls.rejectable:
        tags["expect"] = {"enum": ["rejected", "accepted"]}
    schema["properties"] = {**tags, **schema["properties"]}
    schema["required"] = [*(key for key in tags if key != "expect"), *schema.get("required", [])]
    schema["title"] = f"fault: {cls.fault}" if issubclass(cls, FaultStep) else cls.kind
    return schema


def _step_defs() -> JSON:
    """``step``, a tagged union on ``do`` (and a fault's ``kind``), and one definition per
    kind. ``if``/``then`` rather than ``oneOf``: a wrong step is reported against its own
    kind ("'colour' was unexpected"), not as "valid under none of the step schemas"."""
    faults = [cls.fault for cls in STEPS if issubclass(cls, FaultStep)]
    branches: list[JSON] = [
        {
            "if": {"properties": {"do": {"const": FaultStep.kind}}, "required": ["do"]},
            "then": {"properties": {"kind": {"enum": faults}}, "required": ["kind"]},
        }
    ]
    for cls in STEPS:
        tag: JSON = {"do": {"const": cls.kind}}
        if issubclass(cls, FaultStep):
            tag["kind"] = {"const": cls.fault}
        branches.append(
            {"if": {"properties": tag, "required": list(tag)}, "then": {"$ref": f"#/$defs/{_step_name(cls)}"}}
        )
    union = {
        "type": "object",
        "properties": {"do": {"enum": list(dict.fromkeys(cls.kind for cls in STEPS))}},
        "required": ["do"],
        "allOf": branches,
    }
    return {"step": union, **{_step_name(cls): _step(cls) for cls in STEPS}}


def _cluster() -> JSON:
    """``[cluster]``: ClusterConfig's keys but ``protocol`` (chosen by ``[protocol]``), each
    size within its LIMITS range, as ``ybstate.scenario.parse._cluster`` holds them."""
    schema = _object(ClusterConfig, skip=("protocol",))
    for key, field in schema["properties"].items():
        if key in LIMITS:
            field.update(minimum=LIMITS[key].low, maximum=LIMITS[key].high)
    schema["properties"]["backup_root"]["pattern"] = BACKUP_ROOT
    costs = schema["properties"]["costs"]
    for key, (low, high) in COST_LIMITS.items():
        costs["properties"][key].update(minimum=low, maximum=high)
    return schema


def _protocol() -> JSON:
    """``[protocol]``: flaws by name; two that set one policy two ways cannot go together."""
    by_policy: dict[str, list[str]] = {}
    for name, (policy, _value) in FLAWS.items():
        by_policy.setdefault(policy, []).append(name)
    # "one of them is absent", in keywords of every draft (not `contains`, which draft 4
    # ignores, turning `not` into a refusal of everything).
    apart = [
        {"anyOf": [{"items": {"not": {"enum": [one]}}}, {"items": {"not": {"enum": [other]}}}]}
        for names in by_policy.values()
        for one, other in itertools.combinations(names, 2)
    ]
    flaws: JSON = {"type": "array", "items": {"enum": list(FLAWS)}, "default": []}
    if apart:
        flaws["allOf"] = apart
    return {"type": "object", "properties": {"flaws": flaws}, "additionalProperties": False}


def _tenant() -> JSON:
    """A ``[[tenants]]`` entry, with the names ``ybstate.scenario.parse._tenants`` accepts."""
    schema = _object(TenantDecl)
    properties = schema["properties"]
    properties["name"] = {**_name("tenant"), "not": {"enum": ["sys"]}}  # the system tenant's
    properties["tables"]["propertyNames"] = _name("table")
    return schema


def _scenario_properties() -> JSON:
    return {
        "name": {"type": "string", "description": "default: the file's name without .toml"},
        "seed": {"type": "integer", "minimum": 0, "maximum": SEED_MAX, "default": 0},
        "cluster": _cluster(),
        "protocol": _protocol(),
        "tenants": {"type": "array", "items": _tenant()},
        "steps": {"type": "array", "items": {"$ref": "#/$defs/step"}},
    }


def scenario_schema() -> JSON:
    """The schema of a scenario file (DESIGN 9, docs/scenarios.md)."""
    return {
        "$schema": DRAFT,
        "title": "ybstate scenario file",
        "type": "object",
        "properties": _scenario_properties(),
        "additionalProperties": False,
        "$defs": _step_defs(),
    }


def _names(known: list[str]) -> JSON:
    return {"anyOf": [{"enum": known}, {"type": "string", "pattern": IMPORT_PATH}]}


def _check() -> JSON:
    """``[check]``: CheckSettings, its modes, names or import paths, and BOUNDS."""
    schema = _object(CheckSettings)
    properties = schema["properties"]
    properties["mode"]["enum"] = list(MODES)
    invariants = ["all", *PARTS, *(inv.name for inv in MODEL.invariants)]
    properties["invariants"]["items"] = _names(invariants)
    properties["goals"]["items"] = _names(list(GOALS))
    for key, (least, most) in BOUNDS.items():
        properties[key].update(minimum=least, maximum=most)
    # parse_check: "nothing to check" (goals default to none, invariants to ["all"]).
    schema["not"] = {
        "required": ["invariants"],
        "properties": {"invariants": {"maxItems": 0}, "goals": {"maxItems": 0}},
    }
    return schema


def check_file_schema() -> JSON:
    """The schema of a check file (DESIGN 13, docs/checks.md)."""
    start = _scenario_properties()
    protocol = start.pop("protocol")  # a check file's variant is its top-level [protocol]
    sections = attrs.fields(attrs.resolve_types(Scope))
    return {
        "$schema": DRAFT,
        "title": "ybstate check file",
        "type": "object",
        "properties": {
            "name": start["name"],
            "start": {
                "type": "object",
                "properties": start,
                "additionalProperties": False,
                "description": "a scenario (DESIGN 9), run once to build the starting state",
            },
            "scope": {
                "type": "object",
                "properties": {
                    section.name: _type(section.type, f"Scope.{section.name}") for section in sections
                },
                "additionalProperties": False,
                "description": "what may happen next, one table per part; a part left out does nothing new",
            },
            "check": _check(),
            "protocol": protocol,
        },
        "additionalProperties": False,
        "$defs": _step_defs(),
    }


def schema_text(schema: JSON) -> str:
    """``schema`` as the committed file holds it: indented, keys sorted, a final newline."""
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args not in ([], ["scenario"]):
        sys.stderr.write("usage: python -m ybstate.schema [scenario]\n")
        return 2
    sys.stdout.write(schema_text(scenario_schema() if args else check_file_schema()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
