"""Shared test fixtures: environment pinning, the MPI launcher for MPI tests, and the ``petsc`` mark.

The suite runs on two stacks (``make test``): Debian's packages in ``.venv`` and the newest PyPI releases with the
``mpich`` wheel in ``.venv-pypi`` (``MPIHEAT_STACK=pypi``). Tests that need petsc4py/slepc4py carry
``@pytest.mark.petsc`` and skip, with the reason, where those optional packages are absent; every other test runs on
both stacks (the Slurm cluster tests too: the template's launcher follows mpi4py's MPI library).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mpiheat.launcher import mpiexec

ROOT = Path(__file__).resolve().parents[1]
STACK = os.environ.get("MPIHEAT_STACK", "debian")  # "pypi" in the second half of `make test`
HAVE_PETSC = all(importlib.util.find_spec(m) is not None for m in ("petsc4py", "slepc4py"))  # found, not imported

# Deterministic single-threaded BLAS, a shared numba cache, and OpenMPI settings for root/oversubscription.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache"))
os.environ.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
os.environ.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
os.environ.setdefault("OMPI_MCA_rmaps_base_oversubscribe", "1")


# Once this pytest process has initialised MPI (in-process PETSc or mpi4py tests), OpenMPI has put its own PMIx/OMPI
# variables into the C-level environment; a child mpirun or python that inherits them fails silently. Python's
# os.environ does not see those setenv() calls, so children started with env=os.environ get a clean environment.
_popen_init = subprocess.Popen.__init__


def _popen_init_clean_env(self, *args, env=None, **kwargs):
    _popen_init(self, *args, env=dict(os.environ) if env is None else env, **kwargs)


subprocess.Popen.__init__ = _popen_init_clean_env


def run_mpi(n: int, args: list[str], timeout: float = 600, check: bool = True, **kw) -> subprocess.CompletedProcess:
    """Run ``MPIEXEC -n n python ARGS...`` with this interpreter; return the completed process.

    ``MPIEXEC`` is the launcher of the MPI library this interpreter's mpi4py loads (:func:`mpiheat.launcher.mpiexec`):
    Debian's Open MPI ``mpiexec`` in ``.venv``, the ``mpich`` wheel's in ``.venv-pypi``.
    """
    cmd = mpiexec(n, sys.executable, *args)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=kw.pop("cwd", ROOT), **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    no_petsc = pytest.mark.skip(reason=f"needs petsc4py/slepc4py (optional extra mpiheat[petsc]), not installed in "
                                       f"this stack ({STACK}); they run on the Debian stack")
    for item in items:
        if not HAVE_PETSC and item.get_closest_marker("petsc"):
            item.add_marker(no_petsc)


@pytest.fixture
def mpirun():
    """Fixture form of :func:`run_mpi`."""
    return run_mpi
