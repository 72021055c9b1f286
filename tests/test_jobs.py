"""Job kinds end to end through the CLI: quantum sweeps (Pauli = Lindblad, MPI split identical), calibration table,
length scaling exponents, relaxation; HDF5 layout of SPEC §5."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from conftest import run_mpi
from mpiheat.io import read_results

QUANTUM = """
[job]
kind = "quantum"
output = "{out}"
[temperatures]
T_L = 50.0
T_R = [0.5, 2.0, 10.0, 50.0]
[quantum]
levels = 20
eta = -2.25
gamma = "calibrate"
T_cal = 50.0
equation = ["pauli", "lindblad"]
backend = "scipy"
"""


def cli(args, cwd, timeout=600):
    proc = subprocess.run([sys.executable, "-m", "mpiheat.run", *args, "--progress", "off"], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_quantum_job_pauli_equals_lindblad_and_layout(tmp_path):
    job = tmp_path / "q.toml"
    job.write_text(QUANTUM.format(out=tmp_path / "q.h5"))
    cli([str(job)], tmp_path)
    cols, attrs, extra = read_results(tmp_path / "q.h5")
    assert attrs["complete"] and cols["done"].all()
    eq = cols["equation"].astype(str)
    p, li = eq == "pauli", eq == "lindblad"
    np.testing.assert_allclose(cols["J"][li], cols["J"][p], rtol=1e-10, atol=1e-12 * np.abs(cols["J"]).max())
    assert abs(cols["J"][cols["T_R"] == 50.0]).max() < 1e-10 * abs(cols["J"]).max()  # equilibrium
    assert np.all(np.abs(cols["J_mismatch"]) <= 1e-10 * np.abs(cols["J"]).max())
    assert np.all(cols["rho_min_eig"] > -1e-12) and np.all(np.abs(cols["trace"] - 1) < 1e-12)
    # Calibration: kappa^q(T_cal) = kappa^c(T_cal) = sqrt(T/(2 pi)) for this gamma.
    from mpiheat.quantum.calibrate import kappa_quantum
    from mpiheat.quantum.operators.spectrum import box_spectrum

    g = attrs["gamma"]
    assert kappa_quantum(box_spectrum(20), 50.0, gamma=g, eta=-2.25) == pytest.approx(np.sqrt(50 / (2 * np.pi)),
                                                                                      rel=1e-10)
    assert extra["spectrum"]["E"].shape == (20,) and extra["spectrum"]["P_R"].shape == (20, 20)
    for c in ("P_R", "participation_ratio", "residual", "converged", "top_weight"):
        assert c in cols


def test_quantum_sweep_split_bit_identical_on_1_2_3_ranks(tmp_path):
    job = tmp_path / "q.toml"
    job.write_text(QUANTUM.format(out=tmp_path / "q.h5").replace('["pauli", "lindblad"]', '"lindblad"'))
    out = {}
    for n in (1, 2, 3):
        path = tmp_path / f"q{n}.h5"
        run_mpi(n, ["-m", "mpiheat.run", str(job), "--output", str(path), "--quiet", "--set",
                    "parallel.layout='points'"], cwd=tmp_path)
        out[n], attrs, _ = read_results(path)
        assert attrs["mpi_size"] == n and attrs["ranks_per_point"] == 1
    for n in (2, 3):
        for k in ("J", "J_R", "P_R", "participation_ratio", "residual"):
            assert np.array_equal(out[1][k], out[n][k]), k


def test_calibrate_job_reproduces_letter_table(tmp_path):
    job = tmp_path / "c.toml"
    job.write_text(f"""
[job]
kind = "calibrate"
output = "{tmp_path / 'c.h5'}"
[quantum]
levels = 100
[calibrate]
eta = [-1.0, -2.0, -2.5]
T_cal = 1000.0
eta_half = true
""")
    cli([str(job)], tmp_path)
    cols, attrs, extra = read_results(tmp_path / "c.h5")
    np.testing.assert_allclose(cols["gamma"], [1.477e-3, 1.160, 22.499], rtol=1e-3)
    assert attrs["eta_half"] == pytest.approx(-2.25, abs=0.01)
    assert np.all(np.diff(cols["beta"]) < 0)  # beta grows with eta
    assert extra["kappa_curves"]["kappa"].shape == (3, extra["kappa_curves"]["T"].size)


def test_scaling_job_exponents(tmp_path):
    job = tmp_path / "s.toml"
    job.write_text(f"""
