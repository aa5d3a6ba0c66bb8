import numpy as np
import pytest

import naive
from conftest import RTOL_EXACT, RTOL_FD, FD_STEP
from rnndyn._kernels import fixedpoints as _k
from rnndyn.fixedpoints import (FixedPointsResult, classify, drive, fixed_points, newton,
                                residual_jacobian)
from rnndyn.models import RNN, make_rnn
from rnndyn.results import load_result

CASES = [(act, form) for act in ("tanh", "sigmoid", "relu", "linear")
         for form in ("pascanu", "elman")]
RESIDUAL_TOL = 1e-12  # the Newton polish target (config.FIXED_POINT_TOL)


@pytest.mark.parametrize("act, form", CASES)
def test_kernels_match_naive(act, form, rng):
    rnn = make_rnn(6, n_inputs=2, activation=act, form=form, gain=1.3, seed=4)
    c = drive(rnn, rng.standard_normal(2))
    x = rng.standard_normal(6)
    r, J = residual_jacobian(rnn, x, c=c)
    rn, Jn = naive.map_residual_jacobian(rnn.W, c, rnn.act_code, rnn.form_code, x)
    np.testing.assert_allclose(r, rn, rtol=RTOL_EXACT, atol=1e-14)
    np.testing.assert_allclose(J, Jn, rtol=RTOL_EXACT, atol=1e-14)
    WB, cB = rng.standard_normal((6, 6)), rng.standard_normal(6)
    out = np.empty(6)
    _k._dfdp(rnn.W, c, WB, cB, rnn.act_code, rnn.form_code, x, out)
    np.testing.assert_allclose(out, naive.map_dfdp(rnn.W, c, WB, cB, rnn.act_code,
                                                   rnn.form_code, x), rtol=RTOL_EXACT, atol=1e-14)


@pytest.mark.parametrize("form", ("pascanu", "elman"))
def test_jacobian_matches_finite_difference(form, rng):
    rnn = make_rnn(5, activation="tanh", form=form, gain=1.4, seed=2)
    x = rng.standard_normal(5)
    _, J = residual_jacobian(rnn, x)
    fd = np.empty((5, 5))
    for j in range(5):
        e = np.zeros(5)
        e[j] = FD_STEP
        fd[:, j] = (rnn.step(x + e) - rnn.step(x - e)) / (2 * FD_STEP)
    np.testing.assert_allclose(J, fd, rtol=RTOL_FD, atol=1e-9)


@pytest.mark.parametrize("form", ("pascanu", "elman"))
def test_linear_network_has_the_unique_fixed_point(form, rng):
    N, M = 6, 2
    W = 0.3 * rng.standard_normal((N, N))
    U, b, u = rng.standard_normal((N, M)), rng.standard_normal(N), rng.standard_normal(M)
    rnn = RNN(W, U, b, "linear", form)
    res = fixed_points(rnn, u, n_starts=8, seed=1)
    assert len(res.points) == 1
    np.testing.assert_allclose(res.points[0], np.linalg.solve(np.eye(N) - W, b + U @ u),
                               rtol=1e-10)
    rho = np.max(np.abs(np.linalg.eigvals(W)))
    assert res.kinds == ["stable" if rho < 1 else "saddle"]
    np.testing.assert_allclose(res.spectral_radius[0], rho, rtol=1e-10)


def test_one_neuron_roots_and_stability():
    from scipy.optimize import brentq
    w, b = 5.0, 0.5
    rnn = RNN([[w]], None, [b], "tanh", "pascanu")
    res = fixed_points(rnn, n_starts=32, seed=0)
    g = lambda x: x - w * np.tanh(x) - b  # b = x − w tanh(x) at a fixed point
    roots = sorted(brentq(g, lo, hi) for lo, hi in ((-7, -1.5), (-1.4, 1.4), (1.5, 7)))
    np.testing.assert_allclose(np.sort(res.points[:, 0]), roots, rtol=1e-12)
    assert np.all(res.residual <= RESIDUAL_TOL)
    by_x = dict(zip(res.points[:, 0].round(6), res.kinds))
    assert [by_x[round(r, 6)] for r in roots] == ["stable", "unstable", "stable"]


@pytest.mark.parametrize("form", ("pascanu", "elman"))
def test_two_uncoupled_bistable_units_have_nine_fixed_points(form):
    # each unit x = 3 tanh(x) has 3 fixed points: 9 in all, 4 stable, 4 saddles, 1 repeller
    rnn = RNN(3.0 * np.eye(2), None, None, "tanh", form)
    res = fixed_points(rnn, n_starts=128, seed=3)
    assert len(res.points) == 9
    assert sorted(res.kinds) == sorted(["stable"] * 4 + ["saddle"] * 4 + ["unstable"])
    assert sorted(res.n_unstable.tolist()) == [0] * 4 + [1] * 4 + [2]
    assert np.all(res.residual <= RESIDUAL_TOL * 3)
    d = np.abs(res.points[:, None] - res.points[None]).max(axis=2) + np.eye(9)
    assert d.min() > 0.1  # no duplicates


