"""Golden results: every job of ``jobs/*.toml`` at reduced scale must reproduce ``tests/golden/<case>.json``.

This is the safety net of the redesign (issue 11). Each case of :data:`tools.make_golden.CASES` (the single source
of the reduced-scale ``--set`` overrides) runs through the public command line in a subprocess,
``[mpiexec -n NP] python -m mpiheat.run JOB --set ... --output TMP.h5 --quiet``, and the file is read with h5py
directly. Compared with the golden record:

* every ``/results`` column of the golden file: present, same dtype (``<f8``, ``<i8``, ``|b1``; strings only need to
  be strings, variable or fixed length), same shape, same values;
* every dataset of every extra group (``/spectrum``, ``/kappa_curves``), the same way;
* every root attribute except provenance and file integrity (``created``, ``host``, ``git_commit``, ``command``,
  ``versions``, ``python``, ``mpi_size``, ``mpiheat_version``, ``job``, ``job_identity``, ``ranks_per_point``,
  ``attrs_sha256``, ``checksum``); attributes of groups and datasets (units, digests) are not compared.

Columns, groups and attributes that the new code *adds* are allowed (they are listed in a warning); the order of the
columns is not compared. Values of wall-clock timing columns (``seconds``, ``seconds_*``, ``*_seconds``:
:func:`~tools.make_golden.is_volatile`) are never compared, only their presence and dtype.

**The rule, by stack.** The stack is the (numpy, scipy, numba) versions and the CPU architecture recorded in each
golden file.

* *Same stack as the goldens* (today: Debian's numpy 1.24.2, scipy 1.10.1, numba 0.60.0, x86_64): **bit for bit**.
  Floats are compared by their exact bits (NaN equals NaN, -0.0 differs from 0.0); ints, bools and strings exactly.
* *Another stack* (e.g. the newest PyPI numpy 2 / scipy 1.17 / numba 0.6x of ``tools/setup_pypi.sh``): floats agree
  when ``|new - golden| <= RTOL |golden| + ATOL * max|golden column|`` with ``RTOL = 1e-8``, ``ATOL = 1e-10`` (the
  second term lets round-off-sized entries of a column, such as J at T_R = T_L, differ); dtypes, shapes, bools,
  strings and ints stay exact. Not compared there (only their dtype): columns that measure round-off itself
  (:data:`ROUNDOFF`: residuals, J_L - J_R, trace errors, the transfer operator's refinement estimates |J(h) - J(2h)|,
  the standard errors of exact power laws), the two-particle spectrum's solver diagnostics (:data:`SPECTRUM_SOLVER`)
  and solver iteration counts (:data:`SOLVER_COUNTS`; scipy 1.17's GMRES
  reports 0 iterations where 1.10's reports 1). Measured on numpy 2.4.6, scipy 1.17.1, numba 0.68.1: the largest
  other differences are ~7e-8 relative (2e-12 of the column) in the two-particle eigenvectors, and the molecular
  dynamics cases (numba kernels, per-trajectory random streams) come out *bit-identical*, so they are compared by
  the same rule rather than skipped. Should a future numba change their last bits, the chaotic trajectories will
  differ in every digit and those cases (``md=True``) need their own reason to be skipped.
* Cases that need PETSc (``petsc=True``) skip when petsc4py/slepc4py are missing.

The goldens record the commit they were made from (``source``). When a case fails, the message lists the differing
entries and says whether the job file changed since the goldens were made (``job_sha256``). Regenerate the goldens
only for an intended change of numbers (``.venv/bin/python tools/make_golden.py [CASE ...]``, see its docstring)
and state the reason in the commit.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_make_golden():
    spec = importlib.util.spec_from_file_location("mpiheat_make_golden", ROOT / "tools" / "make_golden.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses need the module registered
    spec.loader.exec_module(mod)
    return mod


mg = _load_make_golden()
CASES = mg.CASES

RTOL = 1e-8
ATOL = 1e-10  # times the largest magnitude in the golden column
# Round-off measures: on another stack their values are noise of a different draw. J_err etc. of the deterministic
# cases (transfer operator, quantum length scaling) are |J(h) - J(2h)| or 0; MD error bars are not round-off, but the
# MD cases agree bit for bit across the stacks measured so far (see the module docstring).
ROUNDOFF = frozenset({"residual", "J_mismatch", "trace", "max_trace_error", "J_refine", "truncation_mass",
                      "window_loss", "J_err", "J_R_err", "kappa_err", "J_classical_err"})
SOLVER_COUNTS = frozenset({"iterations"})
#: Two-particle spectrum diagnostics (root attributes): the degrees and the two-resolution estimate belong to the
#: eigensolver that ran, which is the stack's (SLEPc's sparse one with PETSc, the dense one on the PyPI stack without
#: it); on another stack only their presence and dtype are compared. The levels and currents they describe are.
SPECTRUM_SOLVER = frozenset({"spectrum_max_err", "spectrum_degree", "spectrum_degree_coarse"})
#: Matrix elements <i|x|j> of the coupling operators: each eigenvector's sign is a free choice of the eigensolver
#: (dense LAPACK on a stack without PETSc, SLEPc spectrum slicing with it), so on another stack they are compared up
#: to that sign, i.e. by absolute value. The currents depend only on |<i|x|j>|^2.
GAUGE = frozenset({"P_L", "P_R"})
STACK_KEYS = ("numpy", "scipy", "numba", "machine")


def _other_stack_skips(name: str, md: bool) -> bool:
    """Columns not compared (beyond dtype and shape) on another stack."""
    if name in SOLVER_COUNTS or name in SPECTRUM_SOLVER:
        return True
    if name in ROUNDOFF:
        return not (md and name in ("J_err", "J_R_err", "kappa_err"))
    return name.startswith("exponent_") and name.endswith("_err")  # standard errors of exact power laws, ~1e-15


def same_stack(golden_stack: dict) -> bool:
    """True when this interpreter has the numpy/scipy/numba versions and CPU the goldens were made with."""
    here = mg.stack()
    return all(here.get(k) == golden_stack.get(k) for k in STACK_KEYS)


def _have_petsc() -> bool:
    try:
        import petsc4py  # noqa: F401
        import slepc4py  # noqa: F401
    except ImportError:
        return False
    return True


def _float_bits_equal(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a.hex() == b.hex()


def compare_dataset(where: str, old: dict, new: dict, *, exact: bool, name: str, md: bool = False) -> list[str]:
    """Differences between two encoded datasets (see ``tools/make_golden.py``); [] when they agree."""
    if old["dtype"] != new["dtype"]:
        return [f"{where}: dtype {new['dtype']} != golden {old['dtype']}"]
    if old["shape"] != new["shape"]:
        return [f"{where}: shape {new['shape']} != golden {old['shape']}"]
    if mg.is_volatile(name) or (not exact and _other_stack_skips(name, md)):
        return []
    a, b = mg.decode_values(old), mg.decode_values(new)
    is_float = old["dtype"] != "str" and np.dtype(old["dtype"]).kind == "f"
    if is_float and not exact and name in GAUGE and not where.startswith("/results"):
        a, b = [abs(x) for x in a], [abs(y) for y in b]
    out = []
    if is_float and not exact:
        scale = max((abs(x) for x in a if math.isfinite(x)), default=0.0)
        for i, (x, y) in enumerate(zip(a, b)):
            if math.isfinite(x) and math.isfinite(y):
                ok = abs(x - y) <= RTOL * abs(x) + ATOL * scale
            else:
                ok = (math.isnan(x) and math.isnan(y)) or x == y
            if not ok:
                out.append(f"{where}[{i}]: {y!r} != golden {x!r} (diff {abs(x - y):.3g}, allowed "
                           f"{RTOL * abs(x) + ATOL * scale:.3g})")
        return out
    for i, (x, y) in enumerate(zip(a, b)):
        ok = _float_bits_equal(x, y) if is_float else (x == y and type(x) is type(y))
        if not ok:
            out.append(f"{where}[{i}]: {y!r} != golden {x!r}" + (f" ({y.hex()} vs {x.hex()})" if is_float else ""))
    return out


def compare(golden: dict, new: dict, *, exact: bool) -> tuple[list[str], list[str]]:
    """(differences, additions) between a golden record and a fresh snapshot."""
    diffs, added = [], []
    sections = [("/results", golden["results"]["datasets"], new["results"]["datasets"])]
    for g, dsets in golden["groups"].items():
        sections.append((f"/{g}", dsets, new["groups"].get(g)))
    for g in new["groups"]:
        if g not in golden["groups"]:
            added.append(f"group /{g}")
    sections.append(("attribute", golden["attrs"], new["attrs"]))
    for label, old_d, new_d in sections:
        if new_d is None:
            diffs.append(f"{label}: missing")
            continue
        for n, od in old_d.items():
            where = f"{label} {n}" if label == "attribute" else f"{label}/{n}"
            if n not in new_d:
                diffs.append(f"{where}: missing")
                continue
            diffs += compare_dataset(where, od, new_d[n], exact=exact, name=n, md=golden["md"])
        added += [f"{label} {n}" for n in new_d if n not in old_d]
    return diffs, added


def test_every_job_has_a_case_and_a_golden():
    """Every job file is covered (a new job needs its case), and every case has its golden file and vice versa."""
    jobs = {p.relative_to(ROOT).as_posix() for p in (ROOT / "jobs").glob("*.toml")}
    covered = {c.job for c in CASES.values()}
    assert jobs - covered == set(), f"job files without a golden case in tools/make_golden.py: {jobs - covered}"
    assert covered - jobs == set(), f"golden cases of missing job files: {covered - jobs}"
    files = {p.stem for p in mg.GOLDEN_DIR.glob("*.json")}
    assert files == set(CASES), f"golden files {sorted(files ^ set(CASES))} do not match the cases"
    for name, case in CASES.items():
        g = json.loads(mg.golden_path(name).read_text())
        assert (g["job"], tuple(g["set"]), g["np"]) == (case.job, case.set, case.np), (
            f"{name}: the case changed since its golden was made; regenerate it")
        assert g["results"]["datasets"]["done"]["values"] and all(g["results"]["datasets"]["done"]["values"])


def test_compare_sees_changes():
    """The comparison fails on a changed last bit, a changed dtype, a missing column or attribute; not on additions."""
    g = json.loads(mg.golden_path("fig4_kappa").read_text())
    new = json.loads(json.dumps(g))
    assert compare(g, new, exact=True) == ([], [])
    col = new["results"]["datasets"]["J"]
    x = float.fromhex(col["values"][2])
    col["values"][2] = np.nextafter(x, np.inf).item().hex()  # one ulp
    diffs, _ = compare(g, new, exact=True)
    assert len(diffs) == 1 and "/results/J[2]" in diffs[0]
    assert compare(g, new, exact=False) == ([], [])  # one ulp is within the other-stack tolerance
    col["values"][2] = (x * (1 + 1e-6)).hex()
    assert len(compare(g, new, exact=False)[0]) == 1
    new = json.loads(json.dumps(g))
    new["results"]["datasets"]["iterations"]["dtype"] = "<f8"  # the resume bug of issue 11
    assert any("dtype" in d for d in compare(g, new, exact=False)[0])
    new = json.loads(json.dumps(g))
    del new["results"]["datasets"]["kappa"], new["attrs"]["gamma"]
    assert len(compare(g, new, exact=True)[0]) == 2
    new = json.loads(json.dumps(g))
    new["results"]["datasets"]["seconds"]["values"][0] = (123.0).hex()  # wall-clock time: never compared
    assert compare(g, new, exact=True) == ([], [])
    new["results"]["datasets"]["J_units_demo"] = new["results"]["datasets"]["J"]
    assert compare(g, new, exact=True) == ([], ["/results J_units_demo"])


def test_md_split_over_ranks_is_bit_identical():
    """The goldens themselves: MD with its trajectories split over 2 ranks gives the 1-rank numbers, bit for bit."""
    one = json.loads(mg.golden_path("default").read_text())
    two = json.loads(mg.golden_path("default_np2").read_text())
    assert CASES["default"].set == CASES["default_np2"].set and CASES["default_np2"].np == 2
    assert compare(one, two, exact=True) == ([], [])


@pytest.mark.parametrize("name", list(CASES))
def test_golden(name: str, tmp_path: Path):
    case = CASES[name]
    path = mg.golden_path(name)
    golden = json.loads(path.read_text())
    if case.petsc and not _have_petsc():
        pytest.skip("needs petsc4py/slepc4py")
    exact = same_stack(golden["stack"])
    out = tmp_path / f"{name}.h5"
    mg.run_case(case, out)
    diffs, added = compare(golden, mg.snapshot(out), exact=exact)
    if added:
        warnings.warn(f"{name}: not in the golden file (not compared): {', '.join(added)}", stacklevel=1)
    if diffs:
        changed = mg.job_sha256(case.job) != golden["job_sha256"]
        head = (f"{name}: {len(diffs)} difference(s) from {path.relative_to(ROOT)} "
                f"({'bit for bit' if exact else f'other stack, rtol {RTOL:g}'}; job file "
                f"{'CHANGED' if changed else 'unchanged'} since the goldens)\n")
        pytest.fail(head + "\n".join(diffs[:40]) + ("\n..." if len(diffs) > 40 else ""), pytrace=False)
