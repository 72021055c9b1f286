"""Golden results: every job in ``jobs/*.toml`` at reduced scale, stored bit for bit under ``tests/golden/``.

They are the safety net of the redesign (issue 11): ``tests/test_golden.py`` runs the same cases through the public
command line and compares every results column, extra group and physics root attribute with the stored values
(bit for bit on the stack they were made on; see the test's docstring for the rule on other stacks).

Regenerate (only when a change of numbers is intended, and say why in the commit message)::

    nice -n 10 .venv/bin/python tools/make_golden.py            # all cases
    nice -n 10 .venv/bin/python tools/make_golden.py fig4_kappa  # some cases

In a working tree shared with uncommitted work, make them from a clean export of a commit instead (the run imports
``mpiheat`` from its working directory, so the export's code is what runs)::

    rm -rf /tmp/golden-src && mkdir /tmp/golden-src && git archive HEAD | tar -x -C /tmp/golden-src
    cp tools/make_golden.py /tmp/golden-src/tools/ && (cd /tmp/golden-src &&
        nice -n 10 /path/to/.venv/bin/python tools/make_golden.py --source "$(git -C /path/to/repo rev-parse HEAD)")
    cp /tmp/golden-src/tests/golden/*.json tests/golden/

:data:`CASES` is the single source of the reduced-scale overrides: the test imports it from this file. Each case
runs ``[mpiexec -n NP] python -m mpiheat.run JOB --set ... --output TMP.h5 --quiet`` in a subprocess (the command line
is the contract that survives the redesign; module paths will move), then reads the HDF5 file with h5py directly
(not ``mpiheat.io``, which will change).

Golden file format (JSON, one per case, ``tests/golden/<case>.json``): values are exact, floats as ``float.hex()``
strings (``"nan"``, ``"inf"`` included), ints as JSON ints, bools as JSON bools, strings as strings::

    {"case", "job", "job_sha256", "set", "np", "md", "petsc", "source": commit, "stack": {numpy, scipy, numba, ...},
     "results": {"order": [column names in file order], "datasets": {name: DATASET}},
     "groups": {group: {name: DATASET}},             # e.g. /spectrum, /kappa_curves
     "attrs": {name: DATASET}}                       # root attributes except provenance
    DATASET = {"dtype": "<f8" | "<i8" | "|b1" | "str" ..., "shape": [...], "values": [flat list]}
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
GOLDEN_DIR = ROOT / "tests" / "golden"
FORMAT = 1


@dataclass(frozen=True)
class Case:
    """One golden run: a job file, its reduced-scale ``--set`` overrides and the number of MPI ranks.

    ``md``: the numbers come from molecular dynamics (numba kernels, per-trajectory random streams); their error
    bars are statistics, not round-off, so the test compares them on every stack. ``petsc``: the run needs
    petsc4py/slepc4py (the test skips it without them).
    """

    job: str
    set: tuple[str, ...] = ()
    np: int = 1
    md: bool = False
    petsc: bool = False


# The reduced scale of every job: fewer temperatures, samples, levels; the job's own physics parameters otherwise.
# Keep each case to a few seconds on one core (the whole golden test is ~1 minute).
_MD_SMALL = ("classical.trajectories=2", "classical.collisions=400", "classical.warmup=50")
# Reduced quantum truncations are far from converged at T = 1000: the top-weight refusal ([quantum] max_top_weight,
# default 1e-10) is switched off for them explicitly (these cases check the numbers of the solvers, not the physics).
_TW = "quantum.max_top_weight=1"
CASES: dict[str, Case] = {
    "default": Case("jobs/default.toml", (*_MD_SMALL, "temperatures.T_R={logspace=[-2,3,3]}"), md=True),
    "fig2_classical": Case("jobs/fig2_classical.toml",
                           (*_MD_SMALL, "temperatures.T_R=[0.1,100.0]", "bath.steps=[300,1000]",
                            "bath.proposal=[0.5,2.0]"), md=True),
    "fig3_calibration": Case("jobs/fig3_calibration.toml",
                             ("quantum.levels=30", "calibrate.eta=[0.0,-1.0,-2.25]")),
    "fig4_classical_kappa": Case("jobs/fig4_classical_kappa.toml", ("temperatures.T=[0.1,10.0,1000.0]",)),
    "fig4_kappa": Case("jobs/fig4_kappa.toml", ("quantum.levels=30", "temperatures.T={logspace=[-1,3,5]}", _TW)),
    "fig4_quantum": Case("jobs/fig4_quantum.toml",
                         ("quantum.levels=[20,30]", "temperatures.T_R={logspace=[-2,3,4]}", _TW)),
    "fig5_classical": Case("jobs/fig5_classical.toml", (*_MD_SMALL, "temperatures.T_R=[0.1,3.0]"), md=True),
    "fig5_classical_one": Case("jobs/fig5_classical_one.toml", (*_MD_SMALL, "temperatures.T_R=[0.1,3.0]"),
                               md=True),
    "fig5_kappa_classical": Case("jobs/fig5_kappa_classical.toml", ("classical.trajectories=3",
                                                                    "classical.collisions=2000",
                                                                    "classical.warmup=50"), md=True),
    "fig5_quantum": Case("jobs/fig5_quantum.toml",
                         ("quantum.levels=20", "temperatures.T_R={logspace=[-2,1.5,4]}", _TW)),
    "fig5_quantum_one": Case("jobs/fig5_quantum_one.toml",
                             ("quantum.levels=30", "temperatures.T_R={logspace=[-2,1.5,4]}")),
    "fig6_redfield": Case("jobs/fig6_redfield.toml", ("quantum.levels=12", "temperatures.T_R=[0.1,10.0,1000.0]", _TW)),
    "fig6_redfield_kappa": Case("jobs/fig6_redfield_kappa.toml",
                                ("quantum.levels=12", "temperatures.T=[1.0,100.0]", _TW)),
    "fig7_interaction": Case("jobs/fig7_interaction.toml",
                             ("quantum.levels=30", "temperatures.T_R={logspace=[-2,3,4]}", _TW)),
    "relaxation_classical": Case("jobs/relaxation_classical.toml", ("temperatures.T={logspace=[-2,-1,3]}",)),
    "relaxation_quantum": Case("jobs/relaxation_quantum.toml", ("temperatures.T_R=[0.1,10.0]",)),  # N = 30: dense
    "relaxation_quantum_blocks": Case("jobs/relaxation_quantum.toml", ("quantum.levels=40", "temperatures.T_R=[1.0]")),
    "scaling": Case("jobs/scaling.toml", ("quantum.levels=30", "system.length=[1.0,2.0,3.0]",
                                          "temperatures.T_R=[30.0,300.0]")),
    "smoke_classical": Case("jobs/smoke_classical.toml", ("classical.trajectories=2", "classical.collisions=1000",
                                                          "classical.warmup=50"), md=True),
    "fig8_kappa_classical": Case("jobs/fig8_kappa_classical.toml", ("classical.trajectories=3",
                                                                    "classical.collisions=2000",
                                                                    "classical.warmup=50"), md=True),
    "fig8_classical": Case("jobs/fig8_classical.toml", (*_MD_SMALL, "temperatures.T_R=[0.1,100.0]"), md=True),
    "fig8_two_particle_quantum": Case("jobs/fig8_two_particle_quantum.toml",
                                      ("quantum.levels=[20,30]", "temperatures.T_R=[0.1,10.0,1000.0]", _TW)),
    "fig8_two_particle_lindblad": Case("jobs/fig8_two_particle_lindblad.toml",
                                       ("quantum.levels=12", "temperatures.T_R=[0.1,10.0]", _TW), petsc=True),
    # Two MPI cases: MD trajectories split over 2 ranks (must equal the 1-rank numbers of "default"), and the
    # distributed PETSc Lindblad solve (its last bits depend on the rank count, so it has its own golden).
    "default_np2": Case("jobs/default.toml", (*_MD_SMALL, "temperatures.T_R={logspace=[-2,3,3]}"), np=2, md=True),
    "fig4_quantum_petsc_np2": Case("jobs/fig4_quantum.toml",
                                   ("quantum.levels=[12,16]", "quantum.equation=lindblad", "quantum.backend=petsc",
                                    "temperatures.T_R=[0.1,10.0]", _TW), np=2, petsc=True),
}

# Root attributes that describe the run or the file, not the physics (never compared). ``attrs_sha256`` digests the
# other attributes (provenance included), ``checksum`` names the digest scheme.
PROVENANCE_ATTRS = frozenset({"created", "host", "git_commit", "command", "versions", "python", "mpi_size",
                              "mpiheat_version", "job", "job_identity", "ranks_per_point", "attrs_sha256", "checksum"})
# Columns measured in wall-clock time: stored with dtype, value never compared (see :func:`is_volatile`).
VOLATILE = frozenset({"seconds", "time_s"})


def is_volatile(name: str) -> bool:
    """Wall-clock timings (``seconds``, ``seconds_solve``, ``check_seconds``, ...): never bit-reproducible."""
    return name in VOLATILE or name.startswith("seconds_") or name.endswith("_seconds")


def stack() -> dict[str, str]:
    """Versions of everything that can change the last bits of the numbers."""
    import h5py
    import numba
    import scipy

    out = {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
           "numba": numba.__version__, "h5py": h5py.__version__, "machine": platform.machine()}
    try:
        import petsc4py

        out["petsc4py"] = petsc4py.__version__
    except ImportError:
        out["petsc4py"] = None
    return out


def job_sha256(job: str) -> str:
    """Hash of the job file's text, so a failure can say whether the job itself changed since the goldens."""
    return hashlib.sha256((ROOT / job).read_bytes()).hexdigest()


