"""Truncation of the quantum models: how many levels keep the top level's Boltzmann weight below a tolerance.

A truncation to the lowest N levels is safe at temperature T when the top kept level is thermally empty,
``top_weight = exp(-(E_top - E_0)/T) << 1``. :func:`predicted_top_gap` gives ``E_top - E_0`` before any eigensolve
(exact for one particle in a box, a Weyl-law upper estimate for two hard-core particles), so that a job asking for too
few levels is refused before the expensive spectrum; :func:`top_weight` is the exact check on a computed spectrum.
"""

from __future__ import annotations

import math

import numpy as np

#: Relative margin on the two-particle Weyl estimate of E_top for the up-front refusal: the two-term estimate is
#: within +-2.3 % of the computed levels 10..600 (m2/m1 = sqrt 2; largest deviations at low n), so the up-front check
#: refuses only truncations that are certainly too small; the exact check after the spectrum decides the rest.
WEYL_MARGIN = 0.05


def weyl_energy(n, masses, length: float = 1.0):
    """Two-term Weyl estimate of the n-th (1-based) level of two hard-core particles in a box (hbar = 1).

    In mass-weighted coordinates ``q_i = sqrt(m_i) x_i`` the Hamiltonian is ``-(1/2) Laplacian`` on a right triangle
    of area ``A = sqrt(m1 m2) L^2 / 2``, perimeter ``P = L (sqrt m1 + sqrt m2 + sqrt(m1 + m2))`` and angles
    ``pi/2, theta, pi/2 - theta`` with ``tan theta = sqrt(m1/m2)``. With ``k^2 = 2E`` the Dirichlet counting function
    is ``N(E) ~ A k^2 / (4 pi) - P k / (4 pi) + C`` (C: the corner terms ``(pi^2 - a^2) / (24 pi a)``); solving
    ``N(E_n) = n - 1/2`` gives E_n. The leading term alone is ``E_n ~ 2 pi n / A = 4 pi n / (sqrt(m1 m2) L^2)``.
    """
    m1, m2 = (float(m) for m in masses)
    area = math.sqrt(m1 * m2) * length ** 2 / 2
    perim = length * (math.sqrt(m1) + math.sqrt(m2) + math.sqrt(m1 + m2))
    theta = math.atan(math.sqrt(m1 / m2))
    corners = sum((math.pi ** 2 - a * a) / (24 * math.pi * a) for a in (theta, math.pi / 2 - theta, math.pi / 2))
    nn = np.maximum(np.asarray(n, dtype=float) - 0.5 - corners, 0.0)
    k = (perim + np.sqrt(perim ** 2 + 16 * math.pi * area * nn)) / (2 * area)
    return k * k / 2


def predicted_top_gap(levels: int, masses, length: float) -> tuple[float, bool]:
    """``(E_top - E_0, exact)`` before any eigensolve: exact for one particle, a safe upper estimate for two.

    For two particles the estimate is ``(1 + WEYL_MARGIN) * weyl_energy(levels)`` (E_0 > 0 dropped), an upper bound
    of the gap in practice, so that a refusal based on it is never wrong.
    """
    if len(masses) == 1:
        m = float(masses[0])
        return (levels ** 2 - 1) * math.pi ** 2 / (2 * m * length ** 2), True
    return float((1 + WEYL_MARGIN) * weyl_energy(levels, masses, length)), False


def top_weight(spectrum, T: float) -> float:
    """Boltzmann weight ``exp(-(E_top - E_0)/T)`` of the top kept level: the truncation is safe when it is << 1."""
    return math.exp(-(spectrum.E[-1] - spectrum.E[0]) / T)
