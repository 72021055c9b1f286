"""Thermalisation time of the MCMC bath (issue 4, classical half; SPEC §3 "Relaxation").

Definition used here. A particle arrives at a bath of temperature ``T`` with kinetic energy ``E0`` (fixed as T
varies; default 1). Its energy law after k Metropolis moves, p_k = delta_{E0} K^k, is computed exactly on the cell
grid of :mod:`mpiheat.classical.transfer` (uniform cells of width c/``cells_per_width`` in the scaled variable
x = E/T or u = v sqrt(m/T); the discrete chain's stationary law is exactly the cell-integrated target). The
thermalisation time tau(T) is the smallest k with distance(p_k, exp(-E/T)/T) < ``tol``, the distance being the total
variation (``metric="tv"``, default tol 0.01) or the relative error of the mean energy (``metric="mean"``). tau is
a number of MCMC moves; the number of bath collisions it takes is tau / ``bath.steps`` (reported as well). No other
physical clock is defined (the flight time between collisions depends on the other wall).

Far above the bath's energy scale the energy chain drifts down at a constant rate |d(c)| per move in units of T
(|d| = 0.2616 for c = 1), so for E0 >> T, tau ~ (E0/T)/|d| + O(1): the exponent of tau vs T tends to -1, and a fit
over a finite range where the O(1) mixing part still matters gives a smaller magnitude. The speed chain drifts at a
rate ~c / sqrt(2 pi) per move in u = sqrt(2E/T), so there tau ~ T^(-1/2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mpiheat.classical.baths import Bath
from mpiheat.classical.kernels_transfer import relax_trace
from mpiheat.numerics.bands import band_energy, band_speed

__all__ = ["RelaxationResult", "thermalisation_time"]


@dataclass(frozen=True)
class RelaxationResult:
    """Thermalisation time of one MCMC bath.

    Attributes
    ----------
    tau : int
        MCMC moves until the distance is below ``tol`` (-1 if ``max_moves`` were not enough).
    collisions : float
        tau / bath.steps: bath collisions needed.
    T, E0, tol : float
        Bath temperature, initial energy and tolerance.
    metric : str
        "tv" or "mean".
    trace : numpy.ndarray
        Distance after k = 0..tau moves (for "mean": the signed relative error of the mean energy).
    cells : int
        Grid size.
    """

    tau: int
    collisions: float
    T: float
    E0: float
    tol: float
    metric: str
    trace: np.ndarray
    cells: int

    def as_columns(self) -> dict[str, float | int | bool | str]:
        """Flat scalar columns (the trace is omitted)."""
        return {"tau": int(self.tau), "collisions": float(self.collisions), "T": float(self.T), "E0": float(self.E0),
                "tol": float(self.tol), "metric": self.metric, "cells": int(self.cells)}


def thermalisation_time(
    T: float,
    bath: Bath,
    *,
    E0: float = 1.0,
    tol: float = 0.01,
    metric: str = "tv",
    cells_per_width: float = 8.0,
    band_sigmas: float = 7.0,
    max_moves: int = 1_000_000,
) -> RelaxationResult:
    """Number of Metropolis moves for a particle arriving with energy ``E0`` to thermalise at temperature ``T``.

    Parameters
    ----------
    T : float
        Bath temperature (> 0).
    bath : Bath
        An MCMC bath (its ``proposal`` c and ``variable`` are used; ``steps`` only converts to collisions).
    E0 : float
        Incoming kinetic energy (same units as T).
    tol : float
        Threshold on the distance to the Boltzmann law.
    metric : {"tv", "mean"}
        Total variation on the cell grid, or relative error of the mean energy.
    cells_per_width, band_sigmas : float
        Grid resolution (cells per proposal width) and proposal truncation, as in the transfer solver.
    max_moves : int
        Give up (tau = -1) after this many moves.

    Returns
    -------
    RelaxationResult
    """
    if bath.model != "mcmc":
        raise ValueError("thermalisation_time needs an MCMC bath (a Maxwell bath thermalises in one collision)")
    if metric not in ("tv", "mean"):
        raise ValueError(f"metric must be 'tv' or 'mean', got {metric!r}")
    if not (T > 0 and E0 > 0 and tol > 0):
        raise ValueError("T, E0 and tol must be positive")
    c = float(bath.proposal)
    h = c / cells_per_width
    if bath.variable == "energy":
        x0 = E0 / T
        N = int(math.ceil((x0 + 60.0) / h))
        a = h * np.arange(N)
        pi = np.exp(-a) * -math.expm1(-h)
        xmean = a + 1.0 - h / math.expm1(h)  # in-cell mean of x under exp(-x)
        B = band_energy(N, c, h, band_sigmas)
    else:
        x0 = math.sqrt(2.0 * E0 / T)  # u = v sqrt(m/T)
        N = int(math.ceil((x0 + 14.0) / h))
        a = h * np.arange(N)
        b = a + h
        pi = np.exp(-0.5 * a * a) * -np.expm1(-0.5 * (b * b - a * a))
        # in-cell mean of the energy (units of T) E/T = u^2/2 under u exp(-u^2/2): exponential in E/T on [a^2/2, b^2/2]
        w = 0.5 * (b * b - a * a)
        xmean = 0.5 * a * a + 1.0 - w / np.expm1(w)
        B = band_speed(N, c, h, band_sigmas)
    pi = pi / pi.sum()
    # start: the point x0 shared linearly between the two nearest cell centres (keeps the mean at x0, O(h^2))
    p = np.zeros(N)
    y = x0 / h - 0.5
    j = int(math.floor(y))
    if j < 0:
        p[0] = 1.0
    else:
        f = y - j
        p[j] += 1.0 - f
        p[min(j + 1, N - 1)] += f
    tau, trace = relax_trace(p, B, pi, int(max_moves), float(tol), metric == "mean", xmean)
    return RelaxationResult(tau=int(tau), collisions=tau / bath.steps if tau >= 0 else math.nan, T=float(T),
                            E0=float(E0), tol=float(tol), metric=metric, trace=trace, cells=N)

