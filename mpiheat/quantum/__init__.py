"""Quantum models: spectra and coupling operators, Lindblad/Pauli/Redfield generators, steady-state solvers."""
