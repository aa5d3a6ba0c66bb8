"""The one-neuron error surface (rnndyn.surface): kernels vs naive twins, the gradient vs
finite differences and torch, the wall, the refinement, and clipping at the wall."""

import numpy as np
import pytest

import naive
from conftest import FD_STEP, RTOL_AUTODIFF, RTOL_EXACT, RTOL_FD, RTOL_KERNEL
from rnndyn._kernels import surface as K
from rnndyn.activations import CODES
from rnndyn.results import load_result
from rnndyn.surface import (DescentResult, SurfaceResult, descend, error_surface,
                            loss_and_grad, refine_jumps, wall, wall_min_w, wall_step_stats)

SIG = CODES["sigmoid"]
B_STAR_5 = 0.5 - 5.0 * 0.5 * (1.0 + np.tanh(0.25))  # b*(w = 5) = x0 − w σ(x0)

# Measured values (T = 50, sigmoid, x0 = 0.5, target 0.7, w = 5); they are properties of
# the model, so the tolerance is on the printed digits, not a numerical one.
DIGITS = 5e-6
SATURATED_ATOL = 1e-13
# Inside the wall's layer, rounding of x_t is amplified by up to (w σ'(x0))^T (about 1e9
# at w = 6.5, T = 50), so two correct evaluations in different order agree less closely.
RTOL_WALL = 1e-8


def _points(rng, n):
    """Random (w, b) plus points within 1e-3 of the wall, where gradients are ~1e3."""
    w = np.concatenate([rng.uniform(-3.0, 8.0, n), [5.0, 5.0, 6.0, 6.0]])
    b = np.concatenate([rng.uniform(-5.0, 1.0, n),
                        [B_STAR_5 - 1e-5, B_STAR_5 + 1e-4, wall(6.0) - 1e-3, wall(6.0) + 3e-5]])
    return w, b


# ---------------------------------------------------------------- kernels vs naive twins

@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu", "linear"])
def test_points_kernel_matches_naive_bptt(rng, act):
    w, b = _points(rng, 16)
    if act == "linear":  # keep |w| < 1 so the linear map does not overflow over 50 steps
        w = np.clip(w, -0.9, 0.9)
    out = np.empty((w.size, 4))
    K._surface_points(w, b, 0.5, 50, 0.7, CODES[act], out)
    ref = naive.surface_points(w, b, 0.5, 50, 0.7, CODES[act])
    # In saturation σ' = 1 − tanh² cancels: one ulp of tanh (numba's vs NumPy's) is a
    # relative 1e-8 of a gradient that is itself ~1e-8, so tiny gradients get an atol.
    np.testing.assert_allclose(out, ref, rtol=RTOL_KERNEL, atol=SATURATED_ATOL)


def test_public_loss_and_grad_broadcasts(rng):
    w, b = _points(rng, 6)
    L, gw, gb, xT = loss_and_grad(w[:, None], b[None, :])
    assert L.shape == gw.shape == gb.shape == xT.shape == (w.size, b.size)
    ref = naive.surface_loss_grad(w[3], b[5], 0.5, 50, 0.7, SIG)
    np.testing.assert_allclose([L[3, 5], gw[3, 5], gb[3, 5], xT[3, 5]], ref, rtol=RTOL_KERNEL)
    L0 = loss_and_grad(5.0, -2.6)[0]
    assert np.ndim(L0) == 0


@pytest.mark.parametrize("clip", [0, 1, 2])
def test_descend_kernel_matches_naive(clip):
    starts = np.array([[6.0, -3.0], [5.0, B_STAR_5 - 1e-5], [4.0, -1.0]])
    out = np.empty((3, 13, 5))
    K._descend(starts[:, 0].copy(), starts[:, 1].copy(), 0.5, 50, 0.7, SIG, 0.3, clip, 0.5, out)
    ref = naive.surface_descend(starts[:, 0], starts[:, 1], 0.5, 50, 0.7, SIG, 0.3, clip, 0.5, 12)
    np.testing.assert_allclose(out, ref, rtol=RTOL_KERNEL, atol=1e-300)


