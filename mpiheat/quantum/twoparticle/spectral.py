"""Single-element spectral Galerkin (p-version) discretisation of the triangle 0 < x1 < x2 < 1 (SPEC §4).

Basis: polynomials of total degree <= p that vanish on the whole boundary, in the collapsed coordinates
``s = x2``, ``t = x1 / x2`` (both in (0, 1); ``dx1 dx2 = s ds dt``):

    phi_ij(x1, x2) = A_i(t) B_ij(s),   A_i(t) = t (1 - t) P_i^(2,2)(2t - 1),
                     B_ij(s) = s^(i+2) (1 - s) P_j^(2, 2i+5)(2s - 1),      i + j <= p - 3,

with orthonormal Jacobi polynomials. ``s^n g(t)`` with ``deg g <= n`` is a homogeneous polynomial of degree n in
(x1, x2), so the span is exactly {x1 (x2 - x1) (1 - x2) q : deg q <= p - 3}, and the Jacobi weights make the mass
matrix the identity (Dubiner/Sherwin-Karniadakis construction). Every integrand below is a polynomial in (s, t), so
Gauss-Legendre rules with ``p + 4`` nodes per direction are exact. Matrices separate into a t-factor depending only
on (i, i') times an s-factor, assembled as Hadamard products.

Everything here is on the unit length; :mod:`mpiheat.quantum.twoparticle.levels` rescales to ``L``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln


def _jacobi_coeffs(n: int, alpha: float, beta: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Recurrence coefficients of orthonormal Jacobi polynomials on [-1, 1]: ``b[k+1] p_{k+1} = (y - a[k]) p_k -
    b[k] p_{k-1}``; returns ``a[0:n]``, ``b[0:n+1]`` (``b[0]`` unused) and ``p_0`` (a constant)."""
    k = np.arange(n + 1, dtype=float)
    ab = alpha + beta
    a = (beta**2 - alpha**2) / ((2 * k + ab) * (2 * k + ab + 2))
    b = np.zeros(n + 1)
    kk = k[1:]
    b[1:] = np.sqrt(4 * kk * (kk + alpha) * (kk + beta) * (kk + ab)
                    / ((2 * kk + ab) ** 2 * (2 * kk + ab + 1) * (2 * kk + ab - 1)))
    log_mu0 = (ab + 1) * np.log(2.0) + gammaln(alpha + 1) + gammaln(beta + 1) - gammaln(ab + 2)
    return a[:n], b, float(np.exp(-0.5 * log_mu0))


def _weighted_jacobi(n: int, alpha: float, beta: float, y: np.ndarray, log_w: np.ndarray) -> tuple[np.ndarray, ...]:
    """``R_k = w(y) p_k(y)`` and ``S_k = w(y) p_k'(y)`` for k < n (orthonormal Jacobi p_k, w = exp(log_w)).

    The recurrence is linear, so it runs on the weighted values directly; extended precision keeps ``w`` (which
    spans hundreds of decades for large ``beta``) from underflowing before the polynomial compensates it.
    """
    ld = np.longdouble
    a, b, p0 = _jacobi_coeffs(n, alpha, beta)
    y = np.asarray(y, dtype=ld)
    w = np.exp(np.asarray(log_w, dtype=ld))
    R = np.zeros((n, y.size), dtype=ld)
    S = np.zeros((n, y.size), dtype=ld)
    R[0] = w * ld(p0)
    if n > 1:
        R[1] = (y - ld(a[0])) * R[0] / ld(b[1])
        S[1] = R[0] / ld(b[1])
    for k in range(1, n - 1):
        R[k + 1] = ((y - ld(a[k])) * R[k] - ld(b[k]) * R[k - 1]) / ld(b[k + 1])
        S[k + 1] = (R[k] + (y - ld(a[k])) * S[k] - ld(b[k]) * S[k - 1]) / ld(b[k + 1])
    return R, S


