"""Length scaling (SPEC §3): gamma -> gamma L^(4 + 2 eta), T -> T / L^2 gives J^q ~ L^-4 exactly; <P_R> ~ L^-3."""

from __future__ import annotations

import numpy as np
import pytest

from mpiheat.classical.scaling import classical_length_scaling
from mpiheat.numerics.fits import fit_power_law
from mpiheat.quantum.scaling import quantum_length_scaling

LS = [1.0, 1.3, 2.0, 3.0, 5.0]


@pytest.mark.parametrize("equation", ["pauli", "lindblad"])
def test_quantum_exponent_minus_four(equation):
    res = quantum_length_scaling(LS, 100.0, 10.0, gamma=5.0, eta=-2.25, levels=40, equation=equation)
    assert res.fit_J.exponent == pytest.approx(-4.0, abs=1e-10)
    assert res.fit_J.max_abs_log_residual < 1e-10
    assert res.fit_P_R.exponent == pytest.approx(-3.0, abs=1e-10)
    assert np.allclose(res.gamma, 5.0 * np.asarray(LS) ** -0.5)
    assert np.all(res.J > 0)


def test_quantum_exponent_without_gamma_scaling_and_other_eta():
    """Unscaled gamma: J ~ L^(-8 - 2 eta); the fit must see a different exponent (-4.5 at eta = -1.75)."""
    res = quantum_length_scaling(LS, 50.0, 5.0, gamma=1.0, eta=-1.75, levels=25, scale_gamma=False)
    assert res.fit_J.exponent == pytest.approx(-8 + 3.5, abs=1e-10)
    res = quantum_length_scaling(LS, 50.0, 5.0, gamma=1.0, eta=-1.75, levels=25)
    assert res.fit_J.exponent == pytest.approx(-4.0, abs=1e-10)


def test_redfield_obeys_the_same_law():
    """Redfield too: every generator term (H, rates, P) scales homogeneously, so J ~ L^-4 to solver precision."""
    res = quantum_length_scaling([1.0, 2.0, 4.0], 50.0, 2.0, gamma=1e-3, eta=-2.25, levels=16, equation="redfield")
    assert res.fit_J.exponent == pytest.approx(-4.0, abs=1e-9)


def test_classical_maxwell_exponent_and_fit_errors():
    fit = classical_length_scaling(LS, 1000.0, 10.0)
    assert fit.exponent == pytest.approx(-4.0, abs=1e-12)
    # noisy data: the standard error is a real one (covers the truth at the ~2 sigma level here)
    rng = np.random.default_rng(7)
    L = np.linspace(1, 10, 30)
    y = 3.0 * L**-2.0 * np.exp(0.01 * rng.normal(size=L.size))
    f = fit_power_law(L, y)
    assert 0.001 < f.stderr < 0.02
    assert abs(f.exponent + 2.0) < 3 * f.stderr
