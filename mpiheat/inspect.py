"""``python -m mpiheat.inspect RESULT.h5`` (or ``mpiheat inspect``): job, provenance, health and results table."""

from __future__ import annotations

import argparse
import sys

import numpy as np

HEALTH = ("residual", "trace", "rho_min_eig", "converged", "max_real_eig", "unphysical", "J_L_minus_J_R")


def describe(path: str, max_rows: int = 200, show_job: bool = True) -> str:
    """A human-readable report of a results file."""
    from mpiheat.io import read_results
    from mpiheat.run import format_table

    cols, attrs, extra = read_results(path)
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
    health = [h for h in HEALTH if h in cols]
    if health:
        out.append("\n## solver health")
        for h in health:
            v = cols[h][done] if done.size else cols[h]
            if v.dtype.kind in "fi" and v.size:
                out.append(f"{h}: min {np.nanmin(v):.3g}, max {np.nanmax(v):.3g}")
            elif v.dtype.kind == "b":
                out.append(f"{h}: {int(v.sum())} of {v.size} true")
            else:
                vals, counts = np.unique(v.astype(str), return_counts=True)
                out.append(f"{h}: " + ", ".join(f"{a} x{c}" for a, c in zip(vals, counts)))
    if extra:
        out.append("\n## groups: " + ", ".join(f"/{g} ({', '.join(d)})" for g, d in extra.items()))
    out.append("\n## results")
    out.append(format_table(cols, list(cols), max_rows=max_rows))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mpiheat.inspect", description=__doc__)
    p.add_argument("result", help="an mpiheat HDF5 results file")
    p.add_argument("--rows", type=int, default=200, help="at most this many rows")
    p.add_argument("--no-job", action="store_true", help="do not print the job text")
    args = p.parse_args(argv)
    try:
        print(describe(args.result, args.rows, not args.no_job))
    except (OSError, KeyError) as e:
        print(f"error: {args.result}: not a readable mpiheat results file ({e})", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
