"""Quantum relaxation (issue 4 item 4): rho(t) under the Lindblad or Redfield generator and the time to reach rho_ss.

Two independent measures of the relaxation time are produced and must agree asymptotically:

* **time stepping**: rho(t) from a chosen start (thermal at T_L, the ground state, or a given matrix) is propagated
  (``expm``: :func:`scipy.sparse.linalg.expm_multiply` on B's sparse Lindblad matrix or on the assembled Redfield
  matrix; ``ode``: DOP853 on the matrix-free generator, for any N), and ``t_relax`` is the first time the trace
  distance ``D(t) = ||rho(t) - rho_ss||_1 / 2`` drops below ``tol`` (log-linear interpolation between samples);
* **spectral gap**: ``lambda_1``, the non-zero generator eigenvalue with the largest real part, gives
  ``tau = 1 / |Re lambda_1|``.  A start may not excite the slowest mode at all (a diagonal start never excites
  Lindblad coherences, which decouple from the populations), so the eigenvalue that governs ``D(t)`` is
  ``lambda_exc``: the slowest mode with a non-negligible coefficient in the eigen-expansion of ``x0 - x_ss``.
  Both are reported; ``D(t) ~ C exp(-|Re lambda_exc| t)`` at late times, i.e. ``t_relax ~ tau_exc ln(C / tol)``.

Lindblad, any N (``method="blocks"``, chosen automatically above ``dense_limit``): the secular generator is
block-diagonal, its sparsity graph splitting into weakly connected components (the populations, and one component per
class of degenerate Bohr frequencies). Each component is small, so the eigen-analysis (all of ``lambda_1``, and the
expansion of ``x0 - x_ss`` for ``lambda_exc``) and the propagation (``expm`` of each block, applied step by step on
the equally spaced times) are exact and dense per block: O(N^3) instead of O(N^6). Tested equal to the full path.

Redfield couples every component, so its spectral part stays dense (``dense_limit``, default N <= 30).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.integrate as si
import scipy.linalg as sla
import scipy.sparse as sps
import scipy.sparse.linalg as spla
from scipy.sparse.csgraph import connected_components

from mpiheat.quantum.operators.lindblad import liouvillian_csr, real_to_rho, rho_to_real
from mpiheat.quantum.operators.redfield import redfield_generator
from mpiheat.quantum.operators.spectrum import Spectrum
from mpiheat.quantum.problem import QuantumProblem
from mpiheat.quantum.solvers.steadystate import steady_state

__all__ = ["initial_state", "trace_distance", "Evolution", "evolve", "Relaxation", "relaxation", "slowest_modes"]


def initial_state(spectrum: Spectrum, start: str | np.ndarray = "thermal", T: float | None = None) -> np.ndarray:
    """Start state: ``"thermal"`` (Gibbs at ``T``), ``"ground"`` (lowest level), or a given Hermitian matrix."""
    N = spectrum.N
    if isinstance(start, np.ndarray):
        rho = np.asarray(start, dtype=complex)
        if rho.shape != (N, N):
            raise ValueError(f"start matrix must be {N} x {N}, got {rho.shape}")
        return rho / np.trace(rho).real
    if start == "ground":
        rho = np.zeros((N, N), dtype=complex)
        rho[0, 0] = 1.0
        return rho
    if start == "thermal":
        if T is None or not T > 0:
            raise ValueError("a thermal start needs a temperature T > 0")
        E = np.asarray(spectrum.E, dtype=float)
        p = np.exp(-(E - E[0]) / T)
        return np.diag(p / p.sum()).astype(complex)
    raise ValueError(f"start must be 'thermal', 'ground' or an array, got {start!r}")


def trace_distance(rho: np.ndarray, sigma: np.ndarray) -> float:
    """``||rho - sigma||_1 / 2`` for Hermitian matrices."""
    d = np.asarray(rho) - np.asarray(sigma)
    return float(0.5 * np.abs(np.linalg.eigvalsh(0.5 * (d + d.conj().T))).sum())


def _generator(spectrum, T_L, T_R, gamma, eta, omega_c, equation):
    if equation == "lindblad":
        return liouvillian_csr(spectrum, T_L, T_R, gamma=gamma, eta=eta, omega_c=omega_c)
    if equation == "redfield":
        return redfield_generator(spectrum, T_L, T_R, gamma=gamma, eta=eta, omega_c=omega_c)
    raise ValueError(f"equation must be 'lindblad' or 'redfield', got {equation!r}")


def _matvec(gen):
    return gen.apply_real if hasattr(gen, "apply_real") else (lambda x: gen @ x)


def _matrix(gen):
    """Sparse (Lindblad) or dense matrix of the generator; Redfield is assembled (small N only)."""
    return gen.assemble() if hasattr(gen, "assemble") else gen


def _blocks(A) -> list[np.ndarray]:
    """Index sets of the weakly connected components of a sparse generator's sparsity graph (its exact blocks)."""
    _, labels = connected_components(sps.csr_matrix(A), directed=True, connection="weak")
    order = np.argsort(labels, kind="stable")
    cuts = np.flatnonzero(np.diff(labels[order])) + 1
    return np.split(order, cuts)


