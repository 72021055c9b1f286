"""Fig. 8 (beyond the Letter): two hard-core particles (m1 = 1, m2 = sqrt 2) at the Fig. 4 temperatures.

J^q vs T_R at T_L = 1000 for each truncation N (Pauli; Lindblad on PETSc as a cross-check), with the classical
two-particle curve (MD, MCMC baths) on the same axes. Prints, as analysis/fig4.py does for one particle:

* the table J(T_R) with ``top_weight`` = exp(-(E_N - E_0)/T_max) for every point;
* the largest dJ/dT_R of each curve and where it occurs (NDTR in the Letter's sense is dJ/dT_R > 0 at fixed T_L:
  the current grows while the bias T_L - T_R shrinks), absolute and relative to J;
* the N-convergence of the quantum current (largest relative difference between the two largest truncations);
* the calibration (gamma, kappa^c) and the top-weight tolerance the run accepted (printed on the figure too).
"""

from __future__ import annotations

import sys
import tomllib

import numpy as np

from analysis.common import classical_curve, groups, load, max_positive_slope, mpl, run_main, save


def largest_slope(T_R: np.ndarray, J: np.ndarray) -> tuple[float, float]:
    """Largest finite-difference dJ/dT_R between neighbouring points (sorted by T_R) and its T_R (midpoint)."""
    o = np.argsort(T_R)
    x, y = np.asarray(T_R, float)[o], np.asarray(J, float)[o]
    d = np.diff(y) / np.diff(x)
    k = int(np.argmax(d))
    return float(d[k]), float(0.5 * (x[k] + x[k + 1]))


def job_quantum(attrs: dict) -> dict:
    """The resolved [quantum] table of the run (max_top_weight, kappa_classical, ...)."""
    try:
        return tomllib.loads(str(attrs["job"])).get("quantum", {})
    except (KeyError, tomllib.TOMLDecodeError):
        return {}


def curves(cols: dict) -> list[tuple[int, str, np.ndarray]]:
    """(N, equation, row mask) of each quantum curve."""
    out = []
    for combo, m in groups(cols, ["levels", "equation"]):
        keys = [k for k in ("levels", "equation") if k in cols]
        d = dict(zip(keys, combo))
        N = int(d.get("levels", cols["levels"][m][0] if "levels" in cols else -1))
        eq = d.get("equation", "")
        out.append((N, eq.decode() if isinstance(eq, bytes) else str(eq), m))
    return out


def report(cols: dict, attrs: dict, label: str = "quantum") -> list[str]:
    """Text lines: table with top_weight, largest dJ/dT_R per curve, N-convergence."""
    q = job_quantum(attrs)
    if "gamma" in attrs:
        gamma = f"{attrs['gamma']:.6g}"
    elif "gamma" in cols:  # calibrated per truncation: the range over the curves
        g = np.asarray(cols["gamma"], dtype=float)
        gamma = f"{np.nanmin(g):.9g} ... {np.nanmax(g):.9g} (per N)"
    else:
        gamma = "nan"
    lines = [f"{label}: T_L = {float(np.unique(cols['T_L'])[0]):g}, gamma = {gamma}, "
             f"kappa_classical = {q.get('kappa_classical')}, max_top_weight = {q.get('max_top_weight')}"]
    cs = curves(cols)
    heads = [f"J (N={N}" + (f" {eq}" if eq else "") + ")" for N, eq, _ in cs]
    lines.append(f"{'T_R':>10} " + " ".join(f"{h:>22} {'top_weight':>10}" for h in heads))
    T_all = np.unique(cols["T_R"])
    for T in T_all:
        row = f"{T:10.4g} "
        for _, _, m in cs:
            k = np.flatnonzero(m & (cols["T_R"] == T))
            row += (f"{cols['J'][k[0]]:22.10g} {cols['top_weight'][k[0]]:10.3g} " if k.size
                    else f"{'':22} {'':10} ")
        lines.append(row.rstrip())
    for N, eq, m in cs:
        d, x = largest_slope(cols["T_R"][m], cols["J"][m])
        s, xs = max_positive_slope(cols["T_R"][m], cols["J"][m])
        verdict = "NDTR (dJ/dT_R > 0)" if d > 0 else "no NDTR: J falls monotonically as T_R rises"
        lines.append(f"N = {N}{(' ' + eq) if eq else ''}: largest dJ/dT_R = {d:.6g} at T_R = {x:.4g} ({verdict}); "
                     f"largest relative rise (dJ/dT_R)/J = {s:.3e}"
                     + (f" at T_R = {xs:.4g}" if s > 0 else "")
                     + f"; max top_weight = {np.max(cols['top_weight'][m]):.3g}")
    pauli = sorted([(N, m) for N, eq, m in cs if eq in ("", "pauli")], key=lambda t: t[0])
    if len(pauli) >= 2:
        (N1, m1), (N2, m2) = pauli[-2], pauli[-1]
        o1, o2 = np.argsort(cols["T_R"][m1]), np.argsort(cols["T_R"][m2])
        if np.array_equal(cols["T_R"][m1][o1], cols["T_R"][m2][o2]):
            j1, j2 = cols["J"][m1][o1], cols["J"][m2][o2]
            # J -> 0 at T_R = T_L: compare where the current is not round-off
            rel = np.where(np.abs(j2) > 1e-6 * np.abs(j2).max(), np.abs(j1 - j2) / np.abs(j2), 0.0)
            k = int(np.argmax(rel))
            lines.append(f"N-convergence: max |J_{N1} - J_{N2}| / |J_{N2}| = {rel[k]:.3e} at T_R = "
                         f"{cols['T_R'][m2][o2][k]:.4g}")
    return lines


