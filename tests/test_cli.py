"""The ``ybstate`` command (DESIGN 10), driven through click's CliRunner in a temporary directory.

Exit status: 0 success, 1 a check failed, 2 bad input. Output is compared with what the
Python API computes from the same file, never with copied-in figures.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil

import click
import duckdb
import pytest
from click.testing import CliRunner
from histories import QUICKSTART, edit_payload, event_rows, rechain

from ybstate.api import COMMANDS
from ybstate.cli import DEFAULT_DB, cli
from ybstate.cluster import ghost
from ybstate.history import open_history, replay_store

FINGERPRINT = re.compile(r"\b[0-9a-f]{32}\b")
READERS = ["replay", "verify", "rows", "sql"]


def _args_for(command: str, db: str) -> list[str]:
    extra = {"rows": ["--tenant", "shop"], "sql": ["SELECT 1"]}.get(command, [])
    return [command, "--db", db, *extra]


def _flat(text: str) -> str:
    """Output with rich's line wrapping undone."""
    return " ".join(text.split())


@pytest.fixture
def invoke(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(cli, list(args), catch_exceptions=False)

    return run


@pytest.fixture
def history(quickstart_file, tmp_path):
    path = tmp_path / "h.duckdb"
    shutil.copy(quickstart_file, path)
    return path


def _bytes_of(path):
    return path.read_bytes()


# run, replay, verify ----------------------------------------------------------------------


def test_run_then_replay_then_verify_succeed_with_the_same_fingerprint(invoke, tmp_path):
    ran = invoke("run", str(QUICKSTART))
    assert ran.exit_code == 0, ran.output
    assert (tmp_path / DEFAULT_DB).exists()
    (stored,) = set(FINGERPRINT.findall(ran.stdout))

    replayed = invoke("replay")
    assert replayed.exit_code == 0, replayed.output
    assert set(FINGERPRINT.findall(replayed.stdout)) == {stored}
    assert "matches the recorded fingerprint" in replayed.stdout

    with open_history(tmp_path / DEFAULT_DB) as store:
        again = replay_store(store)
    assert again.fingerprint == stored
    assert f"{again.events} events replayed" in replayed.stdout

    verified = invoke("verify")
    assert verified.exit_code == 0, verified.output
    assert "violat" not in verified.output


def test_run_prints_one_row_per_step(invoke):
    ran = invoke("run", str(QUICKSTART), "--db", "q.duckdb")
    assert ran.exit_code == 0, ran.output
    with open_history("q.duckdb") as store:
        last = store.last_seq()
    assert f"stored events 1..{last} in q.duckdb" in _flat(ran.stdout)
    assert "rejected as expected" in _flat(ran.stdout)


def test_run_with_a_malformed_spec_exits_2_and_creates_no_db_file(invoke, tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text('[[tenants]]\nname = "shop"\n\n[[steps]]\ndo = "freeze"\n\n[[steps]]\ndo = "explode"\n')
    result = invoke("run", str(spec), "--db", "new.duckdb")
    assert result.exit_code == 2
    assert "bad.toml, step 2" in _flat(result.stderr)
    assert "'explode'" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]


def test_run_of_a_missing_spec_exits_2_and_creates_no_db_file(invoke, tmp_path):
    result = invoke("run", "absent.toml", "--db", "new.duckdb")
    assert result.exit_code == 2
    assert "absent.toml" in result.stderr
    assert list(tmp_path.iterdir()) == []


FAILING_SPEC = """\
seed = 4

[[tenants]]
name = "crm"
tables = { contacts = 1 }

[[steps]]
do = "write"
tenant = "crm"
put = [["contacts", "c1", "ann"]]

[[steps]]
do = "expect"
sql = "SELECT count(*) FROM commit_log WHERE kind = 'COMMIT'"
equals = 1000
"""


def test_run_whose_expect_fails_exits_1_and_leaves_no_db_file(invoke, tmp_path):
    (tmp_path / "fails.toml").write_text(FAILING_SPEC)
    result = invoke("run", "fails.toml", "--db", "new.duckdb")
    assert result.exit_code == 1
    message = _flat(result.stderr)
    assert "fails.toml, step 2 (expect)" in message
    assert "expected 1000, found 1" in message
    assert "[seed 4," in message  # how to reproduce, brackets and all
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fails.toml"]


def test_run_whose_expect_fails_leaves_an_existing_history_as_it_was(invoke, tmp_path, history):
    (tmp_path / "fails.toml").write_text(FAILING_SPEC)
    rows = event_rows(history)
    with open_history(history) as store:
        recorded = store.fingerprint()
    result = invoke("run", "fails.toml", "--db", history.name)
    assert result.exit_code == 1
    assert history.exists()
    assert event_rows(history) == rows
    with open_history(history) as store:
        assert store.fingerprint() == recorded


# sql --------------------------------------------------------------------------------------


def test_sql_prints_the_query_results(invoke, history):
    query = "SELECT kind, count(*) AS entries FROM commit_log GROUP BY kind ORDER BY kind"
    result = invoke("sql", "--db", history.name, "--csv", query)
    assert result.exit_code == 0, result.output
    with open_history(history) as store:
        expected = store.con.execute(query).fetchall()
    printed = list(csv.reader(io.StringIO(result.stdout)))
    assert printed[0] == ["kind", "entries"]
    assert [(kind, int(n)) for kind, n in printed[1:]] == expected

    table = invoke("sql", "--db", history.name, query)
    assert table.exit_code == 0
    for kind, n in expected:
        assert re.search(rf"{kind}\W+{n}\b", table.stdout)


def test_sql_prints_values_with_brackets_as_they_are(invoke, history):
    result = invoke("sql", "--db", history.name, "SELECT '[bold]tagged[/bold]' AS \"[x]\"")
    assert result.exit_code == 0
    assert "[bold]tagged[/bold]" in result.stdout
    assert "[x]" in result.stdout


@pytest.mark.parametrize("query", ["SELECT nope FROM events", "SELECT * FROM [nothing]"])
def test_bad_query_exits_non_zero_and_prints_duckdbs_message(invoke, history, query):
    with open_history(history) as store, pytest.raises(duckdb.Error) as direct:
        store.con.execute(query)
    rows = event_rows(history)
    result = invoke("sql", "--db", history.name, query)
    assert result.exit_code == 2
    assert _flat(str(direct.value)) in _flat(result.stderr)
    assert event_rows(history) == rows


# Missing and foreign files ------------------------------------------------------------------


@pytest.mark.parametrize("command", READERS)
def test_missing_db_file_is_reported_with_exit_2(invoke, tmp_path, command):
    result = invoke(*_args_for(command, "absent.duckdb"))
    assert result.exit_code == 2
    assert "absent.duckdb: no such history file" in _flat(result.stderr)
    assert list(tmp_path.iterdir()) == []


def _foreign_files(tmp_path):
    text = tmp_path / "notes.duckdb"
    text.write_bytes(b"not a database, just notes\n" * 100)
    other = tmp_path / "crm.duckdb"
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE contacts AS SELECT 1 AS id, 'ann' AS name")
    con.close()
    return [text, other]


@pytest.mark.parametrize("command", [*READERS, "run", "simulate"])
def test_foreign_file_is_reported_with_exit_2_and_left_untouched(invoke, tmp_path, command):
    for path in _foreign_files(tmp_path):
        before = _bytes_of(path)
        if command == "run":
            args = ["run", str(QUICKSTART), "--db", path.name]
        elif command == "simulate":
            args = ["simulate", "--seed", "1", "--steps", "5", "--db", path.name]
        else:
            args = _args_for(command, path.name)
        result = invoke(*args)
        assert result.exit_code == 2, (path.name, result.output)
        assert f"{path.name} is not a ybstate history" in _flat(result.stderr)
        assert _bytes_of(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crm.duckdb", "notes.duckdb"]


# rows ---------------------------------------------------------------------------------------


def _ghost_lines(path, tenant: str, as_of: str | None = None) -> list[str]:
    with open_history(path) as store:
        state = replay_store(store).state
    tenant_id = state.tenant_named(tenant).tenant_id
    if as_of is None:
        content = ghost.content(state, tenant_id)
    else:
        content = ghost.content_as_of(state, tenant_id, state.marks[as_of])
    return sorted(f"{table},{key},{value}" for (table, key), value in content.items())


def test_rows_prints_the_tenants_rows_sorted_as_in_the_replayed_state(invoke, history):
    result = invoke("rows", "--db", history.name, "--tenant", "shop")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines == sorted(lines)
    assert lines == _ghost_lines(history, "shop")
    assert len(lines) > 5


def test_rows_as_of_a_mark_gives_the_content_at_that_mark(invoke, history):
    now = invoke("rows", "--db", history.name, "--tenant", "shop").stdout.splitlines()
    result = invoke("rows", "--db", history.name, "--tenant", "shop", "--as-of", "before_mistake")
    assert result.exit_code == 0, result.output
    then = result.stdout.splitlines()
    assert then == _ghost_lines(history, "shop", as_of="before_mistake")
    assert then != now
    # the mistake after the mark deleted orders/k1, so the row is still there at the mark
    assert any(line.startswith("orders,k1,") for line in then)


def test_rows_as_of_a_timestamp_equals_as_of_the_mark_at_that_time(invoke, history):
    with open_history(history) as store:
        (ts,) = store.con.execute("SELECT ts FROM marks WHERE name = 'before_mistake'").fetchone()
    by_mark = invoke("rows", "--db", history.name, "--tenant", "shop", "--as-of", "before_mistake")
    by_time = invoke("rows", "--db", history.name, "--tenant", "shop", "--as-of", str(ts))
    assert by_time.exit_code == 0
    assert by_time.stdout == by_mark.stdout


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--tenant", "nobody"], "unknown tenant 'nobody'"),
        (["--tenant", "shop", "--as-of", "yesterday"], "'yesterday' is neither a timestamp nor a mark"),
    ],
)
def test_rows_with_an_unknown_name_exits_2(invoke, history, args, named):
    result = invoke("rows", "--db", history.name, *args)
    assert result.exit_code == 2
    assert named in _flat(result.stderr)


