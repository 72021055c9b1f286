"""Lindblad (Eq. 6) Liouvillian in the real representation of SPEC §3, built as CSR row blocks.

Real coordinates of a Hermitian N x N matrix rho (``N**2`` of them), in this order:

* ``x[a] = rho[a, a]`` for ``a = 0..N-1`` (populations first, so the population rows of any superoperator are rows
  ``0..N-1``);
* for each pair ``i < j`` in row-major order with pair index ``p``: ``x[N + 2p] = Re rho[i, j]`` and
  ``x[N + 2p + 1] = Im rho[i, j]`` (the two couple through the commutator, so keeping them adjacent keeps rows local).

Because the coupling operators are real, the dissipator has real coefficients ``D[ab, jl]`` and maps Re rho to Re and
Im rho to Im separately; only ``-i[H, .]`` couples ``Re rho_ab`` and ``Im rho_ab`` (with ``+-(E_a - E_b)``).

Transitions ``i -> j`` with ``omega = E_j - E_i > 0`` are grouped into the Lindblad operators ``A(omega)`` (Eq. 7) by
the spectrum's exact integer keys, or, when ``spectrum.keys is None``, by float gaps with relative tolerance
``GAP_RTOL``. Within a group every ordered pair of transitions gives one coefficient, so the number of entries is
``sum_k g_k**2`` (+ O(N**2) for the anticommutator and Hamiltonian): the secular structure makes the operator sparse.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from mpiheat.quantum.operators.spectrum import Spectrum, bose, spectral_density

#: Relative tolerance used to group float Bohr frequencies when a spectrum has no integer keys.
GAP_RTOL = 1e-9


# ----------------------------------------------------------------------------------------------------------------
# Indexing of the real representation
# ----------------------------------------------------------------------------------------------------------------
def pair_index(i, j, N: int):
    """Row-major index of the pair ``i < j`` among all such pairs (vectorised)."""
    i = np.asarray(i, dtype=np.int64)
    j = np.asarray(j, dtype=np.int64)
    return i * N - (i * (i + 1)) // 2 + (j - i - 1)


def real_dim(N: int) -> int:
    """Number of real coordinates, ``N**2``."""
    return int(N) * int(N)


def rho_to_real(rho: np.ndarray) -> np.ndarray:
    """Real coordinates (see module docstring) of a Hermitian matrix."""
    rho = np.asarray(rho)
    N = rho.shape[0]
    iu, ju = np.triu_indices(N, 1)
    x = np.empty(N * N)
    x[:N] = np.real(np.diag(rho))
    x[N::2] = np.real(rho[iu, ju])
    x[N + 1::2] = np.imag(rho[iu, ju])
    return x


def real_to_rho(x: np.ndarray, N: int) -> np.ndarray:
    """Hermitian N x N complex matrix from its real coordinates."""
    x = np.asarray(x, dtype=float)
    if x.shape != (N * N,):
        raise ValueError(f"expected {N * N} real coordinates, got shape {x.shape}")
    iu, ju = np.triu_indices(N, 1)
    rho = np.zeros((N, N), dtype=complex)
    rho[np.arange(N), np.arange(N)] = x[:N]
    c = x[N::2] + 1j * x[N + 1::2]
    rho[iu, ju] = c
    rho[ju, iu] = np.conj(c)
    return rho


# ----------------------------------------------------------------------------------------------------------------
# Transitions and rates
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Transitions:
    """Transitions ``lo -> hi`` (``E[hi] > E[lo]``) sorted by Bohr-frequency group.

    Attributes
    ----------
    lo, hi : int64 arrays (M,)
        Lower and upper level of each transition.
    omega : float array (M,)
        Bohr frequency ``E[hi] - E[lo]`` (exact from keys where available).
    cL, cR : float arrays (M,)
        Coupling matrix elements ``P_L[lo, hi]``, ``P_R[lo, hi]``.
    group : int64 array (M,)
        Group label (0..G-1), non-decreasing; equal labels = the same ``A(omega)``.
    starts, sizes : int64 arrays (G,)
        First transition and size of each group; ``group_omega`` (G,) its frequency.
    """

    lo: np.ndarray
    hi: np.ndarray
    omega: np.ndarray
    cL: np.ndarray
    cR: np.ndarray
    group: np.ndarray
    starts: np.ndarray
    sizes: np.ndarray
    group_omega: np.ndarray

    @property
    def M(self) -> int:
        return int(self.lo.shape[0])


def transitions(spectrum: Spectrum) -> Transitions:
    """All transitions with positive Bohr frequency and a nonzero coupling to some bath, grouped by frequency."""
    N = spectrum.N
    gaps = spectrum.gaps()  # gaps[i, j] = E_j - E_i
    PL = np.asarray(spectrum.P_L, dtype=float)
    PR = np.asarray(spectrum.P_R, dtype=float)
    if spectrum.keys is not None:
        keys = np.asarray(spectrum.keys, dtype=np.int64)
        lo, hi = np.nonzero(keys > 0)
        label = keys[lo, hi]
    else:
        scale = max(float(np.max(np.abs(spectrum.E))), np.finfo(float).tiny)
        lo, hi = np.nonzero(gaps > GAP_RTOL * scale)
        label = None
    keep = (PL[lo, hi] != 0.0) | (PR[lo, hi] != 0.0)
    lo, hi = lo[keep].astype(np.int64), hi[keep].astype(np.int64)
    omega = gaps[lo, hi]
    if label is not None:
        label = label[keep]
        order = np.lexsort((hi, lo, label))
        sl = label[order]
        new = np.ones(sl.shape[0], dtype=bool)
        new[1:] = sl[1:] != sl[:-1]
    else:
        order = np.lexsort((hi, lo, omega))
        so = omega[order]
        new = np.ones(so.shape[0], dtype=bool)
        # a new group wherever the sorted gap jumps by more than the relative tolerance
        new[1:] = (so[1:] - so[:-1]) > GAP_RTOL * np.abs(so[1:])
    lo, hi, omega = lo[order], hi[order], omega[order]
    group = np.cumsum(new) - 1
    starts = np.flatnonzero(new).astype(np.int64)
    sizes = np.diff(np.append(starts, lo.shape[0])).astype(np.int64)
    # one frequency per group (exact for keys; the group's first member for float grouping)
    group_omega = omega[starts]
    if N and lo.shape[0]:
        omega = group_omega[group]
    return Transitions(lo=lo, hi=hi, omega=omega, cL=PL[lo, hi], cR=PR[lo, hi], group=group.astype(np.int64),
                       starts=starts, sizes=sizes, group_omega=group_omega)


@dataclass(frozen=True)
class BathRates:
    """Down/up rate prefactors per frequency group: ``down = J(w)(1 + n(w))``, ``up = J(w) n(w)`` (arrays (G,))."""

    down_L: np.ndarray
    up_L: np.ndarray
    down_R: np.ndarray
    up_R: np.ndarray


def check_temperature(name: str, T: float) -> float:
    T = float(T)
    if not np.isfinite(T) or T <= 0.0:
        raise ValueError(f"{name} must be a finite temperature > 0, got {T!r}")
    return T


def bath_rates(omega: np.ndarray, T_L: float, T_R: float, *, gamma: float, eta: float,
               omega_c: float = 1.0) -> BathRates:
    """Rate prefactors of Eq. 6 at frequencies ``omega > 0`` for both baths."""
    T_L = check_temperature("T_L", T_L)
    T_R = check_temperature("T_R", T_R)
    Jw = spectral_density(omega, gamma, eta, omega_c)
    with np.errstate(over="ignore"):  # expm1 overflow -> n = 0 exactly, as intended for omega >> T
        nL, nR = bose(omega, T_L), bose(omega, T_R)
    return BathRates(down_L=Jw * (1.0 + nL), up_L=Jw * nL, down_R=Jw * (1.0 + nR), up_R=Jw * nR)


# ----------------------------------------------------------------------------------------------------------------
# Superoperator assembly
# ----------------------------------------------------------------------------------------------------------------
def _group_pairs(tr: Transitions) -> tuple[np.ndarray, np.ndarray]:
    """All ordered pairs (m, n) of transitions within the same group (vectorised)."""
    return _pairs_of_groups(tr, 0, tr.sizes.shape[0])


def _pair_rates(tr: Transitions, rates: BathRates, m: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(down, up)`` coefficients of same-group transition pairs (m, n): ``sum_a rate_a(w) c_a[m] c_a[n]`` (the
    one place of this expression: one-shot assembly, block selection and chunks give the same bits)."""
    gm = tr.group[m]
    cLL = tr.cL[m] * tr.cL[n]
    cRR = tr.cR[m] * tr.cR[n]
    return rates.down_L[gm] * cLL + rates.down_R[gm] * cRR, rates.up_L[gm] * cLL + rates.up_R[gm] * cRR


