"""Quantum solvers: steady states (scipy, PETSc), Redfield eigenvalue check, time evolution."""
