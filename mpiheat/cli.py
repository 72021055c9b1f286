"""Command line: ``[mpirun -n P] python -m mpiheat.run JOB.toml [--set sec.key=value] [--output PATH] [-- PETSc]``,
and the ``mpiheat`` console script (``mpiheat run JOB.toml ...``, ``mpiheat inspect RESULT.h5``).

The CLI reads and validates the job (:func:`mpiheat.kinds.load_job`), does the start-up checks on this machine
(:mod:`mpiheat.startup`: the output can be written, PETSc is importable when the job asks for it; the memory estimate
fits), binds the job's kind (:func:`mpiheat.kinds.build`), hands the bound kind to the driver
(:func:`mpiheat.driver.runner.run_sweep`) and maps the driver's errors to exit codes and one-line messages:

Exit codes: 0 success; 2 bad job file or option, output in use by another run, or a corrupt results file to resume
(one line; nothing written); 1 runtime failure (unwritable output or full disk: one line, every rank exits 1, the
previous file is intact; any other error: the failing rank prints it and all ranks are aborted); 75 stopped by a
signal (after a checkpoint if anything new was computed; run the same command again to resume).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import traceback

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 75  # EX_TEMPFAIL: stopped on request after a checkpoint; run the same command to resume

_RUN_DOC = "Run an mpiheat job (TOML) and write its HDF5 results."


# --------------------------------------------------------------------------------------------------------------------
# The console script


def main(argv: list[str] | None = None) -> int:
    """``mpiheat run JOB.toml [options]`` | ``mpiheat inspect RESULT.h5`` (the ``mpiheat`` console script)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: mpiheat run JOB.toml [options] | mpiheat inspect RESULT.h5")
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "run":
        return run_main(rest)
    if cmd == "inspect":
        from mpiheat.inspect import main as inspect_main

        return inspect_main(rest)
    print(f"error: unknown command {cmd!r} (run | inspect)", file=sys.stderr)
    return 2


# --------------------------------------------------------------------------------------------------------------------
# Arguments and logging


class _ArgParseError(Exception):
    pass


class _RaisingParser(argparse.ArgumentParser):
    """A parser whose usage errors raise (one line, exit 2 from :func:`run_main`) instead of printing usage."""

    def error(self, message):
        raise _ArgParseError(message)


