"""Scenario files (DESIGN 9): parsing with precise errors, and all-or-nothing runs."""

from __future__ import annotations

import inspect
import re
import textwrap
import tomllib
from pathlib import Path

import attrs
import pytest
from histories import QUICKSTART, duck_query, event_rows, run_quickstart

from ybstate.api import COMMANDS
from ybstate.cluster import ghost
from ybstate.errors import ScenarioFailed, SpecError
from ybstate.history import verify_store
from ybstate.model import fingerprint_hex, replay
from ybstate.scenario import STEPS, load_scenario, parse_scenario, run_scenario
from ybstate.scenario.parse import COMMAND_STEPS, command_step
from ybstate.scenario.run import RUNNERS
from ybstate.scenario.steps import FaultStep, step_tag
from ybstate.store import DuckDBStore

# Two tenants; the steps of each test follow this head.
HEAD = """\
name = "t"
seed = 3

[[tenants]]
name = "shop"
tables = { orders = 2, users = 1 }

[[tenants]]
name = "blog"
tables = { posts = 1 }
"""


def _spec(tmp_path, steps: str, head: str = HEAD):
    path = tmp_path / "scenario.toml"
    path.write_text(head + textwrap.dedent(steps))
    return path


def _spec_error(tmp_path, steps: str, head: str = HEAD) -> SpecError:
    path = _spec(tmp_path, steps, head)
    with pytest.raises(SpecError) as caught:
        load_scenario(path)
    error = caught.value
    assert error.path == str(path)
    assert str(path) in str(error)
    return error


def _at_step(error: SpecError, number: int) -> None:
    assert error.step == number
    assert f"step {number}" in str(error)


@pytest.fixture
def duck():
    store = DuckDBStore(":memory:")
    yield store
    store.close()


# The bundled quickstart -------------------------------------------------------------------


def test_quickstart_runs_every_step_and_all_invariants_hold_afterwards(duck):
    declared = tomllib.loads(QUICKSTART.read_text())["steps"]
    result = run_quickstart(duck)
    assert [o.number for o in result.outcomes] == list(range(1, len(declared) + 1))
    assert [o.kind for o in result.outcomes] == [step["do"] for step in declared]
    for outcome, step in zip(result.outcomes, declared, strict=True):
        if step.get("expect") == "rejected":
            assert outcome.events == 0
            assert outcome.note.startswith("rejected as expected")
        elif step["do"] == "expect":
            assert outcome.note.startswith("holds")
        else:
            assert outcome.events > 0, outcome
    assert result.first_seq == 1
    assert duck.last_seq() == result.state.seq
    assert duck.fingerprint() == (result.state.seq, fingerprint_hex(result.state))
    failed = [r for r in verify_store(duck) if not r.ok]
    assert failed == []


def test_quickstart_state_replays_from_the_store(duck):
    result = run_quickstart(duck)
    assert fingerprint_hex(replay(duck.load())) == fingerprint_hex(result.state)


def test_same_scenario_run_twice_stores_byte_identical_rows(tmp_path):
    paths = [tmp_path / "one.duckdb", tmp_path / "two.duckdb"]
    for path in paths:
        with DuckDBStore(path) as store:
            run_quickstart(store)
    first, second = (event_rows(p) for p in paths)
    assert len(first) > 100
    assert first == second
    with DuckDBStore(paths[0]) as one, DuckDBStore(paths[1]) as two:
        assert one.fingerprint() == two.fingerprint()


def test_workload_seed_decides_the_history(tmp_path):
    steps = """
        [[steps]]
        do = "workload"
        tenant = "shop"
        transactions = 10
        concurrency = 2
    """
    histories = []
    for seed in (3, 4):
        path = _spec(tmp_path, steps, HEAD.replace("seed = 3", f"seed = {seed}"))
        with DuckDBStore(":memory:") as store:
            run_scenario(load_scenario(path), store)
            histories.append(store.rows())
    assert histories[0] != histories[1]


# Spec errors: file, step and what was expected ------------------------------------------


def test_unknown_step_kind_is_named_with_the_known_ones(tmp_path):
    error = _spec_error(
        tmp_path,
        """
        [[steps]]
        do = "freeze"

        [[steps]]
        do = "explode"
    """,
    )
    _at_step(error, 2)
    assert "'explode'" in str(error)
    assert "'write'" in str(error)


