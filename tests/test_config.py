"""Job files: validation into typed configuration, one-line errors naming file and key, exit code 2, no output."""

from __future__ import annotations

import subprocess
import sys
import time
import tomllib

import pytest

from mpiheat.config import JobError, dump_toml
from mpiheat.kinds import load_job, parse_job
from mpiheat.startup import check_environment

GOOD = """
[job]
kind = "classical"
output = "{out}"
[bath]
model = "mcmc"
steps = [300, 1000]
[temperatures]
T_L = 1000
T_R = {{logspace = [-2, 3, 6]}}
[classical]
trajectories = 2
collisions = 100
"""


def good(tmp_path):
    return GOOD.format(out=tmp_path / "r.h5")


def test_good_job_is_typed(tmp_path):
    cfg = parse_job(good(tmp_path), "x.toml")
    assert cfg.bath.steps.values == (300, 1000) and cfg.bath.steps.is_list
    assert cfg.bath.proposal.value == 1.0 and not cfg.bath.proposal.is_list
    pts = cfg.temperature_points()
    assert len(pts) == 6 and pts[0]["T_R"] == pytest.approx(1e-2) and pts[-1]["T_R"] == pytest.approx(1e3)
    assert cfg.system.masses == (1.0,)
    # The resolved TOML round-trips to the same configuration.
    again = parse_job(cfg.to_toml(), "resolved.toml")
    assert again.identity() == cfg.identity()
    # The writer's output reads back as the same tables (types included: int, float, str, bool, nested lists).
    tables = {"a": {"b": [1, 2.5, "x", True], "c": "q\"uote\\", "d": 1e-300, "e": {"f": [[1, 2], [3]]}}}
    assert tomllib.loads(dump_toml(tables)) == tables


def test_linear_response_points(tmp_path):
    text = good(tmp_path).replace("T_L = 1000\nT_R = {logspace = [-2, 3, 6]}", "T = [10, 100]\ndelta = 0.01")
    cfg = parse_job(text, "x.toml")
    p = cfg.temperature_points()
    assert [q["T"] for q in p] == [10.0, 100.0]
    assert p[0]["T_L"] - p[0]["T_R"] == pytest.approx(0.1)


def test_overrides_and_output(tmp_path):
    cfg = parse_job(good(tmp_path), "x.toml", ["classical.collisions=5000", "bath.variable=speed"],
                    output=str(tmp_path / "o.h5"))
    assert cfg.classical.collisions == 5000 and cfg.bath.variable == "speed"
    assert cfg.job.output.endswith("o.h5")
    # A kind's own rule is checked with the job, not when the sweep is built: a steps sweep needs MCMC baths.
    with pytest.raises(JobError, match=r"x.toml: \[bath\] steps: a sweep over it needs model = \"mcmc\""):
        parse_job(good(tmp_path), "x.toml", ["bath.model=maxwell"])


BAD = [
    # (replace this, with this, expected key in message, expected words)
    ('kind = "classical"', 'kind = "classic"', "[job] kind", "must be one of"),
    ("steps = [300, 1000]", "steps = [300, -1]", "[bath] steps", ">= 1"),
    ("steps = [300, 1000]", "steps = []", "[bath] steps", "empty"),
    ("steps = [300, 1000]", 'steps = "many"', "[bath] steps", "integer"),
    ("T_L = 1000", "T_L = -5", "[temperatures] T_L", "> 0"),
    ("T_L = 1000", "T_L = 0", "[temperatures] T_L", "> 0"),
    ("T_L = 1000", "", "[temperatures] T_L", "missing"),
    ("T_R = {logspace = [-2, 3, 6]}", "T_R = {logspace = [3, -2, 6]}", "[temperatures] T_R", "hi_exp"),
    ("T_R = {logspace = [-2, 3, 6]}", "T_R = {linspace = [1, 2, 3]}", "[temperatures] T_R", "logspace"),
    ("trajectories = 2", "trajectories = 2\ntrajectoriez = 3", "[classical] trajectoriez", "unknown key"),
    ("[classical]", "[classic]", "[classic]", "unknown section"),
    ("[classical]", "[quantum]", "[quantum]", "not used by"),
    ('model = "mcmc"', 'model = "mcmc"\nvariable = "momentum"', "[bath] variable", "must be one of"),
    ("[job]", "[job]\ncheckpoint_interval = -1", "[job] checkpoint_interval", ">= 0"),
    ("[bath]", "[system]\nparticles = 2\nmasses = [1.0]\n[bath]", "[system] masses", "2 value"),
    ("[bath]", "[system]\nparticles = 3\n[bath]", "[system] particles", "<= 2"),
    ("[job]", "[job", "TOML", "not valid TOML"),
]


