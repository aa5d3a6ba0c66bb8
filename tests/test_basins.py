import numpy as np
import pytest

import naive
from rnndyn.basins import (DIVERGED, UNSETTLED, BasinsResult, basins, boundary, identify,
                           settle_grid)
from rnndyn.models import RNN, make_rnn
from rnndyn.results import load_result

CASES = [(act, form) for act in ("tanh", "sigmoid", "relu", "linear")
         for form in ("pascanu", "elman")]
REP_TOL = 1e-12  # cycle representatives: kernel vs naive (same arithmetic)


@pytest.mark.parametrize("act, form", CASES)
def test_kernel_matches_naive(act, form, rng):
    W = 2.0 * rng.standard_normal((2, 2))
    c = 0.3 * rng.standard_normal(2)
    rnn = RNN(W, None, c, act, form)
    xs, ys = np.linspace(-3, 3, 9), np.linspace(-2, 2, 7)
    base, e1, e2 = np.zeros(2), np.array([1.0, 0.0]), np.array([0.0, 1.0])
    P, S, R = settle_grid(rnn, c, base, e1, e2, xs, ys, max_steps=400, max_period=8,
                          tol=1e-10, bound=1e6)
    Pn, Sn, Rn = naive.basin_grid(W, c, rnn.act_code, rnn.form_code, base, e1, e2, xs, ys,
                                  400, 8, 1e-10, 1e6)
    np.testing.assert_array_equal(P, Pn)
    np.testing.assert_array_equal(S, Sn)
    np.testing.assert_allclose(R, Rn, rtol=0, atol=REP_TOL)


def test_kernel_matches_naive_on_a_slice_of_a_larger_network(rng):
    rnn = make_rnn(5, gain=2.0, seed=11)
    c = rnn.b
    base = rng.standard_normal(5)
    e1, e2 = np.eye(5)[1], np.eye(5)[3]
    xs, ys = np.linspace(-2, 2, 5), np.linspace(-2, 2, 4)
    P, S, R = settle_grid(rnn, c, base, e1, e2, xs, ys, max_steps=300, max_period=8,
                          tol=1e-10, bound=1e6)
    Pn, Sn, Rn = naive.basin_grid(rnn.W, c, 1, 0, base, e1, e2, xs, ys, 300, 8, 1e-10, 1e6)
    np.testing.assert_array_equal(P, Pn)
    np.testing.assert_array_equal(S, Sn)
    np.testing.assert_allclose(R, Rn, rtol=0, atol=REP_TOL)


def test_bistable_neuron_boundary_is_the_unstable_fixed_point():
    # x ← 5 tanh(x) + b: the middle fixed point separates the two basins
    from scipy.optimize import brentq
    b = 0.5
    rnn = RNN([[5.0]], None, [b], "tanh", "pascanu")
    res = basins(rnn, xlim=(-4, 4), nx=801)
    assert res.labels.shape == (1, 801)
    assert [a["period"] for a in res.attractors] == [1, 1]
    x_mid = brentq(lambda x: x - 5 * np.tanh(x) - b, -1, 1)
    edge = res.xs[res.boundary[0]]
    assert edge.min() < x_mid < edge.max() and edge.max() - edge.min() <= 2 * 0.01 + 1e-12
    left, right = res.labels[0, 0], res.labels[0, -1]
    assert left != right
    assert np.all(res.labels[0, res.xs < x_mid - 0.02] == left)
    assert np.all(res.labels[0, res.xs > x_mid + 0.02] == right)
    assert res.attractors[left]["x"][0] < 0 < res.attractors[right]["x"][0]
    assert all(a["max_multiplier"] < 1 for a in res.attractors)


def test_period_two_is_one_attractor_from_either_phase():
    # x ← -2 tanh(x): every state except 0 goes to the same 2-cycle ±x*, reached
    # at opposite phases from the two sides: one label
    rnn = RNN([[-2.0]], None, None, "tanh", "pascanu")
    res = basins(rnn, xlim=(-3, 3), nx=60)  # the grid avoids x = 0
    assert len(res.attractors) == 1
    a = res.attractors[0]
    assert a["period"] == 2 and a["kind"] == "cycle" and a["cells"] == 60
    xstar = a["x"][0]
    assert xstar < 0 and -2 * np.tanh(xstar) == pytest.approx(-xstar, rel=1e-9)
    assert not res.boundary.any()


@pytest.mark.parametrize("form", ("pascanu", "elman"))
def test_four_quadrant_basins(form):
    rnn = RNN(3.0 * np.eye(2), None, None, "tanh", form)
    res = basins(rnn, xlim=(-2, 2), ylim=(-2, 2), nx=40)  # grid avoids the axes
    assert [a["period"] for a in res.attractors] == [1, 1, 1, 1]
    X, Y = np.meshgrid(res.xs, res.ys)
    for a in res.attractors:
        sx, sy = np.sign(a["x"])
        assert np.all((res.labels == a["label"]) == ((np.sign(X) == sx) & (np.sign(Y) == sy)))
    # the boundary is the two rows/columns next to each axis
    assert np.all(res.boundary == ((np.abs(X) < 0.06) | (np.abs(Y) < 0.06)))


