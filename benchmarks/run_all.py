"""Run every benchmark (each in its own process, so memory peaks do not mix) and print one summary table.

Not part of the test suite: these machines are noisy. Usage: `make bench` (or `python benchmarks/run_all.py
[name ...]` to run some, e.g. `import results`).
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
RESULTS = HERE / "out" / "results.jsonl"


def main(names: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if names:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in names]
    RESULTS.unlink(missing_ok=True)
    failures = []
    for script in scripts:
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, script.name], cwd=HERE)
        print(f"   ({script.name}: {time.perf_counter() - start:.1f} s, exit {proc.returncode})", flush=True)
        if proc.returncode:
            failures.append(script.name)
    rows = [json.loads(line) for line in RESULTS.read_text().splitlines()] if RESULTS.exists() else []
    print("\n== summary ==")
    for row in rows:
        verdict = "-" if row["ok"] is None else ("pass" if row["ok"] else "SHORT")
        ratio = "" if row["ratio"] is None else f"{row['ratio']:.2f}x"
        print(f"{verdict:6} {row['suite']:10} {row['what'][:50]:50} {row['measured']:>14} {ratio:>9}  {row['target']}")
    short = sum(1 for r in rows if r["ok"] is False)
    print(f"\n{len(rows)} measurements, {short} short of target, {len(failures)} benchmark(s) crashed {failures or ''}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