@pytest.mark.parametrize("old,new,key,words", BAD)
def test_bad_jobs_name_file_key_problem(tmp_path, old, new, key, words):
    text = good(tmp_path)
    assert old in text
    with pytest.raises(JobError) as e:
        parse_job(text.replace(old, new, 1), "bad.toml")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("bad.toml: ") and key in msg and words in msg, msg


def test_missing_output_folder_and_file(tmp_path):
    # Job validation is pure; the folder is a start-up check of the command line.
    cfg = parse_job(GOOD.format(out=tmp_path / "nope" / "r.h5"), "x.toml")
    with pytest.raises(JobError, match=r"^x.toml: \[job\] output: folder .* does not exist$"):
        check_environment(cfg)
    (tmp_path / "dir.h5").mkdir()
    with pytest.raises(JobError, match=r"\[job\] output: .*dir.h5' is a folder"):
        check_environment(parse_job(good(tmp_path), "x.toml", output=str(tmp_path / "dir.h5")))
    check_environment(parse_job(good(tmp_path), "x.toml"))  # a good job passes
    with pytest.raises(JobError, match="no such file"):
        load_job(tmp_path / "missing.toml")
    with pytest.raises(JobError, match=r"--set: classical: expected section.key"):
        parse_job(good(tmp_path), "x.toml", ["classical=3"])