@dataclass(frozen=True)
class Evolution:
    """Samples ``rho[k]`` of rho(t) at ``times[k]``."""

    times: np.ndarray
    rho: np.ndarray
    method: str


def evolve(generator, rho0: np.ndarray, times: np.ndarray, *, method: str = "expm", rtol: float = 1e-10,
           atol: float = 1e-13) -> Evolution:
    """Propagate ``rho0`` under a real-representation generator to the given (equally spaced, from 0) times.

    Parameters
    ----------
    generator : scipy sparse matrix, ndarray or RedfieldGenerator
        Generator on the N^2 real coordinates (B's ``liouvillian_csr`` or :func:`redfield_generator`).
    times : ndarray
        Non-decreasing sample times; ``expm`` needs them equally spaced starting at 0.
    method : {"expm", "ode", "blocks"}
        ``expm``: exact exponential action (``expm_multiply``); ``ode``: DOP853 with ``rtol``/``atol`` on the
        matrix-free product (no assembled matrix; fine for any N but costly for long times at large N);
        ``blocks``: sparse generator only, exact ``expm(B dt)`` of each connected block (equally spaced times from
        0), skipping blocks that ``rho0`` does not touch. Fast at any N for Lindblad, whose blocks are small.
    """
    times = np.asarray(times, dtype=float)
    N = rho0.shape[0]
    x0 = rho_to_real(rho0)
    if method in ("expm", "blocks"):
        dt = np.diff(times)
        if times[0] != 0 or (dt.size and not np.allclose(dt, dt[0], rtol=1e-12, atol=0)):
            raise ValueError(f"method={method!r} needs equally spaced times starting at 0")
    if method == "blocks":
        if hasattr(generator, "apply_real") or isinstance(generator, np.ndarray):
            raise ValueError("method='blocks' needs a sparse generator (Lindblad)")
        A = sps.csr_matrix(generator)
        X = np.zeros((times.size, x0.size))
        step = float(times[1] - times[0]) if times.size > 1 else 0.0
        for idx in _blocks(A):
            x = x0[idx]
            if not np.any(x):
                continue  # a block the start does not excite stays exactly zero
            E = sla.expm(A[idx][:, idx].toarray() * step)
            for k in range(times.size):
                X[k, idx] = x
                x = E @ x
    elif method == "expm":
        X = spla.expm_multiply(_matrix(generator), x0, start=0.0, stop=float(times[-1]), num=times.size,
                               endpoint=True)
    elif method == "ode":
        f = _matvec(generator)
        sol = si.solve_ivp(lambda t, x: f(x), (float(times[0]), float(times[-1])), x0, method="DOP853",
                           t_eval=times, rtol=rtol, atol=atol)
        if not sol.success:
            raise RuntimeError(f"ODE integration failed: {sol.message}")
        X = sol.y.T
    else:
        raise ValueError(f"method must be 'expm' or 'ode', got {method!r}")
    rho = np.stack([real_to_rho(x, N) for x in X])
    return Evolution(times=times, rho=rho, method=method)


def slowest_modes(generator, x_dev: np.ndarray | None = None, *, rel_weight: float = 1e-6
                  ) -> tuple[complex, complex | None]:
    """Dense eigen-analysis: ``(lambda_1, lambda_exc)``.

    ``lambda_1`` is the non-zero eigenvalue with the largest real part (the eigenvalue nearest 0 is the steady state);
    ``lambda_exc`` is the largest-real-part eigenvalue whose mode carries at least ``rel_weight`` of the largest
    contribution ``|c_k| ||v_k||`` to ``x_dev = x0 - x_ss`` (None if ``x_dev`` is None).
    """
    M = _matrix(generator)
    if sps.issparse(M):  # exact block by block (Lindblad: small components), same result as the dense path
        ws, cs, norms = [], [], []
        for idx in _blocks(M):
            w_b, V_b = np.linalg.eig(M[idx][:, idx].toarray())
            ws.append(w_b)
            norms.append(np.linalg.norm(V_b, axis=0))
            cs.append(np.linalg.solve(V_b, x_dev[idx].astype(complex)) if x_dev is not None else np.zeros(w_b.size))
        w, c, vn = np.concatenate(ws), np.concatenate(cs), np.concatenate(norms)
        return _pick_modes(w, None if x_dev is None else np.abs(c) * vn, rel_weight)
    w, V = np.linalg.eig(M)
    if x_dev is None:
        return _pick_modes(w, None, rel_weight)
    c = np.linalg.solve(V, x_dev.astype(complex))
    return _pick_modes(w, np.abs(c) * np.linalg.norm(V, axis=0), rel_weight)