# simulate -----------------------------------------------------------------------------------


def test_simulate_with_one_seed_stores_identical_events_and_another_seed_differs(invoke, tmp_path):
    for seed, db in (("3", "a.duckdb"), ("3", "b.duckdb"), ("4", "c.duckdb")):
        result = invoke("simulate", "--seed", seed, "--steps", "300", "--db", db)
        assert result.exit_code == 0, result.output
    a, b, c = (event_rows(tmp_path / name) for name in ("a.duckdb", "b.duckdb", "c.duckdb"))
    assert len(a) > 300
    assert a == b
    assert a != c


def test_simulated_history_replays_and_verifies(invoke):
    assert invoke("simulate", "--seed", "8", "--steps", "200", "--db", "s.duckdb").exit_code == 0
    replayed = invoke("replay", "--db", "s.duckdb")
    assert replayed.exit_code == 0, replayed.output
    verified = invoke("verify", "--db", "s.duckdb")
    assert verified.exit_code == 0, verified.output


def test_simulate_into_a_db_holding_another_history_is_refused(invoke, tmp_path):
    assert invoke("simulate", "--seed", "3", "--steps", "50", "--db", "a.duckdb").exit_code == 0
    rows = event_rows(tmp_path / "a.duckdb")
    result = invoke("simulate", "--seed", "5", "--steps", "50", "--db", "a.duckdb")
    assert result.exit_code == 2
    assert f"holds {len(rows)} events that are not a prefix of this simulation" in _flat(result.stderr)
    assert event_rows(tmp_path / "a.duckdb") == rows


