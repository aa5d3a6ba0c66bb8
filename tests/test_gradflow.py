"""Gradient flow: kernels against their naive twins, finite differences, exact cases."""

import warnings

import numpy as np
import pytest

import naive
from conftest import FD_STEP, RTOL_EXACT, RTOL_FD, RTOL_KERNEL
from rnndyn import config
from rnndyn.gradflow import (GradFlowResult, backward_products, fit_rate, gradient_flow,
                             jacobian_product, jacobian_spectra, transport)
from rnndyn.inputs import make_inputs
from rnndyn.models import RNN, make_rnn, orthogonal_matrix
from rnndyn.results import load_result
from rnndyn.simulate import trajectory

# The spectral norm stops when the σ1² estimate changes by <= SINGULAR_VALUE_RTOL
# (relative); Lanczos converges superlinearly, so ten times that bounds the error.
RTOL_SPECTRAL = 10 * config.SINGULAR_VALUE_RTOL
# s_m² (last eigenvector component) only scales the residual term of the stopping rule's
# upper bound: a few correct digits suffice, and Newton's last step leaves about eight
RTOL_RITZ = 1e-8

ACTS = ("tanh", "sigmoid", "relu", "linear")
CASES = [(act, form) for act in ACTS for form in ("pascanu", "elman")]


def _model(act, form, N=6, gain=1.3, M=2, seed=1):
    return make_rnn(N, n_inputs=M, activation=act, form=form, gain=gain, seed=seed)


def _run(rnn, T, rng):
    u = make_inputs("gaussian", T, rnn.M, seed=5)
    x0 = rng.standard_normal(rnn.N)
    X, D = trajectory(rnn, x0, T, u)
    return x0, u, X, D


@pytest.mark.parametrize("act, form", CASES)
def test_products_match_naive(act, form, rng):
    rnn = _model(act, form)
    T = 14
    _, _, _, D = _run(rnn, T, rng)
    P, sv, fro = naive.backward_products(rnn.W, rnn.form_code, D)
    lags = list(range(T + 1))
    out = backward_products(rnn, D, store_lags=lags)
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(np.exp(out["log_frob"]), fro, rtol=RTOL_KERNEL)
        np.testing.assert_allclose(np.exp(out["log_norm"]), sv, rtol=RTOL_SPECTRAL)
    for lag in lags:
        got = out["products"][lag] * np.exp(out["log_scale"][lag])
        np.testing.assert_allclose(got, P[lag], rtol=RTOL_KERNEL,
                                   atol=RTOL_KERNEL * np.abs(P[lag]).max())
    assert out["unconverged_lags"] == 0


@pytest.mark.parametrize("act, form", CASES)
def test_transport_matches_naive_and_products(act, form, rng):
    rnn = _model(act, form)
    T = 14
    _, _, _, D = _run(rnn, T, rng)
    delta = rng.standard_normal(rnn.N)
    got = transport(rnn, D, delta)
    want = naive.transport(rnn.W, rnn.form_code, D, delta)
    np.testing.assert_allclose(got, want, rtol=RTOL_KERNEL, atol=RTOL_KERNEL)
    P, _, _ = naive.backward_products(rnn.W, rnn.form_code, D)
    direct = np.log([np.linalg.norm(delta @ p) for p in P])
    np.testing.assert_allclose(got, direct, rtol=RTOL_KERNEL, atol=RTOL_KERNEL)


@pytest.mark.parametrize("act, form", [("tanh", "pascanu"), ("tanh", "elman"),
                                       ("sigmoid", "pascanu"), ("sigmoid", "elman")])
def test_jacobian_product_matches_finite_differences(act, form, rng):
    rnn = _model(act, form, N=5, gain=1.1)
    T, k = 8, 3
    x0, u, X, D = _run(rnn, T, rng)

    def x_T_from(xk):
        x = xk
        for t in range(k + 1, T + 1):
            x = rnn.step(x, u[t - 1])
        return x

    fd = np.empty((rnn.N, rnn.N))
    for j in range(rnn.N):
        e = np.zeros(rnn.N)
        e[j] = FD_STEP
        fd[:, j] = (x_T_from(X[k] + e) - x_T_from(X[k] - e)) / (2 * FD_STEP)
    P, ls = jacobian_product(rnn, D, k)
    np.testing.assert_allclose(P * np.exp(ls), fd, rtol=RTOL_FD, atol=RTOL_FD * np.abs(fd).max())


