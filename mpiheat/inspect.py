"""``python -m mpiheat.inspect RESULT.h5`` (or ``mpiheat inspect``): job, provenance, health and results table.

Exit codes: 0 report printed (also when the reader closed the pipe early, e.g. ``inspect r.h5 | head``: the rest of
the report is dropped silently, as the reader asked for no more); 2 the file is missing, not HDF5, not an mpiheat
results file, malformed (``/results`` not a group of equal-length 1-D columns) or corrupt (checksum mismatch) - one
line ``error: FILE: problem`` on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np


class InspectError(Exception):
    """A results file that cannot be reported: ``str(err)`` is one line naming the file and the problem."""


def check_layout(path: str) -> None:
    """Raise :class:`InspectError` unless ``path`` is an HDF5 file whose ``/results`` is a group of 1-D datasets of
    one common length (the mpiheat layout); checked before reading so that a foreign file gets a clear message."""
    if not os.path.exists(path):
        raise InspectError(f"{path}: no such file")
    if os.path.isdir(path):
        raise InspectError(f"{path}: is a folder, not a results file")
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise InspectError(f"{path}: not an HDF5 file or unreadable ({_first_line(e)})") from None
    with f:
        if "results" not in f:
            raise InspectError(f"{path}: not an mpiheat results file (no /results group)")
        res = f.get("results", getlink=False)
        if not isinstance(res, h5py.Group):
            raise InspectError(f"{path}: not an mpiheat results file (/results is a {type(res).__name__.lower()}, "
                               "not a group of columns)")
        lengths = {}
        for name in res:
            obj = res.get(name)
            if not isinstance(obj, h5py.Dataset):
                raise InspectError(f"{path}: /results/{name} is a {type(obj).__name__.lower()}, not a column")
            if obj.ndim != 1:
                raise InspectError(f"{path}: /results/{name} has shape {obj.shape}, not a 1-D column")
            lengths[name] = obj.shape[0]
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{k} {v}" for k, v in list(lengths.items())[:6])
            raise InspectError(f"{path}: ragged /results: columns differ in length ({shown})")


def _first_line(e: BaseException) -> str:
    s = str(e).strip().splitlines()
    return s[0][:300] if s else type(e).__name__


def describe(path: str, max_rows: int = 200, show_job: bool = True) -> str:
    """A human-readable report of a results file (raises :class:`InspectError` for a file it cannot report)."""
    from mpiheat.io import read_file
    from mpiheat.io.table import format_table

    check_layout(path)
    try:
        stored = read_file(path)
        cols, attrs, extra = stored.columns, stored.attrs, stored.extra
    except Exception as e:  # CorruptResultsError (checksums), OSError, h5py errors: one line whatever the cause
        msg = _first_line(e)
        raise InspectError(msg if msg.startswith(path) else f"{path}: {msg}") from None
    out = [f"# {path}"]
    done = np.asarray(cols.get("done", []), dtype=bool)
    status = "complete" if attrs.get("complete") else "INCOMPLETE (resume with the same command)"
    out.append(f"status: {status}; points done {int(done.sum())}/{done.size}")
    for k in ("kind", "mpiheat_version", "git_commit", "created", "host", "mpi_size", "ranks_per_point", "python",
              "versions", "command"):
        if k in attrs:
            out.append(f"{k}: {attrs[k]}")
    others = {k: v for k, v in attrs.items() if k not in ("job", "job_identity", "complete", "kind",
                                                        "mpiheat_version", "git_commit", "created", "host",
                                                        "mpi_size", "ranks_per_point", "python", "versions",
                                                        "command")}
    for k, v in others.items():
        out.append(f"{k}: {v}")
    if show_job and "job" in attrs:
        out.append("\n## job (resolved)\n" + str(attrs["job"]).rstrip())
    health = [h for h in stored.health if h in cols]  # the kind's declared health columns, read from the file
    if health:
        out.append("\n## solver health")
        for h in health:
            v = np.asarray(cols[h])
            v = v[done] if done.size == v.size and done.size else v
            if v.dtype.kind in "fiu" and v.size:
                with np.errstate(all="ignore"):
                    out.append(f"{h}: min {np.nanmin(v):.3g}, max {np.nanmax(v):.3g}" if np.isfinite(v).any()
                               else f"{h}: no finite values")
            elif v.dtype.kind == "b":
                out.append(f"{h}: {int(v.sum())} of {v.size} true")
            else:
                vals, counts = np.unique(v.astype(str), return_counts=True)
                out.append(f"{h}: " + ", ".join(f"{a} x{c}" for a, c in zip(vals, counts)))
    described = [c for c in stored.schema.values() if c.units or c.description]
    if described:
        out.append("\n## columns (units: code units, hbar = k_B = 1; \"1\" dimensionless, \"s\" seconds)")
        width = max(len(c.name) for c in described)
        uwidth = max(len(c.units) + 2 if c.units else 0 for c in described)
        for c in described:
            units = f"[{c.units}]" if c.units else ""
            out.append(f"{c.name.ljust(width)}  {c.dtype:4}  {units.ljust(uwidth)}  {c.description}".rstrip())
    if extra:
        out.append("\n## groups: " + ", ".join(f"/{g} ({', '.join(d)})" for g, d in extra.items()))
    out.append("\n## results")
    out.append(format_table(cols, list(cols), max_rows=max_rows))
    return "\n".join(out)


def _rows(v: str) -> int:
    try:
        n = int(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {v!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {n}")
    return n


def _quiet_broken_pipe() -> int:
    # The reader went away (``| head``): send what is left to /dev/null so that the interpreter's final flush does not
    # complain, and end normally - the reader got what it asked for.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mpiheat.inspect", description=__doc__.split("\n\n")[0])
    p.add_argument("result", help="an mpiheat HDF5 results file")
    p.add_argument("--rows", type=_rows, default=200, help="at most this many rows")
    p.add_argument("--no-job", action="store_true", help="do not print the job text")
    args = p.parse_args(argv)
    try:
        text = describe(args.result, args.rows, not args.no_job)
    except InspectError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # anything else about this file: still one line, never a traceback
        print(f"error: {args.result}: not a readable mpiheat results file ({_first_line(e)})", file=sys.stderr)
        return 2
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        return _quiet_broken_pipe()
    return 0


if __name__ == "__main__":
    sys.exit(main())
