"""Scaling plots of ``make bench``: PNG figures under ``benchmarks/results/`` from the JSON files the benchmarks write.

Usage: ``python benchmarks/plots.py [--results DIR]`` (``benchmarks/run_all.py`` calls it after the benchmarks).

* ``quantum_scaling.png``: wall time and peak memory per rank vs N for Pauli, Lindblad (scipy; PETSc on 1 and 2
  ranks) and Redfield (steady-state solve and physicality check), from ``quantum.json`` and ``redfield.json``.
* ``two_particle_scaling.png``: wall time and memory per rank vs number of states of the two-particle spectrum,
  from ``two_particle.json``.
* ``classical_scaling.png``: strong scaling of the classical MD vs ranks, from ``classical.json``.

Where each method stops: every curve ends at its largest measured size; a dotted power-law extrapolation of its last
points runs on to the budget lines (10 minutes of wall time; the machine's memory per core) and the N where it
crosses is written there (an estimate, marked "~"). Every figure carries the machine (cores, CPU model, memory).

The JSON layouts change while the benchmarks evolve: every key is read with a default, a series whose keys are
missing is left out, and the figure lists what was left out and why instead of failing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
#: Budget lines: one job's wall time, and memory per core of this machine.
TIME_BUDGET_S = 600.0


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo ('' if unknown)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def machine_note() -> str:
    """``nproc``, CPU model and total memory of this machine, for the figure footers."""
    model = cpu_model() or platform.processor() or platform.machine()
    return f"machine: {os.cpu_count()} cores (nproc), {model}, {mem_total_gb():.0f} GiB RAM"


def mem_total_gb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024.0**2
    except OSError:
        pass
    return float("nan")


def load(path: Path, notes: list[str]):
    """JSON content of ``path`` or None (with a note) when it is missing or unreadable."""
    if not path.exists():
        notes.append(f"{path.name}: not found (benchmark not run)")
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        notes.append(f"{path.name}: unreadable ({exc.__class__.__name__})")
        return None


def _num(v) -> float:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return float("nan")
    return v


def series(rows, case: str, ykey, *, xkey: str = "N", where=None) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) sorted by x from rows with ``case``; ``ykey`` a key or a function of the row; NaN/missing dropped."""
    xs, ys = [], []
    for r in rows or []:
        if case is not None and r.get("case", r.get("backend")) != case:
            continue
        if where is not None and not where(r):
            continue
        y = ykey(r) if callable(ykey) else r.get(ykey)
        x, y = _num(r.get(xkey)), _num(y)
        if np.isfinite(x) and np.isfinite(y) and y > 0:
            xs.append(x)
            ys.append(y)
    o = np.argsort(xs)
    return np.asarray(xs)[o], np.asarray(ys)[o]


def _max_or_nan(v) -> float:
    if isinstance(v, (list, tuple)) and v:
        return max(_num(u) for u in v)
    return _num(v)


def extrapolate(ax, x, y, limit: float, color, *, slot: int = 0, npts: int = 2, reach: float = 8.0) -> None:
    """Dotted power-law continuation of the last ``npts`` points, at most ``reach`` x the largest measured size; where
    it crosses ``limit`` inside that range, the crossing size is written there (an estimate, "~")."""
    if x.size < 2 or y[-1] >= limit:
        return
    slope, icpt = np.polyfit(np.log(x[-npts:]), np.log(y[-npts:]), 1)
    if not np.isfinite(slope) or slope <= 0.05:
        return
    x_stop = float(np.exp((np.log(limit) - icpt) / slope))
    end = min(x_stop, x[-1] * reach)
    xx = np.geomspace(x[-1], end, 20)
    ax.plot(xx, np.exp(icpt) * xx**slope, ":", color=color, lw=1.2)
    if x_stop <= x[-1] * reach:
        # below the budget line, staggered so that neighbouring crossings stay readable
        ax.annotate(f"~{x_stop:.0f}", (x_stop, limit), color=color, fontsize=7, ha="left", va="top",
                    xytext=(2, -2 - 8 * (slot % 5)), textcoords="offset points")


