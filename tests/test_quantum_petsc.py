"""PETSc KSP / SLEPc EPS steady states: agreement with scipy and Pauli, in one process and under mpirun -n 2."""

from __future__ import annotations

import json
import os
import sys
import textwrap

import numpy as np
import pytest

from mpiheat.quantum import QuantumProblem, SolverOptions, steady_state
from mpiheat.quantum.operators.spectrum import box_spectrum

pytestmark = pytest.mark.petsc  # skips, with the reason, where petsc4py/slepc4py are absent (tests/conftest.py)

from tests.conftest import run_mpi  # noqa: E402

KW = {"gamma": 1.0, "eta": -2.25}

def solve(spec, T_L, T_R, *, gamma, eta, equation="pauli", backend="scipy", solver="auto", comm=None, **options):
    """Steady state through the public front end (``options``: fields of SolverOptions)."""
    return steady_state(QuantumProblem(spec, T_L, T_R, gamma=gamma, eta=eta), equation=equation, backend=backend,
                        solver=solver, comm=comm, options=SolverOptions(**options))
POINTS = [(12, 50.0, 2.0), (20, 1000.0, 0.05), (30, 300.0, 30.0)]


@pytest.mark.parametrize("N,T_L,T_R", POINTS)
@pytest.mark.parametrize("solver", ["linear", "eigen"])
def test_petsc_serial_matches_scipy_and_pauli(N, T_L, T_R, solver):
    spec = box_spectrum(N)
    ref = solve(spec, T_L, T_R, equation="lindblad", backend="scipy", **KW)
    pauli = solve(spec, T_L, T_R, equation="pauli", **KW)
    r = solve(spec, T_L, T_R, equation="lindblad", backend="petsc", solver=solver, **KW)
    assert abs(r.J_L / ref.J_L - 1) <= 1e-10
    assert abs(r.J_L / pauli.J_L - 1) <= 1e-10
    assert abs(r.J_L - r.J_R) <= 1e-10 * abs(r.J_L)
    assert abs(r.trace - 1) <= 1e-13
    assert r.converged.startswith("CONVERGED")
    assert r.residual <= 1e-10 * max(1.0, abs(r.J_L))
    assert r.rho_min_eig > -1e-14
    assert np.max(np.abs(r.rho - ref.rho)) <= 1e-10
    if solver == "eigen":
        assert abs(r.eigenvalue) < 1e-8  # the null eigenvalue of L
        assert "sinvert" in r.method
    else:
        assert "mumps" in r.method or "lu" in r.method


def test_petsc_options_are_honoured_and_health_reports_failure():
    """A deliberately weak KSP (Jacobi GMRES, 3 iterations) must show in method and converged, not pass silently."""
    spec = box_spectrum(15)
    r = solve(spec, 50.0, 2.0, equation="lindblad", backend="petsc", solver="linear",
                    petsc_options="-ss_ksp_type gmres -pc_type jacobi -ss_ksp_max_it 3 -ss_ksp_rtol 1e-14", **KW)
    assert "gmres" in r.method and "jacobi" in r.method
    assert r.converged in ("DIVERGED_ITS", "DIVERGED_MAX_IT") and r.iterations == 3
    # options are per call: the next solve is the default direct one again
    r2 = solve(spec, 50.0, 2.0, equation="lindblad", backend="petsc", solver="linear", **KW)
    assert "preonly" in r2.method and r2.converged.startswith("CONVERGED")
    r3 = solve(spec, 50.0, 2.0, equation="lindblad", backend="petsc", solver="eigen",
                     petsc_options={"eps_type": "arnoldi"}, **KW)
    assert "arnoldi" in r3.method and abs(r3.J_L / r2.J_L - 1) < 1e-10


