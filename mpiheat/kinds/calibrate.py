"""``kind = "calibrate"``: gamma(eta) from kappa^q(T_cal) = kappa^c(T_cal), beta(eta) and eta at beta = 1/2 (Fig. 3).

Also stores, in ``/kappa_curves``, kappa^q(T) with the calibrated gamma for every eta (Fig. 3(a)), with the classical
Eq. 12 curve for reference.
"""

from __future__ import annotations

import numpy as np

from mpiheat.config import JobConfig
from mpiheat.kinds.sweep import point_value

CURVE_T = np.logspace(-1, 3, 41)


class CalibrateKind:
    def plan(self, cfg: JobConfig) -> list[dict]:
        pts = []
        for levels in cfg.quantum.levels.values:
            for eta in cfg.calibrate.eta.values:
                p = {"eta": eta}
                if cfg.quantum.levels.is_list:
                    p["levels"] = levels
                pts.append(p)
        return pts

    def ranks_per_point(self, cfg: JobConfig, size: int) -> int:
        return 1

    def prepare(self, cfg: JobConfig, comm):
        if len(cfg.system.masses) != 1:
            from mpiheat.config import JobError

            raise JobError(cfg.source, "[system] particles", "kind = \"calibrate\" is for one particle; two-particle "
                           "jobs calibrate with gamma = \"calibrate\" in [quantum]")
        return None

    def compute(self, cfg: JobConfig, ctx, point: dict, index: int, comm) -> dict:
        from mpiheat.quantum.calibrate import calibrate_gamma, power_law

        q, c = cfg.quantum, cfg.calibrate
        levels = int(point_value(point, "levels", q.levels))
        mass, length = cfg.system.masses[0], cfg.system.length.value
        gamma = calibrate_gamma(point["eta"], c.T_cal, levels=levels, mass=mass, length=length, omega_c=q.omega_c)
        beta, prefactor, dev = power_law(point["eta"], c.beta_range, levels=levels, omega_c=q.omega_c)
        return {"gamma": gamma, "beta": beta, "beta_fit_max_dev": dev,
                "top_weight": float(np.exp(-(levels**2 - 1) * np.pi**2 / (2 * mass * length**2) / c.T_cal))}

    def finish(self, cfg: JobConfig, ctx, columns: dict, complete: bool):
        from mpiheat.quantum.calibrate import eta_for_beta, kappa_classical, kappa_quantum
        from mpiheat.quantum.operators.spectrum import box_spectrum

        q, c = cfg.quantum, cfg.calibrate
        attrs = {"T_cal": c.T_cal, "beta_range": list(c.beta_range), "levels": int(q.levels.values[-1]),
                 "beta_range_points": 11}
        extra = {}
        if complete:
            levels = int(q.levels.values[-1])
            if c.eta_half:
                attrs["eta_half"] = eta_for_beta(0.5, c.beta_range, levels=levels, omega_c=q.omega_c)
            spec = box_spectrum(levels, cfg.system.masses[0], cfg.system.length.value)
            eta = np.asarray(columns["eta"], float)
            gam = np.asarray(columns["gamma"], float)
            sel = np.asarray(columns.get("levels", np.full(eta.size, levels))) == levels
            curves = np.array([kappa_quantum(spec, CURVE_T, gamma=g, eta=e, omega_c=q.omega_c)
                               for e, g in zip(eta[sel], gam[sel])])
            extra["kappa_curves"] = {"T": CURVE_T, "eta": eta[sel], "kappa": curves,
                                     "kappa_classical": kappa_classical(CURVE_T, mass=cfg.system.masses[0],
                                                                        length=cfg.system.length.value)}
        return attrs, extra

    def summary(self, cfg: JobConfig, columns: dict) -> list[str]:
        return [n for n in ("levels", "eta", "gamma", "beta", "beta_fit_max_dev", "top_weight") if n in columns]


KIND = CalibrateKind()
