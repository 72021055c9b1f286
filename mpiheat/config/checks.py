"""Value checkers of job keys and the one-line :class:`JobError` (SPEC §5).

Each checker takes a raw TOML value and returns the normalised value or raises :class:`Bad` with the problem;
the section builder (:mod:`mpiheat.config.schema`) turns that into a ``JobError`` naming the file and the key.
Nothing here touches the file system or imports PETSc: environment checks are the command line's start-up checks.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


class JobError(Exception):
    """A bad job file or option: ``str(err)`` is one line naming the file, the key and the problem."""

    def __init__(self, source: str, key: str, problem: str):
        self.source, self.key, self.problem = source, key, problem
        super().__init__(f"{source}: {key}: {problem}")

    def __reduce__(self):  # picklable, so that rank 0 can broadcast it
        return (JobError, (self.source, self.key, self.problem))


# --------------------------------------------------------------------------------------------------------------------
# Value checkers. Each takes (value, where) and returns the normalised value or raises Bad(problem).


class Bad(Exception):
    """A value fails its check; the message is the problem (the caller adds file and key)."""


def is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def short(v, limit: int = 40) -> str:
    """``repr(v)`` cut to a readable length (a 400-digit integer must not flood the one-line message)."""
    r = repr(v)
    return r if len(r) <= limit else f"{r[:limit // 2]}...{r[-8:]} ({len(r)} characters)"


#: Largest integer a key accepts unless it says otherwise: int64, the HDF5 column type (and TOML's own limit).
INT_MAX = 2**63 - 1
#: Most values one sweep axis (a list or a logspace) may have, and most points a whole sweep may have: checked
#: before any list of points is built, so that a typo such as n = 1e9 fails at once instead of allocating GBs.
MAX_SWEEP_POINTS = 1_000_000


def num(v, *, positive=False, nonneg=False, finite=True) -> float:
    if not is_num(v):
        raise Bad(f"must be a number, got {short(v)}")
    try:
        v = float(v)
    except OverflowError:  # an integer beyond the float range (e.g. 400 digits)
        raise Bad(f"is too large (a {len(str(abs(v)))}-digit integer)") from None
    if finite and not math.isfinite(v):
        raise Bad(f"must be finite, got {v!r}")
    if positive and not v > 0:
        raise Bad(f"must be > 0, got {v!r}")
    if nonneg and v < 0:
        raise Bad(f"must be >= 0, got {v!r}")
    return v


def integer(v, *, lo=None, hi=INT_MAX) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
            v = int(v)
        else:
            raise Bad(f"must be an integer, got {short(v)}")
    if lo is not None and v < lo:
        raise Bad(f"must be an integer >= {lo}, got {short(v)}")
    if hi is not None and v > hi:
        raise Bad(f"must be an integer <= {hi}, got {short(v)}")
    return int(v)


def choice(*choices):
    def check(v):
        if not isinstance(v, str) or v not in choices:
            raise Bad(f"must be one of {', '.join(repr(c) for c in choices)}, got {short(v)}")
        return v

    return check


def string(v):
    if not isinstance(v, str):
        raise Bad(f"must be a string, got {short(v)}")
    return v


def boolean(v):
    if not isinstance(v, bool):
        raise Bad(f"must be true or false, got {short(v)}")
    return v


_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9, "t": 10**12,
          "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_bytes(v) -> int:
    """A memory size: bytes (an integer) or a string such as ``"4GiB"``, ``"500 MB"``, ``"2G"`` (G = 10^9)."""
    if isinstance(v, str):
        text = v.strip().lower().replace(" ", "")
        digits = text.rstrip("abcdefghijklmnopqrstuvwxyz")
        unit = text[len(digits):]
        if unit not in _UNITS or not digits:
            raise Bad(f"must be bytes or a size such as \"4GiB\" or \"500MB\", got {short(v)}")
        try:
            x = float(digits)
        except ValueError:
            raise Bad(f"must be bytes or a size such as \"4GiB\" or \"500MB\", got {short(v)}") from None
        v = x * _UNITS[unit]
    v = num(v, positive=True)
    if v > 2**62:
        raise Bad(f"is too large ({v:.3g} bytes)")
    return int(v)


def max_memory(v):
    if v == "auto":
        return v
    return parse_bytes(v)


def sweep(check: Callable) -> Callable:
    """A scalar or a non-empty list of scalars (a sweep axis); normalised to a tuple, with ``is_list`` remembered."""

    def wrapped(v):
        if isinstance(v, list):
            if not v:
                raise Bad("empty list: a sweep needs at least one value")
            if len(v) > MAX_SWEEP_POINTS:
                raise Bad(f"a sweep of {len(v)} values; at most {MAX_SWEEP_POINTS} are allowed")
            out = []
            for k, x in enumerate(v):
                try:
                    out.append(check(x))
                except Bad as e:
                    raise Bad(f"element {k}: {e}") from None
            return Sweep(tuple(out), True)
        return Sweep((check(v),), False)

    return wrapped


def temps(v):
    """Temperatures: a positive number, a non-empty list of them, or ``{logspace = [lo_exp, hi_exp, n]}``."""
    if isinstance(v, dict):
        if set(v) != {"logspace"}:
            raise Bad(f"a table here must be {{logspace = [lo_exp, hi_exp, n]}}, got keys {short(sorted(v))}")
        ls = v["logspace"]
        if not isinstance(ls, list) or len(ls) != 3:
            raise Bad("logspace must be [lo_exp, hi_exp, n]")
        lo, hi = num(ls[0]), num(ls[1])
        try:  # checked before np.logspace allocates n values
            n = integer(ls[2], lo=1, hi=MAX_SWEEP_POINTS)
        except Bad as e:
            raise Bad(f"logspace n {e}") from None
        if n > 1 and not hi > lo:
            raise Bad(f"logspace needs hi_exp > lo_exp, got {lo} and {hi}")
        if max(abs(lo), abs(hi)) > 300:
            raise Bad("logspace exponents out of range")
        vals = tuple(float(x) for x in np.logspace(lo, hi, n))
        return Sweep(vals, True)
    return sweep(lambda x: num(x, positive=True))(v)


@dataclass(frozen=True)
class Sweep:
    """Values of a (possibly swept) parameter; ``is_list`` records whether the job gave a list (a results column)."""

    values: tuple
    is_list: bool

    @property
    def value(self):
        """The single value (for non-swept parameters)."""
        return self.values[0]

    def __len__(self):
        return len(self.values)


def gamma(v):
    """A positive coupling or ``"calibrate"``."""
    if v == "calibrate":
        return v
    if isinstance(v, str):
        raise Bad(f"must be a positive number or \"calibrate\", got {short(v)}")
    return num(v, positive=True)


def ranks_per_point(v):
    """A positive integer or ``"auto"``."""
    if v == "auto":
        return v
    if isinstance(v, str):
        raise Bad(f"must be a positive integer or \"auto\", got {short(v)}")
    return integer(v, lo=1)


#: Limits of a results file name checked with the job (POSIX NAME_MAX and Linux PATH_MAX); the file system's own
#: values (``pathconf`` of the output folder) are a start-up check of the command line, like the folder's existence.
NAME_MAX = 255
PATH_MAX = 4096


def output_name_problem(path: str, name_max: int = NAME_MAX, path_max: int = PATH_MAX) -> str | None:
    """Why ``path`` cannot be a results file name (None when it can), from the text alone: NUL bytes, a name longer
    than ``name_max`` bytes, a path longer than ``path_max``. The temporary and lock names derived from it are
    shortened or hashed by :mod:`mpiheat.io` so that they always fit when the output name fits."""
    if "\0" in path:
        return "contains a NUL character"
    try:
        raw = os.fsencode(path)
    except UnicodeError:
        return "cannot be encoded for the file system"
    base = os.path.basename(raw)
    if len(base) > name_max:
        return f"file name is {len(base)} bytes long; the file system allows at most {name_max}"
    full = os.path.join(os.path.dirname(os.path.abspath(raw)) or b".", base)
    if len(full) + 16 > path_max:  # + room for the ".lock" / ".<hex>.tmp" siblings
        return f"path is {len(full)} bytes long; at most {path_max - 16} are allowed here (PATH_MAX {path_max})"
    return None
