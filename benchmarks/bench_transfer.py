"""Benchmark of the exact transfer-operator solver and the MCMC thermalisation time (one core).

Usage: ``python benchmarks/bench_transfer.py [--quick]``; prints a table, writes ``benchmarks/results/transfer.json``.

* transfer: wall time of one ``transfer_current`` point (T_L = 1000, refinement included, i.e. two solves) over the
  Letter's (steps, c) band grid and T_R in {0.01, 1}; J, the refinement estimate and the grid sizes are recorded.
  Target: seconds per point for steps <= 3000. Best of 2 (the machine is shared).
* relaxation: thermalisation time tau(T) (TV < 0.01 from E0 = 1) of the energy and the speed chain, c = 1, and the
  fitted exponent over T in [1e-3, 1e-1] (energy) and [1e-3, 1e-1] (speed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache"))

from mpiheat.classical import Bath, maxwell_current  # noqa: E402
from mpiheat.classical.relaxation import thermalisation_time  # noqa: E402
from mpiheat.classical.transfer import transfer_current  # noqa: E402
from mpiheat.numerics.fits import fit_power_law  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer points")
    args = ap.parse_args()
    transfer_current(1000.0, 1.0, Bath("mcmc", steps=10))  # compile
    steps_list = [300, 3000] if args.quick else [300, 1000, 3000]
    c_list = [1.0] if args.quick else [0.5, 1.0, 2.0]
    rows = []
    print(f"{'var':>6} {'steps':>5} {'c':>4} {'T_R':>6} {'J':>10} {'J/Jmax':>7} {'J_err':>9} {'cells':>6} {'sec':>6}")
    for var in ("energy", "speed"):
        for steps in steps_list:
            for c in c_list:
                for T_R in (0.01, 1.0):
                    bath = Bath("mcmc", steps=steps, proposal=c, variable=var)
                    best = np.inf
                    for _ in range(2):
                        t0 = time.perf_counter()
                        r = transfer_current(1000.0, T_R, bath)
                        best = min(best, time.perf_counter() - t0)
                    row = dict(variable=var, steps=steps, proposal=c, T_L=1000.0, T_R=T_R, J=r.J, J_err=r.J_err,
                               J_maxwell=float(maxwell_current(1000.0, T_R)), cells_master=r.cells_master,
                               cells_cold=r.cells_cold, far=r.far, iterations=r.iterations, seconds=best)
                    rows.append(row)
                    print(f"{var:>6} {steps:5d} {c:4.1f} {T_R:6.2f} {r.J:10.4f} {r.J / row['J_maxwell']:7.4f} "
                          f"{r.J_err:9.2e} {r.cells_master:6d} {best:6.2f}", flush=True)
    relax = {}
    Ts = np.logspace(-3, -1, 5)
    for var in ("energy", "speed"):
        bath = Bath("mcmc", variable=var)
        t0 = time.perf_counter()
        tau = [thermalisation_time(T, bath).tau for T in Ts]
        fit = fit_power_law(Ts, tau)
        b, A, err = fit.exponent, fit.prefactor, fit.stderr
        relax[var] = dict(T=Ts.tolist(), tau=tau, exponent=b, prefactor=A, exponent_err=err,
                          seconds=time.perf_counter() - t0)
        print(f"relaxation {var}: tau = {tau} for T = {np.round(Ts, 5).tolist()}; exponent {b:.3f} +- {err:.3f}")
    out = dict(benchmark="transfer", machine=platform.platform(), python=sys.version.split()[0], quick=args.quick,
               transfer=rows, relaxation=relax)
    path = ROOT / "benchmarks" / "results" / "transfer.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
