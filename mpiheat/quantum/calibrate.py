"""Calibration of the quantum bath coupling to a target conductance (Letter Fig. 3, SPEC §3). Purely quantum.

* ``kappa_quantum``: linear-response conductance ``kappa = J / Delta`` with ``T_L,R = T (1 +- delta/2)``,
  ``Delta = delta T``.
* ``calibrate_gamma``: ``J^q`` is exactly proportional to gamma, so ``gamma = kappa_target / kappa^q_{gamma=1}(T_cal)``.
  The target is a number given by the caller: the Letter's is the classical Maxwell-bath conductance
  ``kappa^c(T) = sqrt(T / (2 pi m)) / L`` (Eq. 12, :func:`mpiheat.classical.maxwell_kappa`); the comparison of the
  two models belongs to the job kinds, so this module never imports the classical package.
* ``power_law`` / ``fit_beta``: slope of ``log kappa^q`` vs ``log T`` by least squares
  (:func:`mpiheat.numerics.fits.fit_power_law`) on ``points`` log-spaced temperatures in the high-temperature range
  :data:`BETA_RANGE` = [100, 1000] (default).
* ``eta_for_beta``: the eta at which that slope equals ``beta`` (brentq); ~ -2.25 for beta = 1/2 at N = 100.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

from mpiheat.numerics.fits import fit_power_law
from mpiheat.quantum.operators.pauli import pauli_sweep
from mpiheat.quantum.operators.spectrum import Spectrum, box_spectrum
from mpiheat.quantum.problem import QuantumProblem
from mpiheat.quantum.solvers.base import SolverOptions
from mpiheat.quantum.solvers.steadystate import steady_state

#: Default high-temperature range of the power-law fit kappa^q ~ T^beta.
BETA_RANGE = (100.0, 1000.0)


def _spectrum(spectrum_or_levels, mass: float = 1.0, length: float = 1.0) -> Spectrum:
    if isinstance(spectrum_or_levels, Spectrum):
        return spectrum_or_levels
    return box_spectrum(spectrum_or_levels, mass=mass, length=length)


def kappa_quantum(spectrum_or_levels, T, *, gamma: float, eta: float, omega_c: float = 1.0, delta: float = 1e-4,
                  equation: str = "pauli", backend: str = "scipy", options: SolverOptions | None = None, comm=None):
    """Quantum linear-response conductance ``kappa(T) = J / (delta T)`` at ``T_L,R = T (1 +- delta/2)``.

    Parameters
    ----------
    spectrum_or_levels : Spectrum or int
        A spectrum, or the number of box levels (m = L = 1).
    T : float or array
        Mean temperature(s), > 0.
    gamma, eta, omega_c : float
        Spectral function parameters.
    delta : float
        Relative temperature difference (1e-4 is in the linear regime to ~1e-9 relative).
    equation : str
        ``"pauli"`` (vectorised over T) or any :func:`mpiheat.quantum.steady_state` equation (one solve per T).
    backend, options, comm
        Passed to :func:`mpiheat.quantum.steady_state` (not used by ``"pauli"``).

    Returns
    -------
    float or ndarray
        kappa, the same shape as T.
    """
    if not (0.0 < delta < 2.0):
        raise ValueError(f"delta must be in (0, 2), got {delta!r}")
    spec = _spectrum(spectrum_or_levels)
    T = np.asarray(T, dtype=float)
    TL, TR = T * (1.0 + 0.5 * delta), T * (1.0 - 0.5 * delta)
    if equation == "pauli":
        _, JL, _ = pauli_sweep(spec, TL, TR, gamma=gamma, eta=eta, omega_c=omega_c)
    else:
        JL = np.array([steady_state(QuantumProblem(spec, a, b, gamma=gamma, eta=eta, omega_c=omega_c),
                                    equation=equation, backend=backend, options=options, comm=comm).J_L
                       for a, b in zip(np.ravel(TL), np.ravel(TR))]).reshape(T.shape)
    kappa = JL / (delta * T)
    return float(kappa) if np.ndim(kappa) == 0 else kappa


def calibrate_gamma(eta: float, T_cal: float, *, kappa_target: float, levels: int | Spectrum = 100,
                    mass: float = 1.0, length: float = 1.0, omega_c: float = 1.0, delta: float = 1e-4) -> float:
    """Coupling gamma that makes ``kappa^q(T_cal) = kappa_target`` (one Pauli solve; J^q is linear in gamma).

    Parameters
    ----------
    eta, omega_c : float
        Spectral function parameters.
    T_cal : float
        Calibration temperature.
    kappa_target : float
        The conductance to match at ``T_cal`` (> 0), e.g. the classical Maxwell-bath kappa^c(T_cal) (Eq. 12).
    levels : int or Spectrum
        Number of box levels (built with ``mass`` and ``length``), or any spectrum (e.g. two particles).
    delta : float
        Relative bias of the linear-response solve.

    Returns
    -------
    float
        gamma. With ``T_cal = 1000``, ``levels = 100``, kappa_target = Eq. 12 and eta = 0, -0.5, ..., -3 this gives
        the Letter's Fig. 3 table.
    """
    if not (np.isfinite(kappa_target) and kappa_target > 0):
        raise ValueError(f"kappa_target must be a positive finite number, got {kappa_target!r}")
    spec = _spectrum(levels, mass=mass, length=length)
    kq = kappa_quantum(spec, T_cal, gamma=1.0, eta=eta, omega_c=omega_c, delta=delta)
    return float(kappa_target / kq)


def power_law(eta: float, T_range=BETA_RANGE, *, levels=100, omega_c: float = 1.0, points: int = 11,
              delta: float = 1e-4) -> tuple[float, float, float]:
    """Least-squares fit ``kappa^q_{gamma=1}(T) = A T^beta`` on ``points`` log-spaced T in ``T_range``
    (:func:`mpiheat.numerics.fits.fit_power_law`, the package's one power-law fit).

    Returns
    -------
    beta, A : float
        Exponent and prefactor (for gamma = 1; kappa scales linearly with gamma).
    max_dev : float
        Largest relative deviation of the data from the fit inside the range.
    """
    lo, hi = float(T_range[0]), float(T_range[1])
    if not (0 < lo < hi):
        raise ValueError(f"T_range must satisfy 0 < T_lo < T_hi, got {T_range!r}")
    spec = _spectrum(levels)
    T = np.logspace(np.log10(lo), np.log10(hi), int(points))
    k = kappa_quantum(spec, T, gamma=1.0, eta=eta, omega_c=omega_c, delta=delta)
    fit = fit_power_law(T, k)
    return fit.exponent, fit.prefactor, float(np.max(np.abs(k / fit(T) - 1.0)))


def fit_beta(eta: float, T_range=BETA_RANGE, *, levels=100, omega_c: float = 1.0, points: int = 11,
             delta: float = 1e-4) -> float:
    """Slope beta of ``log kappa^q`` vs ``log T`` over ``T_range`` (default [100, 1000], N = 100)."""
    return power_law(eta, T_range, levels=levels, omega_c=omega_c, points=points, delta=delta)[0]


def eta_for_beta(beta: float = 0.5, T_range=BETA_RANGE, *, levels=100, omega_c: float = 1.0, points: int = 11,
                 bracket=(-4.0, 0.0), xtol: float = 1e-10) -> float:
    """The eta at which :func:`fit_beta` equals ``beta`` (brentq on ``bracket``); ~ -2.25 for beta = 1/2."""
    spec = _spectrum(levels)

    def f(eta):
        return fit_beta(eta, T_range, levels=spec, omega_c=omega_c, points=points) - beta

    a, b = bracket
    fa, fb = f(a), f(b)
    if fa * fb > 0:
        raise ValueError(f"beta={beta} not bracketed by eta in {bracket}: beta(eta) = {fa + beta}, {fb + beta}")
    return float(brentq(f, a, b, xtol=xtol))
