"""Spectra of W and the paper's vanishing/exploding conditions."""

import numpy as np
import pytest

from conftest import RTOL_EXACT, RTOL_KERNEL
from rnndyn import config
from rnndyn.models import RNN, make_rnn, orthogonal_matrix
from rnndyn.results import load_result
from rnndyn.spectra import SpectrumResult, power_norms, spectrum

RTOL_SPECTRAL = 10 * config.SINGULAR_VALUE_RTOL  # as in test_gradflow


def test_values_match_numpy(rng):
    W = rng.standard_normal((9, 9)) / 3
    res = spectrum(W)
    assert res.spectral_radius == pytest.approx(np.abs(np.linalg.eigvals(W)).max(), rel=RTOL_EXACT)
    assert res.max_singular_value == pytest.approx(np.linalg.norm(W, 2), rel=RTOL_EXACT)
    assert res.min_singular_value == pytest.approx(np.linalg.svd(W)[1][-1], rel=RTOL_EXACT)
    np.testing.assert_allclose(np.sort_complex(res.eigenvalues),
                               np.sort_complex(np.linalg.eigvals(W)), rtol=RTOL_EXACT)
    assert np.all(np.diff(np.abs(res.eigenvalues)) <= 1e-15)
    assert res.activation == "tanh" and res.gamma == 1.0


@pytest.mark.parametrize("act, gamma", [("tanh", 1.0), ("sigmoid", 0.25), ("relu", 1.0),
                                        ("linear", 1.0)])
def test_conditions_use_gamma(act, gamma, rng):
    Q = orthogonal_matrix(6, 1.0, rng)
    for lam1 in (0.5 / gamma, 2.0 / gamma):
        res = spectrum(Q * lam1, act)
        assert res.gamma == gamma and res.threshold == pytest.approx(1 / gamma)
        assert res.vanishing_guaranteed == (lam1 < 1 / gamma)
        assert res.exploding_possible == (lam1 > 1 / gamma)
        assert "λ1" in res.criterion and "1/γ" in res.criterion
    # sigmoid: λ1 = 2 explodes nothing (2 < 4), the linear statement still says ρ > 1
    if act == "sigmoid":
        res = spectrum(Q * 2.0, act)
        assert res.vanishing_guaranteed and res.linear_exploding_possible


def test_model_and_override():
    rnn = make_rnn(5, activation="sigmoid", gain=3.0, seed=2)
    assert spectrum(rnn).gamma == 0.25
    assert spectrum(rnn, "tanh").gamma == 1.0
    with pytest.raises(ValueError, match="unknown activation"):
        spectrum(rnn.W, "softplus")


def test_nonnormal_W_is_shown_as_transient_growth():
    N, rho = 8, 0.9
    W = rho * np.eye(N) + 2.0 * np.eye(N, k=1)   # Jordan-like: ρ = 0.9, λ1 ≈ 2.9
    res = spectrum(W, "linear", max_power=400)
    assert res.spectral_radius == pytest.approx(rho, rel=RTOL_EXACT)
    assert res.max_singular_value > 1
    assert res.linear_vanishing_guaranteed and not res.linear_exploding_possible
    assert res.transient_growth and "non-normal" in res.linear_statement
    assert res.exploding_possible and not res.vanishing_guaranteed
    assert res.henrici_departure > 0.5
    assert res.transient_peak > 10 and res.transient_peak_k > 1
    assert res.log_power_norm[-1] < res.log_transient_peak
    # a normal matrix with the same ρ has none of it
    normal = spectrum(rho * orthogonal_matrix(N, 1.0, np.random.default_rng(0)), "linear",
                      max_power=10)
    assert not normal.transient_growth and normal.henrici_departure < 1e-7
    assert normal.transient_peak == 1.0 and normal.transient_peak_k == 0


def test_power_norms_are_norms_of_powers(rng):
    W = rng.standard_normal((5, 5)) * 0.7
    got = power_norms(W, 12)
    want = [np.log(np.linalg.norm(np.linalg.matrix_power(W, k), 2)) for k in range(13)]
    np.testing.assert_allclose(got, want, rtol=RTOL_SPECTRAL, atol=RTOL_SPECTRAL)
    # long powers stay finite in both directions
    for g in (0.5, 2.0):
        lp = power_norms(g * orthogonal_matrix(4, 1.0, rng), 3000)
        np.testing.assert_allclose(lp, np.arange(3001) * np.log(g), rtol=RTOL_KERNEL,
                                   atol=RTOL_KERNEL)
    nil = power_norms([[0.0, 1.0], [0.0, 0.0]], 4)
    assert nil[1] == pytest.approx(0.0, abs=RTOL_EXACT) and np.all(np.isneginf(nil[2:]))


