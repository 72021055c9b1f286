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
