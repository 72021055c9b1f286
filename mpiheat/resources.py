"""Peak memory per rank, estimated from the validated job before any heavy work, and checked against what the node
offers (issue 10: no input may end in MemoryError).

``estimate(cfg, world_size)`` returns an :class:`Estimate` (bytes per rank, the job key that drives it, and a short
description); ``check_memory(cfg)`` compares it with the memory available per rank and raises
:class:`~mpiheat.config.JobError` (one line, exit 2) when it does not fit.

The model (bytes per rank; N = levels; coefficients measured as peak RSS of ``python -m mpiheat.run`` on small jobs,
see :data:`CALIBRATION`; ``tests/test_resources.py`` measures it again):

* every run: the interpreter with numpy, scipy, mpi4py and h5py (:data:`BASE`), numba kernels for classical jobs,
  PETSc/SLEPc when the PETSc backend is used, plus :data:`PER_POINT` bytes for every sweep point (plan, results rows,
  columns, HDF5 write);
* quantum, one particle: the box spectrum and the solver, ``c N^2`` (Pauli: dense N x N rates; Lindblad/scipy: the
  sparse N^2 x N^2 Liouvillian, whose non-zeros grow like N^2 for the secular generator, and SuperLU of its
  population component; Redfield: matrix-free, GMRES(60) Krylov basis of N^2-vectors) plus, for Redfield's
  physicality check with ``redfield_eigs = "dense"`` (or ``auto`` at N <= 40), the dense N^2 x N^2 generator and its
  eigenvalues, ``c4 N^4``. With the PETSc backend the distributed operator and its MUMPS factors are shared by the
  ranks of a point (``c N^2 / r``) and rho, spectrum and currents are replicated (``c N^2``);
* quantum, two particles: the triangle spectral basis of ``n_b = (p+1)(p+2)/2`` polynomials at the fine degree p
  (:func:`~.twoparticle.levels.default_degree` + refinement). Where petsc4py/slepc4py are installed the spectrum is
  the distributed sparse solve (``two_particle_spectrum(method="auto")``) over all ranks of the job: N eigenvectors
  of length n_b at two resolutions plus the sparse factors, ``(c_v 8 N n_b + c_f n_b) / ranks``; otherwise the
  dense solve on one rank, several dense ``n_b x n_b`` matrices. Then the N-level solver as above;
* relaxation (quantum): the dense spectral analysis of the N^2 x N^2 generator (Lindblad N <= 30, Redfield always),
  ``c4 N^4``; Lindblad above 30 uses the exact block path, ``c N^2``;
* classical MD: per-trajectory sums gathered on rank 0, :data:`PER_TRAJECTORY` bytes each (collisions are streamed,
  they cost time, not memory); transfer operator: a fixed grid.

World size: MPI is not initialised when the job is checked (so that a refused job starts no MPI), so the number of
ranks is read from the launcher's environment: ``OMPI_COMM_WORLD_SIZE`` (Open MPI's mpirun), ``PMI_SIZE`` (MPICH
Hydra, Intel MPI), ``SLURM_STEP_NUM_TASKS`` (srun); ranks on this node from ``OMPI_COMM_WORLD_LOCAL_SIZE``,
``MPI_LOCALNRANKS`` or ``SLURM_STEP_TASKS_PER_NODE`` (else all ranks are assumed to share this node). Without a
launcher the run has one rank.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, field

from mpiheat.config import JobConfig, JobError

MiB = 2**20
GiB = 2**30

#: Peak RSS of the smallest runs (MiB): ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` at the end of a whole
#: ``python -m mpiheat.run`` (run in-process with ``runpy``; ``peak_rss`` in tests/test_resources.py), Debian stack
#: (Python 3.11, numpy 1.24, scipy 1.10, numba 0.60, h5py 3.7, PETSc 3.18).
BASE = 205 * MiB  # quantum Pauli N = 2: 131.8 MiB on Debian. The same run's peak varies by tens of MiB with the
#: machine's state: Lindblad N = 500 (scipy) measured 180-192 MiB on an idle machine (both stacks) but 223, 241 and
#: 249 MiB late in three clean-clone CI runs (numpy 2 / scipy 1.17 stack; the model said 237 / 247 MiB at BASE =
#: 165 / 175). The base carries that spread, so the model stays an upper bound.
BASE_NUMBA = 45 * MiB  # classical kernels loaded: MD 169.1, transfer 173.1 MiB
BASE_PETSC = 20 * MiB  # petsc4py/slepc4py loaded: Lindblad N = 2 on 2 ranks, 160.7 / 147.4 MiB
PER_POINT = 4600  # bytes per sweep point: 20000 Pauli points, +85 MiB
PER_TRAJECTORY = 220  # bytes per MD trajectory: 200000 trajectories, +41 MiB

#: Solver terms: bytes = coeff * N^2 (and coeff4 * N^4 for dense superoperators); see CALIBRATION.
C_PAULI = 120.0  # N = 1000: +86 MiB, N = 2000: +377 MiB  (-> 90, 99 bytes N^-2)
C_LINDBLAD = 300.0  # scipy: N = 200 / 400 / 800: +7.5 / +28 / +170 MiB (-> 196, 183, 279 bytes N^-2)
C_REDFIELD = 750.0  # matrix-free GMRES(60) + cluster eigenvalue check: N = 200 / 300: +24 / +69 MiB (629, 804 B N^-2)
C4_DENSE_EIG = 13.0  # Redfield dense eigenvalue check: N = 40: +30 MiB over N^4 = 2.56e6 -> 12.3 bytes
C4_DENSE_PROPAGATE = 90.0  # relaxation, dense eig with eigenvectors: Redfield N = 20 / 30: +12 / +48 MiB (80, 62)
C_RELAX_SAMPLE = 48.0  # relaxation: per output time, rho(t) complex N x N (16 N^2) + real states (2 x 8 N^2) + copies
C_RELAX_BLOCKS = 1600.0  # relaxation, Lindblad block path: N = 80 / 160 / 240: +10 / +31 / +59 MiB
C_PETSC_SHARED = 300.0  # PETSc Lindblad, distributed part (/ ranks per point); N = 700 on 2 ranks: +98 MiB per rank
C_TWO_BASIS = 16.0  # two particles, levels 50 / 100 / 150 (n_b 1176 / 2080 / 2926): +56 / +84 / +110 MiB
TWO_BASE = 64 * MiB  # two particles: scipy.linalg, triangle quadrature (the constant of that fit)
#: Two particles, distributed sparse spectrum (SLEPc, per rank x ranks): eigenvector storage (8 N n_b bytes) and the
#: factor/basis term per basis function (n_b of the dense solver's degree rule, an upper bound of the sparse one's).
#: Refitted after the coarse level stopped holding its vectors (15c8891); re-measured after the block Rayleigh-Ritz and
#: the smaller fine degree (99be5e9): an upper bound of the measured N = 600 (1 and 2 ranks), 1000 and 3000 (2 ranks)
#: within 1.3-1.6x (benchmarks/results/two_particle.json, idle machine).
C_TWO_VECTORS = 2.5
C_TWO_SPARSE_BASIS = 20e3

#: Measured peak RSS (MiB) behind the coefficients: (what, N, ranks, peak MiB per rank). Whole runs of
#: ``python -m mpiheat.run`` (one point, T_L = 100, T_R = 10, gamma = 1e-3), except relaxation (``dynamics.relaxation``
#: alone, over its own 61 MiB). Each coefficient is rounded up from the largest case, so the model is an upper bound.
CALIBRATION: tuple = (
    ("quantum pauli", 2, 1, 131.8), ("quantum pauli", 500, 1, 148.8), ("quantum pauli", 1000, 1, 218.2),
    ("quantum pauli", 2000, 1, 508.7),
    ("quantum lindblad scipy", 100, 1, 135.0), ("quantum lindblad scipy", 200, 1, 139.3),
    ("quantum lindblad scipy", 400, 1, 159.6), ("quantum lindblad scipy", 800, 1, 304.6),
    ("quantum lindblad petsc", 100, 2, 160.7), ("quantum lindblad petsc", 300, 2, 174.2),
    ("quantum lindblad petsc", 700, 2, 258.2),
    ("quantum redfield scipy, dense eigs", 40, 1, 161.6), ("quantum redfield scipy", 100, 1, 136.4),
    ("quantum redfield scipy", 200, 1, 159.1), ("quantum redfield scipy", 300, 1, 203.8),
    ("quantum two particles pauli", 50, 1, 190.9), ("quantum two particles pauli", 100, 1, 218.6),
    ("quantum two particles pauli", 150, 1, 244.9),
    ("quantum two particles, sparse spectrum", 600, 1, 375.0),
    ("quantum two particles, sparse spectrum", 600, 2, 286.0),
    ("quantum two particles, sparse spectrum", 1000, 2, 457.0),
    ("quantum two particles, sparse spectrum", 3000, 2, 1730.0),
    ("relaxation redfield (dense)", 20, 1, 72.9), ("relaxation redfield (dense)", 30, 1, 108.7),
    ("relaxation lindblad (blocks)", 80, 1, 70.4), ("relaxation lindblad (blocks)", 160, 1, 92.2),
    ("relaxation lindblad (blocks)", 240, 1, 119.7),
    ("classical md, 2 trajectories", 0, 1, 169.1), ("classical md, 200000 trajectories", 0, 1, 210.4),
    ("classical transfer", 0, 1, 173.1), ("quantum pauli N = 2, 20000 points", 2, 1, 217.2),
)


@dataclass(frozen=True)
class Estimate:
    """Peak memory of one rank: ``total`` bytes, driven by job key ``key``; ``detail`` says what was assumed."""

    total: int
    key: str
    detail: str
    parts: dict = field(default_factory=dict)


def fmt_bytes(n: float) -> str:
    """``n`` bytes as a short human-readable size (binary units)."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if abs(n) < 1024 or unit == "EiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} EiB"


