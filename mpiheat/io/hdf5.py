"""HDF5 results (SPEC §5): long-format ``/results`` columns, provenance attributes, atomic writes, checksums, read-back.

Integrity: every dataset carries a ``sha256`` attribute (SHA-256 of its values in a canonical byte form: dtype, shape
and little-endian bytes, or the UTF-8 bytes of each string) and every group an ``attrs_sha256`` over its other
attributes; the root attribute ``checksum = "sha256"`` marks a file written this way. A digest was chosen over HDF5's
fletcher32 filter because fletcher32 needs chunked datasets and does not cover variable-length strings (string
columns, the job text), which live in HDF5's unchecksummed global heap. :func:`read_results` verifies every digest and
raises :class:`CorruptResultsError` naming the first bad object. Metadata is written in the HDF5 1.8 format
(``libver="v108"``), whose object headers carry HDF5's own checksums.

Writes never expose a half-written file: the whole file is built in memory, written to a temporary file next to the
output with plain ``write`` calls (a full disk is an ordinary ``OSError``, HDF5 never holds a failing file), fsynced and
renamed over the output. The temporary file is created with mode 0666 minus the umask, like any file the user writes.

Declared schema (:mod:`mpiheat.io.schema`): when the writer is given the columns' declarations, every ``/results``
dataset is stored with its declared dtype and carries ``units`` and ``description`` attributes (datasets of other
groups too, when declared; undeclared ones get empty strings); the ``/results`` attributes ``parameters`` and
``health`` name the sweep's parameter columns and the declared health columns. Dataset attributes are covered by an
``attrs_sha256`` digest like group attributes.
:func:`read_file` returns the columns with their stored dtypes together with that declaration.
"""

from __future__ import annotations

import datetime as _dt
import errno
import hashlib
import io as _io
import os
import platform
import secrets
import socket
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mpiheat._version import __version__
from mpiheat.io.schema import Column

CHECKSUM = "sha256"  # value of the root attribute ``checksum`` in files carrying digests


class OutputError(Exception):
    """The results file cannot be written (unwritable path, full disk...); the previous file is left intact."""


class CorruptResultsError(Exception):
    """A results file fails its integrity check; ``str(err)`` is one line naming the file and the dataset."""


def _git_commit() -> str:
    """The commit of the source tree mpiheat was imported from (``-dirty`` with uncommitted changes), never the working
    directory's: ``unknown (mpiheat X.Y.Z)`` for an installed copy that is not a git checkout of mpiheat itself."""
    root = Path(__file__).resolve().parents[2]  # mpiheat/io/hdf5.py -> the folder holding the package
    fallback = f"unknown (mpiheat {__version__})"
    # Only when the package sits at the top of a checkout (a site-packages inside some other repository is not ours).
    if not (root / ".git").exists():
        return fallback
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}  # GIT_DIR etc. would redirect git
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, env=env)
        if out.returncode == 0:
            dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=5, env=env).stdout.strip()
            return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return fallback


def provenance(mpi_size: int) -> dict:
    """Root attributes describing who made the file, where and with what."""
    import numba
    import numpy
    import scipy

    return {
        "mpiheat_version": __version__,
        "mpi_size": int(mpi_size),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "python": platform.python_version(),
        "versions": f"numpy {numpy.__version__}, scipy {scipy.__version__}, numba {numba.__version__}",
        "git_commit": _git_commit(),
        "command": " ".join(sys.argv),
    }


def _column_array(values, column: Column | None = None):
    """Turn per-point values into an HDF5-storable 1-D array (strings as UTF-8 variable length): the declared dtype
    when ``column`` is given, else guessed from the values (undeclared columns, e.g. ad-hoc files in tests)."""
    import h5py

    if column is not None:
        if column.dtype == "str":
            return np.array(["" if v is None else str(v) for v in values], dtype=h5py.string_dtype())
        return column.array([column.fill if v is None else v for v in values])
    values = list(values)
    if any(isinstance(v, str) for v in values):
        return np.array(["" if v is None else str(v) for v in values], dtype=h5py.string_dtype())
    if all(isinstance(v, (bool, np.bool_)) for v in values):
        return np.array(values, dtype=bool)
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        return np.array(values, dtype=np.int64)
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


# --------------------------------------------------------------------------------------------------------------------
# Checksums


