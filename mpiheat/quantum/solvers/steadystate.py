"""Steady states of the quantum master equations: QuTiP-like functional front end + solver classes (SPEC §3, §5).

``steadystate(spectrum, T_L, T_R, gamma=..., eta=..., equation=..., backend=..., solver=...)`` dispatches by name:

=============  ==========================================================================================
equation       solver class
=============  ==========================================================================================
``pauli``      :class:`PauliSolver` - rate equation, dense LU of an N x N matrix (fast default)
``lindblad``   :class:`ScipySolver` (``backend="scipy"``: SuperLU of the trace-constrained real system) or
               :class:`PetscSolver` (``backend="petsc"``: distributed KSP/MUMPS or SLEPc EPS)
other          any generator registered with :func:`register_equation` (e.g. ``redfield``)
=============  ==========================================================================================

Health is always reported: residual ``||L x||_2`` of the real coordinates x of rho (Tr rho = 1; for Pauli the
rate-equation residual ``||W p||_2``), trace, smallest eigenvalue of rho, ``J_L - J_R`` and the solver's reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.sparse.csgraph import connected_components

from mpiheat.quantum.operators.lindblad import check_temperature, liouvillian_csr, real_dim, real_to_rho, transitions
from mpiheat.quantum.operators.pauli import pauli_currents, rate_matrices, solve_rates
from mpiheat.quantum.operators.spectrum import Spectrum

EQUATIONS = ("pauli", "lindblad", "redfield")
BACKENDS = ("scipy", "petsc", "auto")
SOLVERS = ("eps", "ksp", "auto")

#: Generators in the real representation: name -> builder with the signature of ``liouvillian_csr``.
_BUILDERS: dict[str, Callable] = {"lindblad": liouvillian_csr}


def register_equation(name: str, builder: Callable) -> None:
    """Register a real-representation generator ``builder(spectrum, T_L, T_R, *, gamma, eta, omega_c, rows, baths,
    hamiltonian) -> csr block`` under ``name``; heat currents then follow as ``Tr[D_alpha(rho) H]`` from it."""
    _BUILDERS[str(name)] = builder


def _builder(equation: str) -> Callable:
    if equation not in _BUILDERS and equation == "redfield":
        try:  # the Redfield module registers itself on import
            from mpiheat.quantum.operators import redfield  # noqa: F401
        except ImportError:
            pass
    if equation not in _BUILDERS:
        known = sorted(set(EQUATIONS) | set(_BUILDERS))
        raise ValueError(f"equation must be one of {known}, got {equation!r}")
    return _BUILDERS[equation]


@dataclass(frozen=True)
class SteadyState:
    """Steady state and its health.

    Attributes
    ----------
    rho : ndarray (N, N) complex
        Density matrix with unit trace, on every rank of the communicator.
    J_L, J_R : float
        Heat current out of bath L and into bath R (equal in the steady state).
    residual : float
        ``residual_kind``: ``"l2(Lx)"`` = 2-norm of the generator applied to the real coordinates of rho, or
        ``"l2(Wp)"`` for the Pauli rate equation.
    trace, rho_min_eig : float
        ``Tr rho`` and the smallest eigenvalue of rho.
    converged : str
        Solver's converged reason (e.g. ``CONVERGED_ITS`` for KSP preonly, ``CONVERGED_TOL`` for EPS, ``LU`` for direct
        scipy/numpy solves).
    iterations : int
    method, equation, backend : str
    eigenvalue : float
        Eigenvalue found by EPS (should be ~0); nan for other solvers.
    seconds : float
        Wall time of the solve on this rank.
    """

    rho: np.ndarray
    J_L: float
    J_R: float
    residual: float
    residual_kind: str
    trace: float
    rho_min_eig: float
    converged: str
    iterations: int
    method: str
    equation: str
    backend: str
    eigenvalue: float = float("nan")
    seconds: float = 0.0

    @property
    def J(self) -> float:
        return self.J_L

    @property
    def N(self) -> int:
        return int(self.rho.shape[0])

    def as_columns(self) -> dict[str, float | int | bool | str]:
        """Flat scalar columns (SPEC §5 names)."""
        return {"J": float(self.J_L), "J_R": float(self.J_R), "J_mismatch": float(self.J_L - self.J_R),
                "residual": float(self.residual), "residual_kind": self.residual_kind, "trace": float(self.trace),
                "rho_min_eig": float(self.rho_min_eig), "converged": str(self.converged),
                "iterations": int(self.iterations), "method": self.method, "equation": self.equation,
                "backend": self.backend, "eigenvalue": float(self.eigenvalue), "seconds": float(self.seconds)}


@dataclass
class _Problem:
    spectrum: Spectrum
    T_L: float
    T_R: float
    gamma: float
    eta: float
    omega_c: float


def _min_eig(rho: np.ndarray) -> float:
    if np.count_nonzero(rho - np.diag(np.diag(rho))) == 0:
        return float(np.min(np.real(np.diag(rho))))
    return float(np.linalg.eigvalsh(rho)[0])


def generator_currents(builder: Callable, pb: _Problem, x: np.ndarray, tr=None, *, rows: tuple[int, int] | None = None,
                       comm=None) -> tuple[float, float]:
    """``J_L = Tr[D_L(rho) H]``, ``J_R = -Tr[D_R(rho) H]`` from the population rows of a registered generator.

    With ``rows = (r0, r1)`` (this rank's block of a distributed operator) only the population rows inside it are
    built and the partial sums are added over ``comm``: the rows are never duplicated on every rank.
    """
    N = pb.spectrum.N
    lo, hi = (0, N) if rows is None else (max(int(rows[0]), 0), min(int(rows[1]), N))
    E = np.asarray(pb.spectrum.E, dtype=float)
    out = []
    for bath, s in (("L", 1.0), ("R", -1.0)):
        part = 0.0
        if hi > lo:
            kw = {"tr": tr} if builder is liouvillian_csr else {}
            D = builder(pb.spectrum, pb.T_L, pb.T_R, gamma=pb.gamma, eta=pb.eta, omega_c=pb.omega_c, rows=(lo, hi),
                        baths=bath, hamiltonian=False, **kw)
            # E - E_0: the same number (trace preservation), with less cancellation
            part = s * float((E[lo:hi] - E[0]) @ (D @ x))
        out.append(part)
    if comm is not None and rows is not None:
        from mpi4py import MPI

        out = [comm.allreduce(v, op=MPI.SUM) for v in out]
    return out[0], out[1]


def _trace_constrained(L: sp.csr_matrix, N: int, s: float) -> sp.csr_matrix:
    """``L`` with row 0 (a population balance row, redundant by trace preservation) replaced by ``s * Tr``."""
    ip, ix, dv = L.indptr, L.indices, L.data
    indptr = np.concatenate([[0], ip[1:] - ip[1] + N])
    indices = np.concatenate([np.arange(N, dtype=ix.dtype), ix[ip[1]:]])
    data = np.concatenate([np.full(N, s), dv[ip[1]:]])
    return sp.csr_matrix((data, indices, indptr), shape=L.shape)


def solve_trace_constrained(L: sp.csr_matrix, N: int, reduce: bool = True) -> tuple[np.ndarray, str]:
    """Solve ``L x = 0``, ``sum(x[:N]) = 1`` by SuperLU (real representation; see :class:`ScipySolver`).

    Returns the (unnormalised) solution and a method label.
    """
    dim = L.shape[0]
    s = float(np.max(np.abs(L.diagonal()))) or 1.0
    A = _trace_constrained(L.tocsr(), N, s)
    b = np.zeros(dim)
    b[0] = s
    if not reduce:
        return spla.splu(A.tocsc()).solve(b), "scipy-splu"
    _, labels = connected_components(A, directed=True, connection="weak")
    comp = np.flatnonzero(labels == labels[0])
    x = np.zeros(dim)
    x[comp] = spla.splu(A[comp][:, comp].tocsc()).solve(b[comp])
    return x, f"scipy-splu[component {comp.shape[0]}/{dim}]"


class PauliSolver:
    """Pauli rate equation: dense LU of the trace-constrained N x N generator (every rank solves redundantly)."""

    name = "pauli"

    def solve(self, pb: _Problem) -> SteadyState:
        t0 = time.perf_counter()
        tr = transitions(pb.spectrum)
        W = rate_matrices(pb.spectrum, pb.T_L, pb.T_R, gamma=pb.gamma, eta=pb.eta, omega_c=pb.omega_c, tr=tr)
        p = solve_rates(W)
        JL, JR = pauli_currents(pb.spectrum, p, pb.T_L, pb.T_R, gamma=pb.gamma, eta=pb.eta, omega_c=pb.omega_c,
                                tr=tr)
        ok = bool(np.all(np.isfinite(p)))
        return SteadyState(rho=np.diag(p).astype(complex), J_L=float(JL), J_R=float(JR),
                           residual=float(np.linalg.norm(W @ p)), residual_kind="l2(Wp)", trace=float(p.sum()),
                           rho_min_eig=float(p.min()), converged="LU" if ok else "LU_NONFINITE", iterations=1,
                           method="pauli-dense-lu", equation="pauli", backend="numpy",
                           seconds=time.perf_counter() - t0)


class ScipySolver:
    """Full generator in the real representation, SuperLU of the trace-constrained system (one process).

    With ``reduce=True`` (default) only the weakly connected component of the sparsity graph that contains the
    populations is factorised: the other components (e.g. the secular coherence blocks of the Lindblad equation)
    have a zero right-hand side and, the steady state being unique, a nonsingular block, so their solution is exactly
    0. The residual is always evaluated with the full operator, so a failure of that premise would show in health.
    """

    name = "scipy"

    def __init__(self, equation: str = "lindblad", reduce: bool = True):
        self.equation = equation
        self.builder = _builder(equation)
        self.reduce = bool(reduce)

    def solve(self, pb: _Problem) -> SteadyState:
        t0 = time.perf_counter()
        N = pb.spectrum.N
        tr = transitions(pb.spectrum) if self.builder is liouvillian_csr else None
        kw = {"tr": tr} if tr is not None else {}
        L = self.builder(pb.spectrum, pb.T_L, pb.T_R, gamma=pb.gamma, eta=pb.eta, omega_c=pb.omega_c, rows=None,
                         baths="LR", hamiltonian=True, **kw).tocsr()
        x, method = solve_trace_constrained(L, N, reduce=self.reduce)
        ok = bool(np.all(np.isfinite(x)))
        trace = float(x[:N].sum())
        x = x / trace if ok else x
        rho = real_to_rho(x, N)
        JL, JR = generator_currents(self.builder, pb, x, tr)
        return SteadyState(rho=rho, J_L=JL, J_R=JR, residual=float(np.linalg.norm(L @ x)), residual_kind="l2(Lx)",
                           trace=float(np.real(np.trace(rho))), rho_min_eig=_min_eig(rho),
                           converged="LU" if ok else "LU_NONFINITE", iterations=1, method=method,
                           equation=self.equation, backend="scipy", seconds=time.perf_counter() - t0)


class PetscSolver:
    """Distributed PETSc KSP (trace-constrained, MUMPS LU) or SLEPc EPS (shift-and-invert at 0); see
    :mod:`mpiheat.quantum.solvers.petsc_backend` for the options prefix ``-ss_``."""

    name = "petsc"

    def __init__(self, equation: str = "lindblad", solver: str = "ksp", comm=None, petsc_options=None,
                 tol: float = 1e-12):
        from mpiheat.quantum.solvers import petsc_backend

        petsc_backend.import_petsc()
        self.backend = petsc_backend
        self.equation = equation
        self.builder = _builder(equation)
        self.solver = solver
        self.comm = comm
        self.petsc_options = petsc_options
        self.tol = tol

    def solve(self, pb: _Problem) -> SteadyState:
        t0 = time.perf_counter()
        N = pb.spectrum.N

        def build(rows):
            # the O(N^2) transition list is made here and dropped with the build: not held through the solve
            return self.builder(pb.spectrum, pb.T_L, pb.T_R, gamma=pb.gamma, eta=pb.eta, omega_c=pb.omega_c,
                                rows=rows, baths="LR", hamiltonian=True)

        x, info = self.backend.solve_distributed(build, real_dim(N), N, solver=self.solver, comm=self.comm,
                                                 petsc_options=self.petsc_options, tol=self.tol)
        # each rank builds only the population rows it owns; partial currents are summed over the communicator
        from mpiheat.numerics.parallel import get_comm

        rows = info.get("rows")
        tr = transitions(pb.spectrum) if self.builder is liouvillian_csr and rows[0] < N else None
        JL, JR = generator_currents(self.builder, pb, x, tr, rows=rows, comm=get_comm(self.comm))
        del tr
        self.backend._stage("currents")
        rho = real_to_rho(x, N)
        del x
        self.backend._stage("rho")
        return SteadyState(rho=rho, J_L=JL, J_R=JR, residual=info["residual"], residual_kind="l2(Lx)",
                           trace=float(np.real(np.trace(rho))), rho_min_eig=_min_eig(rho),
                           converged=info["converged"], iterations=info["iterations"],
                           method=f"{info['method']}[np={info['ranks']}]", equation=self.equation, backend="petsc",
                           eigenvalue=info["eigenvalue"], seconds=time.perf_counter() - t0)


def _petsc_available() -> bool:
    try:
        from mpiheat.quantum.solvers import petsc_backend

        petsc_backend.import_petsc()
        return True
    except ImportError:
        return False


def steadystate(spectrum: Spectrum, T_L: float, T_R: float, *, gamma: float, eta: float, omega_c: float = 1.0,
                equation: str = "pauli", backend: str = "scipy", solver: str = "auto", comm=None,
                petsc_options=None, tol: float = 1e-12, reduce: bool = True,
                redfield_eigs: str = "auto") -> SteadyState:
    """Non-equilibrium steady state of one spectrum between two baths.

    Parameters
    ----------
    spectrum : Spectrum
        Levels and coupling operators (at least 2 levels).
    T_L, T_R : float
        Bath temperatures, > 0.
    gamma, eta, omega_c : float
        Spectral function ``J(w) = gamma omega_c^(1-eta) w^eta``; ``gamma > 0``.
    equation : {"pauli", "lindblad", "redfield"} or a registered name
        ``redfield``: :func:`~.redfield.redfield_steadystate` (GMRES / PETSc shell KSP; PETSc options
        prefix ``redfield_``); its result adds ``max_real_eig`` and ``unphysical``.
    backend : {"scipy", "petsc", "auto"}
        For generator equations. ``auto``: PETSc when the communicator has more than one rank and petsc4py is
        importable, else scipy. Ignored by ``pauli`` (dense numpy on every rank).
    solver : {"eps", "ksp", "auto"}
        PETSc solver (``auto`` = ``ksp``, the trace-constrained direct solve). Ignored by scipy and pauli.
    comm : mpi4py communicator, optional
        Communicator sharing the distributed operator (None = COMM_WORLD); only the PETSc backend uses it.
    petsc_options : str or dict, optional
        PETSc/SLEPc options (prefix ``ss_``), e.g. ``"-ss_ksp_type gmres -ss_pc_type bjacobi"``.
    tol : float
        Iterative tolerance (EPS, or KSP when an iterative type is chosen).
    reduce : bool
        scipy backend: factorise only the component of the operator's sparsity graph that holds the populations
        (exact; see :class:`ScipySolver`). ``False`` factorises the whole N^2 system.
    redfield_eigs : {"auto", "dense", "cluster", "none"}
        ``redfield`` only: how the rightmost generator eigenvalue is found (``check_eigs`` of
        :func:`~.redfield.redfield_steadystate`).

    Returns
    -------
    SteadyState
    """
    if not isinstance(spectrum, Spectrum):
        raise ValueError(f"spectrum must be a Spectrum, got {type(spectrum).__name__}")
    if spectrum.N < 2:
        raise ValueError(f"levels must be >= 2, got spectrum with {spectrum.N} level(s)")
    T_L = check_temperature("T_L", T_L)
    T_R = check_temperature("T_R", T_R)
    if not (np.isfinite(gamma) and gamma > 0):
        raise ValueError(f"gamma must be finite and > 0, got {gamma!r}")
    if not np.isfinite(eta):
        raise ValueError(f"eta must be finite, got {eta!r}")
    if not (np.isfinite(omega_c) and omega_c > 0):
        raise ValueError(f"omega_c must be finite and > 0, got {omega_c!r}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    pb = _Problem(spectrum, T_L, T_R, float(gamma), float(eta), float(omega_c))
    if equation == "pauli":
        return PauliSolver().solve(pb)
    if equation != "redfield":  # Redfield is matrix-free (no CSR builder), dispatched below
        _builder(equation)  # validates the name
    if backend == "auto":
        size = 1
        if comm is not None:
            size = comm.Get_size()
        else:
            try:
                from mpi4py import MPI

                size = MPI.COMM_WORLD.Get_size()
            except ImportError:
                size = 1
        backend = "petsc" if size > 1 and _petsc_available() else "scipy"
    if equation == "redfield":  # Krylov on the matrix-free O(N^3) generator; see mpiheat.quantum.operators.redfield
        from mpiheat.quantum.operators.redfield import redfield_steadystate

        return redfield_steadystate(spectrum, T_L, T_R, gamma=gamma, eta=eta, omega_c=omega_c, backend=backend,
                                    comm=comm, petsc_options=petsc_options, tol=tol, check_eigs=redfield_eigs)
    if backend == "scipy":
        return ScipySolver(equation, reduce=reduce).solve(pb)
    return PetscSolver(equation, solver="ksp" if solver == "auto" else solver, comm=comm,
                       petsc_options=petsc_options, tol=tol).solve(pb)
