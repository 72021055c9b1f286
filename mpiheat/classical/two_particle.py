"""Classical two-particle MD (SPEC §2, End Matter A): estimators, the run_md back end, and the linear-response kappa.

Particle 1 (left, mass m1) touches only bath L, particle 2 (right, mass m2) only bath R; they collide elastically.
J is the energy delivered by bath L per unit time, sum(E_out - E_in at L) / total time, and J_R the energy taken by
bath R per unit time; both are ratios of sums over all trajectories with delete-one jackknife errors over
trajectories (the same estimator rules as one particle). The one-particle quantities E_LR, E_RL, t_LR, t_RL are not
defined here (NaN). Equal masses swap velocities at each collision, so J_two = 2 J_one exactly in law.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from mpiheat.classical import kernels_two as K2
from mpiheat.classical.baths import Bath
from mpiheat.classical.md import ClassicalResult, run_md
from mpiheat.classical.rng import trajectory_states
from mpiheat.numerics.stats import jackknife

__all__ = ["two_particle_local", "two_particle_estimators", "KappaResult", "kappa_md"]


def _j_left(S: np.ndarray) -> np.ndarray:
    return (S[..., K2.C2_EOUT_L] - S[..., K2.C2_EIN_L]) / S[..., K2.C2_TIME]


def _j_right(S: np.ndarray) -> np.ndarray:
    return (S[..., K2.C2_EIN_R] - S[..., K2.C2_EOUT_R]) / S[..., K2.C2_TIME]


def two_particle_estimators(sums: np.ndarray) -> ClassicalResult:
    """Build a :class:`ClassicalResult` from per-trajectory sums ((n, 8), columns ``kernels_two.C2_*``) in row order."""
    sums = np.ascontiguousarray(sums, dtype=float)
    J, J_err = jackknife(sums, _j_left)
    J_R, J_R_err = jackknife(sums, _j_right)
    S = sums.sum(axis=0)
    return ClassicalResult(J=J, J_err=J_err, J_R=J_R, J_R_err=J_R_err,
                           collisions=int(round(S[K2.C2_N_L] + S[K2.C2_N_R])), trajectories=int(sums.shape[0]))


def two_particle_local(start, stop, T_L, T_R, bath, masses, length, collisions, warmup, seed, stream, progress):
    """Per-trajectory sums of trajectories ``start..stop-1`` (the ``run_md`` back end for ``len(masses) == 2``)."""
    states = trajectory_states(seed, stream, start, stop)
    n = stop - start
    out = np.zeros((n, K2.N2_COLS))
    m1, m2 = float(masses[0]), float(masses[1])
    for row in range(n):
        K2.two_particle_batch(states[row : row + 1], bath.code, T_L, T_R, m1, m2, length, bath.steps,
                              float(bath.proposal), warmup, collisions, out[row : row + 1])
        if progress is not None:
            progress(row + 1)
    return out


@dataclass(frozen=True)
class KappaResult:
    """Finite-difference linear-response conductance kappa = J / (T_L - T_R), T_L,R = T (1 +- delta/2).

    ``kappa_err`` is the jackknife error of J divided by T_L - T_R; ``J``, ``J_R`` are the underlying currents.
    """

    kappa: float
    kappa_err: float
    T: float
    delta: float
    J: float
    J_err: float
    J_R: float
    J_R_err: float
    collisions: int
    trajectories: int

    def as_columns(self) -> dict[str, float | int | bool | str]:
        """Flat scalar columns."""
        return {k: (int(v) if isinstance(v, int) else float(v)) for k, v in asdict(self).items()}


def kappa_md(
    T: float,
    bath: Bath,
    masses: Sequence[float] = (1.0, 1.0),
    delta: float = 0.2,
    **md_kwargs,
) -> KappaResult:
    """Linear-response kappa^c by MD at a finite relative bias: T_L = T (1 + delta/2), T_R = T (1 - delta/2).

    Parameters
    ----------
    T : float
        Mean temperature.
    bath : Bath
        Bath model at both walls.
    masses : sequence of float
        One or two masses (any system :func:`mpiheat.classical.md.run_md` supports).
    delta : float
        Relative bias (default 0.2, i.e. Delta = 0.2 T). The finite-Delta bias is O(delta^2): for one particle with
        Maxwell baths J/Delta = kappa (1 - 3 delta^2/32 + ...), -0.375 % at delta = 0.2 (-0.09 % at 0.1); a smaller
        delta costs (1/delta)^2 more collisions for the same relative error. State the delta used.
    **md_kwargs
        Passed to ``run_md`` (trajectories, collisions, warmup, seed, stream, length, comm).

    Returns
    -------
    KappaResult
    """
    if not (0 < delta < 2):
        raise ValueError(f"delta must be in (0, 2), got {delta!r}")
    T_L, T_R = T * (1 + 0.5 * delta), T * (1 - 0.5 * delta)
    r = run_md(T_L, T_R, bath, masses=tuple(masses), **md_kwargs)
    d = T_L - T_R
    return KappaResult(kappa=r.J / d, kappa_err=r.J_err / d, T=float(T), delta=float(delta), J=r.J, J_err=r.J_err,
                       J_R=r.J_R, J_R_err=r.J_R_err, collisions=r.collisions, trajectories=r.trajectories)


def _finite_delta_maxwell_kappa(T: float, delta: float, mass: float = 1.0, length: float = 1.0) -> float:
    """One-particle Maxwell J / Delta at finite delta (Eq. 4), for checks."""
    T_L, T_R = T * (1 + 0.5 * delta), T * (1 - 0.5 * delta)
    J = math.sqrt(2 / (mass * math.pi)) * math.sqrt(T_L * T_R) * (math.sqrt(T_L) - math.sqrt(T_R)) / length
    return J / (T_L - T_R)
