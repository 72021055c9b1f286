"""Job files: TOML -> validated, frozen dataclasses (SPEC §5).

Every key of every section is declared here (name, type, default, check) and documented in README.md; unknown keys,
wrong types and out-of-range values raise :class:`JobError`, a one-line message naming the file, the key and the
problem, before any heavy work. ``load_job(path, overrides)`` is the entry point; ``JobConfig.to_toml()`` gives the
resolved job (defaults filled in, overrides applied) that is stored with the results for provenance.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

KINDS = ("classical", "quantum", "calibrate", "relaxation", "scaling")


class JobError(Exception):
    """A bad job file or option: ``str(err)`` is one line naming the file, the key and the problem."""

    def __init__(self, source: str, key: str, problem: str):
        self.source, self.key, self.problem = source, key, problem
        super().__init__(f"{source}: {key}: {problem}")

    def __reduce__(self):  # picklable, so that rank 0 can broadcast it
        return (JobError, (self.source, self.key, self.problem))


# --------------------------------------------------------------------------------------------------------------------
# Value checkers. Each takes (value, where) and returns the normalised value or raises _Bad(problem).


class _Bad(Exception):
    pass


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _short(v, limit: int = 40) -> str:
    """``repr(v)`` cut to a readable length (a 400-digit integer must not flood the one-line message)."""
    r = repr(v)
    return r if len(r) <= limit else f"{r[:limit // 2]}...{r[-8:]} ({len(r)} characters)"


#: Largest integer a key accepts unless it says otherwise: int64, the HDF5 column type (and TOML's own limit).
INT_MAX = 2**63 - 1
#: Most values one sweep axis (a list or a logspace) may have, and most points a whole sweep may have: checked
#: before any list of points is built, so that a typo such as n = 1e9 fails at once instead of allocating GBs.
MAX_SWEEP_POINTS = 1_000_000


def _num(v, *, positive=False, nonneg=False, finite=True) -> float:
    if not _is_num(v):
        raise _Bad(f"must be a number, got {_short(v)}")
    try:
        v = float(v)
    except OverflowError:  # an integer beyond the float range (e.g. 400 digits)
        raise _Bad(f"is too large (a {len(str(abs(v)))}-digit integer)") from None
    if finite and not math.isfinite(v):
        raise _Bad(f"must be finite, got {v!r}")
    if positive and not v > 0:
        raise _Bad(f"must be > 0, got {v!r}")
    if nonneg and v < 0:
        raise _Bad(f"must be >= 0, got {v!r}")
    return v


def _int(v, *, lo=None, hi=INT_MAX) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
            v = int(v)
        else:
            raise _Bad(f"must be an integer, got {_short(v)}")
    if lo is not None and v < lo:
        raise _Bad(f"must be an integer >= {lo}, got {_short(v)}")
    if hi is not None and v > hi:
        raise _Bad(f"must be an integer <= {hi}, got {_short(v)}")
    return int(v)


def _choice(*choices):
    def check(v):
        if not isinstance(v, str) or v not in choices:
            raise _Bad(f"must be one of {', '.join(repr(c) for c in choices)}, got {_short(v)}")
        return v

    return check


def _str(v):
    if not isinstance(v, str):
        raise _Bad(f"must be a string, got {_short(v)}")
    return v


def _bool(v):
    if not isinstance(v, bool):
        raise _Bad(f"must be true or false, got {_short(v)}")
    return v


_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9, "t": 10**12,
          "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_bytes(v) -> int:
    """A memory size: bytes (an integer) or a string such as ``"4GiB"``, ``"500 MB"``, ``"2G"`` (G = 10^9)."""
    if isinstance(v, str):
        text = v.strip().lower().replace(" ", "")
        num = text.rstrip("abcdefghijklmnopqrstuvwxyz")
        unit = text[len(num):]
        if unit not in _UNITS or not num:
            raise _Bad(f"must be bytes or a size such as \"4GiB\" or \"500MB\", got {_short(v)}")
        try:
            x = float(num)
        except ValueError:
            raise _Bad(f"must be bytes or a size such as \"4GiB\" or \"500MB\", got {_short(v)}") from None
        v = x * _UNITS[unit]
    v = _num(v, positive=True)
    if v > 2**62:
        raise _Bad(f"is too large ({v:.3g} bytes)")
    return int(v)


def _max_memory(v):
    if v == "auto":
        return v
    return parse_bytes(v)


def _sweep(check: Callable) -> Callable:
    """A scalar or a non-empty list of scalars (a sweep axis); normalised to a tuple, with ``is_list`` remembered."""

    def wrapped(v):
        if isinstance(v, list):
            if not v:
                raise _Bad("empty list: a sweep needs at least one value")
            if len(v) > MAX_SWEEP_POINTS:
                raise _Bad(f"a sweep of {len(v)} values; at most {MAX_SWEEP_POINTS} are allowed")
            out = []
            for k, x in enumerate(v):
                try:
                    out.append(check(x))
                except _Bad as e:
                    raise _Bad(f"element {k}: {e}") from None
            return Sweep(tuple(out), True)
        return Sweep((check(v),), False)

    return wrapped


def _temps(v):
    """Temperatures: a positive number, a non-empty list of them, or ``{logspace = [lo_exp, hi_exp, n]}``."""
    if isinstance(v, dict):
        if set(v) != {"logspace"}:
            raise _Bad(f"a table here must be {{logspace = [lo_exp, hi_exp, n]}}, got keys {_short(sorted(v))}")
        ls = v["logspace"]
        if not isinstance(ls, list) or len(ls) != 3:
            raise _Bad("logspace must be [lo_exp, hi_exp, n]")
        lo, hi = _num(ls[0]), _num(ls[1])
        try:  # checked before np.logspace allocates n values
            n = _int(ls[2], lo=1, hi=MAX_SWEEP_POINTS)
        except _Bad as e:
            raise _Bad(f"logspace n {e}") from None
        if n > 1 and not hi > lo:
            raise _Bad(f"logspace needs hi_exp > lo_exp, got {lo} and {hi}")
        if max(abs(lo), abs(hi)) > 300:
            raise _Bad("logspace exponents out of range")
        vals = tuple(float(x) for x in np.logspace(lo, hi, n))
        return Sweep(vals, True)
    return _sweep(lambda x: _num(x, positive=True))(v)


@dataclass(frozen=True)
class Sweep:
    """Values of a (possibly swept) parameter; ``is_list`` records whether the job gave a list (a results column)."""

    values: tuple
    is_list: bool

    @property
    def value(self):
        """The single value (for non-swept parameters)."""
        return self.values[0]

    def __len__(self):
        return len(self.values)


# --------------------------------------------------------------------------------------------------------------------
# Sections. ``_key(default, check, doc)`` declares a key; the docs feed README's table (tools/keys_table.py).


def _key(default, check, doc: str):
    return field(default=default, metadata={"check": check, "doc": doc})


@dataclass(frozen=True)
class JobSection:
    kind: str = _key(None, _choice(*KINDS), "job kind (required): " + " | ".join(KINDS))
    output: str = _key(None, _str, "HDF5 results path (relative to the working directory); its folder must exist")
    title: str = _key("", _str, "free text stored with the results")
    checkpoint_interval: float = _key(60.0, lambda v: _num(v, nonneg=True),
                                      "seconds between checkpoints of finished points (0: after every round)")
    max_memory: Any = _key("auto", _max_memory,
                           "peak memory allowed per rank: bytes or e.g. \"4GiB\", \"500MB\"; \"auto\": what the "
                           "node offers (MemAvailable, cgroup limit) shared by its ranks. The job is refused (exit "
                           "2) when its estimate exceeds it")


@dataclass(frozen=True)
class SystemSection:
    particles: int = _key(1, lambda v: _int(v, lo=1, hi=2), "number of particles, 1 or 2")
    masses: tuple = _key(None, None, "list of masses, one per particle (default all 1)")
    length: Sweep = _key(1.0, _sweep(lambda v: _num(v, positive=True)), "box length L (number or list: sweep)")


@dataclass(frozen=True)
class BathSection:
    model: str = _key("maxwell", _choice("maxwell", "mcmc"), "classical bath: maxwell | mcmc")
    steps: Sweep = _key(1000, _sweep(lambda v: _int(v, lo=1)), "MCMC moves per bath collision (list: sweep)")
    proposal: Sweep = _key(1.0, _sweep(lambda v: _num(v, positive=True)),
                           "MCMC proposal width factor c (list: sweep)")
    variable: str = _key("energy", _choice("energy", "speed"), "MCMC chain variable: energy | speed")


@dataclass(frozen=True)
class TemperaturesSection:
    T_L: float = _key(None, lambda v: _num(v, positive=True), "hot bath temperature (bias sweep)")
    T_R: Sweep = _key(None, _temps, "cold bath temperatures: list or {logspace = [lo, hi, n]} (bias sweep)")
    T: Sweep = _key(None, _temps, "mean temperatures for a linear-response sweep: list or logspace")
    delta: float = _key(1e-4, lambda v: _num(v, positive=True), "relative bias for linear response, T(1 ± delta/2)")


@dataclass(frozen=True)
class ClassicalSection:
    trajectories: int = _key(8, lambda v: _int(v, lo=2),
                             "independent trajectories per point (jackknife blocks, at least 2)")
    collisions: int = _key(100_000, lambda v: _int(v, lo=2), "bath collisions per trajectory after warm-up (>= 2)")
    warmup: int = _key(1000, lambda v: _int(v, lo=0), "bath collisions discarded per trajectory")
    seed: int = _key(0, lambda v: _int(v, lo=0), "master seed (trajectory i of point p: SeedSequence(seed, (p, i)))")
    method: str = _key("md", _choice("md", "transfer"), "md (molecular dynamics) | transfer (exact, 1 particle)")


def _gamma(v):
    if v == "calibrate":
        return v
    if isinstance(v, str):
        raise _Bad(f"must be a positive number or \"calibrate\", got {_short(v)}")
    return _num(v, positive=True)


@dataclass(frozen=True)
class QuantumSection:
    levels: Sweep = _key(100, _sweep(lambda v: _int(v, lo=2)), "truncation N (list: sweep)")
    eta: Sweep = _key(-2.25, _sweep(_num), "spectral exponent eta of J(w) = gamma w_c^(1-eta) w^eta (list: sweep)")
    omega_c: float = _key(1.0, lambda v: _num(v, positive=True), "cut-off frequency w_c")
    gamma: Any = _key("calibrate", _gamma, "coupling strength, or \"calibrate\" (kappa^q(T_cal) = kappa^c(T_cal))")
    T_cal: float = _key(1000.0, lambda v: _num(v, positive=True), "calibration temperature when gamma = \"calibrate\"")
    equation: Sweep = _key("pauli", _sweep(_choice("pauli", "lindblad", "redfield")),
                           "pauli | lindblad | redfield (list: sweep, e.g. Lindblad vs Redfield)")
    backend: str = _key("auto", _choice("scipy", "petsc", "auto"), "scipy | petsc | auto (petsc when > 1 rank/point)")
    solver: str = _key("auto", _choice("eps", "ksp", "auto"), "PETSc steady-state solver: eps | ksp | auto")
    tol: float = _key(1e-12, lambda v: _num(v, positive=True), "relative solver tolerance")
    redfield_eigs: str = _key("auto", _choice("auto", "dense", "cluster", "none"),
                              "Redfield physicality check, rightmost generator eigenvalue: auto (dense for N <= 40, "
                              "else cluster) | dense | cluster | none")
    kappa_classical: float = _key(None, lambda v: _num(v, positive=True),
                                  "classical kappa^c(T_cal) to calibrate against (default: Eq. 12 for one particle; "
                                  "required for two particles: measure it with a classical linear-response job)")
    max_top_weight: float = _key(1e-10, lambda v: _num(v, positive=True),
                                 "largest allowed Boltzmann weight exp(-(E_top - E_0)/T_max) of the top kept level at "
                                 "the hottest temperature (T_L, T_R, T_cal); checked before the run (exact for one "
                                 "particle, Weyl estimate for two) and on the computed spectrum (exit 2)")


@dataclass(frozen=True)
class CalibrateSection:
    eta: Sweep = _key((0.0, -0.5, -1.0, -1.5, -2.0, -2.5, -3.0), _sweep(_num), "list of exponents eta")
    T_cal: float = _key(1000.0, lambda v: _num(v, positive=True), "calibration temperature T_max")
    beta_range: tuple = _key((100.0, 1000.0), None, "[T_lo, T_hi] of the fit kappa^q ~ T^beta")
    eta_half: bool = _key(True, _bool, "root-find eta with beta = 1/2")


@dataclass(frozen=True)
class RelaxationSection:
    model: str = _key("quantum", _choice("quantum", "classical"), "quantum (rho(t) under L) | classical (MCMC bath)")
    start: str = _key("thermal_L", _choice("thermal_L", "thermal_R", "ground"), "quantum start state")
    tol: float = _key(1e-3, lambda v: _num(v, positive=True), "trace-distance / total-variation tolerance")
    t_max: float = _key(0.0, lambda v: _num(v, nonneg=True), "longest time integrated (0: from the spectral gap)")
    times: int = _key(200, lambda v: _int(v, lo=2), "number of output times")
    E0: float = _key(1.0, lambda v: _num(v, positive=True), "classical: initial energy of the relaxing particle")


@dataclass(frozen=True)
class ScalingSection:
    L_ref: float = _key(1.0, lambda v: _num(v, positive=True), "length at which the temperatures are given")
    observables: bool = _key(True, _bool, "also fit the exponent of <P_R> (quantum)")
    classical: str = _key("transfer", _choice("transfer", "md", "none"), "classical curve: transfer | md | none")


def _ranks_per_point(v):
    if v == "auto":
        return v
    if isinstance(v, str):
        raise _Bad(f"must be a positive integer or \"auto\", got {_short(v)}")
    return _int(v, lo=1)


@dataclass(frozen=True)
class ParallelSection:
    layout: str = _key("auto", _choice("points", "matrix", "auto"), "points | matrix | auto")
    ranks_per_point: Any = _key("auto", _ranks_per_point, "ranks sharing one sweep point, or \"auto\"")


@dataclass(frozen=True)
class PetscSection:
    options: str = _key("", _str, "PETSc/SLEPc options string (command-line options after -- win)")


SECTIONS: dict[str, type] = {
    "job": JobSection, "system": SystemSection, "bath": BathSection, "temperatures": TemperaturesSection,
    "classical": ClassicalSection, "quantum": QuantumSection, "calibrate": CalibrateSection,
    "relaxation": RelaxationSection, "scaling": ScalingSection, "parallel": ParallelSection, "petsc": PetscSection,
}

# Which sections each kind reads (others are rejected, so a typo'd or misplaced section cannot be silently ignored).
KIND_SECTIONS = {
    "classical": {"job", "system", "bath", "temperatures", "classical", "parallel"},
    "quantum": {"job", "system", "temperatures", "quantum", "parallel", "petsc"},
    "calibrate": {"job", "system", "quantum", "calibrate", "parallel", "petsc"},
    "relaxation": {"job", "system", "bath", "temperatures", "quantum", "relaxation", "parallel", "petsc"},
    "scaling": {"job", "system", "bath", "temperatures", "classical", "quantum", "scaling", "parallel", "petsc"},
}


@dataclass(frozen=True)
class JobConfig:
    """A validated job. ``source`` is the file it came from (for messages); ``raw`` the resolved TOML dict."""

    source: str
    job: JobSection
    system: SystemSection
    bath: BathSection
    temperatures: TemperaturesSection
    classical: ClassicalSection
    quantum: QuantumSection
    calibrate: CalibrateSection
    relaxation: RelaxationSection
    scaling: ScalingSection
    parallel: ParallelSection
    petsc: PetscSection
    raw: dict = field(repr=False, default_factory=dict)

    # -- derived views ------------------------------------------------------------------------------------------
    @property
    def linear_response(self) -> bool:
        return self.temperatures.T is not None

    def n_temperatures(self) -> int:
        """Length of the temperature sweep (0 when the job has none)."""
        t = self.temperatures
        return len(t.T) if t.T is not None else (len(t.T_R) if t.T_R is not None else 0)

    def n_points(self) -> int:
        """Number of sweep points the kind's plan will have, counted without building them."""
        return sweep_size(self.job.kind, self)

    def temperature_points(self) -> list[dict]:
        """The temperature sweep as dicts with T_L, T_R (and T for linear response)."""
        t = self.temperatures
        if t.T is not None:
            d = t.delta
            return [{"T": T, "T_L": T * (1 + d / 2), "T_R": T * (1 - d / 2)} for T in t.T.values]
        return [{"T_L": t.T_L, "T_R": T_R} for T_R in t.T_R.values]

    def to_toml(self) -> str:
        """The resolved job as TOML text (stored in results for provenance and resume checks)."""
        return dump_toml(self.raw)

    def identity(self) -> str:
        """The parts of the resolved job that determine the numbers (not output path or parallel layout)."""
        raw = {k: v for k, v in self.raw.items() if k not in ("parallel", "petsc")}
        raw["job"] = {k: v for k, v in raw.get("job", {}).items() if k not in ("output", "checkpoint_interval",
                                                                              "title", "max_memory")}
        return dump_toml(raw)


