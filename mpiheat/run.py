"""Command line: ``[mpirun -n P] python -m mpiheat.run JOB.toml [--set sec.key=value] [--output PATH] [-- PETSc]``.

Exit codes: 0 success; 2 bad job file or option, output in use by another run, or a corrupt results file to resume
(one line; nothing written); 1 runtime failure (unwritable output or full disk: one line, every rank exits 1, the
previous file is intact; any other error: the failing rank prints it and all ranks are aborted); 75 stopped by a
signal (after a checkpoint if anything new was computed; run the same command again to resume).
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    # First thing, before any heavy import (numpy, mpi4py, h5py, numba): a stop signal during start-up is a request
    # (exit 75 at the first agreement point), not the default action that kills the rank.
    from mpiheat.driver.signals import STOP as _STOP

    _STOP.install()

import argparse
import logging
import math
import os
import time
import traceback

EXIT_BAD_INPUT = 2
EXIT_FAILURE = 1


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


def _startup_delay_hook() -> None:
    """Test hook: ``MPIHEAT_TEST_STARTUP_SLEEP=s`` lengthens start-up by ``s`` seconds (the handler is in place),
    so that tests can deliver a stop signal during start-up deterministically, however fast the machine."""
    delay = os.environ.get("MPIHEAT_TEST_STARTUP_SLEEP")
    if delay:
        time.sleep(float(delay))


def main(argv: list[str] | None = None) -> int:
    from mpiheat.driver.signals import STOP

    STOP.install()  # no-op when already installed at start-up (python -m mpiheat.run)
    _startup_delay_hook()
    try:
        return _main(argv)
    except BaseException as e:  # safety net: nothing may leave other ranks waiting in a collective
        if isinstance(e, SystemExit):
            raise
        traceback.print_exc()
        _abort_if_parallel(EXIT_FAILURE)
        return EXIT_FAILURE
    finally:
        STOP.restore()


def _abort_if_parallel(code: int) -> None:
    """MPI_Abort when MPI is running with several ranks (the others may wait for this one in a collective)."""
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is not None and mpi.Is_initialized() and not mpi.Is_finalized() and mpi.COMM_WORLD.Get_size() > 1:
        sys.stderr.flush()
        mpi.COMM_WORLD.Abort(code)


def _exit_code(e: BaseException) -> int:
    from mpiheat.config import JobError
    from mpiheat.driver.runner import EXIT_INTERRUPTED, Interrupted
    from mpiheat.io import CorruptResultsError
    from mpiheat.io.lock import OutputBusyError

    if isinstance(e, (JobError, OutputBusyError, CorruptResultsError)):
        return EXIT_BAD_INPUT
    if isinstance(e, Interrupted):
        return EXIT_INTERRUPTED
    return EXIT_FAILURE


def _main(argv: list[str] | None) -> int:
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
        from mpiheat.resources import check_memory

        check_memory(cfg)  # peak memory per rank vs what a rank may use; world size from the launcher's environment
    except JobError as e:
        if _world_rank() == 0:
            print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT

    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    setup_logging(rank, size, args.verbose)
    log = logging.getLogger("mpiheat")

    from mpiheat.io import lock as output_lock

    # One writer per output: rank 0 takes the lock before any heavy import or work; every rank learns the outcome.
    lock, status = None, None
    if rank == 0:
        try:
            lock = output_lock.acquire(cfg.job.output)
        except output_lock.OutputBusyError as e:
            status = (EXIT_BAD_INPUT, str(e))
        except OSError as e:
            status = (EXIT_FAILURE, f"cannot create the lock file {output_lock.lock_path(cfg.job.output)}: "
                                    f"{e.strerror or e}")
        except Exception as e:  # whatever it is, the other ranks must hear of it
            status = (EXIT_FAILURE, f"cannot lock {cfg.job.output}: {type(e).__name__}: {e}")
    status = comm.bcast(status, root=0) if size > 1 else status
    if status is not None:
        if rank == 0:
            print(f"error: {status[1]}", file=sys.stderr)
        return status[0]
    try:
        return _run(cfg, args, petsc_args, comm, log)
    finally:
        if lock is not None:
            lock.release()


def _run(cfg, args, petsc_args, comm, log) -> int:
    rank, size = comm.Get_rank(), comm.Get_size()
    if petsc_args:  # command-line PETSc options come after the job's, so they win in the options database
        import dataclasses

        merged = f"{cfg.petsc.options} {' '.join(petsc_args)}".strip()
        cfg = dataclasses.replace(cfg, petsc=dataclasses.replace(cfg.petsc, options=merged))
    progress = {"auto": None, "on": True, "off": False}[args.progress]
    t0 = time.time()
    try:
        from mpiheat.driver.runner import run_job

        if rank == 0:
            log.info("job %s (kind %s) on %d rank(s) -> %s", cfg.source, cfg.job.kind, size, cfg.job.output)
        columns = run_job(cfg, comm, restart=args.restart, progress=progress)
    except BaseException as e:
        code = _exit_code(e)
        if isinstance(e, KeyboardInterrupt):
            e = KeyboardInterrupt("stopped at once by a second SIGINT; points since the last checkpoint are lost")
        if getattr(e, "collective", False) or (size == 1 and _expected(e)):
            # Every rank raised it together (or there is only one): rank 0 says it in one line, all exit alike.
            if rank == 0:
                print(f"{'interrupted' if code == 75 else 'error'}: {e}", file=sys.stderr)
            return code
        # Raised on this rank only: say it here (a traceback if it is a bug), then take every rank down, since the
        # others may be waiting in a collective.
        head = f"[mpiheat rank {rank}/{size}] error: {type(e).__name__}: {e}\n"
        tb = "" if _expected(e) else "".join(traceback.format_exception(type(e), e, e.__traceback__))
        sys.stderr.write(head + tb)
        sys.stderr.flush()
        if size > 1:
            from mpiheat.io import lock as output_lock

            held = output_lock.held(cfg.job.output)
            if held is not None:  # MPI_Abort skips every finally: free the output for the next run now
                held.release()
            comm.Abort(code)
        return code
    if rank == 0 and not args.quiet:
        from mpiheat.kinds import get_kind

        names = get_kind(cfg.job.kind).summary(cfg, columns)
        try:
            print(f"# mpiheat {cfg.job.kind}: {cfg.source} -> {cfg.job.output} ({size} rank(s), "
                  f"{time.time() - t0:.1f} s)")
            print(format_table(columns, names))
            sys.stdout.flush()
        except BrokenPipeError:  # `... | head`: the reader left; the results file is written, nothing failed
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _expected(e: BaseException) -> bool:
    """Errors whose message is the whole story (no traceback), even when only one rank raised them."""
    from mpiheat.config import JobError
    from mpiheat.io import CorruptResultsError, OutputError
    from mpiheat.io.lock import OutputBusyError

    return isinstance(e, (JobError, OutputError, CorruptResultsError, OutputBusyError, KeyboardInterrupt))


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