def _first_index_range(N: int, r0: int, r1: int) -> tuple[int, int]:
    """Range ``[a_lo, a_hi]`` of the first complex index ``a`` (``a <= b``) of the real rows ``[r0, r1)``."""
    los, his = [], []
    if r0 < min(r1, N):  # populations a = r0 .. min(r1, N) - 1
        los.append(r0)
        his.append(min(r1, N) - 1)
    if r1 > N:  # coherences: pair indices are row-major, so their first index is non-decreasing
        p0, p1 = (max(r0, N) - N) // 2, (r1 - 1 - N) // 2
        npairs_before = np.arange(N + 1) * N - (np.arange(N + 1) * (np.arange(N + 1) + 1)) // 2
        los.append(int(np.searchsorted(npairs_before, p0, side="right") - 1))
        his.append(int(np.searchsorted(npairs_before, p1, side="right") - 1))
    if not los:
        return 0, -1
    return min(los), max(his)


def _dissipator_coo(spectrum: Spectrum, tr: Transitions, rates: BathRates, a_range=None, upper_only: bool = True,
                    diag_only: bool = False):
    """Complex-index COO (a, b, j, l, coef) of ``D(rho)_ab = sum coef * rho_jl``.

    Only rows with ``a <= b`` (``upper_only``) and first index ``a`` in ``a_range = (a_lo, a_hi)`` are generated,
    so a rank holds its own share of the entries (plus the O(sum g^2) list of same-frequency transition pairs).
    ``diag_only`` generates only population rows ``a == b`` (for heat currents).
    """
    N = spectrum.N
    a_lo, a_hi = (0, N - 1) if a_range is None else a_range
    m, n = _group_pairs(tr)
    lo_m, lo_n, hi_m, hi_n = tr.lo[m], tr.lo[n], tr.hi[m], tr.hi[n]
    down, up = _pair_rates(tr, rates, m, n)
    # anticommutator matrix M = sum down A^T A + up A A^T (diagonal unless levels are degenerate)
    s1 = lo_m == lo_n
    s2 = hi_m == hi_n
    Mc = sp.coo_matrix((np.concatenate([down[s1], up[s2]]),
                        (np.concatenate([hi_m[s1], lo_m[s2]]), np.concatenate([hi_n[s1], lo_n[s2]]))),
                       shape=(N, N)).tocsr().tocoo()  # tocsr sums duplicates
    Mp, Mq, Mv = Mc.row.astype(np.int64), Mc.col.astype(np.int64), Mc.data

    def in_rows(a, b):
        ok = (a >= a_lo) & (a <= a_hi)
        return ok & (a <= b) if upper_only else ok

    A, B, Jc, Lc, C = [], [], [], [], []
    # jump terms: A rho A^T takes rho[hi_m, hi_n] -> row (lo_m, lo_n); A^T rho A takes rho[lo_m, lo_n] -> (hi_m, hi_n)
    for ra, rb, cj, cl, cv in ((lo_m, lo_n, hi_m, hi_n, down), (hi_m, hi_n, lo_m, lo_n, up)):
        k = in_rows(ra, rb) & (cv != 0.0)
        A.append(ra[k])
        B.append(rb[k])
        Jc.append(cj[k])
        Lc.append(cl[k])
        C.append(cv[k])
    _anticommutator_coo(Mp, Mq, Mv, N, a_lo, a_hi, diag_only, in_rows, (A, B, Jc, Lc, C))
    return tuple(np.concatenate(v) for v in (A, B, Jc, Lc, C))


