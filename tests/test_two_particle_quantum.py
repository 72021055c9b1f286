"""Two hard-core quantum particles (SPEC §4): exact equal-mass limit, convergence for m2/m1 = sqrt(2), heat currents."""

from __future__ import annotations

import math
import os
import textwrap

import numpy as np
import pytest

from mpiheat.quantum import QuantumProblem, steady_state
from mpiheat.quantum.operators.spectrum import Spectrum
from mpiheat.quantum.twoparticle.levels import (
    FIG5_MASSES,
    UnconvergedError,
    analytic_equal_mass_spectrum,
    degenerate_blocks,
    equal_mass_pairs,
    solve_triangle,
    solver_columns,
    two_particle_spectrum,
)
from mpiheat.quantum.twoparticle.spectral import project

SQ2 = math.sqrt(2.0)


def steadystate(spec, T_L, T_R, *, gamma, eta, equation="pauli"):
    """Steady state through the public front end (the defaults of the former keyword form: pauli, scipy)."""
    return steady_state(QuantumProblem(spec, T_L, T_R, gamma=gamma, eta=eta), equation=equation, backend="scipy")


@pytest.fixture(scope="module")
def equal100():
    return two_particle_spectrum(100, masses=(1.0, 1.0))


@pytest.fixture(scope="module")
def unequal100():
    return two_particle_spectrum(100, masses=FIG5_MASSES)


@pytest.fixture(scope="module")
def aligned_equal():
    """Solver eigenvectors (degree 56, 100 states) rotated onto the analytic basis, block by block."""
    an = analytic_equal_mass_spectrum(100)
    sol = solve_triangle(56, 100, (1.0, 1.0))
    ab = np.array(an.meta["pairs"])
    r2 = math.sqrt(2.0)

    def psi(x1, x2):
        a, b = ab[:, 0, None, None], ab[:, 1, None, None]
        u = lambda n, x: r2 * np.sin(n * np.pi * x)  # noqa: E731
        return u(a, x1) * u(b, x2) - u(b, x1) * u(a, x2)

    c_an = project(psi, sol.degree)  # analytic eigenfunctions in the orthonormal basis
    O = sol.C.T @ c_an  # O[i, j] = <psi_i^solver | psi_j^analytic>
    R = np.zeros_like(O)
    for blk in degenerate_blocks(an.E, 1e-12):
        U, _, Vt = np.linalg.svd(O[np.ix_(blk, blk)])
        R[np.ix_(blk, blk)] = U @ Vt
    return an, sol, c_an, O, R


# ------------------------------------------------------------------------------------------------ equal masses, exact

def test_multiplets_and_truncation():
    an = analytic_equal_mass_spectrum(100)
    k = an.keys[0] + (an.meta["pairs"][0][0] ** 2 + an.meta["pairs"][0][1] ** 2)
    assert an.N == 100
    values, counts = np.unique(k, return_counts=True)
    assert counts.max() == 2 and np.sum(counts == 2) == 13  # 13 exactly degenerate pairs in the lowest 100
    assert (1 * 1 + 8 * 8) in values[counts == 2]  # 1^2 + 8^2 = 4^2 + 7^2
    # truncation never splits a multiplet: the pair (1,8)/(4,7) sits at positions 18/19
    assert equal_mass_pairs(19).shape[0] == 20
    with pytest.raises(ValueError, match="splits the degenerate multiplet"):
        equal_mass_pairs(19, on_split="raise")
    for n in range(1, 160):
        kk = (equal_mass_pairs(n) ** 2).sum(axis=1)
        full = (equal_mass_pairs(n + 40) ** 2).sum(axis=1)
        assert len(kk) >= n and np.all(np.diff(kk) >= 0)
        assert np.sum(full == kk[-1]) == np.sum(kk == kk[-1])  # the last multiplet is complete
    assert analytic_equal_mass_spectrum(19).N == 20