# --------------------------------------------------------------------------------------------------------------------
# Loading


def _parse_override(source: str, item: str) -> tuple[str, str, Any]:
    if "=" not in item:
        raise JobError("--set", item, "expected section.key=value")
    lhs, rhs = item.split("=", 1)
    lhs = lhs.strip()
    if lhs.count(".") != 1:
        raise JobError("--set", lhs, "expected section.key (e.g. classical.collisions)")
    sec, key = lhs.split(".")
    try:
        value = tomllib.loads(f"v = {rhs}")["v"]
    except tomllib.TOMLDecodeError:
        value = rhs.strip()  # bare words are strings: --set bath.model=mcmc
    return sec, key, value


def parse_job(text: str, source: str = "<job>", overrides: list[str] | tuple = (),
              output: str | None = None, check_output: bool = True) -> JobConfig:
    """Parse and validate job TOML text. Raises :class:`JobError` on any problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise JobError(source, "TOML", f"not valid TOML ({e})") from None
    for item in overrides:
        sec, key, value = _parse_override(source, item)
        data.setdefault(sec, {})
        if not isinstance(data[sec], dict):
            raise JobError(source, f"[{sec}]", "is not a table")
        data[sec][key] = value
    if output is not None:
        data.setdefault("job", {})["output"] = output
    return build_config(data, source, check_output=check_output)


def load_job(path: str | os.PathLike, overrides: list[str] | tuple = (), output: str | None = None,
             check_output: bool = True) -> JobConfig:
    """Read and validate a job file (see :func:`parse_job`)."""
    source = str(path)
    try:
        with open(path, "rb") as fh:
            text = fh.read().decode("utf-8")
    except FileNotFoundError:
        raise JobError(source, "file", "no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise JobError(source, "file", f"cannot read ({e})") from None
    return parse_job(text, source, overrides, output, check_output)


def _build_section(cls, table: dict, source: str, name: str):
    if not isinstance(table, dict):
        raise JobError(source, f"[{name}]", "must be a table")
    known = {f.name: f for f in fields(cls)}
    for key in table:
        if key not in known:
            raise JobError(source, f"[{name}] {key}", f"unknown key (known: {', '.join(known)})")
    values, resolved = {}, {}
    for fname, f in known.items():
        check = f.metadata["check"]
        if fname in table:
            raw = table[fname]
            if check is not None:
                try:
                    values[fname] = check(raw)
                except _Bad as e:
                    raise JobError(source, f"[{name}] {fname}", str(e)) from None
            else:
                values[fname] = raw
            resolved[fname] = raw
        else:
            d = f.default
            if d is None:
                values[fname] = None
                continue
            values[fname] = check(list(d) if isinstance(d, tuple) else d) if check is not None else d
            resolved[fname] = list(d) if isinstance(d, tuple) else d
    return values, resolved


def build_config(data: dict, source: str = "<job>", check_output: bool = True) -> JobConfig:
    """Validate a parsed TOML dict into a :class:`JobConfig`."""
    for name in data:
        if name not in SECTIONS:
            raise JobError(source, f"[{name}]", f"unknown section (known: {', '.join(SECTIONS)})")
    job_tab = data.get("job")
    if not isinstance(job_tab, dict) or "kind" not in job_tab:
        raise JobError(source, "[job] kind", f"missing (one of {', '.join(KINDS)})")
    kind = job_tab["kind"]
    if kind not in KINDS:
        raise JobError(source, "[job] kind", f"must be one of {', '.join(KINDS)}, got {_short(kind)}")
    for name in data:
        if name not in KIND_SECTIONS[kind]:
            raise JobError(source, f"[{name}]", f"section not used by kind = {kind!r}")
    sections, raw = {}, {}
    for name, cls in SECTIONS.items():
        values, resolved = _build_section(cls, data.get(name, {}), source, name)
        sections[name] = values
        if name in data or name in KIND_SECTIONS[kind]:
            raw[name] = resolved
    _cross_checks(kind, sections, raw, source, check_output)
    objs = {name: SECTIONS[name](**vals) for name, vals in sections.items()}
    cfg = JobConfig(source=source, raw=raw, **objs)
    n = cfg.n_points()
    if n > MAX_SWEEP_POINTS:
        axes = [(k, m) for k, m in sweep_axes(kind, cfg) if m > 1]
        raise JobError(source, " x ".join(k for k, _ in axes),
                       f"the sweep has {n} points ({' x '.join(str(m) for _, m in axes)}); at most "
                       f"{MAX_SWEEP_POINTS} are allowed: split the job")
    return cfg


def sweep_axes(kind: str, cfg: JobConfig) -> list[tuple[str, int]]:
    """``(key, number of values)`` of each axis of ``kind``'s plan (mirrors ``mpiheat.kinds.*.plan``)."""
    q, t = cfg.quantum, cfg.temperatures
    temps = [("[temperatures] T", len(t.T))] if t.T is not None else (
        [("[temperatures] T_R", len(t.T_R))] if t.T_R is not None else [])
    if kind == "classical":
        ax = [("[system] length", len(cfg.system.length))]
        if cfg.bath.model == "mcmc":
            ax += [("[bath] steps", len(cfg.bath.steps)), ("[bath] proposal", len(cfg.bath.proposal))]
        return ax + temps
    if kind == "quantum":
        return [("[quantum] equation", len(q.equation)), ("[quantum] levels", len(q.levels)),
                ("[system] length", len(cfg.system.length)), ("[quantum] eta", len(q.eta))] + temps
    if kind == "calibrate":
        return [("[quantum] levels", len(q.levels)), ("[calibrate] eta", len(cfg.calibrate.eta))]
    if kind == "relaxation":
        if cfg.relaxation.model == "classical":
            return temps
        return [("[quantum] levels", len(q.levels)), ("[quantum] eta", len(q.eta))] + temps
    if kind == "scaling":
        return [("[system] length", len(cfg.system.length))] + temps
    return []


