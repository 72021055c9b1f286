"""The job driver: sweep points over (sub-)communicators, checkpoint/resume, signals, progress, HDF5 output.

A job kind (``mpiheat.kinds.<kind>``) supplies the physics through a small interface (:class:`Kind`); this module does
everything that is the same for all kinds:

* **Layout.** ``ranks_per_point = r`` splits the world into ``size // r`` groups (``comm.Split``); each group computes
  one sweep point at a time with its own communicator (trajectories or a distributed matrix shared inside the group).
  Points are dealt to groups in rounds in sweep order, so the assignment depends only on (points, groups).
* **Checkpoint/resume.** The results file *is* the checkpoint: after a round, when ``checkpoint_interval`` seconds
  have passed, rank 0 rewrites it atomically with the finished points (``done`` column, ``complete = False``).
  Started again with the same job, finished points are read back and skipped; results are bit-identical to an
  uninterrupted run because every point is computed from the job and its index alone (seeds included).
* **Signals.** SIGTERM, SIGINT and SIGUSR1 (Slurm's ``--signal``) request a stop: the current round finishes, a
  checkpoint is written and the process exits with :data:`EXIT_INTERRUPTED`; a second SIGINT stops at once. A stop
  requested during start-up ends the run before the first round (nothing new to write).
* **Failures end every rank.** Every step that can fail on some ranks only (output checks, reading the previous
  results, every write, which only rank 0 does) is followed by an agreement (bcast/allgather of the outcome), so
  all ranks raise the same error together; such errors carry ``collective = True``. Any other exception is local to
  the rank that raised it, and ``mpiheat.run`` then calls ``MPI_Abort``: no path leaves ranks waiting in a collective.
* **One writer.** Rank 0 holds the output's lock file (:mod:`mpiheat.io.lock`) for the whole run.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from mpiheat.config import JobConfig, JobError
from mpiheat.driver.signals import STOP
from mpiheat.io import (
    CorruptResultsError,
    OutputError,
    check_writable,
    provenance,
    read_results,
    remove_stale_temps,
    write_results,
)
from mpiheat.io import lock as _lock
from mpiheat.numerics.parallel import get_comm

log = logging.getLogger("mpiheat")

EXIT_INTERRUPTED = 75  # EX_TEMPFAIL: stopped on request after a checkpoint; run the same command to resume


class Kind(Protocol):
    """What a job kind provides (see ``mpiheat/kinds/*.py``)."""

    def plan(self, cfg: JobConfig) -> list[dict]:
        """Sweep points in order: dicts of parameter columns (T_L, T_R, ... and swept parameters)."""

    def ranks_per_point(self, cfg: JobConfig, size: int) -> int:
        """Default ranks per point for ``layout = "auto"``."""

    def prepare(self, cfg: JobConfig, comm) -> Any:
        """Collective set-up on the world communicator (e.g. calibrate gamma); returns a context."""

    def compute(self, cfg: JobConfig, ctx: Any, point: dict, index: int, comm) -> dict:
        """Results of one point, computed by the ranks of ``comm``; identical on all of them."""

    def finish(self, cfg: JobConfig, ctx: Any, columns: dict, complete: bool) -> tuple[dict, dict]:
        """Rank 0: extra root attributes and extra groups for the file (e.g. /spectrum)."""

    def summary(self, cfg: JobConfig, columns: dict) -> list[str]:
        """Rank 0: column names for the printed summary table."""


@dataclass
class RunState:
    """What the driver knows about the sweep: the plan and the finished rows."""

    points: list[dict]
    rows: dict = field(default_factory=dict)  # index -> result dict

    @property
    def done(self) -> set:
        return set(self.rows)

    def columns(self) -> dict:
        """Long-format columns over all points (unfinished points: NaN / '' / False, ``done`` = False)."""
        names: list[str] = []
        for p in self.points:
            for k in p:
                if k not in names:
                    names.append(k)
        res_names: list[str] = []
        samples: dict[str, Any] = {}
        for i in sorted(self.rows):
            for k, v in self.rows[i].items():
                if k not in res_names and k not in names:
                    res_names.append(k)
                    samples[k] = v
        cols = {k: [p.get(k) for p in self.points] for k in names}
        for k in res_names:
            s = samples[k]
            fill = "" if isinstance(s, str) else (False if isinstance(s, (bool, np.bool_)) else None)
            cols[k] = [self.rows[i].get(k, fill) if i in self.rows else fill for i in range(len(self.points))]
        cols["done"] = [i in self.rows for i in range(len(self.points))]
        return cols


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


def requested_ranks_per_point(kind: Kind, cfg: JobConfig, size: int) -> int:
    """Ranks per point asked for by ``[parallel]`` (layout/ranks_per_point) or the kind's default, unchecked."""
    par = cfg.parallel
    if par.ranks_per_point != "auto":
        return int(par.ranks_per_point)
    if par.layout == "points":
        return 1
    if par.layout == "matrix":
        return size
    return kind.ranks_per_point(cfg, size)


def resolve_ranks_per_point(kind: Kind, cfg: JobConfig, size: int) -> int:
    """Ranks per point from ``[parallel]`` (layout/ranks_per_point) and the kind's default."""
    r = requested_ranks_per_point(kind, cfg, size)
    if r > size or size % r:
        raise JobError(cfg.source, "[parallel] ranks_per_point",
                       f"{r} does not divide the {size} MPI ranks of this run")
    return r


def _load_previous(cfg: JobConfig, path: str, n_points: int) -> dict:
    """Rows of finished points from an earlier run of the same job (resume); {} when there is none.

    The file's checksums are verified: a corrupt file is never resumed (nor overwritten)."""
    if not os.path.exists(path):
        return {}
    try:
        cols, attrs, _ = read_results(path)
    except CorruptResultsError as e:
        raise JobError(cfg.source, "[job] output",
                       f"not resumed: {e}; move it away, or pass --restart to start over") from None
    except Exception as e:  # a foreign or unreadable file: refuse rather than overwrite it
        raise JobError(cfg.source, "[job] output",
                       f"{path!r} exists but is not a readable mpiheat results file ({e}); move it away") from None
    if "checksum" not in attrs:
        log.warning("%s carries no checksums (written by an older mpiheat): resuming without verifying it", path)
    if attrs.get("job_identity") != cfg.identity():
        raise JobError(cfg.source, "[job] output",
                       f"{path!r} holds results of a different job; choose another output or pass --restart")
    done = np.asarray(cols.get("done", np.zeros(0, bool)), dtype=bool)
    if done.shape[0] != n_points:
        raise JobError(cfg.source, "[job] output", f"{path!r} has {done.shape[0]} points, the job has {n_points}")
    rows = {}
    for i in np.flatnonzero(done):
        rows[int(i)] = {k: _scalar(v[i]) for k, v in cols.items() if k != "done"}
    return rows


def _scalar(v):
    if isinstance(v, np.generic):
        return v.item()
    return v


# Errors that every rank raises together after an agreement; run.py maps them to exit codes without aborting.
AGREED = (JobError, OutputError, CorruptResultsError, _lock.OutputBusyError)


def agree(comm, fn, *, root_only: bool = False):
    """Run ``fn`` on every rank (or on rank 0 only) and make every rank learn the outcome.

    An :data:`AGREED` error raised by ``fn`` on any rank is re-raised on all ranks, marked ``collective = True``;
    any other exception propagates on the ranks where it happened (the caller aborts). Returns ``fn()``'s value
    (rank 0's, broadcast, when ``root_only``).
    """
    out, err = None, None
    if not root_only or comm.Get_rank() == 0:
        try:
            out = fn()
        except AGREED as e:
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


def _stop_agreed(comm) -> bool:
    return bool(comm.allreduce(1 if STOP.requested else 0, op=_max_op()))


def run_job(cfg: JobConfig, comm=None, *, restart: bool = False, progress: bool | None = None,
            extra_attrs: dict | None = None) -> dict:
    """Run a job on ``comm`` (None: COMM_WORLD) and write its results file; returns the columns (all ranks).

    Raises :class:`JobError` for bad input or a corrupt previous file, :class:`OutputBusyError` when another run
    holds the output, :class:`OutputError` when results cannot be written, and :class:`Interrupted` when a stop signal
    ended the run (after a checkpoint, when there was anything new). These are raised on every rank together
    (``collective = True``); anything else is raised only where it happened and the caller must abort.
    """
    from mpiheat.kinds import get_kind

    comm = get_comm(comm)
    rank, size = comm.Get_rank(), comm.Get_size()
    kind = get_kind(cfg.job.kind)
    path = cfg.job.output
    STOP.install()
    lock = None
    try:
        def plan():
            pts = kind.plan(cfg)
            if not pts:
                raise JobError(cfg.source, "[temperatures]", "the sweep has no points")
            return pts, resolve_ranks_per_point(kind, cfg, size)

        points, r = agree(comm, plan)

        # Rank 0 takes the output's lock (unless the caller holds it), checks the output and reads any earlier results.
        def open_output():
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
            return _load_previous(cfg, path, len(points))

        state = RunState(points=points, rows=dict(agree(comm, open_output, root_only=True)))
        if state.rows and rank == 0:
            log.info("resuming: %d of %d points already done in %s", len(state.rows), len(points), path)
        return _run(cfg, comm, kind, state, r, path, progress, extra_attrs)
    finally:
        STOP.restore()
        if lock is not None:
            lock.release()


def _run(cfg, comm, kind, state: RunState, r: int, path: str, progress, extra_attrs) -> dict:
    rank, size = comm.Get_rank(), comm.Get_size()
    points = state.points
    if _stop_agreed(comm):  # a stop requested during start-up: nothing new to write
        raise _interrupted(state, path)
    ctx = kind.prepare(cfg, comm)
    group = rank // r
    n_groups = size // r
    sub = comm.Split(color=group, key=rank) if n_groups > 1 else comm
    todo = [i for i in range(len(points)) if i not in state.rows]
    show = (rank == 0) if progress is None else (progress and rank == 0)
    bar = Progress(len(points), len(state.rows), show)
    attrs_base = {**provenance(size), "job": cfg.to_toml(), "job_identity": cfg.identity(), "kind": cfg.job.kind,
                  "ranks_per_point": r, **(extra_attrs or {})}
    last_write = time.monotonic()
    interrupted = False

    def write(complete: bool):
        """Collective: rank 0 writes, every rank learns whether it worked."""
        def do():
            cols = state.columns()
            attrs, extra = kind.finish(cfg, ctx, cols, complete)
            write_results(path, cols, {**attrs_base, **attrs, "complete": bool(complete)}, extra)

        agree(comm, do, root_only=True)

    try:
        if _stop_agreed(comm):  # requested during prepare (e.g. a calibration)
            interrupted = True
        else:
            bar.update(len(state.rows), force=True)
        for start in range(0, len(todo) if not interrupted else 0, n_groups):
            batch = todo[start:start + n_groups]
            mine = batch[group] if group < len(batch) else None
            result = None
            if mine is not None:
                _fault_injection(rank, mine)
                result = kind.compute(cfg, ctx, points[mine], mine, sub)
            gathered = comm.gather((mine, result) if sub.Get_rank() == 0 else (None, None), root=0)
            if rank == 0:
                for idx, res in gathered:
                    if idx is not None:
                        state.rows[idx] = res
            finished_all = start + n_groups >= len(todo)
            if rank == 0:
                bar.update(len(state.rows))
            # One collective for both decisions: a stop requested on any rank; a checkpoint due by rank 0's clock.
            due = rank == 0 and time.monotonic() - last_write >= cfg.job.checkpoint_interval
            flags = comm.allreduce((1 if STOP.requested else 0) | (2 if due else 0), op=_bor_op())
            want_stop, due = bool(flags & 1), bool(flags & 2)
            if (due or want_stop) and not finished_all:
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
        raise _interrupted(state, path)
    cols = comm.bcast(state.columns() if rank == 0 else None, root=0)
    return cols


def _interrupted(state: RunState, path: str) -> Interrupted:
    # Only rank 0 knows the rows; the message is printed by rank 0.
    n, total = len(state.rows), len(state.points)
    where = f"results so far in {path}" if n else "nothing computed yet"
    e = Interrupted(f"stopped on request after {n}/{total} points; {where}; run the same command again to resume")
    e.collective = True
    return e


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


class Interrupted(Exception):
    """The run stopped on a signal after writing a checkpoint."""
