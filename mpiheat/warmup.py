"""Compile (or load from ``NUMBA_CACHE_DIR``) the numba kernels a job will use, before the job starts.

``python -m mpiheat.warmup JOB.toml [mpiheat.run options]``

The Slurm templates run this once per node before the main step, so that hundreds of ranks load a warm cache instead
of all compiling at once (and racing on the cache files). Importing a kernel module compiles nothing: numba's
``njit`` functions compile lazily, on their first call, for the argument types of that call. So the warm-up calls
the same entry points the job will call (:func:`mpiheat.classical.md.run_md`,
:func:`mpiheat.classical.transfer.transfer_current`, :func:`mpiheat.classical.relaxation.thermalisation_time`), with
the job's own bath, masses and number types, on a tiny input (2 trajectories of 2 collisions, a coarse transfer grid,
2 relaxation moves): the compiled signatures are exactly the job's; once cached, loading them takes a second or two.
Kinds without numba kernels (``quantum``, ``calibrate``, quantum ``relaxation``) have nothing to warm.
No MPI is initialised (the MD entry point gets a one-rank communicator stand-in), so the step can run under any
``srun --mpi`` setting.

``python -m mpiheat.warmup --done-points JOB.toml [options]`` prints instead the number of finished points in the
job's results file (0 when there is none yet, -1 when it cannot be read); the Slurm templates compare it before and
after a run to refuse requeueing a run that made no progress.

The options are those of ``python -m mpiheat.run`` (``--set``, ``--output``, ...), so the templates pass theirs
unchanged. Exit codes: 0 done; 2 bad job file or option (one line); 1 a kernel failed to compile.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

EXIT_BAD_INPUT = 2


class _SelfComm:
    """The one-rank communicator ``run_md`` needs (rank 0 of 1): keeps MPI out of the warm-up step."""

    def Get_rank(self) -> int:  # noqa: N802 (mpi4py names)
        return 0

    def Get_size(self) -> int:  # noqa: N802
        return 1

    def gather(self, obj, root: int = 0):
        return [obj]

    def bcast(self, obj, root: int = 0):
        return obj


def _first_point(cfg) -> dict:
    from mpiheat.kinds import build

    points = build(cfg).points()
    return points[0] if points else {}


def _md_task(cfg, point: dict, masses: tuple) -> Callable[[], None]:
    def run() -> None:
        from mpiheat.classical.md import run_md
        from mpiheat.kinds.base import point_value
        from mpiheat.kinds.classical import bath_from

        length = float(point_value(point, "length", cfg.system.length))
        T_L, T_R = float(point.get("T_L", 1.0)), float(point.get("T_R", 1.0))
        # Same call as the job's (same Python and numba types), only 2 trajectories x 2 collisions.
        run_md(T_L, T_R, bath_from(cfg, point), masses=masses, length=length, trajectories=2, collisions=2,
               warmup=0, seed=cfg.classical.seed, stream=0, comm=_SelfComm())

    return run


def _transfer_task(cfg, point: dict, mass: float) -> Callable[[], None]:
    def run() -> None:
        from mpiheat.classical.transfer import transfer_current
        from mpiheat.kinds.classical import bath_from

        # A large T_hot/T_cold ratio takes every branch of the solver (the far-region shift kernel included);
        # a coarse grid and 3 iterations keep it cheap. The kernels' argument types do not depend on these values.
        transfer_current(1.0, 1e-3, bath_from(cfg, point), mass=mass, length=1.0, cells_per_width=1.0,
                         max_iter=3, refine=False)

    return run


def _relaxation_task(cfg) -> Callable[[], None]:
    def run() -> None:
        from mpiheat.classical.relaxation import thermalisation_time
        from mpiheat.kinds.classical import bath_from

        thermalisation_time(1.0, bath_from(cfg, {}), E0=cfg.relaxation.E0, tol=cfg.relaxation.tol, max_moves=2)

    return run


def warmup_tasks(cfg) -> dict[str, Callable[[], None]]:
    """The warm-up calls for a validated job: ``{description: callable}`` (empty when the kind uses no numba).

    Parameters
    ----------
    cfg : mpiheat.config.JobConfig
        The job, with the same overrides as the run.

    Returns
    -------
    dict
        Each callable runs one entry point on a tiny input, compiling or loading its kernels.
    """
    kind = cfg.job.kind
    masses = tuple(float(m) for m in cfg.system.masses)
    tasks: dict[str, Callable[[], None]] = {}
    if kind == "classical":
        point = _first_point(cfg)
        if cfg.classical.method == "transfer":
            tasks["transfer operator"] = _transfer_task(cfg, point, masses[0])
        else:
            tasks[f"md, {len(masses)} particle(s), {cfg.bath.model} bath"] = _md_task(cfg, point, masses)
    elif kind == "scaling":
        if cfg.scaling.classical == "transfer":
            tasks["transfer operator"] = _transfer_task(cfg, {}, masses[0])
        elif cfg.scaling.classical == "md":
            tasks[f"md, 1 particle, {cfg.bath.model} bath"] = _md_task(cfg, {"T_L": 1.0, "T_R": 1.0},
                                                                        masses[:1])
    elif kind == "relaxation" and cfg.relaxation.model == "classical":
        tasks["bath thermalisation"] = _relaxation_task(cfg)
    return tasks


def _parse(argv: list[str]):
    from mpiheat.cli import build_parser

    ours = argv[: argv.index("--")] if "--" in argv else argv  # PETSc options do not matter here
    done_points = "--done-points" in ours
    ours = [a for a in ours if a != "--done-points"]
    parser = build_parser()
    parser.prog = "python -m mpiheat.warmup"
    parser.description = "Compile or load the numba kernels of a job (see the module docstring)."
    return parser.parse_args(ours), done_points


def done_points(path: str) -> int:
    """Finished points in a results file: 0 when the file does not exist, -1 when it cannot be read."""
    if not os.path.exists(path):
        return 0
    try:
        import numpy as np

        from mpiheat.io import read_results

        cols = read_results(path)[0]
        return int(np.asarray(cols.get("done", []), dtype=bool).sum())
    except Exception:  # noqa: BLE001 (any unreadable file: the caller only needs "cannot tell")
        return -1


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args, count = _parse(argv)
    except SystemExit as e:  # argparse: usage error (2) or --help (0)
        return int(e.code or 0)
    from mpiheat.cli import plain_output_unless_terminal
    from mpiheat.config import JobError
    from mpiheat.kinds import load_job

    plain_output_unless_terminal()  # numba's messages in the Slurm log: no terminal codes

    try:
        cfg = load_job(args.job, args.set, args.output)  # validation only: no start-up checks of the output
    except JobError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if count:
        print(done_points(cfg.job.output))
        return 0
    cache = os.environ.get("NUMBA_CACHE_DIR", "(numba default: next to the sources)")
    tasks = warmup_tasks(cfg)
    if not tasks:
        print(f"warm-up: kind {cfg.job.kind!r} of {cfg.source} uses no numba kernels; nothing to do")
        return 0
    for what, task in tasks.items():
        t0 = time.perf_counter()
        try:
            task()
        except Exception as e:  # noqa: BLE001 (report in one line; the run itself will show the full error)
            print(f"error: warm-up of {what} failed: {type(e).__name__}: {e}", file=sys.stderr)
            return 1
        print(f"warm-up: {what}: kernels ready in {time.perf_counter() - t0:.1f} s (cache {cache})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