def test_analytic_couplings_against_boundary_integral():
    """SPEC §4 closed form vs direct quadrature of (1/3) int d1 psi_i(0, x2) d1 psi_j(0, x2) dx2 (L = 1.3, m = 2)."""
    L, m = 1.3, 2.0
    an = analytic_equal_mass_spectrum(30, mass=m, length=L)
    ab = np.array(an.meta["pairs"])
    x, w = np.polynomial.legendre.leggauss(120)
    x, w = 0.5 * L * (x + 1), 0.5 * L * w
    u = lambda n, y: math.sqrt(2 / L) * np.sin(n[:, None] * np.pi * y / L)  # noqa: E731
    du0 = lambda n: math.sqrt(2 / L) * n * np.pi / L  # u_n'(0)  # noqa: E731
    duL = lambda n: math.sqrt(2 / L) * n * np.pi / L * np.cos(n * np.pi)  # u_n'(L)  # noqa: E731
    a, b = ab[:, 0], ab[:, 1]
    gL = du0(a)[:, None] * u(b, x) - du0(b)[:, None] * u(a, x)  # d1 psi(0, x2)
    gR = u(a, x) * duL(b)[:, None] - u(b, x) * duL(a)[:, None]  # d2 psi(x1, L)
    PL = (gL * w) @ gL.T / 3
    PR = (gR * w) @ gR.T / 3
    assert np.allclose(an.P_L, PL, rtol=0, atol=1e-10 * np.abs(PL).max())
    assert np.allclose(an.P_R, PR, rtol=0, atol=1e-10 * np.abs(PR).max())
    assert np.allclose(an.E, an.scale * (a**2 + b**2))
    # Rellich identity: <i|P|i> = 4 m E_i / (3 L) for both edges
    assert np.allclose(np.diag(an.P_L), 4 * m * an.E / (3 * L), rtol=1e-13)
    assert np.allclose(np.diag(an.P_R), 4 * m * an.E / (3 * L), rtol=1e-13)


def test_equal_mass_levels_match_analytic(equal100):
    an = analytic_equal_mass_spectrum(100)
    rel = np.abs(equal100.E / an.E - 1)
    print(f"equal masses: max relative level error {rel.max():.2e} at degree {equal100.meta['degree']}")
    assert equal100.N == 100
    assert rel.max() < 1e-10
    assert np.array_equal(equal100.keys, an.keys)
    assert equal100.scale == pytest.approx(an.scale, rel=1e-15)
    assert equal100.meta["converged"] and equal100.meta["max_err"] < 1e-8
    # the error estimate is honest: it bounds the true error
    assert np.all(rel <= np.maximum(10 * np.asarray(equal100.meta["err_E"]), 1e-11))
    # degenerate blocks of the couplings are multiples of the identity (basis-invariant form of the analytic result)
    for blk in degenerate_blocks(an.E, 1e-12):
        if blk.size > 1:
            for P in (equal100.P_L, equal100.P_R):
                B = P[np.ix_(blk, blk)]
                assert np.abs(B - B[0, 0] * np.eye(blk.size)).max() < 1e-9 * B[0, 0]


def test_equal_mass_scaling_with_mass_and_length():
    s1 = two_particle_spectrum(20, masses=(1.0, 1.0), resolution=30)
    s2 = two_particle_spectrum(20, masses=(2.0, 2.0), length=1.5, resolution=30)
    an = analytic_equal_mass_spectrum(20, mass=2.0, length=1.5)
    assert np.allclose(s2.E, an.E, rtol=1e-10)
    assert two_particle_spectrum(19, masses=(1.0, 1.0), resolution=30).N == 20  # (1,8)/(4,7) is not split
    cols = solver_columns(s2)
    assert cols["converged"] and cols["degree"] > 30 and cols["max_err"] < 1e-8
    assert np.allclose(s2.E, s1.E / (2.0 * 1.5**2), rtol=1e-12)
    # |P| scales as 1/L^3 at fixed m (invariant moduli: eigenvalues of P, which are basis-free)
    assert np.allclose(np.linalg.eigvalsh(s2.P_L), np.linalg.eigvalsh(an.P_L), rtol=0,
                       atol=1e-8 * np.abs(an.P_L).max())


