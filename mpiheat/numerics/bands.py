"""Metropolis band matrices on a uniform cell grid: the discrete chain shared by the transfer solver and relaxation.

A bath's Metropolis chain, in units of its temperature, lives on x = E/T (energy chain, target exp(-x)) or on
u = v sqrt(m/T) (speed chain, target u exp(-u^2/2)). On cells of width h the cell-to-cell proposal is the exact
probability that (cell centre) + c xi lands k cells away (a symmetric, mass-conserving discrete Gaussian truncated at
``band_sigmas`` c), the acceptance is Metropolis for the cell-integrated target, and rejected mass (including moves
below 0 or past the last cell) stays on the diagonal. Detailed balance then holds exactly on the grid.

A band matrix ``B`` of shape (N, 2W + 1) stores row i's transition probabilities to cells i - W .. i + W in columns
0 .. 2W (column W is the diagonal); every row sums to 1. Only numpy and scipy are used here (no numba, nothing of
mpiheat): the numba kernels that apply a band live with the classical solvers.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr

__all__ = ["proposal_stencil", "band_energy", "band_speed"]


def proposal_stencil(c: float, h: float, band_sigmas: float) -> tuple[int, np.ndarray]:
    """Discrete Gaussian proposal on cells of width ``h``.

    Parameters
    ----------
    c : float
        Proposal width (standard deviation, in the scaled variable).
    h : float
        Cell width.
    band_sigmas : float
        Truncation, in units of ``c``.

    Returns
    -------
    W : int
        Half-width of the band (cells).
    q : numpy.ndarray, shape (2W + 1,)
        q[W + k], k = -W..W: probability that (cell centre) + c xi lands k cells away.
    """
    W = max(1, int(math.ceil(band_sigmas * c / h)))
    k = np.arange(0, W + 1, dtype=float)
    qpos = ndtr(-(k - 0.5) * h / c) - ndtr(-(k + 0.5) * h / c)  # upper tails: accurate far out
    qpos[0] = 1.0 - 2.0 * ndtr(-0.5 * h / c)
    return W, np.concatenate([qpos[:0:-1], qpos])


def band_energy(N: int, c: float, h: float, band_sigmas: float) -> np.ndarray:
    """Metropolis band of the energy chain on N x-cells of width h (target exp(-x)).

    ``B[i, W + k] = q(k) min(1, exp(-k h))`` for moves that stay on the grid; the rest of each row is on the diagonal.

    Returns
    -------
    numpy.ndarray, shape (N, 2W + 1)
    """
    W, q = proposal_stencil(c, h, band_sigmas)
    k = np.arange(-W, W + 1)
    A = q * np.minimum(1.0, np.exp(-k * h))
    A[W] = 0.0
    B = np.tile(A, (N, 1))
    i = np.arange(N)[:, None]
    B[(i + k[None, :] < 0) | (i + k[None, :] >= N)] = 0.0
    B[:, W] = 1.0 - B.sum(axis=1)
    return B


def band_speed(N: int, c: float, h: float, band_sigmas: float) -> np.ndarray:
    """Metropolis band of the speed chain on N u-cells of width h (target cell masses of u exp(-u^2/2)).

    Returns
    -------
    numpy.ndarray, shape (N, 2W + 1)
    """
    W, q = proposal_stencil(c, h, band_sigmas)
    a = h * np.arange(N)
    b = a + h
    logpi = -0.5 * a * a + np.log(-np.expm1(-0.5 * (b * b - a * a)))
    k = np.arange(-W, W + 1)
    j = np.arange(N)[:, None] + k[None, :]
    inside = (j >= 0) & (j < N)
    jc = np.clip(j, 0, N - 1)
    B = q[None, :] * np.minimum(1.0, np.exp(np.minimum(logpi[jc] - logpi[:, None], 0.0)))
    B[~inside] = 0.0
    B[:, W] = 0.0
    B[:, W] = 1.0 - B.sum(axis=1)
    return B
