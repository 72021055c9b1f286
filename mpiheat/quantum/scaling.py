"""Length scaling of the heat current (Letter, quantum-to-classical paragraph; SPEC §3 "Length scaling").

With ``T -> T / L^2`` every Bose factor ``n(w / T)`` is unchanged (all Bohr frequencies scale as ``L^-2``), so the
populations are unchanged; the matrix elements of ``P_alpha`` scale as ``L^-3`` and ``J(w)`` as ``L^(-2 eta)``, hence
``J^q ~ gamma L^(-8 - 2 eta)``.  Scaling ``gamma -> gamma L^(4 + 2 eta)`` (``L^-0.5`` at ``eta = -2.25``) gives
``J^q ~ L^-4``, the classical law (Eq. 4 with ``T -> T / L^2``: ``J^c ~ L^-4``,
:func:`mpiheat.classical.classical_length_scaling`).  ``<P_R> ~ L^-3`` at fixed ``T L^2``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mpiheat.numerics.fits import PowerLawFit, fit_power_law
from mpiheat.quantum.operators.observables import expect_P_R
from mpiheat.quantum.operators.spectrum import box_spectrum
from mpiheat.quantum.problem import QuantumProblem
from mpiheat.quantum.solvers.base import SolverOptions
from mpiheat.quantum.solvers.steadystate import steady_state

__all__ = ["QuantumScaling", "length_scaled", "quantum_length_scaling"]


@dataclass(frozen=True)
class QuantumScaling:
    """Quantum currents and ``<P_R>`` along a list of lengths, with their power-law fits."""

    L: np.ndarray
    gamma: np.ndarray
    T_L: np.ndarray
    T_R: np.ndarray
    J: np.ndarray
    P_R: np.ndarray
    fit_J: PowerLawFit
    fit_P_R: PowerLawFit

    def as_columns(self) -> dict[str, float | int]:
        return {**self.fit_J.as_columns("J_"), **self.fit_P_R.as_columns("P_R_")}


def length_scaled(length: float, T_L: float, T_R: float, gamma: float, eta: float, *,
                  L_ref: float = 1.0) -> tuple[float, float, float]:
    """Bath temperatures and coupling at box length ``length`` from their values at ``L_ref``.

    ``T -> T (L_ref / L)^2`` keeps every Bose factor; ``gamma -> gamma (L / L_ref)^(4 + 2 eta)`` makes ``J^q ~ L^-4``,
    the classical law.

    Returns
    -------
    (T_L, T_R, gamma) : tuple of float
        Computed as ``T * (L_ref / L)**2`` and ``gamma * (L / L_ref)**(4 + 2 eta)`` (the expressions of the scaling
        job kind, so the two give the same bits).
    """
    s = (L_ref / length) ** 2
    return T_L * s, T_R * s, gamma * (length / L_ref) ** (4.0 + 2.0 * eta)


def quantum_length_scaling(lengths: Sequence[float], T_L: float, T_R: float, *, gamma: float, eta: float,
                           levels: int, omega_c: float = 1.0, mass: float = 1.0, equation: str = "pauli",
                           scale_gamma: bool = True, backend: str = "scipy", options: SolverOptions | None = None,
                           comm=None) -> QuantumScaling:
    """Quantum heat current and ``<P_R>`` versus L with ``T -> T / L^2`` and ``gamma -> gamma L^(4 + 2 eta)``
    (:func:`length_scaled` with L_ref = 1).

    Parameters
    ----------
    lengths : sequence of float
        Box lengths L (T_L, T_R, gamma are the values at L = 1).
    equation : {"pauli", "lindblad", "redfield"}
        Passed to :func:`mpiheat.quantum.steady_state` with ``backend``, ``options`` and ``comm``.
    scale_gamma : bool
        Apply ``gamma L^(4 + 2 eta)`` (expected exponent -4); without it the exponent is ``-8 - 2 eta``.

    Returns
    -------
    QuantumScaling
        Exponent of J (expected -4, or -8 - 2 eta) and of ``<P_R>`` (expected -3) with standard errors.
    """
    L = np.asarray(lengths, dtype=float)
    scaled = np.array([length_scaled(float(x), T_L, T_R, gamma, eta) for x in L]).reshape(L.size, 3)
    TL, TR = scaled[:, 0], scaled[:, 1]
    g = scaled[:, 2] if scale_gamma else np.full_like(L, gamma)
    J = np.empty_like(L)
    PR = np.empty_like(L)
    for k, length in enumerate(L):
        sp = box_spectrum(levels, mass=mass, length=float(length))
        ss = steady_state(QuantumProblem(sp, TL[k], TR[k], gamma=float(g[k]), eta=eta, omega_c=omega_c),
                          equation=equation, backend=backend, options=options, comm=comm)
        J[k] = ss.J_L
        PR[k] = expect_P_R(sp, ss.rho)
    return QuantumScaling(L=L, gamma=g, T_L=TL, T_R=TR, J=J, P_R=PR, fit_J=fit_power_law(L, J),
                          fit_P_R=fit_power_law(L, PR))