@pytest.mark.parametrize("form", ("pascanu", "elman"))
def test_linear_products_are_powers_of_W(form, rng):
    W = rng.standard_normal((4, 4)) * 0.6
    rnn = RNN(W, None, None, "linear", form)
    T = 15
    _, D = trajectory(rnn, rng.standard_normal(4), T)
    out = backward_products(rnn, D, store_lags=[0, 1, 7, 15])
    for i, lag in enumerate([0, 1, 7, 15]):
        Wk = np.linalg.matrix_power(W, lag)
        np.testing.assert_allclose(out["products"][i] * np.exp(out["log_scale"][i]), Wk,
                                   rtol=RTOL_KERNEL, atol=RTOL_KERNEL * np.abs(Wk).max())
        assert out["log_norm"][lag] == pytest.approx(np.log(np.linalg.norm(Wk, 2)),
                                                     rel=RTOL_SPECTRAL, abs=RTOL_SPECTRAL)


@pytest.mark.parametrize("w", (1.5, 0.5, -0.9))
def test_one_neuron_linear_slope_is_log_w(w):
    T = 20_000
    res = gradient_flow(RNN([[w]], None, None, "linear"), "zero", T, jacobian_stats=False)
    assert res.finite
    np.testing.assert_allclose(res.log_norm, res.lag * np.log(abs(w)), rtol=RTOL_KERNEL,
                               atol=RTOL_KERNEL)
    assert res.rate_per_step == pytest.approx(np.log(abs(w)), rel=RTOL_KERNEL)


@pytest.mark.slow
@pytest.mark.parametrize("w", (1.5, 0.5))
def test_one_neuron_extremes_T_1e5_stay_finite(w):
    T = 100_000
    for act in ("linear", "tanh"):
        res = gradient_flow(RNN([[w]], None, None, act), "zero", T, jacobian_stats=False)
        # x stays at the fixed point 0, where tanh' = 1: the slope is ln|w| for both
        assert res.finite and np.all(np.isfinite(res.log_norm))
        assert res.log_norm[-1] == pytest.approx(T * np.log(w), rel=RTOL_KERNEL)
        assert res.rate_per_step == pytest.approx(np.log(w), rel=RTOL_KERNEL)


@pytest.mark.slow
@pytest.mark.parametrize("gain", (2.0, 0.5))
def test_N100_T1e4_exploding_and_vanishing_stay_finite(gain, rng):
    N, T = 100, 10_000
    W = orthogonal_matrix(N, gain, rng)
    # x0 = 0 keeps the linear states finite; the products do not depend on them
    res = gradient_flow(RNN(W, None, None, "linear"), "zero", T, jacobian_stats=False)
    assert res.finite
    # gain × orthogonal: every singular value of W^ℓ is gain^ℓ
    np.testing.assert_allclose(res.log_norm, res.lag * np.log(gain), rtol=RTOL_KERNEL,
                               atol=RTOL_KERNEL)
    np.testing.assert_allclose(res.log_frob, res.lag * np.log(gain) + 0.5 * np.log(N),
                               rtol=RTOL_KERNEL, atol=RTOL_KERNEL)
    # a saturating network in the same regimes: finite and under the paper's bound
    rnn = make_rnn(N, activation="tanh", gain=3.0 * gain, seed=2)
    res = gradient_flow(rnn, "random", T, jacobian_stats=False)
    assert res.finite and res.unconverged_lags == 0
    assert np.all(res.log_norm <= res.lag * res.bound_rate_per_step + 1e-9)


@pytest.mark.parametrize("act, form", CASES)
def test_bound_gamma_lambda1_holds(act, form, rng):
    rnn = make_rnn(8, activation=act, form=form, gain=2.0, seed=4)
    res = gradient_flow(rnn, "random", 40, jacobian_stats=False)
    ok = np.isfinite(res.log_norm)
    assert np.all(res.log_norm[ok] <= res.lag[ok] * res.bound_rate_per_step + 1e-9)
    assert not np.any(np.isnan(res.log_norm))


