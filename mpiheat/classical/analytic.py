"""Closed forms for one particle between two Maxwell baths (Letter Eqs. 3, 4, 12; SPEC §1)."""

from __future__ import annotations

import numpy as np

__all__ = ["maxwell_current", "maxwell_kappa", "maxwell_kappa_finite_delta", "maxwell_means"]


def maxwell_current(T_L, T_R, mass: float = 1.0, length: float = 1.0):
    """Heat current between Maxwell baths, Eq. (4): sqrt(2/(m pi)) sqrt(T_L T_R) (sqrt(T_L) - sqrt(T_R)) / L.

    Parameters
    ----------
    T_L, T_R : float or array_like
        Bath temperatures (broadcast).
    mass, length : float
        Particle mass m and box length L.

    Returns
    -------
    float or numpy.ndarray
        J^c (positive when T_L > T_R).
    """
    T_L = np.asarray(T_L, dtype=float)
    T_R = np.asarray(T_R, dtype=float)
    J = np.sqrt(2.0 / (mass * np.pi)) * np.sqrt(T_L * T_R) * (np.sqrt(T_L) - np.sqrt(T_R)) / length
    return J[()] if J.ndim == 0 else J


def maxwell_kappa(T, mass: float = 1.0, length: float = 1.0):
    """Linear-response conductance, Eq. (12): kappa^c(T) = sqrt(T / (2 pi m)) / L (J over Delta, not over Delta/L)."""
    T = np.asarray(T, dtype=float)
    k = np.sqrt(T / (2.0 * np.pi * mass)) / length
    return k[()] if k.ndim == 0 else k


def maxwell_kappa_finite_delta(T, delta: float, mass: float = 1.0, length: float = 1.0):
    """J / Delta of Eq. (4) at a finite relative bias: T_L,R = T (1 +- delta/2), Delta = T_L - T_R.

    It tends to :func:`maxwell_kappa` as delta -> 0, as kappa (1 - 3 delta^2 / 32 + ...): the reference for a
    finite-bias measurement of kappa (-0.375 % at delta = 0.2).
    """
    T = np.asarray(T, dtype=float)
    T_L, T_R = T * (1 + delta / 2), T * (1 - delta / 2)
    k = maxwell_current(T_L, T_R, mass, length) / (T_L - T_R)
    return k[()] if np.ndim(k) == 0 else k


def maxwell_means(T, mass: float = 1.0, length: float = 1.0):
    """Mean energy and mean flight time of a particle leaving a Maxwell bath at temperature ``T``.

    Returns
    -------
    (E_mean, t_mean) : tuple
        E_mean = T (flux-weighted kinetic energy) and t_mean = L sqrt(pi m / (2 T)) (mean of L/v under f(v)).
    """
    T = np.asarray(T, dtype=float)
    E = T * 1.0
    t = length * np.sqrt(np.pi * mass / (2.0 * T))
    return (E[()], t[()]) if T.ndim == 0 else (E, t)
