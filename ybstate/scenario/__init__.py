"""Scenario files (DESIGN 9): parse and check them, then run them into a store."""

from ybstate.scenario.run import RunResult, StepOutcome, run_scenario
from ybstate.scenario.steps import Scenario, load_scenario, parse_scenario

__all__ = [
    "RunResult",
    "Scenario",
    "StepOutcome",
    "load_scenario",
    "parse_scenario",
    "run_scenario",
]
