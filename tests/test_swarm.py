"""Swarm simulation (issue 15, first part): seeded walks of a check file, each with its
own fault mix, results in DuckDB and Parquet, resumable, reproducible seed by seed."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import attrs
import duckdb
import pytest
from click.testing import CliRunner

import ybstate.cli as cli_module
from ybstate.checks import check_spec, load_check, run_start
from ybstate.cli import cli
from ybstate.drivers.simulate import simulate
from ybstate.model import ACTION_TAGS
from ybstate.swarm import FAULT_KINDS, FaultMix, faults_in_scope, run_swarm
from ybstate.testing import DISRUPTIVE

ROOT = Path(__file__).resolve().parent.parent
STALLS = ROOT / "specs" / "checks" / "restore_three_workers_stall_cancel_ddl.toml"
REORDER = ROOT / "specs" / "flaws" / "reorder_by_log_id.toml"


def swarm(*args: str):
    return CliRunner().invoke(cli, ["swarm", *args])


def test_every_disruptive_action_is_a_fault_kind_and_a_scope_says_which_it_allows():
    assert set(FAULT_KINDS) >= DISRUPTIVE
    assert faults_in_scope(load_check(STALLS).scope) == (
        "restore.cancel_restore",
        "restore.stall_worker",
        "restore.time_out_restore",
    )


def test_a_mix_follows_from_its_seed_and_varies_between_seeds():
    kinds = faults_in_scope(load_check(STALLS).scope)
    mixes = [FaultMix.draw(seed, kinds) for seed in range(40)]
    assert mixes == [FaultMix.draw(seed, kinds) for seed in range(40)]
    assert len({mix.rates for mix in mixes}) > 10
    assert any(rate == 0 for mix in mixes for _, rate in mix.rates)


def test_a_fault_switched_off_is_never_taken_and_one_on_is():
    check = load_check(STALLS)
    spec = check_spec(check, run_start(check))
    taken = {on: set() for on in (False, True)}
    for on in (False, True):
        # on: stalls only (a cancel at a high rate ends every restore before a stall)
        mix = FaultMix(
            tuple(
                (kind, 2.0 if on and kind == "restore.stall_worker" else 0.0)
                for kind in faults_in_scope(check.scope)
            )
        )
        for seed in range(30):
            walk = simulate(spec, seed=seed, steps=60, coverage=False, weigh=mix.weigher())
            taken[on] |= {ACTION_TAGS[type(action)] for action, _ in walk.steps}
    assert not taken[False] & set(FAULT_KINDS)
    assert taken[True] & set(FAULT_KINDS) == {"restore.stall_worker"}


def test_the_same_seeds_give_the_same_runs_in_one_process_and_on_two():
    check = load_check(STALLS)
    one = sorted(run_swarm(check, range(1, 13), 80), key=lambda r: r.seed)
    two = sorted(run_swarm(check, range(1, 13), 80, workers=2), key=lambda r: r.seed)
    assert [(r.seed, r.fingerprint, r.verdict, r.steps) for r in one] == [
        (r.seed, r.fingerprint, r.verdict, r.steps) for r in two
    ]


def test_a_swarm_stores_its_runs_finds_the_flaw_writes_traces_and_resumes(tmp_path):
    out = tmp_path / "swarm"
    first = swarm(str(REORDER), "--seeds", "6", "--workers", "2", "--out", str(out), "--json")
    assert first.exit_code == 1, first.output
    document = json.loads(first.stdout)
    assert (document["seeds"], document["ran"], document["skipped"]) == (6, 6, 0)
    assert document["violated"] == 6 and document["violations_by_invariant"] == {"deadlock": 6}
    assert document["determinism"]["same"] and document["determinism"]["checked"]
    trace = Path(document["failures"][0]["trace"])
    assert (trace / "counterexample.itf.json").exists() and (trace / "counterexample.duckdb").exists()
    with duckdb.connect(str(out / "swarm.duckdb"), read_only=True) as con:
        stored = con.execute(
            "SELECT seed, verdict, invariant, fingerprint FROM swarm_runs ORDER BY seed"
        ).fetchall()
        files = f"{out}/parquet/*.parquet"
        parquet = con.execute(
            f"SELECT seed, verdict, invariant, fingerprint FROM read_parquet('{files}') ORDER BY seed"
        ).fetchall()
    assert [row[0] for row in stored] == list(range(1, 7)) and parquet == stored
    again = swarm(str(REORDER), "--seeds", "8", "--out", str(out), "--json")
    resumed = json.loads(again.stdout)
    assert (resumed["seeds"], resumed["ran"], resumed["skipped"]) == (8, 2, 6)


def test_a_failing_seed_reproduces_with_the_command_it_prints(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = swarm(str(REORDER), "--seeds", "3", "--first-seed", "5", "--out", "all", "--json")
    failure = json.loads(result.stdout)["failures"][1]
    words = shlex.split(failure["reproduce"])
    assert words[:2] == ["ybstate", "swarm"]
    alone = swarm(*words[2:], "--json")
    assert json.loads(alone.stdout)["failures"][0]["seed"] == failure["seed"]
    with duckdb.connect("all/swarm.duckdb", read_only=True) as con:
        (fingerprint,) = con.execute(
            "SELECT fingerprint FROM swarm_runs WHERE seed = ?", [failure["seed"]]
        ).fetchone()
    with duckdb.connect(f"swarm-seed-{failure['seed']}/swarm.duckdb", read_only=True) as con:
        (again,) = con.execute("SELECT fingerprint FROM swarm_runs").fetchone()
    assert again == fingerprint


def test_a_results_directory_of_another_swarm_is_refused(tmp_path):
    out = tmp_path / "s"
    assert swarm(str(STALLS), "--seeds", "2", "--out", str(out)).exit_code == 0
    other = swarm(str(REORDER), "--seeds", "2", "--out", str(out))
    assert other.exit_code == 2 and "holds a swarm of another check" in other.output
    longer = swarm(str(STALLS), "--seeds", "2", "--steps", "7", "--out", str(out))
    assert longer.exit_code == 2 and "steps" in longer.output


@pytest.mark.parametrize(
    ("args", "words"), [(["--seeds", "0"], "--seeds"), (["--workers", "0"], "--workers")]
)
def test_bad_options_are_bad_input(tmp_path, args, words):
    result = swarm(
        str(STALLS), *(["--seeds", "2"] if "--seeds" not in args else []), *args, "--out", str(tmp_path)
    )
    assert result.exit_code == 2 and words in result.output


def test_a_local_dask_cluster_of_two_workers_gives_the_pools_rows(tmp_path):
    """A real Dask cluster (two worker processes, started for the swarm) runs the same
    seeds to the same rows as the local pool, and writes the failures' traces alike."""
    check = load_check(REORDER)
    pool = sorted(run_swarm(check, range(1, 9), 100, workers=2), key=lambda r: r.seed)
    on_dask = sorted(
        run_swarm(check, range(1, 9), 100, workers=2, executor="dask", failures=tmp_path / "f"),
        key=lambda r: r.seed,
    )
    assert [attrs.astuple(r)[:10] for r in pool] == [attrs.astuple(r)[:10] for r in on_dask]
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == sorted(f"seed-{s}" for s in range(1, 9))


