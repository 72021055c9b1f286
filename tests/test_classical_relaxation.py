"""MCMC bath thermalisation time (issue 4, classical half): exact chain evolution, drift asymptotics, sampling check."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from mpiheat.classical import Bath
from mpiheat.classical.kernels import BATH_MCMC_ENERGY, relax_energies
from mpiheat.classical.relaxation import thermalisation_time
from mpiheat.classical.rng import seed_state
from mpiheat.numerics.fits import fit_power_law

ENERGY = Bath("mcmc", steps=1000, proposal=1.0)
SPEED = Bath("mcmc", steps=1000, proposal=1.0, variable="speed")
TS = [1.0, 0.3, 0.1, 0.03, 0.01, 0.003]


@pytest.mark.parametrize("bath", [ENERGY, SPEED])
def test_tau_grows_as_T_falls(bath):
    tau = [thermalisation_time(T, bath).tau for T in TS]
    assert all(t > 0 for t in tau)
    assert all(b > a for a, b in zip(tau, tau[1:])), tau


def test_energy_chain_drift_asymptotics_and_exponent():
    # Far above T the chain drifts down by |d| T per move, d = E[c xi min(1, e^{-c xi})]: tau -> (E0/T)/|d|.
    d = integrate.quad(lambda z: z * min(1.0, np.exp(-z)) * stats.norm.pdf(z), -40, 40, points=[0])[0]
    T = np.array([0.1, 0.03, 0.01, 0.003])
    tau = np.array([thermalisation_time(t, ENERGY).tau for t in T])
    ratio = tau * abs(d) * T
    # the drift time dominates, plus a spreading/mixing remainder that grows slower than 1/T
    assert 1.0 < ratio[-1] < 1.3
    assert np.all(np.diff(ratio[1:]) < 0)  # approaches the drift law as T falls
    fit = fit_power_law(T, tau)
    assert -1.0 < fit.exponent < -0.75 and fit.stderr < 0.05
    # the drift law's exponent is -1; the fit over this finite range sits between it and the mixing part's, and it
    # describes the data: every tau within 10 % of A T^b (measured: 4.7 %)
    assert np.all(np.abs(fit(T) / tau - 1) < 0.1)
    # speed chain: drift in u = sqrt(2E/T), so tau ~ T^(-1/2)
    tau_s = np.array([thermalisation_time(t, SPEED).tau for t in T])
    assert -0.6 < fit_power_law(T, tau_s).exponent < -0.35


def test_exact_mean_energy_matches_sampling_and_converges_to_T():
    T, E0, k = 0.1, 1.0, 40
    res = thermalisation_time(T, Bath("mcmc", steps=k), E0=E0, metric="mean", tol=1e-9, max_moves=400)
    assert res.tau > 0 and abs(res.trace[-1]) < 1e-9  # the chain's mean energy converges to T
    exact_k = T * (1 + res.trace[k])  # mean after k moves (the grid's stationary mean is T up to O(h^2))
    n = 100_000
    out = np.empty(n)
    relax_energies(BATH_MCMC_ENERGY, np.full(n, E0), T, k, 1.0, seed_state(5, 0, 0), out)
    m, s = out.mean(), out.std() / np.sqrt(n)
    assert abs(m - exact_k) < 4 * s + 2e-4 * T
    assert abs(m - T) > 10 * s and abs(m - E0) > 10 * s  # partially relaxed: the check has power


def test_fit_power_law_recovers_exponent():
    T = np.logspace(-2, 1, 7)
    f = fit_power_law(T, 3.0 * T**-0.9)
    assert f.exponent == pytest.approx(-0.9, abs=1e-12) and f.prefactor == pytest.approx(3.0, rel=1e-12)
    assert f.stderr < 1e-10 and f.max_abs_log_residual < 1e-12 and f.n == 7
    # noisy data: the standard error is a real one (covers the truth at ~2 sigma) and two points have none
    rng = np.random.default_rng(3)
    noisy = fit_power_law(T, 3.0 * T**-0.9 * np.exp(0.05 * rng.normal(size=T.size)))
    assert 0.005 < noisy.stderr < 0.1 and abs(noisy.exponent + 0.9) < 3 * noisy.stderr
    assert np.isnan(fit_power_law(T[:2], T[:2] ** 2).stderr)
    with pytest.raises(ValueError, match="two points"):
        fit_power_law([1.0], [2.0])