def _finish(fig, path: Path, notes: list[str], sources: str) -> None:
    text = machine_note() + f"   |   data: {sources}"
    if notes:
        text += "\nleft out: " + "; ".join(notes)
    fig.text(0.01, 0.005, text, fontsize=7, va="bottom", ha="left", color="0.25", wrap=True)
    fig.savefig(path, dpi=130)
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def plot_quantum(res: Path, plt) -> Path | None:
    notes: list[str] = []
    q = load(res / "quantum.json", notes)
    rf = load(res / "redfield.json", notes)
    qrows = (q or {}).get("rows", [])
    mem_limit = mem_total_gb() * 1024.0 / max(os.cpu_count() or 1, 1)
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(12, 5.4))
    specs = [  # label, color, marker, time series, memory series
        ("Pauli (dense LU, 1 process)", "tab:green", "o",
         series(qrows, "pauli", "seconds"), series(qrows, "pauli", lambda r: _max_or_nan(r.get("mem_mb")))),
        ("Lindblad scipy (1 process)", "tab:blue", "s",
         series(qrows, "scipy-mem", "seconds") if series(qrows, "scipy-mem", "seconds")[0].size
         else series(qrows, "scipy", "seconds"),
         series(qrows, "scipy-mem", lambda r: _max_or_nan(r.get("mem_mb")))),
        ("Lindblad PETSc, 1 rank", "tab:orange", "^",
         series(qrows, "petsc-np1", "seconds"), series(qrows, "petsc-np1", lambda r: _max_or_nan(r.get("mem_mb")))),
        ("Lindblad PETSc, 2 ranks (max over ranks)", "tab:red", "v",
         series(qrows, "petsc-np2", "seconds"), series(qrows, "petsc-np2", lambda r: _max_or_nan(r.get("mem_mb")))),
    ]
    if q is not None:
        for label, _, _, t, m in specs:
            if not t[0].size:
                notes.append(f"quantum.json: no times for {label}")
            if not m[0].size:
                notes.append(f"quantum.json: no mem_mb for {label} (older JSON?)")
    # Redfield: solve (1 process scipy GMRES; 2-rank PETSc shell KSP) and physicality check
    rrows = (rf or {}).get("rows", [])
    eigs = [e for e in (rf or {}).get("eigs", []) if str(e.get("method", "")).startswith("cluster")]
    cvs = (rf or {}).get("check_vs_solve", [])
    cvs_new = [c for c in cvs if c.get("which", "new") == "new"]
    red = [
        ("Redfield solve, 1 process (abs. RSS)", "tab:purple", "D",
         series(rrows, "scipy", "seconds"), series(rrows, "scipy", "peak_rss_mb")),
        ("Redfield solve, 2 ranks (abs. RSS)", "tab:pink", "d",
         _merge(series(rrows, "petsc", "seconds"), series(cvs_new, None, "seconds_solve")),
         series(rrows, "petsc", "peak_rss_mb")),
        ("Redfield check (cluster), 1 process / 2 ranks (abs. RSS)", "tab:brown", "x",
         _merge(series(eigs, None, "seconds"), series(cvs_new, None, "seconds_check")),
         series(eigs, None, "peak_rss_mb")),
    ]
    if rf is not None:
        if not cvs_new:
            notes.append("redfield.json: no check_vs_solve rows (seconds_solve/seconds_check)")
        if not eigs:
            notes.append("redfield.json: no cluster check rows")
    for k, (label, color, marker, (tx, ty), (mx, my)) in enumerate(specs + red):
        hollow = {"mfc": "none"} if "abs. RSS" in label else {}
        if tx.size:
            ax_t.loglog(tx, ty, marker=marker, color=color, label=label, ms=5)
            extrapolate(ax_t, tx, ty, TIME_BUDGET_S, color, slot=k)
        if mx.size:
            ax_m.loglog(mx, my, marker=marker, color=color, label=label, ms=5, **hollow)
            if np.isfinite(mem_limit):
                extrapolate(ax_m, mx, my, mem_limit, color, slot=k)
    ax_t.axhline(TIME_BUDGET_S, color="0.4", ls="--", lw=0.8)
    ax_t.text(ax_t.get_xlim()[0], TIME_BUDGET_S, " 10 min", va="bottom", fontsize=7, color="0.3")
    ax_t.set(xlabel="levels N", ylabel="wall time of one steady state [s]",
             title="time vs N\n(dotted: power-law extrapolation; ~N where it reaches the budget)")
    if np.isfinite(mem_limit):
        ax_m.axhline(mem_limit, color="0.4", ls="--", lw=0.8)
        ax_m.text(ax_m.get_xlim()[0], mem_limit, f" memory per core ({mem_limit / 1024:.0f} GiB)", va="bottom",
                  fontsize=7, color="0.3")
    ax_m.set(xlabel="levels N", ylabel="peak memory per rank [MB]",
             title="memory per rank vs N (filled: peak minus RSS after init;\nhollow: Redfield, absolute peak RSS)")
    ratio = [r for r in qrows if r.get("case") == "mem_ratio"]
    if ratio:
        ax_m.text(0.02, 0.90, "memory 2 ranks / 1 rank (PETSc):\n" + ", ".join(
            f"N={r.get('N')}: {_num(r.get('ratio')):.2f}" for r in ratio), transform=ax_m.transAxes, va="top",
            fontsize=8)
    for ax in (ax_t, ax_m):
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="lower right")
        else:
            ax.text(0.5, 0.5, "no benchmark data", ha="center", va="center", transform=ax.transAxes)
    fig.suptitle("Quantum steady states: where each method stops (last marker = largest measured N)")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    path = res / "quantum_scaling.png"
    _finish(fig, path, notes, "quantum.json, redfield.json")
    plt.close(fig)
    return path


