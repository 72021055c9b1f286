"""Rightmost eigenvalues of the Redfield generator without its N^2 x N^2 matrix (physicality check for large N).

Why a special method: the generator's spectrum is a thin set stretched along the imaginary axis (|Im| up to
E_N - E_1, ~5e4 at N = 100, while |Re| is of the order of the decay rates, ~1e-4), so Arnoldi with ``which="LR"``
on the operator itself does not converge, and a dense ``eigvals`` costs O(N^6) (minutes at N = 100).

Method ("cluster"), in the complex basis ``vec(rho)_(iN+j) = rho_ij`` where mode (i, j) has frequency
``w_ij = E_i - E_j``:

1. **Frequency clusters.** Modes are sorted by ``w`` and cut wherever two neighbours differ by more than ``delta``
   (``delta = 10 x`` the largest total decay rate, reduced until no cluster exceeds ``max_block`` modes). Couplings
   inside a cluster are resonant (the non-secular terms that matter); couplings between clusters are off-resonant by
   more than ``delta`` and shift eigenvalues only at second order. The block-diagonal part ``L_blk`` is formed
   entry-wise, batched over clusters of equal size (O(sum |C|^2)).
2. **Screening and candidates.** The spectrum is symmetric under conjugation and cluster ``-w`` is the conjugate of
   cluster ``w``, so only the clusters with ``w >= 0`` are examined.  Each gets a Gershgorin upper bound on the real
   parts of its block eigenvalues (rows and columns, the smaller); clusters are visited by decreasing bound, split
   over the ranks of ``comm``, and a cluster's block ``eigvals`` is computed only while its bound is not below the
   ``n_candidates``-th largest real part found so far (minus a margin of ``screen_margin x`` the decay scale), so the
   O(|C|^3) work is spent only on clusters that can hold the rightmost block eigenvalues.  The ``n_candidates``
   block eigenvalues with the largest real part (the trace mode, an exact 0 of the population block, removed) are
   the places where the rightmost exact eigenvalues are.
3. **Exact refinement: Jacobi-Davidson** (harmonic Ritz values at the target, Olsen's projected correction) on the
   matrix-free generator, one product per iteration, the products split by rows over the ranks of ``comm``.  The
   correction is preconditioned by the inverse of the secular skeleton around the candidate: the exact inverse of the
   candidate's own cluster block and of the population block, shifted to the candidate, and the exact diagonal of
   the generator everywhere else; it is the preconditioner of the steady-state solve, moved to the candidate, so an
   eigenpair costs about as many products as the steady state does.  The search space is kept trace-free
   (``Tr x = 0`` is invariant under ``L``, and it excludes the steady-state mode exactly).  Converged when the residual
   ``||L u - theta u||`` (``||u|| = 1``) is below ``tol x`` the decay scale; ``theta`` is then an eigenvalue of a
   matrix within that distance of the generator.

What it guarantees: every reported eigenvalue is an eigenvalue of the generator to the residual tolerance (its
``residual`` is reported), so a positive real part beyond it is a proof of instability; an unconverged refinement
still reports its Rayleigh quotient (finite) and says so in ``method``. Completeness (that no eigenvalue further right
exists) rests on the cluster approximation, validated against dense ``eigvals`` (tests: 30 cases at N = 16...60,
gamma = 1e-4...1, stable and unstable, verdict and value; benchmark: N = 40, 60).  Candidates are refined in order of
their block real part, and only while they can matter: (a) perturbative screening, a candidate is skipped when its
block value plus 100x the largest block -> exact move seen so far cannot reach the best exact value; (b) once an
eigenvalue with real part above 100x its residual is found, instability is proven and refinement stops
(``stop_when_unstable``).  So in unstable regimes the value reported is an exact eigenvalue with Re > 0, a lower
bound of the spectral abscissa and not always the rightmost one; the verdict is what matters there.

Why Jacobi-Davidson (issue 12): the refinement used to be shift-and-invert Arnoldi (ARPACK) with GMRES inner
solves, ~1,650 generator products at N = 200 (60x the steady-state solve, 80x at N = 400): every Arnoldi step needs an
inner solve to 1e-10.  SLEPc shift-and-invert on the shell matrix has the same structure (an inner KSP per outer
step).  JD instead spends one product per outer step and puts the preconditioner in the correction, so the work is
that of a preconditioned solve with the same skeleton: 5-20 products per candidate in physical regimes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla

log = logging.getLogger(__name__)

__all__ = ["apply_complex", "ClusterBlocks", "EigReport", "rightmost_eigenvalues", "dense_eigenvalues"]


@dataclass(frozen=True)
class EigReport:
    """Result of a rightmost-eigenvalue search (zero/steady-state mode excluded).

    Attributes
    ----------
    max_real : float
        Largest real part found (NaN only if nothing could be computed).
    eigenvalue : complex
        The eigenvalue carrying it.
    method : str
        ``dense`` or ``cluster[...]`` with the parameters used; ``:not-converged`` appended when the refinement of
        the reported eigenvalue stopped above its residual tolerance (the value is then its Rayleigh quotient).
    eigenvalues : ndarray
        All eigenvalues found (dense: the whole spectrum but the zero mode; cluster: the refined ones).
    approx_max_real : float
        Cluster method: the largest real part of the block approximation (NaN for dense).
    residuals : ndarray
        Cluster method: ``||L u - lambda u||`` of each refined eigenpair (``||u|| = 1``), same order as
        ``eigenvalues``.
    products : int
        Cluster method: generator products used by the refinement (each split over the ranks).
    clusters_examined : int
        Cluster method: clusters whose block eigenvalues were computed (of ``clusters`` with ``w >= 0``).
    clusters : int
        Cluster method: number of clusters with ``w >= 0``.
    """

    max_real: float
    eigenvalue: complex
    method: str
    eigenvalues: np.ndarray
    approx_max_real: float = float("nan")
    residuals: np.ndarray | None = None
    products: int = 0
    clusters_examined: int = 0
    clusters: int = 0


# --------------------------------------------------------------------------------------------------------------------
# the generator in the complex basis
# --------------------------------------------------------------------------------------------------------------------
def apply_complex(gen, Z: np.ndarray, rows: slice | None = None) -> np.ndarray:
    """``L(Z)`` for a general complex N x N matrix (not necessarily Hermitian), with real matrix products only.

    ``R(Z) = 1/2 sum_a [S_a Z P_a + P_a Z S_a^T] - 1/2 (M Z + Z M^T)`` with ``M = sum_a P_a S_a`` (Eq. B1 with real
    S_a, P_a); the real and imaginary parts of Z are stacked so each product is one real batched matmul.  With
    ``rows`` only those rows of the result are formed (O(len(rows) N^2) work: the MPI split of the products).
    """
    S, P = gen.S, gen.P
    Ms = gen.M_total
    X = np.stack([Z.real, Z.imag])
    r = slice(None) if rows is None else rows
    C = (S[0][r] @ X) @ P[0]
    C += (S[1][r] @ X) @ P[1]
    C += (P[0][r] @ X) @ S[0].T
    C += (P[1][r] @ X) @ S[1].T
    C -= Ms[r] @ X
    C -= X[:, r, :] @ Ms.T
    C *= 0.5
    w = gen.E[r, None] - gen.E[None, :]
    return (C[0] + 1j * C[1]) - 1j * w * Z[r]


def _block(gen, I: np.ndarray, J: np.ndarray, K: np.ndarray, L: np.ndarray) -> np.ndarray:
    """Entries ``L_(ij),(kl)`` of the complex-basis generator for row modes (I, J) and column modes (K, L)."""
    S, P = gen.S, gen.P
    Ms = gen.M_total
    B = np.zeros((I.size, K.size), dtype=complex)
    for a in range(2):
        B += 0.5 * S[a][np.ix_(I, K)] * P[a][np.ix_(J, L)]  # (S Z P)_ij = S_ik Z_kl P_lj, P symmetric
        B += 0.5 * P[a][np.ix_(I, K)] * S[a][np.ix_(J, L)]  # (P Z S^T)_ij = P_ik Z_kl S_jl
    B -= 0.5 * Ms[np.ix_(I, K)] * (J[:, None] == L[None, :])
    B -= 0.5 * (I[:, None] == K[None, :]) * Ms[np.ix_(J, L)]
    same = (I[:, None] == K[None, :]) & (J[:, None] == L[None, :])
    r, c = np.nonzero(same)
    B[r, c] -= 1j * (gen.E[I[r]] - gen.E[J[r]])
    return B


def _blocks_batched(gen, I: np.ndarray, J: np.ndarray) -> np.ndarray:
    """Diagonal blocks ``L_(c, c)`` of clusters of equal size at once: modes ``(I[k], J[k])``, arrays (m, s)."""
    S, P = gen.S, gen.P
    Ms = gen.M_total
    m, s = I.shape
    out = np.empty((m, s, s), dtype=complex)
    step = max(1, 2_000_000 // (s * s))  # bound the temporaries
    eye = np.eye(s, dtype=bool)
    for lo in range(0, m, step):
        i, j = I[lo:lo + step], J[lo:lo + step]
        ii = (i[:, :, None], i[:, None, :])
        jj = (j[:, :, None], j[:, None, :])
        R = np.zeros((i.shape[0], s, s))
        for a in range(2):
            R += S[a][ii] * P[a][jj]
            R += P[a][ii] * S[a][jj]
        R -= Ms[ii] * (j[:, :, None] == j[:, None, :])
        R -= (i[:, :, None] == i[:, None, :]) * Ms[jj]
        blk = 0.5 * R + 0j
        blk[:, eye] -= 1j * (gen.E[i] - gen.E[j])
        out[lo:lo + step] = blk
    return out


def generator_diagonal(gen) -> np.ndarray:
    """Diagonal ``L_(ij),(ij)`` of the complex-basis generator, as an N x N array (O(N^2))."""
    S, P, Ms = gen.S, gen.P, gen.M_total
    dS, dP, dM = np.diagonal(S, axis1=1, axis2=2), np.diagonal(P, axis1=1, axis2=2), np.diagonal(Ms)
    R = sum(np.outer(dS[a], dP[a]) + np.outer(dP[a], dS[a]) for a in range(2)) - dM[:, None] - dM[None, :]
    return 0.5 * R - 1j * (gen.E[:, None] - gen.E[None, :])


# --------------------------------------------------------------------------------------------------------------------
# frequency clusters
# --------------------------------------------------------------------------------------------------------------------
def _choose_delta(w_sorted: np.ndarray, want: float, max_block: int) -> float:
    """Largest cut ``delta <= want`` whose clusters of the sorted frequencies have at most ``max_block`` modes."""
    gaps = np.diff(w_sorted)

    def biggest(d):
        cuts = np.flatnonzero(gaps > d)
        return int(np.diff(np.concatenate(([0], cuts + 1, [w_sorted.size]))).max())

    if biggest(want) <= max_block:
        return want
    cand = np.unique(gaps[gaps < want])  # cluster sizes only change at gap values; bisect over them
    lo, hi = 0, cand.size - 1  # invariant: biggest(cand[hi]) > max_block
    if biggest(cand[0]) > max_block:  # even exact degeneracies exceed the cap: keep them (never split a degeneracy)
        return float(cand[0])
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if biggest(cand[mid]) <= max_block:
            lo = mid
        else:
            hi = mid
    return float(cand[lo])


def cluster_partition(gen, delta: float | None = None, max_block: int = 800) -> tuple[list[np.ndarray], float]:
    """Modes (flat indices ``iN + j``) cut into frequency clusters, in increasing frequency; and the cut used.

    ``E_i - E_j`` is exactly antisymmetric in floating point, so the partition is symmetric: cluster ``k`` and
    cluster ``K - 1 - k`` are conjugate (modes (i, j) <-> (j, i)).
    """
    N = gen.N
    n = N * N
    I, J = np.divmod(np.arange(n), N)
    w = gen.E[I] - gen.E[J]
    order = np.argsort(w, kind="stable")
    ws = w[order]
    scale = gen.decay_scale
    # round-off in E_i - E_j must not split exact degeneracies
    floor = 64 * np.finfo(float).eps * max(1.0, float(np.abs(gen.E).max()))
    want = 10.0 * scale if delta is None else float(delta)
    d = max(_choose_delta(ws, max(want, floor), max_block), floor)
    cuts = np.flatnonzero(np.diff(ws) > d) + 1
    return np.split(order, cuts), d


class ClusterBlocks:
    """Block-diagonal (frequency-cluster) part of the Redfield generator, its eigenvalues and shifted inverses.

    Parameters
    ----------
    gen : RedfieldGenerator
    delta : float, optional
        Frequency cut; default ``10 x`` the largest total decay rate.
    max_block : int
        Largest cluster allowed (``delta`` is reduced to respect it; exact degeneracies are never split).
    """

    def __init__(self, gen, delta: float | None = None, max_block: int = 800):
        N = gen.N
        self.gen = gen
        self.n = N * N
        clusters, self.delta = cluster_partition(gen, delta, max_block)
        self.max_block = max(c.size for c in clusters)
        # group clusters of equal size so that inverses and products are batched
        self.groups: dict[int, np.ndarray] = {}
        for s in sorted({c.size for c in clusters}):
            self.groups[s] = np.stack([c for c in clusters if c.size == s])
        self.blocks = {s: _blocks_batched(gen, *np.divmod(idx, N)) for s, idx in self.groups.items()}
        self._inv: dict[int, np.ndarray] = {}

    def eigenvalues(self) -> np.ndarray:
        """Eigenvalues of the block-diagonal part (an approximation of the generator's whole spectrum)."""
        return np.concatenate([np.linalg.eigvals(B).ravel() for B in self.blocks.values()])

    def set_shift(self, sigma: complex) -> None:
        """Factorise ``L_blk - sigma`` (batched inverses of the cluster blocks)."""
        self._inv = {}
        for s, B in self.blocks.items():
            self._inv[s] = np.linalg.inv(B - sigma * np.eye(s))

    def solve(self, r: np.ndarray) -> np.ndarray:
        """``(L_blk - sigma)^-1 r`` for the last :meth:`set_shift`."""
        z = np.empty(self.n, dtype=complex)
        for s, idx in self.groups.items():
            inv = self._inv[s]
            if s == 1:
                z[idx[:, 0]] = inv[:, 0, 0] * r[idx[:, 0]]
            else:
                z[idx] = np.einsum("kij,kj->ki", inv, r[idx])
        return z


def gershgorin_right(B: np.ndarray) -> np.ndarray:
    """Upper bound of ``Re lambda`` over the eigenvalues of each block ``B[k]`` (rows and columns; the smaller)."""
    A = np.abs(B)
    d = np.diagonal(B, axis1=-2, axis2=-1)
    ad = np.abs(d)
    row = (d.real + A.sum(axis=-1) - ad).max(axis=-1)
    col = (d.real + A.sum(axis=-2) - ad).max(axis=-1)
    return np.minimum(row, col)


def dense_eigenvalues(gen) -> EigReport:
    """All eigenvalues of the assembled real-representation generator (O(N^6) time, O(N^4) memory; small N)."""
    ev = np.linalg.eigvals(gen.assemble())
    i0 = int(np.argmin(np.abs(ev)))  # the steady-state mode; its value is O(round-off x ||L||)
    rest = np.delete(ev, i0)
    j = int(np.argmax(rest.real))
    return EigReport(float(rest[j].real), complex(rest[j]), "dense", rest)


# --------------------------------------------------------------------------------------------------------------------
# candidates: block eigenvalues of the clusters that can reach furthest right, split over ranks
# --------------------------------------------------------------------------------------------------------------------
def _zero_cluster(clusters: list[np.ndarray]) -> int:
    """Index of the cluster holding the populations (it holds mode 0 = rho_00, frequency exactly 0)."""
    return next(k for k in range((len(clusters) - 1) // 2, -1, -1) if (clusters[k] == 0).any())


def _candidates(gen, clusters: list[np.ndarray], *, n_candidates: int, margin: float, rank: int, size: int,
                comm) -> tuple[list[tuple[float, complex, int]], int, float]:
    """Top ``n_candidates`` block eigenvalues (Re, value, cluster) over all ranks, clusters examined, approx max.

    Clusters with ``w <= 0`` (the others are their conjugates) are dealt to the ranks by decreasing size; each rank
    forms its blocks batched by size, bounds them (Gershgorin), and diagonalises, batch by batch in decreasing order
    of the bound, only those whose bound reaches its current ``n_candidates``-th best real part minus ``margin``.
    """
    N = gen.N
    half = sorted(range((len(clusters) + 1) // 2), key=lambda k: (-clusters[k].size, k))
    zero = _zero_cluster(clusters)
    by_size: dict[int, list[int]] = {}
    for k in half[rank::size]:
        by_size.setdefault(clusters[k].size, []).append(k)
    groups = []
    for ks in by_size.values():
        B = _blocks_batched(gen, *np.divmod(np.stack([clusters[k] for k in ks]), N))
        groups.append((np.asarray(ks), B, gershgorin_right(B)))
    groups.sort(key=lambda g: -g[2].max())
    best_re = np.zeros(0)
    best_z = np.zeros(0, dtype=complex)
    best_k = np.zeros(0, dtype=int)
    examined = 0
    approx_max = -np.inf
    for ks, B, bound in groups:
        thr = best_re[n_candidates - 1] - margin if best_re.size >= n_candidates else -np.inf
        sel = np.flatnonzero(bound >= thr)
        if sel.size == 0:
            continue
        ev = np.linalg.eigvals(B[sel])  # (m, s), batched
        examined += sel.size
        kk = np.repeat(ks[sel], ev.shape[1])
        ev = ev.ravel()
        if zero in ks[sel]:  # the trace mode, an exact 0 of the population block
            pos = np.flatnonzero(kk == zero)
            drop = pos[int(np.argmin(np.abs(ev[pos])))]
            ev, kk = np.delete(ev, drop), np.delete(kk, drop)
        if ev.size:
            approx_max = max(approx_max, float(ev.real.max()))
        re = np.concatenate([best_re, ev.real])
        order = np.lexsort((np.concatenate([best_k, kk]), -re))[:n_candidates]
        best_re, best_z, best_k = re[order], np.concatenate([best_z, ev])[order], np.concatenate([best_k, kk])[order]
    found = [(float(r), complex(z), int(k)) for r, z, k in zip(best_re, best_z, best_k)]
    if size > 1:
        gathered = comm.allgather((found, examined, approx_max))
        found = sorted([f for g in gathered for f in g[0]], key=lambda t: (-t[0], t[2]))[:n_candidates]
        examined = sum(g[1] for g in gathered)
        approx_max = max(g[2] for g in gathered)
    return found, examined, approx_max


# --------------------------------------------------------------------------------------------------------------------
# refinement: Jacobi-Davidson with the shifted secular skeleton as preconditioner
# --------------------------------------------------------------------------------------------------------------------
class _Product:
    """``x -> vec(L(x))`` in the complex basis, rows split over the ranks of ``comm`` (None: all here)."""

    def __init__(self, gen, comm=None):
        self.gen, self.comm, self.count = gen, comm, 0
        if comm is None or comm.Get_size() == 1:
            self.comm, self.rows = None, None
            return
        from mpiheat.numerics.parallel import block_range

        self.rows = slice(*block_range(gen.N, comm.Get_size(), comm.Get_rank()))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        N = self.gen.N
        self.count += 1
        Z = x.reshape(N, N)
        if self.comm is None:
            return apply_complex(self.gen, Z).ravel()
        from mpiheat.numerics.parallel import allgather_blocks

        return allgather_blocks(self.comm, apply_complex(self.gen, Z, rows=self.rows), N).ravel()


class _SkeletonInverse:
    """``(L_skel - sigma)^-1``: exact inverses of the given clusters' blocks, the exact diagonal elsewhere."""

    def __init__(self, gen, diag: np.ndarray, clusters: list[np.ndarray], sigma: complex):
        N = gen.N
        self.d = 1.0 / (diag - sigma)
        self.parts = []
        for c in clusters:
            B = _blocks_batched(gen, *np.divmod(c[None, :], N))[0]
            B[np.diag_indices_from(B)] -= sigma
            self.parts.append((c, sla.lu_factor(B, check_finite=False)))

    def __call__(self, r: np.ndarray) -> np.ndarray:
        z = self.d * r
        for c, lu in self.parts:
            z[c] = sla.lu_solve(lu, r[c], check_finite=False)
        return z


def _trace_free(x: np.ndarray, N: int) -> np.ndarray:
    x[:: N + 1] -= x[:: N + 1].mean()
    return x


def _orth(Q: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Classical Gram-Schmidt of ``x`` against the orthonormal columns of ``Q``, twice: (remainder, coefficients)."""
    c = np.zeros(Q.shape[1], dtype=complex)
    for _ in range(2):
        if Q.shape[1]:
            h = _ch(Q, x)
            x = x - Q @ h
            c += h
    return x, c


def _ch(Q: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``Q^H x`` without forming ``Q^H`` (no copy of the n x k basis)."""
    return (x.conj() @ Q).conj()


def _jacobi_davidson(op, precond, u0: np.ndarray, tau: complex, N: int, *, tol_abs: float, accept_abs: float,
                     scale: float, maxit: int, max_dim: int = 20, keep: int = 5, patience: int = 6,
                     track: float = 1e-6) -> tuple[complex, float, int]:
    """Eigenvalue of ``op`` nearest ``tau``: JD with harmonic Ritz selection and Olsen's projected correction.

    Harmonic Ritz pairs at ``tau``: ``(L - theta) V y`` orthogonal to ``W = (L - tau) V``, i.e. with ``W = Q R``
    (kept up to date column by column, so the Gram matrix ``W^H W`` and its squared condition number never appear)
    ``R y = (theta - tau) Q^H V y``.  The pair nearest ``tau`` is kept, until one has a residual below
    ``track x max(|theta|, scale)``: from then on the pair nearest the last Rayleigh quotient (the eigenvalue being
    converged, which another Ritz value nearer ``tau`` must not displace).  Its Rayleigh quotient and residual are
    reported.  The search space stays trace-free.  Stops at ``||r|| <= tol_abs``, after ``maxit`` products, or when
    ``patience`` iterations (2 once below ``accept_abs``) brought no better residual: that is the round-off floor
    of the products, where JD wanders; the best pair seen is returned.

    Returns (Rayleigh quotient, residual norm, iterations).
    """
    n = u0.size
    # column-major: V[:, :k] is then a contiguous BLAS operand
    V = np.empty((n, max_dim), dtype=complex, order="F")
    AV = np.empty((n, max_dim), dtype=complex, order="F")
    Qw = np.empty((n, max_dim), dtype=complex, order="F")
    Rw = np.zeros((max_dim, max_dim), dtype=complex)
    Z = np.zeros((max_dim, max_dim), dtype=complex)  # Qw^H V
    k = 0
    t = u0.astype(complex)
    best, best_its = (complex("nan"), np.inf), 0
    target = tau
    Y = np.zeros((0, 0), dtype=complex)
    its = 0
    while its < maxit:
        its += 1
        if k == max_dim:  # restart with the `keep` harmonic Ritz vectors nearest tau
            Qr, _ = np.linalg.qr(Y[:, :keep])
            Qs, Rs = np.linalg.qr(Rw[:k, :k] @ Qr)  # W V-coefficients: W_new = Qw Rw Qr = (Qw Qs) Rs
            V[:, :keep], AV[:, :keep] = V[:, :k] @ Qr, AV[:, :k] @ Qr
            Z[:keep, :keep] = Qs.conj().T @ Z[:k, :k] @ Qr
            Qw[:, :keep] = Qw[:, :k] @ Qs
            Rw[:] = 0.0
            Rw[:keep, :keep] = Rs
            k = keep
        t, _ = _orth(V[:, :k], _trace_free(t, N))
        nt = np.linalg.norm(t)
        if not np.isfinite(nt) or nt == 0.0:
            break
        V[:, k] = t / nt
        AV[:, k] = op(V[:, k])
        w, c = _orth(Qw[:, :k], AV[:, k] - tau * V[:, k])
        Rw[:k, k] = c
        Rw[k, k] = np.linalg.norm(w)
        Qw[:, k] = w / Rw[k, k] if Rw[k, k] > 0 else 0.0
        Z[k, : k + 1] = Qw[:, k].conj() @ V[:, : k + 1]
        Z[:k, k] = _ch(Qw[:, :k], V[:, k])
        k += 1
        nu, Y = sla.eig(Rw[:k, :k], Z[:k, :k], check_finite=False)
        order = np.argsort(np.where(np.isfinite(nu), np.abs(tau + nu - target), np.inf), kind="stable")
        Y = Y[:, order]
        y = Y[:, 0] / np.linalg.norm(Y[:, 0])  # V is orthonormal
        u = V[:, :k] @ y
        Au = AV[:, :k] @ y
        theta = complex(np.vdot(u, Au))  # Rayleigh quotient (||u|| = 1)
        r = Au - theta * u
        res = float(np.linalg.norm(r))
        if res < best[1]:
            best, best_its = (theta, res), its
        if res <= track * max(abs(theta), scale):
            target = theta  # converging: follow this pair, not whatever Ritz value comes nearer tau
        stalled = its - best_its
        if res <= tol_abs or stalled >= patience or (best[1] <= accept_abs and stalled >= 2):
            break
        # Olsen: t = -M r + eps M u, eps such that t is orthogonal to u
        Mr, Mu = precond(r), precond(u)
        t = -Mr + (np.vdot(u, Mr) / np.vdot(u, Mu)) * Mu
    return best[0], best[1], its


def rightmost_eigenvalues(gen, *, method: str = "auto", dense_limit: int = 40, n_candidates: int = 4,
                          tol: float = 1e-11, max_block: int = 800, delta: float | None = None,
                          accept: float = 1e-8, screen_margin: float = 1.0, shift_factor: float = 100.0,
                          maxit: int = 200, off_frac: float = 1e-3, stop_when_unstable: bool = True,
                          comm=None) -> EigReport:
    """Eigenvalue of the Redfield generator with the largest real part, the steady-state (zero) mode excluded.

    Parameters
    ----------
    gen : RedfieldGenerator
    method : {"auto", "dense", "cluster"}
        ``auto``: dense for ``N <= dense_limit``, cluster otherwise (module docstring).
    n_candidates : int
        Cluster method: block eigenvalues refined exactly (one Jacobi-Davidson run each).
    tol : float
        Residual at which a refinement stops, relative to the decay scale ``max_i |M_ii|``.
    accept : float
        A refinement that stalled (round-off floor of the products) above ``tol`` is still accepted when its
        residual is below ``accept x`` the decay scale; otherwise ``:not-converged`` is appended to ``method`` (the
        value reported is then the Rayleigh quotient, finite).
    shift_factor : float
        Perturbative screening of the candidates (in decreasing order of block real part): a candidate is refined
        only if its block eigenvalue plus ``shift_factor x`` the largest block -> exact move seen so far reaches the
        best exact real part found.
    max_block, delta :
        Cluster construction, see :class:`ClusterBlocks`.
    screen_margin : float
        Clusters whose Gershgorin bound lies more than ``screen_margin x`` the decay scale below the
        ``n_candidates``-th best block eigenvalue are not diagonalised.
    maxit : int
        Jacobi-Davidson iterations (generator products) per candidate.
    off_frac : float
        The preconditioner is shifted to ``candidate + off_frac x max(|Re candidate|, 1e-6 x scale)``.
    stop_when_unstable : bool
        Stop refining candidates once one refined eigenvalue has a real part above 100x its residual (instability
        proven; the remaining candidates could only raise the reported lower bound of the abscissa).
    comm : mpi4py communicator, optional
        The ranks of the point: clusters (screening, block eigenvalues) are split over them, and every generator
        product of the refinement is split by rows; None = all on this process.

    Returns
    -------
    EigReport
    """
    if method == "auto":
        method = "dense" if gen.N <= dense_limit else "cluster"
    if method == "dense":
        return dense_eigenvalues(gen)
    if method != "cluster":
        raise ValueError(f"unknown eigenvalue method {method!r} (auto | dense | cluster)")
    if comm is not None and comm.Get_size() == 1:
        comm = None
    rank, size = (0, 1) if comm is None else (comm.Get_rank(), comm.Get_size())
    N = gen.N
    scale = gen.decay_scale
    clusters, delta_used = cluster_partition(gen, delta, max_block)
    cands, examined, approx_max = _candidates(gen, clusters, n_candidates=n_candidates,
                                              margin=screen_margin * scale, rank=rank, size=size, comm=comm)
    zero = _zero_cluster(clusters)
    op = _Product(gen, comm)
    diag = generator_diagonal(gen).ravel()
    found, residuals, shifts = [], [], []
    for _, z, k in cands:
        # Perturbative screening: a candidate is refined only if its block eigenvalue, moved right by
        # `shift_factor` x the largest move (block -> exact) seen so far, could reach the best exact real part.
        if found and z.real + shift_factor * max(shifts) + 1e-8 * scale < max(f.real for f in found):
            continue
        # Instability already proven by an eigenvalue whose real part exceeds its residual 100-fold: the verdict
        # cannot change, and the value is a lower bound of the spectral abscissa either way (module docstring).
        if stop_when_unstable and any(f.real > max(100.0 * r, 1e-9 * scale) for f, r in zip(found, residuals)):
            break
        c = clusters[k]
        # preconditioner shift: next to the candidate, off it by a small fraction of its distance from 0 (the
        # trace mode) so that the LU stays regular
        off = off_frac * max(abs(z.real), 1e-6 * scale)
        pre = _SkeletonInverse(gen, diag, [c] if k == zero else [c, clusters[zero]], z + off)
        # start: the candidate's block eigenvector, by inverse iteration on its block at the candidate itself
        B = _blocks_batched(gen, *np.divmod(c[None, :], N))[0]
        B[np.diag_indices_from(B)] -= z + 1e-10 * max(abs(z), scale)  # a hair off: B - z itself is singular
        lu = sla.lu_factor(B, check_finite=False)
        v = np.zeros(N * N, dtype=complex)
        v[c] = np.random.default_rng(12345).standard_normal(c.size)
        for _ in range(2):
            v[c] = sla.lu_solve(lu, v[c], check_finite=False)
            v /= np.linalg.norm(v)
        theta, res, _ = _jacobi_davidson(op, pre, v, z, N, tol_abs=tol * scale, accept_abs=accept * scale,
                                         scale=scale, maxit=maxit)
        found.append(theta)
        residuals.append(res)
        shifts.append(abs(theta - z))
    found = np.asarray(found, dtype=complex)
    residuals = np.asarray(residuals)
    tag = (f"cluster[delta={delta_used:.3g},block<={max(c.size for c in clusters)},cand={len(cands)},"
           f"refined={found.size}]")
    clusters_half = (len(clusters) + 1) // 2
    if found.size == 0 or not np.any(np.isfinite(found)):
        return EigReport(float("nan"), complex("nan"), tag + ":not-converged", found, approx_max, residuals,
                         op.count, examined, clusters_half)
    j = int(np.nanargmax(found.real))
    if residuals[j] > accept * scale:
        log.warning("Redfield eigenvalue refinement stopped at residual %.3g (> %.3g); reporting the Rayleigh "
                    "quotient", residuals[j], accept * scale)
        tag += ":not-converged"
    return EigReport(float(found[j].real), complex(found[j]), tag, found, approx_max, residuals, op.count, examined,
                     clusters_half)


def max_real_eigenvalue(gen, *, method: str = "auto", dense_limit: int = 40, comm=None,
                        **kw) -> tuple[float, complex, str]:
    """Eigenvalue of the Redfield generator with the largest real part, the zero (steady-state) mode excluded.

    Dense ``eigvals`` of the assembled superoperator for ``N <= dense_limit`` (or ``method="dense"``); otherwise the
    frequency-cluster approximation refined by Jacobi-Davidson on the matrix-free operator
    (:func:`rightmost_eigenvalues`, O(N^2) memory; with ``comm`` its work is split over the ranks).

    Returns
    -------
    (max_real, eigenvalue, method) : float, complex, str
        ``max_real`` is finite; ``method`` ends in ``:not-converged`` if the refinement stalled above its acceptance
        residual (the value is then a Rayleigh quotient).
    """
    rep = rightmost_eigenvalues(gen, method=method, dense_limit=dense_limit, comm=comm, **kw)
    return rep.max_real, rep.eigenvalue, rep.method
