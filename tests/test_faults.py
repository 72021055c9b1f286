"""Runtime faults at cluster scale (issue 10), all under ``mpirun -n 2``: every failure ends every rank promptly with
the documented exit code; full disk and unwritable output give one line and leave the previous checkpoint intact;
corrupt files are refused; one writer per output; results honour the umask; signals during start-up and to mpirun.

Each test prints one ``FAULT-TABLE`` line (case, exit code, time to exit, file state): ``pytest -s -k ...`` shows them.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import h5py
import numpy as np
import pytest

from conftest import child_env, run_mpi, write_classical_job
from mpiheat.io import CorruptResultsError, read_results
from mpiheat.io.lock import lock_path
from mpiheat.launcher import find_launcher, mpiexec

LIMIT = 30.0  # generous bound on the time from a fault to the exit of every rank


def write_job(folder, name="job.toml", out="r.h5", n=8, coll=20000, ckpt=0, seed=7):
    return write_classical_job(folder, name=name, out=out, n=n, coll=coll, ckpt=ckpt, seed=seed)


# Collisions per trajectory for the signal tests: 8 rounds of ~1 s, so that after the first checkpoint the run is still
# going when the launcher's SIGTERM -> SIGKILL sequence (1 s + 1 s) ends it, however quiet the machine.
SIGNAL_COLL = 80000


def mpirun_popen(job, *extra, env=None, **kw):
    cmd = mpiexec(2, sys.executable, "-m", "mpiheat.run", str(job), "--progress", "off", "--quiet", *extra)
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=child_env(**(env or {})), cwd=job.parent, **kw)


def partial_checkpoint(path):
    """(done count, total) of a verified partial checkpoint at ``path``, or None."""
    try:
        cols, attrs, _ = read_results(path)
    except (OSError, KeyError, CorruptResultsError):
        return None
    d = cols["done"]
    return (int(d.sum()), d.size) if 0 < d.sum() < d.size and not attrs["complete"] else None


def wait_for(pred, proc=None, timeout=240.0, step=0.05):
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = pred()
        if v:
            return v
        if proc is not None and proc.poll() is not None:
            return None
        time.sleep(step)
    return None


def finish(proc, timeout=120):
    """Wait for ``proc``; returns (exit code, stderr). ``proc.error_to_exit`` is the time from its first ``error:``
    line (the fault as reported) to the exit of mpirun, i.e. of every rank."""
    lines: list[tuple[float, str]] = []

    def read():
        for line in proc.stderr:
            lines.append((time.time(), line))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    proc.wait(timeout=timeout)
    t_exit = time.time()
    reader.join(timeout=10)
    proc.stdout.close()
    first = next((t for t, ln in lines if "error:" in ln), None)
    proc.error_to_exit = None if first is None else t_exit - first
    return proc.returncode, "".join(ln for _, ln in lines)


def assert_one_clean_error(err, words):
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and words in lines[0], err
    for bad in ("Traceback", "Exception ignored", "Segmentation", "H5F", "MPI_ABORT"):
        assert bad not in err, err


def numeric(path):
    cols, attrs, _ = read_results(path)
    return {k: v for k, v in cols.items() if np.asarray(v).dtype.kind in "fiub"}, attrs


def resume_matches(job, out, reference):
    """Run the job again on 2 ranks: it resumes the checkpoint at ``out`` and ends with the reference's file (every
    numeric column, with its dtype, bit for bit)."""
    proc = run_mpi(2, ["-m", "mpiheat.run", str(job), "--quiet", "--progress", "off"], cwd=job.parent)
    assert "resuming" in proc.stderr
    cols, attrs = numeric(out)
    assert attrs["complete"]
    assert set(cols) == set(reference)
    for k in reference:
        assert cols[k].dtype == reference[k].dtype, k
        assert np.array_equal(cols[k], reference[k], equal_nan=True), k


def table(case, code, seconds, state):
    print(f"\nFAULT-TABLE | {case} | {code} | {seconds:.1f} s | {state}")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted 2-rank run of the job the signal tests interrupt."""
    tmp = tmp_path_factory.mktemp("ref")
    job = write_job(tmp, coll=SIGNAL_COLL)
    run_mpi(2, ["-m", "mpiheat.run", str(job), "--quiet", "--progress", "off"], cwd=tmp)
    cols, attrs = numeric(tmp / "r.h5")
    assert attrs["complete"] and cols["done"].all()
    return cols


