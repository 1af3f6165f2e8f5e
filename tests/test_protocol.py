"""The protocol's policies as values (issue 13, DESIGN 14): the corrected protocol by
default, the seed's flaws by name, chosen in scenario and check files and on the command
line, stored with the history so that it replays under the variant that made it."""

from __future__ import annotations

import json

import attrs
import pytest
from click.testing import CliRunner

from tests.test_checks import ROOT
from ybstate.checks import load_check, parse_check, run_check, with_flaws
from ybstate.cli import cli
from ybstate.cluster.protocol import FLAWS, ArchiverRestart, LogPinning, Protocol
from ybstate.errors import SpecError
from ybstate.scenario import parse_scenario

ARCHIVE = ROOT / "specs" / "checks" / "archive_crash_stop_recycle.toml"
SCENARIO = """
[protocol]
flaws = ["unpinned_log_recycling"]
[[tenants]]
name = "t1"
tables = { a = 1 }
[[steps]]
do = "write"
tenant = "t1"
put = [["a", "k1", "x"]]
"""


def ybstate(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _stored_policy(db, policy: str) -> str:
    """The value of ``policy`` in the protocol the history's first event stored."""
    query = f"SELECT payload->>'$.config.protocol.{policy}' AS v FROM events WHERE seq = 1"
    shown = ybstate("sql", "--db", db, "--csv", query)
    assert shown.exit_code == 0, shown.output
    return shown.stdout.splitlines()[1]


@pytest.mark.parametrize("name", list(FLAWS))
def test_each_flaw_sets_one_policy_and_is_named_back(name):
    protocol = Protocol.with_flaws([name])
    field, value = FLAWS[name]
    assert getattr(protocol, field) is value
    assert protocol.flaws == (name,)
    assert attrs.evolve(protocol, **{field: getattr(Protocol(), field)}) == Protocol()


def test_the_corrected_protocol_has_no_flaw_and_all_can_be_combined_but_one_policy_twice():
    assert Protocol().flaws == ()
    every = [name for name in FLAWS if name != "archiver_restart_from_run_start"]
    assert Protocol.with_flaws(every).flaws == tuple(every)
    with pytest.raises(ValueError, match="both set archiver_restart"):
        Protocol.with_flaws(["archiver_restart_from_run_start", "archiver_restart_from_read_position"])
    with pytest.raises(ValueError, match="unknown flaw 'typo'"):
        Protocol.with_flaws(["typo"])


def test_a_scenario_chooses_its_variant_and_the_history_keeps_it(tmp_path):
    spec = tmp_path / "flawed.toml"
    spec.write_text(SCENARIO)
    db = tmp_path / "h.duckdb"
    assert ybstate("run", spec, "--db", db).exit_code == 0
    assert ybstate("replay", "--db", db).exit_code == 0
    assert _stored_policy(db, "log_pinning") == "unpinned"
    # the same scenario under the corrected protocol is another cluster: refused, nothing stored
    corrected = tmp_path / "corrected.toml"
    corrected.write_text(SCENARIO.replace('flaws = ["unpinned_log_recycling"]', "flaws = []"))
    refused = ybstate("run", corrected, "--db", db)
    assert refused.exit_code == 2 and "differs from the stored history's" in " ".join(refused.output.split())


def test_run_takes_flaws_on_the_command_line_instead_of_the_files(tmp_path):
    spec = tmp_path / "plain.toml"
    spec.write_text(SCENARIO.replace('flaws = ["unpinned_log_recycling"]', ""))
    db = tmp_path / "h.duckdb"
    assert ybstate("run", spec, "--db", db, "--flaw", "skip_failed_apply").exit_code == 0
    assert _stored_policy(db, "apply_failure") == "skip"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('[protocol]\nflaws = ["typo"]\n', "[protocol]: unknown flaw 'typo'"),
        ("[protocol]\ncolour = 1\n", "[protocol]: unexpected key 'colour'"),
        ('[protocol]\nflaws = "skip_failed_apply"\n', "'flaws' must be a list of names"),
        ("[cluster]\nprotocol = 1\n", "[cluster]: unexpected key 'protocol'"),
    ],
)
def test_a_bad_protocol_table_is_refused_naming_it(text, words):
    with pytest.raises(SpecError, match=None) as error:
        parse_scenario(text, "bad.toml")
    assert words in str(error.value) and "bad.toml" in str(error.value)


def test_a_check_file_takes_its_protocol_at_the_top_and_not_in_its_start():
    text = ARCHIVE.read_text()
    flawed = parse_check(text + '\n[protocol]\nflaws = ["archiver_restart_from_read_position"]\n', "a.toml")
    assert flawed.start.cluster.protocol.archiver_restart is ArchiverRestart.READ_POSITION
    with pytest.raises(SpecError, match=r"\[start\]: unexpected key 'protocol'"):
        parse_check(
            text.replace("[start.cluster]", "[start.protocol]\nflaws = []\n[start.cluster]"), "a.toml"
        )


@pytest.mark.parametrize(
    ("flaw", "invariant"),
    [
        ("archiver_restart_from_run_start", "archive_checkpoint_honest"),
        ("archiver_restart_from_read_position", "archive_checkpoint_honest"),
        ("unpinned_log_recycling", "archive_backup_first_pins_its_log"),
    ],
)
def test_the_shipped_archiving_check_catches_flaws_8_and_9_and_holds_without_them(flaw, invariant):
    run = run_check(with_flaws(load_check(ARCHIVE), [flaw]))
    assert run.verdict == "violated" and run.counterexample.invariant == invariant
    assert run.counterexample.depth <= 6
    shown = ybstate("check", ARCHIVE, "--flaw", flaw, "--json")
    assert shown.exit_code == 1 and json.loads(shown.stdout)["counterexample"]["property"] == invariant


def test_with_flaws_refuses_an_unknown_flaw_naming_the_check():
    with pytest.raises(SpecError, match=r"archive_crash_stop_recycle\.toml: --flaw: unknown flaw"):
        with_flaws(load_check(ARCHIVE), ["typo"])


def test_flaw_options_that_do_not_apply_are_bad_input(tmp_path):
    assert (
        "--flaw applies to the protocol"
        in ybstate("check", "--model", "twophase", "--flaw", "skip_failed_apply").output
    )
    assert ybstate("check", ARCHIVE, "--flaw", "typo").exit_code == 2  # not one of the choices


def test_a_simulation_with_a_flaw_records_it_so_only_the_same_command_resumes(tmp_path):
    db = tmp_path / "s.duckdb"
    flawed = ("simulate", "--seed", 3, "--steps", 20, "--db", db)
    assert ybstate(*flawed, "--flaw", "unpinned_log_recycling").exit_code == 0
    other = ybstate(*flawed)
    assert other.exit_code == 2 and "not a prefix of this simulation" in " ".join(other.output.split())
    assert _stored_policy(db, "log_pinning") == LogPinning.UNPINNED.value
