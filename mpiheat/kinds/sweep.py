"""Cartesian sweeps (kept for callers of the old path; the code lives in :mod:`mpiheat.kinds.base`)."""

from mpiheat.kinds.base import point_value, product_points

__all__ = ["point_value", "product_points"]
