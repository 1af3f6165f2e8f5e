"""The architecture rules that matter, as tests: the import contracts of pyproject.toml
(checked by import-linter, function-local imports included) and each subsystem importing
exactly the subsystems its record declares it depends on."""

from __future__ import annotations

import os
from pathlib import Path

import grimp
import pytest
from importlinter.cli import EXIT_STATUS_SUCCESS, lint_imports

from ybstate.model import SUBSYSTEMS

ROOT = Path(__file__).resolve().parent.parent


def test_the_import_contracts_hold(capsys):
    here = Path.cwd()
    os.chdir(ROOT)  # lint-imports reads pyproject.toml from where it runs
    try:
        status = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    finally:
        os.chdir(here)
    report = capsys.readouterr().out
    assert status == EXIT_STATUS_SUCCESS, report
    assert "0 broken" in report and "BROKEN" not in report


def _package(module: str) -> str:
    """The subsystem a module of ybstate belongs to (its first component under ybstate)."""
    return module.split(".")[1] if module.count(".") >= 1 else ""


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("ybstate", include_external_packages=False)


@pytest.mark.parametrize("part", SUBSYSTEMS, ids=lambda part: part.name)
def test_each_subsystem_imports_exactly_the_subsystems_it_declares(graph, part):
    # every part stands on the substrate; the substrate stands on nothing of theirs
    names = {p.name for p in SUBSYSTEMS} - {"cluster"}
    own = f"ybstate.{part.name}"
    modules = {own} | graph.find_descendants(own)
    imported = {
        _package(target)
        for module in modules
        for target in graph.find_modules_directly_imported_by(module)
        if _package(target) in names and _package(target) != part.name
    }
    assert imported == set(part.depends)


def test_no_subsystem_nor_the_substrate_imports_the_composition_root(graph):
    for part in SUBSYSTEMS:
        own = f"ybstate.{part.name}"
        chain = graph.find_shortest_chain(importer=own, imported="ybstate.model", as_packages=True)
        assert chain is None, f"{part.name} reaches the root: {chain}"
