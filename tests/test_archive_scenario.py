"""Log archiving at the surfaces a user sees: the bundled specs/archive.toml and
specs/retention.toml, the scenario steps and faults of issue 4 (parsed and run), the
``ybstate window`` command, and the tenant_incremental_backup_start / _stop commands."""

from __future__ import annotations

import tomllib
from collections import Counter
from functools import reduce

import pytest
from click.testing import CliRunner
from histories import REPO, RETENTION, act, backup_world, commit_rows, drive_backup, duck_query

from ybstate.archive.actions import ReadEntries, RecycleLog, SealPiece
from ybstate.archive.events import ArchiveStarted, ArchiveStopped
from ybstate.archive.window import restorable_window
from ybstate.backup.actions import StartBackup
from ybstate.cli import cli
from ybstate.cluster.actions import Freeze
from ybstate.cluster.state import ClusterState
from ybstate.commands import ResultCode, tenant_incremental_backup_start, tenant_incremental_backup_stop
from ybstate.errors import ScenarioFailed, SpecError
from ybstate.history import open_history, verify_store
from ybstate.model import apply, decide, fingerprint, fingerprint_hex
from ybstate.scenario import RunResult, load_scenario, parse_scenario, run_scenario
from ybstate.store import DuckDBStore

R = ResultCode
ARCHIVE = REPO / "specs" / "archive.toml"
SPECS = {"archive": ARCHIVE, "retention": RETENTION}
ARCHIVE_INVARIANTS = {"archive_backup_first_pins", "archive_pieces_consecutive", "archive_reads_kept"}
# The event each kind of step makes when it is accepted (a rejected one must leave none).
OWN_EVENT = {"archive_start": "archive.started", "recycle_log": "cluster.log_recycled"}


def _flat(text: str) -> str:
    """Output with rich's line wrapping undone."""
    return " ".join(text.split())


# -- the bundled scenarios, each run once into a history file -----------------------------------


@pytest.fixture(scope="module")
def bundled(tmp_path_factory) -> dict[str, tuple[object, RunResult]]:
    """{spec name: (history file, run result)} for specs/archive.toml and specs/retention.toml."""
    where = tmp_path_factory.mktemp("bundled")
    ran = {}
    for name, spec in SPECS.items():
        path = where / f"{name}.duckdb"
        with DuckDBStore(path) as store:
            ran[name] = (path, run_scenario(load_scenario(spec), store, query=duck_query(store)))
    return ran


def _sql(path, query: str) -> list[tuple]:
    with open_history(path) as store:
        return [tuple(row) for row in store.con.execute(query).fetchall()]


def _invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_a_bundled_archiving_scenario_runs_every_step_and_every_expectation_holds(bundled, name):
    path, result = bundled[name]
    declared = tomllib.loads(SPECS[name].read_text())["steps"]
    assert [o.kind for o in result.outcomes] == [step["do"] for step in declared]
    assert [o.number for o in result.outcomes] == list(range(1, len(declared) + 1))
    rejected = expects = 0
    for outcome, step in zip(result.outcomes, declared, strict=True):
        if step.get("expect") == "rejected":
            assert outcome.note.startswith("rejected as expected"), outcome
            rejected += 1
        elif step["do"] == "expect":
            assert outcome.note.startswith("holds"), outcome
            expects += 1
    assert (rejected, expects) == {"archive": (2, 3), "retention": (3, 4)}[name]
    with open_history(path) as store:
        assert store.fingerprint() == (result.state.seq, fingerprint_hex(result.state))


@pytest.mark.parametrize("name", sorted(SPECS))
def test_a_rejected_step_of_a_bundled_scenario_stores_none_of_its_own_events(bundled, name):
    """Only the archivers' catch-up after a rejected step may store events, never the step's."""
    path, result = bundled[name]
    types = dict(_sql(path, f"SELECT seq, type FROM events WHERE seq >= {result.first_seq}"))
    set_up = result.events - sum(o.events for o in result.outcomes)  # Start, tenants and tables
    seq = result.first_seq + set_up
    checked = 0
    for outcome in result.outcomes:
        step_types = [types[s] for s in range(seq, seq + outcome.events)]
        seq += outcome.events
        if outcome.note.startswith("rejected as expected"):
            assert all(t.startswith("archive.") for t in step_types), (outcome, step_types)
            assert OWN_EVENT[outcome.kind] not in step_types, outcome
            checked += 1
    assert seq == result.state.seq + 1
    assert checked == {"archive": 2, "retention": 3}[name]


