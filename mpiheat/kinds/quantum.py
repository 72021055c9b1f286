"""``kind = "quantum"``: steady states (Pauli / Lindblad / Redfield) over a sweep, with health and observables."""

from __future__ import annotations

import math

import numpy as np

from mpiheat.config import JobConfig, JobError
from mpiheat.io.schema import Column
from mpiheat.kinds.base import (
    JobKind,
    agree_input,
    point_value,
    require_kappa_classical,
    require_temperatures,
    temperature_axes,
)
from mpiheat.kinds.columns import KAPPA_COLUMN, REDFIELD_CHECK, STEADY_STATE
from mpiheat.quantum.truncation import predicted_top_gap, top_weight

#: Columns every quantum point adds to the steady state's.
POINT_COLUMNS = (
    Column("gamma", "f8", "1", "bath coupling strength gamma (calibrated: kappa^q(T_cal) = kappa^c(T_cal))"),
    Column("P_R", "f8", "1/L^3", "<P_R>: expectation of the right-wall coupling operator in the steady state"),
    Column("participation_ratio", "f8", "1", "participation ratio of the steady state's position density (one "
                                             "particle)"),
    Column("top_weight", "f8", "1", "Boltzmann weight exp(-(E_top - E_0)/T) of the top kept level at the hotter "
                                    "bath temperature (truncation safe when << 1)", health=True),
)


def model_spectrum(cfg: JobConfig, levels: int, length: float, comm=None):
    """The Spectrum of the configured model (box for one particle, hard-core pair for two).

    ``comm`` (two particles): the ranks that solve the eigenproblem together (collective); None means this rank alone.
    """
    masses = cfg.system.masses
    if len(masses) == 1:
        from mpiheat.quantum.operators.spectrum import box_spectrum

        return box_spectrum(levels, masses[0], length)
    from mpi4py import MPI

    from mpiheat.quantum.twoparticle.levels import two_particle_spectrum

    return two_particle_spectrum(levels, tuple(masses), length, tol=cfg.quantum.spectrum_tol,
                                 comm=MPI.COMM_SELF if comm is None else comm)


# --------------------------------------------------------------------------------------------------------------------
# Truncation check: the Boltzmann weight of the top kept level at the hottest temperature the job uses,
# top_weight = exp(-(E_top - E_0) / T_max), must not exceed [quantum] max_top_weight.

def hottest_temperature(cfg: JobConfig) -> float:
    """The largest temperature the job puts into a thermal weight (the bath temperatures and T_cal if calibrating).

    From the sweep's axes, with the expressions of :meth:`JobConfig.temperature_points` (same bits), without building
    the points: it also runs in validation, where a sweep may have up to 1e6 of them."""
    t = cfg.temperatures
    if t.T is not None:
        d = t.delta
        temps = [max(T * (1 + d / 2), T * (1 - d / 2)) for T in t.T.values]
    else:
        temps = [t.T_L, *t.T_R.values]
    if cfg.quantum.gamma == "calibrate":
        temps.append(cfg.quantum.T_cal)
    return max(temps)


def top_weight_problem(weight: float, tol: float, levels: int, T_max: float, how: str) -> str | None:
    """The one-line refusal text when ``weight > tol``, else None."""
    if not weight > tol:
        return None
    return (f"truncation N = {levels} too small: top-level Boltzmann weight exp(-(E_top - E_0)/T) = {weight:.3g} "
            f"at T = {T_max:.6g} ({how}) exceeds max_top_weight = {tol:.3g}; raise [quantum] levels or, knowingly, "
            f"max_top_weight")

#: Datasets of the ``/spectrum`` group.
SPECTRUM_COLUMNS = (
    Column("E", "f8", "hbar^2/(m L^2)", "kept energy levels of the largest truncation, ascending"),
    Column("P_L", "f8", "1/L^3", "matrix elements <i|P_L|j> of the left-wall coupling operator"),
    Column("P_R", "f8", "1/L^3", "matrix elements <i|P_R|j> of the right-wall coupling operator"),
)


def check_top_weight_up_front(cfg: JobConfig) -> None:
    """Refuse, before any eigensolve, a truncation whose top-level weight certainly exceeds max_top_weight."""
    q = cfg.quantum
    T_max = hottest_temperature(cfg)  # validate() has required the temperatures first
    for length in cfg.system.length.values:
        for levels in q.levels.values:
            gap, exact = predicted_top_gap(levels, cfg.system.masses, length)
            problem = top_weight_problem(math.exp(-gap / T_max), q.max_top_weight, levels, T_max,
                                         "exact box levels" if exact else "Weyl estimate, checked before the run")
            if problem:
                raise JobError(cfg.source, "[quantum] max_top_weight", problem)