def test_bad_input():
    with pytest.raises(ValueError, match="square"):
        spectrum(np.ones((2, 3)))
    with pytest.raises(ValueError, match="W contains"):
        spectrum([[np.nan]])
    with pytest.raises(TypeError, match="W must be"):
        spectrum("W")
    with pytest.raises(ValueError, match="max_power"):
        spectrum(np.eye(2), max_power=-1)


def test_roundtrip(tmp_path):
    res = spectrum(RNN([[0.5, 3.0], [0.0, 0.5]], None, None, "tanh"), max_power=5)
    res.save(tmp_path / "s")
    back = load_result(tmp_path / "s")
    assert isinstance(back, SpectrumResult)
    np.testing.assert_array_equal(back.eigenvalues, res.eigenvalues)
    assert back.criterion == res.criterion and back.meta["model"]["activation"] == "tanh"


def test_huge_weights_scale_before_squaring():
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")           # no overflow/invalid RuntimeWarning leaks
        # 1e200·I: ‖W^k‖ = 1e200^k; the peak was reported as 1.0 at k = 0
        res = spectrum(1e200 * np.eye(3), "linear", max_power=10)
        assert res.transient_peak_k == 10 and res.transient_peak == np.inf
        assert res.log_transient_peak == pytest.approx(10 * np.log(1e200), rel=RTOL_EXACT)
        np.testing.assert_allclose(res.log_power_norm, np.arange(11) * np.log(1e200),
                                   rtol=RTOL_KERNEL)
        assert res.spectral_radius == pytest.approx(1e200, rel=RTOL_EXACT)
        assert res.max_singular_value == pytest.approx(1e200, rel=RTOL_EXACT)
        assert res.henrici_departure == pytest.approx(0.0, abs=RTOL_EXACT)
        # diag(1e155, .5, .5): ‖W‖_F² overflows if squared unscaled (NaN log norms before)
        res = spectrum(np.diag([1e155, 0.5, 0.5]), "linear", max_power=20)
        np.testing.assert_allclose(res.log_power_norm, np.arange(21) * np.log(1e155),
                                   rtol=RTOL_KERNEL)
        assert res.transient_peak_k == 20 and res.henrici_departure == 0.0
        np.testing.assert_allclose(res.singular_values, [1e155, 0.5, 0.5], rtol=RTOL_EXACT)
        assert res.min_singular_value == pytest.approx(0.5, rel=RTOL_EXACT)
        # a non-normal matrix at 1e300: the same departure from normality as at scale 1
        A = np.array([[0.5, 100.0], [0.0, 0.5]])
        big, unit = spectrum(1e300 * A / 100), spectrum(A / 100)
        assert big.henrici_departure == pytest.approx(unit.henrici_departure, rel=RTOL_EXACT)
        assert big.max_singular_value == pytest.approx(1e300 * unit.max_singular_value,
                                                       rel=RTOL_EXACT)
        # and tiny weights: the logs go down, not to -inf
        lp = power_norms(1e-300 * np.eye(2), 5)
        np.testing.assert_allclose(lp, np.arange(6) * np.log(1e-300), rtol=RTOL_KERNEL)


@pytest.mark.parametrize("scale", [1.0, 1e150, 1e-200])
def test_power_norms_numpy_path_equals_kernel(scale, monkeypatch):
    """The NumPy path of small problems and the numba kernel give the same log norms."""
    from rnndyn import spectra
    from rnndyn.models import make_rnn
    W = make_rnn(30, gain=1.3, seed=4).W * scale
    small = spectra.power_norms(W, 60)
    monkeypatch.setattr(spectra, "POWER_NUMPY_MAX_WORK", 0)
    kernel = spectra.power_norms(W, 60)
    np.testing.assert_allclose(small, kernel, rtol=1e-12, atol=1e-9)
    N = np.triu(np.ones((4, 4)), 1)           # nilpotent: exactly zero from k = 4
    monkeypatch.setattr(spectra, "POWER_NUMPY_MAX_WORK", 3e7)
    assert np.all(np.isneginf(spectra.power_norms(N, 6)[4:]))


def test_small_spectrum_does_not_load_numba(tmp_path):
    """A one-shot `rnndyn spectrum` of a small network never pays numba's import."""
    import subprocess
    import sys
    code = ("import sys; from rnndyn.models import make_rnn; from rnndyn.spectra import "
            "spectrum; spectrum(make_rnn(50), max_power=100); "
            "assert 'numba' not in sys.modules, 'numba was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)
