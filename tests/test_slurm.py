"""The Slurm templates on a real single-node Slurm (Debian packages), started and stopped by this module.

The session fixture installs ``slurmctld slurmd slurm-client munge`` when missing (apt-get, as root), starts munged,
slurmctld and slurmd with a private configuration under a temporary folder (Slurm's default ``MpiDefault``, free
ports, a fresh munge key; see ``tools/slurm/harness.py``) and stops them by PID at the end, also when a test fails.
It skips, with the reason, only where that is impossible (not root, no apt-get).

Jobs run at a reduced scale with ``--ntasks=2`` on a 2-CPU node; no sacct (no slurmdbd): the state comes from
``scontrol show job`` (``MinJobAge=600``) and the job-completion log.

The same tests run on both stacks, with the interpreter running them as the jobs' ``MPIHEAT_PYTHON``: Debian's Open MPI
(the template picks ``srun --mpi=pmix``) and the ``mpich`` wheel (``srun --mpi=pmi2``, or the wheel's Hydra
``mpiexec``). The launcher follows mpi4py's library on either, and a mismatch is refused the same way (exit 2).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mpiheat.launcher import find_launcher, mpiexec, srun_mpi_plugins

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(900)

_spec = importlib.util.spec_from_file_location("mpiheat_slurm_harness", ROOT / "tools" / "slurm" / "harness.py")
harness = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = harness  # dataclasses look their module up there
_spec.loader.exec_module(harness)

FINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE",
         "PREEMPTED"}
# Reduced-scale settings (a few seconds per job on 2 ranks).
SMALL = ["--set", "classical.collisions=200", "--set", "temperatures.T_R=[1.0, 10.0]"]
FIG2_SMALL = ["--set", "bath.steps=[300]", "--set", "bath.proposal=[1.0]", "--set", "temperatures.T_R=[1.0, 10.0]",
              "--set", "classical.trajectories=4", "--set", "classical.collisions=200"]
TIMES: dict[str, float] = {}


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    """A running private Slurm (:class:`harness.Cluster`); every daemon stopped by PID afterwards."""
    reason = harness.cannot_install_reason()
    if reason:
        pytest.skip(reason)
    if os.geteuid() != 0:
        pytest.skip("a private slurmctld/slurmd (SlurmUser=root) needs root")
    TIMES["install"] = harness.install()
    t0 = time.monotonic()
    cluster = harness.start(tmp_path_factory.mktemp("slurm"), cpus=2)
    TIMES["start"] = time.monotonic() - t0
    try:
        yield cluster
    finally:
        t0 = time.monotonic()
        cluster.stop()
        TIMES["stop"] = time.monotonic() - t0
        alive = [n for n, p in cluster.procs.items() if p.poll() is None]
        print(f"\n[slurm] install {TIMES['install']:.1f} s, start {TIMES['start']:.1f} s, "
              f"stop {TIMES['stop']:.1f} s; still alive: {alive or 'none'}")


def _env(cluster, **extra) -> dict:
    # Not the variables of a Slurm job this test session may itself run in: only our private cluster counts.
    env = cluster.env({k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_", "SRUN_"))})
    # The shared (warm) numba cache: the tests check Slurm, not compile time (tests/test_warmup.py checks warm-up).
    env["MPIHEAT_NUMBA_CACHE_DIR"] = os.environ.get("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache"))
    for k in ("MPIHEAT_ROOT", "MPIHEAT_WORKDIR", "MPIHEAT_LAUNCHER", "MPIHEAT_SRUN_MPI", "MPIHEAT_STOP_LEAD",
              "MPIHEAT_MPIEXEC", "MPIHEAT_PYTHON"):
        env.pop(k, None)
    # The jobs run this stack's interpreter; on the Debian stack that is the template's default (left unset, so the
    # default is what is tested there).
    if Path(sys.executable) != ROOT / ".venv" / "bin" / "python":
        env["MPIHEAT_PYTHON"] = sys.executable
    env.update(extra)
    return env


def matching_step(launcher: str = "srun") -> str:
    """The launcher words the template must log for this stack (mpi4py's library decides, mpiheat/launcher.py)."""
    if launcher == "srun":
        return f"srun --cpu-bind=cores --mpi={stack_plugins()[0]}"
    return " ".join([*find_launcher(sys.executable).command, "-n", "2", "--bind-to", "core"])


def stack_plugins() -> tuple[str, ...]:
    """The srun --mpi plugins of this stack's MPI library: ("pmix",) for Debian's Open MPI, ("pmi2",) for MPICH."""
    return srun_mpi_plugins(sys.executable)


def submit(cluster, script: str, args: list[str], cwd: Path, sbatch: tuple = (), **env) -> str:
    """``sbatch --parsable --ntasks=2 [sbatch] SCRIPT ARGS`` from ``cwd``; returns the job id."""
    cmd = ["sbatch", "--parsable", "--ntasks=2", *sbatch, script, *args]
    r = cluster.run(*cmd, cwd=cwd, env=_env(cluster, **env))
    assert r.returncode == 0, f"{' '.join(cmd)}: {r.stdout}{r.stderr}"
    return r.stdout.strip().split(";")[0]


def job_info(cluster, job: str) -> dict:
    r = cluster.run("scontrol", "show", "job", "-o", job)
    assert r.returncode == 0, r.stderr
    return dict(w.split("=", 1) for w in r.stdout.split() if "=" in w)


def wait_final(cluster, job: str, timeout: float = 300) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        info = job_info(cluster, job)
        if info["JobState"] in FINAL:
            return info
        time.sleep(0.5)
    raise AssertionError(f"job {job} not finished after {timeout} s: {job_info(cluster, job)}")


def log_of(info: dict) -> str:
    return Path(info["StdOut"]).read_text(errors="replace")


def results(path: Path) -> tuple[dict, dict]:
    from mpiheat.io import read_results

    cols, attrs, _ = read_results(path)
    return cols, attrs


def inspect_status(path: Path) -> str:
    r = subprocess.run([sys.executable, "-m", "mpiheat.inspect", str(path), "--no-job"], capture_output=True,
                       text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    return re.search(r"^status: (\w+)", r.stdout, re.M).group(1)


CASES = {
    # name: (template relative to ROOT, job arguments, submit from the project root?, extra environment)
    "generic-root": ("jobs/slurm/mpiheat.sbatch", ["jobs/default.toml", *SMALL], True, {}),
    # from another folder, with the library's own mpiexec (the fig2 case below covers srun from another folder)
    "generic-elsewhere-mpiexec": ("jobs/slurm/mpiheat.sbatch", ["jobs/default.toml", *SMALL], False,
                                  {"MPIHEAT_LAUNCHER": "mpiexec"}),
    "fig2-root": ("jobs/slurm/fig2_classical.sbatch", FIG2_SMALL, True, {}),
    "fig2-elsewhere": ("jobs/slurm/fig2_classical.sbatch", FIG2_SMALL, False, {}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_template_completes(slurm, tmp_path, case):
    """COMPLETED with exit 0, 2 MPI ranks in the results, inspect says complete, log in the submit folder."""
    template, args, from_root, env = CASES[case]
    out = tmp_path / "out.h5"
    other = tmp_path / "elsewhere"
    other.mkdir()
    cwd = ROOT if from_root else other
    script = template if from_root else str(ROOT / template)  # as a user would type it from each folder
    t0 = time.monotonic()
    job = submit(slurm, script, [*args, "--output", str(out)], cwd, **env)
    info = wait_final(slurm, job)
    TIMES[case] = time.monotonic() - t0
    log = log_of(info)
    if from_root:
        Path(info["StdOut"]).unlink()  # do not leave logs in the working tree (the text is in `log`)
    assert info["JobState"] == "COMPLETED" and info["ExitCode"] == "0:0", log
    assert Path(info["StdOut"]).parent == cwd  # %x-%j.out relative to the submit folder
    assert "warm-up: md, 1 particle(s), mcmc bath: kernels ready" in log
    assert f"launcher: {matching_step(env.get('MPIHEAT_LAUNCHER', 'srun'))} (python " in log, log
    cols, attrs = results(out)
    assert attrs["mpi_size"] == 2 and attrs["complete"]
    assert cols["done"].all() and len(cols["done"]) == 2
    assert inspect_status(out) == "complete"


def _done(path: Path) -> int:
    from mpiheat.warmup import done_points

    return done_points(str(path))


REQUEUE_JOB = ["jobs/default.toml", "--set", "classical.collisions=1500",
               "--set", "temperatures.T_R={logspace = [-1, 2, 6]}", "--set", "job.checkpoint_interval=0"]


def test_usr1_requeue_resumes_bit_identical(slurm, tmp_path):
    """scancel --signal=USR1 mid-run: checkpoint, exit 75, requeue, resume; same numbers as one uninterrupted run."""
    out = tmp_path / "requeued.h5"
    t0 = time.monotonic()
    job = submit(slurm, str(ROOT / "jobs/slurm/mpiheat.sbatch"), [*REQUEUE_JOB, "--output", str(out)], tmp_path,
                 sbatch=("--time=2",))
    end = time.monotonic() + 240
    while _done(out) < 1:  # signal once the first points are checkpointed, before the last
        assert time.monotonic() < end, f"no checkpoint: {job_info(slurm, job)}"
        assert job_info(slurm, job)["JobState"] not in FINAL, log_of(job_info(slurm, job))
        time.sleep(0.2)
    r = slurm.run("scancel", "--signal=USR1", job)
    assert r.returncode == 0, r.stderr
    done_at_signal = _done(out)
    info = wait_final(slurm, job)
    TIMES["requeue"] = time.monotonic() - t0
    log = log_of(info)
    assert info["JobState"] == "COMPLETED" and info["ExitCode"] == "0:0", log
    assert int(info["Restarts"]) == 1, log
    assert 1 <= done_at_signal < 6
    # Both runs in the one log (--open-mode=append), the first one ended by the checkpoint and the requeue.
    assert f"run 1 of job {job}" in log and f"run 2 of job {job}" in log, log
    assert "requeueing to resume" in log
    assert log.index("requeueing to resume") < log.index(f"run 2 of job {job}")
    # The stop timer is derived from the limit: 120 s -> 10 % = 12 s before the end.
    m = re.search(r"time limit 120 s, (\d+) s left: SIGUSR1 \(checkpoint and stop\) in (\d+) s", log)
    assert m and int(m.group(1)) - int(m.group(2)) == 12, log
    # The job-completion log has both ends: the requeue and the completion.
    comp = slurm.jobcomp.read_text()
    states = re.findall(rf"JobId={job} .*?JobState=(\S+)", comp)
    assert states[-1] == "COMPLETED" and len(states) == 2, comp

    ref = tmp_path / "reference.h5"
    # the uninterrupted reference with this stack's own mpiexec (not Slurm): the numbers must not depend on either
    r = subprocess.run(mpiexec(2, sys.executable, "-m", "mpiheat.run", *REQUEUE_JOB, "--output", str(ref), "--quiet"),
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr
    a, _ = results(out)
    b, _ = results(ref)
    assert list(a) == list(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)  # bit for bit
    assert inspect_status(out) == "complete"


def test_no_progress_is_not_requeued(slurm, tmp_path):
    """A stop before any point is finished (stop lead >= time left) ends the job with 75 instead of requeueing it
    forever. The stop comes from the template's own timer (no scancel here), 1 s after the start (the minimum delay
    lowered from 30 s), so it lands during mpiheat's start-up, where it ends the run with 75 and nothing computed."""
    out = tmp_path / "none.h5"
    t0 = time.monotonic()
    job = submit(slurm, str(ROOT / "jobs/slurm/mpiheat.sbatch"), [*REQUEUE_JOB, "--output", str(out)], tmp_path,
                 sbatch=("--time=1",), MPIHEAT_STOP_LEAD="59", MPIHEAT_STOP_MIN_DELAY="1",
                 MPIHEAT_TEST_STARTUP_SLEEP="6")  # start-up outlasts the 1 s timer on any machine
    info = wait_final(slurm, job, timeout=120)
    TIMES["no-progress"] = time.monotonic() - t0
    log = log_of(info)
    assert info["JobState"] == "FAILED" and info["ExitCode"] == "75:0", log
    assert int(info["Restarts"]) == 0
    assert "not requeueing" in log and re.search(r"SIGUSR1 \(checkpoint and stop\) in 1 s", log), log
    assert _done(out) == 0


WORLD = "from mpi4py import MPI; c = MPI.COMM_WORLD; print('rank', c.Get_rank(), 'of', c.Get_size(), flush=True)"


@pytest.mark.parametrize("asked", ["default", "other"])
def test_mismatched_srun_plugin_is_refused(slurm, tmp_path, asked):
    """A launcher that does not match mpi4py's MPI library is refused before anything runs: one line, exit 2.

    ``default`` keeps Slurm's MpiDefault (none here, as on many sites), ``other`` asks for the plugin of the other
    MPI family (pmi2 under Open MPI, pmix under MPICH). A bare ``srun`` step with that plugin really gives no 2-rank
    world on this stack, and the matching one does: the refusal is warranted, and the table right for this library.
    """
    ok = stack_plugins()
    bad = "default" if asked == "default" else ("pmi2" if ok[0] == "pmix" else "pmix")
    out = tmp_path / "refused.h5"
    t0 = time.monotonic()
    job = submit(slurm, str(ROOT / "jobs/slurm/mpiheat.sbatch"),
                 ["jobs/default.toml", "--set", "classical.collisions=200", "--set", "temperatures.T_R=[1.0]",
                  "--output", str(out)], tmp_path, MPIHEAT_SRUN_MPI=bad)
    info = wait_final(slurm, job, timeout=120)
    elapsed = time.monotonic() - t0
    log = log_of(info)
    assert info["JobState"] == "FAILED" and info["ExitCode"] == "2:0", log
    assert int(info["Restarts"]) == 0
    lines = [ln for ln in log.splitlines() if ln.strip()]
    assert len(lines) == 1, log  # one clear line: nothing was started, so no MPI_Init noise
    assert lines[0].startswith("mpiheat.launcher: error: ") and "cannot start ranks of" in lines[0], log
    assert ("MpiDefault=none" if bad == "default" else f"srun --mpi={bad} ") in lines[0], log
    assert f"needs srun --mpi={ok[0]}" in lines[0] and sys.executable in lines[0], log
    assert not out.exists()
    assert elapsed < 60, elapsed  # refused up front (scheduling + the library probe), not after a warm-up or a run

    # The pitfall itself, as a plain 2-task step: the refused plugin gives no rank a 2-rank world (they die in
    # MPI_Init or each run alone), the matching one does.
    env = _env(slurm)
    refused = slurm.run("srun", "-n", "2", *([] if bad == "default" else [f"--mpi={bad}"]), sys.executable, "-c",
                        WORLD, env=env, cwd=tmp_path, timeout=120)
    assert "of 2" not in refused.stdout, refused.stdout + refused.stderr
    matching = slurm.run("srun", "-n", "2", f"--mpi={ok[0]}", sys.executable, "-c", WORLD, env=env, cwd=tmp_path,
                         timeout=120)
    assert matching.returncode == 0, matching.stderr
    ranks = sorted(ln for ln in matching.stdout.splitlines() if ln.startswith("rank "))
    assert ranks == ["rank 0 of 2", "rank 1 of 2"], matching.stdout