def test_exactly_zero_product_is_minus_inf_not_nan(rng):
    # relu with negative weights and bias: every unit is off after one step
    W = -np.abs(rng.standard_normal((5, 5)))
    rnn = RNN(W, None, -np.ones(5), "relu", "pascanu")
    res = gradient_flow(rnn, "random", 10, k_singular=[0, 10], delta_T=np.ones(5))
    assert res.zero_product_lag >= 1
    z = res.zero_product_lag
    assert np.all(np.isneginf(res.log_norm[z:])) and np.all(np.isfinite(res.log_norm[:z]))
    assert np.all(np.isneginf(res.log_frob[z:]))
    assert not res.finite and res.rate_per_step == -np.inf
    assert np.isneginf(res.log_sv[0]).all() and np.all(res.log_sv[1] == 0.0)
    assert np.all(np.isneginf(res.log_delta[z:]))
    for arr in (res.log_norm, res.log_frob, res.log_sv, res.log_delta):
        assert not np.any(np.isnan(arr))


def test_nilpotent_W_gives_zero_product_without_zero_factors():
    # J = W ≠ 0 but W² = 0: the product vanishes at lag 2 although no factor is zero
    rnn = RNN([[0.0, 3.0], [0.0, 0.0]], None, None, "linear")
    out = backward_products(rnn, np.ones((5, 2)))
    assert out["zero_product_lag"] == 2
    assert out["log_norm"][1] == pytest.approx(np.log(3.0), rel=RTOL_EXACT)
    assert np.all(np.isneginf(out["log_norm"][2:]))


def test_huge_weights_give_finite_exact_log_norms():
    # W = diag(1e155, .5, .5): ‖W^ℓ‖₂ = 1e155^ℓ, and ‖W^ℓ‖_F² = 1e310ℓ + 2·4^-ℓ would
    # overflow if squared before scaling (it gave NaN log norms)
    L155 = np.log(1e155)
    rnn = RNN(np.diag([1e155, 0.5, 0.5]), None, None, "linear")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = gradient_flow(rnn, "zero", 12, k_singular=[11, 12], n_top=3,
                            delta_T=[1.0, 1.0, 0.0], jacobian_stats=True)
    assert res.finite and res.nonfinite_lag == -1
    np.testing.assert_allclose(res.log_norm, res.lag * L155, rtol=RTOL_KERNEL)
    np.testing.assert_allclose(res.log_frob[1:], res.lag[1:] * L155, rtol=RTOL_KERNEL)
    assert res.log_frob[0] == pytest.approx(0.5 * np.log(3.0), rel=RTOL_EXACT)
    # δ = (1, 1, 0): ‖δᵀ W^ℓ‖ = sqrt(1e310ℓ + 4^-ℓ)
    np.testing.assert_allclose(res.log_delta[1:], res.lag[1:] * L155, rtol=RTOL_KERNEL)
    assert res.log_delta[0] == pytest.approx(0.5 * np.log(2.0), rel=RTOL_EXACT)
    # top singular values of W^1 and W^0 (a product is held with one scale, so at longer
    # lags 0.5^ℓ / 1e155^ℓ is below float64's range)
    np.testing.assert_allclose(res.log_sv[0], [L155, np.log(0.5), np.log(0.5)],
                               rtol=RTOL_KERNEL)
    np.testing.assert_allclose(res.log_sv[1], [0.0, 0.0, 0.0], atol=RTOL_EXACT)
    np.testing.assert_allclose(res.jac_max_sv, 1e155, rtol=RTOL_EXACT)
    np.testing.assert_allclose(res.jac_spectral_radius, 1e155, rtol=RTOL_EXACT)
    np.testing.assert_allclose(res.jac_min_sv, 0.5, rtol=RTOL_EXACT)
    assert res.bound_rate_per_step == pytest.approx(L155, rel=RTOL_EXACT)
    # a full matrix of 1e200: rank one, eigenvalue 3e200, ‖W^ℓ‖₂ = (3e200)^ℓ
    full = RNN(np.full((3, 3), 1e200), None, None, "linear")
    res = gradient_flow(full, "zero", 5, jacobian_stats=False)
    assert res.finite
    np.testing.assert_allclose(res.log_norm, res.lag * np.log(3e200), rtol=RTOL_KERNEL)


