"""The activation kernels, in particular the vectorisable tanh against np.tanh."""

import numpy as np
import pytest

from conftest import RTOL_EXACT
from rnndyn.activations import CODES, dsigma, sigma
from rnndyn._kernels.activations import (_act, _apply_act, _apply_act_and_dact, _apply_dact,
                                         _dact, _tanh_array)

# _tanh_fast is within 3 ulp of np.tanh (measured max over 4e6 points); allow 4.
MAX_ULP = 4
RTOL_TANH = 1e-15


def _wide_range(rng):
    """Uniform, Gaussian, log-spaced tiny to huge (both signs), and edge values."""
    mags = np.logspace(-320, 4, 4000)
    edges = [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1e-8, 0.3465735902799726,
             0.34657359027997264, 0.5493061443340549, 1.0, 19.06, 19.07, 20.0, 20.000001,
             710.0, 1e308, np.finfo(float).max]
    return np.concatenate([rng.uniform(-25, 25, 20000), rng.standard_normal(5000) * 1e-3,
                           rng.standard_normal(5000), mags, -mags, edges, np.negative(edges)])


def _tanh(x):
    out = np.empty_like(x)
    _tanh_array(np.ascontiguousarray(x, dtype=np.float64), out)
    return out


def test_fast_tanh_within_a_few_ulp_of_numpy(rng):
    x = _wide_range(rng)
    got, ref = _tanh(x), np.tanh(x)
    ulp = np.abs(got - ref) / np.spacing(np.maximum(np.abs(ref), np.finfo(float).tiny))
    assert ulp.max() <= MAX_ULP, (x[np.argmax(ulp)], ulp.max())
    nz = ref != 0
    np.testing.assert_allclose(got[nz], ref[nz], rtol=RTOL_TANH, atol=0)
    assert np.all(np.abs(got) <= 1.0)


def test_fast_tanh_special_values():
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 30.0, -30.0])
    got = _tanh(x)
    assert got[0] == 0.0 and not np.signbit(got[0])
    assert got[1] == 0.0 and np.signbit(got[1])          # tanh(-0.0) = -0.0
    assert got[2] == 1.0 and got[3] == -1.0
    assert np.isnan(got[4])
    assert got[5] == 5e-324 and got[6] == -5e-324        # tanh(x) = x for tiny x
    assert got[7] == 1.0 and got[8] == -1.0


def test_fast_tanh_is_odd(rng):
    x = rng.uniform(-10, 10, 2000)
    np.testing.assert_array_equal(_tanh(-x), -_tanh(x))


@pytest.mark.parametrize("name", sorted(CODES))
def test_array_kernels_match_numpy_reference(name, rng):
    code = CODES[name]
    a = np.concatenate([rng.standard_normal(500) * 4, [0.0, -0.0, 30.0, -30.0, 1e-12]])
    s, ds, s2, ds2 = (np.empty_like(a) for _ in range(4))
    _apply_act(code, a, s)
    _apply_dact(code, a, ds)
    _apply_act_and_dact(code, a, s2, ds2)
    np.testing.assert_allclose(s, sigma(name, a), rtol=RTOL_EXACT, atol=1e-15)
    np.testing.assert_allclose(ds, dsigma(name, a), rtol=RTOL_EXACT, atol=1e-15)
    np.testing.assert_array_equal(s2, s)
    np.testing.assert_array_equal(ds2, ds)
    scalar = np.array([_act(code, v) for v in a])
    dscalar = np.array([_dact(code, v) for v in a])
    np.testing.assert_allclose(s, scalar, rtol=RTOL_EXACT, atol=1e-15)
    np.testing.assert_allclose(ds, dscalar, rtol=RTOL_EXACT, atol=1e-15)


def test_in_place_use_is_allowed(rng):
    a = rng.standard_normal(100)
    ref = np.tanh(a)
    _apply_act(CODES["tanh"], a, a)
    np.testing.assert_allclose(a, ref, rtol=RTOL_TANH)


