"""Import cost: `import batch_widgets` vs importing anywidget + httpx + pydantic together (target <= 1.2x).

Each figure is the median over fresh interpreters, minus the cost of starting an empty interpreter.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from _table import Row, report

RUNS = 7


def fresh_import_seconds(statement: str) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", statement], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    empty = fresh_import_seconds("pass")
    ours = fresh_import_seconds("import batch_widgets") - empty
    stack = fresh_import_seconds("import anywidget, httpx, pydantic") - empty
    widgets = fresh_import_seconds("from batch_widgets import BatchDashboard") - empty
    heavy = (
        fresh_import_seconds(
            "import batch_widgets, sys; assert 'pandas' not in sys.modules and 'altair' not in sys.modules"
        )
        - empty
    )
    report(
        "import",
        [
            Row(
                "import batch_widgets",
                f"{ours * 1000:.0f} ms",
                f"stack {stack * 1000:.0f} ms",
                ours / stack,
                "<= 1.2x",
                ours / stack <= 1.2,
            ),
            # Informational: the widget classes also build pydantic models and load the client, store and panels.
            Row(
                "from batch_widgets import BatchDashboard",
                f"{widgets * 1000:.0f} ms",
                f"stack {stack * 1000:.0f} ms",
                widgets / stack,
                "info",
                None,
            ),
            Row("pandas/altair not loaded by the import", f"{heavy * 1000:.0f} ms", "-", None, "asserted", True),
        ],
    )


if __name__ == "__main__":
    main()
