"""The command line under generated input (issue 11): whatever a user types, `ybstate`
exits 0, 1 or 2 with no traceback, leaves an existing history byte for byte as it was
when it fails, and leaves no new file behind.

Commands run in-process through click's CliRunner, on ``cli`` itself (not ``main``, whose
catch-all would hide a bug as a clean exit 2): an exception escaping a command fails the
test. The default profile runs a few dozen examples per test; HYPOTHESIS_PROFILE=ci more.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import string
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ybstate.api import COMMANDS
from ybstate.cli import cli
from ybstate.scenario import STEPS
from ybstate.scenario.steps import FAULTS

# Keys a step may have: every field of every step kind, and then some.
KEYS = sorted(
    {field for cls in STEPS for field in cls.__attrs_attrs__.__dict__ if not field.startswith("_")}
    | {"kind", "expect", "colour", "number", ""}
)
KINDS = sorted({cls.kind for cls in STEPS} | {"explode", ""})
NAMES = ["shop", "blog", "orders", "users", "posts", "dr", "m1", "a@b", "sys", "shop@1001", ""]

SAFE_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)),  # surrogates cannot be UTF-8
    max_size=12,
)
VALUES = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 2**63 - 1, 2**63, 10**30]),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(NAMES),
    SAFE_TEXT,
    st.lists(st.sampled_from(NAMES), max_size=3),
    st.lists(st.lists(st.sampled_from(NAMES), max_size=4), max_size=2),
)


CLUSTER_KEYS = ["data_servers", "restore_workers", "start_time", "backup_root", "x"]
ARGUMENTS = ["tenant", "source", "target", "task_id", "workers", "until", "old_primary", "standby", "x", ""]
ARGUMENT_VALUES = st.one_of(
    st.sampled_from(NAMES), st.integers(-5, 5).map(str), st.sampled_from(["10" * 20, "true", "-0"]), SAFE_TEXT
)


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        out = []
        for char in value:
            if char in '"\\' or ord(char) < 0x20 or ord(char) == 0x7F:
                out.append(f"\\u{ord(char):04x}")
            else:
                out.append(char)
        return '"' + "".join(out) + '"'
    return "[" + ", ".join(toml_value(v) for v in value) + "]"


@st.composite
def steps(draw) -> dict:
    step = {"do": draw(st.sampled_from(KINDS))}
    if step["do"] == "fault":
        step["kind"] = draw(st.sampled_from([cls.fault for cls in FAULTS] + ["disk_full"]))
    for key in draw(st.lists(st.sampled_from(KEYS), max_size=5, unique=True)):
        step.setdefault(key, draw(VALUES))
    return step


# A scenario that runs to its end: mutated, it reaches the runner's refusals, not only the parser's.
BASE_STEPS = [
    {"do": "write", "tenant": "shop", "put": [["orders", "k1", "v1"]]},
    {"do": "freeze"},
    {"do": "backup", "tenant": "shop"},
    {"do": "archive_start", "tenant": "shop"},
    {"do": "mark", "name": "m1"},
    {"do": "workload", "tenant": "shop", "transactions": 3, "keys": 4},
    {"do": "restore", "source": "shop", "target": "dr", "until": "m1", "wait": False},
    {"do": "tick", "micros": 5},
    {"do": "promote", "standby": "dr", "primary": "shop"},
    {"do": "expect", "sql": "SELECT count(*) > 0 FROM events", "equals": True},
]


@st.composite
def mutated(draw) -> list[dict]:
    chosen = [dict(step) for step in BASE_STEPS[: draw(st.integers(1, len(BASE_STEPS)))]]
    for _ in range(draw(st.integers(0, 2))):
        step = draw(st.sampled_from(chosen))
        key = draw(st.one_of(st.sampled_from(sorted(step)), st.sampled_from(KEYS)))  # mostly its own
        step[key] = draw(VALUES)
    if draw(st.booleans()):
        chosen.insert(draw(st.integers(0, len(chosen))), draw(steps()))
    return chosen


@st.composite
def scenarios(draw) -> bytes:
    """A scenario file: a valid one mutated in a key or two (half the time), or keys and values
    drawn from everything ybstate knows and more, or (rarely) bytes that are not text."""
    if draw(st.integers(0, 19)) == 0:
        return draw(st.binary(max_size=200))
    if draw(st.booleans()):
        lines = [f"seed = {draw(st.integers(0, 5))}"]
        lines += ["[[tenants]]", 'name = "shop"', "tables = { orders = 2 }"]
        lines += ["[[tenants]]", 'name = "blog"', "tables = { posts = 1 }"]
        chosen = draw(mutated())
    else:
        lines = [f"seed = {toml_value(draw(st.sampled_from([0, 1, -1, 10**30, 'x'])))}"]
        if draw(st.booleans()):
            lines.append("[cluster]")
            for key in draw(st.lists(st.sampled_from(CLUSTER_KEYS), max_size=2, unique=True)):
                lines.append(f"{key} = {toml_value(draw(VALUES))}")
        for _ in range(draw(st.integers(0, 2))):
            tables = draw(
                st.dictionaries(st.sampled_from(["orders", "users", "", "x y"]), VALUES, max_size=2)
            )
            body = ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in tables.items())
            lines += [
                "[[tenants]]",
                f"name = {toml_value(draw(st.sampled_from(NAMES)))}",
                f"tables = {{ {body} }}",
            ]
        chosen = draw(st.lists(steps(), max_size=6))
    for step in chosen:
        lines.append("[[steps]]")
        lines += [f"{json.dumps(key)} = {toml_value(value)}" for key, value in step.items()]
    return ("\n".join(lines) + "\n").encode("utf-8")


# Examples per test: the profile's (40 by default, 150 with HYPOTHESIS_PROFILE=ci).
SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _invoke(*args: object):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback a user would have seen
    assert result.exit_code in (0, 1, 2), (result.exit_code, result.output)
    assert "Traceback" not in result.output
    return result


@SETTINGS
@given(text=scenarios(), onto_history=st.booleans())
def test_run_takes_any_scenario_file_without_a_traceback(
    tmp_path_factory, quickstart_file, text, onto_history
):
    where = tmp_path_factory.mktemp("fuzz-run")
    spec = where / "s.toml"
    spec.write_bytes(text)
    db = where / "h.duckdb"
    if onto_history:
        shutil.copy(quickstart_file, db)
        before = _digest(db)
    result = _invoke("run", spec, "--db", db)
    if result.exit_code != 0:
        if onto_history:
            assert _digest(db) == before
        else:
            assert not db.exists()
    assert sorted(p.name for p in where.iterdir()) in (["h.duckdb", "s.toml"], ["s.toml"])


@SETTINGS
@example(command="tenant_backup_start", arguments=[("tenant", "²")], caller="sys:root:admin", wait=False)
@given(
    command=st.sampled_from([*sorted(COMMANDS), "tenant_format_disk"]),
    arguments=st.lists(st.tuples(st.sampled_from(ARGUMENTS), ARGUMENT_VALUES), max_size=4),
    caller=st.sampled_from(["sys:root:admin", "shop:ann:admin", "shop:bob:user", "nobody:x:admin", "bad"]),
    wait=st.booleans(),
)
def test_call_takes_any_arguments_without_a_traceback(
    tmp_path_factory, quickstart_file, command, arguments, caller, wait
):
    db = tmp_path_factory.mktemp("fuzz-call") / "h.duckdb"
    shutil.copy(quickstart_file, db)
    before = _digest(db)
    args = [f"{key}={value}" for key, value in arguments]
    result = _invoke("call", "--db", db, "--as", caller, *(["--wait"] if wait else []), command, *args)
    if result.exit_code == 2:
        assert _digest(db) == before
    assert _invoke("replay", "--db", db).exit_code == 0  # whatever was stored still replays


@SETTINGS
@given(
    query=st.one_of(
        SAFE_TEXT,
        st.sampled_from(
            [
                "SELECT * FROM events",
                "COPY events TO 'x.csv'",
                "DELETE FROM events",
                "SELECT * FROM read_csv('/etc/passwd')",
                "WITH d AS (DELETE FROM events RETURNING *) SELECT * FROM d",
                "ATTACH 'other.duckdb'",
                "SELECT 1; SELECT 2",
                "PRAGMA version",
                "",
            ]
        ),
        st.text(alphabet=string.printable, max_size=40).map(lambda t: "SELECT " + t),
    )
)
def test_sql_takes_any_query_without_a_traceback_or_a_change(tmp_path_factory, quickstart_file, query):
    where = tmp_path_factory.mktemp("fuzz-sql")
    db = where / "h.duckdb"
    shutil.copy(quickstart_file, db)
    before = _digest(db)
    result = _invoke("sql", "--db", db, query)
    assert result.exit_code in (0, 2)
    assert _digest(db) == before
    assert sorted(p.name for p in where.iterdir()) == ["h.duckdb"]