def test_unknown_tenant_is_refused(tmp_path):
    error = _spec_error(
        tmp_path,
        """
        [[steps]]
        do = "write"
        tenant = "nobody"
        put = [["orders", "k1", "v"]]
    """,
    )
    _at_step(error, 1)
    assert "unknown tenant 'nobody'" in str(error)
    assert "'shop'" in str(error)


def test_unknown_table_is_refused(tmp_path):
    error = _spec_error(
        tmp_path,
        """
        [[steps]]
        do = "write"
        tenant = "shop"
        put = [["orders", "k1", "v"], ["invoices", "i1", "v"]]
    """,
    )
    _at_step(error, 1)
    assert "'invoices'" in str(error)
    assert "'orders'" in str(error)  # what the tenant has


def test_table_of_another_tenant_is_refused(tmp_path):
    error = _spec_error(
        tmp_path,
        """
        [[steps]]
        do = "write"
        tenant = "shop"
        put = [["posts", "p1", "v"]]
    """,
    )
    _at_step(error, 1)
    assert "tenant 'shop' has no table 'posts'" in str(error)


def test_table_written_after_its_drop_step_is_refused(tmp_path):
    error = _spec_error(
        tmp_path,
        """
        [[steps]]
        do = "write"
        tenant = "shop"
        put = [["users", "u1", "ann"]]

        [[steps]]
        do = "drop_table"
        tenant = "shop"
        table = "users"

        [[steps]]
        do = "write"
        tenant = "shop"
        delete = [["users", "u1"]]
    """,
    )
    _at_step(error, 3)
    assert "tenant 'shop' has no table 'users'" in str(error)


def test_table_created_by_an_earlier_step_may_be_written(tmp_path):
    path = _spec(
        tmp_path,
        """
        [[steps]]
        do = "create_table"
        tenant = "blog"
        table = "comments"
        tablets = 2

        [[steps]]
        do = "write"
        tenant = "blog"
        put = [["comments", "c1", "nice"]]
    """,
    )
    with DuckDBStore(":memory:") as store:
        result = run_scenario(load_scenario(path), store)
        blog = result.state.tenant_named("blog")
        assert ghost.content(result.state, blog.tenant_id) == {("comments", "c1"): "nice"}


@pytest.mark.parametrize(
    ("step", "key", "found"),
    [
        ('do = "create_table"\ntenant = "shop"\ntable = "t2"\ntablets = "four"', "tablets", "'four'"),
        ('do = "tick"\nmicros = true', "micros", "True"),
        ('do = "tick"\nmicros = 1.5', "micros", "1.5"),
        ('do = "write"\ntenant = 7\nput = [["orders", "k", "v"]]', "tenant", "7"),
        ('do = "workload"\ntenant = "shop"\ntransactions = "many"', "transactions", "'many'"),
    ],
    ids=["tablets-string", "micros-bool", "micros-float", "tenant-int", "transactions-string"],
)
def test_value_of_the_wrong_type_is_refused_naming_key_and_value(tmp_path, step, key, found):
    error = _spec_error(tmp_path, f'[[steps]]\ndo = "freeze"\n\n[[steps]]\n{step}\n')
    _at_step(error, 2)
    assert f"'{key}' must be" in str(error)
    assert f"found {found}" in str(error)


def test_put_item_of_the_wrong_shape_is_refused(tmp_path):
    error = _spec_error(
        tmp_path,
        """
        [[steps]]
        do = "write"
        tenant = "shop"
        put = [["orders", "k1"]]
    """,
    )
    _at_step(error, 1)
    assert "[table, key, value]" in str(error)


def test_unexpected_key_is_refused_naming_it(tmp_path):
    error = _spec_error(
        tmp_path,
        """
        [[steps]]
        do = "write"
        tenant = "shop"
        put = [["orders", "k1", "v"]]
        colour = "blue"
    """,
    )
    _at_step(error, 1)
    assert "unexpected key 'colour'" in str(error)
    assert "'put'" in str(error)  # the keys it does take


def test_unexpected_key_in_cluster_table_is_refused(tmp_path):
    error = _spec_error(tmp_path, "", head=HEAD + "\n[cluster]\nwarp_drive = 9\n")
    assert error.step is None
    assert "unexpected key 'warp_drive'" in str(error)