def test_equal_mass_eigenvectors_and_couplings_after_alignment(aligned_equal):
    an, sol, c_an, O, R = aligned_equal
    # the analytic eigenfunctions lie in the polynomial space (norm 1) and the solver's span them
    assert np.allclose(np.linalg.norm(c_an, axis=0), 1.0, atol=1e-10)
    assert np.abs(R.T @ O - np.eye(100)).max() < 1e-8  # solver vectors @ R = analytic ones
    assert np.allclose(sol.E, an.E, rtol=1e-10)
    for P_num, P_an in ((sol.P_L, an.P_L), (sol.P_R, an.P_R)):
        aligned = R.T @ P_num @ R
        err = np.abs(aligned - P_an).max()
        print(f"aligned coupling error {err:.2e} (max |P| = {np.abs(P_an).max():.1f})")
        assert err < 1e-7  # absolute, |P| up to ~2000
    for P_num, P_an in ((sol.P_L_boundary, an.P_L), (sol.P_R_boundary, an.P_R)):
        # the raw boundary-trace form converges more slowly (derivative trace), but agrees too
        err = np.abs(R.T @ P_num @ R - P_an).max()
        print(f"boundary-trace coupling error {err:.2e}")
        assert err < 5e-8 * np.abs(P_an).max()


def test_equal_mass_heat_current_in_both_bases(aligned_equal, equal100):
    """J in the solver's basis equals J in the analytic basis (Lindblad: basis-free in degenerate blocks; Pauli: it
    is not, so it is compared after aligning the blocks) at T_L = 50, T_R = 5, eta = -2.25, gamma = 1."""
    an, sol, _, _, R = aligned_equal
    kw = dict(gamma=1.0, eta=-2.25)
    J_an = {eq: steadystate(an, 50.0, 5.0, equation=eq, **kw) for eq in ("pauli", "lindblad")}
    lind = steadystate(equal100, 50.0, 5.0, equation="lindblad", **kw)
    assert lind.J_L == pytest.approx(J_an["lindblad"].J_L, rel=1e-9)
    assert lind.J_R == pytest.approx(lind.J_L, rel=1e-10)
    rotated = Spectrum(E=sol.E, P_L=R.T @ sol.P_L @ R, P_R=R.T @ sol.P_R @ R, keys=an.keys, scale=an.scale)
    pauli = steadystate(rotated, 50.0, 5.0, equation="pauli", **kw)
    assert pauli.J_L == pytest.approx(J_an["pauli"].J_L, rel=1e-9)
    # Pauli is only approximate for equal masses (degenerate pairs -> coherences)
    rel = abs(J_an["pauli"].J_L / J_an["lindblad"].J_L - 1)
    print(f"equal masses N=100: J_lindblad={J_an['lindblad'].J_L:.10g}, Pauli/Lindblad - 1 = {rel:.1e}")
    assert rel < 1e-4


# ------------------------------------------------------------------------------------------------ unequal masses

