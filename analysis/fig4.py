"""Fig. 4: J^q vs T_R at T_L = 1000 for N = 80, 100, 120 with the classical curves; inset kappa(T).

Also prints the NDTR verdict as numbers for each quantum curve (one per combination of the swept parameters:
``levels``, and ``equation`` etc. when swept) and the classical curve: the largest positive slope dJ/dT_R, where
(T_R), and the largest relative slope (dJ/dT_R)/J (0 means J never rises with T_R). Expected for the Letter's
parameters: dJ/dT_R ~ 0.030 at T_R ~ 9 for N >= 80 (a rise of ~1e-5 of J).
"""

from __future__ import annotations

import sys

import numpy as np

from analysis.common import (
    axis_label,
    classical_curve,
    curve_keys,
    curve_label,
    groups,
    load,
    max_positive_rise,
    max_positive_slope,
    mpl,
    run_main,
    save,
)
from mpiheat.classical.analytic import maxwell_current, maxwell_kappa


def rise_text(x, y) -> str:
    """One line: the largest dJ/dT_R with its T_R, and the largest (dJ/dT_R)/J with its T_R."""
    slope, at, _ = max_positive_rise(x, y)
    rel, at_rel = max_positive_slope(x, y)
    if slope == 0:
        return "monotonic (no NDTR)"
    return (f"largest rise dJ/dT_R = {slope:.4g} at T_R = {at:.4g}; largest (dJ/dT_R)/J = {rel:.3e} at "
            f"T_R = {at_rel:.4g}")


def ndtr_report(cols: dict) -> list[str]:
    """One line per quantum curve (each combination of the swept parameters)."""
    keys = curve_keys(cols, "T_R")
    out = []
    for combo, m in groups(cols, keys):
        name = curve_label(combo, keys) or "J^q"
        out.append(f"{name}: J^q(T_R) {rise_text(cols['T_R'][m], cols['J'][m])}; J at smallest T_R = "
                   f"{cols['J'][m][np.argmin(cols['T_R'][m])]:.6g}")
    return out


def plot(quantum: str, kappa: str | None, classical: str | None, classical_kappa: str | None,
         out_dir: str) -> list[str]:
    plt = mpl()
    cols, attrs, _ = load(quantum)
    T_L = float(np.unique(cols["T_L"])[0])
    fig, ax = plt.subplots(figsize=(5.5, 4))
    styles = {80: ("s", "olive"), 100: ("o", "red"), 120: ("x", "navy")}
    keys = curve_keys(cols, "T_R")
    for combo, m in groups(cols, keys):
        values = dict(zip(keys, combo))
        N = int(values.get("levels", attrs.get("spectrum_levels", 0)))
        mk, col = styles.get(N, ("d", None))
        o = np.argsort(cols["T_R"][m])
        label = "quantum, " + (curve_label(combo, keys).replace("levels", "N") if keys else f"N = {N}")
        ax.plot(cols["T_R"][m][o], cols["J"][m][o], mk, ms=4, mfc="none", color=col, label=label)
    T = np.logspace(np.log10(cols["T_R"].min()), np.log10(cols["T_R"].max()), 300)
    ax.plot(T, maxwell_current(T_L, T), "k--", lw=1, label="classical Maxwell, Eq. (4)")
    curve = classical_curve(classical) if classical else None  # read once: plotted here, reported below
    if curve is not None:
        ax.errorbar(curve[0], curve[1], yerr=curve[2], fmt="^", ms=4, color="tab:blue", label="classical MCMC")
    ax.set_xscale("log")
    ax.set_xlabel(axis_label(cols, "T_R", "$T_R$"))
    ax.set_ylabel(axis_label(cols, "J", "$J$"))
    ax.legend(fontsize=7, frameon=False, loc="lower left")
    if kappa:
        k, _, _ = load(kappa)
        ins = ax.inset_axes([0.1, 0.3, 0.33, 0.33])
        ins.loglog(k["T"], k["kappa"], "o", ms=2.5, color="red", label="quantum")
        Tk = np.logspace(np.log10(k["T"].min()), np.log10(k["T"].max()), 200)
        ins.loglog(Tk, maxwell_kappa(Tk), "k--", lw=1)
        if classical_kappa:
            ck, _, _ = load(classical_kappa)
            ins.loglog(ck["T"], ck["kappa"], "^", ms=2.5, color="tab:blue")
        ins.set_xlabel("$T$", fontsize=7)
        ins.set_ylabel(r"$\kappa$", fontsize=7)
        ins.tick_params(labelsize=6)
    paths = save(fig, out_dir, "fig4_quantum")
    plt.close(fig)
    for line in ndtr_report(cols):
        print(line)
    if curve is not None:
        print(f"classical MCMC: J(T_R) {rise_text(curve[0], curve[1])} (NDTR when > 0)")
    return paths


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("quantum", help="results of jobs/fig4_quantum.toml")
    p.add_argument("--kappa", help="results of jobs/fig4_kappa.toml (inset)")
    p.add_argument("--classical", help="classical MCMC J(T_R) results (e.g. jobs/fig2_classical.toml)")
    p.add_argument("--classical-kappa", help="classical kappa(T) results (jobs/fig4_classical_kappa.toml)")
    p.add_argument("--out", default="figures")
    a = p.parse_args(argv)
    for path in plot(a.quantum, a.kappa, a.classical, a.classical_kappa, a.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
