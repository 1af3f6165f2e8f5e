"""The restore's four flaws of the seed design as protocol variants (issue 13, DESIGN 11, 14):
where the replay starts (flaw 1), what an apply failure does (4), what verification
compares with (5) and where the table mapping comes from (7). Each shipped check in
specs/flaws/ breaks its property with a counterexample that replays, and the corrected
protocol holds under the same file with every goal reached; the policies' deciders and
reducers agree (an event of one protocol is refused under the other); the applier's fault
is part of the model's scope and of the scenario format (``entry_apply_fail``)."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
from histories import under_flaws

from ybstate.checks import check_spec, load_check, run_check, run_start, with_flaws
from ybstate.cluster.state import TenantStatus
from ybstate.drivers.explore import replay_counterexample
from ybstate.errors import EventOutOfOrder, RestoreNotReady, ScenarioFailed, SpecError
from ybstate.model import apply, decide
from ybstate.restore.actions import AdvanceRestore, ApplyEntry, FailApply
from ybstate.restore.events import EntryApplied, EntryApplyFailed, RestorePrepared, RestoreStarted
from ybstate.restore.invariants import verification_is_honest
from ybstate.restore.state import Outcome, RestorePhase
from ybstate.restore.verify import verification_problem
from ybstate.scenario import parse_scenario, run_scenario
from ybstate.store import MemoryStore

FLAWS_DIR = Path(__file__).resolve().parent.parent / "specs" / "flaws"

BREAKS = {
    "replay_from_archive_start": "restore_standby_shows_whole_transactions",
    "skip_failed_apply": "restore_standby_shows_whole_transactions",
    "verify_against_live_source": "restore_verification_is_honest",
    "mapping_from_live_source": "restore_standby_shows_whole_transactions",
}
"""The property each restore flaw's check breaks first."""


@pytest.fixture(scope="module")
def flawed_runs():
    return {flaw: run_check(load_check(FLAWS_DIR / f"{flaw}.toml")) for flaw in BREAKS}


@pytest.mark.parametrize("flaw", list(BREAKS))
def test_the_flaw_breaks_its_property_with_a_counterexample_that_replays(flawed_runs, flaw):
    run = flawed_runs[flaw]
    assert run.check.start.cluster.protocol.flaws == (flaw,)
    assert run.verdict == "violated" and run.counterexample.invariant == BREAKS[flaw]
    replay_counterexample(run.spec, run.counterexample)  # raises unless it breaks it again


@pytest.mark.parametrize("flaw", list(BREAKS))
def test_the_corrected_protocol_holds_under_the_same_check_and_reaches_every_goal(flawed_runs, flaw):
    corrected = run_check(with_flaws(load_check(FLAWS_DIR / f"{flaw}.toml"), []))
    assert corrected.verdict == "holds", corrected.vacuous
    assert corrected.coverage.goals and all(goal.reached for goal in corrected.coverage.goals.values())
    assert corrected.states > flawed_runs[flaw].states


def _before_last(run):
    """The state before the counterexample's last step, and that step's action and events."""
    state = run.spec.init()
    for _, events in run.counterexample.steps[:-1]:
        for event in events:
            state = run.spec.apply(state, event)
    action, events = run.counterexample.steps[-1]
    return state, action, events


# -- flaw 1: where the replay starts ---------------------------------------------------------------


def test_the_replay_starts_at_the_sets_start_or_under_the_flaw_where_archiving_last_started(flawed_runs):
    spec = flawed_runs["replay_from_archive_start"].spec
    state = spec.init()
    (first,) = [a for a in spec.enabled(state) if type(a).__name__ == "StartRestore"][:1]
    (flawed,) = decide(state, first)
    (corrected,) = decide(under_flaws(state, []), first)
    assert isinstance(flawed, RestoreStarted) and (corrected.start_log_id, flawed.start_log_id) == (4, 8)
    with pytest.raises(EventOutOfOrder, match="replay start of backup set 1"):
        apply(under_flaws(state, []), flawed)
    with pytest.raises(EventOutOfOrder, match="replay start of backup set 1"):
        apply(state, corrected)


# -- flaw 4: an entry the applier fails to apply --------------------------------------------------


@pytest.fixture(scope="module")
def failing(flawed_runs):
    """The skip_failed_apply counterexample's state where the applier fails on entry 2
    (transaction 2's commit), under the flaw."""
    state, action, _ = _before_last(flawed_runs["skip_failed_apply"])
    assert isinstance(action, FailApply)
    return state, action


def test_a_failed_entry_fails_the_restore_naming_it_under_the_corrected_protocol(failing):
    flawed, action = failing
    state = under_flaws(flawed, [])
    (failed,) = decide(state, action)
    assert isinstance(failed, EntryApplyFailed) and (failed.entry_seq, failed.log_id) == (2, 6)
    after = apply(state, failed)
    task = after.restores[action.task_id]
    assert task.phase is RestorePhase.FAILED and task.apply_failures == 1 and task.applied == 1
    assert task.error == "applying sequence number 2 (log id 6) failed: the restore stops rather than skip it"
    with pytest.raises(EventOutOfOrder, match="the protocol skips it: skip_failed_apply"):
        apply(flawed, failed)