def test_transaction_name_reused_after_it_ended_is_refused(tmp_path):
    error = _spec_error(
        tmp_path,
        """
        [[steps]]
        do = "write"
        tenant = "shop"
        tx = "long"
        put = [["orders", "k1", "v"]]
        end = "open"

        [[steps]]
        do = "write"
        tenant = "shop"
        tx = "long"
        put = [["orders", "k2", "v"]]
        end = "commit"

        [[steps]]
        do = "write"
        tenant = "shop"
        tx = "long"
        put = [["orders", "k3", "v"]]
    """,
    )
    _at_step(error, 3)
    assert "'long'" in str(error)
    assert "reused after it ended at step 2" in str(error)


def test_invalid_toml_is_refused_naming_the_file(tmp_path):
    error = _spec_error(tmp_path, '[[steps]]\ndo = "write\n')
    assert error.step is None
    assert "not valid TOML" in str(error)


def test_missing_spec_file_is_a_spec_error(tmp_path):
    path = tmp_path / "absent.toml"
    with pytest.raises(SpecError, match="cannot read it") as caught:
        load_scenario(path)
    assert caught.value.path == str(path)


def test_put_value_that_is_not_a_string_is_refused(tmp_path):
    path = _spec(
        tmp_path,
        """
        [[steps]]
        do = "write"
        tenant = "shop"
        put = [["orders", "k1", "v"]]

        [[steps]]
        do = "write"
        tenant = "shop"
        put = [["orders", "k1", 5]]
    """,
    )
    with pytest.raises(SpecError) as caught:
        parse_scenario(path.read_text(), str(path))
    _at_step(caught.value, 2)
    assert "['orders', 'k1', 5]" in str(caught.value)


# Failing runs store nothing ---------------------------------------------------------------

FAILING_RUNS = {
    "expect-does-not-hold": (
        """
        [[steps]]
        do = "expect"
        sql = "SELECT count(*) FROM commit_log WHERE kind = 'MUTATOR'"
        equals = 9999
        """,
        "expect",
        "expected 9999, found",
    ),
    "rejected-without-expect": (
        # an open transaction writes to the table, so the drop is refused by the model
        """
        [[steps]]
        do = "write"
        tenant = "shop"
        tx = "long"
        put = [["users", "u2", "bob"]]
        end = "open"

        [[steps]]
        do = "drop_table"
        tenant = "shop"
        table = "users"
        """,
        "drop_table",
        "rejected",
    ),
    "accepted-with-expect-rejected": (
        """
        [[steps]]
        do = "write"
        tenant = "shop"
        put = [["orders", "k9", "fine"]]
        expect = "rejected"
        """,
        "write",
        "accepted, but the scenario expects it to be rejected",
    ),
}

# Each failing run above comes after this step, so the run has stored events when it fails.
FIRST_STEP = """
[[steps]]
do = "write"
tenant = "shop"
put = [["orders", "k1", "apple"]]
"""


def _failing(tmp_path, case: str, *, rename: bool = False):
    """The failing scenario ``case``; with ``rename``, for tenants other than the quickstart's."""
    steps, kind, reason = FAILING_RUNS[case]
    text = HEAD + FIRST_STEP + textwrap.dedent(steps)
    if rename:
        text = text.replace('"shop"', '"shop2"').replace('"blog"', '"blog2"')
    path = _spec(tmp_path, "", head=text)
    last_step = len(tomllib.loads(text)["steps"])
    return load_scenario(path), kind, reason, last_step


@pytest.mark.parametrize("case", sorted(FAILING_RUNS))
def test_failing_run_names_the_step_and_leaves_an_empty_store_empty(tmp_path, duck, case):
    scenario, kind, reason, step = _failing(tmp_path, case)
    with pytest.raises(ScenarioFailed) as caught:
        run_scenario(scenario, duck, query=duck_query(duck))
    error = caught.value
    assert (error.step, error.kind) == (step, kind)
    assert reason in error.reason
    assert f"step {step} ({kind})" in str(error)
    assert error.path == scenario.path
    assert error.seed == scenario.seed
    assert duck.rows() == []
    assert duck.fingerprint() is None


