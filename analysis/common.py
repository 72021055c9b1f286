"""Shared helpers for the figure scripts: reading results, grouping, saving PNG + PDF."""

from __future__ import annotations

import argparse
import os

import numpy as np


def load(path: str) -> tuple[dict, dict, dict]:
    """Columns (only finished points), attributes and extra groups of a results file."""
    from mpiheat.io import read_results

    cols, attrs, extra = read_results(path)
    done = np.asarray(cols.get("done", np.ones(len(next(iter(cols.values()))), bool)), dtype=bool)
    if not done.all():
        print(f"warning: {path}: only {done.sum()}/{done.size} points finished; plotting those")
    return {k: np.asarray(v)[done] for k, v in cols.items()}, attrs, extra


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


def default_chain(cols: dict, steps: int = 1000, proposal: float = 1.0) -> np.ndarray:
    """Rows of the default MCMC chain (steps = 1000, c = 1) when those parameters were swept; all rows otherwise."""
    sel = np.ones(len(cols["J"]), bool)
    for k, v in (("steps", steps), ("proposal", proposal)):
        if k in cols:
            sel &= cols[k] == v
    return sel


def single_input_main(doc: str, plot, argv=None) -> int:
    """``main`` of a figure script that reads one results file: print the paths written."""
    args = parser(doc, ["result"]).parse_args(argv)
    for p in plot(args.result, args.out):
        print(p)
    return 0