# --------------------------------------------------------------------------------------------------------------------
# 1. Failures end every rank: unwritable output, full disk (injected and real), final write


def test_output_folder_removed_mid_run_ends_all_ranks(tmp_path):
    """The issue's hang reproducer: the output folder disappears while the run is going."""
    folder = tmp_path / "v"
    folder.mkdir()
    job = write_job(tmp_path, out="v/v.h5")
    proc = mpirun_popen(job)
    assert wait_for(lambda: partial_checkpoint(folder / "v.h5"), proc), "no checkpoint before the end"
    shutil.rmtree(folder)
    t0 = time.time()
    code, err = finish(proc)
    dt = time.time() - t0
    assert code == 1, err
    assert dt < LIMIT, f"{dt:.0f} s to exit"  # the failure surfaces at the next checkpoint, one round later
    assert_one_clean_error(err, "cannot write results to")
    assert proc.error_to_exit < LIMIT
    table("output folder removed mid-run", code, proc.error_to_exit, "folder gone; nothing left behind")


@pytest.mark.parametrize("rank", [0, 1])
def test_exception_on_one_rank_mid_run_ends_all_ranks(tmp_path, rank):
    """An exception on one rank only (MPIHEAT_FAIL_RANK=rank:point), after checkpoints: that rank reports it (with
    its traceback: it is a bug) and aborts every rank; the last checkpoint stays intact."""
    job = write_job(tmp_path, n=4, coll=2000)
    out = tmp_path / "r.h5"
    proc = mpirun_popen(job, env={"MPIHEAT_FAIL_RANK": f"{rank}:2"})
    code, err = finish(proc)
    assert code == 1, err
    assert f"[mpiheat rank {rank}/2] error: RuntimeError: injected failure" in err
    assert proc.error_to_exit < LIMIT
    done, total = partial_checkpoint(out)
    assert done == 2 and total == 4
    table(f"exception on rank {rank} at point 2", code, proc.error_to_exit, f"checkpoint {done}/{total} intact")


@pytest.mark.parametrize("when", ["2", "final"])
def test_injected_full_disk(tmp_path, when):
    """ENOSPC half-way through writing the temporary file (MPIHEAT_FAIL_WRITE): at the second checkpoint, or at the
    final write of a run without intermediate checkpoints."""
    job = write_job(tmp_path, n=4, coll=2000, ckpt=0 if when == "2" else 1e6)
    out = tmp_path / "r.h5"
    proc = mpirun_popen(job, env={"MPIHEAT_FAIL_WRITE": when})
    first = {}
    if when == "2":  # remember the first checkpoint, which must survive
        assert wait_for(lambda: partial_checkpoint(out), proc, step=0.01)
        first["bytes"] = out.read_bytes()
    code, err = finish(proc)
    assert code == 1, err
    assert_one_clean_error(err, "No space left on device")
    assert not list(tmp_path.glob("*.tmp")) and not os.path.exists(lock_path(out))
    if when == "2":
        assert out.read_bytes() == first["bytes"], "the previous checkpoint must stay intact"
        done, total = partial_checkpoint(out)
        state = f"previous checkpoint intact ({done}/{total} done, verifies)"
    else:
        assert not out.exists()
        state = "no file (nothing before), no temp file"
    assert proc.error_to_exit < LIMIT
    table(f"ENOSPC injected at write {when}", code, proc.error_to_exit, state)


