"""Numba kernels of the transfer-operator solver (arrays and scalars only; see :mod:`mpiheat.classical.transfer`)."""

from __future__ import annotations

import math

import numba as nb
import numpy as np

__all__ = ["band_apply", "remap_coo", "shift_coo"]

_FLUSH = 1e-280  # probabilities below this are set to 0 so that the support of a travelling packet can shrink


@nb.njit(cache=True)
def _band_step(a, b, B, lo, hi):
    """One Markov step on the support [lo, hi] of ``a``: ``b = a K`` (small entries flushed), ``a`` zeroed there.

    Returns the support of ``b``; the caller swaps ``a`` and ``b``.
    """
    N = a.shape[0]
    W = (B.shape[1] - 1) // 2
    nlo = max(0, lo - W)
    nhi = min(N - 1, hi + W)
    for j in range(nlo, nhi + 1):
        b[j] = 0.0
    for i in range(lo, hi + 1):
        ai = a[i]
        if ai == 0.0:
            continue
        k0 = max(0, W - i)
        k1 = min(2 * W, N - 1 - i + W)
        for k in range(k0, k1 + 1):
            b[i + k - W] += ai * B[i, k]
    for j in range(nlo, nhi + 1):
        if b[j] < _FLUSH:
            b[j] = 0.0
    while nlo < nhi and b[nlo] == 0.0:
        nlo += 1
    while nhi > nlo and b[nhi] == 0.0:
        nhi -= 1
    # clear the old support in a (b holds the new vector)
    for j in range(lo, hi + 1):
        a[j] = 0.0
    return nlo, nhi


@nb.njit(cache=True)
def band_apply(p, B, n):
    """Return ``p K^n`` for a banded row-stochastic ``K`` with ``K[i, i + k] = B[i, k + W]`` (W = (B.shape[1]-1)/2).

    ``p`` is a row vector of cell masses. Only the current support (plus the band half-width) is swept each step, so
    a narrow packet costs O(width), not O(N). Entries below 1e-280 are flushed to zero (mass change < N * 1e-280).
    """
    N = p.shape[0]
    a = p.copy()
    b = np.zeros(N)
    lo = 0
    while lo < N and a[lo] == 0.0:
        lo += 1
    hi = N - 1
    while hi >= 0 and a[hi] == 0.0:
        hi -= 1
    if lo > hi:
        return a
    for _ in range(n):
        lo, hi = _band_step(a, b, B, lo, hi)
        a, b = b, a
    return a


@nb.njit(cache=True)
def _cdf_exp(s, theta):
    # Unnormalised CDF of the in-cell shape exp(-s/theta) at offset s >= 0 from the left edge (uniform if theta=inf).
    if math.isinf(theta):
        return s
    return -theta * math.expm1(-s / theta)


@nb.njit(cache=True)
def remap_coo(src_edges, src_theta, tgt_edges):
    """Conservative remap of cell masses from one energy grid to another (COO triplets ``rows, cols, vals``).

    Source cell i = [src_edges[i], src_edges[i+1]) carries the in-cell density exp(-(E - a)/theta_i) (uniform for
    theta = inf); the fraction of it inside each target cell is exact for that shape. Mass beyond the last target
    edge goes to the last target cell (the grids are built so that this mass is negligible; it is reported).
    """
    ns = src_edges.shape[0] - 1
    nt = tgt_edges.shape[0] - 1
    cap = ns + nt + 2
    rows = np.empty(cap, np.int64)
    cols = np.empty(cap, np.int64)
    vals = np.empty(cap)
    m = 0
    j = 0
    for i in range(ns):
        a = src_edges[i]
        b = src_edges[i + 1]
        th = src_theta[i]
        tot = _cdf_exp(b - a, th)
        while j < nt - 1 and tgt_edges[j + 1] <= a:
            j += 1
        jj = j
        while True:
            t_hi = tgt_edges[jj + 1] if jj < nt - 1 else math.inf
            lo = max(a, tgt_edges[jj])
            hi = min(b, t_hi)
            if hi > lo:
                frac = (_cdf_exp(hi - a, th) - _cdf_exp(lo - a, th)) / tot
                if m == cap:
                    cap *= 2
                    rows2 = np.empty(cap, np.int64)
                    cols2 = np.empty(cap, np.int64)
                    vals2 = np.empty(cap)
                    rows2[:m] = rows[:m]
                    cols2[:m] = cols[:m]
                    vals2[:m] = vals[:m]
                    rows, cols, vals = rows2, cols2, vals2
                rows[m] = i
                cols[m] = jj
                vals[m] = frac
                m += 1
            if jj == nt - 1 or t_hi >= b:
                break
            jj += 1
    return rows[:m], cols[:m], vals[:m]


