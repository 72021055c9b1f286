"""Quantum steady-state benchmark: Pauli sweep, full Lindblad Liouvillian (scipy / PETSc 1 and 2 ranks), QuTiP peer.

Usage::

    .venv/bin/python benchmarks/bench_quantum.py [--sizes 100 200] [--scale 400 600] [--repeat 3]

Writes ``benchmarks/results/quantum.json`` and prints a table. Cases (eta = -2.25, gamma calibrated at T = 1000,
T_L = 1000, T_R = 1):

* ``pauli_sweep``: 41-point sweep T_R = logspace(-2, 3, 41) at N = 100 (vectorised batched LU).
* ``scipy`` / ``petsc-np1`` / ``petsc-np2``: one full-Liouvillian steady state in the real representation, including
  building the operator and the heat currents (PETSc runs are separate ``mpirun`` processes; time measured inside,
  after imports).
* Memory per rank (issue 12): ``mem_mb`` = the N-dependent peak of each rank, i.e. peak RSS (``VmHWM``) minus the
  same process's RSS after imports, MPI/PETSc initialisation and a warm-up solve at N = 4 (the peak is reset there
  through ``/proc/self/clear_refs``); the spectrum is built inside the measured part. Measured the same way for
  ``pauli`` and ``scipy-mem`` (one process each, sizes ``--mem-sizes``) and the PETSc KSP runs at 1 and 2 ranks.
  ``mem_ratio`` rows: largest 2-rank value / 1-rank value at each N (target <= 0.6 at N = 600).
* ``qutip``: ``qutip.steadystate`` (QuTiP 5, default ``method="direct"``) on the identical operator, handed over as a
  complex column-stacked superoperator (:func:`liouvillian_complex_csr`); its time excludes building that operator.
  Accuracy of every method = relative deviation of J from the Pauli value (exact for this Lindblad equation).

QuTiP is a benchmark-only dependency: ``.venv/bin/pip install -c tools/constraints.txt "qutip>=5"``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))  # plots.py: the machine description shared by the benchmarks

from plots import cpu_model as plots_cpu_model  # noqa: E402
from plots import mem_total_gb  # noqa: E402

from mpiheat.launcher import mpiexec  # noqa: E402
from mpiheat.numerics.parallel import reset_peak_rss, rss_mb  # noqa: E402
from mpiheat.quantum import QuantumProblem, SolverOptions, steady_state  # noqa: E402
from mpiheat.quantum.calibrate import calibrate_gamma  # noqa: E402
from mpiheat.quantum.operators.lindblad import (  # noqa: E402
    bath_rates,
    heat_currents,
    liouvillian_complex_csr,
    liouvillian_csr,
    transitions,
)
from mpiheat.quantum.operators.pauli import pauli_sweep  # noqa: E402
from mpiheat.quantum.operators.spectrum import box_spectrum  # noqa: E402
from mpiheat.quantum.solvers.steadystate import solve_trace_constrained  # noqa: E402

ETA = -2.25
T_L, T_R = 1000.0, 1.0
#: the old PETSc solver names of the command line -> the front end's formulation
FORMULATION = {"ksp": "linear", "eps": "eigen"}


def solve_ss(spec, T_L, T_R, *, gamma, eta, equation, backend="scipy", solver="auto", comm=None, **options):
    """One steady state through the public front end (``solver``: "ksp" / "eps" / "auto")."""
    return steady_state(QuantumProblem(spec, T_L, T_R, gamma=gamma, eta=eta), equation=equation, backend=backend,
                        solver=FORMULATION.get(solver, solver), comm=comm, options=SolverOptions(**options))


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo, else the platform's processor string."""
    return plots_cpu_model() or platform.processor()


def worker(N: int, solver: str, gamma: float) -> None:
    """Run inside mpirun: one distributed solve, print JSON from rank 0 (time, peak memory per rank)."""
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    solve_ss(box_spectrum(4), T_L, T_R, gamma=gamma, eta=ETA, equation="lindblad", backend="petsc",
                solver=solver, comm=comm)  # warm-up: imports, PETSc initialisation
    base = rss_mb("VmRSS")
    reset_peak_rss()
    comm.Barrier()
    t0 = time.perf_counter()
    spec = box_spectrum(N)
    r = solve_ss(spec, T_L, T_R, gamma=gamma, eta=ETA, equation="lindblad", backend="petsc", solver=solver,
                    comm=comm)
    dt = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
    rss = comm.gather(maxrss_mb(), root=0)
    mem = comm.gather(rss_mb("VmHWM") - base, root=0)
    bases = comm.gather(base, root=0)
    if comm.rank == 0:
        print("RESULT" + json.dumps({"seconds": dt, "maxrss_mb": rss, "mem_mb": mem, "base_mb": bases, "J": r.J_L,
                                     "J_R": r.J_R, "residual": r.residual, "converged": r.converged,
                                     "method": r.method}))