def sweep_size(kind: str, cfg: JobConfig) -> int:
    """Points of ``kind``'s plan: the product of the lengths of its sweep axes, counted without building them."""
    return math.prod(n for _, n in sweep_axes(kind, cfg)) if sweep_axes(kind, cfg) else 0


def _check_output_path(path: str) -> str | None:
    """Why ``path`` cannot be a results file name on this system (None when it can): NUL bytes, a name longer than
    NAME_MAX (255 bytes), a path longer than PATH_MAX. The temporary and lock names derived from it are shortened or
    hashed by :mod:`mpiheat.io` so that they always fit when the output name fits."""
    if "\0" in path:
        return "contains a NUL character"
    try:
        raw = os.fsencode(path)
    except UnicodeError:
        return "cannot be encoded for the file system"
    base = os.path.basename(raw)
    folder = os.path.dirname(os.path.abspath(raw)) or b"."
    try:
        name_max = os.pathconf(folder, "PC_NAME_MAX") if os.path.isdir(folder) else 255
        path_max = os.pathconf(folder, "PC_PATH_MAX") if os.path.isdir(folder) else 4096
    except (OSError, ValueError):
        name_max, path_max = 255, 4096
    if len(base) > name_max:
        return f"file name is {len(base)} bytes long; the file system allows at most {name_max}"
    full = os.path.join(folder, base)
    if len(full) + 16 > path_max:  # + room for the ".lock" / ".<hex>.tmp" siblings
        return f"path is {len(full)} bytes long; at most {path_max - 16} are allowed here (PATH_MAX {path_max})"
    return None


