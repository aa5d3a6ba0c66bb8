import numpy as np
import pytest

import naive
from conftest import FD_STEP, RTOL_FD
from rnndyn.continuation import (ContinuationResult, continuation, parametrise,
                                 bifurcation_functions as psi)
from rnndyn.fixedpoints import fixed_points
from rnndyn.models import RNN, make_rnn
from rnndyn.results import load_result

LOCATE_TOL = 1e-10  # located bifurcation parameter vs its analytic value
BRANCH_TOL = 1e-10  # branch points vs analytic/brute-force fixed points

# one tanh neuron, w = 5: folds where w tanh'(x) = 1, i.e. tanh(x) = ±√(1 − 1/w)
X_FOLD = np.arctanh(np.sqrt(0.8))
B_FOLD = 5.0 * np.sqrt(0.8) - X_FOLD  # 3.0285...


def rotation(theta):
    return np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])


@pytest.mark.parametrize("form", ("pascanu", "elman"))
def test_neimark_sacker_of_a_rotation_at_unit_gain(form):
    rnn = RNN(rotation(0.7), None, None, "tanh", form)
    res = continuation(rnn, "gain", start=0.5, stop=1.5)
    assert [b["type"] for b in res.bifurcations] == ["neimark-sacker"]
    ns = res.bifurcations[0]
    assert ns["value"] == pytest.approx(1.0, abs=LOCATE_TOL)
    assert ns["gain"] == ns["value"] and ns["parameter"] == "gain"
    assert ns["angle"] == pytest.approx(0.7, abs=1e-9)
    np.testing.assert_allclose(ns["x"], 0.0, atol=1e-12)
    assert res.values[0] == 0.5 and res.values[-1] == pytest.approx(1.5, abs=1e-12)
    assert np.all(res.stable == (res.values < 1.0))


@pytest.mark.parametrize("act, x0, bfold", [("tanh", -4.0, None), ("sigmoid", 0.0, None)])
def test_one_neuron_branch_in_b_against_the_analytic_curve(act, x0, bfold):
    w = 5.0
    rnn = RNN([[w]], None, [-6.0], act, "pascanu")
    res = continuation(rnn, "bias", index=0, x0=[x0], stop=6.0, max_step=0.05, n_points=3000)
    assert res.parameter == "b[0]" and res.stop_reason.startswith("reached stop")
    x = res.states[:, 0]
    from rnndyn.activations import dsigma, sigma
    # every branch point solves b = x − w σ(x)
    np.testing.assert_allclose(res.values, x - w * sigma(act, x), rtol=0, atol=BRANCH_TOL)
    folds = res.bifurcations
    assert [f["type"] for f in folds] == ["fold", "fold"]
    assert all(f["limit_point"] for f in folds)
    # analytic folds: w σ'(x) = 1
    if act == "tanh":
        xs = np.array([-X_FOLD, X_FOLD])
    else:  # σ(1 − σ) = 1/5  ->  σ = (1 ± √(1 − 4/5))/2
        s = (1 + np.array([-1, 1]) * np.sqrt(0.2)) / 2
        xs = np.log(s / (1 - s))
    bs = xs - w * sigma(act, xs)
    np.testing.assert_allclose(sorted(f["value"] for f in folds), sorted(bs), atol=LOCATE_TOL)
    np.testing.assert_allclose(sorted(f["x"][0] for f in folds), sorted(xs), atol=1e-6)
    if act == "tanh":
        np.testing.assert_allclose(sorted(bs), [-B_FOLD, B_FOLD], rtol=1e-12)
        assert B_FOLD == pytest.approx(3.0285, abs=1e-4)
    else:
        np.testing.assert_allclose(sorted(bs), [-2.6556, -2.3444], atol=1e-4)
    stable = np.abs(w * dsigma(act, x)) < 1
    np.testing.assert_array_equal(res.stable, stable)


def test_flip_of_the_tanh_neuron_at_w_minus_one():
    rnn = RNN([[-0.5]], None, [0.0], "tanh", "pascanu")
    res = continuation(rnn, "weight", index=(0, 0), stop=-2.0)
    assert [b["type"] for b in res.bifurcations] == ["flip"]
    assert res.bifurcations[0]["W[0,0]"] == pytest.approx(-1.0, abs=LOCATE_TOL)
    assert res.bifurcations[0]["eigenvalue"] == pytest.approx([-1.0, 0.0], abs=1e-9)


