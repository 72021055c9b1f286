"""Classical particle(s) between two heat baths: Maxwell and MCMC baths, event-driven MD, analytic limits."""

from .analytic import maxwell_current, maxwell_kappa, maxwell_means
from .baths import Bath
from .md import ClassicalResult, run_md

__all__ = ["Bath", "ClassicalResult", "maxwell_current", "maxwell_kappa", "maxwell_means", "run_md"]