def test_unequal_masses_converge(unequal100):
    """Levels and couplings of m2/m1 = sqrt(2) under p-refinement (reference: degree 60); rates printed."""
    ref = solve_triangle(60, 40, FIG5_MASSES)
    degrees = [12, 16, 20, 24, 28, 32, 40]
    errE, errP = [], []
    for p in degrees:
        sol = solve_triangle(p, 40, FIG5_MASSES)
        n = 30
        errE.append(np.max(np.abs(sol.E[:n] / ref.E[:n] - 1)))
        Cc = sol.basis.embed(sol.C, ref.basis)
        sign = np.sign(np.sum(Cc * ref.C, axis=0))  # non-degenerate: align signs
        dP = max(np.abs(sign[:, None] * sign[None, :] * Pc - Pf)[:n, :n].max() / np.diag(Pf)[:n].max()
                 for Pc, Pf in ((sol.P_L, ref.P_L), (sol.P_R, ref.P_R)))
        errP.append(dP)
    errE, errP = np.array(errE), np.array(errP)
    deg = np.array(degrees, dtype=float)
    loc = np.log(errE[:-1] / errE[1:]) / np.log(deg[1:] / deg[:-1])  # local algebraic exponent
    dec = np.log10(errE[:-1] / errE[1:]) / np.diff(deg)  # decades per unit degree
    print("\ndegree  max rel err E (30 states)  max rel err P  local exponent  decades/degree")
    for k, p in enumerate(degrees):
        more = f"{loc[k]:6.1f}  {dec[k]:.2f}" if k < len(loc) else ""
        print(f"{p:6d}  {errE[k]:.2e}  {errP[k]:.2e}  {more}")
    # super-algebraic (pre-asymptotic, oscillation-resolving) decay down to the round-off floor (~1e-12): the local
    # exponent grows and exceeds the asymptotic corner-singularity bound 4 * 3.60 = 14.4 well before the floor
    assert errE[-1] < 1e-10 and errP[-1] < 1e-8
    pre = np.flatnonzero(errE > 1e-10)
    assert np.all(np.diff(np.log(errE[pre])) < 0)
    assert np.all(np.diff(loc[pre[:-1]]) > 0) and loc[pre[-2]] > 14.4
    assert np.all(np.diff(np.log(errP[errP > 1e-8])) < 0)
    # the auto-resolved spectrum meets the 1e-8 target for all 100 states, with its own estimate
    assert unequal100.N == 100 and unequal100.keys is None
    assert unequal100.meta["converged"] and unequal100.meta["max_err"] < 1e-8
    assert np.allclose(unequal100.E[:40], ref.E, rtol=1e-10)


def test_unequal_masses_heat_trace_and_rellich(unequal100):
    """Independent check of completeness and accuracy: the heat trace of a polygon (H = -1/2 Laplacian in
    q_i = sqrt(m_i) x_i) is A/(4 pi t) - P/(8 sqrt(pi t)) + sum_v (pi^2 - th^2)/(24 pi th) up to exponentially
    small terms, t = tau/2; and the boundary-trace couplings obey <i|P|i> = 4 m E_i / (3 L) independently."""
    m1, m2 = FIG5_MASSES

    def weyl(tau, m1, m2):
        a, b = math.sqrt(m1), math.sqrt(m2)
        t = tau / 2
        th = math.atan(a / b)
        corners = sum((math.pi**2 - x**2) / (24 * math.pi * x) for x in (th, math.pi / 2 - th, math.pi / 2))
        return a * b / 2 / (4 * math.pi * t) - (a + b + math.hypot(a, b)) / (8 * math.sqrt(math.pi * t)) + corners

    # exponentially small remainder ~ exp(-h^2 / t), h = smallest altitude (0.765 here, 0.707 for equal masses)
    for tau in (0.03, 0.035):
        assert np.exp(-tau * unequal100.E[-1]) < 1e-13
        Z = np.sum(np.exp(-tau * unequal100.E))
        assert Z == pytest.approx(weyl(tau, m1, m2), rel=1e-11, abs=0)
    an = analytic_equal_mass_spectrum(400)
    for tau in (0.02, 0.03):
        Z_an = np.sum(np.exp(-tau * an.E))  # the formula itself, on the exact equal-mass spectrum
        assert Z_an == pytest.approx(weyl(tau, 1.0, 1.0), rel=1e-13, abs=0)
    assert abs(np.sum(np.exp(-0.06 * an.E)) / weyl(0.06, 1.0, 1.0) - 1) > 1e-8  # the remainder is really there
    sol = solve_triangle(50, 60, FIG5_MASSES)
    assert np.allclose(np.diag(sol.P_L_boundary), 4 * m1 * sol.E / 3, rtol=1e-7)
    assert np.allclose(np.diag(sol.P_R_boundary), 4 * m2 * sol.E / 3, rtol=1e-7)
    assert np.abs(sol.P_L_boundary - sol.P_L).max() < 1e-7 * np.diag(sol.P_L).max()


