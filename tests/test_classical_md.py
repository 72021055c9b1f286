"""One-particle classical MD: Eq. (4), error-bar coverage, equilibrium, MCMC limits, exact scalings, MPI invariance."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from scipy import stats

from conftest import run_mpi
from mpiheat.classical import Bath, maxwell_current, maxwell_kappa, maxwell_means, run_md
from mpiheat.classical.result import one_particle_estimators

T_L = 1000.0


def test_analytic_forms_are_consistent():
    # Eq. (4) from Eq. (3) with the Maxwell means, its maximum at T_R = T_L/4, and Eq. (12) as its linear response.
    for TL, TR, m, L in ((1000.0, 3.0, 1.0, 1.0), (2.0, 0.5, 1.7, 2.3)):
        (EL, tL), (ER, tR) = maxwell_means(TL, m, L), maxwell_means(TR, m, L)
        assert np.isclose(maxwell_current(TL, TR, m, L), (EL - ER) / (tL + tR), rtol=1e-14)
    TR = np.linspace(200, 300, 100001)
    assert abs(TR[np.argmax(maxwell_current(T_L, TR))] - T_L / 4) < 2e-3
    T, d = 37.0, 1e-5
    assert np.isclose(maxwell_current(T * (1 + d / 2), T * (1 - d / 2)) / (d * T), maxwell_kappa(T), rtol=1e-8)


@pytest.mark.parametrize("T_R", [1e-2, 1e-1, 1.0, 10.0, 250.0, 1e3])
def test_maxwell_md_matches_eq4(T_R):
    r = run_md(T_L, T_R, Bath(), trajectories=16, collisions=1_000_000, warmup=10, seed=11, stream=0)
    J = maxwell_current(T_L, T_R)
    assert abs(r.J - J) < 3 * r.J_err
    assert r.J_err < 0.01 * maxwell_kappa(T_L) * T_L  # the check has power: error < 1 % of the largest current
    E, t = maxwell_means(T_R)
    assert abs(r.E_RL - E) < 0.01 * E and abs(r.t_RL - t) < 0.05 * t
    assert abs(r.J_R - J) < 3 * r.J_R_err
    assert r.collisions == 16_000_000 and r.trajectories == 16


def test_maxwell_error_bar_coverage():
    """z = (J - Eq. 4)/J_err over 300 independent seeds must be distributed as a standard error promises.

    With n = 32 trajectories the jackknife z follows Student t with 31 degrees of freedom. The fractions |z| < 1 and
    |z| < 2 must lie within 3 binomial standard deviations of t_31's; the same z with errors shrunk by 30 % must fail,
    so the test detects under-estimated errors of that size. T_R = 1 is in the heavy-tailed flight-time regime.
    """
    T_R, n_traj, runs = 1.0, 32, 300
    J = maxwell_current(T_L, T_R)
    z = np.array(
        [
            (lambda r: (r.J - J) / r.J_err)(
                run_md(T_L, T_R, Bath(), trajectories=n_traj, collisions=10_000, warmup=10, seed=12, stream=k)
            )
            for k in range(runs)
        ]
    )

    def coverage_ok(zz):
        ok = True
        for a in (1.0, 2.0):
            p = 2 * stats.t.cdf(a, n_traj - 1) - 1
            ok &= abs(np.mean(np.abs(zz) < a) - p) < 3 * np.sqrt(p * (1 - p) / runs)
        return ok

    assert coverage_ok(z), (np.mean(np.abs(z) < 1), np.mean(np.abs(z) < 2))
    assert not coverage_ok(z / 0.7)  # errors under-estimated by 30 % would be caught
    assert not coverage_ok(z * 0.7)  # and over-estimated errors too


@pytest.mark.parametrize(
    "bath",
    [Bath(), Bath("mcmc", steps=200), Bath("mcmc", steps=200, variable="speed"), Bath("mcmc", steps=50, proposal=0.5)],
    ids=["maxwell", "mcmc-energy", "mcmc-speed", "mcmc-energy-short"],
)
def test_equilibrium_current_vanishes(bath):
    T = 3.0
    coll = 1_000_000 if bath.model == "maxwell" else 20_000
    r = run_md(T, T, bath, trajectories=16, collisions=coll, warmup=100, seed=13)
    scale = maxwell_kappa(T) * T  # current for a bias of order T
    assert abs(r.J) < 3 * r.J_err and r.J_err < 0.02 * scale
    assert abs(r.J_R) < 3 * r.J_R_err
    assert abs(r.E_LR - r.E_RL) < 0.05 * T


@pytest.mark.parametrize(
    "bath", [Bath("mcmc", steps=3000), Bath("mcmc", steps=1000, variable="speed")], ids=["energy", "speed"]
)
def test_mcmc_with_many_steps_reproduces_maxwell(bath):
    T_R = 100.0
    r = run_md(T_L, T_R, bath, trajectories=8, collisions=4000, warmup=100, seed=14)
    J = maxwell_current(T_L, T_R)
    assert abs(r.J - J) < 3 * r.J_err and r.J_err < 0.02 * J
    E, _ = maxwell_means(T_R)
    assert abs(r.E_RL - E) < 0.05 * E


def test_mcmc_energy_chain_lags_at_low_temperature():
    """SPEC §1 shape: with T_L = 1000 the energy chain gives a current clearly below Eq. (4) at T_R = 1."""
    r = run_md(T_L, 1.0, Bath("mcmc"), trajectories=8, collisions=4000, warmup=100, seed=15)
    J = maxwell_current(T_L, 1.0)
    assert r.J < J - 5 * r.J_err
    assert r.E_RL > 100.0  # the reflected particle is far from thermalised at T_R = 1


@pytest.mark.parametrize("bath", [Bath(), Bath("mcmc", steps=100), Bath("mcmc", steps=100, variable="speed")])
def test_length_and_mass_scaling_is_exact(bath):
    """Same random numbers: J(T/L^2, L) = J(T, 1) L^-4 and J(m) = J(1) m^-1/2, to round-off (powers of 2 are exact)."""
    kw = dict(trajectories=3, collisions=2000, warmup=10, seed=16)
    r1 = run_md(T_L, 5.0, bath, **kw)
    r2 = run_md(T_L / 4, 5.0 / 4, bath, length=2.0, **kw)
    r3 = run_md(T_L, 5.0, bath, masses=(4.0,), **kw)
    assert np.isclose(r2.J * 16, r1.J, rtol=1e-12, atol=0) and np.isclose(r2.J_err * 16, r1.J_err, rtol=1e-10)
    assert np.isclose(r3.J * 2, r1.J, rtol=1e-12, atol=0)


def test_determinism_and_streams():
    kw = dict(trajectories=4, collisions=3000, warmup=10, seed=17)
    a = run_md(T_L, 2.0, Bath("mcmc", steps=50), stream=0, **kw)
    b = run_md(T_L, 2.0, Bath("mcmc", steps=50), stream=0, **kw)
    c = run_md(T_L, 2.0, Bath("mcmc", steps=50), stream=1, **kw)
    d = run_md(T_L, 2.0, Bath("mcmc", steps=50), stream=0, **{**kw, "seed": 18})
    assert a == b
    assert a.J != c.J and a.J != d.J


def test_result_columns_and_progress():
    seen = []
    r = run_md(T_L, 2.0, Bath(), trajectories=3, collisions=100, warmup=0, progress=seen.append)
    assert seen[-1] == 3 and seen == sorted(set(seen))  # trajectories done on this rank (reported per pair)
    cols = r.as_columns()
    assert set(cols) == {"J", "J_err", "J_R", "J_R_err", "E_LR", "E_RL", "t_LR", "t_RL", "collisions", "trajectories"}
    assert isinstance(cols["collisions"], int) and cols["collisions"] == 300
    assert all(isinstance(v, float) for k, v in cols.items() if k not in ("collisions", "trajectories"))
    assert cols["trajectories"] == 3
    # the pooled Eq. (3) estimate is the same ratio as the reported means: J = (E_LR - E_RL) / (t_LR + t_RL)
    assert r.J == pytest.approx((r.E_LR - r.E_RL) / (r.t_LR + r.t_RL), rel=1e-12)
    assert r.E_LR > r.E_RL > 0 and r.t_RL > r.t_LR > 0  # hot bath L: faster, more energetic particles leave it


def test_jackknife_is_ratio_of_sums():
    """Pooled estimator and delete-one errors checked by brute force on random sums."""
    g = np.random.default_rng(0)
    sums = np.abs(g.normal(size=(6, 8))) + 1.0
    r = one_particle_estimators(sums)

    def j(S):
        return (S[1] / S[0] - S[4] / S[3]) / (S[2] / S[0] + S[5] / S[3])

    loo = np.array([j(np.delete(sums, i, axis=0).sum(axis=0)) for i in range(6)])
    assert np.isclose(r.J, j(sums.sum(axis=0)), rtol=1e-13)
    assert np.isclose(r.J_err, np.sqrt(5 / 6 * np.sum((loo - loo.mean()) ** 2)), rtol=1e-10)


def test_argument_validation():
    for kw in ({"masses": (1.0, 1.0, 1.0)}, {"trajectories": 1}, {"collisions": 1}, {"warmup": -1}, {"length": 0.0}):
        with pytest.raises(ValueError):
            run_md(2.0, 1.0, Bath(), **{"collisions": 10, **kw})
    with pytest.raises(ValueError):
        run_md(-1.0, 1.0, Bath())
    with pytest.raises(TypeError):
        run_md(2.0, 1.0, "maxwell")


_MPI_SCRIPT = """
import json
from mpi4py import MPI
from mpiheat.classical import Bath, run_md
out = {}
baths = {"maxwell": Bath(), "mcmc": Bath("mcmc", steps=200), "speed": Bath("mcmc", steps=100, variable="speed")}
for name, bath in baths.items():
    r = run_md(1000.0, 3.0, bath, trajectories=7, collisions=2000, warmup=10, seed=21, stream=4)
    out[name] = {k: (v.hex() if isinstance(v, float) else v) for k, v in r.as_columns().items()}
allout = MPI.COMM_WORLD.gather(out, root=0)
if MPI.COMM_WORLD.rank == 0:
    assert all(o == allout[0] for o in allout)  # every rank returns the same result
    print("RESULT" + json.dumps(out, sort_keys=True))
"""


@pytest.mark.mpi
def test_mpi_bit_identical_across_rank_counts():
    res = {}
    for n in (1, 2, 3):
        # env given explicitly: once this pytest process has initialised MPI (singleton), OpenMPI has setenv()-ed
        # variables at C level that os.environ does not show but a child would inherit, breaking the child mpirun.
        proc = run_mpi(n, ["-c", _MPI_SCRIPT], timeout=300, env=dict(os.environ))
        line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT")]
        assert len(line) == 1, proc.stdout
        res[n] = json.loads(line[0][len("RESULT") :])
    assert res[1] == res[2] == res[3]
    assert float.fromhex(res[1]["mcmc"]["J"]) > 0 and res[1]["maxwell"]["trajectories"] == 7
