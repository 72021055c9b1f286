"""HDF5 results (SPEC §5): long-format ``/results`` columns, provenance attributes, atomic writes, read-back."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import socket
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

import mpiheat

STR_DTYPE = None  # set lazily (h5py import is deferred so that config errors are fast)


class OutputError(Exception):
    """The results file cannot be written (unwritable path, full disk...); the previous file is left intact."""


def _git_commit() -> str:
    try:
        root = Path(mpiheat.__file__).resolve().parents[1]
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5)
        if out.returncode == 0:
            dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=5).stdout.strip()
            return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown"


def provenance(mpi_size: int) -> dict:
    """Root attributes describing who made the file, where and with what."""
    import numba
    import numpy
    import scipy

    return {
        "mpiheat_version": mpiheat.__version__,
        "mpi_size": int(mpi_size),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "python": platform.python_version(),
        "versions": f"numpy {numpy.__version__}, scipy {scipy.__version__}, numba {numba.__version__}",
        "git_commit": _git_commit(),
        "command": " ".join(sys.argv),
    }


def _column_array(values: list):
    """Turn a list of per-point values into an HDF5-storable 1-D array (strings as UTF-8 variable length)."""
    import h5py

    if any(isinstance(v, str) for v in values):
        return np.array(["" if v is None else str(v) for v in values], dtype=h5py.string_dtype())
    if all(isinstance(v, (bool, np.bool_)) for v in values):
        return np.array(values, dtype=bool)
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        return np.array(values, dtype=np.int64)
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


def write_results(path: str | os.PathLike, columns: Mapping[str, list], attrs: Mapping[str, object],
                  extra: Mapping[str, Mapping[str, np.ndarray]] | None = None) -> None:
    """Write a results file atomically: a temporary file in the same folder, fsync, then ``os.replace``.

    Parameters
    ----------
    path : output path.
    columns : name -> list of per-point values (all the same length), written as ``/results/<name>``.
    attrs : root attributes (provenance, ``complete``, kind-specific).
    extra : group name -> {dataset name -> array}, e.g. ``{"spectrum": {"E": ..., "P_L": ..., "P_R": ...}}``.
    """
    import h5py

    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path)) or "."
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"results columns differ in length: {lengths}")
    fd, tmp = None, None
    try:
        fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=folder)
        os.close(fd)
        with h5py.File(tmp, "w") as f:
            for k, v in attrs.items():
                f.attrs[k] = v
            g = f.create_group("results")
            g.attrs["columns"] = list(columns)  # column order, for readers (HDF5 lists names alphabetically)
            for name, values in columns.items():
                g.create_dataset(name, data=_column_array(list(values)))
            for gname, dsets in (extra or {}).items():
                eg = f.create_group(gname)
                for name, arr in dsets.items():
                    eg.create_dataset(name, data=np.asarray(arr))
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as e:
        raise OutputError(f"cannot write results to {path}: {e.strerror or e}") from e
    finally:
        if tmp is not None and os.path.exists(tmp):
            try:
                os.remove(tmp)
            except OSError:
                pass


def check_writable(path: str | os.PathLike) -> None:
    """Fail early (before heavy work) if a results file cannot be created next to ``path``."""
    folder = os.path.dirname(os.path.abspath(os.fspath(path))) or "."
    try:
        fd, tmp = tempfile.mkstemp(prefix=".mpiheat-probe.", dir=folder)
        os.close(fd)
        os.remove(tmp)
    except OSError as e:
        raise OutputError(f"cannot write results to {path}: {e.strerror or e}") from e


def read_results(path: str | os.PathLike) -> tuple[dict, dict, dict]:
    """Read a results file: ``(columns, attrs, extra_groups)`` with strings decoded."""
    import h5py

    cols, attrs, extra = {}, {}, {}
    with h5py.File(path, "r") as f:
        for k, v in f.attrs.items():
            attrs[k] = v.decode() if isinstance(v, bytes) else v
        res = f["results"]
        order = [str(c) for c in res.attrs.get("columns", [])] or list(res)
        for name in order + [n for n in res if n not in order]:
            arr = res[name][()]
            if arr.dtype.kind in ("O", "S"):
                arr = np.array([x.decode() if isinstance(x, bytes) else str(x) for x in arr], dtype=object)
            cols[name] = arr
        for gname, g in f.items():
            if gname != "results" and isinstance(g, h5py.Group):
                extra[gname] = {n: d[()] for n, d in g.items() if isinstance(d, h5py.Dataset)}
    return cols, attrs, extra
