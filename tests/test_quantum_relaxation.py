"""Quantum relaxation: time stepping vs spectral gap, trace/Hermiticity conservation, rho(inf) = rho_ss."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import scipy.integrate as si

from mpiheat.quantum.operators.lindblad import liouvillian_csr
from mpiheat.quantum.operators.redfield import redfield_generator
from mpiheat.quantum.operators.spectrum import box_spectrum
from mpiheat.quantum.solvers.dynamics import evolve, initial_state, relaxation, trace_distance

CASES = [("lindblad", 8, 1.0, 50.0, 2.0), ("redfield", 6, 0.03, 50.0, 2.0)]


@pytest.mark.parametrize("equation,N,gamma,T_L,T_R", CASES)
def test_stepping_agrees_with_spectral_gap(equation, N, gamma, T_L, T_R, caplog):
    sp = box_spectrum(N)
    with caplog.at_level(logging.WARNING):
        b = relaxation(sp, T_L, T_R, gamma=gamma, eta=-2.25, equation=equation, tol=1e-7, n_times=300)
    assert not [r for r in caplog.records if "unphysical" in r.getMessage()]  # a physical Redfield regime
    a = relaxation(sp, T_L, T_R, gamma=gamma, eta=-2.25, equation=equation, tol=1e-5, t_max=b.times[-1],
                   n_times=300)
    # trace distance decays at rate |Re lambda_exc| (fit on the asymptotic part of the trajectory)
    assert a.decay_rate_fit == pytest.approx(abs(a.lambda_exc.real), rel=1e-3)
    # the thermal (diagonal) start excites the slowest mode here, and it is real
    assert a.lambda_exc == pytest.approx(a.lambda_1, rel=1e-12)
    # the crossing time grows like tau ln(1/tol): two tolerances two decades apart differ by tau ln(100)
    assert b.t_relax - a.t_relax == pytest.approx(a.tau_exc * np.log(100.0), rel=0.01)
    assert a.t_relax > a.tau_exc  # and it is not the trivial t = 0
    assert a.max_trace_error < 1e-10
    assert a.final_distance < 1e-7  # rho(t_max) -> rho_ss


def test_long_time_limit_is_steady_state_for_any_start():
    sp = box_spectrum(8)
    L = liouvillian_csr(sp, 50.0, 2.0, gamma=1.0, eta=-2.25)
    r = relaxation(sp, 50.0, 2.0, gamma=1.0, eta=-2.25, tol=1e-6, n_times=50)
    rng = np.random.default_rng(4)
    A = rng.normal(size=(8, 8)) + 1j * rng.normal(size=(8, 8))
    for start in ("ground", initial_state(sp, A @ A.conj().T)):
        rho0 = initial_state(sp, start)
        ev = evolve(L, rho0, np.linspace(0, 60 * r.tau_gap, 3))
        assert trace_distance(ev.rho[-1], r.rho_ss) < 1e-12
        assert trace_distance(ev.rho[0], r.rho_ss) > 0.1


def test_redfield_complex_form_stays_hermitian_and_matches_real_representation():
    """Integrate Eq. B1 in complex N x N form (Hermiticity NOT built in) and compare with the real-representation
    propagation; the trace must stay 1 and rho Hermitian to integrator accuracy."""
    sp = box_spectrum(5)
    gen = redfield_generator(sp, 20.0, 5.0, gamma=0.1, eta=-2.25)
    rho0 = initial_state(sp, "thermal", T=20.0)
    rng = np.random.default_rng(2)
    c = 0.02 * (rng.normal(size=(5, 5)) + 1j * rng.normal(size=(5, 5)))
    rho0 = rho0 + c + c.conj().T - np.diag(np.diag(c + c.conj().T))  # add coherences, keep trace 1
    times = np.linspace(0.0, 5.0, 11)
    sol = si.solve_ivp(lambda t, y: gen.apply(y.reshape(5, 5)).ravel(), (0, 5.0), rho0.ravel().astype(complex),
                       method="DOP853", t_eval=times, rtol=1e-11, atol=1e-13)
    R = sol.y.T.reshape(-1, 5, 5)
    assert np.max(np.abs(R - np.conj(np.swapaxes(R, 1, 2)))) < 1e-10
    assert np.max(np.abs(np.trace(R, axis1=1, axis2=2) - 1.0)) < 1e-10
    for method in ("expm", "ode"):
        ev = evolve(gen, rho0, times, method=method)
        assert np.max(np.abs(ev.rho - R)) < 1e-8
    assert np.max(np.abs(R[-1] - rho0)) > 1e-2  # it did evolve


def test_lindblad_block_path_equals_full_path_and_scales():
    """Above dense_limit the Lindblad relaxation runs block by block (exact): same numbers as the dense path."""
    from mpiheat.quantum.solvers.dynamics import slowest_modes

    sp = box_spectrum(30)
    kw = dict(gamma=5.254766, eta=-2.25, tol=1e-6)
    full = relaxation(sp, 1000.0, 1.0, dense_limit=30, **kw)
    blk = relaxation(sp, 1000.0, 1.0, dense_limit=10, **kw)
    assert full.method == "lindblad-expm" and blk.method == "lindblad-blocks"
    assert blk.lambda_1 == pytest.approx(full.lambda_1, rel=1e-10)
    assert blk.lambda_exc == pytest.approx(full.lambda_exc, rel=1e-10)
    assert blk.t_relax == pytest.approx(full.t_relax, rel=1e-8)
    assert np.abs(blk.trace_distance - full.trace_distance).max() < 1e-12
    # the block eigen-analysis equals the dense one, including a start that excites coherences
    L = liouvillian_csr(box_spectrum(12), 50.0, 2.0, gamma=1.0, eta=-2.25)
    rng = np.random.default_rng(7)
    A = rng.normal(size=(12, 12)) + 1j * rng.normal(size=(12, 12))
    from mpiheat.quantum.operators.lindblad import rho_to_real

    x = rho_to_real(initial_state(box_spectrum(12), A @ A.conj().T)) - rho_to_real(initial_state(box_spectrum(12),
                                                                                                   "ground"))
    for a, b in zip(slowest_modes(L, x), slowest_modes(L.toarray(), x)):
        assert a == pytest.approx(b, rel=1e-9)
    # N = 100, far beyond the dense limit: stepping and spectrum still agree
    big = relaxation(box_spectrum(100), 1000.0, 1.0, **kw)
    assert big.method == "lindblad-blocks"
    assert big.decay_rate_fit == pytest.approx(abs(big.lambda_exc.real), rel=1e-3)
    assert big.max_trace_error < 1e-10 and big.final_distance < 1e-6
    with pytest.raises(ValueError, match="Redfield spectral analysis is dense"):
        relaxation(box_spectrum(40), 50.0, 2.0, gamma=1e-3, eta=-2.25, equation="redfield")
