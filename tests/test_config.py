"""Job files: validation into typed configuration, one-line errors naming file and key, exit code 2, no output."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mpiheat.config import JobError, dump_toml, load_job, parse_job

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
    assert isinstance(dump_toml({"a": {"b": [1, 2.5, "x", True]}}), str)


def test_linear_response_points(tmp_path):
    text = good(tmp_path).replace("T_L = 1000\nT_R = {logspace = [-2, 3, 6]}", "T = [10, 100]\ndelta = 0.01")
    cfg = parse_job(text, "x.toml")
    p = cfg.temperature_points()
    assert [q["T"] for q in p] == [10.0, 100.0]
    assert p[0]["T_L"] - p[0]["T_R"] == pytest.approx(0.1)


def test_overrides_and_output(tmp_path):
    cfg = parse_job(good(tmp_path), "x.toml", ["classical.collisions=5000", "bath.model=maxwell"],
                    output=str(tmp_path / "o.h5"))
    assert cfg.classical.collisions == 5000 and cfg.bath.model == "maxwell"
    assert cfg.job.output.endswith("o.h5")


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
    with pytest.raises(JobError, match=r"\[job\] output: folder .* does not exist"):
        parse_job(GOOD.format(out=tmp_path / "nope" / "r.h5"), "x.toml")
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
