"""Classical molecular dynamics between two heat baths: trajectories split over MPI ranks, results rank-independent.

Reproducibility contract (SPEC §5): trajectory ``i`` of sweep point ``stream`` is seeded from
``SeedSequence(seed, spawn_key=(stream, i))`` whatever the rank that runs it; per-trajectory sums are gathered to rank 0
in trajectory order, the estimators and jackknife errors are computed there from that array alone and broadcast. The
numbers are therefore identical, bit for bit, on any number of ranks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from mpiheat.classical import kernels as K
from mpiheat.classical.baths import Bath
from mpiheat.classical.result import ClassicalResult, one_particle_estimators, two_particle_estimators
from mpiheat.classical.rng import trajectory_states
from mpiheat.classical.two_particle import two_particle_local
from mpiheat.numerics.parallel import block_range, gather_blocks, get_comm

__all__ = ["run_md"]


def _check_positive(name: str, value: float) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return value


def _check_int(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def run_md(
    T_L: float,
    T_R: float,
    bath: Bath,
    *,
    masses: Sequence[float] = (1.0,),
    length: float = 1.0,
    trajectories: int = 8,
    collisions: int = 100_000,
    warmup: int = 1000,
    seed: int = 0,
    stream: int = 0,
    comm=None,
    progress: Callable[[int], None] | None = None,
) -> ClassicalResult:
    """Molecular dynamics of particles between bath L (temperature ``T_L``) and bath R (``T_R``).

    Parameters
    ----------
    T_L, T_R : float
        Bath temperatures (> 0).
    bath : Bath
        Bath model used at both walls.
    masses : sequence of float
        One mass per particle: one, or two (left, right; :mod:`mpiheat.classical.two_particle`).
    length : float
        Box length L.
    trajectories : int
        Independent trajectories (>= 2, the jackknife unit); split over the ranks of ``comm`` in contiguous blocks.
    collisions : int
        Bath collisions counted per trajectory, after ``warmup`` discarded ones.
    warmup : int
        Bath collisions discarded at the start of each trajectory.
    seed, stream : int
        Trajectory i uses ``SeedSequence(seed, spawn_key=(stream, i))``; ``stream`` is the sweep-point index.
    comm : mpi4py communicator, optional
        ``None`` means ``MPI.COMM_WORLD``. Every rank returns the same result.
    progress : callable, optional
        Called as ``progress(n)`` after each trajectory, with n the trajectories done on this rank.

    Returns
    -------
    ClassicalResult
        Identical, bit for bit, for any number of ranks.
    """
    if not isinstance(bath, Bath):
        raise TypeError(f"bath must be a mpiheat.classical.baths.Bath, got {type(bath).__name__}")
    T_L = _check_positive("T_L", T_L)
    T_R = _check_positive("T_R", T_R)
    length = _check_positive("length", length)
    masses = tuple(_check_positive("mass", m) for m in masses)
    trajectories = _check_int("trajectories", trajectories, 2)
    collisions = _check_int("collisions", collisions, 2)
    warmup = _check_int("warmup", warmup, 0)
    seed = _check_int("seed", seed, 0)
    stream = _check_int("stream", stream, 0)

    if len(masses) not in _BACKENDS:
        raise ValueError(f"masses must list 1 or 2 particle masses, got {len(masses)}")
    local_sums, estimators = _BACKENDS[len(masses)]

    comm = get_comm(comm)
    rank, size = comm.Get_rank(), comm.Get_size()
    start, stop = block_range(trajectories, size, rank)
    local = local_sums(start, stop, T_L, T_R, bath, masses, length, collisions, warmup, seed, stream, progress)
    sums = gather_blocks(comm, local, root=0)  # rank order == trajectory order (contiguous blocks)
    return comm.bcast(estimators(sums) if rank == 0 else None, root=0)


def _one_particle_local(start, stop, T_L, T_R, bath, masses, length, collisions, warmup, seed, stream, progress):
    """Per-trajectory sums of trajectories ``start..stop-1``.

    Trajectories run two at a time in lockstep (one numba call per pair, then progress); the pairing changes speed
    only, never the numbers of a trajectory, so results stay independent of how trajectories fall on ranks.
    """
    states = trajectory_states(seed, stream, start, stop)
    n = stop - start
    out = np.zeros((n, K.N_COLS))
    args = (bath.code, T_L, T_R, masses[0], length, bath.steps, float(bath.proposal), warmup, collisions)
    for row in range(0, n, 2):
        K.one_particle_batch(states[row : row + 2], *args, out[row : row + 2])
        if progress is not None:
            progress(min(row + 2, n))
    return out


#: The dispatch table of :func:`run_md`: number of particles -> (per-trajectory sums of a block of trajectories,
#: estimators from the gathered sums). A new particle count is one entry here.
_BACKENDS: dict[int, tuple[Callable[..., np.ndarray], Callable[[np.ndarray], ClassicalResult]]] = {
    1: (_one_particle_local, one_particle_estimators),
    2: (two_particle_local, two_particle_estimators),
}