@pytest.mark.parametrize("name", sorted(SPECS))
def test_ybstate_verify_reports_no_violated_invariant_over_a_bundled_scenario(bundled, name):
    path, _ = bundled[name]
    verified = _invoke("verify", "--db", str(path))
    assert verified.exit_code == 0, verified.output
    assert "violated" not in verified.output
    with open_history(path) as store:
        results = verify_store(store)
    assert {r.name for r in results} >= ARCHIVE_INVARIANTS | {"history_replays"}
    assert [(r.name, r.violations) for r in results if not r.ok] == []


@pytest.mark.parametrize("name", sorted(SPECS))
def test_ybstate_replay_reproduces_the_fingerprint_stored_by_a_bundled_scenario(bundled, name):
    path, result = bundled[name]
    replayed = _invoke("replay", "--db", str(path))
    assert replayed.exit_code == 0, replayed.output
    assert f"{result.events} events replayed; fingerprint {fingerprint_hex(result.state)}" in replayed.stdout
    assert "matches the recorded fingerprint" in replayed.stdout


def test_retention_leaves_feed_three_holes_with_their_reasons_and_shop_none(bundled):
    path, _ = bundled["retention"]
    holes = _sql(
        path,
        "SELECT t.name, h.first_log_id, h.last_log_id, h.reason "
        "FROM tenant_archive_holes h JOIN tenants t USING (tenant_id) ORDER BY t.name, h.first_log_id",
    )
    assert holes == [
        ("feed", 93, 110, "recycled log"),
        ("feed", 122, 126, "crash before a seal"),
        ("feed", 127, 138, "recycled log"),
    ]


def test_archive_scenario_leaves_one_stopped_hole_from_the_stop_to_the_second_run(bundled):
    path, result = bundled["archive"]
    ((stopped_through,),) = _sql(
        path, "SELECT CAST(payload ->> 'last_log_id' AS BIGINT) FROM events WHERE type = 'archive.stopped'"
    )
    starts = _sql(
        path,
        "SELECT CAST(payload ->> 'start_log_id' AS BIGINT) FROM events "
        "WHERE type = 'archive.started' ORDER BY seq",
    )
    assert len(starts) == 2 and starts[1][0] > stopped_through + 1
    shop = result.state.tenant_named("shop").tenant_id
    expected = [(shop, stopped_through + 1, starts[1][0] - 1, "stopped")]
    assert _sql(path, "SELECT * FROM tenant_archive_holes") == expected


def test_archive_scenario_archives_each_shop_entry_exactly_once_despite_the_crash(bundled):
    path, result = bundled["archive"]
    state = result.state
    shop = state.tenant_named("shop").tenant_id
    (crash,) = [s for s in tomllib.loads(ARCHIVE.read_text())["steps"] if s.get("kind") == "archiver_crash"]
    lost = _sql(
        path, "SELECT CAST(payload ->> 'lost_entries' AS BIGINT) FROM events WHERE type = 'archive.crashed'"
    )
    assert lost == [(crash["read"],)]  # every entry it read before the crash was one it keeps
    archived = Counter(
        e.log_id
        for p in state.pieces.values()
        if p.tenant_id == shop
        for e in p.entries
        if getattr(e, "tenant_id", None) == shop
    )
    assert set(archived.values()) == {1}
    window = restorable_window(state, shop)
    runs = [range(c.first_log_id, c.last_log_id + 1) for c in window.covered]
    expected = {
        log_id
        for log_id, entry in state.log.items()
        if getattr(entry, "tenant_id", None) == shop and any(log_id in run for run in runs)
    }
    assert set(archived) == expected
    (hole,) = window.holes
    assert len(expected) > 50 and not any(hole.first_log_id <= i <= hole.last_log_id for i in archived)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_the_restorable_window_from_state_equals_the_sql_views_for_every_tenant(bundled, name):
    path, result = bundled[name]
    state = result.state
    intervals = _sql(
        path, "SELECT tenant_id, from_ts, to_ts, backup_set_id FROM tenant_restorable_window ORDER BY ALL"
    )
    holes = _sql(
        path, "SELECT tenant_id, first_log_id, last_log_id, reason FROM tenant_archive_holes ORDER BY ALL"
    )
    compared = 0
    for tenant in sorted(state.tenants.values(), key=lambda t: t.tenant_id):
        window = restorable_window(state, tenant.tenant_id)
        assert [row[1:] for row in intervals if row[0] == tenant.tenant_id] == [
            (i.from_ts, i.to_ts, i.set_id) for i in window.intervals
        ], tenant.name
        assert [row[1:] for row in holes if row[0] == tenant.tenant_id] == [
            (h.first_log_id, h.last_log_id, h.reason) for h in window.holes
        ], tenant.name
        compared += len(window.intervals) + len(window.holes)
    assert compared == len(intervals) + len(holes) == {"archive": 3, "retention": 6}[name]


