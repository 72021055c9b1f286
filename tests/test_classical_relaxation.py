"""MCMC bath thermalisation time (issue 4, classical half): exact chain evolution, drift asymptotics, sampling check."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from mpiheat.classical import Bath
from mpiheat.classical.kernels import BATH_MCMC_ENERGY, relax_energies
from mpiheat.classical.relaxation import fit_power_law, thermalisation_time
from mpiheat.classical.rng import seed_state

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
    b, A, err = fit_power_law(T, tau)
    assert -1.0 < b < -0.75 and err < 0.05
    assert fit_power_law(T, tau) == (b, A, err)  # deterministic
    # speed chain: drift in u = sqrt(2E/T), so tau ~ T^(-1/2)
    tau_s = np.array([thermalisation_time(t, SPEED).tau for t in T])
    bs, _, _ = fit_power_law(T, tau_s)
    assert -0.6 < bs < -0.35


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
    b, A, err = fit_power_law(T, 3.0 * T**-0.9)
    assert b == pytest.approx(-0.9, abs=1e-12) and A == pytest.approx(3.0, rel=1e-12) and err < 1e-10
