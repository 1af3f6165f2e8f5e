"""Promotion and decommission at the surfaces a user sees: specs/switchover.toml and
specs/failover.toml, the `promote` and `decommission` steps and the `promotion_step_fail`
fault, and the tenant_promote_standby / tenant_decommission commands."""

from __future__ import annotations

import pytest
from histories import REPO, duck_query

from ybstate.commands import ResultCode, tenant_decommission, tenant_promote_standby
from ybstate.errors import ScenarioFailed, SpecError
from ybstate.history import open_history, verify_store
from ybstate.promote.state import PromotionStatus, PromotionStep
from ybstate.scenario import load_scenario, parse_scenario, run_scenario
from ybstate.store import DuckDBStore

R = ResultCode
SPECS = {"switchover": REPO / "specs" / "switchover.toml", "failover": REPO / "specs" / "failover.toml"}


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    where = tmp_path_factory.mktemp("promote")
    results = {}
    for name, spec in SPECS.items():
        path = where / f"{name}.duckdb"
        with DuckDBStore(path) as store:
            results[name] = (path, run_scenario(load_scenario(spec), store, query=duck_query(store)))
    return results


@pytest.mark.parametrize("name", sorted(SPECS))
def test_a_promotion_scenario_runs_every_step_and_its_history_verifies(ran, name):
    path, result = ran[name]
    assert all(o.note.startswith("holds") for o in result.outcomes if o.kind == "expect")
    with open_history(path) as store:
        results = verify_store(store)
    assert "promotion_no_commit_after_fence" in {r.name for r in results}
    assert [(r.name, r.violations) for r in results if not r.ok] == []


def test_switchover_loses_nothing_and_moves_name_routing_and_writes_to_the_standby(ran):
    _, result = ran["switchover"]
    state = result.state
    (task,) = state.promotions.values()
    assert task.status is PromotionStatus.COMPLETED and task.lost == () and task.caught_up
    assert task.done == tuple(PromotionStep)
    new, old = state.tenants[task.standby_id], state.tenants[task.primary_id]
    assert (new.name, new.writable, new.role.value) == ("shop", True, "primary")
    assert (old.name, old.writable, old.status.value) == ("shop@1001", False, "decommissioned")
    assert state.routing["shop"] == new.tenant_id and "shop@1001" not in state.routing
    assert state.tables_of(old.tenant_id) == []
    in_flight = [o for o in result.outcomes if o.note == "transaction 34 left open"]
    assert in_flight and 34 not in state.committed  # aborted by the fence


def test_failover_lists_exactly_the_commits_after_the_restore_point(ran):
    _, result = ran["failover"]
    state = result.state
    rolled, done = state.promotions[1], state.promotions[2]
    assert rolled.status is PromotionStatus.ROLLED_BACK and rolled.error == "FENCE failed (scenario fault)"
    assert done.status is PromotionStatus.COMPLETED and not done.catch_up
    after = sorted(
        t.tx_id
        for t in state.committed.values()
        if t.tenant_id == done.primary_id and t.commit_ts > state.marks["restore_point"]
    )
    assert list(done.lost) == after and len(after) == 3


HEAD = (REPO / "specs" / "failover.toml").read_text().split('[[steps]]\ndo = "write"')[0]


def _run(text: str, tmp_path):
    with DuckDBStore(tmp_path / "h.duckdb") as store:
        return run_scenario(parse_scenario(text, "x.toml"), store, query=duck_query(store))


def _step(do: str, **keys: object) -> str:
    def value(v: object) -> str:
        return f'"{v}"' if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v)

    return "[[steps]]\n" + f'do = "{do}"\n' + "".join(f"{k} = {value(v)}\n" for k, v in keys.items())


@pytest.mark.parametrize(
    ("step", "words"),
    [
        (_step("promote", standby="shop_dr"), "promote needs key 'primary'"),
        (_step("promote", standby="nobody", primary="shop"), "unknown tenant 'nobody'"),
        (_step("promote", standby="shop_dr", primary="shop", verify="yes"), "'verify' must be bool"),
        (_step("decommission", tenant="nobody"), "unknown tenant 'nobody'"),
        (
            _step("fault", kind="promotion_step_fail", tenant="shop_dr", step="commit"),
            "'step' must be one of",
        ),
    ],
)
def test_a_malformed_promotion_step_is_a_spec_error_naming_the_step(step, words):
    with pytest.raises(SpecError) as error:
        parse_scenario(HEAD + step, "x.toml")
    assert error.value.step == 8 and words in str(error.value)


@pytest.mark.parametrize("step", ["verify", "fence", "catch_up", "switch_schema", "update_routing"])
def test_a_failure_before_the_routing_update_rolls_the_promotion_back(tmp_path, step):
    text = HEAD + _step("fault", kind="promotion_step_fail", tenant="shop_dr", step=step)
    result = _run(text + _step("promote", standby="shop_dr", primary="shop"), tmp_path)
    (task,) = result.state.promotions.values()
    assert task.status is PromotionStatus.ROLLED_BACK
    assert task.error == f"{step.upper()} failed (scenario fault)"
    shop = result.state.tenant_named("shop")
    assert (
        shop.tenant_id == task.primary_id and shop.writable and result.state.routing["shop"] == shop.tenant_id
    )


@pytest.mark.parametrize("step", ["enable_writes"])
def test_a_failure_once_the_routing_is_updated_is_retried_and_the_promotion_completes(tmp_path, step):
    text = HEAD + _step("fault", kind="promotion_step_fail", tenant="shop_dr", step=step, times=2)
    result = _run(text + _step("promote", standby="shop_dr", primary="shop"), tmp_path)
    (task,) = result.state.promotions.values()
    assert task.status is PromotionStatus.COMPLETED and task.failures == 2 and task.lost == ()


def test_a_refused_promotion_without_expect_fails_the_run(tmp_path):
    with pytest.raises(ScenarioFailed) as failed:
        _run(HEAD + _step("promote", standby="shop", primary="shop_dr"), tmp_path)
    assert failed.value.step == 8 and "is not a completed standby" in str(failed.value)


def test_promotion_commands_answer_the_promotion_id_or_a_result_code(ran):
    _, result = ran["failover"]
    state = result.state
    assert tenant_promote_standby(state, "shop", "shop@1001").code is R.OB_PROMOTION_REJECTED
    assert tenant_promote_standby(state, "nobody", "shop").code is R.OB_TENANT_NOT_EXIST
    assert tenant_promote_standby(state, ["x"], "shop").code is R.OB_INVALID_ARGUMENT
    assert tenant_decommission(state, "shop").code is R.OB_PROMOTION_REJECTED  # writable primary
    reply = tenant_decommission(state, "shop@1001", read_only=True)
    assert reply.ok and reply.events[0].read_only
    assert tenant_decommission(state, "shop@1001", read_only=False).code is R.OB_PROMOTION_REJECTED
