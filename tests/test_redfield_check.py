"""Redfield physicality check (rightmost generator eigenvalue) at the cost of the solve: exactness against dense
eigenvalues, verdicts on a grid of stable and unstable points, finite values beyond the dense range, the timing
columns, and the split over MPI ranks (2 ranks = 1 process)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from mpiheat.quantum import QuantumProblem, SolverOptions, steady_state
from mpiheat.quantum.operators import redfield as rf
from mpiheat.quantum.operators.spectrum import box_spectrum
from mpiheat.quantum.solvers.redfield_eigs import (
    _block,
    _blocks_batched,
    cluster_partition,
    generator_diagonal,
    gershgorin_right,
    rightmost_eigenvalues,
)

# verdict grid: N x gamma x (T_L, T_R) at dense-affordable sizes; stable and unstable points of every kind
GRID = [(N, g, TL, TR) for N in (16, 24) for g in (1e-4, 1e-2, 0.1, 1.0)
        for TL, TR in ((50.0, 2.0), (1000.0, 0.01), (5.0, 5.0))]


def _gen(N, gamma, T_L, T_R):
    return rf.redfield_generator(box_spectrum(N), T_L, T_R, gamma=gamma, eta=-2.25)


def test_batched_blocks_and_diagonal_are_exact_entries():
    gen = _gen(9, 0.05, 50.0, 2.0)
    clusters, _ = cluster_partition(gen, delta=2.0)
    N = gen.N
    for size in sorted({c.size for c in clusters}):
        cs = np.stack([c for c in clusters if c.size == size])
        I, J = np.divmod(cs, N)
        B = _blocks_batched(gen, I, J)
        for k in range(cs.shape[0]):
            ref = _block(gen, I[k], J[k], I[k], J[k])
            assert np.abs(B[k] - ref).max() <= 1e-14 * max(1.0, np.abs(ref).max())
    n = N * N
    I, J = np.divmod(np.arange(n), N)
    full = _block(gen, I, J, I, J)
    assert np.abs(generator_diagonal(gen).ravel() - np.diagonal(full)).max() <= 1e-13 * np.abs(full).max()
    # the partition is conjugation-symmetric: cluster k <-> cluster K-1-k hold the transposed modes
    K = len(clusters)
    for k in range(K):
        i, j = np.divmod(clusters[k], N)
        assert sorted(j * N + i) == sorted(clusters[K - 1 - k])


def test_gershgorin_bound_is_an_upper_bound():
    rng = np.random.default_rng(7)
    B = rng.normal(size=(50, 6, 6)) + 1j * rng.normal(size=(50, 6, 6))
    bound = gershgorin_right(B)
    assert np.all(np.linalg.eigvals(B).real.max(axis=1) <= bound + 1e-12)


@pytest.mark.parametrize("N,gamma,T_L,T_R", GRID)
def test_verdict_and_value_match_dense_on_grid(N, gamma, T_L, T_R):
    gen = _gen(N, gamma, T_L, T_R)
    dense = rightmost_eigenvalues(gen, method="dense")
    clus = rightmost_eigenvalues(gen, method="cluster")
    assert np.isfinite(clus.max_real) and "not-converged" not in clus.method
    assert (clus.max_real > 0) == (dense.max_real > 0)  # the verdict
    # each reported eigenvalue is a dense eigenvalue to 1e-8 (relative to max(1, |lambda|))
    dist = np.abs(dense.eigenvalues[:, None] - clus.eigenvalues[None, :]).min(axis=0)
    assert np.all(dist <= 1e-8 * np.maximum(1.0, np.abs(clus.eigenvalues)))
    if dense.max_real < 0:  # stable: the rightmost value itself (dense eigvals' own error is ~1e-8 relative here)
        assert abs(clus.max_real - dense.max_real) <= 1e-7 * abs(dense.max_real)


def test_screening_does_not_change_the_candidates():
    """Gershgorin screening and the rank-local thresholds only skip work: the refined value is the same."""
    gen = _gen(40, 1e-4, 1000.0, 100.0)
    a = rightmost_eigenvalues(gen, method="cluster")
    b = rightmost_eigenvalues(gen, method="cluster", screen_margin=np.inf)  # diagonalise every cluster
    assert a.max_real == pytest.approx(b.max_real, rel=1e-10)
    assert a.approx_max_real == b.approx_max_real
    assert b.clusters_examined == b.clusters


@pytest.mark.parametrize("gamma,unstable", [(1e-4, False), (0.1, True)])
def test_finite_value_beyond_dense_range_and_timing_columns(gamma, unstable):
    """N = 120 (dense would need a 14400^2 matrix): finite max_real_eig, the verdict, and the two timing columns."""
    s = steady_state(QuantumProblem(box_spectrum(120), 50.0, 2.0, gamma=gamma, eta=-2.25), equation="redfield",
                     backend="scipy", options=SolverOptions(positivity_tol=1.0))
    assert np.isfinite(s.max_real_eig) and s.eig_method.startswith("cluster[")
    assert "not-converged" not in s.eig_method
    assert (s.max_real_eig > 0) == unstable and s.unphysical == unstable
    cols = s.as_columns()
    assert cols["seconds_solve"] > 0 and cols["seconds_check"] > 0
    assert cols["seconds_solve"] + cols["seconds_check"] == pytest.approx(cols["seconds"], rel=1e-6, abs=1e-3)
    skipped = steady_state(QuantumProblem(box_spectrum(30), 50.0, 2.0, gamma=gamma, eta=-2.25), equation="redfield",
                           backend="scipy", options=SolverOptions(redfield_check="none"))
    assert skipped.seconds_check < 0.05 and np.isnan(skipped.max_real_eig)


def test_stable_value_is_the_perturbed_slowest_population_mode():
    """Stable regime, N = 60 (the largest dense-feasible size): the refined value equals dense.

    Dense eigvals of the 3600 x 3600 generator are computed once here (tens of seconds)."""
    gen = _gen(60, 1e-4, 1000.0, 100.0)
    dense = rightmost_eigenvalues(gen, method="dense")
    clus = rightmost_eigenvalues(gen, method="cluster")
    assert dense.max_real < 0
    # to 1e-8 absolute, and 1e-7 relative: both solvers' errors are ~ eps ||L|| x condition ~ 1e-11 here
    assert abs(clus.eigenvalue - dense.eigenvalue) <= 1e-8 * max(1.0, abs(dense.eigenvalue))
    assert abs(clus.max_real - dense.max_real) <= 1e-7 * abs(dense.max_real)


MPI_SCRIPT = """
import json, sys
from mpi4py import MPI
from mpiheat.quantum.operators import redfield as rf
from mpiheat.quantum.operators.spectrum import box_spectrum
from mpiheat.quantum.solvers.redfield_eigs import rightmost_eigenvalues
out = []
for N, g, TL, TR in [(70, 1e-4, 1000.0, 100.0), (50, 0.1, 50.0, 2.0), (64, 1e-6, 600.0, 60.0)]:
    gen = rf.redfield_generator(box_spectrum(N), TL, TR, gamma=g, eta=-2.25)
    r = rightmost_eigenvalues(gen, method="cluster", comm=MPI.COMM_WORLD)
    out.append([r.max_real, r.eigenvalue.imag, r.method, r.products])
if MPI.COMM_WORLD.rank == 0:
    print(json.dumps({"size": MPI.COMM_WORLD.size, "out": out}))
"""


def test_two_ranks_equal_one_process(tmp_path, mpirun):
    script = tmp_path / "check_mpi.py"
    script.write_text(MPI_SCRIPT)
    proc = mpirun(2, [str(script)], timeout=600, env=dict(os.environ))
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["size"] == 2
    cases = [(70, 1e-4, 1000.0, 100.0), (50, 0.1, 50.0, 2.0), (64, 1e-6, 600.0, 60.0)]
    for (N, g, TL, TR), (re2, im2, meth2, _) in zip(cases, res["out"]):
        r1 = rightmost_eigenvalues(_gen(N, g, TL, TR), method="cluster")
        assert meth2 == r1.method  # same clusters, candidates and refinements
        assert re2 == pytest.approx(r1.max_real, rel=1e-9)
        assert im2 == pytest.approx(r1.eigenvalue.imag, rel=1e-9, abs=1e-9)
        assert (re2 > 0) == (r1.max_real > 0)