def json_columns(paths: list[str]) -> dict:
    """Quantum curves written by a Python-API run (JSON with ``N``, ``T_R``, ``J``, ``top_weight``, ``T_L`` optional)
    as results columns, so that they go through the same table, slopes and N-convergence as a job's file."""
    import json

    rows: dict[str, list] = {"levels": [], "equation": [], "T_L": [], "T_R": [], "J": [], "top_weight": []}
    for path in paths:
        with open(path) as fh:
            d = json.load(fh)
        n = len(d["T_R"])
        rows["levels"] += [int(d["N"])] * n
        rows["equation"] += ["pauli"] * n
        rows["T_L"] += [float(d.get("T_L", 1000.0))] * n
        rows["T_R"] += list(map(float, d["T_R"]))
        rows["J"] += list(map(float, d["J"]))
        rows["top_weight"] += list(map(float, d["top_weight"]))
    return {k: np.asarray(v) for k, v in rows.items()}


def plot(quantum: str | None, classical: str | None, lindblad: str | None, kappa: str | None, out_dir: str,
         curves_json: list[str] | None = None) -> list[str]:
    plt = mpl()
    if quantum:
        cols, attrs, _ = load(quantum)
    else:
        cols, attrs = json_columns(curves_json or []), {}
    if quantum and curves_json:  # a job's curves and API curves on the same axes and in the same table
        extra = json_columns(curves_json)
        n = len(cols["J"])
        eq = [e.decode() if isinstance(e, bytes) else str(e) for e in cols.get("equation", ["pauli"] * n)]
        mine = {"levels": np.asarray(cols["levels"], dtype=np.int64), "equation": np.asarray(eq),
                **{k: np.asarray(cols[k], dtype=float) for k in ("T_L", "T_R", "J", "top_weight")}}
        cols = {k: np.concatenate([mine[k], extra[k]]) for k in extra}
    elif curves_json:
        import json

        with open(curves_json[0]) as fh:
            g = json.load(fh).get("gamma")
        attrs = {"gamma": float(g)} if g is not None else {}
    q = job_quantum(attrs)
    fig, ax = plt.subplots(figsize=(5.5, 4))
    marks = ["s", "o", "x", "d", "v"]
    for i, (N, eq, m) in enumerate(curves(cols)):
        o = np.argsort(cols["T_R"][m])
        ax.plot(cols["T_R"][m][o], cols["J"][m][o], marks[i % len(marks)] + "-", ms=4, mfc="none", lw=0.6,
                label=f"quantum {eq or 'pauli'}, N = {N}")
    lines = report(cols, attrs)
    if lindblad:
        lc, la, _ = load(lindblad)
        for N, eq, m in curves(lc):
            if eq == "lindblad":
                o = np.argsort(lc["T_R"][m])
                ax.plot(lc["T_R"][m][o], lc["J"][m][o], "+", ms=8, color="k",
                        label=f"Lindblad (PETSc), N = {N}")
        lines += report(lc, la, "Lindblad cross-check")
    if classical:
        cT, cJ, cE = classical_curve(classical)
        ax.errorbar(cT, cJ, yerr=cE, fmt="^", ms=4, color="k", label="classical MD, MCMC baths")
        d, x = largest_slope(cT, cJ)
        lines.append(f"classical MCMC: largest dJ/dT_R = {d:.6g} at T_R = {x:.4g} "
                     f"({'NDTR' if d > 0 else 'no NDTR'}; statistical errors J_err up to {np.max(cE):.3g})")
    if kappa:
        k, _, _ = load(kappa)
        lines.append(f"calibration: classical kappa^c(T = {float(k['T'][0]):g}) = {float(k['kappa'][0]):.6g} +- "
                     f"{float(k['kappa_err'][0]):.2g} (linear-response MD); the quantum run used "
                     f"kappa_classical = {q.get('kappa_classical')}")
    ax.set_xscale("log")
    ax.set_xlabel("$T_R$")
    ax.set_ylabel("$J$")
    tw = np.max(cols["top_weight"])
    tol = f"max_top_weight = {q['max_top_weight']:.3g} " if "max_top_weight" in q else ""  # API curves: none
    ax.set_title(f"two particles, $T_L$ = {float(np.unique(cols['T_L'])[0]):g}; {tol}(largest top weight used "
                 f"{tw:.2g})", fontsize=8)
    ax.legend(fontsize=7, frameon=False, loc="best")
    paths = save(fig, out_dir, "fig8_two_particle")
    plt.close(fig)
    for line in lines:
        print(line)
    return paths


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("quantum", nargs="?", help="results of jobs/fig8_two_particle_quantum.toml")
    p.add_argument("--curves-json", nargs="*", default=[],
                   help="quantum curves of Python-API runs (JSON: N, T_R, J, top_weight), added to the figure")
    p.add_argument("--classical", help="results of jobs/fig8_classical.toml (MD, MCMC baths)")
    p.add_argument("--lindblad", help="results of jobs/fig8_two_particle_lindblad.toml (Lindblad on PETSc)")
    p.add_argument("--kappa", help="results of jobs/fig8_kappa_classical.toml (calibration kappa^c)")
    p.add_argument("--out", default="figures")
    a = p.parse_args(argv)
    if not a.quantum and not a.curves_json:
        p.error("give a results file of the quantum job or --curves-json")
    for path in plot(a.quantum, a.classical, a.lindblad, a.kappa, a.out, a.curves_json):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
