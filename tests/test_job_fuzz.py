"""Property-based: malformed and adversarial job files are accepted or rejected with a one-line JobError — never a
traceback, never a partial output file (issue 6)."""

from __future__ import annotations

import subprocess
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mpiheat.config import SECTIONS, JobError, dump_toml, parse_job

KEYS = {name: [f.name for f in cls.__dataclass_fields__.values()] for name, cls in SECTIONS.items()}

scalars = st.one_of(
    st.integers(-10**20, 10**20), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.text(max_size=12), st.sampled_from(["classical", "quantum", "calibrate", "mcmc", "maxwell", "pauli",
                                            "lindblad", "redfield", "petsc", "scipy", "auto", "calibrate", "x.h5"]),
)
values = st.one_of(scalars, st.lists(scalars, max_size=4),
                   st.fixed_dictionaries({"logspace": st.lists(scalars, max_size=4)}),
                   st.dictionaries(st.text(max_size=5), scalars, max_size=2))


@st.composite
def job_dicts(draw, out):
    data = {"job": {"kind": draw(st.sampled_from(["classical", "quantum", "calibrate", "relaxation", "scaling",
                                                  "bogus"])), "output": out}}
    for sec in draw(st.lists(st.sampled_from(list(SECTIONS) + ["extra"]), max_size=5, unique=True)):
        table = data.setdefault(sec, {})
        keys = KEYS.get(sec, []) + ["unknown_key"]
        for key in draw(st.lists(st.sampled_from(keys), max_size=4, unique=True)):
            if sec == "job" and key == "output":
                continue
            table[key] = draw(values)
    return data


def _check(text, tmp_path):
    try:
        parse_job(text, "fuzz.toml")
    except JobError as e:
        msg = str(e)
        assert msg.startswith("fuzz.toml: ") and "\n" not in msg and len(msg) < 2000


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_jobs_accept_or_one_line_error(tmp_path, data):
    d = data.draw(job_dicts(str(tmp_path / "out.h5")))
    try:
        text = dump_toml(d)
    except TypeError:
        return
    _check(text, tmp_path)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=st.text(max_size=200), cut=st.integers(0, 400))
def test_garbled_text_accept_or_one_line_error(tmp_path, junk, cut):
    base = (f'[job]\nkind = "classical"\noutput = "{tmp_path / "o.h5"}"\n[temperatures]\nT_L = 10\n'
            'T_R = [1, 2]\n[classical]\ncollisions = 100\n')
    _check(base[:cut] + junk + base[cut:], tmp_path)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_cli_never_tracebacks_or_leaves_partial_output(tmp_path, data):
    d = data.draw(job_dicts(str(tmp_path / "out.h5")))
    d.setdefault("classical", {}).update(collisions=50, trajectories=1, warmup=0)
    try:
        text = dump_toml(d)
    except TypeError:
        return
    job = tmp_path / "fuzz.toml"
    job.write_text(text)
    for f in tmp_path.glob("out.h5*"):
        f.unlink()
    proc = subprocess.run([sys.executable, "-m", "mpiheat.run", str(job), "--quiet", "--progress", "off"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert "Traceback" not in proc.stderr, proc.stderr
    if proc.returncode == 2:
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert not list(tmp_path.glob("out.h5*"))
    else:
        assert proc.returncode == 0, proc.stderr
        assert (tmp_path / "out.h5").exists()
    assert not list(tmp_path.glob("*.tmp"))
