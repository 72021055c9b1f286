"""What every steady-state solver shares: the options object, the typed result with its health, and the
converged-reason vocabulary.

Converged reasons (one vocabulary for every solver)
---------------------------------------------------
``"LU"``
    A direct factorisation (dense LU, SuperLU) produced a finite solution.
``"CONVERGED_*"``, ``"DIVERGED_*"``
    PETSc's names, which the iterative solvers report: PETSc KSP and SLEPc EPS pass theirs through (e.g.
    ``CONVERGED_RTOL``, ``CONVERGED_ITS`` for a ``preonly`` KSP, ``CONVERGED_TOL`` for EPS, ``DIVERGED_MAX_IT`` for
    KSP, ``DIVERGED_ITS`` for EPS); the scipy Krylov solvers are mapped onto KSP's names (``CONVERGED_RTOL``,
    ``DIVERGED_MAX_IT``, ``DIVERGED_BREAKDOWN``), a direct solve with a non-finite result is ``DIVERGED_NANORINF``.

:func:`reason_ok` (and :attr:`SteadyState.ok`) is the one success test: ``"LU"`` or a ``CONVERGED_`` name other
than ``CONVERGED_ITERATING`` (PETSc's "still running").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

#: Methods of the eigenvalue check of Redfield's physicality.
REDFIELD_CHECKS = ("auto", "dense", "cluster", "none")


def reason_ok(reason: str) -> bool:
    """True when a converged reason of the vocabulary above means success."""
    return reason == "LU" or (reason.startswith("CONVERGED_") and reason != "CONVERGED_ITERATING")


def scipy_reason(info: int) -> str:
    """The ``info`` of scipy's Krylov solvers as a reason of the vocabulary (0 = reached ``rtol``)."""
    if info == 0:
        return "CONVERGED_RTOL"
    return "DIVERGED_MAX_IT" if info > 0 else "DIVERGED_BREAKDOWN"


def min_eig(rho: np.ndarray) -> float:
    """Smallest eigenvalue of a Hermitian matrix (the diagonal's minimum when rho is diagonal)."""
    if np.count_nonzero(rho - np.diag(np.diag(rho))) == 0:
        return float(np.min(np.real(np.diag(rho))))
    return float(np.linalg.eigvalsh(rho)[0])


@dataclass(frozen=True)
class SolverOptions:
    """Settings of a steady-state solve (one object for every equation and backend; each solver reads its own).

    Attributes
    ----------
    tol : float
        Relative tolerance of iterative solvers: KSP/GMRES residual of the constrained system, EPS eigenpair.
    maxiter : int or None
        Iteration limit; None takes each solver's default (PETSc KSP 10000, SLEPc EPS 1000, Redfield Krylov 2000).
    krylov : {"gmres", "bicgstab"}
        Krylov method of the Redfield scipy solver (with PETSc choose it by ``-ss_ksp_type``).
    restart : int
        GMRES restart length (Redfield).
    reduce : bool
        Lindblad, scipy: factorise only the weakly connected component of the operator that holds the populations
        (exact; the other components have a zero right-hand side). False factorises all N^2 rows.
    petsc_options : str or mapping, optional
        PETSc/SLEPc options of this solve, prefix ``ss_`` (added when missing): ``"-ss_ksp_type gmres
        -ss_pc_type bjacobi"`` or ``{"ksp_type": "gmres"}``. They are set for the solve only and removed afterwards.
    redfield_check : {"auto", "dense", "cluster", "none"}
        Redfield physicality check (rightmost generator eigenvalue): ``auto`` = dense for
        ``N <= redfield_dense_limit``, else cluster + Jacobi-Davidson; ``none`` skips it.
    redfield_dense_limit : int
        Largest N of the dense check under ``auto``.
    positivity_tol : float
        ``rho_min_eig < -positivity_tol`` makes a state not positive (and a Redfield state unphysical).
    """

    tol: float = 1e-12
    maxiter: int | None = None
    krylov: str = "gmres"
    restart: int = 60
    reduce: bool = True
    petsc_options: str | Mapping | None = None
    redfield_check: str = "auto"
    redfield_dense_limit: int = 40
    positivity_tol: float = 1e-10

    def __post_init__(self) -> None:
        if not (np.isfinite(self.tol) and self.tol > 0):
            raise ValueError(f"tol must be finite and > 0, got {self.tol!r}")
        if self.maxiter is not None and int(self.maxiter) < 1:
            raise ValueError(f"maxiter must be >= 1 or None, got {self.maxiter!r}")
        if self.krylov not in ("gmres", "bicgstab"):
            raise ValueError(f"krylov must be 'gmres' or 'bicgstab', got {self.krylov!r}")
        if self.redfield_check not in REDFIELD_CHECKS:
            raise ValueError(f"redfield_check must be one of {REDFIELD_CHECKS}, got {self.redfield_check!r}")


