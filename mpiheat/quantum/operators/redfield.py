"""Bloch-Redfield generator without secular approximation (SPEC §3, Letter End Matter Eq. B1).

Per bath alpha, with ``(S_a)_ij = Gamma_a(E_j - E_i) (P_a)_ij``,

    R_a(rho) = 1/2 [S_a rho P_a - P_a S_a rho + P_a rho S_a^T - rho S_a^T P_a],

``Gamma(w > 0) = J(w)(1 + n(w))``, ``Gamma(w < 0) = J(|w|) n(|w|)``, ``Gamma(0) = 0`` (no Lamb shift), and the
generator is ``L(rho) = -i[H, rho] + R_L(rho) + R_R(rho)``.  ``S_a``, ``P_a`` are real, so for Hermitian ``rho``

    R(rho) = C + C^dagger,   C = 1/2 (sum_a S_a rho P_a - M rho),   M = sum_a P_a S_a,

which is what :meth:`RedfieldGenerator.apply_real` evaluates: a handful of real N x N matrix products, O(N^3) time
and O(N^2) memory per application (the tensor, O(N^4) memory, is never formed except by :meth:`assemble` for small N).

Real representation: the N^2 real coordinates of :mod:`.lindblad` (``rho_to_real``/``real_to_rho``):
the populations ``rho_aa`` first, then ``(Re rho_ij, Im rho_ij)`` for each pair i < j in row-major order.

This module is the generator only. Its steady state (dense LU, matrix-free GMRES, PETSc shell KSP) and the physicality
check (rightmost generator eigenvalue) are solvers: :mod:`mpiheat.quantum.solvers.redfield_steady`,
:mod:`mpiheat.quantum.solvers.redfield_eigs`; the front end is :func:`mpiheat.quantum.steady_state`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from mpiheat.quantum.operators.spectrum import Spectrum, bose, spectral_density

__all__ = [
    "RedfieldGenerator",
    "redfield_generator",
    "redfield_rates",
    "pack_xy",
    "unpack_xy",
]


# --------------------------------------------------------------------------------------------------------------------
# real representation (the layout of mpiheat.quantum.operators.lindblad: populations, then (Re, Im) of each pair i < j)
# --------------------------------------------------------------------------------------------------------------------
def unpack_xy(x: np.ndarray, N: int) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates -> (X symmetric, Y antisymmetric) real matrices with rho = X + iY."""
    iu, ju = np.triu_indices(N, 1)
    X = np.zeros((N, N))
    Y = np.zeros((N, N))
    d = np.arange(N)
    X[d, d] = x[:N]
    X[iu, ju] = X[ju, iu] = x[N::2]
    Y[iu, ju] = x[N + 1::2]
    Y[ju, iu] = -x[N + 1::2]
    return X, Y