def test_mass_swap_is_mirror_image():
    """x -> L - x exchanges the particles: spectrum(m1, m2) = spectrum(m2, m1) with P_L <-> P_R (up to signs)."""
    a = solve_triangle(40, 30, (1.0, SQ2))
    b = solve_triangle(40, 30, (SQ2, 1.0))
    assert np.allclose(a.E, b.E, rtol=1e-11)
    assert np.allclose(np.abs(a.P_L), np.abs(b.P_R), rtol=0, atol=1e-8 * a.P_L.max())
    assert np.allclose(np.abs(a.P_R), np.abs(b.P_L), rtol=0, atol=1e-8 * a.P_L.max())


@pytest.mark.parametrize("method", [pytest.param("sparse", marks=pytest.mark.petsc), "spectral"])
def test_refuses_unconverged_states(method):
    with pytest.raises(UnconvergedError, match="exceed tol"):
        two_particle_spectrum(60, masses=FIG5_MASSES, resolution=16, method=method)
    s = two_particle_spectrum(60, masses=FIG5_MASSES, resolution=16, allow_unconverged=True, method=method)
    assert not s.meta["converged"] and s.meta["max_err"] > 1e-8
    assert len(s.meta["err"]) == s.N == 60
    with pytest.raises(ValueError):
        two_particle_spectrum(10, masses=(1.0, 1.0), method="sine")


# ------------------------------------------------------------------------------------------------ heat current

@pytest.mark.parametrize("equation", ["pauli", "lindblad"])
def test_two_particle_heat_current(unequal100, equation):
    spec = unequal100
    if equation == "lindblad":  # the full Liouvillian at N = 100 is fine but slower; 40 states suffice here
        spec = Spectrum(E=spec.E[:40], P_L=spec.P_L[:40, :40], P_R=spec.P_R[:40, :40], meta=spec.meta)
    kw = dict(gamma=1.0, eta=-2.25, equation=equation)
    hot = steadystate(spec, 50.0, 5.0, **kw)
    assert hot.J_L > 0
    assert hot.J_R == pytest.approx(hot.J_L, rel=1e-10)
    eq = steadystate(spec, 20.0, 20.0, **kw)
    assert abs(eq.J_L) < 1e-12 * hot.J_L and abs(eq.J_R) < 1e-12 * hot.J_L
    rev = steadystate(spec, 5.0, 50.0, **kw)
    assert rev.J_L < 0
    # equilibrium state is the Gibbs state
    p = np.exp(-(spec.E - spec.E[0]) / 20.0)
    assert np.allclose(np.real(np.diag(eq.rho)), p / p.sum(), rtol=1e-9, atol=1e-15)


@pytest.mark.mpi
@pytest.mark.petsc  # two ranks take the distributed (PETSc/SLEPc) solver
def test_mpi_broadcast(mpirun):
    script = textwrap.dedent("""
        from mpi4py import MPI
        import numpy as np
        from mpiheat.quantum.twoparticle.levels import two_particle_spectrum
        s = two_particle_spectrum(12, masses=(1.0, 2 ** 0.5), comm=MPI.COMM_WORLD)
        vals = MPI.COMM_WORLD.gather((s.E.tobytes(), s.P_L.tobytes(), s.P_R.tobytes()))
        if MPI.COMM_WORLD.rank == 0:
            assert all(v == vals[0] for v in vals), "ranks differ"
            print("OK", s.N)
    """)
    # env given explicitly: this process has initialised MPI (singleton), whose C-level setenv() would leak
    proc = mpirun(2, ["-c", script], env=dict(os.environ))
    assert "OK 12" in proc.stdout


# ---------------------------------------------------------------------------------------- sparse distributed solver

@pytest.fixture(scope="module")
def both200():
    """The distributed sparse solver (default) and the dense rank-0 solver of before, 200 states, m2/m1 = sqrt(2)."""
    return (two_particle_spectrum(200, masses=FIG5_MASSES, method="sparse"),
            two_particle_spectrum(200, masses=FIG5_MASSES, method="spectral"))