def _pick_modes(w: np.ndarray, weight: np.ndarray | None, rel_weight: float) -> tuple[complex, complex | None]:
    """``lambda_1`` (zero mode excluded) and, given mode weights, ``lambda_exc``."""
    i0 = int(np.argmin(np.abs(w)))
    mask = np.ones(w.size, dtype=bool)
    mask[i0] = False
    lam1 = complex(w[mask][np.argmax(w[mask].real)])
    if weight is None:
        return lam1, None
    weight = weight.copy()
    weight[i0] = 0.0
    ok = weight > rel_weight * weight.max()
    lam_exc = complex(w[ok][np.argmax(w[ok].real)])
    return lam1, lam_exc


@dataclass(frozen=True)
class Relaxation:
    """Relaxation from a start state to rho_ss, by time stepping and from the spectrum.

    Attributes
    ----------
    t_relax : float
        First time with trace distance below ``tol`` (NaN if not reached by ``times[-1]``).
    tau_gap, tau_exc : float
        ``1 / |Re lambda_1|`` and ``1 / |Re lambda_exc|``.
    decay_rate_fit : float
        ``-d ln D / dt`` fitted on the samples with ``D`` in ``[max(1e-11, 1e-9 D(0)), 1e-4 D(0)]`` (asymptotic part).
    max_trace_error : float
        ``max_t |Tr rho(t) - 1|`` along the trajectory (Hermiticity is structural in the real representation).
    """

    times: np.ndarray
    trace_distance: np.ndarray
    rho_ss: np.ndarray
    t_relax: float
    tol: float
    lambda_1: complex
    lambda_exc: complex
    tau_gap: float
    tau_exc: float
    decay_rate_fit: float
    max_trace_error: float
    final_distance: float
    method: str

    def as_columns(self) -> dict[str, float | str]:
        return {"t_relax": self.t_relax, "relax_tol": self.tol, "tau_gap": self.tau_gap, "tau_exc": self.tau_exc,
                "lambda_1_re": self.lambda_1.real, "lambda_1_im": self.lambda_1.imag,
                "lambda_exc_re": self.lambda_exc.real, "decay_rate_fit": self.decay_rate_fit,
                "max_trace_error": self.max_trace_error,
                "final_distance": self.final_distance, "method": self.method}


def relaxation(spectrum: Spectrum, T_L: float, T_R: float, *, gamma: float, eta: float, omega_c: float = 1.0,
               equation: str = "lindblad", start: str | np.ndarray = "thermal", T_start: float | None = None,
               tol: float = 1e-6, t_max: float | None = None, n_times: int = 400, method: str = "expm",
               dense_limit: int = 30) -> Relaxation:
    """Relax ``start`` (default: thermal at ``T_start = T_L``) towards rho_ss and measure the relaxation time.

    ``t_max`` defaults to ``1.5 ln(D(0) / tol) tau_exc`` so that ``tol`` is crossed inside the window.  See the
    module docstring for the two measures and why ``lambda_exc`` rather than ``lambda_1`` governs a given start.
    """
    gen = _generator(spectrum, T_L, T_R, gamma, eta, omega_c, equation)
    if spectrum.N > dense_limit:
        if equation != "lindblad":
            raise ValueError(f"the Redfield spectral analysis is dense; N = {spectrum.N} > dense_limit = "
                             f"{dense_limit} (Lindblad has an exact block path at any N)")
        method = "blocks"
    ss = steady_state(QuantumProblem(spectrum, T_L, T_R, gamma=gamma, eta=eta, omega_c=omega_c), equation=equation,
                      backend="scipy")
    rho0 = initial_state(spectrum, start, T_L if T_start is None else T_start)
    x_dev = rho_to_real(rho0) - rho_to_real(ss.rho)
    lam1, lam_exc = slowest_modes(gen, x_dev)
    D0 = trace_distance(rho0, ss.rho)
    if t_max is None:
        t_max = 1.5 * max(np.log(D0 / tol), 1.0) / abs(lam_exc.real)
    times = np.linspace(0.0, float(t_max), int(n_times))
    ev = evolve(gen, rho0, times, method=method)
    D = np.array([trace_distance(r, ss.rho) for r in ev.rho])
    below = np.flatnonzero(D < tol)
    if below.size == 0:
        t_relax = float("nan")
    elif below[0] == 0:
        t_relax = 0.0
    else:
        k = below[0]
        a, b = np.log(D[k - 1]), np.log(D[k])
        t_relax = float(times[k - 1] + (np.log(tol) - a) / (b - a) * (times[k] - times[k - 1]))
    late = (D < 1e-4 * D0) & (D > max(1e-11, 1e-9 * D0))
    rate = float(-np.polyfit(times[late], np.log(D[late]), 1)[0]) if late.sum() >= 3 else float("nan")
    tr_err = float(np.max(np.abs(np.trace(ev.rho, axis1=1, axis2=2) - 1.0)))
    return Relaxation(times=times, trace_distance=D, rho_ss=ss.rho, t_relax=t_relax, tol=float(tol), lambda_1=lam1,
                      lambda_exc=lam_exc, tau_gap=1.0 / abs(lam1.real), tau_exc=1.0 / abs(lam_exc.real),
                      decay_rate_fit=rate, max_trace_error=tr_err,
                      final_distance=float(D[-1]), method=f"{equation}-{ev.method}")
