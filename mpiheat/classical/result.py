"""Results of the classical solvers and the MD estimators that build them from per-trajectory sums.

The estimators (SPEC §1, §2) are ratios of sums pooled over all trajectories, with delete-one jackknife errors over
trajectories (:func:`mpiheat.numerics.stats.jackknife`). They depend only on the array of per-trajectory sums and its
row order, so they give the same bits wherever they are computed. The column layouts of the sums are the kernels'
(``kernels.COL_*`` for one particle, ``kernels_two.C2_*`` for two).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from mpiheat.classical import kernels as K
from mpiheat.classical import kernels_two as K2
from mpiheat.numerics.stats import jackknife

__all__ = ["ClassicalResult", "KappaResult", "one_particle_estimators", "two_particle_estimators"]

_NAN = float("nan")


@dataclass(frozen=True)
class ClassicalResult:
    """Steady-state heat current of a classical MD run.

    Attributes
    ----------
    J, J_err : float
        Heat current and its jackknife error. One particle: Eq. (3), (E_LR - E_RL) / (t_LR + t_RL) as a ratio of
        sums. Two particles: energy delivered by bath L per unit time.
    J_R, J_R_err : float
        Flux into bath R by energy balance at the right wall: (energy arriving at R - energy leaving R) / total time.
    E_LR, E_RL, t_LR, t_RL : float
        Mean energy leaving L (R) and mean flight time L -> R (R -> L) (NaN where not defined, e.g. two particles).
    collisions : int
        Bath collisions counted over all trajectories (warm-up excluded).
    trajectories : int
        Number of independent trajectories.
    """

    J: float
    J_err: float
    J_R: float
    J_R_err: float
    E_LR: float = _NAN
    E_RL: float = _NAN
    t_LR: float = _NAN
    t_RL: float = _NAN
    collisions: int = 0
    trajectories: int = 0

    def as_columns(self) -> dict[str, float | int | bool | str]:
        """Flat scalar columns (names as in SPEC §5)."""
        return {k: (int(v) if isinstance(v, int | np.integer) else float(v)) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class KappaResult:
    """Finite-difference linear-response conductance kappa = J / (T_L - T_R) (J over Delta, as Eq. 12).

    Attributes
    ----------
    kappa, kappa_err : float
        J / (T_L - T_R) and J_err / (T_L - T_R).
    T, delta : float
        Mean temperature (T_L + T_R) / 2 and relative bias (T_L - T_R) / T of the problem.
    current : ClassicalResult or TransferResult
        The underlying current (any result with ``J``, ``J_err``, ``J_R``, ``J_R_err`` and ``as_columns()``).
    """

    kappa: float
    kappa_err: float
    T: float
    delta: float
    current: Any

    @property
    def J(self) -> float:
        """Heat current of the underlying solve."""
        return self.current.J

    @property
    def J_err(self) -> float:
        """Error of ``J`` (jackknife for MD, |J(h) - J(2h)| or 0 for the transfer operator)."""
        return self.current.J_err

    def as_columns(self) -> dict[str, float | int | bool | str]:
        """The current's columns plus ``kappa`` and ``kappa_err``."""
        return {**self.current.as_columns(), "kappa": self.kappa, "kappa_err": self.kappa_err}


def _j_eq3(S: np.ndarray) -> np.ndarray:
    n_lr, e_lr, t_lr = S[..., K.COL_N_LR], S[..., K.COL_E_LR], S[..., K.COL_T_LR]
    n_rl, e_rl, t_rl = S[..., K.COL_N_RL], S[..., K.COL_E_RL], S[..., K.COL_T_RL]
    return (e_lr / n_lr - e_rl / n_rl) / (t_lr / n_lr + t_rl / n_rl)


def _j_right(S: np.ndarray) -> np.ndarray:
    return (S[..., K.COL_E_ARR_R] - S[..., K.COL_E_RL]) / (S[..., K.COL_T_LR] + S[..., K.COL_T_RL])


def one_particle_estimators(sums: np.ndarray) -> ClassicalResult:
    """Build a :class:`ClassicalResult` from per-trajectory sums ((n, 8), columns ``kernels.COL_*``), in row order."""
    sums = np.ascontiguousarray(sums, dtype=float)
    J, J_err = jackknife(sums, _j_eq3)
    J_R, J_R_err = jackknife(sums, _j_right)
    S = sums.sum(axis=0)
    return ClassicalResult(
        J=J,
        J_err=J_err,
        J_R=J_R,
        J_R_err=J_R_err,
        E_LR=float(S[K.COL_E_LR] / S[K.COL_N_LR]),
        E_RL=float(S[K.COL_E_RL] / S[K.COL_N_RL]),
        t_LR=float(S[K.COL_T_LR] / S[K.COL_N_LR]),
        t_RL=float(S[K.COL_T_RL] / S[K.COL_N_RL]),
        collisions=int(round(S[K.COL_N_LR] + S[K.COL_N_RL])),
        trajectories=int(sums.shape[0]),
    )


def _j2_left(S: np.ndarray) -> np.ndarray:
    return (S[..., K2.C2_EOUT_L] - S[..., K2.C2_EIN_L]) / S[..., K2.C2_TIME]


def _j2_right(S: np.ndarray) -> np.ndarray:
    return (S[..., K2.C2_EIN_R] - S[..., K2.C2_EOUT_R]) / S[..., K2.C2_TIME]


def two_particle_estimators(sums: np.ndarray) -> ClassicalResult:
    """Build a :class:`ClassicalResult` from per-trajectory sums ((n, 8), columns ``kernels_two.C2_*``) in row order.

    J is the energy delivered by bath L per unit time, sum(E_out - E_in at L) / total time, J_R the energy taken by
    bath R per unit time; E_LR, E_RL, t_LR, t_RL are not defined for two particles (NaN).
    """
    sums = np.ascontiguousarray(sums, dtype=float)
    J, J_err = jackknife(sums, _j2_left)
    J_R, J_R_err = jackknife(sums, _j2_right)
    S = sums.sum(axis=0)
    return ClassicalResult(J=J, J_err=J_err, J_R=J_R, J_R_err=J_R_err,
                           collisions=int(round(S[K2.C2_N_L] + S[K2.C2_N_R])), trajectories=int(sums.shape[0]))