def test_bisect_kernel_matches_naive(rng):
    w = np.array([4.0, 5.0, 6.0, 6.5])
    w0, b0 = w.copy(), np.array([-2.0, -2.7, -3.3, -3.6])
    w1, b1 = w.copy(), np.array([-1.8, -2.5, -3.1, -3.4])
    ref_pts, ref_br = naive.surface_bisect(w0, b0, w1, b1, 0.5, 50, 0.7, SIG, 1e-6, 30)
    pts = np.zeros((4, 30, 5))
    count = np.zeros(4)
    br = np.zeros((4, 4))
    K._bisect_jumps(w0, b0, w1, b1, 0.5, 50, 0.7, SIG, 1e-6, pts, count, br)
    np.testing.assert_allclose(br, ref_br, rtol=RTOL_KERNEL)
    for k in range(4):
        c = int(count[k])
        assert c == len(ref_pts[k]) == 18  # ceil(log2(0.2 / 1e-6))
        np.testing.assert_allclose(pts[k, :c, :3], ref_pts[k][:, :3], rtol=RTOL_KERNEL)
        np.testing.assert_allclose(pts[k, :c, 3:], ref_pts[k][:, 3:], rtol=RTOL_WALL)


# ---------------------------------------------------------------- the gradient itself

def test_gradient_matches_central_differences(rng):
    w = rng.uniform(3.0, 7.0, 12)
    b = rng.uniform(-4.5, -1.0, 12)
    far = ~(np.abs(b - wall(w)) < 0.05)  # NaN (no wall) counts as far
    w, b = w[far], b[far]
    assert w.size >= 6
    L, gw, gb, _ = loss_and_grad(w, b)
    h = FD_STEP
    fw = (loss_and_grad(w + h, b)[0] - loss_and_grad(w - h, b)[0]) / (2 * h)
    fb = (loss_and_grad(w, b + h)[0] - loss_and_grad(w, b - h)[0]) / (2 * h)
    # relative to the gradient's norm: a component near zero has no relative accuracy
    scale = np.hypot(gw, gb)
    assert np.all(np.abs(fw - gw) <= RTOL_FD * scale), np.abs(fw - gw) / scale
    assert np.all(np.abs(fb - gb) <= RTOL_FD * scale), np.abs(fb - gb) / scale


@pytest.mark.torch
def test_gradient_matches_torch_autodiff(rng):
    torch = pytest.importorskip("torch", reason="torch is the autodiff oracle")
    w, b = _points(rng, 10)
    L, gw, gb, _ = loss_and_grad(w, b)
    for i in range(w.size):
        wt = torch.tensor(w[i], dtype=torch.float64, requires_grad=True)
        bt = torch.tensor(b[i], dtype=torch.float64, requires_grad=True)
        x = torch.tensor(0.5, dtype=torch.float64)
        for _ in range(50):
            x = wt * torch.sigmoid(x) + bt
        loss = (torch.sigmoid(x) - 0.7) ** 2
        loss.backward()
        np.testing.assert_allclose([L[i], gw[i], gb[i]],
                                   [loss.item(), wt.grad.item(), bt.grad.item()],
                                   rtol=RTOL_AUTODIFF, err_msg=f"at (w, b) = ({w[i]}, {b[i]})")


@pytest.mark.torch
def test_norm_clipping_is_clip_grad_norm(rng):
    torch = pytest.importorskip("torch", reason="torch is the reference of clip_grad_norm_")
    g = rng.standard_normal((40, 2)) * 10.0 ** rng.uniform(-3, 4, (40, 1))
    g[:4] = [[0.3, 0.4], [0.3, 0.4 + 1e-7], [3e3, -4e3], [0.0, 0.0]]  # at, just over the threshold
    for thr in (0.5, 1.0):
        for gw, gb in g:
            p = torch.zeros(2, dtype=torch.float64, requires_grad=True)
            p.grad = torch.tensor([gw, gb], dtype=torch.float64)
            total = torch.nn.utils.clip_grad_norm_([p], thr)
            cw, cb, clipped = K._clip2(gw, gb, K.NORM_CLIP, thr)
            np.testing.assert_allclose([cw, cb], p.grad.numpy(), rtol=RTOL_EXACT, atol=0.0)
            assert clipped == (thr / (total.item() + 1e-6) < 1.0)


