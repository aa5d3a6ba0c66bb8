"""One-neuron bifurcations: orbit kernel and classification vs naive twins, fixed points,
fold/flip points against closed forms, the (w, b) diagram, the basin boundary."""

import numpy as np
import pytest

import naive
from conftest import RTOL_EXACT, RTOL_KERNEL
from rnndyn import neuron
from rnndyn._kernels.orbit import _classify_orbits, _orbits
from rnndyn.activations import CODES
from rnndyn.bifurcation import (BifurcationDiagram, TwoParameterDiagram, bifurcation_diagram,
                                orbit_diagram, two_parameter_diagram)
from rnndyn.results import load_result

# _orbits' classification arguments when only the orbits are wanted (max_period 0)
NO_CLASS = (0.0, 0.0, 1.0, 0, np.zeros(0, dtype=np.int64))

# fold and flip points are asked for to 1e-10 (issue 4)
ATOL_BIFURCATION = 1e-10


def _tanh_fold_closed_form(w):
    x = np.arctanh(np.sqrt(1.0 - 1.0 / w))
    return x, x - w * np.tanh(x)


def _sigmoid_fold_closed_form(w):
    s = 0.5 * (1.0 + np.sqrt(1.0 - 4.0 / w))
    x = np.log(s / (1.0 - s))
    return x, x - w * s


# ------------------------------------------------------------------ kernels vs naive twins

@pytest.mark.parametrize("act", sorted(CODES))
def test_orbit_kernel_matches_naive(act, rng):
    P = 70  # more than one block of 64, and a partial block
    w = rng.uniform(-1.5, 1.5, P)
    b = rng.uniform(-1.0, 1.0, P)
    x0 = rng.uniform(-2.0, 2.0, P)
    for check_every in (0, 2, 5):
        X = np.empty((P, 12))
        _orbits(w, b, CODES[act], x0, 9, check_every, X, *NO_CLASS)
        np.testing.assert_allclose(X, naive.orbits(w, b, CODES[act], x0, 9, 12),
                                   rtol=RTOL_KERNEL, atol=1e-13)


def test_orbit_kernel_long_run_matches_naive_on_attractors(rng):
    # contracting orbits (stable fixed points and 2-cycles): agreement survives a long transient
    w = np.array([5.0, 5.0, -5.0, -0.5, 2.0, 0.9])
    b = np.array([1.0, -2.5, 0.3, 0.2, -0.7, 0.0])
    x0 = rng.uniform(-1.0, 1.0, w.size)
    for act in ("tanh", "sigmoid"):
        X = np.empty((w.size, 16))
        _orbits(w, b, CODES[act], x0, 400, 16, X, *NO_CLASS)
        np.testing.assert_allclose(X, naive.orbits(w, b, CODES[act], x0, 400, 16),
                                   rtol=RTOL_EXACT, atol=1e-14)


def test_orbit_kernel_matches_vectorised_numpy():
    # the benchmark's problem at a small size, and its 1e-12 agreement criterion
    P, T, R = 300, 300, 32
    b = np.linspace(-4.0, 4.0, P)
    w = np.full(P, 5.0)
    X = np.empty((P, R))
    _orbits(w, b, CODES["tanh"], np.zeros(P), T, 16, X, *NO_CLASS)
    x = np.zeros(P)
    for _ in range(T):
        x = w * np.tanh(x) + b
    ref = np.empty((P, R))
    for r in range(R):
        x = w * np.tanh(x) + b
        ref[:, r] = x
    np.testing.assert_allclose(X, ref, rtol=RTOL_EXACT, atol=0)


