"""Numba kernels for the classical baths and the one-particle event loop (arrays and scalars only).

Bath codes (small integers so that any numba event loop can dispatch on them):

* ``BATH_MAXWELL`` (0): outgoing kinetic energy exponential with mean T (flux-weighted Maxwellian speed);
* ``BATH_MCMC_ENERGY`` (1): ``steps`` Metropolis moves on E/T, target exp(-x), proposal x' = x + c xi;
* ``BATH_MCMC_SPEED`` (2): ``steps`` Metropolis moves on y = v sqrt(m/T), target y exp(-y^2/2), proposal y' = y + c xi.

Working in units of T makes the chains scale-free (and the code path identical for every T). The entry points for
other event loops are :func:`bath_energy` (energy in, energy out) and :func:`bath_speed` (speed in, speed out); an
incoming value ``<= 0`` means "no incoming particle" and starts the chain from a Maxwell draw at the bath temperature.
The RNG state ``s`` is a ``uint64[4]`` xoshiro256++ state (see :mod:`mpiheat.classical.rng`).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from mpiheat.classical.rng import zig_exponential, zig_normal

BATH_MAXWELL = 0
BATH_MCMC_ENERGY = 1
BATH_MCMC_SPEED = 2

# Columns of the per-trajectory sums returned by one_particle_sums (see md.py for the estimators).
COL_N_LR, COL_E_LR, COL_T_LR, COL_N_RL, COL_E_RL, COL_T_RL, COL_E_ARR_R, COL_N_ARR_R = range(8)
N_COLS = 8


@nb.njit(cache=True, inline="always")
def _exp_positive(s0, s1, s2, s3):
    # Exponential deviate, strictly positive: E = 0 would be a particle at rest (an infinite flight).
    while True:
        e, s0, s1, s2, s3 = zig_exponential(s0, s1, s2, s3)
        if e > 0.0:
            return e, s0, s1, s2, s3


@nb.njit(cache=True)
def maxwell_energy(T, s):
    """Outgoing kinetic energy of a Maxwell bath at temperature ``T``: ``T`` times a standard exponential (> 0)."""
    e, s[0], s[1], s[2], s[3] = _exp_positive(s[0], s[1], s[2], s[3])
    return T * e


@nb.njit(cache=True)
def mcmc_energy_chain(x, steps, c, s):
    """Run ``steps`` Metropolis moves on x = E/T (target exp(-x) on x > 0); return the final x.

    Proposal x' = x + c xi, xi ~ N(0, 1); x' <= 0 is rejected; otherwise accepted with probability min(1, exp(-(x'-x))).
    The test u < exp(-d) is done as e > d with e = -ln u ~ Exp(1) (same law, no exp/log); for a downhill move d <= 0
    it always passes. Drawing e on every step keeps the loop branch-free (the accept decision is a select).
    """
    s0, s1, s2, s3 = s[0], s[1], s[2], s[3]
    for _ in range(steps):
        z, s0, s1, s2, s3 = zig_normal(s0, s1, s2, s3)
        e, s0, s1, s2, s3 = zig_exponential(s0, s1, s2, s3)
        d = c * z
        xp = x + d
        acc = (xp > 0.0) & (e > d)
        x = xp if acc else x
    s[0], s[1], s[2], s[3] = s0, s1, s2, s3
    return x


@nb.njit(cache=True)
def mcmc_speed_chain(y, steps, c, s):
    """Run ``steps`` Metropolis moves on y = v sqrt(m/T) (target y exp(-y^2/2) on y > 0); return the final y.

    Accept iff e > (y'^2 - y^2)/2 - ln(y'/y) with e ~ Exp(1); y' <= 0 gives a NaN or +inf threshold and is rejected.
    """
    s0, s1, s2, s3 = s[0], s[1], s[2], s[3]
    for _ in range(steps):
        z, s0, s1, s2, s3 = zig_normal(s0, s1, s2, s3)
        e, s0, s1, s2, s3 = zig_exponential(s0, s1, s2, s3)
        yp = y + c * z
        thr = 0.5 * (yp - y) * (yp + y) - np.log(yp / y)
        acc = (yp > 0.0) & (e > thr)
        y = yp if acc else y
    s[0], s[1], s[2], s[3] = s0, s1, s2, s3
    return y


@nb.njit(cache=True)
def mcmc_energy_chain2(xa, xb, steps, c, sa, sb):
    """Two independent energy chains run in lockstep (each with its own RNG state); same numbers as two calls of
    :func:`mcmc_energy_chain`, about 1.5x faster because the two dependency chains overlap in the CPU."""
    a0, a1, a2, a3 = sa[0], sa[1], sa[2], sa[3]
    b0, b1, b2, b3 = sb[0], sb[1], sb[2], sb[3]
    for _ in range(steps):
        za, a0, a1, a2, a3 = zig_normal(a0, a1, a2, a3)
        ea, a0, a1, a2, a3 = zig_exponential(a0, a1, a2, a3)
        zb, b0, b1, b2, b3 = zig_normal(b0, b1, b2, b3)
        eb, b0, b1, b2, b3 = zig_exponential(b0, b1, b2, b3)
        da = c * za
        xpa = xa + da
        acca = (xpa > 0.0) & (ea > da)
        xa = xpa if acca else xa
        db = c * zb
        xpb = xb + db
        accb = (xpb > 0.0) & (eb > db)
        xb = xpb if accb else xb
    sa[0], sa[1], sa[2], sa[3] = a0, a1, a2, a3
    sb[0], sb[1], sb[2], sb[3] = b0, b1, b2, b3
    return xa, xb


@nb.njit(cache=True)
def mcmc_speed_chain2(ya, yb, steps, c, sa, sb):
    """Two independent speed chains in lockstep; same numbers as two calls of :func:`mcmc_speed_chain`."""
    a0, a1, a2, a3 = sa[0], sa[1], sa[2], sa[3]
    b0, b1, b2, b3 = sb[0], sb[1], sb[2], sb[3]
    for _ in range(steps):
        za, a0, a1, a2, a3 = zig_normal(a0, a1, a2, a3)
        ea, a0, a1, a2, a3 = zig_exponential(a0, a1, a2, a3)
        zb, b0, b1, b2, b3 = zig_normal(b0, b1, b2, b3)
        eb, b0, b1, b2, b3 = zig_exponential(b0, b1, b2, b3)
        ypa = ya + c * za
        thra = 0.5 * (ypa - ya) * (ypa + ya) - np.log(ypa / ya)
        acca = (ypa > 0.0) & (ea > thra)
        ya = ypa if acca else ya
        ypb = yb + c * zb
        thrb = 0.5 * (ypb - yb) * (ypb + yb) - np.log(ypb / yb)
        accb = (ypb > 0.0) & (eb > thrb)
        yb = ypb if accb else yb
    sa[0], sa[1], sa[2], sa[3] = a0, a1, a2, a3
    sb[0], sb[1], sb[2], sb[3] = b0, b1, b2, b3
    return ya, yb


@nb.njit(cache=True)
def bath_energy(code, E_in, T, steps, c, s):
    """Outgoing kinetic energy after a collision with bath ``code`` at temperature ``T``.

    Parameters
    ----------
    code : int
        ``BATH_MAXWELL``, ``BATH_MCMC_ENERGY`` or ``BATH_MCMC_SPEED``.
    E_in : float
        Incoming kinetic energy; ``<= 0`` (or not finite) starts the chain from a Maxwell draw at ``T``.
    T : float
        Bath temperature.
    steps : int
        Metropolis moves per collision (MCMC baths).
    c : float
        Proposal width factor (MCMC baths).
    s : uint64[4]
        RNG state, advanced in place.
    """
    if code == BATH_MAXWELL:
        return maxwell_energy(T, s)
    if not (E_in > 0.0 and E_in < math.inf):
        E_in = maxwell_energy(T, s)
    if code == BATH_MCMC_ENERGY:
        return T * mcmc_energy_chain(E_in / T, steps, c, s)
    y = mcmc_speed_chain(math.sqrt(2.0 * E_in / T), steps, c, s)
    return 0.5 * T * y * y


@nb.njit(cache=True)
def bath_energy2(code, Ea, Eb, T, steps, c, sa, sb):
    """Two independent collisions with the same MCMC bath, in lockstep: equal, bit for bit, to
    ``(bath_energy(code, Ea, T, steps, c, sa), bath_energy(code, Eb, T, steps, c, sb))``."""
    if code == BATH_MAXWELL:
        return maxwell_energy(T, sa), maxwell_energy(T, sb)
    if not (Ea > 0.0 and Ea < math.inf):
        Ea = maxwell_energy(T, sa)
    if not (Eb > 0.0 and Eb < math.inf):
        Eb = maxwell_energy(T, sb)
    if code == BATH_MCMC_ENERGY:
        xa, xb = mcmc_energy_chain2(Ea / T, Eb / T, steps, c, sa, sb)
        return T * xa, T * xb
    ya, yb = mcmc_speed_chain2(math.sqrt(2.0 * Ea / T), math.sqrt(2.0 * Eb / T), steps, c, sa, sb)
    return 0.5 * T * ya * ya, 0.5 * T * yb * yb


@nb.njit(cache=True)
def bath_speed(code, v_in, T, mass, steps, c, s):
    """Outgoing speed (> 0) of a particle of mass ``mass`` hitting bath ``code`` with speed ``|v_in|``.

    ``v_in == 0`` means "no incoming particle" (Maxwell start). The sign convention is the caller's.
    """
    E_in = 0.5 * mass * v_in * v_in
    E = bath_energy(code, E_in, T, steps, c, s)
    return math.sqrt(2.0 * E / mass)


@nb.njit(cache=True)
def relax_energies(code, E_in, T, steps, c, s, out):
    """Apply one bath collision to each incoming energy of ``E_in`` independently (tests, transfer checks)."""
    for i in range(E_in.size):
        out[i] = bath_energy(code, E_in[i], T, steps, c, s)


@nb.njit(cache=True)
def _maxwell_loop(s, T_L, T_R, half_mL2, warmup, collisions, acc):
    # Maxwell baths: the outgoing energy does not depend on the incoming one, so no chain state is carried;
    # separate (hot) loop with the RNG state in registers.
    s0, s1, s2, s3 = s[0], s[1], s[2], s[3]
    n_lr = e_lr = t_lr = n_rl = e_rl = t_rl = e_arr = n_arr = 0.0
    E_prev = 0.0
    for k in range(warmup + collisions):
        left = (k & 1) == 0
        T = T_L if left else T_R
        e, s0, s1, s2, s3 = _exp_positive(s0, s1, s2, s3)
        E = T * e
        t = math.sqrt(half_mL2 / E)
        if k >= warmup:
            if left:
                n_lr += 1.0
                e_lr += E
                t_lr += t
            else:
                n_rl += 1.0
                e_rl += E
                t_rl += t
                if k > 0:
                    e_arr += E_prev
                    n_arr += 1.0
        E_prev = E
    s[0], s[1], s[2], s[3] = s0, s1, s2, s3
    acc[COL_N_LR] = n_lr
    acc[COL_E_LR] = e_lr
    acc[COL_T_LR] = t_lr
    acc[COL_N_RL] = n_rl
    acc[COL_E_RL] = e_rl
    acc[COL_T_RL] = t_rl
    acc[COL_E_ARR_R] = e_arr
    acc[COL_N_ARR_R] = n_arr


@nb.njit(cache=True)
def one_particle_sums(s, code, T_L, T_R, mass, length, steps, c, warmup, collisions, acc):
    """Event loop of one particle between bath L (x = 0) and bath R (x = L); fills the sums ``acc`` (float64[8]).

    The particle starts at wall L with no incoming particle (Maxwell start for MCMC chains). Bath collisions alternate
    L, R, L, ...; the first ``warmup`` are discarded, the next ``collisions`` are counted. For each counted collision
    at wall alpha the outgoing energy and the flight time L/v to the other wall go into the alpha->other sums; at R the
    arriving energy is also summed (energy balance at the right wall). Columns: see ``COL_*``.
    """
    half_mL2 = 0.5 * mass * length * length  # t = L / v = sqrt(m L^2 / (2 E))
    if code == BATH_MAXWELL:
        _maxwell_loop(s, T_L, T_R, half_mL2, warmup, collisions, acc)
        return
    n_lr = e_lr = t_lr = n_rl = e_rl = t_rl = e_arr = n_arr = 0.0
    E_in = 0.0
    for k in range(warmup + collisions):
        left = (k & 1) == 0
        T = T_L if left else T_R
        E = bath_energy(code, E_in, T, steps, c, s)
        t = math.sqrt(half_mL2 / E)
        if k >= warmup:
            if left:
                n_lr += 1.0
                e_lr += E
                t_lr += t
            else:
                n_rl += 1.0
                e_rl += E
                t_rl += t
                if k > 0:
                    e_arr += E_in
                    n_arr += 1.0
        E_in = E
    acc[COL_N_LR] = n_lr
    acc[COL_E_LR] = e_lr
    acc[COL_T_LR] = t_lr
    acc[COL_N_RL] = n_rl
    acc[COL_E_RL] = e_rl
    acc[COL_T_RL] = t_rl
    acc[COL_E_ARR_R] = e_arr
    acc[COL_N_ARR_R] = n_arr


@nb.njit(cache=True)
def one_particle_sums2(sa, sb, code, T_L, T_R, mass, length, steps, c, warmup, collisions, acc_a, acc_b):
    """Two independent trajectories in lockstep (MCMC baths): the same sums, bit for bit, as two calls of
    :func:`one_particle_sums` with states ``sa`` and ``sb``, faster because the two chains overlap."""
    if code == BATH_MAXWELL:
        one_particle_sums(sa, code, T_L, T_R, mass, length, steps, c, warmup, collisions, acc_a)
        one_particle_sums(sb, code, T_L, T_R, mass, length, steps, c, warmup, collisions, acc_b)
        return
    half_mL2 = 0.5 * mass * length * length
    for j in range(N_COLS):
        acc_a[j] = 0.0
        acc_b[j] = 0.0
    Ea_in = 0.0
    Eb_in = 0.0
    for k in range(warmup + collisions):
        left = (k & 1) == 0
        T = T_L if left else T_R
        Ea, Eb = bath_energy2(code, Ea_in, Eb_in, T, steps, c, sa, sb)
        ta = math.sqrt(half_mL2 / Ea)
        tb = math.sqrt(half_mL2 / Eb)
        if k >= warmup:
            if left:
                acc_a[COL_N_LR] += 1.0
                acc_a[COL_E_LR] += Ea
                acc_a[COL_T_LR] += ta
                acc_b[COL_N_LR] += 1.0
                acc_b[COL_E_LR] += Eb
                acc_b[COL_T_LR] += tb
            else:
                acc_a[COL_N_RL] += 1.0
                acc_a[COL_E_RL] += Ea
                acc_a[COL_T_RL] += ta
                acc_b[COL_N_RL] += 1.0
                acc_b[COL_E_RL] += Eb
                acc_b[COL_T_RL] += tb
                if k > 0:
                    acc_a[COL_E_ARR_R] += Ea_in
                    acc_a[COL_N_ARR_R] += 1.0
                    acc_b[COL_E_ARR_R] += Eb_in
                    acc_b[COL_N_ARR_R] += 1.0
        Ea_in = Ea
        Eb_in = Eb


@nb.njit(cache=True)
def one_particle_batch(states, code, T_L, T_R, mass, length, steps, c, warmup, collisions, out):
    """Run one trajectory per row of ``states`` ((n, 4) uint64, advanced in place); sums into ``out`` ((n, 8)).

    Rows are processed in pairs (lockstep) and a last odd row alone; each row's numbers do not depend on its partner.
    """
    n = states.shape[0]
    for i in range(0, n - 1, 2):
        one_particle_sums2(states[i], states[i + 1], code, T_L, T_R, mass, length, steps, c, warmup, collisions,
                           out[i], out[i + 1])
    if n % 2 == 1:
        one_particle_sums(states[n - 1], code, T_L, T_R, mass, length, steps, c, warmup, collisions, out[n - 1])
