"""Counterexamples written to files (issue 12): an ITF trace whose actions replay to the
violation, and a DuckDB history that ybstate's commands read; and `ybstate check --json`."""

from __future__ import annotations

import json

import attrs
import pytest
from click.testing import CliRunner

from ybstate.cli import cli
from ybstate.drivers.explore import explore
from ybstate.drivers.trace import itf_value, read_itf_actions, write_history, write_itf
from ybstate.errors import StoreError
from ybstate.kernel import Invariant, step
from ybstate.model import ClusterScope, Scope, model_spec, start_events

SCOPE = Scope(cluster=ClusterScope(tenants=("t1",), keys=("k1",), max_log=6))
NO_COMMIT = Invariant(name="no_commit", check=lambda s: "a commit" if s.committed else None)


@pytest.fixture(scope="module")
def failing():
    spec = attrs.evolve(model_spec(SCOPE), invariants=(NO_COMMIT,))
    return spec, explore(spec).violation


def test_the_itf_trace_has_one_state_per_step_and_its_actions_replay_to_the_violation(failing, tmp_path):
    spec, cx = failing
    path = write_itf(cx, tmp_path / "cx.itf.json")
    document = json.loads(path.read_text())
    assert document["#meta"]["invariant"] == "no_commit"
    assert len(document["states"]) == cx.depth + 1 == 3
    assert [s["#meta"]["index"] for s in document["states"]] == [0, 1, 2]
    assert document["states"][2]["#meta"]["action"]["tag"] == "cluster.commit"
    assert set(document["vars"]) >= {"tenants", "restores", "open_transactions"}
    assert document["states"][2]["tenants"]["t1"]["rows"] == 1
    state = spec.init()
    for action in read_itf_actions(path):
        state, _ = step(spec, state, action)
    assert spec.violations(state)[0].invariant == "no_commit"


def test_the_history_of_a_counterexample_is_read_by_replay_rows_and_verify(failing, tmp_path):
    _, cx = failing
    path = write_history(start_events(SCOPE), cx, tmp_path / "cx.duckdb")
    runner = CliRunner()
    assert runner.invoke(cli, ["replay", "--db", str(path)]).exit_code == 0
    rows = runner.invoke(cli, ["rows", "--db", str(path), "--tenant", "t1"])
    assert rows.exit_code == 0 and "a,k1,x" in rows.output
    assert runner.invoke(cli, ["verify", "--db", str(path)]).exit_code == 0  # the model's own invariants hold
    with pytest.raises(StoreError, match="exists"):
        write_history(start_events(SCOPE), cx, path)


def test_itf_values_follow_the_format():
    assert itf_value({"a": 2**60, 3: [1, (2,)], "s": {"x"}}) == {
        "#map": [["a", {"#bigint": str(2**60)}], [3, [1, [2]]], ["s", {"#set": ["x"]}]]
    }
    assert itf_value({"k": None, "b": True}) == {"k": None, "b": True}


def test_check_json_gives_the_keys_of_design_13():
    shown = CliRunner().invoke(cli, ["check", "--model", "twophase", "--rms", "2", "--json"])
    assert shown.exit_code == 0, shown.output
    document = json.loads(shown.stdout)
    assert document["verdict"] == "holds" and document["states"] == 56 and document["counterexample"] is None
    assert set(document["coverage"]) >= {"actions", "invariants", "goals"}
    assert document["coverage"]["actions"]["TMCommit"] == {"enabled": 1, "taken": 1}
