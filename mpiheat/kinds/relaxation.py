"""``kind = "relaxation"``: how fast the system (quantum) or the MCMC bath (classical) relaxes.

* ``[relaxation] model = "quantum"``: rho(t) from ``start`` (thermal at T_L or T_R, or the ground state) under the
  Lindblad or Redfield generator for each (T_L, T_R) point; columns ``t_relax`` (first time the trace distance to
  rho_ss drops below ``tol``, by time stepping), ``tau_gap`` = 1/|Re lambda_1| (spectral gap) and ``tau_exc`` (slowest
  mode the start actually excites), ``decay_rate_fit`` (fitted late-time decay of the trace distance). Dense spectral
  analysis: keep ``levels`` moderate (<= 30).
* ``model = "classical"``: thermalisation time of the MCMC Maxwell bath vs its temperature (``[temperatures] T``
  list), with the fitted power law tau ~ T^p as root attributes (the Letter quotes p ~ -0.9).
"""

from __future__ import annotations

import numpy as np

from mpiheat.config import JobConfig, JobError
from mpiheat.kinds.classical import bath_from
from mpiheat.kinds.quantum import QuantumContext
from mpiheat.kinds.sweep import point_value, product_points


class RelaxationKind:
    def plan(self, cfg: JobConfig) -> list[dict]:
        if cfg.relaxation.model == "classical":
            if cfg.temperatures.T is None:
                raise JobError(cfg.source, "[temperatures] T", "a classical relaxation job needs a list of bath "
                               "temperatures T")
            return [{"T": T} for T in cfg.temperatures.T.values]
        if cfg.temperatures.T_L is None and cfg.temperatures.T is None:
            raise JobError(cfg.source, "[temperatures]", "a quantum relaxation job needs T_L and T_R (or T)")
        return product_points(cfg, {"levels": cfg.quantum.levels, "eta": cfg.quantum.eta})

    def ranks_per_point(self, cfg: JobConfig, size: int) -> int:
        return 1

    def prepare(self, cfg: JobConfig, comm):
        return QuantumContext(cfg)

    def compute(self, cfg: JobConfig, ctx: QuantumContext, point: dict, index: int, comm) -> dict:
        r = cfg.relaxation
        if r.model == "classical":
            from mpiheat.classical.relaxation import thermalisation_time

            res = thermalisation_time(point["T"], bath_from(cfg, {}), E0=r.E0, tol=r.tol)
            return res.as_columns() if hasattr(res, "as_columns") else {"tau": float(res)}
        from mpiheat.quantum.solvers.dynamics import relaxation

        q = cfg.quantum
        levels = int(point_value(point, "levels", q.levels))
        eta = float(point_value(point, "eta", q.eta))
        length = float(cfg.system.length.value)
        spec = ctx.spectrum(levels, length)
        start = {"thermal_L": "thermal", "thermal_R": "thermal", "ground": "ground"}[r.start]
        T_start = point["T_R"] if r.start == "thermal_R" else point["T_L"]
        equation = q.equation.value if q.equation.value != "pauli" else "lindblad"
        # Lindblad: exact block path above N = 30 (fast at any N); Redfield: dense at any N (O(N^6), user's call)
        res = relaxation(spec, point["T_L"], point["T_R"], gamma=ctx.gamma(levels, length, eta), eta=eta,
                         omega_c=q.omega_c, equation=equation, start=start, T_start=T_start, tol=r.tol,
                         t_max=r.t_max or None, n_times=r.times,
                         dense_limit=30 if equation == "lindblad" else max(30, levels))
        cols = {k: v for k, v in res.as_columns().items() if np.isscalar(v)}
        for k, v in list(cols.items()):
            if isinstance(v, complex):
                cols[k] = v.real
                cols[k + "_imag"] = v.imag
        return cols

    def finish(self, cfg: JobConfig, ctx, columns: dict, complete: bool):
        attrs = {"model": cfg.relaxation.model}
        if complete and cfg.relaxation.model == "classical" and len(columns["T"]) >= 2:
            from mpiheat.quantum.scaling import fit_power_law

            tau = np.asarray(columns.get("tau_steps", columns.get("tau")), float)
            f = fit_power_law(np.asarray(columns["T"], float), tau)
            attrs.update(power_law_exponent=f.exponent, power_law_exponent_err=f.stderr)
        return attrs, {}

    def summary(self, cfg: JobConfig, columns: dict) -> list[str]:
        return [k for k in columns if k != "done"][:12]


KIND = RelaxationKind()
