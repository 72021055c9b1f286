"""The sweep driver: points over (sub-)communicators, checkpoint/resume, signals, progress, results.

It receives a job kind BOUND to a validated job (:class:`~mpiheat.driver.kind.Kind`, made by
``mpiheat.kinds.build``) and a communicator, and never sees the job file; everything that is the same for all kinds
happens here:

* **Layout.** ``kind.ranks_per_point(size) = r`` splits the world into ``size // r`` groups (``comm.Split``); each
  group computes one sweep point at a time with its own communicator (trajectories or a distributed matrix shared
  inside the group). Points are dealt to groups in rounds in sweep order, so the assignment depends only on
  (points, groups).
* **Declared schema.** The long-format columns are pre-allocated from ``kind.columns()`` with the declared dtypes
  and fill values (:mod:`mpiheat.io.schema`), so a checkpoint read back on resume has the same dtypes as an
  uninterrupted run, and every dataset carries its units and description.
* **Checkpoint/resume.** The results file *is* the checkpoint: after a round, when ``checkpoint_interval`` seconds
  have passed, rank 0 rewrites it atomically with the finished points (``done`` column, ``complete = False``).
  Started again with the same job (``kind.identity``), finished points are read back and skipped; results are
  bit-identical to an uninterrupted run because every point is computed from the job and its index alone.
  ``output=None`` writes nothing and takes no lock (the Python API's default).
* **Signals.** SIGTERM, SIGINT and SIGUSR1 request a stop: the current round finishes, a checkpoint is written and
  :class:`Interrupted` is raised; a second SIGINT stops at once. A stop requested during start-up ends the run
  before the first round (nothing new to write).
* **Failures end every rank.** Every step that can fail on some ranks only (output checks, reading the previous
  results, every write, which only rank 0 does) is followed by an agreement (bcast/allgather of the outcome), so
  all ranks raise the same error together; such errors carry ``collective = True``. Any other exception is local to
  the rank that raised it, and the caller (the CLI) then calls ``MPI_Abort``: no path leaves ranks waiting in a
  collective.
* **One writer.** Rank 0 holds the output's lock file (:mod:`mpiheat.io.lock`) for the whole run.

The driver's errors are its own classes (:class:`SweepError`, :class:`ResumeError`, :class:`Interrupted`, and
:class:`~mpiheat.io.OutputError`, :class:`~mpiheat.io.lock.OutputBusyError` of the I/O layer); the CLI maps them to
exit codes and one-line messages.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time

import numpy as np

from mpiheat.driver.kind import Kind
from mpiheat.driver.signals import STOP
from mpiheat.io import (
    CorruptResultsError,
    OutputError,
    check_writable,
    provenance,
    read_file,
    remove_stale_temps,
    write_results,
)
from mpiheat.io import lock as _lock
from mpiheat.io.lock import OutputBusyError
from mpiheat.io.schema import DONE, Column, by_name
from mpiheat.numerics.parallel import get_comm

log = logging.getLogger("mpiheat")

__all__ = ["DriverError", "Interrupted", "OutputBusyError", "OutputError", "Progress", "ResumeError", "SweepError",
           "SweepResult", "agree", "run_sweep"]


# --------------------------------------------------------------------------------------------------------------------
# Errors


class DriverError(Exception):
    """Base of the driver's own errors. ``collective`` is set to True when every rank raised it together."""

    def __reduce__(self):  # picklable with its arguments, so that rank 0 can broadcast it
        return (type(self), self.args)


class SweepError(DriverError):
    """The sweep cannot be laid out. ``what``: ``"points"`` (the sweep has none) or ``"ranks_per_point"`` (they do not
    divide the ranks of the run); the CLI names the job key from it."""

    def __init__(self, message: str, what: str = "points"):
        super().__init__(message, what)
        self.message, self.what = message, what

    def __str__(self) -> str:
        return self.message


