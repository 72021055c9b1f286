"""``kind = "classical"``: one or two particles between Maxwell or MCMC baths, by MD or the transfer operator."""

from __future__ import annotations

from mpiheat.config import JobConfig, JobError
from mpiheat.io.schema import Column
from mpiheat.kinds.base import JobKind, point_value, require_temperatures, temperature_axes
from mpiheat.kinds.columns import CURRENT, ENERGY, J_MAXWELL, KAPPA_COLUMN, KAPPA_ERR, TIME

#: Molecular dynamics (``ClassicalResult``).
MD_COLUMNS = (
    Column("J", "f8", CURRENT, "heat current by Eq. 3, (E_LR - E_RL) / (t_LR + t_RL) as a ratio of sums"),
    Column("J_err", "f8", CURRENT, "jackknife standard error of J over the trajectories"),
    Column("J_R", "f8", CURRENT, "flux into the cold bath by energy balance at the right wall"),
    Column("J_R_err", "f8", CURRENT, "jackknife standard error of J_R"),
    Column("E_LR", "f8", ENERGY, "mean energy leaving the hot wall (NaN for two particles)"),
    Column("E_RL", "f8", ENERGY, "mean energy leaving the cold wall (NaN for two particles)"),
    Column("t_LR", "f8", TIME, "mean flight time hot -> cold wall (NaN for two particles)"),
    Column("t_RL", "f8", TIME, "mean flight time cold -> hot wall (NaN for two particles)"),
    Column("collisions", "i8", "1", "bath collisions counted over all trajectories (warm-up excluded)"),
    Column("trajectories", "i8", "1", "independent trajectories (jackknife blocks)"),
)

#: The exact transfer operator (``TransferResult.as_columns``): no sampling, so the error columns are the
#: discretisation estimate and J_R is J by construction (stationary law); both are kept so that MD and transfer files
#: have the same current columns.
TRANSFER_COLUMNS = (
    Column("J", "f8", CURRENT, "heat current, Eq. 3, of the stationary law of the two-wall transfer operator"),
    Column("E_LR", "f8", ENERGY, "mean energy leaving the hot wall"),
    Column("E_RL", "f8", ENERGY, "mean energy leaving the cold wall"),
    Column("t_LR", "f8", TIME, "mean flight time hot -> cold wall"),
    Column("t_RL", "f8", TIME, "mean flight time cold -> hot wall"),
    Column("J_refine", "f8", CURRENT,
           "|J(h) - J(2h)|: discretisation-error estimate from a grid twice as coarse", health=True),
    Column("cells_hot", "i8", "1", "cells of the hot-wall grid"),
    Column("cells_master", "i8", "1", "cells of the master grid (cold-wall grid + extension)"),
    Column("cells_cold", "i8", "1", "cells of the cold-wall grid"),
    Column("far", "bool", "", "the translation-invariant far region (shift operator) was used at the cold wall"),
    Column("iterations", "i8", "1", "power-iteration cycles", health=True),
    Column("residual", "f8", "1", "L1 change of the stationary law in the last cycle", health=True),
    Column("truncation_mass", "f8", "1",
           "probability mass in the top 1 % of the energy range (~exp(-tail))", health=True),
    Column("window_loss", "f8", "1", "free-walk law lost outside its FFT window (0 without far region)", health=True),
    Column("h", "f8", "1", "cell width in the scaled energy (or speed) variable"),
    Column("J_R", "f8", CURRENT, "flux into the cold bath: equals J for the stationary law (same column as MD)"),
    Column("J_err", "f8", CURRENT, "discretisation-error estimate of J, = J_refine (0 when no refinement ran); "
                                   "not a statistical error"),
    Column("J_R_err", "f8", CURRENT, "= J_err (J_R is J)"),
    Column("collisions", "i8", "1", "0: the transfer operator simulates no collisions (same column as MD)"),
)

#: The transfer operator's kappa error is its discretisation estimate, not a standard error.
TRANSFER_KAPPA_ERR = Column("kappa_err", "f8", KAPPA_ERR.units,
                            "discretisation-error estimate of kappa, J_err / (T_L - T_R) (not a statistical error)")