@pytest.mark.parametrize("N", [6, pytest.param(30, marks=pytest.mark.slow)])
def test_random_network_points_are_fixed_points(N):
    rnn = make_rnn(N, n_inputs=2, gain=1.6, seed=5)
    u = np.array([0.3, -0.2])
    res = fixed_points(rnn, u, n_starts=12, seed=2)
    assert len(res.points) >= 1
    c = drive(rnn, u)
    for x, kind, nu, lr, li in zip(res.points, res.kinds, res.n_unstable, res.eig_real,
                                   res.eig_imag):
        np.testing.assert_allclose(rnn.step(x, u), x, rtol=0, atol=1e-11)
        _, J = residual_jacobian(rnn, x, c=c)
        lam = np.linalg.eigvals(J)
        np.testing.assert_allclose(np.sort(np.abs(lam)), np.sort(np.abs(lr + 1j * li)),
                                   rtol=1e-9)
        assert (kind, nu) == classify(lam)
    again = fixed_points(rnn, u, n_starts=12, seed=2)
    np.testing.assert_array_equal(again.points, res.points)


def test_slow_point_near_a_ghost():
    # past the fold (b = 3.0285 for w = 5) the lower branch is gone but leaves a
    # bottleneck near x = -1.44 where q is small but positive
    rnn = RNN([[5.0]], None, [3.035], "tanh", "pascanu")
    res = fixed_points(rnn, n_starts=64, starts=[[-1.4], [-1.5]], seed=0)
    assert len(res.points) == 1 and res.points[0, 0] > 0
    assert len(res.slow_points) >= 1
    k = int(np.argmin(res.slow_q))
    assert res.slow_points[k, 0] == pytest.approx(-1.4436, abs=0.05)
    assert 0 < res.slow_q[k] < 1e-3


def test_newton_converges_and_classify_cases():
    rnn = RNN(0.5 * np.eye(2), None, [1.0, -1.0], "linear", "pascanu")
    x, res, ok = newton(rnn, [10.0, 10.0])
    assert ok and res <= RESIDUAL_TOL
    np.testing.assert_allclose(x, [2.0, -2.0], rtol=1e-12)
    assert classify([0.5, -0.2j]) == ("stable", 0)
    assert classify([2.0, 0.5]) == ("saddle", 1)
    assert classify([2.0, -3.0]) == ("unstable", 2)
    assert classify([1.0, 0.5]) == ("marginal", 0)
    assert classify([np.exp(0.3j), np.exp(-0.3j), 1.5])[0] == "marginal"


def test_result_round_trip(tmp_path):
    rnn = RNN(3.0 * np.eye(2), None, None, "tanh", "pascanu")
    res = fixed_points(rnn, n_starts=32, seed=0)
    res.save(tmp_path / "fp")
    back = load_result(tmp_path / "fp")
    assert isinstance(back, FixedPointsResult)
    np.testing.assert_array_equal(back.points, res.points)
    assert back.kinds == res.kinds
    assert back.summary() == res.summary()


def test_bad_input():
    rnn = make_rnn(3, n_inputs=2)
    with pytest.raises(ValueError, match="u must have shape"):
        fixed_points(rnn, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="n_starts must be >= 1"):
        fixed_points(rnn, n_starts=0)
    with pytest.raises(TypeError, match="slow_q must be a real number"):
        fixed_points(rnn, slow_q="x")
    with pytest.raises(ValueError, match="starts must have shape"):
        fixed_points(rnn, starts=np.zeros((2, 4)))
    with pytest.raises(ValueError, match="x0 must have shape"):
        newton(rnn, np.zeros(2))


def test_fixed_points_figure_recipe(tmp_path):
    from rnndyn.figures import fixedpoints as recipe, registry
    info = registry.render(recipe.NAME, tmp_path, params={"n": 6, "n_starts": 8})
    res = load_result(info["data"])
    fig = recipe.plot(res)
    ax = fig.axes[1]
    # the unit circle plus one line of eigenvalues per fixed point
    assert len(ax.get_lines()) == 1 + len(res.points)


@pytest.mark.slow
def test_hundred_units():
    rnn = make_rnn(100, gain=1.5, seed=3)
    res = fixed_points(rnn, n_starts=32, seed=0)
    assert len(res.points) >= 1
    assert np.all(res.residual <= RESIDUAL_TOL * np.maximum(1, np.abs(res.points).max(axis=1)))
    assert "saddle" in res.kinds  # the origin, unstable along about half of the directions
    k = int(np.argmin(np.abs(res.points).max(axis=1)))
    assert np.abs(res.points[k]).max() < 1e-12
    assert res.n_unstable[k] == np.count_nonzero(np.abs(np.linalg.eigvals(rnn.W)) > 1)
