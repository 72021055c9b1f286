"""Distributed generalized eigensolve of the sparse triangle basis (:mod:`.sparse`) with SLEPc spectrum slicing.

Every rank assembles only its rows of K = K1/(2 m1) + K2/(2 m2) and M; SLEPc's Krylov-Schur computes *all*
eigenvalues in an interval [0, E_cut] by spectrum slicing: shift-and-invert with a sparse Cholesky factorization
(MUMPS), whose inertia (Sylvester's law) counts the eigenvalues below each shift, so no eigenvalue in the interval can
be missed and a cluster at the cut is never split. The interval is split into one sub-interval per rank
(``-eps_krylovschur_partitions`` = number of ranks): each rank factors and iterates on its own sub-interval, and
keeps only its rows of the eigenvectors afterwards, so the dominant memory (n_basis x n_states eigenvectors) is
divided by the number of ranks.

Options: prefix :data:`OPTIONS_PREFIX` (``tp_``); the defaults below are pushed into PETSc's options database for
the duration of one solve only (a value the user already set wins) and removed afterwards; ``setFromOptions`` reads
``-tp_eps_*``, ``-tp_st_*`` and the MUMPS options of the factorization.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from mpiheat.numerics.parallel import block_range  # = PETSc's default ownership ranges
from mpiheat.quantum.twoparticle.sparse import SparseRows, assemble_rows, coarse_index, mode_labels, n_modes

__all__ = ["OPTIONS_PREFIX", "DEFAULT_OPTIONS", "EPS_TOL", "Level", "weyl_cut", "solve_level", "level_couplings",
           "align_levels", "block_range"]

OPTIONS_PREFIX = "tp_"
#: Krylov-Schur inside Cholesky/MUMPS shift-and-invert; AMD ordering (as the rest of mpiheat), inertia from MUMPS
#: also in parallel (ICNTL 13), null-pivot detection (ICNTL 24).
DEFAULT_OPTIONS = {
    "tp_st_ksp_type": "preonly",
    "tp_st_pc_type": "cholesky",
    "tp_st_pc_factor_mat_solver_type": "mumps",
    "tp_st_mat_mumps_icntl_7": "0",
    "tp_st_mat_mumps_icntl_13": "1",
    "tp_st_mat_mumps_icntl_24": "1",
    "tp_st_mat_mumps_cntl_3": "1e-12",
}
#: Krylov-Schur tolerance (relative residual). Measured at 600 states, p = 117-120, before the block Rayleigh-Ritz
#: (:func:`_rayleigh_ritz`) existed: largest coupling / energy error 1.8e-8 / 1.5e-11 at 1e-13, 8.7e-10 / 7.4e-13 at
#: 1e-14 (2 ranks), and 1e-15 was worse on 1 rank, all at the same cost. The floor that remained (2-5e-8 at 2200
#: states, erratic with the shifts) was the mixing of eigenvectors of neighbouring shifts, which the Rayleigh-Ritz now
#: removes (1000 states: 3.2e-9 -> 1.4e-10). ``-tp_eps_tol`` overrides it.
EPS_TOL = 1e-14


def weyl_cut(n_states: int, m1: float, m2: float) -> float:
    """Energy (unit length) below which the triangle holds about ``n_states`` levels (two-term Weyl law).

    In mass-weighted coordinates q_i = sqrt(m_i) x_i, H = -Laplacian/2 on a right triangle of legs sqrt(m1),
    sqrt(m2): area A = sqrt(m1 m2)/2, perimeter P; N(k) = A k^2/(4 pi) - P k/(4 pi) with E = k^2/2.
    """
    A = 0.5 * math.sqrt(m1 * m2)
    P = math.sqrt(m1) + math.sqrt(m2) + math.sqrt(m1 + m2)
    # A k^2 - P k - 4 pi N = 0
    k = (P + math.sqrt(P * P + 16.0 * math.pi * A * n_states)) / (2.0 * A)
    return 0.5 * k * k


#: Fixed random functions of the coarse space whose overlaps with each eigenfunction carry its sign to a finer
#: degree (see :meth:`Level.compress`), and the overlap below which a state keeps its exact coarse vector instead.
N_PROBES = 4
PROBE_MIN = 1e-3


def probe_vectors(p_probe: int, p: int) -> np.ndarray:
    """Coefficients (all rows, shape (n_modes(p), N_PROBES)) of ``N_PROBES`` fixed random functions of the degree
    ``p_probe`` space, in the scaled sparse basis of degree ``p >= p_probe``.

    The modes are hierarchical and their scaling depends on the mode only, so the same coefficients, embedded by
    mode label, are the same functions at every degree >= p_probe. Seeded by the degree only: every rank builds the
    same vectors.
    """
    g = np.random.default_rng(p_probe).standard_normal((n_modes(p_probe), N_PROBES))
    if p == p_probe:
        return g
    inside, index = coarse_index(p_probe, mode_labels(p))
    out = np.zeros((inside.size, N_PROBES))
    out[inside] = g[index]
    return out


@dataclass
class Level:
    """Eigenpairs at one degree: all energies on every rank, this rank's rows of the eigenvectors.

    ``C`` (shape (r1 - r0, n_states)) holds M-orthonormal coefficients in the scaled sparse basis; ``rows`` the
    local assembled matrices (kept for the couplings).
    """

    p: int
    E: np.ndarray
    C: np.ndarray | None
    rows: SparseRows
    stats: dict
    keep: np.ndarray | None = None
    C_keep: np.ndarray | None = None
    probes: np.ndarray | None = None

    def compress(self, keep: np.ndarray, comm) -> None:
        """Drop the eigenvectors once this level's couplings are formed; keep what the alignment with a finer
        level needs.

        That is each state's sign, carried by its overlaps with ``N_PROBES`` fixed random functions of this
        level's space (``probes``, shape (N_PROBES, n_states), on every rank: the same functions at the finer
        degree give the same overlaps up to the discretisation error, so the largest one fixes the sign), and the
        exact columns ``keep`` ((near-)degenerate clusters, whose alignment is a rotation from the overlap block)
        plus those of any state whose largest probe overlap is below ``PROBE_MIN``. Frees the n_basis x n_states
        eigenvectors (e.g. 418 MB at 3000 states), its matrices and edge traces before the fine solve.
        """
        if self.C is None:
            return
        W = self.rows.mats["M"] @ probe_vectors(self.p, self.p)
        self.probes = _sum(comm, np.ascontiguousarray(W.T @ self.C))
        weak = np.flatnonzero(np.abs(self.probes).max(axis=0) < PROBE_MIN)
        self.keep = np.union1d(np.asarray(keep, dtype=np.int64), weak).astype(np.int64)
        self.C_keep = np.array(self.C[:, self.keep], order="F")
        self.C = None
        # the matrices and edge traces served this level's couplings only (the alignment needs its row range)
        self.rows.mats = {}
        self.rows.trace_L = self.rows.trace_R = np.zeros((0, 0))


def _stage(comm, label: str) -> None:
    """Peak RSS per rank at a stage, printed when ``MPIHEAT_MEMTRACE`` is set (memory diagnostics)."""
    import os
    if not os.environ.get("MPIHEAT_MEMTRACE"):
        return
    import resource
    print(f"[memtrace two_particle rank {comm.Get_rank()}] {label}: peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB", flush=True)


def _petsc():
    from petsc4py import PETSc
    from slepc4py import SLEPc
    return PETSc, SLEPc


def _aij(PETSc, X, n: int, comm):
    """Distributed AIJ matrix from this rank's CSR rows (scipy) with global column indices."""
    X = X.tocsr()
    A = PETSc.Mat().createAIJ(size=((X.shape[0], n), (X.shape[0], n)),
                              csr=(X.indptr.astype(PETSc.IntType), X.indices.astype(PETSc.IntType), X.data),
                              comm=comm)
    A.assemble()
    return A