class ResumeError(DriverError):
    """The existing output cannot be resumed (corrupt, not a results file, another job, another number of points);
    it is left untouched. ``restart_helps``: starting over (``restart=True``) is a way out (callers say how)."""

    def __init__(self, message: str, restart_helps: bool = True):
        super().__init__(message, restart_helps)
        self.message, self.restart_helps = message, restart_helps

    def __str__(self) -> str:
        return self.message


class Interrupted(DriverError):
    """The run stopped on a signal (after writing a checkpoint when there was anything new)."""


# Errors that every rank raises together after an agreement.
AGREED = (DriverError, OutputError, CorruptResultsError, OutputBusyError)


def agree(comm, fn, *, root_only: bool = False, errors: tuple = ()):
    """Run ``fn`` on every rank (or on rank 0 only) and make every rank learn the outcome.

    An :data:`AGREED` error, or one of ``errors`` (e.g. a kind's input error), raised by ``fn`` on any rank is
    re-raised on all ranks, marked ``collective = True``; any other exception propagates on the ranks where it
    happened (the caller aborts). Returns ``fn()``'s value (rank 0's, broadcast, when ``root_only``).
    """
    caught = AGREED + tuple(errors)
    out, err = None, None
    if not root_only or comm.Get_rank() == 0:
        try:
            out = fn()
        except caught as e:
            err = e
    if root_only:
        out, err = comm.bcast((out, err), root=0) if comm.Get_size() > 1 else (out, err)
    else:
        errs = comm.allgather(err) if comm.Get_size() > 1 else [err]
        err = next((e for e in errs if e is not None), None)
    if err is not None:
        err.collective = True
        raise err
    return out


def _together(fn):
    """Call ``fn`` that every rank evaluates alike (a pure function of the bound job and the world size): an error it
    raises is raised by every rank at the same place, so it is collective without any communication."""
    try:
        return fn()
    except Exception as e:
        e.collective = True
        raise


# --------------------------------------------------------------------------------------------------------------------
# The table of results


def _as_declared(col: Column, values: list) -> np.ndarray:
    """``values`` (None: not set) as an array of the column's declared dtype; refuses a lossy integer cast."""
    vals = [col.fill if v is None else v for v in values]
    if col.dtype == "i8":
        raw = np.asarray(vals)
        arr = col.array(vals)
        if raw.dtype.kind == "f" and not np.array_equal(arr, raw):
            raise ValueError(f"column {col.name!r} is declared int64 but holds non-integer values")
        return arr
    return col.array(vals)


class Table:
    """The sweep's long-format table: the declared columns over all points, finished rows filled in."""

    def __init__(self, points: list[dict], columns: list[Column]):
        self.points = points
        self.declared = [c for c in columns if c.name != DONE.name] + [DONE]
        self.schema = by_name(self.declared)
        self.parameters: list[str] = []
        for p in points:
            for k in p:
                if k not in self.parameters:
                    self.parameters.append(k)
        missing = [k for k in self.parameters if k not in self.schema]
        if missing:
            raise ValueError(f"sweep parameters {missing} are not declared by the kind's columns()")
        self.results = [c.name for c in self.declared if c.name not in self.parameters and c is not DONE]
        self.rows: dict[int, dict] = {}  # point index -> result dict (rank 0)

    def check_row(self, row: dict) -> None:
        """A kind's row may only hold declared result columns (a bug in the kind otherwise)."""
        extra = [k for k in row if k not in self.schema or k in self.parameters or k == DONE.name]
        if extra:
            raise ValueError(f"the kind returned undeclared result columns {extra}")

    def columns(self) -> dict[str, np.ndarray]:
        """Every declared column over all points (unfinished points hold the fill values, ``done`` = False)."""
        n = len(self.points)
        out = {}
        for c in self.declared:
            if c is DONE:
                out[c.name] = np.array([i in self.rows for i in range(n)], dtype=bool)
            elif c.name in self.parameters:
                out[c.name] = _as_declared(c, [p.get(c.name) for p in self.points])
            else:
                out[c.name] = _as_declared(c, [self.rows[i].get(c.name) if i in self.rows else None
                                               for i in range(n)])
        return out


