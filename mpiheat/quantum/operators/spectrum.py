"""Spectra and bath-coupling operators of the quantum models (SPEC §3, §4).

A :class:`Spectrum` is everything the master-equation machinery needs from a model: the levels ``E`` (ascending),
the coupling matrices ``P_L``, ``P_R`` in that eigenbasis, and optionally exact integer transition keys so that
degenerate Bohr frequencies are grouped exactly (``keys[i, j] = j**2 - i**2`` for the box).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Spectrum:
    """Levels and coupling operators of a quantum model in its energy eigenbasis.

    Attributes
    ----------
    E : ndarray, shape (N,)
        Energies, ascending.
    P_L, P_R : ndarray, shape (N, N)
        Real symmetric coupling operators to the left / right bath, in the eigenbasis.
    keys : ndarray of int64, shape (N, N), optional
        Exact integer labels of the Bohr frequencies, ``omega_ij = scale * keys[i, j]``; transitions with equal keys
        are degenerate. ``None`` means group by the float gaps (only for generic, non-degenerate spectra).
    scale : float
        Energy per key unit (``pi^2 / (2 m L^2)`` for the box).
    meta : dict
        Model description for provenance.
    """

    E: np.ndarray
    P_L: np.ndarray
    P_R: np.ndarray
    keys: np.ndarray | None = None
    scale: float = 1.0
    meta: dict = field(default_factory=dict)

    @property
    def N(self) -> int:
        return int(self.E.shape[0])

    def gaps(self) -> np.ndarray:
        """Bohr frequencies ``omega[i, j] = E[j] - E[i]`` (exact from keys where available)."""
        if self.keys is not None:
            return self.scale * self.keys.astype(float)
        return self.E[None, :] - self.E[:, None]


def box_spectrum(levels: int, mass: float = 1.0, length: float = 1.0) -> Spectrum:
    """One particle in an infinite square well of width ``length`` (SPEC §3).

    ``E_n = n^2 pi^2 / (2 m L^2)``, ``<i|P_L|j> = 2 pi^2 i j / (3 L^3)``, ``<i|P_R|j> = (-1)^(i+j) <i|P_L|j>``
    (the delta -> 0 limit of ``(1/delta^3) int_0^delta |x><x| dx``).
    """
    if int(levels) != levels or levels < 2:
        raise ValueError(f"levels must be an integer >= 2, got {levels!r}")
    n = np.arange(1, int(levels) + 1, dtype=np.int64)
    scale = np.pi**2 / (2.0 * mass * length**2)
    E = scale * (n.astype(float) ** 2)
    P_L = (2.0 * np.pi**2 / (3.0 * length**3)) * np.outer(n, n).astype(float)
    sign = np.where((n[:, None] + n[None, :]) % 2 == 0, 1.0, -1.0)
    P_R = sign * P_L
    keys = n[None, :] ** 2 - n[:, None] ** 2
    return Spectrum(E=E, P_L=P_L, P_R=P_R, keys=keys, scale=scale,
                    meta={"model": "box", "levels": int(levels), "mass": float(mass), "length": float(length)})


def spectral_density(omega, gamma: float, eta: float, omega_c: float = 1.0):
    """Bath spectral function ``J(omega) = gamma omega_c^(1-eta) omega^eta`` for omega > 0, 0 otherwise."""
    omega = np.asarray(omega, dtype=float)
    out = np.zeros_like(omega)
    pos = omega > 0
    out[pos] = gamma * omega_c ** (1.0 - eta) * omega[pos] ** eta
    return out


def bose(omega, T: float):
    """Bose factor ``1 / (exp(omega/T) - 1)`` for omega > 0 (0 where omega <= 0); stable for omega/T large."""
    omega = np.asarray(omega, dtype=float)
    out = np.zeros_like(omega)
    pos = omega > 0
    out[pos] = 1.0 / np.expm1(omega[pos] / T)
    return out