def _push_options(PETSc, user: dict | None) -> list[str]:
    opts = PETSc.Options()
    added = []
    for key, val in list((user or {}).items()) + list(DEFAULT_OPTIONS.items()):
        key = key.lstrip("-")
        key = key if key.startswith(OPTIONS_PREFIX) else OPTIONS_PREFIX + key
        if not opts.hasName(key):
            opts[key] = val
            added.append(key)
    return added


def _pop_options(PETSc, added: list[str]) -> None:
    opts = PETSc.Options()
    for key in added:
        opts.delValue(key)


def _inertia_count(PETSc, Kloc, Mloc, sigma: float, n: int, pcomm) -> int:
    """Number of eigenvalues of (K, M) below ``sigma``: negative pivots of the Cholesky (LDL^T) factorization of
    ``K - sigma M`` (Sylvester's law of inertia; MUMPS, ICNTL 13 = 1 so that it is exact in parallel too)."""
    A = _aij(PETSc, (Kloc - sigma * Mloc).tocsr(), n, pcomm)
    ksp = PETSc.KSP().create(comm=pcomm)
    try:
        ksp.setOperators(A)
        ksp.setType(PETSc.KSP.Type.PREONLY)
        pc = ksp.getPC()
        pc.setType(PETSc.PC.Type.CHOLESKY)
        pc.setFactorSolverType("mumps")
        pc.setFactorSetUpSolverType()
        F = pc.getFactorMatrix()
        F.setMumpsIcntl(7, 0)
        F.setMumpsIcntl(13, 1)
        F.setMumpsIcntl(24, 1)
        ksp.setUp()
        return int(F.getInertia()[0])
    finally:
        ksp.destroy()
        A.destroy()


