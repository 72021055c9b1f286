"""Cartesian sweeps: outer parameter axes (levels, length, steps, proposal, eta) times the temperature sweep."""

from __future__ import annotations

import itertools

from mpiheat.config import JobConfig, Sweep


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