def _canon(value) -> bytes:
    """Canonical bytes of a value as h5py reads it back (str and bytes alike: h5py versions differ in which they
    return for variable-length strings)."""
    if isinstance(value, (str, bytes)):
        b = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
        return b"s" + len(b).to_bytes(8, "little") + b
    a = np.asarray(value)
    head = repr(a.shape).encode()
    if a.dtype.kind in "OSU":
        return b"S" + head + b"".join(_canon(x if isinstance(x, (str, bytes)) else str(x)) for x in a.ravel())
    a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
    return b"A" + a.dtype.str.encode() + head + a.tobytes()


def _digest(value) -> str:
    return hashlib.sha256(_canon(value)).hexdigest()


def _attrs_digest(attrs) -> str:
    h = hashlib.sha256()
    for k in sorted(k for k in attrs.keys() if k != "attrs_sha256"):
        h.update(_canon(k))
        h.update(_canon(attrs[k]))
    return h.hexdigest()


def _seal(f) -> None:
    """Add digests to every group and dataset of an open file, computed from the values as read back."""
    import h5py

    f.attrs["checksum"] = CHECKSUM

    def visit(obj):
        if isinstance(obj, h5py.Dataset):
            obj.attrs["sha256"] = _digest(obj[()])
        obj.attrs["attrs_sha256"] = _attrs_digest(obj.attrs)

    for name in _all_names(f):
        visit(f[name])
    visit(f)


def _all_names(f) -> list[str]:
    names: list[str] = []
    f.visit(names.append)
    return names


# --------------------------------------------------------------------------------------------------------------------
# Writing


_write_count = 0  # write_results calls in this process (for the MPIHEAT_FAIL_WRITE test hook)


def _write_fault(complete: bool) -> bool:
    """Test hook ``MPIHEAT_FAIL_WRITE=N|final``: the N-th write of this process (1-based), or the final
    (``complete``) write, fails with ENOSPC half-way through writing the temporary file."""
    spec = os.environ.get("MPIHEAT_FAIL_WRITE", "")
    if not spec:
        return False
    if spec == "final":
        return bool(complete)
    return spec.isdigit() and int(spec) == _write_count


def _describe(ds, column: Column | None) -> None:
    ds.attrs["units"] = column.units if column is not None else ""
    ds.attrs["description"] = column.description if column is not None else ""


def _build_image(columns: Mapping[str, list], attrs: Mapping[str, object],
                 extra: Mapping[str, Mapping[str, np.ndarray]] | None, schema: Mapping[str, Column] | None,
                 extra_schema: Mapping[str, Mapping[str, Column]] | None, parameters: list[str] | None) -> bytes:
    """The complete HDF5 file, in memory."""
    import h5py

    schema = schema or {}
    bio = _io.BytesIO()
    with h5py.File(bio, "w", libver="v108") as f:
        for k, v in attrs.items():
            f.attrs[k] = v
        g = f.create_group("results")
        g.attrs["columns"] = list(columns)  # column order, for readers (HDF5 lists names alphabetically)
        if parameters is not None:
            g.attrs["parameters"] = [str(p) for p in parameters]  # the sweep's parameter columns (axes)
        if schema:
            g.attrs["health"] = [n for n in columns if n in schema and schema[n].health]  # what inspect summarises
        for name, values in columns.items():
            col = schema.get(name)
            _describe(g.create_dataset(name, data=_column_array(values, col)), col)
        for gname, dsets in (extra or {}).items():
            eg = f.create_group(gname)
            declared = (extra_schema or {}).get(gname, {})
            for name, arr in dsets.items():
                col = declared.get(name)
                data = np.asarray(arr) if col is None or col.dtype == "str" else np.asarray(
                    arr, dtype=col.array([]).dtype)
                _describe(eg.create_dataset(name, data=data), col)
        _seal(f)
    return bio.getvalue()


def _tmp_name(path: str) -> str:
    folder = os.path.dirname(os.path.abspath(path)) or "."
    base = os.path.basename(path)[:120]  # room for the suffix within NAME_MAX (255)
    return os.path.join(folder, f"{base}.{secrets.token_hex(4)}.tmp")


def _fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot fsync a directory; the rename is still atomic
        pass
    finally:
        os.close(fd)