def test_retention_feed_window_ends_at_its_first_hole_and_a_new_set_starts_a_new_interval(bundled):
    _, result = bundled["retention"]
    state = result.state
    feed, shop = (state.tenant_named(n).tenant_id for n in ("feed", "shop"))

    log_id_at = {state.log[i].time: i for i in range(1, state.last_log_id + 1)}

    def intervals(tenant_id: int) -> list[tuple[int, int, int]]:
        """(set, first, last): each interval's ends as the log ids whose ts they are."""
        return [
            (i.set_id, log_id_at[i.from_ts], log_id_at[i.to_ts])
            for i in restorable_window(state, tenant_id).intervals
        ]

    assert intervals(feed) == [(2, 42, 92), (3, 138, 163)]
    assert intervals(shop) == [(1, 42, 163)]


# -- scenario validation errors -------------------------------------------------------------------

HEAD = """\
name = "a"
seed = 7

[cluster]
piece_entries = 4

[[tenants]]
name = "shop"
tables = { orders = 1 }

[[tenants]]
name = "feed"
tables = { events = 1 }
log_retention = "business_first"
"""


def _step(do: str, **keys: object) -> str:
    lines = [f'\n[[steps]]\ndo = "{do}"']
    for key, value in keys.items():
        lines.append(f"{key} = {value!r}" if not isinstance(value, str) else f'{key} = "{value}"')
    return "\n".join(lines) + "\n"


def _write(tenant: str, key: str) -> str:
    table = {"shop": "orders", "feed": "events"}[tenant]
    return f'\n[[steps]]\ndo = "write"\ntenant = "{tenant}"\nput = [["{table}", "{key}", "v"]]\n'


@pytest.mark.parametrize(
    ("step", "words"),
    [
        (
            _step("archive_start", tenant="shop", start_log_id=-1),
            ["'start_log_id' must be 0 (from the newest backup set) or more, found -1"],
        ),
        (
            _step("fault", kind="archiver_crash", tenant="shop", read=-1),
            ["fault: 'read' must be 0 or more, found -1"],
        ),
        (
            _step("fault", kind="archiver_crash", tenant="shop", steps=-2),
            ["'steps' (how long the archiver stays down) must be 0 or more, found -2"],
        ),
        (_step("fault", kind="archiver_stall", tenant="shop"), ["fault needs key 'steps'"]),
        (
            _step("fault", kind="archiver_stall", tenant="shop", steps=0),
            ["fault: 'steps' must be at least 1, found 0"],
        ),
        (
            _step("recycle_log", through=-5),
            ["recycle_log: 'through' must be 0 (as far as allowed) or a log id, found -5"],
        ),
        (_step("recycle_log", upto=3), ["recycle_log: unexpected key 'upto'", "'through'"]),
        (_step("recycle_log", tenant="shop"), ["recycle_log: unexpected key 'tenant'"]),
    ],
    ids=[
        "archive_start-negative-start",
        "crash-negative-read",
        "crash-negative-steps",
        "stall-without-steps",
        "stall-zero-steps",
        "recycle-negative-through",
        "recycle-unknown-key",
        "recycle-tenant-key",
    ],
)
def test_a_malformed_archiving_step_is_a_spec_error_naming_the_file_and_step(step, words):
    text = HEAD + _write("shop", "o1") + step
    with pytest.raises(SpecError) as caught:
        parse_scenario(text, "x.toml")
    error = caught.value
    assert (error.path, error.step) == ("x.toml", 2)
    assert str(error).startswith("x.toml, step 2: ")
    for word in words:
        assert word in str(error)