@pytest.mark.parametrize("case", sorted(FAILING_RUNS))
def test_failing_run_leaves_an_existing_history_file_unchanged(tmp_path, case):
    path = tmp_path / "h.duckdb"
    with DuckDBStore(path) as store:
        run_quickstart(store)
        fingerprint = store.fingerprint()
    rows = event_rows(path)
    scenario, kind, _, step = _failing(tmp_path, case, rename=True)
    with DuckDBStore(path) as store:
        with pytest.raises(ScenarioFailed) as caught:
            run_scenario(scenario, store, query=duck_query(store))
        assert (caught.value.step, caught.value.kind) == (step, kind)
        assert store.fingerprint() == fingerprint
    assert event_rows(path) == rows


def test_step_rejected_as_expected_leaves_no_trace(duck, tmp_path):
    path = _spec(
        tmp_path,
        """
        [[steps]]
        do = "write"
        tenant = "shop"
        tx = "long"
        put = [["users", "u2", "bob"]]
        end = "open"

        [[steps]]
        do = "drop_table"
        tenant = "shop"
        table = "users"
        expect = "rejected"

        [[steps]]
        do = "write"
        tenant = "shop"
        tx = "long"
        end = "commit"
    """,
    )
    result = run_scenario(load_scenario(path), duck)
    assert result.outcomes[1].events == 0
    assert "cannot be dropped" in result.outcomes[1].note
    shop = result.state.tenant_named("shop")
    assert [t.name for t in result.state.tables_of(shop.tenant_id)] == ["orders", "users"]
    assert ghost.content(result.state, shop.tenant_id) == {("users", "u2"): "bob"}
    assert fingerprint_hex(replay(duck.load())) == fingerprint_hex(result.state)


# Appending a scenario to an existing history ---------------------------------------------

SECOND = """\
name = "second"
seed = 5

[[tenants]]
name = "crm"
tables = { contacts = 2 }

[[steps]]
do = "write"
tenant = "crm"
put = [["contacts", "c1", "ann"], ["contacts", "c2", "bob"]]

[[steps]]
do = "freeze"

[[steps]]
do = "expect"
sql = "SELECT count(*) FROM commit_log WHERE kind = 'FREEZE'"
equals = 3
"""


def test_scenario_appended_to_a_history_continues_from_its_state(tmp_path):
    path = tmp_path / "h.duckdb"
    with DuckDBStore(path) as store:
        first = run_quickstart(store)
        stored = store.load()
    shop_id = first.state.tenant_named("shop").tenant_id
    with DuckDBStore(path) as store:
        second = run_scenario(parse_scenario(SECOND, "second.toml"), store, query=duck_query(store))
        assert second.first_seq == first.state.seq + 1
        assert store.load()[: len(stored)] == stored
        state = second.state
        assert state.last_log_id > first.state.last_log_id
        assert state.frozen_version == first.state.frozen_version + 1
        crm = state.tenant_named("crm")
        assert crm.tenant_id not in first.state.tenants
        assert ghost.content(state, crm.tenant_id) == {("contacts", "c1"): "ann", ("contacts", "c2"): "bob"}
        assert ghost.content(state, shop_id) == ghost.content(first.state, shop_id)
        assert fingerprint_hex(replay(store.load())) == fingerprint_hex(state)
        assert store.fingerprint() == (state.seq, fingerprint_hex(state))
        assert [r for r in verify_store(store) if not r.ok] == []


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (
            lambda text: text.replace("seed = 5\n", "seed = 5\n\n[cluster]\ndata_servers = 5\n"),
            "[cluster] differs",
        ),
        (lambda text: text.replace('name = "crm"', 'name = "shop"').replace('"crm"', '"shop"'), "'shop'"),
    ],
    ids=["cluster-differs", "tenant-redeclared"],
)
def test_appended_scenario_that_contradicts_the_history_is_refused(tmp_path, change, named):
    path = tmp_path / "h.duckdb"
    with DuckDBStore(path) as store:
        run_quickstart(store)
    rows = event_rows(path)
    scenario = parse_scenario(change(SECOND), "second.toml")
    with DuckDBStore(path) as store, pytest.raises(SpecError) as caught:
        run_scenario(scenario, store, query=duck_query(store))
    assert caught.value.path == "second.toml"
    assert named in str(caught.value)
    assert event_rows(path) == rows


# The step-kind registry: one list for the parser, the runner, `call --wait` and the docs --


def _fields(cls: type) -> list[str]:
    return [f.name for f in attrs.fields(cls) if f.name not in ("number", "expect_rejected")]


