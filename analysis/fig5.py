"""Fig. 5: two particles (m1 = 1, m2 = sqrt(2)) vs one particle — (a) classical J/N, (b) quantum J/N vs T_R.

Prints the largest positive relative slope of each curve (the NDTR verdict as a number).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from analysis.common import load, max_positive_slope, mpl, run_main, save


def _curve(ax, path, n, style, label, err=True):
    c, _, _ = load(path)
    o = np.argsort(c["T_R"])
    x, y = c["T_R"][o], c["J"][o] / n
    if err and "J_err" in c and np.any(c["J_err"] > 0):
        ax.errorbar(x, y, yerr=c["J_err"][o] / n, fmt=style[0], color=style[1], ms=4, mfc="none", label=label)
    else:
        ax.plot(x, y, style[0], color=style[1], ms=4, mfc="none", label=label)
    s, at = max_positive_slope(x, y)
    verdict = "monotonic" if s == 0 else f"largest rise (dJ/dT_R)/J = {s:.3e} at T_R = {at:.4g}"
    print(f"{label}: {verdict}")


def plot(classical2, classical1, quantum2, quantum1, out_dir) -> list[str]:
    plt = mpl()
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6))
    if classical2:
        _curve(a, classical2, 2, ("s", "k"), "classical, two particles (J/2)")
    if classical1:
        _curve(a, classical1, 1, ("o", "red"), "classical, one particle")
    if quantum2:
        _curve(b, quantum2, 2, ("s", "k"), "quantum, two particles (J/2)", err=False)
    if quantum1:
        _curve(b, quantum1, 1, ("o", "red"), "quantum, one particle", err=False)
    for ax, t in ((a, "(a) classical"), (b, "(b) quantum")):
        ax.set_xscale("log")
        ax.set_xlabel("$T_R$")
        ax.set_ylabel("$J/N$")
        ax.set_title(t, fontsize=9)
        ax.legend(fontsize=7, frameon=False)
    paths = save(fig, out_dir, "fig5_two_particles")
    plt.close(fig)
    return paths


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("classical2", help="jobs/fig5_classical.toml results")
    p.add_argument("quantum2", help="jobs/fig5_quantum.toml results")
    p.add_argument("--classical-one", help="jobs/fig5_classical_one.toml results")
    p.add_argument("--quantum-one", help="jobs/fig5_quantum_one.toml results")
    p.add_argument("--out", default="figures")
    a = p.parse_args(argv)
    for path in plot(a.classical2, a.classical_one, a.quantum2, a.quantum_one, a.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
