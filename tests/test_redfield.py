"""Redfield generator (SPEC §3, End Matter Eq. B1): exact cross-checks, the Lindblad limit, unphysical regimes."""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import pytest

from mpiheat.quantum import QuantumProblem, SolverOptions, steady_state
from mpiheat.quantum.operators import redfield as rf
from mpiheat.quantum.operators.lindblad import real_to_rho, rho_to_real
from mpiheat.quantum.operators.pauli import pauli_sweep, rate_matrices
from mpiheat.quantum.operators.spectrum import box_spectrum
from mpiheat.quantum.solvers.redfield_eigs import max_real_eigenvalue

PARAMS = dict(T_L=50.0, T_R=2.0, eta=-2.25)  # SPEC §3 reference point, N = 20
LOGGER = "mpiheat.quantum.solvers.redfield_steady"


def redfield(sp, T_L, T_R, *, gamma, eta, backend="scipy", check="auto", comm=None, **options):
    """Redfield steady state through the public front end (``options``: fields of SolverOptions)."""
    return steady_state(QuantumProblem(sp, T_L, T_R, gamma=gamma, eta=eta), equation="redfield", backend=backend,
                        comm=comm, options=SolverOptions(redfield_check=check, **options))


def random_hermitian(N, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(N, N)) + 1j * rng.normal(size=(N, N))
    return A + A.conj().T


def bloch_redfield_tensor(spectrum, T_L, T_R, gamma, eta):
    """Independent index-form construction: d rho_ab / dt = -i w_ab rho_ab + sum_cd R[a, b, c, d] rho_cd.

    R_abcd = 1/2 sum_alpha [P_ac P_db (G_ac + G_bd) - d_bd sum_n P_an P_nc G_nc - d_ac sum_n P_dn P_nb G_nd],
    G_ij = Gamma(E_j - E_i), with Gamma written out here from J and n (not taken from the module).
    """
    E = spectrum.E
    N = E.size
    w = E[None, :] - E[:, None]
    R = np.zeros((N, N, N, N))
    eye = np.eye(N)
    for P, T in ((spectrum.P_L, T_L), (spectrum.P_R, T_R)):
        aw = np.abs(w)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            J = np.where(aw > 0, gamma * aw**eta, 0.0)
            n = np.where(aw > 0, 1.0 / (np.exp(aw / T) - 1.0), 0.0)
        G = np.where(w > 0, J * (1 + n), np.where(w < 0, J * n, 0.0))
        R += 0.5 * np.einsum("ac,db->abcd", P, P) * (G[:, None, :, None] + G[None, :, None, :])
        R -= 0.5 * np.einsum("bd,ac->abcd", eye, np.einsum("an,nc,nc->ac", P, P, G))
        R -= 0.5 * np.einsum("ac,db->abcd", eye, np.einsum("dn,nb,nd->db", P, P, G))
    H = -1j * (E[:, None] - E[None, :])
    return R, H


def test_matrix_free_equals_eq_b1_and_independent_tensor():
    N = 20
    sp = box_spectrum(N)
    gen = rf.redfield_generator(sp, gamma=0.05, **PARAMS)
    rho = random_hermitian(N)
    ref = gen.apply(rho)  # Eq. B1 term by term, complex
    scale = np.abs(ref).max()
    fast = real_to_rho(gen.apply_real(rho_to_real(rho)), N)
    assert np.abs(fast - ref).max() <= 1e-12 * scale
    # independent Bloch-Redfield tensor (index form)
    R, H = bloch_redfield_tensor(sp, PARAMS["T_L"], PARAMS["T_R"], 0.05, PARAMS["eta"])
    tens = H * rho + np.einsum("abcd,cd->ab", R, rho)
    assert np.abs(tens - ref).max() <= 1e-12 * scale
    # assembled real superoperator, applied as a matrix
    Lmat = gen.assemble()
    assert np.abs(real_to_rho(Lmat @ rho_to_real(rho), N) - ref).max() <= 1e-12 * scale
    # trace preserving and Hermiticity preserving
    assert abs(np.trace(ref)) <= 1e-12 * scale
    assert np.abs(ref - ref.conj().T).max() <= 1e-12 * scale
    assert np.abs(Lmat[:N].sum(axis=0)).max() <= 1e-12 * np.abs(Lmat).max()


