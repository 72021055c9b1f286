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
from mpiheat.io.schema import Column
from mpiheat.kinds.base import JobKind, point_value, require_kappa_classical, temperature_axes
from mpiheat.kinds.classical import bath_from
from mpiheat.kinds.columns import ENERGY, RATE, TIME
from mpiheat.kinds.quantum import QuantumContext

#: ``thermalisation_time`` (classical model). Its ``collisions`` (tau / steps, fractional) is stored as
#: ``tau_collisions``: ``collisions`` is an integer count of bath collisions in every other results file.
CLASSICAL_COLUMNS = (
    Column("tau", "i8", "1", "Metropolis moves until the distance to the Boltzmann law is below tol (-1: not reached)"),
    Column("tau_collisions", "f8", "1", "tau / [bath] steps: bath collisions needed (fractional; NaN if not reached)"),
    Column("E0", "f8", ENERGY, "initial energy of the relaxing particle"),
    Column("tol", "f8", "1", "tolerance on the distance"),
    Column("metric", "str", "", "distance: tv (total variation on the cell grid) | mean (relative mean energy)"),
    Column("cells", "i8", "1", "cells of the energy grid"),
)

#: ``mpiheat.quantum.solvers.dynamics.relaxation`` (quantum model).
QUANTUM_COLUMNS = (
    Column("t_relax", "f8", TIME, "first time the trace distance to rho_ss is below relax_tol (NaN: not reached)"),
    Column("relax_tol", "f8", "1", "trace-distance tolerance"),
    Column("tau_gap", "f8", TIME, "1/|Re lambda_1|: slowest decay time of the generator (spectral gap)"),
    Column("tau_exc", "f8", TIME, "1/|Re lambda_exc|: slowest mode the start state excites"),
    Column("lambda_1_re", "f8", RATE, "Re lambda_1, slowest non-zero generator eigenvalue"),
    Column("lambda_1_im", "f8", RATE, "Im lambda_1"),
    Column("lambda_exc_re", "f8", RATE, "Re lambda_exc, slowest excited mode"),
    Column("decay_rate_fit", "f8", RATE, "-d ln D/dt fitted on the late-time trace distance"),
    Column("max_trace_error", "f8", "1", "max_t |Tr rho(t) - 1| along the trajectory", health=True),
    Column("final_distance", "f8", "1", "trace distance to rho_ss at the last time"),
    Column("method", "str", "", "time stepping: expm (dense) | blocks (exact Lindblad block path)"),
)


class RelaxationKind(JobKind):
    name = "relaxation"
    sections = frozenset({"job", "system", "bath", "temperatures", "quantum", "relaxation", "parallel", "petsc"})

    @classmethod
    def validate(cls, cfg: JobConfig) -> None:
        t = cfg.temperatures
        if cfg.relaxation.model == "classical":
            if t.T is None:
                raise JobError(cfg.source, "[temperatures] T", "a classical relaxation job needs a list of bath "
                               "temperatures T")
            return
        require_kappa_classical(cfg)
        if t.T_L is None and t.T is None:
            raise JobError(cfg.source, "[temperatures]", "a quantum relaxation job needs T_L and T_R (or T)")

    @classmethod
    def sweep_axes(cls, cfg: JobConfig) -> list[tuple[str, int]]:
        if cfg.relaxation.model == "classical":
            return temperature_axes(cfg)
        q = cfg.quantum
        return [("[quantum] levels", len(q.levels)), ("[quantum] eta", len(q.eta))] + temperature_axes(cfg)

    def make_points(self) -> list[dict]:
        if self.cfg.relaxation.model == "classical":
            return [{"T": T} for T in self.cfg.temperatures.T.values]
        return super().make_points()

    def axes(self) -> dict:
        return {"levels": self.cfg.quantum.levels, "eta": self.cfg.quantum.eta}

    def result_columns(self) -> list[Column]:
        return list(CLASSICAL_COLUMNS if self.cfg.relaxation.model == "classical" else QUANTUM_COLUMNS)

    def uses_petsc(self) -> bool:
        return self.cfg.relaxation.model == "quantum" and self.cfg.quantum.backend == "petsc"

    def prepare(self, comm):
        return QuantumContext(self.cfg)

    def compute(self, ctx: QuantumContext, point: dict, index: int, comm) -> dict:
        cfg, r = self.cfg, self.cfg.relaxation
        if r.model == "classical":
            from mpiheat.classical.relaxation import thermalisation_time

            cols = thermalisation_time(point["T"], bath_from(cfg, {}), E0=r.E0, tol=r.tol).as_columns()
            cols["tau_collisions"] = cols.pop("collisions")
            return self.row(cols)
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
        return self.row(res.as_columns())

    def finish(self, ctx, columns: dict, complete: bool):
        attrs = {"model": self.cfg.relaxation.model}
        if complete and self.cfg.relaxation.model == "classical":
            from mpiheat.numerics.fits import fit_power_law

            # tau ~ T^p over the temperatures where the bath thermalised (tau = -1: not within max_moves)
            T, tau = np.asarray(columns["T"], float), np.asarray(columns["tau"], float)
            ok = tau > 0
            if ok.sum() >= 2:
                f = fit_power_law(T[ok], tau[ok])
                attrs.update(power_law_exponent=f.exponent, power_law_exponent_err=f.stderr)
        return attrs, {}