def pack_xy(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """(X symmetric, Y antisymmetric) -> the N^2 real coordinates of rho = X + iY (inverse of :func:`unpack_xy`)."""
    N = X.shape[0]
    iu, ju = np.triu_indices(N, 1)
    x = np.empty(N * N)
    x[:N] = np.diagonal(X)
    x[N::2] = X[iu, ju]
    x[N + 1::2] = Y[iu, ju]
    return x


# --------------------------------------------------------------------------------------------------------------------
# generator
# --------------------------------------------------------------------------------------------------------------------
def redfield_rates(spectrum: Spectrum, T: float, *, gamma: float, eta: float, omega_c: float = 1.0) -> np.ndarray:
    """Matrix ``G[i, j] = Gamma(E_j - E_i)`` of one bath at temperature ``T`` (Eq. B1; ``Gamma(0) = 0``).

    Bohr frequencies come from the exact integer keys when the spectrum has them, so ``E_j = E_i`` gives exactly 0.
    """
    w = spectrum.gaps()
    aw = np.abs(w)
    Jw = spectral_density(aw, gamma, eta, omega_c)
    with np.errstate(over="ignore"):  # exp(w/T) overflow -> n = 0, which is exact to double precision
        n = bose(aw, T)
    return np.where(w > 0, Jw * (1.0 + n), np.where(w < 0, Jw * n, 0.0))


@dataclass(frozen=True, eq=False)
class RedfieldGenerator:
    """Matrix-free Redfield generator ``L = -i[H, .] + R_L + R_R`` (Eq. B1) of one spectrum and bath pair.

    Attributes
    ----------
    E : ndarray (N,)
        Levels.
    P : ndarray (2, N, N)
        Coupling operators (left, right).
    S : ndarray (2, N, N)
        ``S_a = G_a * P_a`` (elementwise), ``G_a[i, j] = Gamma_a(E_j - E_i)``.
    M : ndarray (2, N, N)
        ``M_a = P_a S_a``.
    """

    E: np.ndarray
    P: np.ndarray
    S: np.ndarray
    M: np.ndarray
    params: dict = field(default_factory=dict)

    @property
    def N(self) -> int:
        return int(self.E.shape[0])

    @property
    def dim(self) -> int:
        return self.N * self.N

    @cached_property
    def M_total(self) -> np.ndarray:
        """``M = sum_a P_a S_a`` (N x N), used by every product; computed once per generator."""
        return self.M.sum(axis=0)

    @property
    def decay_scale(self) -> float:
        """Largest total decay rate ``max_i |M_ii|`` (1 if all vanish): the scale of the dissipator."""
        s = float(np.abs(np.einsum("aii->i", self.M)).max())
        return s if s > 0 else 1.0

    # -- complex form, literally Eq. B1 (reference implementation, used by the tests) ---------------------------------
    def dissipator(self, rho: np.ndarray, bath: int) -> np.ndarray:
        """``R_bath(rho)`` for a general complex N x N ``rho``, written term by term as in Eq. B1."""
        S, P = self.S[bath], self.P[bath]
        Sd = S.conj().T
        return 0.5 * (S @ rho @ P - P @ S @ rho + P @ rho @ Sd - rho @ Sd @ P)

    def apply(self, rho: np.ndarray) -> np.ndarray:
        """``L(rho)`` for a complex N x N matrix (reference form; O(N^3))."""
        rho = np.asarray(rho, dtype=complex)
        out = -1j * (self.E[:, None] - self.E[None, :]) * rho
        return out + self.dissipator(rho, 0) + self.dissipator(rho, 1)

    # -- real representation, fast form -------------------------------------------------------------------------------
    def apply_xy(self, X: np.ndarray, Y: np.ndarray, rows: slice | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``L(X + iY)`` as (Re, Im) for symmetric X, antisymmetric Y; only output ``rows`` if given (MPI split).

        Uses ``R(rho) = C + C^dagger`` with ``C = (S_L rho P_L + S_R rho P_R - M rho) / 2`` (real S, P, M), so
        Re R = C_X + C_X^T and Im R = C_Y - C_Y^T.  With ``rows`` the rows of ``C`` and of ``C^dagger`` are formed
        directly, at cost O(len(rows) N^2).
        """
        S, P, M = self.S, self.P, self.M_total
        Z = np.stack([X, Y])  # (2, N, N): the same real operator acts on X and on Y
        if rows is None:
            C = (S[0] @ Z) @ P[0]
            C += (S[1] @ Z) @ P[1]
            C -= M @ Z
            C *= 0.5
            CT = np.swapaxes(C, 1, 2)
            RX = C[0] + CT[0]
            RY = C[1] - CT[1]
            w = self.E[:, None] - self.E[None, :]
            return RX + w * Y, RY - w * X
        # rows of C = 1/2 (S_a[rows] Z P_a - M[rows] Z); D = 1/2 (P_a Z S_a^T - Z M^T) equals C_X^T for Z = X and
        # -C_Y^T for Z = Y (Y^T = -Y), so rows of C + D are rows of Re R and Im R directly.
        C = (S[0][rows] @ Z) @ P[0]
        C += (S[1][rows] @ Z) @ P[1]
        C -= M[rows] @ Z
        C += (P[0][rows] @ Z) @ S[0].T
        C += (P[1][rows] @ Z) @ S[1].T
        C -= Z[:, rows, :] @ M.T
        R = 0.5 * C
        w = self.E[rows, None] - self.E[None, :]
        return R[0] + w * Y[rows], R[1] - w * X[rows]

    def apply_real(self, x: np.ndarray) -> np.ndarray:
        """Generator on the N^2 real coordinates (O(N^3), O(N^2) memory)."""
        X, Y = unpack_xy(np.asarray(x, dtype=float), self.N)
        RX, RY = self.apply_xy(X, Y)
        return pack_xy(RX, RY)

    def assemble(self) -> np.ndarray:
        """Dense real-representation superoperator (N^2 x N^2), column by column; only for small N (cross-checks)."""
        if self.N > 60:
            raise ValueError(f"assemble() is dense O(N^4) memory; N = {self.N} is too large")
        n = self.dim
        out = np.empty((n, n))
        e = np.zeros(n)
        for k in range(n):
            e[k] = 1.0
            out[:, k] = self.apply_real(e)
            e[k] = 0.0
        return out

    # -- observables -----------------------------------------------------------------------------------------------
    def currents(self, rho: np.ndarray) -> tuple[float, float]:
        """Heat currents ``J_L = Tr[R_L(rho) H]``, ``J_R = -Tr[R_R(rho) H]`` for Hermitian ``rho`` (O(N^3))."""
        rho = np.asarray(rho, dtype=complex)
        out = []
        for a in range(2):
            # diag R_a(rho) = Re diag(S rho P) - Re diag(M rho) for Hermitian rho
            d = np.einsum("ij,ji->i", self.S[a] @ rho, self.P[a]) - np.einsum("ij,ji->i", self.M[a], rho)
            # Tr R_a(rho) = 0, so E - E_0 gives the same value with less cancellation
            out.append(float(np.dot(self.E - self.E[0], d.real)))
        return out[0], -out[1]

    # -- secular skeleton used as preconditioner ---------------------------------------------------------------------
    def population_block(self) -> np.ndarray:
        """Exact population-to-population block of the generator (the Pauli rate matrix), N x N."""
        G = self.S * self.P  # G_a * P_a^2
        W = G.sum(axis=0)
        np.fill_diagonal(W, 0.0)
        out_rate = np.einsum("aii->i", self.M)
        return W - np.diag(out_rate)

    def coherence_diagonal(self) -> tuple[np.ndarray, np.ndarray]:
        """Exact diagonal 2x2 blocks of the coherences: ``d_ij = -(M_ii + M_jj)/2``, ``w_ij = E_i - E_j``, (i < j)."""
        m = np.einsum("aii->i", self.M)
        i, j = np.triu_indices(self.N, 1)
        return -0.5 * (m[i] + m[j]), self.E[i] - self.E[j]


def redfield_generator(spectrum: Spectrum, T_L: float, T_R: float, *, gamma: float, eta: float,
                       omega_c: float = 1.0) -> RedfieldGenerator:
    """Build the matrix-free Redfield generator of ``spectrum`` between baths at ``T_L`` and ``T_R``.

    Parameters
    ----------
    spectrum : Spectrum
        Levels and (real symmetric) coupling operators in the eigenbasis.
    T_L, T_R : float
        Bath temperatures.
    gamma, eta, omega_c : float
        Spectral function ``J(w) = gamma omega_c^(1-eta) w^eta``.
    """
    P = np.stack([np.asarray(spectrum.P_L, dtype=float), np.asarray(spectrum.P_R, dtype=float)])
    G = np.stack([redfield_rates(spectrum, T, gamma=gamma, eta=eta, omega_c=omega_c) for T in (T_L, T_R)])
    S = G * P
    M = P @ S
    return RedfieldGenerator(E=np.asarray(spectrum.E, dtype=float), P=P, S=S, M=M,
                             params=dict(T_L=float(T_L), T_R=float(T_R), gamma=float(gamma), eta=float(eta),
                                         omega_c=float(omega_c)))
