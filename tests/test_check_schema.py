"""The JSON Schemas of check and scenario files (issue 12): generated from the parser's
classes, committed in docs/, valid for every shipped file, and agreeing with the parser on
what it refuses."""

from __future__ import annotations

import enum
import json
import tomllib
from pathlib import Path

import attrs
import jsonschema
import pytest

from ybstate.checks import parse_check
from ybstate.errors import SpecError
from ybstate.scenario.steps import STEPS, FaultStep
from ybstate.schema import check_file_schema, scenario_schema

ROOT = Path(__file__).resolve().parent.parent
CHECK = jsonschema.Draft202012Validator(check_file_schema())
SCENARIO = jsonschema.Draft202012Validator(scenario_schema())
RESTORE = ROOT / "specs" / "checks" / "restore_two_workers.toml"


def test_the_schemas_are_valid_json_schema_and_the_committed_copy_is_current():
    jsonschema.Draft202012Validator.check_schema(check_file_schema())
    jsonschema.Draft202012Validator.check_schema(scenario_schema())
    committed = json.loads((ROOT / "docs" / "check-file.schema.json").read_text())
    assert committed == check_file_schema(), (
        "regenerate: python -m ybstate.schema > docs/check-file.schema.json"
    )


@pytest.mark.parametrize(
    "path",
    sorted((ROOT / "specs" / "checks").glob("*.toml")) + sorted((ROOT / "specs" / "flaws").glob("*.toml")),
    ids=lambda p: f"{p.parent.name}/{p.stem}",
)
def test_every_shipped_check_file_is_valid(path):
    assert list(CHECK.iter_errors(tomllib.loads(path.read_text()))) == []


@pytest.mark.parametrize("path", sorted((ROOT / "specs").glob("*.toml")), ids=lambda p: p.stem)
def test_every_shipped_scenario_is_valid(path):
    assert list(SCENARIO.iter_errors(tomllib.loads(path.read_text()))) == []


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t.replace("[scope.restore]", "[scope.restore]\ncolour = 1"),
        lambda t: t.replace("[scope.restore]", "[scope.moon]\nx = 1\n[scope.restore]"),
        lambda t: t + "colour = 1\n",  # in [check]
        lambda t: t.replace("restore_workers = 2", 'restore_workers = "two"'),
        lambda t: t + 'mode = "random"\n',
        lambda t: t + "max_states = 0\n",
        lambda t: t + "seeds = 0\n",
        lambda t: t.replace('do = "freeze"', 'do = "dance"'),
        lambda t: t.replace('do = "freeze"', 'do = "freeze"\ncolour = 1'),
        lambda t: t.replace('invariants = ["all"]', 'invariants = ["pitr"]'),
        lambda t: t + '[protocol]\nflaws = ["typo"]\n',
        lambda t: t.replace("[start.cluster]", "[start.cluster]\nprotocol = 1"),
    ],
    ids=[
        "scope-key", "scope-section", "check-key", "type", "mode", "bound", "seeds",
        "step-kind", "step-key", "invariant", "flaw", "cluster-protocol",
    ],
)  # fmt: skip
def test_what_the_schema_refuses_the_parser_refuses_too(change):
    text = change(RESTORE.read_text())
    assert list(CHECK.iter_errors(tomllib.loads(text))) != []
    with pytest.raises(SpecError):
        parse_check(text, "bad.toml")


SAMPLES = {bool: True, int: 1, str: "t1", float: 0.5}


def _minimal(cls) -> dict:
    """A step of ``cls`` with only its required keys, each given a value of its type."""
    table: dict = {"do": cls.kind}
    if issubclass(cls, FaultStep):
        table["kind"] = cls.fault
    for field in attrs.fields(attrs.resolve_types(cls)):
        if field.default is attrs.NOTHING and field.name not in ("number", "expect_rejected"):
            if isinstance(field.type, type) and issubclass(field.type, enum.Enum):
                table[field.name] = next(iter(field.type)).value.lower()  # steps are named in lower case
            else:
                table[field.name] = SAMPLES.get(field.type, "t1")
    return table


@pytest.mark.parametrize("cls", STEPS, ids=lambda c: getattr(c, "fault", None) or c.kind)
def test_a_step_with_only_its_required_keys_is_valid_and_one_without_do_is_not(cls):
    step = _minimal(cls)
    assert list(SCENARIO.iter_errors({"steps": [step]})) == []
    assert list(SCENARIO.iter_errors({"steps": [{k: v for k, v in step.items() if k != "do"}]})) != []