@pytest.mark.parametrize("form", ("pascanu", "elman"))
def test_huge_random_weights_match_the_naive_loop(form, rng):
    # 1e160 × a random matrix (squares beyond float64): the naive loop renormalises by
    # SVDs, which LAPACK scales internally, and never squares an entry itself
    W = 1e160 * rng.standard_normal((5, 5))
    rnn = RNN(W, None, None, "tanh", form)
    D = rng.uniform(0.1, 1.0, (30, 5))
    got = backward_products(rnn, D)["log_norm"]
    want = naive.log_norms_renormalised(W, rnn.form_code, D)
    np.testing.assert_allclose(got, want, rtol=RTOL_SPECTRAL)
    # the naive transport squares: compare with it on W / 1e160, shifted by ℓ ln 1e160
    delta = rng.standard_normal(5) * 1e100
    lag = np.arange(31)
    np.testing.assert_allclose(transport(rnn, D, delta),
                               naive.transport(W / 1e160, rnn.form_code, D, delta)
                               + lag * np.log(1e160), rtol=RTOL_KERNEL)
    np.testing.assert_allclose(got, naive.log_norms_renormalised(W / 1e160, rnn.form_code, D)
                               + lag * np.log(1e160), rtol=RTOL_SPECTRAL)


def test_tiny_products_are_small_not_zero():
    # W² = 1e-300 I: the squares of the entries of W² underflow, the product is not zero
    # (it was reported as an exactly zero product, log -inf)
    rnn = RNN([[0.0, 1.0], [1e-300, 0.0]], None, None, "linear")
    out = backward_products(rnn, np.ones((6, 2)), store_lags=[4])
    L = np.log(1e-300)
    np.testing.assert_allclose(out["log_norm"], [0, 0, L, L, 2 * L, 2 * L, 3 * L],
                               rtol=RTOL_KERNEL, atol=RTOL_KERNEL)
    assert out["zero_product_lag"] == -1
    np.testing.assert_allclose(out["products"][0] * np.exp(out["log_scale"][0] - 2 * L),
                               np.eye(2), rtol=RTOL_KERNEL)
    got = transport(rnn, np.ones((6, 2)), [0.0, 1.0])
    np.testing.assert_allclose(got, [0, L, L, 2 * L, 2 * L, 3 * L, 3 * L], rtol=RTOL_KERNEL,
                               atol=RTOL_KERNEL)
    # decay by a tiny weight each step: far below float64, still finite logs
    res = gradient_flow(RNN([[1e-300]], None, None, "linear"), "zero", 50,
                        jacobian_stats=False)
    np.testing.assert_allclose(res.log_norm, res.lag * L, rtol=RTOL_KERNEL)


def test_scaling_kernels_match_naive(rng):
    from rnndyn._kernels import gradflow as k
    for W in (rng.standard_normal((4, 4)) * 1e200, rng.standard_normal((3, 3)) * 1e-250,
              np.zeros((2, 2)), np.array([[0.75]]), np.array([[3e-310, -1e-311]])):
        Ws = np.empty_like(W)
        lw = k._pow2_scaled(W, Ws)
        want, lw_want = naive.pow2_scaled(W)
        np.testing.assert_array_equal(Ws, want)
        assert lw == pytest.approx(lw_want, rel=RTOL_EXACT, abs=RTOL_EXACT)
        assert np.max(np.abs(Ws)) < 1.0 and np.all(np.isfinite(Ws))
        P = W.copy()
        lsh, fro2 = k._rescale_pow2(P)
        Q, lsh_want, fro2_want = naive.rescale_pow2(W)
        np.testing.assert_array_equal(P, Q)
        assert lsh == pytest.approx(lsh_want, rel=RTOL_EXACT, abs=RTOL_EXACT)
        assert fro2 == pytest.approx(fro2_want, rel=RTOL_EXACT)


def _exploding_relu(N=8, gain=4.0):
    rnn = make_rnn(N, activation="relu", gain=gain, seed=0)
    return rnn, np.random.default_rng(1).standard_normal(N)