def child_env() -> dict[str, str]:
    """Environment for the run: single-threaded BLAS (bit-reproducible sums), the shared numba cache, OpenMPI."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache"))
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    env.setdefault("OMPI_MCA_rmaps_base_oversubscribe", "1")
    return env


def command(case: Case, output: str | os.PathLike, python: str = sys.executable) -> list[str]:
    """The command line of a case."""
    cmd = [python, "-m", "mpiheat.run", case.job]
    for s in case.set:
        cmd += ["--set", s]
    cmd += ["--output", os.fspath(output), "--quiet"]
    if case.np > 1:
        from mpiheat.launcher import mpiexec  # the launcher of mpi4py's own MPI library (or a clear refusal)

        cmd = mpiexec(case.np, *cmd, python=python)
    return cmd


def run_case(case: Case, output: str | os.PathLike, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run a case through the command line into ``output``; raises ``RuntimeError`` with the output on failure."""
    cmd = command(case, output)
    proc = subprocess.run(cmd, cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


# ---------------------------------------------------------------------------------------------------- encoding
def _encode_value(x):
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x).hex()
    if isinstance(x, bytes):
        return x.decode()
    return str(x)


def encode(value) -> dict:
    """An HDF5 dataset value or attribute as ``{"dtype", "shape", "values"}`` (lossless, see module docstring)."""
    import h5py

    if isinstance(value, (str, bytes)):
        return {"dtype": "str", "shape": [], "values": [_encode_value(value)]}
    arr = np.asarray(value)
    if arr.dtype.kind in "OSU" or h5py.check_string_dtype(arr.dtype) is not None:
        dtype = "str"
    elif arr.dtype.kind == "c":
        raise TypeError("complex data: extend the golden encoding")
    else:
        dtype = arr.dtype.str
    return {"dtype": dtype, "shape": list(arr.shape), "values": [_encode_value(x) for x in arr.ravel().tolist()]
            if dtype != "str" else [_encode_value(x) for x in arr.ravel()]}