[job]
kind = "scaling"
output = "{tmp_path / 's.h5'}"
[system]
length = [1.0, 2.0, 3.0]
[temperatures]
T_L = 1000.0
T_R = [1.0, 100.0]
[quantum]
levels = 60
gamma = 1.0
[scaling]
classical = "none"
""")
    cli([str(job)], tmp_path)
    _, attrs, _ = read_results(tmp_path / "s.h5")
    np.testing.assert_allclose(attrs["exponent_J_quantum"], -4.0, atol=1e-10)
    np.testing.assert_allclose(attrs["exponent_P_R"], -3.0, atol=1e-10)
    np.testing.assert_allclose(attrs["exponent_J_maxwell"], -4.0, atol=1e-10)


def test_quantum_relaxation_job_time_stepping_matches_gap(tmp_path):
    job = tmp_path / "r.toml"
    job.write_text(f"""
[job]
kind = "relaxation"
output = "{tmp_path / 'r.h5'}"
[temperatures]
T_L = 20.0
T_R = [1.0]
[quantum]
levels = 12
gamma = 0.5
equation = "lindblad"
[relaxation]
model = "quantum"
tol = 1e-4
""")
    cli([str(job)], tmp_path)
    cols, _, _ = read_results(tmp_path / "r.h5")
    # The late-time decay rate of the trace distance is the slowest excited mode's rate.
    assert cols["decay_rate_fit"][0] == pytest.approx(1 / cols["tau_exc"][0], rel=1e-2)
    assert cols["t_relax"][0] > cols["tau_exc"][0]
    assert cols["max_trace_error"][0] < 1e-10


def test_scaling_job_classical_transfer_exponent_exact(tmp_path):
    """J^c of the MCMC bath under T -> T/L^2 scales as L^-4 exactly (the chain is scale-free in units of T)."""
    job = tmp_path / "s.toml"
    job.write_text(f"""