def test_an_unknown_log_retention_is_a_spec_error_naming_the_file_and_the_choices():
    text = HEAD.replace('log_retention = "business_first"', 'log_retention = "sometimes"')
    with pytest.raises(SpecError) as caught:
        parse_scenario(text, "x.toml")
    error = caught.value
    assert (error.path, error.step) == ("x.toml", None)
    assert str(error) == (
        "x.toml: tenant 'feed': 'log_retention' must be one of ['backup_first', 'business_first'], "
        "found 'sometimes'"
    )


# -- the runner: stalls, crashes, recycling, restarts ----------------------------------------------

# Both tenants write, a freeze, a backup of each, and both archivers start from their sets'
# start_replay_log_id: log ids 1-2 are the DDL, 3-6 the writes, 7 the freeze; archiving
# starts at 8 with both checkpoints at 7. Steps 1..7; the steps of each test follow.
ARCHIVING = (
    HEAD
    + _write("shop", "o1")
    + _write("feed", "e1")
    + _step("freeze")
    + _step("backup", tenant="shop")
    + _step("backup", tenant="feed")
    + _step("archive_start", tenant="shop")
    + _step("archive_start", tenant="feed")
)
SET_UP = 7
CHECKPOINTS = (
    "SELECT t.name, checkpoint_log_id "
    "FROM __all_tenant_incremental_checkpoint JOIN tenants t USING (tenant_id)"
)


def _run(steps: str) -> tuple[RunResult, list[tuple[int, dict[str, int]]], DuckDBStore]:
    """Run ARCHIVING + ``steps``: the result, and after each step from SET_UP on, the step
    number with each tenant's stored checkpoint_log_id."""
    store = DuckDBStore(":memory:")
    seen = []

    def checkpoints(outcome) -> None:
        if outcome.number >= SET_UP:
            seen.append((outcome.number, dict(store.con.execute(CHECKPOINTS).fetchall())))

    result = run_scenario(
        parse_scenario(ARCHIVING + steps, "x.toml"), store, query=duck_query(store), on_step=checkpoints
    )
    return result, seen, store


def _violations(store: DuckDBStore) -> list[tuple[str, tuple]]:
    return [(r.name, r.violations) for r in verify_store(store) if not r.ok]


def _notes(result: RunResult) -> list[str]:
    return [o.note for o in result.outcomes[SET_UP:]]


def test_an_archiver_stall_holds_the_checkpoint_still_for_exactly_its_steps_then_catches_up():
    steps = _step("fault", kind="archiver_stall", tenant="shop", steps=2) + "".join(
        _write("shop", f"o{i}") for i in range(2, 6)
    )
    result, seen, store = _run(steps)
    assert _notes(result)[0] == "armed: the archiver reads nothing during the next 2 steps"
    # step 8 arms the stall, steps 9 and 10 write two entries each while shop sits out,
    # step 11 catches up through log id 13, step 12 through 15; feed keeps up throughout.
    assert seen == [
        (7, {"shop": 7, "feed": 7}),
        (8, {"shop": 7, "feed": 7}),
        (9, {"shop": 7, "feed": 9}),
        (10, {"shop": 7, "feed": 11}),
        (11, {"shop": 13, "feed": 13}),
        (12, {"shop": 15, "feed": 15}),
    ]
    shop = result.state.tenant_named("shop").tenant_id
    assert result.state.archivers[shop].checkpoint.last_log_id == 15
    assert store.con.execute("SELECT count(*) FROM tenant_archive_holes").fetchone() == (0,)


def test_an_archiver_crash_keeps_it_down_for_its_steps_then_it_re_reads_what_it_lost():
    steps = _step("fault", kind="archiver_crash", tenant="shop", read=2, steps=2) + "".join(
        _write("shop", f"o{i}") for i in range(2, 6)
    )
    result, seen, store = _run(steps)
    assert _notes(result)[0] == (
        "armed: the archiver crashes after reading 2 entries, before sealing them, and stays down for 2 steps"
    )
    # The crash strikes in step 9's catch-up (the first with something to read), losing
    # log ids 8-9; steps 10 and 11 are down; step 12 reads everything from log id 8 again.
    assert [(n, c["shop"]) for n, c in seen] == [(7, 7), (8, 7), (9, 7), (10, 7), (11, 7), (12, 15)]
    crashed = store.con.execute(
        "SELECT CAST(payload ->> 'lost_entries' AS BIGINT), CAST(payload ->> 'restart_log_id' AS BIGINT) "
        "FROM events WHERE type = 'archive.crashed'"
    ).fetchall()
    assert crashed == [(2, 8)]
    state = result.state
    shop = state.tenant_named("shop").tenant_id
    pieces = sorted((p for p in state.pieces.values() if p.tenant_id == shop), key=lambda p: p.piece_no)
    assert [(p.first_log_id, p.last_log_id) for p in pieces] == [(8, 11), (12, 15)]
    archived = Counter(e.log_id for p in pieces for e in p.entries if getattr(e, "tenant_id", None) == shop)
    tenant_entries = [i for i, e in state.log.items() if getattr(e, "tenant_id", None) == shop and i >= 8]
    assert archived == Counter(tenant_entries) and tenant_entries == list(range(8, 16))
    assert store.con.execute("SELECT count(*) FROM tenant_archive_holes").fetchone() == (0,)
    assert _violations(store) == []


