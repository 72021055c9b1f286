"""Benchmark: Redfield steady state (matrix-free GMRES, and PETSc shell KSP on 2 ranks) at N = 40, 60, 100, 200.

Each size runs in a fresh subprocess so that ``ru_maxrss`` (peak resident memory) belongs to that size alone.
Parameters: the Letter's Fig. 6 regime (gamma = 1e-4, eta = -2.25, T_L = 1000, T_R = 100).  Target: N = 100 in
under 10 s on 2 cores, memory O(N^2) (no N^4 term).  The QuTiP peer (``bloch_redfield_tensor(sec_cutoff=-1)`` +
``steadystate``) runs only if qutip is importable, at N = 40 (``--peer-n60`` adds N = 60, ~6 min in SPEC's note).

The physicality check (rightmost generator eigenvalue, ``quantum/solvers/redfield_eigs``) is timed on its own,
also in fresh subprocesses: the matrix-free cluster + Jacobi-Davidson method at every size, side by side with dense
``eigvals`` of the assembled N^2 x N^2 generator where that is affordable (N <= 60), and their agreement.

Check vs solve at scale (issue 12, target: check <= 5x the solve at N = 300-400 on 2 ranks, 3x stretch): the
steady state on the PETSc shell matrix and the check, both on 2 ranks (``seconds_solve``, ``seconds_check`` of one
``solve_redfield(gen, backend="petsc", options=SolverOptions(redfield_check="cluster"))`` call under mpirun), at
N = 200, 300, 400 with the issue's parameter sets; the previous check (frequency clusters + shift-and-invert ARPACK,
loaded from git commit ``OLD_COMMIT``, candidates split over the 2 ranks) is timed at N = 200, 300 only
(N = 400 took 414 s).

Usage: ``python benchmarks/bench_redfield.py [--sizes 40 60 100 200] [--no-mpi] [--peer-n60] [--dense-max 60]
[--scale-sizes 200 300 400] [--old-sizes 200 300]``
Writes ``benchmarks/results/redfield.json`` and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from mpiheat.launcher import mpiexec

ROOT = Path(__file__).resolve().parents[1]
PARAMS = dict(T_L=1000.0, T_R=100.0, gamma=1e-4, eta=-2.25)
#: check-vs-solve points (issue 12): N = 200 the Fig. 6 regime above; N = 300 gamma = 1e-6, T_L = 600 (T_R = 60 our
#: choice); N = 400 gamma = 1e-3, T_L = 1000, T_R = 5 (strongly unstable)
SCALE_PARAMS = {200: PARAMS, 300: dict(T_L=600.0, T_R=60.0, gamma=1e-6, eta=-2.25),
                400: dict(T_L=1000.0, T_R=5.0, gamma=1e-3, eta=-2.25)}
#: last commit with the shift-and-invert ARPACK refinement (the "old" check)
OLD_COMMIT = "d02fbc3"

CHILD = r"""
import json, resource, sys, time, logging
logging.disable(logging.WARNING)
N, backend = int(sys.argv[1]), sys.argv[2]
P = json.loads(sys.argv[3])
from mpiheat.quantum import QuantumProblem, SolverOptions, box_spectrum, steady_state
from mpiheat.quantum.operators.pauli import pauli_sweep
sp = box_spectrum(N)
t0 = time.perf_counter()
s = steady_state(QuantumProblem(sp, P["T_L"], P["T_R"], gamma=P["gamma"], eta=P["eta"]), equation="redfield",
                 backend=backend, options=SolverOptions(redfield_check="none"))
dt = time.perf_counter() - t0
_, JL, _ = pauli_sweep(sp, P["T_L"], P["T_R"], gamma=P["gamma"], eta=P["eta"])
try:
    from mpi4py import MPI
    rank, size = MPI.COMM_WORLD.rank, MPI.COMM_WORLD.size
except ImportError:
    rank, size = 0, 1
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
if rank == 0:
    print(json.dumps(dict(N=N, backend=backend, ranks=size, seconds=dt, peak_rss_mb=rss, iterations=s.iterations,
                          residual=s.residual, converged=s.converged, J=s.J_L, J_rel_vs_lindblad=s.J_L / float(JL) - 1,
                          rho_min_eig=s.rho_min_eig)))
