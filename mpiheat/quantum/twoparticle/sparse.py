"""Sparse p-version basis of the triangle 0 < x1 < x2 < 1 (integrated Jacobi polynomials), assembled by rows.

Same space as :mod:`mpiheat.quantum.twoparticle.spectral` (all polynomials of total degree <= p vanishing on the
boundary, ``(p-1)(p-2)/2`` modes, so identical Ritz values), but a different basis: in the collapsed coordinates
``s = x2``, ``t = x1 / x2``

    phi_ij = A_i(t) B_ij(s),   A_i(t) = t (1 - t) P_i^(1,1)(2t - 1),
                               B_ij(s) = s^(i+2) (1 - s) P_j^(1, 2i+3)(2s - 1),     i + j <= p - 3,

i.e. integrated Legendre polynomials in t and integrated-Jacobi-type polynomials in s (sparse triangle shape
functions in the spirit of Beuchler and Schoeberl; the weights here were chosen by measuring the sparsity).
Their Jacobi weights are one power lower than the orthonormal (Dubiner) choice, which makes the mass matrix, both
second-derivative forms and the two Rellich forms *sparse*: nonzeros only for ``|i - i'| <= 2`` and
``|j - j'| <= 5`` (measured: about 19, 3, 14, 29 and 19 nonzeros per row for M, K1, K2, G_L, G_R at p = 60,
against a dense K2 in the orthonormal basis; stored, i.e. above 1e-14 of their row's largest entry, 21, 15, 38, 30
and 24 per row at p = 240, round-off of the cancelling terms included). The price is a mass matrix that is no
longer the identity (condition number ~ p^4 after the diagonal scaling applied here), so the eigenproblem is a
generalized one, ``K c = E M c``.

Every integrand is a polynomial in (s, t), so Gauss-Legendre rules with ``p + 4`` nodes per direction are exact.
Each rank evaluates only the modes its rows touch (``i - 2 .. i + 2``) and returns CSR arrays of its rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from mpiheat.quantum.twoparticle.spectral import _weighted_jacobi

__all__ = ["n_modes", "mode_labels", "coarse_index", "row_range_modes", "SparseRows", "assemble_rows", "BAND_J"]

#: Half bandwidth in j searched for nonzeros (measured maximum: 5).
BAND_J = 6


def n_modes(p: int) -> int:
    """Number of interior modes of total degree ``p``."""
    return (p - 1) * (p - 2) // 2


def mode_labels(p: int) -> np.ndarray:
    """Labels (i, j) of the degree-``p`` modes, ordered by i then j (the global row order)."""
    return np.array([(i, j) for i in range(p - 2) for j in range(p - 2 - i)], dtype=np.int64).reshape(-1, 2)


def _offsets(p: int) -> np.ndarray:
    """Global index of mode (i, 0) for i = 0 .. p-2 (the last entry is the total)."""
    nj = np.array([p - 2 - i for i in range(p - 2)], dtype=np.int64)
    return np.concatenate([[0], np.cumsum(nj)])


def coarse_index(p_coarse: int, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which of the modes ``labels`` (rows (i, j) of a degree >= ``p_coarse``) are modes of degree ``p_coarse``, and
    their global indices there: ``(inside, index)`` with ``index`` for the ``inside`` rows only. The modes are
    hierarchical (and their scaling depends on the mode only), so this is the 0/1 embedding of the coarse space."""
    inside = labels.sum(axis=1) <= p_coarse - 3
    return inside, _offsets(p_coarse)[labels[inside, 0]] + labels[inside, 1]


def row_range_modes(p: int, r0: int, r1: int) -> tuple[int, int]:
    """Range ``[i_lo, i_hi)`` of t-indices i whose modes intersect the global rows ``[r0, r1)``."""
    off = _offsets(p)
    i_lo = int(np.searchsorted(off, r0, side="right") - 1)
    i_hi = int(np.searchsorted(off, r1, side="left"))
    return i_lo, max(i_hi, i_lo + 1)


