"""JSON Schemas (draft 2020-12) of scenario files and check files, generated from the
classes their parser structures (docs/check-schema.md).

The schemas are built from the attrs classes themselves: the step registry
(:data:`~ybstate.scenario.steps.STEPS`, one branch per ``do``, a fault's branch also fixing
its ``kind``), :class:`~ybstate.cluster.state.ClusterConfig`, the sections of
:class:`~ybstate.model.Scope`, :class:`~ybstate.checks.CheckSettings` with its bounds,
the flaws, invariants, parts and goals by name. So the schema cannot drift from the
parser: a new step kind, key or scope section appears in it, and a test holds the
committed copy (``docs/check-file.schema.json``) to what this module makes.

What a schema cannot say, the parser still checks: names that must exist at that point of
the timeline, import paths that must resolve, a start the model must accept.

    python -m ybstate.schema > docs/check-file.schema.json
"""

from __future__ import annotations

import enum
import json
import sys
import types
import typing
from typing import Any

import attrs

from ybstate.checks import BOUNDS, MODES, PARTS, CheckSettings
from ybstate.cluster.protocol import FLAWS
from ybstate.cluster.state import ClusterConfig
from ybstate.kernel.limits import LIMITS
from ybstate.model import MODEL, Scope
from ybstate.model.goals import GOALS
from ybstate.promote.state import PromotionStep
from ybstate.scenario.steps import STEPS, FaultStep, TenantDecl

__all__ = ["check_file_schema", "scenario_schema"]

DRAFT = "https://json-schema.org/draft/2020-12/schema"
IMPORT_PATH = r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"

# Fields whose TOML shape is not their Python type's (the parser's converter hooks).
_ROWS = {
    "put": {
        "type": "array",
        "items": {"type": "array", "items": {"type": "string"}, "minItems": 3, "maxItems": 3},
    },
    "delete": {
        "type": "array",
        "items": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2},
    },
}
_TABLES = {"type": "object", "additionalProperties": {"type": "integer", "minimum": 1}}


def _type(tp: Any, name: str) -> dict[str, Any]:
    """The schema of one field's value, by its type."""
    if name in _ROWS and typing.get_origin(tp) is tuple:
        return _ROWS[name]
    if tp == tuple[tuple[str, int], ...]:
        return _TABLES
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(tp) if arg is not type(None)]  # TOML has no null
        schemas = [_type(arg, name) for arg in options]
        return schemas[0] if len(schemas) == 1 else {"anyOf": schemas}
    if origin is tuple:
        (item, *_rest) = typing.get_args(tp)
        return {"type": "array", "items": _type(item, name)}
    if tp is PromotionStep:  # named in lower case in files
        return {"enum": [step.value.lower() for step in PromotionStep]}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"enum": [member.value for member in tp]}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        schema: dict[str, Any] = {"type": "integer"}
        limit = LIMITS.get(name)
        if limit is not None:
            schema.update(minimum=limit.low, maximum=limit.high)
        return schema
    if tp is float:
        return {"type": "number"}
    if tp is str:
        return {"type": "string"}
    return {}  # typing.Any: an expect step's equals


def _object(cls: type, *, skip: tuple[str, ...] = (), extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A table structured as the attrs class ``cls``: its fields, those without a default
    required, nothing else allowed."""
    cls = attrs.resolve_types(cls)
    properties: dict[str, Any] = {}
    required = []
    for field in attrs.fields(cls):
        if field.name in skip:
            continue
        properties[field.name] = _type(field.type, field.name)
        if field.default is attrs.NOTHING:
            required.append(field.name)
    properties.update(extra or {})
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


def _step(cls: type) -> dict[str, Any]:
    extra: dict[str, Any] = {"do": {"const": cls.kind}}
    if issubclass(cls, FaultStep):
        extra["kind"] = {"const": cls.fault}
    if cls.rejectable:
        extra["expect"] = {"enum": ["rejected", "accepted"]}
    schema = _object(cls, skip=("number", "expect_rejected"), extra=extra)
    schema["required"] = [
        "do",
        *(["kind"] if issubclass(cls, FaultStep) else []),
        *schema.get("required", []),
    ]
    schema["title"] = cls.kind if not issubclass(cls, FaultStep) else f"fault: {cls.fault}"
    return schema


def _scenario_body() -> dict[str, Any]:
    return {
        "name": {"type": "string"},
        "seed": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
        "cluster": _object(ClusterConfig, skip=("protocol",)),
        "protocol": {
            "type": "object",
            "properties": {"flaws": {"type": "array", "items": {"enum": list(FLAWS)}, "uniqueItems": True}},
            "additionalProperties": False,
        },
        "tenants": {"type": "array", "items": _object(TenantDecl)},
        "steps": {"type": "array", "items": {"$ref": "#/$defs/step"}},
    }


def _steps() -> dict[str, Any]:
    return {"oneOf": [_step(cls) for cls in STEPS]}


def scenario_schema() -> dict[str, Any]:
    """The schema of a scenario file (DESIGN 9, docs/scenarios.md)."""
    return {
        "$schema": DRAFT,
        "title": "ybstate scenario file",
        "type": "object",
        "properties": _scenario_body(),
        "additionalProperties": False,
        "$defs": {"step": _steps()},
    }


def _names(known: list[str]) -> dict[str, Any]:
    return {"anyOf": [{"enum": known}, {"type": "string", "pattern": IMPORT_PATH}]}


def _settings() -> dict[str, Any]:
    schema = _object(CheckSettings)
    properties = schema["properties"]
    properties["mode"] = {"enum": list(MODES)}
    invariants = ["all", *PARTS, *(inv.name for inv in MODEL.invariants)]
    properties["invariants"] = {"type": "array", "items": _names(invariants)}
    properties["goals"] = {"type": "array", "items": _names(sorted(GOALS))}
    for key, (least, most) in BOUNDS.items():
        properties[key] = {**properties[key], "minimum": least, "maximum": most}
    return schema


def check_file_schema() -> dict[str, Any]:
    """The schema of a check file (DESIGN 13, docs/checks.md)."""
    start = _scenario_body()
    protocol = start.pop("protocol")  # a check file's variant is its top-level [protocol]
    sections = {field.name: field.type for field in attrs.fields(attrs.resolve_types(Scope))}
    return {
        "$schema": DRAFT,
        "title": "ybstate check file",
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "start": {"type": "object", "properties": start, "additionalProperties": False},
            "scope": {
                "type": "object",
                "properties": {name: _object(section) for name, section in sections.items()},
                "additionalProperties": False,
            },
            "check": _settings(),
            "protocol": protocol,
        },
        "additionalProperties": False,
        "$defs": {"step": _steps()},
    }


def main() -> None:
    which = check_file_schema if sys.argv[1:] != ["scenario"] else scenario_schema
    sys.stdout.write(json.dumps(which(), indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
