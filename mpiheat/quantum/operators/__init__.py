"""Quantum model pieces: the box spectrum, bath rates, Lindblad/Pauli/Redfield generators, observables."""
