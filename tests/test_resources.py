"""Memory estimates before heavy work (issue 10, "What must hold" 4): the model against measured peak RSS, refusals
with exit 2 and one line showing the estimate, the launcher's world size, and the [job] max_memory key."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
import time

import pytest

from mpiheat.config import JobError, parse_bytes
from mpiheat.kinds import parse_job
from mpiheat.resources import (
    check_memory,
    estimate,
    fmt_bytes,
    local_ranks_from_env,
    memory_available,
    world_size_from_env,
)

MiB = 2**20

QUANTUM = """
[job]
kind = "quantum"
output = "{out}"
{job}
[system]
particles = {particles}
[temperatures]
T_L = 100.0
T_R = [10.0]
[quantum]
levels = {levels}
gamma = 1e-3
max_top_weight = 1.0  # small N on purpose: only the memory estimate is under test here
{quantum}
"""

CLASSICAL = """
[job]
kind = "classical"
output = "{out}"
{job}
[temperatures]
T_L = 100.0
T_R = [10.0]
[classical]
trajectories = {trajectories}
collisions = 2
warmup = 0
"""


def quantum(tmp_path, levels, equation="pauli", particles=1, job="", quantum_extra=""):
    extra = f'equation = "{equation}"\n' + quantum_extra
    if particles == 2:
        extra += "kappa_classical = 1.0\n"
    return QUANTUM.format(out=tmp_path / "r.h5", levels=levels, particles=particles, job=job, quantum=extra)


# Peak RSS of a whole ``python -m mpiheat.run`` (the calibration of mpiheat.resources), measured in a child process.
# VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over execve from the image it replaces, and subprocess
# starts children by vfork, so ru_maxrss would report the (large) peak of this pytest process.
MEASURE = textwrap.dedent("""
    import runpy, sys
    sys.argv = ["mpiheat.run"] + sys.argv[1:]
    code = 0
    try:
        runpy.run_module("mpiheat.run", run_name="__main__")
    except SystemExit as e:
        code = e.code
    with open("/proc/self/status") as f:
        hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    print("PEAK", code, hwm * 1024)
