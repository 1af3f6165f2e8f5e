"""Scenario files (DESIGN 9): parse and check them, then run them into a store."""

from ybstate.scenario.parse import load_scenario, parse_scenario
from ybstate.scenario.run import RunResult, StepOutcome, run_scenario
from ybstate.scenario.steps import STEPS, Scenario

__all__ = [
    "STEPS",
    "RunResult",
    "Scenario",
    "StepOutcome",
    "load_scenario",
    "parse_scenario",
    "run_scenario",
]