def test_a_failed_entry_is_skipped_and_the_applier_carries_on_under_the_flaw(failing):
    state, action = failing
    (skipped,) = decide(state, action)
    assert isinstance(skipped, EntryApplied) and skipped.outcome is Outcome.SKIPPED
    after = apply(state, skipped)
    task = after.restores[action.task_id]
    assert task.phase is RestorePhase.RESTORING_INCREMENTAL and (task.applied, task.apply_failures) == (2, 1)
    assert task.restored_log_id == 6 and task.applied_txns == 0  # transaction 2 never reaches the standby
    with pytest.raises(EventOutOfOrder, match="the protocol never skips one"):
        apply(under_flaws(state, []), skipped)


def test_an_apply_fault_is_offered_within_its_budget_and_only_on_an_entry_that_writes(failing):
    state, action = failing
    spec = check_spec(
        load_check(FLAWS_DIR / "skip_failed_apply.toml"),
        run_start(load_check(FLAWS_DIR / "skip_failed_apply.toml")),
    )
    assert action in spec.enabled(state)
    (skipped,) = decide(state, action)
    after = apply(state, skipped)
    assert FailApply(task_id=action.task_id) not in spec.enabled(after)  # apply_faults = 1 is spent
    # entry 3 is the first past T (nothing to apply): refused, with the state untouched
    with pytest.raises(RestoreNotReady, match="has no entry to apply released to its applier"):
        decide(after, FailApply(task_id=action.task_id))


def test_an_apply_fault_waits_for_the_entry_to_be_released(flawed_runs):
    run = flawed_runs["skip_failed_apply"]
    state = run.spec.init()
    for _, events in run.counterexample.steps[:-3]:  # entry 2 read, not yet rewritten
        for event in events:
            state = apply(state, event)
    task = state.restores[1]
    assert (task.applied, task.rewritten) == (0, (1,))
    assert FailApply(task_id=1) in run.spec.enabled(state)  # entry 1, k1 = y's mutator, is released
    for event in decide(state, ApplyEntry(task_id=1)):
        state = apply(state, event)
    assert FailApply(task_id=1) not in run.spec.enabled(state)
    with pytest.raises(RestoreNotReady, match="waits for entry 2 in its reorder queue"):
        decide(state, ApplyEntry(task_id=1))
    with pytest.raises(RestoreNotReady, match="has no entry to apply released to its applier"):
        decide(state, FailApply(task_id=1))


# -- flaw 5: what verification compares with -----------------------------------------------------


@pytest.fixture(scope="module")
def verifying(flawed_runs):
    """verify_against_live_source's counterexample just before verification: the source
    changed after T."""
    state, _, events = _before_last(flawed_runs["verify_against_live_source"])
    return state, events


def test_verification_against_the_live_source_fails_a_correct_restore_and_the_oracle_says_so(verifying):
    state, events = verifying
    task = state.restores[1]
    assert task.phase is RestorePhase.VERIFYING
    assert verification_problem(under_flaws(state, []), task) is None
    assert verification_problem(state, task).startswith("table 'a': 1 rows / checksum")
    after = state
    for event in events:
        after = apply(after, event)
    assert after.restores[1].phase is RestorePhase.FAILED
    assert "yet its standby holds exactly the source as of T=" in verification_is_honest(after)


def test_a_completion_the_live_source_contradicts_is_refused_under_the_flaw(verifying):
    state, _ = verifying
    completed = decide(under_flaws(state, []), AdvanceRestore(task_id=1))
    assert type(completed[0]).__name__ == "RestoreCompleted"
    with pytest.raises(EventOutOfOrder, match="passing its verification"):
        apply(state, completed[0])


def test_verification_against_a_source_that_is_gone_has_nothing_to_compare(verifying):
    state, _ = verifying
    task = state.restores[1]
    source = attrs.evolve(state.tenants[task.source_tenant_id], status=TenantStatus.DECOMMISSIONED)
    gone = attrs.evolve(state, tenants=state.tenants.set(source.tenant_id, source))
    assert (
        verification_problem(gone, task)
        == f"nothing to compare: the source tenant {source.tenant_id} is gone"
    )


# -- flaw 7: where the mapping comes from ---------------------------------------------------------


def test_the_mapping_comes_from_the_backup_or_under_the_flaw_from_the_live_source(flawed_runs):
    run = flawed_runs["mapping_from_live_source"]
    state = run.spec.init()
    for action, _ in run.counterexample.steps[:2]:  # started, preparing
        for event in decide(state, action):
            state = apply(state, event)
    prepare = run.counterexample.steps[2][0]
    flawed = decide(state, prepare)
    corrected = decide(under_flaws(state, []), prepare)
    assert isinstance(flawed[0], RestorePrepared) and isinstance(corrected[0], RestorePrepared)
    # b came and went after the backup: both start from a alone; the flaw never replays b's DDL
    assert [m.name for m in flawed[0].mapping] == [m.name for m in corrected[0].mapping] == ["a"]
    last = _before_last(run)
    (applied,) = last[2]
    assert applied.outcome is Outcome.NOT_REPLAYED
    with pytest.raises(EventOutOfOrder, match="what the applier does with the entry"):
        apply(under_flaws(last[0], []), applied)