def _anticommutator_coo(Mp, Mq, Mv, N: int, a_lo: int, a_hi: int, diag_only: bool, in_rows, out) -> None:
    """Append the ``-1/2 {M, rho}`` terms with first index in ``[a_lo, a_hi]`` to the COO lists ``out``.

    ``(Mp, Mq, Mv)`` are the entries of ``M = sum_a A_a^T A_a``; ``diag_only``: population rows only (b = a);
    ``in_rows(a, b)`` selects the rows the caller builds.
    """
    # -1/2 M rho: row (p, b) gets -M_pq/2 rho[q, b]; rows need p in the a-range (upper: b >= p)
    bb = np.arange(N, dtype=np.int64)
    sel = (Mp >= a_lo) & (Mp <= a_hi)
    p_, q_, v_ = Mp[sel], Mq[sel], Mv[sel]
    if diag_only:  # population rows only (heat currents): b = a
        a1, b1, j1, l1, c1 = p_, p_, q_, p_, -0.5 * v_
    else:
        a1, b1 = np.repeat(p_, N), np.tile(bb, p_.shape[0])
        j1, l1, c1 = np.repeat(q_, N), b1, np.repeat(-0.5 * v_, N)
    # -1/2 rho M: row (a, q) gets -M_pq/2 rho[a, p]; rows need a in the a-range
    aa = bb[a_lo:a_hi + 1]
    if diag_only:
        a2, b2, j2, l2, c2 = Mq, Mq, Mq, Mp, -0.5 * Mv
    else:
        a2, b2 = np.tile(aa, Mp.shape[0]), np.repeat(Mq, aa.shape[0])
        j2, l2, c2 = a2, np.repeat(Mp, aa.shape[0]), np.repeat(-0.5 * Mv, aa.shape[0])
    for a, b, j, l, c in ((a1, b1, j1, l1, c1), (a2, b2, j2, l2, c2)):
        k = in_rows(a, b)
        for lst, v in zip(out, (a, b, j, l, c)):
            lst.append(v[k])


