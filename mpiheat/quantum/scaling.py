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

from mpiheat.numerics.fits import PowerLawFit, fit_power_law  # noqa: F401  fit_power_law: TEMPORARY re-export (issue 11)
from mpiheat.quantum.operators.observables import expect_P_R
from mpiheat.quantum.operators.spectrum import box_spectrum
from mpiheat.quantum.solvers.steadystate import steadystate

__all__ = ["QuantumScaling", "quantum_length_scaling"]


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


def quantum_length_scaling(lengths: Sequence[float], T_L: float, T_R: float, *, gamma: float, eta: float,
                           levels: int, omega_c: float = 1.0, mass: float = 1.0, equation: str = "pauli",
                           scale_gamma: bool = True, **solver_kw) -> QuantumScaling:
    """Quantum heat current and ``<P_R>`` versus L with ``T -> T / L^2`` and ``gamma -> gamma L^(4 + 2 eta)``.

    Parameters
    ----------
    lengths : sequence of float
        Box lengths L (T_L, T_R, gamma are the values at L = 1).
    equation : {"pauli", "lindblad", "redfield"}
        Passed to :func:`mpiheat.quantum.solvers.steadystate.steadystate` with ``solver_kw``.
    scale_gamma : bool
        Apply ``gamma L^(4 + 2 eta)`` (expected exponent -4); without it the exponent is ``-8 - 2 eta``.

    Returns
    -------
    QuantumScaling
        Exponent of J (expected -4, or -8 - 2 eta) and of ``<P_R>`` (expected -3) with standard errors.
    """
    L = np.asarray(lengths, dtype=float)
    g = gamma * L ** (4.0 + 2.0 * eta) if scale_gamma else np.full_like(L, gamma)
    TL, TR = T_L / L**2, T_R / L**2
    J = np.empty_like(L)
    PR = np.empty_like(L)
    for k, length in enumerate(L):
        sp = box_spectrum(levels, mass=mass, length=float(length))
        ss = steadystate(sp, TL[k], TR[k], gamma=float(g[k]), eta=eta, omega_c=omega_c, equation=equation,
                         **solver_kw)
        J[k] = ss.J_L
        PR[k] = expect_P_R(sp, ss.rho)
    return QuantumScaling(L=L, gamma=g, T_L=TL, T_R=TR, J=J, P_R=PR, fit_J=fit_power_law(L, J),
                          fit_P_R=fit_power_law(L, PR))