@pytest.mark.torch
def test_clipped_descent_step_equals_torch_sgd():
    torch = pytest.importorskip("torch", reason="torch is the autodiff and clipping oracle")
    start = (5.0, B_STAR_5 - 1e-5)
    for clip, thr in (("none", 0.5), ("norm", 0.5), ("value", 0.5)):
        p = torch.tensor(start, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.SGD([p], lr=0.3)
        for _ in range(3):
            opt.zero_grad()
            x = torch.tensor(0.5, dtype=torch.float64)
            for _ in range(50):
                x = p[0] * torch.sigmoid(x) + p[1]
            ((torch.sigmoid(x) - 0.7) ** 2).backward()
            if clip == "norm":
                torch.nn.utils.clip_grad_norm_([p], thr)
            elif clip == "value":
                torch.nn.utils.clip_grad_value_([p], thr)
            opt.step()
        r = descend([start], lr=0.3, steps=3, clip=clip, threshold=thr)
        np.testing.assert_allclose([r.w[0, -1], r.b[0, -1]], p.detach().numpy(),
                                   rtol=RTOL_AUTODIFF, err_msg=clip)


# ---------------------------------------------------------------- the wall

def test_analytic_wall():
    assert wall(5.0) == pytest.approx(-2.6122967, abs=1e-7)
    assert B_STAR_5 == pytest.approx(float(wall(5.0)), rel=RTOL_EXACT)
    np.testing.assert_allclose(wall([5.0, 7.0]), 0.5 - 0.6224593 * np.array([5.0, 7.0]),
                               atol=1e-6)
    assert wall_min_w() == pytest.approx(4.2552519, abs=1e-7)  # 1/σ'(0.5), not 4
    assert np.isnan(wall(4.25)) and np.isfinite(wall(4.26))
    assert np.isnan(wall(-5.0))
    # tanh: 1/tanh'(0.5) = 1.2715
    assert wall_min_w(activation="tanh") == pytest.approx(1.0 / (1 - np.tanh(0.5) ** 2))


def test_wall_is_the_basin_boundary():
    """x0 is a fixed point on the wall; just off it the trajectory leaves to either basin."""
    w = np.array([4.5, 5.0, 6.0, 7.0])
    bw = wall(w)
    x1 = loss_and_grad(w, bw, n_steps=1)[3]
    np.testing.assert_allclose(x1, 0.5, rtol=RTOL_EXACT)
    lo = loss_and_grad(w, bw - 1e-6, n_steps=2000)[3]
    hi = loss_and_grad(w, bw + 1e-6, n_steps=2000)[3]
    assert np.all(lo < 0.5 - 0.3) and np.all(hi > 0.5 + 0.3)
    # both are fixed points: one more step does not move them
    np.testing.assert_allclose(loss_and_grad(w, bw - 1e-6, n_steps=2001)[3], lo, rtol=1e-9)


def test_loss_jumps_across_the_wall_at_w5():
    L = lambda d, T=50: float(loss_and_grad(5.0, B_STAR_5 + d, n_steps=T)[0])  # noqa: E731
    # measured: 0.34 -> 0.0085 at 3e-4 either side (design.md's numbers), 0.0100 at 1e-3
    assert L(-3e-4) == pytest.approx(0.341227, abs=DIGITS)
    assert L(+3e-4) == pytest.approx(0.008502, abs=DIGITS)
    assert L(-1e-3) == pytest.approx(0.341649, abs=DIGITS)
    assert L(+1e-3) == pytest.approx(0.010047, abs=DIGITS)
    # the limits are the losses of the two stable fixed points at b*
    assert L(-1e-6, 2000) == pytest.approx(0.341407, abs=DIGITS)
    assert L(+1e-6, 2000) == pytest.approx(0.010224, abs=DIGITS)
    # on the wall x stays at x0: L = (σ(0.5) − 0.7)²
    assert L(0.0) == pytest.approx((0.5 * (1 + np.tanh(0.25)) - 0.7) ** 2, rel=RTOL_KERNEL)


def test_gradient_norm_at_the_wall_is_1e3_to_1e5():
    d = np.array([-1e-2, -1e-4, -5e-5, -1e-5, 1e-5, 1e-2])
    _, gw, gb, _ = loss_and_grad(5.0, B_STAR_5 + d)
    g = np.hypot(gw, gb)
    np.testing.assert_allclose(g, [0.2395, 959.1, 6551, 1697, 302.6, 0.1930], rtol=1e-3)
    ref = refine_jumps([5.0], [-2.7], [5.0], [-2.5], tol=1e-7)
    assert 1e3 < ref["grad_norm"].max() < 1e5


@pytest.mark.parametrize("n_steps, tol, ws", [
    (50, 1e-5, [5.5, 6.0, 6.5, 7.0]),
    (200, 1e-9, [5.0, 5.5, 6.0, 6.5, 7.0]),
])
def test_refinement_finds_the_analytic_wall(n_steps, tol, ws):
    r = error_surface(np.array(ws), np.linspace(-4.5, -1.0, 36), n_steps=n_steps, tol=tol,
                      starts=[], path_steps=0)
    assert np.array_equal(np.sort(r.jump_w), np.array(ws))  # one jump per column
    assert np.all(r.jump_width <= tol)
    assert np.all(np.abs(r.jump_wall_offset) <= tol)
    assert np.all(r.jump_size > 0.01)


def test_refinement_at_w5_t50_finds_the_steepest_point_of_the_layer():
    """At w = 5, T = 50 the jump is a layer ~1e-4 wide, steepest 4.5e-5 below b*."""
    ref = refine_jumps([5.0], [-2.7], [5.0], [-2.5], tol=1e-8)
    off = ref["jump_b"][0] - B_STAR_5
    assert off == pytest.approx(-4.5e-5, abs=0.2e-5)
    assert ref["jump_width"][0] <= 1e-8


def test_refined_jump_approaches_the_wall_like_lambda_to_the_minus_t():
    """The located jump sits (0.81-0.88)·(λ − 1)λ^-T below b*, λ = w σ'(x0) (measured)."""
    lam = 5.0 * 0.5 * (1 + np.tanh(0.25)) * 0.5 * (1 - np.tanh(0.25))
    for T in (50, 60, 70, 80):
        ref = refine_jumps([5.0], [-2.7], [5.0], [-2.5], tol=1e-12, n_steps=T)
        ratio = (B_STAR_5 - ref["jump_b"][0]) / ((lam - 1) * lam ** -T)
        assert 0.75 < ratio < 0.95, (T, ratio)


def test_slice_along_w_refines_along_w():
    r = error_surface(np.linspace(4.0, 6.0, 21), -2.6, starts=[], path_steps=0, tol=1e-6)
    assert r.loss.shape == (21, 1) and r.is_slice
    assert r.jump_w.size == 1
    w_cross = (0.5 + 2.6) / (0.5 * (1 + np.tanh(0.25)))  # where b*(w) = -2.6
    assert r.jump_w[0] == pytest.approx(w_cross, abs=1e-3)  # the layer, ~1e-4 wide in b
    assert np.all(r.refined_b == -2.6)


# ---------------------------------------------------------------- clipping at the wall

def test_wall_step_stats_plain_is_thrown_clipped_stays():
    s = wall_step_stats(5.0, [-1e-3, -1e-5, 1e-5, 1e-3], lr=0.3, threshold=0.5)
    plain, clipped = s["step"]
    np.testing.assert_allclose(plain, 0.3 * s["grad_norm"], rtol=RTOL_KERNEL)
    assert np.all(clipped <= 0.3 * 0.5 * (1 + 1e-12))
    # measured: |g| 1697 and 303 at 1e-5 either side; a plain step of 509 and 91
    np.testing.assert_allclose(s["grad_norm"][1:3], [1696.9, 302.60], rtol=1e-4)
    np.testing.assert_allclose(plain[1:3], [509.06, 90.779], rtol=1e-4)
    np.testing.assert_allclose(clipped[1:3], 0.15, rtol=1e-6)
    # thrown into saturation: σ(x_T) = 1, L = (1 − 0.7)² = 0.09; the clipped step lands
    # 0.18 above the wall with L = 0.032
    np.testing.assert_allclose(s["loss_after"][0, 1:3], 0.09, atol=1e-8)
    np.testing.assert_allclose(s["loss_after"][1, 1:3], 0.0318, atol=1e-4)
    assert np.all(np.abs(s["offset_after"][1]) < 0.2)
    assert np.all(np.abs(s["offset_after"][0, 1:3]) > 50)
    # far from the wall (|g| = 0.25 < threshold) the two steps are the same
    assert s["step"][0, 0] == s["step"][1, 0]


def test_descent_paths_plain_leave_clipped_slide_along_the_wall():
    # (with the tail-accurate σ' a start at (6, -3.5) turns before the wall: the old
    # σ(1 − σ), 5e-8 off at x = 20, had pushed it over the edge)
    starts = [[6.0, -3.0], [5.5, -2.9], [5.8, -3.2]]
    plain = descend(starts, lr=0.3, steps=200, clip="none")
    clipped = descend(starts, lr=0.3, steps=200, clip="norm", threshold=0.5)
    assert isinstance(plain, DescentResult)
    # plain descent meets the wall and is thrown out of the plotted box, into σ ≈ 1
    assert np.all(np.any((plain.b > -1.0) | (plain.w > 7.0), axis=1))
    assert np.all(plain.grad_norm.max(axis=1) > 5.0)
    # clipped descent never moves more than lr·threshold and ends low, near the fold
    step = np.hypot(np.diff(clipped.w, axis=1), np.diff(clipped.b, axis=1))
    assert step.max() <= 0.15 * (1 + 1e-12)
    # (the last steps creep along the floor of the valley: the final loss, 1e-5 … 6e-3,
    # moves with the last bits of σ', compiled or not, so "low" is 1e-2 here)
    assert np.all(clipped.loss[:, -1] < 1e-2)
    assert np.all((clipped.w[:, -1] > 4.0) & (clipped.w[:, -1] < 4.4))
    assert clipped.clipped.any() and not plain.clipped.any()


# ---------------------------------------------------------------- the result

def test_error_surface_result_and_roundtrip(tmp_path):
    done = []
    r = error_surface(np.linspace(4.0, 6.0, 5), np.linspace(-3.5, -2.0, 7),
                      starts=[[5.5, -2.9]], path_steps=5, progress=done.append, seed=3)
    assert isinstance(r, SurfaceResult) and not r.is_slice
    assert sum(done) == 35
    assert r.loss.shape == r.grad_norm.shape == r.x_final.shape == (5, 7)
    np.testing.assert_allclose(r.grad_norm, np.hypot(r.grad_w, r.grad_b), rtol=RTOL_EXACT)
    L = loss_and_grad(r.w[:, None], r.b[None, :])[0]
    np.testing.assert_allclose(r.loss, L, rtol=RTOL_EXACT)
    assert r.path_w.shape == (2, 1, 6) and r.path_methods == ["none", "norm"]
    assert r.path_clipped.dtype == bool
    assert r.stat_step.shape == (2, 8)
    assert r.wall_w[0] == r.wall_w_min and r.wall_w[-1] == 6.0
    np.testing.assert_allclose(r.wall_b[1:], wall(r.wall_w[1:]), rtol=RTOL_EXACT)
    r.save(tmp_path / "s")
    back = load_result(tmp_path / "s")
    assert isinstance(back, SurfaceResult) and back.path_methods == r.path_methods
    np.testing.assert_array_equal(back.loss, r.loss)
    np.testing.assert_array_equal(back.refined_b, r.refined_b)
    assert back.meta["seed"] == 3 and back.meta["params"]["n_steps"] == 50


def test_refine_both_directions_lands_on_the_wall():
    r = error_surface(np.linspace(5.5, 7.0, 7), np.linspace(-4.5, -3.0, 7), refine="both",
                      tol=1e-6, starts=[], path_steps=0)
    # b-refined jumps sit on grid columns (the wall crosses 6 of them inside the b range),
    # w-refined ones on grid rows (it crosses b = -3, -3.25, -3.5, -3.75 inside the w range)
    on_column = np.isin(r.jump_w, r.w)
    assert on_column.sum() == 6 and np.all(np.isin(r.jump_b[~on_column], r.b))
    assert (~on_column).sum() == 4
    # a bracket tol long in w is 0.62 tol long in b, so |b − b*| <= tol either way
    assert np.all(np.abs(r.jump_wall_offset) <= 1e-6)


def test_grid_is_computed_in_chunks_with_progress():
    done = []
    r = error_surface(np.linspace(5.0, 6.0, 65), np.linspace(-3.5, -2.5, 64), refine="none",
                      starts=[], path_steps=0, progress=done.append)
    assert len(done) == 2 and sum(done) == 65 * 64
    np.testing.assert_allclose(r.loss[-1], loss_and_grad(6.0, r.b)[0], rtol=RTOL_EXACT)


def test_no_refinement_and_no_paths():
    r = error_surface(np.linspace(5.0, 6.0, 3), np.linspace(-3.5, -2.0, 4), refine="none",
                      starts=np.zeros((0, 2)), path_steps=3)
    assert r.refined_w.size == 0 and r.jump_w.size == 0
    assert r.path_w.shape == (2, 0, 4)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(w=[5.0, 4.0]), ValueError, "w must be strictly increasing"),
    (dict(w=5.0, b=-2.0), ValueError, "both single values"),
    (dict(b=[-3.0, np.nan]), ValueError, "b contains 1 non-finite"),
    (dict(activation="softplus"), ValueError, "activation"),
    (dict(tol=0.0), ValueError, "tol must be > 0"),
    (dict(jump=-1.0), ValueError, "jump must be > 0"),
    (dict(n_steps=0), ValueError, "n_steps must be >= 1"),
    (dict(starts=[[1.0, 2.0, 3.0]]), ValueError, "starts must have shape"),
    (dict(stat_w=4.0), ValueError, "stat_w = 4.0 has no wall"),
    (dict(clip="none"), ValueError, "clip"),
    (dict(lr=0.0), ValueError, "lr must be > 0"),
    (dict(refine="x"), ValueError, "refine"),
    (dict(w="abc"), TypeError, "w must be an array"),
    (dict(x0=float("inf")), ValueError, "x0 must be finite"),
])
def test_bad_input_names_the_argument(kwargs, exc, match):
    args = dict(w=[5.0, 6.0], b=[-3.0, -2.0], starts=[], path_steps=1)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        error_surface(args.pop("w"), args.pop("b"), **args)