def test_recycling_before_any_freeze_is_rejected_and_stores_nothing():
    text = HEAD + _write("shop", "o1") + _step("recycle_log", expect="rejected")
    with DuckDBStore(":memory:") as store:
        result = run_scenario(parse_scenario(text, "x.toml"), store, query=duck_query(store))
        assert result.outcomes[1].events == 0
        assert result.outcomes[1].note == (
            "rejected as expected: cannot recycle the log through log id 0: nothing more may be recycled "
            "after log id 0 (no freeze yet: no baseline holds what the log wrote)"
        )
        assert store.con.execute(
            "SELECT count(*) FROM events WHERE type = 'cluster.log_recycled'"
        ).fetchone() == (0,)
        assert result.state.recycled_through == 0


def test_recycling_past_a_running_backup_first_archivers_sealed_log_is_rejected_naming_the_tenant():
    steps = (
        _step("fault", kind="archiver_stall", tenant="shop", steps=2)
        + _write("shop", "o2")
        + _step("freeze")
        + _step("recycle_log", through=10, expect="rejected")
    )
    result, _, _ = _run(steps)
    assert _notes(result)[3] == (
        "rejected as expected: cannot recycle the log through log id 10: tenant 'shop' archives backup "
        "first and has sealed its log through log id 7, so log id 7 is the furthest"
    )
    assert result.state.recycled_through == 0
    with pytest.raises(ScenarioFailed) as caught:
        _run(steps.replace('expect = "rejected"\n', ""))
    assert (caught.value.step, caught.value.kind) == (SET_UP + 4, "recycle_log")
    assert "tenant 'shop' archives backup first" in caught.value.reason


def test_recycling_log_a_stalled_business_first_archiver_has_not_read_leaves_a_recycled_log_hole():
    steps = (
        _step("fault", kind="archiver_stall", tenant="feed", steps=2)
        + _write("feed", "e2")
        + _step("freeze")
        + _step("recycle_log")
        + _write("feed", "e3")
    )
    result, seen, store = _run(steps)
    assert _notes(result)[3] == "log recycled through log id 10"
    rows = store.con.execute(
        "SELECT t.name, first_log_id, last_log_id, reason "
        "FROM tenant_archive_holes JOIN tenants t USING (tenant_id)"
    ).fetchall()
    assert rows == [("feed", 8, 10, "recycled log")]
    assert seen[-1] == (12, {"shop": 12, "feed": 12})
    feed = result.state.tenant_named("feed").tenant_id
    window = restorable_window(result.state, feed)
    assert [(c.run, c.first_log_id, c.last_log_id) for c in window.covered] == [(2, 11, 12)]
    assert window.intervals == ()  # set 2 replays from log id 8, which is in the hole
    assert _violations(store) == []


def test_archive_start_from_a_recycled_log_id_is_rejected_naming_the_first_kept_log_id():
    steps = (
        _step("freeze")
        + _step("recycle_log")
        + _step("archive_stop", tenant="feed")
        + _step("archive_start", tenant="feed", start_log_id=3, expect="rejected")
    )
    result, _, store = _run(steps)
    assert _notes(result)[1] == "log recycled through log id 8"
    assert _notes(result)[3] == (
        "rejected as expected: log archiving of tenant 'feed': start log id 3 is already recycled "
        "(the log is kept from log id 9)"
    )
    assert store.con.execute("SELECT count(*) FROM events WHERE type = 'archive.started'").fetchone() == (2,)
    with pytest.raises(
        ScenarioFailed, match=r"start log id 3 is already recycled \(the log is kept from log id 9\)"
    ):
        _run(steps.replace('expect = "rejected"\n', ""))


