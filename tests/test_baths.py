"""RNG and bath kernels: generator correctness, sampled laws (with power checks), Bath validation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import stats

from mpiheat.classical import kernels as K
from mpiheat.classical import rng
from mpiheat.classical.baths import Bath

P_MIN = 1e-3  # a correct sampler fails a KS test at this level once in a thousand seeds (seeds are fixed)


def _xoshiro_reference(state, n):
    """Pure-Python xoshiro256++ (Blackman & Vigna reference algorithm)."""
    mask = (1 << 64) - 1
    s0, s1, s2, s3 = (int(v) for v in state)

    def rotl(x, k):
        return ((x << k) | (x >> (64 - k))) & mask

    out = []
    for _ in range(n):
        out.append((rotl((s0 + s3) & mask, 23) + s0) & mask)
        t = (s1 << 17) & mask
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 45)
    return out


def test_xoshiro_matches_reference():
    s = rng.seed_state(7, 3, 11)
    ref = _xoshiro_reference(s, 2000)
    got = [int(rng.next_u64(s)) for _ in range(2000)]
    assert got == ref


def test_seeding_is_by_seed_stream_index():
    a = rng.seed_state(5, 2, 9)
    b = np.random.SeedSequence(5, spawn_key=(2, 9)).generate_state(4, dtype=np.uint64)
    assert np.array_equal(a, b)
    block = rng.trajectory_states(5, 2, 3, 6)
    assert np.array_equal(block[0], rng.seed_state(5, 2, 3)) and block.shape == (3, 4)
    assert not np.array_equal(rng.seed_state(5, 2, 9), rng.seed_state(5, 3, 9))


def test_uniform_open_interval_and_law():
    s = rng.seed_state(1, 0, 0)
    u = np.empty(400_000)
    rng.fill_uniform_open(s, u)
    assert u.min() > 0.0 and u.max() < 1.0
    assert stats.kstest(u, "uniform").pvalue > P_MIN


def test_ziggurat_normal_law():
    s = rng.seed_state(2, 0, 0)
    z = np.empty(1_000_000)
    rng.fill_normal(s, z)
    assert stats.kstest(z, "norm").pvalue > P_MIN
    assert abs(z.mean()) < 5e-3 and abs(z.var() - 1.0) < 5e-3
    # the tail beyond the base strip r = 3.654 is sampled separately: its mass must be right (2 * 1.29e-4)
    tail = np.mean(np.abs(z) > 3.6541528853610088)
    assert abs(tail - 2 * stats.norm.sf(3.6541528853610088)) < 5 * np.sqrt(2.6e-4 / z.size)
    # power: the same samples are not a N(0, 1.01^2) sample
    assert stats.kstest(z, "norm", args=(0.0, 1.01)).pvalue < P_MIN


def test_ziggurat_exponential_law():
    s = rng.seed_state(3, 0, 0)
    e = np.empty(1_000_000)
    rng.fill_exponential(s, e)
    assert e.min() >= 0.0
    assert stats.kstest(e, "expon").pvalue > P_MIN
    tail = np.mean(e > 7.69711747013104972)
    assert abs(tail - np.exp(-7.69711747013104972)) < 5 * np.sqrt(4.5e-4 / e.size)
    assert stats.kstest(e, "expon", args=(0.0, 1.01)).pvalue < P_MIN


def _relax(code, E_in, T, steps, c, seed):
    s = rng.seed_state(seed, 0, 0)
    out = np.empty_like(E_in)
    K.relax_energies(code, E_in, T, steps, c, s, out)
    return out


def test_maxwell_bath_energy_law():
    T = 3.7
    E = _relax(K.BATH_MAXWELL, np.zeros(200_000), T, 1, 1.0, seed=4)
    assert E.min() > 0.0
    assert stats.kstest(E, "expon", args=(0.0, T)).pvalue > P_MIN
    assert stats.kstest(E, "expon", args=(0.0, 1.02 * T)).pvalue < P_MIN


@pytest.mark.parametrize("c", [0.5, 1.0, 2.0])
def test_mcmc_energy_chain_converges_to_boltzmann(c):
    """From a start far from equilibrium (E = 6 T) 1000 moves give exp(-E/T)/T; too few moves do not."""
    T = 0.3
    n = 50_000
    E = _relax(K.BATH_MCMC_ENERGY, np.full(n, 6.0 * T), T, 1000, c, seed=5)
    assert E.min() > 0.0
    assert stats.kstest(E, "expon", args=(0.0, T)).pvalue > P_MIN
    # power 1: a 3 % wrong target temperature is rejected with these samples
    assert stats.kstest(E, "expon", args=(0.0, 1.03 * T)).pvalue < P_MIN
    # power 2: an unrelaxed chain (5 moves) is rejected
    E5 = _relax(K.BATH_MCMC_ENERGY, np.full(n, 6.0 * T), T, 5, c, seed=6)
    assert stats.kstest(E5, "expon", args=(0.0, T)).pvalue < P_MIN


def test_mcmc_energy_chain_freezes_at_low_temperature():
    """Proposal width c T: an energy 1e4 T above equilibrium moves down ~0.26 T per move (drift of the chain)."""
    T = 1e-3
    E_in = np.full(2000, 10.0)
    E = _relax(K.BATH_MCMC_ENERGY, E_in, T, 1000, 1.0, seed=7)
    drift = (E_in - E) / T / 1000
    # exact mean drift far above equilibrium: 1/sqrt(2 pi) - e^(1/2) (phi(1) - (1 - Phi(1))) = 0.2616
    expect = 1 / np.sqrt(2 * np.pi) - np.exp(0.5) * (stats.norm.pdf(1) - stats.norm.sf(1))
    assert abs(drift.mean() - expect) < 4 * drift.std() / np.sqrt(drift.size)
    assert np.all(E > 9.0)


@pytest.mark.parametrize("c", [0.5, 1.0, 2.0])
def test_mcmc_speed_chain_converges_to_flux_maxwellian(c):
    """Speed chain: outgoing v has density (m v / T) exp(-m v^2 / 2T), i.e. CDF 1 - exp(-m v^2 / 2T)."""
    T, m = 2.5, 1.7
    n = 50_000
    v_in = np.sqrt(2 * 6.0 * T / m)
    s = rng.seed_state(8, 0, 0)
    v = np.array([K.bath_speed(K.BATH_MCMC_SPEED, v_in, T, m, 1000, c, s) for _ in range(n)])
    cdf = lambda x, TT=T: 1.0 - np.exp(-m * x * x / (2 * TT))  # noqa: E731
    assert v.min() > 0.0
    assert stats.kstest(v, cdf).pvalue > P_MIN
    assert stats.kstest(v, lambda x: cdf(x, 1.03 * T)).pvalue < P_MIN
    s = rng.seed_state(9, 0, 0)
    v5 = np.array([K.bath_speed(K.BATH_MCMC_SPEED, v_in, T, m, 3, c, s) for _ in range(n)])
    assert stats.kstest(v5, cdf).pvalue < P_MIN


@pytest.mark.parametrize("code", [K.BATH_MCMC_ENERGY, K.BATH_MCMC_SPEED])
def test_mcmc_first_collision_starts_from_maxwell(code):
    """No incoming particle (E_in <= 0): the chain starts from a Maxwell draw, so even 1 move keeps exp(-E/T)/T."""
    T = 4.0
    E = _relax(code, np.zeros(100_000), T, 1, 1.0, seed=10)
    assert stats.kstest(E, "expon", args=(0.0, T)).pvalue > P_MIN


def test_bath_validation_and_codes():
    assert Bath().code == K.BATH_MAXWELL
    assert Bath("mcmc").code == K.BATH_MCMC_ENERGY
    assert Bath("mcmc", variable="speed").code == K.BATH_MCMC_SPEED
    assert Bath("mcmc", steps=np.int64(300), proposal=2).steps == 300
    for kw in (
        {"model": "langevin"},
        {"variable": "momentum"},
        {"steps": 0},
        {"steps": 2.5},
        {"steps": True},
        {"proposal": 0.0},
        {"proposal": float("nan")},
        {"proposal": "1"},
    ):
        with pytest.raises(ValueError, match="bath"):
            Bath(**kw)
    with pytest.raises(dataclasses.FrozenInstanceError):
        Bath().steps = 3  # type: ignore[misc]


@pytest.mark.parametrize("code", [K.BATH_MAXWELL, K.BATH_MCMC_ENERGY, K.BATH_MCMC_SPEED])
def test_lockstep_pair_kernel_equals_single_trajectories(code):
    """Trajectories run two at a time (speed) give the same numbers, bit for bit, as one at a time."""
    st = rng.trajectory_states(3, 1, 0, 3)
    st_ref = st.copy()
    out = np.zeros((3, K.N_COLS))
    K.one_particle_batch(st, code, 1000.0, 0.5, 1.3, 1.1, 300, 0.7, 11, 501, out)
    ref = np.zeros((3, K.N_COLS))
    for i in range(3):
        K.one_particle_sums(st_ref[i], code, 1000.0, 0.5, 1.3, 1.1, 300, 0.7, 11, 501, ref[i])
    assert np.array_equal(out, ref) and np.array_equal(st, st_ref)
    assert ref[:, K.COL_N_LR].tolist() == [250.0] * 3 and ref[:, K.COL_N_RL].tolist() == [251.0] * 3