@dataclass(frozen=True)
class TriangleBasis:
    """Values of the basis on the tensor Gauss grid and the assembled Galerkin matrices (unit length).

    Attributes
    ----------
    p : int
        Total polynomial degree.
    ij : ndarray, shape (n, 2)
        Mode labels (i, j), ordered by i then j; the basis of degree p is a prefix-closed subset of degree p + 1's
        in the sense that :meth:`embed` maps coefficients exactly (hierarchical).
    """

    p: int
    ij: np.ndarray
    K1: np.ndarray  # int d1 phi_k d1 phi_l
    K2: np.ndarray  # int d2 phi_k d2 phi_l
    G_L: np.ndarray  # int phi_k (x - (1,1)) . grad phi_l   (Rellich field for the edge x1 = 0)
    G_R: np.ndarray  # int phi_k x . grad phi_l            (Rellich field for the edge x2 = 1)
    trace_L: np.ndarray  # d1 phi_k(0, x2) at the Gauss nodes x2 = s_q, shape (n, nq)
    trace_R: np.ndarray  # d2 phi_k(x1, 1) at the Gauss nodes x1 = t_q, shape (n, nq)
    weights: np.ndarray  # Gauss-Legendre weights on [0, 1] for both traces
    mass_deviation: float  # max |M - 1| of the assembled mass matrix (orthonormality check)

    def boundary_form(self, C: np.ndarray, edge: str) -> np.ndarray:
        """``int d_n psi_i d_n psi_j`` along edge ``"L"`` (x1 = 0) or ``"R"`` (x2 = 1) for coefficient columns C."""
        T = (self.trace_L if edge == "L" else self.trace_R).T @ C
        return T.T @ (self.weights[:, None] * T)

    @property
    def n(self) -> int:
        return int(self.ij.shape[0])

    def embed(self, coeffs: np.ndarray, finer: TriangleBasis) -> np.ndarray:
        """Coefficients of the same functions in a basis of higher degree (the modes are shared)."""
        index = {tuple(m): k for k, m in enumerate(finer.ij.tolist())}
        rows = np.array([index[tuple(m)] for m in self.ij.tolist()])
        out = np.zeros((finer.n,) + coeffs.shape[1:])
        out[rows] = coeffs
        return out