# check --------------------------------------------------------------------------------------


def test_check_twophase_with_three_resource_managers_reports_288_distinct_states(invoke):
    result = invoke("check", "--model", "twophase", "--rms", "3")
    assert result.exit_code == 0, result.output
    assert "288 distinct states" in _flat(result.stdout)
    assert "complete" in result.stdout


def test_check_cluster_with_small_bounds_completes(invoke):
    result = invoke("check", "--model", "cluster", "--tenants", "1", "--keys", "1", "--max-log", "5")
    assert result.exit_code == 0, result.output
    assert "complete" in _flat(result.stdout) and "verdict: holds" in _flat(result.stdout)


def test_check_cluster_too_small_for_two_commits_is_vacuous_and_says_which_invariant(invoke):
    result = invoke("check", "--model", "cluster", "--tenants", "1", "--keys", "1", "--max-log", "4")
    assert result.exit_code == 1
    assert "vacuous: invariant commit_ts_increasing never met its subject" in _flat(result.output)


# Tampered histories -------------------------------------------------------------------------


def _first_freeze_seq(con) -> int:
    return con.execute("SELECT min(seq) FROM events WHERE type = 'log.freeze'").fetchone()[0]


def _tamper(path, change) -> None:
    con = duckdb.connect(str(path))
    try:
        change(con)
    finally:
        con.close()


