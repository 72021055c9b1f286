"""The sweep driver: points over (sub-)communicators, checkpoint/resume, signals, progress, output.

* :mod:`~mpiheat.driver.kind`: the :class:`Kind` protocol, what the driver receives (a kind bound to one job);
* :mod:`~mpiheat.driver.runner`: :func:`run_sweep` and the driver's errors;
* :mod:`~mpiheat.driver.signals`: stop requests by signal (standard library only, installed first at start-up).

``run_sweep`` and the error classes are importable from here; they are loaded on first use, so that importing
``mpiheat.driver.signals`` at start-up stays free of numpy, mpi4py and h5py.
"""

_LAZY = {"run_sweep", "SweepResult", "DriverError", "SweepError", "ResumeError", "Interrupted", "agree"}

__all__ = sorted(_LAZY | {"Kind"})


def __getattr__(name: str):
    if name in _LAZY:
        from mpiheat.driver import runner

        return getattr(runner, name)
    if name == "Kind":
        from mpiheat.driver.kind import Kind

        return Kind
    raise AttributeError(f"module 'mpiheat.driver' has no attribute {name!r}")
