"""The dependencies pyproject.toml declares tell the truth: the DuckDB installed is within
the declared range, and (with -m slow) the declared floor itself runs the quickstart,
queries it, replays it and verifies it."""

from __future__ import annotations

import subprocess
import tomllib
import venv
from pathlib import Path

import duckdb
import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def _declared(name: str) -> Requirement:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (found,) = [Requirement(r) for r in project["dependencies"] if Requirement(r).name == name]
    return found


def test_the_installed_duckdb_is_within_the_declared_range():
    declared = _declared("duckdb")
    assert declared.specifier.contains(duckdb.__version__), (duckdb.__version__, str(declared.specifier))


def _floor(requirement: Requirement) -> str:
    (floor,) = [s.version for s in requirement.specifier if s.operator == ">="]
    return floor


@pytest.mark.slow
def test_the_declared_duckdb_floor_runs_the_quickstart(tmp_path):
    floor = _floor(_declared("duckdb"))
    env_dir = tmp_path / "env"
    venv.create(env_dir, system_site_packages=True, with_pip=True)
    python = env_dir / "bin" / "python"
    installed = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", f"duckdb=={floor}"], capture_output=True, text=True
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    script = (
        "import sys, duckdb\n"
        "from packaging.version import Version\n"
        f"assert Version(duckdb.__version__) == Version({floor!r}), duckdb.__version__\n"
        "from ybstate.cli import main\n"
        "sys.argv = ['ybstate', *sys.argv[1:]]\n"
        "main()\n"
    )
    db = tmp_path / "h.duckdb"
    for args in (
        ["run", str(ROOT / "specs" / "quickstart.toml"), "--db", str(db)],
        ["sql", "--db", str(db), "SELECT count(*) FROM __all_tenant_backup_set"],
        ["replay", "--db", str(db)],
        ["verify", "--db", str(db)],
    ):
        done = subprocess.run(
            [python, "-c", script, *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={"PYTHONPATH": str(ROOT)},
        )
        assert done.returncode == 0, (args, done.stdout[-1500:], done.stderr[-1500:])
    assert "history_digest_chain" in done.stdout and "violated" not in done.stdout + done.stderr
