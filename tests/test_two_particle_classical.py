"""Classical two-particle MD (SPEC §2): collision law, equal-mass exactness, zero bias, energy balance, MPI identity."""

from __future__ import annotations

import math

import numpy as np
import pytest
from mpi4py import MPI

from mpiheat.classical import Bath, ClassicalProblem, kappa, maxwell_current, maxwell_kappa_finite_delta, run_md
from mpiheat.classical.kernels_two import elastic_collision
from mpiheat.classical.transfer import transfer_current

SELF = MPI.COMM_SELF
M2 = math.sqrt(2.0)  # Fig. 5 masses (1, sqrt 2)


def test_elastic_collision_conserves_energy_and_momentum():
    rng = np.random.default_rng(0)
    for _ in range(2000):
        m1, m2 = rng.uniform(0.1, 10, 2)
        v1, v2 = rng.normal(0, 3, 2)
        if v1 <= v2:
            v1, v2 = v2, v1  # approaching: 1 (left) faster than 2
        w1, w2 = elastic_collision(m1, m2, v1, v2)
        p, pp = m1 * v1 + m2 * v2, m1 * w1 + m2 * w2
        e, ee = m1 * v1**2 + m2 * v2**2, m1 * w1**2 + m2 * w2**2
        assert abs(pp - p) <= 1e-13 * (abs(m1 * v1) + abs(m2 * v2))
        assert ee == pytest.approx(e, rel=1e-13)
        assert w1 <= w2  # separating afterwards
        # SPEC §2 formulas
        assert w1 == pytest.approx(((m1 - m2) * v1 + 2 * m2 * v2) / (m1 + m2), rel=1e-12, abs=1e-12)
        assert w2 == pytest.approx(((m2 - m1) * v2 + 2 * m1 * v1) / (m1 + m2), rel=1e-12, abs=1e-12)
    assert elastic_collision(1.3, 1.3, 2.0, -0.5) == (-0.5, 2.0)  # equal masses swap exactly


def test_equal_masses_maxwell_is_twice_eq4():
    r = run_md(1000.0, 100.0, Bath("maxwell"), masses=(1.0, 1.0), trajectories=16, collisions=200_000, warmup=100,
               seed=3, comm=SELF)
    exact = 2 * maxwell_current(1000.0, 100.0)
    assert abs(r.J - exact) < 3 * r.J_err
    assert abs(r.J_R - exact) < 3 * r.J_R_err
    assert r.J_err < 0.003 * exact  # a 1 % deviation would be caught
    assert math.isnan(r.E_LR) and math.isnan(r.t_RL)


def test_equal_masses_mcmc_is_twice_one_particle():
    # reference: the exact one-particle transfer-operator current (no sampling noise)
    bath = Bath("mcmc", steps=1000)
    r = run_md(1000.0, 1.0, bath, masses=(1.0, 1.0), trajectories=16, collisions=6000, warmup=50, seed=4, comm=SELF)
    exact = 2 * transfer_current(1000.0, 1.0, bath).J
    assert abs(r.J - exact) < 3 * r.J_err
    assert abs(r.J - 2 * maxwell_current(1000.0, 1.0)) > 5 * r.J_err  # MCMC differs from Maxwell here: test has power


@pytest.mark.parametrize("bath", [Bath("maxwell"), Bath("mcmc", steps=200)])
def test_zero_current_at_equal_temperatures(bath):
    r = run_md(50.0, 50.0, bath, masses=(1.0, M2), trajectories=16, collisions=50_000, warmup=100, seed=5, comm=SELF)
    assert abs(r.J) < 3 * r.J_err and abs(r.J_R) < 3 * r.J_R_err
    assert r.J_err < 0.05 * maxwell_current(50.0, 12.5)  # errors small against a typical current


def test_unequal_masses_energy_balance_and_mass_effect():
    r = run_md(1000.0, 10.0, Bath("maxwell"), masses=(1.0, M2), trajectories=16, collisions=200_000, warmup=100,
               seed=6, comm=SELF)
    assert abs(r.J - r.J_R) < 3 * math.hypot(r.J_err, r.J_R_err) and r.J_err > 0
    # the steady state stores no energy: J_L - J_R is a boundary term (O(1/collisions)), far below the errors
    assert abs(r.J - r.J_R) < 0.2 * r.J_err
    # unequal masses are not two independent particles: J differs from 2 J_one by many error bars
    assert abs(r.J - 2 * maxwell_current(1000.0, 10.0)) > 5 * r.J_err


def test_kappa_md_equal_masses_maxwell():
    problem = ClassicalProblem.linear_response(100.0, 0.2, Bath("maxwell"), masses=(1.0, 1.0))
    k = kappa(problem, trajectories=16, collisions=200_000, seed=7, comm=SELF)
    exact = 2 * maxwell_kappa_finite_delta(100.0, 0.2)
    assert abs(k.kappa - exact) < 3 * k.kappa_err
    assert k.kappa_err < 0.02 * exact


_SCRIPT = """
import math, sys
from mpiheat.classical import Bath, run_md
r = run_md(30.0, 2.0, Bath("mcmc", steps=50), masses=(1.0, math.sqrt(2.0)), trajectories=5, collisions=3000,
           warmup=20, seed=9, stream=2)
from mpi4py import MPI
if MPI.COMM_WORLD.Get_rank() == 0:
    print(repr((r.J, r.J_err, r.J_R, r.J_R_err, r.collisions)))
"""


def test_mpi_two_ranks_bit_identical(mpirun, tmp_path):
    script = tmp_path / "two.py"
    script.write_text(_SCRIPT)
    out1 = mpirun(1, [str(script)]).stdout.strip()
    out2 = mpirun(2, [str(script)]).stdout.strip()
    r = run_md(30.0, 2.0, Bath("mcmc", steps=50), masses=(1.0, M2), trajectories=5, collisions=3000, warmup=20,
               seed=9, stream=2, comm=SELF)
    assert out1 == out2 == repr((r.J, r.J_err, r.J_R, r.J_R_err, r.collisions))