def test_wall_step_stats_needs_a_wall():
    with pytest.raises(ValueError, match="has no wall"):
        wall_step_stats(4.0)


# ---------------------------------------------------------------- the registry figure

SMALL_FIGURE = dict(w=[4.0, 6.0, 9], b=[-3.5, -2.0, 11], path_steps=30, tol=1e-4)


def test_figure_recipe_is_registered_and_plots_the_wall_and_paths():
    from rnndyn.figures import error_surface as recipe
    from rnndyn.figures import registry
    assert registry.get("error-surface") is recipe
    assert "seed" in recipe.DEFAULTS
    result = recipe.compute(registry.merge_params(recipe, SMALL_FIGURE))
    assert result.loss.shape == (9, 11)
    fig = recipe.plot(result)
    ax_loss, ax_grad, ax_step = fig.axes[:3]  # then the two colorbars
    labels = [ln.get_label() for ln in ax_loss.get_lines()]
    assert any(lab.startswith("wall") for lab in labels)
    assert any(t.startswith("plain GD (lr 0.3)") for t in labels)
    assert any(t.startswith("norm-clipped GD (threshold 0.5)") for t in labels)
    # three starts × two methods, the wall line, and the start and end markers
    assert len(ax_loss.get_lines()) >= 1 + 3 * 2
    wall_line = [ln for ln in ax_loss.get_lines() if ln.get_label().startswith("wall")][0]
    xw = wall_line.get_xdata()
    assert xw[0] == pytest.approx(wall_min_w()) and xw[-1] == 6.0
    np.testing.assert_allclose(wall_line.get_ydata(), 0.5 - 0.5 * (1 + np.tanh(0.25)) * xw,
                               rtol=RTOL_EXACT)
    assert ax_loss.get_xlim() == (4.0, 6.0)
    assert len(ax_grad.collections) == 2  # the map and the refined points
    assert ax_step.get_yscale() == "log"


