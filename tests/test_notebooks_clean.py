"""The committed example notebooks stay clean: no saved widget state, and outputs only where nbval compares them."""

from __future__ import annotations

import json
import pathlib

import pytest

NOTEBOOKS = sorted((pathlib.Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stripped(path):
    nb = json.loads(path.read_text())
    assert "widgets" not in nb.get("metadata", {}), f"{path.name} carries saved widget state"
    for number, cell in enumerate(nb["cells"], start=1):
        if cell["cell_type"] != "code":
            continue
        checked = "nbval-check-output" in cell.get("metadata", {}).get("tags", [])
        if not checked:
            assert not cell["outputs"] and cell["execution_count"] is None, (
                f"{path.name} cell {number}: outputs are kept only for cells tagged nbval-check-output"
            )
        for output in cell["outputs"]:
            data = output.get("data", {})
            assert "application/vnd.jupyter.widget-view+json" not in data, f"{path.name} cell {number}: a widget"
            assert output.get("output_type") != "error", f"{path.name} cell {number}: a stored error"


def test_every_example_is_there():
    names = {p.stem for p in NOTEBOOKS}
    assert {
        "01_quickstart",
        "02_from_dataframe",
        "03_history_analytics",
        "04_providers",
        "05_gateway",
        "dashboard",
    } <= names