def test_row_split_products_match_full():
    N = 17
    gen = rf.redfield_generator(box_spectrum(N), gamma=0.02, **PARAMS)
    rho = random_hermitian(N, seed=3)
    RX, RY = gen.apply_xy(rho.real, rho.imag)
    for rows in (slice(0, 5), slice(5, 6), slice(6, 17)):
        rx, ry = gen.apply_xy(rho.real, rho.imag, rows=rows)
        assert np.abs(rx - RX[rows]).max() <= 1e-13 * np.abs(RX).max()
        assert np.abs(ry - RY[rows]).max() <= 1e-13 * np.abs(RY).max()


def test_population_block_is_pauli_and_secular_limit():
    """The Redfield population block equals the Pauli rate matrix (B's independent code)."""
    sp = box_spectrum(20)
    gen = rf.redfield_generator(sp, gamma=0.3, **PARAMS)
    W = rate_matrices(sp, PARAMS["T_L"], PARAMS["T_R"], gamma=0.3, eta=PARAMS["eta"])
    assert np.abs(gen.population_block() - W).max() <= 1e-13 * np.abs(W).max()


def test_gamma_to_zero_lindblad_limit_slope():
    """J_Redfield / J_Lindblad - 1 = c gamma^2 with c = -8.3 (SPEC §3), from linear solves at small gamma."""
    sp = box_spectrum(20)
    gammas = np.array([1e-3, 2e-3, 4e-3])
    rel = []
    for g in gammas:
        ss = redfield(sp, gamma=g, backend="scipy", tol=1e-14, check="none", **PARAMS)
        _, JL, _ = pauli_sweep(sp, PARAMS["T_L"], PARAMS["T_R"], gamma=g, eta=PARAMS["eta"])
        assert ss.converged == "CONVERGED_RTOL" and ss.ok, ss.converged
        assert abs(ss.J_L - ss.J_R) <= 1e-10 * abs(ss.J_L)
        rel.append(ss.J_L / float(JL) - 1.0)
    rel = np.array(rel)
    slope, intercept = np.polyfit(gammas**2, rel, 1)
    assert slope == pytest.approx(-8.3, abs=0.05)
    assert abs(intercept) < 1e-7  # no O(1) or O(gamma) offset: the limit is the Lindblad current
    # and each point alone already has the gamma^2 law (rel/gamma^2 constant to < 0.1 %)
    assert np.ptp(rel / gammas**2) < 1e-3 * abs(slope)


def test_krylov_failure_reported_in_the_one_vocabulary(caplog):
    """scipy GMRES stopped by its iteration limit says DIVERGED_MAX_IT (PETSc's KSP name), is not ok, and warns."""
    sp = box_spectrum(20)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        bad = redfield(sp, gamma=0.05, check="none", maxiter=1, restart=2, **PARAMS)
    assert bad.converged == "DIVERGED_MAX_IT" and not bad.ok and bad.iterations <= 2
    assert any("did not converge" in r.getMessage() for r in caplog.records)


def test_unphysical_regime_detected(caplog):
    sp = box_spectrum(20)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        bad = redfield(sp, gamma=0.1, backend="scipy", check="auto", **PARAMS)
    assert bad.max_real_eig == pytest.approx(1.07, abs=0.01)
    assert bad.unphysical
    assert any("unphysical" in r.getMessage() for r in caplog.records)
    cols = bad.as_columns()
    assert cols["unphysical"] is True and cols["max_real_eig"] > 1.0
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        good = redfield(sp, gamma=1e-4, backend="scipy", check="auto", **PARAMS)
    assert good.max_real_eig < 0
    assert not good.unphysical
    assert not caplog.records


