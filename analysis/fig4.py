"""Fig. 4: J^q vs T_R at T_L = 1000 for N = 80, 100, 120 with the classical curves; inset kappa(T).

Also prints the NDTR verdict as numbers: the largest positive relative slope (dJ/dT_R)/J of each quantum curve
(0 means J^q never rises with T_R) and of the classical curves.
"""

from __future__ import annotations

import sys

import numpy as np

from analysis.common import default_chain, groups, load, max_positive_slope, mpl, run_main, save
from mpiheat.classical.analytic import maxwell_current, maxwell_kappa


def ndtr_report(cols: dict) -> list[str]:
    out = []
    for combo, m in groups(cols, ["levels"]):
        s, x = max_positive_slope(cols["T_R"][m], cols["J"][m])
        mono = "monotonic (no NDTR)" if s == 0 else f"largest rise (dJ/dT_R)/J = {s:.3e} at T_R = {x:.4g}"
        out.append(f"N = {combo[0] if combo else '?'}: J^q(T_R) {mono}; J at smallest T_R = "
                   f"{cols['J'][m][np.argmin(cols['T_R'][m])]:.6g}")
    return out


def plot(quantum: str, kappa: str | None, classical: str | None, classical_kappa: str | None,
         out_dir: str) -> list[str]:
    plt = mpl()
    cols, attrs, _ = load(quantum)
    T_L = float(np.unique(cols["T_L"])[0])
    fig, ax = plt.subplots(figsize=(5.5, 4))
    styles = {80: ("s", "olive"), 100: ("o", "red"), 120: ("x", "navy")}
    for combo, m in groups(cols, ["levels"]):
        N = int(combo[0]) if combo else int(attrs.get("spectrum_levels", 0))
        mk, col = styles.get(N, ("d", None))
        o = np.argsort(cols["T_R"][m])
        ax.plot(cols["T_R"][m][o], cols["J"][m][o], mk, ms=4, mfc="none", color=col, label=f"quantum, N = {N}")
    T = np.logspace(np.log10(cols["T_R"].min()), np.log10(cols["T_R"].max()), 300)
    ax.plot(T, maxwell_current(T_L, T), "k--", lw=1, label="classical Maxwell, Eq. (4)")
    if classical:
        c, _, _ = load(classical)
        sel = default_chain(c)
        o = np.argsort(c["T_R"][sel])
        ax.errorbar(c["T_R"][sel][o], c["J"][sel][o], yerr=c["J_err"][sel][o], fmt="^", ms=4, color="tab:blue",
                    label="classical MCMC")
    ax.set_xscale("log")
    ax.set_xlabel("$T_R$")
    ax.set_ylabel("$J$")
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
    if classical:
        c, _, _ = load(classical)
        sel = default_chain(c)
        s, x = max_positive_slope(c["T_R"][sel], c["J"][sel])
        print(f"classical MCMC: largest rise (dJ/dT_R)/J = {s:.3e} at T_R = {x:.4g} (NDTR when > 0)")
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
