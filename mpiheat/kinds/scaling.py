"""``kind = "scaling"``: length scaling (Letter, end of main text; SPEC §3 "Length scaling").

For each length L of ``[system] length`` (a list) and each temperature pair given at ``[scaling] L_ref``, the bath
temperatures become T (L_ref/L)^2 and the quantum coupling gamma (L/L_ref)^(4 + 2 eta); J^q, <P_R> and the classical
J^c (transfer operator, MD or none; the Maxwell Eq. 4 value always) are computed, and the exponents of J^q, J^c and
<P_R> in L are fitted per temperature pair (attributes ``exponent_J_quantum`` etc.; expected -4, -4, -3).
"""

from __future__ import annotations

import numpy as np

from mpiheat.config import JobConfig, JobError
from mpiheat.io.schema import Column
from mpiheat.kinds.base import (
    JobKind,
    product_points,
    require_kappa_classical,
    require_temperatures,
    temperature_axes,
)
from mpiheat.kinds.classical import bath_from
from mpiheat.kinds.columns import CURRENT, J_MAXWELL
from mpiheat.kinds.quantum import QuantumContext

QUANTUM_COLUMNS = (
    Column("gamma", "f8", "1", "coupling at this length: gamma(L_ref) (L/L_ref)^(4 + 2 eta)"),
    Column("J", "f8", CURRENT, "quantum heat current J_L (scipy steady state)"),
    Column("J_err", "f8", CURRENT, "0: the steady state is exact (kept for a uniform current column set)"),
    Column("J_R", "f8", CURRENT, "quantum heat current into the cold bath"),
    Column("P_R", "f8", "1/L^3", "<P_R> in the steady state"),
    Column("residual", "f8", "1", "residual of the steady-state equation", health=True),
    J_MAXWELL,
)
CLASSICAL_COLUMNS = (
    Column("J_classical", "f8", CURRENT, "classical current: transfer operator (exact) or MD ([scaling] classical)"),
    Column("J_classical_err", "f8", CURRENT, "its error: MD jackknife standard error, 0 for the transfer operator"),
)


class ScalingKind(JobKind):
    name = "scaling"
    sections = frozenset({"job", "system", "bath", "temperatures", "classical", "quantum", "scaling", "parallel",
                          "petsc"})

    @classmethod
    def validate(cls, cfg: JobConfig) -> None:
        require_temperatures(cfg)
        require_kappa_classical(cfg)
        if len(cfg.system.length) < 2:
            raise JobError(cfg.source, "[system] length", "a scaling job needs a list of at least 2 lengths")

    @classmethod
    def sweep_axes(cls, cfg: JobConfig) -> list[tuple[str, int]]:
        return [("[system] length", len(cfg.system.length))] + temperature_axes(cfg)

    def make_points(self) -> list[dict]:
        from mpiheat.quantum.scaling import length_scaled

        pts = []
        for p in product_points(self.cfg, {"length": self.cfg.system.length}):
            T_L, T_R, _ = length_scaled(p["length"], p["T_L"], p["T_R"], 1.0, 0.0, L_ref=self.cfg.scaling.L_ref)
            pts.append({"length": p["length"], "T_L_ref": p["T_L"], "T_R_ref": p["T_R"], "T_L": T_L, "T_R": T_R})
        return pts

    def result_columns(self) -> list[Column]:
        return list(QUANTUM_COLUMNS) + (list(CLASSICAL_COLUMNS) if self.cfg.scaling.classical != "none" else [])

    def uses_petsc(self) -> bool:
        return self.cfg.quantum.backend == "petsc"

    def prepare(self, comm):
        return QuantumContext(self.cfg)

    def compute(self, ctx: QuantumContext, point: dict, index: int, comm) -> dict:
        from mpiheat.classical import ClassicalProblem, current, maxwell_current
        from mpiheat.quantum import QuantumProblem, SolverOptions, steady_state
        from mpiheat.quantum.operators.observables import expect_P_R
        from mpiheat.quantum.scaling import length_scaled

        cfg = self.cfg
        q, sc = cfg.quantum, cfg.scaling
        L, eta, levels = point["length"], float(q.eta.value), int(q.levels.value)
        # the scaling law (temperatures at L were set by the sweep): gamma(L) from the calibration at L_ref
        T_L, T_R, gamma = length_scaled(L, point["T_L_ref"], point["T_R_ref"], ctx.gamma(levels, sc.L_ref, eta), eta,
                                        L_ref=sc.L_ref)
        spec = ctx.spectrum(levels, L)
        ss = steady_state(QuantumProblem(spec, T_L, T_R, gamma=gamma, eta=eta, omega_c=q.omega_c),
                          equation=q.equation.value, backend="scipy", options=SolverOptions(tol=q.tol))
        m = cfg.system.masses[0]
        cols = {"gamma": gamma, "J": ss.J_L, "J_err": 0.0, "J_R": ss.J_R, "P_R": float(expect_P_R(spec, ss.rho)),
                "residual": ss.residual, "J_maxwell": float(maxwell_current(T_L, T_R, m, L))}
        if sc.classical != "none":
            c = cfg.classical
            options = {} if sc.classical == "transfer" else dict(
                trajectories=c.trajectories, collisions=c.collisions, warmup=c.warmup, seed=c.seed, stream=index)
            r = current(ClassicalProblem(T_L, T_R, bath_from(cfg, {}), (m,), L), method=sc.classical, comm=comm,
                        **options)
            # the transfer operator is exact: its classical "error" column is 0 (its |J(h) - J(2h)| is not stored)
            cols["J_classical"] = float(r.J)
            cols["J_classical_err"] = 0.0 if sc.classical == "transfer" else r.J_err
        return self.row(cols)

    def finish(self, ctx, columns: dict, complete: bool):
        from mpiheat.numerics.fits import fit_power_law

        attrs = {"L_ref": self.cfg.scaling.L_ref, "gamma_exponent": 4.0 + 2.0 * float(self.cfg.quantum.eta.value)}
        if not complete:
            return attrs, {}
        L = np.asarray(columns["length"], float)
        # One fit per temperature pair, grouped by the exact (T_L_ref, T_R_ref) values in sweep order (a numeric key
        # such as T_L * 1e6 + T_R can collide).
        pairs = list(zip(columns["T_L_ref"], columns["T_R_ref"]))
        groups = {}
        for i, pair in enumerate(pairs):
            groups.setdefault(pair, []).append(i)
        fits = {"J_quantum": "J", "P_R": "P_R", "J_maxwell": "J_maxwell", "J_classical": "J_classical"}
        for name, col in fits.items():
            if col not in columns:
                continue
            exps, errs = [], []
            for pair in sorted(groups):
                m = np.asarray(groups[pair])
                f = fit_power_law(L[m], np.asarray(columns[col], float)[m])
                exps.append(f.exponent)
                errs.append(f.stderr)
            attrs[f"exponent_{name}"] = np.asarray(exps)
            attrs[f"exponent_{name}_err"] = np.asarray(errs)
        return attrs, {}

    def summary_columns(self) -> list[str]:
        have = {c.name for c in self.columns()}
        names = ["length", "T_L_ref", "T_R_ref", "T_L", "T_R", "gamma", "J", "P_R", "J_classical", "J_maxwell"]
        return [n for n in names if n in have]
