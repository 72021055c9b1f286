"""Length scaling of the classical current (SPEC §3 "Length scaling"): T -> T / L^2 gives J^c ~ L^-4."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mpiheat.classical.analytic import maxwell_current
from mpiheat.numerics.fits import PowerLawFit, fit_power_law

__all__ = ["classical_length_scaling"]


def classical_length_scaling(lengths: Sequence[float], T_L: float, T_R: float, *, mass: float = 1.0) -> PowerLawFit:
    """Exponent of the Maxwell-bath classical current (Eq. 4) with ``T -> T / L^2`` (exactly -4).

    Parameters
    ----------
    lengths : sequence of float
        Box lengths L (T_L, T_R are the temperatures at L = 1).
    T_L, T_R : float
        Bath temperatures at L = 1.
    mass : float
        Particle mass.

    Returns
    -------
    PowerLawFit
        The fit of J^c(L); MD and transfer-operator counterparts come from :func:`mpiheat.classical.current` on
        the scaled problems.
    """
    L = np.asarray(lengths, dtype=float)
    J = np.array([float(maxwell_current(T_L / x**2, T_R / x**2, mass=mass, length=x)) for x in L])
    return fit_power_law(L, J)
