"""Classical particle(s) between two heat baths: Maxwell and MCMC baths, event-driven MD, analytic limits."""

from mpiheat.classical.analytic import maxwell_current, maxwell_kappa, maxwell_means
from mpiheat.classical.baths import Bath
from mpiheat.classical.md import ClassicalResult, run_md

__all__ = ["Bath", "ClassicalResult", "maxwell_current", "maxwell_kappa", "maxwell_means", "run_md"]
