"""``kind = "scaling"``: length scaling (Letter, end of main text; SPEC §3 "Length scaling").

For each length L of ``[system] length`` (a list) and each temperature pair given at ``[scaling] L_ref``, the bath
temperatures become T (L_ref/L)^2 and the quantum coupling gamma (L/L_ref)^(4 + 2 eta); J^q, <P_R> and the classical
J^c (transfer operator, MD or none; the Maxwell Eq. 4 value always) are computed, and the exponents of J^q, J^c and
<P_R> in L are fitted per temperature pair (attributes ``exponent_J_quantum`` etc.; expected -4, -4, -3).
"""

from __future__ import annotations

import numpy as np

from mpiheat.config import JobConfig
from mpiheat.kinds.classical import bath_from
from mpiheat.kinds.quantum import QuantumContext
from mpiheat.kinds.sweep import product_points


class ScalingKind:
    def plan(self, cfg: JobConfig) -> list[dict]:
        pts = []
        for p in product_points(cfg, {"length": cfg.system.length}):
            s = (cfg.scaling.L_ref / p["length"]) ** 2
            q = {"length": p["length"], "T_L_ref": p["T_L"], "T_R_ref": p["T_R"], "T_L": p["T_L"] * s,
                 "T_R": p["T_R"] * s}
            pts.append(q)
        return pts

    def ranks_per_point(self, cfg: JobConfig, size: int) -> int:
        return 1

    def prepare(self, cfg: JobConfig, comm):
        return QuantumContext(cfg)

    def compute(self, cfg: JobConfig, ctx: QuantumContext, point: dict, index: int, comm) -> dict:
        from mpiheat.classical.analytic import maxwell_current
        from mpiheat.quantum.operators.observables import expect_P_R
        from mpiheat.quantum.solvers.steadystate import steadystate

        q, sc = cfg.quantum, cfg.scaling
        L, eta, levels = point["length"], float(q.eta.value), int(q.levels.value)
        gamma_ref = ctx.gamma(levels, sc.L_ref, eta)
        gamma = gamma_ref * (L / sc.L_ref) ** (4.0 + 2.0 * eta)
        spec = ctx.spectrum(levels, L)
        ss = steadystate(spec, point["T_L"], point["T_R"], gamma=gamma, eta=eta, omega_c=q.omega_c,
                         equation=q.equation.value, backend="scipy", tol=q.tol)
        m = cfg.system.masses[0]
        cols = {"gamma": gamma, "J": ss.J_L, "J_err": 0.0, "J_R": ss.J_R, "P_R": float(expect_P_R(spec, ss.rho)),
                "residual": ss.residual, "J_maxwell": float(maxwell_current(point["T_L"], point["T_R"], m, L))}
        bath = bath_from(cfg, {})
        if sc.classical == "transfer":
            from mpiheat.classical.transfer import transfer_current

            cols["J_classical"] = float(transfer_current(point["T_L"], point["T_R"], bath, mass=m, length=L).J)
            cols["J_classical_err"] = 0.0
        elif sc.classical == "md":
            from mpiheat.classical.md import run_md

            c = cfg.classical
            r = run_md(point["T_L"], point["T_R"], bath, masses=(m,), length=L, trajectories=c.trajectories,
                       collisions=c.collisions, warmup=c.warmup, seed=c.seed, stream=index, comm=comm)
            cols["J_classical"], cols["J_classical_err"] = r.J, r.J_err
        return cols

    def finish(self, cfg: JobConfig, ctx, columns: dict, complete: bool):
        from mpiheat.quantum.scaling import fit_power_law

        attrs = {"L_ref": cfg.scaling.L_ref, "gamma_exponent": 4.0 + 2.0 * float(cfg.quantum.eta.value)}
        if not complete:
            return attrs, {}
        L = np.asarray(columns["length"], float)
        key = np.asarray(columns["T_L_ref"], float) * 1e6 + np.asarray(columns["T_R_ref"], float)
        fits = {"J_quantum": "J", "P_R": "P_R", "J_maxwell": "J_maxwell", "J_classical": "J_classical"}
        for name, col in fits.items():
            if col not in columns:
                continue
            exps, errs = [], []
            for k in np.unique(key):
                m = key == k
                f = fit_power_law(L[m], np.asarray(columns[col], float)[m])
                exps.append(f.exponent)
                errs.append(f.stderr)
            attrs[f"exponent_{name}"] = np.asarray(exps)
            attrs[f"exponent_{name}_err"] = np.asarray(errs)
        return attrs, {}

    def summary(self, cfg: JobConfig, columns: dict) -> list[str]:
        names = ["length", "T_L_ref", "T_R_ref", "T_L", "T_R", "gamma", "J", "P_R", "J_classical", "J_maxwell"]
        return [n for n in names if n in columns]


KIND = ScalingKind()