def test_solve_options_never_stay_in_the_global_database():
    """Per-solve options are pushed into PETSc's global options database for the solve and popped after it: after a
    Lindblad KSP, a Lindblad EPS and a Redfield shell KSP the database is exactly what it was (defaults such as the
    MUMPS ordering included), and a name that was already set gets its old value back. The options did act (method,
    reason and iteration counts show them)."""
    from petsc4py import PETSc

    opts = PETSc.Options()
    opts["ss_ksp_gmres_restart"] = "30"  # set before, e.g. on the command line: must survive every solve
    try:
        before = opts.getAll()
        spec = box_spectrum(12)
        ksp = solve(spec, 50.0, 2.0, equation="lindblad", backend="petsc", solver="linear", **KW,
                    petsc_options="-ss_ksp_type gmres -pc_type jacobi -ss_ksp_max_it 3 -ss_ksp_gmres_restart 40")
        assert "gmres" in ksp.method and "jacobi" in ksp.method and ksp.iterations == 3 and not ksp.ok
        assert opts.getAll() == before
        eps = solve(spec, 50.0, 2.0, equation="lindblad", backend="petsc", solver="eigen", **KW,
                    petsc_options={"eps_type": "arnoldi", "eps_monitor_cancel": None})
        assert "arnoldi" in eps.method and eps.ok
        assert opts.getAll() == before
        shell = solve(spec, 50.0, 2.0, gamma=1e-3, eta=-2.25, equation="redfield", backend="petsc",
                      redfield_check="none", petsc_options="-ss_ksp_max_it 1 -ss_ksp_gmres_restart 40")
        assert shell.converged == "DIVERGED_MAX_IT" and shell.iterations == 1 and not shell.ok
        assert opts.getAll() == before
        # and the next solve is the default one again
        again = solve(spec, 50.0, 2.0, gamma=1e-3, eta=-2.25, equation="redfield", backend="petsc",
                      redfield_check="none")
        assert again.ok and again.iterations > 1 and opts.getAll() == before
        # a solve that fails inside PETSc (unknown KSP type) pops its options too
        for equation in ("lindblad", "redfield"):
            with pytest.raises(PETSc.Error):
                solve(spec, 50.0, 2.0, gamma=1e-3, eta=-2.25, equation=equation, backend="petsc",
                      redfield_check="none", petsc_options="-ss_ksp_type no_such_type")
            assert opts.getAll() == before
    finally:
        opts.delValue("ss_ksp_gmres_restart")
    assert opts.getAll() == {k: v for k, v in before.items() if k != "ss_ksp_gmres_restart"}


def test_missing_petsc_raises_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "petsc4py", None)
    monkeypatch.setitem(sys.modules, "petsc4py.PETSc", None)
    spec = box_spectrum(5)
    with pytest.raises(ImportError, match="backend='petsc'.*petsc4py"):
        solve(spec, 10.0, 1.0, equation="lindblad", backend="petsc", **KW)
    # "auto" falls back to scipy
    r = solve(spec, 10.0, 1.0, equation="lindblad", backend="auto", **KW)
    assert r.backend == "scipy"


DRIVER = textwrap.dedent("""
    import json, sys
    import numpy as np
    from mpi4py import MPI
    from mpiheat.quantum import QuantumProblem, box_spectrum, steady_state
    comm = MPI.COMM_WORLD
    out = []
    for N, T_L, T_R in json.loads(sys.argv[1]):
        for solver in ("linear", "eigen"):
            r = steady_state(QuantumProblem(box_spectrum(N), T_L, T_R, gamma=1.0, eta=-2.25), equation="lindblad",
                             backend="auto", solver=solver, comm=comm)
            # rho must be identical on every rank
            same = comm.allreduce(float(np.max(np.abs(r.rho - comm.bcast(r.rho, root=0)))), op=MPI.MAX)
            out.append(dict(N=N, T_L=T_L, T_R=T_R, solver=solver, J_L=r.J_L, J_R=r.J_R, same=same,
                            diag=np.diag(r.rho).real.tolist(), **{k: v for k, v in r.as_columns().items()
                                                                  if k in ("converged", "method", "trace")}))
    if comm.rank == 0:
        print("RESULT" + json.dumps(out))
""")