def _cross_checks(kind: str, s: dict, raw: dict, source: str, check_output: bool) -> None:
    job = s["job"]
    if job["output"] is None:
        raise JobError(source, "[job] output", "missing (path of the HDF5 results file)")
    if not job["output"].endswith((".h5", ".hdf5")):
        raise JobError(source, "[job] output", f"must end in .h5 or .hdf5, got {_short(job['output'], 300)}")
    problem = _check_output_path(job["output"])
    if problem:
        raise JobError(source, "[job] output", problem)
    if check_output:
        folder = os.path.dirname(os.path.abspath(job["output"]))
        if not os.path.isdir(folder):
            raise JobError(source, "[job] output", f"folder {_short(folder, 300)} does not exist")
        if not os.access(folder, os.W_OK):
            raise JobError(source, "[job] output", f"folder {_short(folder, 300)} is not writable")
        if os.path.isdir(job["output"]):
            raise JobError(source, "[job] output", f"{_short(job['output'], 300)} is a folder")

    system = s["system"]
    n = system["particles"]
    masses = system["masses"]
    if masses is None:
        masses = [1.0] * n
    elif not isinstance(masses, list):
        raise JobError(source, "[system] masses", f"must be a list of {n} positive numbers, got {_short(masses)}")
    try:
        masses = tuple(_num(m, positive=True) for m in masses)
    except _Bad as e:
        raise JobError(source, "[system] masses", str(e)) from None
    if len(masses) != n:
        raise JobError(source, "[system] masses", f"needs {n} value(s) (particles = {n}), got {len(masses)}")
    system["masses"] = masses
    raw["system"]["masses"] = list(masses)
    raw["system"] = {k: raw["system"][k] for k in ("particles", "masses", "length")}  # declaration order

    t = s["temperatures"]
    uses_temps = kind in ("classical", "quantum", "scaling") or (
        kind == "relaxation" and raw.get("temperatures"))
    bias = t["T_L"] is not None or t["T_R"] is not None
    lin = t["T"] is not None
    if uses_temps:
        if bias and lin:
            raise JobError(source, "[temperatures]", "give either T_L and T_R (bias sweep) or T (linear response)")
        if not bias and not lin and kind != "relaxation":
            raise JobError(source, "[temperatures]", "missing: give T_L and T_R, or T and delta")
        if bias and (t["T_L"] is None or t["T_R"] is None):
            missing = "T_L" if t["T_L"] is None else "T_R"
            raise JobError(source, f"[temperatures] {missing}", "missing (a bias sweep needs T_L and T_R)")
        if lin and not t["delta"] < 2:
            raise JobError(source, "[temperatures] delta", f"must be < 2 so that T_R > 0, got {t['delta']}")

    cal = s["calibrate"]
    br = cal["beta_range"]
    if not (isinstance(br, (list, tuple)) and len(br) == 2 and all(_is_num(x) and x > 0 for x in br)
            and br[1] > br[0]):
        raise JobError(source, "[calibrate] beta_range", f"must be [T_lo, T_hi] with 0 < T_lo < T_hi, got {_short(br)}")
    try:
        cal["beta_range"] = (_num(br[0]), _num(br[1]))
    except _Bad as e:
        raise JobError(source, "[calibrate] beta_range", str(e)) from None

    q = s["quantum"]
    if kind in ("quantum", "calibrate", "scaling") or (kind == "relaxation" and s["relaxation"]["model"] == "quantum"):
        if n == 2 and q["gamma"] == "calibrate" and q["kappa_classical"] is None and kind != "calibrate":
            raise JobError(source, "[quantum] kappa_classical", "two particles with gamma = \"calibrate\" need the "
                           "measured classical kappa^c(T_cal) (run a classical linear-response job, SPEC §4)")
        if kind == "quantum":
            big = max(q["levels"].values)
            if q["redfield_eigs"] == "dense" and "redfield" in q["equation"].values and big > 60:
                # the dense check assembles the N^2 x N^2 generator (Redfield.assemble refuses N > 60)
                raise JobError(source, "[quantum] redfield_eigs", f"\"dense\" assembles the N^2 x N^2 generator and "
                               f"is limited to N <= 60, got N = {big}; use \"cluster\" or \"auto\"")
            _check_top_weight(s, masses, source)
        if q["backend"] == "petsc":
            try:
                import petsc4py  # noqa: F401
                import slepc4py  # noqa: F401
            except ImportError:
                raise JobError(source, "[quantum] backend",
                               "\"petsc\" requested but petsc4py/slepc4py cannot be imported") from None
    if kind == "classical":
        c = s["classical"]
        if c["method"] == "transfer" and n != 1:
            raise JobError(source, "[classical] method", "\"transfer\" is exact for one particle only")
        if c["warmup"] >= 10**12 or c["collisions"] >= 10**15:
            raise JobError(source, "[classical] collisions", "implausibly large")
    if kind == "scaling" and len(s["system"]["length"]) < 2:
        raise JobError(source, "[system] length", "a scaling job needs a list of at least 2 lengths")


