"""The MPI launcher matches mpi4py's library: the venv's mpiexec (mpich wheel) or Debian's Open MPI; a mismatch is
refused at once with a message naming both, instead of ranks dying in MPI_Init."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mpiheat.launcher import find_launcher, launcher_family, library_family, mpi_library

ROOT = Path(__file__).resolve().parents[1]
STACK = os.environ.get("MPIHEAT_STACK", "debian")


def _other_launcher() -> str:
    """A real launcher of the other MPI family on this machine: the PyPI venv's MPICH Hydra, or Debian's Open MPI."""
    if STACK == "pypi":
        return "/usr/bin/mpirun"
    other = ROOT / ".venv-pypi" / "bin" / "mpiexec"
    if not other.exists():
        pytest.skip("no MPICH launcher here: build the second stack first (make setup-pypi)")
    return str(other)


@pytest.mark.mpi
def test_picks_the_launcher_of_mpi4pys_library_and_ranks_see_each_other():
    launcher = find_launcher()
    lib = mpi_library(sys.executable)["version"]
    if STACK == "pypi":  # the mpich wheel's mpiexec, next to this venv's python
        assert library_family(lib) == "mpich"
        assert launcher.command == (str(Path(sys.executable).parent / "mpiexec"),)
        assert launcher.how == "next to the Python"
    else:  # Debian's python3-mpi4py is built with /usr/bin/mpicc: Open MPI's mpiexec next to it
        assert library_family(lib) == "openmpi"
        assert launcher.command[0] in ("/usr/bin/mpiexec", "/usr/bin/mpirun")
    assert launcher.family == library_family(lib)
    # rank 0 prints what every rank reports through a real gather (one writer: no interleaved output)
    code = ("from mpi4py import MPI; c = MPI.COMM_WORLD; r = c.gather((c.Get_rank(), c.Get_size()));"
            "c.Get_rank() == 0 and print(r)")
    proc = subprocess.run(launcher.argv(3, sys.executable, "-c", code), capture_output=True, text=True, timeout=120,
                          env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[(0, 3), (1, 3), (2, 3)]"


def test_mismatched_launcher_is_refused_with_a_clear_message():
    other = _other_launcher()
    want = "openmpi" if STACK == "pypi" else "mpich"
    assert launcher_family((other,)) == want  # really the other implementation
    env = dict(os.environ, MPIHEAT_MPIEXEC=other)
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "mpiheat.launcher", "--check"], capture_output=True, text=True,
                          timeout=60, env=env, cwd=ROOT)
    assert time.monotonic() - t0 < 30  # refused up front, no rank was started
    assert proc.returncode == 2
    assert f"is an {want} launcher" in proc.stderr and "MPI_Init" in proc.stderr and other in proc.stderr
    assert proc.stdout == ""


def test_library_family_of_real_version_strings():
    assert library_family(mpi_library(sys.executable)["version"]) in ("openmpi", "mpich")
    assert library_family("Open MPI v4.1.4, package: Debian OpenMPI") == "openmpi"
    assert library_family("MPICH Version:      5.0.2") == "mpich"
    assert library_family("Intel(R) MPI Library 2021.10 for Linux* OS") == "mpich"
    assert library_family("something else") == "unknown"