def mem_worker(N: int, method: str, gamma: float) -> None:
    """One process: ``pauli`` or ``scipy`` (Lindblad) steady state at N; prints time and N-dependent peak memory."""
    equation, backend = ("pauli", "scipy") if method == "pauli" else ("lindblad", "scipy")
    solve_ss(box_spectrum(4), T_L, T_R, gamma=gamma, eta=ETA, equation=equation, backend=backend)  # warm-up
    base = rss_mb("VmRSS")
    reset_peak_rss()
    t0 = time.perf_counter()
    r = solve_ss(box_spectrum(N), T_L, T_R, gamma=gamma, eta=ETA, equation=equation, backend=backend)
    dt = time.perf_counter() - t0
    print("RESULT" + json.dumps({"seconds": dt, "mem_mb": [rss_mb("VmHWM") - base], "base_mb": [base], "J": r.J_L,
                                 "residual": r.residual, "method": r.method}))


def _env() -> dict:
    return dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                OMPI_MCA_rmaps_base_oversubscribe="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")


def _result(proc) -> dict:
    lines = [s for s in proc.stdout.splitlines() if s.startswith("RESULT")]
    if proc.returncode != 0 or not lines:
        return {"error": (proc.stderr or proc.stdout)[-2000:]}
    return json.loads(lines[0][len("RESULT"):])


def run_petsc(N: int, ranks: int, gamma: float, solver: str = "ksp") -> dict:
    cmd = mpiexec(ranks, sys.executable, __file__, "--worker", str(N), solver, repr(gamma))
    return _result(subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=_env(), timeout=3600))


def run_mem(N: int, method: str, gamma: float) -> dict:
    cmd = [sys.executable, __file__, "--mem-worker", str(N), method, repr(gamma)]
    return _result(subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=_env(), timeout=3600))


def qutip_end_to_end(qutip, N: int, gamma: float) -> list[dict]:
    """QuTiP's own pipeline (c_ops = sqrt(rate) A(omega) per bath and frequency, liouvillian, steadystate) vs ours."""
    import scipy.sparse as sp

    spec = box_spectrum(N)
    J_ref = float(pauli_sweep(spec, T_L, T_R, gamma=gamma, eta=ETA)[1])
    t0 = time.perf_counter()
    tr = transitions(spec)
    r = bath_rates(tr.group_omega, T_L, T_R, gamma=gamma, eta=ETA)
    c_ops = []
    for k in range(tr.sizes.shape[0]):
        sl = slice(tr.starts[k], tr.starts[k] + tr.sizes[k])
        for c, dn, up in ((tr.cL, r.down_L[k], r.up_L[k]), (tr.cR, r.down_R[k], r.up_R[k])):
            A = qutip.Qobj(sp.csr_matrix((c[sl], (tr.lo[sl], tr.hi[sl])), shape=(N, N)))
            if dn > 0:
                c_ops.append(np.sqrt(dn) * A)
            if up > 0:
                c_ops.append(np.sqrt(up) * A.dag())
    rho = qutip.steadystate(qutip.Qobj(np.diag(spec.E)), c_ops).full()
    t_q = time.perf_counter() - t0
    JL, _ = heat_currents(spec, rho, T_L, T_R, gamma=gamma, eta=ETA)
    t_o, o = best_of(lambda: solve_ss(spec, T_L, T_R, gamma=gamma, eta=ETA, equation="lindblad"), 3)
    return [{"case": "qutip-end-to-end", "N": N, "ranks": 1, "seconds": t_q, "J": JL, "rel_err": abs(JL / J_ref - 1),
             "c_ops": len(c_ops), "note": "c_ops per bath and Bohr frequency, qutip.steadystate(H, c_ops)"},
            {"case": "scipy-end-to-end", "N": N, "ranks": 1, "seconds": t_o, "J": o.J_L,
             "rel_err": abs(o.J_L / J_ref - 1)},
            {"case": "speedup_end_to_end", "N": N, "ratio": t_q / t_o}]


