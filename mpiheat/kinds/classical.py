"""``kind = "classical"``: one or two particles between Maxwell or MCMC baths, by MD or the transfer operator."""

from __future__ import annotations

from mpiheat.config import JobConfig, JobError
from mpiheat.kinds.sweep import point_value, product_points


def bath_from(cfg: JobConfig, point: dict):
    """The :class:`~mpiheat.classical.baths.Bath` of a sweep point."""
    from mpiheat.classical.baths import Bath

    b = cfg.bath
    return Bath(model=b.model, steps=int(point_value(point, "steps", b.steps)),
                proposal=float(point_value(point, "proposal", b.proposal)), variable=b.variable)


class ClassicalKind:
    def plan(self, cfg: JobConfig) -> list[dict]:
        axes = {"length": cfg.system.length}
        if cfg.bath.model == "mcmc":
            axes.update(steps=cfg.bath.steps, proposal=cfg.bath.proposal)
        else:
            for key in ("steps", "proposal"):
                if getattr(cfg.bath, key).is_list:
                    raise JobError(cfg.source, f"[bath] {key}", "a sweep over it needs model = \"mcmc\"")
        return product_points(cfg, axes)

    def ranks_per_point(self, cfg: JobConfig, size: int) -> int:
        # MD: all ranks share each point's trajectories (results do not depend on the split). Transfer: one rank each.
        return size if cfg.classical.method == "md" else 1

    def prepare(self, cfg: JobConfig, comm):
        return None

    def compute(self, cfg: JobConfig, ctx, point: dict, index: int, comm) -> dict:
        from mpiheat.classical.analytic import maxwell_current

        c = cfg.classical
        bath = bath_from(cfg, point)
        length = float(point_value(point, "length", cfg.system.length))
        masses = cfg.system.masses
        T_L, T_R = point["T_L"], point["T_R"]
        if c.method == "transfer":
            from mpiheat.classical.transfer import transfer_current

            cols = transfer_current(T_L, T_R, bath, mass=masses[0], length=length).as_columns()
        else:
            from mpiheat.classical.md import run_md

            cols = run_md(T_L, T_R, bath, masses=masses, length=length, trajectories=c.trajectories,
                          collisions=c.collisions, warmup=c.warmup, seed=c.seed, stream=index,
                          comm=comm).as_columns()
        if len(masses) == 1:
            cols["J_maxwell"] = float(maxwell_current(T_L, T_R, masses[0], length))
        if "T" in point:
            dT = T_L - T_R
            cols["kappa"] = cols["J"] / dT
            cols["kappa_err"] = cols.get("J_err", 0.0) / dT
        return cols

    def finish(self, cfg: JobConfig, ctx, columns: dict, complete: bool):
        return {"bath_model": cfg.bath.model, "method": cfg.classical.method}, {}

    def summary(self, cfg: JobConfig, columns: dict) -> list[str]:
        names = [k for k in ("T", "T_L", "T_R", "length", "steps", "proposal") if k in columns]
        names += ["J", "J_err", "J_R", "J_R_err"] + (["J_maxwell"] if "J_maxwell" in columns else [])
        names += ["kappa", "kappa_err"] if "kappa" in columns else []
        return [n for n in names if n in columns]


KIND = ClassicalKind()
