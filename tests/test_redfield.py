"""Redfield generator (SPEC §3, End Matter Eq. B1): exact cross-checks, the Lindblad limit, unphysical regimes."""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import pytest

from mpiheat.quantum import redfield as rf
from mpiheat.quantum.lindblad import real_to_rho, rho_to_real
from mpiheat.quantum.pauli import pauli_sweep, rate_matrices
from mpiheat.quantum.spectrum import box_spectrum

PARAMS = dict(T_L=50.0, T_R=2.0, eta=-2.25)  # SPEC §3 reference point, N = 20


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
        ss = rf.redfield_steadystate(sp, gamma=g, backend="scipy", tol=1e-14, check_eigs=False, **PARAMS)
        _, JL, _ = pauli_sweep(sp, PARAMS["T_L"], PARAMS["T_R"], gamma=g, eta=PARAMS["eta"])
        assert ss.converged == "converged", ss.converged
        assert abs(ss.J_L - ss.J_R) <= 1e-10 * abs(ss.J_L)
        rel.append(ss.J_L / float(JL) - 1.0)
    rel = np.array(rel)
    slope, intercept = np.polyfit(gammas**2, rel, 1)
    assert slope == pytest.approx(-8.3, abs=0.05)
    assert abs(intercept) < 1e-7  # no O(1) or O(gamma) offset: the limit is the Lindblad current
    # and each point alone already has the gamma^2 law (rel/gamma^2 constant to < 0.1 %)
    assert np.ptp(rel / gammas**2) < 1e-3 * abs(slope)


def test_unphysical_regime_detected(caplog):
    sp = box_spectrum(20)
    with caplog.at_level(logging.WARNING, logger="mpiheat.quantum.redfield"):
        bad = rf.redfield_steadystate(sp, gamma=0.1, backend="scipy", check_eigs=True, **PARAMS)
    assert bad.max_real_eig == pytest.approx(1.07, abs=0.01)
    assert bad.unphysical
    assert any("unphysical" in r.getMessage() for r in caplog.records)
    cols = bad.as_columns()
    assert cols["unphysical"] is True and cols["max_real_eig"] > 1.0
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mpiheat.quantum.redfield"):
        good = rf.redfield_steadystate(sp, gamma=1e-4, backend="scipy", check_eigs=True, **PARAMS)
    assert good.max_real_eig < 0
    assert not good.unphysical
    assert not caplog.records


def test_arpack_eigenvalue_matches_dense():
    """The matrix-free ARPACK path finds the same positive eigenvalue as the dense one."""
    gen = rf.redfield_generator(box_spectrum(20), gamma=0.1, **PARAMS)
    dense, _, m1 = rf.max_real_eigenvalue(gen, dense_limit=40)
    arp, _, m2 = rf.max_real_eigenvalue(gen, dense_limit=0)
    assert m1 == "dense" and m2.startswith("arpack")
    assert arp == pytest.approx(dense, rel=1e-8)


def test_equal_temperatures_no_current_and_backends_agree():
    sp = box_spectrum(16)
    eq = rf.redfield_steadystate(sp, 5.0, 5.0, gamma=1e-3, eta=-2.25, check_eigs=False)
    scale = abs(rf.redfield_steadystate(sp, 6.0, 4.0, gamma=1e-3, eta=-2.25, check_eigs=False).J_L)
    assert abs(eq.J_L) <= 1e-11 * scale and abs(eq.J_R) <= 1e-11 * scale  # reflection symmetry + conservation
    a = rf.redfield_steadystate(sp, gamma=0.02, backend="dense", check_eigs=False, **PARAMS)
    b = rf.redfield_steadystate(sp, gamma=0.02, backend="scipy", solver="gmres", check_eigs=False, **PARAMS)
    c = rf.redfield_steadystate(sp, gamma=0.02, backend="scipy", solver="bicgstab", check_eigs=False, **PARAMS)
    d = rf.redfield_steadystate(sp, gamma=0.02, backend="petsc", check_eigs=False, comm=None, **PARAMS)
    for s in (b, c, d):
        assert s.J_L == pytest.approx(a.J_L, rel=1e-10)
        assert np.abs(s.rho - a.rho).max() <= 1e-10
        assert s.trace == pytest.approx(1.0, abs=1e-12)
    assert d.converged.startswith("CONVERGED")
    assert b.residual <= 1e-10 * abs(a.J_L)


MPI_SCRIPT = """
import json, sys
from mpi4py import MPI
from mpiheat.quantum import redfield as rf
from mpiheat.quantum.spectrum import box_spectrum
s = rf.redfield_steadystate(box_spectrum(23), 50.0, 2.0, gamma=0.02, eta=-2.25, backend="petsc", check_eigs=False,
                            petsc_options="-redfield_ksp_gmres_restart 40")
if MPI.COMM_WORLD.rank == 0:
    print(json.dumps({"J": s.J_L, "reason": s.converged, "size": MPI.COMM_WORLD.size}))
"""


def test_petsc_two_ranks_equals_one_process(tmp_path, mpirun):
    script = tmp_path / "rf_mpi.py"
    script.write_text(MPI_SCRIPT)
    # explicit env: a parent that initialised MPI (in-process PETSc above) has OMPI_* singleton variables in its C
    # environ, which would derail a child mpirun; os.environ is the clean start-up snapshot
    proc = mpirun(2, [str(script)], timeout=300, env=dict(os.environ))
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    ref = rf.redfield_steadystate(box_spectrum(23), 50.0, 2.0, gamma=0.02, eta=-2.25, backend="dense",
                                  check_eigs=False)
    assert out["size"] == 2
    assert out["reason"].startswith("CONVERGED")
    assert out["J"] == pytest.approx(ref.J_L, rel=1e-10)


def test_front_end_dispatch():
    """steadystate(equation="redfield") reaches the Redfield solver and reports the physicality columns."""
    from mpiheat.quantum.steadystate import SteadyState, steadystate

    sp = box_spectrum(12)
    s = steadystate(sp, 50.0, 2.0, gamma=1e-3, eta=-2.25, equation="redfield")
    ref = rf.redfield_steadystate(sp, 50.0, 2.0, gamma=1e-3, eta=-2.25, backend="dense")
    lind = steadystate(sp, 50.0, 2.0, gamma=1e-3, eta=-2.25, equation="lindblad")
    assert isinstance(s, SteadyState) and s.equation == "redfield"
    assert s.J_L == pytest.approx(ref.J_L, rel=1e-10)
    assert s.J_L == pytest.approx(lind.J_L, rel=1e-4) and s.J_L != pytest.approx(lind.J_L, rel=1e-9)
    cols = s.as_columns()
    assert {"max_real_eig", "unphysical", "residual", "rho_min_eig", "converged"} <= set(cols)
    assert cols["max_real_eig"] < 0 and cols["unphysical"] is False
