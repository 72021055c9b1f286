"""Quantum models: spectra and coupling operators, Lindblad/Pauli/Redfield generators, steady-state solvers.

Public front end (QuTiP style)::

    from mpiheat.quantum import QuantumProblem, SolverOptions, steady_state, box_spectrum
    ss = steady_state(QuantumProblem(box_spectrum(50), 50.0, 2.0, gamma=1.0, eta=-2.25), equation="lindblad")
    ss.J, ss.ok, ss.residual, ss.rho_min_eig

Layout: :mod:`~mpiheat.quantum.operators` (spectra, generators, observables), :mod:`~mpiheat.quantum.solvers`
(steady states, PETSc backend, Redfield eigenvalue check, dynamics), :mod:`~mpiheat.quantum.twoparticle`.
"""

from mpiheat.quantum.operators.spectrum import Spectrum, box_spectrum
from mpiheat.quantum.problem import QuantumProblem
from mpiheat.quantum.solvers.base import SolverOptions, SteadyState, reason_ok
from mpiheat.quantum.solvers.steadystate import DISPATCH, resolve_backend, steady_state

__all__ = ["QuantumProblem", "SolverOptions", "SteadyState", "Spectrum", "box_spectrum", "steady_state",
           "resolve_backend", "reason_ok", "DISPATCH"]
