"""Bloch-Redfield generator without secular approximation (SPEC §3, Letter End Matter Eq. B1).

Per bath alpha, with ``(S_a)_ij = Gamma_a(E_j - E_i) (P_a)_ij``,

    R_a(rho) = 1/2 [S_a rho P_a - P_a S_a rho + P_a rho S_a^T - rho S_a^T P_a],

``Gamma(w > 0) = J(w)(1 + n(w))``, ``Gamma(w < 0) = J(|w|) n(|w|)``, ``Gamma(0) = 0`` (no Lamb shift), and the
generator is ``L(rho) = -i[H, rho] + R_L(rho) + R_R(rho)``.  ``S_a``, ``P_a`` are real, so for Hermitian ``rho``

    R(rho) = C + C^dagger,   C = 1/2 (sum_a S_a rho P_a - M rho),   M = sum_a P_a S_a,

which is what :meth:`RedfieldGenerator.apply_real` evaluates: a handful of real N x N matrix products, O(N^3) time
and O(N^2) memory per application (the tensor, O(N^4) memory, is never formed except by :meth:`assemble` for small N).

Real representation: the N^2 real coordinates of :mod:`.lindblad` (``rho_to_real``/``real_to_rho``):
the populations ``rho_aa`` first, then ``(Re rho_ij, Im rho_ij)`` for each pair i < j in row-major order.

Steady state: the trace-constrained system (row of ``Re rho_00`` replaced by the trace functional) is solved by
preconditioned GMRES on a matrix-free operator (scipy) or by PETSc KSP on a shell matrix (:func:`redfield_steadystate`).
The preconditioner is the secular skeleton of the same generator: the exact population block (the Pauli rate
matrix) plus the exact diagonal 2x2 blocks of each coherence, ``[[d, w], [-w, d]]`` with ``d = -(M_ii + M_jj)/2`` and
``w = E_i - E_j``; it is factorised once (dense LU of N x N) and applied in O(N^2).

Redfield is not completely positive: :func:`redfield_steadystate` always reports the generator eigenvalue with the
largest real part (zero mode excluded) and the smallest eigenvalue of rho_ss, sets ``unphysical`` and logs a warning
when either is positive / negative beyond round-off.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import scipy.linalg as sla
import scipy.sparse.linalg as spla

from mpiheat.numerics import compat
from mpiheat.numerics.parallel import get_comm
from mpiheat.quantum.operators.lindblad import real_to_rho, rho_to_real
from mpiheat.quantum.operators.spectrum import Spectrum, bose, spectral_density
from mpiheat.quantum.solvers.steadystate import SteadyState

log = logging.getLogger(__name__)

__all__ = [
    "RedfieldGenerator",
    "RedfieldSteadyState",
    "redfield_generator",
    "redfield_steadystate",
    "redfield_rates",
    "max_real_eigenvalue",
    "petsc_redfield_solve",
]

#: PETSc options prefix of the Redfield KSP (``-redfield_ksp_*``).
PETSC_PREFIX = "redfield_"


# --------------------------------------------------------------------------------------------------------------------
# real representation (the layout of mpiheat.quantum.operators.lindblad: populations, then (Re, Im) of each pair i < j)
# --------------------------------------------------------------------------------------------------------------------
def _unpack_xy(x: np.ndarray, N: int) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates -> (X symmetric, Y antisymmetric) real matrices with rho = X + iY."""
    iu, ju = np.triu_indices(N, 1)
    X = np.zeros((N, N))
    Y = np.zeros((N, N))
    d = np.arange(N)
    X[d, d] = x[:N]
    X[iu, ju] = X[ju, iu] = x[N::2]
    Y[iu, ju] = x[N + 1::2]
    Y[ju, iu] = -x[N + 1::2]
    return X, Y