def _load_previous(kind: Kind, table: Table, path: str) -> dict:
    """Rows of finished points from an earlier run of the same job (resume); {} when there is none.

    The file's checksums are verified: a corrupt file is never resumed (nor overwritten)."""
    if not os.path.exists(path):
        return {}
    try:
        stored = read_file(path)
    except CorruptResultsError as e:
        raise ResumeError(f"not resumed: {e}; move it away") from None  # the CLI adds how to start over
    except Exception as e:  # a foreign or unreadable file: refuse rather than overwrite it
        raise ResumeError(f"{path!r} exists but is not a readable mpiheat results file ({e}); move it away",
                          restart_helps=False) from None
    cols, attrs = stored.columns, stored.attrs
    if "checksum" not in attrs:
        log.warning("%s carries no checksums (written by an older mpiheat): resuming without verifying it", path)
    if attrs.get("job_identity") != kind.identity:
        raise ResumeError(f"{path!r} holds results of a different job; choose another output")
    done = np.asarray(cols.get(DONE.name, np.zeros(0, bool)), dtype=bool)
    n_points = len(table.points)
    if done.shape[0] != n_points:
        raise ResumeError(f"{path!r} has {done.shape[0]} points, the job has {n_points}; choose another output")
    lacking = [k for k in table.results if k not in cols]
    if lacking and done.any():
        raise ResumeError(f"{path!r} lacks the columns {lacking} (written by another mpiheat version); "
                          "choose another output")
    rows = {}
    for i in np.flatnonzero(done):
        rows[int(i)] = {k: _scalar(cols[k][i]) for k in table.results}
    return rows


def _scalar(v):
    return v.item() if isinstance(v, np.generic) else v


# --------------------------------------------------------------------------------------------------------------------
# Progress


class Progress:
    """Rank-0 progress: a bar with ETA on a terminal, periodic log lines otherwise (batch jobs)."""

    def __init__(self, total: int, already: int, enabled: bool, stream=None, every: float = 30.0):
        self.total, self.already, self.enabled = total, already, enabled
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.t0 = time.monotonic()
        self.last = -math.inf
        self.every = every

    def update(self, done: int, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        new = done - self.already
        left = self.total - done
        rate = new / (now - self.t0) if new > 0 else 0.0
        eta = left / rate if rate > 0 else math.nan
        if self.tty:
            width = 30
            filled = int(width * done / max(self.total, 1))
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} points, "
                              f"elapsed {_fmt(now - self.t0)}, left ~{_fmt(eta)}   ")
            if done == self.total:
                self.stream.write("\n")
            self.stream.flush()
        elif force or now - self.last >= self.every or done == self.total:
            self.last = now
            self.stream.write(f"[mpiheat] progress {done}/{self.total} points, elapsed {_fmt(now - self.t0)}, "
                              f"time left ~{_fmt(eta)}\n")
            self.stream.flush()


