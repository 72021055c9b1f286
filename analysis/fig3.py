"""Fig. 3: (a) kappa^q(T) with calibrated gamma for each eta, with Eq. 12; (b) beta(eta) and the gamma table."""

from __future__ import annotations

import sys

import numpy as np

from analysis.common import load, mpl, run_main, save, single_input_main

LETTER_GAMMA = {0.0: 8.036e-7, -0.5: 3.755e-5, -1.0: 1.477e-3, -1.5: 4.691e-2, -2.0: 1.160, -2.5: 22.499,
                -3.0: 357.057}


def table(cols: dict) -> str:
    """The calibration table with the Letter's values and relative deviations."""
    lines = ["  eta        gamma     Letter    rel.dev     beta"]
    for e, g, b in zip(cols["eta"], cols["gamma"], cols["beta"]):
        ref = LETTER_GAMMA.get(round(float(e), 3))
        dev = f"{g / ref - 1:+.2e}" if ref else "      —"
        lines.append(f"{e:5.2f}  {g:11.4e}  {ref if ref else float('nan'):9.4g}  {dev:>9}  {b:7.4f}")
    return "\n".join(lines)


def plot(path: str, out_dir: str) -> list[str]:
    plt = mpl()
    cols, attrs, extra = load(path)
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.8))
    kc = extra.get("kappa_curves")
    if kc:
        for e, k in zip(kc["eta"], kc["kappa"]):
            a.loglog(kc["T"], k, "-", lw=1, label=rf"$\eta={e:g}$")
        a.loglog(kc["T"], kc["kappa_classical"], "k--", lw=1.2, label="Eq. (12)")
    a.set_xlabel("$T$")
    a.set_ylabel(r"$\kappa^q$")
    a.legend(fontsize=7, frameon=False, ncol=2)
    a.set_title(f"(a) calibrated at T = {attrs['T_cal']:g}, N = {attrs['levels']}", fontsize=9)
    o = np.argsort(cols["eta"])
    b.plot(cols["eta"][o], cols["beta"][o], "o-", ms=4)
    b.axhline(0.5, color="k", ls=":", lw=1)
    if "eta_half" in attrs:
        lab = rf"$\beta=1/2$: $\eta={attrs['eta_half']:.4f}$"
        b.axvline(attrs["eta_half"], color="tab:red", ls="--", lw=1, label=lab)
        b.legend(fontsize=8, frameon=False)
    b.set_xlabel(r"$\eta$")
    b.set_ylabel(r"$\beta$")
    lo, hi = attrs["beta_range"]
    b.set_title(f"(b) fit of $\\kappa^q\\propto T^\\beta$ on [{lo:g}, {hi:g}]", fontsize=9)
    paths = save(fig, out_dir, "fig3_calibration")
    plt.close(fig)
    print(table(cols))
    if "eta_half" in attrs:
        print(f"eta at beta = 1/2: {attrs['eta_half']:.6f}")
    return paths


def main(argv=None) -> int:
    return single_input_main(__doc__, plot, argv)


if __name__ == "__main__":
    sys.exit(run_main(main))
