"""Pauli rate equation (SPEC §3): the diagonal steady state of the Lindblad equation, and fast vectorised sweeps.

Rates: ``W(j -> i) = sum_a J(w)(1 + n_a(w)) |P^a_ij|^2`` (down, ``w = E_j - E_i > 0``) and
``W(i -> j) = sum_a J(w) n_a(w) |P^a_ij|^2`` (up). Heat current from bath L:
``J_L = sum_{i<j} w |P^L_ij|^2 J(w) [n_L p_i - (1 + n_L) p_j]`` and ``J_R`` likewise with the sign flipped.
"""

from __future__ import annotations

import numpy as np

from mpiheat.quantum.operators.constraint import constrain_dense
from mpiheat.quantum.operators.lindblad import Transitions, bath_rates, check_temperature, transitions
from mpiheat.quantum.operators.spectrum import Spectrum


def rate_matrices(spectrum: Spectrum, T_L, T_R, *, gamma: float, eta: float, omega_c: float = 1.0,
                  tr: Transitions | None = None) -> np.ndarray:
    """Generator(s) ``W`` of ``dp/dt = W p`` (``W[i, j]`` = rate j -> i, columns sum to 0).

    ``T_L`` and ``T_R`` may be arrays of the same shape S; the result then has shape ``S + (N, N)``.
    """
    tr = transitions(spectrum) if tr is None else tr
    N = spectrum.N
    TL = np.atleast_1d(np.asarray(T_L, dtype=float))
    TR = np.atleast_1d(np.asarray(T_R, dtype=float))
    TL, TR = np.broadcast_arrays(TL, TR)
    shape = TL.shape
    TL, TR = TL.ravel(), TR.ravel()
    W = np.zeros((TL.shape[0], N, N))
    PL2, PR2 = tr.cL ** 2, tr.cR ** 2
    for k in range(TL.shape[0]):
        r = bath_rates(tr.omega, TL[k], TR[k], gamma=gamma, eta=eta, omega_c=omega_c)
        down = r.down_L * PL2 + r.down_R * PR2
        up = r.up_L * PL2 + r.up_R * PR2
        np.add.at(W[k], (tr.lo, tr.hi), down)  # hi -> lo
        np.add.at(W[k], (tr.hi, tr.lo), up)  # lo -> hi
        W[k][np.arange(N), np.arange(N)] = -W[k].sum(axis=0)
    if np.ndim(T_L) == 0 and np.ndim(T_R) == 0:
        return W[0]
    return W.reshape(shape + (N, N))


def solve_rates(W: np.ndarray) -> np.ndarray:
    """Stationary populations of generator(s) ``W`` (..., N, N), normalised to sum 1.

    The first balance equation (redundant: columns sum to zero) is replaced by the normalisation, scaled to the size
    of the rates for conditioning (:mod:`.constraint`); solved by batched dense LU.
    """
    W = np.array(W, dtype=float, copy=True)
    N = W.shape[-1]
    scale = np.max(np.abs(W[..., np.arange(N), np.arange(N)]), axis=-1)
    scale = np.where(scale > 0, scale, 1.0)
    constrain_dense(W, N, scale)
    rhs = np.zeros(W.shape[:-1])
    rhs[..., 0] = scale
    p = np.linalg.solve(W, rhs[..., None])[..., 0]
    return p / p.sum(axis=-1, keepdims=True)


def pauli_currents(spectrum: Spectrum, p: np.ndarray, T_L, T_R, *, gamma: float, eta: float, omega_c: float = 1.0,
                   tr: Transitions | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Heat currents ``(J_L, J_R)`` of populations ``p`` (..., N); T_L, T_R broadcast against ``p[..., 0]``."""
    tr = transitions(spectrum) if tr is None else tr
    p = np.asarray(p, dtype=float)
    TL = np.broadcast_to(np.asarray(T_L, dtype=float), p.shape[:-1])
    TR = np.broadcast_to(np.asarray(T_R, dtype=float), p.shape[:-1])
    JL = np.empty(p.shape[:-1])
    JR = np.empty(p.shape[:-1])
    for idx in np.ndindex(p.shape[:-1]):
        r = bath_rates(tr.omega, TL[idx], TR[idx], gamma=gamma, eta=eta, omega_c=omega_c)
        pl, ph = p[idx][tr.lo], p[idx][tr.hi]
        JL[idx] = np.sum(tr.omega * tr.cL ** 2 * (r.up_L * pl - r.down_L * ph))
        JR[idx] = -np.sum(tr.omega * tr.cR ** 2 * (r.up_R * pl - r.down_R * ph))
    return JL, JR


def pauli_sweep(spectrum: Spectrum, T_L, T_R, *, gamma: float, eta: float, omega_c: float = 1.0):
    """Vectorised Pauli steady states over many temperature pairs (T_L, T_R broadcast together).

    Returns
    -------
    p : ndarray (..., N)
        Stationary populations.
    J_L, J_R : ndarray (...)
        Heat currents from bath L and into bath R.
    """
    TL, TR = np.broadcast_arrays(np.asarray(T_L, dtype=float), np.asarray(T_R, dtype=float))
    for name, T in (("T_L", TL), ("T_R", TR)):
        for t in np.ravel(T):
            check_temperature(name, t)
    tr = transitions(spectrum)
    W = rate_matrices(spectrum, TL, TR, gamma=gamma, eta=eta, omega_c=omega_c, tr=tr)
    W = W.reshape(TL.shape + W.shape[-2:])
    p = solve_rates(W)
    JL, JR = pauli_currents(spectrum, p, TL, TR, gamma=gamma, eta=eta, omega_c=omega_c, tr=tr)
    return p, JL, JR
