"""The duration model (ybstate/cluster/costs.py, docs/durations.md): protocol steps take
the time the cluster's cost table gives them, so a restore's RTO, a promotion's downtime
and the archive's lag (RPO) follow the table; durations change when things happen, never
what happens; an exhaustive check explores the untimed protocol unless it asks; a
history stored before the table existed reads back untimed; bad cost tables are refused
with the file, the key, what was expected and what was found.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner
from histories import duck_query, edit_payload, rechain, store_history

from ybstate.archive.events import EntriesRead
from ybstate.checks import check_spec, is_timed, load_check, parse_check, run_check, run_start, timed_for
from ybstate.cli import cli
from ybstate.cluster.actions import Start
from ybstate.cluster.costs import UNTIMED, Costs, shared
from ybstate.cluster.events import ClusterStarted
from ybstate.cluster.state import ClusterConfig
from ybstate.codec import EventCodec
from ybstate.drivers.simulate import simulate
from ybstate.errors import InvalidAction, SpecError
from ybstate.history import replay_store
from ybstate.model import EMPTY, decide, fingerprint_hex
from ybstate.restore.plan import estimate_duration, plan_restore
from ybstate.restore.state import RestorePhase
from ybstate.scenario import load_scenario, parse_scenario, run_scenario
from ybstate.store import DuckDBStore
from ybstate.swarm import run_seed

SPECS = Path(__file__).resolve().parent.parent / "specs"
DOUBLED = Costs(**{k: 2 * v for k, v in attrs.asdict(Costs()).items()})


@cache
def pitr(costs: Costs):
    """specs/pitr.toml run under ``costs``: its final state and events."""
    scenario = load_scenario(SPECS / "pitr.toml")
    scenario = attrs.evolve(scenario, cluster=attrs.evolve(scenario.cluster, costs=costs))
    with DuckDBStore() as store:
        result = run_scenario(scenario, store, query=duck_query(store))
        return result.state, tuple(store.load())


def _restore_work(state, task) -> int:
    """What the cost table charges a fault-free restore: its fetches, each a share of the
    DAG's parallel ones, then each archived entry rewritten (a share of the workers) and
    applied."""
    costs = state.config.costs
    tablets = state.backup_sets[task.set_id].tablets
    parallel = min(state.config.dag_workers, len(tablets))
    fetches = sum(
        shared(costs.tablet_task_us + state.stored[(task.set_id, t)].row_count * costs.row_fetch_us, parallel)
        for t in tablets
    )
    return fetches + task.entries * (shared(costs.entry_rewrite_us, task.workers) + costs.entry_apply_us)


# The fields that name what an event concerns, never when (times, and what is computed from
# times, like a piece's checksum over its entries, differ between timed and untimed runs).
_WHAT = ("seq", "log_id", "first_log_id", "last_log_id", "tenant_id", "tx_id", "task_id", "promotion_id")


def _shape(events) -> list[tuple]:
    """What happened, in order, without when: each event's type and what it concerns."""
    return [(type(e).__name__, tuple(getattr(e, f, None) for f in _WHAT)) for e in events]


def test_a_restore_in_a_shipped_spec_takes_the_time_the_cost_table_gives_it():
    untimed, _ = pitr(UNTIMED)
    timed, _ = pitr(Costs())
    doubled, _ = pitr(DOUBLED)
    runs = (untimed, timed, doubled)
    finished = [t.task_id for t in timed.restores.values() if t.phase is RestorePhase.COMPLETED]
    assert finished == [1, 2, 4]
    for task_id in finished:
        logged, once, twice = (s.restores[task_id].ended_ts - s.restores[task_id].started_ts for s in runs)
        work = _restore_work(timed, timed.restores[task_id])
        assert work > 20_000  # four tablet fetches of 20 ms, shared by four fetchers, and the replay
        # Untimed, a restore lasts only the microsecond each log entry it writes takes;
        # timed, exactly the cost table's work more; about twice that with every cost doubled
        # (a share of the workers is rounded up).
        assert 0 < logged < 100
        assert once - logged == work
        assert twice - logged == _restore_work(doubled, doubled.restores[task_id])
        assert work < twice - logged <= 2 * work


