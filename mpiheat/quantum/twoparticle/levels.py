"""Two hard-core particles of masses m1 (left) and m2 (right) in a box of length L (SPEC §4, End Matter A).

``H = -(1/2m1) d^2/dx1^2 - (1/2m2) d^2/dx2^2`` on the triangle ``0 < x1 < x2 < L`` with Dirichlet conditions; the
couplings are the delta -> 0 limits of Eqs. A2-A3 with the 1/delta^3 normalisation of the one-particle model,

    <i|P_L|j> = (1/3) int_0^L d1 psi_i(0, x2) d1 psi_j(0, x2) dx2,
    <i|P_R|j> = (1/3) int_0^L d2 psi_i(x1, L) d2 psi_j(x1, L) dx1.

Method (``method="spectral"``): Rayleigh-Ritz on the whole triangle with the orthonormal interior polynomial basis
of total degree p (:mod:`mpiheat.quantum.twoparticle.spectral`), dense ``scipy.linalg.eigh``. Why this one:

* Polynomial spaces are invariant under the affine map ``q_i = sqrt(m_i) x_i``, so the anisotropic operator costs
  nothing extra, and the equal-mass eigenfunctions (products of sines) are entire: the method is spectrally accurate
  there. The equal-mass antisymmetric sine basis, by contrast, converges only ~K^-4 for unequal masses because the
  odd extension across x1 = x2 is not smooth.
* For m1 != m2 the eigenfunctions are singular only at the two acute corners (angles omega = arctan sqrt(m1/m2) and
  pi/2 - omega in q-coordinates; ``r^(pi/omega)`` with exponents 4.49 and 3.60 for m2/m1 = sqrt(2)). A corner
  singularity ``r^lam`` at a *vertex* of the element costs only ``p^(-2 lam)`` in the energy norm and ``p^(-4 lam)``
  (~p^-14) in the eigenvalues (Babuska-Suri p-version estimates), so at double precision the singular tail is
  invisible: observed errors fall super-algebraically to the round-off floor (~1e-11 relative) at p ~ 50 for the
  lowest 100 states and p ~ 70 for the lowest 200. No mesh, no corner grading, no root-finding (unlike the method of
  particular solutions, which could also miss eigenvalues); a dense eigh of n = (p-1)(p-2)/2 <= ~5000 takes seconds.
* The mass matrix is the identity (Jacobi weights), so the eigenproblem is a standard symmetric one.

Default method (``method="sparse"``, issue 12): the *same* polynomial space in a sparse basis (integrated Jacobi
polynomials, :mod:`mpiheat.quantum.twoparticle.sparse`), hence the same Ritz values, but the Galerkin matrices have
~20-45 nonzeros per row instead of a dense K2. Every rank of the communicator assembles its rows; SLEPc's
Krylov-Schur with spectrum slicing (shift-and-invert with a MUMPS Cholesky factorization whose inertia counts the
levels below each shift, one slicing partition per rank) computes every level below a cut
(:mod:`mpiheat.quantum.twoparticle.distributed`), so no level can be missed and no multiplet split. The eigenvectors
end up distributed by rows, and the couplings are distributed sparse x dense products plus one reduction, so memory
per rank falls with the number of ranks. Why not the dense basis distributed with ScaLAPACK: 3000 states need
~30,000-40,000 modes; a dense 35,000^2 matrix is 9.8 GB (4.9 GB per rank on 2 ranks, above the 2 GB target) and a
dense symmetric eigensolve costs O(n^3) ~ 4e13 flops, about an hour on 2 cores; the sparse factorization holds
~2.6e6 entries at 12,561 modes (measured; ~1e7 expected at 35,000) and each shift-and-invert step is a pair of
triangular solves.

Couplings are evaluated with a Rellich identity instead of the raw boundary derivatives: for Dirichlet eigenfunctions
and the field ``V`` radial from the vertex opposite the coupled edge (``V_L = (x - (L, L))/L``, ``V_R = x/L``, so
``V.n = 1`` on that edge and 0 on the other two),

    <i|P_L|j> = (2 m1 / 3) [ (E_i - E_j) int psi_j V_L.grad psi_i + (2 E_i / L) delta_ij ],

and likewise for P_R with m2 and V_R. The domain integral is stable under the Galerkin error (the boundary trace of
the normal derivative converges more slowly); the boundary form is computed too and their difference is reported in
``meta["coupling_formula_diff"]``. In a degenerate multiplet the identity makes each block of P a multiple of the
identity, which is the basis-invariant statement of the analytic equal-mass result.

Error control: every solve is done at two degrees ``p < p_fine``; the returned states are those of ``p_fine`` and the
per-state error estimate is the coarse-fine difference (energies relative; couplings relative to ``sqrt(P_ii P_jj)``,
the Cauchy-Schwarz bound of ``|P_ij|`` (P is positive semidefinite), after
aligning the coarse eigenvectors to the fine ones, with a Procrustes rotation inside near-degenerate clusters).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla

from mpiheat.numerics.parallel import get_comm
from mpiheat.quantum.operators.spectrum import Spectrum
from mpiheat.quantum.twoparticle.sparse import n_modes
from mpiheat.quantum.twoparticle.spectral import TriangleBasis, basis_values, triangle_basis

__all__ = ["analytic_equal_mass_spectrum", "two_particle_spectrum", "equal_mass_pairs", "degenerate_blocks",
           "UnconvergedError", "FIG5_MASSES",
           "TriangleSolution", "solve_triangle", "default_degree", "solver_columns"]


#: The Letter's Fig. 5 masses (m1, m2).
FIG5_MASSES = (1.0, math.sqrt(2.0))


class UnconvergedError(RuntimeError):
    """Requested states whose estimated discretisation error exceeds the tolerance."""


# ---------------------------------------------------------------------------------------------------------------
# Equal masses: exact
# ---------------------------------------------------------------------------------------------------------------

def equal_mass_pairs(n_states: int, *, on_split: str = "extend") -> np.ndarray:
    """Quantum numbers (a, b), a < b, of the lowest two-fermion-like states, ordered by ``a^2 + b^2`` then ``a``.

    A truncation inside a degenerate multiplet (e.g. ``1^2 + 8^2 = 4^2 + 7^2``) is never made: with
    ``on_split="extend"`` the list is extended to the end of the multiplet, with ``"raise"`` a ValueError is raised.
    """
    if int(n_states) != n_states or n_states < 1:
        raise ValueError(f"n_states must be a positive integer, got {n_states!r}")
    if on_split not in ("extend", "raise"):
        raise ValueError(f"on_split must be 'extend' or 'raise', got {on_split!r}")
    n = int(n_states)
    # all pairs with a^2 + b^2 <= R2 where R2 certainly holds n + (one multiplet) states: count ~ pi R2 / 8
    R2 = int(8.0 * (n + 10) / math.pi + 8.0 * math.sqrt(n + 10) + 50)
    while True:
        bmax = int(math.isqrt(R2)) + 1
        pairs = [(a * a + b * b, a, b) for a in range(1, bmax) for b in range(a + 1, bmax + 1) if a * a + b * b <= R2]
        pairs.sort()
        # the shell at R2 may be incomplete only if it is the last one; require a strictly larger key after n
        keys = [k for k, _, _ in pairs]
        if len(pairs) > n and keys[-1] > keys[n]:
            break
        R2 *= 2
    stop = n
    while stop < len(keys) and keys[stop] == keys[n - 1]:
        stop += 1
    if stop != n and on_split == "raise":
        raise ValueError(f"truncation at {n} states splits the degenerate multiplet a^2+b^2 = {keys[n - 1]} "
                         f"(complete multiplets end at {stop})")
    return np.array([(a, b) for _, a, b in pairs[:stop]], dtype=np.int64)


def analytic_equal_mass_spectrum(n_states: int, mass: float = 1.0, length: float = 1.0, *,
                                 on_split: str = "extend") -> Spectrum:
    """Exact spectrum of two equal hard-core masses (SPEC §4).

    ``psi_ab = u_a(x1) u_b(x2) - u_b(x1) u_a(x2)`` (a < b), ``E = (a^2 + b^2) pi^2 / (2 m L^2)``,
    ``<ab|P_L|cd> = (2 pi^2 / 3 L^3) [ac d_bd - ad d_bc - bc d_ad + bd d_ac]`` and P_R the same with every index n
    replaced by ``(-1)^n n``. Integer keys ``keys[i, j] = (a_j^2 + b_j^2) - (a_i^2 + b_i^2)``, scale
    ``pi^2 / (2 m L^2)``.

    Parameters
    ----------
    n_states : int
        Requested number of states. A multiplet is never split: ``on_split="extend"`` (default) returns the few
        extra states that complete it (``meta["n_requested"]`` keeps the request), ``"raise"`` raises ValueError.
    """
    ab = equal_mass_pairs(n_states, on_split=on_split)
    a, b = ab[:, 0], ab[:, 1]
    k = a * a + b * b
    scale = math.pi**2 / (2.0 * mass * length**2)
    c0 = 2.0 * math.pi**2 / (3.0 * length**3)

    def coupling(sa, sb):
        A, B = sa.astype(float), sb.astype(float)
        d = lambda u, v: (u[:, None] == v[None, :]).astype(float)  # noqa: E731
        return c0 * (np.outer(A, A) * d(b, b) - np.outer(A, B) * d(b, a) - np.outer(B, A) * d(a, b)
                     + np.outer(B, B) * d(a, a))

    sgn_a = np.where(a % 2 == 0, 1, -1) * a
    sgn_b = np.where(b % 2 == 0, 1, -1) * b
    P_L = coupling(a, b)
    P_R = coupling(sgn_a, sgn_b)
    return Spectrum(E=scale * k.astype(float), P_L=P_L, P_R=P_R, keys=k[None, :] - k[:, None], scale=scale,
                    meta={"model": "two_particle", "method": "analytic", "masses": [float(mass), float(mass)],
                          "length": float(length), "n_requested": int(n_states), "n_states": int(len(k)),
                          "pairs": ab.tolist()})


def degenerate_blocks(E: np.ndarray, rtol: float) -> list[np.ndarray]:
    """Index blocks of consecutive levels (ascending E) whose neighbouring gaps are below ``rtol * |E|``."""
    E = np.asarray(E, dtype=float)
    blocks, start = [], 0
    for k in range(1, E.size + 1):
        if k == E.size or E[k] - E[k - 1] > rtol * max(abs(E[k]), abs(E[k - 1])):
            blocks.append(np.arange(start, k))
            start = k
    return blocks


# ---------------------------------------------------------------------------------------------------------------
# General masses: spectral Galerkin on the triangle
# ---------------------------------------------------------------------------------------------------------------

def default_degree(n_states: int, masses=(1.0, 1.0)) -> int:
    """Polynomial degree expected to resolve the lowest ``n_states`` to ~1e-9 (measured at m2/m1 = sqrt(2): degree 40
    / 50 give 1e-4 / 1e-10 for 100 states, 60 / 70 give 7e-8 / 3e-11 for 200); the anisotropy factor covers the
    finer oscillation along the lighter coordinate. The adaptive loop raises it when the estimate is not met."""
    ratio = max(masses) / min(masses)
    return int(math.ceil((4.8 * math.sqrt(n_states) + 3.0) * ratio**0.125))


def _solve(basis: TriangleBasis, m1: float, m2: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    H = basis.K1 / (2.0 * m1) + basis.K2 / (2.0 * m2)
    E, C = sla.eigh(H, subset_by_index=[0, min(n, basis.n) - 1], driver="evr")
    return E, C


def _couplings(basis: TriangleBasis, E: np.ndarray, C: np.ndarray, m1: float, m2: float):
    """Rellich (domain-integral) and boundary-trace couplings on the unit length."""
    out = []
    for G, m in ((basis.G_L, m1), (basis.G_R, m2)):
        X = C.T @ G.T @ C  # X[i, j] = int psi_j V.grad psi_i
        P = (2.0 * m / 3.0) * ((E[:, None] - E[None, :]) * X + np.diag(2.0 * E))
        out.append(0.5 * (P + P.T))
    for edge in ("L", "R"):
        P = basis.boundary_form(C, edge) / 3.0
        out.append(0.5 * (P + P.T))
    return out  # P_L, P_R, P_L_boundary, P_R_boundary


@dataclass(frozen=True)
class TriangleSolution:
    """Eigenpairs at one polynomial degree on the unit length (L = 1), with both coupling formulas.

    ``C[:, k]`` are the coefficients of eigenfunction k in ``basis`` (orthonormal basis, so ``C.T @ C = 1``).
    """

    degree: int
    masses: tuple[float, float]
    E: np.ndarray
    C: np.ndarray
    P_L: np.ndarray
    P_R: np.ndarray
    P_L_boundary: np.ndarray
    P_R_boundary: np.ndarray
    basis: TriangleBasis

    def values(self, x1, x2) -> np.ndarray:
        """Eigenfunction values ``psi_k(x1, x2)`` at points of the unit triangle, shape (n_states, n_points)."""
        return self.C.T @ basis_values(self.degree, x1, x2)

    def as_columns(self) -> dict[str, float | int | bool | str]:
        return {"degree": int(self.degree), "n_basis": int(self.basis.n), "n_states": int(self.E.size),
                "m1": float(self.masses[0]), "m2": float(self.masses[1]),
                "mass_matrix_deviation": float(self.basis.mass_deviation)}


def solve_triangle(degree: int, n_states: int, masses=FIG5_MASSES) -> TriangleSolution:
    """Lowest ``n_states`` eigenpairs at polynomial degree ``degree`` on the unit length (no error control)."""
    m1, m2 = (float(m) for m in masses)
    basis = triangle_basis(int(degree))
    E, C = _solve(basis, m1, m2, int(n_states))
    PL, PR, PLb, PRb = _couplings(basis, E, C, m1, m2)
    return TriangleSolution(int(degree), (m1, m2), E, C, PL, PR, PLb, PRb, basis)


def _align(C_coarse: np.ndarray, C_fine: np.ndarray, blocks: list[np.ndarray]) -> np.ndarray:
    """Orthogonal matrix R (block diagonal over ``blocks``) with ``C_coarse @ R`` closest to ``C_fine``."""
    O = C_coarse.T @ C_fine
    R = np.zeros_like(O)
    for blk in blocks:
        U, _, Vt = np.linalg.svd(O[np.ix_(blk, blk)])
        R[np.ix_(blk, blk)] = U @ Vt
    return R


def _have_petsc() -> bool:
    """Whether the sparse distributed solver can run: petsc4py/slepc4py are installed (an optional extra) and PETSc
    has MUMPS, whose Cholesky inertia counts the levels in each window (a PETSc built from PyPI without Fortran has
    none: README "Installing")."""
    import importlib.util

    if not all(importlib.util.find_spec(m) is not None for m in ("petsc4py", "slepc4py")):
        return False
    from petsc4py import PETSc

    return bool(PETSc.Sys.hasExternalPackage("mumps"))


def two_particle_spectrum(n_states: int, masses=FIG5_MASSES, length: float = 1.0, *,
                          method: str = "auto", resolution: int | None = None, tol: float = 1e-8,
                          allow_unconverged: bool = False, max_degree: int | None = None,
                          cluster_rtol: float = 1e-7, comm=None, petsc_options: dict | None = None) -> Spectrum:
    """Lowest eigenpairs of two hard-core particles of masses (m1, m2) and their bath couplings (SPEC §4).

    Parameters
    ----------
    n_states : int
        Number of states requested (never splits a (near-)degenerate cluster: extended to its end, see
        ``meta["n_requested"]``).
    masses : (float, float)
        ``(m1, m2)``; particle 1 touches bath L, particle 2 bath R.
    length : float
        Box length L.
    method : {"auto", "sparse", "spectral"}
        ``"auto"`` (default): ``"sparse"`` when petsc4py and slepc4py can be imported (they are an optional extra),
        ``"spectral"`` otherwise. ``"sparse"``: the same polynomial space in the sparse integrated-Jacobi basis
        (:mod:`mpiheat.quantum.twoparticle.sparse`), assembled by rows on every rank of ``comm`` and solved by SLEPc
        spectrum slicing with MUMPS shift-and-invert (:mod:`mpiheat.quantum.twoparticle.distributed`); memory per rank
        falls with the number of ranks. ``"spectral"``: the orthonormal basis with a dense ``eigh`` on rank 0
        (the original solver; practical up to a few hundred states).
    resolution : int, optional
        Polynomial degree p of the coarse solve (the fine one uses ``p + max(8, p // 6)``, ``p + max(8, p // 16)``
        for ``"sparse"``). Default: from
        :func:`default_degree`, raised automatically (up to ``max_degree``) until all states meet ``tol``.
    tol : float
        Maximum estimated error per state: relative for the energy; for the couplings of row i, the largest
        ``|dP_ij| / sqrt(P_ii P_jj)`` (the Cauchy-Schwarz scale of the entry).
    allow_unconverged : bool
        Return states beyond ``tol`` instead of raising :class:`UnconvergedError` (their errors are in meta).
    cluster_rtol : float
        Relative gap below which levels are treated as one degenerate cluster (alignment, truncation).
    max_degree : int, optional
        Upper limit of the adaptive degree (default 140 for ``"spectral"``, 420 for ``"sparse"``).
    comm : mpi4py communicator, optional
        ``"sparse"``: all ranks of ``comm`` share the work and must call collectively; ``"spectral"``: the dense
        solve runs on rank 0 and the result is broadcast. ``None`` means COMM_WORLD. Every rank returns the same
        Spectrum.
    petsc_options : dict, optional
        Extra options for the sparse solve (prefix ``tp_`` added when missing), e.g. ``{"eps_view": ""}``.

    Returns
    -------
    Spectrum
        ``keys`` are exact integers ``a^2 + b^2`` differences for equal masses (identified from the computed
        levels), None otherwise. ``meta`` holds the discretisation, ``err_E``, ``err_P``, ``err`` (per state),
        timings and health numbers.
    """
    if method not in ("auto", "spectral", "sparse"):
        raise ValueError(f"unknown method {method!r} (available: 'auto', 'sparse', 'spectral')")
    if method == "auto":
        method = "sparse" if _have_petsc() else "spectral"
    if int(n_states) != n_states or n_states < 1:
        raise ValueError(f"n_states must be a positive integer, got {n_states!r}")
    m1, m2 = (float(m) for m in masses)
    if not (m1 > 0 and m2 > 0 and length > 0):
        raise ValueError(f"masses and length must be positive, got masses={masses!r}, length={length!r}")
    comm = get_comm(comm)
    if method == "sparse":
        return _two_particle_sparse(int(n_states), m1, m2, float(length), resolution, float(tol),
                                    bool(allow_unconverged), int(max_degree or 420), float(cluster_rtol), comm,
                                    petsc_options)
    max_degree = 140 if max_degree is None else max_degree
    result = None
    error = None
    if comm.Get_rank() == 0:
        try:
            result = _two_particle_rank0(int(n_states), m1, m2, float(length), resolution, float(tol),
                                         bool(allow_unconverged), int(max_degree), float(cluster_rtol))
        except Exception as exc:  # re-raised on every rank below
            error = exc
    if comm.Get_size() > 1:
        result, error = comm.bcast((result, error), root=0)
    if error is not None:
        raise error
    return result


def _two_particle_rank0(n: int, m1: float, m2: float, L: float, resolution, tol: float, allow_unconverged: bool,
                        max_degree: int, cluster_rtol: float) -> Spectrum:
    t0 = time.perf_counter()
    p = int(resolution) if resolution is not None else default_degree(n, (m1, m2))
    adaptive = resolution is None
    n_solve = n + max(8, n // 10)  # margin to complete a cluster at the cut
    history = []
    coarse = None  # (basis, E, C) reused as the coarse level when the degree is raised
    while True:
        p_fine = p + max(8, p // 6)
        if coarse is None:
            bc = triangle_basis(p)
            if bc.n < n_solve:
                if adaptive:
                    p = max(p + 4, int(math.ceil(math.sqrt(2.0 * n_solve))) + 3)
                    continue
                raise ValueError(f"resolution p={p} has only {bc.n} basis functions for {n_solve} states")
            Ec, Cc = _solve(bc, m1, m2, n_solve)
        else:
            bc, Ec, Cc = coarse
        bf = triangle_basis(p_fine)
        Ef, Cf = _solve(bf, m1, m2, n_solve)
        # truncation: extend n to the end of a cluster of the fine levels
        blocks = degenerate_blocks(Ef, cluster_rtol)
        n_out = next(int(b[-1]) + 1 for b in blocks if b[-1] >= n - 1)
        if n_out > n_solve - 1:
            raise ValueError("a degenerate cluster extends beyond the solved margin; increase n_states")
        err_E = np.abs(Ec - Ef) / np.abs(Ef)
        R = _align(bc.embed(Cc, bf), Cf, blocks)
        PLc, PRc, _, _ = _couplings(bc, Ec, Cc, m1, m2)
        PLf, PRf, PLb, PRb = _couplings(bf, Ef, Cf, m1, m2)
        k = slice(0, n_out)
        diagL, diagR = np.diag(PLf)[k], np.diag(PRf)[k]
        err_P = np.maximum(_row_errors((R.T @ PLc @ R)[k, k], PLf[k, k]),
                           _row_errors((R.T @ PRc @ R)[k, k], PRf[k, k]))
        err = np.maximum(err_E[k], err_P)
        history.append({"p": p, "p_fine": p_fine, "max_err_E": float(err_E[k].max()),
                        "max_err_P": float(err_P.max())})
        if err.max() <= tol or not adaptive or p_fine >= max_degree:
            break
        p, coarse = p_fine, (bf, Ef, Cf)
    Ef, Cf = Ef[k], Cf[:, k]
    PLf, PRf, PLb, PRb = PLf[k, k], PRf[k, k], PLb[k, k], PRb[k, k]
    bad = np.flatnonzero(err > tol)
    if bad.size and not allow_unconverged:
        raise UnconvergedError(f"{bad.size} of {n_out} states exceed tol={tol:g} (first: state {bad[0]}, estimated "
                               f"error {err[bad[0]]:.2e}) at p={p}/{p_fine}; raise max_degree/resolution or pass "
                               f"allow_unconverged=True")
    # unit length -> L
    E = Ef / L**2
    P_L, P_R = PLf / L**3, PRf / L**3
    keys, scale = _equal_mass_keys(E, m1, m2, L)
    mass_dev = max(bc.mass_deviation, bf.mass_deviation)
    meta = {
        "model": "two_particle", "method": "spectral", "masses": [m1, m2], "length": L,
        "n_requested": n, "n_states": int(n_out),
        "discretisation": f"single-triangle orthonormal polynomial Rayleigh-Ritz, total degree {p_fine} "
                          f"(n_basis={bf.n}); error estimate vs degree {p}",
        "degree": int(p_fine), "degree_coarse": int(p), "n_basis": int(bf.n),
        "err_E": err_E[k].tolist(), "err_P": err_P.tolist(), "err": err.tolist(),
        "max_err": float(err.max()), "tol": tol, "converged": bool(err.max() <= tol),
        "coupling_formula_diff": float(max(np.abs(PLb - PLf).max() / diagL.max(),
                                           np.abs(PRb - PRf).max() / diagR.max())),
        "mass_matrix_deviation": mass_dev, "history": history,
        "clusters": [b.tolist() for b in blocks if b.size > 1 and b[0] < n_out],
        "time_s": time.perf_counter() - t0,
    }
    return Spectrum(E=E, P_L=P_L, P_R=P_R, keys=keys, scale=scale, meta=meta)


def solver_columns(spectrum: Spectrum) -> dict[str, float | int | bool | str]:
    """Flat scalar health columns of a :func:`two_particle_spectrum` result (for job output and logs)."""
    m = spectrum.meta
    if m.get("method") not in ("spectral", "sparse"):
        return {"n_states": spectrum.N, "method": str(m.get("method", "")), "max_err": 0.0, "converged": True}
    return {"n_states": spectrum.N, "method": str(m["method"]), "degree": int(m["degree"]),
            "degree_coarse": int(m["degree_coarse"]), "n_basis": int(m["n_basis"]), "max_err": float(m["max_err"]),
            "max_err_E": float(np.max(m["err_E"])), "max_err_P": float(np.max(m["err_P"])),
            "converged": bool(m["converged"]), "coupling_formula_diff": float(m["coupling_formula_diff"]),
            "seconds": float(m["time_s"]),
            **({"mass_matrix_deviation": float(m["mass_matrix_deviation"])} if "mass_matrix_deviation" in m else {})}


def _equal_mass_keys(E: np.ndarray, m1: float, m2: float, L: float) -> tuple[np.ndarray | None, float]:
    """Integer Bohr-frequency keys ``k_j - k_i`` for equal masses, whose levels are integer multiples of
    ``pi^2 / (2 m L^2)`` (exact degeneracies, so the secular grouping needs no tolerance); ``(None, 1.0)`` otherwise."""
    if m1 != m2:
        return None, 1.0
    scale = math.pi**2 / (2.0 * m1 * L**2)
    kk = np.rint(E / scale)
    if np.max(np.abs(E / scale - kk) / kk) >= 1e-6:
        return None, scale
    kk = kk.astype(np.int64)
    return kk[None, :] - kk[:, None], scale


def _finish(E1: np.ndarray, PL1, PR1, PLb, PRb, L: float, m1: float, m2: float, meta: dict) -> Spectrum:
    """Unit length -> L, integer keys for equal masses, the ``coupling_formula_diff`` health number."""
    E = E1 / L**2
    keys, scale = _equal_mass_keys(E, m1, m2, L)
    if PLb is not None:
        meta["coupling_formula_diff"] = float(max(np.abs(PLb - PL1).max() / np.diag(PL1).max(),
                                                  np.abs(PRb - PR1).max() / np.diag(PR1).max()))
    return Spectrum(E=E, P_L=PL1 / L**3, P_R=PR1 / L**3, keys=keys, scale=scale, meta=meta)


def _row_errors(Pc: np.ndarray, Pf: np.ndarray, chunk: int = 512) -> np.ndarray:
    """Per-state coupling error ``max_b |Pc_ab - Pf_ab| / sqrt(Pf_aa Pf_bb)`` (row by row block, no n x n temporary).

    Why this scale: P is a Gram matrix of boundary traces (positive semidefinite), so ``|P_ab| <= sqrt(P_aa P_bb)``
    is the natural size of an entry, symmetric in (a, b). Measuring row a against ``P_aa`` alone judged the far
    off-diagonal entries of the low states (``P_0b``, E_b ~ 1e4) against the smallest diagonal, where the Rellich
    form's factor ``E_a - E_b`` amplifies the eigensolver's last digits (measured at 1000 states, p = 150/168:
    err_E 6e-13 but "err_P" 3.7e-8 in row 0, never decreasing with the degree, so the adaptive loop ran away).
    """
    d = np.sqrt(np.diag(Pf))
    n = d.size
    out = np.empty(n)
    for a0 in range(0, n, chunk):
        a1 = min(n, a0 + chunk)
        blk = np.abs(Pc[a0:a1] - Pf[a0:a1])
        blk /= d[a0:a1, None]
        blk /= d[None, :]
        out[a0:a1] = blk.max(axis=1)
    return out


def _stalled(history: list[dict]) -> bool:
    """Whether the last raise of the degree failed to halve the largest estimated error (a precision floor, e.g. the
    eigensolver's last digits amplified by ``E_a - E_b`` in the Rellich couplings; raising the degree further only
    costs time and memory, measured at 1000 states before the block Rayleigh-Ritz: 3.7e-8 -> 3.2e-8 on the old
    scale, then a runaway)."""
    if len(history) < 2:
        return False
    old, new = history[-2], history[-1]
    return max(new["max_err_E"], new["max_err_P"]) > 0.5 * max(old["max_err_E"], old["max_err_P"])


def _rotate(P: np.ndarray, R: list, inplace: bool = False) -> np.ndarray:
    """``R^T P R`` for a block-diagonal orthogonal R given as (block, matrix) pairs (mostly 1x1 signs)."""
    Q = P if inplace else P.copy()
    for b, Rb in R:
        Q[:, b] = Q[:, b] @ Rb
    for b, Rb in R:
        Q[b, :] = Rb.T @ Q[b, :]
    return Q


def _two_particle_sparse(n: int, m1: float, m2: float, L: float, resolution, tol: float, allow_unconverged: bool,
                         max_degree: int, cluster_rtol: float, comm, petsc_options) -> Spectrum:
    """Two-resolution sparse solve on all ranks of ``comm`` (see :func:`two_particle_spectrum`)."""
    from mpiheat.quantum.twoparticle.distributed import _stage, align_levels, level_couplings, solve_level

    t0 = time.perf_counter()
    adaptive = resolution is None
    # margin to complete a cluster at the cut (clusters are pairs for unequal masses, at most ~10 levels for equal
    # ones at these energies); the solver adds its own 1 % (distributed.solve_level)
    n_solve = n + max(8, n // 100)
    if resolution is not None:
        p = int(resolution)
    else:
        # ~10 modes per state suffice for 1e-8 in levels and couplings (measured, m2/m1 = sqrt 2, eigensolver
        # tolerance 1e-15, 2 ranks: 600 states at p = 108 (9.1 modes/state) reach 1.4e-9, at p = 100 (7.8) only
        # 7e-6; 1000 states at p = 143/160 (9.4) 2e-10; but 3000 states need more: 9.5 modes/state (p = 247/277)
        # leave the couplings of the top states at 8.9e-6, 10.5 (p = 259/291) reach 4.3e-9 in one pass); capped by
        # the dense solver's calibrated default. The adaptive loop raises p when the estimate is not met.
        p = 3
        while n_modes(p) < 10.5 * (n + max(8, n // 20)):  # the measured rule, in its original terms
            p += 1
        p = min(p, default_degree(n, (m1, m2)))
    p = max(p, int(math.ceil(math.sqrt(2.0 * (n_solve + 2)))) + 3)
    history = []
    coarse = None

    def compress(level):
        # near-degenerate columns (looser than cluster_rtol: the coarse levels differ slightly) stay exact
        keep = [b for b in degenerate_blocks(level.E[:n_solve], max(10.0 * cluster_rtol, 1e-6)) if b.size > 1]
        level.compress(np.concatenate(keep) if keep else np.zeros(0, dtype=np.int64), comm)

    while True:
        # the fine degree only has to be clearly better than the coarse one, whose error is the estimate: near the
        # resolution limit the error falls ~1e3 per 12 degrees (3000 states: 8.9e-6 at p = 247, 4.3e-9 at 259), so
        # p // 16 (16 at p = 259) is ample and costs ~10 % less than p // 8 at the largest sizes
        p_fine = p + max(8, p // 16)
        timing = {}
        if coarse is None:
            ta = time.perf_counter()
            coarse = solve_level(p, m1, m2, n_solve, comm, petsc_options=petsc_options)
            timing["coarse_level"] = time.perf_counter() - ta
            ta = time.perf_counter()
            coarse_P = level_couplings(coarse, m1, m2, n_solve, comm)[:2]
            compress(coarse)
            timing["coarse_couplings"] = time.perf_counter() - ta
            _stage(comm, "coarse couplings, vectors compressed")
        ta = time.perf_counter()
        fine = solve_level(p_fine, m1, m2, n_solve, comm, petsc_options=petsc_options)
        timing["fine_level"] = time.perf_counter() - ta
        Ef, Ec = fine.E[:n_solve], coarse.E[:n_solve]
        blocks = degenerate_blocks(Ef, cluster_rtol)
        n_out = next(int(b[-1]) + 1 for b in blocks if b[-1] >= n - 1)
        if n_out > n_solve - 1:
            raise ValueError("a degenerate cluster extends beyond the solved margin; increase n_states")
        blocks = [b for b in blocks if b[0] < n_out]
        k = slice(0, n_out)
        err_E = np.abs(Ec - Ef)[k] / np.abs(Ef[k])
        ta = time.perf_counter()
        R = align_levels(coarse, fine, blocks, n_out, comm)
        timing["align"] = time.perf_counter() - ta
        ta = time.perf_counter()
        PLf, PRf, bdiff = level_couplings(fine, m1, m2, n_solve, comm)
        timing["fine_couplings"] = time.perf_counter() - ta
        _stage(comm, "fine couplings")
        # the coarse couplings are not needed after this comparison: rotated in place (no n x n copies)
        err_P = np.maximum(_row_errors(_rotate(coarse_P[0][k, k], R, inplace=True), PLf[k, k]),
                           _row_errors(_rotate(coarse_P[1][k, k], R, inplace=True), PRf[k, k]))
        err = np.maximum(err_E, err_P)
        history.append({"p": p, "p_fine": p_fine, "max_err_E": float(err_E.max()), "max_err_P": float(err_P.max()),
                        "seconds": time.perf_counter() - t0, "timing": timing,
                        "levels": {"coarse": dict(coarse.stats), "fine": dict(fine.stats)}})
        worst = int(np.argmax(err))
        _stage(comm, f"pass p={p}/{p_fine}: max err_E {err_E.max():.2e}, max err_P {err_P.max():.2e} at state "
                     f"{worst} (E={Ef[worst]:.6g}, gaps {np.diff(Ef[max(0, worst - 1):worst + 2]).tolist()}); "
                     f"states above tol: {np.flatnonzero(err > tol)[:20].tolist()}")
        if err.max() <= tol or not adaptive or p_fine >= max_degree or _stalled(history):
            break
        p, coarse, coarse_P = p_fine, fine, (PLf, PRf)
        del fine
        compress(coarse)
    PLf, PRf = PLf[k, k].copy(), PRf[k, k].copy()
    bad = np.flatnonzero(err > tol)
    if bad.size and not allow_unconverged:
        floor = (f"; the estimate stopped falling with the degree ({history[-2]['max_err_P']:.2e} -> "
                 f"{history[-1]['max_err_P']:.2e}): a precision floor, not discretisation, so a higher degree would "
                 f"not help" if _stalled(history) else "")
        raise UnconvergedError(f"{bad.size} of {n_out} states exceed tol={tol:g} (first: state {bad[0]}, estimated "
                               f"error {err[bad[0]]:.2e}) at p={p}/{p_fine}{floor}; raise max_degree/resolution or "
                               f"pass allow_unconverged=True")
    meta = {
        "model": "two_particle", "method": "sparse", "masses": [m1, m2], "length": L,
        "n_requested": n, "n_states": int(n_out),
        "discretisation": f"single-triangle integrated-Jacobi (sparse) Rayleigh-Ritz, total degree {p_fine} "
                          f"(n_basis={fine.stats['n_basis']}); SLEPc spectrum slicing, MUMPS shift-and-invert on "
                          f"{comm.Get_size()} rank(s); error estimate vs degree {p}",
        "degree": int(p_fine), "degree_coarse": int(p), "n_basis": int(fine.stats["n_basis"]),
        "err_E": err_E.tolist(), "err_P": err_P.tolist(), "err": err.tolist(),
        "max_err": float(err.max()), "tol": tol, "converged": bool(err.max() <= tol),
        "history": history, "ranks": int(comm.Get_size()),
        "clusters": [b.tolist() for b in blocks if b.size > 1],
        "time_s": time.perf_counter() - t0,
    }
    meta["coupling_formula_diff"] = bdiff
    return _finish(Ef[k].copy(), PLf, PRf, None, None, L, m1, m2, meta)
