"""``mpiheat.inspect`` and the figure scripts never show a traceback for a bad file (issue 10, "What must hold" 5):
one line naming the file and the problem, exit 2; ``inspect | head`` ends quietly with exit 0."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import ROOT, run_job

# A 4-level toy, far from converged at T_L = 100 on purpose (max_top_weight = 1), with 300 points, so that the
# report is longer than a pipe reads.
JOB = {"job": {"kind": "quantum"},
       "temperatures": {"T_L": 100.0, "T_R": {"logspace": [-1, 1, 300]}},
       "quantum": {"levels": 4, "max_top_weight": 1.0, "gamma": 1e-3, "equation": "pauli"}}


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    """A real results file of a small quantum job."""
    return run_job(tmp_path_factory.mktemp("inspect"), JOB, "good.toml")


def _bad_files(d: Path, good: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, words the one-line message must contain)."""
    out = {}
    p = d / "dataset.h5"
    with h5py.File(p, "w") as f:
        f["results"] = np.arange(3.0)
    out["results is a dataset"] = (p, "/results is a dataset")
    p = d / "ragged.h5"
    with h5py.File(p, "w") as f:
        g = f.create_group("results")
        g["a"], g["b"] = np.arange(3.0), np.arange(4.0)
    out["ragged columns"] = (p, "ragged /results")
    p = d / "subgroup.h5"
    with h5py.File(p, "w") as f:
        g = f.create_group("results")
        g["a"] = np.arange(3.0)
        g.create_group("deeper")
    out["subgroup"] = (p, "/results/deeper is a group")
    p = d / "twod.h5"
    with h5py.File(p, "w") as f:
        f.create_group("results")["a"] = np.zeros((2, 2))
    out["2-D column"] = (p, "not a 1-D column")
    p = d / "foreign.h5"
    with h5py.File(p, "w") as f:
        f["data"] = np.arange(3)
    out["foreign HDF5"] = (p, "no /results group")
    p = d / "text.h5"
    p.write_text("not hdf5 at all\n")
    out["not HDF5"] = (p, "not an HDF5 file")
    p = d / "truncated.h5"
    p.write_bytes(good.read_bytes()[:3000])
    out["truncated"] = (p, "truncated.h5")
    p = d / "corrupt.h5"
    p.write_bytes(good.read_bytes())
    with h5py.File(p, "r+") as f:  # change numbers behind the checksum's back
        f["results/J"][0] = f["results/J"][0] * 2 + 1
    out["checksum mismatch"] = (p, "results/J")
    out["missing"] = (d / "missing.h5", "no such file")
    out["folder"] = (d, "is a folder")
    return out


@pytest.fixture(scope="module")
def bad(good, tmp_path_factory):
    return _bad_files(tmp_path_factory.mktemp("bad"), good)


def _run(args, **kw):
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120, cwd=ROOT, **kw)
    return proc, time.monotonic() - t0


def _one_line_error(proc, dt, path: Path, words: str):
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and str(path) in lines[0] and words in lines[0], lines[0]
    assert "Traceback" not in proc.stderr and dt < 30


CASES = ["results is a dataset", "ragged columns", "subgroup", "2-D column", "foreign HDF5", "not HDF5", "truncated",
         "checksum mismatch", "missing", "folder"]


@pytest.mark.parametrize("case", CASES)
def test_inspect_bad_file_one_line_exit_2(bad, case):
    path, words = bad[case]
    proc, dt = _run(["-m", "mpiheat.inspect", str(path)])
    _one_line_error(proc, dt, path, words)
    assert proc.stdout == ""


def test_inspect_good_file_and_broken_pipe(good):
    proc, _ = _run(["-m", "mpiheat.inspect", str(good)])
    assert proc.returncode == 0 and "status: complete; points done 300/300" in proc.stdout
    # inspect | head -n 2: the reader leaves after two lines; no traceback, no "unreadable file", exit 0.
    sh = f'"{sys.executable}" -m mpiheat.inspect "{good}" | head -n 2; echo "rc=${{PIPESTATUS[0]}}"'
    proc = subprocess.run(["bash", "-c", sh], capture_output=True, text=True, cwd=ROOT, timeout=120)
    out = proc.stdout.splitlines()
    assert out[0] == f"# {good}" and out[-1] == "rc=0", proc.stdout
    assert proc.stderr == "", proc.stderr


@pytest.mark.parametrize("rows", ["-1", "many"])
def test_inspect_bad_rows_option(good, rows):
    proc, _ = _run(["-m", "mpiheat.inspect", str(good), "--rows", rows])
    assert proc.returncode == 2 and "--rows" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("case", ["results is a dataset", "ragged columns", "subgroup", "not HDF5", "checksum mismatch",
                                  "missing"])
def test_figure_script_bad_file_one_line_exit_2(bad, case, tmp_path):
    path, words = bad[case]
    proc, dt = _run(["-m", "analysis.fig2", str(path), "--out", str(tmp_path / "figs")])
    _one_line_error(proc, dt, path, words)
    assert not (tmp_path / "figs").exists() or not list((tmp_path / "figs").iterdir())


@pytest.mark.parametrize("module,args,words", [
    ("analysis.fig2", [], "no results column 'J_err'"),  # quantum results given to the classical figure
    ("analysis.fig3", [], "no attribute"),
])
def test_figure_script_foreign_results_one_line_exit_2(good, tmp_path, module, args, words):
    extra = [a.format(good=good) for a in args]
    proc, dt = _run(["-m", module, str(good), *extra, "--out", str(tmp_path / "figs")])
    _one_line_error(proc, dt, good, words)


def test_figure_script_optional_input_missing(good, tmp_path):
    proc, dt = _run(["-m", "analysis.fig6", str(good), "--kappa", str(tmp_path / "nope.h5"), "--out",
                     str(tmp_path / "figs")])
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and dt < 30
    assert len(proc.stderr.strip().splitlines()) == 1


def test_inspect_reads_units_descriptions_and_health_from_the_file(tmp_path):
    """Units, descriptions and the health section come from the file's declaration, not from a list of names: a
    column declared as health is summarised, an undeclared 'residual' is not."""
    from mpiheat.io import write_results
    from mpiheat.io.schema import DONE, Column

    decl = [Column("T_R", "f8", "hbar^2/(m L^2)", "cold bath temperature"),
            Column("J", "f8", "hbar^3/(m^2 L^4)", "heat current"),
            Column("wobble", "f8", "1", "a made-up health measure", health=True),
            Column("residual", "f8", "1", "not declared as health here"), DONE]
    path = tmp_path / "decl.h5"
    write_results(path, {"T_R": [1.0, 2.0], "J": [3.0, 4.0], "wobble": [1e-3, 2e-3], "residual": [5.0, 6.0],
                         "done": [True, True]}, {"complete": True, "kind": "toy"},
                  schema={c.name: c for c in decl}, parameters=["T_R"])
    proc, _ = _run(["-m", "mpiheat.inspect", str(path)])
    assert proc.returncode == 0, proc.stderr
    health = proc.stdout.split("## solver health")[1].split("##")[0]
    assert "wobble: min 0.001, max 0.002" in health and "residual" not in health
    assert "[hbar^3/(m^2 L^4)]  heat current" in proc.stdout and "a made-up health measure" in proc.stdout