def test_durations_change_when_things_happen_never_what_happens():
    untimed, untimed_events = pitr(UNTIMED)
    timed, timed_events = pitr(Costs())
    assert _shape(untimed_events[1:]) == _shape(timed_events[1:])  # all but ClusterStarted's config
    assert timed.clock > untimed.clock


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_timed_walk_takes_the_same_steps_as_an_untimed_one(seed):
    check = load_check(SPECS / "checks" / "combined_backup_archive_restore_promote.toml")
    walks = []
    for timed in (False, True):
        run = timed_for(attrs.evolve(check, settings=attrs.evolve(check.settings, timed=timed)), "simulation")
        start = run_start(run)
        walk = simulate(check_spec(run, start), seed=seed, steps=300, coverage=False)
        assert walk.violation is None
        walks.append([(type(action).__name__, _shape(events)) for action, events in walk.steps])
    assert walks[0] == walks[1]
    assert len(walks[0]) > 20


def test_restore_preview_estimates_the_restore_it_previews(tmp_path):
    db = tmp_path / "pitr.duckdb"
    ran = CliRunner().invoke(cli, ["run", str(SPECS / "pitr.toml"), "--db", str(db)])
    assert ran.exit_code == 0, ran.output
    shown = CliRunner().invoke(
        cli, ["restore-preview", "--db", str(db), "--tenant", "shop", "--until", "before_mistake", "--json"]
    )
    assert shown.exit_code == 0, shown.output
    estimate = json.loads(shown.stdout)["estimate"]
    timed, _ = pitr(Costs())
    untimed, _ = pitr(UNTIMED)
    task = timed.restores[1]  # restore 1 went to before_mistake from the same set
    assert (task.until_ts, task.set_id) == (
        timed.marks["before_mistake"],
        json.loads(shown.stdout)["backup_set"]["set_id"],
    )
    assert estimate["timed"] is True and estimate["workers"] == task.workers == 3
    assert (
        estimate["total_us"]
        == estimate["baseline_us"] + estimate["incremental_us"]
        == _restore_work(timed, task)
    )
    actual = task.ended_ts - task.started_ts
    logged = untimed.restores[1].ended_ts - untimed.restores[1].started_ts
    assert actual == estimate["total_us"] + logged
    text = CliRunner().invoke(
        cli, ["restore-preview", "--db", str(db), "--tenant", "shop", "--until", "before_mistake"]
    )
    assert "estimated duration" in text.stdout and "4 fetches at once" in text.stdout


def test_more_workers_shorten_the_replay_estimate_and_fewer_lengthen_it():
    state, _ = pitr(Costs())
    plan = plan_restore(state, "shop", "before_mistake")
    one, four = estimate_duration(state, plan, 1), estimate_duration(state, plan, 4)
    assert one.baseline_us == four.baseline_us
    assert one.incremental_us == plan.entries * (40 + 25) > four.incremental_us == plan.entries * (10 + 25)


def test_a_dag_task_takes_its_share_of_the_parallel_ones():
    """One tablet copied alone takes a whole tablet_task_us; four copied by four workers
    take a quarter each, so the backup lasts the same."""
    durations = {}
    for tablets in (1, 4):
        text = f"""
name = "b"
[cluster]
dag_workers = 4
[cluster.costs]
tablet_task_us = 1000
row_copy_us = 0
[[tenants]]
name = "shop"
tables = {{ orders = {tablets} }}
[[steps]]
do = "freeze"
[[steps]]
do = "backup"
tenant = "shop"
"""
        with DuckDBStore() as store:
            result = run_scenario(parse_scenario(text, "b.toml"), store)
        (task,) = result.state.backups.values()
        durations[tablets] = task.ended_ts - task.started_ts
    assert durations == {1: 1000, 4: 1000}