# --------------------------------------------------------------------------------------------------------------------
# Launcher environment


def _env_int(*names: str) -> int | None:
    for name in names:
        v = os.environ.get(name)
        if v:
            try:
                return max(1, int(v.split("(")[0].split(",")[0]))  # "2(x3),1" (Slurm tasks per node) -> 2
            except ValueError:
                continue
    return None


def world_size_from_env() -> int:
    """Number of MPI ranks of this run, from the launcher's environment (1 without a launcher)."""
    return _env_int("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS") or 1


def local_ranks_from_env(world_size: int) -> int:
    """Ranks of this run on this node (all of them when the launcher does not say)."""
    return min(world_size, _env_int("OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_STEP_TASKS_PER_NODE")
               or world_size)


# --------------------------------------------------------------------------------------------------------------------
# Memory available


def _read(path: str) -> str | None:
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return None


def _cgroup_room() -> int | None:
    """Bytes the memory cgroup of this process still allows (limit - usage), or None when unlimited / unknown."""
    rooms = []
    cg = _read("/proc/self/cgroup") or ""
    for line in cg.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        ctrl, rel = parts[1], parts[2].lstrip("/")
        if ctrl == "":  # cgroup v2: the limit can sit on any ancestor
            p = os.path.join("/sys/fs/cgroup", rel)
            while True:
                lim, cur = _read(os.path.join(p, "memory.max")), _read(os.path.join(p, "memory.current"))
                if lim and lim != "max" and lim.isdigit():
                    rooms.append(int(lim) - int(cur or 0))
                if os.path.normpath(p) == "/sys/fs/cgroup":
                    break
                p = os.path.dirname(p)
        elif "memory" in ctrl.split(","):  # cgroup v1
            base = os.path.join("/sys/fs/cgroup/memory", rel)
            for b in (base, "/sys/fs/cgroup/memory"):
                lim = _read(os.path.join(b, "memory.limit_in_bytes"))
                cur = _read(os.path.join(b, "memory.usage_in_bytes"))
                if lim and lim.isdigit() and int(lim) < 2**60:
                    rooms.append(int(lim) - int(cur or 0))
                    break
    return max(0, min(rooms)) if rooms else None