def _mode_values(p: int, y: np.ndarray) -> dict:
    """t- and s-factors of the degree-``p`` modes and their derivatives at nodes ``y`` in [-1, 1] (``t, s = (y+1)/2``).

    Returns a dict with ``A``, ``dA`` (shape (p-2, len(y))), ``B``, ``dB`` (shape (n_modes, len(y))), ``ij``, and the
    end-point values ``dA0`` (A_i'(0)) and ``dB1`` (B_ij'(1)) for the boundary forms.
    """
    x = 0.5 * (y + 1.0)
    nI = p - 2  # i = 0 .. p-3
    with np.errstate(divide="ignore"):
        lx, l1x = np.log(x), np.log1p(-x)
    # A_i = t(1-t) P_i^(2,2)(2t-1) * 2^(5/2): orthonormal with weight 1 on [0, 1]
    RA, SA = _weighted_jacobi(nI, 2.0, 2.0, y, lx + l1x + 2.5 * np.log(2.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        A = RA.astype(float)
        # d/dt (w P) = w' P + w P' * dy/dt with w'/w = 1/t - 1/(1-t); written without dividing by w
        dA = (((1.0 - 2.0 * x) * 2.0**2.5) * _plain_jacobi(nI, 2.0, 2.0, y) + 2.0 * SA).astype(float)
    dA0 = 2.0**2.5 * _plain_jacobi(nI, 2.0, 2.0, np.array([-1.0]))[:, 0]
    Bs, dBs, dB1, labels = [], [], [], []
    for i in range(nI):
        nj = p - 2 - i
        # B_ij = s^(i+2)(1-s) P_j^(2,2i+5)(2s-1) * 2^(i+4): orthonormal with weight s on [0, 1]
        with np.errstate(invalid="ignore"):
            R, S = _weighted_jacobi(nj, 2.0, 2.0 * i + 5.0, y, (i + 2) * lx + l1x + (i + 4) * np.log(2.0))
            # w' = s^(i+1) [(i+2) - (i+3) s] 2^(i+4), again without dividing by w
            R1, _ = _weighted_jacobi(nj, 2.0, 2.0 * i + 5.0, y, (i + 1) * lx + (i + 4) * np.log(2.0))
        Bs.append(np.nan_to_num(R.astype(float)))
        dBs.append(np.nan_to_num(((i + 2) - (i + 3) * x) * R1.astype(float) + 2.0 * S.astype(float)))
        dB1.append(-(2.0 ** (i + 4)) * _plain_jacobi(nj, 2.0, 2.0 * i + 5.0, np.array([1.0]))[:, 0])
        labels.extend((i, j) for j in range(nj))
    return {"A": A, "dA": dA, "dA0": dA0, "B": np.vstack(Bs), "dB": np.vstack(dBs), "dB1": np.concatenate(dB1),
            "ij": np.array(labels, dtype=np.int64)}


def _plain_jacobi(n: int, alpha: float, beta: float, y: np.ndarray) -> np.ndarray:
    """Orthonormal Jacobi polynomials p_k(y), k < n (double precision; only for moderate values)."""
    R, _ = _weighted_jacobi(n, alpha, beta, y, np.zeros_like(np.asarray(y, dtype=float)))
    return R.astype(float)


def basis_values(p: int, x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    """Values ``phi_k(x1, x2)`` of the degree-``p`` basis at points of the unit triangle, shape (n_modes, n_points)."""
    x1, x2 = np.asarray(x1, dtype=float).ravel(), np.asarray(x2, dtype=float).ravel()
    t = np.divide(x1, x2, out=np.zeros_like(x1), where=x2 > 0)
    vt = _mode_values(p, 2.0 * t - 1.0)
    vs = _mode_values(p, 2.0 * x2 - 1.0)
    return vt["A"][vs["ij"][:, 0]] * vs["B"]


def triangle_basis(p: int) -> TriangleBasis:
    """Assemble the Galerkin matrices of the degree-``p`` interior basis on 0 < x1 < x2 < 1 (``p >= 3``)."""
    p = int(p)
    if p < 3:
        raise ValueError(f"polynomial degree must be >= 3, got {p}")
    nq = p + 4
    y, wq = np.polynomial.legendre.leggauss(nq)
    x = 0.5 * (y + 1.0)
    w = 0.5 * wq
    v = _mode_values(p, y)
    A, dA, B, dB, ij = v["A"], v["dA"], v["B"], v["dB"], v["ij"]
    iI = ij[:, 0]

    def tint(f, g, h=1.0):
        return (f * (w * h)) @ g.T

    TA0 = tint(A, A)
    TA1 = tint(dA, dA)
    TAtd = tint(A, dA, x)  # int A_i t A_i'' dt
    TAt2 = tint(dA, dA, x * x)
    TAa = tint(A, dA, x - 1.0)  # int A_i (t-1) A_i'' dt

    def sint(f, g, h):
        return (f * (w * h)) @ g.T

    def tfac(T):
        return T[np.ix_(iI, iI)]

    mass_deviation = float(np.abs(tfac(TA0) * sint(B, B, x) - np.eye(ij.shape[0])).max())
    K1 = tfac(TA1) * sint(B, B, 1.0 / x)
    K1 = 0.5 * (K1 + K1.T)
    K2 = (tfac(TA0) * sint(dB, dB, x) - tfac(TAtd) * sint(dB, B, 1.0) - tfac(TAtd).T * sint(B, dB, 1.0)
          + tfac(TAt2) * sint(B, B, 1.0 / x))
    K2 = 0.5 * (K2 + K2.T)
    G_L = tfac(TAa) * sint(B, B, 1.0) + tfac(TA0) * sint(B, dB, x * (x - 1.0))
    G_R = tfac(TA0) * sint(B, dB, x * x)
    trace_L = v["dA0"][iI, None] * B / x
    trace_R = A[iI] * v["dB1"][:, None]
    return TriangleBasis(p=p, ij=ij, K1=K1, K2=K2, G_L=G_L, G_R=G_R, trace_L=trace_L, trace_R=trace_R, weights=w,
                         mass_deviation=mass_deviation)


def project(f, p: int, nq: int | None = None) -> np.ndarray:
    """Coefficients ``c_k = int f phi_k dx`` of functions on the unit triangle in the degree-``p`` basis.

    ``f(x1, x2)`` takes arrays of shape (nq, nq) (collapsed Gauss grid) and returns shape (..., nq, nq); the result
    has shape (n_modes, ...). Since the basis is orthonormal these are the L2-best approximations' coefficients.
    """
    nq = int(nq) if nq is not None else p + 30
    y, wq = np.polynomial.legendre.leggauss(nq)
    x, w = 0.5 * (y + 1.0), 0.5 * wq
    v = _mode_values(p, y)
    t, s = np.meshgrid(x, x, indexing="ij")  # axis 0: t, axis 1: s
    F = np.asarray(f(s * t, s), dtype=float) * (w[:, None] * (w * x)[None, :])
    lead = F.shape[:-2]
    F = F.reshape((-1, nq, nq))
    G = np.einsum("ia,jab->jib", v["A"], F)  # (n_f, n_i, n_s)
    c = np.einsum("kb,jkb->kj", v["B"], G[:, v["ij"][:, 0], :])
    return c.reshape((v["ij"].shape[0],) + lead)
