"""Property-based: malformed and adversarial job files are accepted or rejected with a one-line JobError — never a
traceback, never a partial output file (issue 6)."""

from __future__ import annotations

import os
import subprocess
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mpiheat.config import SECTIONS, JobError, dump_toml
from mpiheat.kinds import parse_job
from mpiheat.resources import check_memory, estimate

KEYS = {name: [f.name for f in cls.__dataclass_fields__.values()] for name, cls in SECTIONS.items()}

scalars = st.one_of(
    st.integers(-10**20, 10**20), st.integers(-10**400, 10**400), st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
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
    d.setdefault("classical", {}).update(collisions=50, trajectories=2, warmup=0)
    try:
        text = dump_toml(d)
    except TypeError:
        return
    job = tmp_path / "fuzz.toml"
    job.write_text(text)
    for f in tmp_path.glob("out.h5*"):
        f.unlink()
    proc = subprocess.run([sys.executable, "-m", "mpiheat.run", str(job), "--quiet", "--progress", "off"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path, preexec_fn=_cap_memory)
    assert "Traceback" not in proc.stderr, proc.stderr
    if proc.returncode == 2:
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert not list(tmp_path.glob("out.h5*"))
    else:
        assert proc.returncode == 0, proc.stderr
        assert (tmp_path / "out.h5").exists()
    assert not list(tmp_path.glob("*.tmp"))


# ---------------------------------------------------------------------------------------------------------------------
# Huge inputs (issue 10): huge integers, huge sweeps, huge N, huge trajectory counts, over-long output names. Each is
# refused by validation or by the memory estimate - one line, at once, without allocating - never a MemoryError,
# OverflowError or traceback.

huge_int = st.one_of(st.integers(10**5, 10**30), st.integers(10**300, 10**400),
                     st.sampled_from([1e7, 1e9, 1e15, 2**63, 2**64, 10**19]))
BASE_KINDS = {
    "quantum": {"temperatures": {"T_L": 100.0, "T_R": [10.0]}, "quantum": {"levels": 10, "gamma": 1e-3}},
    "classical": {"temperatures": {"T_L": 100.0, "T_R": [10.0]},
                  "classical": {"trajectories": 2, "collisions": 50, "warmup": 0}},
    "relaxation": {"temperatures": {"T_L": 100.0, "T_R": [10.0]}, "quantum": {"levels": 10, "gamma": 1e-3},
                   "relaxation": {"model": "quantum"}},
    "calibrate": {"quantum": {"levels": 10}},
}


@st.composite
def huge_jobs(draw, out):
    """A small valid job with one (or more) huge ingredient, which must make it unacceptable."""
    kind = draw(st.sampled_from(sorted(BASE_KINDS)))
    d = {"job": {"kind": kind, "output": out}}
    for sec, tab in BASE_KINDS[kind].items():
        d[sec] = dict(tab)
    choices = ["int_key", "long_name"]
    if kind in ("quantum", "relaxation", "calibrate"):
        choices += ["levels", "levels_list", "two_particle_levels"]
    if kind == "classical":
        choices += ["trajectories"]
    if kind == "relaxation":
        choices += ["relaxation_times"]
    if "temperatures" in d:
        choices += ["logspace", "sweep_product"]
    for what in draw(st.lists(st.sampled_from(choices), min_size=1, max_size=3, unique=True)):
        if what == "int_key":  # any integer key (or a float key) given a 400-digit or int64-overflowing value
            sec, key = draw(st.sampled_from([("classical", "collisions"), ("classical", "seed"), ("bath", "steps"),
                                             ("relaxation", "times"), ("temperatures", "T_L"), ("job",
                                             "checkpoint_interval"), ("quantum", "omega_c"), ("parallel",
                                             "ranks_per_point")]))
            if sec not in BASE_KINDS[kind] and sec not in ("job", "parallel"):
                sec, key = "job", "checkpoint_interval"
            d.setdefault(sec, {})[key] = draw(st.integers(10**309, 10**400))  # beyond int64 and float
        elif what == "long_name":
            name = "x" * draw(st.integers(256, 600)) + ".h5"
            d["job"]["output"] = os.path.join(os.path.dirname(out), name)
        elif what == "levels":
            d["quantum"]["levels"] = draw(huge_int)
        elif what == "levels_list":
            d["quantum"]["levels"] = [10, draw(huge_int)]
        elif what == "two_particle_levels":
            d["system"] = {"particles": 2}
            d["quantum"]["levels"] = draw(st.integers(10**5, 10**12))
            d["quantum"]["kappa_classical"] = 1.0
        elif what == "relaxation_times":
            d["relaxation"]["times"] = draw(st.one_of(st.integers(10**9, 10**18), st.just(1e10)))
        elif what == "trajectories":
            d["classical"]["trajectories"] = draw(st.one_of(st.integers(10**9, 10**18), st.just(1e9)))
        elif what == "logspace":
            d["temperatures"]["T_R"] = {"logspace": [-2, 3, draw(st.one_of(st.integers(10**6 + 1, 10**40),
                                                                          st.just(1e9)))]}
        elif what == "sweep_product":  # each axis allowed, the product too large
            d["temperatures"]["T_R"] = {"logspace": [-2, 3, 10**6]}
            if kind == "classical":
                d["bath"] = {"model": "mcmc", "steps": [100, 1000]}
            elif kind == "calibrate":
                d["calibrate"] = {"eta": [-1.0, -2.0]}
            else:
                d["quantum"]["eta"] = [-1.0, -2.0]
    if kind == "calibrate":
        d.pop("temperatures", None)
    return d


def _refused_in_process(d, world_size):
    """Validation + estimate, in this process: refused with one line, and the refusal allocated almost nothing."""
    import tracemalloc

    text = dump_toml(d)
    tracemalloc.start()
    try:
        cfg = parse_job(text, "fuzz.toml")
        est = estimate(cfg, world_size)
        check_memory(cfg, world_size)
    except JobError as e:
        msg = str(e)
        assert msg.startswith("fuzz.toml: ") and "\n" not in msg and len(msg) < 1000, msg
        return msg
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 50 * 2**20, peak  # no sweep or matrix was materialised on the way
    raise AssertionError(f"accepted a huge job (estimate {est.total} bytes): {text}")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), world_size=st.integers(1, 256))
def test_huge_jobs_refused_in_one_line_without_allocating(tmp_path, data, world_size):
    d = data.draw(huge_jobs(str(tmp_path / "out.h5")))
    _refused_in_process(d, world_size)


def _cap_memory():
    # Were a huge job accepted by mistake, it must fail fast instead of taking the shared machine's memory.
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (8 * 2**30, 8 * 2**30))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_cli_huge_jobs_exit_2_at_once(tmp_path, data):
    import time

    d = data.draw(huge_jobs(str(tmp_path / "out.h5")))
    job = tmp_path / "huge.toml"
    job.write_text(dump_toml(d))
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "mpiheat.run", str(job), "--quiet", "--progress", "off"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path, preexec_fn=_cap_memory)
    assert time.monotonic() - t0 < 30
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {job}: ["), proc.stderr
    assert "Error" not in lines[0]  # no MemoryError / OverflowError text leaking through
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(("out.h5", "x" * 50))]
