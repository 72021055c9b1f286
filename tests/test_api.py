"""The Python API (issue 11): ``mpiheat.run(job, ...)`` equals the command line bit for bit (every column, with its
dtype), writes nothing without ``output``, takes overrides like ``--set``; ``mpiheat.load`` reads a file back with the
declaration; ``Results.to_xarray`` maps the sweep axes to dimensions."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import numpy as np
import pytest

import mpiheat
from conftest import ROOT, child_env
from mpiheat.io import read_file

# A small classical MCMC job (numba kernels, seeds per trajectory) and a quantum Pauli job (no numba), with a swept
# key each, so that both the numbers and the sweep layout are compared.
CLASSICAL = """
[job]
kind = "classical"
output = "cli.h5"
[bath]
model = "mcmc"
steps = [100, 200]
[temperatures]
T_L = 1000
T_R = [1.0, 10.0, 100.0]
[classical]
trajectories = 2
collisions = 2000
warmup = 100
seed = 11
"""

QUANTUM = """
[job]
kind = "quantum"
output = "cli.h5"
[temperatures]
T = [5.0, 10.0]
delta = 0.01
[quantum]
levels = [30, 40]
gamma = 1e-3
equation = "pauli"
"""


def _cli(job, cwd, *args):
    proc = subprocess.run([sys.executable, "-m", "mpiheat.run", str(job), "--quiet", "--progress", "off", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=600, env=child_env())
    assert proc.returncode == 0, proc.stderr
    return read_file(cwd / "cli.h5")


def assert_same_columns(stored, results, volatile=("seconds", "seconds_solve", "seconds_check")):
    assert list(stored.columns) == results.columns
    for name, col in stored.columns.items():
        got = results[name]
        assert got.dtype == col.dtype, (name, got.dtype, col.dtype)
        if name in volatile:  # wall-clock times differ between any two runs
            continue
        if col.dtype.kind == "f":
            assert np.array_equal(got, col, equal_nan=True), name
            assert got.tobytes() == col.tobytes(), name  # bit for bit, signed zeros and NaN payloads included
        else:
            assert np.array_equal(got, col), name


@pytest.mark.parametrize("text", [CLASSICAL, QUANTUM], ids=["classical", "quantum"])
def test_run_dict_equals_cli_bit_for_bit(tmp_path, monkeypatch, text):
    job = tmp_path / "job.toml"
    job.write_text(text)
    stored = _cli(job, tmp_path)
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    r = mpiheat.run(tomllib.loads(text))  # the job names an output; without output= nothing is written
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert_same_columns(stored, r)
    assert r.attrs["job_identity"] == stored.attrs["job_identity"] and r.complete
    assert r.schema["J"].units and r.schema["J"].description == stored.schema["J"].description
    assert r.parameters == stored.parameters


def test_run_path_with_overrides_and_output_equals_cli_set(tmp_path):
    job = tmp_path / "job.toml"
    job.write_text(QUANTUM)
    stored = _cli(job, tmp_path, "--set", "quantum.eta=-2.0", "--set", "quantum.levels=[30, 35]")
    out = tmp_path / "api.h5"
    r = mpiheat.run(job, output=out, **{"quantum.eta": -2.0}, quantum={"levels": [30, 35]})
    assert r.path == str(out) and not (tmp_path / "api.h5.lock").exists()
    assert_same_columns(stored, r)
    loaded = mpiheat.load(out)
    assert_same_columns(stored, loaded)
    assert loaded.attrs["job"] == r.attrs["job"] and loaded.job["quantum"]["eta"] == -2.0
    assert loaded.schema == r.schema


def test_bad_override_is_a_job_error():
    from mpiheat.config import JobError

    with pytest.raises(JobError, match=r"\[classical\] seed"):
        mpiheat.run(tomllib.loads(CLASSICAL), **{"classical.seed": "not a number"})
    with pytest.raises(JobError, match="section.key"):
        mpiheat.run(tomllib.loads(CLASSICAL), seed=3)


def test_to_xarray_maps_sweep_axes_to_dimensions(tmp_path):
    xr = pytest.importorskip("xarray", reason="xarray (optional extra mpiheat[xarray]) is not installed")
    r = mpiheat.run(tomllib.loads(QUANTUM))
    ds = r.to_xarray()
    assert isinstance(ds, xr.Dataset)
    # levels (slow) x T (fast); T_L and T_R follow from T (coordinates along T), kappa is a variable over both
    assert ds["kappa"].dims == ("levels", "T") and ds.sizes == {"levels": 2, "T": 2}
    assert ds["T_L"].dims == ("T",) and ds["T_R"].dims == ("T",)
    assert ds["levels"].values.tolist() == [30, 40] and ds["levels"].dtype == np.int64
    for i, (lv, T) in enumerate(zip(r["levels"], r["T"])):
        assert ds["kappa"].sel(levels=lv, T=T).item() == r["kappa"][i]
    assert ds["J"].attrs["units"] == r.schema["J"].units and ds.attrs["kind"] == "quantum"
    c = mpiheat.run(tomllib.loads(CLASSICAL), **{"classical.collisions": 200}).to_xarray()
    assert c["J"].dims == ("steps", "T_R") and c["T_L"].dims == ()


def test_python_m_mpiheat_run_keeps_mpiheat_run_a_function():
    """``python -m mpiheat.run`` is the CLI; ``mpiheat.run`` is the function, even after ``import mpiheat.run``."""
    code = ("import mpiheat, inspect; f = mpiheat.run; import mpiheat.run; "
            "print(inspect.isfunction(f), callable(mpiheat.run))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60,
                         env=child_env()).stdout.split()
    assert out == ["True", "True"]
    assert not subprocess.run([sys.executable, "-c", "import mpiheat, sys; assert 'numpy' not in sys.modules"],
                              cwd=ROOT, timeout=60, env=child_env()).returncode, "import mpiheat must stay light"


COLORAMA = '''__version__ = "0.4.6"
def init(*args, **kwargs):
    pass
reinit = deinit = init
class Fore:
    BLACK, RED, GREEN, YELLOW, BLUE, MAGENTA, CYAN, WHITE = (f"\\x1b[{30 + i}m" for i in range(8))
class Style:
    BRIGHT, RESET_ALL = "\\x1b[1m", "\\x1b[0m"
'''


@pytest.mark.parametrize("plain", [True, False])
def test_no_terminal_codes_in_batch_logs(tmp_path, plain):
    """numba wraps its messages in ANSI codes whenever colorama is importable (here a minimal stand-in with
    colorama's names and codes); the command line switches that off when stderr is not a terminal."""
    (tmp_path / "colorama.py").write_text(COLORAMA)
    code = ("import sys\nfrom mpiheat.cli import plain_output_unless_terminal\n"
            "if sys.argv[1] == 'plain':\n    plain_output_unless_terminal()\n"
            "from numba.core.errors import termcolor\nsys.stdout.write(termcolor().errmsg('boom'))\n")
    env = {k: v for k, v in child_env(PYTHONPATH=str(tmp_path)).items()
           if k != "NUMBA_DISABLE_ERROR_MESSAGE_HIGHLIGHTING"}
    out = subprocess.run([sys.executable, "-c", code, "plain" if plain else "raw"], capture_output=True, text=True,
                         cwd=ROOT, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert (out.stdout == "boom") if plain else ("\x1b[0m" in out.stdout), repr(out.stdout)


API_ON_TWO_RANKS = """
import sys, tomllib
import numpy as np
from mpi4py import MPI
import mpiheat
r = mpiheat.run(tomllib.loads(open(sys.argv[1]).read()), comm=MPI.COMM_WORLD)
cols = MPI.COMM_WORLD.allgather(r["J"].tobytes())
assert cols[0] == cols[1], "every rank returns the same results"
if MPI.COMM_WORLD.Get_rank() == 0:
    print(r["J"].tobytes().hex(), r["collisions"].dtype, r.attrs["mpi_size"], r.attrs["ranks_per_point"])
"""


@pytest.mark.mpi
def test_run_on_two_ranks_equals_one_rank_cli(tmp_path, mpirun):
    """``mpiheat.run(job, comm=COMM_WORLD)`` under mpirun: every rank gets the results, the MD trajectories are split
    over the ranks, and the numbers equal the one-rank command line's bit for bit (seeds per trajectory)."""
    job = tmp_path / "job.toml"
    job.write_text(CLASSICAL)
    stored = _cli(job, tmp_path)
    script = tmp_path / "api2.py"
    script.write_text(API_ON_TWO_RANKS)
    proc = mpirun(2, [str(script), str(job)], cwd=tmp_path, timeout=600)
    hexj, dtype, size, rpp = proc.stdout.split()
    assert bytes.fromhex(hexj) == stored.columns["J"].tobytes()
    assert (dtype, size, rpp) == ("int64", "2", "2")


def test_resume_refusal_and_restart(tmp_path):
    """With an output, the API resumes like the CLI: another job's file is refused (left as it was), restart=True
    starts over."""
    from mpiheat.driver.runner import ResumeError

    job = tomllib.loads(QUANTUM)
    out = tmp_path / "r.h5"
    mpiheat.run(job, output=out)
    before = out.read_bytes()
    with pytest.raises(ResumeError, match="different job; choose another output or pass restart=True"):
        mpiheat.run(job, output=out, **{"quantum.eta": -2.0})
    assert out.read_bytes() == before
    r = mpiheat.run(job, output=out, restart=True, **{"quantum.eta": -2.0})
    assert mpiheat.load(out).attrs["job_identity"] == r.attrs["job_identity"] != ""
