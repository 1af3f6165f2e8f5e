"""The JSON Schemas of check and scenario files (issue 12): generated from the parser's
classes, committed in docs/, valid for every shipped file, and agreeing with the parser:
what the schema refuses the parser refuses, and what the parser accepts the schema accepts
(the parser alone refuses more, listed in docs/check-schema.md and held here too)."""

from __future__ import annotations

import itertools
import json
import tomllib
from pathlib import Path

import attrs
import jsonschema
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from ybstate import checks
from ybstate.checks import parse_check
from ybstate.errors import SpecError
from ybstate.kernel.limits import MAX_TIME
from ybstate.model import Scope
from ybstate.promote.state import PromotionStep
from ybstate.scenario import parse
from ybstate.scenario.parse import PROMOTION_STEPS, scenario_from
from ybstate.scenario.steps import STEPS, CreateTableStep, FaultStep, Step, TenantDecl, WriteStep
from ybstate.schema import check_file_schema, main, scenario_schema, schema_text

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "docs" / "check-file.schema.json"
CHECK = jsonschema.Draft202012Validator(check_file_schema())
SCENARIO = jsonschema.Draft202012Validator(scenario_schema())
RESTORE = ROOT / "specs" / "checks" / "restore_two_workers.toml"
BOOKKEEPING = {field.name for field in attrs.fields(Step)}


def _refused(validator: jsonschema.Draft202012Validator, document: dict) -> list[str]:
    return [error.message for error in validator.iter_errors(document)]


# -- the schemas and the committed copy ----------------------------------------------------------


def test_the_schemas_are_valid_draft_2020_12_schemas():
    jsonschema.Draft202012Validator.check_schema(check_file_schema())
    jsonschema.Draft202012Validator.check_schema(scenario_schema())


def test_the_committed_schema_is_exactly_what_the_code_generates():
    assert COMMITTED.read_text() == schema_text(check_file_schema()), (
        "docs/check-file.schema.json is stale: python -m ybstate.schema > docs/check-file.schema.json"
    )


def test_python_m_ybstate_schema_prints_the_check_file_schema_or_the_scenario_schema(capsys):
    assert main([]) == 0
    assert capsys.readouterr().out == COMMITTED.read_text()
    assert main(["scenario"]) == 0
    assert json.loads(capsys.readouterr().out) == scenario_schema()
    assert main(["--help"]) == 2
    assert "usage" in capsys.readouterr().err


def test_the_schema_has_every_table_and_key_the_parser_structures():
    check = check_file_schema()["properties"]
    scenario = scenario_schema()["properties"]
    assert set(check) == {field.name for field in attrs.fields(checks._Document)}
    assert set(scenario) == {field.name for field in attrs.fields(parse._Document)}
    assert set(check["start"]["properties"]) == set(scenario) - {"protocol"}  # [protocol] is top-level
    assert set(check["scope"]["properties"]) == {field.name for field in attrs.fields(Scope)}
    entry = scenario["tenants"]["items"]["properties"]
    assert set(entry) == {field.name for field in attrs.fields(parse._TenantEntry)}
    assert set(entry) == {field.name for field in attrs.fields(TenantDecl)}
    assert set(check["check"]["properties"]) == {field.name for field in attrs.fields(checks.CheckSettings)}


# -- shipped files -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    sorted((ROOT / "specs" / "checks").glob("*.toml")) + sorted((ROOT / "specs" / "flaws").glob("*.toml")),
    ids=lambda p: f"{p.parent.name}/{p.stem}",
)
def test_every_shipped_check_file_is_valid(path):
    assert _refused(CHECK, tomllib.loads(path.read_text())) == []


@pytest.mark.parametrize("path", sorted((ROOT / "specs").glob("*.toml")), ids=lambda p: p.stem)
def test_every_shipped_scenario_is_valid(path):
    assert _refused(SCENARIO, tomllib.loads(path.read_text())) == []


# -- agreement with the parser -------------------------------------------------------------------


def _variant(old: str, new: str) -> str:
    """The shipped restore check with ``old`` replaced by ``new`` once ("" appends ``new``)."""
    text = RESTORE.read_text()
    if not old:
        return text + new
    assert old in text, old
    return text.replace(old, new, 1)


