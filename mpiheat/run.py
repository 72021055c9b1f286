"""Command line: ``[mpirun -n P] python -m mpiheat.run JOB.toml [--set sec.key=value] [--output PATH] [-- PETSc]``.

Exit codes: 0 success; 2 bad job file or option (one line naming file, key and problem; nothing written);
1 runtime failure (message from the failing rank; with several ranks all are aborted); 75 stopped by a signal after a
checkpoint (run the same command again to resume).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import time
import traceback

EXIT_BAD_INPUT = 2


def _split_petsc(argv: list[str]) -> tuple[list[str], list[str]]:
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1:]
    return argv, []


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mpiheat.run", description=__doc__.split("\n\n")[0],
                                epilog="Options after a bare -- go to PETSc/SLEPc (e.g. -- -eps_type krylovschur).")
    p.add_argument("job", help="job file (TOML)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a job key (TOML value; repeatable), e.g. --set classical.collisions=1e6")
    p.add_argument("--output", help="results file (overrides [job] output)")
    p.add_argument("--restart", action="store_true", help="ignore finished points in an existing results file")
    p.add_argument("--progress", choices=("auto", "on", "off"), default="auto", help="progress display on rank 0")
    p.add_argument("--quiet", action="store_true", help="no summary table")
    p.add_argument("-v", "--verbose", action="store_true", help="log from every rank, at debug level")
    return p


class _ArgParseError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _ArgParseError(message)


def setup_logging(rank: int, size: int, verbose: bool) -> None:
    level = logging.DEBUG if verbose else (logging.INFO if rank == 0 else logging.WARNING)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"[mpiheat {rank}/{size}] %(levelname)s %(message)s"))
    root = logging.getLogger("mpiheat")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def format_table(columns: dict, names: list[str], max_rows: int = 200) -> str:
    """A fixed-width text table of the chosen result columns."""
    import numpy as np

    names = [n for n in names if n in columns]
    n = len(next(iter(columns.values()))) if columns else 0

    def cell(v):
        if isinstance(v, (bool, np.bool_)):
            return "yes" if v else "no"
        if isinstance(v, (int, np.integer)):
            return str(int(v))
        if isinstance(v, (float, np.floating)):
            return "nan" if math.isnan(v) else f"{v:.6g}"
        return str(v)

    rows = [[cell(columns[k][i]) for k in names] for i in range(min(n, max_rows))]
    widths = [max([len(k)] + [len(r[j]) for r in rows]) for j, k in enumerate(names)]
    lines = ["  ".join(k.rjust(w) for k, w in zip(names, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    if n > max_rows:
        lines.append(f"... {n - max_rows} more rows")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ours, petsc_args = _split_petsc(argv)
    parser = build_parser()
    parser.__class__ = _Parser
    try:
        args = parser.parse_args(ours)
    except _ArgParseError as e:
        print(f"error: command line: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except SystemExit as e:  # --help
        return int(e.code or 0)

    from mpiheat.config import JobError, load_job

    # Validate before MPI start-up work or any heavy import: bad input fails fast, on every rank alike.
    try:
        cfg = load_job(args.job, args.set, args.output)
    except JobError as e:
        if _world_rank() == 0:
            print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT

    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    setup_logging(rank, size, args.verbose)
    log = logging.getLogger("mpiheat")

    from mpiheat.core.driver import EXIT_INTERRUPTED, Interrupted, run_job
    from mpiheat.io import OutputError

    if petsc_args:  # command-line PETSc options come after the job's, so they win in the options database
        import dataclasses

        merged = f"{cfg.petsc.options} {' '.join(petsc_args)}".strip()
        cfg = dataclasses.replace(cfg, petsc=dataclasses.replace(cfg.petsc, options=merged))
    progress = {"auto": None, "on": True, "off": False}[args.progress]
    t0 = time.time()
    try:
        if rank == 0:
            log.info("job %s (kind %s) on %d rank(s) -> %s", cfg.source, cfg.job.kind, size, cfg.job.output)
        columns = run_job(cfg, comm, restart=args.restart, progress=progress)
    except JobError as e:
        if rank == 0:
            print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OutputError as e:
        if rank == 0:
            print(f"error: {e}", file=sys.stderr)
        return 1
    except Interrupted as e:
        if rank == 0:
            print(f"interrupted: {e}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BaseException as e:  # any failure on any rank: report it and take all ranks down (no hang)
        msg = "".join(traceback.format_exception(type(e), e, e.__traceback__))
        sys.stderr.write(f"[mpiheat rank {rank}/{size}] error: {type(e).__name__}: {e}\n{msg}")
        sys.stderr.flush()
        if size > 1:
            comm.Abort(1)
        return 1
    if rank == 0 and not args.quiet:
        from mpiheat.jobs import get_kind

        names = get_kind(cfg.job.kind).summary(cfg, columns)
        print(f"# mpiheat {cfg.job.kind}: {cfg.source} -> {cfg.job.output} ({size} rank(s), "
              f"{time.time() - t0:.1f} s)")
        print(format_table(columns, names))
    return 0


def _world_rank() -> int:
    # Without importing mpi4py (fast failure path): the launcher's environment tells the rank.
    for var in ("OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID"):
        if var in os.environ:
            try:
                return int(os.environ[var])
            except ValueError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
