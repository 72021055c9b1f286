"""Ratio-of-sums estimators with delete-one jackknife errors over independent trajectories (SPEC §1)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["jackknife"]


def jackknife(sums: np.ndarray, estimator: Callable[[np.ndarray], np.ndarray]) -> tuple[float, float]:
    """Estimate ``estimator(pooled sums)`` and its delete-one jackknife standard error.

    Parameters
    ----------
    sums : numpy.ndarray, shape (n, k)
        Per-trajectory sums (one row per independent trajectory, in a fixed order), n >= 2.
    estimator : callable
        Maps pooled sums of shape (..., k) to the estimate (vectorised over leading axes), e.g. a ratio of sums.

    Returns
    -------
    (value, error) : tuple of float
        The estimator on the sums pooled over all trajectories (never a mean of per-trajectory ratios) and
        sqrt((n-1)/n * sum_i (theta_{-i} - mean theta_{-i})^2), theta_{-i} the estimate without trajectory i.

    Notes
    -----
    The result depends only on ``sums`` and its row order, so it is identical, bit for bit, wherever it is computed.
    """
    sums = np.asarray(sums, dtype=float)
    if sums.ndim != 2 or sums.shape[0] < 2:
        raise ValueError(f"jackknife needs a (n >= 2, k) array of per-trajectory sums, got shape {sums.shape}")
    n = sums.shape[0]
    total = sums.sum(axis=0)
    value = float(estimator(total))
    loo = np.asarray(estimator(total[None, :] - sums), dtype=float)
    err = float(np.sqrt((n - 1) / n * np.sum((loo - loo.mean()) ** 2)))
    return value, err