def _cli(args, cwd):
    return subprocess.run([sys.executable, "-m", "mpiheat.run", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


@pytest.mark.parametrize("old,new,key", [
    ("T_L = 1000", "T_L = -1", "[temperatures] T_L"),
    ("collisions = 100", "collisions = 100\nbogus = 1", "[classical] bogus"),
    ('model = "mcmc"', 'model = "mcmcc"', "[bath] model"),
])
def test_cli_rejects_bad_job_exit_2_no_output(tmp_path, old, new, key):
    job = tmp_path / "bad.toml"
    job.write_text(good(tmp_path).replace(old, new))
    proc = _cli([str(job)], tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(job) in lines[0] and key in lines[0], proc.stderr
    assert not (tmp_path / "r.h5").exists()
    assert not list(tmp_path.glob("r.h5*"))


def test_cli_bad_override_and_option(tmp_path):
    job = tmp_path / "ok.toml"
    job.write_text(good(tmp_path))
    proc = _cli([str(job), "--set", "classical.collisions=-4"], tmp_path)
    assert proc.returncode == 2 and "[classical] collisions" in proc.stderr
    proc = _cli([str(job), "--frobnicate"], tmp_path)
    assert proc.returncode == 2 and "command line" in proc.stderr
    proc = _cli([str(job), "--output", str(tmp_path / "missing_dir" / "x.h5")], tmp_path)
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    assert not list(tmp_path.glob("**/*.h5"))


# ---------------------------------------------------------------------------------------------------------------------
# Issue 10: inputs that used to pass validation and fail late (or with a traceback) are refused up front.

DIGITS400 = "9" * 400


@pytest.mark.parametrize("override,key,words", [
    ("classical.trajectories=1", "[classical] trajectories", ">= 2"),  # the jackknife needs two
    ("classical.collisions=1", "[classical] collisions", ">= 2"),
    (f"classical.collisions={DIGITS400}", "[classical] collisions", "400 characters"),
    (f"classical.seed={DIGITS400}", "[classical] seed", "<= 9223372036854775807"),
    (f"temperatures.T_L={DIGITS400}", "[temperatures] T_L", "too large"),
    (f"job.checkpoint_interval=-{DIGITS400}", "[job] checkpoint_interval", "too large"),
    (f"bath.steps=[1, {DIGITS400}]", "[bath] steps", "element 1"),
    ("temperatures.T_R={logspace=[-2, 3, 1e9]}", "[temperatures] T_R", "logspace n"),
    (f"temperatures.T_R={{logspace=[-2, 3, {DIGITS400}]}}", "[temperatures] T_R", "logspace n"),
    ("temperatures.T_R={logspace=[-2, 3, 600000]}", "[bath] steps x [temperatures] T_R", "1200000 points"),
    ('job.max_memory="lots"', "[job] max_memory", "4GiB"),
])
def test_late_failures_now_refused_up_front(tmp_path, override, key, words):
    import tracemalloc

    tracemalloc.start()
    t0 = time.monotonic()
    with pytest.raises(JobError) as e:
        parse_job(good(tmp_path), "x.toml", [override])
    dt = time.monotonic() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    msg = str(e.value)
    assert msg.startswith(f"x.toml: {key}: ") and words in msg and "\n" not in msg and len(msg) < 400, msg
    # Nothing beyond one allowed axis (<= 1e6 floats, ~32 MB as Python floats) was materialised: a logspace of 1e9
    # would be 8 GB, a 1.2e6-point plan of dicts ~1 GB.
    assert dt < 5 and peak < 64 * 2**20


def test_output_path_limits(tmp_path):
    long_name = "r" * 300 + ".h5"
    with pytest.raises(JobError, match=r"\[job\] output: file name is 303 bytes long; the file system allows at most"):
        parse_job(good(tmp_path), "x.toml", output=str(tmp_path / long_name))
    # NAME_MAX counts bytes: 100 three-byte characters are 300 bytes.
    with pytest.raises(JobError, match=r"file name is 303 bytes long"):
        parse_job(good(tmp_path), "x.toml", output=str(tmp_path / ("€" * 100 + ".h5")))
    deep = "/".join(["d" * 200] * 25) + "/r.h5"  # 5 kB > PATH_MAX (the folder need not exist for this check)
    with pytest.raises(JobError, match=r"\[job\] output: path is \d+ bytes long; at most \d+ are allowed"):
        parse_job(good(tmp_path), "x.toml", output="/" + deep)
    with pytest.raises(JobError, match=r"\[job\] output: contains a NUL character"):
        parse_job(good(tmp_path), "x.toml", output=str(tmp_path / "a\0b.h5"))
    ok = "r" * 252 + ".h5"  # exactly 255 bytes: accepted (the temporary and lock names are derived safely)
    assert parse_job(good(tmp_path), "x.toml", output=str(tmp_path / ok)).job.output.endswith(ok)


def test_cli_long_output_name_refused_before_the_run(tmp_path):
    job = tmp_path / "ok.toml"
    job.write_text(good(tmp_path))
    t0 = time.monotonic()
    proc = _cli([str(job), "--output", str(tmp_path / ("r" * 260 + ".h5"))], tmp_path)
    assert proc.returncode == 2 and time.monotonic() - t0 < 30
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "[job] output: file name is 263 bytes long" in lines[0], proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.toml"]


@pytest.mark.parametrize("override,key", [
    ("classical.trajectories=1", "[classical] trajectories"),
    (f"classical.collisions={DIGITS400}", "[classical] collisions"),
    ("temperatures.T_R={logspace=[-2, 3, 1e9]}", "[temperatures] T_R"),
    ("classical.trajectories=1e9", "[classical] trajectories"),
])
def test_cli_reproducers_exit_2_one_line_fast(tmp_path, override, key):
    job = tmp_path / "ok.toml"
    job.write_text(good(tmp_path))
    t0 = time.monotonic()
    proc = _cli([str(job), "--set", override], tmp_path)
    assert proc.returncode == 2 and time.monotonic() - t0 < 30
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {job}: {key}: "), proc.stderr
    assert "Traceback" not in proc.stderr and "Error" not in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.toml"]


def test_huge_numbers_in_lists_and_cross_checked_keys(tmp_path):
    base = f'[job]\nkind = "calibrate"\noutput = "{tmp_path / "c.h5"}"\n'
    for table, key in ((f"[calibrate]\nbeta_range = [1, {DIGITS400}]\n", "[calibrate] beta_range"),
                       (f"[calibrate]\neta = [-1, -{DIGITS400}]\n", "[calibrate] eta"),
                       (f"[system]\nmasses = [{DIGITS400}]\n", "[system] masses"),
                       (f"[quantum]\nT_cal = {DIGITS400}\n", "[quantum] T_cal")):
        with pytest.raises(JobError) as e:
            parse_job(base + table, "c.toml")
        assert str(e.value).startswith(f"c.toml: {key}: ") and "too large" in str(e.value), str(e.value)


def test_job_without_output_only_when_allowed():
    """The Python API validates jobs without [job] output (require_output=False); files and the CLI need one."""
    from mpiheat.kinds import build_config

    data = {"job": {"kind": "classical"}, "temperatures": {"T_L": 2.0, "T_R": [1.0]}}
    with pytest.raises(JobError, match=r"^<job>: \[job\] output: missing"):
        build_config(data)
    cfg = build_config(data, require_output=False)
    assert cfg.job.output is None and "output" not in cfg.raw["job"] and cfg.n_points() == 1
    check_environment(cfg)  # nothing to check for a job that writes nothing