def test_a_promotion_step_takes_promotion_step_us_and_the_downtime_follows():
    with DuckDBStore() as store:
        result = run_scenario(load_scenario(SPECS / "failover.toml"), store, query=duck_query(store))
        events = store.load()
    costs = result.state.config.costs
    (completed,) = [p for p in result.state.promotions.values() if p.status.value == "COMPLETED"]
    # a failover's steps after the fence: schema switch, routing, writes enabled
    assert completed.ended_ts - completed.fenced_ts == 3 * costs.promotion_step_us
    with DuckDBStore() as duck:
        store_history(duck, events, result.state)
        (row,) = duck.con.execute(
            "SELECT downtime_s, duration_s FROM promotions WHERE status = 'COMPLETED'"
        ).fetchall()
    assert row[0] == 3 * costs.promotion_step_us / 1e6
    assert row[1] == (completed.ended_ts - completed.started_ts) / 1e6 >= row[0]


def test_the_archiver_reads_at_its_wake_ups_and_the_lag_view_gives_the_rpo():
    state, events = pitr(Costs())
    wake = state.config.costs.archiver_wake_us
    clock = None
    late = 0
    for event in events:
        if isinstance(event, EntriesRead):
            assert event.time % wake == 0 or event.time == clock  # at a wake-up, or late behind others
            late += event.time == clock
        clock = event.time
    assert late < sum(isinstance(e, EntriesRead) for e in events)
    with DuckDBStore() as duck:
        store_history(duck, events, state)
        rows = duck.con.execute(
            "SELECT tenant_id, max(lag_before_us), min(lag_after_us) FROM archive_lag GROUP BY ALL"
        ).fetchall()
    ((tenant_id, worst, least),) = rows
    assert tenant_id == state.tenant_named("shop").tenant_id
    assert wake // 2 < worst < 10 * wake and least >= 0


def test_an_exhaustive_check_explores_the_untimed_protocol_unless_it_says_timed():
    path = SPECS / "checks" / "restore_two_workers.toml"
    check = load_check(path)
    assert check.settings.timed is None
    assert (is_timed(check, "exhaustive"), is_timed(check, "simulation")) == (False, True)
    assert timed_for(check, "exhaustive").start.cluster.costs == UNTIMED
    assert timed_for(check, "simulation").start.cluster.costs == check.start.cluster.costs == Costs()
    run = run_check(check, max_states=200)
    assert run.to_json()["timed"] is False
    (started,) = [e for e in run.start_events if isinstance(e, ClusterStarted)]
    assert started.config.costs == UNTIMED  # stored with the start: a counterexample replays untimed
    text = path.read_text().replace("[check]", "[check]\ntimed = true", 1)
    timed = run_check(parse_check(text, str(path)), max_states=200)
    assert timed.to_json()["timed"] is True
    walked = run_check(check, mode="simulation", seeds=1, steps=20)
    assert walked.to_json()["timed"] is True


def test_a_history_stored_before_the_cost_table_reads_back_untimed(tmp_path):
    codec = EventCodec()
    state, events = pitr(UNTIMED)
    payload = codec.to_payload(events[0])
    del payload["config"]["costs"]
    assert codec.from_payload("cluster.started", payload).config.costs == UNTIMED
    payload["config"]["costs"] = {"row_copy_us": 7}  # a cost added later reads as 0, not today's default
    assert codec.from_payload("cluster.started", payload).config.costs == attrs.evolve(UNTIMED, row_copy_us=7)
    # A whole history with the old first event replays to the same state.
    db = tmp_path / "old.duckdb"
    with DuckDBStore(str(db)) as store:
        store_history(store, events, state)
        # As the version before the cost table wrote it (its digests chain over that payload).
        edit_payload(store.con, 1, lambda p: p["config"].pop("costs"))
        rechain(store.con)
    with DuckDBStore(str(db), read_only=True) as store:
        replayed = replay_store(store)
    assert replayed.state.config.costs == UNTIMED
    assert replayed.matches and replayed.fingerprint == fingerprint_hex(state)


