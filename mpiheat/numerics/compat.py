"""Version shims: one place for the APIs that differ between the oldest and newest tested stacks.

The oldest tested stack is Debian 12's packages (numpy 1.24, scipy 1.10, mpi4py 3.1); the newest is whatever PyPI
serves today (numpy 2.x, scipy >= 1.14, mpi4py 4.x). Code calls the helpers here instead of testing versions itself.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse.linalg as spla

__all__ = ["bicgstab", "gmres"]


def _rtol_keyword(solver: Callable) -> str:
    # scipy 1.12 renamed the Krylov solvers' ``tol`` to ``rtol``; 1.14 removed ``tol``. Ask the signature, not the
    # version string, so that backports and release candidates behave.
    return "rtol" if "rtol" in inspect.signature(solver).parameters else "tol"


_GMRES_RTOL = _rtol_keyword(spla.gmres)
_BICGSTAB_RTOL = _rtol_keyword(spla.bicgstab)


def gmres(A: Any, b: np.ndarray, *, rtol: float, **kwargs: Any) -> tuple[np.ndarray, int]:
    """:func:`scipy.sparse.linalg.gmres` with the relative tolerance spelled ``rtol`` on every scipy version.

    Parameters
    ----------
    A, b
        Operator and right-hand side, as for scipy.
    rtol : float
        Relative residual tolerance (``tol`` before scipy 1.12, ``rtol`` from 1.12 on).
    **kwargs
        Passed on unchanged (``x0``, ``atol``, ``restart``, ``maxiter``, ``M``, ``callback``, ``callback_type``).

    Returns
    -------
    x : numpy.ndarray
        The solution.
    info : int
        0 on convergence, > 0 iterations when the iteration limit was hit, < 0 on breakdown.
    """
    return spla.gmres(A, b, **{_GMRES_RTOL: rtol}, **kwargs)


def bicgstab(A: Any, b: np.ndarray, *, rtol: float, **kwargs: Any) -> tuple[np.ndarray, int]:
    """:func:`scipy.sparse.linalg.bicgstab` with the relative tolerance spelled ``rtol`` on every scipy version.

    Parameters
    ----------
    A, b
        Operator and right-hand side, as for scipy.
    rtol : float
        Relative residual tolerance.
    **kwargs
        Passed on unchanged.

    Returns
    -------
    x : numpy.ndarray
        The solution.
    info : int
        As for :func:`gmres`.
    """
    return spla.bicgstab(A, b, **{_BICGSTAB_RTOL: rtol}, **kwargs)