def test_every_step_kind_has_one_tag_and_one_runner():
    tags = [step_tag(cls) for cls in STEPS]
    assert len(set(tags)) == len(tags)
    assert set(RUNNERS) == set(STEPS)


@pytest.mark.parametrize("cls", STEPS, ids=step_tag)
def test_every_step_kind_parses_from_its_documented_keys_and_refuses_a_key_of_its_own(cls):
    """The parser knows each class of the registry: a table holding ``do`` (and a fault's
    ``kind``) and the class's required keys parses to that class; a stray key is refused."""
    values = {int: 1, str: "x", bool: True}
    table = {"do": cls.kind} | ({"kind": cls.fault} if issubclass(cls, FaultStep) else {})
    if cls.kind == "write":
        table["put"] = [["x", "k", "v"]]  # a write writes something
    for field in attrs.fields(cls):
        if field.default is attrs.NOTHING:
            table[field.name] = {"step": "verify", "equals": 1}.get(field.name, values.get(field.type, "x"))
    body = "\n".join(
        f"{key} = {value!r}".replace("True", "true").replace("'", '"') for key, value in table.items()
    )
    text = 'name = "t"\n[[tenants]]\nname = "x"\ntables = { x = 1 }\n[[steps]]\n' + body + "\n"
    if cls.rejectable:
        text += 'expect = "rejected"\n'  # lenient names: "x" is then any tenant, table or mark
    (step,) = parse_scenario(text, "k.toml").steps
    assert type(step) is cls and step.number == 1
    with pytest.raises(SpecError, match=r"k.toml, step 1: .*unexpected key 'number'"):
        parse_scenario(text + "number = 3\n", "k.toml")


def test_docs_list_every_step_kind_of_the_registry_with_all_its_keys():
    text = (Path(__file__).parent.parent / "docs" / "scenarios.md").read_text()
    documented: dict[str, str] = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split(" | ")]
        if not line.startswith("| `") or cells[0] == "`do`":
            continue
        for kind in re.findall(r"`(\w+)`", cells[0]):
            fault = re.match(r"`kind` = `(\w+)`", cells[1]) if kind == "fault" else None
            documented[f"fault:{fault.group(1)}" if fault else kind] = cells[1]
    assert set(documented) == {step_tag(cls) for cls in STEPS}
    for cls in STEPS:
        keys = documented[step_tag(cls)]
        missing = [f for f in _fields(cls) if f"`{f}`" not in keys and f"`{f} =" not in keys]
        assert missing == [], f"docs/scenarios.md does not document {missing} of {step_tag(cls)}"


def test_every_command_step_names_a_command_whose_arguments_are_keys_of_the_step():
    assert set(COMMAND_STEPS) <= set(COMMANDS)
    for command, cls in COMMAND_STEPS.items():
        parameters = set(inspect.signature(COMMANDS[command].function).parameters) - {"state"}
        assert set(cls.command_arguments) == parameters, command
        assert set(cls.command_arguments.values()) <= set(_fields(cls)), command


@pytest.mark.parametrize(
    ("command", "arguments", "words"),
    [
        ("tenant_restore_start", {"source": "shop"}, "tenant_restore_start needs argument 'target'"),
        (
            "tenant_restore_start",
            {"source": "shop", "target": "x", "backup_set_id": -1},
            "'backup_set_id' must be 0 (the default) or more, found -1",
        ),
        (
            "tenant_restore_start",
            {"source": "shop", "target": "x", "capacity": 3},
            "unexpected argument 'capacity'",
        ),
        ("tenant_promote_standby", {"standby": "a", "old_primary": 3}, "'old_primary' must be str, found 3"),
        ("tenant_backup_start", {"tenant": "shop", "parallel": True}, "'parallel' must be int, found True"),
    ],
)
def test_a_command_run_as_a_step_is_checked_like_the_step_naming_the_commands_arguments(
    command, arguments, words
):
    with pytest.raises(SpecError) as caught:
        command_step(command, arguments)
    assert str(caught.value).startswith(f"<ybstate call {command}>: ") and words in str(caught.value)


def test_a_command_run_as_a_step_is_the_steps_class_with_its_defaults():
    step = command_step("tenant_restore_start", {"source": "shop", "target": "x", "backup_set_id": 2})
    assert (type(step).kind, step.source, step.target, step.backup_set, step.until, step.wait) == (
        "restore",
        "shop",
        "x",
        2,
        "latest",
        True,
    )
