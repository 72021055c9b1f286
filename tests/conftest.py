"""Shared test fixtures: environment pinning and an ``mpirun`` launcher for MPI tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

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
    """Run ``mpirun -n n python ARGS...`` with this interpreter; return the completed process."""
    cmd = ["mpirun", "-n", str(n), sys.executable, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=kw.pop("cwd", ROOT), **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def mpirun():
    """Fixture form of :func:`run_mpi`."""
    return run_mpi