def test_sparse_basis_spans_the_same_space():
    """Same polynomial space as the orthonormal basis: identical Ritz values at equal degree; sparse Galerkin
    matrices (|i - i'| <= 2 in the t-index), assembled identically whether the rows are split or not."""
    from mpiheat.quantum.twoparticle.sparse import assemble_rows, mode_labels, n_modes

    p = 24
    n = n_modes(p)
    whole = assemble_rows(p, 0, n)
    parts = [assemble_rows(p, 0, 97), assemble_rows(p, 97, 180), assemble_rows(p, 180, n)]
    lab = mode_labels(p)
    for name in ("M", "K1", "K2", "G_L", "G_R"):
        X = whole.mats[name].toarray()
        Y = np.vstack([q.mats[name].toarray() for q in parts])
        assert np.abs(X - Y).max() <= 1e-13 * np.abs(X).max()
        r, c = np.nonzero(X)
        assert np.abs(lab[r, 0] - lab[c, 0]).max() <= 2
        assert (X != 0).sum() < 0.15 * n * n
    assert np.allclose(np.diag(whole.mats["M"].toarray()), 1.0, rtol=1e-13)
    import scipy.linalg as sla

    M = whole.mats["M"].toarray()
    K = whole.mats["K1"].toarray() / 2.0 + whole.mats["K2"].toarray() / (2.0 * SQ2)
    E = sla.eigh(0.5 * (K + K.T), 0.5 * (M + M.T), eigvals_only=True, subset_by_index=[0, 39])
    assert np.allclose(E, solve_triangle(p, 40, FIG5_MASSES).E, rtol=1e-11)


@pytest.mark.petsc  # the sparse solver is SLEPc's
def test_sparse_matches_dense_solver_at_200_states(both200):
    """Level agreement with the dense rank-0 solver at 200 states (both converged to 1e-8 by their own check)."""
    sp_, de = both200
    assert sp_.meta["method"] == "sparse" and de.meta["method"] == "spectral"
    assert sp_.meta["converged"] and sp_.meta["max_err"] < 1e-8
    assert sp_.N == de.N >= 200
    rel = np.abs(sp_.E / de.E - 1)
    print(f"sparse vs dense, 200 states: max relative level difference {rel.max():.1e}")
    assert rel.max() < 1e-9
    scale = np.diag(de.P_L).max()
    for a, b in ((sp_.P_L, de.P_L), (sp_.P_R, de.P_R)):
        assert np.allclose(np.diag(a), np.diag(b), rtol=1e-9)
        assert np.abs(np.abs(a) - np.abs(b)).max() < 1e-8 * scale  # eigenvector signs are arbitrary
    # a sign-blind observable: the Pauli heat current agrees
    kw = dict(gamma=1.0, eta=-2.25, equation="pauli")
    assert steadystate(sp_, 50.0, 5.0, **kw).J_L == pytest.approx(steadystate(de, 50.0, 5.0, **kw).J_L, rel=1e-9)
    cols = solver_columns(sp_)
    assert cols["method"] == "sparse" and cols["converged"] and cols["n_basis"] > 200


@pytest.mark.petsc  # the sparse solver is SLEPc's
def test_sparse_never_splits_a_multiplet():
    """Equal masses: 1^2 + 8^2 = 4^2 + 7^2 sits at positions 18/19; a request of 19 returns both."""
    s = two_particle_spectrum(19, masses=(1.0, 1.0), method="sparse", resolution=30)
    an = analytic_equal_mass_spectrum(20)
    assert s.N == 20 and [18, 19] in s.meta["clusters"]
    assert np.allclose(s.E, an.E, rtol=1e-11)
    assert np.array_equal(s.keys, an.keys)


