"""Execute example notebooks and keep only nbval's reference outputs; strip everything else.

    .venv/bin/python notebooks/refresh_outputs.py [notebooks/NAME.ipynb ...]   (default: all)

Runs each notebook in a clean environment (no OPENAI_*/AZURE_OPENAI_*/ANTHROPIC_*/MISTRAL_* variables, a fresh
BATCH_WIDGETS_HOME, so the embedded local server starts empty), then keeps outputs only for cells tagged
``nbval-check-output`` (what ``make test-notebooks`` compares) and drops every other output, execution count
and the saved widget state.
"""

from __future__ import annotations

import os
import pathlib
import sys
import tempfile

import nbclient
import nbformat

HERE = pathlib.Path(__file__).resolve().parent
CHECK = "nbval-check-output"


def refresh(path: pathlib.Path) -> None:
    nb = nbformat.read(str(path), as_version=4)
    saved = dict(os.environ)
    for key in [k for k in os.environ if k.startswith(("OPENAI_", "AZURE_OPENAI_", "ANTHROPIC_", "MISTRAL_"))]:
        del os.environ[key]
    os.environ["BATCH_WIDGETS_HOME"] = tempfile.mkdtemp(prefix="bw-refresh-")
    try:
        nbclient.NotebookClient(
            nb,
            timeout=180,
            kernel_name="python3",
            store_widget_state=False,
            resources={"metadata": {"path": tempfile.mkdtemp()}},
        ).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    count = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.metadata.pop("execution", None)
        if CHECK in cell.metadata.get("tags", []):
            count += 1
            cell.execution_count = count
            for output in cell.outputs:
                if "execution_count" in output:
                    output.execution_count = count
        else:
            cell.outputs, cell.execution_count = [], None
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, str(path))
    print(f"refreshed {path.name}: {count} checked cell(s)")


if __name__ == "__main__":
    targets = [pathlib.Path(p) for p in sys.argv[1:]] or sorted(HERE.glob("*.ipynb"))
    for target in targets:
        refresh(target)
