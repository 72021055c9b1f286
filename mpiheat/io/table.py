"""Fixed-width text tables of result columns (the summary printed by ``mpiheat.run`` and by ``inspect``)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np


def _cell(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return "nan" if math.isnan(v) else f"{v:.6g}"
    return str(v)


def format_table(columns: Mapping[str, Sequence], names: Sequence[str], max_rows: int = 200) -> str:
    """A fixed-width text table of the chosen result columns (names not in ``columns`` are skipped).

    Parameters
    ----------
    columns : name -> equal-length 1-D columns.
    names : columns to show, in order.
    max_rows : at most this many rows; a last line says how many were left out.
    """
    names = [n for n in names if n in columns]
    n = len(next(iter(columns.values()))) if columns else 0
    rows = [[_cell(columns[k][i]) for k in names] for i in range(min(n, max_rows))]
    widths = [max([len(k)] + [len(r[j]) for r in rows]) for j, k in enumerate(names)]
    lines = ["  ".join(k.rjust(w) for k, w in zip(names, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    if n > max_rows:
        lines.append(f"... {n - max_rows} more rows")
    return "\n".join(lines)
