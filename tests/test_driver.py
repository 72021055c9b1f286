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

from conftest import ROOT, child_env, run_mpi, write_classical_job
from mpiheat.io import OutputError, read_results, write_results


def write_job(tmp_path, name="job.toml", n=10, coll=20000, out="r.h5"):
    return write_classical_job(tmp_path, name=name, out=out, n=n, coll=coll)


def numeric_columns(path):
    cols, attrs, _ = read_results(path)
    return {k: v for k, v in cols.items() if np.asarray(v).dtype.kind in "fiub"}, attrs


def assert_identical(a, b):
    """Same columns, same dtypes, same values (NaN equal to NaN)."""
    assert set(a) == set(b)
    for k in a:
        assert np.asarray(a[k]).dtype == np.asarray(b[k]).dtype, (k, np.asarray(a[k]).dtype, np.asarray(b[k]).dtype)
        x, y = np.asarray(a[k]), np.asarray(b[k])
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), k


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
    env = child_env(MPIHEAT_FAIL_RANK="1")
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


# --------------------------------------------------------------------------------------------------------------------
# run_sweep with a bound kind (in this process, on COMM_WORLD of one rank): the declared schema


class ToyKind:
    """A bound kind with one column of every dtype; it can stop itself by a real SIGUSR1 at point ``stop_at``."""

    name = "toy"

    def __init__(self, n=6, stop_at=None, identity="toy v1"):
        from mpiheat.io.schema import Column

        self.n, self.stop_at, self.identity = n, stop_at, identity
        self._columns = [Column("T_L", "f8", "1", "hot bath temperature"),
                         Column("T_R", "f8", "1", "cold bath temperature"),
                         Column("J", "f8", "1", "heat current"),
                         Column("collisions", "i8", "1", "bath collisions"),
                         Column("converged", "bool", "", "solver converged"),
                         Column("reason", "str", "", "solver reason")]

    def points(self):
        return [{"T_L": 10.0, "T_R": float(i)} for i in range(self.n)]

    def columns(self):
        return list(self._columns)

    def ranks_per_point(self, size):
        return 1

    def prepare(self, comm):
        return {"prepared": True}

    def compute(self, ctx, point, index, comm):
        if index == self.stop_at:
            os.kill(os.getpid(), signal.SIGUSR1)  # a real stop request, handled by the driver's handler
        return {"J": (point["T_L"] - point["T_R"]) / 3.0, "collisions": 1000 + index, "converged": index % 2 == 0,
                "reason": f"rtol{index}"}

    def finish(self, ctx, columns, complete):
        return {"toy_attr": int(np.asarray(columns["done"]).sum())}, {"extra": {"E": np.arange(3.0)}}

    def summary_columns(self):
        return ["T_R", "J"]


def test_run_sweep_declared_dtypes_survive_checkpoint_and_resume(tmp_path):
    """A run stopped by SIGUSR1 after a checkpoint and resumed gives the file of an uninterrupted run: same columns,
    same dtypes (int64 stays int64, bool bool, text text), same values, units and descriptions on every dataset."""
    import h5py

    from mpiheat.driver.runner import Interrupted, run_sweep
    from mpiheat.io import read_file

    ref = run_sweep(ToyKind(), output=tmp_path / "ref.h5", progress=False, checkpoint_interval=0)
    assert ref["collisions"].dtype == np.int64 and ref["converged"].dtype == bool and ref["J"].dtype == np.float64
    out = tmp_path / "r.h5"
    with pytest.raises(Interrupted, match="after 3/6 points"):
        run_sweep(ToyKind(stop_at=2), output=out, progress=False, checkpoint_interval=1e9)
    part = read_file(out)
    assert not part.attrs["complete"] and part.columns["done"].tolist() == [True] * 3 + [False] * 3
    assert part.columns["collisions"].dtype == np.int64 and part.columns["collisions"][3:].tolist() == [-1] * 3
    assert part.columns["reason"][3:].tolist() == [""] * 3 and np.isnan(part.columns["J"][3:]).all()
    res = run_sweep(ToyKind(), output=out, progress=False, checkpoint_interval=0)
    a, b = read_file(tmp_path / "ref.h5"), read_file(out)
    assert list(a.columns) == list(b.columns) == [c.name for c in ToyKind().columns()] + ["done"]
    assert_identical(a.columns, b.columns)
    assert_identical(dict(res), a.columns)
    assert b.attrs["complete"] and b.attrs["toy_attr"] == 6 and b.attrs["kind"] == "toy"
    assert b.parameters == ["T_L", "T_R"]
    assert b.schema["collisions"].units == "1" and b.schema["J"].description == "heat current"
    with h5py.File(out) as f:
        for name, ds in f["results"].items():
            assert "units" in ds.attrs and "description" in ds.attrs, name
        assert "units" in f["extra/E"].attrs


def test_run_sweep_without_output_writes_nothing(tmp_path, monkeypatch):
    from mpiheat.driver.runner import run_sweep

    monkeypatch.chdir(tmp_path)
    res = run_sweep(ToyKind(n=3), output=None, progress=False)
    assert list(tmp_path.iterdir()) == []  # no file, no lock, no temporary file
    assert res["done"].all() and res["collisions"].tolist() == [1000, 1001, 1002]
    assert res.attrs["complete"] and res.extra["extra"]["E"].tolist() == [0.0, 1.0, 2.0]


def test_run_sweep_refuses_another_job_and_undeclared_columns(tmp_path):
    from mpiheat.driver.runner import ResumeError, run_sweep

    out = tmp_path / "r.h5"
    run_sweep(ToyKind(n=2), output=out, progress=False)
    before = out.read_bytes()
    with pytest.raises(ResumeError, match="different job") as e:
        run_sweep(ToyKind(n=2, identity="toy v2"), output=out, progress=False)
    assert e.value.collective and out.read_bytes() == before

    class Sloppy(ToyKind):
        def compute(self, ctx, point, index, comm):
            return {**super().compute(ctx, point, index, comm), "surprise": 1.0}

    with pytest.raises(ValueError, match="undeclared result columns"):
        run_sweep(Sloppy(n=2), output=None, progress=False)


def test_git_commit_is_the_packages_own_not_the_working_directorys(tmp_path):
    """Provenance ``git_commit`` names the commit of the source tree mpiheat is imported from: this checkout's HEAD
    from any working directory, and ``unknown (mpiheat X)`` for a copy that is not a checkout, even when run inside
    another git repository."""
    import shutil

    code = "from mpiheat.io import provenance; print(provenance(1)['git_commit'])"
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    here = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60,
                          env=child_env()).stdout.strip()
    assert here.removesuffix("-dirty") == head
    # An installed (non-editable) copy inside some other git repository, run from there: not that repository's commit.
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(git + ["init", "-q"], check=True)
    subprocess.run(git + ["commit", "-q", "--allow-empty", "-m", "other project"], check=True)
    copy = repo / "site-packages"
    shutil.copytree(ROOT / "mpiheat", copy / "mpiheat", ignore=shutil.ignore_patterns("__pycache__"))
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=repo, timeout=60,
                           env=child_env(PYTHONPATH=str(copy))).stdout.strip()
    from mpiheat import __version__

    assert there == f"unknown (mpiheat {__version__})"