@pytest.mark.mpi
@pytest.mark.petsc  # the sparse solver is SLEPc's
def test_sparse_one_rank_equals_two_ranks(mpirun, tmp_path):
    """The distributed solve on 2 ranks gives the 1-rank spectrum and couplings (to round-off, up to signs)."""
    out = tmp_path / "two.npz"
    script = textwrap.dedent(f"""
        from mpi4py import MPI
        import numpy as np
        from mpiheat.quantum.twoparticle.levels import two_particle_spectrum
        s = two_particle_spectrum(120, masses=(1.0, 2 ** 0.5), method="sparse", comm=MPI.COMM_WORLD)
        if MPI.COMM_WORLD.rank == 0:
            np.savez({str(out)!r}, E=s.E, P_L=s.P_L, P_R=s.P_R, ranks=s.meta["ranks"], degree=s.meta["degree"])
    """)
    mpirun(2, ["-c", script], env=dict(os.environ))
    two = np.load(out)
    from mpi4py import MPI

    one = two_particle_spectrum(120, masses=FIG5_MASSES, method="sparse", comm=MPI.COMM_SELF)
    assert int(two["ranks"]) == 2 and one.meta["ranks"] == 1 and int(two["degree"]) == one.meta["degree"]
    assert two["E"].shape == one.E.shape
    assert np.allclose(two["E"], one.E, rtol=1e-11)
    scale = np.diag(one.P_L).max()
    for key, P in (("P_L", one.P_L), ("P_R", one.P_R)):
        assert np.abs(np.abs(two[key]) - np.abs(P)).max() < 1e-10 * scale


@pytest.mark.petsc  # the sparse solver is SLEPc's
def test_sparse_leaves_no_options_behind():
    """The solver's PETSc/SLEPc options (prefix tp_) are pushed for one solve and popped after it, also when the
    solve is refused; a user's option is honoured (its key gets the prefix) and removed afterwards too."""
    from petsc4py import PETSc

    def tp_keys():
        return sorted(k for k in PETSc.Options().getAll() if k.startswith("tp_"))

    assert tp_keys() == []
    s = two_particle_spectrum(40, masses=FIG5_MASSES, method="sparse", petsc_options={"eps_tol": "1e-12"})
    assert s.meta["converged"] and tp_keys() == []
    with pytest.raises(UnconvergedError):
        two_particle_spectrum(60, masses=FIG5_MASSES, resolution=16, method="sparse",
                              petsc_options={"-tp_eps_tol": "1e-12"})
    assert tp_keys() == []
    # the stage timings the benchmark reads are recorded per pass
    hist = s.meta["history"]
    assert {"coarse_level", "coarse_couplings"} <= set(hist[0]["timing"])  # the coarse level of the first pass
    assert all({"fine_level", "align", "fine_couplings"} <= set(h["timing"]) for h in hist)
    h = hist[-1]
    assert h["levels"]["fine"]["n_states"] >= s.N and h["levels"]["fine"]["seconds_solve"] >= 0


def test_coupling_error_scale_is_cauchy_schwarz():
    """A coupling difference is measured against sqrt(P_ii P_jj), the bound of |P_ij| for the positive
    semidefinite P: a far off-diagonal entry of a low state is not judged against the small P_00 alone."""
    from mpiheat.quantum.twoparticle.levels import _row_errors

    P = np.diag([1.0, 100.0, 10000.0])
    D = np.zeros((3, 3))
    D[0, 2] = D[2, 0] = 1e-6  # sqrt(P_00 P_22) = 100
    err = _row_errors(P + D, P, chunk=2)
    assert np.allclose(err, [1e-8, 0.0, 1e-8], rtol=1e-12, atol=0)


def test_adaptive_degree_stops_at_a_precision_floor():
    """Raising the degree stops when it no longer halves the largest error estimate (a floor, not discretisation):
    the refusal then says so instead of solving ever larger bases."""
    from mpiheat.quantum.twoparticle.levels import _stalled

    h = [{"max_err_E": 1e-12, "max_err_P": 3.68e-8}]
    assert not _stalled(h)
    assert _stalled(h + [{"max_err_E": 1e-12, "max_err_P": 3.20e-8}])  # measured at 1000 states (old scale)
    assert not _stalled(h + [{"max_err_E": 1e-12, "max_err_P": 1.0e-8}])