@nb.njit(cache=True)
def shift_coo(src_index, mu, shifts, weights, keep):
    """Operator of "E -> E + s", s = shifts[k] with probability weights[k], acting on cells ``src_index``.

    Each cell is represented by its mean energy ``mu`` (increasing); the shifted point mu_i + s is shared linearly
    between the two cells whose means bracket it (cloud-in-cell on the means), which conserves the mass and the mean
    energy exactly whatever the cell widths. Points beyond the first/last mean go to the first/last cell. Entries
    below ``keep`` are dropped and the row renormalised. Returns COO triplets (row = source cell index).
    """
    n = mu.shape[0]
    out_r = []
    out_c = []
    out_v = []
    buf = np.zeros(n)
    for r in range(src_index.shape[0]):
        i = src_index[r]
        jmin = n
        jmax = -1
        for k in range(shifts.shape[0]):
            g = weights[k]
            if g == 0.0:
                continue
            y = mu[i] + shifts[k]
            j = np.searchsorted(mu, y) - 1
            if j < 0:
                buf[0] += g
                j0, j1 = 0, 0
            elif j >= n - 1:
                buf[n - 1] += g
                j0, j1 = n - 1, n - 1
            else:
                f = (y - mu[j]) / (mu[j + 1] - mu[j])
                buf[j] += g * (1.0 - f)
                buf[j + 1] += g * f
                j0, j1 = j, j + 1
            jmin = min(jmin, j0)
            jmax = max(jmax, j1)
        tot = 0.0
        for j in range(jmin, jmax + 1):
            if buf[j] >= keep:
                tot += buf[j]
        for j in range(jmin, jmax + 1):
            if buf[j] >= keep:
                out_r.append(i)
                out_c.append(j)
                out_v.append(buf[j] / tot)
            buf[j] = 0.0
    m = len(out_r)
    rows = np.empty(m, np.int64)
    cols = np.empty(m, np.int64)
    vals = np.empty(m)
    for t in range(m):
        rows[t] = out_r[t]
        cols[t] = out_c[t]
        vals[t] = out_v[t]
    return rows, cols, vals


@nb.njit(cache=True)
def relax_trace(p, B, pi, n_max, tol, use_mean, xmean):
    """Apply the banded chain ``B`` one move at a time to ``p`` until the distance to ``pi`` is below ``tol``.

    The distance is the total variation 0.5 sum |p - pi| (``use_mean`` False) or the relative error of the
    mean (sum p x - sum pi x) / sum pi x with the cell means ``xmean`` (``use_mean`` True; signed in the trace).
    Returns (steps, trace), trace[k] the distance after k moves (k = 0..steps); steps = -1 if ``n_max`` was too few.
    """
    N = p.shape[0]
    trace = np.empty(n_max + 1)
    a = p.copy()
    b = np.zeros(N)
    target = 0.0
    for i in range(N):
        target += pi[i] * xmean[i]
    lo = 0
    while lo < N - 1 and a[lo] == 0.0:
        lo += 1
    hi = N - 1
    while hi > lo and a[hi] == 0.0:
        hi -= 1
    for step in range(n_max + 1):
        d = 0.0
        if use_mean:
            m = 0.0
            for i in range(N):
                m += a[i] * xmean[i]
            d = (m - target) / target
        else:
            for i in range(N):
                d += abs(a[i] - pi[i])
            d *= 0.5
        trace[step] = d
        if abs(d) < tol:
            return step, trace[: step + 1]
        if step == n_max:
            break
        lo, hi = _band_step(a, b, B, lo, hi)
        a, b = b, a
    return -1, trace