""")


def peak_rss(job_path, cwd) -> int:
    proc = subprocess.run([sys.executable, "-c", MEASURE, str(job_path), "--quiet", "--progress", "off"],
                          capture_output=True, text=True, timeout=600, cwd=cwd)
    line = [x for x in proc.stdout.splitlines() if x.startswith("PEAK")][-1].split()
    assert line[1] == "0", proc.stderr
    return int(line[2])


@pytest.mark.parametrize("levels,equation", [(1500, "pauli"), (500, "lindblad")])
def test_estimate_bounds_measured_peak_rss(tmp_path, levels, equation):
    """The model is an upper bound of the measured peak RSS, and not a wild one (within 2.5x)."""
    text = quantum(tmp_path, levels, equation, quantum_extra='backend = "scipy"\n')
    job = tmp_path / "job.toml"
    job.write_text(text)
    measured = peak_rss(job, tmp_path)
    est = estimate(parse_job(text, "job.toml"), 1).total
    assert measured <= est <= 2.5 * measured, (fmt_bytes(measured), fmt_bytes(est))


def test_estimate_scales_with_each_driver(tmp_path):
    def est(text):
        return estimate(parse_job(text, "x.toml"), 1)

    small, big = est(quantum(tmp_path, 100)), est(quantum(tmp_path, 10_000))
    assert big.total - small.total == pytest.approx(120.0 * (10_000**2 - 100**2), rel=1e-9)  # Pauli: c N^2
    assert big.key == "[quantum] levels" and "pauli N = 10000" in big.detail
    # Lindblad on 4 ranks per point (PETSc): the distributed part shrinks with the ranks, the replicated part not.
    # (A job asking for backend = "petsc" is refused where petsc4py is missing, i.e. on the PyPI stack.)
    if importlib.util.find_spec("petsc4py") is not None:
        l1 = estimate(parse_job(quantum(tmp_path, 2000, "lindblad", quantum_extra='backend = "petsc"\n'), "x"), 1)
        l4 = estimate(parse_job(quantum(tmp_path, 2000, "lindblad", quantum_extra='backend = "petsc"\n'), "x"), 4)
        assert l4.total < l1.total and "4 ranks per point" in l4.detail
    # Redfield's dense eigenvalue check is O(N^4).
    r_dense = est(quantum(tmp_path, 60, "redfield", quantum_extra='redfield_eigs = "dense"\n'))
    r_none = est(quantum(tmp_path, 60, "redfield", quantum_extra='redfield_eigs = "none"\n'))
    assert r_dense.total - r_none.total == pytest.approx(13.0 * 60**4, rel=1e-9)
    # Two particles: the triangle basis dominates; MD: trajectories; sweeps: points.
    two = est(quantum(tmp_path, 400, particles=2))
    assert "two-particle basis n_b" in two.detail and two.total > est(quantum(tmp_path, 400)).total
    t1 = est(CLASSICAL.format(out=tmp_path / "r.h5", job="", trajectories=10))
    t2 = est(CLASSICAL.format(out=tmp_path / "r.h5", job="", trajectories=10**6 + 10))
    assert t2.total - t1.total == 220 * 10**6 and t2.key == "[classical] trajectories"
    sweep = est(quantum(tmp_path, 2).replace("T_R = [10.0]", "T_R = {logspace = [-1, 1, 1000000]}"))
    assert sweep.parts["sweep"] == 4600 * 10**6


def test_max_memory_key_and_units(tmp_path):
    assert parse_bytes("4GiB") == 4 * 2**30 and parse_bytes("500 MB") == 500 * 10**6 and parse_bytes(1024) == 1024
    assert parse_bytes("1.5k") == 1500
    cfg = parse_job(quantum(tmp_path, 2000, job='max_memory = "100MiB"'), "x.toml")
    with pytest.raises(JobError) as e:
        check_memory(cfg, 1)
    msg = str(e.value)
    assert msg.startswith("x.toml: [quantum] levels: estimated peak memory ") and "\n" not in msg
    assert "100 MiB available per rank ([job] max_memory)" in msg and "pauli N = 2000" in msg
    ok = parse_job(quantum(tmp_path, 2000, job='max_memory = "8GiB"'), "x.toml")
    assert check_memory(ok, 1).total < 8 * 2**30
    for bad in ('"4 lots"', '"GiB"', "-1", "0", '"1e30 TiB"', "true"):
        with pytest.raises(JobError, match=r"\[job\] max_memory"):
            parse_job(quantum(tmp_path, 10, job=f"max_memory = {bad}"), "x.toml")
    # max_memory does not change what the results are: a checkpoint made under another limit still resumes.
    assert ok.identity() == parse_job(quantum(tmp_path, 2000), "x.toml").identity()


def test_world_size_and_local_ranks_from_launcher_env(monkeypatch):
    for v in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS", "OMPI_COMM_WORLD_LOCAL_SIZE",
              "MPI_LOCALNRANKS", "SLURM_STEP_TASKS_PER_NODE"):
        monkeypatch.delenv(v, raising=False)
    assert world_size_from_env() == 1 and local_ranks_from_env(1) == 1
    monkeypatch.setenv("SLURM_STEP_NUM_TASKS", "8")
    monkeypatch.setenv("SLURM_STEP_TASKS_PER_NODE", "4(x2)")
    assert world_size_from_env() == 8 and local_ranks_from_env(8) == 4
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "3")  # mpirun's own variable wins
    monkeypatch.delenv("SLURM_STEP_TASKS_PER_NODE")
    assert world_size_from_env() == 3 and local_ranks_from_env(3) == 3


def test_memory_available_is_plausible():
    avail, src = memory_available()
    assert src in ("MemAvailable", "cgroup memory limit")
    with open("/proc/meminfo") as fh:
        total = int(next(x for x in fh if x.startswith("MemTotal:")).split()[1]) * 1024
    assert 0 < avail <= total


def _cap_memory():
    # Safety net for a shared machine: were a refusal to fail, the job must die at once, not take the node's memory.
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (8 * 2**30, 8 * 2**30))


def _cli(args, cwd, env=None, timeout=120):
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "mpiheat.run", *args, "--progress", "off"], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout, env=env, preexec_fn=_cap_memory)
    return proc, time.monotonic() - t0


def _assert_refused(proc, dt, tmp_path, key, words=("estimated peak memory",), launcher=False):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    if launcher:  # mpirun adds its own banner about the non-zero exit: keep only what our ranks printed
        lines = [x for x in lines if x.startswith(("error:", "[mpiheat", "Traceback"))]
    assert len(lines) == 1 and key in lines[0] and all(w in lines[0] for w in words), proc.stderr
    assert "Traceback" not in proc.stderr and "MemoryError" not in proc.stderr
    assert dt < 30
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("r.h5")]


@pytest.mark.parametrize("text_of,key", [
    (lambda t: quantum(t, "1e7"), "[quantum] levels"),
    (lambda t: quantum(t, 100_000, "lindblad"), "[quantum] levels"),
    (lambda t: quantum(t, 100_000, particles=2), "[quantum] levels"),
    (lambda t: quantum(t, 60, "redfield", quantum_extra='redfield_eigs = "dense"\n', job='max_memory = "250MiB"'),
     "[quantum] levels"),
    (lambda t: CLASSICAL.format(out=t / "r.h5", job="", trajectories="1e9"), "[classical] trajectories"),
    (lambda t: quantum(t, 3000, job='max_memory = "200MiB"'), "[quantum] levels"),
])
def test_cli_refuses_jobs_that_do_not_fit(tmp_path, text_of, key):
    job = tmp_path / "big.toml"
    job.write_text(text_of(tmp_path))
    proc, dt = _cli([str(job)], tmp_path)
    _assert_refused(proc, dt, tmp_path, key, ("estimated peak memory", "available per rank", str(job)))


def test_relaxation_dense_analysis_refused(tmp_path):
    text = quantum(tmp_path, 150, "redfield").replace('kind = "quantum"', 'kind = "relaxation"')
    text += '[relaxation]\nmodel = "quantum"\n'
    job = tmp_path / "relax.toml"
    job.write_text(text.replace("[job]\n", '[job]\nmax_memory = "2GiB"\n', 1))
    proc, dt = _cli([str(job)], tmp_path)
    _assert_refused(proc, dt, tmp_path, "[quantum] levels", ("dense spectral analysis",))


def test_world_size_from_mpirun_divides_node_memory(tmp_path, mpirun):
    """Under mpirun -n 2 each rank may use half of the node: a job that fits one rank but not two is refused by
    both ranks at once (exit 2, one line from rank 0), before MPI start-up."""
    avail, _ = memory_available()
    # Pauli memory ~ 120 N^2 bytes: choose N whose estimate is ~70 % of the node's available memory.
    n = int(((0.7 * avail) / 120.0) ** 0.5)
    job = tmp_path / "half.toml"
    job.write_text(quantum(tmp_path, n))
    cfg = parse_job(job.read_text(), str(job))
    assert check_memory(cfg, 1, 1).total > avail / 2  # fits one rank, not two on this node
    t0 = time.monotonic()
    proc = mpirun(2, ["-m", "mpiheat.run", str(job), "--progress", "off"], check=False, timeout=120, cwd=tmp_path,
                  preexec_fn=_cap_memory)
    dt = time.monotonic() - t0
    _assert_refused(proc, dt, tmp_path, "[quantum] levels", ("shared by 2 ranks on this node",), launcher=True)


def test_env_override_reaches_check(tmp_path):
    """SLURM_STEP_NUM_TASKS (srun) is read as the world size when mpirun's variables are absent."""
    avail, _ = memory_available()
    n = int(((0.6 * avail) / 120.0) ** 0.5)
    job = tmp_path / "srun.toml"
    job.write_text(quantum(tmp_path, n))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_COMM_WORLD", "PMI_", "SLURM_"))}
    env.update(SLURM_STEP_NUM_TASKS="4", SLURM_STEP_TASKS_PER_NODE="4")
    proc, dt = _cli([str(job)], tmp_path, env=env)
    _assert_refused(proc, dt, tmp_path, "[quantum] levels", ("shared by 4 ranks on this node",))