def test_verify_of_a_tampered_freeze_baseline_exits_1_naming_the_invariant(invoke, history):
    def more_rows(con):
        def change(payload):
            payload["baseline"][0]["rows"] += 1

        edit_payload(con, _first_freeze_seq(con), change)

    _tamper(history, more_rows)
    result = invoke("verify", "--db", history.name)
    assert result.exit_code == 1
    assert "freeze_baseline_exact violated" in _flat(result.stderr)
    assert "invariants violated in h.duckdb" in _flat(result.stderr)


def test_verify_of_a_cross_tenant_cell_exits_1_naming_the_invariant(invoke, history):
    def cross(con):
        # an aborted blog transaction's mutator now writes to a shop table
        (seq,) = con.execute(
            "SELECT min(m.seq) FROM commit_log m JOIN transactions t USING (tx_id) "
            "WHERE m.kind = 'MUTATOR' AND t.outcome = 'aborted'"
        ).fetchone()
        (shop_table,) = con.execute(
            "SELECT min(table_id) FROM cluster_tables JOIN tenants USING (tenant_id) "
            "WHERE tenants.name = 'shop'"
        ).fetchone()
        edit_payload(con, seq, lambda p: p["cells"][0].update(table_id=shop_table))

    _tamper(history, cross)
    result = invoke("verify", "--db", history.name)
    assert result.exit_code == 1
    assert "single_tenant_transactions violated" in _flat(result.stderr)


def test_verify_with_an_invariant_directory_runs_those_invariants(invoke, history, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "no_freezes.sql").write_text(
        "-- There is no freeze.\nSELECT seq FROM events WHERE type = 'log.freeze'\n"
    )
    result = invoke("verify", "--db", history.name, "--invariants", str(mine))
    assert result.exit_code == 1
    assert "no_freezes violated" in _flat(result.stderr)


def test_replay_of_a_history_that_does_not_replay_exits_1(invoke, history):
    _tamper(history, lambda con: edit_payload(con, _first_freeze_seq(con), lambda p: p.update(version=7)))
    result = invoke("replay", "--db", history.name)
    assert result.exit_code == 1
    assert "the stored history does not replay" in _flat(result.stderr)


def _move_mark(con) -> int:
    (seq,) = con.execute("SELECT seq FROM marks WHERE name = 'before_mistake'").fetchone()
    edit_payload(con, seq, lambda p: p.update(ts=p["ts"] - 1))
    return seq


def test_replay_of_a_changed_row_exits_1_naming_its_seq(invoke, history):
    seq = []
    _tamper(history, lambda con: seq.append(_move_mark(con)))
    result = invoke("replay", "--db", history.name)
    assert result.exit_code == 1
    assert f"event seq {seq[0]}: the row differs from the one appended" in _flat(result.stderr)