BEFORE_COSTS = Path(__file__).resolve().parent / "data" / "histories" / "failover_before_costs.json"


def test_a_history_made_by_the_version_before_the_cost_table_replays_to_its_recorded_fingerprint(tmp_path):
    """specs/failover.toml as ybstate 231d82b stored it (its rows, byte for byte, and the
    fingerprint it recorded): its promotion has no fence time, its configuration no cost
    table. It must read back untimed, replay to the same fingerprint and verify."""
    kept = json.loads(BEFORE_COSTS.read_text())
    codec = EventCodec()
    events = [codec.from_payload(kind, payload) for _, _, kind, _, payload in kept["events"]]
    assert "costs" not in kept["events"][0][4]["config"]
    db = tmp_path / "before.duckdb"
    with DuckDBStore(str(db)) as store:
        store.append(events, kept["fingerprint"])
        for seq, _, _, _, payload in kept["events"]:  # the rows as that version wrote them
            store.con.execute(
                "UPDATE events SET payload = ? WHERE seq = ?", [json.dumps(payload, sort_keys=True), seq]
            )
        rechain(store.con)
    replayed = CliRunner().invoke(cli, ["replay", "--db", str(db), "--json"])
    assert replayed.exit_code == 0, replayed.output
    document = json.loads(replayed.stdout)
    assert document["matches"] and document["fingerprint"] == kept["fingerprint"]
    verified = CliRunner().invoke(cli, ["verify", "--db", str(db)])
    assert verified.exit_code == 0, verified.output
    with DuckDBStore(str(db), read_only=True) as store:
        state = replay_store(store).state
        (downtime,) = store.con.execute(
            "SELECT downtime_ms FROM __all_tenant_promotion_history WHERE status = 'COMPLETED'"
        ).fetchone()
    assert state.config.costs == UNTIMED
    (promotion,) = [p for p in state.promotions.values() if p.status.value == "COMPLETED"]
    assert promotion.fenced_ts > 0 and downtime == (promotion.ended_ts - promotion.fenced_ts) // 1000