@pytest.mark.parametrize("act", sorted(CODES))
def test_exact_repeat_shortcut_changes_nothing(act, rng):
    # fixed points, 2-cycles, slow convergence near folds and flips, divergence to ±inf
    w = np.r_[5.0, -5.0, rng.uniform(-6.0, 6.0, 60), -1.0, 1.0, 2.0, -2.0, -1.0001, 0.9999]
    b = np.r_[0.3, 0.0, rng.uniform(-4.0, 4.0, 60), 0.0, 0.0, 0.5, 0.5, 0.0, -3.0285]
    x0 = np.r_[0.1, 0.2, rng.uniform(-3.0, 3.0, 60), 0.5, 0.5, 1.0, 1.0, 0.3, 0.0]
    T = 150
    for R in (2, 17):
        full = np.empty((w.size, R))
        with np.errstate(over="ignore", invalid="ignore"):
            _orbits(w, b, CODES[act], x0, T, 0, full, *NO_CLASS)
            for check_every in (1, 3, 16):
                fast = np.empty((w.size, R))
                _orbits(w, b, CODES[act], x0, T, check_every, fast, *NO_CLASS)
                np.testing.assert_array_equal(fast, full)
            # one point per call: each is its own block, so every orbit that reaches
            # an exact repeat takes the fill-in path
            for i in range(w.size):
                one = np.empty((1, R))
                _orbits(w[i:i + 1], b[i:i + 1], CODES[act], x0[i:i + 1], T, 3, one, *NO_CLASS)
                np.testing.assert_array_equal(one[0], full[i])


def test_classify_matches_naive(rng):
    R = 40
    t = np.arange(R)
    rows = [np.full(R, 0.3),                                 # fixed point
            np.where(t % 2 == 0, 1.0, -1.0),                 # period 2
            np.array([0.1, 0.5, 0.9] * 14)[:R],              # period 3
            rng.standard_normal(R),                          # aperiodic
            np.full(R, 2e10),                                # beyond escape
            np.r_[np.ones(R - 1), np.inf],                   # overflow
            np.r_[np.ones(5), np.nan, np.ones(R - 6)],       # NaN
            0.3 + 1e-3 * 0.5 ** t,                           # still converging
            np.where(t % 2 == 0, 1.0, 1.0 + 1e-13)]          # a fixed point within tolerance
    X = np.ascontiguousarray(np.array(rows))
    period = np.empty(len(rows), dtype=np.int64)
    _classify_orbits(X, 1e-9, 1e-12, 1e10, 8, period)
    np.testing.assert_array_equal(period, naive.classify_orbits(X, 1e-9, 1e-12, 1e10, 8))
    np.testing.assert_array_equal(period, [1, 2, 3, 0, -1, -1, -1, 0, 1])


# ------------------------------------------------------------------ orbit diagram

def test_orbit_diagram_classifies_fixed_points_cycles_and_divergence():
    o = orbit_diagram([5.0, -5.0, 2.0, 0.5, -1.0], 0.1, activation="linear", x0=1.0,
                      n_transient=200, n_record=16)
    assert o.orbits.shape == (1, 5, 16)
    # linear: |w| > 1 diverges (here to inf), |w| < 1 converges, w = −1 is a 2-cycle
    np.testing.assert_array_equal(o.period[0], [-1, -1, -1, 1, 2])
    t = orbit_diagram(-5.0, [0.0, 1.0], activation="tanh", x0=[0.3, -0.2])
    assert t.period.shape == (2, 2) and np.all(t.period == 2)
    # the 2-cycle of x ← −5 tanh(x): ±a with a = 5 tanh(a)
    a = np.abs(t.orbits[0, 0, -1])
    assert abs(a - 5.0 * np.tanh(a)) < 1e-12