class QuantumContext:
    """Per-group caches: spectra by (levels, length), calibrated gamma by (levels, length, eta)."""

    def __init__(self, cfg: JobConfig):
        self.cfg = cfg
        self.spectra: dict = {}
        self.gammas: dict = {}

    def spectrum(self, levels: int, length: float, comm=None):
        """The model's spectrum, cached; ``comm``: the ranks that solve a two-particle spectrum together."""
        key = (levels, length)
        if key not in self.spectra:
            self.spectra[key] = model_spectrum(self.cfg, levels, length, comm=comm)
        return self.spectra[key]

    def gamma(self, levels: int, length: float, eta: float) -> float:
        q = self.cfg.quantum
        if q.gamma != "calibrate":
            return float(q.gamma)
        key = (levels, length, eta)
        if key not in self.gammas:
            from mpiheat.quantum.calibrate import calibrate_gamma

            self.gammas[key] = calibrate_gamma(eta, q.T_cal, kappa_target=kappa_classical(self.cfg, q.T_cal, length),
                                               levels=self.spectrum(levels, length), omega_c=q.omega_c)
        return self.gammas[key]


def kappa_classical(cfg: JobConfig, T: float, length: float) -> float:
    """The classical kappa^c(T) the quantum model is calibrated to: ``[quantum] kappa_classical`` if given, else the
    Maxwell-bath Eq. 12 for one particle (the classical-quantum comparison lives here, in the kinds layer)."""
    if cfg.quantum.kappa_classical is not None:
        return float(cfg.quantum.kappa_classical)
    from mpiheat.classical import maxwell_kappa

    return float(maxwell_kappa(T, cfg.system.masses[0], length))


#: ``[quantum] solver`` (the job file's words) -> the formulation of ``steady_state``.
SOLVERS = {"auto": "auto", "ksp": "linear", "eps": "eigen"}


def solver_options(cfg: JobConfig):
    """The job's solver settings as the physics' :class:`~mpiheat.quantum.SolverOptions`."""
    from mpiheat.quantum import SolverOptions

    q = cfg.quantum
    return SolverOptions(tol=q.tol, petsc_options=cfg.petsc.options or None, redfield_check=q.redfield_eigs)


def observables(spectrum, rho) -> dict:
    """<P_R>, and the participation ratio where the model has a position representation (one particle)."""
    from mpiheat.quantum.operators.observables import expect_P_R, participation_ratio

    out = {"P_R": float(expect_P_R(spectrum, rho))}
    if spectrum.meta.get("model") == "box":
        out["participation_ratio"] = float(participation_ratio(rho, spectrum.meta["length"]))
    return out


