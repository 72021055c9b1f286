"""The classical front end (issue 11): ClassicalProblem, current, kappa; the shared numerics (bands, gather helpers)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from mpi4py import MPI

from mpiheat.classical import (
    Bath,
    ClassicalProblem,
    current,
    kappa,
    maxwell_kappa,
    maxwell_kappa_finite_delta,
    run_md,
    transfer_current,
)
from mpiheat.numerics.bands import band_energy, band_speed

SELF = MPI.COMM_SELF
MCMC = Bath("mcmc", steps=50, proposal=1.0)


def _bits(cols: dict) -> dict:
    return {k: (v.hex() if isinstance(v, float) else v) for k, v in cols.items()}


def test_problem_validation_and_normalisation():
    p = ClassicalProblem(2, 1, masses=[1, 2])
    assert (p.T_L, p.T_R, p.masses, p.length, p.particles) == (2.0, 1.0, (1.0, 2.0), 1.0, 2)
    assert isinstance(p.T_L, float) and p.bath == Bath()
    for kw in ({"T_L": 0.0}, {"T_R": -1.0}, {"T_L": math.inf}, {"length": 0.0}, {"masses": ()},
               {"masses": (1.0, 1.0, 1.0)}, {"masses": (1.0, -1.0)}, {"T_L": True}):
        with pytest.raises(ValueError):
            ClassicalProblem(**{"T_L": 2.0, "T_R": 1.0, **kw})
    with pytest.raises(TypeError, match="Bath"):
        ClassicalProblem(2.0, 1.0, "maxwell")
    with pytest.raises(ValueError, match="delta"):
        ClassicalProblem.linear_response(10.0, 2.0)


def test_linear_response_temperatures_are_the_job_files_bits():
    # config's linear-response sweep writes T * (1 + d / 2), T * (1 - d / 2): the same bits, so kappa columns agree
    for T, d in ((0.1, 1e-4), (1000.0, 0.2), (3.7, 0.3)):
        p = ClassicalProblem.linear_response(T, d)
        assert (p.T_L, p.T_R) == (T * (1 + d / 2), T * (1 - d / 2))


def test_current_md_is_run_md_bit_for_bit():
    kw = dict(trajectories=3, collisions=2000, warmup=10, seed=5, stream=2)
    for masses in ((1.0,), (1.0, math.sqrt(2.0))):
        p = ClassicalProblem(30.0, 2.0, MCMC, masses=masses, length=1.5)
        a = current(p, comm=SELF, **kw)
        b = run_md(30.0, 2.0, MCMC, masses=masses, length=1.5, comm=SELF, **kw)
        assert _bits(a.as_columns()) == _bits(b.as_columns())
        assert a.collisions == 3 * 2000 and a.trajectories == 3  # counted after warm-up


def test_current_transfer_is_transfer_current_bit_for_bit():
    p = ClassicalProblem(1000.0, 1.0, MCMC, masses=(4.0,), length=2.0)
    a = current(p, method="transfer", cells_per_width=3.0)
    b = transfer_current(1000.0, 1.0, MCMC, mass=4.0, length=2.0, cells_per_width=3.0)
    assert _bits(a.as_columns()) == _bits(b.as_columns())
    assert a.J_err == abs(a.J - current(p, method="transfer", cells_per_width=1.5, refine=False).J)  # J(h) - J(2h)


def test_current_rejects_what_a_method_cannot_do():
    p1, p2 = ClassicalProblem(2.0, 1.0), ClassicalProblem(2.0, 1.0, masses=(1.0, 1.0))
    with pytest.raises(ValueError, match="one particle"):
        current(p2, method="transfer")
    with pytest.raises(TypeError, match="cells_per_width"):
        current(p1, method="md", cells_per_width=3.0)
    with pytest.raises(TypeError, match="trajectories"):
        current(p1, method="transfer", trajectories=4)
    with pytest.raises(ValueError, match="method"):
        current(p1, method="exact")
    with pytest.raises(TypeError, match="ClassicalProblem"):
        current((2.0, 1.0))
    with pytest.raises(ValueError, match="T_L != T_R"):
        kappa(ClassicalProblem(2.0, 2.0), method="transfer")


def test_kappa_is_current_over_bias():
    """kappa = J / (T_L - T_R) and kappa_err = J_err / (T_L - T_R), as the job kinds computed them (same bits)."""
    T, d = 50.0, 0.2
    p = ClassicalProblem.linear_response(T, d, Bath())
    k = kappa(p, trajectories=4, collisions=20_000, warmup=10, seed=3, comm=SELF)
    r = run_md(p.T_L, p.T_R, Bath(), trajectories=4, collisions=20_000, warmup=10, seed=3, comm=SELF)
    dT = p.T_L - p.T_R
    assert (k.kappa, k.kappa_err) == (r.J / dT, r.J_err / dT)
    assert k.J == r.J and k.current == r
    assert k.T == pytest.approx(T, rel=1e-15) and k.delta == pytest.approx(d, rel=1e-14)
    cols = k.as_columns()
    assert cols["kappa"] == k.kappa and cols["J"] == r.J and set(r.as_columns()) < set(cols)
    # physics: Maxwell baths give the finite-bias Eq. 4 ratio within the error bar
    assert abs(k.kappa - maxwell_kappa_finite_delta(T, d)) < 4 * k.kappa_err
    # transfer: a fully relaxing MCMC chain gives Eq. 12 (delta -> 0)
    kt = kappa(ClassicalProblem.linear_response(1.0, 1e-4, Bath("mcmc", steps=1000)), method="transfer", refine=False)
    assert kt.kappa == pytest.approx(float(maxwell_kappa(1.0)), rel=1e-5) and kt.kappa_err == 0.0


@pytest.mark.parametrize("band", [band_energy, band_speed])
def test_metropolis_bands_are_stochastic_and_balanced(band):
    """Rows sum to 1, entries >= 0, and detailed balance pi_i B(i->j) = pi_j B(j->i) holds for the cell target."""
    N, c, h = 60, 1.0, 0.25
    B = band(N, c, h, 7.0)
    W = (B.shape[1] - 1) // 2
    assert np.all(B >= 0) and np.allclose(B.sum(axis=1), 1.0, rtol=0, atol=1e-14)
    a = h * np.arange(N)
    if band is band_energy:
        pi = np.exp(-a) * -math.expm1(-h)
    else:
        pi = np.exp(-0.5 * a * a) * -np.expm1(-0.5 * ((a + h) ** 2 - a * a))
    for i in range(N):
        for k in range(1, W + 1):
            j = i + k
            if j < N:
                assert pi[i] * B[i, W + k] == pytest.approx(pi[j] * B[j, W - k], rel=1e-10, abs=1e-300)


_GATHER = """
import json
import numpy as np
from mpi4py import MPI
from mpiheat.numerics.parallel import allgather_blocks, block_layout, block_range, gather_blocks
c = MPI.COMM_WORLD
ok = []
for n, tail, dt in ((7, (), "f8"), (5, (2, 3), "f8"), (6, (4,), "c16"), (1, (3,), "f8"), (3, (), "i8")):
    full = (np.arange(n * int(np.prod(tail))).reshape((n,) + tail) * 1.5).astype(dt)
    a, b = block_range(n, c.size, c.rank)
    got = allgather_blocks(c, full[a:b], n)
    g = gather_blocks(c, full[a:b])
    ok.append(bool(got.dtype == full.dtype and np.array_equal(got, full)
                   and ((g is None) == (c.rank != 0)) and (g is None or np.array_equal(g, full))))
counts, displs = block_layout(7, c.size, 3)
ok.append(sum(counts) == 21 and displs[0] == 0)
res = c.gather(all(ok), root=0)
if c.rank == 0:
    print("RESULT" + json.dumps(res))
"""


@pytest.mark.parametrize("n", [1, 3])
def test_gather_helpers_restore_item_order(mpirun, tmp_path, n):
    script = tmp_path / "gather.py"
    script.write_text(_GATHER)
    out = mpirun(n, [str(script)]).stdout
    res = json.loads(out.split("RESULT", 1)[1])
    assert res == [True] * n