STEP = 'do = "freeze"'  # the third step of the start, replaced by the step under test
TENANT = '[[start.tenants]]\nname = "t1"'
FAULT = 'do = "fault"\ntenant = "t1"\n'
GOALS = 'invariants = ["all"]\ngoals = ["restore_completed", "restore_replayed_entries"]'

# (id, old, new, what the parser says)
BAD = [
    ("scope-key", "[scope.restore]", "[scope.restore]\ncolour = 1", "unexpected key 'colour'"),
    ("scope-section", "[scope.restore]", "[scope.moon]\nx = 1\n[scope.restore]", "unexpected key 'moon'"),
    ("scope-type", "restore_workers = 2", 'restore_workers = "two"', "must be int"),
    ("scope-tables", "freeze = false", "freeze = false\ntables = { a = 4097 }", "at most 4096 tablets"),
    ("scope-nested-key", "[scope.restore]", "[scope.cluster.config]\ncolour = 1\n[scope.restore]", "config"),
    ("check-key", "[check]", "[check]\ncolour = 1", "unexpected key 'colour'"),
    ("mode", "[check]", '[check]\nmode = "random"', "'mode' must be one of"),
    ("max-states", "[check]", "[check]\nmax_states = 0", "'max_states' must be 1..1e+09"),
    ("max-seconds", "[check]", "[check]\nmax_seconds = 0", "'max_seconds' must be 0.001..1e+07"),
    ("seeds", "[check]", "[check]\nseeds = 0", "'seeds' must be 1..1e+06"),
    ("invariants-not-a-list", 'invariants = ["all"]', 'invariants = "all"', "a list of names"),
    ("invariant", 'invariants = ["all"]', 'invariants = ["pitr"]', "unknown invariant 'pitr'"),
    ("goal", '"restore_completed",', '"restore_done",', "unknown goal 'restore_done'"),
    ("nothing-to-check", GOALS, "invariants = []\ngoals = []", "nothing to check"),
    ("step-kind", STEP, 'do = "dance"', "unknown step kind 'dance'"),
    ("step-key", STEP, STEP + "\ncolour = 1", "unexpected key 'colour'"),
    ("step-without-do", STEP, "colour = 1", "needs key 'do'"),
    ("step-required-key", 'do = "backup"\ntenant = "t1"', 'do = "backup"', "needs key 'tenant'"),
    ("step-expect", 'do = "backup"', 'do = "backup"\nexpect = "maybe"', "'expect' must be"),
    ("step-bound-low", STEP, 'do = "tick"\nmicros = 0', "'micros' must be at least 1"),
    ("step-bound-high", STEP, 'do = "tick"\nmicros = 1000000000001', "must be at most 1000000000000"),
    ("step-bool-for-int", STEP, 'do = "tick"\nmicros = true', "'micros' must be int"),
    ("step-choice", 'put = [["a", "k1", "x"]]', 'put = [["a", "k1", "x"]]\nend = "maybe"', "'end' must be"),
    ("row-width", 'put = [["a", "k1", "x"]]', 'put = [["a", "k1"]]', "must be [table, key, value]"),
    ("row-type", 'put = [["a", "k1", "x"]]', 'put = [["a", "k1", 1]]', "must be [table, key, value]"),
    ("row-key", 'put = [["a", "k1", "x"]]', 'put = [["a", "", "x"]]', "empty row key"),
    ("mark-name", 'name = "m1"', 'name = ""', "non-empty 'name'"),
    ("ratio", STEP, 'do = "workload"\ntenant = "t1"\ntransactions = 1\nabort_ratio = 1.5', "between 0 and 1"),
    ("until", STEP, 'do = "restore"\nsource = "t1"\ntarget = "r1"\nuntil = -1', f"timestamp 0..{MAX_TIME}"),
    ("standby-name", STEP, 'do = "restore"\nsource = "t1"\ntarget = "r@1"', "may not contain '@'"),
    ("fault-kind", STEP, FAULT + 'kind = "meteor"', "unknown fault kind 'meteor'"),
    ("fault-without-kind", STEP, FAULT, "needs key 'kind'"),
    ("fault-expect", STEP, FAULT + 'kind = "archiver_crash"\nexpect = "rejected"', "'expect'"),
    ("fault-tablet", STEP, FAULT + 'kind = "tablet_copy_fail"\ntablet = 0', "needs 'table'"),
    ("fault-enum", STEP, FAULT + 'kind = "promotion_step_fail"\nstep = "FENCE"', "'step'"),
    ("tenant-name", TENANT, '[[start.tenants]]\nname = "t@1"', "may not contain '@'"),
    ("tenant-sys", TENANT, '[[start.tenants]]\nname = "sys"\n' + TENANT, "the system tenant"),
    ("tablets-zero", "tables = { a = 1 }", "tables = { a = 0 }", "positive number of tablets"),
    ("tablets-high", "tables = { a = 1 }", "tables = { a = 4097 }", "at most 4096 tablets"),
    ("table-name", "tables = { a = 1 }", 'tables = { a = 1, "b\\u0001" = 1 }', "no control characters"),
    ("cluster-key", "[start.cluster]", "[start.cluster]\ncolour = 1", "unexpected key 'colour'"),
    ("cluster-protocol", "[start.cluster]", "[start.cluster]\nprotocol = 1", "unexpected key 'protocol'"),
    ("cluster-limit", "data_servers = 1", "data_servers = 1025", "'data_servers' must be 1..1024"),
    ("backup-root", "[start.cluster]", '[start.cluster]\nbackup_root = "/backup/"', "backup_root"),
    ("seed", "seed = 1", "seed = -1", "'seed' must be 0.."),
    ("start-key", "seed = 1", "seed = 1\ncolour = 1", "unexpected key 'colour'"),
    ("start-protocol", "seed = 1", "seed = 1\nprotocol = {}", "unexpected key 'protocol'"),
    ("top-key", "[start]", "colour = 1\n[start]", "unexpected key 'colour'"),
    ("name-type", "[start]", "name = 5\n[start]", "'name' must be str"),
    ("flaw", "", '[protocol]\nflaws = ["typo"]\n', "unknown flaw 'typo'"),
    (
        "flaws-conflict",
        "",
        '[protocol]\nflaws = ["archiver_restart_from_run_start", "archiver_restart_from_read_position"]\n',
        "both set archiver_restart",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "says"), [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_what_the_schema_refuses_the_parser_refuses_too(old, new, says):
    text = _variant(old, new)
    assert _refused(CHECK, tomllib.loads(text)) != []
    with pytest.raises(SpecError) as refused:
        parse_check(text, "bad.toml")
    assert says in str(refused.value)


GOOD = [
    ("as-shipped", "", ""),
    ("scope-default-workers", "restore_workers = 2", "restore_workers = 0"),  # 0: the cluster's
    ("scope-nested", "freeze = false", 'freeze = false\nconfig = { protocol = { full_queue = "drop" } }'),
    ("flaw-twice", "", '[protocol]\nflaws = ["unpinned_log_recycling", "unpinned_log_recycling"]\n'),
    ("int-for-float", "[check]", "[check]\nmax_seconds = 10"),
    ("bounds-at-their-ends", "[check]", "[check]\nmax_states = 1\nmax_depth = 0\nsteps = 0"),
    ("import-path", 'invariants = ["all"]', 'invariants = ["all", "os.path:isfile"]'),
    ("goals-only", 'invariants = ["all"]', "invariants = []"),
    ("names", 'name = "m1"', f'name = "{"m" * 128}"'),
    ("names-start-and-top", "seed = 1", 'seed = 1\nname = "start"'),
    ("posix-root", "[start.cluster]", '[start.cluster]\nbackup_root = "//backup/b..c"'),
    ("expect-accepted", 'do = "backup"', 'do = "backup"\nexpect = "accepted"'),
    ("until-latest", STEP, 'do = "restore"\nsource = "t1"\ntarget = "r1"\nuntil = "latest"'),
    ("ratio-int", STEP, 'do = "workload"\ntenant = "t1"\ntransactions = 1\nabort_ratio = 1'),
    ("promotion-step", STEP, FAULT + 'kind = "promotion_step_fail"\nstep = "fence"'),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new"), [case[1:] for case in GOOD], ids=[case[0] for case in GOOD])
def test_what_the_parser_accepts_the_schema_accepts_too(old, new):
    text = _variant(old, new)
    parse_check(text, "good.toml")
    assert _refused(CHECK, tomllib.loads(text)) == []


# What a schema of the file's shape cannot see (docs/check-schema.md): the parser alone refuses these.
BEYOND = [
    ("integral-float", "[check]", "[check]\nmax_states = 10.0", "'max_states' must be int"),
    ("unknown-tenant", 'tenant = "t1"\nput', 'tenant = "t9"\nput', "unknown tenant 't9'"),
    ("missing-table", 'put = [["a", "k1", "x"]]', 'put = [["b", "k1", "x"]]', "has no table 'b'"),
    ("write-of-nothing", 'put = [["a", "k1", "x"]]', 'tx = "t"', "at least one 'put' or 'delete'"),
    ("mark-twice", STEP, 'do = "mark"\nname = "m1"', "already defined"),
    ("no-such-tablet", STEP, FAULT + 'kind = "tablet_copy_fail"\ntable = "a"\ntablet = 1', "no tablet 1"),
    ("tenant-twice", TENANT, TENANT + '\n' + TENANT, "declared twice"),
    ("unresolved-import", 'invariants = ["all"]', 'invariants = ["all", "no.such:f"]', "does not resolve"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("old", "new", "says"), [case[1:] for case in BEYOND], ids=[case[0] for case in BEYOND]
)
def test_what_only_the_parser_refuses(old, new, says):
    text = _variant(old, new)
    assert _refused(CHECK, tomllib.loads(text)) == []
    with pytest.raises(SpecError) as refused:
        parse_check(text, "bad.toml")
    assert says in str(refused.value)


@pytest.mark.parametrize(
    "draft", [jsonschema.Draft4Validator, jsonschema.Draft6Validator, jsonschema.Draft7Validator]
)
def test_a_validator_of_an_older_draft_refuses_no_good_file(draft):
    """Taplo validates with an older draft: keywords it does not know must only make the
    schema looser (docs/check-schema.md, "In an editor")."""
    older = draft(check_file_schema())
    shipped = [*(ROOT / "specs" / "checks").glob("*.toml"), *(ROOT / "specs" / "flaws").glob("*.toml")]
    for text in [path.read_text() for path in shipped] + [_variant(old, new) for _id, old, new in GOOD]:
        assert _refused(older, tomllib.loads(text)) == []


def test_the_backup_root_pattern_is_the_parsers_rule_on_every_short_path():
    for length in range(7):
        for letters in itertools.product("/.a", repeat=length):
            root = "".join(letters)
            document = {"cluster": {"backup_root": root}}
            try:
                scenario_from(document, "root.toml")
                accepted = True
            except SpecError:
                accepted = False
            assert (_refused(SCENARIO, document) == []) == accepted, root


# -- steps ---------------------------------------------------------------------------------------

SAMPLES = {"tenant": "t1", "source": "t1", "standby": "t1", "primary": "t1", "table": "a", "target": "r1"}
# A step's required keys can still need one more by a rule of meaning: a write puts or deletes.
ALSO = {WriteStep: {"put": [["a", "k2", "z"]]}, CreateTableStep: {"table": "b"}}


def _minimal(cls: type[Step]) -> dict:
    """A step of ``cls`` with only its required keys, each given the least value the schema allows."""
    schema = SCENARIO.schema["$defs"]
    title = f"fault: {cls.fault}" if issubclass(cls, FaultStep) else cls.kind
    (name,) = [key for key, value in schema.items() if value.get("title") == title]
    properties = schema[name]["properties"]
    table: dict = {}
    for key in schema[name]["required"]:
        prop = properties[key]
        if "const" in prop:
            table[key] = prop["const"]
        elif "enum" in prop:
            table[key] = prop["enum"][0]
        elif prop.get("type") == "integer":
            table[key] = max(prop.get("minimum", 1), 1)
        elif prop.get("type") == "string":
            table[key] = SAMPLES.get(key, "m2")
        else:
            table[key] = 1  # an expect step's `equals`: any value
    return table


def _scenario(*steps: dict) -> dict:
    return {"tenants": [{"name": "t1", "tables": {"a": 2}}], "steps": [{"do": "mark", "name": "m1"}, *steps]}


@pytest.mark.parametrize("cls", STEPS, ids=lambda c: getattr(c, "fault", None) or c.kind)
def test_a_step_with_only_its_required_keys_is_valid_and_one_without_do_or_with_another_key_is_not(cls):
    step = _minimal(cls)
    assert _refused(SCENARIO, _scenario(step)) == []
    scenario_from(_scenario({**step, **ALSO.get(cls, {})}), "minimal.toml")
    assert _refused(SCENARIO, _scenario({k: v for k, v in step.items() if k != "do"})) != []
    assert _refused(SCENARIO, _scenario({**step, "colour": 1})) != []


# Values near every bound and name rule, of every type, and of the wrong type now and then.
INTS = st.one_of(
    st.sampled_from([-1, 0, 1, 2, 255, 256, 257, 4096, 4097, 10**6, 10**6 + 1, 10**7, 10**7 + 1]),
    st.sampled_from([10**12, 10**12 + 1, 2**31, 2**31 + 1, MAX_TIME, MAX_TIME + 1]),
    st.integers(-3, 300),
)
NAMES = st.sampled_from(
    ["t1", "a", "b", "m1", "r1", "latest", "", "x@y", "t1@", "m" * 128, "m" * 129, "a\x01"]
)
FLOATS = st.one_of(st.floats(-0.5, 1.5), INTS)
ROWS = st.lists(st.lists(NAMES, min_size=1, max_size=4), max_size=3)
ANY = st.one_of(INTS, NAMES, st.booleans(), st.floats(), ROWS, st.lists(NAMES, max_size=3))


def _values(tp: object, key: str) -> st.SearchStrategy:
    """Values for a step's ``key`` of type ``tp``: of its type nine times in ten, half the
    names and rows being ones the timeline of :func:`_scenario` has."""
    known = st.just(SAMPLES[key]) if key in SAMPLES else NAMES
    typed = {
        int: INTS,
        str: st.one_of(known, NAMES),
        bool: st.booleans(),
        float: FLOATS,
        int | str: st.one_of(INTS, NAMES),
        tuple[str, ...]: st.lists(NAMES, max_size=3),
        tuple[tuple[str, str, str], ...]: st.one_of(st.just([["a", "k1", "x"]]), ROWS),
        tuple[tuple[str, str], ...]: st.one_of(st.just([["a", "k1"]]), ROWS),
        PromotionStep: st.sampled_from([*PROMOTION_STEPS, "FENCE"]),
    }
    for option in (tp, *getattr(tp, "__args__", ())):  # X | None: X
        if option in typed:  # one value in ten of another type
            return st.integers(0, 9).flatmap(lambda n, option=option: ANY if n == 0 else typed[option])
    return ANY


def _tables(cls: type[Step]) -> st.SearchStrategy:
    tag = {"do": cls.kind, **({"kind": cls.fault} if issubclass(cls, FaultStep) else {})}
    fields = [f for f in attrs.fields(attrs.resolve_types(cls)) if f.name not in BOOKKEEPING]
    required = {f.name: _values(f.type, f.name) for f in fields if f.default is attrs.NOTHING}
    optional = {f.name: _values(f.type, f.name) for f in fields if f.default is not attrs.NOTHING}
    if cls.rejectable:
        optional["expect"] = st.sampled_from(["rejected", "accepted"])
    return st.fixed_dictionaries({**{k: st.just(v) for k, v in tag.items()}, **required}, optional=optional)


@st.composite
def _spoiled(draw, step: dict) -> dict:
    """``step``, or one time in ten with a key left out or one added (a key no step has, or
    ``expect`` on a step that takes none or with a value it does not take)."""
    how = draw(st.integers(0, 9))
    if how == 0:
        left_out = draw(st.sampled_from(sorted(step)))
        return {key: value for key, value in step.items() if key != left_out}
    if how == 1:
        return {**step, draw(st.sampled_from(["colour", "expect", "number"])): draw(ANY)}
    return step


@pytest.mark.parametrize("cls", STEPS, ids=lambda c: getattr(c, "fault", None) or c.kind)
@given(data=st.data())
def test_the_schema_never_refuses_a_step_the_parser_accepts(cls, data):
    step = data.draw(_tables(cls).flatmap(_spoiled))
    document = _scenario(step)
    schema_accepts = _refused(SCENARIO, document) == []
    try:
        scenario_from(document, "drawn.toml")
    except SpecError:
        event("parser refuses" + ("" if schema_accepts else ", schema too"))
        return
    event("both accept")
    assert schema_accepts, _refused(SCENARIO, document)
