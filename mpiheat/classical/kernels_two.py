"""Numba event loop of two hard-point particles between two baths (SPEC §2; arrays and scalars only).

Particle 1 (mass m1) is on the left and is the only one touching bath L (x = 0); particle 2 (mass m2) is on the right
and the only one touching bath R (x = L); x1 <= x2 always. Events: wall hit of 1 (v1 < 0), wall hit of 2 (v2 > 0), and
the elastic 1-2 collision (v1 > v2). Baths are A1's kernels (:func:`mpiheat.classical.kernels.bath_speed`), with the
explicit xoshiro256++ state of the trajectory. No fastmath (event times must be exact IEEE arithmetic).
"""

from __future__ import annotations

import math

import numba as nb

from mpiheat.classical.kernels import bath_speed, maxwell_energy

# Columns of the per-trajectory sums (warm-up excluded; time runs from the end of the warm-up to the last counted
# bath collision).
C2_TIME, C2_EOUT_L, C2_EIN_L, C2_EOUT_R, C2_EIN_R, C2_N_L, C2_N_R, C2_N_12 = range(8)
N2_COLS = 8


@nb.njit(cache=True)
def elastic_collision(m1, m2, v1, v2):
    """Velocities after an elastic collision, SPEC §2: v1' = ((m1-m2)v1 + 2 m2 v2)/M, v2' = ((m2-m1)v2 + 2 m1 v1)/M.

    Written in the centre-of-mass form v1' = V - (m2/M) u, v2' = V + (m1/M) u with V = (m1 v1 + m2 v2)/M and u = v1 - v2
    (the same formulas, better conditioned); equal masses swap the velocities exactly.
    """
    if m1 == m2:
        return v2, v1
    M = m1 + m2
    V = (m1 * v1 + m2 * v2) / M
    u = v1 - v2
    return V - (m2 / M) * u, V + (m1 / M) * u


@nb.njit(cache=True)
def two_particle_sums(s, code, T_L, T_R, m1, m2, length, steps, c, warmup, collisions, acc):
    """Event loop of one trajectory; fills ``acc`` (float64[N2_COLS]) with the sums of columns ``C2_*``.

    ``warmup`` and ``collisions`` count bath collisions (either wall). The particles start at L/3 and 2L/3 moving
    towards their walls with Maxwell speeds at T_L and T_R.
    """
    x1 = length / 3.0
    x2 = 2.0 * length / 3.0
    v1 = -math.sqrt(2.0 * maxwell_energy(T_L, s) / m1)
    v2 = math.sqrt(2.0 * maxwell_energy(T_R, s) / m2)
    inf = math.inf
    t_count = 0.0
    eout_l = ein_l = eout_r = ein_r = 0.0
    n_l = n_r = n_12 = 0.0
    k = 0  # bath collisions so far
    total = warmup + collisions
    while k < total:
        t1 = -x1 / v1 if v1 < 0.0 else inf
        t2 = (length - x2) / v2 if v2 > 0.0 else inf
        t12 = (x2 - x1) / (v1 - v2) if v1 > v2 else inf
        counting = k >= warmup
        if t12 <= t1 and t12 <= t2:
            dt = t12
            x1 = x1 + v1 * dt
            x2 = x1  # contact
            v1, v2 = elastic_collision(m1, m2, v1, v2)
            if counting:
                n_12 += 1.0
                t_count += dt
        elif t1 <= t2:
            dt = t1
            x1 = 0.0
            x2 = min(x2 + v2 * dt, length)
            e_in = 0.5 * m1 * v1 * v1
            v1 = bath_speed(code, v1, T_L, m1, steps, c, s)
            if counting:
                t_count += dt
                ein_l += e_in
                eout_l += 0.5 * m1 * v1 * v1
                n_l += 1.0
            k += 1
        else:
            dt = t2
            x2 = length
            x1 = max(x1 + v1 * dt, 0.0)
            e_in = 0.5 * m2 * v2 * v2
            v2 = -bath_speed(code, v2, T_R, m2, steps, c, s)
            if counting:
                t_count += dt
                ein_r += e_in
                eout_r += 0.5 * m2 * v2 * v2
                n_r += 1.0
            k += 1
        if x1 > x2:  # round-off guard: order is an invariant of the exact dynamics
            x1 = x2
    acc[C2_TIME] = t_count
    acc[C2_EOUT_L] = eout_l
    acc[C2_EIN_L] = ein_l
    acc[C2_EOUT_R] = eout_r
    acc[C2_EIN_R] = ein_r
    acc[C2_N_L] = n_l
    acc[C2_N_R] = n_r
    acc[C2_N_12] = n_12


@nb.njit(cache=True)
def two_particle_batch(states, code, T_L, T_R, m1, m2, length, steps, c, warmup, collisions, out):
    """One trajectory per row of ``states`` ((n, 4) uint64, advanced in place); sums into ``out`` ((n, N2_COLS))."""
    for i in range(states.shape[0]):
        two_particle_sums(states[i], code, T_L, T_R, m1, m2, length, steps, c, warmup, collisions, out[i])
