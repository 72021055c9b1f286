"""``kind = "calibrate"``: gamma(eta) from kappa^q(T_cal) = kappa^c(T_cal), beta(eta) and eta at beta = 1/2 (Fig. 3).

Also stores, in ``/kappa_curves``, kappa^q(T) with the calibrated gamma for every eta (Fig. 3(a)), with the classical
Eq. 12 curve for reference.
"""

from __future__ import annotations

import numpy as np

from mpiheat.config import JobConfig, JobError
from mpiheat.io.schema import Column
from mpiheat.kinds.base import JobKind, point_value
from mpiheat.kinds.columns import KAPPA

CURVE_T = np.logspace(-1, 3, 41)

COLUMNS = (
    Column("gamma", "f8", "1", "coupling that makes kappa^q(T_cal) = kappa^c(T_cal) (Eq. 12)"),
    Column("beta", "f8", "1", "exponent of the fit kappa^q ~ T^beta on [calibrate] beta_range (11 log-spaced T)"),
    Column("beta_fit_max_dev", "f8", "1",
           "largest relative deviation of kappa^q from that power law in the range", health=True),
    Column("top_weight", "f8", "1", "Boltzmann weight exp(-(E_top - E_0)/T_cal) of the top kept level", health=True),
)

#: Datasets of the ``/kappa_curves`` group (complete runs).
CURVE_COLUMNS = (
    Column("T", "f8", "hbar^2/(m L^2)", "temperatures of the curves (41 log-spaced, 0.1 .. 1000)"),
    Column("eta", "f8", "1", "spectral exponent of each curve (rows of kappa)"),
    Column("kappa", "f8", KAPPA, "kappa^q(T) with the calibrated gamma, one row per eta"),
    Column("kappa_classical", "f8", KAPPA, "classical Maxwell-bath kappa^c(T), Letter Eq. 12"),
)


class CalibrateKind(JobKind):
    name = "calibrate"
    sections = frozenset({"job", "system", "quantum", "calibrate", "parallel", "petsc"})

    @classmethod
    def validate(cls, cfg: JobConfig) -> None:
        if len(cfg.system.masses) != 1:
            raise JobError(cfg.source, "[system] particles", "kind = \"calibrate\" is for one particle; two-particle "
                           "jobs calibrate with gamma = \"calibrate\" in [quantum]")

    @classmethod
    def sweep_axes(cls, cfg: JobConfig) -> list[tuple[str, int]]:
        return [("[quantum] levels", len(cfg.quantum.levels)), ("[calibrate] eta", len(cfg.calibrate.eta))]

    def make_points(self) -> list[dict]:
        pts = []
        for levels in self.cfg.quantum.levels.values:
            for eta in self.cfg.calibrate.eta.values:
                p = {"eta": eta}
                if self.cfg.quantum.levels.is_list:
                    p["levels"] = levels
                pts.append(p)
        return pts

    def result_columns(self) -> list[Column]:
        return list(COLUMNS)

    def uses_petsc(self) -> bool:
        return self.cfg.quantum.backend == "petsc"

    def compute(self, ctx, point: dict, index: int, comm) -> dict:
        from mpiheat.kinds.quantum import kappa_classical
        from mpiheat.quantum import box_spectrum
        from mpiheat.quantum.calibrate import calibrate_gamma, power_law
        from mpiheat.quantum.truncation import top_weight

        q, c = self.cfg.quantum, self.cfg.calibrate
        levels = int(point_value(point, "levels", q.levels))
        mass, length = self.cfg.system.masses[0], self.cfg.system.length.value
        spec = box_spectrum(levels, mass, length)  # once: the calibration and the truncation check share it
        gamma = calibrate_gamma(point["eta"], c.T_cal, kappa_target=kappa_classical(self.cfg, c.T_cal, length),
                                levels=spec, omega_c=q.omega_c)
        beta, prefactor, dev = power_law(point["eta"], c.beta_range, levels=levels, omega_c=q.omega_c)
        return self.row({"gamma": gamma, "beta": beta, "beta_fit_max_dev": dev,
                         "top_weight": top_weight(spec, c.T_cal)})

    def finish(self, ctx, columns: dict, complete: bool):
        from mpiheat.classical import maxwell_kappa
        from mpiheat.quantum import box_spectrum
        from mpiheat.quantum.calibrate import eta_for_beta, kappa_quantum

        cfg = self.cfg
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
            # the classical reference lives here, in the kinds layer: quantum and classical do not import each other
            extra["kappa_curves"] = {"T": CURVE_T, "eta": eta[sel], "kappa": curves,
                                     "kappa_classical": maxwell_kappa(CURVE_T, cfg.system.masses[0],
                                                                      cfg.system.length.value)}
        return attrs, extra

    def extra_columns(self) -> dict[str, list[Column]]:
        """Declared datasets of the extra groups (``/kappa_curves``)."""
        return {"kappa_curves": list(CURVE_COLUMNS)}

    def summary_columns(self) -> list[str]:
        have = {c.name for c in self.columns()}
        return [n for n in ("levels", "eta", "gamma", "beta", "beta_fit_max_dev", "top_weight") if n in have]
