"""The job schema: section classes (every key: name, default, check, doc), the validated :class:`JobConfig` and the
section builder.

Which sections a job kind reads, its kind-specific rules and its sweep are declared by the kind
(:mod:`mpiheat.kinds`); :func:`build_sections` is told them. Only rules that hold for every kind live here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from mpiheat.config.checks import (
    Bad,
    JobError,
    Sweep,
    boolean,
    choice,
    gamma,
    integer,
    is_num,
    max_memory,
    num,
    output_name_problem,
    ranks_per_point,
    short,
    string,
    sweep,
    temps,
)
from mpiheat.config.toml_io import dump_toml


def _key(default, check, doc: str):
    return field(default=default, metadata={"check": check, "doc": doc})


@dataclass(frozen=True)
class JobSection:
    kind: str = _key(None, string, "job kind (required): {kinds}")
    output: str = _key(None, string, "HDF5 results path (relative to the working directory); its folder must exist")
    title: str = _key("", string, "free text stored with the results")
    checkpoint_interval: float = _key(60.0, lambda v: num(v, nonneg=True),
                                      "seconds between checkpoints of finished points (0: after every round)")
    max_memory: Any = _key("auto", max_memory,
                           "peak memory allowed per rank: bytes or e.g. \"4GiB\", \"500MB\"; \"auto\": what the "
                           "node offers (MemAvailable, cgroup limit) shared by its ranks. The job is refused (exit "
                           "2) when its estimate exceeds it")


@dataclass(frozen=True)
class SystemSection:
    particles: int = _key(1, lambda v: integer(v, lo=1, hi=2), "number of particles, 1 or 2")
    masses: tuple = _key(None, None, "list of masses, one per particle (default all 1)")
    length: Sweep = _key(1.0, sweep(lambda v: num(v, positive=True)), "box length L (number or list: sweep)")


@dataclass(frozen=True)
class BathSection:
    model: str = _key("maxwell", choice("maxwell", "mcmc"), "classical bath: maxwell | mcmc")
    steps: Sweep = _key(1000, sweep(lambda v: integer(v, lo=1)), "MCMC moves per bath collision (list: sweep)")
    proposal: Sweep = _key(1.0, sweep(lambda v: num(v, positive=True)),
                           "MCMC proposal width factor c (list: sweep)")
    variable: str = _key("energy", choice("energy", "speed"), "MCMC chain variable: energy | speed")


@dataclass(frozen=True)
class TemperaturesSection:
    T_L: float = _key(None, lambda v: num(v, positive=True), "hot bath temperature (bias sweep)")
    T_R: Sweep = _key(None, temps, "cold bath temperatures: list or {logspace = [lo, hi, n]} (bias sweep)")
    T: Sweep = _key(None, temps, "mean temperatures for a linear-response sweep: list or logspace")
    delta: float = _key(1e-4, lambda v: num(v, positive=True), "relative bias for linear response, T(1 ± delta/2)")


@dataclass(frozen=True)
class ClassicalSection:
    trajectories: int = _key(8, lambda v: integer(v, lo=2),
                             "independent trajectories per point (jackknife blocks, at least 2)")
    collisions: int = _key(100_000, lambda v: integer(v, lo=2), "bath collisions per trajectory after warm-up (>= 2)")
    warmup: int = _key(1000, lambda v: integer(v, lo=0), "bath collisions discarded per trajectory")
    seed: int = _key(0, lambda v: integer(v, lo=0), "master seed (trajectory i of point p: SeedSequence(seed, (p, i)))")
    method: str = _key("md", choice("md", "transfer"), "md (molecular dynamics) | transfer (exact, 1 particle)")


@dataclass(frozen=True)
class QuantumSection:
    levels: Sweep = _key(100, sweep(lambda v: integer(v, lo=2)), "truncation N (list: sweep)")
    eta: Sweep = _key(-2.25, sweep(num), "spectral exponent eta of J(w) = gamma w_c^(1-eta) w^eta (list: sweep)")
    omega_c: float = _key(1.0, lambda v: num(v, positive=True), "cut-off frequency w_c")
    gamma: Any = _key("calibrate", gamma, "coupling strength, or \"calibrate\" (kappa^q(T_cal) = kappa^c(T_cal))")
    T_cal: float = _key(1000.0, lambda v: num(v, positive=True), "calibration temperature when gamma = \"calibrate\"")
    equation: Sweep = _key("pauli", sweep(choice("pauli", "lindblad", "redfield")),
                           "pauli | lindblad | redfield (list: sweep, e.g. Lindblad vs Redfield)")
    backend: str = _key("auto", choice("scipy", "petsc", "auto"), "scipy | petsc | auto (petsc when > 1 rank/point)")
    solver: str = _key("auto", choice("eps", "ksp", "auto"), "PETSc steady-state solver: eps | ksp | auto")
    tol: float = _key(1e-12, lambda v: num(v, positive=True), "relative solver tolerance")
    redfield_eigs: str = _key("auto", choice("auto", "dense", "cluster", "none"),
                              "Redfield physicality check, rightmost generator eigenvalue: auto (dense for N <= 40, "
                              "else cluster) | dense | cluster | none")
    kappa_classical: float = _key(None, lambda v: num(v, positive=True),
                                  "classical kappa^c(T_cal) to calibrate against (default: Eq. 12 for one particle; "
                                  "required for two particles: measure it with a classical linear-response job)")
    spectrum_tol: float = _key(1e-8, lambda v: num(v, positive=True),
                               "two particles: largest estimated relative error of any kept level or coupling row "
                               "(two-resolution check); a spectrum above it is refused (exit 2)")
    max_top_weight: float = _key(1e-10, lambda v: num(v, positive=True),
                                 "largest allowed Boltzmann weight exp(-(E_top - E_0)/T_max) of the top kept level at "
                                 "the hottest temperature (T_L, T_R, T_cal); checked before the run (exact for one "
                                 "particle, Weyl estimate for two) and on the computed spectrum (exit 2)")


@dataclass(frozen=True)
class CalibrateSection:
    eta: Sweep = _key((0.0, -0.5, -1.0, -1.5, -2.0, -2.5, -3.0), sweep(num), "list of exponents eta")
    T_cal: float = _key(1000.0, lambda v: num(v, positive=True), "calibration temperature T_max")
    beta_range: tuple = _key((100.0, 1000.0), None, "[T_lo, T_hi] of the fit kappa^q ~ T^beta")
    eta_half: bool = _key(True, boolean, "root-find eta with beta = 1/2")


@dataclass(frozen=True)
class RelaxationSection:
    model: str = _key("quantum", choice("quantum", "classical"), "quantum (rho(t) under L) | classical (MCMC bath)")
    start: str = _key("thermal_L", choice("thermal_L", "thermal_R", "ground"), "quantum start state")
    tol: float = _key(1e-3, lambda v: num(v, positive=True), "trace-distance / total-variation tolerance")
    t_max: float = _key(0.0, lambda v: num(v, nonneg=True), "longest time integrated (0: from the spectral gap)")
    times: int = _key(200, lambda v: integer(v, lo=2), "number of output times")
    E0: float = _key(1.0, lambda v: num(v, positive=True), "classical: initial energy of the relaxing particle")


@dataclass(frozen=True)
class ScalingSection:
    L_ref: float = _key(1.0, lambda v: num(v, positive=True), "length at which the temperatures are given")
    observables: bool = _key(True, boolean, "also fit the exponent of <P_R> (quantum)")
    classical: str = _key("transfer", choice("transfer", "md", "none"), "classical curve: transfer | md | none")


@dataclass(frozen=True)
class ParallelSection:
    layout: str = _key("auto", choice("points", "matrix", "auto"), "points | matrix | auto")
    ranks_per_point: Any = _key("auto", ranks_per_point, "ranks sharing one sweep point, or \"auto\"")


@dataclass(frozen=True)
class PetscSection:
    options: str = _key("", string, "PETSc/SLEPc options string (command-line options after -- win)")


SECTIONS: dict[str, type] = {
    "job": JobSection, "system": SystemSection, "bath": BathSection, "temperatures": TemperaturesSection,
    "classical": ClassicalSection, "quantum": QuantumSection, "calibrate": CalibrateSection,
    "relaxation": RelaxationSection, "scaling": ScalingSection, "parallel": ParallelSection, "petsc": PetscSection,
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
    points_count: int = 0

    # -- derived views ------------------------------------------------------------------------------------------
    @property
    def linear_response(self) -> bool:
        return self.temperatures.T is not None

    def n_points(self) -> int:
        """Number of sweep points of the job (counted by its kind, without building them, when it was validated)."""
        return self.points_count

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
                except Bad as e:
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


def build_sections(data: dict, source: str, kinds: Mapping[str, frozenset], *,
                   require_output: bool = True) -> JobConfig:
    """Validate a parsed TOML dict into a :class:`JobConfig` (rules common to every kind).

    Parameters
    ----------
    data : dict
        The job's tables.
    source : str
        Where the job came from (first word of every error message).
    kinds : mapping
        ``{kind name: sections it reads}``, from the kind registry; other sections are refused.
    require_output : bool
        False accepts a job without ``[job] output`` (the Python API writes nothing then).
    """
    for name in data:
        if name not in SECTIONS:
            raise JobError(source, f"[{name}]", f"unknown section (known: {', '.join(SECTIONS)})")
    job_tab = data.get("job")
    if not isinstance(job_tab, dict) or "kind" not in job_tab:
        raise JobError(source, "[job] kind", f"missing (one of {', '.join(kinds)})")
    kind = job_tab["kind"]
    if not isinstance(kind, str) or kind not in kinds:
        raise JobError(source, "[job] kind", f"must be one of {', '.join(kinds)}, got {short(kind)}")
    for name in data:
        if name not in kinds[kind]:
            raise JobError(source, f"[{name}]", f"section not used by kind = {kind!r}")
    sections, raw = {}, {}
    for name, cls in SECTIONS.items():
        values, resolved = _build_section(cls, data.get(name, {}), source, name)
        sections[name] = values
        if name in data or name in kinds[kind]:
            raw[name] = resolved
    _common_checks(sections, raw, source, require_output)
    objs = {name: SECTIONS[name](**vals) for name, vals in sections.items()}
    return JobConfig(source=source, raw=raw, **objs)


def _common_checks(s: dict, raw: dict, source: str, require_output: bool = True) -> None:
    """Rules across keys that hold for every kind (the kinds add theirs)."""
    job = s["job"]
    if job["output"] is None and require_output:
        raise JobError(source, "[job] output", "missing (path of the HDF5 results file)")
    if job["output"] is not None:
        if not job["output"].endswith((".h5", ".hdf5")):
            raise JobError(source, "[job] output", f"must end in .h5 or .hdf5, got {short(job['output'], 300)}")
        problem = output_name_problem(job["output"])
        if problem:
            raise JobError(source, "[job] output", problem)

    system = s["system"]
    n = system["particles"]
    masses = system["masses"]
    if masses is None:
        masses = [1.0] * n
    elif not isinstance(masses, list):
        raise JobError(source, "[system] masses", f"must be a list of {n} positive numbers, got {short(masses)}")
    try:
        masses = tuple(num(m, positive=True) for m in masses)
    except Bad as e:
        raise JobError(source, "[system] masses", str(e)) from None
    if len(masses) != n:
        raise JobError(source, "[system] masses", f"needs {n} value(s) (particles = {n}), got {len(masses)}")
    system["masses"] = masses
    raw["system"]["masses"] = list(masses)
    raw["system"] = {k: raw["system"][k] for k in ("particles", "masses", "length")}  # declaration order

    # Temperatures, when given: a bias sweep (T_L and T_R) or a linear-response sweep (T), not both. Whether the
    # kind needs them at all is the kind's rule.
    t = s["temperatures"]
    bias = t["T_L"] is not None or t["T_R"] is not None
    if bias and t["T"] is not None:
        raise JobError(source, "[temperatures]", "give either T_L and T_R (bias sweep) or T (linear response)")
    if bias and (t["T_L"] is None or t["T_R"] is None):
        missing = "T_L" if t["T_L"] is None else "T_R"
        raise JobError(source, f"[temperatures] {missing}", "missing (a bias sweep needs T_L and T_R)")
    if t["T"] is not None and not t["delta"] < 2:
        raise JobError(source, "[temperatures] delta", f"must be < 2 so that T_R > 0, got {t['delta']}")

    cal = s["calibrate"]
    br = cal["beta_range"]
    if not (isinstance(br, (list, tuple)) and len(br) == 2 and all(is_num(x) and x > 0 for x in br)
            and br[1] > br[0]):
        raise JobError(source, "[calibrate] beta_range", f"must be [T_lo, T_hi] with 0 < T_lo < T_hi, got {short(br)}")
    try:
        cal["beta_range"] = (num(br[0]), num(br[1]))
    except Bad as e:
        raise JobError(source, "[calibrate] beta_range", str(e)) from None
