"""Fig. 5 parameters (issue 5): the two-particle quantum current (m1 = 1, m2 = sqrt(2), N = 100, eta = -2.25,
T_L = 10^1.5, gamma calibrated to the measured two-particle kappa^c) never rises with T_R by more than 1e-4 of J."""

from __future__ import annotations

import math

import numpy as np

from analysis.common import max_positive_slope
from mpiheat.quantum.calibrate import kappa_quantum
from mpiheat.quantum.operators.pauli import pauli_sweep
from mpiheat.quantum.twoparticle.levels import two_particle_spectrum

KAPPA_C_TWO = 3.7767  # jobs/fig5_kappa_classical.toml, 32 x 1e6 collisions, +- 0.0073


def test_fig5_quantum_two_particles_no_ndtr():
    T_L = 10**1.5
    spec = two_particle_spectrum(100, (1.0, math.sqrt(2.0)), 1.0)
    assert spec.keys is None and np.all(np.diff(spec.E) > 0)  # generic, non-degenerate spectrum
    gamma = KAPPA_C_TWO / kappa_quantum(spec, T_L, gamma=1.0, eta=-2.25)
    assert 0.5 < gamma < 20
    T_R = np.logspace(-2, 1.5, 71)
    _, J_L, J_R = pauli_sweep(spec, np.full_like(T_R, T_L), T_R, gamma=gamma, eta=-2.25)
    np.testing.assert_allclose(J_L, J_R, rtol=1e-9, atol=1e-10 * np.abs(J_L).max())
    assert abs(J_L[-1]) < 1e-9 * np.abs(J_L).max()  # J = 0 at T_R = T_L
    # Largest rise of J between neighbouring T_R points, relative to J: below 1e-4 (report it exactly).
    rises = np.diff(J_L) / np.abs(J_L[1:])
    worst = float(rises.max())
    slope, at = max_positive_slope(T_R, J_L)
    print(f"largest relative rise between points: {worst:.3e}; largest (dJ/dT_R)/J = {slope:.3e} at T_R = {at}")
    assert worst < 1e-4
    # J saturates at low T_R (no collapse as in the classical MCMC model)
    assert J_L[0] > 0.9 * J_L.max()