def test_replay_whose_fingerprint_differs_from_the_recorded_one_exits_1(invoke, history):
    # A forger who recomputes the digest chain passes it; the state's fingerprint does not.
    _tamper(history, lambda con: (_move_mark(con), rechain(con)))
    result = invoke("replay", "--db", history.name)
    assert result.exit_code == 1
    message = _flat(result.stderr)
    assert "replay gives" in message
    assert "recorded" in message


def test_replay_of_a_history_without_a_recorded_fingerprint_exits_1(invoke, history):
    _tamper(history, lambda con: con.execute("DELETE FROM ybstate_meta WHERE key LIKE 'fingerprint%'"))
    result = invoke("replay", "--db", history.name)
    assert result.exit_code == 1
    assert "no fingerprint was recorded" in _flat(result.stderr)


def test_every_command_takes_h_explains_every_option_and_cites_no_design_section():
    runner = CliRunner()
    assert runner.invoke(cli, ["-h"]).exit_code == 0
    for name, command in cli.commands.items():
        shown = runner.invoke(cli, [name, "-h"])
        assert shown.exit_code == 0, name
        assert shown.output == runner.invoke(cli, [name, "--help"]).output
        assert not re.search(r"DESIGN \d", shown.output), name
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{name} {param.opts[0]} has no help"


def test_call_help_lists_the_nine_commands_with_their_arguments_and_rights():
    shown = _flat(CliRunner().invoke(cli, ["call", "--help"]).output)
    for name in COMMANDS:
        assert name in shown
    assert "tenant_restore_start source target [until=latest] [backup_set_id=0] [workers=0]" in shown
    assert "tenant_promote_standby standby old_primary [verify=true] [catch_up=true]" in shown
    assert shown.count("may be called by a system admin, or an admin of the tenant it acts on") == 5


def test_sql_runs_each_statement_from_a_file_or_stdin_caps_rows_and_prints_json(invoke, tmp_path):
    invoke("run", str(QUICKSTART))
    script = tmp_path / "q.sql"
    script.write_text("SELECT count(*) AS n FROM events;\nSELECT seq FROM events ORDER BY seq")
    shown = invoke("sql", "-f", str(script), "--json", "--max-rows", "5")
    first, second = json.loads(shown.stdout)
    assert first["columns"] == ["n"] and first["rows_left_out"] == 0
    total = first["rows"][0][0]
    assert second["rows"] == [[seq] for seq in range(1, 6)] and second["rows_left_out"] == total - 5
    capped = invoke("sql", "SELECT seq FROM events", "--max-rows", "3")
    assert f"{total - 3:,} more rows left out" in _flat(capped.stderr)
    piped = CliRunner().invoke(cli, ["sql", "--db", DEFAULT_DB, "-", "--csv"], input="SELECT 7 AS seven")
    assert piped.stdout == "seven\n7\n"
    everything = invoke("sql", "SELECT seq FROM events", "--max-rows", "0", "--csv")
    assert len(everything.stdout.splitlines()) == total + 1


def test_replay_verify_window_and_restore_preview_print_json(history):
    runner = CliRunner()

    def document(*args: str):
        shown = runner.invoke(cli, [*args, "--db", str(history), "--json"])
        assert shown.exit_code == 0, shown.output
        return json.loads(shown.stdout)

    replayed = document("replay")
    assert replayed["matches"] and replayed["recorded"] == [replayed["seq"], replayed["fingerprint"]]
    verified = document("verify")
    assert all(r["holds"] for r in verified) and {"history_digest_chain", "log_ids_dense"} <= {
        r["invariant"] for r in verified
    }
    window = document("window", "--tenant", "shop")
    assert window["intervals"] and {"from_ts", "to_ts", "set_id"} == set(window["intervals"][0])
    plan = document("restore-preview", "--tenant", "shop")
    assert plan["until"] == "latest" and plan["entries"] >= 0 and plan["backup_set"]["set_id"] >= 1
