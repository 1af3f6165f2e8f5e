"""How well ybstate's checkers catch the seed design's flaws (issue 13, DESIGN 14).

For each flaw of :data:`~ybstate.cluster.protocol.FLAWS`, :func:`hunt` reads its check
file ``specs/flaws/<name>.toml`` (which runs the flaw through its ``[protocol]`` table)
and asks three checkers to find it:

- the exhaustive explorer: the property that breaks, its message, the shortest
  counterexample's length, the states explored and the seconds;
- the seeded simulator: walks from seeds 0, 1, ... (the check file's ``steps`` each) until
  one breaks a property, within :data:`SIMULATION_SEEDS` seeds;
- the protocol's Hypothesis machine (:mod:`ybstate.testing`) with the ``ci`` profile's
  budget (:data:`MACHINE_EXAMPLES` examples of :data:`MACHINE_STEPS` steps), derandomized
  so the same tree gives the same answer;

then runs the corrected protocol under the same check file, which must hold and reach
every goal. When what breaks is a progress property ("can still complete"), which only a
search of every reachable state can judge, the simulator and the machine are not asked
(``walks_judge`` False): a walk sees some paths, never all of them. A deadlock, by
contrast, a walk can end in, and both are asked. A flaw without a check file is
reported uncaught, with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import attrs
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from ybstate.checks import CheckFile, load_check, run_check, with_flaws
from ybstate.cluster.protocol import FLAWS
from ybstate.errors import SpecError
from ybstate.testing import protocol_machine

__all__ = [
    "FlawReport",
    "flaws_dir",
    "hunt",
    "hunt_all",
    "SIMULATION_SEEDS",
    "MACHINE_EXAMPLES",
    "MACHINE_STEPS",
]

SIMULATION_SEEDS = 200
MACHINE_EXAMPLES = 150  # the ci profile's
MACHINE_STEPS = 50


@attrs.frozen(kw_only=True)
class FlawReport:
    """What the checkers made of one flaw (DESIGN 14's keys, and more)."""

    flaw: str
    check_file: str | None
    caught: bool  # the explorer found a violation under the flawed protocol
    property: str | None = None
    message: str | None = None
    length: int | None = None  # steps of the shortest counterexample
    states: int | None = None  # states the explorer visited to find it
    seconds: float | None = None
    # False when the broken property is a progress property: only a search of the whole
    # graph can judge one, so the simulator and the machine are not asked (None below)
    walks_judge: bool = True
    simulator_caught: bool | None = None  # None: not asked
    simulator_seeds: int | None = None  # walks it took (the one that broke it included)
    machine_caught: bool | None = None
    corrected_holds: bool = False  # the corrected protocol: no violation, every goal reached
    corrected_states: int | None = None
    corrected_verdict: str | None = None
    note: str = ""  # why a field is missing, or what went wrong

    def to_json(self) -> dict[str, Any]:
        document = attrs.asdict(self)
        if self.seconds is not None:
            document["seconds"] = round(self.seconds, 3)
        return document


def hunt(
    flaw: str,
    directory: str | os.PathLike,
    *,
    simulator: bool = True,
    machine: bool = True,
) -> FlawReport:
    """Run every checker on ``flaw``'s check file in ``directory``."""
    path = Path(directory) / f"{flaw}.toml"
    if not path.exists():
        return FlawReport(flaw=flaw, check_file=None, caught=False, note=f"no check file {path}")
    try:
        check = load_check(path)
    except SpecError as error:
        return FlawReport(flaw=flaw, check_file=str(path), caught=False, note=str(error))
    if flaw not in check.start.cluster.protocol.flaws:
        note = f"{path} does not run the flaw (its [protocol] has {list(check.start.cluster.protocol.flaws)})"
        return FlawReport(flaw=flaw, check_file=str(path), caught=False, note=note)
    found = run_check(check, mode="exhaustive")
    cx = found.counterexample
    corrected = run_check(with_flaws(check, []), mode="exhaustive")
    goals_reached = all(goal.reached for goal in corrected.coverage.goals.values())
    report = FlawReport(
        flaw=flaw,
        check_file=str(path),
        caught=cx is not None,
        property=None if cx is None else cx.invariant,
        message=None if cx is None else cx.message,
        length=None if cx is None else cx.depth,
        states=found.states,
        seconds=found.seconds,
        corrected_holds=corrected.verdict == "holds" and goals_reached,
        corrected_states=corrected.states,
        corrected_verdict=corrected.verdict,
        note="" if cx is not None else f"the explorer found no violation ({found.verdict})",
    )
    if cx is not None and cx.invariant in {prop.name for prop in check.progress}:
        return attrs.evolve(report, walks_judge=False)
    if simulator:
        walked = run_check(check, mode="simulation", seeds=SIMULATION_SEEDS, first_seed=0)
        report = attrs.evolve(
            report, simulator_caught=walked.counterexample is not None, simulator_seeds=len(walked.walks)
        )
    if machine:
        report = attrs.evolve(report, machine_caught=_machine_finds(check))
    return report


def _machine_finds(check: CheckFile) -> bool:
    chosen = settings(
        max_examples=MACHINE_EXAMPLES,
        stateful_step_count=MACHINE_STEPS,
        derandomize=True,
        database=None,
        deadline=None,
        phases=(Phase.explicit, Phase.generate),  # a failure is the answer: no shrinking
        suppress_health_check=list(HealthCheck),
    )
    try:
        run_state_machine_as_test(protocol_machine(check), settings=chosen)
    except AssertionError:
        return True
    return False


def hunt_all(
    directory: str | os.PathLike,
    flaws: Sequence[str] = tuple(FLAWS),
    *,
    simulator: bool = True,
    machine: bool = True,
    started: Callable[[str], object] | None = None,
) -> list[FlawReport]:
    """:func:`hunt` for each of ``flaws``, in DESIGN 14's order; ``started(flaw)`` is called
    before each (for progress)."""
    reports = []
    for flaw in flaws:
        if started is not None:
            started(flaw)
        reports.append(hunt(flaw, directory, simulator=simulator, machine=machine))
    return reports


def flaws_dir() -> Path:
    """Where the flaws' check files live: packaged with ybstate, or the checkout's specs/flaws/."""
    packaged = resources.files("ybstate").joinpath("_flaws")
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "specs" / "flaws"