def test_archive_start_after_a_stop_carries_on_right_after_the_checkpoint_without_a_hole():
    steps = (
        _write("shop", "o2")
        + _step("archive_stop", tenant="shop")
        + _write("shop", "o3")
        + _step("archive_start", tenant="shop")
        + _write("shop", "o4")
    )
    result, seen, store = _run(steps)
    # The newest set replays from log id 8, already archived: the second run starts at 10.
    assert _notes(result)[1] == "archiving stopped, archived through log id 9"
    assert _notes(result)[3] == "archiving from log id 10 (run 2)"
    started = store.con.execute(
        "SELECT CAST(payload ->> 'start_log_id' AS BIGINT), CAST(payload ->> 'hole_first' AS BIGINT), "
        "CAST(payload ->> 'run' AS BIGINT) FROM events WHERE type = 'archive.started' AND tenant_id = 1001 "
        "ORDER BY seq"
    ).fetchall()
    assert started == [(8, 0, 1), (10, 0, 2)]
    assert store.con.execute("SELECT count(*) FROM tenant_archive_holes").fetchone() == (0,)
    assert seen[-1] == (12, {"shop": 13, "feed": 13})
    shop = result.state.tenant_named("shop").tenant_id
    assert shop == 1001
    window = restorable_window(result.state, shop)
    assert [(c.run, c.first_log_id, c.last_log_id) for c in window.covered] == [(1, 8, 9), (2, 10, 13)]
    (interval,) = window.intervals  # the two runs meet: one interval from set 1 to the end
    assert (interval.set_id, interval.to_ts) == (1, result.state.log[13].time)


# -- ybstate window ---------------------------------------------------------------------------------


def test_ybstate_window_prints_feeds_intervals_runs_and_each_hole_with_its_reason(bundled):
    path, result = bundled["retention"]
    ts = {i: result.state.log[i].time for i in (42, 92, 121, 138, 150, 163)}
    shown = _invoke("window", "--db", str(path), "--tenant", "feed")
    assert shown.exit_code == 0, shown.output
    text = _flat(shown.stdout)
    assert "restorable window of feed" in text
    assert f"{ts[42]} │ {ts[92]} │ 2" in text
    assert f"{ts[138]} │ {ts[163]} │ 3" in text
    lines = [line for line in shown.stdout.splitlines() if line.startswith(("run ", "hole: "))]
    assert lines == [
        f"run 1: log ids 43..92 archived, up to ts {ts[92]}",
        f"run 2: log ids 111..121 archived, up to ts {ts[121]}",
        f"run 3: log ids 139..150 archived, up to ts {ts[150]}",
        f"run 4: log ids 151..163 archived, up to ts {ts[163]}",
        "hole: log ids 93..110 (recycled log)",
        "hole: log ids 122..126 (crash before a seal)",
        "hole: log ids 127..138 (recycled log)",
    ]


def test_ybstate_window_of_a_backup_first_tenant_prints_one_run_and_no_hole(bundled):
    path, result = bundled["retention"]
    first, last = result.state.log[42].time, result.state.log[163].time
    shown = _invoke("window", "--db", str(path), "--tenant", "shop")
    assert shown.exit_code == 0, shown.output
    assert f"{first} │ {last} │ 1" in _flat(shown.stdout)
    assert [line for line in shown.stdout.splitlines() if line.startswith(("run ", "hole: "))] == [
        f"run 1: log ids 43..163 archived, up to ts {last}"
    ]


def test_ybstate_window_of_a_tenant_that_never_archived_says_it_has_no_restorable_time(bundled):
    path, _ = bundled["retention"]
    shown = _invoke("window", "--db", str(path), "--tenant", "blog")
    assert shown.exit_code == 0, shown.output
    assert "no restorable time: no completed backup set is covered by archived log" in shown.stdout
    assert "hole:" not in shown.stdout


def test_ybstate_window_of_an_unknown_tenant_exits_2_naming_it_and_the_tenants(bundled):
    path, _ = bundled["retention"]
    shown = _invoke("window", "--db", str(path), "--tenant", "nobody")
    assert shown.exit_code == 2
    message = _flat(shown.stderr)
    assert "unknown tenant 'nobody'" in message
    assert "['blog', 'feed', 'shop', 'sys']" in message
    assert shown.stdout == ""