def test_figure_slice_plots_lines():
    from rnndyn.figures import error_surface as recipe
    from rnndyn.figures import registry
    result = recipe.compute(registry.merge_params(
        recipe, dict(w=5.0, b=[-2.7, -2.5, 21], path_steps=2, tol=1e-6)))
    assert result.is_slice
    fig = recipe.plot(result)
    line = fig.axes[0].get_lines()[0]
    x = line.get_xdata()
    assert np.all(np.diff(x) >= 0) and x.size == 21 + result.refined_b.size
    wall_lines = [ln for ln in fig.axes[0].get_lines() if ln.get_label().startswith("wall")]
    assert wall_lines[0].get_xdata()[0] == pytest.approx(B_STAR_5)


def test_figure_render_and_replot(tmp_path):
    from rnndyn.figures import registry
    info = registry.render("error-surface", tmp_path, params=SMALL_FIGURE)
    assert (tmp_path / "error-surface.png").exists()
    registry.render("error-surface", tmp_path, fmt="svg", replot=True)
    assert (tmp_path / "error-surface.svg").exists()
    assert load_result(info["data"]).loss.shape == (9, 11)


def test_figure_bad_axis_spec():
    from rnndyn.figures import error_surface as recipe
    with pytest.raises(ValueError, match=r"w must be a number or \[start, stop, num\]"):
        recipe.compute(dict(recipe.DEFAULTS, w=[1.0, 2.0]))
