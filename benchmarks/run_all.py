"""``make bench``: run every ``benchmarks/bench_*.py`` in turn (each prints a table and writes JSON to
``benchmarks/results/``), draw the scaling plots from those JSON files (:mod:`benchmarks.plots`: PNGs in the same
directory), then print a one-line index of the files written.

``python benchmarks/run_all.py classical quantum`` runs only the named benchmarks.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    names = list(sys.argv[1:] if argv is None else argv)
    scripts = sorted(HERE.glob("bench_*.py"))
    if names:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in names]
    (HERE / "results").mkdir(exist_ok=True)
    failed = []
    for s in scripts:
        print(f"\n=== {s.name} ===", flush=True)
        t0 = time.time()
        rc = subprocess.call([sys.executable, str(s)], cwd=HERE.parent)
        print(f"=== {s.name}: exit {rc}, {time.time() - t0:.0f} s ===", flush=True)
        if rc:
            failed.append(s.name)
    print("\n=== plots.py ===", flush=True)
    rc = subprocess.call([sys.executable, str(HERE / "plots.py")], cwd=HERE.parent)
    if rc:
        failed.append("plots.py")
    print("\nJSON results:", ", ".join(sorted(p.name for p in (HERE / "results").glob("*.json"))))
    print("plots:", ", ".join(sorted(p.name for p in (HERE / "results").glob("*.png"))))
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