def test_export_parquet_writes_every_table_by_run_and_many_runs_read_as_one(tmp_path, quickstart_file):
    for name in ("first", "second"):
        db = tmp_path / f"{name}.duckdb"
        shutil.copy(quickstart_file, db)
        result = CliRunner().invoke(cli, ["export", "--db", str(db), "--parquet", str(tmp_path / "pq")])
        assert result.exit_code == 0, result.output
    with duckdb.connect() as con:
        files = f"{tmp_path}/pq/events/**/*.parquet"
        by_run = f"FROM read_parquet('{files}', hive_partitioning = true) GROUP BY run ORDER BY run"
        runs = con.execute(f"SELECT run, count(*) {by_run}").fetchall()
        (stored,) = (
            duckdb.connect(str(quickstart_file), read_only=True)
            .execute("SELECT count(*) FROM events")
            .fetchone()
        )
        views = sorted(p.name for p in (tmp_path / "pq").iterdir())
    assert runs == [("first", stored), ("second", stored)]
    assert "events" in views and "commit_log" in views and len(views) > 10
    again = CliRunner().invoke(
        cli, ["export", "--db", str(tmp_path / "first.duckdb"), "--parquet", str(tmp_path / "pq")]
    )
    assert again.exit_code == 2 and "--force" in again.output
    mixed = CliRunner().invoke(
        cli, ["export", "--db", str(quickstart_file), "--parquet", str(tmp_path / "x"), "SELECT 1"]
    )
    assert mixed.exit_code == 2 and "no QUERY" in mixed.output


def test_an_interrupted_swarm_keeps_the_seeds_it_ended_and_goes_on_from_there(tmp_path, monkeypatch):
    real = cli_module.run_swarm

    def interrupted(*args, **kwargs):
        for number, run in enumerate(real(*args, **kwargs)):
            if number == 3:
                raise KeyboardInterrupt
            yield run

    monkeypatch.setattr(cli_module, "run_swarm", interrupted)
    out = tmp_path / "s"
    stopped = swarm(str(STALLS), "--seeds", "10", "--out", str(out))
    assert stopped.exit_code == 130 and "3 seeds are kept" in stopped.output
    monkeypatch.setattr(cli_module, "run_swarm", real)
    again = json.loads(swarm(str(STALLS), "--seeds", "10", "--out", str(out), "--json").stdout)
    assert (again["ran"], again["skipped"], again["seeds"]) == (7, 3, 10)
