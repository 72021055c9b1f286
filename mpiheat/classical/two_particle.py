"""Classical two-particle MD (SPEC §2, End Matter A): the ``run_md`` back end for two masses.

Particle 1 (left, mass m1) touches only bath L, particle 2 (right, mass m2) only bath R; they collide elastically.
J is the energy delivered by bath L per unit time, sum(E_out - E_in at L) / total time, and J_R the energy taken by
bath R per unit time; both are ratios of sums over all trajectories with delete-one jackknife errors over
trajectories (the same estimator rules as one particle; :func:`mpiheat.classical.result.two_particle_estimators`).
The one-particle quantities E_LR, E_RL, t_LR, t_RL are not defined here (NaN). Equal masses swap velocities at each
collision, so J_two = 2 J_one exactly in law.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from mpiheat.classical import kernels_two as K2
from mpiheat.classical.baths import Bath
from mpiheat.classical.rng import trajectory_states

__all__ = ["two_particle_local"]


def two_particle_local(start: int, stop: int, T_L: float, T_R: float, bath: Bath, masses: Sequence[float],
                       length: float, collisions: int, warmup: int, seed: int, stream: int,
                       progress: Callable[[int], None] | None) -> np.ndarray:
    """Per-trajectory sums of trajectories ``start..stop-1`` ((stop - start, 8), columns ``kernels_two.C2_*``)."""
    states = trajectory_states(seed, stream, start, stop)
    n = stop - start
    out = np.zeros((n, K2.N2_COLS))
    m1, m2 = float(masses[0]), float(masses[1])
    for row in range(n):
        K2.two_particle_batch(states[row : row + 1], bath.code, T_L, T_R, m1, m2, length, bath.steps,
                              float(bath.proposal), warmup, collisions, out[row : row + 1])
        if progress is not None:
            progress(row + 1)
    return out