def test_divergence_and_unsettled_labels():
    lin = RNN(2.0 * np.eye(2), None, None, "linear", "pascanu")
    res = basins(lin, nx=20, bound=1e3)
    assert np.all(res.labels == DIVERGED) and res.label_counts()["divergence"] == 400
    th = 0.9  # past its Neimark-Sacker point: an invariant circle, no cycle
    R = 1.5 * np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    res = basins(RNN(R, None, None, "tanh", "pascanu"), nx=10, max_steps=300)
    assert np.all(res.labels == UNSETTLED) and res.attractors == []


def test_labels_do_not_depend_on_the_grid():
    W = np.array([[1.5, 2.3], [2.5, -1.5]])
    rnn = RNN(W, None, [-0.2, 0.24], "tanh", "pascanu")
    a = basins(rnn, nx=31, xlim=(-4, 4), ylim=(-4, 4))
    b = basins(rnn, nx=45, xlim=(-4, 4), ylim=(-4, 4))
    assert a.periods.tolist() == b.periods.tolist() == [1, 1, 2]
    np.testing.assert_allclose(a.attractor_points, b.attractor_points, atol=1e-8)
    c = basins(rnn, nx=31, xlim=(-4, 4), ylim=(-4, 4))
    np.testing.assert_array_equal(a.labels, c.labels)  # parallel runs are deterministic


def test_match_kernel_matches_naive(rng):
    from rnndyn._kernels.basins import _match
    period = rng.integers(-1, 3, size=(6, 7))
    att_points = rng.standard_normal((4, 3))
    att_period = np.array([1, 2, 1, 2])
    rep = att_points[rng.integers(0, 4, size=(6, 7))] + 1e-9 * rng.standard_normal((6, 7, 3))
    labels = np.full((6, 7), -3, dtype=np.int64)
    want = naive.match_attractors(period, rep, att_period, att_points, 1e-8, labels)
    _match(period, rep, att_period, att_points, 1e-8, labels)
    np.testing.assert_array_equal(labels, want)
    assert np.any(labels >= 0) and np.any(labels == -3)  # both matched and unmatched cells


@pytest.mark.slow  # 5000² label comparisons: slow without the JIT
def test_identify_many_attractors_over_several_rounds(rng):
    # 5000 distinct settled cells: more than one round of 4096 candidates
    period = np.ones((50, 100), dtype=np.int64)
    rep = rng.standard_normal((50, 100, 2))
    labels, periods, points = identify(period, rep, max_attractors=6000)
    assert len(periods) == 5000 and sorted(labels.ravel().tolist()) == list(range(5000))
    np.testing.assert_array_equal(points[labels], rep)


def test_identify_and_boundary_helpers():
    period = np.array([[1, 1, 2, -1, 0]])
    rep = np.array([[[0.0, 1.0], [1e-9, 1.0], [5.0, 5.0], [np.nan] * 2, [np.nan] * 2]])
    labels, periods, points = identify(period, rep)
    assert labels.tolist() == [[0, 0, 1, DIVERGED, UNSETTLED]]
    assert periods.tolist() == [1, 2]
    assert boundary(labels).tolist() == [[False, True, True, True, True]]


def test_result_round_trip_and_bad_input(tmp_path):
    rnn = RNN(3.0 * np.eye(2), None, None, "tanh", "pascanu")
    res = basins(rnn, nx=10)
    res.save(tmp_path / "b")
    back = load_result(tmp_path / "b")
    assert isinstance(back, BasinsResult)
    np.testing.assert_array_equal(back.labels, res.labels)
    assert back.label_counts() == res.label_counts()
    with pytest.raises(ValueError, match="xlim must be"):
        basins(rnn, xlim=(1, -1))
    with pytest.raises(ValueError, match="axes must be two different units"):
        basins(rnn, axes=(0, 0))
    with pytest.raises(ValueError, match="axes\\[1\\] must be <= 1"):
        basins(rnn, axes=(0, 2))
    with pytest.raises(ValueError, match="nx must be >= 2"):
        basins(rnn, nx=1)
    with pytest.raises(ValueError, match="base must have shape"):
        basins(rnn, base=[0.0])
    with pytest.raises(ValueError, match="more than max_attractors=256"):
        basins(RNN(np.eye(2), None, None, "linear", "pascanu"), nx=20)  # every cell fixed
    with pytest.raises(TypeError, match="tol must be a real number"):
        basins(rnn, tol=None)


def test_figure_recipe_renders_and_replots(tmp_path):
    from matplotlib.figure import Figure
    from rnndyn.figures import basins as recipe, registry
    assert registry.get(recipe.NAME) is recipe
    info = registry.render(recipe.NAME, tmp_path, params={"grid": 40})
    assert all((tmp_path / f"{recipe.NAME}.{e}").exists() for e in ("png", "npz", "json"))
    res = load_result(info["data"])
    assert res.labels.shape == (40, 40) and res.periods.tolist() == [1, 1, 2]
    fig = recipe.plot(res)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    (img,) = ax.images
    assert img.get_array().shape == (40, 40)
    # boundary cells are drawn in the first colour (black)
    assert np.all((np.asarray(img.get_array()) == -1) == res.boundary)
    assert len(ax.get_legend().get_texts()) == 3
    registry.render(recipe.NAME, tmp_path, fmt="svg", replot=True)
    assert (tmp_path / f"{recipe.NAME}.svg").exists()