def test_relaxation_output_times_counted(tmp_path):
    text = quantum(tmp_path, 30, "lindblad").replace('kind = "quantum"', 'kind = "relaxation"')
    small = estimate(parse_job(text + '[relaxation]\nmodel = "quantum"\ntimes = 200\n', "x"), 1)
    big = parse_job(text + '[relaxation]\nmodel = "quantum"\ntimes = 1e9\n', "x")
    assert estimate(big, 1).total - small.total == pytest.approx(48.0 * 30**2 * (10**9 - 200), rel=1e-9)
    with pytest.raises(JobError, match=r"x: \[relaxation\] times: estimated peak memory .*1000000000 output times"):
        check_memory(big, 1)


def test_dense_redfield_check_beyond_its_limit_is_bad_input(tmp_path):
    """redfield_eigs = "dense" past N = 60 (where the dense generator is refused) is a one-line input error, before
    any work, whatever the memory (it used to end in a ValueError traceback when the memory estimate let it pass)."""
    job = tmp_path / "big.toml"
    job.write_text(quantum(tmp_path, 200, "redfield", quantum_extra='redfield_eigs = "dense"\n'))
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "mpiheat.run", str(job)], capture_output=True, text=True, timeout=120)
    _assert_refused(proc, time.monotonic() - t0, tmp_path, "[quantum] redfield_eigs", ("N <= 60", "got N = 200"))


@pytest.mark.petsc
def test_two_particle_sparse_estimate_bounds_the_measured_runs():
    """The distributed sparse two-particle spectrum (the default where PETSc is installed) is estimated from its own
    terms, not from the dense n_b x n_b model (which asked 23 GiB for N = 2200, measured 1.56 GB per rank): the model
    is an upper bound of every measured run and within 2x of it, and it falls with the ranks."""
    import math

    from mpiheat.resources import BASE, CALIBRATION, MiB, solver_bytes

    masses = (1.0, math.sqrt(2.0))
    runs = [(N, r, peak) for what, N, r, peak in CALIBRATION if what.endswith("sparse spectrum")]
    assert len(runs) >= 4
    for N, r, peak in runs:
        est = (BASE + solver_bytes("pauli", N, masses=masses, spectrum_ranks=r)[0]) / MiB
        assert peak <= est <= 2 * peak, (N, r, peak, est)
    one, two = (solver_bytes("pauli", 2200, masses=masses, spectrum_ranks=r)[0] for r in (1, 2))
    assert two < 0.6 * one
