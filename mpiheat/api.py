"""The Python API: ``mpiheat.run(job, ...) -> Results`` and ``mpiheat.load(path) -> Results``.

``run`` takes the same job as the command line, as a dict of the TOML structure or a path, validates it with the same
rules, binds its kind and runs the same driver: the numbers are the command line's, bit for bit. With no ``output``
nothing is written (no file, no lock); with one, the file is the command line's (checkpointed, resumable).

Only the standard library is imported here at module level: ``import mpiheat`` stays cheap, and
``python -m mpiheat.run`` installs its signal handlers before numpy, mpi4py or h5py are imported.
"""

from __future__ import annotations

import copy
import os
import tomllib
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["Results", "load", "run"]


class Results(Mapping):
    """Results of a job: columns by name, attributes, the declared schema, extra groups.

    ``r["J"]`` is a numpy array (one value per sweep point, the stored dtype: ``float64``, ``int64``, ``bool``, or
    ``object`` arrays of ``str``); iterating gives the column names in file order.

    Attributes
    ----------
    columns : list[str]
        Column names in file order (``done`` included).
    attrs : dict
        Root attributes: provenance (``mpiheat_version``, ``git_commit``, ``created``, ``host``, ``versions``, ...),
        ``job`` (the resolved job as TOML text), ``job_identity``, ``kind``, ``complete`` and the kind's own.
    schema : dict
        Column name -> :class:`~mpiheat.io.schema.Column` (dtype, ``units``, ``description``).
    parameters : list[str]
        The sweep's parameter columns (``T_L``, ``T_R``, ``T`` and the swept keys), in order.
    groups : dict
        Extra groups, e.g. ``{"spectrum": {"E": array, ...}}``.
    path : str or None
        The results file, when there is one.
    """

    def __init__(self, columns: Mapping, attrs: Mapping, schema: Mapping, parameters: list, groups: Mapping,
                 path: str | None = None):
        self._columns = dict(columns)
        self.attrs = dict(attrs)
        self.schema = dict(schema)
        self.parameters = list(parameters)
        self.groups = {g: dict(d) for g, d in groups.items()}
        self.path = path

    # -- Mapping -----------------------------------------------------------------------------------------------------
    def __getitem__(self, name: str):
        try:
            return self._columns[name]
        except KeyError:
            raise KeyError(f"no column {name!r}; columns: {', '.join(self._columns)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)

    @property
    def columns(self) -> list[str]:
        """Column names in file order."""
        return list(self._columns)

    names = columns

    @property
    def n_points(self) -> int:
        """Number of sweep points (rows)."""
        return len(next(iter(self._columns.values()))) if self._columns else 0

    @property
    def complete(self) -> bool:
        """Every point is done (False for an interrupted run's checkpoint)."""
        return bool(self.attrs.get("complete", False))

    @property
    def job(self) -> dict:
        """The resolved job as a dict of the TOML structure (defaults filled, overrides applied)."""
        return tomllib.loads(str(self.attrs.get("job", "")))

    def __repr__(self) -> str:
        where = f", file {self.path!r}" if self.path else ""
        return (f"<mpiheat.Results kind={self.attrs.get('kind', '?')!r}, {self.n_points} points, "
                f"columns {', '.join(self._columns)}{where}>")

    # -- xarray ------------------------------------------------------------------------------------------------------
    def sweep_dims(self) -> list[str]:
        """The parameter columns that span the sweep as a grid (the dimensions of :meth:`to_xarray`), slowest first;
        ``[]`` when the points are not a full grid over their parameters."""
        return _grid_dims(self._columns, self.parameters)[0]

    def to_xarray(self):
        """The results as an :class:`xarray.Dataset`: the sweep axes (``T_R`` or ``T``, and swept keys such as
        ``levels``, ``steps``, ``proposal``, ``equation``) are dimensions, every other column a variable over them;
        parameters that follow from the dimensions (``T_L``, ``T_R`` of a linear-response sweep) are coordinates.
        Points that do not form a full grid give one dimension ``point``. Units and descriptions are the variables'
        attributes, the file's root attributes the dataset's. Needs xarray (``pip install mpiheat[xarray]``).
        """
        try:
            import xarray as xr
        except ImportError:
            raise ImportError("Results.to_xarray needs xarray: pip install 'mpiheat[xarray]' (or xarray)") from None
        import numpy as np

        cols = self._columns
        dims, dependent = _grid_dims(cols, self.parameters)
        n = self.n_points
        if dims:
            levels = {d: _unique(cols[d]) for d in dims}
            index = tuple(np.array([levels[d].index(_key(v)) for v in cols[d]]) for d in dims)
            shape = tuple(len(levels[d]) for d in dims)
        else:
            dims, shape, index = ["point"], (n,), (np.arange(n),)
            levels = {"point": list(range(n))}

        def grid(values, over):
            values = np.asarray(values)
            if not over:  # a constant (e.g. T_L of a bias sweep): a scalar coordinate
                return values[0]
            sel = [dims.index(d) for d in over]
            out_shape = tuple(shape[i] for i in sel)
            fill = values[0] if values.dtype.kind in "OUSb" else (
                -1 if values.dtype.kind in "iu" else np.nan)
            arr = np.full(out_shape, fill, dtype=values.dtype)
            arr[tuple(index[i] for i in sel)] = values
            return arr

        def attrs_of(name):
            c = self.schema.get(name)
            return {"units": c.units, "description": c.description} if c is not None else {}

        coords: dict[str, Any] = {}
        if dims != ["point"]:
            for d in dims:
                coords[d] = (d, np.asarray(levels[d], dtype=np.asarray(cols[d]).dtype), attrs_of(d))
        for name, over in dependent.items():
            coords[name] = (tuple(over), grid(cols[name], over), attrs_of(name))
        data_vars = {name: (tuple(dims), grid(v, dims), attrs_of(name)) for name, v in cols.items()
                     if name not in coords and name not in dims}
        attrs = {k: (v if isinstance(v, (str, int, float, bool, np.generic)) else str(v))
                 for k, v in self.attrs.items()}
        return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def _key(v):
    return v.item() if hasattr(v, "item") else v


def _unique(values) -> list:
    """Distinct values in order of first appearance (NaN-free parameter columns)."""
    seen: dict = {}
    for v in values:
        seen.setdefault(_key(v), None)
    return list(seen)


def _grid_dims(cols: Mapping, parameters: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    """``(dims, dependent)``: parameters that span a full grid, and the other parameters with the dims they follow.

    A parameter is a dimension unless its value follows from the dimensions chosen before it (constant ``T_L``, or
    ``T_L``/``T_R`` of a linear-response sweep over ``T``). The dims are then ordered as the points vary (slowest
    first); they must span a full grid with one point per cell, else ``([], {})``.
    """
    params = [p for p in parameters if p in cols]
    if not params:
        return [], {}
    n = len(cols[params[0]])
    rows = {p: [_key(v) for v in cols[p]] for p in params}
    dims: list[str] = []
    dependent: dict[str, list[str]] = {}
    for p in params:
        keys = list(zip(*(rows[d] for d in dims))) if dims else [()] * n
        if _follows(keys, rows[p]):
            # the smallest set of dims it follows: one dim, or none (a constant), else all of them
            if len(set(rows[p])) == 1:
                dependent[p] = []
            else:
                single = [d for d in dims if _follows(rows[d], rows[p])]
                dependent[p] = single[:1] or list(dims)
        else:
            dims.append(p)
    if not dims:
        return [], {}
    # slowest-varying first: the number of changes along the points grows towards the fastest axis
    dims.sort(key=lambda d: sum(a != b for a, b in zip(rows[d], rows[d][1:])))
    cells = {tuple(rows[d][i] for d in dims) for i in range(n)}
    size = 1
    for d in dims:
        size *= len(set(rows[d]))
    if len(cells) != n or size != n:
        return [], {}
    return dims, dependent


def _follows(a: list, b: list) -> bool:
    mapping: dict = {}
    return all(mapping.setdefault(x, y) == y for x, y in zip(a, b))


# --------------------------------------------------------------------------------------------------------------------


def _job_data(job) -> tuple[dict, str]:
    """The job's TOML structure (a deep copy) and its source name for messages."""
    if isinstance(job, Mapping):
        return copy.deepcopy(dict(job)), "<dict>"
    if isinstance(job, (str, os.PathLike)):
        from mpiheat.config.toml_io import parse_text, read_text

        source = os.fspath(job)
        return parse_text(read_text(source), source), source
    raise TypeError(f"job must be a dict of the TOML structure or a path, not {type(job).__name__}")


def _apply_overrides(data: dict, source: str, overrides: Mapping[str, Any]) -> None:
    """``"section.key": value`` (as ``--set section.key=value``, with a Python value) or ``section={key: value}``."""
    from mpiheat.config import JobError

    for name, value in overrides.items():
        if "." in name:
            sec, _, key = name.partition(".")
            if not sec or not key or "." in key:
                raise JobError(source, name, "expected section.key (e.g. classical.seed)")
            items = {key: value}
        elif isinstance(value, Mapping):
            sec, items = name, dict(value)
        else:
            raise JobError(source, name, "an override is \"section.key\"=value or section={key: value}")
        table = data.setdefault(sec, {})
        if not isinstance(table, dict):
            raise JobError(source, f"[{sec}]", "is not a table")
        table.update(copy.deepcopy(items))


def run(job, *, output: str | os.PathLike | None = None, comm=None, restart: bool = False,
        progress: bool = False, **overrides) -> Results:
    """Run a job and return its results (the command line's numbers, bit for bit).

    Parameters
    ----------
    job : dict or path
        The job: a dict of the TOML structure (``{"job": {"kind": "quantum"}, "temperatures": {...}, ...}``) or the
        path of a job file.
    output : path, optional
        Results file (HDF5) to write, checkpoint and resume like the command line's; None (default): nothing is
        written, whatever ``[job] output`` says.
    comm : MPI communicator, optional
        Ranks that run the job together (None: ``MPI.COMM_WORLD``; one process without ``mpirun``).
    restart : bool
        With ``output``: ignore finished points of an existing file instead of resuming them.
    progress : bool
        Progress lines on rank 0.
    **overrides
        Job keys to change, like ``--set``: ``**{"classical.seed": 3}`` or ``classical={"seed": 3}`` (Python values).

    Returns
    -------
    Results
        On every rank of ``comm``.

    Raises
    ------
    mpiheat.config.JobError
        Bad job (one line naming the key).
    mpiheat.driver.runner.ResumeError, mpiheat.io.lock.OutputBusyError, mpiheat.io.OutputError
        With ``output``: a file that cannot be resumed, an output in use by another run, a failed write.
    mpiheat.driver.runner.Interrupted
        A stop signal (SIGTERM, SIGINT, SIGUSR1) ended the run.
    """
    import mpiheat.kinds as kinds
    from mpiheat.driver.runner import ResumeError, run_sweep

    data, source = _job_data(job)
    _apply_overrides(data, source, overrides)
    job_table = data.setdefault("job", {})
    if output is None:
        job_table.pop("output", None)  # no output: nothing written, whatever the job file names
    else:
        job_table["output"] = os.fspath(output)
    cfg = kinds.build_config(data, source, require_output=False)
    kind = kinds.build(cfg)
    path = None
    if output is not None:
        from mpiheat.cli import startup_checks

        startup_checks(cfg)
        path = cfg.job.output
    try:
        res = run_sweep(kind, comm, output=path, restart=restart, progress=progress,
                        checkpoint_interval=cfg.job.checkpoint_interval, attrs={"job": cfg.to_toml()})
    except ResumeError as e:
        if e.restart_helps:  # say how to start over, in this API's words
            e.message += " or pass restart=True to start over"
        raise
    return Results(res, res.attrs, res.schema, res.parameters, res.extra, path)


def load(path: str | os.PathLike) -> Results:
    """Read a results file (checksums verified) as :class:`Results`.

    Raises
    ------
    mpiheat.io.CorruptResultsError
        A checksum does not match (one line naming the dataset).
    OSError
        The file cannot be opened.
    """
    from mpiheat.io import read_file

    stored = read_file(path)
    return Results(stored.columns, stored.attrs, stored.schema, stored.parameters, stored.extra, os.fspath(path))
