"""The declared results schema: every column of ``/results`` has a name, a dtype, units and a description.

Job kinds declare their columns (:class:`Column`); the driver pre-allocates the long-format columns with the
declared dtype and fill value, the HDF5 writer stores ``units`` and ``description`` as dataset attributes, and
``inspect``, the analysis scripts and the README's column table read the declaration. Because the dtype comes from
the declaration and not from the first finished row, a checkpoint read back on resume has the same dtypes as an
uninterrupted run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

#: dtype codes a column may declare: float64, int64, bool, and variable-length UTF-8 text.
DTYPES = ("f8", "i8", "bool", "str")

#: Fill value of each dtype for points not (yet) computed; ``done`` tells them apart from real values.
FILL = {"f8": float("nan"), "i8": -1, "bool": False, "str": ""}


@dataclass(frozen=True)
class Column:
    """One declared column of ``/results``.

    Parameters
    ----------
    name : str
        Dataset name under ``/results``.
    dtype : {"f8", "i8", "bool", "str"}
        Stored dtype (float64, int64, bool, UTF-8 text).
    units : str
        Physical units in the code's convention (SPEC §1: hbar = k_B = 1, box length and mass units), ``"1"`` for
        dimensionless numbers, ``"s"`` for wall-clock seconds, ``""`` for text and flags.
    description : str
        One line for ``inspect``, the README column table and the dataset's ``description`` attribute.
    health : bool, optional
        A health column of a solve (residual, convergence, positivity, ...): ``inspect`` summarises these (the file
        lists them in the ``/results`` attribute ``health``).
    """

    name: str
    dtype: str
    units: str
    description: str
    health: bool = False

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"column {self.name!r}: dtype {self.dtype!r} is not one of {DTYPES}")

    @property
    def fill(self):
        """Value stored for points that are not done."""
        return FILL[self.dtype]

    def array(self, values: Iterable) -> np.ndarray:
        """``values`` (None/missing entries already replaced by :attr:`fill`) as an array of the declared dtype."""
        values = list(values)
        if self.dtype == "str":
            return np.array([str(v) for v in values], dtype=object)
        return np.asarray(values, dtype={"f8": np.float64, "i8": np.int64, "bool": np.bool_}[self.dtype])


def by_name(columns: Iterable[Column]) -> dict[str, Column]:
    """``{name: Column}``; refuses a name declared twice with different meanings."""
    out: dict[str, Column] = {}
    for c in columns:
        if c.name in out and out[c.name] != c:
            raise ValueError(f"column {c.name!r} is declared twice, differently: {out[c.name]} and {c}")
        out[c.name] = c
    return out


#: The column the driver adds to every results file.
DONE = Column("done", "bool", "", "the point has been computed (False: not yet, its other columns hold fill values)")
