"""The power-law fit: linear least squares in log-log, the one fitter of the package (exponents of J(L), tau(T),
kappa(T), ...)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["PowerLawFit", "fit_power_law"]


@dataclass(frozen=True)
class PowerLawFit:
    """Least-squares fit ``log|y| = log A + exponent * log x``.

    Attributes
    ----------
    exponent : float
        The power p.
    stderr : float
        Standard error of p from the residuals (0 up to round-off for an exact law; NaN for two points).
    prefactor : float
        A = exp(intercept).
    max_abs_log_residual : float
        Largest |log|y| - fit| over the points.
    n : int
        Number of points.
    """

    exponent: float
    stderr: float
    prefactor: float
    max_abs_log_residual: float
    n: int

    def __call__(self, x):
        """The fitted law ``A x^p`` (positive; the fit is of |y|)."""
        return self.prefactor * np.asarray(x, dtype=float) ** self.exponent

    def as_columns(self, prefix: str = "") -> dict[str, float | int]:
        """Flat scalars ``{prefix}exponent``, ``{prefix}exponent_err``, ``{prefix}prefactor``,
        ``{prefix}max_log_residual``, ``{prefix}n``."""
        return {f"{prefix}exponent": self.exponent, f"{prefix}exponent_err": self.stderr,
                f"{prefix}prefactor": self.prefactor, f"{prefix}max_log_residual": self.max_abs_log_residual,
                f"{prefix}n": self.n}


def fit_power_law(x: Sequence[float], y: Sequence[float]) -> PowerLawFit:
    """Fit ``|y| = A x^p`` by linear least squares on (log x, log|y|).

    Parameters
    ----------
    x : sequence of float
        Abscissae (> 0), e.g. lengths L or temperatures T; at least two.
    y : sequence of float
        Values (non-zero; the sign is dropped).

    Returns
    -------
    PowerLawFit
        p with its standard error from the residuals (NaN for two points), A and the largest log residual.
    """
    lx = np.log(np.asarray(x, dtype=float))
    v = np.log(np.abs(np.asarray(y, dtype=float)))
    if lx.size < 2:
        raise ValueError("need at least two points to fit an exponent")
    if v.shape != lx.shape:
        raise ValueError(f"x and y must have the same length, got {lx.shape} and {v.shape}")
    A = np.vstack([np.ones_like(lx), lx]).T
    coef, *_ = np.linalg.lstsq(A, v, rcond=None)
    res = v - A @ coef
    dof = lx.size - 2
    if dof > 0:
        s2 = float(res @ res) / dof
        cov = s2 * np.linalg.inv(A.T @ A)
        err = float(np.sqrt(cov[1, 1]))
    else:
        err = float("nan")
    return PowerLawFit(exponent=float(coef[1]), stderr=err, prefactor=float(np.exp(coef[0])),
                       max_abs_log_residual=float(np.max(np.abs(res))), n=int(lx.size))