class QuantumKind(JobKind):
    name = "quantum"
    sections = frozenset({"job", "system", "temperatures", "quantum", "parallel", "petsc"})

    @classmethod
    def validate(cls, cfg: JobConfig) -> None:
        require_temperatures(cfg)
        require_kappa_classical(cfg)
        q = cfg.quantum
        big = max(q.levels.values)
        if q.redfield_eigs == "dense" and "redfield" in q.equation.values and big > 60:
            # the dense check assembles the N^2 x N^2 generator (Redfield.assemble refuses N > 60)
            raise JobError(cfg.source, "[quantum] redfield_eigs", f"\"dense\" assembles the N^2 x N^2 generator and "
                           f"is limited to N <= 60, got N = {big}; use \"cluster\" or \"auto\"")
        check_top_weight_up_front(cfg)

    @classmethod
    def sweep_axes(cls, cfg: JobConfig) -> list[tuple[str, int]]:
        q = cfg.quantum
        return [("[quantum] equation", len(q.equation)), ("[quantum] levels", len(q.levels)),
                ("[system] length", len(cfg.system.length)), ("[quantum] eta", len(q.eta))] + temperature_axes(cfg)

    def axes(self) -> dict:
        q = self.cfg.quantum
        return {"equation": q.equation, "levels": q.levels, "length": self.cfg.system.length, "eta": q.eta}

    def result_columns(self) -> list[Column]:
        cols = list(STEADY_STATE) + [c for c in POINT_COLUMNS
                                     if c.name != "participation_ratio" or len(self.cfg.system.masses) == 1]
        if self.cfg.linear_response:
            cols.append(KAPPA_COLUMN)
        if "redfield" in self.cfg.quantum.equation.values:
            cols += REDFIELD_CHECK
        return cols

    def default_ranks_per_point(self, size: int) -> int:
        q = self.cfg.quantum
        if set(q.equation.values) == {"pauli"} or q.backend == "scipy":
            return 1
        # Large operators are shared by all ranks; small ones are faster one per rank.
        return size if max(q.levels.values) >= 150 or q.backend == "petsc" and size > 1 else 1

    def uses_petsc(self) -> bool:
        return self.cfg.quantum.backend == "petsc"

    def prepare(self, comm):
        cfg = self.cfg
        ctx = QuantumContext(cfg)
        # Every spectrum the sweep needs, solved now by all ranks together (collective: every rank is here), then the
        # exact top-weight check; a refusal is a JobError on every rank (exit 2, one line, no results written).
        T_max = hottest_temperature(cfg)
        tol = cfg.quantum.max_top_weight
        for length in cfg.system.length.values:
            for levels in cfg.quantum.levels.values:
                def solve(levels=int(levels), length=float(length)):
                    from mpiheat.quantum.twoparticle.levels import UnconvergedError

                    try:
                        ctx.spectrum(levels, length, comm)  # collective: every rank is here
                    except UnconvergedError as e:  # a refused truncation, like max_top_weight: one line, exit 2
                        raise JobError(cfg.source, "[quantum] levels",
                                       f"the two-particle spectrum of {levels} states is not converged: {e} (in a job: "
                                       f"[quantum] spectrum_tol = {cfg.quantum.spectrum_tol:g}; loosen it knowingly)"
                                       ) from None

                agree_input(comm, solve)
                spec = ctx.spectrum(int(levels), float(length), comm)  # cached by solve()

                def check(spec=spec, levels=int(levels)):
                    w = top_weight(spec, T_max)
                    problem = top_weight_problem(w, tol, levels, T_max, "computed spectrum")
                    if problem:
                        raise JobError(cfg.source, "[quantum] max_top_weight", problem)

                agree_input(comm, check)
        return ctx

    def compute(self, ctx: QuantumContext, point: dict, index: int, comm) -> dict:
        from mpiheat.quantum import QuantumProblem, steady_state

        q = self.cfg.quantum
        levels = int(point_value(point, "levels", q.levels))
        length = float(point_value(point, "length", self.cfg.system.length))
        eta = float(point_value(point, "eta", q.eta))
        equation = point_value(point, "equation", q.equation)
        spec = ctx.spectrum(levels, length)
        gamma = ctx.gamma(levels, length, eta)
        problem = QuantumProblem(spec, point["T_L"], point["T_R"], gamma=gamma, eta=eta, omega_c=q.omega_c)
        # backend "auto" is resolved once, by the physics (PETSc when comm has more than one rank)
        ss = steady_state(problem, equation=equation, backend=q.backend, solver=SOLVERS[q.solver], comm=comm,
                          options=solver_options(self.cfg))
        cols = ss.as_columns()
        # Redfield reports its physicality check apart; other equations have no check (same columns for every row)
        cols.setdefault("seconds_solve", cols["seconds"])
        cols.setdefault("seconds_check", 0.0)
        if equation == "redfield":
            cols["physicality_checked"] = True
        cols["gamma"] = gamma
        cols.update(observables(spec, ss.rho))
        # Weight of the top level at the hotter temperature: the truncation is safe when this is << 1.
        cols["top_weight"] = top_weight(spec, max(point["T_L"], point["T_R"]))
        if "T" in point:
            cols["kappa"] = cols["J"] / (point["T_L"] - point["T_R"])
        return self.row(cols)

    def finish(self, ctx: QuantumContext, columns: dict, complete: bool):
        cfg = self.cfg
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
        if "max_err" in spec.meta:  # two particles: the two-resolution estimate, its tolerance and the degrees
            attrs.update(spectrum_max_err=float(spec.meta["max_err"]), spectrum_tol=float(spec.meta["tol"]),
                         spectrum_degree=int(spec.meta["degree"]),
                         spectrum_degree_coarse=int(spec.meta["degree_coarse"]))
        return attrs, extra

    def extra_columns(self) -> dict[str, list[Column]]:
        """Declared datasets of ``/spectrum`` (the largest truncation's levels and coupling operators)."""
        return {"spectrum": list(SPECTRUM_COLUMNS)}

    def summary_columns(self) -> list[str]:
        have = {c.name for c in self.columns()}
        names = ["T", "T_L", "T_R", "levels", "length", "eta", "J", "kappa", "J_mismatch", "residual",
                 "rho_min_eig", "converged", "max_real_eig", "unphysical", "P_R", "seconds_solve", "seconds_check"]
        return [n for n in names if n in have]
