"""Test-wide settings: Hypothesis profiles chosen by the HYPOTHESIS_PROFILE variable, and the
quickstart history that command-line tests copy.

- ``default``: quick enough for every run (the whole default suite stays a few minutes);
- ``ci``: more examples and longer stateful runs;
- ``thorough``: for a long night of searching (use with ``-m slow`` too).
"""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner
from histories import QUICKSTART
from hypothesis import HealthCheck, settings

from ybstate.cli import cli

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


@pytest.fixture(scope="session")
def quickstart_file(tmp_path_factory):
    """A quickstart history made once by ``ybstate run``; tests work on copies of it."""
    where = tmp_path_factory.mktemp("quickstart")
    result = CliRunner().invoke(cli, ["run", str(QUICKSTART), "--db", str(where / "q.duckdb")])
    assert result.exit_code == 0, result.output
    return where / "q.duckdb"
