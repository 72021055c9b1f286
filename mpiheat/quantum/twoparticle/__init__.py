"""Discretisations of the two-particle configuration triangle 0 < x1 < x2 < L (SPEC §4)."""

from mpiheat.quantum.twoparticle.spectral import TriangleBasis, basis_values, project, triangle_basis

__all__ = ["TriangleBasis", "basis_values", "project", "triangle_basis"]
