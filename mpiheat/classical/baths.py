"""Bath description (validated, immutable) and its mapping to the numba kernels' integer bath codes."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from mpiheat.classical.kernels import BATH_MAXWELL, BATH_MCMC_ENERGY, BATH_MCMC_SPEED

__all__ = ["Bath", "BATH_MAXWELL", "BATH_MCMC_ENERGY", "BATH_MCMC_SPEED"]

_MODELS = ("maxwell", "mcmc")
_VARIABLES = ("energy", "speed")


@dataclass(frozen=True)
class Bath:
    """A heat bath model at a wall (the same model is used at both walls; temperatures are given separately).

    Parameters
    ----------
    model : {"maxwell", "mcmc"}
        Instant thermalisation (Maxwell) or ``steps`` Metropolis moves from the incoming state (MCMC, SPEC §1).
    steps : int
        Metropolis moves per collision (>= 1; ignored by "maxwell").
    proposal : float
        Proposal width factor c (> 0): E' = E + c T xi, or v' = v + c sqrt(T/m) xi.
    variable : {"energy", "speed"}
        State of the MCMC chain.
    """

    model: str = "maxwell"
    steps: int = 1000
    proposal: float = 1.0
    variable: str = "energy"

    def __post_init__(self) -> None:
        if self.model not in _MODELS:
            raise ValueError(f"bath model must be one of {_MODELS}, got {self.model!r}")
        if self.variable not in _VARIABLES:
            raise ValueError(f"bath variable must be one of {_VARIABLES}, got {self.variable!r}")
        if isinstance(self.steps, bool) or not isinstance(self.steps, numbers.Integral) or self.steps < 1:
            raise ValueError(f"bath steps must be an integer >= 1, got {self.steps!r}")
        if isinstance(self.proposal, bool) or not isinstance(self.proposal, numbers.Real):
            raise ValueError(f"bath proposal must be a positive finite number, got {self.proposal!r}")
        if not (math.isfinite(self.proposal) and self.proposal > 0):
            raise ValueError(f"bath proposal must be a positive finite number, got {self.proposal!r}")

    @property
    def code(self) -> int:
        """Integer bath code understood by :func:`mpiheat.classical.kernels.bath_energy`."""
        if self.model == "maxwell":
            return BATH_MAXWELL
        return BATH_MCMC_ENERGY if self.variable == "energy" else BATH_MCMC_SPEED

    def as_columns(self) -> dict[str, float | int | str]:
        """Flat scalar description (for result tables)."""
        return {"model": self.model, "steps": int(self.steps), "proposal": float(self.proposal),
                "variable": self.variable}
