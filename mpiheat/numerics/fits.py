"""Small statistical fits shared by the classical and quantum layers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PowerLawFit:
    """Least-squares fit ``log|y| = log A + exponent * log L``; ``stderr`` from the residuals (0 for an exact law)."""

    exponent: float
    stderr: float
    prefactor: float
    max_abs_log_residual: float
    n: int

    def as_columns(self, prefix: str = "") -> dict[str, float | int]:
        return {f"{prefix}exponent": self.exponent, f"{prefix}exponent_err": self.stderr,
                f"{prefix}prefactor": self.prefactor, f"{prefix}max_log_residual": self.max_abs_log_residual,
                f"{prefix}n": self.n}


def fit_power_law(L: Sequence[float], y: Sequence[float]) -> PowerLawFit:
    """Fit ``|y| = A L^p`` by linear least squares in log-log; returns p with its standard error (NaN for 2 points)."""
    x = np.log(np.asarray(L, dtype=float))
    v = np.log(np.abs(np.asarray(y, dtype=float)))
    if x.size < 2:
        raise ValueError("need at least two points to fit an exponent")
    A = np.vstack([np.ones_like(x), x]).T
    coef, *_ = np.linalg.lstsq(A, v, rcond=None)
    res = v - A @ coef
    dof = x.size - 2
    if dof > 0:
        s2 = float(res @ res) / dof
        cov = s2 * np.linalg.inv(A.T @ A)
        err = float(np.sqrt(cov[1, 1]))
    else:
        err = float("nan")
    return PowerLawFit(exponent=float(coef[1]), stderr=err, prefactor=float(np.exp(coef[0])),
                       max_abs_log_residual=float(np.max(np.abs(res))), n=int(x.size))