def test_branch_agrees_with_brute_force_fixed_points():
    rnn = make_rnn(4, gain=0.6, seed=7)
    rnn = RNN(rnn.W, None, [0.3, -0.2, 0.1, 0.4], "tanh", "pascanu")
    res = continuation(rnn, "gain", stop=2.5, max_step=0.05)
    assert res.stop_reason.startswith("reached stop")
    for k in range(0, len(res.values), max(1, len(res.values) // 5)):
        g = res.values[k]
        found = fixed_points(rnn.with_W(g * rnn.W), n_starts=32, seed=0)
        d = np.abs(found.points - res.states[k]).max(axis=1)
        assert d.min() < BRANCH_TOL * 100, (g, d.min())
        j = int(np.argmin(d))
        assert found.kinds[j] == "stable" or not res.stable[k]


@pytest.mark.parametrize("form", ("pascanu", "elman"))
def test_parameter_derivative_matches_finite_differences(form, rng):
    rnn = make_rnn(4, n_inputs=2, gain=1.2, form=form, seed=3)
    rnn = RNN(rnn.W, rnn.U, rng.standard_normal(4), "tanh", form)
    x = rng.standard_normal(4)
    from rnndyn.continuation import _kernel_evaluator
    for kind, index in (("gain", None), ("bias", 2), ("input", None), ("weight", (1, 3))):
        name, p0, WA, WB, cA, cB = parametrise(rnn, kind, index=index)
        W0, c0 = WA + p0 * WB, cA + p0 * cB
        np.testing.assert_array_equal(W0, rnn.W)
        np.testing.assert_allclose(c0, rnn.b, rtol=0, atol=1e-15)
        ev = _kernel_evaluator(WA, WB, cA, cB, rnn.act_code, rnn.form_code)
        _, _, fp = ev(x, p0)
        fd = (ev(x, p0 + FD_STEP)[0] - ev(x, p0 - FD_STEP)[0]) / (2 * FD_STEP)
        np.testing.assert_allclose(fp, fd, rtol=RTOL_FD, atol=1e-9)
        np.testing.assert_allclose(fp, naive.map_dfdp(W0, c0, WB, cB, rnn.act_code,
                                                      rnn.form_code, x), rtol=1e-12)


def test_input_strength_branch_is_a_fixed_point_branch():
    rnn = make_rnn(3, n_inputs=1, gain=1.5, seed=2)
    res = continuation(rnn, "input", stop=2.0, max_step=0.05)
    d = rnn.U[:, 0]
    for p, x in zip(res.values, res.states):
        np.testing.assert_allclose(rnn.step(x, [p]), x, atol=1e-11)
    assert res.parameter == "input"
    res2 = continuation(rnn, "input", direction=d, stop=2.0, max_step=0.05)
    np.testing.assert_allclose(res2.values, res.values)


def test_bifurcation_function_signs():
    f, fl, ns = psi([0.5, 0.2])
    assert f > 0 and fl > 0 and ns < 0  # ψ_NS = λ1 λ2 − 1
    assert psi([1.5, 0.2])[0] < 0
    assert psi([-1.5, 0.2])[1] < 0
    assert psi([0.8 * np.exp(0.4j), 0.8 * np.exp(-0.4j)])[2] < 0
    assert psi([1.2 * np.exp(0.4j), 1.2 * np.exp(-0.4j)])[2] > 0
    assert psi([np.exp(0.4j), np.exp(-0.4j)])[2] == pytest.approx(0.0, abs=1e-15)


def test_result_round_trip_and_bad_input(tmp_path):
    rnn = RNN(rotation(0.3), None, None, "tanh", "pascanu")
    res = continuation(rnn, "gain", start=0.8, stop=1.2)
    res.save(tmp_path / "c")
    back = load_result(tmp_path / "c")
    assert isinstance(back, ContinuationResult)
    assert back.bifurcations == res.bifurcations
    np.testing.assert_array_equal(back.eigenvalues, res.eigenvalues)
    with pytest.raises(ValueError, match="unknown parameter"):
        continuation(rnn, "nonsense")
    with pytest.raises(ValueError, match="index is required"):
        continuation(rnn, "bias")
    with pytest.raises(ValueError, match="index must be a pair"):
        continuation(rnn, "weight", index=1)
    with pytest.raises(ValueError, match="index must be <= 1"):
        continuation(rnn, "bias", index=5)
    with pytest.raises(ValueError, match="stop must differ"):
        continuation(rnn, "gain", stop=1.0)
    with pytest.raises(ValueError, match="n_points must be >= 2"):
        continuation(rnn, "gain", n_points=1)


def test_figure_recipe_locates_the_neimark_sacker_point(tmp_path):
    from rnndyn.figures import continuation as recipe, registry
    info = registry.render(recipe.NAME, tmp_path, params={"n_points": 120})
    res = load_result(info["data"])
    assert [b["type"] for b in res.bifurcations] == ["neimark-sacker"]
    # past the NS point the branch is unstable, before it stable
    p_ns = res.bifurcations[0]["value"]
    assert np.all(res.stable[res.values < p_ns - 1e-9])
    assert not np.any(res.stable[res.values > p_ns + 1e-9])
    fig = recipe.plot(res)
    ax0, ax1 = fig.axes[0], fig.axes[1]
    labels = [t.get_text() for t in ax0.get_legend().get_texts()]
    assert labels[:2] == ["stable", "unstable"] and labels[2].startswith("neimark-sacker")
    assert len(ax1.get_lines()) == 2 + 1 + 1  # two moduli, |λ| = 1, the NS marker line



def test_pitchfork_is_a_fold_that_is_not_a_limit_point():
    # x ← g tanh(x): the origin's eigenvalue g crosses +1 at g = 1 but the branch
    # x = 0 goes straight on (a branch point), so dp/ds keeps its sign
    rnn = RNN([[1.0]], None, None, "tanh", "pascanu")
    res = continuation(rnn, "gain", start=0.5, stop=1.5)
    (b,) = res.bifurcations
    assert b["type"] == "fold" and b["limit_point"] is False
    assert b["value"] == pytest.approx(1.0, abs=LOCATE_TOL)
    np.testing.assert_allclose(res.states, 0.0, atol=1e-12)


def test_starting_on_a_branch_point_is_a_clear_error():
    rnn = RNN([[1.0]], None, None, "tanh", "pascanu")  # x ← g tanh(x): pitchfork at g = 1
    with pytest.raises(ValueError, match="no unique tangent at the start"):
        continuation(rnn, "gain", start=1.0, stop=2.0)