[job]
kind = "scaling"
output = "{tmp_path / 's.h5'}"
[system]
length = [1.0, 2.0, 4.0]
[bath]
model = "mcmc"
steps = 300
[temperatures]
T_L = 1000.0
T_R = [1.0]
[quantum]
levels = 40
gamma = 1.0
[scaling]
classical = "transfer"
""")
    cli([str(job)], tmp_path)
    cols, attrs, _ = read_results(tmp_path / "s.h5")
    np.testing.assert_allclose(attrs["exponent_J_classical"], -4.0, atol=1e-9)
    # and the MCMC current differs from Maxwell there (the check is not the Eq. 4 one in disguise)
    assert np.all(np.abs(cols["J_classical"] / cols["J_maxwell"] - 1) > 0.05)


# ---------------------------------------------------------------------------------------------------------------------
# The bound kinds (issue 11): declared rows, the [parallel] layout rules, validation up front, exact grouping.

MIXED = """
[job]
kind = "quantum"
output = "{out}"
[temperatures]
T_L = 50.0
T_R = [1.0, 10.0]
[quantum]
levels = 8
gamma = 0.01
equation = ["lindblad", "redfield"]
max_top_weight = 1
"""


def _bound(text, tmp_path):
    from mpiheat.kinds import build, parse_job

    return build(parse_job(text.format(out=tmp_path / "r.h5"), "t.toml"))


def test_rows_are_the_declared_columns_with_declared_fills(tmp_path):
    """A Lindblad row of a Lindblad/Redfield sweep does not claim a physicality verdict: physicality_checked is
    False and the Redfield-only columns hold their declared fills; Redfield rows carry the check."""
    from mpi4py import MPI

    kind = _bound(MIXED, tmp_path)
    cols = kind.columns()
    params = kind.parameter_names()
    assert params == ["T_L", "T_R", "equation"] and [c.name for c in cols][:3] == params
    declared = {c.name: c for c in cols if c.name not in params}
    ctx = kind.prepare(MPI.COMM_SELF)
    for i, p in enumerate(kind.points()):
        row = kind.compute(ctx, p, i, MPI.COMM_SELF)
        assert list(row) == list(declared)  # exactly the declared result columns, in file order
        for name, v in row.items():
            assert declared[name].array([v]).dtype.kind == {"f8": "f", "i8": "i", "bool": "b", "str": "O"}[
                declared[name].dtype]
        if p["equation"] == "redfield":
            assert row["physicality_checked"] is True and row["eig_method"] == "dense"
            assert np.isfinite(row["max_real_eig"]) and row["max_real_eig"] < 0 and row["unphysical"] is False
        else:
            assert row["physicality_checked"] is False and np.isnan(row["max_real_eig"]) and row["eig_method"] == ""
    with pytest.raises(RuntimeError, match="undeclared"):
        kind.row({"J": 1.0, "bogus": 2.0})


def test_parallel_layout_rules(tmp_path):
    """[parallel]: ranks_per_point wins, then layout (points: 1, matrix: all), then the kind's own choice; a value
    that does not divide the world is refused with the key named."""
    from mpiheat.config import JobError

    base = MIXED.replace("max_top_weight = 1", "max_top_weight = 1\nbackend = \"petsc\"")
    assert _bound(base, tmp_path).ranks_per_point(4) == 4  # petsc on > 1 rank: the kind shares the operator
    assert _bound(base.replace('backend = "petsc"', 'backend = "scipy"'), tmp_path).ranks_per_point(4) == 1
    assert _bound(base + "[parallel]\nlayout = \"points\"\n", tmp_path).ranks_per_point(4) == 1
    assert _bound(base + "[parallel]\nlayout = \"matrix\"\n", tmp_path).ranks_per_point(3) == 3
    assert _bound(base + "[parallel]\nranks_per_point = 2\n", tmp_path).ranks_per_point(4) == 2
    kind = _bound(base + "[parallel]\nranks_per_point = 3\n", tmp_path)
    assert kind.requested_ranks_per_point(4) == 3
    with pytest.raises(JobError, match=r"^t.toml: \[parallel\] ranks_per_point: 3 does not divide the 4 MPI ranks"):
        kind.ranks_per_point(4)


def test_kind_rules_are_checked_with_the_job(tmp_path):
    """Rules that used to fail only when the sweep was built (or in prepare) now fail at validation, same text."""
    from mpiheat.config import JobError
    from mpiheat.kinds import parse_job

    out = tmp_path / "r.h5"
    bad = [
        ('[job]\nkind = "relaxation"\noutput = "{out}"\n[relaxation]\nmodel = "classical"\n[temperatures]\nT_L = 2\n'
         'T_R = [1]\n', "[temperatures] T", "needs a list of bath temperatures T"),
        ('[job]\nkind = "calibrate"\noutput = "{out}"\n[system]\nparticles = 2\n', "[system] particles",
         "is for one particle"),
        ('[job]\nkind = "classical"\noutput = "{out}"\n[bath]\nproposal = [1, 2]\n[temperatures]\nT_L = 2\nT_R = [1]\n',
         "[bath] proposal", "needs model = \"mcmc\""),
    ]
    for text, key, words in bad:
        with pytest.raises(JobError) as e:
            parse_job(text.format(out=out), "k.toml")
        assert str(e.value).startswith(f"k.toml: {key}: ") and words in str(e.value), str(e.value)


def test_scaling_fits_group_by_exact_temperature_pairs(tmp_path):
    """Two T_R that a numeric key T_L * 1e6 + T_R cannot tell apart (1e-8 apart at T_L = 1000) get two fits."""
    text = ('[job]\nkind = "scaling"\noutput = "{out}"\n[system]\nlength = [1.0, 2.0]\n[temperatures]\n'
            'T_L = 1000.0\nT_R = [1.0, 1.00000001]\n[quantum]\nlevels = 30\ngamma = 1.0\nmax_top_weight = 1\n'
            '[scaling]\nclassical = "none"\n')
    kind = _bound(text, tmp_path)
    pts = kind.points()
    assert len({p["T_L_ref"] * 1e6 + p["T_R_ref"] for p in pts}) == 1  # the old key collides
    cols = {k: np.array([p[k] for p in pts]) for k in pts[0]}
    L = cols["length"]
    cols.update(J=L ** -4.0, P_R=L ** -3.0 * np.where(cols["T_R_ref"] > 1.0, 2.0, 1.0), J_maxwell=L ** -4.0)
    attrs, _ = kind.finish(None, cols, complete=True)
    assert attrs["exponent_J_quantum"] == pytest.approx([-4.0, -4.0]) and attrs["exponent_P_R"].shape == (2,)


def test_relaxation_fit_skips_unreached_points(tmp_path):
    """tau = -1 (not thermalised within max_moves) is not a time: the tau ~ T^p fit uses the other points only."""
    text = ('[job]\nkind = "relaxation"\noutput = "{out}"\n[relaxation]\nmodel = "classical"\n[bath]\nmodel = "mcmc"\n'
            '[temperatures]\nT = [0.01, 0.1, 1.0, 10.0]\n')
    kind = _bound(text, tmp_path)
    T = np.array([0.01, 0.1, 1.0, 10.0])
    attrs, _ = kind.finish(None, {"T": T, "tau": np.array([-1, 400, 40, 4])}, complete=True)
    assert attrs["power_law_exponent"] == pytest.approx(-1.0, abs=1e-12)
    attrs, _ = kind.finish(None, {"T": T, "tau": np.array([-1, -1, -1, 4])}, complete=True)
    assert "power_law_exponent" not in attrs  # one point left: no fit
