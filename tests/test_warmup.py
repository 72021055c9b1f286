"""``python -m mpiheat.warmup``: compiles exactly the kernels a job uses (the Slurm templates' warm-up step).

Importing a kernel module compiles nothing (numba compiles lazily, per argument types), so the check is on the cache:
after the warm-up into an empty ``NUMBA_CACHE_DIR`` the index (.nbi) and object (.nbc) files of the job's kernels
exist, and the job itself, run afterwards on 2 ranks with that cache, adds or rewrites no cache file (a signature
missed by the warm-up would be compiled and written by the run).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, child_env

SMALL = ["--set", "classical.collisions=200", "--set", "temperatures.T_R=[1.0, 10.0]"]


def _warmup(args: list[str], cache: Path) -> subprocess.CompletedProcess:
    env = child_env(NUMBA_CACHE_DIR=str(cache))
    return subprocess.run([sys.executable, "-m", "mpiheat.warmup", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=600)


def _snapshot(cache: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(cache)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in cache.rglob("*") if p.is_file()}


def _kernels(snap: dict, suffix: str) -> set[str]:
    # numba names cache files <module>.<function>-<line>.py311.nbi / ...-<n>.nbc
    return {Path(k).name.split("-")[0] for k in snap if k.endswith(suffix)}


CASES = {
    "md-mcmc": (["jobs/default.toml", *SMALL],
                {"kernels.one_particle_batch", "kernels.one_particle_sums2", "kernels.one_particle_sums",
                 "kernels.bath_energy2", "kernels.mcmc_energy_chain2", "rng._normal_slow", "rng._exponential_slow"}),
    "transfer": (["jobs/default.toml", *SMALL, "--set", "classical.method=transfer", "--set", "bath.steps=10"],
                 {"kernels_transfer.band_apply", "kernels_transfer.remap_coo", "kernels_transfer.shift_coo"}),
}


@pytest.mark.mpi
@pytest.mark.parametrize("case", list(CASES))
def test_warmup_compiles_exactly_the_jobs_kernels(tmp_path, mpirun, case):
    args, expected = CASES[case]
    cache = tmp_path / "numba"
    cache.mkdir()
    r = _warmup(args, cache)
    assert r.returncode == 0, r.stderr
    assert "kernels ready" in r.stdout
    after_warmup = _snapshot(cache)
    assert expected <= _kernels(after_warmup, ".nbi"), sorted(after_warmup)
    assert expected <= _kernels(after_warmup, ".nbc"), sorted(after_warmup)
    if case == "transfer":  # the transfer job needs no MD kernel, and the warm-up compiled none
        assert not any(k.startswith("kernels.") for k in _kernels(after_warmup, ".nbi"))

    out = tmp_path / "run.h5"
    env = child_env(NUMBA_CACHE_DIR=str(cache))
    mpirun(2, ["-m", "mpiheat.run", *args, "--output", str(out), "--quiet"], env=env)
    assert out.exists()
    assert _snapshot(cache) == after_warmup  # nothing compiled by the run itself


def test_warmup_without_numba_kernels(tmp_path):
    """A quantum job has no numba kernels: the warm-up says so, exits 0 and writes no cache file."""
    cache = tmp_path / "numba"
    cache.mkdir()
    r = _warmup(["jobs/fig4_quantum.toml"], cache)
    assert r.returncode == 0, r.stderr
    assert "uses no numba kernels" in r.stdout
    assert _snapshot(cache) == {}


def test_warmup_bad_job_one_line(tmp_path):
    r = _warmup(["jobs/default.toml", "--set", "classical.collisions=-3"], tmp_path)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "collisions" in r.stderr


@pytest.mark.mpi
def test_done_points(tmp_path, mpirun):
    """--done-points: finished points of the job's results file; 0 without a file, -1 for an unreadable one."""
    out = tmp_path / "r.h5"
    args = ["jobs/default.toml", *SMALL, "--output", str(out)]
    assert _warmup(["--done-points", *args], tmp_path).stdout.strip() == "0"
    mpirun(2, ["-m", "mpiheat.run", *args, "--quiet"])
    assert _warmup(["--done-points", *args], tmp_path).stdout.strip() == "2"
    out.write_bytes(b"not hdf5")
    assert _warmup(["--done-points", *args], tmp_path).stdout.strip() == "-1"
