"""The quantum heat-transport problem: one spectrum between two thermal baths (SPEC §3).

:class:`QuantumProblem` is what :func:`mpiheat.quantum.steady_state` solves; it validates its inputs once, so
every solver can rely on them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mpiheat.quantum.operators.lindblad import check_temperature
from mpiheat.quantum.operators.spectrum import Spectrum


@dataclass(frozen=True)
class QuantumProblem:
    """A spectrum coupled to a left bath at ``T_L`` and a right bath at ``T_R`` (code units, hbar = k_B = 1).

    Parameters
    ----------
    spectrum : Spectrum
        Levels and coupling operators ``P_L``, ``P_R`` in the eigenbasis (at least 2 levels).
    T_L, T_R : float
        Bath temperatures, finite and > 0.
    gamma : float
        Coupling strength, finite and > 0.
    eta : float
        Exponent of the spectral density ``J(w) = gamma omega_c^(1 - eta) w^eta``.
    omega_c : float
        Reference frequency of the spectral density, finite and > 0.

    Raises
    ------
    ValueError
        On any invalid value (the message names the parameter).
    """

    spectrum: Spectrum
    T_L: float
    T_R: float
    gamma: float
    eta: float
    omega_c: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.spectrum, Spectrum):
            raise ValueError(f"spectrum must be a Spectrum, got {type(self.spectrum).__name__}")
        if self.spectrum.N < 2:
            raise ValueError(f"levels must be >= 2, got spectrum with {self.spectrum.N} level(s)")
        check = {"T_L": check_temperature("T_L", self.T_L), "T_R": check_temperature("T_R", self.T_R)}
        if not (np.isfinite(self.gamma) and self.gamma > 0):
            raise ValueError(f"gamma must be finite and > 0, got {self.gamma!r}")
        if not np.isfinite(self.eta):
            raise ValueError(f"eta must be finite, got {self.eta!r}")
        if not (np.isfinite(self.omega_c) and self.omega_c > 0):
            raise ValueError(f"omega_c must be finite and > 0, got {self.omega_c!r}")
        check.update(gamma=float(self.gamma), eta=float(self.eta), omega_c=float(self.omega_c))
        for name, value in check.items():  # plain floats from here on (frozen: set through object)
            object.__setattr__(self, name, value)

    @property
    def N(self) -> int:
        """Number of levels."""
        return int(self.spectrum.N)

    def bath_kw(self) -> dict[str, float]:
        """``gamma``, ``eta``, ``omega_c`` as keywords of the generator builders."""
        return {"gamma": self.gamma, "eta": self.eta, "omega_c": self.omega_c}