def _to_real_coo(N: int, a, b, j, l, c):
    """Map complex-index coefficients (rows a <= b) to real-representation (row, col, value) triplets."""
    diag_row = a == b
    row_re = np.where(diag_row, a, N + 2 * pair_index(np.minimum(a, b), np.maximum(a, b), N))
    jj, ll = np.minimum(j, l), np.maximum(j, l)
    diag_col = j == l
    col_re = np.where(diag_col, j, N + 2 * pair_index(jj, ll, N))
    # Re rows receive Re rho_jl (symmetric in j, l); Im rows receive Im rho_jl = sign * Im rho_(min,max)
    im = (~diag_row) & (~diag_col)
    sign = np.where(j < l, 1.0, -1.0)[im]
    rows = np.concatenate([row_re, row_re[im] + 1])
    cols = np.concatenate([col_re, col_re[im] + 1])
    vals = np.concatenate([c, c[im] * sign])
    return rows, cols, vals


def _hamiltonian_coo(spectrum: Spectrum, a_range=None):
    """Real-representation triplets of ``-i[H, rho]`` (couples Re/Im of each coherence)."""
    N = spectrum.N
    iu, ju = np.triu_indices(N, 1)
    if a_range is not None:
        k = (iu >= a_range[0]) & (iu <= a_range[1])
        iu, ju = iu[k], ju[k]
    w = -spectrum.gaps()[iu, ju]  # E_i - E_j
    p = N + 2 * pair_index(iu, ju, N)
    # -i w (x + i y) = w y - i w x
    rows = np.concatenate([p, p + 1])
    cols = np.concatenate([p + 1, p])
    vals = np.concatenate([w, -w])
    return rows, cols, vals


# ----------------------------------------------------------------------------------------------------------------
# Row-block assembly with memory proportional to the block
# ----------------------------------------------------------------------------------------------------------------
#: Transition pairs (sum of g^2 over a run of frequency groups) generated at once while selecting a block's jump terms.
CHUNK_PAIRS = 1 << 15
#: Real rows assembled at once: the COO temporaries of one chunk are O(CHUNK_ROWS), independent of N and the ranks.
CHUNK_ROWS = 1 << 14