def test_complex_form_blocks_and_block_inverse():
    """The cluster method's pieces: complex-basis product, entry-wise blocks, and the shifted block inverse."""
    from mpiheat.quantum.solvers.redfield_eigs import ClusterBlocks, _block, apply_complex

    N = 7
    gen = rf.redfield_generator(box_spectrum(N), gamma=0.05, **PARAMS)
    rng = np.random.default_rng(3)
    Z = rng.normal(size=(N, N)) + 1j * rng.normal(size=(N, N))  # general, not Hermitian
    assert np.abs(apply_complex(gen, Z) - gen.apply(Z)).max() <= 1e-12 * np.abs(gen.apply(Z)).max()
    n = N * N
    cols = np.empty((n, n), complex)
    for k in range(n):
        e = np.zeros(n, complex)
        e[k] = 1.0
        cols[:, k] = apply_complex(gen, e.reshape(N, N)).ravel()
    I, J = np.divmod(np.arange(n), N)
    assert np.abs(_block(gen, I, J, I, J) - cols).max() <= 1e-12 * np.abs(cols).max()
    # the complex-basis spectrum is the real-representation spectrum
    ev_c, ev_r = np.linalg.eigvals(cols), np.linalg.eigvals(gen.assemble())
    for a, b in ((ev_c, ev_r), (ev_r, ev_c)):
        assert np.abs(a[:, None] - b[None, :]).min(axis=1).max() <= 1e-9 * np.abs(ev_r).max()
    blocks = ClusterBlocks(gen, delta=1.0)
    assert blocks.max_block < n  # a real partition, not one block
    sigma = 0.3 + 20.0j
    blocks.set_shift(sigma)
    Lblk = np.zeros((n, n), complex)
    for s_, idx in blocks.groups.items():
        for c, B in zip(idx, blocks.blocks[s_]):
            Lblk[np.ix_(c, c)] = B
    assert np.abs(Lblk - cols)[Lblk != 0].max() <= 1e-12 * np.abs(cols).max()  # blocks are exact entries of L
    r = rng.normal(size=n) + 1j * rng.normal(size=n)
    z = blocks.solve(r)
    assert np.abs((Lblk - sigma * np.eye(n)) @ z - r).max() <= 1e-10 * np.abs(r).max()


# (N, gamma, T_L, T_R): stable and unstable points of the validation grid (dense vs cluster, 64 cases, all verdicts
# equal; see the closing note of issue 4)
EIG_CASES = [
    (30, 1e-4, 1000.0, 0.01),  # Fig. 6 regime: stable, slow population mode
    (30, 1e-3, 5.0, 5.0),  # equilibrium
    (40, 1e-4, 50.0, 2.0),
    (20, 0.1, 50.0, 2.0),  # SPEC's unstable reference point
    (30, 0.01, 1000.0, 0.01),  # unstable, high-frequency coherences
    (40, 1e-3, 1000.0, 0.01),  # unstable; the cluster value is an eigenvalue but not the rightmost one
]


@pytest.mark.parametrize("N,gamma,T_L,T_R", EIG_CASES)
def test_cluster_eigenvalue_check_matches_dense(N, gamma, T_L, T_R):
    """Matrix-free rightmost-eigenvalue search vs dense eigvals of the assembled generator."""
    from mpiheat.quantum.solvers.redfield_eigs import rightmost_eigenvalues

    gen = rf.redfield_generator(box_spectrum(N), T_L, T_R, gamma=gamma, eta=-2.25)
    dense = rightmost_eigenvalues(gen, method="dense")
    clus = rightmost_eigenvalues(gen, method="cluster")
    assert dense.method == "dense" and clus.method.startswith("cluster[") and "not-converged" not in clus.method
    # every eigenvalue the cluster method reports is an eigenvalue of the generator, to 1e-8
    dist = np.abs(dense.eigenvalues[:, None] - clus.eigenvalues[None, :]).min(axis=0)
    assert np.all(dist <= 1e-8 * np.maximum(1.0, np.abs(clus.eigenvalues)))
    assert (clus.max_real > 0) == (dense.max_real > 0)  # the verdict
    # never right of the true abscissa (dense eigvals carry ~1e-16 x ||L|| absolute error)
    assert clus.max_real <= dense.max_real + 1e-14 * np.abs(dense.eigenvalues).max()
    if dense.max_real < 0:  # stable: the value itself
        assert clus.max_real == pytest.approx(dense.max_real, rel=1e-7)
    elif (N, gamma) != (40, 1e-3):
        # unstable: the first proven-unstable eigenvalue is a lower bound; refining every candidate reaches the
        # abscissa here
        full = rightmost_eigenvalues(gen, method="cluster", stop_when_unstable=False)
        assert full.max_real == pytest.approx(dense.max_real, rel=1e-7)


