"""The classical front end: a problem object and the functions the job kinds (and users) call.

>>> from mpiheat.classical import Bath, ClassicalProblem, current, kappa
>>> p = ClassicalProblem(1000.0, 10.0, Bath("mcmc", steps=100))
>>> r = current(p, method="transfer")                       # exact transfer operator (one particle)
>>> r = current(p, trajectories=4, collisions=10_000)       # molecular dynamics (the default method)
>>> k = kappa(ClassicalProblem.linear_response(100.0, 0.2), method="md", trajectories=4, collisions=10_000)

``current`` dispatches through one table, ``{method: (solver, its options)}``; every result has ``J``, ``J_err``,
``J_R``, ``J_R_err`` and ``as_columns()``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mpiheat.classical.baths import Bath
from mpiheat.classical.md import run_md
from mpiheat.classical.result import ClassicalResult, KappaResult
from mpiheat.classical.transfer import TransferResult, transfer_current

__all__ = ["ClassicalProblem", "METHODS", "current", "kappa"]


def _positive(name: str, value: float) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return v


@dataclass(frozen=True)
class ClassicalProblem:
    """One or two classical particles in a box of length L between bath L (temperature T_L) and bath R (T_R).

    Parameters
    ----------
    T_L, T_R : float
        Bath temperatures (> 0; k_B = 1).
    bath : Bath
        Bath model, the same at both walls.
    masses : sequence of float
        One mass, or two (left particle touching bath L, right particle touching bath R).
    length : float
        Box length L.
    """

    T_L: float
    T_R: float
    bath: Bath = field(default_factory=Bath)
    masses: tuple[float, ...] = (1.0,)
    length: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.bath, Bath):
            raise TypeError(f"bath must be a mpiheat.classical.Bath, got {type(self.bath).__name__}")
        masses = tuple(_positive("mass", m) for m in self.masses)
        if len(masses) not in (1, 2):
            raise ValueError(f"masses must list 1 or 2 particle masses, got {len(masses)}")
        object.__setattr__(self, "T_L", _positive("T_L", self.T_L))
        object.__setattr__(self, "T_R", _positive("T_R", self.T_R))
        object.__setattr__(self, "masses", masses)
        object.__setattr__(self, "length", _positive("length", self.length))

    @classmethod
    def linear_response(cls, T: float, delta: float, bath: Bath | None = None, masses=(1.0,),
                        length: float = 1.0) -> ClassicalProblem:
        """The problem at mean temperature ``T`` and relative bias ``delta``: T_L,R = T (1 +- delta/2).

        The temperatures are computed as ``T * (1 + delta / 2)`` and ``T * (1 - delta / 2)``, the expressions of the
        job files' linear-response sweeps, so the two give the same bits.
        """
        if not (0 < delta < 2):
            raise ValueError(f"delta must be in (0, 2), got {delta!r}")
        return cls(T * (1 + delta / 2), T * (1 - delta / 2), Bath() if bath is None else bath, tuple(masses), length)

    @property
    def particles(self) -> int:
        """Number of particles (1 or 2)."""
        return len(self.masses)


def _md(problem: ClassicalProblem, comm, options: Mapping[str, Any]) -> ClassicalResult:
    return run_md(problem.T_L, problem.T_R, problem.bath, masses=problem.masses, length=problem.length, comm=comm,
                  **options)


def _transfer(problem: ClassicalProblem, comm, options: Mapping[str, Any]) -> TransferResult:
    # serial and deterministic: every rank of comm computes the same numbers, no communication needed
    if problem.particles != 1:
        raise ValueError(f"method='transfer' is for one particle, the problem has {problem.particles}; "
                         "use method='md'")
    return transfer_current(problem.T_L, problem.T_R, problem.bath, mass=problem.masses[0], length=problem.length,
                            **options)


#: Dispatch table of :func:`current`: method -> (solver, the options it accepts).
METHODS: dict[str, tuple[Callable[..., Any], frozenset[str]]] = {
    "md": (_md, frozenset({"trajectories", "collisions", "warmup", "seed", "stream", "progress"})),
    "transfer": (_transfer, frozenset({"cells_per_width", "band_sigmas", "tail", "refine", "tol", "max_iter",
                                       "max_cells"})),
}


def current(problem: ClassicalProblem, *, method: str = "md", comm=None,
            **options: Any) -> ClassicalResult | TransferResult:
    """Stationary heat current of ``problem``.

    Parameters
    ----------
    problem : ClassicalProblem
    method : {"md", "transfer"}
        Molecular dynamics (:func:`mpiheat.classical.md.run_md`, one or two particles, trajectories split over the
        ranks of ``comm``) or the exact transfer operator (:func:`mpiheat.classical.transfer.transfer_current`, one
        particle, serial).
    comm : mpi4py communicator, optional
        MD: ``None`` means ``MPI.COMM_WORLD``; the result is the same, bit for bit, on any number of ranks.
        Transfer: not used (each rank computes the same result).
    **options
        The method's options. md: ``trajectories``, ``collisions``, ``warmup``, ``seed``, ``stream``, ``progress``;
        transfer: ``cells_per_width``, ``band_sigmas``, ``tail``, ``refine``, ``tol``, ``max_iter``, ``max_cells``.
        Defaults are the solvers'.

    Returns
    -------
    ClassicalResult or TransferResult
        ``J``, ``J_err``, ``J_R``, ``J_R_err``, ``as_columns()``, and the method's own diagnostics.

    Raises
    ------
    ValueError
        Unknown method, or a problem the method cannot solve (two particles by transfer).
    TypeError
        An option the method does not take, or ``problem`` not a :class:`ClassicalProblem`.
    """
    if not isinstance(problem, ClassicalProblem):
        raise TypeError(f"problem must be a ClassicalProblem, got {type(problem).__name__}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    solve, accepted = METHODS[method]
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise TypeError(f"method={method!r} does not take option(s) {unknown}; it takes {sorted(accepted)}")
    return solve(problem, comm, options)


def kappa(problem: ClassicalProblem, *, method: str = "md", comm=None, **options: Any) -> KappaResult:
    """Linear-response conductance kappa = J / (T_L - T_R) of ``problem`` (J over Delta, as Eq. 12).

    Build the problem with :meth:`ClassicalProblem.linear_response`; the finite-bias error is O(delta^2) (one
    particle, Maxwell baths: kappa (1 - 3 delta^2/32), see
    :func:`mpiheat.classical.analytic.maxwell_kappa_finite_delta`). Arguments as for :func:`current`.

    Returns
    -------
    KappaResult
        kappa, kappa_err = J_err / (T_L - T_R), the mean T and relative bias delta, and the underlying current.
    """
    if not isinstance(problem, ClassicalProblem):
        raise TypeError(f"problem must be a ClassicalProblem, got {type(problem).__name__}")
    d = problem.T_L - problem.T_R
    if d == 0:
        raise ValueError("kappa needs T_L != T_R (build the problem with ClassicalProblem.linear_response)")
    r = current(problem, method=method, comm=comm, **options)
    T = 0.5 * (problem.T_L + problem.T_R)
    return KappaResult(kappa=r.J / d, kappa_err=r.J_err / d, T=T, delta=d / T, current=r)
