"""Fig. 4 analysis: curves split by every swept parameter (also ``quantum.equation``), and the NDTR numbers:
the largest dJ/dT_R, where, and (dJ/dT_R)/J (issue 11 loose ends)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

JOB = """
[job]
kind = "quantum"
output = "{out}"
[temperatures]
T_L = 1000.0
T_R = {{logspace = [-2, 3, 61]}}
[quantum]
levels = [80, 100]
eta = -2.25
gamma = "calibrate"
T_cal = 1000.0
equation = ["pauli", "lindblad"]
"""


@pytest.fixture(scope="module")
def fig4_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("fig4")
    (d / "f4.toml").write_text(JOB.format(out=d / "f4.h5"))
    proc = subprocess.run([sys.executable, "-m", "mpiheat.run", str(d / "f4.toml"), "--quiet", "--progress", "off"],
                          capture_output=True, text=True, timeout=600, cwd=d)
    assert proc.returncode == 0, proc.stderr
    return d


def test_fig4_with_swept_equation_prints_slope_and_where(fig4_file):
    """The Letter's parameters (T_L = 1000, eta = -2.25, gamma calibrated at 1000, the job's 61-point T_R grid):
    for N >= 80 the largest rise is dJ/dT_R = 0.0296 at T_R = 9.13 (the grid's finite difference of the ~0.030
    peak), 3.5e-6 of J per unit T_R; Pauli and Lindblad agree, so each of the four curves says the same."""
    proc = subprocess.run([sys.executable, "-m", "analysis.fig4", str(fig4_file / "f4.h5"), "--out",
                           str(fig4_file / "fig")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = [x for x in proc.stdout.splitlines() if "J^q(T_R)" in x]
    assert len(lines) == 4, proc.stdout  # one per (equation, levels): the equation sweep splits the curves
    assert {tuple(re.findall(r"(equation|levels) = (\w+)", x)) for x in lines} == {
        (("equation", e), ("levels", n)) for e in ("lindblad", "pauli") for n in ("80", "100")}
    for line in lines:
        m = re.search(r"dJ/dT_R = ([\d.e+-]+) at T_R = ([\d.]+); largest \(dJ/dT_R\)/J = ([\d.e+-]+)", line)
        assert m, line
        slope, at, rel = (float(g) for g in m.groups())
        assert slope == pytest.approx(0.0296, abs=5e-4) and at == pytest.approx(9.127, abs=0.01)
        assert rel == pytest.approx(3.507e-6, rel=1e-3)
    assert (fig4_file / "fig" / "fig4_quantum.png").stat().st_size > 0
