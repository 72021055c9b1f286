"""Explicit-state random numbers for numba event loops: xoshiro256++ with ziggurat normals and exponentials.

The state of one stream is a ``uint64[4]`` array (never numba's hidden global generator). Two calling forms exist:

* array form (``next_u64(s)``, ``uniform(s)``, ``uniform_open(s)``, ``normal(s)``, ``exponential(s)``) for event loops
  written by other modules: the state array is read and written in place;
* "register" form (``xo_next``, ``zig_normal``, ``zig_exponential`` taking and returning the four state words) for
  hot inner loops (MCMC chains) that keep the state in local variables for the whole loop.

The ziggurats follow Marsaglia & Tsang (2000) with 256 layers and 52/53-bit mantissas, as NumPy's ``Generator`` does;
the tables are computed here at import (exact in distribution up to floating point, tails sampled exactly).
Streams are seeded from :class:`numpy.random.SeedSequence` (``seed``, ``spawn_key=(stream, index)``), never from a rank.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

__all__ = [
    "seed_state",
    "trajectory_states",
    "next_u64",
    "uniform",
    "uniform_open",
    "normal",
    "exponential",
    "xo_next",
    "zig_normal",
    "zig_exponential",
    "fill_normal",
    "fill_exponential",
    "fill_uniform_open",
]

_U8 = np.uint64(8)
_U3 = np.uint64(3)
_U11 = np.uint64(11)
_U12 = np.uint64(12)
_U17 = np.uint64(17)
_U23 = np.uint64(23)
_U45 = np.uint64(45)
_MASK8 = np.uint64(0xFF)
_MASK9 = np.uint64(0x1FF)
_MASK52 = np.uint64(0x000FFFFFFFFFFFFF)
_TWO_M53 = 2.0**-53
_TWO_M52 = 2.0**-52


# ----------------------------------------------------------------------------------------------- ziggurat tables
def _normal_tables(n: int = 256, r: float = 3.6541528853610088, v: float = 4.92867323399e-3):
    """Marsaglia–Tsang tables for f(x) = exp(-x^2/2) with 52-bit magnitudes (k: uint64, w, f: float64)."""
    m = 2.0**52
    k = np.zeros(n, dtype=np.uint64)
    w = np.zeros(n)
    f = np.zeros(n)
    dn = tn = r
    q = v / math.exp(-0.5 * dn * dn)
    k[0] = np.uint64(int((dn / q) * m))
    k[1] = 0
    w[0] = q / m
    w[n - 1] = dn / m
    f[0] = 1.0
    f[n - 1] = math.exp(-0.5 * dn * dn)
    for i in range(n - 2, 0, -1):
        dn = math.sqrt(-2.0 * math.log(v / dn + math.exp(-0.5 * dn * dn)))
        k[i + 1] = np.uint64(int((dn / tn) * m))
        tn = dn
        f[i] = math.exp(-0.5 * dn * dn)
        w[i] = dn / m
    # Top layer [0, x1] x [f(x1), 1] must have area v (else a tiny bias near 0): checked, not assumed.
    top = dn * (1.0 - math.exp(-0.5 * dn * dn))
    assert abs(top - v) < 1e-9 * v, top
    return k, w, f, r


def _exponential_tables(n: int = 256, r: float = 7.69711747013104972, v: float = 3.949659822581572e-3):
    """Marsaglia–Tsang tables for f(x) = exp(-x) with 53-bit magnitudes."""
    m = 2.0**53
    k = np.zeros(n, dtype=np.uint64)
    w = np.zeros(n)
    f = np.zeros(n)
    de = te = r
    q = v / math.exp(-de)
    k[0] = np.uint64(int((de / q) * m))
    k[1] = 0
    w[0] = q / m
    w[n - 1] = de / m
    f[0] = 1.0
    f[n - 1] = math.exp(-de)
    for i in range(n - 2, 0, -1):
        de = -math.log(v / de + math.exp(-de))
        k[i + 1] = np.uint64(int((de / te) * m))
        te = de
        f[i] = math.exp(-de)
        w[i] = de / m
    top = de * (1.0 - math.exp(-de))
    assert abs(top - v) < 1e-9 * v, top
    return k, w, f, r


_KN, _WN, _FN, _RN = _normal_tables()
_KE, _WE, _FE, _RE = _exponential_tables()
_RN_INV = 1.0 / _RN
# sign folded into the index: entries 256..511 are the negative layers
_KN2 = np.concatenate([_KN, _KN])
_WN2 = np.concatenate([_WN, -_WN])


# ----------------------------------------------------------------------------------------------- seeding
def seed_state(seed: int, stream: int, index: int) -> np.ndarray:
    """Return the xoshiro256++ state (``uint64[4]``) of trajectory ``index`` in sweep point ``stream``.

    Parameters
    ----------
    seed : int
        Job seed (non-negative).
    stream : int
        Sweep-point index (given by the runner).
    index : int
        Trajectory index inside the point.

    Returns
    -------
    numpy.ndarray
        Four uint64 words from ``SeedSequence(seed, spawn_key=(stream, index)).generate_state(4, uint64)``.
    """
    ss = np.random.SeedSequence(int(seed), spawn_key=(int(stream), int(index)))
    st = ss.generate_state(4, dtype=np.uint64)
    if not st.any():  # the all-zero state is xoshiro's only fixed point; SeedSequence never gives it in practice
        st[0] = np.uint64(0x9E3779B97F4A7C15)
    return st


def trajectory_states(seed: int, stream: int, start: int, stop: int) -> np.ndarray:
    """States of trajectories ``start..stop-1`` as a C-contiguous ``(stop-start, 4)`` uint64 array."""
    out = np.empty((max(stop - start, 0), 4), dtype=np.uint64)
    for row, i in enumerate(range(start, stop)):
        out[row] = seed_state(seed, stream, i)
    return out


# ----------------------------------------------------------------------------------------------- register form
@nb.njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << k) | (x >> (np.uint64(64) - k))


@nb.njit(cache=True, inline="always")
def xo_next(s0, s1, s2, s3):
    """One xoshiro256++ output; returns ``(u64, s0, s1, s2, s3)``."""
    result = _rotl(s0 + s3, _U23) + s0
    t = s1 << _U17
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, _U45)
    return result, s0, s1, s2, s3


@nb.njit(cache=True, inline="always")
def _u01(r):
    # [0, 1) with 53 bits; int64 conversion is a single instruction (r >> 11 < 2**53).
    return np.float64(np.int64(r >> _U11)) * _TWO_M53


@nb.njit(cache=True)
def _normal_slow(idx, x, neg, s0, s1, s2, s3):
    """Wedge or tail of the normal ziggurat (about 1 % of calls); returns ``(ok, value, state...)``."""
    if idx == 0:
        while True:
            r, s0, s1, s2, s3 = xo_next(s0, s1, s2, s3)
            xx = -_RN_INV * math.log1p(-_u01(r))
            r, s0, s1, s2, s3 = xo_next(s0, s1, s2, s3)
            yy = -math.log1p(-_u01(r))
            if yy + yy > xx * xx:
                v = _RN + xx
                return True, (-v if neg else v), s0, s1, s2, s3
    r, s0, s1, s2, s3 = xo_next(s0, s1, s2, s3)
    if (_FN[idx - 1] - _FN[idx]) * _u01(r) + _FN[idx] < math.exp(-0.5 * x * x):
        return True, x, s0, s1, s2, s3
    return False, 0.0, s0, s1, s2, s3


@nb.njit(cache=True, inline="always")
def zig_normal(s0, s1, s2, s3):
    """Standard normal by the 256-layer ziggurat; returns ``(z, s0, s1, s2, s3)``.

    Bits 0-7 pick the layer, bit 8 the sign, bits 12-63 the 52-bit magnitude; the sign is folded into a 512-entry
    table index (no branch, no extra multiply).
    """
    while True:
        r, s0, s1, s2, s3 = xo_next(s0, s1, s2, s3)
        i9 = np.intp(r & _MASK9)
        rabs = (r >> _U12) & _MASK52
        x = np.float64(np.int64(rabs)) * _WN2[i9]
        if rabs < _KN2[i9]:
            return x, s0, s1, s2, s3
        ok, x, s0, s1, s2, s3 = _normal_slow(i9 & 255, x, i9 >= 256, s0, s1, s2, s3)
        if ok:
            return x, s0, s1, s2, s3


@nb.njit(cache=True)
def _exponential_slow(idx, x, s0, s1, s2, s3):
    """Wedge or tail of the exponential ziggurat (about 1 % of calls)."""
    r, s0, s1, s2, s3 = xo_next(s0, s1, s2, s3)
    u = _u01(r)
    if idx == 0:
        return True, _RE - math.log1p(-u), s0, s1, s2, s3  # memoryless tail
    if (_FE[idx - 1] - _FE[idx]) * u + _FE[idx] < math.exp(-x):
        return True, x, s0, s1, s2, s3
    return False, 0.0, s0, s1, s2, s3


@nb.njit(cache=True, inline="always")
def zig_exponential(s0, s1, s2, s3):
    """Standard exponential (mean 1) by the 256-layer ziggurat; returns ``(e, s0, s1, s2, s3)``; e >= 0."""
    while True:
        r, s0, s1, s2, s3 = xo_next(s0, s1, s2, s3)
        r = r >> _U3
        idx = np.intp(r & _MASK8)
        r = r >> _U8
        x = np.float64(np.int64(r)) * _WE[idx]
        if r < _KE[idx]:
            return x, s0, s1, s2, s3
        ok, x, s0, s1, s2, s3 = _exponential_slow(idx, x, s0, s1, s2, s3)
        if ok:
            return x, s0, s1, s2, s3


# ----------------------------------------------------------------------------------------------- array form
@nb.njit(cache=True)
def next_u64(s):
    """Next raw 64-bit output; advances the state array ``s`` (uint64[4]) in place."""
    r, s[0], s[1], s[2], s[3] = xo_next(s[0], s[1], s[2], s[3])
    return r


@nb.njit(cache=True)
def uniform(s):
    """Uniform double in [0, 1) (53 bits)."""
    return _u01(next_u64(s))


@nb.njit(cache=True)
def uniform_open(s):
    """Uniform double in the open interval (0, 1): (k + 1/2) 2^-52, k a 52-bit integer."""
    r = next_u64(s)
    return (np.float64(np.int64(r >> _U12)) + 0.5) * _TWO_M52


@nb.njit(cache=True)
def normal(s):
    """Standard normal deviate."""
    z, s[0], s[1], s[2], s[3] = zig_normal(s[0], s[1], s[2], s[3])
    return z


@nb.njit(cache=True)
def exponential(s):
    """Standard exponential deviate (mean 1, may be exactly 0 with probability ~2^-53)."""
    e, s[0], s[1], s[2], s[3] = zig_exponential(s[0], s[1], s[2], s[3])
    return e


@nb.njit(cache=True)
def fill_normal(s, out):
    """Fill ``out`` with standard normals (testing and benchmarking helper)."""
    s0, s1, s2, s3 = s[0], s[1], s[2], s[3]
    for i in range(out.size):
        out[i], s0, s1, s2, s3 = zig_normal(s0, s1, s2, s3)
    s[0], s[1], s[2], s[3] = s0, s1, s2, s3


@nb.njit(cache=True)
def fill_exponential(s, out):
    """Fill ``out`` with standard exponentials."""
    s0, s1, s2, s3 = s[0], s[1], s[2], s[3]
    for i in range(out.size):
        out[i], s0, s1, s2, s3 = zig_exponential(s0, s1, s2, s3)
    s[0], s[1], s[2], s[3] = s0, s1, s2, s3


@nb.njit(cache=True)
def fill_uniform_open(s, out):
    """Fill ``out`` with uniforms in (0, 1)."""
    for i in range(out.size):
        out[i] = uniform_open(s)
