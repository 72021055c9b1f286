"""The job driver at scale (issue 6): checkpoint/resume after SIGTERM and SIGKILL, failure on one rank, rank
independence of results, atomic output, progress."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ROOT, run_mpi
from mpiheat.io import OutputError, read_results, write_results

JOB = """
[job]
kind = "classical"
output = "{out}"
checkpoint_interval = 0
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
seed = 7
"""


def write_job(tmp_path, name="job.toml", n=10, coll=20000, out="r.h5"):
    p = tmp_path / name
    p.write_text(JOB.format(out=tmp_path / out, n=n, coll=coll))
    return p


def numeric_columns(path):
    cols, attrs, _ = read_results(path)
    return {k: v for k, v in cols.items() if np.asarray(v).dtype.kind in "fiub"}, attrs


def assert_identical(a, b):
    assert set(a) == set(b)
    for k in a:
        assert np.array_equal(a[k], b[k], equal_nan=True), k


def _start(job, tmp_path, *extra):
    return subprocess.Popen([sys.executable, "-m", "mpiheat.run", str(job), "--progress", "off", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)


def _wait_for_checkpoint(proc, path, timeout=240):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            return False
        if os.path.exists(path):
            try:
                cols, attrs, _ = read_results(path)
                if 0 < cols["done"].sum() < cols["done"].size:
                    return True
            except OSError:
                pass
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run to compare against."""
    tmp = tmp_path_factory.mktemp("ref")
    job = write_job(tmp)
    proc = subprocess.run([sys.executable, "-m", "mpiheat.run", str(job), "--quiet"], capture_output=True,
                          text=True, cwd=tmp, timeout=600)
    assert proc.returncode == 0, proc.stderr
    cols, attrs = numeric_columns(tmp / "r.h5")
    assert attrs["complete"] and cols["done"].all()
    return cols


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL, signal.SIGINT])
def test_kill_and_resume_is_identical(tmp_path, reference, sig):
    job = write_job(tmp_path)
    out = tmp_path / "r.h5"
    proc = _start(job, tmp_path)
    assert _wait_for_checkpoint(proc, out), "no partial checkpoint seen before the run ended"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=300)
    cols, attrs = numeric_columns(out)
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == 75, err  # checkpointed stop
        assert "resume" in err
    assert not attrs["complete"], "an interrupted run must not be reported complete"
    assert 0 < cols["done"].sum() < cols["done"].size
    # Finished points already carry their final numbers.
    d = cols["done"]
    assert np.array_equal(cols["J"][d], reference["J"][d])
    proc = subprocess.run([sys.executable, "-m", "mpiheat.run", str(job), "--progress", "off"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "resuming" in proc.stderr
    cols, attrs = numeric_columns(out)
    assert attrs["complete"]
    assert_identical(cols, reference)
    assert not list(tmp_path.glob("*.tmp")), "temporary files left behind"


def test_resume_refuses_a_different_job(tmp_path, reference):
    job = write_job(tmp_path, n=3, coll=2000)
    subprocess.run([sys.executable, "-m", "mpiheat.run", str(job), "--quiet"], check=True, cwd=tmp_path,
                   capture_output=True, timeout=300)
    before = (tmp_path / "r.h5").read_bytes()
    proc = subprocess.run([sys.executable, "-m", "mpiheat.run", str(job), "--set", "classical.seed=8"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 2 and "different job" in proc.stderr
    assert (tmp_path / "r.h5").read_bytes() == before, "previous results must stay intact"


def test_rank_failure_ends_all_ranks_promptly(tmp_path):
    job = write_job(tmp_path, n=4, coll=2000)
    env = {**os.environ, "MPIHEAT_FAIL_RANK": "1"}
    t0 = time.time()
    proc = run_mpi(2, ["-m", "mpiheat.run", str(job)], check=False, env=env, timeout=120)
    elapsed = time.time() - t0
    assert proc.returncode != 0
    assert "injected failure on rank 1" in proc.stderr
    assert "rank 1/2" in proc.stderr
    assert elapsed < 60, f"abort took {elapsed:.0f} s"
    assert not (tmp_path / "r.h5").exists()


def test_one_two_three_ranks_bit_identical(tmp_path):
    job = write_job(tmp_path, n=4, coll=3000)
    outs = {}
    for n in (1, 2, 3):
        out = tmp_path / f"r{n}.h5"
        run_mpi(n, ["-m", "mpiheat.run", str(job), "--output", str(out), "--quiet"], cwd=tmp_path)
        outs[n], attrs = numeric_columns(out)
        assert attrs["mpi_size"] == n and attrs["complete"]
    assert_identical(outs[1], outs[2])
    assert_identical(outs[1], outs[3])


def test_points_layout_equals_shared_layout(tmp_path):
    """Groups of one rank per point (layout = points) give the same numbers as all ranks on each point."""
    job = write_job(tmp_path, n=4, coll=3000)
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    run_mpi(2, ["-m", "mpiheat.run", str(job), "--output", str(a), "--quiet"], cwd=tmp_path)
    run_mpi(2, ["-m", "mpiheat.run", str(job), "--output", str(b), "--quiet", "--set", "parallel.layout='points'"],
            cwd=tmp_path)
    ca, aa = numeric_columns(a)
    cb, ab = numeric_columns(b)
    assert aa["ranks_per_point"] == 2 and ab["ranks_per_point"] == 1
    assert_identical(ca, cb)


def test_failed_write_keeps_previous_file(tmp_path, monkeypatch):
    """A write that fails half-way (ENOSPC through the MPIHEAT_FAIL_WRITE hook: the real write path, no mock) raises
    OutputError and leaves the previous file byte for byte, and no temporary file."""
    path = tmp_path / "x.h5"
    write_results(path, {"a": [1.0, 2.0]}, {"complete": True})
    before = path.read_bytes()
    monkeypatch.setenv("MPIHEAT_FAIL_WRITE", "final")
    with pytest.raises(OutputError, match="No space left on device"):
        write_results(path, {"a": [3.0]}, {"complete": True})
    assert path.read_bytes() == before
    assert not list(tmp_path.glob("*.tmp"))


def test_progress_lines_in_batch_mode(tmp_path):
    job = write_job(tmp_path, n=3, coll=2000)
    proc = subprocess.run([sys.executable, "-m", "mpiheat.run", str(job), "--progress", "on"], capture_output=True,
                          text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0
    assert "progress 3/3 points" in proc.stderr and "time left" in proc.stderr


def test_inspect_prints_job_health_and_table(tmp_path):
    job = write_job(tmp_path, n=2, coll=2000)
    subprocess.run([sys.executable, "-m", "mpiheat.run", str(job), "--quiet"], check=True, cwd=tmp_path,
                   capture_output=True, timeout=300)
    proc = subprocess.run([sys.executable, "-m", "mpiheat.inspect", str(tmp_path / "r.h5")], capture_output=True,
                          text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0
    for words in ("status: complete", "kind: classical", "[classical]", "mpi_size: 1", "J_err", "git_commit"):
        assert words in proc.stdout, words