def test_mpirun_two_ranks_matches_serial(tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    # this process may already be an MPI singleton (petsc4py/mpi4py imported by other tests): its PMIx/OMPI runtime
    # variables would confuse the child mpirun, so pass only the user-level settings on
    keep = ("OMPI_ALLOW_RUN_AS_ROOT", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "OMPI_MCA_rmaps_base_oversubscribe")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMIX_", "OPAL_")) or k in keep}
    proc = run_mpi(2, [str(script), json.dumps(POINTS)], timeout=300, env=env)
    line = [s for s in proc.stdout.splitlines() if s.startswith("RESULT")][0]
    rows = json.loads(line[len("RESULT"):])
    assert len(rows) == 2 * len(POINTS)
    for row in rows:
        ref = solve(box_spectrum(row["N"]), row["T_L"], row["T_R"], equation="lindblad", backend="scipy", **KW)
        assert "np=2" in row["method"] and row["converged"].startswith("CONVERGED")
        assert abs(row["J_L"] / ref.J_L - 1) <= 1e-10, row
        assert abs(row["J_R"] / ref.J_L - 1) <= 1e-10, row
        assert row["same"] == 0.0
        assert np.allclose(row["diag"], np.diag(ref.rho).real, rtol=1e-9, atol=1e-15)


def test_eps_large_box_regression():
    """EPS at N = 100 (where MUMPS once stopped on the exact zero pivot of shift-and-invert at 0) equals Pauli."""
    sp = box_spectrum(100)
    a = solve(sp, 1000.0, 10.0, gamma=5.2548, eta=-2.25, equation="lindblad", backend="petsc", solver="eigen")
    b = solve(sp, 1000.0, 10.0, gamma=5.2548, eta=-2.25, equation="pauli")
    assert a.converged.startswith("CONVERGED")
    assert abs(a.J_L / b.J_L - 1) < 1e-10
    assert abs(a.eigenvalue) < 1e-8


@pytest.mark.parametrize("N", [2, 5, 30, 600])
@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_row_split_covers_rows_in_order_without_splitting_pairs(N, size):
    """Issue 12 row split: contiguous blocks covering all N^2 rows in order; no (Re, Im) coherence pair is cut."""
    from mpiheat.quantum.solvers.petsc_backend import row_split

    dim = N * N
    blocks = [row_split(dim, N, size, k) for k in range(size)]
    assert blocks[0][0] == 0 and blocks[-1][1] == dim
    assert all(a[1] == b[0] for a, b in zip(blocks, blocks[1:]))
    assert all(r0 <= r1 for r0, r1 in blocks)
    for r0, _ in blocks[1:]:
        assert r0 <= N or (r0 - N) % 2 == 0


DEGENERATE_DRIVER = textwrap.dedent("""
    import json, os, sys
    sys.path.insert(0, os.getcwd())
    import numpy as np
    from mpi4py import MPI
    from petsc4py import PETSc
    from mpiheat.quantum import QuantumProblem, box_spectrum, steady_state
    from tests.test_quantum_lindblad import pair_spectrum
    comm = MPI.COMM_WORLD
    out = []
    for name, spec, T_L, T_R in (("pair", pair_spectrum(), 400.0, 5.0), ("box", box_spectrum(40), 1000.0, 1.0)):
        before = PETSc.Options().getAll()
        r = steady_state(QuantumProblem(spec, T_L, T_R, gamma=1.0, eta=-2.25), equation="lindblad", backend="petsc",
                         solver="linear", comm=comm)
        clean = PETSc.Options().getAll() == before  # the block-Jacobi sub-solver options were popped too
        same = comm.allreduce(float(np.max(np.abs(r.rho - comm.bcast(r.rho, root=0)))), op=MPI.MAX)
        out.append(dict(name=name, T_L=T_L, T_R=T_R, J_L=r.J_L, J_R=r.J_R, same=same, residual=r.residual,
                        rho_re=np.real(r.rho).tolist(), rho_im=np.imag(r.rho).tolist(), method=r.method,
                        converged=r.converged, iterations=r.iterations, clean=clean))
    if comm.rank == 0:
        print("RESULT" + json.dumps(out))
""")


def test_two_ranks_block_jacobi_matches_scipy_with_coherences(tmp_path):
    """Issue 12: on 2 ranks the KSP path is GMRES + block Jacobi (one LU per rank). With degenerate levels the steady
    state has coherences coupled across the rank boundary, so GMRES must iterate: rho and J still equal scipy's to
    solver tolerance, on every rank; the non-degenerate box needs exactly one iteration."""
    from tests.test_quantum_lindblad import pair_spectrum

    script = tmp_path / "driver.py"
    script.write_text(DEGENERATE_DRIVER)
    keep = ("OMPI_ALLOW_RUN_AS_ROOT", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "OMPI_MCA_rmaps_base_oversubscribe")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMIX_", "OPAL_")) or k in keep}
    proc = run_mpi(2, [str(script)], timeout=300, env=env)
    rows = json.loads([s for s in proc.stdout.splitlines() if s.startswith("RESULT")][0][len("RESULT"):])
    specs = {"pair": pair_spectrum(), "box": box_spectrum(40)}
    for row in rows:
        ref = solve(specs[row["name"]], row["T_L"], row["T_R"], equation="lindblad", backend="scipy", **KW)
        rho = np.asarray(row["rho_re"]) + 1j * np.asarray(row["rho_im"])
        assert "bjacobi" in row["method"] and "np=2" in row["method"], row["method"]
        assert row["converged"].startswith("CONVERGED") and row["same"] == 0.0 and row["clean"]
        assert abs(row["J_L"] / ref.J_L - 1) <= 1e-10 and abs(row["J_R"] / ref.J_L - 1) <= 1e-10
        assert np.max(np.abs(rho - ref.rho)) <= 1e-10
        assert row["residual"] <= 1e-10 * abs(ref.J_L)
        if row["name"] == "pair":
            assert np.max(np.abs(ref.rho - np.diag(np.diag(ref.rho)))) > 1e-6  # coherences present
            assert row["iterations"] >= 2  # cross-rank couplings: block Jacobi alone is not exact (3 measured)
        else:
            assert row["iterations"] == 1


# --------------------------------------------------------------------------------------------------------------------
# A PETSc build without MUMPS (PyPI's petsc built without Fortran, README "Installing") must still solve.

def test_factor_package_follows_the_build():
    from mpiheat.quantum.solvers.petsc_backend import factor_package

    debian = {"mumps", "superlu_dist"}.__contains__
    pypi = set().__contains__  # petsc from PyPI with --with-fc=0: no MUMPS, no SuperLU_dist
    superlu = {"superlu_dist"}.__contains__
    assert factor_package(debian, parallel=False) == factor_package(debian, parallel=True) == "mumps"
    assert factor_package(pypi, parallel=False) == "petsc"
    assert factor_package(pypi, parallel=True) is None
    assert factor_package(superlu, parallel=True) == "superlu_dist"


_NO_MUMPS = textwrap.dedent("""
    import json, sys
    import numpy as np
    from mpi4py import MPI
    from petsc4py import PETSc
    from mpiheat.quantum.operators.lindblad import liouvillian_csr, real_dim
    from mpiheat.quantum.operators.spectrum import box_spectrum
    from mpiheat.quantum.solvers import petsc_backend

    N, T_L, T_R = 20, 1000.0, 0.05
    spec = box_spectrum(N)
    build = lambda rows: liouvillian_csr(spec, T_L, T_R, gamma=1.0, eta=-2.25, rows=rows, baths="LR",
                                         hamiltonian=True)
    before = PETSc.Options().getAll()
    out = {}
    for name, have in (("mumps", None), ("none", lambda pkg: False)):
        x, info = petsc_backend.solve_distributed(build, real_dim(N), N, solver="ksp", comm=MPI.COMM_WORLD, have=have)
        out[name] = [x.tolist(), info["converged"], info["method"]]
    out["options_left"] = sorted(set(PETSc.Options().getAll()) - set(before))
    if MPI.COMM_WORLD.Get_rank() == 0:
        print("RESULT", json.dumps(out))
""")


@pytest.mark.parametrize("ranks", [1, 2])
def test_solve_without_mumps_matches_mumps(ranks, tmp_path):
    """The no-MUMPS path (PETSc's own LU; on 2 ranks block-Jacobi GMRES with a PETSc LU per rank) gives the MUMPS
    steady state to round-off and leaves no option behind."""
    script = tmp_path / "no_mumps.py"
    script.write_text(_NO_MUMPS)
    proc = run_mpi(ranks, [str(script)], timeout=300)
    out = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])
    x_m, x_n = np.array(out["mumps"][0]), np.array(out["none"][0])
    assert out["mumps"][1].startswith("CONVERGED") and out["none"][1].startswith("CONVERGED")
    assert np.max(np.abs(x_n - x_m)) <= 1e-11 * np.max(np.abs(x_m))
    assert out["options_left"] == []
