"""One way to report a benchmark: rows of (what, measured, baseline, ratio, target, verdict), printed as a table
and appended as JSON lines to benchmarks/out/results.jsonl so `run_all.py` can print one summary."""

from __future__ import annotations

import json
import pathlib
from dataclasses import asdict, dataclass
from typing import Optional

OUT = pathlib.Path(__file__).resolve().parent / "out"


@dataclass
class Row:
    what: str
    measured: str
    baseline: str
    ratio: Optional[float]  # measured relative to the baseline, in the direction the target states
    target: str
    ok: Optional[bool]  # None: informational


def report(suite: str, rows: list[Row]) -> None:
    widths = [44, 16, 22, 8, 14, 6]
    header = ("what", "measured", "baseline", "ratio", "target", "")
    print(f"\n== {suite} ==")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        verdict = "-" if row.ok is None else ("pass" if row.ok else "SHORT")
        ratio = "" if row.ratio is None else f"{row.ratio:.2f}x"
        cells = (row.what, row.measured, row.baseline, ratio, row.target, verdict)
        print("  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)))
    OUT.mkdir(exist_ok=True)
    with open(OUT / "results.jsonl", "a") as fh:
        for row in rows:
            fh.write(json.dumps({"suite": suite, **asdict(row)}) + "\n")
