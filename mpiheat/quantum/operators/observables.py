"""Steady-state observables of End Matter C: ``<P_R>`` (Eq. C1) and the position-space participation ratio (Eq. C2).

For the box, ``rho(x, x) = sum_ij rho_ij psi_i(x) psi_j(x)`` with ``psi_n = sqrt(2/L) sin(n pi x / L)`` is a cosine
polynomial, ``rho(x, x) = (1/L) sum_k c_k cos(k pi x / L)`` with ``c_|i-j| += Re rho_ij``, ``c_(i+j) -= Re rho_ij``,
so ``int_0^L rho(x, x)^2 dx = (c_0^2 + sum_{k>=1} c_k^2 / 2) / L`` exactly, in O(N^2).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mpiheat.quantum.operators.spectrum import Spectrum

__all__ = ["expect_P_R", "density_integral", "participation_ratio"]


def expect_P_R(spectrum: Spectrum, rho: np.ndarray) -> float:
    """``<P_R> = Tr(P_R rho)`` (Eq. C1), the interaction strength with the right (cold) bath."""
    return float(np.real(np.sum(np.asarray(spectrum.P_R).T * np.asarray(rho))))


def density_integral(rho: np.ndarray, length: float = 1.0, *, eigenfunctions: Callable | None = None,
                     quad_points: int | None = None) -> float:
    """``int_0^L rho(x, x)^2 dx``.

    Parameters
    ----------
    rho : ndarray (N, N)
        Density matrix in the eigenbasis.
    length : float
        Box length L.
    eigenfunctions : callable, optional
        ``f(x) -> array (N, len(x))`` of real eigenfunctions; default: the box ``sqrt(2/L) sin(n pi x / L)``,
        integrated analytically.  With a callable the integral is done by Gauss-Legendre quadrature with
        ``quad_points`` nodes (default ``4 N + 8``: round-off accuracy for the box, a trigonometric polynomial of
        degree 4N in pi x / L).
    """
    rho = np.asarray(rho)
    N = rho.shape[0]
    if eigenfunctions is None:
        R = np.real(rho)
        i, j = np.meshgrid(np.arange(1, N + 1), np.arange(1, N + 1), indexing="ij")
        c = np.bincount(np.abs(i - j).ravel(), weights=R.ravel(), minlength=2 * N + 1)
        c -= np.bincount((i + j).ravel(), weights=R.ravel(), minlength=2 * N + 1)
        return float((c[0] ** 2 + 0.5 * np.sum(c[1:] ** 2)) / length)
    n = int(quad_points or 4 * N + 8)
    t, w = np.polynomial.legendre.leggauss(n)
    x = 0.5 * length * (t + 1.0)
    psi = np.asarray(eigenfunctions(x), dtype=float)
    dens = np.einsum("ix,ij,jx->x", psi, np.real(rho), psi)
    return float(0.5 * length * np.dot(w, dens**2))


def participation_ratio(rho: np.ndarray, length: float = 1.0, *, eigenfunctions: Callable | None = None,
                        quad_points: int | None = None) -> float:
    """Position-space participation ratio ``PR = 1 / int_0^L rho(x, x)^2 dx`` (Eq. C2); L for a uniform density.

    See :func:`density_integral` for the arguments. Ground state of the box: ``PR = 2L/3``.
    """
    return 1.0 / density_integral(rho, length, eigenfunctions=eigenfunctions, quad_points=quad_points)
