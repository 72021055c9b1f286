"""The common part of every job kind: a kind object is bound to one validated job (Contract 2 of the redesign).

A subclass declares

* ``name`` and ``sections`` (the TOML sections it reads; others are refused);
* :meth:`validate` (its rules across keys, raising :class:`~mpiheat.config.JobError`) and :meth:`sweep_axes`
  (its sweep, counted without building it);
* :meth:`axes` / :meth:`points` (the sweep), :meth:`result_columns` (every results column this job writes: name,
  dtype, units, description) and :meth:`default_ranks_per_point` (its ``layout = "auto"`` choice);
* the physics calls: :meth:`prepare`, :meth:`compute`, :meth:`finish`, and :meth:`summary_columns`.

The driver sees only the bound object; it never reads the configuration.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, ClassVar

from mpiheat.config import MAX_SWEEP_POINTS, JobConfig, JobError, Sweep
from mpiheat.io.schema import Column, by_name
from mpiheat.kinds.columns import PARAMETERS

#: Sections every kind reads.
COMMON_SECTIONS = frozenset({"job", "system", "parallel"})


def product_points(cfg: JobConfig, axes: dict[str, Sweep]) -> list[dict]:
    """Points of the cartesian product ``axes`` x temperatures, in that order (temperatures fastest).

    Every axis given as a list in the job becomes a results column, even with one value; scalars do not.
    """
    names = list(axes)
    temps = cfg.temperature_points()
    points = []
    for combo in itertools.product(*(axes[n].values for n in names)):
        outer = {n: v for n, v in zip(names, combo) if axes[n].is_list}
        for t in temps:
            points.append({**t, **outer})
    return points


def point_value(point: dict, name: str, sweep: Sweep):
    """The value of parameter ``name`` at ``point`` (the column if swept, else the single value)."""
    return point.get(name, sweep.value)


def temperature_axes(cfg: JobConfig) -> list[tuple[str, int]]:
    """``(key, number of values)`` of the temperature sweep (empty when the job gives none)."""
    t = cfg.temperatures
    if t.T is not None:
        return [("[temperatures] T", len(t.T))]
    if t.T_R is not None:
        return [("[temperatures] T_R", len(t.T_R))]
    return []


def require_temperatures(cfg: JobConfig) -> None:
    """The kind needs a temperature sweep: T_L and T_R, or T (and delta)."""
    t = cfg.temperatures
    if t.T is None and t.T_L is None and t.T_R is None:
        raise JobError(cfg.source, "[temperatures]", "missing: give T_L and T_R, or T and delta")


def require_kappa_classical(cfg: JobConfig) -> None:
    """Two particles calibrated against the classical model need the measured kappa^c(T_cal) (no closed form)."""
    q = cfg.quantum
    if len(cfg.system.masses) == 2 and q.gamma == "calibrate" and q.kappa_classical is None:
        raise JobError(cfg.source, "[quantum] kappa_classical", "two particles with gamma = \"calibrate\" need the "
                       "measured classical kappa^c(T_cal) (run a classical linear-response job, SPEC §4)")


class JobKind:
    """Base class of the job kinds; an instance is bound to one validated job ``cfg``."""

    name: ClassVar[str] = ""
    sections: ClassVar[frozenset] = COMMON_SECTIONS

    def __init__(self, cfg: JobConfig):
        self.cfg = cfg
        self.identity: str = cfg.identity()  # a results file of another job is never resumed
        self._points: list[dict] | None = None
        self._columns: list[Column] | None = None
        self._results: list[Column] = []
        self._params: set[str] = set()

    # -- validation (class level: before any object is built) ----------------------------------------------------
    @classmethod
    def validate(cls, cfg: JobConfig) -> None:
        """The kind's rules across keys; raises :class:`JobError` (one line naming file and key)."""

    @classmethod
    def sweep_axes(cls, cfg: JobConfig) -> list[tuple[str, int]]:
        """``(key, number of values)`` of each axis of the sweep, in sweep order."""
        return temperature_axes(cfg)

    @classmethod
    def count_points(cls, cfg: JobConfig) -> int:
        """Points of the sweep (the product of its axes), refused above :data:`MAX_SWEEP_POINTS` before any list of
        points is built."""
        axes = cls.sweep_axes(cfg)
        n = math.prod(m for _, m in axes) if axes else 0
        if n > MAX_SWEEP_POINTS:
            big = [(k, m) for k, m in axes if m > 1]
            raise JobError(cfg.source, " x ".join(k for k, _ in big),
                           f"the sweep has {n} points ({' x '.join(str(m) for _, m in big)}); at most "
                           f"{MAX_SWEEP_POINTS} are allowed: split the job")
        return n

    # -- the sweep and its columns -------------------------------------------------------------------------------
    def axes(self) -> dict[str, Sweep]:
        """Outer sweep axes (before the temperatures), in order."""
        return {}

    def make_points(self) -> list[dict]:
        return product_points(self.cfg, self.axes())

    def points(self) -> list[dict]:
        """Sweep points in order: dicts of parameter columns (T_L, T_R, T, swept parameters)."""
        if self._points is None:
            pts = self.make_points()
            if not pts:
                raise JobError(self.cfg.source, "[temperatures]", "the sweep has no points")
            self._points = pts
        return [dict(p) for p in self._points]

    def parameter_names(self) -> list[str]:
        names: list[str] = []
        for p in self.points():
            names += [k for k in p if k not in names]
        return names

    def result_columns(self) -> list[Column]:
        """Every results column this job writes (parameters excluded), in file order."""
        raise NotImplementedError

    def columns(self) -> list[Column]:
        """Every column of the results file: the parameters, then the results (the driver adds ``done``)."""
        if self._columns is None:
            params = self.parameter_names()
            cols = [PARAMETERS[n] for n in params] + [c for c in self.result_columns() if c.name not in params]
            by_name(cols)  # a name declared twice with two meanings is a bug
            self._columns = cols
            self._params = set(params)
            self._results = [c for c in cols if c.name not in self._params]
        return list(self._columns)

    def row(self, values: dict) -> dict:
        """One point's results restricted to the declared result columns; a declared column the physics did not
        report (e.g. Redfield's check on a Lindblad row) gets its declared fill. An undeclared key is a bug."""
        self.columns()
        names = {c.name for c in self._results}
        extra = [k for k in values if k not in names and k not in self._params]
        if extra:
            raise RuntimeError(f"kind {self.name!r} returned undeclared columns {extra}")
        return {c.name: values[c.name] if c.name in values else c.fill for c in self._results}

    # -- parallel layout ----------------------------------------------------------------------------------------
    def default_ranks_per_point(self, size: int) -> int:
        """Ranks per point for ``[parallel] layout = "auto"``."""
        return 1

    def requested_ranks_per_point(self, size: int) -> int:
        """Ranks per point asked for by ``[parallel]`` (layout / ranks_per_point) or the kind's default, unchecked."""
        par = self.cfg.parallel
        if par.ranks_per_point != "auto":
            return int(par.ranks_per_point)
        if par.layout == "points":
            return 1
        if par.layout == "matrix":
            return size
        return self.default_ranks_per_point(size)

    def ranks_per_point(self, size: int) -> int:
        """Ranks sharing one sweep point on a run of ``size`` ranks; refuses a choice that does not divide it."""
        r = self.requested_ranks_per_point(size)
        if r > size or size % r:
            raise JobError(self.cfg.source, "[parallel] ranks_per_point",
                           f"{r} does not divide the {size} MPI ranks of this run")
        return r

    # -- physics ------------------------------------------------------------------------------------------------
    def prepare(self, comm) -> Any:
        """Collective set-up on the world communicator; returns the context handed to :meth:`compute`."""
        return None

    def compute(self, ctx: Any, point: dict, index: int, comm) -> dict:
        """One point's results (declared columns), computed by the ranks of ``comm``; identical on all of them."""
        raise NotImplementedError

    def finish(self, ctx: Any, columns: dict, complete: bool) -> tuple[dict, dict]:
        """Rank 0: root attributes and extra groups of the results file."""
        return {}, {}

    def summary_columns(self) -> list[str]:
        """Column names for the printed summary table."""
        return [c.name for c in self.columns()][:12]

    def uses_petsc(self) -> bool:
        """Whether the job asks for the PETSc backend (a start-up check of the command line needs petsc4py)."""
        return False



def agree_input(comm, check) -> None:
    """Run ``check()`` on every rank of ``comm``; a :class:`JobError` raised on any rank is raised on all of them
    (marked ``collective = True``: every rank stops together, exit 2, nothing aborted). The driver's agreement."""
    from mpiheat.driver.runner import agree

    agree(comm, check, errors=(JobError,))