def _check_top_weight(s: dict, masses: tuple, source: str) -> None:
    """Refuse, before any eigensolve, a truncation whose top-level weight certainly exceeds max_top_weight."""
    from mpiheat.kinds.quantum import predicted_top_gap, top_weight_problem

    q, t = s["quantum"], s["temperatures"]
    if t["T"] is not None:
        temps = [T * (1 + t["delta"] / 2) for T in t["T"].values]
    elif t["T_L"] is not None and t["T_R"] is not None:
        temps = [t["T_L"], *t["T_R"].values]
    else:
        return  # reported elsewhere
    if q["gamma"] == "calibrate":
        temps.append(q["T_cal"])
    T_max = max(temps)
    for length in s["system"]["length"].values:
        for levels in q["levels"].values:
            gap, exact = predicted_top_gap(levels, masses, length)
            problem = top_weight_problem(math.exp(-gap / T_max), q["max_top_weight"], levels, T_max,
                                         "exact box levels" if exact else "Weyl estimate, checked before the run")
            if problem:
                raise JobError(source, "[quantum] max_top_weight", problem)


# --------------------------------------------------------------------------------------------------------------------
# A small TOML writer for the resolved job (tomllib only reads).


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, Sweep):
        return _toml_value(list(v.values) if v.is_list else v.value)
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def dump_toml(data: dict) -> str:
    """Write a dict of tables as TOML (enough for job files: scalars, lists, inline tables)."""
    out = []
    for sec, table in data.items():
        out.append(f"[{sec}]")
        for k, v in table.items():
            out.append(f"{k} = {_toml_value(v)}")
        out.append("")
    return "\n".join(out)


def keys_table() -> str:
    """Markdown table of every job key (section, key, default, meaning) for the README."""
    rows = ["| section | key | default | meaning |", "|---|---|---|---|"]
    for name, cls in SECTIONS.items():
        for f in fields(cls):
            d = f.default
            dv = "—" if d is None else _toml_value(list(d) if isinstance(d, tuple) else d)
            doc = f.metadata["doc"].replace("|", "\\|")  # "a | b" in a doc must not split the Markdown cell
            rows.append(f"| `[{name}]` | `{f.name}` | `{dv}` | {doc} |")
    return "\n".join(rows)
