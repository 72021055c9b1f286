"""Steady state of the Redfield equation (generator: :mod:`mpiheat.quantum.operators.redfield`).

The trace-constrained system (:mod:`mpiheat.quantum.operators.constraint`, scale ``s`` = the generator's largest
decay rate) is solved

* ``backend="numpy"``: by dense LU of the assembled superoperator (small N; the reference of the tests);
* ``backend="scipy"``: by preconditioned GMRES or BiCGSTAB (:attr:`SolverOptions.krylov`) on a matrix-free
  ``LinearOperator`` (O(N^3) per product, O(N^2) memory);
* ``backend="petsc"``: by PETSc KSP on a distributed shell matrix
  (:func:`mpiheat.quantum.solvers.petsc_backend.solve_redfield_shell`, options prefix ``ss_``).

The preconditioner is the secular skeleton of the same generator (:class:`SecularPreconditioner`): the exact
population block (the Pauli rate matrix) plus the exact diagonal 2x2 blocks of each coherence,
``[[d, w], [-w, d]]`` with ``d = -(M_ii + M_jj)/2`` and ``w = E_i - E_j``; it is factorised once (dense LU of N x N),
applied in O(N^2), and its solution of the right-hand side is the initial guess (the secular steady state, right to
O(gamma^2)).

Redfield is not completely positive: every solve reports the generator eigenvalue with the largest real part (zero
mode excluded; :func:`mpiheat.quantum.solvers.redfield_eigs.max_real_eigenvalue`) and the smallest eigenvalue of
rho_ss, and sets ``unphysical`` (with a logged warning) when either is positive / negative beyond round-off.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import scipy.linalg as sla
import scipy.sparse.linalg as spla

from mpiheat.numerics import compat
from mpiheat.numerics.parallel import get_comm
from mpiheat.quantum.operators.constraint import constrain_dense, constrain_product, constrained_rhs
from mpiheat.quantum.operators.lindblad import real_to_rho, rho_to_real
from mpiheat.quantum.operators.redfield import RedfieldGenerator
from mpiheat.quantum.solvers.base import SolverOptions, SteadyState, scipy_reason
from mpiheat.quantum.solvers.redfield_eigs import max_real_eigenvalue

log = logging.getLogger(__name__)

#: Krylov iteration limit when :attr:`SolverOptions.maxiter` is None.
MAXITER = 2000

#: Backends of :func:`solve_redfield`.
BACKENDS = ("numpy", "scipy", "petsc")


class _Constrained:
    """``A x = L x`` with the row of ``rho_00`` (coordinate 0) replaced by ``scale * Tr``; rhs = ``scale * e_0``."""

    def __init__(self, gen: RedfieldGenerator, scale: float = 1.0):
        self.gen = gen
        self.scale = scale

    def matvec(self, x):
        return constrain_product(self.gen.apply_real(x), x, self.gen.N, self.scale)


class SecularPreconditioner:
    """Inverse of the secular skeleton of the constrained system: Pauli block (row 0 -> trace) + coherence 2x2 blocks.

    Populations are coordinates ``0..N-1``; each coherence is the adjacent pair ``(N + 2p, N + 2p + 1)``, inverted by
    the 2x2 formula.  Set-up O(N^3) (one dense LU of N x N), application O(N^2).
    """

    def __init__(self, gen: RedfieldGenerator, scale: float = 1.0):
        N = gen.N
        self.N = N
        W = constrain_dense(gen.population_block(), N, scale)  # trace row, scaled like the constrained operator
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


def _finish(gen: RedfieldGenerator, x: np.ndarray, *, converged: str, iterations: int, method: str, backend: str,
            options: SolverOptions, eig_comm, t0: float) -> SteadyState:
    """Normalise, measure the health, run the physicality check."""
    N = gen.N
    rho = real_to_rho(x, N)
    tr = float(np.trace(rho).real)
    rho = rho / tr
    residual = float(np.linalg.norm(gen.apply_real(rho_to_real(rho))))
    J_L, J_R = gen.currents(rho)
    rho_min = float(np.linalg.eigvalsh(rho)[0])
    max_re, eig_method = float("nan"), "none"
    t_check = time.perf_counter()
    if options.redfield_check != "none":
        max_re, _, eig_method = max_real_eigenvalue(gen, method=options.redfield_check,
                                                    dense_limit=options.redfield_dense_limit, comm=eig_comm)
        if not np.isfinite(max_re):
            log.warning("Redfield eigenvalue check did not converge (%s); physicality unknown", eig_method)
    scale = gen.decay_scale
    positive = bool(rho_min >= -options.positivity_tol)
    unphysical = bool((np.isfinite(max_re) and max_re > 1e-9 * scale) or not positive)
    if unphysical:
        log.warning("Redfield regime is unphysical (N=%d, %s): max Re(lambda) = %.4g, min eig(rho_ss) = %.4g",
                    N, gen.params, max_re, rho_min)
    t_end = time.perf_counter()
    return SteadyState(rho=rho, J_L=J_L, J_R=J_R, residual=residual, residual_kind="l2(Lx)", trace=tr,
                       rho_min_eig=rho_min, converged=converged, iterations=int(iterations), method=method,
                       equation="redfield", backend=backend, solver="linear", seconds=t_end - t0,
                       seconds_solve=t_check - t0, seconds_check=t_end - t_check, max_real_eig=max_re,
                       unphysical=unphysical, eig_method=eig_method, positive=positive)


def solve_redfield(gen: RedfieldGenerator, *, backend: str = "scipy", options: SolverOptions | None = None,
                   comm=None, t0: float | None = None) -> SteadyState:
    """Steady state of a prebuilt Redfield generator, with its health and physicality check.

    :func:`mpiheat.quantum.steady_state` (``equation="redfield"``) builds the generator and calls this; call it
    directly to reuse one generator (benchmarks).

    Parameters
    ----------
    gen : RedfieldGenerator
    backend : {"numpy", "scipy", "petsc"}
        See the module docstring. With ``petsc`` the eigenvalue check's work is split over the ranks of ``comm``.
    options : SolverOptions, optional
        ``tol``, ``maxiter``, ``krylov``, ``restart``, ``petsc_options``, ``redfield_check``,
        ``redfield_dense_limit``, ``positivity_tol``.
    comm : mpi4py communicator, optional
        PETSc backend only (None = COMM_WORLD).
    t0 : float, optional
        ``time.perf_counter()`` at the start of the caller's work (generator set-up), for ``seconds_solve``.
    """
    options = SolverOptions() if options is None else options
    t0 = time.perf_counter() if t0 is None else t0
    if backend not in BACKENDS:
        raise ValueError(f"Redfield backend must be one of {BACKENDS}, got {backend!r}")
    maxiter = MAXITER if options.maxiter is None else int(options.maxiter)
    fin = dict(options=options, t0=t0, eig_comm=get_comm(comm) if backend == "petsc" else None)
    n = gen.dim
    scale = gen.decay_scale  # the trace row is scaled by it for conditioning
    b = constrained_rhs(n, scale)
    if backend == "numpy":
        A = constrain_dense(gen.assemble(), gen.N, scale)
        x = np.linalg.solve(A, b)
        return _finish(gen, x, converged="LU", iterations=1, method="redfield-dense-lu", backend="numpy", **fin)
    pre = SecularPreconditioner(gen, scale)
    if backend == "petsc":
        from mpiheat.quantum.solvers.petsc_backend import solve_redfield_shell

        x, reason, its = solve_redfield_shell(gen, pre, scale=scale, tol=options.tol, comm=comm,
                                              petsc_options=options.petsc_options, restart=options.restart,
                                              maxiter=maxiter)
        size = get_comm(comm).Get_size()
        return _finish(gen, x, converged=reason, iterations=its, method=f"redfield-shell-ksp[np={size}]",
                       backend="petsc", **fin)
    A = spla.LinearOperator((n, n), matvec=_Constrained(gen, scale).matvec, dtype=float)
    Minv = spla.LinearOperator((n, n), matvec=pre.solve, dtype=float)
    x0 = pre.solve(b)  # the secular (Pauli) steady state: the right answer to O(gamma^2)
    count = [0]

    def cb(_):
        count[0] += 1

    if options.krylov == "gmres":
        x, info = compat.gmres(A, b, x0=x0, rtol=options.tol, atol=0.0, restart=options.restart, maxiter=maxiter,
                               M=Minv, callback=cb, callback_type="pr_norm")
    else:
        x, info = compat.bicgstab(A, b, x0=x0, rtol=options.tol, atol=0.0, maxiter=maxiter, M=Minv, callback=cb)
    if info != 0:
        log.warning("Redfield %s did not converge: info=%d after %d iterations", options.krylov, info, count[0])
    return _finish(gen, x, converged=scipy_reason(info), iterations=count[0], method=f"redfield-{options.krylov}",
                   backend="scipy", **fin)