def test_ybstate_window_of_a_missing_history_exits_2(tmp_path):
    shown = _invoke("window", "--db", str(tmp_path / "absent.duckdb"), "--tenant", "feed")
    assert shown.exit_code == 2
    assert "no such history file" in _flat(shown.stderr)
    assert not (tmp_path / "absent.duckdb").exists()


# -- tenant_incremental_backup_start / _stop -------------------------------------------------------


def backed_up() -> ClusterState:
    """shop has a completed backup set replaying from log id 6 (1-2 DDL, 3-4 a write, 5 the
    freeze); blog has none. Nothing archives yet."""
    state = backup_world({"shop": {"orders": 2}, "blog": {"posts": 1}})
    state = commit_rows(state, "shop", {("orders", "o1"): "a", ("orders", "o2"): "b"})
    state = act(state, Freeze())[0]
    (started,) = decide(state, StartBackup(tenant="shop", destination="/backup/shop"))
    state = apply(state, started)
    return drive_backup(state, started.task_id)[0]


def archiving(state: ClusterState) -> ClusterState:
    reply = tenant_incremental_backup_start(state, "shop", "/backup/shop")
    assert reply.ok, reply.message
    return reduce(apply, reply.events, state)


def recycled(state: ClusterState) -> ClusterState:
    return act(state, RecycleLog())[0]


def refused(reply, code: ResultCode, *words: str) -> None:
    assert (reply.code, reply.ok, reply.value, reply.events) == (code, False, None, ())
    for word in words:
        assert word in reply.message, reply.message


def test_incremental_start_answers_the_backup_sets_start_replay_log_id_and_the_started_event():
    state = backed_up()
    assert state.backup_sets[1].start_replay_log_id == 6
    reply = tenant_incremental_backup_start(state, "shop", "/backup/./shop//")
    assert (reply.code, reply.ok, reply.value, reply.message) == (R.OB_SUCCESS, True, 6, "")
    (event,) = reply.events
    assert isinstance(event, ArchiveStarted)
    assert (event.tenant_id, event.destination, event.start_log_id, event.run) == (1001, "/backup/shop", 6, 1)
    assert (event.hole_first, event.hole_last) == (0, 0)
    assert len(state.archivers) == 0  # the caller applies the events


def test_incremental_start_with_a_start_log_id_answers_that_log_id():
    reply = tenant_incremental_backup_start(backed_up(), "blog", "/backup/blog", start_log_id=2)
    assert (reply.code, reply.value) == (R.OB_SUCCESS, 2)
    assert reply.events[0].start_log_id == 2


def test_incremental_stop_answers_the_log_id_archived_through():
    state = commit_rows(archiving(backed_up()), "shop", {("orders", "o3"): "c"})  # log ids 6-7
    state = act(state, ReadEntries(tenant_id=1001, count=10), SealPiece(tenant_id=1001))[0]
    reply = tenant_incremental_backup_stop(state, "shop")
    assert (reply.code, reply.ok, reply.value) == (R.OB_SUCCESS, True, 7)
    (event,) = reply.events
    assert isinstance(event, ArchiveStopped) and (event.tenant_id, event.last_log_id) == (1001, 7)


def test_incremental_start_of_an_unknown_tenant_answers_tenant_not_exist():
    refused(
        tenant_incremental_backup_start(backed_up(), "nobody", "/backup/x"), R.OB_TENANT_NOT_EXIST, "'nobody'"
    )


def test_incremental_stop_of_an_unknown_tenant_answers_tenant_not_exist():
    refused(tenant_incremental_backup_stop(backed_up(), "nobody"), R.OB_TENANT_NOT_EXIST, "'nobody'")


@pytest.mark.parametrize("destination", ["/elsewhere/shop", "/backup", "backup/shop", "/backup/../etc"])
def test_incremental_start_into_a_destination_outside_the_root_answers_dest_not_allowed(destination):
    reply = tenant_incremental_backup_start(backed_up(), "shop", destination)
    refused(reply, R.OB_BACKUP_DEST_NOT_ALLOWED, repr(destination), "'/backup'")


