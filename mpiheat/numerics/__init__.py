"""Numerics helpers: power-law fit, jackknife, Metropolis bands, the parallel layer. Imports nothing of mpiheat."""