def decode_values(d: dict) -> list:
    """The Python values of an encoded dataset (floats back from hex)."""
    if d["dtype"] == "str" or np.dtype(d["dtype"]).kind != "f":
        return list(d["values"])
    return [float.fromhex(v) for v in d["values"]]


def snapshot(path: str | os.PathLike) -> dict:
    """Everything a results file says about the physics: /results columns, extra groups, non-provenance attrs."""
    import h5py

    out: dict = {"results": {}, "groups": {}, "attrs": {}}
    with h5py.File(path, "r") as f:
        for k, v in f.attrs.items():
            if k not in PROVENANCE_ATTRS:
                out["attrs"][k] = encode(v)
        res = f["results"]
        order = [c.decode() if isinstance(c, bytes) else str(c) for c in res.attrs.get("columns", [])]
        out["results"] = {"order": order, "datasets": {n: encode(res[n][()]) for n in res}}
        for gname, g in f.items():
            if gname != "results":
                if not isinstance(g, h5py.Group):
                    raise TypeError(f"unexpected root dataset /{gname}: extend the golden snapshot")
                out["groups"][gname] = {n: encode(d[()]) for n, d in g.items()}
    return out


def golden_path(name: str) -> Path:
    return GOLDEN_DIR / f"{name}.json"


def source_commit() -> str:
    """The git commit of the code that runs (``-dirty`` with uncommitted changes), or ``"unknown"``."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if head.returncode:
            return "unknown"
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def make(name: str, workdir: Path, source: str | None = None) -> tuple[dict, float]:
    """Run case ``name`` and return its golden record and the run time in seconds."""
    case = CASES[name]
    out = workdir / f"{name}.h5"
    t0 = time.perf_counter()
    run_case(case, out)
    dt = time.perf_counter() - t0
    rec = {"format": FORMAT, "case": name, "job": case.job, "job_sha256": job_sha256(case.job), "set": list(case.set),
           "np": case.np, "md": case.md, "petsc": case.petsc, "source": source or source_commit(), "stack": stack(),
           **snapshot(out)}
    return rec, dt


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("cases", nargs="*", help=f"case names (default: all): {', '.join(CASES)}")
    p.add_argument("--out", type=Path, default=GOLDEN_DIR,
                   help="folder for the records (default tests/golden; another folder: to compare stacks by hand)")
    p.add_argument("--source", help="commit the code was exported from (recorded; default: git of this tree)")
    args = p.parse_args(argv)
    names = args.cases or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        p.error(f"unknown case(s): {', '.join(unknown)}")
    args.out.mkdir(parents=True, exist_ok=True)
    total = 0.0
    with tempfile.TemporaryDirectory(prefix="mpiheat-golden-") as tmp:
        for name in names:
            rec, dt = make(name, Path(tmp), args.source)
            total += dt
            text = json.dumps(rec, indent=1, sort_keys=False) + "\n"
            dest = args.out / f"{name}.json"
            dest.write_text(text)
            print(f"{name:26s} {dt:6.1f} s  {len(text) / 1024:7.1f} KiB  -> {dest}")
    print(f"total run time {total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
