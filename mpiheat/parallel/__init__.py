"""Parallel layer: communicators are injected (``comm=None`` means ``MPI.COMM_WORLD``); work is split by index."""

from __future__ import annotations


def get_comm(comm=None):
    """Return ``comm`` or ``MPI.COMM_WORLD`` when ``comm`` is None."""
    if comm is None:
        from mpi4py import MPI

        return MPI.COMM_WORLD
    return comm


def block_range(n: int, size: int, rank: int) -> tuple[int, int]:
    """Contiguous block ``[start, stop)`` of ``n`` items owned by ``rank`` of ``size`` (divmod formula).

    The first ``n % size`` ranks get one extra item; the union over ranks is ``range(n)`` in order.
    """
    q, r = divmod(int(n), int(size))
    start = rank * q + min(rank, r)
    return start, start + q + (1 if rank < r else 0)