def _real_row(a, b, N: int):
    """Real row of the complex entry ``(a, b)``, ``a <= b``: population row ``a`` or the Re row (the Im row is +1)."""
    return np.where(a == b, a, N + 2 * pair_index(a, b, N))


def _pair_from_index(p, N: int):
    """Inverse of :func:`pair_index`: ``(i, j)`` with ``i < j`` for row-major pair indices ``p`` (vectorised)."""
    p = np.asarray(p, dtype=np.int64)
    k = np.arange(N, dtype=np.int64)
    before = k * N - (k * (k + 1)) // 2
    i = np.searchsorted(before, p, side="right") - 1
    return i, p - before[i] + i + 1


def _gap(spectrum: Spectrum, i, j):
    """``E_j - E_i`` elementwise, the same floats as ``spectrum.gaps()[i, j]`` without the N x N matrix."""
    if spectrum.keys is not None:
        return spectrum.scale * np.asarray(spectrum.keys)[i, j].astype(float)
    E = np.asarray(spectrum.E)
    return E[j] - E[i]


def _group_runs(sizes: np.ndarray, limit: int):
    """Consecutive group ranges ``[g0, g1)`` whose ``sum(g^2)`` is at most ``limit`` (one group at least)."""
    cum = np.cumsum(sizes.astype(np.int64) ** 2)
    g0, G = 0, sizes.shape[0]
    while g0 < G:
        base = int(cum[g0 - 1]) if g0 else 0
        g1 = max(int(np.searchsorted(cum, base + limit, side="right")), g0 + 1)
        yield g0, g1
        g0 = g1


def _pairs_of_groups(tr: Transitions, g0: int, g1: int):
    """Ordered transition pairs (m, n) of groups ``g0..g1-1``, in the order of :func:`_group_pairs`."""
    sizes, starts = tr.sizes[g0:g1], tr.starts[g0:g1]
    g2 = sizes * sizes
    grp = np.repeat(np.arange(g1 - g0, dtype=np.int64), g2)
    t = np.arange(int(g2.sum()), dtype=np.int64) - np.repeat(np.cumsum(g2) - g2, g2)
    g, s = sizes[grp], starts[grp]
    return s + t // g, s + t % g


@dataclass(frozen=True)
class _BlockJumps:
    """Jump terms of one row block: for ``down`` and ``up`` the (real row, m, n) of the pairs whose row is in the
    block, sorted by row stably (per row, the order of the global pair list), and the anticommutator matrix M."""

    down: tuple
    up: tuple
    Mp: np.ndarray
    Mq: np.ndarray
    Mv: np.ndarray


def _block_jumps(tr: Transitions, rates: BathRates, N: int, r0: int, r1: int) -> _BlockJumps:
    """Select the jump-term pairs of real rows ``[r0, r1)`` one run of groups at a time: no rank holds all pairs."""
    keep = {"down": ([], [], []), "up": ([], [], [])}
    mv, mp, mq = ([], []), ([], []), ([], [])
    for g0, g1 in _group_runs(tr.sizes, CHUNK_PAIRS):
        m, n = _pairs_of_groups(tr, g0, g1)
        lo_m, lo_n, hi_m, hi_n = tr.lo[m], tr.lo[n], tr.hi[m], tr.hi[n]
        down, up = _pair_rates(tr, rates, m, n)
        s1 = lo_m == lo_n
        s2 = hi_m == hi_n
        mv[0].append(down[s1])
        mp[0].append(hi_m[s1].astype(np.int32))  # level indices: int32 halves these O(M) lists
        mq[0].append(hi_n[s1].astype(np.int32))
        mv[1].append(up[s2])
        mp[1].append(lo_m[s2].astype(np.int32))
        mq[1].append(lo_n[s2].astype(np.int32))
        for key, ra, rb, cv in (("down", lo_m, lo_n, down), ("up", hi_m, hi_n, up)):
            row = _real_row(ra, rb, N)
            k = (ra <= rb) & (cv != 0.0) & (row < r1) & (np.where(ra == rb, row, row + 1) >= r0)
            idx = np.flatnonzero(k)
            keep[key][0].append(row[idx])
            keep[key][1].append(m[idx])
            keep[key][2].append(n[idx])
    out = {}
    empty = np.zeros(0, dtype=np.int64)
    for key, (R, Ms, Ns) in keep.items():
        R = np.concatenate(R) if R else empty
        order = np.argsort(R, kind="stable")
        out[key] = (R[order], (np.concatenate(Ms) if Ms else empty)[order],
                    (np.concatenate(Ns) if Ns else empty)[order])
    # M = sum down A^T A + up A A^T: all "down" terms, then all "up" (duplicates summed in _dissipator_coo's order)
    cat = np.concatenate
    vals = cat(mv[0] + mv[1]) if mv[0] else np.zeros(0)
    mv = None
    Mr = cat(mp[0] + mp[1]) if mp[0] else empty
    mp = None
    Mcol = cat(mq[0] + mq[1]) if mq[0] else empty
    mq = None
    Mc = sp.coo_matrix((vals, (Mr, Mcol)), shape=(N, N)).tocsr().tocoo()  # tocsr sums duplicates
    del vals, Mr, Mcol
    return _BlockJumps(down=out["down"], up=out["up"], Mp=Mc.row.astype(np.int64), Mq=Mc.col.astype(np.int64),
                       Mv=Mc.data)