def test_fast_tanh_near_reduction_boundaries(rng):
    # |x| where the reduction y = -2|x| = k ln2 + r switches k (r = ±ln2/2), densely,
    # and the first intervals (k = 0, -1, -2), where (1 - 2^k)(R + r) - 2r cancels most
    edges = np.arange(1, 120) * np.log(2.0) / 4.0
    x = np.concatenate([(edges[:, None] * (1.0 + np.linspace(-1e-9, 1e-9, 41))).ravel(),
                        rng.uniform(0.0, 1.1, 200000)])
    x = np.concatenate([x, -x])
    got, ref = _tanh(x), np.tanh(x)
    ulp = np.abs(got - ref) / np.spacing(np.abs(ref))
    assert ulp.max() <= MAX_ULP, (x[np.argmax(ulp)], ulp.max())
    assert np.mean(ulp) < 1.0


# σ' in the tails: the one tail-accurate derivative (sech² and σ(x)σ(−x)), measured within
# 3.5 ulp of the references below over ±354; allow 6
MAX_ULP_DERIV = 6


def _ulp_err(got, ref):
    return np.abs(got - ref) / np.spacing(np.abs(ref))


def test_tanh_derivative_is_tail_accurate(rng):
    """sech² x against 1/cosh² x (libm's cosh, a few ulp) out to |x| = 350, where
    1 − tanh² has long been 0; the kernels' array, fused and scalar forms agree."""
    x = np.concatenate([rng.uniform(-350, 350, 20000), rng.uniform(-25, 25, 20000),
                        rng.standard_normal(2000) * 1e-3, [0.0, 19.06, 19.07, 20.0, -300.0]])
    ref = 1.0 / np.cosh(x) ** 2
    code = CODES["tanh"]
    s, ds, ds2 = (np.empty_like(x) for _ in range(3))
    _apply_act_and_dact(code, x, s, ds)
    _apply_dact(code, x, ds2)
    assert _ulp_err(ds, ref).max() <= MAX_ULP_DERIV, x[np.argmax(_ulp_err(ds, ref))]
    np.testing.assert_array_equal(ds2, ds)
    np.testing.assert_array_equal(s, _tanh(x))        # the value keeps _tanh_fast's bits
    np.testing.assert_array_equal(np.array([_dact(code, v) for v in x[:500]]), ds[:500])
    assert _ulp_err(dsigma("tanh", x), ref).max() <= MAX_ULP_DERIV
    # beyond the range: the floor, finite and positive (log σ' stays finite)
    big = np.array([400.0, -1e6, np.inf])
    _apply_act_and_dact(code, big, s[:3], ds[:3])
    assert np.all(ds[:3] > 0) and np.all(np.isfinite(np.log(ds[:3])))


def test_sigmoid_and_its_derivative_are_tail_accurate(rng):
    """σ(x) = e^x/(1 + e^x) for x < 0 and σ'(x) = e^{-|x|}/(1 + e^{-|x|})², out to
    |x| = 700 (where 1 + tanh(x/2) and σ(1 − σ) are exactly 0)."""
    x = np.concatenate([rng.uniform(-700, 700, 20000), rng.uniform(-40, 40, 20000)])
    e = np.exp(-np.abs(x))
    ref_s = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    ref_d = e / (1.0 + e) ** 2
    code = CODES["sigmoid"]
    s, ds = np.empty_like(x), np.empty_like(x)
    _apply_act_and_dact(code, x, s, ds)
    assert _ulp_err(s, ref_s).max() <= MAX_ULP_DERIV
    assert _ulp_err(ds, ref_d).max() <= MAX_ULP_DERIV
    assert _ulp_err(sigma("sigmoid", x), ref_s).max() <= MAX_ULP_DERIV
    assert _ulp_err(dsigma("sigmoid", x), ref_d).max() <= MAX_ULP_DERIV