def test_under_the_flaw_a_table_created_after_t_is_mapped_and_verification_fails_the_restore():
    text = FLAW_SCENARIO + _step("create_table", tenant="t1", table="b") + _restore()  # T = m1, before b
    task = _run(text, ["mapping_from_live_source"]).state.restores[1]
    assert [m.name for m in task.mapping] == ["a", "b"]
    assert (task.phase, task.error) == (
        RestorePhase.FAILED,
        "verification: tables ['a', 'b'], expected ['a']",
    )
    corrected = _run(text, []).state.restores[1]
    assert [m.name for m in corrected.mapping] == ["a"] and corrected.phase is RestorePhase.COMPLETED


# -- the entry_apply_fail scenario fault -----------------------------------------------------------

FLAW_SCENARIO = """
name = "apply fault"
[cluster]
data_servers = 1
piece_entries = 4
[[tenants]]
name = "t1"
tables = { a = 1 }
[[steps]]
do = "write"
tenant = "t1"
put = [["a", "k1", "x"]]
[[steps]]
do = "freeze"
[[steps]]
do = "backup"
tenant = "t1"
[[steps]]
do = "archive_start"
tenant = "t1"
[[steps]]
do = "write"
tenant = "t1"
put = [["a", "k1", "y"]]
[[steps]]
do = "mark"
name = "m1"
"""


def _step(do: str, **keys: object) -> str:
    def value(v: object) -> str:
        return f'"{v}"' if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v)

    return "[[steps]]\n" + f'do = "{do}"\n' + "".join(f"{k} = {value(v)}\n" for k, v in keys.items())


def _restore() -> str:
    return _step("restore", source="t1", target="r1", until="m1")


def _run(text: str, flaws: list[str]):
    protocol = f"[protocol]\nflaws = {flaws!r}\n".replace("'", '"')
    return run_scenario(parse_scenario(text + protocol, "x.toml"), MemoryStore())


def test_an_entry_apply_fault_fails_the_restore_naming_the_entry():
    text = FLAW_SCENARIO + _step("fault", kind="entry_apply_fail", tenant="t1", entry=2) + _restore()
    result = _run(text, [])
    task = result.state.restores[1]
    assert task.phase is RestorePhase.FAILED and task.apply_failures == 1
    assert task.error.startswith("applying sequence number 2 (log id 6) failed")
    assert result.outcomes[6].note == "armed: the applier of the next restore of 't1' fails to apply entry 2"


def test_under_the_flaw_the_failed_entry_is_skipped_and_verification_catches_the_loss():
    text = FLAW_SCENARIO + _step("fault", kind="entry_apply_fail", tenant="t1", entry=2) + _restore()
    task = _run(text, ["skip_failed_apply"]).state.restores[1]
    assert task.apply_failures == 1 and task.applied_txns == 0
    assert task.phase is RestorePhase.FAILED and task.error.startswith("verification: table 'a'")


def test_an_entry_apply_fault_past_the_entries_the_restore_applies_is_refused():
    text = FLAW_SCENARIO + _step("fault", kind="entry_apply_fail", tenant="t1", entry=3) + _restore()
    with pytest.raises(
        ScenarioFailed, match="names entry 3 of this restore of 't1', which applies 2 archived"
    ):
        _run(text, [])


HEAD = 'name = "t"\n[[tenants]]\nname = "t1"\ntables = { a = 1 }\n'


@pytest.mark.parametrize(
    ("keys", "words"),
    [
        ({"tenant": "t1", "entry": 0}, "fault: 'entry' must be a sequence number from 1, found 0"),
        ({"tenant": "t1", "entry": "2"}, "fault: 'entry' must be int, found '2'"),
        ({"tenant": "t1", "entry": True}, "fault: 'entry' must be int, found True"),
        ({"tenant": "t1", "entry": 2**62 + 1}, "'entry' must be at most 4611686018427387904 (a log id)"),
        ({"tenant": "nope"}, "unknown tenant 'nope'"),
        ({"tenant": "t1", "worker": 1}, "fault: unexpected key 'worker'"),
        ({"entry": 1}, "fault needs key 'tenant'"),
    ],
)
def test_a_malformed_entry_apply_fault_is_a_spec_error_naming_the_step(keys, words):
    with pytest.raises(SpecError) as error:
        parse_scenario(HEAD + _step("fault", kind="entry_apply_fail", **keys), "x.toml")
    assert "x.toml, step 1" in str(error.value) and words in str(error.value)