def memory_available() -> tuple[int | None, str]:
    """Bytes this node can still give (MemAvailable, bounded by the cgroup limit), and where the number came from."""
    avail, src = None, ""
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemAvailable:"):
            avail, src = int(line.split()[1]) * 1024, "MemAvailable"
    room = _cgroup_room()
    if room is not None and (avail is None or room < avail):
        avail, src = room, "cgroup memory limit"
    return avail, src


# --------------------------------------------------------------------------------------------------------------------
# The model


def _ranks_per_point(cfg: JobConfig, size: int) -> int:
    """Ranks sharing one point, as the bound kind will choose them (clamped to the run's size here: a value that does
    not divide it is refused by the kind after start-up)."""
    from mpiheat.kinds import build

    return max(1, min(build(cfg).requested_ranks_per_point(size), size))


def two_particle_basis(levels: int, masses) -> int:
    """Size n_b of the triangle spectral basis at the fine degree the two-particle solver starts with."""
    ratio = max(masses) / min(masses)
    p = int(math.ceil((4.8 * math.sqrt(levels) + 3.0) * ratio**0.125))  # two_particle.default_degree
    p_fine = p + max(8, p // 6)
    return (p_fine + 1) * (p_fine + 2) // 2


def sparse_spectrum_available() -> bool:
    """Whether ``two_particle_spectrum(method="auto")`` takes the distributed sparse solver (its rule: petsc4py and
    slepc4py are installed; checked without importing them, so that a refused job starts no MPI)."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("petsc4py", "slepc4py"))


def solver_bytes(equation: str, N: int, *, backend: str = "scipy", ranks: int = 1, redfield_eigs: str = "auto",
                 masses=(1.0,), spectrum_ranks: int = 1) -> tuple[float, str]:
    """Peak bytes of one steady-state solve with N levels (spectrum included), per rank; and a description.

    ``spectrum_ranks``: the ranks that compute a two-particle spectrum together (all ranks of the job)."""
    n2 = float(N) ** 2
    if len(masses) == 2:
        nb = two_particle_basis(N, masses)
        if sparse_spectrum_available():
            spec = TWO_BASE + (C_TWO_VECTORS * 8.0 * N * nb + C_TWO_SPARSE_BASIS * nb) / max(1, spectrum_ranks)
            extra = f", two-particle basis n_b = {nb} (sparse, {spectrum_ranks} ranks)"
        else:
            spec = TWO_BASE + C_TWO_BASIS * float(nb) ** 2
            extra = f", two-particle basis n_b = {nb} (dense)"
    else:
        spec, extra = 0.0, ""
    if equation == "pauli":
        b = C_PAULI * n2
    elif equation == "lindblad":
        b = C_PETSC_SHARED * n2 / ranks + C_PAULI * n2 if backend == "petsc" else C_LINDBLAD * n2
    else:  # redfield: matrix-free Krylov, plus the dense eigenvalue check when chosen
        b = C_REDFIELD * n2 / (ranks if backend == "petsc" else 1) + C_PAULI * n2
        if redfield_eigs == "dense" or (redfield_eigs == "auto" and N <= 40):
            b += C4_DENSE_EIG * n2 * n2
    desc = f"{equation} N = {N}" + (f", {backend}" if equation != "pauli" else "") + (
        f", {ranks} ranks per point" if ranks > 1 else "") + extra
    return max(b, spec), desc


def estimate(cfg: JobConfig, world_size: int = 1) -> Estimate:
    """Peak memory of one rank of ``cfg`` run on ``world_size`` ranks (see the module docstring for the model)."""
    kind = cfg.job.kind
    size = max(1, int(world_size))
    q = cfg.quantum
    parts: dict[str, float] = {"interpreter and libraries": BASE}
    n_points = cfg.n_points()
    parts["sweep"] = PER_POINT * n_points
    key, detail = "[temperatures]", f"{n_points} points"
    work, wkey, wdesc = 0.0, key, ""
    masses = cfg.system.masses
    if kind == "classical" or (kind == "scaling" and cfg.scaling.classical != "none"):
        parts["interpreter and libraries"] += BASE_NUMBA
    if kind == "classical" and cfg.classical.method == "md" or kind == "scaling" and cfg.scaling.classical == "md":
        t = cfg.classical.trajectories
        work, wkey, wdesc = PER_TRAJECTORY * t, "[classical] trajectories", f"{t} trajectories"
    if kind in ("quantum", "calibrate", "scaling") or (kind == "relaxation" and cfg.relaxation.model == "quantum"):
        r = _ranks_per_point(cfg, size) if kind == "quantum" else 1
        for N in q.levels.values:
            for eq in (q.equation.values if kind in ("quantum", "scaling") else ("pauli",)):
                bkey = "[quantum] levels"
                if kind == "relaxation":
                    eq = q.equation.value if q.equation.value != "pauli" else "lindblad"
                    dense = eq == "redfield" or N <= 30
                    b = C4_DENSE_PROPAGATE * float(N) ** 4 if dense else C_RELAX_BLOCKS * float(N) ** 2
                    b = max(b, solver_bytes("pauli", N, masses=masses)[0])
                    desc = f"{eq} relaxation N = {N}" + (", dense spectral analysis" if dense else "")
                    # rho(t) at every output time (complex N x N) and the real trajectory it comes from
                    samples = C_RELAX_SAMPLE * float(N) ** 2 * cfg.relaxation.times
                    if samples > b:
                        desc += f", {cfg.relaxation.times} output times"
                        bkey = "[relaxation] times"
                    b += samples
                else:
                    backend = q.backend if kind == "quantum" else "scipy"
                    if backend == "auto":
                        backend = "petsc" if r > 1 else "scipy"
                    b, desc = solver_bytes(eq, N, backend=backend, ranks=r, redfield_eigs=q.redfield_eigs,
                                           masses=masses, spectrum_ranks=size if kind == "quantum" else 1)
                    if backend == "petsc" and eq != "pauli":
                        parts["interpreter and libraries"] = BASE + BASE_PETSC
                if b > work:
                    work, wkey, wdesc = b, bkey, f"{kind} {desc}"
    parts["solver"] = work
    if work >= parts["sweep"]:
        key, detail = wkey, wdesc or detail
    elif n_points > 1:
        detail = f"{n_points} sweep points" + (f", {wdesc}" if wdesc else "")
    total = int(sum(parts.values()))
    return Estimate(total=total, key=key, detail=detail, parts={k: int(v) for k, v in parts.items()})


def check_memory(cfg: JobConfig, world_size: int | None = None, local_ranks: int | None = None) -> Estimate:
    """Refuse ``cfg`` (raise :class:`JobError`) when its estimated peak memory per rank exceeds what a rank may use.

    The limit per rank is ``[job] max_memory`` when set, else the node's available memory (MemAvailable, or the room
    left by a cgroup limit if smaller) divided by the ranks of this run on the node. World size and ranks per node come
    from the launcher's environment when not given (see the module docstring).
    """
    size = world_size_from_env() if world_size is None else int(world_size)
    est = estimate(cfg, size)
    if cfg.job.max_memory != "auto":
        limit = int(cfg.job.max_memory)
        how = "[job] max_memory"
    else:
        avail, src = memory_available()
        if avail is None:  # nowhere to read it from (not Linux): nothing to compare with
            return est
        local = local_ranks_from_env(size) if local_ranks is None else int(local_ranks)
        limit = avail // max(1, local)
        how = f"{src} {fmt_bytes(avail)}" + (f" shared by {local} ranks on this node" if local > 1 else "")
    if est.total > limit:
        raise JobError(cfg.source, est.key,
                       f"estimated peak memory {fmt_bytes(est.total)} per rank ({est.detail}) exceeds the "
                       f"{fmt_bytes(limit)} available per rank ({how}); reduce it, or set [job] max_memory")
    return est


def main(argv: list[str] | None = None) -> int:
    """``python -m mpiheat.resources JOB.toml [--set k=v] [--ranks P]``: print the estimate (and limit) of a job."""
    import argparse

    from mpiheat.kinds import load_job

    p = argparse.ArgumentParser(prog="python -m mpiheat.resources", description=main.__doc__)
    p.add_argument("job", help="job file (TOML)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    p.add_argument("--ranks", type=int, default=None, help="MPI ranks (default: from the launcher environment)")
    args = p.parse_args(argv)
    try:
        cfg = load_job(args.job, args.set)  # validation only: the output is not checked here
        size = args.ranks or world_size_from_env()
        est = estimate(cfg, size)
        print(f"{cfg.source}: estimated peak memory per rank {fmt_bytes(est.total)} on {size} rank(s) "
              f"({est.detail}; driven by {est.key})")
        for k, v in est.parts.items():
            print(f"  {k}: {fmt_bytes(v)}")
        check_memory(cfg, size)
    except JobError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print("fits")
    return 0


if __name__ == "__main__":
    sys.exit(main())