def write_results(path: str | os.PathLike, columns: Mapping[str, list], attrs: Mapping[str, object],
                  extra: Mapping[str, Mapping[str, np.ndarray]] | None = None, *,
                  schema: Mapping[str, Column] | None = None,
                  extra_schema: Mapping[str, Mapping[str, Column]] | None = None,
                  parameters: list[str] | None = None) -> None:
    """Write a results file atomically: built in memory, written to a temporary file in the same folder, fsync,
    then ``os.replace``. On any failure the previous file at ``path`` is left as it was.

    Parameters
    ----------
    path : output path.
    columns : name -> list of per-point values (all the same length), written as ``/results/<name>``.
    attrs : root attributes (provenance, ``complete``, kind-specific).
    extra : group name -> {dataset name -> array}, e.g. ``{"spectrum": {"E": ..., "P_L": ..., "P_R": ...}}``.
    schema : name -> declared :class:`~mpiheat.io.schema.Column` of ``/results`` columns (dtype, units, description).
    extra_schema : group name -> {dataset name -> Column} for the datasets of ``extra``.
    parameters : names of the sweep's parameter columns (stored as the ``/results`` attribute ``parameters``).

    Raises
    ------
    OutputError
        The file cannot be written (one-line message naming the path and the reason).
    """
    global _write_count
    _write_count += 1
    path = os.fspath(path)
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"results columns differ in length: {lengths}")
    tmp = None
    try:
        image = _build_image(columns, attrs, extra, schema, extra_schema, parameters)
        tmp = _tmp_name(path)
        # 0o666 minus the umask (mkstemp would force 0600): results on shared project folders stay readable.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        try:
            view = memoryview(image)
            if _write_fault(bool(attrs.get("complete", False))):
                os.write(fd, view[: len(view) // 2])
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC) + " (injected by MPIHEAT_FAIL_WRITE)")
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        tmp = None
        _fsync_dir(os.path.dirname(os.path.abspath(path)))
    except OSError as e:
        raise OutputError(f"cannot write results to {path}: {e.strerror or e}") from None
    finally:
        if tmp is not None:
            try:
                os.remove(tmp)
            except OSError:
                pass


def remove_stale_temps(path: str | os.PathLike) -> list[str]:
    """Remove temporary files left next to ``path`` by a writer that was killed (SIGKILL) mid-write.

    Only call this while holding the output's lock: then no other process is writing them. Returns the names removed.
    """
    import re

    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path)) or "."
    pattern = re.compile(re.escape(os.path.basename(path)[:120]) + r"\.[0-9a-f]{8}\.tmp")
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        if pattern.fullmatch(name):
            try:
                os.remove(os.path.join(folder, name))
                removed.append(name)
            except OSError:
                pass
    return removed


def check_writable(path: str | os.PathLike) -> None:
    """Fail early (before heavy work) if a results file cannot be created next to ``path``."""
    folder = os.path.dirname(os.path.abspath(os.fspath(path))) or "."
    try:
        fd, tmp = tempfile.mkstemp(prefix=".mpiheat-probe.", dir=folder)
        os.close(fd)
        os.remove(tmp)
    except OSError as e:
        raise OutputError(f"cannot write results to {path}: {e.strerror or e}") from e


# --------------------------------------------------------------------------------------------------------------------
# Reading


def _verify_attrs(path, obj, where: str) -> None:
    want = obj.attrs.get("attrs_sha256")
    if want is None:
        raise CorruptResultsError(f"{path}: {where}: checksum missing (file is corrupt or was altered)")
    if isinstance(want, bytes):
        want = want.decode()
    if _attrs_digest(obj.attrs) != want:
        raise CorruptResultsError(f"{path}: attributes of {where}: checksum mismatch (file is corrupt)")


def _read_dataset(path, ds, verify: bool):
    name = ds.name
    try:
        value = ds[()]
    except (OSError, RuntimeError, ValueError) as e:
        raise CorruptResultsError(f"{path}: dataset {name}: unreadable ({e}) (file is corrupt)") from None
    if verify:
        want = ds.attrs.get("sha256")
        if want is None:
            raise CorruptResultsError(f"{path}: dataset {name}: checksum missing (file is corrupt or was altered)")
        if isinstance(want, bytes):
            want = want.decode()
        if _digest(value) != want:
            raise CorruptResultsError(f"{path}: dataset {name}: checksum mismatch (file is corrupt)")
        # Files written since the declared schema carry units/description, sealed by a digest of the attributes.
        if "attrs_sha256" in ds.attrs or "units" in ds.attrs or "description" in ds.attrs:
            _verify_attrs(path, ds, f"dataset {name}")
    return value


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