def test_eigenvalue_check_beyond_dense_limit(caplog):
    """N > 40: the default ("auto") check runs matrix-free, flags gamma = 0.1 and clears gamma = 1e-4."""
    sp = box_spectrum(48)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        # rho_ss itself dips to -1.4e-10 here (Redfield is not positive); this test is about the spectrum
        good = redfield(sp, gamma=1e-4, positivity_tol=1e-8, **PARAMS)
    assert good.eig_method.startswith("cluster[")
    assert good.max_real_eig == pytest.approx(-2.0449e-4, rel=1e-3)  # slowest population mode (as at N = 20, 40)
    assert not good.unphysical and not caplog.records
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        bad = redfield(sp, gamma=0.1, **PARAMS)
    assert bad.eig_method.startswith("cluster[") and bad.max_real_eig > 1.0 and bad.unphysical
    assert any("unphysical" in r.getMessage() for r in caplog.records)
    skipped = redfield(sp, gamma=0.1, check="none", **PARAMS)
    assert np.isnan(skipped.max_real_eig) and skipped.eig_method == "none"
    with pytest.raises(ValueError, match="redfield_check"):
        redfield(sp, gamma=0.1, check="lanczos", **PARAMS)


@pytest.mark.petsc
def test_equal_temperatures_no_current_and_backends_agree():
    sp = box_spectrum(16)
    eq = redfield(sp, 5.0, 5.0, gamma=1e-3, eta=-2.25, check="none")
    scale = abs(redfield(sp, 6.0, 4.0, gamma=1e-3, eta=-2.25, check="none").J_L)
    assert abs(eq.J_L) <= 1e-11 * scale and abs(eq.J_R) <= 1e-11 * scale  # reflection symmetry + conservation
    a = redfield(sp, gamma=0.02, backend="numpy", check="none", **PARAMS)
    b = redfield(sp, gamma=0.02, backend="scipy", check="none", **PARAMS)
    c = redfield(sp, gamma=0.02, backend="scipy", krylov="bicgstab", check="none", **PARAMS)
    d = redfield(sp, gamma=0.02, backend="petsc", check="none", comm=None, **PARAMS)
    for s in (b, c, d):
        assert s.J_L == pytest.approx(a.J_L, rel=1e-10)
        assert np.abs(s.rho - a.rho).max() <= 1e-10
        assert s.trace == pytest.approx(1.0, abs=1e-12)
    assert d.converged.startswith("CONVERGED")
    assert b.residual <= 1e-10 * abs(a.J_L)


MPI_SCRIPT = """
import json, sys
from mpi4py import MPI
from mpiheat.quantum import QuantumProblem, SolverOptions, box_spectrum, steady_state
s = steady_state(QuantumProblem(box_spectrum(23), 50.0, 2.0, gamma=0.02, eta=-2.25), equation="redfield",
                 backend="petsc", comm=MPI.COMM_WORLD,
                 options=SolverOptions(redfield_check="cluster", petsc_options="-ss_ksp_gmres_restart 40"))
if MPI.COMM_WORLD.rank == 0:
    print(json.dumps({"J": s.J_L, "reason": s.converged, "size": MPI.COMM_WORLD.size, "eig": s.max_real_eig,
                      "eig_method": s.eig_method, "seconds_check": s.seconds_check, "seconds_solve": s.seconds_solve}))
"""


