"""docs/extending.md stays true: its worked example (docs/examples/pause_restore.patch)
applies to the current tree, touches exactly the files the page lists, and, applied to a
copy of the tree, passes its own tests and the composition, architecture, scenario and
invariant tests."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PATCH = ROOT / "docs" / "examples" / "pause_restore.patch"
PAGE = ROOT / "docs" / "extending.md"


def _git(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    git = shutil.which("git")
    assert git is not None, "the worked example is checked with `git apply`: install git"
    return subprocess.run([git, *args], cwd=cwd, capture_output=True, text=True)


def _patched_files() -> set[str]:
    return set(re.findall(r"^diff --git a/(\S+) b/", PATCH.read_text(), flags=re.MULTILINE))


def test_the_worked_example_applies_to_the_current_tree():
    checked = _git("apply", "--check", str(PATCH), cwd=ROOT)
    assert checked.returncode == 0, checked.stderr


def test_the_page_lists_exactly_the_files_the_worked_example_touches():
    listed = set(re.findall(r"`((?:ybstate|invariants|docs|tests)/[\w/]+\.\w+)`", PAGE.read_text()))
    listed -= {"docs/examples/pause_restore.patch", "tests/test_extending.py", "tests/test_architecture.py"}
    listed -= {"ybstate/model/", "ybstate/restore/"}
    assert listed == _patched_files()
    in_package = {f for f in _patched_files() if f.startswith("ybstate/restore/")}
    assert len(in_package) <= 7, sorted(in_package)  # the goal of the layout (issue 10)


def test_the_worked_example_passes_its_tests_when_applied(tmp_path):
    copy = tmp_path / "tree"
    for part in ("ybstate", "invariants", "tests", "docs", "specs", "notebooks"):
        shutil.copytree(ROOT / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    applied = _git("apply", str(PATCH), cwd=copy)
    assert applied.returncode == 0, applied.stderr
    tests = [
        "tests/test_restore_pause.py",
        "tests/test_composition.py",
        "tests/test_architecture.py",
        "tests/test_scenario.py",
        "tests/test_restore.py",
        "tests/test_sql_invariants.py",
    ]
    # `python -m pytest` puts the copy first on sys.path: its ybstate is the one tested.
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=-m 'not slow'",
            *tests,
        ],
        cwd=copy,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
