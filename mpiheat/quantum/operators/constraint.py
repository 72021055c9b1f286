"""The trace constraint of a steady-state problem, written once (sparse rows, dense matrices, matrix-free products).

A generator of the real representation (:mod:`.lindblad`: the N populations first) is trace preserving, so its rows
are linearly dependent and ``L x = 0`` alone does not fix x. Every steady-state solver of the package replaces row 0
(the balance of the population of level 0, the redundant one) by the scaled trace functional
``s * (1, ..., 1, 0, ..., 0)`` over the populations and solves ``L' x = s e_0``, i.e. ``L x = 0`` with ``Tr rho = 1``.
The scale ``s`` is a rate of L (its largest diagonal magnitude or decay rate), so that the replaced row is as large as
the others and the system stays well conditioned.
"""

from __future__ import annotations

import numpy as np


def constrained_rhs(dim: int, s: float) -> np.ndarray:
    """Right-hand side ``s e_0`` of the constrained system."""
    b = np.zeros(dim)
    b[0] = s
    return b


def constrain_csr(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, N: int,
                  s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR arrays of a row block whose first row is global row 0, with that row replaced by ``s * Tr``.

    The returned arrays keep the dtypes of the input (e.g. PETSc's index and scalar types).
    """
    start = indptr[1]
    new_indices = np.concatenate([np.arange(N, dtype=indices.dtype), indices[start:]])
    new_data = np.concatenate([np.full(N, s, dtype=data.dtype), data[start:]])
    new_indptr = np.concatenate([[0], indptr[1:] - start + N]).astype(indptr.dtype)
    return new_indptr, new_indices, new_data


def constrain_dense(A: np.ndarray, N: int, s) -> np.ndarray:
    """Replace row 0 of the dense matrix (or stack of matrices) ``A`` by ``s * Tr`` in place; returns ``A``.

    ``s`` is a scalar or an array of the stack's shape (one scale per matrix).
    """
    A[..., 0, :] = 0.0
    A[..., 0, :N] = np.asarray(s)[..., None]
    return A


def constrain_product(y: np.ndarray, x: np.ndarray, N: int, s: float) -> np.ndarray:
    """Matrix-free form: overwrite ``y[0]`` of a product ``y = L x`` with ``s * Tr x``; returns ``y``."""
    y[0] = s * np.sum(x[:N])
    return y