def test_an_archiver_reading_across_a_wake_up_reads_at_the_next_one():
    """The read happens at the first wake-up at or after the newest entry it reads, so
    that entry too waited for the archiver."""
    text = """
name = "w"
[cluster.costs]
archiver_wake_us = 1_000_000
[[tenants]]
name = "shop"
tables = { orders = 1 }
[[steps]]
do = "freeze"
[[steps]]
do = "backup"
tenant = "shop"
[[steps]]
do = "archive_start"
tenant = "shop"
[[steps]]
do = "fault"
kind = "archiver_stall"
tenant = "shop"
steps = 2
[[steps]]
do = "write"
tenant = "shop"
put = [["orders", "k", "v"]]
[[steps]]
do = "tick"
micros = 1_500_000
[[steps]]
do = "mark"
name = "after"
"""
    with DuckDBStore() as store:
        result = run_scenario(parse_scenario(text, "w.toml"), store)
        events = store.load()
    reads = [e for e in events if isinstance(e, EntriesRead)]
    state = result.state
    wake = state.config.costs.archiver_wake_us
    for read in reads:
        newest = state.log[read.last_log_id].time
        assert read.time == max(-(-newest // wake) * wake, read.time)
        assert read.time % wake == 0 and read.time >= newest
    # the stalled archiver's read spans the commit and the heartbeat 1.5 s later
    assert any(state.log[r.last_log_id].time - state.log[r.first_log_id].time > wake // 2 for r in reads)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("[cluster.costs]\nrow_fetch = 3", "[cluster.costs]: unexpected key 'row_fetch'"),
        (
            "[cluster.costs]\nrow_fetch_us = -1",
            "[cluster.costs]: 'row_fetch_us' must be 0..1000000 (microseconds), found -1",
        ),
        (
            "[cluster.costs]\narchiver_wake_us = true",
            "[cluster.costs]: 'archiver_wake_us' must be int, found True",
        ),
        ("[cluster.costs]\nentry_apply_us = 2.5", "[cluster.costs]: 'entry_apply_us' must be int, found 2.5"),
        ("[cluster]\ncosts = 5", "[cluster]: 'costs' must be a table ([cluster.costs]), found 5"),
    ],
)
def test_a_bad_cost_table_is_refused_naming_the_file_and_the_key(table, message):
    with pytest.raises(SpecError) as refused:
        parse_scenario(f'name = "x"\n{table}\n[[steps]]\ndo = "tick"\nmicros = 1\n', "costs.toml")
    assert str(refused.value).startswith("costs.toml: ")
    assert message in str(refused.value)


def test_the_calibration_formulas_of_the_docs_recover_the_costs():
    """docs/durations.md, "Calibrating": the per-row cost from a measured baseline, and the
    per-entry costs from two replays measured with different numbers of workers. Here the
    measurements are the model's own (which runs take, as the tests above show), so the
    formulas must give the costs back."""
    costs = Costs(tablet_task_us=30_000, row_fetch_us=8, entry_rewrite_us=90, entry_apply_us=30)
    state, _ = pitr(costs)
    plan = plan_restore(state, "shop", "before_mistake")
    tablets, rows = plan.tablets, plan.rows
    one, three = estimate_duration(state, plan, 1), estimate_duration(state, plan, 3)
    assert one.parallel == 4
    # baseline: D = (T * tablet_task_us + N * row_fetch_us) / P
    assert (one.baseline_us * one.parallel - tablets * costs.tablet_task_us) / rows == costs.row_fetch_us
    # replay with W workers: per entry p(W) = apply + rewrite / W; two W give both
    p1, p3 = one.incremental_us / plan.entries, three.incremental_us / plan.entries
    rewrite = (p1 - p3) / (1 / 1 - 1 / 3)
    assert round(rewrite) == costs.entry_rewrite_us
    assert round(p1 - rewrite) == costs.entry_apply_us


def test_a_swarm_row_gives_the_timed_restore_and_promotion_downtime():
    """A swarm walks timed: its rows' restore durations and promotion downtimes are those
    of the cost table (a promotion's steps after the fence, each promotion_step_us)."""
    check = timed_for(load_check(SPECS / "checks" / "promotion_catch_up_ddl.toml"), "simulation")
    start = run_start(check)
    costs = start.state.config.costs
    rows = [run_seed(check, start, seed, 200) for seed in range(1, 6)]
    promoted = [r for r in rows if r.promotions_completed]
    assert promoted and all(r.verdict == "holds" for r in rows)
    for row in promoted:
        # switch, routing and writes after the fence; a catch-up step more, and its entries,
        # when the promotion catches up
        downtime, step = row.promotion_downtime_mean, costs.promotion_step_us
        assert downtime == 3 * step or downtime > 4 * step, downtime
    restored = [r for r in rows if r.restores_completed]
    assert restored and all(r.restore_duration_mean > costs.tablet_task_us for r in restored)


@pytest.mark.parametrize(
    ("costs", "message"),
    [
        (Costs(row_copy_us=-1), "costs: 'row_copy_us' must be 0..1000000 (microseconds), found -1"),
        (
            Costs(archiver_wake_us=True),
            "costs: 'archiver_wake_us' must be 0..86400000000 (microseconds), found True",
        ),
        (3, "costs must be a Costs, got 3"),
    ],
)
def test_a_cluster_started_from_python_with_a_bad_cost_table_is_refused(costs, message):
    with pytest.raises(InvalidAction) as refused:
        decide(EMPTY, Start(config=ClusterConfig(costs=costs)))
    assert str(refused.value) == message
