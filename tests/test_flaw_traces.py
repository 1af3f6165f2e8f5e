"""Regression traces (issue 13): each flaw's shortest counterexample, kept as an ITF trace
under tests/data/flaws/, replayed from its check file's start. Under the flawed protocol it
must still break the same property (an invariant, the deadlock check, or a progress
property); under the corrected protocol each step must be refused, or the path must end
in a state where every invariant holds and the property is not broken (harmless).

Regenerate after a deliberate change of a flaw's check file or of the model:
``python tests/test_flaw_traces.py`` (it rewrites the traces from a fresh exploration).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ybstate.checks import check_spec, load_check, run_check, run_start, with_flaws
from ybstate.drivers.explore import why_not_broken
from ybstate.drivers.trace import read_itf_actions, write_itf
from ybstate.errors import YbstateError

ROOT = Path(__file__).resolve().parent.parent
TRACES = ROOT / "tests" / "data" / "flaws"
CHECKS = ROOT / "specs" / "flaws"
KEPT = sorted(TRACES.glob("*.itf.json"))


def _replay(spec, actions) -> tuple[object, int | None]:
    """Take ``actions`` from the spec's start: the state reached, and the number of the
    first step refused (not enabled, or decided/applied with an error), None if none was."""
    state = spec.init()
    for number, action in enumerate(actions, 1):
        if action not in spec.enabled(state):
            return state, number
        try:
            for event in spec.decide(state, action):
                state = spec.apply(state, event)
        except YbstateError:
            return state, number
    return state, None


def _spec(check):
    return check_spec(check, run_start(check))


def test_every_flaw_check_has_its_trace_kept():
    assert sorted(p.name.removesuffix(".itf.json") for p in KEPT) == sorted(
        p.stem for p in CHECKS.glob("*.toml")
    )


@pytest.mark.parametrize("path", KEPT, ids=lambda p: p.name.removesuffix(".itf.json"))
def test_the_kept_trace_still_breaks_the_flaw_and_is_refused_or_harmless_when_corrected(path):
    flaw = path.name.removesuffix(".itf.json")
    recorded = json.loads(path.read_text())["#meta"]
    actions = read_itf_actions(path)
    check = load_check(CHECKS / f"{flaw}.toml")
    name = recorded["invariant"]  # an invariant, "deadlock" or a progress property
    flawed = _spec(check)
    state, refused = _replay(flawed, actions)
    assert refused is None, f"step {refused} of the kept trace is no longer taken under {flaw}"
    assert why_not_broken(flawed, name, state) is None
    corrected = _spec(with_flaws(check, []))
    state, refused = _replay(corrected, actions)
    if refused is None:  # harmless: nothing broken, no deadlock, nothing that can no longer be done
        assert corrected.violations(state) == []
        assert why_not_broken(corrected, name, state) is not None


def regenerate() -> None:
    for path in sorted(CHECKS.glob("*.toml")):
        run = run_check(load_check(path), mode="exhaustive")
        assert run.counterexample is not None, f"{path.name}: the flaw is no longer found"
        write_itf(run.counterexample, TRACES / f"{path.stem}.itf.json")
        print(f"{path.stem}: {run.counterexample.depth} steps, {run.counterexample.invariant}")


if __name__ == "__main__":
    sys.exit(regenerate())
