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


# Open MPI's MPI_Init puts its own PMIx/OMPI variables into the C-level environment of the process (setenv); a child
# mpirun or python that inherits them fails silently. Python's os.environ does not see those setenv() calls. So this
# pytest process initialises MPI once, here, and removes what that added: every child started later (with or without
# an explicit env) gets a clean environment. Tests that set variables for a child pass ``env=child_env(VAR=...)``.


def _c_environ_names() -> list[bytes]:
    """Names in the C-level environment (``environ``), which os.environ does not follow after start-up."""
    import ctypes

    environ = ctypes.POINTER(ctypes.c_char_p).in_dll(ctypes.CDLL(None), "environ")
    names, i = [], 0
    while environ[i]:
        names.append(environ[i].split(b"=", 1)[0])
        i += 1
    return names


def _initialise_mpi_and_clean_environ() -> list[str]:
    from mpi4py import MPI  # noqa: F401  (MPI_Init, once, before any test)

    known = set(os.environb)
    added = [n for n in _c_environ_names() if n not in known]
    for name in added:
        os.unsetenv(name)
    return [n.decode(errors="replace") for n in added]


MPI_ENV_REMOVED = _initialise_mpi_and_clean_environ()


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child process: this process's (os.environ) plus ``extra``."""
    return {**os.environ, **extra}


def run_mpi(n: int, args: list[str], timeout: float = 600, check: bool = True, **kw) -> subprocess.CompletedProcess:
    """Run ``MPIEXEC -n n python ARGS...`` with this interpreter; return the completed process.

    ``MPIEXEC`` is the launcher of the MPI library this interpreter's mpi4py loads (:func:`mpiheat.launcher.mpiexec`):
    Debian's Open MPI ``mpiexec`` in ``.venv``, the ``mpich`` wheel's in ``.venv-pypi``.
    """
    cmd = mpiexec(n, sys.executable, *args)
    kw["env"] = kw.get("env") or child_env()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=kw.pop("cwd", ROOT), **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


# The ``slow`` mark (``make test-fast`` = ``-m "not slow"``): whole files and single tests that take more than ~20 s
# on 2 busy cores (``pytest --durations=40``, 2026-11-26: test_faults' signal cases 39-42 s each, full-disk 27 s + 23 s
# set-up, second run 36 s; test_driver kill/resume 14-45 s, 1/2/3 ranks 18-70 s; test_warmup's cold compiles into an
# empty cache 8-34 s; the private Slurm cluster ~100 s; test_job_fuzz's hypothesis runs and CLI batches ~200 s).
# The golden cases take 3-18 s each and stay in test-fast.
SLOW_FILES = {"test_faults.py", "test_slurm.py", "test_warmup.py", "test_job_fuzz.py"}
SLOW_TESTS = {
    "test_driver.py::test_kill_and_resume_is_identical",
    "test_driver.py::test_one_two_three_ranks_bit_identical",
}


def _is_slow(item: pytest.Item) -> bool:
    name = item.path.name
    return name in SLOW_FILES or f"{name}::{item.originalname}" in SLOW_TESTS


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    no_petsc = pytest.mark.skip(reason=f"needs petsc4py/slepc4py (optional extra mpiheat[petsc]), not installed in "
                                       f"this stack ({STACK}); they run on the Debian stack")
    for item in items:
        if not HAVE_PETSC and item.get_closest_marker("petsc"):
            item.add_marker(no_petsc)
        if _is_slow(item):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def mpirun():
    """Fixture form of :func:`run_mpi`."""
    return run_mpi


# One classical MCMC job template for the driver and fault tests (checkpoint after every round by default).
CLASSICAL_JOB = """
[job]
kind = "classical"
output = "{out}"
checkpoint_interval = {ckpt}
[bath]
model = "mcmc"
steps = 1000
[temperatures]
T_L = 1000
T_R = {{logspace = [-1, 3, {n}]}}
[classical]
trajectories = 2
collisions = {coll}
warmup = 100
seed = {seed}
"""


def write_classical_job(folder: Path, name: str = "job.toml", out: str = "r.h5", n: int = 8, coll: int = 20000,
                        ckpt: float = 0, seed: int = 7) -> Path:
    """Write a small classical MCMC sweep (``n`` points T_R = 10^-1..10^3) to ``folder/name``; output ``folder/out``."""
    p = folder / name
    p.write_text(CLASSICAL_JOB.format(out=folder / out, n=n, coll=coll, ckpt=ckpt, seed=seed))
    return p


def run_job(folder: Path, tables: dict, name: str = "job.toml", *args: str, timeout: float = 600) -> Path:
    """Write a job given as TOML tables (``{"job": {...}, "quantum": {...}}``; ``[job] output`` defaults to
    ``<name>.h5`` in ``folder``) and run it with ``python -m mpiheat.run`` (quiet); return the results file."""
    from mpiheat.config.toml_io import dump_toml

    tables = {sec: dict(t) for sec, t in tables.items()}
    out = Path(tables.setdefault("job", {}).setdefault("output", str(folder / (Path(name).stem + ".h5"))))
    job = folder / name
    job.write_text(dump_toml(tables))
    proc = subprocess.run([sys.executable, "-m", "mpiheat.run", str(job), "--quiet", "--progress", "off", *args],
                          capture_output=True, text=True, cwd=folder, timeout=timeout, env=child_env())
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture
def classical_job():
    """Fixture form of :func:`write_classical_job`."""
    return write_classical_job
