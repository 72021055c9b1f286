"""``[mpirun -n P] python -m mpiheat.run JOB.toml [options] [-- PETSc options]``: the command line (see
:mod:`mpiheat.cli`, which holds its code).

This module is only an entry point: ``mpiheat.run`` is the public FUNCTION :func:`mpiheat.api.run` (importing this
submodule would rebind the package attribute, so nothing in the package imports it). Should some code import it
anyway, the module stays callable as that function.
"""

import sys

if __name__ == "__main__":
    # First thing, before any heavy import (numpy, mpi4py, h5py, numba): a stop signal during start-up is a request
    # (exit 75 at the first agreement point), not the default action that kills the rank.
    from mpiheat.driver.signals import STOP as _STOP

    _STOP.install()
    from mpiheat.cli import run_main

    sys.exit(run_main())
else:
    import types

    class _CallableModule(types.ModuleType):
        """``import mpiheat.run`` rebinds ``mpiheat.run`` to this module: keep it usable as the function."""

        def __call__(self, *args, **kwargs):
            from mpiheat.api import run

            return run(*args, **kwargs)

    sys.modules[__name__].__class__ = _CallableModule