def best_of(fn, repeat: int):
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 200])
    ap.add_argument("--scale", type=int, nargs="*", default=[400, 600], help="PETSc-only sizes (1 and 2 ranks)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--qutip-build", type=int, nargs="*", default=[30],
                    help="sizes for the end-to-end comparison with QuTiP building L from H and c_ops (slow: ~N^4)")
    # gamma is passed to the workers: recomputing it there can differ in the 11th digit (threaded BLAS rounding,
    # amplified 1e4 by the finite-difference calibration), which would show up as a spurious J difference
    ap.add_argument("--worker", nargs=3, metavar=("N", "SOLVER", "GAMMA"), help=argparse.SUPPRESS)
    ap.add_argument("--mem-worker", nargs=3, metavar=("N", "METHOD", "GAMMA"), help=argparse.SUPPRESS)
    ap.add_argument("--mem-sizes", type=int, nargs="*", default=[100, 200, 400, 600],
                    help="sizes of the one-process pauli / scipy time+memory runs")
    ap.add_argument("--pauli-sizes", type=int, nargs="*", default=[100, 200, 400, 600, 1000, 2000])
    ap.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "quantum.json"))
    args = ap.parse_args()
    if args.worker:
        worker(int(args.worker[0]), args.worker[1], float(args.worker[2]))
        return
    if args.mem_worker:
        mem_worker(int(args.mem_worker[0]), args.mem_worker[1], float(args.mem_worker[2]))
        return

    gamma = calibrate_gamma(ETA, 1000.0, kappa_target=float(np.sqrt(1000.0 / (2.0 * np.pi))))  # Eq. 12, m = L = 1
    rows: list[dict] = []
    # 1. Pauli sweep
    spec100 = box_spectrum(100)
    TR = np.logspace(-2, 3, 41)
    pauli_sweep(spec100, T_L, TR, gamma=gamma, eta=ETA)  # warm-up
    t, (_, J, _) = best_of(lambda: pauli_sweep(spec100, T_L, TR, gamma=gamma, eta=ETA), max(args.repeat, 5))
    rows.append({"case": "pauli_sweep", "N": 100, "points": 41, "seconds": t, "J_sat": float(J[0])})

    try:
        import qutip
    except ImportError:
        qutip = None
        print('qutip not installed: peer skipped. Install with: .venv/bin/pip install -c tools/constraints.txt '
              '"qutip>=5"')

    for N in args.sizes:
        spec = box_spectrum(N)
        J_ref = float(pauli_sweep(spec, T_L, T_R, gamma=gamma, eta=ETA)[1])
        t, r = best_of(lambda spec=spec: solve_ss(spec, T_L, T_R, gamma=gamma, eta=ETA, equation="lindblad",
                                                      backend="scipy"), args.repeat)
        rows.append({"case": "scipy", "N": N, "ranks": 1, "seconds": t, "J": r.J_L, "rel_err": abs(r.J_L / J_ref - 1),
                     "residual": r.residual, "method": r.method})
        t, r = best_of(lambda spec=spec: solve_ss(spec, T_L, T_R, gamma=gamma, eta=ETA, equation="lindblad",
                                                      backend="scipy", reduce=False), args.repeat)
        rows.append({"case": "scipy-full", "N": N, "ranks": 1, "seconds": t, "J": r.J_L,
                     "rel_err": abs(r.J_L / J_ref - 1), "residual": r.residual, "method": r.method})
        for solver in ("ksp", "eps"):
            for ranks in (1, 2):
                res = run_petsc(N, ranks, gamma, solver)
                name = f"petsc-np{ranks}" if solver == "ksp" else f"slepc-eps-np{ranks}"
                row = {"case": name, "N": N, "ranks": ranks, **res}
                if "J" in res:
                    row["rel_err"] = abs(res["J"] / J_ref - 1)
                rows.append(row)
        L = liouvillian_csr(spec, T_L, T_R, gamma=gamma, eta=ETA)
        t, _ = best_of(lambda L=L, N=N: solve_trace_constrained(L, N), args.repeat)
        rows.append({"case": "scipy-solve-only", "N": N, "ranks": 1, "seconds": t,
                     "note": "trace-constrained component LU on the pre-built real operator"})
        if qutip is not None:
            Lc = liouvillian_complex_csr(spec, T_L, T_R, gamma=gamma, eta=ETA)
            Lq = qutip.Qobj(Lc, dims=[[[N], [N]], [[N], [N]]], superrep="super")
            t, rho = best_of(lambda Lq=Lq: qutip.steadystate(Lq), max(1, args.repeat - 1))
            rho = rho.full()
            JL, JR = heat_currents(spec, rho, T_L, T_R, gamma=gamma, eta=ETA)
            rows.append({"case": "qutip", "N": N, "ranks": 1, "seconds": t, "J": JL, "rel_err": abs(JL / J_ref - 1),
                         "trace": float(np.real(np.trace(rho))), "version": qutip.__version__,
                         "note": "steadystate(L) only; operator built by mpiheat"})
    if qutip is not None:
        for N in args.qutip_build:
            rows += qutip_end_to_end(qutip, N, gamma)
    for N in args.scale:
        for ranks in (1, 2):
            res = run_petsc(N, ranks, gamma)
            rows.append({"case": f"petsc-np{ranks}", "N": N, "ranks": ranks, **res})
    # time and N-dependent peak memory of the one-process methods (fresh process per size)
    for N in args.pauli_sizes:
        rows.append({"case": "pauli", "N": N, "ranks": 1, **run_mem(N, "pauli", gamma)})
    for N in args.mem_sizes:
        rows.append({"case": "scipy-mem", "N": N, "ranks": 1, **run_mem(N, "scipy", gamma)})
    # memory per rank, 2 ranks vs 1 (PETSc KSP path; target <= 0.6 at N = 600)
    for N in sorted({r["N"] for r in rows if r["case"] in ("petsc-np1", "petsc-np2")}):
        m1 = [r for r in rows if r["case"] == "petsc-np1" and r["N"] == N and "mem_mb" in r]
        m2 = [r for r in rows if r["case"] == "petsc-np2" and r["N"] == N and "mem_mb" in r]
        if m1 and m2:
            one, two = max(m1[-1]["mem_mb"]), max(m2[-1]["mem_mb"])
            rows.append({"case": "mem_ratio", "N": N, "mem_np1_mb": one, "mem_np2_mb": m2[-1]["mem_mb"],
                         "ratio": two / one if one > 0 else float("nan"), "target": 0.6,
                         "note": "largest 2-rank N-dependent peak / 1-rank N-dependent peak (PETSc KSP)"})

    # speed-up against the peer at equal N (best of our methods)
    for N in args.sizes:
        ours = [r["seconds"] for r in rows if r.get("N") == N and r["case"] in ("scipy", "scipy-full", "petsc-np1")
                and "seconds" in r]
        peer = [r["seconds"] for r in rows if r.get("N") == N and r["case"] == "qutip"]
        if ours and peer:
            full = [r["seconds"] for r in rows if r.get("N") == N and r["case"] in ("scipy-full", "petsc-np1")]
            solve = [r["seconds"] for r in rows if r.get("N") == N and r["case"] == "scipy-solve-only"]
            rows.append({"case": "speedup_vs_qutip", "N": N, "ratio": peer[0] / min(ours),
                         "ratio_full_factorisation": peer[0] / min(full), "ratio_solve_only": peer[0] / solve[0],
                         "note": "ours incl. building L and currents vs qutip.steadystate on the pre-built L"})

    meta = {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "cpu_model": cpu_model(), "mem_total_gb": mem_total_gb(),
            "eta": ETA, "gamma": gamma, "T_L": T_L, "T_R": T_R, "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(f"{'case':<18}{'N':>6}{'ranks':>6}{'seconds':>10}{'rel_err(J)':>12}{'maxrss MB/rank':>18}"
          f"{'N-dep. peak MB/rank':>22}")
    for r in rows:
        if r["case"] == "mem_ratio":
            print(f"{'mem 2 ranks/1':<18}{r['N']:>6}{'':>6}{r['ratio']:>10.2f}   (1 rank {r['mem_np1_mb']:.0f} MB, "
                  f"2 ranks {', '.join(f'{v:.0f}' for v in r['mem_np2_mb'])} MB; target <= {r['target']})")
            continue
        if r["case"] == "speedup_end_to_end":
            print(f"{'speedup e2e':<18}{r['N']:>6}{'':>6}{r['ratio']:>10.0f}x  (QuTiP building L from c_ops)")
            continue
        if r["case"] == "speedup_vs_qutip":
            print(f"{'speedup vs qutip':<18}{r['N']:>6}{'':>6}{r['ratio']:>10.1f}x  (ours incl. build; full N^2 "
                  f"factorisation {r['ratio_full_factorisation']:.1f}x; solve only {r['ratio_solve_only']:.1f}x)")
            continue
        rss = ",".join(f"{v:.0f}" for v in r.get("maxrss_mb", [])) if "maxrss_mb" in r else ""
        mem = ",".join(f"{v:.0f}" for v in r.get("mem_mb", [])) if "mem_mb" in r else ""
        err = f"{r['rel_err']:.1e}" if "rel_err" in r else ("ERROR" if "error" in r else "")
        sec = f"{r['seconds']:.3f}" if "seconds" in r else "-"
        print(f"{r['case']:<18}{r['N']:>6}{r.get('ranks', 1):>6}{sec:>10}{err:>12}{rss:>18}{mem:>22}")
    print(f"written {args.output}")


if __name__ == "__main__":
    main()