def solve_level(p: int, m1: float, m2: float, n_want: int, comm, *, petsc_options: dict | None = None,
                nev_per_shift: int = 40, window_states: int = 600) -> Level:
    """All eigenpairs below a cut holding at least ``n_want`` levels, at degree ``p`` (unit length).

    ``nev_per_shift``: eigenpairs sought per shift; measured at p = 160, 927 states, 2 ranks: 32 / 64 / 200 give
    26.5 / 29 / 42 s CPU per rank and 402 / 431 / 492 MB peak (the Krylov work space grows with it).

    The cut starts from the two-term Weyl law and is raised (8% per step) until the inertia of ``K - cut M``
    counts at least ``n_want`` eigenvalues below it. The interval [0, cut] is then solved in windows of about
    ``window_states`` levels (Weyl-law boundaries), each by spectrum slicing; each window's eigenvectors are moved
    into this rank's rows of the result and its solver destroyed before the next, so SLEPc's own copy of the
    vectors never holds more than one window. Spectrum slicing returns every eigenvalue of a window (inertia
    counts), so the number of states is fixed by the cut, never by the iteration; the windows' total is checked
    against the inertia count. ``window_states`` = 600 rather than 1200: at 1000 states, 2 ranks, idle machine, 56
    vs 52 s and 502 vs 559 MB peak per rank (the window's vectors are the largest transient).
    """
    PETSc, SLEPc = _petsc()
    pcomm = PETSc.Comm(comm)
    rank, size = comm.Get_rank(), comm.Get_size()
    n = n_modes(p)
    if n < n_want + 2:
        raise ValueError(f"degree {p} has only {n} basis functions for {n_want} states")
    r0, r1 = block_range(n, size, rank)
    t0 = time.perf_counter()
    rows = assemble_rows(p, r0, r1)
    t_asm = time.perf_counter() - t0
    _stage(comm, f"p={p} assembled")
    Kloc = (rows.mats["K1"] / (2.0 * m1) + rows.mats["K2"] / (2.0 * m2)).tocsr()
    Mloc = rows.mats["M"]
    # the two-term Weyl law is within ~0.1 % of the count at thousands of states (3221 predicted, 3220 counted at
    # 3000 states), so a 1 % margin suffices; every level above n_want is solved for nothing
    cut = weyl_cut(n_want + max(8, n_want // 100), m1, m2)
    count = _inertia_count(PETSc, Kloc, Mloc, cut, n, pcomm)
    tries = 1
    while count < n_want:
        cut *= 1.08
        count = _inertia_count(PETSc, Kloc, Mloc, cut, n, pcomm)
        tries += 1
    t_inertia = time.perf_counter() - t0 - t_asm
    n_win = max(1, int(math.ceil(count / window_states)))
    edges = [0.0] + [weyl_cut(int(count * k / n_win), m1, m2) for k in range(1, n_win)] + [cut]
    K = _aij(PETSc, Kloc, n, pcomm)
    M = _aij(PETSc, Mloc, n, pcomm)
    del Kloc
    stats = {"n_basis": n, "tries": tries, "cut": cut, "windows": n_win, "iterations": 0,
             "seconds_assemble": t_asm, "seconds_inertia": t_inertia, "seconds_solve": 0.0, "seconds_extract": 0.0}
    E = np.empty(count)
    C = np.empty((r1 - r0, count), order="F")  # columns contiguous: column blocks are views, not copies
    filled = 0
    try:
        for lo, hi in zip(edges[:-1], edges[1:]):
            added = _push_options(PETSc, petsc_options)
            eps = SLEPc.EPS().create(comm=pcomm)
            try:
                eps.setOptionsPrefix(OPTIONS_PREFIX)
                eps.setOperators(K, M)
                eps.setProblemType(SLEPc.EPS.ProblemType.GHEP)
                eps.setType(SLEPc.EPS.Type.KRYLOVSCHUR)
                eps.setWhichEigenpairs(SLEPc.EPS.Which.ALL)
                eps.setInterval(lo, hi)
                eps.setTolerances(EPS_TOL, 500)
                st = eps.getST()
                st.setType(SLEPc.ST.Type.SINVERT)
                ksp = st.getKSP()
                ksp.setType(PETSc.KSP.Type.PREONLY)
                pc = ksp.getPC()
                pc.setType(PETSc.PC.Type.CHOLESKY)
                pc.setFactorSolverType("mumps")
                eps.setKrylovSchurPartitions(size)
                # ncv = 2.5 nev: 1000 states, 2 ranks, idle: 48-49 s vs 51-53 s for SLEPc's default (80) or 140
                eps.setKrylovSchurDimensions(nev=nev_per_shift, ncv=int(2.5 * nev_per_shift), mpd=PETSc.DECIDE)
                eps.setFromOptions()
                t1 = time.perf_counter()
                eps.solve()
                t2 = time.perf_counter()
                stats["seconds_solve"] += t2 - t1
                _stage(comm, f"p={p} window [{lo:.0f}, {hi:.0f}] solved")
                nconv = eps.getConverged()
                if filled + nconv > count:
                    raise RuntimeError(f"spectrum slicing found {filled + nconv} eigenvalues below {cut:g}, "
                                       f"inertia counts {count}")
                E[filled:filled + nconv] = _extract(PETSc, eps, comm, K, M, r0, r1, nconv,
                                                    C[:, filled:filled + nconv])
                filled += nconv
                stats["seconds_extract"] += time.perf_counter() - t2
                stats["iterations"] += int(eps.getIterationNumber())
            finally:
                eps.destroy()
                _pop_options(PETSc, added)
        if filled != count:
            raise RuntimeError(f"spectrum slicing found {filled} eigenvalues below {cut:g}, inertia counts {count}")
        order = np.argsort(E, kind="stable")
        if np.any(order != np.arange(count)):  # windows are ascending; only ties at an edge could reorder
            E, C = E[order], C[:, order]
        _stage(comm, f"p={p} eigenvectors extracted")
        t3 = time.perf_counter()
        E, order = _rayleigh_ritz(PETSc, K, M, C, E, comm, stats)
        if np.any(order != np.arange(count)):
            E, C = E[order], C[:, order]
        stats["seconds_rayleigh_ritz"] = time.perf_counter() - t3
        stats["n_states"] = int(count)
        return Level(p=int(p), E=E, C=C, rows=rows, stats=stats)
    finally:
        K.destroy()
        M.destroy()


#: Half-width (states) of the blocks of :func:`_rayleigh_ritz`. The eigenvectors of neighbouring shifts of the
#: spectrum slicing are mixed with each other (measured at 1000 states: largest M-inner product between different
#: eigenvectors 4.2e-9, all within 123 states of each other, 99 % within 27), far less than this.
RR_HALF = 256


def _rayleigh_ritz(PETSc, K, M, C: np.ndarray, E: np.ndarray, comm, stats: dict) -> tuple[np.ndarray, np.ndarray]:
    """Rayleigh-Ritz in the span of the computed eigenvectors, block by block: ``C`` (this rank's rows) is rotated
    in place; returns the Ritz values and the order that sorts them.

    Spectrum slicing computes the eigenpairs of each shift separately, and vectors of neighbouring shifts come out
    mixed with each other at the 1e-9 level (not M-orthogonal to better than 4e-9 at 1000 states). The levels barely
    notice (quadratic), but the couplings do, through ``E_a - E_b``: that mixing was the floor of the coarse/fine
    coupling estimate (3.2e-9 at 1000 states, 2-5e-8 at 2200, erratic with the shifts; 1.4e-10 after a full
    Rayleigh-Ritz). The mixing is local in the spectrum, so the projected pencil ``(C^T K C, C^T M C)`` is solved
    on blocks of ``2 RR_HALF`` states, in two passes offset by ``RR_HALF`` (every pair within ``RR_HALF`` of each
    other shares a block), at O(n_states RR_HALF n_basis) work instead of O(n_states^2 n_basis). ``stats`` receives
    the largest rotation (the mixing removed) and the largest relative change of a level.
    """
    import scipy.linalg as sl

    pcomm = PETSc.Comm(comm)
    n = C.shape[1]
    nb = K.getSize()[0]
    E = E.copy()
    width = 2 * RR_HALF
    starts = [(b, min(n, b + width)) for b in range(0, n, width)]
    if n > width:
        starts += [(b, min(n, b + width)) for b in range(RR_HALF, n - RR_HALF, width)]
    rot = shift = 0.0
    for b0, b1 in starts:
        Cb = C[:, b0:b1]
        Cd = _dense(PETSc, Cb, nb, pcomm)
        KC, MC = K.matMult(Cd), M.matMult(Cd)
        Ks = _sum(comm, KC.getDenseArray().T @ Cb)
        Ms = _sum(comm, MC.getDenseArray().T @ Cb)
        for X in (KC, MC, Cd):
            X.destroy()
        # symmetric by construction; the same bits on every rank (after the reduction), so the same rotation
        w, V = sl.eigh(0.5 * (Ks + Ks.T), 0.5 * (Ms + Ms.T), driver="gvd")
        rot = max(rot, float(np.abs(V - np.diag(np.diag(V))).max()) if V.shape[0] > 1 else 0.0)
        shift = max(shift, float(np.max(np.abs(w - E[b0:b1]) / np.abs(E[b0:b1]))))
        E[b0:b1] = w
        for r in range(0, C.shape[0], 4096):  # rotate in place, a slab of rows at a time
            C[r:r + 4096, b0:b1] = C[r:r + 4096, b0:b1] @ V
    stats["rr_max_rotation"] = rot
    stats["rr_max_level_change"] = shift
    return E, np.argsort(E, kind="stable")


def _extract(PETSc, eps, comm, K, M, r0: int, r1: int, nconv: int, C: np.ndarray) -> np.ndarray:
    """Sorted eigenvalues (every rank); this rank's rows of the M-normalised eigenvectors are written into ``C``
    (shape (r1 - r0, nconv)).

    With one partition per rank each rank holds *whole* eigenvectors of its sub-interval (SLEPc's sub-communicator
    of size 1). Reading them through ``getEigenvector`` would first gather all of them into the parent layout (a
    second full copy); instead they are read from the sub-communicator and transposed to rows chunk by chunk with
    ``Alltoallv``, so the peak is the sub-interval's vectors plus this rank's rows, i.e. O(n_basis n_states / ranks).
    """
    from mpi4py import MPI

    size = comm.Get_size()
    if size == 1:
        E = np.array([eps.getEigenvalue(i).real for i in range(nconv)])
        order = np.argsort(E, kind="stable")
        v = K.createVecRight()
        for col, i in enumerate(order):
            eps.getEigenvector(int(i), v)
            C[:, col] = v.getArray(readonly=True)
        v.destroy()
        E = E[order]
    else:
        _, n_sub, v = eps.getKrylovSchurSubcommInfo()
        if v.getSize() != v.getLocalSize():
            raise RuntimeError("expected one spectrum-slicing partition per rank")
        E_loc = np.array([eps.getKrylovSchurSubcommPairs(i, v).real for i in range(n_sub)]) if n_sub else np.zeros(0)
        parts = comm.allgather(E_loc)
        owner = np.concatenate([np.full(p_.size, r, dtype=np.int64) for r, p_ in enumerate(parts)])
        local = np.concatenate([np.arange(p_.size, dtype=np.int64) for p_ in parts])
        E_all = np.concatenate(parts)
        order = np.argsort(E_all, kind="stable")
        E, owner, local = E_all[order], owner[order], local[order]
        ranges = [block_range(v.getSize(), size, r) for r in range(size)]
        me = comm.Get_rank()
        if E.size != nconv:
            raise RuntimeError(f"sub-communicators hold {E.size} eigenpairs, the solver reports {nconv}")
        chunk = 128
        for a0 in range(0, E.size, chunk):
            cols = np.arange(a0, min(E.size, a0 + chunk))
            mine = cols[owner[cols] == me]
            send = np.empty((mine.size, v.getSize()))
            for k, c in enumerate(mine):
                eps.getKrylovSchurSubcommPairs(int(local[c]), v)
                send[k] = v.getArray(readonly=True)
            # to rank d: rows ranges[d] of every vector of mine, laid out destination by destination
            sendbuf = np.concatenate([send[:, lo:hi].ravel() for lo, hi in ranges])
            scounts = np.array([mine.size * (hi - lo) for lo, hi in ranges])
            from_r = [cols[owner[cols] == r] for r in range(size)]
            rcounts = np.array([fr.size * (r1 - r0) for fr in from_r])
            recvbuf = np.empty(int(rcounts.sum()))
            comm.Alltoallv([sendbuf, (scounts, np.concatenate([[0], np.cumsum(scounts)[:-1]])), MPI.DOUBLE],
                           [recvbuf, (rcounts, np.concatenate([[0], np.cumsum(rcounts)[:-1]])), MPI.DOUBLE])
            pos = 0
            for fr in from_r:
                blk = recvbuf[pos:pos + fr.size * (r1 - r0)].reshape(fr.size, r1 - r0)
                C[:, fr] = blk.T
                pos += blk.size
            del send, sendbuf, recvbuf
        v.destroy()
    # M-normalise (SLEPc's GHEP vectors already are, up to round-off): distributed M C, chunk by chunk
    pcomm = PETSc.Comm(comm)
    n = K.getSize()[0]
    for a0 in range(0, C.shape[1], 512):
        a1 = min(C.shape[1], a0 + 512)
        Cd = _dense(PETSc, C[:, a0:a1], n, pcomm)
        Z = M.matMult(Cd)
        nrm2 = _sum(comm, np.einsum("ka,ka->a", Z.getDenseArray(), C[:, a0:a1]))
        C[:, a0:a1] /= np.sqrt(nrm2)
        Z.destroy()
        Cd.destroy()
    return E


def _dense(PETSc, X: np.ndarray, n: int, comm):
    return PETSc.Mat().createDense(size=((X.shape[0], n), (PETSc.DECIDE, X.shape[1])), array=np.asfortranarray(X),
                                   comm=comm)


def _sum(comm, X: np.ndarray) -> np.ndarray:
    from mpi4py import MPI
    if comm.Get_size() == 1:
        return X
    out = np.empty_like(X)
    comm.Allreduce(X, out, op=MPI.SUM)
    return out


def level_couplings(level: Level, m1: float, m2: float, n: int, comm, *, chunk: int = 512):
    """Rellich (domain-integral) couplings of the lowest ``n`` states on the unit length, and the largest
    difference to the boundary-trace form relative to max P_ii (a health number).

    ``P_ab = (2 m / 3) [(E_a - E_b) X_ab + 2 E_a delta_ab]`` with ``X_ab = int psi_b V.grad psi_a``. P is symmetric,
    and its symmetric part is what the Rellich identity fixes: ``(P_ab + P_ba) / 2`` needs ``X_ab - X_ba``, i.e. the
    antisymmetric part of the sparse matrix G of V.grad. So ``X = C^T (G^T - G) C / 2`` is formed for
    the upper triangle only (b >= a; half the dense work of forming ``(G C)^T C`` in full and averaging it with its
    transpose, which it equals up to round-off). ``A C`` is a distributed sparse x dense product (PETSc), done
    ``chunk`` columns at a time so no rank holds more than its rows of C plus one chunk.
    """
    PETSc, _ = _petsc()
    pcomm = PETSc.Comm(comm)
    nb = level.rows.n
    C = level.C[:, :n]
    E = level.E[:n]
    out = []
    diff = 0.0
    for name, m, tr in (("G_L", m1, level.rows.trace_L), ("G_R", m2, level.rows.trace_R)):
        G = _aij(PETSc, level.rows.mats[name], nb, pcomm)
        A = G.transpose(PETSc.Mat())  # a new G^T (without an argument petsc4py transposes G in place)
        A.axpy(-1.0, G, structure=PETSc.Mat.Structure.DIFFERENT_NONZERO_PATTERN)
        A.scale(-0.5)  # A = (G - G^T) / 2, so that (A C)^T C = C^T (G^T - G) C / 2
        G.destroy()
        P = np.empty((n, n))
        try:
            for a0 in range(0, n, chunk):
                a1 = min(n, a0 + chunk)
                Cd = _dense(PETSc, C[:, a0:a1], nb, pcomm)
                Z = A.matMult(Cd)
                X = _sum(comm, Z.getDenseArray().T @ C[:, a0:])  # rows a0:a1, columns a0:n of X
                Z.destroy()
                Cd.destroy()
                X *= (2.0 * m / 3.0) * (E[a0:a1, None] - E[None, a0:])
                D = X[:, :a1 - a0]  # diagonal block: symmetric by construction up to round-off; made exact
                D[...] = 0.5 * (D + D.T)
                D[np.arange(a1 - a0), np.arange(a1 - a0)] = (2.0 * m / 3.0) * 2.0 * E[a0:a1]
                P[a0:a1, a0:] = X
                P[a1:, a0:a1] = X[:, a1 - a0:].T
        finally:
            A.destroy()
        T = _sum(comm, tr.T @ C)  # (nq, n) normal derivatives at the edge's Gauss nodes
        WT = level.rows.weights[:, None] * T
        scale = np.diag(P).max()
        for a0 in range(0, n, chunk):
            Pb = T[:, a0:a0 + chunk].T @ WT / 3.0
            diff = max(diff, float(np.abs(Pb - P[a0:a0 + chunk]).max() / scale))
        out.append(P)
    return out[0], out[1], diff


def align_levels(coarse: Level, fine: Level, blocks: list[np.ndarray], n: int, comm) -> list:
    """Per-block orthogonal alignment ``R`` of the coarse eigenvectors onto the fine ones (lowest ``n`` states).

    ``coarse`` has been compressed (:meth:`Level.compress`). A single state's sign comes from its largest probe
    overlap, compared with the same probe's overlap at the fine degree. Clusters, and states with only weak probe
    overlaps, use the exact kept coarse columns: the coarse space is a subspace of the fine one (hierarchical modes
    whose scaling depends on the mode only), so they are embedded by a 0/1 prolongation and the overlaps are
    M-inner products ``O = (M_f P C_c)^T C_f``; a cluster's rotation is the orthogonal factor of its overlap block
    (Procrustes). A cluster member that was not kept (a coarse level far from converged) falls back to its probe
    sign; the error estimate then shows the misfit. Returns the list of (block, R_block) pairs.
    """
    PETSc, _ = _petsc()
    pcomm = PETSc.Comm(comm)
    pc, pf = coarse.p, fine.p
    nc, nf = n_modes(pc), n_modes(pf)
    r0, r1 = fine.rows.r0, fine.rows.r1
    c0, c1 = coarse.rows.r0, coarse.rows.r1
    if coarse.probes is None:
        raise ValueError("align_levels needs a compressed coarse level (Level.compress)")
    Wf = fine.rows.mats["M"] @ probe_vectors(pc, pf)
    F_f = _sum(comm, np.ascontiguousarray(Wf.T @ fine.C[:, :n]))
    F_c = coarse.probes[:, :n]
    keep = coarse.keep
    kpos = {int(a): k for k, a in enumerate(keep)}
    need = [b for b in blocks if b[0] < n and (b.size > 1 or int(b[0]) in kpos)]
    O_blocks = {}
    if need:
        inside, cols = coarse_index(pc, mode_labels(pf)[r0:r1])
        import scipy.sparse as sp
        Pr = sp.csr_matrix((np.ones(int(inside.sum())), (np.flatnonzero(inside), cols)), shape=(r1 - r0, nc))
        # the prolongation's columns live in the coarse layout: its local column block is [c0, c1)
        Pm = PETSc.Mat().createAIJ(size=((r1 - r0, nf), (c1 - c0, nc)),
                                   csr=(Pr.indptr.astype(PETSc.IntType), Pr.indices.astype(PETSc.IntType),
                                        Pr.data), comm=pcomm)
        Pm.assemble()
        Mf = _aij(PETSc, fine.rows.mats["M"], nf, pcomm)
        try:
            MP = Mf.matMult(Pm)
            Cd = PETSc.Mat().createDense(size=((c1 - c0, nc), (PETSc.DECIDE, keep.size)),
                                         array=np.asfortranarray(coarse.C_keep), comm=pcomm)
            Wm = MP.matMult(Cd)
            W = Wm.getDenseArray()  # (r1 - r0, n_keep), rows in the fine layout
            for b in need:
                have = [kpos[int(a)] for a in b if int(a) in kpos]
                if len(have) == b.size:
                    O_blocks[int(b[0])] = W[:, have].T @ fine.C[:, b]
            Wm.destroy()
            Cd.destroy()
            MP.destroy()
        finally:
            Pm.destroy()
            Mf.destroy()
    R = []
    for b in blocks:
        if b[0] >= n:
            break
        key = int(b[0])
        # O_blocks has the same keys on every rank (blocks and kept columns are), so the reductions match up
        O = _sum(comm, O_blocks[key]) if key in O_blocks else None
        if O is not None and b.size == 1:
            R.append((b, np.array([[1.0 if O[0, 0] >= 0 else -1.0]])))
        elif O is not None:
            U, _, Vt = np.linalg.svd(O)
            R.append((b, U @ Vt))
        else:
            k = np.argmax(np.abs(F_c[:, b]), axis=0)
            sgn = np.sign(F_c[k, b] * F_f[k, b])
            R.append((b, np.diag(np.where(sgn == 0, 1.0, sgn))))
    return R