def build_parser(parser_class: type[argparse.ArgumentParser] = argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of ``python -m mpiheat.run`` (also parsed by ``python -m mpiheat.warmup``)."""
    p = parser_class(prog="python -m mpiheat.run", description=_RUN_DOC,
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


def _split_petsc(argv: list[str]) -> tuple[list[str], list[str]]:
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1:]
    return argv, []


def plain_output_unless_terminal(stream=None) -> None:
    """No terminal codes in batch logs: numba wraps its error and warning messages in ANSI codes (``\\x1b[1m ...
    \\x1b[0m``, whatever its colour scheme) whenever colorama is importable; unless ``stream`` (stderr) is a terminal,
    switch that off before numba is imported (``NUMBA_DISABLE_ERROR_MESSAGE_HIGHLIGHTING``; a value set by the user
    wins). mpiheat's own progress bar is drawn on terminals only, plain lines otherwise."""
    stream = sys.stderr if stream is None else stream
    if not (hasattr(stream, "isatty") and stream.isatty()):
        os.environ.setdefault("NUMBA_DISABLE_ERROR_MESSAGE_HIGHLIGHTING", "1")


def setup_logging(rank: int, size: int, verbose: bool) -> None:
    """Plain-text log lines on stderr (``[mpiheat rank/size] LEVEL message``): no colours or other terminal codes,
    so batch logs stay clean; rank 0 logs info, other ranks warnings (everything at debug with ``verbose``)."""
    level = logging.DEBUG if verbose else (logging.INFO if rank == 0 else logging.WARNING)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"[mpiheat {rank}/{size}] %(levelname)s %(message)s"))
    root = logging.getLogger("mpiheat")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


# --------------------------------------------------------------------------------------------------------------------
# Start-up checks (environment probes; the job file itself is validated by mpiheat.config)


def startup_checks(cfg) -> None:
    """Checks of this machine before MPI start-up and any heavy import; raises ``JobError`` (one line, exit 2).

    * the output can be created: its folder exists and is writable, it is not a folder, its name fits the file
      system, and petsc4py/slepc4py are importable when the job asks for the PETSc backend
      (:func:`mpiheat.startup.check_environment`);
    * the estimated peak memory per rank fits what a rank may use (:func:`mpiheat.resources.check_memory`).
    """
    from mpiheat.resources import check_memory
    from mpiheat.startup import check_environment

    check_environment(cfg)
    check_memory(cfg)  # peak memory per rank vs what a rank may use; world size from the launcher's environment


# --------------------------------------------------------------------------------------------------------------------
# python -m mpiheat.run


def _startup_delay_hook() -> None:
    """Test hook: ``MPIHEAT_TEST_STARTUP_SLEEP=s`` lengthens start-up by ``s`` seconds (the handler is in place),
    so that tests can deliver a stop signal during start-up deterministically, however fast the machine."""
    delay = os.environ.get("MPIHEAT_TEST_STARTUP_SLEEP")
    if delay:
        time.sleep(float(delay))


def run_main(argv: list[str] | None = None) -> int:
    """``python -m mpiheat.run`` (and ``mpiheat run``): returns the exit code."""
    from mpiheat.driver.signals import STOP

    STOP.install()  # no-op when already installed at start-up (python -m mpiheat.run)
    plain_output_unless_terminal()
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


# Seconds between writing the error and MPI_Abort. The launcher forwards each rank's stderr through a pipe; on an
# abort MPICH's hydra kills the proxies at once, and a line still in the pipe is lost (seen once in CI under load:
# the failing rank's message never reached the terminal). A short pause lets the launcher drain it first.
ABORT_GRACE = 0.5


def abort_world(comm, code: int) -> None:
    """Flush this rank's output, give the launcher time to forward it, then MPI_Abort every rank of ``comm``."""
    sys.stdout.flush()
    sys.stderr.flush()
    time.sleep(ABORT_GRACE)
    comm.Abort(code)


def _abort_if_parallel(code: int) -> None:
    """MPI_Abort when MPI is running with several ranks (the others may wait for this one in a collective)."""
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is not None and mpi.Is_initialized() and not mpi.Is_finalized() and mpi.COMM_WORLD.Get_size() > 1:
        abort_world(mpi.COMM_WORLD, code)


def exit_code(e: BaseException) -> int:
    """The exit code of an error that ended a run (see the module docstring)."""
    from mpiheat.config import JobError
    from mpiheat.driver.runner import Interrupted, ResumeError, SweepError
    from mpiheat.io import CorruptResultsError
    from mpiheat.io.lock import OutputBusyError

    if isinstance(e, (JobError, OutputBusyError, CorruptResultsError, ResumeError, SweepError)):
        return EXIT_BAD_INPUT
    if isinstance(e, Interrupted):
        return EXIT_INTERRUPTED
    return EXIT_FAILURE


def message(e: BaseException, cfg) -> str:
    """The one-line message of an expected error, in the job file's words (section and key)."""
    from mpiheat.driver.runner import ResumeError, SweepError

    if isinstance(e, ResumeError):
        return f"{cfg.source}: [job] output: {e}" + (" or pass --restart to start over" if e.restart_helps else "")
    if isinstance(e, SweepError):
        key = "[parallel] ranks_per_point" if e.what == "ranks_per_point" else "[temperatures]"
        return f"{cfg.source}: {key}: {e}"
    return str(e)


def _expected(e: BaseException) -> bool:
    """Errors whose message is the whole story (no traceback), even when only one rank raised them."""
    from mpiheat.config import JobError
    from mpiheat.driver.runner import DriverError
    from mpiheat.io import CorruptResultsError, OutputError
    from mpiheat.io.lock import OutputBusyError

    return isinstance(e, (JobError, DriverError, OutputError, CorruptResultsError, OutputBusyError,
                          KeyboardInterrupt))


def _world_rank() -> int:
    # Without importing mpi4py (fast failure path): the launcher's environment tells the rank.
    for var in ("OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID"):
        if var in os.environ:
            try:
                return int(os.environ[var])
            except ValueError:
                pass
    return 0


def _main(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ours, petsc_args = _split_petsc(argv)
    parser = build_parser(_RaisingParser)
    try:
        args = parser.parse_args(ours)
    except _ArgParseError as e:
        print(f"error: command line: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except SystemExit as e:  # --help
        return int(e.code or 0)

    from mpiheat.config import JobError
    from mpiheat.kinds import load_job

    # Validate before MPI start-up work or any heavy import: bad input fails fast, on every rank alike.
    try:
        cfg = load_job(args.job, args.set, args.output)
        startup_checks(cfg)
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


def _with_petsc_args(cfg, petsc_args: list[str]):
    """Command-line PETSc options come after the job's, so they win in the options database."""
    if not petsc_args:
        return cfg
    import dataclasses

    merged = f"{cfg.petsc.options} {' '.join(petsc_args)}".strip()
    return dataclasses.replace(cfg, petsc=dataclasses.replace(cfg.petsc, options=merged))


def _run(cfg, args, petsc_args, comm, log) -> int:
    rank, size = comm.Get_rank(), comm.Get_size()
    cfg = _with_petsc_args(cfg, petsc_args)
    progress = {"auto": None, "on": True, "off": False}[args.progress]
    t0 = time.time()
    kind = None
    try:
        from mpiheat.config import JobError
        from mpiheat.driver.runner import run_sweep
        from mpiheat.kinds import build

        try:
            kind = build(cfg)
        except JobError as e:  # every rank binds the same job alike: the error is raised by all of them
            e.collective = True
            raise
        if rank == 0:
            log.info("job %s (kind %s) on %d rank(s) -> %s", cfg.source, cfg.job.kind, size, cfg.job.output)
        columns = run_sweep(kind, comm, output=cfg.job.output, restart=args.restart, progress=progress,
                            checkpoint_interval=cfg.job.checkpoint_interval, attrs={"job": cfg.to_toml()})
    except BaseException as e:
        code = exit_code(e)
        if isinstance(e, KeyboardInterrupt):
            e = KeyboardInterrupt("stopped at once by a second SIGINT; points since the last checkpoint are lost")
        if getattr(e, "collective", False) or (size == 1 and _expected(e)):
            # Every rank raised it together (or there is only one): rank 0 says it in one line, all exit alike.
            if rank == 0:
                if _expected(e):
                    print(f"{'interrupted' if code == EXIT_INTERRUPTED else 'error'}: {message(e, cfg)}",
                          file=sys.stderr)
                else:  # a bug that every rank hit alike (e.g. in a kind's set-up): the traceback, once
                    traceback.print_exception(type(e), e, e.__traceback__)
            return code
        # Raised on this rank only: say it here (a traceback if it is a bug), then take every rank down, since the
        # others may be waiting in a collective.
        head = f"[mpiheat rank {rank}/{size}] error: {type(e).__name__}: {message(e, cfg)}\n"
        tb = "" if _expected(e) else "".join(traceback.format_exception(type(e), e, e.__traceback__))
        sys.stderr.write(head + tb)
        sys.stderr.flush()
        if size > 1:
            from mpiheat.io import lock as output_lock

            held = output_lock.held(cfg.job.output)
            if held is not None:  # MPI_Abort skips every finally: free the output for the next run now
                held.release()
            abort_world(comm, code)
        return code
    if rank == 0 and not args.quiet:
        from mpiheat.io.table import format_table

        names = kind.summary_columns()
        try:
            print(f"# mpiheat {cfg.job.kind}: {cfg.source} -> {cfg.job.output} ({size} rank(s), "
                  f"{time.time() - t0:.1f} s)")
            print(format_table(columns, names))
            sys.stdout.flush()
        except BrokenPipeError:  # `... | head`: the reader left; the results file is written, nothing failed
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_OK