@pytest.mark.petsc  # the sparse solver is SLEPc's
def test_probe_signs_equal_exact_overlap_signs():
    """A compressed coarse level (its vectors dropped, issue 12 memory) aligns by its probe overlaps: each state's
    sign equals the sign of the exact M-overlap of the embedded coarse vector with the fine one, and the probes are
    the same functions at both degrees (overlaps agree to the discretisation error)."""
    from mpi4py import MPI

    from mpiheat.quantum.twoparticle.distributed import align_levels, probe_vectors, solve_level
    from mpiheat.quantum.twoparticle.sparse import mode_labels

    comm = MPI.COMM_SELF
    m1, m2 = FIG5_MASSES
    coarse, fine = (solve_level(p, m1, m2, 60, comm) for p in (40, 48))
    n = 60
    # exact overlaps from the full vectors: embed coarse coefficients by mode label (hierarchical basis)
    lab_f, lab_c = mode_labels(48), mode_labels(40)
    index_f = {tuple(x): k for k, x in enumerate(lab_f)}
    emb = np.zeros((lab_f.shape[0], n))
    emb[[index_f[tuple(x)] for x in lab_c]] = coarse.C[:, :n]
    O = (fine.rows.mats["M"] @ emb).T @ fine.C[:, :n]
    exact = np.sign(np.diag(O))
    assert np.all(np.abs(np.diag(O)) > 0.99)  # converged states: overlaps are +-1
    coarse.compress(np.zeros(0, dtype=np.int64), comm)
    assert coarse.C is None and coarse.keep.size == 0
    F_f = (fine.rows.mats["M"] @ probe_vectors(40, 48)).T @ fine.C[:, :n]
    assert np.allclose(np.abs(coarse.probes[:, :n]), np.abs(F_f), rtol=0, atol=1e-4)  # p = 40: top states ~1e-5
    R = align_levels(coarse, fine, [np.array([a]) for a in range(n)], n, comm)
    signs = np.array([Rb[0, 0] for _, Rb in R])
    assert np.array_equal(signs, exact)
    assert (signs < 0).any() and (signs > 0).any()  # both signs occur: the check can fail


@pytest.mark.petsc  # the sparse solver is SLEPc's
def test_rayleigh_ritz_removes_the_mixing_of_neighbouring_shifts(monkeypatch):
    """Spectrum slicing solves each shift apart, and eigenvectors of neighbouring shifts come out mixed (not
    M-orthogonal to better than ~1e-9 at 1000 states; that was the floor of the coupling estimate). The block
    Rayleigh-Ritz of solve_level makes them M-orthonormal to round-off; without it (patched
    out) the same solve is measurably mixed, so the check can fail."""
    from mpi4py import MPI

    import mpiheat.quantum.twoparticle.distributed as D

    comm = MPI.COMM_SELF
    m1, m2 = FIG5_MASSES

    def gram_error(level):
        G = level.C.T @ (level.rows.mats["M"] @ level.C)
        return np.abs(G - np.eye(G.shape[0])).max()

    p, n = 90, 560  # ~14 shifts of 40 states, 2 blocks of 2 RR_HALF: both passes of the blocks run
    with_rr = D.solve_level(p, m1, m2, n, comm)
    monkeypatch.setattr(D, "_rayleigh_ritz", lambda PETSc, K, M, C, E, comm, stats: (E, np.arange(E.size)))
    without = D.solve_level(p, m1, m2, n, comm)
    assert with_rr.E.size == without.E.size > 2 * D.RR_HALF
    assert gram_error(with_rr) < 1e-13, gram_error(with_rr)
    assert gram_error(without) > 1e-11, gram_error(without)
    # the levels barely move (an error quadratic in the mixing), and the recorded health number says by how much
    change = np.abs(with_rr.E - without.E) / without.E
    assert 0 < change.max() < 1e-9 and with_rr.stats["rr_max_level_change"] >= 0.5 * change.max()
    assert with_rr.stats["rr_max_rotation"] > 1e-11 and with_rr.stats["seconds_rayleigh_ritz"] >= 0