"""

EIGS = r"""
import json, resource, sys, time, logging
logging.disable(logging.WARNING)
N, method = int(sys.argv[1]), sys.argv[2]
P = json.loads(sys.argv[3])
from mpiheat.quantum.operators.spectrum import box_spectrum
from mpiheat.quantum.operators.redfield import redfield_generator
from mpiheat.quantum.solvers.redfield_eigs import rightmost_eigenvalues
gen = redfield_generator(box_spectrum(N), P["T_L"], P["T_R"], gamma=P["gamma"], eta=P["eta"])
t0 = time.perf_counter()
r = rightmost_eigenvalues(gen, method=method)
dt = time.perf_counter() - t0
print(json.dumps(dict(N=N, method=r.method, seconds=dt, max_real=r.max_real, imag=r.eigenvalue.imag,
                      approx_max_real=r.approx_max_real, products=r.products,
                      peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)))
"""

SCALE = r"""
import importlib.util, json, sys, time, logging
logging.disable(logging.WARNING)
N, P, which = int(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
from mpi4py import MPI
from mpiheat.quantum.operators.spectrum import box_spectrum
from mpiheat.quantum.operators import redfield as rf
from mpiheat.quantum.solvers.redfield_steady import solve_redfield
from mpiheat.quantum.solvers.base import SolverOptions
comm = MPI.COMM_WORLD
gen = rf.redfield_generator(box_spectrum(N), P["T_L"], P["T_R"], gamma=P["gamma"], eta=P["eta"])
if which == "old":
    spec = importlib.util.spec_from_file_location("mpiheat.quantum._redfield_eigs_old", sys.argv[4])
    old = importlib.util.module_from_spec(spec)
    old.__package__ = "mpiheat.quantum"
    sys.modules[spec.name] = old  # dataclasses look the module up while the class body runs
    spec.loader.exec_module(old)
    comm.Barrier()
    t0 = time.perf_counter()
    r = old.rightmost_eigenvalues(gen, method="cluster", comm=comm)
    out = dict(seconds_check=time.perf_counter() - t0, max_real_eig=r.max_real, eig_method=r.method)
else:
    s = solve_redfield(gen, backend="petsc", options=SolverOptions(redfield_check="cluster"), comm=comm)
    out = dict(seconds_solve=s.seconds_solve, seconds_check=s.seconds_check, iterations=s.iterations,
               converged=s.converged, max_real_eig=s.max_real_eig, eig_method=s.eig_method, unphysical=s.unphysical)
if comm.rank == 0:
    print(json.dumps(dict(N=N, which=which, ranks=comm.size, **out)))
"""

PEER = r"""
import json, sys, time, resource
import numpy as np
import qutip
N = int(sys.argv[1]); P = json.loads(sys.argv[2])
from mpiheat.quantum.operators.spectrum import box_spectrum
sp = box_spectrum(N)
H = qutip.Qobj(np.diag(sp.E))
def spec(T):
    def f(w):
        w = np.asarray(w, dtype=float); a = np.abs(w)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            J = np.where(a > 0, P["gamma"] * a ** P["eta"], 0.0); n = np.where(a > 0, 1 / np.expm1(a / T), 0.0)
        # qutip's convention: S(w) > 0 for w > 0 is emission (J(1+n)); w < 0 absorption (J n)
        return np.where(w > 0, J * (1 + n), np.where(w < 0, J * n, 0.0))
    return f
t0 = time.perf_counter()
R = qutip.bloch_redfield_tensor(H, [[qutip.Qobj(sp.P_L), spec(P["T_L"])], [qutip.Qobj(sp.P_R), spec(P["T_R"])]],
                                sec_cutoff=-1, fock_basis=True)
t1 = time.perf_counter()
rho = qutip.steadystate(R)
t2 = time.perf_counter()
print(json.dumps(dict(N=N, backend="qutip", ranks=1, seconds=t2 - t0, tensor_seconds=t1 - t0,
                      peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                      qutip_version=qutip.__version__)))
"""


def _env():
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_rmaps_base_oversubscribe="1",
               PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""))
    return env


def run_child(N: int, backend: str, ranks: int = 1) -> dict:
    cmd = [sys.executable, "-c", CHILD, str(N), backend, json.dumps(PARAMS)]
    if ranks > 1:
        cmd = mpiexec(ranks, *cmd)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=3600)
    if p.returncode != 0:
        return dict(N=N, backend=backend, ranks=ranks, error=p.stderr.strip().splitlines()[-1:])
    out = json.loads(p.stdout.strip().splitlines()[-1])
    out["process_seconds"] = time.perf_counter() - t0
    return out


def run_eigs(N: int, method: str) -> dict:
    cmd = [sys.executable, "-c", EIGS, str(N), method, json.dumps(PARAMS)]
    p = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=7200)
    if p.returncode != 0:
        return dict(N=N, method=method, error=p.stderr.strip().splitlines()[-1:])
    return json.loads(p.stdout.strip().splitlines()[-1])


def run_scale(N: int, which: str, ranks: int = 2, old_path: str | None = None) -> dict:
    """Solve + check (``which="new"``) or the old check alone (``"old"``) at one size, under mpirun."""
    cmd = mpiexec(ranks, sys.executable, "-c", SCALE, str(N), json.dumps(SCALE_PARAMS[N]), which)
    if old_path:
        cmd.append(old_path)
    p = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=7200)
    if p.returncode != 0:
        return dict(N=N, which=which, ranks=ranks, error=p.stderr.strip().splitlines()[-1:])
    return json.loads(p.stdout.strip().splitlines()[-1])


def old_check_source(dest: Path) -> str | None:
    """Write the old check's module (``git show OLD_COMMIT:...``) to ``dest``; None if git cannot."""
    p = subprocess.run(["git", "show", f"{OLD_COMMIT}:mpiheat/quantum/solvers/redfield_eigs.py"], capture_output=True,
                       text=True, cwd=ROOT)
    if p.returncode != 0:
        return None
    dest.write_text(p.stdout)
    return str(dest)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[40, 60, 100, 200])
    ap.add_argument("--no-mpi", action="store_true", help="skip the PETSc shell-KSP runs on 2 ranks")
    ap.add_argument("--peer-n60", action="store_true", help="also run the QuTiP peer at N = 60 (minutes)")
    ap.add_argument("--dense-max", type=int, default=60, help="largest N for the dense eigvals comparison")
    ap.add_argument("--scale-sizes", type=int, nargs="*", default=[200, 300, 400],
                    help="check-vs-solve sizes on 2 ranks (keys of SCALE_PARAMS)")
    ap.add_argument("--old-sizes", type=int, nargs="*", default=[200, 300],
                    help="sizes at which the old (ARPACK) check is also timed")
    ap.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "redfield.json"))
    args = ap.parse_args(argv)
    rows = []
    for N in args.sizes:
        rows.append(run_child(N, "scipy"))
        if not args.no_mpi:
            rows.append(run_child(N, "petsc", ranks=2))
    eigs = []
    for N in args.sizes:
        eigs.append(run_eigs(N, "cluster"))
        if N <= args.dense_max:
            eigs.append(run_eigs(N, "dense"))
    peer = []
    try:
        import qutip  # noqa: F401

        for N in [40] + ([60] if args.peer_n60 else []):
            p = subprocess.run([sys.executable, "-c", PEER, str(N), json.dumps(PARAMS)], capture_output=True,
                               text=True, env=_env(), cwd=ROOT, timeout=7200)
            peer.append(json.loads(p.stdout.strip().splitlines()[-1]) if p.returncode == 0 else
                        dict(N=N, backend="qutip", error=p.stderr.strip().splitlines()[-1:]))
    except ImportError:
        peer.append(dict(backend="qutip", skipped="qutip not importable; SPEC quotes QuTiP 5.3 tensor build 31 s "
                                                  "(N = 40) and 373 s (N = 60)"))
    hdr = f"{'N':>5} {'backend':>8} {'ranks':>5} {'seconds':>9} {'RSS MB':>8} {'its':>4} {'residual':>10} " \
          f"{'J/J_Lind-1':>11} {'min eig':>10}"
    print(hdr)
    for r in rows:
        if "error" in r:
            print(f"{r['N']:>5} {r['backend']:>8} {r['ranks']:>5}  ERROR {r['error']}")
            continue
        print(f"{r['N']:>5} {r['backend']:>8} {r['ranks']:>5} {r['seconds']:>9.3f} {r['peak_rss_mb']:>8.1f} "
              f"{r['iterations']:>4} {r['residual']:>10.2e} {r['J_rel_vs_lindblad']:>11.2e} {r['rho_min_eig']:>10.2e}")
    print("\nphysicality check: rightmost eigenvalue of the generator (zero mode excluded)")
    print(f"{'N':>5} {'method':>44} {'seconds':>9} {'RSS MB':>8} {'max Re(lambda)':>16} {'Im':>10}")
    for r in eigs:
        if "error" in r:
            print(f"{r['N']:>5} {r['method']:>44}  ERROR {r['error']}")
            continue
        print(f"{r['N']:>5} {r['method']:>44} {r['seconds']:>9.2f} {r['peak_rss_mb']:>8.1f} {r['max_real']:>16.10e} "
              f"{r['imag']:>10.3g}")
    agree = {}
    for N in args.sizes:
        c = [r for r in eigs if r["N"] == N and r.get("method", "").startswith("cluster") and "max_real" in r]
        d = [r for r in eigs if r["N"] == N and r.get("method") == "dense" and "max_real" in r]
        if c and d:
            agree[N] = dict(rel_diff=abs(c[0]["max_real"] / d[0]["max_real"] - 1),
                            speedup=d[0]["seconds"] / c[0]["seconds"])
            print(f"N={N}: cluster vs dense max Re(lambda) rel. diff {agree[N]['rel_diff']:.1e}, "
                  f"cluster {agree[N]['speedup']:.1f}x faster")
    # check vs solve at scale, 2 ranks
    scale = []
    old_path = None
    if args.old_sizes:
        import tempfile

        old_path = old_check_source(Path(tempfile.mkdtemp()) / "redfield_eigs_old.py")
    for N in args.scale_sizes:
        new_row = run_scale(N, "new")
        old_row = run_scale(N, "old", old_path=old_path) if (old_path and N in args.old_sizes) else None
        new_row["params"] = SCALE_PARAMS[N]
        if "seconds_check" in new_row:
            new_row["ratio"] = new_row["seconds_check"] / new_row["seconds_solve"]
        if old_row is not None:
            new_row["old"] = old_row
        scale.append(new_row)
    print("\nphysicality check vs steady-state solve, 2 ranks (PETSc shell KSP + cluster/Jacobi-Davidson check)")
    print(f"{'N':>5} {'gamma':>7} {'T_L':>6} {'T_R':>6} {'solve s':>8} {'its':>4} {'check s':>8} {'ratio':>6} "
          f"{'old check s':>11} {'old ratio':>9} {'max Re(lambda)':>15} {'old max Re':>15} {'unphys':>6}")
    for r in scale:
        P = r["params"]
        if "error" in r:
            print(f"{r['N']:>5}  ERROR {r['error']}")
            continue
        o = r.get("old") or {}
        old_s = f"{o['seconds_check']:>11.2f}" if "seconds_check" in o else f"{'-':>11}"
        old_ratio = f"{o['seconds_check'] / r['seconds_solve']:>9.1f}" if "seconds_check" in o else f"{'-':>9}"
        old_val = f"{o['max_real_eig']:>15.9e}" if "max_real_eig" in o else f"{'-':>15}"
        print(f"{r['N']:>5} {P['gamma']:>7.0e} {P['T_L']:>6.0f} {P['T_R']:>6.0f} {r['seconds_solve']:>8.2f} "
              f"{r['iterations']:>4} {r['seconds_check']:>8.2f} {r['ratio']:>6.2f} {old_s} {old_ratio} "
              f"{r['max_real_eig']:>15.9e} {old_val} {str(r['unphysical']):>6}")
    ours = {r["N"]: r["seconds"] for r in rows if r.get("backend") == "scipy" and "seconds" in r}
    ratios = {}
    for p in peer:
        if "seconds" in p:
            ratios[p["N"]] = p["seconds"] / ours.get(p["N"], float("nan"))
            print(f"QuTiP peer N={p['N']}: {p['seconds']:.1f} s (tensor {p['tensor_seconds']:.1f} s), "
                  f"ratio {ratios[p['N']]:.0f}x")
    # quoted ratio against SPEC's QuTiP 5.3 tensor-build times (not run here)
    quoted = {40: 31.0, 60: 373.0}
    ratio_quoted = {N: quoted[N] / ours[N] for N in quoted if N in ours}
    for N, q in ratio_quoted.items():
        print(f"SPEC's QuTiP 5.3 tensor build at N={N} ({quoted[N]:.0f} s) / ours (full solve): {q:.0f}x")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(dict(params=PARAMS, rows=rows, eigs=eigs, eig_agreement=agree,
                                                 check_vs_solve=scale, old_commit=OLD_COMMIT, peer=peer,
                                                 peer_ratio=ratios, ratio_vs_spec_qutip_tensor=ratio_quoted,
                                                 created=time.strftime("%Y-%m-%dT%H:%M:%S")), indent=2))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
