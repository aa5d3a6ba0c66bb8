"""The gradient reaching each input position of a bidirectional stack from both ends
(rnndyn.gradflow_bidir, issue 12)."""

import numpy as np
import pytest

import naive
from rnndyn import InputError
from rnndyn.gradflow_bidir import PositionFlowResult, position_backward, position_gradient_flow
from rnndyn.results import load_result
from rnndyn.stack import make_stack, trajectory
from rnndyn.torch_weights import load_torch_weights

# the position gradients against autograd and the complex-step twin, in log (issue 12)
ATOL_LOG = 1e-9
CELLS = ("vanilla", "lstm", "gru")
SKIPS = ("none", "residual", "dense")


def _case(rng, cell, skip, hidden=(4, 3), T=6, gain=1.2, form="pascanu"):
    st = make_stack(list(hidden), cell=cell, skip=skip, bidirectional=True, n_inputs=2,
                    form=form, gain=gain, seed=3)
    return st, 0.5 * rng.standard_normal(st.S), rng.standard_normal((T, 2))


@pytest.mark.torch
@pytest.mark.parametrize("module", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("layers", [1, 2])
def test_position_gradients_match_torch_autograd(tmp_path, module, layers):
    """PyTorch's own bidirectional module (float64), loaded through load_torch_weights:
    y = out[T−1, :H] (forward, last step) and out[0, H:] (reverse, first step)."""
    torch = pytest.importorskip("torch", reason="PyTorch comparison")
    torch.manual_seed(11)
    H, M, T = 4, 3, 7
    m = getattr(torch.nn, module)(M, H, num_layers=layers, bidirectional=True,
                                  batch_first=True).double()
    u = torch.randn(1, T, M, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2 * layers, 1, H, dtype=torch.float64)
    c0 = torch.randn_like(h0)
    y, _ = m(u, (h0, c0)) if module == "LSTM" else m(u, h0)
    ends = torch.cat([y[0, T - 1, :H], y[0, 0, H:]])
    rows = [torch.autograd.grad(ends[i], u, retain_graph=True)[0][0].numpy()
            for i in range(2 * H)]
    J = np.stack(rows)                                       # (2H, T, M)
    ref = {name: np.log([np.linalg.norm(J[sl, t], 2) for t in range(T)])
           for name, sl in (("forward", slice(0, H)), ("reverse", slice(H, 2 * H)),
                            ("both", slice(0, 2 * H)))}
    torch.save(m.state_dict(), tmp_path / "w.pt")
    st = load_torch_weights(tmp_path / "w.pt")
    x0 = np.concatenate([np.concatenate([h0[q, 0].numpy()] + ([c0[q, 0].numpy()]
                                        if module == "LSTM" else []))
                         for q in range(2 * layers)])
    res = position_gradient_flow(st, x0, T, u[0].detach().numpy())
    for name in ("forward", "reverse", "both"):
        np.testing.assert_allclose(getattr(res, f"log_norm_{name}"), ref[name], rtol=0,
                                   atol=ATOL_LOG)
        np.testing.assert_allclose(getattr(res, f"log10_norm_{name}"), ref[name] / np.log(10),
                                   rtol=0, atol=ATOL_LOG)
    assert res.finite and list(res.position) == list(range(1, T + 1))


@pytest.mark.parametrize("cell,form", [("vanilla", "pascanu"), ("vanilla", "elman"),
                                       ("lstm", "pascanu"), ("gru", "pascanu")])
@pytest.mark.parametrize("skip", SKIPS)
def test_position_gradients_match_naive(rng, cell, form, skip):
    st, x0, u = _case(rng, cell, skip, hidden=(3, 4, 2), T=5, form=form)
    res = position_gradient_flow(st, x0, len(u), u)
    top = 2 * (st.L - 1)
    fwd, Jf = naive.stack_position_log_norms(st, x0, u, top, len(u))
    rev, Jr = naive.stack_position_log_norms(st, x0, u, top + 1, 1)
    both = np.log([np.linalg.norm(np.vstack([a, b]), 2) for a, b in zip(Jf, Jr)])
    np.testing.assert_allclose(res.log_norm_forward, fwd, rtol=0, atol=ATOL_LOG)
    np.testing.assert_allclose(res.log_norm_reverse, rev, rtol=0, atol=ATOL_LOG)
    np.testing.assert_allclose(res.log_norm_both, both, rtol=0, atol=ATOL_LOG)


def test_one_layer_ends_see_their_own_step_through_U(rng):
    """One pascanu layer: x_t = W σ(x_{t−1}) + U u_t + b, so ∂h^→_T/∂u_T = U^→ and
    ∂h^←_1/∂u_1 = U^← exactly; the concatenation's norm lies between the ends' norms and
    their root sum of squares."""
    st, x0, u = _case(rng, "vanilla", "none", hidden=(5,), T=8)
    res = position_gradient_flow(st, x0, 8, u)
    fwd, rev = st.layers[0]
    assert res.log_norm_forward[-1] == pytest.approx(np.log(np.linalg.norm(fwd.U, 2)),
                                                     abs=1e-12)
    assert res.log_norm_reverse[0] == pytest.approx(np.log(np.linalg.norm(rev.U, 2)),
                                                    abs=1e-12)
    lo = np.maximum(res.log_norm_forward, res.log_norm_reverse)
    hi = 0.5 * np.logaddexp(2 * res.log_norm_forward, 2 * res.log_norm_reverse)
    assert np.all(res.log_norm_both >= lo - 1e-12) and np.all(res.log_norm_both <= hi + 1e-12)


def test_position_gradients_overflow_free():
    """A linear bidirectional layer at rest has constant Jacobians: its gradients grow far
    beyond float64 with the distance from each end, and a long run's last (first) positions
    equal a short run's; a contracting tanh stack decays far below it."""
    st = make_stack([4], activation="linear", gain=2.0, bidirectional=True, n_inputs=1, seed=1)
    long = position_gradient_flow(st, "zero", 3000)
    short = position_gradient_flow(st, "zero", 12)
    assert long.finite and min(long.log_norm_forward[0], long.log_norm_reverse[-1]) > 800
    np.testing.assert_allclose(long.log_norm_forward[-12:], short.log_norm_forward,
                               rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(long.log_norm_reverse[:12], short.log_norm_reverse,
                               rtol=1e-10, atol=1e-9)
    vanish = position_gradient_flow(make_stack([4, 4], gain=0.3, bidirectional=True,
                                               n_inputs=1, seed=1), "zero", 3000)
    assert vanish.finite and min(vanish.log_norm_forward.min(),
                                 vanish.log_norm_reverse.min()) < -800
    # the concatenation lies between the larger end and the root sum of squares, and
    # follows the larger end where the two are far apart (up to 10^1500 here)
    f, r, both = vanish.log_norm_forward, vanish.log_norm_reverse, vanish.log_norm_both
    assert np.all(both >= np.maximum(f, r) - 1e-9)
    assert np.all(both <= 0.5 * np.logaddexp(2 * f, 2 * r) + 1e-9)
    apart = np.abs(f - r) > 30
    assert apart.sum() > 2900 and np.abs(f - r).max() > 3000
    np.testing.assert_allclose(both[apart], np.maximum(f, r)[apart], rtol=0, atol=1e-9)


def test_exactly_zero_and_overflowing_runs():
    st = make_stack([3], activation="relu", bidirectional=True, n_inputs=1, seed=0)
    dead = [tuple(type(p)(p.W, p.U, p.b - 50.0, p.activation, p.form) for p in layer)
            for layer in st.layers]
    from rnndyn.stack import Stack
    res = position_gradient_flow(Stack(dead), "zero", 5)
    # relu units all off from step 2: the gradient reaches only each end's own step
    assert np.isneginf(res.log_norm_forward[:-2]).all() and np.isfinite(res.log_norm_forward[-1])
    boom = make_stack([3], activation="linear", gain=50.0, bidirectional=True, n_inputs=1,
                      seed=0)
    out = position_gradient_flow(boom, "random", 400)
    assert not out.states_finite and out.overflow_step is not None
    assert np.isnan(out.log_norm_both).all() and not out.finite


def test_position_result_saves_and_loads(tmp_path, rng):
    st, x0, u = _case(rng, "gru", "dense")
    res = position_gradient_flow(st, x0, len(u), u)
    res.save(tmp_path / "pos")
    back = load_result(tmp_path / "pos")
    assert isinstance(back, PositionFlowResult) and back.skip == "dense"
    np.testing.assert_array_equal(back.log10_norm_reverse, res.log10_norm_reverse)


def test_position_bad_inputs():
    with pytest.raises(InputError, match="bidirectional"):
        position_gradient_flow(make_stack([3, 2], n_inputs=1, seed=0), "zero", 4)
    with pytest.raises(InputError, match="needs inputs"):
        position_gradient_flow(make_stack([3], bidirectional=True, seed=0), "zero", 4)
    st = make_stack([3], bidirectional=True, n_inputs=2, seed=0)
    with pytest.raises(InputError, match="n_steps"):
        position_gradient_flow(st, "zero", 0)
    with pytest.raises(InputError, match="inputs"):
        position_gradient_flow(st, "zero", 3, np.zeros((3, 1)))
    with pytest.raises(InputError, match="stack must be"):
        position_gradient_flow("model.npz", "zero", 3)
    with pytest.raises(InputError, match="D must have shape"):
        position_backward(st, np.zeros((3, 2)))
    _, D = trajectory(st, "zero", 3)
    assert np.isfinite(position_backward(st, D)["log_norm_both"]).all()


def test_bidir_position_figure_renders_and_replots(tmp_path):
    """The registered figure at small sizes: data beside the picture, a replot from the data
    alone, one panel per cell and the key off the data."""
    from rnndyn.figures import registry
    params = {"n": 4, "steps": 12, "layers": [1, 2]}
    out = registry.render("bidir-position", str(tmp_path), params=params)
    res = load_result(out["data"][:-4])
    assert res.forward.shape == (3, 2, 12) and np.isfinite(res.both).all()
    assert np.all(res.both >= np.maximum(res.forward, res.reverse) - 1e-9)
    registry.render("bidir-position", str(tmp_path), replot=True, overwrite=True)
    fig = registry.get("bidir-position").plot(res)
    assert len(fig.axes) == 3 and fig.legends and not any(a.get_legend() for a in fig.axes)
