"""Observables of End Matter C: <P_R> (Eq. C1) and the position-space participation ratio (Eq. C2)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import trapezoid  # np.trapz is gone in numpy 2.4; scipy has had this name since 1.6

from mpiheat.quantum import QuantumProblem, steady_state
from mpiheat.quantum.operators.observables import density_integral, expect_P_R, participation_ratio
from mpiheat.quantum.operators.spectrum import box_spectrum


def box_functions(N, L):
    n = np.arange(1, N + 1)[:, None]
    return lambda x: np.sqrt(2.0 / L) * np.sin(n * np.pi * np.asarray(x)[None, :] / L)


@pytest.mark.parametrize("L", [1.0, 2.5])
def test_ground_state_pr_is_two_thirds_L(L):
    rho = np.zeros((6, 6))
    rho[0, 0] = 1.0
    assert participation_ratio(rho, L) == pytest.approx(2 * L / 3, rel=1e-14)
    # excited eigenstates have the same |psi|^4 integral (3 / 2L)
    rho = np.zeros((6, 6))
    rho[4, 4] = 1.0
    assert participation_ratio(rho, L) == pytest.approx(2 * L / 3, rel=1e-14)


def test_maximally_mixed_tends_to_uniform():
    """rho = 1/N: rho(x, x) = (1 - (1/N) sum_n cos(2 n pi x / L)) / L, so PR = L / (1 + 1/(2N)) -> L (uniform)."""
    L = 2.0
    for N in (5, 50, 400):
        pr = participation_ratio(np.eye(N) / N, L)
        assert pr == pytest.approx(L / (1 + 1 / (2 * N)), rel=1e-13)
    assert participation_ratio(np.eye(400) / 400, L) == pytest.approx(L, rel=2e-3)


def test_analytic_integral_equals_quadrature_for_coherent_state():
    N, L = 12, 1.7
    rng = np.random.default_rng(1)
    a = rng.normal(size=N) + 1j * rng.normal(size=N)
    B = rng.normal(size=(N, N)) + 1j * rng.normal(size=(N, N))
    rho = 0.5 * np.outer(a, a.conj()) / np.vdot(a, a).real + 0.5 * (B @ B.conj().T) / np.trace(B @ B.conj().T).real
    exact = density_integral(rho, L)
    quad = density_integral(rho, L, eigenfunctions=box_functions(N, L))
    assert quad == pytest.approx(exact, rel=1e-13)
    # brute-force check on a fine grid (trapezoid of a smooth periodic-like integrand)
    x = np.linspace(0, L, 20001)
    psi = box_functions(N, L)(x)
    dens = np.einsum("ix,ij,jx->x", psi, rho.real, psi)
    assert trapezoid(dens, x) == pytest.approx(1.0, rel=1e-8)  # normalisation: Tr rho = 1
    assert trapezoid(dens**2, x) == pytest.approx(exact, rel=1e-7)


def test_expect_P_R_values_and_L_cubed_law():
    """<P_R> of |n> is 2 pi^2 n^2 / (3 L^3); for a steady state at fixed T L^2, <P_R> ~ L^-3 exactly."""
    for L in (1.0, 3.0):
        sp = box_spectrum(8, length=L)
        rho = np.zeros((8, 8))
        rho[2, 2] = 1.0
        assert expect_P_R(sp, rho) == pytest.approx(2 * np.pi**2 * 9 / (3 * L**3), rel=1e-14)
    vals = []
    Ls = np.array([1.0, 1.5, 2.0, 4.0])
    for L in Ls:
        sp = box_spectrum(30, length=L)
        ss = steady_state(QuantumProblem(sp, 40.0 / L**2, 4.0 / L**2, gamma=1.0, eta=-2.25), equation="lindblad",
                          backend="scipy")
        vals.append(expect_P_R(sp, ss.rho))
    slope = np.polyfit(np.log(Ls), np.log(vals), 1)[0]
    assert slope == pytest.approx(-3.0, abs=1e-10)
    # a genuinely non-diagonal state: <P_R> picks up the coherences with the sign (-1)^(i+j)
    sp = box_spectrum(2)
    rho = np.array([[0.5, 0.5], [0.5, 0.5]])
    assert expect_P_R(sp, rho) == pytest.approx(2 * np.pi**2 / 3 * (0.5 * 1 + 0.5 * 4 - 2 * 0.5 * 2), rel=1e-14)