def bath_from(cfg: JobConfig, point: dict):
    """The :class:`~mpiheat.classical.baths.Bath` of a sweep point."""
    from mpiheat.classical.baths import Bath

    b = cfg.bath
    return Bath(model=b.model, steps=int(point_value(point, "steps", b.steps)),
                proposal=float(point_value(point, "proposal", b.proposal)), variable=b.variable)


class ClassicalKind(JobKind):
    name = "classical"
    sections = frozenset({"job", "system", "bath", "temperatures", "classical", "parallel"})

    @classmethod
    def validate(cls, cfg: JobConfig) -> None:
        require_temperatures(cfg)
        c = cfg.classical
        if c.method == "transfer" and len(cfg.system.masses) != 1:
            raise JobError(cfg.source, "[classical] method", "\"transfer\" is exact for one particle only")
        if c.warmup >= 10**12 or c.collisions >= 10**15:
            raise JobError(cfg.source, "[classical] collisions", "implausibly large")
        if cfg.bath.model != "mcmc":
            for key in ("steps", "proposal"):
                if getattr(cfg.bath, key).is_list:
                    raise JobError(cfg.source, f"[bath] {key}", "a sweep over it needs model = \"mcmc\"")

    @classmethod
    def sweep_axes(cls, cfg: JobConfig) -> list[tuple[str, int]]:
        ax = [("[system] length", len(cfg.system.length))]
        if cfg.bath.model == "mcmc":
            ax += [("[bath] steps", len(cfg.bath.steps)), ("[bath] proposal", len(cfg.bath.proposal))]
        return ax + temperature_axes(cfg)

    def axes(self) -> dict:
        axes = {"length": self.cfg.system.length}
        if self.cfg.bath.model == "mcmc":
            axes.update(steps=self.cfg.bath.steps, proposal=self.cfg.bath.proposal)
        return axes

    def result_columns(self) -> list[Column]:
        cols = list(TRANSFER_COLUMNS if self.cfg.classical.method == "transfer" else MD_COLUMNS)
        if len(self.cfg.system.masses) == 1:
            cols.append(J_MAXWELL)
        if self.cfg.linear_response:
            cols += [KAPPA_COLUMN, TRANSFER_KAPPA_ERR if self.cfg.classical.method == "transfer" else KAPPA_ERR]
        return cols

    def default_ranks_per_point(self, size: int) -> int:
        # MD: all ranks share each point's trajectories (results do not depend on the split). Transfer: one rank each.
        return size if self.cfg.classical.method == "md" else 1

    def compute(self, ctx, point: dict, index: int, comm) -> dict:
        from mpiheat.classical import ClassicalProblem, current, kappa, maxwell_current

        cfg, c = self.cfg, self.cfg.classical
        length = float(point_value(point, "length", cfg.system.length))
        masses = cfg.system.masses
        T_L, T_R = point["T_L"], point["T_R"]
        problem = ClassicalProblem(T_L, T_R, bath_from(cfg, point), masses, length)
        # transfer: the solver's defaults (no options); md: the job's sampling, one random stream per point
        options = {} if c.method == "transfer" else dict(
            trajectories=c.trajectories, collisions=c.collisions, warmup=c.warmup, seed=c.seed, stream=index)
        solve = kappa if "T" in point else current
        cols = solve(problem, method=c.method, comm=comm, **options).as_columns()
        if len(masses) == 1:
            cols["J_maxwell"] = float(maxwell_current(T_L, T_R, masses[0], length))
        return self.row(cols)

    def finish(self, ctx, columns: dict, complete: bool):
        return {"bath_model": self.cfg.bath.model, "method": self.cfg.classical.method}, {}

    def summary_columns(self) -> list[str]:
        have = {c.name for c in self.columns()}
        names = [k for k in ("T", "T_L", "T_R", "length", "steps", "proposal") if k in have]
        names += ["J", "J_err", "J_R", "J_R_err", "J_maxwell", "kappa", "kappa_err"]
        return [n for n in names if n in have]
