"""Exact transfer-operator solver for one classical particle between two baths (SPEC §1, beyond the Letter).

The energies with which the particle leaves the walls form a Markov chain: leaving L with law p_L, it arrives at R
with the same energy (free flight), leaves R with law p_R = p_L K_R^n, arrives at L and leaves with p_L = p_R K_L^n
(n = ``bath.steps``; a Maxwell wall replaces any incoming law by exp(-E/T)/T). The stationary p_L, p_R give Eq. (3):
E_LR = <E>_{p_L}, t_LR = <L sqrt(m / 2E)>_{p_L}, and the same for R; J = (E_LR - E_RL) / (t_LR + t_RL). No sampling.

Discretisation
--------------
*Each wall's chain on its own scale.* In units of its temperature a wall's Metropolis chain is scale-free: on
x = E/T (energy chain) or u = v sqrt(m/T) (speed chain) it has proposal width c. Each wall gets a uniform grid of cells
of width h = c / ``cells_per_width`` in its scaled variable. The cell-to-cell proposal is the exact probability that
(cell centre) + c xi falls in the target cell (a symmetric, mass-conserving discrete Gaussian, truncated at
``band_sigmas`` c), the acceptance is Metropolis(-Hastings) for the target cell masses pi_i = integral of the target
over the cell, and rejected mass (including proposals below 0 or above the grid) stays on the diagonal. Detailed
balance holds exactly, so the discrete stationary law is the exact cell-integrated Boltzmann law and a fully
relaxing chain (or a Maxwell wall) reproduces Eq. (4) to round-off. One application of K^n is ``n`` sweeps of a
banded matrix (a numba loop over the current support, O(n N band) operations).

*Two scales.* With T_hot = max(T_L, T_R) and T_cold = min(...), the hot wall's grid covers [0, ``tail`` T_hot]
(weight exp(-tail) beyond). The cold wall receives energies of order T_hot, up to T_hot/T_cold (1e5 or more) in its
own units, which a uniform grid cannot cover. Far above 0, however, the energy chain is translation invariant (the
walk never sees the boundary E' <= 0): from any incoming x above X_split = |d| n + 10 sigma sqrt(n) + band + 5, with d
and sigma the drift and spread of one free step, the outgoing energy is x + D exactly, D ~ g_n the n-step law of the
free walk (computed once by FFT: g_n = IFFT(FFT(step law)^n)). So the cold wall uses a uniform grid only on
[0, X_split + 50] (walks started below X_split exceed X_split + 50 with probability < e^-50, because exp(x) is a
martingale of the free walk), and the laws are carried on a "master" energy grid = the cold grid, then cells growing
geometrically (5 % per cell) to the hot cell width, then the hot cells up to tail T_hot. Incoming mass above X_split
is moved by the shift operator E -> E + T_cold D (a sparse matrix built once; each cell is represented by its mean
energy and shifted points are shared linearly between the two cells whose means bracket them, which conserves the
mean energy exactly on the non-uniform grid: J at small T_cold is a small difference E_LR - E_RL, so a bias in the
mean shift would be amplified); mass below X_split goes through K_cold^n.
The speed chain is not translation invariant (its drift grows with u), so for it the cold grid covers the whole
range [0, tail T_hot]; its size grows like sqrt(T_hot/T_cold) and is capped by ``max_cells`` (ValueError beyond).

*Remaps and moments.* Laws are cell masses with an assumed in-cell density: exp(-E/T_alpha) in the cells of wall
alpha's grid (exact in equilibrium, so Maxwell walls are exact), uniform in the geometric/extension cells. Moving a
law between grids splits each cell over the target cells exactly for that shape (mass conserving). Cell averages
of E and of E^(-1/2) (the flight time, singular at 0) use 8-point Gauss-Legendre in t = sqrt(E), exact for the
assumed shape up to round-off.

*Stationary law.* Power iteration of the cycle (hot output -> cold wall -> hot wall), started from the hot
Boltzmann law, until the L1 change is below ``tol``. The hot wall usually mixes fully in a few dozen moves, so one or
two cycles suffice. Health reported: iterations, final L1 change, cell counts, mass lost at the top of the grids
(truncation), the free-walk window loss, and (``refine=True``) the change of J when h is doubled, used as J_err.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import scipy.sparse as sp
from scipy import fft as sfft

from mpiheat.classical.baths import Bath
from mpiheat.classical.kernels_transfer import band_apply, remap_coo, shift_coo
from mpiheat.numerics.bands import band_energy, band_speed, proposal_stencil

__all__ = ["TransferResult", "transfer_current"]

_GL_X, _GL_W = np.polynomial.legendre.leggauss(8)
_PAD_UP = 50.0  # upward excursion allowance of a walk, in units of T (P < e^-50)


@dataclass(frozen=True)
class TransferResult:
    """Stationary one-particle solution of the two-wall transfer operator.

    Attributes
    ----------
    J : float
        Heat current, Eq. (3). ``J_R`` (flux into R) equals ``J`` in the stationary state.
    E_LR, E_RL, t_LR, t_RL : float
        Mean energies leaving L / R and mean flight times L->R / R->L.
    J_refine : float
        |J(h) - J(2h)| (NaN unless ``refine``): a conservative discretisation-error estimate (for O(h^2)
        convergence the error of J(h) is about a third of it). ``as_columns`` reports it as ``J_err``.
    cells_hot, cells_master, cells_cold : int
        Grid sizes: hot wall grid, master grid (cold wall grid + extension), cold wall grid.
    far : bool
        Whether the translation-invariant far region (shift operator) was used at the cold wall.
    iterations : int
        Power-iteration cycles; ``residual`` is the L1 change of the last cycle.
    truncation_mass : float
        Mass in the top 1 % of the energy range (should be ~exp(-tail)); ``window_loss``: free-walk law lost
        outside its FFT window (0 without far region).
    h : float
        Cell width in the scaled variable.
    """

    J: float
    E_LR: float
    E_RL: float
    t_LR: float
    t_RL: float
    J_refine: float
    cells_hot: int
    cells_master: int
    cells_cold: int
    far: bool
    iterations: int
    residual: float
    truncation_mass: float
    window_loss: float
    h: float

    @property
    def J_R(self) -> float:
        """Flux into bath R (equal to J for the stationary law)."""
        return self.J

    @property
    def J_err(self) -> float:
        """Discretisation-error estimate (0 when no refinement was run)."""
        return 0.0 if math.isnan(self.J_refine) else self.J_refine

    def as_columns(self) -> dict[str, float | int | bool | str]:
        """Flat scalar columns; ``J_err`` / ``J_R_err`` are the refinement estimate |J(h) - J(2h)| (0 if not run)."""
        d = {k: (bool(v) if isinstance(v, bool) else int(v) if isinstance(v, int) else float(v))
             for k, v in asdict(self).items()}
        d.update(J_R=self.J, J_err=self.J_err, J_R_err=self.J_err, collisions=0)
        return d


# ------------------------------------------------------------------------------------------------ building blocks
def _free_walk_law(c: float, h: float, n: int, band_sigmas: float):
    """n-step law of the boundary-free energy walk on the lattice (offsets in cells), by FFT; and its reach."""
    W, q = proposal_stencil(c, h, band_sigmas)
    k = np.arange(-W, W + 1)
    s = q * np.minimum(1.0, np.exp(-k * h))
    s[W] = 0.0
    s[W] = 1.0 - s.sum()
    d = float(np.dot(s, k)) * h  # drift per step (x units, negative)
    sig = math.sqrt(max(float(np.dot(s, (k * h) ** 2)) - d * d, 0.0))
    down = int(math.ceil((abs(d) * n + 12.0 * sig * math.sqrt(n) + 10.0) / h))
    up = int(math.ceil((60.0 + 12.0 * sig * math.sqrt(n)) / h)) + W
    M = sfft.next_fast_len(down + up + 2 * W + 1)
    buf = np.zeros(M)
    buf[k % M] = s
    g = sfft.irfft(sfft.rfft(buf) ** n, M)
    offsets = np.arange(-down, up + 1)
    gw = np.clip(g[offsets % M], 0.0, None)
    loss = abs(1.0 - gw.sum())
    x_split = abs(d) * n + 10.0 * sig * math.sqrt(n) + W * h + 5.0
    return offsets, gw, loss, x_split


def _boltzmann_masses(edges: np.ndarray, T: float) -> np.ndarray:
    p = np.exp(-edges[:-1] / T) * -np.expm1(-np.diff(edges) / T)
    return p / p.sum()


def _cell_moments(edges: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """In-cell means of E and of E^(-1/2) for density exp(-(E - a)/theta) on [a, b] (uniform if theta = inf)."""
    a, b = edges[:-1], edges[1:]
    ta, tb = np.sqrt(a), np.sqrt(b)
    t = 0.5 * (ta + tb)[:, None] + 0.5 * (tb - ta)[:, None] * _GL_X[None, :]
    with np.errstate(invalid="ignore"):
        expo = -(t * t - a[:, None]) / theta[:, None]
    w = np.exp(np.where(np.isnan(expo), 0.0, expo)) * _GL_W[None, :]
    den = (t * w).sum(axis=1)
    return (t**3 * w).sum(axis=1) / den, w.sum(axis=1) / den


def _to_csr(rows, cols, vals, n_src, n_tgt):
    return sp.csr_matrix((vals, (rows, cols)), shape=(n_src, n_tgt))


# --------------------------------------------------------------------------------------------------- the solver
def _solve(T_L, T_R, bath, mass, length, cells_per_width, band_sigmas, tail, tol, max_iter, max_cells):
    mcmc = bath.model == "mcmc"
    speed = mcmc and bath.variable == "speed"
    c = float(bath.proposal)
    n = int(bath.steps)
    h = (c if mcmc else 1.0) / cells_per_width
    hot_is_L = T_L >= T_R
    T_hi, T_lo = (T_L, T_R) if hot_is_L else (T_R, T_L)

    # hot wall grid
    if speed:
        N_h = int(math.ceil(math.sqrt(2.0 * tail) / h))
        edges_h = 0.5 * T_hi * (h * np.arange(N_h + 1)) ** 2
    else:
        N_h = int(math.ceil(tail / h))
        edges_h = T_hi * h * np.arange(N_h + 1)
    E_max = edges_h[-1]
    theta_h = np.full(N_h, T_hi)

    # cold wall grid (+ extension to E_max when the far region is used)
    far = False
    offsets = gw = None
    window_loss = 0.0
    if speed:
        N_c = int(math.ceil(math.sqrt(2.0 * E_max / T_lo) / h))
        if N_c > max_cells:
            raise ValueError(f"speed-chain transfer grid needs {N_c} cells (> max_cells={max_cells}) for "
                             f"T_hot/T_cold = {T_hi / T_lo:.3g}; raise max_cells or lower cells_per_width")
        edges_c = 0.5 * T_lo * (h * np.arange(N_c + 1)) ** 2
        N_split = N_c
    else:
        if mcmc:
            offsets, gw, window_loss, x_split = _free_walk_law(c, h, n, band_sigmas)
            x_top = x_split + _PAD_UP
        else:
            x_split = x_top = tail
        if x_top * T_lo >= E_max:
            N_c = int(math.ceil(E_max / (h * T_lo)))
            N_split = N_c
        else:
            far = mcmc
            N_c = int(math.ceil(x_top / h))
            N_split = int(math.ceil(x_split / h)) if mcmc else N_c
        if N_c > max_cells:
            raise ValueError(f"transfer grid needs {N_c} cells (> max_cells={max_cells})")
        edges_c = T_lo * h * np.arange(N_c + 1)
    theta_c = np.full(N_c, T_lo)
    ext = []
    if edges_c[-1] < E_max * (1 - 1e-12):
        e, w, w_hot = edges_c[-1], h * T_lo, h * T_hi
        while w < w_hot and e + w < E_max:
            w *= 1.05
            e += w
            ext.append(e)
        nxt = edges_h[edges_h > e + 0.5 * w_hot]
        ext.extend(nxt.tolist())
        if not ext or ext[-1] < E_max:
            ext.append(E_max)
    edges_m = np.concatenate([edges_c, np.asarray(ext, dtype=float)])
    N_m = edges_m.size - 1
    # extension cells mostly carry the hot law: Boltzmann(T_hot) in-cell shape (uniform would bias <E> by h^2 T_hot/12)
    theta_m = np.concatenate([theta_c, np.full(N_m - N_c, T_hi)])

    R_hm = _to_csr(*remap_coo(edges_h, theta_h, edges_m), N_h, N_m).T.tocsr()
    R_mh = _to_csr(*remap_coo(edges_m, theta_m, edges_h), N_m, N_h).T.tocsr()

    if mcmc:
        B_h = band_speed(N_h, c, h, band_sigmas) if speed else band_energy(N_h, c, h, band_sigmas)
        B_c = band_speed(N_c, c, h, band_sigmas) if speed else band_energy(N_c, c, h, band_sigmas)
        if far:
            keep = gw > 1e-18 * gw.max()
            shifts = offsets[keep] * h * T_lo
            src = np.arange(N_split, N_m)
            mu_m = _cell_moments(edges_m, theta_m)[0]
            F = _to_csr(*shift_coo(src, mu_m, shifts, gw[keep] / gw[keep].sum(), 1e-18), N_m, N_m).T.tocsr()

        def hot(p):
            return band_apply(p, B_h, n)

        def cold(p):
            out = np.zeros(N_m)
            near = np.zeros(N_c)
            near[:N_split] = p[:N_split]
            out[:N_c] = band_apply(near, B_c, n)
            if far:
                out += F @ p
            return out
    else:
        pi_h = _boltzmann_masses(edges_h, T_hi)
        pi_m = _boltzmann_masses(edges_m, T_lo)

        def hot(p):
            return p.sum() * pi_h

        def cold(p):
            return p.sum() * pi_m

    p_h = _boltzmann_masses(edges_h, T_hi)
    residual = math.inf
    it = 0
    while it < max_iter:
        it += 1
        p_c = cold(R_hm @ p_h)
        p_new = hot(R_mh @ p_c)
        p_new /= p_new.sum()
        residual = float(np.abs(p_new - p_h).sum())
        p_h = p_new
        if residual < tol:
            break
    p_c = cold(R_hm @ p_h)
    p_c /= p_c.sum()

    mE_h, mI_h = _cell_moments(edges_h, theta_h)
    mE_m, mI_m = _cell_moments(edges_m, theta_m)
    E_hot, I_hot = float(p_h @ mE_h), float(p_h @ mI_h)
    E_cold, I_cold = float(p_c @ mE_m), float(p_c @ mI_m)
    tfac = length * math.sqrt(0.5 * mass)
    t_hot, t_cold = tfac * I_hot, tfac * I_cold
    if hot_is_L:
        E_LR, t_LR, E_RL, t_RL = E_hot, t_hot, E_cold, t_cold
    else:
        E_LR, t_LR, E_RL, t_RL = E_cold, t_cold, E_hot, t_hot
    J = (E_LR - E_RL) / (t_LR + t_RL)
    top = 0.99 * E_max
    trunc = float(p_h[edges_h[:-1] >= top].sum() + p_c[edges_m[:-1] >= top].sum())
    return TransferResult(J=J, E_LR=E_LR, E_RL=E_RL, t_LR=t_LR, t_RL=t_RL, J_refine=math.nan, cells_hot=N_h,
                          cells_master=N_m, cells_cold=N_c, far=far, iterations=it, residual=residual,
                          truncation_mass=trunc, window_loss=float(window_loss), h=h)


def transfer_current(
    T_L: float,
    T_R: float,
    bath: Bath,
    *,
    mass: float = 1.0,
    length: float = 1.0,
    cells_per_width: float = 6.0,
    band_sigmas: float = 7.0,
    tail: float = 45.0,
    refine: bool = True,
    tol: float = 1e-13,
    max_iter: int = 2000,
    max_cells: int = 400_000,
) -> TransferResult:
    """Stationary heat current of one particle between two baths, from the exact transfer operator.

    Parameters
    ----------
    T_L, T_R : float
        Bath temperatures (> 0).
    bath : Bath
        Bath model at both walls (Maxwell, or MCMC on the energy or the speed).
    mass, length : float
        Particle mass and box length (enter only the flight times).
    cells_per_width : float
        Cells per proposal width c (Maxwell: per unit of E/T). Default 6.
    band_sigmas : float
        Truncation of the Gaussian proposal, in units of its width (the rest, < 1e-11, is rejected mass).
    tail : float
        The hot grid covers E < tail * max(T_L, T_R).
    refine : bool
        Also solve with cells twice as wide and store |J(h) - J(2h)| as ``J_refine`` (the ``J_err`` column).
    tol, max_iter : float, int
        Power-iteration stopping rule on the L1 change of the law leaving the hot wall.
    max_cells : int
        Refuse (ValueError) grids larger than this.

    Returns
    -------
    TransferResult
    """
    if not isinstance(bath, Bath):
        raise TypeError(f"bath must be a mpiheat.classical.baths.Bath, got {type(bath).__name__}")
    for name, v in (("T_L", T_L), ("T_R", T_R), ("mass", mass), ("length", length)):
        if not (math.isfinite(float(v)) and float(v) > 0):
            raise ValueError(f"{name} must be a positive finite number, got {v!r}")
    args = (float(T_L), float(T_R), bath, float(mass), float(length))
    opts = dict(band_sigmas=band_sigmas, tail=tail, tol=tol, max_iter=max_iter, max_cells=max_cells)
    res = _solve(*args, cells_per_width=cells_per_width, **opts)
    if refine:
        coarse = _solve(*args, cells_per_width=0.5 * cells_per_width, **opts)
        d = asdict(res)
        d["J_refine"] = abs(res.J - coarse.J)
        res = TransferResult(**d)
    return res