@dataclass
class StoredResults:
    """A results file as stored: columns with their stored dtypes (text as ``object`` arrays of ``str``), root
    attributes, extra groups, and the declaration read back from the dataset attributes."""

    columns: dict
    attrs: dict
    extra: dict
    #: ``/results`` column name -> Column(name, dtype, units, description) as stored ("" where the file has none)
    schema: dict = field(default_factory=dict)
    #: extra group -> {dataset name -> Column}
    extra_schema: dict = field(default_factory=dict)
    #: the sweep's parameter columns (``/results`` attribute ``parameters``; empty for older files)
    parameters: list = field(default_factory=list)
    #: the declared health columns (``/results`` attribute ``health``; empty for older files)
    health: list = field(default_factory=list)


def _dtype_code(arr: np.ndarray) -> str:
    kind = arr.dtype.kind
    if kind in "OSU":
        return "str"
    if kind == "b":
        return "bool"
    if kind in "iu":
        return "i8"
    return "f8"


def _stored_column(name: str, ds, arr: np.ndarray, health: bool = False) -> Column:
    return Column(name, _dtype_code(arr), _text(ds.attrs.get("units", "")), _text(ds.attrs.get("description", "")),
                  health)


def read_file(path: str | os.PathLike, verify: bool = True) -> StoredResults:
    """Read a results file with its declaration (see :class:`StoredResults`).

    Files written with checksums (root attribute ``checksum``) are verified unless ``verify`` is False; files of
    older mpiheat versions have none and are read as they are (``attrs["checksum"]`` is then absent).

    Raises
    ------
    CorruptResultsError
        A checksum does not match or an object cannot be read: one line naming the file and the dataset.
    OSError
        The file cannot be opened (missing, not HDF5, truncated).
    """
    import h5py

    path = os.fspath(path)
    out = StoredResults({}, {}, {})
    with h5py.File(path, "r") as f:
        try:
            raw_attrs = dict(f.attrs.items())
        except (OSError, RuntimeError, KeyError) as e:
            raise CorruptResultsError(f"{path}: root attributes: unreadable ({e}) (file is corrupt)") from None
        checked = verify and raw_attrs.get("checksum") is not None
        if checked:
            _verify_attrs(path, f, "/")
        for k, v in raw_attrs.items():
            if k == "attrs_sha256":
                continue
            out.attrs[k] = v.decode() if isinstance(v, bytes) else v
        try:
            res = f["results"]
            names = list(res)
        except (OSError, RuntimeError) as e:
            raise CorruptResultsError(f"{path}: group /results: unreadable ({e}) (file is corrupt)") from None
        if checked:
            _verify_attrs(path, res, "/results")
        out.parameters = [_text(p) for p in res.attrs.get("parameters", [])]
        out.health = [_text(p) for p in res.attrs.get("health", [])]
        order = [_text(c) for c in res.attrs.get("columns", [])] or names
        for name in order + [n for n in names if n not in order]:
            if name not in res:
                raise CorruptResultsError(f"{path}: dataset /results/{name}: missing (file is corrupt)")
            ds = res[name]
            arr = _read_dataset(path, ds, checked)
            if arr.dtype.kind in ("O", "S"):
                arr = np.array([x.decode() if isinstance(x, bytes) else str(x) for x in arr], dtype=object)
            out.columns[name] = arr
            out.schema[name] = _stored_column(name, ds, arr, name in out.health)
        for gname, g in f.items():
            if gname != "results" and isinstance(g, h5py.Group):
                if checked:
                    _verify_attrs(path, g, f"/{gname}")
                out.extra[gname], out.extra_schema[gname] = {}, {}
                for n, d in g.items():
                    if isinstance(d, h5py.Dataset):
                        arr = _read_dataset(path, d, checked)
                        out.extra[gname][n] = arr
                        out.extra_schema[gname][n] = _stored_column(n, d, np.asarray(arr))
    return out


def read_results(path: str | os.PathLike, verify: bool = True) -> tuple[dict, dict, dict]:
    """Read a results file: ``(columns, attrs, extra_groups)``, columns with their stored dtypes and strings decoded
    (see :func:`read_file`, which also returns the declaration)."""
    r = read_file(path, verify)
    return r.columns, r.attrs, r.extra
