"""Test-wide settings: Hypothesis profiles chosen by the HYPOTHESIS_PROFILE variable.

- ``default``: quick enough for every run (the whole default suite stays a few minutes);
- ``ci``: more examples and longer stateful runs;
- ``thorough``: for a long night of searching (use with ``-m slow`` too).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "default",
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "ci",
    max_examples=150,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=2000,
    stateful_step_count=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "slow: long exploration or many examples; run with -m slow")