@pytest.fixture
def small_tmpfs(tmp_path):
    """A real 1 MiB tmpfs (root only), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "fs"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def fill(folder):
    """Fill the file system of ``folder`` to the last byte."""
    with open(folder / "filler", "wb", buffering=0) as fh:
        chunk = b"\0" * 4096
        try:
            while True:
                fh.write(chunk)
        except OSError as e:
            assert e.errno == errno.ENOSPC
    with open(folder / "filler2", "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0")
        except OSError:
            pass


def test_real_full_disk_mid_run(tmp_path, small_tmpfs, reference):
    """A real full tmpfs at a checkpoint: one line, exit 1, no segfault; the previous checkpoint is intact and
    resumes to the same numbers once there is room again."""
    job = write_job(tmp_path, out="fs/r.h5", coll=SIGNAL_COLL)
    out = small_tmpfs / "r.h5"
    proc = mpirun_popen(job)
    assert wait_for(lambda: partial_checkpoint(out), proc), "no checkpoint before the end"
    fill(small_tmpfs)
    t0 = time.time()
    before = out.read_bytes()
    code, err = finish(proc)
    dt = time.time() - t0
    assert code == 1, err  # not 139
    assert dt < LIMIT
    assert_one_clean_error(err, "No space left on device")
    assert out.read_bytes() == before
    done, total = partial_checkpoint(out)
    assert not list(small_tmpfs.glob("*.tmp"))
    table("real full tmpfs at a checkpoint", code, proc.error_to_exit, f"previous checkpoint intact ({done}/{total}), "
          "resumable")
    (small_tmpfs / "filler").unlink()
    (small_tmpfs / "filler2").unlink()
    resume_matches(job, out, reference)


# --------------------------------------------------------------------------------------------------------------------
# 2. Integrity


def test_corrupt_checkpoint_is_refused(tmp_path):
    job = write_job(tmp_path, n=4, coll=2000)
    out = tmp_path / "r.h5"
    # A partial checkpoint: the run fails at its second write and leaves the first one.
    code, err = finish(mpirun_popen(job, env={"MPIHEAT_FAIL_WRITE": "2"}))
    assert code == 1 and partial_checkpoint(out)
    with h5py.File(out, "r") as f:
        offset = f["results/t_RL"].id.get_offset()
        assert f["results/done"][0] and np.isfinite(f["results/t_RL"][0])
    with open(out, "r+b") as fh:  # 8 bytes of row 0, a finished point
        fh.seek(offset)
        fh.write(b"\xff" * 8)
    corrupt = out.read_bytes()
    with pytest.raises(CorruptResultsError, match="/results/t_RL"):
        read_results(out)
    t0 = time.time()
    code, err = finish(mpirun_popen(job))
    dt = time.time() - t0
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1 and "/results/t_RL" in errors[0] and "checksum" in errors[0], err
    assert "Traceback" not in err
    assert out.read_bytes() == corrupt, "a corrupt file is neither resumed nor overwritten"
    table("corrupt /results/t_RL, resume", code, dt, "refused; file untouched; read_results raises")


# --------------------------------------------------------------------------------------------------------------------
# 3. One writer per output


def test_second_run_on_the_same_output_exits_2(tmp_path):
    # long enough (~10 s on an idle core) that both refusals happen while the first run holds the lock
    job_a = write_job(tmp_path, name="a.toml", n=6, coll=100000)
    job_b = write_job(tmp_path, name="b.toml", n=6, coll=100000, seed=8)  # a different job on the same output
    out = tmp_path / "r.h5"
    lock = lock_path(out)
    a = mpirun_popen(job_a)
    holder = wait_for(lambda: os.path.exists(lock) and open(lock).read().count("\n") >= 3 and open(lock).read(), a)
    assert holder, "no lock file while the first run is going"
    pid = [ln.split("=")[1] for ln in holder.splitlines() if ln.startswith("pid=")][0]
    for job in (job_a, job_b):  # the same job and a different one
        t0 = time.time()
        code, err = finish(mpirun_popen(job))
        dt = time.time() - t0
        assert code == 2, err
        assert dt < LIMIT
        assert f"host {socket.gethostname()}, pid {pid}" in err and "in use by another run" in err, err
        assert a.poll() in (None, 0), "the first run must not be disturbed (still running, or finished cleanly)"
        table(f"second run ({job.stem}) on a busy output", code, dt, "refused at once; first run unaffected")
    code, err = finish(a, timeout=600)
    assert code == 0, err
    _, attrs, _ = read_results(out)
    assert attrs["complete"] and "seed = 7" in attrs["job"]
    assert not os.path.exists(lock), "the lock file is removed at the end"


def test_stale_lock_is_taken_over(tmp_path):
    job = write_job(tmp_path, n=2, coll=2000)
    out = tmp_path / "r.h5"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with open(lock_path(out), "w") as fh:
        fh.write(f"host={socket.gethostname()}\npid={dead.pid}\nsince=2026-01-01T00:00:00\n")
    proc = run_mpi(2, ["-m", "mpiheat.run", str(job), "--quiet", "--progress", "off"], cwd=tmp_path)
    assert "stale lock" in proc.stderr and f"pid {dead.pid}" in proc.stderr, proc.stderr
    _, attrs, _ = read_results(out)
    assert attrs["complete"]
    assert not os.path.exists(lock_path(out))


# --------------------------------------------------------------------------------------------------------------------
# 4. Permissions


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_results_honour_the_umask(tmp_path, umask, mode):
    job = write_job(tmp_path, n=2, coll=2000)
    run_mpi(2, ["-m", "mpiheat.run", str(job), "--quiet", "--progress", "off"], cwd=tmp_path,
            preexec_fn=lambda: os.umask(umask))
    assert os.stat(tmp_path / "r.h5").st_mode & 0o777 == mode


# --------------------------------------------------------------------------------------------------------------------
# 5. Signals


def _ranks_of(proc) -> list[int]:
    """PIDs of the python ranks started by an MPI launcher: its children (Open MPI) or grandchildren (MPICH Hydra's
    proxy in between) that run mpiheat.run."""
    ranks, todo = [], [proc.pid]
    while todo:
        kids = subprocess.run(["pgrep", "-P", str(todo.pop())], capture_output=True, text=True).stdout.split()
        for kid in map(int, kids):
            try:
                cmdline = open(f"/proc/{kid}/cmdline", "rb").read()
            except OSError:
                continue
            (ranks if b"mpiheat.run" in cmdline else todo).append(kid)
    return ranks


def _catches(pid: int, sig: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (sig - 1) & 1)
    except OSError:
        pass
    return False


@pytest.mark.parametrize("resume", [False, True])
def test_sigusr1_during_startup_ends_cleanly_with_75(tmp_path, resume):
    """SIGUSR1 to mpirun (forwarded to the ranks) as soon as the ranks' handler is installed, i.e. while they still
    import numpy/mpi4py/h5py: exit 75, nothing new written; an existing checkpoint is left as it was."""
    job = write_job(tmp_path, n=4, coll=2000)
    out = tmp_path / "r.h5"
    before = None
    if resume:
        finish(mpirun_popen(job, env={"MPIHEAT_FAIL_WRITE": "2"}))
        before = out.read_bytes()
    proc = mpirun_popen(job)

    def ready():
        ranks = _ranks_of(proc)
        return len(ranks) == 2 and all(_catches(p, signal.SIGUSR1) for p in ranks)

    assert wait_for(ready, proc, timeout=60, step=0.002), "the ranks never installed a SIGUSR1 handler"
    assert not os.path.exists(lock_path(out)), "the signal must arrive during start-up"
    proc.send_signal(signal.SIGUSR1)
    t0 = time.time()
    code, err = finish(proc)
    dt = time.time() - t0
    assert code == 75, err
    assert "interrupted: stopped on request" in err and "Traceback" not in err
    if resume:
        assert out.read_bytes() == before
        state = "checkpoint unchanged, resumable"
    else:
        assert not out.exists() and "nothing computed yet" in err
        state = "no file"
    assert not os.path.exists(lock_path(out))
    table(f"SIGUSR1 during start-up ({'with' if resume else 'no'} checkpoint)", code, dt, state)


@pytest.mark.parametrize("sig, expected", [(signal.SIGUSR1, 75), (signal.SIGTERM, 1), (signal.SIGINT, 1)])
def test_signal_to_mpirun_then_resume_is_identical(tmp_path, reference, sig, expected):
    """OpenMPI 4.1's mpirun forwards SIGUSR1 to the ranks (they checkpoint and exit 75, and mpirun returns 75). On
    SIGTERM/SIGINT it sends the ranks SIGCONT, then SIGTERM, then SIGKILL (odls_base_sigkill_timeout = 1 s apart) and
    returns 1 whatever the ranks do. Either way the file is a valid checkpoint and the resumed run is bit-identical."""
    if find_launcher().family == "mpich":  # MPICH's Hydra forwards SIGTERM/SIGINT too: the ranks checkpoint, exit 75
        expected = 75
    job = write_job(tmp_path, coll=SIGNAL_COLL)
    out = tmp_path / "r.h5"
    proc = mpirun_popen(job)
    assert wait_for(lambda: partial_checkpoint(out), proc), "no checkpoint before the end"
    proc.send_signal(sig)
    t0 = time.time()
    code, err = finish(proc)
    dt = time.time() - t0
    assert code == expected, err
    assert dt < LIMIT
    done, total = partial_checkpoint(out)  # a temporary file may be left if SIGKILL came mid-write
    table(f"{signal.Signals(sig).name} to mpirun", code, dt, f"checkpoint {done}/{total}, resume bit-identical")
    resume_matches(job, out, reference)
    assert not list(tmp_path.glob("*.tmp")), "the resumed run removes temporary files of a killed one"


# --------------------------------------------------------------------------------------------------------------------
# 6. Building blocks, in process (fast)


def test_checksums_cover_strings_extra_groups_and_attributes(tmp_path):
    from mpiheat.io import write_results

    path = tmp_path / "x.h5"
    write_results(path, {"T": [1.0, 2.0], "converged": ["yes", "no"], "done": [True, False]},
                  {"complete": False, "job": "[job]\nkind = 'x'\n"}, {"spectrum": {"E": np.arange(3.0)}})
    cols, attrs, extra = read_results(path)
    assert attrs["checksum"] == "sha256" and list(cols["converged"]) == ["yes", "no"]
    assert np.array_equal(extra["spectrum"]["E"], np.arange(3.0))
    clean = path.read_bytes()
    for needle, where in ((b"no", "dataset /results/converged"), (b"kind = 'x'", "attributes of /")):
        data = bytearray(clean)
        i = data.rindex(needle) if needle == b"no" else data.index(needle)
        data[i] ^= 0x01
        path.write_bytes(bytes(data))
        with pytest.raises(CorruptResultsError, match=where):
            read_results(path)
    with h5py.File(path, "w") as f:  # a file of an older mpiheat: no checksums, read as it is
        f.attrs["complete"] = True
        f.create_dataset("results/J", data=[1.0])
    cols, attrs, _ = read_results(path)
    assert "checksum" not in attrs and cols["J"][0] == 1.0


def test_lock_is_exclusive_across_processes_and_reentrant(tmp_path):
    from mpiheat.io import lock

    out = tmp_path / "r.h5"
    holder = subprocess.Popen([sys.executable, "-c", f"from mpiheat.io import lock; l = lock.acquire({str(out)!r}); "
                               "print('held', flush=True); import sys; sys.stdin.read()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(lock.OutputBusyError, match=f"pid {holder.pid}"):
            lock.acquire(out)
    finally:
        holder.communicate("", timeout=30)  # releases the lock and removes the file
    assert not os.path.exists(lock_path(out))
    held = lock.acquire(out)
    assert lock.acquire(tmp_path / "." / "r.h5") is held and lock.held(out) is held
    held.release()
    assert lock.held(out) is None and not os.path.exists(lock_path(out))
    # A holder killed without any clean-up leaves a stale file; the next run takes it over.
    holder = subprocess.Popen([sys.executable, "-c", f"from mpiheat.io import lock; lock.acquire({str(out)!r}); "
                               "print('held', flush=True); import time; time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait()
    assert os.path.exists(lock_path(out))
    lock.acquire(out).release()
