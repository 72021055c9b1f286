"""Classical particle(s) between two heat baths: Maxwell and MCMC baths, event-driven MD, the exact transfer
operator, the MCMC bath's thermalisation time, analytic limits.

Front end: :class:`ClassicalProblem`, :func:`current` (method "md" or "transfer"), :func:`kappa` (linear response),
:func:`thermalisation_time` (relaxation of an MCMC bath).
"""

from mpiheat.classical.analytic import maxwell_current, maxwell_kappa, maxwell_kappa_finite_delta, maxwell_means
from mpiheat.classical.baths import Bath
from mpiheat.classical.frontend import METHODS, ClassicalProblem, current, kappa
from mpiheat.classical.md import run_md
from mpiheat.classical.relaxation import RelaxationResult, thermalisation_time
from mpiheat.classical.result import ClassicalResult, KappaResult
from mpiheat.classical.scaling import classical_length_scaling
from mpiheat.classical.transfer import TransferResult, transfer_current

__all__ = ["Bath", "ClassicalProblem", "ClassicalResult", "KappaResult", "METHODS", "RelaxationResult",
           "TransferResult", "classical_length_scaling", "current", "kappa", "maxwell_current", "maxwell_kappa",
           "maxwell_kappa_finite_delta", "maxwell_means", "run_md", "thermalisation_time", "transfer_current"]