def _fmt(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


# --------------------------------------------------------------------------------------------------------------------
# The sweep


class SweepResult(dict):
    """The columns of a finished sweep (name -> array of the declared dtype, ``done`` included), on every rank.

    Attributes
    ----------
    attrs : dict
        Root attributes as written (provenance, the caller's ``attrs``, the kind's, ``complete``).
    extra : dict
        Extra groups from the kind (``{group: {name: array}}``).
    schema : dict
        Column name -> declared :class:`~mpiheat.io.schema.Column` (``/results`` columns).
    extra_schema : dict
        Group -> {name -> Column} for the extra groups the kind declares.
    parameters : list[str]
        The sweep's parameter columns, in order.
    """

    attrs: dict
    extra: dict
    schema: dict
    extra_schema: dict
    parameters: list


def run_sweep(kind: Kind, comm=None, *, output: str | os.PathLike | None = None, restart: bool = False,
              progress: bool | None = None, checkpoint_interval: float = 60.0,
              attrs: dict | None = None) -> SweepResult:
    """Run the sweep of a bound ``kind`` on ``comm`` (None: COMM_WORLD); returns its columns on every rank.

    Parameters
    ----------
    kind : a :class:`~mpiheat.driver.kind.Kind` bound to one validated job.
    comm : MPI communicator (None: ``MPI.COMM_WORLD``).
    output : results file (HDF5), also the checkpoint; None: nothing is written and no lock is taken.
    restart : ignore finished points of an existing ``output`` (start over) instead of resuming them.
    progress : progress display on rank 0 (None: on rank 0; False: off).
    checkpoint_interval : seconds between checkpoints of finished points (0: after every round).
    attrs : extra root attributes stored in the file (e.g. the job text), before the kind's own.

    Returns
    -------
    SweepResult
        ``{name: array}`` with the declared dtypes, plus ``attrs``, ``extra``, ``schema``, ``parameters``.

    Raises
    ------
    SweepError, ResumeError, OutputBusyError
        Bad layout, an output that cannot be resumed, an output in use by another run (before any heavy work).
    OutputError
        Results cannot be written (the previous file is left intact).
    Interrupted
        A stop signal ended the run (after a checkpoint, when there was anything new).

    These are raised on every rank together (``collective = True``), as are errors that the kind raises in its
    agreed steps; anything else is raised only where it happened and the caller must abort (``MPI_Abort``).
    """
    comm = get_comm(comm)
    size = comm.Get_size()
    path = None if output is None else os.fspath(output)
    STOP.install()
    lock = None
    try:
        points = _together(kind.points)
        if not points:
            raise _collective(SweepError("the sweep has no points"))
        r = _together(lambda: int(kind.ranks_per_point(size)))
        if r < 1 or r > size or size % r:
            raise _collective(SweepError(f"{r} ranks per point do not divide the {size} MPI ranks of this run",
                                         "ranks_per_point"))
        table = _together(lambda: Table(points, kind.columns()))

        def open_output():
            """Rank 0: take the output's lock (unless the caller holds it), check it, read earlier results."""
            nonlocal lock
            if _lock.held(path) is None:
                try:
                    lock = _lock.acquire(path)
                except OSError as e:
                    raise OutputError(f"cannot create the lock file {_lock.lock_path(path)}: "
                                      f"{e.strerror or e}") from None
            check_writable(path)
            if remove_stale_temps(path):  # we hold the lock: these are from a killed writer
                log.warning("removed temporary files left by a killed run next to %s", path)
            if restart and os.path.exists(path):
                return {}
            return _load_previous(kind, table, path)

        if path is not None:
            table.rows = dict(agree(comm, open_output, root_only=True))
            if table.rows and comm.Get_rank() == 0:
                log.info("resuming: %d of %d points already done in %s", len(table.rows), len(points), path)
        return _run(kind, comm, table, r, path, progress, checkpoint_interval, attrs or {})
    finally:
        STOP.restore()
        if lock is not None:
            lock.release()


def _collective(e: Exception) -> Exception:
    e.collective = True
    return e


def _run(kind: Kind, comm, table: Table, r: int, path: str | None, progress, checkpoint_interval: float,
         attrs: dict) -> SweepResult:
    rank, size = comm.Get_rank(), comm.Get_size()
    points = table.points
    if _stop_agreed(comm):  # a stop requested during start-up: nothing new to write
        raise _interrupted(table, path)
    ctx = kind.prepare(comm)
    group = rank // r
    n_groups = size // r
    sub = comm.Split(color=group, key=rank) if n_groups > 1 else comm
    todo = [i for i in range(len(points)) if i not in table.rows]
    show = (rank == 0) if progress is None else (progress and rank == 0)
    bar = Progress(len(points), len(table.rows), show)
    attrs_base = {**provenance(size), **attrs, "job_identity": kind.identity, "kind": kind.name,
                  "ranks_per_point": r}
    extra_decl = getattr(kind, "extra_columns", None)
    extra_schema = {g: by_name(cs) for g, cs in (extra_decl() if extra_decl else {}).items()}
    last_write = time.monotonic()
    interrupted = False
    final: dict = {}

    def finish(complete: bool):
        cols = table.columns()
        kattrs, extra = kind.finish(ctx, cols, complete)
        final.update(cols=cols, attrs={**attrs_base, **kattrs, "complete": bool(complete)}, extra=extra)

    def write(complete: bool):
        """Collective: rank 0 writes (when there is an output), every rank learns whether it worked."""
        def do():
            finish(complete)
            if path is not None:
                write_results(path, final["cols"], final["attrs"], final["extra"], schema=table.schema,
                              extra_schema=extra_schema, parameters=table.parameters)

        agree(comm, do, root_only=True)

    try:
        if _stop_agreed(comm):  # requested during prepare (e.g. a calibration)
            interrupted = True
        else:
            bar.update(len(table.rows), force=True)
        for start in range(0, len(todo) if not interrupted else 0, n_groups):
            batch = todo[start:start + n_groups]
            mine = batch[group] if group < len(batch) else None
            result = None
            if mine is not None:
                _fault_injection(rank, mine)
                result = kind.compute(ctx, points[mine], mine, sub)
                table.check_row(result)
            gathered = comm.gather((mine, result) if sub.Get_rank() == 0 else (None, None), root=0)
            if rank == 0:
                for idx, res in gathered:
                    if idx is not None:
                        table.rows[idx] = res
            finished_all = start + n_groups >= len(todo)
            if rank == 0:
                bar.update(len(table.rows))
            # One collective for both decisions: a stop requested on any rank; a checkpoint due by rank 0's clock.
            due = path is not None and rank == 0 and time.monotonic() - last_write >= checkpoint_interval
            flags = comm.allreduce((1 if STOP.requested else 0) | (2 if due else 0), op=_bor_op())
            want_stop, due = bool(flags & 1), bool(flags & 2)
            if path is not None and (due or want_stop) and not finished_all:
                write(complete=False)
                last_write = time.monotonic()
            if want_stop and not finished_all:
                interrupted = True
                break
        if not interrupted:
            write(complete=True)
    except BaseException as e:
        if getattr(e, "collective", False) and sub is not comm:
            sub.Free()  # only on agreed paths: every rank is here, none is stuck in a collective
        raise
    if sub is not comm:
        sub.Free()
    if interrupted:
        raise _interrupted(table, path)
    cols, out_attrs, extra = comm.bcast((final["cols"], final["attrs"], final["extra"]) if rank == 0 else None,
                                        root=0)
    res = SweepResult(cols)
    res.attrs, res.extra, res.schema, res.extra_schema = out_attrs, extra, dict(table.schema), extra_schema
    res.parameters = list(table.parameters)
    return res


def _stop_agreed(comm) -> bool:
    return bool(comm.allreduce(1 if STOP.requested else 0, op=_max_op()))


def _interrupted(table: Table, path: str | None) -> Interrupted:
    # Only rank 0 knows the rows; the message is printed by rank 0.
    n, total = len(table.rows), len(table.points)
    if path is None:
        where = "nothing written (no output)"
    else:
        where = f"results so far in {path}" if n else "nothing computed yet"
    how = "; run the same command again to resume" if path is not None else ""
    return _collective(Interrupted(f"stopped on request after {n}/{total} points; {where}{how}"))


def _fault_injection(rank: int, index: int) -> None:
    """Test hook: ``MPIHEAT_FAIL_RANK=r[:point]`` makes rank r raise (at that point index), to test failure handling."""
    spec = os.environ.get("MPIHEAT_FAIL_RANK")
    if not spec:
        return
    r, _, p = spec.partition(":")
    if int(r) == rank and (not p or int(p) == index):
        raise RuntimeError(f"injected failure on rank {rank} at point {index} (MPIHEAT_FAIL_RANK={spec})")


def _max_op():
    from mpi4py import MPI

    return MPI.MAX


def _bor_op():
    from mpi4py import MPI

    return MPI.BOR

