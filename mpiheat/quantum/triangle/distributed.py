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
from dataclasses import dataclass

import numpy as np

from .sparse import SparseRows, assemble_rows, mode_labels, n_modes

__all__ = ["OPTIONS_PREFIX", "DEFAULT_OPTIONS", "Level", "weyl_cut", "solve_level", "level_couplings",
           "align_levels", "block_range"]

OPTIONS_PREFIX = "tp_"
#: AMD ordering (METIS is slower on these small-bandwidth patterns), inertia from MUMPS also in parallel (ICNTL 13),
#: and the sub-solve size per shift: 200 eigenpairs per shift measured fastest at 3000 states.
DEFAULT_OPTIONS = {
    "tp_st_ksp_type": "preonly",
    "tp_st_pc_type": "cholesky",
    "tp_st_pc_factor_mat_solver_type": "mumps",
    "tp_st_mat_mumps_icntl_7": "0",
    "tp_st_mat_mumps_icntl_13": "1",
    "tp_st_mat_mumps_icntl_24": "1",
    "tp_st_mat_mumps_cntl_3": "1e-12",
}


def block_range(n: int, size: int, rank: int) -> tuple[int, int]:
    """PETSc's default ownership range of ``n`` rows over ``size`` ranks."""
    q, r = divmod(n, size)
    start = rank * q + min(rank, r)
    return start, start + q + (1 if rank < r else 0)


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


@dataclass
class Level:
    """Eigenpairs at one degree: all energies on every rank, this rank's rows of the eigenvectors.

    ``C`` (shape (r1 - r0, n_states)) holds M-orthonormal coefficients in the scaled sparse basis; ``rows`` the
    local assembled matrices (kept for the couplings).
    """

    p: int
    E: np.ndarray
    C: np.ndarray
    rows: SparseRows
    stats: dict


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


def solve_level(p: int, m1: float, m2: float, n_want: int, comm, *, petsc_options: dict | None = None,
                nev_per_shift: int = 200) -> Level:
    """All eigenpairs below a Weyl cut holding at least ``n_want`` levels, at degree ``p`` (unit length).

    The cut is raised (by 8% per try) until at least ``n_want`` eigenvalues lie below it; spectrum slicing returns
    every eigenvalue of the interval, so the number of states is set by the cut, never by the iteration.
    """
    PETSc, SLEPc = _petsc()
    pcomm = PETSc.Comm(comm)
    rank, size = comm.Get_rank(), comm.Get_size()
    n = n_modes(p)
    if n < n_want + 2:
        raise ValueError(f"degree {p} has only {n} basis functions for {n_want} states")
    r0, r1 = block_range(n, size, rank)
    rows = assemble_rows(p, r0, r1)
    Kloc = rows.mats["K1"] / (2.0 * m1) + rows.mats["K2"] / (2.0 * m2)
    K = _aij(PETSc, Kloc, n, pcomm)
    M = _aij(PETSc, rows.mats["M"], n, pcomm)
    cut = weyl_cut(int(n_want * 1.03) + 8, m1, m2)
    stats = {"n_basis": n, "tries": 0}
    objs = [K, M]
    try:
        while True:
            stats["tries"] += 1
            added = _push_options(PETSc, petsc_options)
            eps = SLEPc.EPS().create(comm=pcomm)
            try:
                eps.setOptionsPrefix(OPTIONS_PREFIX)
                eps.setOperators(K, M)
                eps.setProblemType(SLEPc.EPS.ProblemType.GHEP)
                eps.setType(SLEPc.EPS.Type.KRYLOVSCHUR)
                eps.setWhichEigenpairs(SLEPc.EPS.Which.ALL)
                eps.setInterval(0.0, cut)
                eps.setTolerances(1e-13, 500)
                st = eps.getST()
                st.setType(SLEPc.ST.Type.SINVERT)
                ksp = st.getKSP()
                ksp.setType(PETSc.KSP.Type.PREONLY)
                pc = ksp.getPC()
                pc.setType(PETSc.PC.Type.CHOLESKY)
                pc.setFactorSolverType("mumps")
                eps.setKrylovSchurPartitions(size)
                eps.setKrylovSchurDimensions(nev=nev_per_shift, ncv=PETSc.DECIDE, mpd=PETSc.DECIDE)
                eps.setFromOptions()
                eps.solve()
                nconv = eps.getConverged()
                if nconv < n_want:
                    cut *= 1.08
                    continue
                E = np.array([eps.getEigenvalue(i).real for i in range(nconv)])
                order = np.argsort(E, kind="stable")
                C = np.empty((r1 - r0, nconv))
                v = K.createVecRight()
                w = M.createVecRight()
                for col, i in enumerate(order):
                    eps.getEigenvector(int(i), v)
                    M.mult(v, w)
                    nrm = math.sqrt(v.dot(w))  # M-normalise (SLEPc's GHEP vectors already are, up to round-off)
                    C[:, col] = v.getArray(readonly=True) / nrm
                v.destroy()
                w.destroy()
                E = E[order]
                its = eps.getIterationNumber()
                stats.update({"cut": cut, "n_states": int(nconv), "iterations": int(its)})
                return Level(p=int(p), E=E, C=C, rows=rows, stats=stats)
            finally:
                eps.destroy()
                _pop_options(PETSc, added)
    finally:
        for o in objs:
            o.destroy()


def _dense(PETSc, X: np.ndarray, n: int, comm):
    return PETSc.Mat().createDense(size=((X.shape[0], n), (PETSc.DECIDE, X.shape[1])), array=np.ascontiguousarray(X),
                                   comm=comm)


