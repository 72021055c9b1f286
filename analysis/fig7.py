"""Fig. 7: <P_R> = Tr(P_R rho_ss) vs T_R (saturates at low T_R); inset: participation ratio in position space."""

from __future__ import annotations

import sys

import numpy as np

from analysis.common import axis_label, load, mpl, run_main, save, single_input_main


def plot(path: str, out_dir: str) -> list[str]:
    plt = mpl()
    cols, attrs, _ = load(path)
    o = np.argsort(cols["T_R"])
    fig, ax = plt.subplots(figsize=(5, 3.8))
    ax.plot(cols["T_R"][o], cols["P_R"][o], "o", ms=4, mfc="none", color="red")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(axis_label(cols, "T_R", "$T_R$"))
    ax.set_ylabel(axis_label(cols, "P_R", r"$\langle P_R\rangle$"))
    if "participation_ratio" in cols:
        ins = ax.inset_axes([0.55, 0.15, 0.4, 0.4])
        ins.plot(cols["T_R"][o], cols["participation_ratio"][o], ".", ms=3, color="navy")
        ins.set_xscale("log")
        ins.set_xlabel("$T_R$", fontsize=7)
        ins.set_ylabel("PR", fontsize=7)
        ins.tick_params(labelsize=6)
    lo = cols["P_R"][o][:3]
    print(f"<P_R> at the three lowest T_R: {', '.join(f'{v:.6g}' for v in lo)} (saturation: spread "
          f"{np.ptp(lo) / np.mean(lo):.2e})")
    paths = save(fig, out_dir, "fig7_interaction")
    plt.close(fig)
    return paths


def main(argv=None) -> int:
    return single_input_main(__doc__, plot, argv)


if __name__ == "__main__":
    sys.exit(run_main(main))
