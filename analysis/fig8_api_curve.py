"""Fig. 8 quantum curve through the Python API, at truncations or degrees the job file does not ask for.

Since the block Rayleigh-Ritz of the sparse solver (99be5e9) ``jobs/fig8_two_particle_quantum.toml`` itself passes
the CLI's spectrum check (N = 2200 and 2600 converged to 7e-9); before it, the coupling estimate stalled at 2-5e-8 at
N = 2200 and the job was refused with exit 2, which is why this script exists. It mirrors that job
(Pauli, eta = -2.25, gamma calibrated at T_cal = 1000 to kappa_classical = 21.1998, T_L = 1000,
T_R = logspace(-2, 3, 26)) with ``allow_unconverged=True`` at a fixed degree, and writes ``results/tp/fig8_N<N>.json``
(with the spectrum's error estimates) for ``python -m analysis.fig8 --curves-json``.

Usage: ``python -m mpiheat.launcher -n 2 python analysis/fig8_api_curve.py N [DEGREE|auto]``.
"""
import json
import math
import os
import sys
import time

import numpy as np
from mpi4py import MPI

from mpiheat.quantum.twoparticle.levels import two_particle_spectrum

comm = MPI.COMM_WORLD
N = int(sys.argv[1]) if len(sys.argv) > 1 else 2200
res = (None if sys.argv[2] == "auto" else int(sys.argv[2])) if len(sys.argv) > 2 else 222
t0 = time.perf_counter()
s = two_particle_spectrum(N, (1.0, math.sqrt(2.0)), 1.0, resolution=res, allow_unconverged=True, comm=comm)
t_spec = time.perf_counter() - t0
if comm.rank == 0:
    os.makedirs("results/tp", exist_ok=True)
    from mpiheat.quantum import QuantumProblem, steady_state
    from mpiheat.quantum.calibrate import calibrate_gamma
    m = s.meta
    err_E, err_P = np.asarray(m["err_E"]), np.asarray(m["err_P"])
    np.savez(f"results/tp/spectrum_N{N}.npz", E=s.E, P_L=s.P_L, P_R=s.P_R, err_E=err_E, err_P=err_P)
    gamma = calibrate_gamma(-2.25, 1000.0, kappa_target=21.1998, levels=s, omega_c=1.0)
    T_R = np.logspace(-2, 3, 26)
    J = []
    for T in T_R:
        ss = steady_state(QuantumProblem(s, 1000.0, float(T), gamma=gamma, eta=-2.25, omega_c=1.0), equation="pauli")
        J.append(ss.J_L)
    J = np.array(J)
    tw = [math.exp(-(s.E[-1] - s.E[0]) / max(1000.0, T)) for T in T_R]
    out = {"N": s.N, "degree": m["degree"], "degree_coarse": m["degree_coarse"], "n_basis": m["n_basis"],
           "max_err_E": float(err_E.max()), "max_err_P": float(err_P.max()),
           "n_states_err_P_above_1e-8": int((err_P > 1e-8).sum()), "median_err_P": float(np.median(err_P)),
           "seconds_spectrum": t_spec, "gamma": gamma, "E0": float(s.E[0]), "E_top": float(s.E[-1]),
           "T_R": T_R.tolist(), "J": J.tolist(), "top_weight": tw, "history": m["history"]}
    with open(f"results/tp/fig8_N{N}.json", "w") as f:
        json.dump(out, f, indent=1, default=float)
    print(json.dumps({k: v for k, v in out.items() if k not in ("history",)}, default=float))