@pytest.mark.petsc
def test_petsc_two_ranks_equals_one_process(tmp_path, mpirun):
    script = tmp_path / "rf_mpi.py"
    script.write_text(MPI_SCRIPT)
    # explicit env: a parent that initialised MPI (in-process PETSc above) has OMPI_* singleton variables in its C
    # environ, which would derail a child mpirun; os.environ is the clean start-up snapshot
    proc = mpirun(2, [str(script)], timeout=300, env=dict(os.environ))
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    ref = redfield(box_spectrum(23), 50.0, 2.0, gamma=0.02, eta=-2.25, backend="numpy", check="none")
    assert out["size"] == 2
    assert out["reason"].startswith("CONVERGED")
    assert out["J"] == pytest.approx(ref.J_L, rel=1e-10)
    # the eigenvalue check split its clusters and its products over the 2 ranks: same answer as one process
    serial = max_real_eigenvalue(rf.redfield_generator(box_spectrum(23), 50.0, 2.0, gamma=0.02, eta=-2.25),
                                 method="cluster")
    assert out["eig_method"] == serial[2]
    assert out["eig"] == pytest.approx(serial[0], rel=1e-9)
    assert out["seconds_check"] > 0 and out["seconds_solve"] > 0


def test_front_end_dispatch():
    """steady_state(equation="redfield") with backend "auto" on one process runs the scipy Krylov solver, gives the
    dense reference's state (not Lindblad's) and reports the physicality columns; the table refuses what it lacks."""
    from mpiheat.quantum import DISPATCH, resolve_backend

    sp = box_spectrum(12)
    pb = QuantumProblem(sp, 50.0, 2.0, gamma=1e-3, eta=-2.25)
    s = steady_state(pb, equation="redfield")
    ref = redfield(sp, 50.0, 2.0, gamma=1e-3, eta=-2.25, backend="numpy")
    lind = steady_state(pb, equation="lindblad")
    assert (s.equation, s.backend, s.solver, s.method) == ("redfield", "scipy", "linear", "redfield-gmres")
    assert (ref.backend, ref.method, ref.converged) == ("numpy", "redfield-dense-lu", "LU")
    assert s.ok and ref.ok and s.converged == "CONVERGED_RTOL"
    assert s.J_L == pytest.approx(ref.J_L, rel=1e-10)
    assert s.J_L == pytest.approx(lind.J_L, rel=1e-4) and s.J_L != pytest.approx(lind.J_L, rel=1e-9)
    cols = s.as_columns()
    assert cols["max_real_eig"] < 0 and cols["unphysical"] is False and cols["eig_method"] == "dense"
    assert cols["J_mismatch"] == s.J_L - s.J_R and abs(cols["J_mismatch"]) <= 1e-10 * s.J_L
    assert "max_real_eig" not in lind.as_columns() and np.isnan(lind.max_real_eig)
    # one table, six entries; auto is resolved there (one process: scipy; Pauli: numpy)
    assert set(DISPATCH) == {("pauli", "numpy"), ("lindblad", "scipy"), ("lindblad", "petsc"),
                             ("redfield", "numpy"), ("redfield", "scipy"), ("redfield", "petsc")}
    assert resolve_backend("redfield", "auto") == "scipy" and resolve_backend("pauli", "petsc") == "numpy"
    with pytest.raises(ValueError, match="not offered"):
        steady_state(pb, equation="redfield", solver="eigen")
    with pytest.raises(ValueError, match="no solver"):
        steady_state(pb, equation="lindblad", backend="numpy")
    with pytest.raises(ValueError, match="ss_"):
        steady_state(pb, equation="redfield", backend="petsc",
                     options=SolverOptions(petsc_options="-redfield_ksp_type bcgs"))