def _pack_xy(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    N = X.shape[0]
    iu, ju = np.triu_indices(N, 1)
    x = np.empty(N * N)
    x[:N] = np.diagonal(X)
    x[N::2] = X[iu, ju]
    x[N + 1::2] = Y[iu, ju]
    return x


def trace_functional(N: int) -> np.ndarray:
    """Real vector t with ``t @ rho_to_real(rho) == Tr rho`` (the populations come first)."""
    t = np.zeros(N * N)
    t[:N] = 1.0
    return t


# --------------------------------------------------------------------------------------------------------------------
# generator
# --------------------------------------------------------------------------------------------------------------------
def redfield_rates(spectrum: Spectrum, T: float, *, gamma: float, eta: float, omega_c: float = 1.0) -> np.ndarray:
    """Matrix ``G[i, j] = Gamma(E_j - E_i)`` of one bath at temperature ``T`` (Eq. B1; ``Gamma(0) = 0``).

    Bohr frequencies come from the exact integer keys when the spectrum has them, so ``E_j = E_i`` gives exactly 0.
    """
    w = spectrum.gaps()
    aw = np.abs(w)
    Jw = spectral_density(aw, gamma, eta, omega_c)
    with np.errstate(over="ignore"):  # exp(w/T) overflow -> n = 0, which is exact to double precision
        n = bose(aw, T)
    return np.where(w > 0, Jw * (1.0 + n), np.where(w < 0, Jw * n, 0.0))


@dataclass(frozen=True, eq=False)
class RedfieldGenerator:
    """Matrix-free Redfield generator ``L = -i[H, .] + R_L + R_R`` (Eq. B1) of one spectrum and bath pair.

    Attributes
    ----------
    E : ndarray (N,)
        Levels.
    P : ndarray (2, N, N)
        Coupling operators (left, right).
    S : ndarray (2, N, N)
        ``S_a = G_a * P_a`` (elementwise), ``G_a[i, j] = Gamma_a(E_j - E_i)``.
    M : ndarray (2, N, N)
        ``M_a = P_a S_a``.
    """

    E: np.ndarray
    P: np.ndarray
    S: np.ndarray
    M: np.ndarray
    params: dict = field(default_factory=dict)

    @property
    def N(self) -> int:
        return int(self.E.shape[0])

    @property
    def dim(self) -> int:
        return self.N * self.N

    @cached_property
    def M_total(self) -> np.ndarray:
        """``M = sum_a P_a S_a`` (N x N), used by every product; computed once per generator."""
        return self.M.sum(axis=0)

    @property
    def decay_scale(self) -> float:
        """Largest total decay rate ``max_i |M_ii|`` (1 if all vanish): the scale of the dissipator."""
        s = float(np.abs(np.einsum("aii->i", self.M)).max())
        return s if s > 0 else 1.0

    # -- complex form, literally Eq. B1 (reference implementation, used by the tests) ---------------------------------
    def dissipator(self, rho: np.ndarray, bath: int) -> np.ndarray:
        """``R_bath(rho)`` for a general complex N x N ``rho``, written term by term as in Eq. B1."""
        S, P = self.S[bath], self.P[bath]
        Sd = S.conj().T
        return 0.5 * (S @ rho @ P - P @ S @ rho + P @ rho @ Sd - rho @ Sd @ P)

    def apply(self, rho: np.ndarray) -> np.ndarray:
        """``L(rho)`` for a complex N x N matrix (reference form; O(N^3))."""
        rho = np.asarray(rho, dtype=complex)
        out = -1j * (self.E[:, None] - self.E[None, :]) * rho
        return out + self.dissipator(rho, 0) + self.dissipator(rho, 1)

    # -- real representation, fast form -------------------------------------------------------------------------------
    def apply_xy(self, X: np.ndarray, Y: np.ndarray, rows: slice | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``L(X + iY)`` as (Re, Im) for symmetric X, antisymmetric Y; only output ``rows`` if given (MPI split).

        Uses ``R(rho) = C + C^dagger`` with ``C = (S_L rho P_L + S_R rho P_R - M rho) / 2`` (real S, P, M), so
        Re R = C_X + C_X^T and Im R = C_Y - C_Y^T.  With ``rows`` the rows of ``C`` and of ``C^dagger`` are formed
        directly, at cost O(len(rows) N^2).
        """
        S, P, M = self.S, self.P, self.M_total
        Z = np.stack([X, Y])  # (2, N, N): the same real operator acts on X and on Y
        if rows is None:
            C = (S[0] @ Z) @ P[0]
            C += (S[1] @ Z) @ P[1]
            C -= M @ Z
            C *= 0.5
            CT = np.swapaxes(C, 1, 2)
            RX = C[0] + CT[0]
            RY = C[1] - CT[1]
            w = self.E[:, None] - self.E[None, :]
            return RX + w * Y, RY - w * X
        # rows of C = 1/2 (S_a[rows] Z P_a - M[rows] Z); D = 1/2 (P_a Z S_a^T - Z M^T) equals C_X^T for Z = X and
        # -C_Y^T for Z = Y (Y^T = -Y), so rows of C + D are rows of Re R and Im R directly.
        C = (S[0][rows] @ Z) @ P[0]
        C += (S[1][rows] @ Z) @ P[1]
        C -= M[rows] @ Z
        C += (P[0][rows] @ Z) @ S[0].T
        C += (P[1][rows] @ Z) @ S[1].T
        C -= Z[:, rows, :] @ M.T
        R = 0.5 * C
        w = self.E[rows, None] - self.E[None, :]
        return R[0] + w * Y[rows], R[1] - w * X[rows]

    def apply_real(self, x: np.ndarray) -> np.ndarray:
        """Generator on the N^2 real coordinates (O(N^3), O(N^2) memory)."""
        X, Y = _unpack_xy(np.asarray(x, dtype=float), self.N)
        RX, RY = self.apply_xy(X, Y)
        return _pack_xy(RX, RY)

    def assemble(self) -> np.ndarray:
        """Dense real-representation superoperator (N^2 x N^2), column by column; only for small N (cross-checks)."""
        if self.N > 60:
            raise ValueError(f"assemble() is dense O(N^4) memory; N = {self.N} is too large")
        n = self.dim
        out = np.empty((n, n))
        e = np.zeros(n)
        for k in range(n):
            e[k] = 1.0
            out[:, k] = self.apply_real(e)
            e[k] = 0.0
        return out

    # -- observables -----------------------------------------------------------------------------------------------
    def currents(self, rho: np.ndarray) -> tuple[float, float]:
        """Heat currents ``J_L = Tr[R_L(rho) H]``, ``J_R = -Tr[R_R(rho) H]`` for Hermitian ``rho`` (O(N^3))."""
        rho = np.asarray(rho, dtype=complex)
        out = []
        for a in range(2):
            # diag R_a(rho) = Re diag(S rho P) - Re diag(M rho) for Hermitian rho
            d = np.einsum("ij,ji->i", self.S[a] @ rho, self.P[a]) - np.einsum("ij,ji->i", self.M[a], rho)
            # Tr R_a(rho) = 0, so E - E_0 gives the same value with less cancellation
            out.append(float(np.dot(self.E - self.E[0], d.real)))
        return out[0], -out[1]

    # -- secular skeleton used as preconditioner ---------------------------------------------------------------------
    def population_block(self) -> np.ndarray:
        """Exact population-to-population block of the generator (the Pauli rate matrix), N x N."""
        G = self.S * self.P  # G_a * P_a^2
        W = G.sum(axis=0)
        np.fill_diagonal(W, 0.0)
        out_rate = np.einsum("aii->i", self.M)
        return W - np.diag(out_rate)

    def coherence_diagonal(self) -> tuple[np.ndarray, np.ndarray]:
        """Exact diagonal 2x2 blocks of the coherences: ``d_ij = -(M_ii + M_jj)/2``, ``w_ij = E_i - E_j``, (i < j)."""
        m = np.einsum("aii->i", self.M)
        i, j = np.triu_indices(self.N, 1)
        return -0.5 * (m[i] + m[j]), self.E[i] - self.E[j]


def redfield_generator(spectrum: Spectrum, T_L: float, T_R: float, *, gamma: float, eta: float,
                       omega_c: float = 1.0) -> RedfieldGenerator:
    """Build the matrix-free Redfield generator of ``spectrum`` between baths at ``T_L`` and ``T_R``.

    Parameters
    ----------
    spectrum : Spectrum
        Levels and (real symmetric) coupling operators in the eigenbasis.
    T_L, T_R : float
        Bath temperatures.
    gamma, eta, omega_c : float
        Spectral function ``J(w) = gamma omega_c^(1-eta) w^eta``.
    """
    P = np.stack([np.asarray(spectrum.P_L, dtype=float), np.asarray(spectrum.P_R, dtype=float)])
    G = np.stack([redfield_rates(spectrum, T, gamma=gamma, eta=eta, omega_c=omega_c) for T in (T_L, T_R)])
    S = G * P
    M = P @ S
    return RedfieldGenerator(E=np.asarray(spectrum.E, dtype=float), P=P, S=S, M=M,
                             params=dict(T_L=float(T_L), T_R=float(T_R), gamma=float(gamma), eta=float(eta),
                                         omega_c=float(omega_c)))


# --------------------------------------------------------------------------------------------------------------------
# trace-constrained system and preconditioner
# --------------------------------------------------------------------------------------------------------------------
class _Constrained:
    """``A x = L x`` with the row of ``rho_00`` (coordinate 0) replaced by ``scale * Tr``; rhs = ``scale * e_0``."""

    def __init__(self, gen: RedfieldGenerator, scale: float = 1.0):
        self.gen = gen
        self.scale = scale

    def matvec(self, x):
        y = self.gen.apply_real(x)
        y[0] = self.scale * np.sum(x[: self.gen.N])
        return y


class SecularPreconditioner:
    """Inverse of the secular skeleton of the constrained system: Pauli block (row 0 -> trace) + coherence 2x2 blocks.

    Populations are coordinates ``0..N-1``; each coherence is the adjacent pair ``(N + 2p, N + 2p + 1)``, inverted by
    the 2x2 formula.  Set-up O(N^3) (one dense LU of N x N), application O(N^2).
    """

    def __init__(self, gen: RedfieldGenerator, scale: float = 1.0):
        N = gen.N
        self.N = N
        W = gen.population_block()
        W[0, :] = scale  # trace row, scaled like the constrained operator
        self.lu = sla.lu_factor(W)
        d, w = gen.coherence_diagonal()
        den = d * d + w * w
        den[den == 0] = 1.0  # a coherence with no decay and no frequency (exactly degenerate, uncoupled levels)
        self.a = d / den
        self.b = w / den

    def solve(self, r: np.ndarray) -> np.ndarray:
        r = np.asarray(r, dtype=float)
        N = self.N
        z = np.empty_like(r)
        z[:N] = sla.lu_solve(self.lu, r[:N])
        u, v = r[N::2], r[N + 1::2]
        # [[d, w], [-w, d]]^-1 = [[d, -w], [w, d]] / (d^2 + w^2)
        z[N::2] = self.a * u - self.b * v
        z[N + 1::2] = self.b * u + self.a * v
        return z


# --------------------------------------------------------------------------------------------------------------------
# spectrum of the generator (physicality)
# --------------------------------------------------------------------------------------------------------------------
def max_real_eigenvalue(gen: RedfieldGenerator, *, method: str = "auto", dense_limit: int = 40,
                        comm=None, **kw) -> tuple[float, complex, str]:
    """Eigenvalue of the generator with the largest real part, the zero (steady-state) mode excluded.

    Dense ``eigvals`` of the assembled superoperator for ``N <= dense_limit`` (or ``method="dense"``); otherwise the
    frequency-cluster approximation refined by Jacobi-Davidson on the matrix-free operator, preconditioned by the
    shifted secular skeleton (:func:`mpiheat.quantum.solvers.redfield_eigs.rightmost_eigenvalues`, O(N^2) memory; with
    ``comm`` its work is split over the ranks).

    Returns
    -------
    (max_real, eigenvalue, method) : float, complex, str
        ``max_real`` is finite; ``method`` ends in ``:not-converged`` if the refinement stalled above its acceptance
        residual (the value is then a Rayleigh quotient).
    """
    from mpiheat.quantum.solvers.redfield_eigs import rightmost_eigenvalues

    rep = rightmost_eigenvalues(gen, method=method, dense_limit=dense_limit, comm=comm, **kw)
    return rep.max_real, rep.eigenvalue, rep.method


# --------------------------------------------------------------------------------------------------------------------
# steady state
# --------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RedfieldSteadyState(SteadyState):
    """Redfield steady state: :class:`~mpiheat.quantum.solvers.steadystate.SteadyState` plus the physicality report.

    ``residual`` is ``||L(x)||_2`` over the N^2 real coordinates x of rho (``residual_kind = "l2(Lx)"``);
    ``max_real_eig`` is the largest real part among the generator's non-zero eigenvalues (NaN only if not computed,
    see ``eig_method``); ``unphysical`` is True when it is positive (beyond 1e-9 times the largest decay rate) or
    when ``rho_min_eig < -positivity_tol``.  ``seconds_solve`` is the steady state (generator set-up, solve,
    observables), ``seconds_check`` the eigenvalue check; ``seconds`` is their sum.
    """

    max_real_eig: float = float("nan")
    unphysical: bool = False
    eig_method: str = "none"
    seconds_solve: float = float("nan")
    seconds_check: float = 0.0

    def as_columns(self) -> dict[str, float | int | bool | str]:
        cols = super().as_columns()
        cols.update({"max_real_eig": float(self.max_real_eig), "unphysical": bool(self.unphysical),
                     "eig_method": self.eig_method, "seconds_solve": float(self.seconds_solve),
                     "seconds_check": float(self.seconds_check)})
        return cols


def _finish(gen: RedfieldGenerator, x: np.ndarray, *, converged: str, iterations: int, method: str, backend: str,
            check_eigs: bool | str, eig_kw: dict, t0: float, positivity_tol: float) -> RedfieldSteadyState:
    N = gen.N
    rho = real_to_rho(x, N)
    tr = float(np.trace(rho).real)
    rho = rho / tr
    residual = float(np.linalg.norm(gen.apply_real(rho_to_real(rho))))
    J_L, J_R = gen.currents(rho)
    rho_min = float(np.linalg.eigvalsh(rho)[0])
    max_re, eig_method = float("nan"), "none"
    t_check = time.perf_counter()
    if check_eigs:
        max_re, _, eig_method = max_real_eigenvalue(gen, **eig_kw)
        if not np.isfinite(max_re):
            log.warning("Redfield eigenvalue check did not converge (%s); physicality unknown", eig_method)
    scale = gen.decay_scale
    unphysical = bool((np.isfinite(max_re) and max_re > 1e-9 * scale) or rho_min < -positivity_tol)
    if unphysical:
        log.warning("Redfield regime is unphysical (N=%d, %s): max Re(lambda) = %.4g, min eig(rho_ss) = %.4g",
                    N, gen.params, max_re, rho_min)
    return RedfieldSteadyState(rho=rho, J_L=J_L, J_R=J_R, residual=residual, residual_kind="l2(Lx)", trace=tr,
                               rho_min_eig=rho_min, converged=converged, iterations=int(iterations), method=method,
                               equation="redfield", backend=backend, seconds=time.perf_counter() - t0,
                               max_real_eig=max_re, unphysical=unphysical, eig_method=eig_method,
                               seconds_solve=t_check - t0, seconds_check=time.perf_counter() - t_check)


def redfield_steadystate(spectrum: Spectrum | RedfieldGenerator, T_L: float | None = None, T_R: float | None = None,
                         *, gamma: float | None = None, eta: float | None = None, omega_c: float = 1.0,
                         backend: str = "scipy", solver: str = "gmres", tol: float = 1e-12, restart: int = 60,
                         maxiter: int = 2000, check_eigs: bool | str = "auto", eig_dense_limit: int = 40,
                         comm=None, petsc_options: str | dict | None = None, positivity_tol: float = 1e-10,
                         x0: np.ndarray | None = None) -> RedfieldSteadyState:
    """Steady state of the Redfield equation by a preconditioned Krylov solver.

    Parameters
    ----------
    spectrum : Spectrum or RedfieldGenerator
        Model (a prebuilt generator skips the rate set-up; then T_L, T_R, gamma, eta are ignored).
    backend : {"scipy", "dense", "petsc"}
        "scipy": GMRES/BiCGSTAB on a matrix-free LinearOperator; "dense": LU of the assembled superoperator (small N);
        "petsc": KSP on a distributed shell matrix (:func:`petsc_redfield_solve`), PETSc options honoured with
        prefix ``redfield_`` (e.g. ``-redfield_ksp_type bcgs``, ``-redfield_ksp_monitor``).
    solver : {"gmres", "bicgstab"}
        Krylov method for the scipy backend (PETSc: set ``-redfield_ksp_type``).
    tol : float
        Relative residual tolerance of the constrained system.
    check_eigs : bool or {"auto", "dense", "cluster", "none"}
        Compute the largest-real-part eigenvalue of the generator. ``"auto"`` / ``True``: dense ``eigvals`` for
        ``N <= eig_dense_limit``, else the cluster + Jacobi-Davidson method of :mod:`.redfield_eigs`
        (about the cost of the solve; with the PETSc backend split over the ranks of ``comm``); ``"dense"`` /
        ``"cluster"`` force one; ``False`` / ``"none"`` skip it (then ``max_real_eig`` is NaN and only the
        positivity of rho_ss decides ``unphysical``).  Its time is reported apart, as ``seconds_check``.
    positivity_tol : float
        ``rho_min_eig < -positivity_tol`` marks the state unphysical.

    Returns
    -------
    RedfieldSteadyState
    """
    t0 = time.perf_counter()
    if isinstance(spectrum, RedfieldGenerator):
        gen = spectrum
    else:
        gen = redfield_generator(spectrum, T_L, T_R, gamma=gamma, eta=eta, omega_c=omega_c)
    if check_eigs is True:
        check_eigs = "auto"
    if check_eigs not in (False, "none", "auto", "dense", "cluster"):
        raise ValueError(f"check_eigs must be auto | dense | cluster | none, got {check_eigs!r}")
    # with the PETSc backend the cluster method's work (block eigenvalues, generator products) is split over the
    # point's ranks
    eig_kw = {"dense_limit": eig_dense_limit, "method": check_eigs,
              "comm": get_comm(comm) if backend == "petsc" else None}
    check_eigs = check_eigs not in (False, "none")
    fin = dict(check_eigs=check_eigs, eig_kw=eig_kw, t0=t0, positivity_tol=positivity_tol)
    n = gen.dim
    scale = gen.decay_scale  # the trace row is scaled by it for conditioning
    b = np.zeros(n)
    b[0] = scale
    if backend == "dense":
        A = gen.assemble()
        A[0, :] = scale * trace_functional(gen.N)
        x = np.linalg.solve(A, b)
        return _finish(gen, x, converged="LU", iterations=1, method="redfield-dense-lu", backend="numpy", **fin)
    if backend == "petsc":
        x, reason, its = petsc_redfield_solve(gen, tol=tol, comm=comm, petsc_options=petsc_options,
                                              restart=restart, maxiter=maxiter)
        size = get_comm(comm).Get_size()
        return _finish(gen, x, converged=reason, iterations=its, method=f"redfield-shell-ksp[np={size}]",
                       backend="petsc", **fin)
    if backend != "scipy":
        raise ValueError(f"unknown backend {backend!r}")
    A = spla.LinearOperator((n, n), matvec=_Constrained(gen, scale).matvec, dtype=float)
    pre = SecularPreconditioner(gen, scale)
    Minv = spla.LinearOperator((n, n), matvec=pre.solve, dtype=float)
    if x0 is None:
        x0 = pre.solve(b)  # the secular (Pauli) steady state: the right answer to O(gamma^2)
    count = [0]

    def cb(_):
        count[0] += 1

    if solver == "gmres":
        x, info = compat.gmres(A, b, x0=x0, rtol=tol, atol=0.0, restart=restart, maxiter=maxiter, M=Minv, callback=cb,
                               callback_type="pr_norm")
    elif solver == "bicgstab":
        x, info = compat.bicgstab(A, b, x0=x0, rtol=tol, atol=0.0, maxiter=maxiter, M=Minv, callback=cb)
    else:
        raise ValueError(f"unknown solver {solver!r}")
    reason = "converged" if info == 0 else (f"maxiter({info})" if info > 0 else f"breakdown({info})")
    if info != 0:
        log.warning("Redfield %s did not converge: info=%d after %d iterations", solver, info, count[0])
    return _finish(gen, x, converged=reason, iterations=count[0], method=f"redfield-{solver}", backend="scipy",
                   **fin)


# --------------------------------------------------------------------------------------------------------------------
# PETSc: KSP on a distributed shell matrix
# --------------------------------------------------------------------------------------------------------------------
class _ShellRedfield:
    """PETSc shell context: the trace-constrained generator, distributed over the ranks of ``comm``.

    Layout.  The N^2 real coordinates (lindblad ordering) are split into contiguous blocks ``block_range(N^2, P, r)``
    (PETSc's own split); that is the vector layout.  The work layout is different: rank r computes the matrix rows
    ``block_range(N, P, r)`` of ``L(rho)`` (O(N^3 / P) flops, see :meth:`RedfieldGenerator.apply_xy`).  A mult is
    therefore: Allgatherv of x (N^2 doubles) -> every rank unpacks rho; compute its rows of (Re L rho, Im L rho);
    Allgatherv of those rows (2 N^2 doubles) -> every rank packs the full result and keeps its vector block.
    Communication is O(N^2) per mult against O(N^3 / P) flops, and no rank ever holds more than O(N^2) numbers.
    The preconditioner (:class:`SecularPreconditioner`, O(N^2) per application) is applied redundantly on the
    gathered residual.
    """

    def __init__(self, gen: RedfieldGenerator, comm, scale: float):
        from mpiheat.numerics.parallel import block_range

        self.gen, self.comm, self.scale = gen, comm, scale
        size, rank = comm.Get_size(), comm.Get_rank()
        n, N = gen.dim, gen.N
        self.vec_blocks = [block_range(n, size, r) for r in range(size)]
        self.lo, self.hi = self.vec_blocks[rank]
        self.row_blocks = [block_range(N, size, r) for r in range(size)]
        self.rows = slice(*self.row_blocks[rank])
        self.vec_counts = [b - a for a, b in self.vec_blocks]
        self.vec_displs = [a for a, _ in self.vec_blocks]
        self.row_counts = [2 * (b - a) * N for a, b in self.row_blocks]
        self.row_displs = [2 * a * N for a, _ in self.row_blocks]
        self.pre = SecularPreconditioner(gen, scale)
        self.n_mult = 0

    def gather(self, v) -> np.ndarray:
        """Full vector on every rank from a distributed PETSc Vec."""
        from mpi4py import MPI

        full = np.empty(self.gen.dim)
        self.comm.Allgatherv(np.ascontiguousarray(v.getArray(readonly=True)),
                             [full, self.vec_counts, self.vec_displs, MPI.DOUBLE])
        return full

    def mult(self, mat, x, y):
        from mpi4py import MPI

        N = self.gen.N
        xf = self.gather(x)
        X, Y = _unpack_xy(xf, N)
        RX, RY = self.gen.apply_xy(X, Y, rows=self.rows)
        mine = np.ascontiguousarray(np.stack([RX, RY], axis=1))  # (rows, 2, N): Re and Im rows interleaved
        full = np.empty((N, 2, N))
        self.comm.Allgatherv(mine, [full, self.row_counts, self.row_displs, MPI.DOUBLE])
        out = _pack_xy(full[:, 0, :], full[:, 1, :])
        out[0] = self.scale * xf[:N].sum()
        y.setArray(out[self.lo:self.hi])
        self.n_mult += 1

    def apply(self, pc, r, z):  # PCPYTHON hook
        z.setArray(self.pre.solve(self.gather(r))[self.lo:self.hi])


def petsc_redfield_solve(gen: RedfieldGenerator, *, tol: float = 1e-12, comm=None, petsc_options=None,
                         restart: int = 60, maxiter: int = 2000) -> tuple[np.ndarray, str, int]:
    """Solve the trace-constrained Redfield system with PETSc KSP on a shell matrix (see :class:`_ShellRedfield`).

    Defaults: GMRES(``restart``), ``rtol = tol``, ``atol = 0``, right preconditioning by the secular skeleton
    (PCPYTHON), initial guess = the secular steady state.  Options with prefix ``redfield_`` override them
    (``petsc_options``: a string of command-line options or a dict whose keys get the prefix if missing).

    Returns
    -------
    x : ndarray (N^2,)
        Real coordinates of the solution, on every rank.
    reason : str
        KSP converged reason name.
    iterations : int
    """
    from petsc4py import PETSc

    mcomm = get_comm(comm)
    if np.dtype(PETSc.ScalarType).kind != "f":
        raise ImportError(f"the Redfield PETSc backend expects real scalars, got {PETSc.ScalarType}")
    if petsc_options:
        opts = PETSc.Options()
        if isinstance(petsc_options, str):
            opts.insertString(petsc_options)
        else:
            for key, val in dict(petsc_options).items():
                key = str(key).lstrip("-")
                key = key if key.startswith(PETSC_PREFIX) else PETSC_PREFIX + key
                opts[key] = "" if val is None else str(val)
    scale = gen.decay_scale  # the trace row is scaled by it for conditioning
    ctx = _ShellRedfield(gen, mcomm, scale)
    pcomm = PETSc.Comm(mcomm)
    n, nloc = gen.dim, ctx.hi - ctx.lo
    A = PETSc.Mat().createPython(((nloc, n), (nloc, n)), context=ctx, comm=pcomm)
    A.setUp()
    b = A.createVecLeft()
    x = A.createVecRight()
    bfull = np.zeros(n)
    bfull[0] = scale
    b.setArray(bfull[ctx.lo:ctx.hi])
    x.setArray(ctx.pre.solve(bfull)[ctx.lo:ctx.hi])
    ksp = PETSc.KSP().create(comm=pcomm)
    ksp.setOptionsPrefix(PETSC_PREFIX)
    ksp.setOperators(A)
    ksp.setType("gmres")
    ksp.setGMRESRestart(restart)
    ksp.setTolerances(rtol=tol, atol=0.0, max_it=maxiter)
    ksp.setInitialGuessNonzero(True)
    ksp.setPCSide(PETSc.PC.Side.RIGHT)  # the convergence test then sees the true residual of the constrained system
    pc = ksp.getPC()
    pc.setType("python")
    pc.setPythonContext(ctx)
    ksp.setFromOptions()
    try:
        ksp.solve(b, x)
        code = ksp.getConvergedReason()
        reason = next((k for k in dir(PETSc.KSP.ConvergedReason) if not k.startswith("_")
                       and getattr(PETSc.KSP.ConvergedReason, k) == code), str(code))
        its = ksp.getIterationNumber()
        xf = ctx.gather(x)
    finally:
        for obj in (ksp, A, b, x):
            obj.destroy()
    if code < 0:
        log.warning("Redfield PETSc KSP did not converge: %s after %d iterations", reason, its)
    return xf, reason, int(its)