def _merge(a, b):
    x = np.concatenate([a[0], b[0]])
    y = np.concatenate([a[1], b[1]])
    o = np.argsort(x, kind="stable")
    return x[o], y[o]


def plot_two_particle(res: Path, plt) -> Path | None:
    notes: list[str] = []
    d = load(res / "two_particle.json", notes)
    rows = (d or {}).get("rows", [])
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(11, 4.8))
    groups = sorted({(str(r.get("method", "?")), int(_num(r.get("ranks", 1)) if np.isfinite(_num(r.get("ranks", 1)))
                                                       else 1)) for r in rows})
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (method, ranks) in enumerate(groups):
        def sel(r, method=method, ranks=ranks):
            return str(r.get("method", "?")) == method and int(_num(r.get("ranks", 1))) == ranks
        label = f"{method}, {ranks} rank{'s' if ranks > 1 else ''}"
        c = colors[k % len(colors)]
        tx, ty = series(rows, None, "seconds", xkey="n_states", where=sel)
        mx, my = series(rows, None, "max_rss_mb", xkey="n_states", where=sel)
        cx, cy = series(rows, None, "cpu_s_max", xkey="n_states", where=sel)
        if tx.size:
            ax_t.loglog(tx, ty, "o-", color=c, label=label + " (wall)")
            extrapolate(ax_t, tx, ty, TIME_BUDGET_S, c, slot=k)
        if cx.size:
            # CPU time per rank: what the run costs on an idle machine (the wall time includes waiting for a
            # shared CPU; the load average of every row is in two_particle.json)
            ax_t.loglog(cx, cy, "s--", mfc="none", color=c, label=label + " (CPU per rank)")
        if mx.size:
            ax_m.loglog(mx, my, "o-", color=c, label=label)
            extrapolate(ax_m, mx, my, 2048.0, c, slot=k)
    if d is not None and not rows:
        notes.append("two_particle.json: no rows")
    if not rows:
        for ax in (ax_t, ax_m):
            ax.text(0.5, 0.5, "no two-particle benchmark data", ha="center", va="center", transform=ax.transAxes)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlim(100, 5000)
        ax_t.set_ylim(0.1, 2000)
        ax_m.set_ylim(10, 5000)
    ax_t.axhline(TIME_BUDGET_S, color="0.4", ls="--", lw=0.8)
    ax_t.text(ax_t.get_xlim()[0], TIME_BUDGET_S, " 10 min (target)", va="bottom", fontsize=7, color="0.3")
    ax_t.axvline(3000, color="0.6", ls=":", lw=0.8)
    ax_t.text(3000, TIME_BUDGET_S / 1.3, "3000 states (target) ", fontsize=7, rotation=90, va="top", ha="right")
    ax_t.set(xlabel="converged states", ylabel="wall time [s]", title="two-particle spectrum: states vs time")
    ax_m.axhline(2048.0, color="0.4", ls="--", lw=0.8)
    ax_m.text(ax_m.get_xlim()[0], 2048.0, " 2 GB per rank (target)", va="bottom", fontsize=7, color="0.3")
    ax_m.set(xlabel="converged states", ylabel="peak RSS per rank [MB]", title="memory per rank")
    for ax in (ax_t, ax_m):
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="lower right")
    fig.suptitle("Two particles in the box (m2/m1 = sqrt 2): dotted = power-law extrapolation to the budget")
    fig.tight_layout(rect=(0, 0.09, 1, 1))
    path = res / "two_particle_scaling.png"
    _finish(fig, path, notes, "two_particle.json")
    plt.close(fig)
    return path


