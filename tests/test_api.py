"""The command API: the nine commands with their packet codes, and access control (the
system tenant's admin may do anything, a tenant's admin may back up, archive and query its
own tenant only, anyone else is refused, and each refusal is an event of the history)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from histories import act, backup_world, commit_rows, run_quickstart

from ybstate.access import CommandDenied
from ybstate.api import ADMIN, COMMANDS, USER, Caller, call
from ybstate.cli import cli
from ybstate.cluster.actions import Freeze
from ybstate.codec import make_codec
from ybstate.commands import ResultCode
from ybstate.history import open_history, verify_store
from ybstate.model import apply, validate_trace
from ybstate.store import DuckDBStore

R = ResultCode
SYS = Caller(tenant="sys", user="root", role=ADMIN)
SHOP_ADMIN = Caller(tenant="shop", user="ann", role=ADMIN)
SHOP_USER = Caller(tenant="shop", user="bob", role=USER)


@pytest.fixture(scope="module")
def world():
    state = backup_world({"shop": {"orders": 2}, "blog": {"posts": 1}})
    state = commit_rows(state, "shop", {("orders", "k1"): "a"})
    state = commit_rows(state, "blog", {("posts", "p1"): "b"})
    return act(state, Freeze())[0]


def test_the_nine_commands_have_the_seeds_packet_codes_13000_to_13017_in_pairs():
    assert list(COMMANDS) == [
        "tenant_backup_start",
        "tenant_backup_status",
        "tenant_incremental_backup_start",
        "tenant_incremental_backup_stop",
        "tenant_restore_start",
        "tenant_restore_status",
        "tenant_promote_standby",
        "tenant_decommission",
        "tenant_backup_tablet",
    ]
    codes = sorted(c for command in COMMANDS.values() for c in (command.request_code, command.response_code))
    assert codes == list(range(13000, 13018))
    assert all(c.response_code == c.request_code + 1 for c in COMMANDS.values())


def test_a_tenants_admin_backs_up_its_own_tenant(world):
    reply = call(world, SHOP_ADMIN, "tenant_backup_start", tenant="shop", destination="/backup/shop")
    assert reply.code is R.OB_SUCCESS and reply.value == 1


@pytest.mark.parametrize(
    ("caller", "name", "arguments", "why"),
    [
        (
            SHOP_ADMIN,
            "tenant_backup_start",
            {"tenant": "blog", "destination": "/backup/blog"},
            "its own tenant only",
        ),
        (
            SHOP_ADMIN,
            "tenant_incremental_backup_start",
            {"tenant": "blog", "destination": "/backup/b"},
            "own tenant",
        ),
        (SHOP_ADMIN, "tenant_restore_start", {"source": "shop", "target": "x"}, "system tenant's admin only"),
        (SHOP_ADMIN, "tenant_decommission", {"tenant": "shop"}, "system tenant's admin only"),
        (
            SHOP_USER,
            "tenant_backup_start",
            {"tenant": "shop", "destination": "/backup/shop"},
            "is not an admin",
        ),
        (
            Caller(tenant="nowhere", user="x", role=ADMIN),
            "tenant_backup_status",
            {"task_id": 1},
            "unknown caller",
        ),
        (
            Caller(tenant="shop", user="x", role="root"),
            "tenant_backup_status",
            {"task_id": 1},
            "unknown role",
        ),
    ],
)
def test_a_call_beyond_the_callers_rights_is_refused_and_recorded(world, caller, name, arguments, why):
    reply = call(world, caller, name, **arguments)
    assert reply.code is R.OB_PERMISSION_DENIED and why in reply.message
    (event,) = reply.events
    assert isinstance(event, CommandDenied) and (event.command, event.reason) == (name, reply.message)
    assert (event.caller_tenant, event.user, event.role) == (caller.tenant, caller.user, caller.role)
    after = apply(world, event)
    assert after.seq == world.seq + 1
    make_codec().encode_all([event])  # storable like any event


def test_the_system_admin_may_run_anything_including_a_restore_refused_on_its_merits(world):
    reply = call(world, SYS, "tenant_restore_start", source="shop", target="x")
    assert reply.code is R.OB_RESTORE_REJECTED and "no completed backup set" in reply.message
    assert call(world, SYS, "tenant_backup_start", tenant="blog", destination="/backup/blog").ok


def test_an_unknown_command_or_argument_answers_invalid_argument(world):
    assert call(world, SYS, "tenant_format_disk").code is R.OB_INVALID_ARGUMENT
    reply = call(world, SYS, "tenant_backup_status", task=1)
    assert reply.code is R.OB_INVALID_ARGUMENT and "unexpected keyword argument 'task'" in reply.message


def test_a_refusal_replays_under_trace_validation(world):
    reply = call(world, SHOP_USER, "tenant_backup_status", task_id=1)
    (event,) = reply.events
    assert validate_trace([event], state=world).seq == world.seq + 1


# -- ybstate call -----------------------------------------------------------------------------------


@pytest.fixture
def history(tmp_path):

    path = tmp_path / "h.duckdb"
    with DuckDBStore(path) as store:
        run_quickstart(store)
    return path


def _call(*args: str):

    return CliRunner().invoke(cli, ["call", *args], catch_exceptions=False)


def _rows(path, sql: str) -> list[tuple]:

    with open_history(path) as store:
        return store.con.execute(sql).fetchall()


def test_ybstate_call_answers_a_query_and_stores_nothing(history):
    before = _rows(history, "SELECT max(seq) FROM events")
    shown = _call("--db", str(history), "tenant_backup_status", "task_id=1")
    assert shown.exit_code == 0 and shown.output.startswith("OB_SUCCESS (0) BackupStatus(task_id=1")
    assert _rows(history, "SELECT max(seq) FROM events") == before


def test_ybstate_call_refused_for_rights_exits_1_and_stores_the_refusal(history):
    shown = _call(
        "--db", str(history), "--as", "shop:ann:admin", "tenant_restore_start", "source=shop", "target=x"
    )
    assert shown.exit_code == 1 and "OB_PERMISSION_DENIED (-4009)" in shown.output
    assert _rows(
        history, "SELECT payload ->> 'user', payload ->> 'command' FROM events WHERE type = 'command.denied'"
    ) == [("ann", "tenant_restore_start")]


def test_ybstate_call_with_wait_runs_the_task_to_its_end_and_the_history_still_verifies(history):

    shown = _call(
        "--db", str(history), "--as", "shop:ann:admin", "--wait", "tenant_backup_start", "tenant=shop"
    )
    assert shown.exit_code == 0 and "backup task 2 COMPLETED, backup set 2" in shown.output
    assert _rows(history, "SELECT backup_set_id, status FROM __all_tenant_backup_set ORDER BY 1") == [
        (1, 1),
        (2, 1),
    ]
    with open_history(history) as store:
        assert [r.name for r in verify_store(store) if not r.ok] == []


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("tenant_format_disk",), "unknown command 'tenant_format_disk'"),
        (("tenant_backup_status", "task_id"), "an argument is KEY=VALUE"),
        (("--as", "sys", "tenant_backup_status", "task_id=1"), "--as is TENANT:USER:ROLE"),
        (("--wait", "tenant_restore_start", "source=shop"), "needs argument 'target'"),
        (("--wait", "tenant_restore_start", "source=shop", "target=x", "workers=-1"), "'workers' must be 0"),
        (("--wait", "tenant_decommission", "tenant=shop", "force=true"), "unexpected argument 'force'"),
    ],
)
def test_ybstate_call_with_bad_input_exits_2(history, args, words):
    shown = _call("--db", str(history), *args)
    assert shown.exit_code == 2 and words in " ".join(shown.output.split())


def test_ybstate_call_on_a_missing_history_exits_2(tmp_path):
    shown = _call("--db", str(tmp_path / "none.duckdb"), "tenant_backup_status", "task_id=1")
    assert shown.exit_code == 2 and "no such history file" in " ".join(shown.output.split())