def _chunk_dissipator(tr: Transitions, rates: BathRates, jumps: _BlockJumps, N: int, c0: int, c1: int):
    """Complex-index COO ``(a, b, j, l, coef)`` covering the dissipator rows in real rows ``[c0, c1)`` (a few
    neighbouring rows too, cut by the caller), per row in the order of :func:`_dissipator_coo`."""
    a_lo, a_hi = _first_index_range(N, c0, c1)
    A, B, Jc, Lc, C = [], [], [], [], []
    for key in ("down", "up"):
        R, m, n = getattr(jumps, key)
        i0, i1 = np.searchsorted(R, c0 - 1, side="left"), np.searchsorted(R, c1, side="left")
        m, n = m[i0:i1], n[i0:i1]
        down, up = _pair_rates(tr, rates, m, n)
        if key == "down":  # A rho A^T takes rho[hi_m, hi_n] -> row (lo_m, lo_n)
            C.append(down)
            A.append(tr.lo[m])
            B.append(tr.lo[n])
            Jc.append(tr.hi[m])
            Lc.append(tr.hi[n])
        else:  # A^T rho A takes rho[lo_m, lo_n] -> row (hi_m, hi_n)
            C.append(up)
            A.append(tr.hi[m])
            B.append(tr.hi[n])
            Jc.append(tr.lo[m])
            Lc.append(tr.lo[n])
    Mp, Mq, Mv = jumps.Mp, jumps.Mq, jumps.Mv
    diag_only = c1 <= N

    def in_rows(a, b):
        return (a >= a_lo) & (a <= a_hi) & (a <= b)

    _anticommutator_coo(Mp, Mq, Mv, N, a_lo, a_hi, diag_only, in_rows, (A, B, Jc, Lc, C))
    return tuple(np.concatenate(v) for v in (A, B, Jc, Lc, C))


