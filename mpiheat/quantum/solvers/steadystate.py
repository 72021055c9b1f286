"""Steady states of the quantum master equations: the functional front end :func:`steady_state` (QuTiP style) and
its one dispatch table (SPEC §3, §5).

``steady_state(problem, equation=..., backend=..., solver=..., comm=..., options=...)`` looks the pair
``(equation, backend)`` up in :data:`DISPATCH`:

=============  ========  =================================================================================
equation       backend   solver function
=============  ========  =================================================================================
``pauli``      numpy     rate equation, dense LU of the N x N trace-constrained generator (every rank)
``lindblad``   scipy     SuperLU of the trace-constrained real N^2 system (one process)
``lindblad``   petsc     distributed PETSc KSP (``linear``) or SLEPc EPS (``eigen``),
                         :mod:`~mpiheat.quantum.solvers.petsc_backend`
``redfield``   numpy     dense LU of the assembled generator (small N; a reference)
``redfield``   scipy     matrix-free GMRES/BiCGSTAB preconditioned by the secular skeleton
``redfield``   petsc     PETSc KSP on a distributed shell matrix
=============  ========  =================================================================================

``backend="auto"`` is resolved here, once (:func:`resolve_backend`): ``petsc`` when the communicator has more than one
rank and petsc4py/slepc4py import, else ``scipy``; the Pauli rate equation is an N x N problem and always runs with
``numpy`` on every rank, whatever backend is asked (so sweeps over ``equation`` can share one backend setting).

``solver`` has one meaning, the *formulation* of the steady state (:data:`SOLVERS`): ``"linear"`` solves the
trace-constrained system ``L' x = s e_0`` (:mod:`mpiheat.quantum.operators.constraint`), ``"eigen"`` finds the null
vector of L by shift-and-invert (PETSc only); ``"auto"`` is the entry's first formulation (``linear``). How the
linear system is solved is the entry's business and is tuned by :class:`SolverOptions` (``krylov`` for scipy,
``petsc_options`` such as ``-ss_ksp_type`` for PETSc).

Health is always reported (:class:`SteadyState`): residual ``||L x||_2`` of the real coordinates x of rho
(Tr rho = 1; for Pauli the rate-equation residual ``||W p||_2``), trace, smallest eigenvalue of rho and positivity,
``J_L - J_R``, the solver's converged reason (one vocabulary: :mod:`mpiheat.quantum.solvers.base`), iterations, wall
time, and for Redfield the physicality check.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.sparse.csgraph import connected_components

from mpiheat.numerics.parallel import get_comm
from mpiheat.quantum.operators.constraint import constrain_csr, constrained_rhs
from mpiheat.quantum.operators.lindblad import liouvillian_csr, real_dim, real_to_rho, transitions
from mpiheat.quantum.operators.pauli import pauli_currents, rate_matrices, solve_rates
from mpiheat.quantum.operators.redfield import redfield_generator
from mpiheat.quantum.problem import QuantumProblem
from mpiheat.quantum.solvers import petsc_backend
from mpiheat.quantum.solvers.base import SolverOptions, SteadyState, min_eig
from mpiheat.quantum.solvers.redfield_steady import solve_redfield

EQUATIONS = ("pauli", "lindblad", "redfield")
BACKENDS = ("auto", "numpy", "scipy", "petsc")
#: The one meaning of ``solver``: the formulation (see the module docstring).
SOLVERS = ("auto", "linear", "eigen")


def lindblad_currents(problem: QuantumProblem, x: np.ndarray, tr=None, *, rows: tuple[int, int] | None = None,
                      comm=None) -> tuple[float, float]:
    """``J_L = Tr[D_L(rho) H]``, ``J_R = -Tr[D_R(rho) H]`` from the population rows of the Lindblad dissipators.

    With ``rows = (r0, r1)`` (this rank's block of a distributed operator) only the population rows inside it are
    built and the partial sums are added over ``comm``: the rows are never duplicated on every rank.
    """
    N = problem.N
    lo, hi = (0, N) if rows is None else (max(int(rows[0]), 0), min(int(rows[1]), N))
    E = np.asarray(problem.spectrum.E, dtype=float)
    out = []
    for bath, s in (("L", 1.0), ("R", -1.0)):
        part = 0.0
        if hi > lo:
            D = liouvillian_csr(problem.spectrum, problem.T_L, problem.T_R, **problem.bath_kw(), rows=(lo, hi),
                                baths=bath, hamiltonian=False, tr=tr)
            # E - E_0: the same number (trace preservation), with less cancellation
            part = s * float((E[lo:hi] - E[0]) @ (D @ x))
        out.append(part)
    if comm is not None and rows is not None:
        from mpi4py import MPI

        out = [comm.allreduce(v, op=MPI.SUM) for v in out]
    return out[0], out[1]


def solve_trace_constrained(L: sp.csr_matrix, N: int, reduce: bool = True) -> tuple[np.ndarray, str]:
    """Solve ``L x = 0``, ``sum(x[:N]) = 1`` by SuperLU (real representation; see :func:`_lindblad_scipy`).

    With ``reduce`` only the weakly connected component of the sparsity graph that contains the populations is
    factorised: the other components (e.g. the secular coherence blocks of the Lindblad equation) have a zero
    right-hand side and, the steady state being unique, a nonsingular block, so their solution is exactly 0. The
    residual is always evaluated with the full operator by the caller, so a failure of that premise shows in health.

    Returns the (unnormalised) solution and a method label.
    """
    L = L.tocsr()
    dim = L.shape[0]
    s = float(np.max(np.abs(L.diagonal()))) or 1.0
    indptr, indices, data = constrain_csr(L.indptr, L.indices, L.data, N, s)
    A = sp.csr_matrix((data, indices, indptr), shape=L.shape)
    b = constrained_rhs(dim, s)
    if not reduce:
        return spla.splu(A.tocsc()).solve(b), "scipy-splu"
    _, labels = connected_components(A, directed=True, connection="weak")
    comp = np.flatnonzero(labels == labels[0])
    x = np.zeros(dim)
    x[comp] = spla.splu(A[comp][:, comp].tocsc()).solve(b[comp])
    return x, f"scipy-splu[component {comp.shape[0]}/{dim}]"


# --------------------------------------------------------------------------------------------------------------------
# the solver functions of the dispatch table: (problem, solver, options, comm) -> SteadyState
# --------------------------------------------------------------------------------------------------------------------
def _solve_pauli(pb: QuantumProblem, solver: str, options: SolverOptions, comm) -> SteadyState:
    """Pauli rate equation: dense LU of the trace-constrained N x N generator (every rank solves redundantly)."""
    t0 = time.perf_counter()
    tr = transitions(pb.spectrum)
    W = rate_matrices(pb.spectrum, pb.T_L, pb.T_R, **pb.bath_kw(), tr=tr)
    p = solve_rates(W)
    JL, JR = pauli_currents(pb.spectrum, p, pb.T_L, pb.T_R, **pb.bath_kw(), tr=tr)
    ok = bool(np.all(np.isfinite(p)))
    seconds = time.perf_counter() - t0
    return SteadyState(rho=np.diag(p).astype(complex), J_L=float(JL), J_R=float(JR),
                       residual=float(np.linalg.norm(W @ p)), residual_kind="l2(Wp)", trace=float(p.sum()),
                       rho_min_eig=float(p.min()), converged="LU" if ok else "DIVERGED_NANORINF", iterations=1,
                       method="pauli-dense-lu", equation="pauli", backend="numpy", solver=solver, seconds=seconds,
                       seconds_solve=seconds, positive=bool(p.min() >= -options.positivity_tol))


def _solve_lindblad_scipy(pb: QuantumProblem, solver: str, options: SolverOptions, comm) -> SteadyState:
    """Full Lindblad generator in the real representation, SuperLU of the trace-constrained system (one process)."""
    t0 = time.perf_counter()
    N = pb.N
    tr = transitions(pb.spectrum)
    L = liouvillian_csr(pb.spectrum, pb.T_L, pb.T_R, **pb.bath_kw(), rows=None, baths="LR", hamiltonian=True,
                        tr=tr).tocsr()
    x, method = solve_trace_constrained(L, N, reduce=options.reduce)
    ok = bool(np.all(np.isfinite(x)))
    trace = float(x[:N].sum())
    x = x / trace if ok else x
    rho = real_to_rho(x, N)
    JL, JR = lindblad_currents(pb, x, tr)
    rho_min = min_eig(rho)
    seconds = time.perf_counter() - t0
    return SteadyState(rho=rho, J_L=JL, J_R=JR, residual=float(np.linalg.norm(L @ x)), residual_kind="l2(Lx)",
                       trace=float(np.real(np.trace(rho))), rho_min_eig=rho_min,
                       converged="LU" if ok else "DIVERGED_NANORINF", iterations=1, method=method,
                       equation="lindblad", backend="scipy", solver=solver, seconds=seconds, seconds_solve=seconds,
                       positive=bool(rho_min >= -options.positivity_tol))


def _solve_lindblad_petsc(pb: QuantumProblem, solver: str, options: SolverOptions, comm) -> SteadyState:
    """Distributed PETSc KSP (``linear``: trace-constrained system) or SLEPc EPS (``eigen``); options prefix ``ss_``."""
    t0 = time.perf_counter()
    N = pb.N

    def build(rows):
        # the O(N^2) transition list is made here and dropped with the build: not held through the solve
        return liouvillian_csr(pb.spectrum, pb.T_L, pb.T_R, **pb.bath_kw(), rows=rows, baths="LR", hamiltonian=True)

    x, info = petsc_backend.solve_distributed(build, real_dim(N), N, solver={"linear": "ksp", "eigen": "eps"}[solver],
                                              comm=comm, petsc_options=options.petsc_options, tol=options.tol,
                                              maxiter=options.maxiter)
    # each rank builds only the population rows it owns; partial currents are summed over the communicator
    rows = info["rows"]
    tr = transitions(pb.spectrum) if rows[0] < N else None
    JL, JR = lindblad_currents(pb, x, tr, rows=rows, comm=get_comm(comm))
    del tr
    petsc_backend._stage("currents")
    rho = real_to_rho(x, N)
    del x
    petsc_backend._stage("rho")
    rho_min = min_eig(rho)
    seconds = time.perf_counter() - t0
    return SteadyState(rho=rho, J_L=JL, J_R=JR, residual=info["residual"], residual_kind="l2(Lx)",
                       trace=float(np.real(np.trace(rho))), rho_min_eig=rho_min, converged=info["converged"],
                       iterations=info["iterations"], method=f"{info['method']}[np={info['ranks']}]",
                       equation="lindblad", backend="petsc", solver=solver, eigenvalue=info["eigenvalue"],
                       seconds=seconds, seconds_solve=seconds, positive=bool(rho_min >= -options.positivity_tol))


def _redfield(backend: str) -> Callable[[QuantumProblem, str, SolverOptions, object], SteadyState]:
    def solve(pb: QuantumProblem, solver: str, options: SolverOptions, comm) -> SteadyState:
        t0 = time.perf_counter()
        gen = redfield_generator(pb.spectrum, pb.T_L, pb.T_R, **pb.bath_kw())
        return solve_redfield(gen, backend=backend, options=options, comm=comm, t0=t0)

    solve.__doc__ = f"Redfield steady state, {backend} backend (:func:`~.redfield_steady.solve_redfield`)."
    return solve


@dataclass(frozen=True)
class Entry:
    """One row of :data:`DISPATCH`: the solver function and the formulations it offers (the first is "auto")."""

    solve: Callable[[QuantumProblem, str, SolverOptions, object], SteadyState]
    solvers: tuple[str, ...] = ("linear",)


#: The one dispatch table ``{(equation, backend): Entry}``. A new equation or backend is one line here.
DISPATCH: dict[tuple[str, str], Entry] = {
    ("pauli", "numpy"): Entry(_solve_pauli),
    ("lindblad", "scipy"): Entry(_solve_lindblad_scipy),
    ("lindblad", "petsc"): Entry(_solve_lindblad_petsc, ("linear", "eigen")),
    ("redfield", "numpy"): Entry(_redfield("numpy")),
    ("redfield", "scipy"): Entry(_redfield("scipy")),
    ("redfield", "petsc"): Entry(_redfield("petsc")),
}


def resolve_backend(equation: str, backend: str = "auto", comm=None) -> str:
    """The backend :func:`steady_state` will use (``auto`` resolved; see the module docstring).

    Raises
    ------
    ValueError
        Unknown equation or backend, or a pair without a solver.
    """
    if equation not in EQUATIONS:
        raise ValueError(f"equation must be one of {list(EQUATIONS)}, got {equation!r}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if equation == "pauli":
        return "numpy"
    if backend == "auto":
        if comm is not None:
            size = comm.Get_size()
        else:
            try:
                from mpi4py import MPI

                size = MPI.COMM_WORLD.Get_size()
            except ImportError:
                size = 1
        backend = "petsc" if size > 1 and petsc_backend.available() else "scipy"
    if (equation, backend) not in DISPATCH:
        have = [b for (e, b) in DISPATCH if e == equation]
        raise ValueError(f"backend {backend!r} has no solver for equation {equation!r}; available: {have}")
    return backend


def steady_state(problem: QuantumProblem, *, equation: str = "lindblad", backend: str = "auto",
                 solver: str = "auto", comm=None, options: SolverOptions | None = None) -> SteadyState:
    """Non-equilibrium steady state of a spectrum between two baths, with its health.

    Parameters
    ----------
    problem : QuantumProblem
        Spectrum, bath temperatures and spectral density (validated on construction).
    equation : {"lindblad", "pauli", "redfield"}
        Master equation (Eq. 6, its rate-equation limit, or Bloch-Redfield Eq. B1 without secular approximation).
    backend : {"auto", "numpy", "scipy", "petsc"}
        See the module docstring; ``auto`` is PETSc on a communicator of more than one rank (if importable),
        else scipy. Pauli always runs with numpy.
    solver : {"auto", "linear", "eigen"}
        Formulation: the trace-constrained linear system, or the null eigenvector (``lindblad`` + ``petsc`` only).
    comm : mpi4py communicator, optional
        The ranks that share one distributed operator (PETSc backend; None = COMM_WORLD). The result is the same on
        every rank.
    options : SolverOptions, optional
        Tolerances, iteration limits, PETSc options (prefix ``ss_``, pushed for this solve only), Redfield check.

    Returns
    -------
    SteadyState
        rho and the heat currents with the health of the solve; ``backend`` and ``solver`` say what ran.

    Examples
    --------
    >>> from mpiheat.quantum import QuantumProblem, steady_state, box_spectrum
    >>> ss = steady_state(QuantumProblem(box_spectrum(10), 50.0, 2.0, gamma=1.0, eta=-2.25), equation="pauli")
    >>> ss.ok, ss.backend, abs(ss.J_mismatch) < 1e-12 * ss.J
    (True, 'numpy', True)
    """
    if not isinstance(problem, QuantumProblem):
        raise TypeError(f"problem must be a QuantumProblem, got {type(problem).__name__}")
    options = SolverOptions() if options is None else options
    backend = resolve_backend(equation, backend, comm)
    entry = DISPATCH[(equation, backend)]
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    if solver == "auto":
        solver = entry.solvers[0]
    elif solver not in entry.solvers:
        raise ValueError(f"solver {solver!r} is not offered for equation {equation!r} with backend {backend!r}; "
                         f"choose from {list(entry.solvers)}")
    return entry.solve(problem, solver, options, comm)