def test_state_overflow_is_reported_not_a_zero_product():
    # an exploding relu network: x_t leaves float64; relu'(NaN) = 0 used to turn that into
    # "an exactly zero product from lag 1" with rate -inf
    rnn, x0 = _exploding_relu()
    T = 2000
    with np.errstate(over="ignore", invalid="ignore"):   # NumPy warns with the JIT off
        X, _ = trajectory(rnn, x0, T)
    first_bad = int(np.flatnonzero(~np.all(np.isfinite(X), axis=1))[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = gradient_flow(rnn, x0, T, k_singular=[0, 10, T], delta_T=np.ones(rnn.N),
                            jacobian_stats=5)
    s = res.overflow_step
    assert s == first_bad and 1 < s < T
    assert np.isnan(res.rate_per_step) and not res.finite and not res.states_finite
    assert res.zero_product_lag == -1 and not res.on_fixed_point
    # what is valid: the run up to the last finite state x_{s-1}, exactly as if asked for
    valid = gradient_flow(rnn, x0, s - 1, k_singular=[0, 10], delta_T=np.ones(rnn.N),
                          jacobian_stats=5)
    assert valid.finite and valid.overflow_step is None and valid.rate_per_step > 0.5
    np.testing.assert_array_equal(res.log_norm[:s], valid.log_norm)
    np.testing.assert_array_equal(res.log_frob[:s], valid.log_frob)
    np.testing.assert_array_equal(res.log_delta[:s], valid.log_delta)
    assert np.all(np.isnan(res.log_norm[s:])) and np.all(np.isnan(res.log_delta[s:]))
    assert res.log_norm[s - 1] > 700                  # beyond float64, as a log
    np.testing.assert_array_equal(res.log_sv[:2], valid.log_sv)
    assert np.all(np.isnan(res.log_sv[2])) and list(res.sv_lag) == [s - 1, s - 11, -1]
    np.testing.assert_array_equal(res.jac_t, valid.jac_t)
    assert res.jac_t[-1] <= s - 1
    np.testing.assert_array_equal(res.x_final, X[s - 1])


def test_default_start_is_flagged_on_a_fixed_point(rng):
    rnn = make_rnn(6, gain=1.5, seed=3)
    assert gradient_flow(rnn, "zero", 20).on_fixed_point          # bias-free: x = 0 stays
    assert not gradient_flow(rnn, "random", 20).on_fixed_point
    biased = RNN(rnn.W, None, 0.3 * np.ones(6), "tanh")
    assert not gradient_flow(biased, "zero", 20).on_fixed_point
    # a fixed point found elsewhere: x* = W tanh(x*) after settling on a stable one
    stable = RNN(0.5 * rnn.W, None, 0.2 * np.ones(6), "tanh")
    X, _ = trajectory(stable, rng.standard_normal(6), 400)
    assert gradient_flow(stable, X[-1], 10).on_fixed_point
    assert not gradient_flow(stable, X[0], 10).on_fixed_point


def test_auto_jacobian_stride():
    from rnndyn.gradflow import AUTO_MAX_STRIDE, AUTO_MIN_JACOBIANS, auto_stride
    assert auto_stride(1) == 1 and auto_stride(AUTO_MIN_JACOBIANS) == 1
    assert auto_stride(AUTO_MIN_JACOBIANS + 1) == 2 and auto_stride(1000) == 10
    assert auto_stride(20_000) == AUTO_MAX_STRIDE == auto_stride(10 ** 7)
    rnn = make_rnn(4, seed=1)
    short = gradient_flow(rnn, "random", 30)                     # default 'auto'
    np.testing.assert_array_equal(short.jac_t, np.arange(1, 31))
    long = gradient_flow(rnn, "random", 1000)
    np.testing.assert_array_equal(long.jac_t, np.arange(1, 1001, 10))
    assert long.meta["params"]["jacobian_stride"] == 10
    every = gradient_flow(rnn, "random", 1000, jacobian_stats=True)
    assert len(every.jac_t) == 1000
    np.testing.assert_array_equal(every.jac_max_sv[::10], long.jac_max_sv)
    assert len(gradient_flow(rnn, "random", 1000, jacobian_stats=0).jac_t) == 0
    assert len(gradient_flow(rnn, "random", 1000, jacobian_stats="AUTO").jac_t) == 100


def test_top_singular_values_and_jacobian_spectra(rng):
    rnn = _model("tanh", "elman", N=7, gain=1.4)
    T = 20
    res = gradient_flow(rnn, "random", T, k_singular=[0, 12, T], n_top=3, seed=3)
    X, D = trajectory(rnn, np.random.default_rng(3).standard_normal(7), T)
    P, sv, _ = naive.backward_products(rnn.W, rnn.form_code, D)
    for i, k in enumerate([0, 12, T]):
        s = np.linalg.svd(P[T - k], compute_uv=False)[:3]
        np.testing.assert_allclose(np.exp(res.log_sv[i]), s, rtol=RTOL_KERNEL)
        assert res.log_sv[i, 0] == pytest.approx(res.log_norm[T - k], rel=RTOL_SPECTRAL,
                                                 abs=RTOL_SPECTRAL)
    np.testing.assert_array_equal(res.sv_lag, [T, T - 12, 0])
    t, rho, smax, smin = jacobian_spectra(rnn, D, stride=3)
    np.testing.assert_array_equal(t, np.arange(1, T + 1, 3))
    for i, ti in enumerate(t):
        J = naive.jacobian(rnn.W, rnn.form_code, D[ti - 1])
        s = np.linalg.svd(J, compute_uv=False)
        assert smax[i] == pytest.approx(s[0], rel=RTOL_KERNEL)
        assert smin[i] == pytest.approx(s[-1], rel=RTOL_KERNEL)
        assert rho[i] == pytest.approx(np.abs(np.linalg.eigvals(J)).max(), rel=RTOL_KERNEL)
    np.testing.assert_allclose(res.jac_max_sv, [np.linalg.norm(
        naive.jacobian(rnn.W, rnn.form_code, d), 2) for d in D], rtol=RTOL_KERNEL)
    assert len(res.jac_t) == T


def test_stopping_rule_is_relative_and_reports_nonconvergence(rng):
    rnn = make_rnn(30, gain=1.0, seed=7)
    _, D = trajectory(rnn, rng.standard_normal(30), 60)
    _, sv, _ = naive.backward_products(rnn.W, rnn.form_code, D)
    tight = backward_products(rnn, D, rtol=1e-15)
    np.testing.assert_allclose(np.exp(tight["log_norm"]), sv, rtol=RTOL_KERNEL)
    loose = backward_products(rnn, D, rtol=1e-4)
    err = np.abs(np.exp(loose["log_norm"]) / sv - 1)
    assert err.max() <= 1e-4
    assert loose["power_iterations"].sum() < tight["power_iterations"].sum()
    # the error scales with rtol: the rule is relative, not absolute
    scaled = make_rnn(30, gain=1.0, seed=7).with_W(rnn.W * 1e3)
    big = backward_products(scaled, D)
    np.testing.assert_allclose(big["log_norm"] - backward_products(rnn, D)["log_norm"],
                               np.arange(61) * np.log(1e3), rtol=RTOL_KERNEL, atol=1e-9)
    capped = backward_products(rnn, D, rtol=0.0, max_iter=1)
    assert capped["unconverged_lags"] > 0


def test_fit_rate_and_window():
    lag = np.arange(11)
    assert fit_rate(lag, 0.3 * lag + 2, [1, 10]) == pytest.approx(0.3, rel=RTOL_EXACT)
    y = 0.3 * lag.astype(float)
    y[5:] = -np.inf
    assert fit_rate(lag, y, [0, 10]) == -np.inf
    assert fit_rate(lag, y, [0, 4]) == pytest.approx(0.3, rel=RTOL_EXACT)
    assert np.isnan(fit_rate(lag, y, [3, 3]))
    res = gradient_flow(RNN([[0.5]], None, None, "linear"), "zero", 50, fit=(2, 20),
                        jacobian_stats=False)
    assert res.fit_window == [2, 20]


def test_bad_arguments_name_themselves(rng):
    rnn = make_rnn(3)
    with pytest.raises(ValueError, match="n_steps"):
        gradient_flow(rnn, "zero", 0)
    with pytest.raises(ValueError, match="n_steps"):
        gradient_flow(rnn, "zero", -3)
    with pytest.raises(ValueError, match="x0 must have shape"):
        gradient_flow(rnn, np.zeros(4), 5)
    with pytest.raises(ValueError, match="unknown x0"):
        gradient_flow(rnn, "sideways", 5)
    with pytest.raises(ValueError, match="k_singular"):
        gradient_flow(rnn, "zero", 5, k_singular=[6])
    with pytest.raises(ValueError, match="fit"):
        gradient_flow(rnn, "zero", 5, fit=(3, 3))
    with pytest.raises(ValueError, match="delta_T"):
        gradient_flow(rnn, "zero", 5, delta_T=np.zeros(3))
    with pytest.raises(ValueError, match="delta_T"):
        gradient_flow(rnn, "zero", 5, delta_T=np.ones(2))
    with pytest.raises(ValueError, match="D must have shape"):
        jacobian_product(rnn, np.ones((4, 2)), 1)
    with pytest.raises(ValueError, match="k must be <="):
        jacobian_product(rnn, np.ones((4, 3)), 5)
    with pytest.raises(TypeError, match="n_top"):
        gradient_flow(rnn, "zero", 5, n_top=1.5)


@pytest.mark.parametrize("call, message", [
    (lambda rnn: gradient_flow(None, "zero", 5), "rnn must be an RNN"),
    (lambda rnn: gradient_flow(rnn.W, "zero", 5), "rnn must be an RNN"),
    (lambda rnn: backward_products(None, np.ones((4, 3))), "rnn must be an RNN"),
    (lambda rnn: transport("net", np.ones((4, 3)), np.ones(3)), "rnn must be an RNN"),
    (lambda rnn: jacobian_spectra(None, np.ones((4, 3))), "rnn must be an RNN"),
    (lambda rnn: jacobian_product(None, np.ones((4, 3)), 1), "rnn must be an RNN"),
    (lambda rnn: gradient_flow(rnn, "zero", 5, fit=5), "fit must be a pair"),
    (lambda rnn: gradient_flow(rnn, "zero", 5, fit=(1, 2, 3)), "fit must be a pair"),
    (lambda rnn: gradient_flow(rnn, "zero", 5, fit=(1, "a")), "fit must be an integer"),
    (lambda rnn: gradient_flow(rnn, None, 5), "x0 must be"),
    (lambda rnn: gradient_flow(rnn, "zero", 5, jacobian_stats="often"), "jacobian_stats"),
    (lambda rnn: gradient_flow(rnn, "zero", 5, jacobian_stats=-1), "jacobian_stats"),
    (lambda rnn: gradient_flow(rnn, "zero", 5, jacobian_stats=2.5), "jacobian_stats"),
    (lambda rnn: gradient_flow(rnn, "zero", None), "n_steps"),
    (lambda rnn: gradient_flow(rnn, "zero", 5, k_singular="3"), "k_singular"),
])
def test_api_errors_are_input_errors_naming_the_argument(call, message):
    from rnndyn._validate import InputError
    with pytest.raises(InputError, match=message):
        call(make_rnn(3))


def test_result_roundtrip(tmp_path, rng):
    rnn = _model("sigmoid", "pascanu", M=0)
    res = gradient_flow(rnn, "random", 12, k_singular=[2], delta_T=rng.standard_normal(6))
    assert isinstance(res, GradFlowResult) and res.finite
    res.save(tmp_path / "gf")
    back = load_result(tmp_path / "gf.json")
    assert isinstance(back, GradFlowResult)
    np.testing.assert_array_equal(back.log_norm, res.log_norm)
    np.testing.assert_array_equal(back.log_delta, res.log_delta)
    assert back.rate_per_step == res.rate_per_step and back.meta["model"]["N"] == 6
    np.testing.assert_allclose(res.log10_norm, res.log_norm / np.log(10), rtol=RTOL_EXACT)
    none = gradient_flow(rnn, "zero", 4, jacobian_stats=False)
    none.save(tmp_path / "none")
    assert load_result(tmp_path / "none").log_delta is None


@pytest.mark.parametrize("act, gain", [("tanh", 3.0), ("linear", 0.3), ("sigmoid", 20.0)])
def test_long_products_match_the_naive_svd_loop(act, gain):
    # T = 2000: both sides renormalise (linear, gain 0.3: the norm is about e^-2400)
    rnn = make_rnn(6, activation=act, gain=gain, seed=11)
    _, D = trajectory(rnn, np.random.default_rng(12).standard_normal(6), 2000)
    want = naive.log_norms_renormalised(rnn.W, rnn.form_code, D)
    got = backward_products(rnn, D)["log_norm"]
    np.testing.assert_allclose(got, want, rtol=RTOL_SPECTRAL, atol=RTOL_SPECTRAL)
    assert np.all(np.isfinite(got)) and abs(got[-1]) > 100


def test_kernel_building_blocks_match_numpy(rng):
    from rnndyn._kernels import gradflow as k
    for m in (1, 2, 5, 9):
        alpha = rng.uniform(0.0, 1.0, 12)
        beta = rng.uniform(0.0, 0.5, 12)
        theta, vec = naive.top_eig_tridiag(alpha, beta, m)
        hi = np.max(alpha[:m]) + 2 * np.max(beta[:max(m - 1, 1)])
        got, last2 = k._top_eig_tridiag(alpha, beta, m, 0.0, hi)
        assert got == pytest.approx(theta, rel=RTOL_KERNEL)
        # the squared last eigenvector component, for the Ritz residual of the stopping rule
        assert last2 == pytest.approx(vec[-1] ** 2, rel=RTOL_RITZ, abs=RTOL_RITZ * 1e-6)
        s, work = np.empty(12), np.empty(12)
        k._top_vec_tridiag(alpha, beta, m, got, s, work)
        assert abs(np.dot(s[:m], vec)) == pytest.approx(1.0, rel=RTOL_KERNEL)
        # the Sturm count that certifies a Newton start: True only above the spectrum
        assert k._above_spectrum(alpha, beta, m, theta * (1 + 1e-9) + 1e-12)
        assert not k._above_spectrum(alpha, beta, m, theta * (1 - 1e-9) - 1e-12)
    for N in (1, 4, 7, 50):
        P = rng.standard_normal((N, N))
        x = rng.standard_normal(N)
        out = np.empty(N)
        k._matvec(P, x, out, 0.5)
        np.testing.assert_allclose(out, 0.5 * P @ x, rtol=RTOL_EXACT, atol=RTOL_EXACT * N)
        k._rmatvec(P, x, out, 2.0)
        np.testing.assert_allclose(out, 2.0 * P.T @ x, rtol=RTOL_EXACT, atol=RTOL_EXACT * N)
        # the pass that scales a new product's columns, its ‖·‖_F² and the first Pᵀ u
        d = rng.uniform(0.1, 2.0, N)
        for scale_cols in (True, False):
            Pc = P.copy()
            fro2 = k._scale_fro_rmatvec(Pc, d, scale_cols, x, out)
            want = P * d if scale_cols else P
            np.testing.assert_allclose(Pc, want, rtol=RTOL_EXACT)
            np.testing.assert_allclose(out, want.T @ x, rtol=RTOL_EXACT, atol=RTOL_EXACT * N)
            assert fro2 == pytest.approx(np.sum(want * want), rel=RTOL_EXACT)


def test_nan_factors_are_nonfinite_not_zero():
    rnn = make_rnn(3, seed=1)
    D = np.ones((5, 3))
    D[2] = np.nan                           # J_3 undefined: lag 3 = T - 2 is the first hit
    out = backward_products(rnn, D)
    assert out["nonfinite_lag"] == 3 and out["zero_product_lag"] == -1
    assert np.all(np.isfinite(out["log_norm"][:3])) and np.all(np.isnan(out["log_norm"][3:]))
    D[2] = [0.0, np.nan, 0.0]
    assert backward_products(rnn, D)["nonfinite_lag"] == 3
    log_delta = transport(rnn, D, np.ones(3))
    assert np.all(np.isnan(log_delta[3:])) and np.all(np.isfinite(log_delta[:3]))