def _chunk_hamiltonian(spectrum: Spectrum, c0: int, c1: int):
    """Triplets of ``-i[H, rho]`` in real rows ``[c0, c1)`` (one entry per coherence row)."""
    N = spectrum.N
    first = max(c0, N)
    if c1 <= first:
        z = np.zeros(0, dtype=np.int64)
        return z, z, np.zeros(0)
    rows = np.arange(first, c1, dtype=np.int64)
    iu, ju = _pair_from_index((rows - N) // 2, N)
    w = -_gap(spectrum, iu, ju)  # E_i - E_j
    re = (rows - N) % 2 == 0
    # -i w (x + i y) = w y - i w x: the Re row gets +w on its Im column, the Im row -w on its Re column
    return rows, np.where(re, rows + 1, rows - 1), np.where(re, w, -w)


def _chunk_ranges(N: int, r0: int, r1: int) -> list[tuple[int, int]]:
    """Row chunks of about ``4 * CHUNK_ROWS`` entries, cut at N so that a chunk is all populations or all coherences.

    A coherence row has a few entries, a population row up to ~N (it couples to every level): population chunks
    have ``4 * CHUNK_ROWS / N`` rows.
    """
    pop_step = max(1, (4 * CHUNK_ROWS) // max(N, 1))
    cuts = {r0, r1}
    if r0 < N:
        cuts.update(range(r0 + pop_step, min(r1, N), pop_step))
        cuts.add(min(r1, N))
    c = max(r0, N)
    cuts.update(range(c + CHUNK_ROWS, r1, CHUNK_ROWS))
    cuts = sorted(cuts)
    return list(zip(cuts[:-1], cuts[1:]))


def liouvillian_csr(spectrum: Spectrum, T_L: float, T_R: float, *, gamma: float, eta: float,
                    omega_c: float = 1.0, rows: tuple[int, int] | None = None, baths: str = "LR",
                    hamiltonian: bool = True, tr: Transitions | None = None) -> sp.csr_matrix:
    """Row block ``[r0, r1)`` of the real-representation Lindblad Liouvillian as a CSR matrix.

    Parameters
    ----------
    spectrum : Spectrum
        Levels and couplings (box, two-particle, ...).
    T_L, T_R : float
        Bath temperatures (> 0).
    gamma, eta, omega_c : float
        Spectral function ``J(w) = gamma omega_c^(1-eta) w^eta``.
    rows : (int, int), optional
        Global row range of this block; default all ``N**2`` rows.
    baths : {"LR", "L", "R", ""}
        Which dissipators to include (``"L"`` alone gives ``D_L`` for the heat current).
    hamiltonian : bool
        Include ``-i[H, .]``.
    tr : Transitions, optional
        Precomputed :func:`transitions` of ``spectrum`` (saves work when building many operators).

    Returns
    -------
    scipy.sparse.csr_matrix, shape (r1 - r0, N**2)
        Sorted, duplicate-free CSR block (global column indices).
    """
    N = spectrum.N
    dim = real_dim(N)
    r0, r1 = (0, dim) if rows is None else (int(rows[0]), int(rows[1]))
    if not 0 <= r0 <= r1 <= dim:
        raise ValueError(f"rows {rows!r} outside [0, {dim}]")
    tr = transitions(spectrum) if tr is None else tr
    rates = bath_rates(tr.group_omega, T_L, T_R, gamma=gamma, eta=eta, omega_c=omega_c)
    zero = np.zeros_like(tr.group_omega)
    rates = BathRates(down_L=rates.down_L if "L" in baths else zero, up_L=rates.up_L if "L" in baths else zero,
                      down_R=rates.down_R if "R" in baths else zero, up_R=rates.up_R if "R" in baths else zero)
    # Chunk by chunk: jump-term pairs are selected for this block only (no rank holds all sum g^2 pairs) and the COO
    # temporaries are those of one chunk. Per row, entries arrive in the order of the one-shot assembly
    # (_dissipator_coo, then -i[H, .]), so the summed CSR is bit for bit the same for any split into blocks or chunks.
    jumps = _block_jumps(tr, rates, N, r0, r1) if baths else None
    indptr, indices, data, nnz = [np.zeros(1, dtype=np.int64)], [], [], 0
    for c0, c1 in _chunk_ranges(N, r0, r1):
        R, C, V = [], [], []
        if baths:
            rr, cc, vv = _to_real_coo(N, *_chunk_dissipator(tr, rates, jumps, N, c0, c1))
            R.append(rr)
            C.append(cc)
            V.append(vv)
        if hamiltonian:
            rr, cc, vv = _chunk_hamiltonian(spectrum, c0, c1)
            R.append(rr)
            C.append(cc)
            V.append(vv)
        if R:
            rr, cc, vv = np.concatenate(R), np.concatenate(C), np.concatenate(V)
        else:
            rr = cc = np.zeros(0, dtype=np.int64)
            vv = np.zeros(0)
        sel = (rr >= c0) & (rr < c1)
        blk = sp.coo_matrix((vv[sel], (rr[sel] - c0, cc[sel])), shape=(c1 - c0, dim)).tocsr()
        blk.sum_duplicates()
        blk.sort_indices()
        indptr.append(blk.indptr[1:].astype(np.int64) + nnz)
        indices.append(blk.indices)
        data.append(blk.data)
        nnz += blk.nnz
    jumps = None
    # Join the chunks into preallocated arrays, freeing each chunk as it is copied: np.concatenate would hold the
    # block twice. Pages of np.empty become resident only when written, so the peak stays about one block.
    idx_dtype = indices[0].dtype if indices else np.int32
    out_idx = np.empty(nnz, dtype=idx_dtype)
    out_data = np.empty(nnz)
    pos = 0
    indices.reverse()
    data.reverse()
    while data:
        d, i = data.pop(), indices.pop()
        out_data[pos:pos + d.shape[0]] = d
        out_idx[pos:pos + d.shape[0]] = i
        pos += d.shape[0]
    return sp.csr_matrix((out_data, out_idx, np.concatenate(indptr).astype(idx_dtype)), shape=(r1 - r0, dim))


def liouvillian_complex_csr(spectrum: Spectrum, T_L: float, T_R: float, *, gamma: float, eta: float,
                            omega_c: float = 1.0) -> sp.csr_matrix:
    """The same Liouvillian as a complex N^2 x N^2 CSR superoperator on column-stacked ``vec(rho)[a + N b]``.

    This is QuTiP's convention (``operator_to_vector``); used to hand the identical operator to a peer solver.
    """
    N = spectrum.N
    tr = transitions(spectrum)
    rates = bath_rates(tr.group_omega, T_L, T_R, gamma=gamma, eta=eta, omega_c=omega_c)
    a, b, j, l, c = _dissipator_coo(spectrum, tr, rates, upper_only=False)
    ia, ib = np.divmod(np.arange(N * N, dtype=np.int64), N)
    ham = -1j * (-spectrum.gaps()[ia, ib])  # -i (E_a - E_b) on vec index a + N b
    rows = np.concatenate([a + N * b, ia + N * ib])
    cols = np.concatenate([j + N * l, ia + N * ib])
    vals = np.concatenate([c.astype(complex), ham])
    out = sp.coo_matrix((vals, (rows, cols)), shape=(N * N, N * N)).tocsr()
    out.sum_duplicates()
    return out


def apply_liouvillian(spectrum: Spectrum, rho: np.ndarray, T_L: float, T_R: float, *, gamma: float, eta: float,
                      omega_c: float = 1.0, baths: str = "LR", hamiltonian: bool = True) -> np.ndarray:
    """``L(rho)`` as an N x N complex matrix (reference implementation through the sparse real representation)."""
    L = liouvillian_csr(spectrum, T_L, T_R, gamma=gamma, eta=eta, omega_c=omega_c, baths=baths,
                        hamiltonian=hamiltonian)
    return real_to_rho(L @ rho_to_real(rho), spectrum.N)


def heat_currents(spectrum: Spectrum, rho: np.ndarray, T_L: float, T_R: float, *, gamma: float, eta: float,
                  omega_c: float = 1.0, tr: Transitions | None = None) -> tuple[float, float]:
    """Heat currents ``J_L = Tr[D_L(rho) H]`` and ``J_R = -Tr[D_R(rho) H]`` (SPEC §3).

    Only the population rows of each dissipator are needed (``Tr[D(rho) H] = sum_a E_a D(rho)_aa``). ``rho`` may be an
    N x N matrix or its real coordinates (length ``N**2``) or, for diagonal states, the populations (length N).
    """
    N = spectrum.N
    rho = np.asarray(rho)
    if rho.ndim == 2:
        x = rho_to_real(rho)
    elif rho.shape == (N,):
        x = np.zeros(N * N)
        x[:N] = np.real(rho)
    else:
        x = np.asarray(rho, dtype=float)
    tr = transitions(spectrum) if tr is None else tr
    E = np.asarray(spectrum.E, dtype=float)
    out = []
    for bath, s in (("L", 1.0), ("R", -1.0)):
        D = liouvillian_csr(spectrum, T_L, T_R, gamma=gamma, eta=eta, omega_c=omega_c, rows=(0, N), baths=bath,
                            hamiltonian=False, tr=tr)
        # subtract E_0 * trace-preservation (sum of the rows is 0): same value, less cancellation
        out.append(s * float((E - E[0]) @ (D @ x)))
    return out[0], out[1]
