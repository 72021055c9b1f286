"""Fig. 6: Lindblad vs Redfield — kappa^q(T) (left) and J^q(T_R) (right), gamma = 1e-4, N = 100.

Prints the largest relative Lindblad–Redfield difference and whether any Redfield point was flagged unphysical.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from analysis.common import axis_label, load, mpl, run_main, save


def _split(cols):
    eq = np.asarray(cols["equation"]).astype(str)
    return {e: eq == e for e in np.unique(eq)}


def _compare(cols, x):
    parts = _split(cols)
    if not {"lindblad", "redfield"} <= set(parts):
        return None
    a, b = parts["lindblad"], parts["redfield"]
    xa, xb = cols[x][a], cols[x][b]
    ya = cols["J"][a][np.argsort(xa)]
    yb = cols["J"][b][np.argsort(xb)]
    unphys = int(np.sum(np.asarray(cols.get("unphysical", np.zeros(0)))[b])) if "unphysical" in cols else 0
    # relative to the largest current: near T_L = T_R both currents vanish and a pointwise ratio is meaningless
    return float(np.max(np.abs(yb - ya)) / np.max(np.abs(ya))), unphys, _physicality(cols, b)


def _physicality(cols, b) -> str:
    """Why Redfield points are (un)physical: the generator's rightmost eigenvalue and the positivity of rho_ss."""
    out = []
    if "max_real_eig" in cols:
        ev = np.asarray(cols["max_real_eig"], dtype=float)[b]
        ok = np.isfinite(ev)
        if ok.any():
            out.append(f"max Re(lambda) in [{ev[ok].min():.3e}, {ev[ok].max():.3e}] "
                       f"({int(np.sum(ev[ok] > 0))} of {int(ok.sum())} points > 0)")
        if (~ok).any():
            out.append(f"{int(np.sum(~ok))} points without eigenvalue check")
    if "rho_min_eig" in cols:
        m = np.asarray(cols["rho_min_eig"], dtype=float)[b]
        out.append(f"min eig(rho_ss) down to {m.min():.2e} ({int(np.sum(m < -1e-10))} points < -1e-10)")
    return "; ".join(out)


def plot(path: str, kappa: str | None, out_dir: str) -> list[str]:
    plt = mpl()
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6))
    styles = {"lindblad": ("o", "red", "Lindblad"), "redfield": ("x", "navy", "Redfield")}
    cols, attrs, _ = load(path)
    for e, m in _split(cols).items():
        mk, c, lab = styles.get(e, ("s", None, e))
        o = np.argsort(cols["T_R"][m])
        b.plot(cols["T_R"][m][o], cols["J"][m][o], mk, ms=4, mfc="none", color=c, label=lab)
    b.set_xscale("log")
    b.set_xlabel(axis_label(cols, "T_R", "$T_R$"))
    b.set_ylabel(axis_label(cols, "J", "$J^q$"))
    b.legend(fontsize=8, frameon=False)
    r = _compare(cols, "T_R")
    if r:
        print(f"J(T_R): max |J_Redfield - J_Lindblad| / max |J_Lindblad| = {r[0]:.3e}; "
              f"Redfield points flagged unphysical: {r[1]}\n  Redfield physicality: {r[2]}")
    k: dict = {}  # no kappa file: plain axis labels
    if kappa:
        k, _, _ = load(kappa)
        for e, m in _split(k).items():
            mk, c, lab = styles.get(e, ("s", None, e))
            o = np.argsort(k["T"][m])
            a.loglog(k["T"][m][o], k["kappa"][m][o], mk, ms=4, mfc="none", color=c, label=lab)
        r = _compare(k, "T")
        if r:
            print(f"kappa(T): max |k_Redfield - k_Lindblad| / max |k_Lindblad| = {r[0]:.3e}; unphysical points: {r[1]}"
                  f"\n  Redfield physicality: {r[2]}")
    a.set_xlabel(axis_label(k, "T", "$T$"))
    a.set_ylabel(axis_label(k, "kappa", r"$\kappa^q$"))
    if kappa:
        a.legend(fontsize=8, frameon=False)
    paths = save(fig, out_dir, "fig6_redfield")
    plt.close(fig)
    return paths


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("result", help="results of jobs/fig6_redfield.toml")
    p.add_argument("--kappa", help="results of jobs/fig6_redfield_kappa.toml")
    p.add_argument("--out", default="figures")
    a = p.parse_args(argv)
    for path in plot(a.result, a.kappa, a.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
