"""Shared helpers for the figure scripts: reading results, grouping, saving PNG + PDF."""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np


class AnalysisInputError(Exception):
    """A results file a figure cannot be drawn from: ``str(err)`` is one line naming the file and the problem."""


class Checked(dict):
    """A dict of columns / attributes / groups of one file whose missing keys raise :class:`AnalysisInputError`
    naming the file (a figure script given the results of another job gets one clear line, not a KeyError)."""

    def __init__(self, data, path: str, what: str, schema: dict | None = None, parameters: list | None = None):
        super().__init__(data)
        self.path, self.what = path, what
        self.schema = schema or {}  # name -> declared Column (units, description) as stored in the file
        self.parameters = list(parameters or [])  # the sweep's parameter columns, as the file declares them

    def __getitem__(self, key):
        try:
            return super().__getitem__(key)
        except KeyError:
            raise AnalysisInputError(f"{self.path}: no {self.what} {key!r} (the results of another job? this figure "
                                     f"needs the job named in its --help)") from None


_loaded: list[str] = []  # files read so far, to name the likely culprit of an unexpected failure


def load(path: str) -> tuple[dict, dict, dict]:
    """Columns (only finished points), attributes and extra groups of a results file.

    Raises :class:`AnalysisInputError` (one line) for a missing, foreign, malformed or corrupt file.
    """
    from mpiheat.inspect import InspectError, check_layout
    from mpiheat.io import read_file

    _loaded.append(path)
    try:
        check_layout(path)
        stored = read_file(path)
        cols, attrs, extra = stored.columns, stored.attrs, stored.extra
    except InspectError as e:
        raise AnalysisInputError(str(e)) from None
    except Exception as e:  # checksum mismatch (CorruptResultsError), HDF5 errors: one line whatever the cause
        msg = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise AnalysisInputError(msg if msg.startswith(path) else f"{path}: {msg}") from None
    if not cols:
        raise AnalysisInputError(f"{path}: /results has no columns")
    done = np.asarray(cols.get("done", np.ones(len(next(iter(cols.values()))), bool)), dtype=bool)
    if not done.any():
        raise AnalysisInputError(f"{path}: no finished points to plot (resume the run first)")
    if not done.all():
        print(f"warning: {path}: only {done.sum()}/{done.size} points finished; plotting those")
    extra = Checked({k: Checked(v, path, f"dataset in /{k}") for k, v in extra.items()}, path, "group")
    return (Checked({k: np.asarray(v)[done] for k, v in cols.items()}, path, "results column", stored.schema,
                    stored.parameters),
            Checked(attrs, path, "attribute"), extra)


def run_main(main, argv=None) -> int:
    """Run a figure script's ``main`` so that a user error ends in one line ``error: ...`` and exit 2, never a
    traceback (set ``MPIHEAT_TRACEBACK=1`` to see one); a closed pipe (``| head``) ends quietly with 0."""
    import warnings

    try:
        # Warnings (e.g. matplotlib's about an empty legend) are shown after a success; after a failure they would
        # only bury the one line that says what is wrong.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            rc = main(argv)
        for w in caught:
            sys.stderr.write(warnings.formatwarning(w.message, w.category, w.filename, w.lineno))
        return rc
    except BrokenPipeError:
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 0
    except AnalysisInputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # bad data in an otherwise readable file, unwritable --out, ...
        if os.environ.get("MPIHEAT_TRACEBACK"):
            raise
        msg = (str(e).strip().splitlines() or [""])[0][:300]
        where = f"{_loaded[-1]}: " if _loaded else ""
        print(f"error: {where}{type(e).__name__}: {msg} (MPIHEAT_TRACEBACK=1 shows where)", file=sys.stderr)
        return 2


def groups(cols: dict, keys: list[str]) -> list[tuple[tuple, np.ndarray]]:
    """Unique combinations of ``keys`` (those present) with the boolean mask of their rows."""
    keys = [k for k in keys if k in cols]
    if not keys:
        n = len(next(iter(cols.values())))
        return [((), np.ones(n, bool))]
    combos = sorted({tuple(cols[k][i] for k in keys) for i in range(len(cols[keys[0]]))})
    out = []
    for c in combos:
        m = np.ones(len(cols[keys[0]]), bool)
        for k, v in zip(keys, c):
            m &= cols[k] == v
        out.append((c, m))
    return out