def _sum(comm, X: np.ndarray) -> np.ndarray:
    from mpi4py import MPI
    if comm.Get_size() == 1:
        return X
    out = np.empty_like(X)
    comm.Allreduce(X, out, op=MPI.SUM)
    return out


def level_couplings(level: Level, m1: float, m2: float, n: int, comm, *, chunk: int = 512):
    """Rellich (domain-integral) and boundary-trace couplings of the lowest ``n`` states on the unit length.

    ``X[a, b] = int psi_b V.grad psi_a = ((G C)^T C)[a, b]``; the product ``G C`` is a distributed sparse x dense
    product (PETSc), done ``chunk`` columns at a time so no rank holds more than its rows of C plus one chunk.
    """
    PETSc, _ = _petsc()
    pcomm = PETSc.Comm(comm)
    nb = level.rows.n
    C = np.ascontiguousarray(level.C[:, :n])
    E = level.E[:n]
    out = []
    for name, m in (("G_L", m1), ("G_R", m2)):
        G = _aij(PETSc, level.rows.mats[name], nb, pcomm)
        X = np.empty((n, n))
        try:
            for a0 in range(0, n, chunk):
                a1 = min(n, a0 + chunk)
                Cd = _dense(PETSc, C[:, a0:a1], nb, pcomm)
                Z = G.matMult(Cd)
                X[a0:a1] = _sum(comm, Z.getDenseArray().T @ C)
                Z.destroy()
                Cd.destroy()
        finally:
            G.destroy()
        P = (2.0 * m / 3.0) * ((E[:, None] - E[None, :]) * X + np.diag(2.0 * E))
        out.append(0.5 * (P + P.T))
    for tr in (level.rows.trace_L, level.rows.trace_R):
        T = _sum(comm, tr.T @ C)  # (nq, n) normal derivatives at the edge's Gauss nodes
        P = T.T @ (level.rows.weights[:, None] * T) / 3.0
        out.append(0.5 * (P + P.T))
    return out


def align_levels(coarse: Level, fine: Level, blocks: list[np.ndarray], n: int, comm) -> np.ndarray:
    """Per-block orthogonal alignment ``R`` of the coarse eigenvectors onto the fine ones (lowest ``n`` states).

    The coarse space is a subspace of the fine one (the modes are hierarchical and their scaling depends on the
    mode only), so the coarse coefficients are embedded by a 0/1 prolongation and the overlaps are M-inner
    products ``O = (M_f P C_c)^T C_f``; only the entries inside each block are formed. Returns the list of
    (block, R_block) pairs.
    """
    PETSc, _ = _petsc()
    pcomm = PETSc.Comm(comm)
    pc, pf = coarse.p, fine.p
    nc, nf = n_modes(pc), n_modes(pf)
    r0, r1 = fine.rows.r0, fine.rows.r1
    c0, c1 = coarse.rows.r0, coarse.rows.r1
    lab = mode_labels(pf)[r0:r1]
    inside = lab.sum(axis=1) <= pc - 3
    off_c = np.concatenate([[0], np.cumsum([pc - 2 - i for i in range(pc - 2)])])
    cols = off_c[lab[inside, 0]] + lab[inside, 1]
    import scipy.sparse as sp
    Pr = sp.csr_matrix((np.ones(int(inside.sum())), (np.flatnonzero(inside), cols)), shape=(r1 - r0, nc))
    # the prolongation's columns live in the coarse layout: its local column block is [c0, c1)
    Pm = PETSc.Mat().createAIJ(size=((r1 - r0, nf), (c1 - c0, nc)),
                               csr=(Pr.indptr.astype(PETSc.IntType), Pr.indices.astype(PETSc.IntType), Pr.data),
                               comm=pcomm)
    Pm.assemble()
    Mf = _aij(PETSc, fine.rows.mats["M"], nf, pcomm)
    O_diag = np.zeros(n)
    multi = [b for b in blocks if b.size > 1 and b[0] < n]
    O_blocks = {int(b[0]): np.zeros((b.size, b.size)) for b in multi}
    try:
        MP = Mf.matMult(Pm)
        chunk = 512
        for a0 in range(0, n, chunk):
            a1 = min(n, a0 + chunk)
            Cd = PETSc.Mat().createDense(size=((c1 - c0, nc), (PETSc.DECIDE, a1 - a0)),
                                         array=np.ascontiguousarray(coarse.C[:, a0:a1]), comm=pcomm)
            Wm = MP.matMult(Cd)
            W = Wm.getDenseArray()  # (r1 - r0, a1 - a0), rows in the fine layout
            O_diag[a0:a1] = np.einsum("ka,ka->a", W, fine.C[:, a0:a1])
            for b in multi:
                if a0 <= b[0] < a1 or a0 <= b[-1] < a1:
                    sel = b[(b >= a0) & (b < a1)]
                    O_blocks[int(b[0])][sel - b[0], :] = W[:, sel - a0].T @ fine.C[:, b]
            Wm.destroy()
            Cd.destroy()
        MP.destroy()
    finally:
        Pm.destroy()
        Mf.destroy()
    O_diag = _sum(comm, O_diag)
    R = []
    for b in blocks:
        if b[0] >= n:
            break
        if b.size == 1:
            R.append((b, np.array([[1.0 if O_diag[b[0]] >= 0 else -1.0]])))
        else:
            O = _sum(comm, O_blocks[int(b[0])])
            U, _, Vt = np.linalg.svd(O)
            R.append((b, U @ Vt))
    return R