def _t_factors(p: int, y: np.ndarray, w: np.ndarray):
    """t-factor integrals (p-2 x p-2 matrices) of the integrated Legendre modes A_i."""
    x = 0.5 * (y + 1.0)
    nI = p - 2
    with np.errstate(divide="ignore"):
        lw = np.log(x) + np.log1p(-x)
    RA, SA = _weighted_jacobi(nI, 1.0, 1.0, y, lw)
    R0, _ = _weighted_jacobi(nI, 1.0, 1.0, y, np.zeros_like(y))
    A = RA.astype(float)
    dA = (1.0 - 2.0 * x) * R0.astype(float) + 2.0 * SA.astype(float)  # d/dt [t(1-t) P(2t-1)]

    def tint(f, g, h=1.0):
        return (f * (w * h)) @ g.T

    return {"TA0": tint(A, A), "TA1": tint(dA, dA), "TAtd": tint(A, dA, x), "TAt2": tint(dA, dA, x * x),
            "TAa": tint(A, dA, x - 1.0), "A": A, "dA": dA}


def _s_modes(p: int, i: int, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``B_ij(s)`` and ``B_ij'(s)`` at the nodes for all j of one i (extended-precision recurrence)."""
    x = 0.5 * (y + 1.0)
    lx, l1x = np.log(x), np.log1p(-x)
    nj = p - 2 - i
    b = 2.0 * i + 3.0
    R, S = _weighted_jacobi(nj, 1.0, b, y, (i + 2) * lx + l1x)
    R1, _ = _weighted_jacobi(nj, 1.0, b, y, (i + 1) * lx)
    B = np.nan_to_num(R.astype(float))
    dB = np.nan_to_num(((i + 2) - (i + 3) * x) * R1.astype(float) + 2.0 * S.astype(float))
    return B, dB


@dataclass
class SparseRows:
    """CSR matrices (local rows ``[r0, r1)``, global columns) of the diagonally scaled Galerkin matrices.

    With ``D = diag(M)^(-1/2)`` every matrix is ``D X D`` (so ``diag(M) = 1``); ``trace_L``/``trace_R`` are the
    scaled normal derivatives on the coupled edges at the Gauss nodes (shape (r1 - r0, nq)), ``weights`` the nodes'
    weights on [0, 1], ``scale`` the local part of D.
    """

    p: int
    r0: int
    r1: int
    n: int
    mats: dict  # name -> scipy CSR matrix of the local rows, shape (r1 - r0, n) ("M", "K1", "K2", "G_L", "G_R")
    trace_L: np.ndarray
    trace_R: np.ndarray
    weights: np.ndarray
    scale: np.ndarray


def assemble_rows(p: int, r0: int, r1: int) -> SparseRows:
    """Assemble rows ``[r0, r1)`` of M, K1, K2, G_L, G_R in the sparse basis of degree ``p`` (unit length).

    Only the modes with t-index within 2 of the local rows' are evaluated; the cost is O((r1 - r0) p) plus the
    dense j-blocks of neighbouring i (O(p^2) each), so the work and memory are split over the ranks.
    """
    p = int(p)
    if p < 3:
        raise ValueError(f"polynomial degree must be >= 3, got {p}")
    n = n_modes(p)
    nI = p - 2
    off = _offsets(p)
    nq = p + 4
    y, wq = np.polynomial.legendre.leggauss(nq)
    x, w = 0.5 * (y + 1.0), 0.5 * wq
    T = _t_factors(p, y, w)
    i_lo, i_hi = row_range_modes(p, r0, r1)
    c_lo, c_hi = max(0, i_lo - 2), min(nI, i_hi + 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        modes = {i: _s_modes(p, i, y) for i in range(c_lo, c_hi)}
    # diagonal scaling D = diag(M)^(-1/2) of every touched mode (M_kk = TA0_ii * int B_ij^2 s ds)
    dscale = {i: 1.0 / np.sqrt(T["TA0"][i, i] * ((modes[i][0] ** 2) @ (w * x))) for i in modes}

    def sint(f, g, h):
        return (f * (w * h)) @ g.T

    terms = {  # matrix -> [(t-factor, s-left, s-right, s-weight)]; "B"/"dB" refer to the mode values
        "M": [("TA0", 0, 0, x)],
        "K1": [("TA1", 0, 0, 1.0 / x)],
        "K2": [("TA0", 1, 1, x), ("-TAtd", 1, 0, 1.0), ("-TAtdT", 0, 1, 1.0), ("TAt2", 0, 0, 1.0 / x)],
        "G_L": [("TAa", 0, 0, 1.0), ("TA0", 0, 1, x * (x - 1.0))],
        "G_R": [("TA0", 0, 1, x * x)],
    }

    def tval(name, i, k):
        if name == "-TAtd":
            return -T["TAtd"][i, k]
        if name == "-TAtdT":
            return -T["TAtd"][k, i]
        return T[name][i, k]

    coo = {m: ([], [], []) for m in terms}
    for i in range(i_lo, i_hi):
        j0 = max(0, r0 - off[i])
        j1 = min(p - 2 - i, r1 - off[i])
        if j1 <= j0:
            continue
        Bi = modes[i]
        jj = np.arange(j0, j1)[:, None]
        for k in range(max(0, i - 2), min(nI, i + 3)):
            Bk = modes[k]
            ll = np.arange(p - 2 - k)[None, :]
            band = np.abs(jj - ll) <= BAND_J
            rr, cc = np.nonzero(band)
            for m, tl in terms.items():
                acc = np.zeros((j1 - j0, p - 2 - k))
                for tname, a, b, h in tl:
                    tv = tval(tname, i, k)
                    if tv != 0.0:
                        acc += tv * sint(Bi[a][j0:j1], Bk[b], h)
                v = (acc * dscale[i][j0:j1, None] * dscale[k][None, :])[rr, cc]
                coo[m][0].append(off[i] + j0 + rr - r0)
                coo[m][1].append(off[k] + cc)
                coo[m][2].append(v)
    data = {}
    for m in terms:
        r = np.concatenate(coo[m][0]) if coo[m][0] else np.zeros(0, np.int64)
        c = np.concatenate(coo[m][1]) if coo[m][1] else np.zeros(0, np.int64)
        v = np.concatenate(coo[m][2]) if coo[m][2] else np.zeros(0)
        # structural zeros of the band come out at round-off level: drop them (relative to the row's scale ~ 1 for
        # M and G, ~ p^4 for K; 1e-14 of the largest entry of the row keeps every true coupling)
        X = sp.csr_matrix((v, (r, c)), shape=(r1 - r0, n))
        rowmax = np.zeros(r1 - r0)
        if X.nnz:
            rowmax = np.maximum.reduceat(np.abs(X.data), X.indptr[:-1]) if X.nnz else rowmax
            rowmax[np.diff(X.indptr) == 0] = 0.0
        thr = np.repeat(1e-14 * rowmax, np.diff(X.indptr))
        X.data[np.abs(X.data) <= thr] = 0.0
        X.eliminate_zeros()
        X.sort_indices()
        data[m] = X
    # edge traces of the local rows: d1 phi(0, x2) = A_i'(0) B_ij(s)/s at s = x_q;  d2 phi(x1, 1) = A_i(t) B_ij'(1)
    scale = np.concatenate([dscale[i][max(0, r0 - off[i]):min(p - 2 - i, r1 - off[i])] for i in range(i_lo, i_hi)
                            if min(p - 2 - i, r1 - off[i]) > max(0, r0 - off[i])])
    R0end, _ = _weighted_jacobi(nI, 1.0, 1.0, np.array([-1.0]), np.zeros(1))
    dA0 = R0end.astype(float)[:, 0]  # A_i'(0) = P_i^(1,1)(-1) (orthonormal Jacobi value at the end point)
    trL, trR = [], []
    for i in range(i_lo, i_hi):
        j0, j1 = max(0, r0 - off[i]), min(p - 2 - i, r1 - off[i])
        if j1 <= j0:
            continue
        B, _ = modes[i]
        trL.append(dA0[i] * B[j0:j1] / x)
        # B_ij'(1) = -P_j^(1,2i+3)(1) (weight (i+2)-(i+3) = -1 at s = 1)
        Rend, _ = _weighted_jacobi(p - 2 - i, 1.0, 2.0 * i + 3.0, np.array([1.0]), np.zeros(1))
        trR.append(T["A"][i][None, :] * (-Rend.astype(float)[j0:j1, 0])[:, None])
    trace_L = np.vstack(trL) * scale[:, None] if trL else np.zeros((0, nq))
    trace_R = np.vstack(trR) * scale[:, None] if trR else np.zeros((0, nq))
    return SparseRows(p=p, r0=int(r0), r1=int(r1), n=n, mats=data,
                      trace_L=trace_L, trace_R=trace_R, weights=w, scale=scale)
