"""Fig. 2: classical J^c vs T_R at T_L = 1000 — Eq. 4 line, MCMC points with error bars, band over (steps, c)."""

from __future__ import annotations

import sys

import numpy as np

from analysis.common import axis_label, curve_keys, groups, load, mpl, run_main, save, single_input_main
from mpiheat.classical.analytic import maxwell_current

DEFAULT = (1000, 1.0)


def plot(path: str, out_dir: str) -> list[str]:
    plt = mpl()
    cols, attrs, _ = load(path)
    T_L = float(np.unique(cols["T_L"])[0])
    fig, ax = plt.subplots(figsize=(5, 3.8))
    T = np.logspace(np.log10(cols["T_R"].min()), np.log10(cols["T_R"].max()), 400)
    ax.plot(T, maxwell_current(T_L, T, 1.0, 1.0), "k-", lw=1.2, label="Maxwell, Eq. (4)")
    combos = groups(cols, curve_keys(cols, "T_R"))
    TR = np.unique(cols["T_R"])
    if len(combos) > 1:
        lo = np.full(TR.size, np.inf)
        hi = np.full(TR.size, -np.inf)
        for _, m in combos:
            for k, t in enumerate(TR):
                sel = m & (cols["T_R"] == t)
                if sel.any():
                    lo[k] = min(lo[k], cols["J"][sel].min())
                    hi[k] = max(hi[k], cols["J"][sel].max())
        ax.fill_between(TR, lo, hi, color="tab:blue", alpha=0.25, lw=0,
                        label=f"MCMC, {len(combos)} (steps, c)")
    main = [m for c, m in combos if tuple(c) == DEFAULT or len(combos) == 1]
    m = main[0] if main else combos[0][1]
    o = np.argsort(cols["T_R"][m])
    ax.errorbar(cols["T_R"][m][o], cols["J"][m][o], yerr=cols["J_err"][m][o], fmt="^", ms=4, color="tab:blue",
                label="MCMC (steps = 1000, c = 1)" if main else "MCMC")
    ax.set_xscale("log")
    ax.set_xlabel(axis_label(cols, "T_R", r"$T_R$"))
    ax.set_ylabel(axis_label(cols, "J", r"$J^c$"))
    ax.set_title(rf"$T_L = {T_L:g}$, $m = L = 1$", fontsize=9)
    ax.legend(fontsize=8, frameon=False)
    paths = save(fig, out_dir, "fig2_classical")
    plt.close(fig)
    return paths


def main(argv=None) -> int:
    return single_input_main(__doc__, plot, argv)


if __name__ == "__main__":
    sys.exit(run_main(main))
