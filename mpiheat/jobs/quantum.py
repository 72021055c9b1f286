"""``kind = "quantum"``: steady states (Pauli / Lindblad / Redfield) over a sweep, with health and observables."""

from __future__ import annotations

import math

import numpy as np

from mpiheat.config import JobConfig
from mpiheat.core.sweep import point_value, product_points


def model_spectrum(cfg: JobConfig, levels: int, length: float):
    """The Spectrum of the configured model (box for one particle, hard-core pair for two)."""
    masses = cfg.system.masses
    if len(masses) == 1:
        from mpiheat.quantum.spectrum import box_spectrum

        return box_spectrum(levels, masses[0], length)
    from mpi4py import MPI

    from mpiheat.quantum.two_particle import two_particle_spectrum

    # Each rank solves the (seconds-long) eigenproblem itself: no collective inside a group-local cache.
    return two_particle_spectrum(levels, tuple(masses), length, comm=MPI.COMM_SELF)


class QuantumContext:
    """Per-group caches: spectra by (levels, length), calibrated gamma by (levels, length, eta)."""

    def __init__(self, cfg: JobConfig):
        self.cfg = cfg
        self.spectra: dict = {}
        self.gammas: dict = {}

    def spectrum(self, levels: int, length: float):
        key = (levels, length)
        if key not in self.spectra:
            self.spectra[key] = model_spectrum(self.cfg, levels, length)
        return self.spectra[key]

    def gamma(self, levels: int, length: float, eta: float) -> float:
        q = self.cfg.quantum
        if q.gamma != "calibrate":
            return float(q.gamma)
        key = (levels, length, eta)
        if key not in self.gammas:
            from mpiheat.quantum.calibrate import kappa_quantum

            # J^q is exactly proportional to gamma, so one linear-response solve at gamma = 1 calibrates.
            k1 = kappa_quantum(self.spectrum(levels, length), q.T_cal, gamma=1.0, eta=eta, omega_c=q.omega_c)
            self.gammas[key] = kappa_classical(self.cfg, q.T_cal, length) / float(k1)
        return self.gammas[key]


def kappa_classical(cfg: JobConfig, T: float, length: float) -> float:
    """Classical linear-response conductance the quantum model is calibrated to (Eq. 12 for one particle)."""
    if cfg.quantum.kappa_classical is not None:
        return float(cfg.quantum.kappa_classical)
    from mpiheat.classical.analytic import maxwell_kappa

    return float(maxwell_kappa(T, cfg.system.masses[0], length))


def observables(spectrum, rho) -> dict:
    """<P_R> and the participation ratio (one particle); empty when the model has no position representation."""
    try:
        from mpiheat.quantum.observables import expect_P_R, participation_ratio
    except ImportError:
        return {}
    out = {"P_R": float(expect_P_R(spectrum, rho))}
    if spectrum.meta.get("model") == "box":
        out["participation_ratio"] = float(participation_ratio(rho, spectrum.meta["length"]))
    return out


class QuantumKind:
    def axes(self, cfg: JobConfig) -> dict:
        return {"equation": cfg.quantum.equation, "levels": cfg.quantum.levels, "length": cfg.system.length,
                "eta": cfg.quantum.eta}

    def plan(self, cfg: JobConfig) -> list[dict]:
        return product_points(cfg, self.axes(cfg))

    def ranks_per_point(self, cfg: JobConfig, size: int) -> int:
        q = cfg.quantum
        if set(q.equation.values) == {"pauli"} or q.backend == "scipy":
            return 1
        # Large operators are shared by all ranks; small ones are faster one per rank.
        return size if max(q.levels.values) >= 150 or q.backend == "petsc" and size > 1 else 1

    def prepare(self, cfg: JobConfig, comm):
        return QuantumContext(cfg)

    def compute(self, cfg: JobConfig, ctx: QuantumContext, point: dict, index: int, comm) -> dict:
        from mpiheat.quantum.steadystate import steadystate

        q = cfg.quantum
        levels = int(point_value(point, "levels", q.levels))
        length = float(point_value(point, "length", cfg.system.length))
        eta = float(point_value(point, "eta", q.eta))
        equation = point_value(point, "equation", q.equation)
        spec = ctx.spectrum(levels, length)
        gamma = ctx.gamma(levels, length, eta)
        backend = q.backend
        if backend == "auto":
            backend = "petsc" if comm.Get_size() > 1 else "scipy"
        ss = steadystate(spec, point["T_L"], point["T_R"], gamma=gamma, eta=eta, omega_c=q.omega_c,
                         equation=equation, backend=backend, solver=q.solver, comm=comm,
                         petsc_options=cfg.petsc.options or None, tol=q.tol,
                         redfield_eigs=q.redfield_eigs)
        cols = ss.as_columns()
        # Redfield reports its physicality check apart; other equations have no check (same columns for every row)
        cols.setdefault("seconds_solve", cols["seconds"])
        cols.setdefault("seconds_check", 0.0)
        cols["gamma"] = gamma
        cols.update(observables(spec, ss.rho))
        # Weight of the top level at the hotter temperature: the truncation is safe when this is << 1.
        T_max = max(point["T_L"], point["T_R"])
        cols["top_weight"] = math.exp(-(spec.E[-1] - spec.E[0]) / T_max)
        if "T" in point:
            cols["kappa"] = cols["J"] / (point["T_L"] - point["T_R"])
        return cols

    def finish(self, cfg: JobConfig, ctx: QuantumContext, columns: dict, complete: bool):
        attrs = {"equation": ",".join(cfg.quantum.equation.values)}
        g = np.asarray([x for x in columns.get("gamma", []) if x is not None], dtype=float)
        g = g[np.isfinite(g)] if g.size else g
        if g.size and np.all(g == g[0]):
            attrs["gamma"] = float(g[0])
        levels = max(cfg.quantum.levels.values)
        length = cfg.system.length.values[0]
        spec = ctx.spectrum(levels, length)
        extra = {"spectrum": {"E": spec.E, "P_L": spec.P_L, "P_R": spec.P_R}}
        attrs["spectrum_levels"] = levels
        return attrs, extra

    def summary(self, cfg: JobConfig, columns: dict) -> list[str]:
        names = ["T", "T_L", "T_R", "levels", "length", "eta", "J", "kappa", "J_mismatch", "residual",
                 "rho_min_eig", "converged", "max_real_eig", "unphysical", "P_R", "seconds_solve", "seconds_check"]
        return [n for n in names if n in columns]


KIND = QuantumKind()
