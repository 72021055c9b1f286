"""Parallel layer: communicators are injected (``comm=None`` means ``MPI.COMM_WORLD``); work is split by index.

Layout rule: ``n`` items (trajectories, matrix rows, vector entries) are split into contiguous blocks in rank order
(:func:`block_range`), so gathering the blocks in rank order restores the item order, and any result computed from
the gathered array is independent of the number of ranks. The gather helpers below are that rule's two halves:
:func:`gather_blocks` (to one rank, any picklable rows: MD trajectory sums) and :func:`allgather_blocks` (to every
rank, numeric rows without pickling: distributed matrix-vector products).
"""

from __future__ import annotations

import numpy as np

__all__ = ["get_comm", "block_range", "block_layout", "gather_blocks", "allgather_blocks", "rss_mb",
           "reset_peak_rss", "release_free_memory"]


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


def block_layout(n: int, size: int, unit: int = 1) -> tuple[list[int], list[int]]:
    """Counts and displacements, in elements, of the :func:`block_range` blocks of ``n`` rows of ``unit`` elements.

    Parameters
    ----------
    n, size : int
        Number of rows and of ranks.
    unit : int
        Elements per row (e.g. N for the rows of an N x N matrix).

    Returns
    -------
    (counts, displs) : tuple of list of int
        The ``recvcounts`` / ``displs`` of an MPI ``Allgatherv`` / ``Gatherv`` for that layout.
    """
    blocks = [block_range(n, size, r) for r in range(size)]
    return [(b - a) * unit for a, b in blocks], [a * unit for a, _ in blocks]


def gather_blocks(comm, local: np.ndarray, root: int = 0) -> np.ndarray | None:
    """This rank's rows ``local`` (its :func:`block_range` block), concatenated over ranks on ``root``.

    Parameters
    ----------
    comm : mpi4py communicator
    local : numpy.ndarray, shape (rows, ...)
        This rank's block (may have zero rows).
    root : int
        The rank that receives.

    Returns
    -------
    numpy.ndarray or None
        On ``root``: all blocks concatenated along axis 0 in rank order, i.e. in item order. ``None`` elsewhere.
    """
    blocks = comm.gather(local, root=root)
    return np.concatenate(blocks, axis=0) if comm.Get_rank() == root else None


def allgather_blocks(comm, local: np.ndarray, n: int) -> np.ndarray:
    """The full array of ``n`` rows on every rank, from each rank's rows ``block_range(n, size, rank)``.

    One ``Allgatherv`` of the raw buffers (no pickling): O(n) communication, the datatype taken from the array.

    Parameters
    ----------
    comm : mpi4py communicator
    local : numpy.ndarray, shape (rows, ...)
        This rank's rows, ``rows = stop - start`` of its :func:`block_range` block; every rank the same trailing shape
        and dtype.
    n : int
        Total number of rows.

    Returns
    -------
    numpy.ndarray, shape (n, ...)
    """
    local = np.ascontiguousarray(local)
    size, rank = comm.Get_size(), comm.Get_rank()
    start, stop = block_range(n, size, rank)
    if local.shape[0] != stop - start:
        raise ValueError(f"rank {rank} holds {local.shape[0]} rows, its block of {n} has {stop - start}")
    unit = int(np.prod(local.shape[1:], dtype=np.int64))
    counts, displs = block_layout(n, size, unit)
    full = np.empty((int(n),) + local.shape[1:], dtype=local.dtype)
    comm.Allgatherv(local, [full, (counts, displs)])
    return full


def rss_mb(field: str = "VmHWM") -> float:
    """This process's resident memory in MB from ``/proc/self/status`` (``VmHWM`` = peak, ``VmRSS`` = current);
    nan where ``/proc`` is unavailable."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS (``VmHWM``) to its current RSS (Linux >= 4.0: ``/proc/self/clear_refs`` = 5), so
    that a later peak measures one stage only. Returns False where this is unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def release_free_memory() -> None:
    """Give memory that was freed back to the OS (glibc ``malloc_trim``; a no-op elsewhere).

    Large temporaries (operator assembly, a destroyed factorisation) leave free pages inside the heap that stay
    resident; the next large arrays are then mapped afresh on top of them and the peak RSS adds both.
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