@dataclass(frozen=True)
class SteadyState:
    """Steady state and its health.

    Attributes
    ----------
    rho : ndarray (N, N) complex
        Density matrix with unit trace, on every rank of the communicator.
    J_L, J_R : float
        Heat current out of bath L and into bath R (equal in the steady state; ``J_mismatch`` = their difference).
    residual : float
        ``residual_kind``: ``"l2(Lx)"`` = 2-norm of the generator applied to the real coordinates of rho, or
        ``"l2(Wp)"`` for the Pauli rate equation.
    trace, rho_min_eig : float
        ``Tr rho`` and the smallest eigenvalue of rho.
    converged : str
        Converged reason, in the one vocabulary of :mod:`mpiheat.quantum.solvers.base` (test with :attr:`ok`).
    iterations : int
    method : str
        What ran, e.g. ``"scipy-splu[component 12/144]"``, ``"petsc-ksp(preonly+lu)[np=1]"``, ``"redfield-gmres"``.
    equation, backend, solver : str
        The dispatch entry actually used (``backend`` ``"numpy"`` for dense solves; ``solver`` ``"linear"`` or
        ``"eigen"``).
    eigenvalue : float
        Eigenvalue found by the eigen solver (should be ~0); NaN otherwise.
    seconds, seconds_solve, seconds_check : float
        Wall time on this rank: total, the steady state (set-up, solve, observables), the physicality check.
    max_real_eig : float
        Redfield: largest real part among the generator's non-zero eigenvalues (NaN if not computed or another
        equation); ``eig_method`` says how it was found (``"none"``: not computed).
    unphysical : bool
        Redfield: ``max_real_eig > 0`` (beyond 1e-9 of the largest decay rate) or rho not positive.
    positive : bool
        ``rho_min_eig >= -positivity_tol`` (:class:`SolverOptions`).
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
    solver: str = "linear"
    eigenvalue: float = float("nan")
    seconds: float = 0.0
    seconds_solve: float = float("nan")
    seconds_check: float = 0.0
    max_real_eig: float = float("nan")
    unphysical: bool = False
    eig_method: str = "none"
    positive: bool = True

    @property
    def J(self) -> float:
        """The heat current, ``J_L``."""
        return self.J_L

    @property
    def J_mismatch(self) -> float:
        """``J_L - J_R`` (zero in an exact steady state: a health measure)."""
        return float(self.J_L - self.J_R)

    @property
    def N(self) -> int:
        return int(self.rho.shape[0])

    @property
    def ok(self) -> bool:
        """The solver reports success (:func:`reason_ok`)."""
        return reason_ok(self.converged)

    def as_columns(self) -> dict[str, float | int | bool | str]:
        """Flat scalar columns (SPEC §5 names); Redfield adds its physicality and timing split."""
        cols = {"J": float(self.J_L), "J_R": float(self.J_R), "J_mismatch": self.J_mismatch,
                "residual": float(self.residual), "residual_kind": self.residual_kind, "trace": float(self.trace),
                "rho_min_eig": float(self.rho_min_eig), "converged": str(self.converged),
                "iterations": int(self.iterations), "method": self.method, "equation": self.equation,
                "backend": self.backend, "eigenvalue": float(self.eigenvalue), "seconds": float(self.seconds)}
        if self.equation == "redfield":
            cols.update({"max_real_eig": float(self.max_real_eig), "unphysical": bool(self.unphysical),
                         "eig_method": self.eig_method, "seconds_solve": float(self.seconds_solve),
                         "seconds_check": float(self.seconds_check)})
        return cols