def curve_keys(cols: dict, x: str) -> list[str]:
    """The swept parameter columns of a results file other than ``x``: one curve per combination of them.

    Parameter names come from the kinds' declaration (:data:`mpiheat.kinds.columns.PARAMETERS`), so a sweep over any
    declared axis (``levels``, ``equation``, ``eta``, ``length``, ``steps``, ``proposal``, ...) splits the curves.
    """
    from mpiheat.kinds.columns import PARAMETERS

    declared = getattr(cols, "parameters", None) or list(PARAMETERS)  # older files do not list their parameters
    return [k for k in declared if k in cols and k not in (x, "T", "T_L", "T_R")]


def axis_label(cols: dict, name: str, symbol: str) -> str:
    """``symbol [units]`` with the units the file declares for column ``name`` (just ``symbol`` when it has none)."""
    col = getattr(cols, "schema", {}).get(name)
    units = getattr(col, "units", "") if col is not None else ""
    return f"{symbol} [{units}]" if units and units != "1" else symbol


def curve_label(combo: tuple, keys: list[str]) -> str:
    """``"levels = 80, equation = lindblad"`` for one curve."""
    return ", ".join(f"{k} = {v}" for k, v in zip(keys, combo))


def save(fig, out_dir: str, name: str) -> list[str]:
    """Save ``fig`` as PNG and PDF in ``out_dir``; returns the paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for ext in ("png", "pdf"):
        p = os.path.join(out_dir, f"{name}.{ext}")
        fig.savefig(p, dpi=150, bbox_inches="tight")
        paths.append(p)
    return paths


def parser(doc: str, inputs: list[str]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc)
    for name in inputs:
        p.add_argument(name, help=f"results file ({name})")
    p.add_argument("--out", default="figures", help="output folder (PNG and PDF)")
    return p


def mpl():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def max_positive_slope(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Largest positive relative slope (dy/dx)/|y| between consecutive points sorted by x, and its x (midpoint).

    Returns (0.0, nan) when y never rises with x (no NDTR in the sense of the Letter).
    """
    o = np.argsort(x)
    x, y = np.asarray(x, float)[o], np.asarray(y, float)[o]
    if np.any(np.diff(x) == 0):
        raise ValueError("max_positive_slope needs one curve: repeated x values (select one parameter set first)")
    dy = np.diff(y) / np.diff(x)
    rel = dy / np.maximum(np.abs(y[1:]), np.abs(y[:-1]))
    if rel.size == 0 or np.nanmax(rel) <= 0:
        return 0.0, float("nan")
    k = int(np.nanargmax(rel))
    return float(rel[k]), float(0.5 * (x[k] + x[k + 1]))


def max_positive_rise(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Largest positive slope dy/dx between consecutive points sorted by x: ``(slope, x midpoint, slope / |y|)``.

    Returns (0.0, nan, 0.0) when y never rises with x.
    """
    o = np.argsort(x)
    x, y = np.asarray(x, float)[o], np.asarray(y, float)[o]
    if np.any(np.diff(x) == 0):
        raise ValueError("max_positive_rise needs one curve: repeated x values (select one parameter set first)")
    dy = np.diff(y) / np.diff(x)
    if dy.size == 0 or np.nanmax(dy) <= 0:
        return 0.0, float("nan"), 0.0
    k = int(np.nanargmax(dy))
    return float(dy[k]), float(0.5 * (x[k] + x[k + 1])), float(dy[k] / max(abs(y[k]), abs(y[k + 1])))


def default_chain(cols: dict, steps: int = 1000, proposal: float = 1.0) -> np.ndarray:
    """Rows of the default MCMC chain (steps = 1000, c = 1) when those parameters were swept; all rows otherwise."""
    sel = np.ones(len(cols["J"]), bool)
    for k, v in (("steps", steps), ("proposal", proposal)):
        if k in cols:
            sel &= cols[k] == v
    return sel


def classical_curve(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``T_R, J, J_err`` of the default MCMC chain (:func:`default_chain`) of a classical results file, by T_R."""
    c, _, _ = load(path)
    sel = default_chain(c)
    o = np.argsort(c["T_R"][sel])
    return c["T_R"][sel][o], c["J"][sel][o], c["J_err"][sel][o]


def single_input_main(doc: str, plot, argv=None) -> int:
    """``main`` of a figure script that reads one results file: print the paths written."""
    args = parser(doc, ["result"]).parse_args(argv)
    for p in plot(args.result, args.out):
        print(p)
    return 0
