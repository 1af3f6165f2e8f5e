"""The notebooks show their pictures: executed in a kernel (as Jupyter runs them), each
code cell that draws leaves an image in its outputs, and the executed notebook renders to
HTML with them. (nbmake runs the notebooks too; it does not look at what they show.)"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbconvert import HTMLExporter

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
# the pictures each draws: the walkthrough's DAG, lifecycle, pipeline and timeline; the
# counterexample's pipeline where it stops; the swarm's RPO, RTO model and failures; the
# five lifecycles of the protocol
PICTURES = {
    "pitr_walkthrough.ipynb": 4,
    "counterexample_replay.ipynb": 1,
    "swarm_analytics.ipynb": 3,
    "protocol_drawn.ipynb": 5,
}


@pytest.mark.parametrize("name", sorted(PICTURES))
def test_an_executed_notebook_holds_its_pictures_and_renders_to_html(name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    # run from notebooks/, as Jupyter and nbmake do (the notebooks write only to temporary
    # directories of their own)
    NotebookClient(notebook, timeout=600, resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    images = [
        output["data"]["image/png"]
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]
    assert len(images) >= PICTURES[name]
    assert all(len(image) > 5_000 for image in images)  # a drawing, not an empty canvas
    html, _ = HTMLExporter().from_notebook_node(notebook)
    assert html.count("data:image/png;base64,") >= PICTURES[name]


def test_every_notebook_is_checked_for_its_pictures():
    assert {path.name for path in NOTEBOOKS.glob("*.ipynb")} == set(PICTURES)
