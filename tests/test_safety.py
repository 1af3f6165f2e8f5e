"""Nothing a user types changes a history, reaches outside it, crashes or hangs (issue 11).

Each case of the issue has its test here: the SQL sandbox (`ybstate sql`, `expect` steps,
`verify --invariants`, `ybstate export`), and the refusals that replaced tracebacks.
Commands run in-process through click's CliRunner, in a temporary directory.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from histories import QUICKSTART, edit_payload, event_rows, rechain

from ybstate import cli as cli_module
from ybstate.cli import cli
from ybstate.kernel.limits import LIMITS

HEAD = """
name = "s"
[[tenants]]
name = "shop"
tables = { orders = 1 }
[[steps]]
do = "write"
tenant = "shop"
put = [["orders", "k1", "v1"]]
"""


def _flat(text: str) -> str:
    return " ".join(text.split())


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def history(quickstart_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "h.duckdb"
    shutil.copy(quickstart_file, path)
    return path


def ybstate(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


# -- ybstate sql: one statement that reads, nothing outside the history --------------------------


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("COPY events TO 'stolen.csv'", "found COPY"),
        ("DELETE FROM events WHERE seq > 10", "found DELETE"),
        ("DROP VIEW tenants", "found DROP"),
        ("INSTALL httpfs", "found LOAD"),
        ("SET enable_external_access = true", "found SET"),
        ("SELECT 1; DELETE FROM events", "found DELETE (statement 2 of 2)"),
        ("", "the query is empty"),
        ("   ", "the query is empty"),
        ("SELECT * FROM read_csv('/etc/passwd')", "file system operations are disabled"),
        ("SELECT * FROM read_text('/etc/hostname')", "file system operations are disabled"),
        ("SELECT * FROM glob('/etc/*')", "file system operations are disabled"),
        ("WITH gone AS (DELETE FROM events RETURNING *) SELECT count(*) FROM gone", "read-only"),
        ("SELEC 1", "syntax error"),
    ],
)
def test_sql_refuses_what_is_not_one_read_of_the_history(history, query, words):
    before = _digest(history)
    shown = ybstate("sql", "--db", history, query)
    assert shown.exit_code == 2 and words in _flat(shown.output), shown.output
    assert "Traceback" not in shown.output
    assert _digest(history) == before
    assert not (history.parent / "stolen.csv").exists()


def test_sql_cannot_attach_and_change_another_history(history, quickstart_file):
    other = history.parent / "other.duckdb"
    shutil.copy(quickstart_file, other)
    before = _digest(other)
    shown = ybstate("sql", "--db", history, f"ATTACH '{other}' AS o (READ_WRITE)")
    assert shown.exit_code == 2 and "found ATTACH" in _flat(shown.output)
    shown = ybstate("sql", "--db", history, f"SELECT count(*) FROM '{other}'")
    assert shown.exit_code == 2 and "disabled" in _flat(shown.output)
    assert _digest(other) == before


def test_sql_still_reads_the_history_its_views_and_describes_them(history):
    assert ybstate("sql", "--db", history, "SELECT count(*) FROM events").exit_code == 0
    assert ybstate("sql", "--db", history, "DESCRIBE __all_tenant_restore_task").exit_code == 0
    assert ybstate("sql", "--db", history, "SHOW TABLES").exit_code == 0


# -- expect steps: sandboxed, never on the writing connection -----------------------------------


@pytest.mark.parametrize(
    ("sql", "words"),
    [
        ("DELETE FROM events WHERE seq BETWEEN 2 AND 4", "found DELETE"),
        ("UPDATE events SET time = 0", "found UPDATE"),
        ("DROP VIEW tenants", "found DROP"),
        ("SELECT count(*) FROM read_csv('/etc/passwd')", "file system operations are disabled"),
        ("SELECT nope FROM events", "nope"),
    ],
)
def test_an_expect_step_that_writes_or_reads_outside_is_bad_input_and_stores_nothing(tmp_path, sql, words):
    spec = tmp_path / "bad.toml"
    spec.write_text(HEAD + f'[[steps]]\ndo = "expect"\nsql = "{sql}"\nequals = 1\n')
    db = tmp_path / "new.duckdb"
    shown = ybstate("run", spec, "--db", db)
    assert shown.exit_code == 2 and "step 2" in _flat(shown.output) and words in _flat(shown.output)
    assert not db.exists()


def test_an_expect_step_that_deletes_in_a_cte_changes_nothing_that_is_stored(tmp_path):
    spec = tmp_path / "cte.toml"
    spec.write_text(
        HEAD
        + '[[steps]]\ndo = "expect"\n'
        + 'sql = "WITH gone AS (DELETE FROM events RETURNING seq) SELECT count(*) > 0 FROM gone"\n'
        + "equals = true\n"
        + '[[steps]]\ndo = "expect"\nsql = "SELECT count(*) = max(seq) FROM events"\nequals = true\n'
    )
    db = tmp_path / "h.duckdb"
    shown = ybstate("run", spec, "--db", db)
    assert shown.exit_code == 0, shown.output
    seqs = [row[0] for row in event_rows(db)]
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) >= 5
    assert ybstate("replay", "--db", db).exit_code == 0
    assert ybstate("verify", "--db", db).exit_code == 0


def test_an_existing_history_is_unchanged_by_a_run_whose_expect_writes(history, tmp_path):
    spec = tmp_path / "more.toml"
    spec.write_text(
        '[[tenants]]\nname = "crm"\ntables = { c = 1 }\n'
        '[[steps]]\ndo = "expect"\nsql = "DELETE FROM events"\nequals = 0\n'
    )
    before = _digest(history)
    shown = ybstate("run", spec, "--db", history)
    assert shown.exit_code == 2 and "found DELETE" in _flat(shown.output)
    assert _digest(history) == before


# -- verify --invariants: user files run the same way -------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("COPY events TO 'out.csv'", "found COPY"),
        ("SELECT * FROM read_text('/etc/hostname')", "file system operations are disabled"),
        ("SELEC broken", "syntax error"),
        ("DELETE FROM events", "found DELETE"),
    ],
)
def test_verify_with_a_user_invariant_that_is_not_one_read_is_bad_input_naming_the_file(history, text, words):
    directory = history.parent / "mine"
    directory.mkdir()
    (directory / "rogue.sql").write_text(f"-- a rogue invariant\n{text};\n")
    before = _digest(history)
    shown = ybstate("verify", "--db", history, "--invariants", directory)
    assert shown.exit_code == 2 and "rogue.sql" in _flat(shown.output) and words in _flat(shown.output)
    assert _digest(history) == before
    assert not (history.parent / "out.csv").exists()


# -- export: the one way to write a file from a history -----------------------------------------


def test_export_writes_parquet_and_csv_of_a_query(history):
    shown = ybstate(
        "export", "--db", history, "--out", "sets.parquet", "SELECT * FROM __all_tenant_backup_set"
    )
    assert shown.exit_code == 0, shown.output
    sets = pq.read_table(history.parent / "sets.parquet")
    shown = ybstate("sql", "--db", history, "--csv", "SELECT count(*) FROM __all_tenant_backup_set")
    assert sets.num_rows == int(shown.output.splitlines()[1]) > 0
    shown = ybstate(
        "export", "--db", history, "--format", "csv", "--out", "events.csv", "SELECT * FROM events"
    )
    assert shown.exit_code == 0, shown.output
    assert pa_csv.read_csv(history.parent / "events.csv").num_rows == len(event_rows(history))


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--out", "h.duckdb", "--force", "SELECT 1"], "is the history itself"),
        (["--out", "taken.csv", "SELECT 1"], "exists; pass --force"),
        (["--out", "x.parquet", "COPY events TO 'y.csv'"], "found COPY"),
        (["--out", "x.parquet", "SELECT * FROM read_text('/etc/hostname')"], "disabled"),
        (["--out", "nowhere/x.parquet", "SELECT 1"], "cannot write it"),
    ],
)
def test_export_refuses_to_overwrite_or_to_run_what_sql_refuses(history, args, words):
    (history.parent / "taken.csv").write_text("mine\n")
    before = _digest(history)
    shown = ybstate("export", "--db", history, *args)
    assert shown.exit_code == 2 and words in _flat(shown.output), shown.output
    assert _digest(history) == before
    assert (history.parent / "taken.csv").read_text() == "mine\n"
    assert not (history.parent / "x.parquet").exists() and not (history.parent / "y.csv").exists()
    assert [p.name for p in history.parent.iterdir() if p.name.endswith(".partial")] == []


# -- bounds: every size has a range, checked when parsed ----------------------------------------

BIG = 10**30


def _cluster(line: str) -> str:
    return HEAD.replace('name = "s"\n', f'name = "s"\n[cluster]\n{line}\n')


def _restore(extra: str) -> str:
    return HEAD + f'[[steps]]\ndo = "restore"\nsource = "shop"\ntarget = "x"\n{extra}\n'


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (HEAD + '[[steps]]\ndo = "tick"\nmicros = 9223372036854775807\n', "'micros' must be at most"),
        (HEAD + f'[[steps]]\ndo = "tick"\nmicros = {BIG}\n', "'micros' must be at most"),
        (_cluster("start_time = 1000000000000000000000000000000"), "'start_time' must be 0.."),
        (_cluster("restore_workers = 1000000000000000000000000000000"), "'restore_workers' must be 1.."),
        (_cluster('backup_root = "/"'), "backup_root must be an absolute, normalised path"),
        (_cluster('backup_root = ""'), "backup_root must be an absolute, normalised path"),
        (_cluster('backup_root = "/backup/../etc"'), "backup_root must be an absolute"),
        (_cluster('backup_root = "backup"'), "backup_root must be an absolute"),
        ('[[tenants]]\nname = "shop"\ntables = { orders = 100000000 }\n', "has at most 4096 tablets"),
        ('[[tenants]]\nname = "shop"\ntables = { "" = 1 }\n', "a table needs a non-empty name"),
        ('[[tenants]]\nname = "a@b"\ntables = { t = 1 }\n', "may not contain '@'"),
        ('[[tenants]]\nname = "a\\u0007b"\ntables = { t = 1 }\n', "no control characters"),
        (HEAD + f'[[steps]]\ndo = "workload"\ntenant = "shop"\ntransactions = 1\nkeys = {BIG}\n', "'keys'"),
        (HEAD + f'[[steps]]\ndo = "workload"\ntenant = "shop"\ntransactions = {BIG}\n', "'transactions'"),
        (HEAD + f'[[steps]]\ndo = "workload"\ntenant = "shop"\ntransactions = 1\nops = {BIG}\n', "'ops'"),
        (_restore(f"workers = {BIG}"), "'workers'"),
        (_restore(f"until = {BIG}"), "'until'"),
        (HEAD + '[[steps]]\ndo = "restore"\nsource = "shop"\ntarget = "x@1"\n', "may not contain '@'"),
        (
            HEAD + '[[steps]]\ndo = "create_table"\ntenant = "shop"\ntable = "t"\ntablets = 5000\n',
            "'tablets'",
        ),
        (
            HEAD + f'[[steps]]\ndo = "fault"\nkind = "tablet_copy_fail"\ntenant = "shop"\ntimes = {BIG}\n',
            "'times'",
        ),
        (HEAD + f'[[steps]]\ndo = "recycle_log"\nthrough = {BIG}\n', "'through'"),
    ],
)
def test_a_size_out_of_its_range_is_refused_when_parsed_and_leaves_no_file(tmp_path, text, words):
    spec = tmp_path / "big.toml"
    spec.write_text(text)
    db = tmp_path / "new.duckdb"
    shown = ybstate("run", spec, "--db", db)
    assert shown.exit_code == 2 and words in _flat(shown.output), shown.output
    assert "Traceback" not in shown.output
    assert not db.exists()


def test_a_worker_stall_naming_a_worker_the_restore_lacks_is_refused(tmp_path):
    spec = tmp_path / "stall.toml"
    spec.write_text(
        '[[tenants]]\nname = "shop"\ntables = { orders = 1 }\n'
        '[[steps]]\ndo = "write"\ntenant = "shop"\nput = [["orders", "k", "v"]]\n'
        '[[steps]]\ndo = "freeze"\n[[steps]]\ndo = "backup"\ntenant = "shop"\n'
        '[[steps]]\ndo = "archive_start"\ntenant = "shop"\n'
        '[[steps]]\ndo = "write"\ntenant = "shop"\nput = [["orders", "k2", "v"]]\n'
        '[[steps]]\ndo = "fault"\nkind = "worker_stall"\ntenant = "shop"\nworker = 7\n'
        '[[steps]]\ndo = "restore"\nsource = "shop"\ntarget = "dr"\nworkers = 2\n'
    )
    shown = ybstate("run", spec, "--db", tmp_path / "h.duckdb")
    assert (
        shown.exit_code == 1
        and "names worker 7" in _flat(shown.output)
        and "workers 0..1" in _flat(shown.output)
    )


@pytest.mark.parametrize("wait", [True, False])
def test_call_refuses_a_size_out_of_range_and_stores_no_such_value(history, wait):
    before = _digest(history)
    args = ["--wait"] if wait else []
    shown = ybstate(
        "call", "--db", history, *args, "tenant_restore_start", "source=shop", "target=dr", f"workers={BIG}"
    )
    assert shown.exit_code == (2 if wait else 1), shown.output
    assert "workers" in _flat(shown.output) and "256" in _flat(shown.output)
    if wait:
        assert _digest(history) == before
    assert str(BIG) not in " ".join(str(row) for row in event_rows(history))


def test_docs_print_the_table_of_ranges():
    text = (Path(__file__).parent.parent / "docs" / "cli.md").read_text()
    for name, limit in LIMITS.items():
        assert f"| `{name}` | {limit.low} | {limit.high:,} | {limit.what} |" in text, name


# -- no traceback: files, payloads, interrupts ---------------------------------------------------


def test_a_scenario_that_is_not_utf8_is_bad_input(tmp_path):
    spec = tmp_path / "latin1.toml"
    spec.write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    shown = ybstate("run", spec, "--db", tmp_path / "h.duckdb")
    assert shown.exit_code == 2 and "not UTF-8 text: byte 11 is 0xe9" in _flat(shown.output)
    assert not (tmp_path / "h.duckdb").exists()


def _duckdb_file(path, *statements: str) -> None:
    con = duckdb.connect(str(path))
    for statement in statements:
        con.execute(statement)
    con.close()


@pytest.mark.parametrize(
    ("statements", "words"),
    [
        (("CREATE TABLE ybstate_meta (k INT)",), "its ybstate_meta table is not ybstate's"),
        (("CREATE TABLE sales (k INT)",), "it has tables ['sales'] but no ybstate_meta"),
        ((), "an empty database that ybstate did not make"),
    ],
    ids=["foreign-meta", "foreign-tables", "empty"],
)
@pytest.mark.parametrize(
    "command",
    [
        ["sql", "SELECT 1"],
        ["verify"],
        ["replay"],
        ["call", "tenant_backup_status", "task_id=1"],
        ["run", str(QUICKSTART)],
        ["export", "--out", "x.csv", "SELECT 1"],
    ],
    ids=lambda c: c[0],
)
def test_a_duckdb_file_made_elsewhere_is_refused_by_every_command_and_left_as_it_was(
    tmp_path, monkeypatch, statements, words, command
):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "other.duckdb"
    _duckdb_file(path, *statements)
    before = _digest(path)
    shown = ybstate(*command[:1], "--db", path, *command[1:])
    assert shown.exit_code == 2 and "not a ybstate history" in _flat(shown.output), shown.output
    assert words in _flat(shown.output)
    assert _digest(path) == before


HOLD = "import duckdb, time; c = duckdb.connect({path!r}); print('ready', flush=True); time.sleep(60)"


def test_a_history_in_use_by_another_process_is_reported_as_such(history):
    hold = "\n".join(
        [
            "import duckdb, time",
            f"c = duckdb.connect({str(history)!r})",
            "print('ready', flush=True)",
            "time.sleep(60)",
        ]
    )
    holder = subprocess.Popen([sys.executable, "-c", hold], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        shown = ybstate("sql", "--db", history, "SELECT 1")
        assert shown.exit_code == 2
        assert "is in use by another process" in _flat(shown.output) and f"process {holder.pid}" in _flat(
            shown.output
        )
    finally:
        holder.kill()
        holder.wait()


def _tampered(history, change) -> int:
    """The seq of the first backup.started event, whose payload ``change`` rewrites."""
    con = duckdb.connect(str(history))
    try:
        (seq,) = con.execute("SELECT min(seq) FROM events WHERE type = 'backup.started'").fetchone()
        edit_payload(con, seq, change)
        rechain(con)  # past the digest chain: the decoding names what is wrong
    finally:
        con.close()
    return seq


@pytest.mark.parametrize("command", ["replay", "verify"])
def test_a_payload_of_the_wrong_type_is_named_by_seq_and_type(history, command):
    seq = _tampered(history, lambda p: p.update(task_id="one"))
    shown = ybstate(command, "--db", history)
    assert shown.exit_code == 1 and "Traceback" not in shown.output
    assert f"event seq {seq} (backup.started)" in _flat(shown.output)
    assert "task_id" in _flat(shown.output)


def test_a_row_whose_columns_differ_from_its_payload_is_named_by_seq(history):
    con = duckdb.connect(str(history))
    try:
        con.execute("UPDATE events SET time = time + 1 WHERE seq = 7")
        rechain(con)
    finally:
        con.close()
    shown = ybstate("replay", "--db", history)
    assert (
        shown.exit_code == 1
        and "event seq 7" in _flat(shown.output)
        and "differ from its payload" in _flat(shown.output)
    )


def _interrupting(real, at_step: int):
    def run(scenario, store, **options):
        def boom(outcome):
            if outcome.number == at_step:
                raise KeyboardInterrupt

        return real(scenario, store, **{**options, "on_step": boom})

    return run


def test_ctrl_c_during_run_exits_130_and_removes_the_new_file(tmp_path, monkeypatch):
    monkeypatch.setattr(cli_module, "run_scenario", _interrupting(cli_module.run_scenario, 3))
    shown = ybstate("run", QUICKSTART, "--db", tmp_path / "new.duckdb")
    assert shown.exit_code == 130 and "interrupted; nothing stored" in _flat(shown.output)
    assert not (tmp_path / "new.duckdb").exists()


def test_ctrl_c_during_run_leaves_an_existing_history_as_it_was(history, tmp_path, monkeypatch):
    spec = tmp_path / "more.toml"
    spec.write_text(
        '[[tenants]]\nname = "crm"\ntables = { c = 1 }\n[[steps]]\ndo = "freeze"\n[[steps]]\ndo = "freeze"\n'
    )
    monkeypatch.setattr(cli_module, "run_scenario", _interrupting(cli_module.run_scenario, 2))
    before = _digest(history)
    shown = ybstate("run", spec, "--db", history)
    assert shown.exit_code == 130 and "interrupted" in _flat(shown.output)
    assert _digest(history) == before


def test_a_bug_is_one_line_with_exit_2_not_a_traceback(monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("planted")

    monkeypatch.setattr(cli_module, "replay_store", broken)
    monkeypatch.setattr(sys, "argv", ["ybstate", "replay", "--db", str(QUICKSTART)])
    with pytest.raises(SystemExit) as ended:
        cli_module.main()
    said = capsys.readouterr()
    assert ended.value.code == 2 and "Traceback" not in said.err + said.out


# -- tamper evidence: the digest chain -----------------------------------------------------------


def _changed(history, *statements: str) -> None:
    con = duckdb.connect(str(history))
    try:
        for statement in statements:
            con.execute(statement)
    finally:
        con.close()


@pytest.mark.parametrize(
    ("statements", "words"),
    [
        (["UPDATE events SET time = time + 1 WHERE seq = 7"], "event seq 7: the row differs"),
        (["UPDATE events SET tenant_id = 1002 WHERE seq = 7"], "event seq 7: the row differs"),
        (["UPDATE events SET type = 'log.heartbeat' WHERE seq = 7"], "event seq 7: the row differs"),
        (
            ["UPDATE events SET payload = replace(CAST(payload AS VARCHAR), '1', '2') WHERE seq = 7"],
            "event seq 7: the row differs",
        ),
        (["DELETE FROM events WHERE seq = 12"], "event seq 12 is missing"),
        (
            [
                "UPDATE events SET seq = -1 WHERE seq = 20",
                "UPDATE events SET seq = 20 WHERE seq = 21",
                "UPDATE events SET seq = 21 WHERE seq = -1",
            ],
            "event seq 20: the row differs",
        ),
        (["DELETE FROM events WHERE seq = (SELECT max(seq) FROM events)"], "but its rows end at seq"),
    ],
    ids=["time", "tenant_id", "type", "payload", "a row gone", "two rows swapped", "the last row gone"],
)
@pytest.mark.parametrize("command", ["replay", "verify"])
def test_a_changed_moved_or_missing_row_is_named_by_replay_and_verify(history, statements, words, command):
    _changed(history, *statements)
    shown = ybstate(command, "--db", history)
    assert shown.exit_code == 1 and words in _flat(shown.output), shown.output
    if command == "verify":
        assert "history_digest_chain violated" in _flat(shown.output)


def test_an_untouched_history_keeps_its_chain_through_appends(history, tmp_path):
    spec = tmp_path / "more.toml"
    spec.write_text('[[tenants]]\nname = "crm"\ntables = { c = 1 }\n[[steps]]\ndo = "freeze"\n')
    assert ybstate("run", spec, "--db", history).exit_code == 0
    assert (
        ybstate(
            "call", "--db", history, "tenant_backup_start", "tenant=crm", "destination=/backup/crm"
        ).exit_code
        == 0
    )
    assert ybstate("replay", "--db", history).exit_code == 0
    shown = ybstate("verify", "--db", history)
    assert shown.exit_code == 0 and "history_digest_chain" in shown.output


# -- files and commands --------------------------------------------------------------------------


def test_run_again_says_how_to_start_afresh_and_run_fresh_replaces_the_history(history, tmp_path):
    shown = ybstate("run", QUICKSTART, "--db", history)
    assert shown.exit_code == 2 and "run --fresh to replace the history" in _flat(shown.output)
    shown = ybstate("run", "--fresh", QUICKSTART, "--db", history)
    assert shown.exit_code == 0 and "stored events 1.." in _flat(shown.output)
    assert ybstate("replay", "--db", history).exit_code == 0
    assert sorted(p.name for p in history.parent.iterdir()) == ["h.duckdb"]


def test_run_fresh_that_fails_leaves_the_history_and_no_file_behind(history, tmp_path):
    spec = tmp_path / "fails.toml"
    spec.write_text(HEAD + '[[steps]]\ndo = "expect"\nsql = "SELECT 1"\nequals = 2\n')
    before = _digest(history)
    shown = ybstate("run", "--fresh", spec, "--db", history)
    assert shown.exit_code == 1
    assert _digest(history) == before
    assert sorted(p.name for p in history.parent.iterdir()) == ["fails.toml", "h.duckdb"]


def test_run_fresh_never_replaces_a_file_that_is_not_a_history(tmp_path):
    other = tmp_path / "notes.duckdb"
    other.write_text("my notes\n")
    shown = ybstate("run", "--fresh", QUICKSTART, "--db", other)
    assert shown.exit_code == 2 and "not a ybstate history" in _flat(shown.output)
    assert other.read_text() == "my notes\n"


def test_a_run_that_adds_nothing_says_so(history, tmp_path):
    spec = tmp_path / "look.toml"
    spec.write_text('[[steps]]\ndo = "expect"\nsql = "SELECT count(*) > 0 FROM events"\nequals = true\n')
    shown = ybstate("run", spec, "--db", history)
    assert shown.exit_code == 0 and "nothing new stored (it holds events 1.." in _flat(shown.output)


def test_seeds_are_not_negative(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text("seed = -1\n")
    shown = ybstate("run", spec, "--db", tmp_path / "h.duckdb")
    assert shown.exit_code == 2 and "'seed' must be 0.." in _flat(shown.output)
    shown = ybstate("simulate", "--seed", "-1", "--steps", "3")
    assert shown.exit_code == 2 and "-1 is not in the range" in _flat(shown.output)


def test_a_task_started_without_wait_is_driven_to_its_end_or_cancelled(history):
    started = ybstate(
        "call", "--db", history, "tenant_backup_start", "tenant=shop", "destination=/backup/again"
    )
    assert started.exit_code == 0
    task_id = int(started.output.split()[2])
    shown = ybstate("task", "--db", history, "backup", task_id)
    assert shown.exit_code == 0 and f"backup task {task_id} COMPLETED" in _flat(shown.output)
    shown = ybstate("task", "--db", history, "backup", task_id)
    assert shown.exit_code == 1 and "is over already" in _flat(shown.output)
    started = ybstate("call", "--db", history, "tenant_restore_start", "source=shop", "target=later")
    assert started.exit_code == 0
    restore_id = int(started.output.split()[2])
    shown = ybstate("task", "--db", history, "--cancel", "restore", restore_id)
    assert shown.exit_code == 0 and f"restore {restore_id} cancelled" in _flat(shown.output)
    assert ybstate("task", "--db", history, "restore", 99).exit_code == 2
    assert ybstate("replay", "--db", history).exit_code == 0
    assert ybstate("verify", "--db", history).exit_code == 0


# -- long simulations keep what they did ---------------------------------------------------------


def test_an_interrupted_simulation_keeps_a_replayable_prefix_and_resumes_to_the_same_history(
    tmp_path, monkeypatch
):
    real = cli_module.run_simulation

    def interrupted(spec, **options):
        step = options["on_step"]

        def on_step(i, action, events, state):
            step(i, action, events, state)
            if i == 150:
                raise KeyboardInterrupt

        return real(spec, **{**options, "on_step": on_step})

    monkeypatch.setattr(cli_module._SimulationWriter, "BATCH", 40)
    monkeypatch.setattr(cli_module, "run_simulation", interrupted)
    db = tmp_path / "s.duckdb"
    shown = ybstate("simulate", "--seed", 5, "--steps", 300, "--db", db)
    assert shown.exit_code == 130 and "stored in" in _flat(shown.output) and "resumes" in _flat(shown.output)
    kept = event_rows(db)
    assert 40 <= len(kept) <= 170  # whole batches of 40, each ending at a recorded fingerprint
    assert ybstate("replay", "--db", db).exit_code == 0
    monkeypatch.setattr(cli_module, "run_simulation", real)
    assert ybstate("simulate", "--seed", 5, "--steps", 300, "--db", db).exit_code == 0
    fresh = tmp_path / "fresh.duckdb"
    assert ybstate("simulate", "--seed", 5, "--steps", 300, "--db", fresh).exit_code == 0
    assert event_rows(db) == event_rows(fresh) and event_rows(db)[: len(kept)] == kept
    assert ybstate("replay", "--db", db).exit_code == 0


def test_a_simulation_does_not_resume_a_history_it_did_not_write(tmp_path, history):
    before = _digest(history)
    shown = ybstate("simulate", "--seed", 1, "--steps", 5, "--db", history)
    assert shown.exit_code == 2 and "not a prefix of this simulation" in _flat(shown.output)
    assert _digest(history) == before
    db = tmp_path / "s.duckdb"
    assert ybstate("simulate", "--seed", 1, "--steps", 20, "--db", db).exit_code == 0
    shown = ybstate("simulate", "--seed", 2, "--steps", 20, "--db", db)
    assert shown.exit_code == 2 and "not a prefix of this simulation" in _flat(shown.output)