def test_incremental_start_while_archiving_runs_answers_archive_rejected():
    reply = tenant_incremental_backup_start(archiving(backed_up()), "shop", "/backup/shop")
    refused(reply, R.OB_ARCHIVE_REJECTED, "an archiver is already running")
    assert int(reply.code) == -9010


def test_incremental_stop_when_nothing_archives_answers_archive_rejected():
    refused(
        tenant_incremental_backup_stop(backed_up(), "shop"), R.OB_ARCHIVE_REJECTED, "no archiver is running"
    )


def test_incremental_start_without_a_backup_set_answers_archive_rejected():
    reply = tenant_incremental_backup_start(backed_up(), "blog", "/backup/blog")
    refused(reply, R.OB_ARCHIVE_REJECTED, "no completed backup set to extend")


@pytest.mark.parametrize(
    ("start_log_id", "why"), [(7, "is not in the log (1..6)"), (-1, "is not in the log")]
)
def test_incremental_start_outside_the_log_answers_archive_rejected(start_log_id, why):
    reply = tenant_incremental_backup_start(backed_up(), "shop", "/backup/shop", start_log_id=start_log_id)
    refused(reply, R.OB_ARCHIVE_REJECTED, f"start log id {start_log_id} {why}")


def test_incremental_start_from_a_recycled_log_id_answers_log_recycled_naming_the_first_kept_id():
    state = recycled(backed_up())
    assert state.recycled_through == 5
    reply = tenant_incremental_backup_start(state, "shop", "/backup/shop", start_log_id=3)
    refused(
        reply, R.OB_ARCHIVE_LOG_RECYCLED, "start log id 3 is already recycled (the log is kept from log id 6)"
    )
    assert int(reply.code) == -9011


def test_incremental_start_from_a_backup_set_whose_replay_log_is_recycled_answers_log_recycled():
    state = commit_rows(backed_up(), "shop", {("orders", "o3"): "c"})  # log ids 6-7
    state = recycled(act(state, Freeze())[0])  # the freeze is log id 8
    assert state.recycled_through == 8
    reply = tenant_incremental_backup_start(state, "shop", "/backup/shop")
    refused(
        reply, R.OB_ARCHIVE_LOG_RECYCLED, "start log id 6 is already recycled (the log is kept from log id 9)"
    )


@pytest.mark.parametrize("start_log_id", ["6", 6.0, True, None, [6]])
def test_incremental_start_with_a_start_log_id_that_is_not_an_int_answers_invalid_argument(start_log_id):
    reply = tenant_incremental_backup_start(backed_up(), "shop", "/backup/shop", start_log_id=start_log_id)
    refused(reply, R.OB_INVALID_ARGUMENT, "start_log_id must be an int")


def test_incremental_start_with_a_destination_that_is_not_a_string_answers_invalid_argument():
    refused(
        tenant_incremental_backup_start(backed_up(), "shop", 7), R.OB_INVALID_ARGUMENT, "destination a str"
    )


@pytest.mark.parametrize("command", ["start", "stop"])
def test_incremental_commands_with_a_tenant_that_is_not_a_string_answer_invalid_argument(command):
    state = backed_up()
    if command == "start":
        reply = tenant_incremental_backup_start(state, ["shop"], "/backup/shop")
    else:
        reply = tenant_incremental_backup_stop(state, ["shop"])
    refused(reply, R.OB_INVALID_ARGUMENT)


def test_a_refused_incremental_command_changes_nothing():
    state = archiving(backed_up())
    before = fingerprint(state)
    replies = [
        tenant_incremental_backup_start(state, "nobody", "/backup/x"),
        tenant_incremental_backup_start(state, "blog", "/etc/blog"),
        tenant_incremental_backup_start(state, "shop", "/backup/shop"),
        tenant_incremental_backup_start(state, "blog", "/backup/blog", start_log_id="1"),
        tenant_incremental_backup_stop(state, "blog"),
        tenant_incremental_backup_stop(state, "nobody"),
    ]
    assert [r.code for r in replies] == [
        R.OB_TENANT_NOT_EXIST,
        R.OB_BACKUP_DEST_NOT_ALLOWED,
        R.OB_ARCHIVE_REJECTED,
        R.OB_INVALID_ARGUMENT,
        R.OB_ARCHIVE_REJECTED,
        R.OB_TENANT_NOT_EXIST,
    ]
    assert all(r.events == () and r.value is None for r in replies)
    assert fingerprint(state) == before
    assert list(state.archivers.keys()) == [1001]