def test_orbit_diagram_reaches_both_stable_branches():
    b = np.linspace(-2.6, -2.4, 21)                    # inside the sigmoid's bistable range
    d = bifurcation_diagram(5.0, b, activation="sigmoid", x0=(-5.0, 5.0))
    assert np.all(d.period == 1)
    low, high = d.orbits[0, :, -1], d.orbits[1, :, -1]
    np.testing.assert_allclose(low, d.fixed_points[:, 0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(high, d.fixed_points[:, 2], rtol=1e-9, atol=1e-12)
    assert np.all(d.stable[:, [0, 2]]) and not np.any(d.stable[:, 1])
    np.testing.assert_array_equal(d.boundary, d.fixed_points[:, 1])


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="activation"):
        orbit_diagram(1.0, 0.0, activation="softplus")
    with pytest.raises(ValueError, match="activation"):
        neuron.fixed_points(1.0, 0.0, "relu")
    with pytest.raises(ValueError, match="same length"):
        orbit_diagram([1.0, 2.0], [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="n_record"):
        orbit_diagram(1.0, 0.0, n_record=1)
    with pytest.raises(TypeError, match="n_transient"):
        orbit_diagram(1.0, 0.0, n_transient=2.5)
    with pytest.raises(ValueError, match="w"):
        orbit_diagram(np.nan, 0.0)
    with pytest.raises(ValueError, match="one parameter"):
        bifurcation_diagram([1.0, 2.0], [0.0, 1.0])
    with pytest.raises(ValueError, match="exactly one"):
        neuron.bifurcation_points(1.0, 0.0)


# ------------------------------------------------------------------ fixed points

def test_critical_points_match_closed_forms():
    w = np.array([1.0, 1.0 + 1e-12, 1.5, 5.0, 100.0, 1e8])
    np.testing.assert_allclose(neuron.critical_points(w, "tanh"), np.arctanh(np.sqrt(1 - 1 / w)),
                               rtol=1e-9, atol=1e-15)
    ws = 4.0 * w
    np.testing.assert_allclose(neuron.critical_points(ws, "sigmoid"),
                               _sigmoid_fold_closed_form(ws)[0], rtol=1e-9, atol=1e-15)
    assert np.all(np.isnan(neuron.critical_points([0.99, -5.0, 0.0], "tanh")))
    assert np.isnan(neuron.critical_points(3.9, "sigmoid"))


def _count_roots_dense(w, b, act):
    """Sign changes of x − w σ(x) − b on a dense grid of the absorbing interval."""
    lo, hi = (b - abs(w), b + abs(w)) if act == "tanh" else (b + min(w, 0), b + max(w, 0))
    x = np.linspace(lo - 1e-9, hi + 1e-9, 200001)
    g = x - w * neuron._s(act, x) - b
    return int(np.sum(np.signbit(g[1:]) != np.signbit(g[:-1])))


@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
def test_fixed_points_are_all_roots_without_duplicates(act, rng):
    scale = 1.0 if act == "tanh" else 4.0
    w = scale * rng.uniform(-3.0, 8.0, 60)
    b = scale * rng.uniform(-4.0, 4.0, 60) - (2.0 if act == "sigmoid" else 0.0) * (w / 4)
    fp = neuron.fixed_points(w, b, act)
    for i in range(w.size):
        xs = fp.x[i, :fp.n[i]]
        assert np.all(np.isnan(fp.x[i, fp.n[i]:]))
        assert np.all(np.diff(xs) > 0)                       # sorted, distinct
        resid = xs - w[i] * neuron._s(act, xs) - b[i]
        assert np.all(np.abs(resid) <= 8 * np.spacing(np.abs(xs) + abs(b[i]) + abs(w[i])))
        assert fp.n[i] == _count_roots_dense(w[i], b[i], act), (w[i], b[i])
    # multiplier = derivative of the map, by central differences
    h = 1e-6
    x = np.where(np.isfinite(fp.x), fp.x, 0.0)
    fd = (w[:, None] * (neuron._s(act, x + h) - neuron._s(act, x - h))) / (2 * h)
    ok = np.isfinite(fp.x)
    np.testing.assert_allclose(fp.multiplier[ok], fd[ok], rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(fp.stable[ok], np.abs(fp.multiplier[ok]) < 1)


def test_fixed_point_count_at_and_around_a_fold():
    x_c, b_fold = _tanh_fold_closed_form(5.0)
    fp = neuron.fixed_points(5.0, [b_fold - 1e-3, b_fold + 1e-3, 0.0, -b_fold - 1e-3,
                                   -b_fold + 1e-3], "tanh")
    # b_fold is the local min of h (b < 0): below it one root, above it three
    np.testing.assert_array_equal(fp.n, [1, 3, 3, 3, 1])
    assert np.isnan(fp.boundary[0]) and fp.boundary[2] == 0.0
    # exactly on the fold (as computed): the double root is reported once
    fold_b = neuron.bifurcation_points(5.0, (-4.0, 0.0), "tanh")[0]["b"]
    at = neuron.fixed_points(5.0, fold_b, "tanh")
    assert at.n[0] in (2, 3)
    assert np.all(np.diff(at.x[0, :at.n[0]]) > 0)


# ------------------------------------------------------------------ fold and flip points

def test_tanh_folds_at_w5_match_closed_form():
    pts = neuron.bifurcation_points(5.0, (-4.0, 4.0), "tanh")
    assert [p["type"] for p in pts] == ["fold", "fold"]
    x_c, b_c = _tanh_fold_closed_form(5.0)     # x_c > 0, b_c < 0
    assert abs(pts[0]["b"] - b_c) < ATOL_BIFURCATION and abs(pts[0]["x"] - x_c) < ATOL_BIFURCATION
    assert abs(pts[1]["b"] + b_c) < ATOL_BIFURCATION and abs(pts[1]["x"] + x_c) < ATOL_BIFURCATION
    assert round(pts[1]["b"], 4) == 3.0285 and round(pts[1]["x"], 4) == -1.4436
    for p in pts:
        assert abs(p["multiplier"] - 1.0) < 1e-12


def test_sigmoid_folds_at_w5_match_closed_form():
    pts = neuron.bifurcation_points(5.0, (-4.0, 0.0), "sigmoid")
    x_c, b_c = _sigmoid_fold_closed_form(5.0)
    assert [round(p["b"], 4) for p in pts] == [-2.6556, -2.3444]
    assert abs(pts[0]["b"] - b_c) < ATOL_BIFURCATION and abs(pts[0]["x"] - x_c) < ATOL_BIFURCATION
    # the other fold: x = −x_c, b = −x_c − 5 σ(−x_c)
    b_other = -x_c - 5.0 / (1.0 + np.exp(x_c))
    assert abs(pts[1]["b"] - b_other) < ATOL_BIFURCATION


def test_fold_is_the_extremum_of_h_in_high_precision():
    mpmath = pytest.importorskip("mpmath", reason="high-precision check of the fold point")
    mpmath.mp.dps = 40
    for act, w in (("tanh", 5.0), ("tanh", 1.0001), ("sigmoid", 5.0), ("sigmoid", 40.0)):
        for p in neuron.bifurcation_points(w, (-50.0, 50.0), act):
            x = mpmath.mpf(p["x"])
            s = mpmath.tanh(x) if act == "tanh" else 1 / (1 + mpmath.exp(-x))
            ds = 1 - s ** 2 if act == "tanh" else s * (1 - s)
            # h'(x) = 1 − w σ'(x) = 0 locates x; b = h(x) to 1e-10
            x_true = mpmath.findroot(
                lambda y: 1 - w * (1 - mpmath.tanh(y) ** 2 if act == "tanh"
                                   else mpmath.exp(-y) / (1 + mpmath.exp(-y)) ** 2), x)
            assert abs(float(x_true) - p["x"]) < ATOL_BIFURCATION, (act, w, p)
            assert abs(float(x - w * s) - p["b"]) < ATOL_BIFURCATION
            assert abs(float(w * ds) - 1.0) < 1e-12


def test_tanh_flip_at_w_minus_1_b_0():
    pts = neuron.bifurcation_points(-1.0, (-1.0, 1.0), "tanh")
    assert len(pts) == 1
    p = pts[0]
    assert p["type"] == "flip" and p["w"] == -1.0 and abs(p["b"]) < ATOL_BIFURCATION
    assert abs(p["x"]) < ATOL_BIFURCATION and abs(p["multiplier"] + 1.0) < 1e-12
    q = neuron.bifurcation_points((-3.0, 3.0), 0.0, "tanh")
    flips = [r for r in q if r["type"] == "flip"]
    assert len(flips) == 1 and abs(flips[0]["w"] + 1.0) < ATOL_BIFURCATION
    # beyond the flip the orbit is a 2-cycle, before it a fixed point
    o = orbit_diagram([-0.9, -1.1], 0.0, activation="tanh", x0=0.5, n_transient=20000)
    np.testing.assert_array_equal(o.period[0], [1, 2])


@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
def test_w_sweep_points_lie_on_the_curves_and_agree_with_b_sweep(act):
    # b values away from the flip curve's turning point ((−1, 0) tanh, (−4, 2) sigmoid),
    # where b ∝ ±√(|w| − 1/γ) makes b an ill-conditioned function of w
    b_values = [-3.0, -2.5, -2.0 - 1e-6, 0.7] if act == "sigmoid" else [-1.0, 0.3, 0.0, 2.0]
    for b in b_values:
        pts = neuron.bifurcation_points((-60.0, 60.0), b, act)
        assert pts, b
        for p in pts:
            m = p["w"] * float(neuron._ds(act, p["x"]))
            assert abs(m - (-1.0 if p["type"] == "flip" else 1.0)) < 1e-12
            assert abs(p["x"] - p["w"] * float(neuron._s(act, p["x"])) - b) < 1e-10 * (1 + abs(b))
            # the b-sweep at that w meets the same point
            back = neuron.bifurcation_points(p["w"], (b - 1.0, b + 1.0), act)
            assert min(abs(q["b"] - b) for q in back) < ATOL_BIFURCATION


def test_cusp_and_curves():
    assert neuron.cusp("tanh") == {"x": 0.0, "w": 1.0, "b": 0.0}
    assert neuron.cusp("sigmoid") == {"x": 0.0, "w": 4.0, "b": -2.0}
    x = np.linspace(-3.0, 3.0, 61)
    for act in ("tanh", "sigmoid"):
        w, b = neuron.fold_curve(x, act)
        np.testing.assert_allclose(w * neuron._ds(act, x), 1.0, rtol=1e-13)
        np.testing.assert_allclose(x - w * neuron._s(act, x), b, rtol=1e-12, atol=1e-13)
        w, b = neuron.flip_curve(x, act)
        np.testing.assert_allclose(w * neuron._ds(act, x), -1.0, rtol=1e-13)
        np.testing.assert_allclose(x - w * neuron._s(act, x), b, rtol=1e-12, atol=1e-13)
    # the cusp: both coordinates of the fold curve are stationary in x*
    h = 1e-4
    for act in ("tanh", "sigmoid"):
        w, b = neuron.fold_curve(np.array([-h, 0.0, h]), act)
        assert abs(w[2] - w[0]) / (2 * h) < 1e-3 and abs(b[2] - b[0]) / (2 * h) < 1e-3


# ------------------------------------------------------------------ (w, b) diagram

@pytest.mark.slow
@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
def test_two_parameter_census_matches_analytic_counts(act):
    w = np.linspace(-10.0, 10.0, 41)
    b = np.linspace(-8.0, 4.0, 31) if act == "sigmoid" else np.linspace(-6.0, 6.0, 31)
    d = two_parameter_diagram(w, b, activation=act, n_initial=6, n_transient=1500, n_record=16)
    assert d.n_fixed.shape == (41, 31)
    resolved = d.n_other == 0
    assert resolved.mean() > 0.95
    np.testing.assert_array_equal(d.n_fixed[resolved], d.n_stable_fixed[resolved])
    assert np.all(d.n_divergent == 0)
    # no stable fixed point ⇔ a stable 2-cycle (tanh and sigmoid neurons have no other attractor)
    np.testing.assert_array_equal((d.n_period2 > 0)[resolved], (d.n_stable_fixed == 0)[resolved])
    assert "2 fixed points" in d.region_names and "1 period-2 cycle" in d.region_names
    for i, name in enumerate(d.region_names):
        cells = d.region == i
        assert cells.any()
        if name == "2 fixed points":
            assert np.all(d.n_fixed[cells] == 2)
    c = neuron.cusp(act)
    assert d.cusp == c
    # bistable cells lie inside the cusp's wedge: w > 1/γ
    assert np.all(np.broadcast_to(w[:, None], d.n_fixed.shape)[d.n_stable_fixed == 2] > c["w"])


def test_two_parameter_census_small_grid():
    # the fast version of the census check (runs with the JIT off too)
    w = np.array([-6.0, -0.5, 0.5, 5.0])
    b = np.array([-1.0, 0.0, 0.5])
    d = two_parameter_diagram(w, b, activation="tanh", n_initial=4, n_transient=300, n_record=8)
    np.testing.assert_array_equal(d.n_stable_fixed, [[0, 0, 0], [1, 1, 1], [1, 1, 1], [2, 2, 2]])
    np.testing.assert_array_equal(d.n_fixed, d.n_stable_fixed)
    np.testing.assert_array_equal(d.n_period2, [[1, 1, 1], [0, 0, 0], [0, 0, 0], [0, 0, 0]])
    assert sorted(d.region_names) == ["1 fixed point", "1 period-2 cycle", "2 fixed points"]
    assert d.fold_w.shape == d.fold_b.shape == d.fold_x.shape


def test_results_round_trip(tmp_path):
    d = bifurcation_diagram(5.0, np.linspace(-3.0, -2.0, 11), activation="sigmoid",
                            n_transient=50, n_record=8)
    d.save(tmp_path / "bif")
    e = load_result(tmp_path / "bif")
    assert isinstance(e, BifurcationDiagram) and e.bifurcations == d.bifurcations
    np.testing.assert_array_equal(e.fixed_points, d.fixed_points)
    np.testing.assert_array_equal(e.values, d.b)
    t = two_parameter_diagram([1.0, 5.0], [0.0, 1.0], n_transient=50, n_record=8, n_curve=11)
    t.save(tmp_path / "two")
    u = load_result(tmp_path / "two")
    assert isinstance(u, TwoParameterDiagram) and u.region_names == t.region_names
    np.testing.assert_array_equal(u.region, t.region)


# ------------------------------------------------------------------ basin boundary

def test_boundary_curve_is_the_wall_of_the_paper():
    b, on = neuron.boundary_curve(0.5, [4.0, 5.0], "sigmoid")
    assert not on[0] and on[1]
    assert round(b[1], 4) == -2.6123
    fp = neuron.fixed_points(5.0, b[1], "sigmoid")
    assert fp.n[0] == 3 and abs(fp.boundary[0] - 0.5) < 1e-12
    # either side of the wall, trajectories from x0 = 0.5 go to different branches
    o = orbit_diagram(5.0, [b[1] - 1e-6, b[1] + 1e-6], activation="sigmoid", x0=0.5,
                      n_transient=400, n_record=4)
    low, high = o.orbits[0, :, -1]
    assert abs(low - fp.x[0, 0]) < 1e-3 and abs(high - fp.x[0, 2]) < 1e-3
    # onset of the wall: w σ'(x0) = 1
    s = 1.0 / (1.0 + np.exp(-0.5))
    w_on = 1.0 / (s * (1.0 - s))
    _, on = neuron.boundary_curve(0.5, [w_on * (1 - 1e-9), w_on * (1 + 1e-9)], "sigmoid")
    np.testing.assert_array_equal(on, [False, True])


# ------------------------------------------------------------------ figures

def test_figure_recipes_compute_and_plot_small():
    from rnndyn.figures import registry
    from rnndyn.figures.style import style_context
    small = {"neuron-bifurcation": {"b": [-3.0, -2.0, 41], "n_transient": 100, "n_record": 4},
             "neuron-wb-tanh": {"w": [-4.0, 6.0, 11], "b": [-4.0, 4.0, 9], "n_initial": 3,
                                "n_transient": 100, "n_record": 4},
             "neuron-wb-sigmoid": {"w": [-8.0, 8.0, 9], "b": [-6.0, 4.0, 7], "n_initial": 3,
                                   "n_transient": 100, "n_record": 4},
             "basin-crossing": {"n_steps": 100}}
    table = registry.recipes()
    for name, params in small.items():
        recipe = table[name]
        assert "seed" in recipe.DEFAULTS
        result = recipe.compute(registry.merge_params(recipe, params))
        with style_context():
            fig = recipe.plot(result)
        ax = fig.axes[0]
        labels = [ln.get_label() for ln in ax.get_lines()]
        if name == "neuron-bifurcation":
            assert "stable fixed point" in labels and "basin boundary (unstable)" in labels
            dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
            np.testing.assert_array_equal(dashed[0].get_ydata(), result.boundary)
            assert sum(t.get_text().startswith("fold") for t in ax.texts) == 2
        elif name.startswith("neuron-wb"):
            assert any(lbl.startswith("cusp") for lbl in labels)
            assert any(lbl.startswith("fold") for lbl in labels)
            assert any(lbl.startswith("flip") for lbl in labels)
            assert len(ax.get_images()) == 1
        else:
            assert len(fig.axes) == 2
            ends = [ln.get_ydata()[-1] for ln in ax.get_lines()[:2]]
            np.testing.assert_allclose(sorted(ends), result.stable, rtol=1e-6)


def test_basin_crossing_separates_at_the_multiplier_rate():
    from rnndyn.bifurcation import basin_crossing
    r = basin_crossing(5.0, -2.4, activation="sigmoid", delta=1e-7, n_steps=600)
    fp = neuron.fixed_points(5.0, -2.4, "sigmoid")
    assert r.boundary == fp.boundary[0] and r.multiplier > 1.0
    np.testing.assert_allclose(r.x[:, 0], [r.boundary - 1e-7, r.boundary + 1e-7], rtol=0,
                               atol=1e-15)
    # the two end on the two stable fixed points
    np.testing.assert_allclose(r.x[:, -1], fp.x[0, [0, 2]], rtol=1e-9)
    # early on, the separation and the derivative grow like m^t
    t = np.arange(11)
    sep = (r.x[1, t] - r.x[0, t]) / 2e-7
    np.testing.assert_allclose(sep, r.multiplier ** t, rtol=1e-4)
    np.testing.assert_allclose(r.dxdx0[:, t], np.broadcast_to(r.multiplier ** t, (2, 11)),
                               rtol=1e-4)
    assert np.all(np.abs(r.dxdx0[:, -1]) < 1e-3)   # and vanishes on the attractor
    with pytest.raises(ValueError, match="not bistable"):
        basin_crossing(0.5, 0.0, activation="tanh")
    with pytest.raises(ValueError, match="delta"):
        basin_crossing(delta=0.0)


@pytest.mark.parametrize("act, w, b", [("tanh", 1.0, 0.0), ("sigmoid", 4.0, -2.0)])
def test_the_cusp_is_labelled_a_pitchfork(act, w, b):
    # at w = 1/σ'(0) the odd symmetric map splits x* = 0 into two stable points
    along_b = neuron.bifurcation_points(w, (b - 1.0, b + 1.0), act)
    along_w = neuron.bifurcation_points((w - 0.5, w + 2.0), b, act)
    for pts in (along_b, along_w):
        assert [p["type"] for p in pts] == ["pitchfork"]
        assert abs(pts[0]["w"] - w) < 1e-12 and abs(pts[0]["b"] - b) < 1e-12
    # away from the cusp the same sweep finds folds
    assert {p["type"] for p in neuron.bifurcation_points(w * 1.5, (b - 3, b + 3), act)} == {"fold"}


def test_fused_classification_matches_the_separate_pass(rng):
    # _orbits classifies each block in cache: the same periods as _classify_orbits and
    # the naive twin, on orbits of every kind (fixed points, 2-cycles, divergence)
    P = 1000
    w = np.ascontiguousarray(rng.uniform(-8.0, 8.0, P))
    b = np.ascontiguousarray(rng.uniform(-4.0, 4.0, P))
    x0 = np.ascontiguousarray(rng.uniform(-2.0, 2.0, P))
    # T = 0 and 5: the exact-repeat exit (whose tail the classification skips) falls
    # inside the recorded window, at different offsets per block
    for act, T, check in [("tanh", 50, 16), ("tanh", 0, 1), ("tanh", 5, 3),
                          ("sigmoid", 0, 2), ("linear", 50, 16)]:
        X = np.empty((P, 40))
        period = np.empty(P, dtype=np.int64)
        with np.errstate(over="ignore", invalid="ignore"):
            _orbits(w, b, CODES[act], x0, T, check, X, 1e-9, 1e-12, 1e10, 8, period)
        sep = np.empty(P, dtype=np.int64)
        _classify_orbits(X, 1e-9, 1e-12, 1e10, 8, sep)
        np.testing.assert_array_equal(period, sep)
        with np.errstate(over="ignore", invalid="ignore"):
            np.testing.assert_array_equal(period, naive.classify_orbits(X, 1e-9, 1e-12, 1e10, 8))