def plot_classical(res: Path, plt) -> Path | None:
    notes: list[str] = []
    d = load(res / "classical.json", notes)
    par = (d or {}).get("parallel", {}) or {}
    ranks, times = [], []
    for n in range(1, 65):  # t1_s, t2_s, ... (today 1 and 2 ranks)
        t = _num(par.get(f"t{n}_s"))
        if np.isfinite(t):
            ranks.append(n)
            times.append(t)
    fig, (ax_t, ax_e) = plt.subplots(1, 2, figsize=(10, 4.4))
    if ranks:
        r, t = np.asarray(ranks), np.asarray(times)
        ax_t.plot(r, t, "o-", label="measured (best of repeats)")
        ax_t.plot(r, t[0] / r, "--", color="0.5", label="ideal t1 / ranks")
        eff = t[0] / (r * t)
        ax_e.bar([str(x) for x in r], eff, color="tab:blue")
        for x, e in zip(r, eff):
            ax_e.text(str(x), e, f"{e:.2f}", ha="center", va="bottom")
        ax_e.axhline(0.9, color="0.4", ls="--", lw=0.8)
        ax_e.text(-0.4, 0.9, "target 0.9", va="bottom", fontsize=7)
        ax_t.set_xticks(r)
    elif d is not None:
        notes.append("classical.json: no parallel.t1_s/t2_s")
    mode = str(par.get("mode", ""))
    ax_t.set(xlabel="MPI ranks", ylabel="wall time [s]", title="classical MD, strong scaling")
    ax_e.set(xlabel="MPI ranks", ylabel="parallel efficiency t1 / (n t_n)", ylim=(0, 1.15), title="efficiency")
    ax_t.grid(True, alpha=0.3)
    if ax_t.get_legend_handles_labels()[0]:
        ax_t.legend(fontsize=8)
    fig.suptitle("Classical MD: " + (mode if mode else "strong scaling"), fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    path = res / "classical_scaling.png"
    _finish(fig, path, notes, "classical.json")
    plt.close(fig)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default=str(RESULTS), help="directory with the benchmark JSON files")
    args = ap.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = Path(args.results)
    res.mkdir(parents=True, exist_ok=True)
    failed = 0
    for fn in (plot_quantum, plot_two_particle, plot_classical):
        try:
            fn(res, plt)
        except Exception as exc:  # one broken JSON must not cost the other plots
            failed += 1
            print(f"{fn.__name__} failed: {exc.__class__.__name__}: {exc}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
