"""Stacked, residual, dense and bidirectional RNNs (rnndyn.stack), their PyTorch weights and
the depth map (rnndyn.gradflow_depth)."""

import numpy as np
import pytest

import naive
from conftest import RTOL_EXACT
from rnndyn import InputError
from rnndyn.gradflow import gradient_flow
from rnndyn.gradflow_depth import DepthFlowResult, depth_backward, depth_gradient_flow
from rnndyn.models import RNN, make_rnn, save_weights
from rnndyn.results import load_result
from rnndyn.stack import (Stack, load_stack, make_stack, part_seed, save_stack, trajectory)
from rnndyn.torch_weights import load_torch_weights

# the depth map against autograd, in log (issue 12)
ATOL_LOG = 1e-9
CELLS = ("vanilla", "lstm", "gru")
SKIPS = ("none", "residual", "dense")


def _case(rng, cell, skip, *, bidirectional=False, form="pascanu", hidden=(4, 5, 3), T=6,
          gain=1.2):
    st = make_stack(list(hidden), cell=cell, skip=skip, bidirectional=bidirectional,
                    n_inputs=2, form=form, gain=gain, seed=3)
    return st, 0.5 * rng.standard_normal(st.S), rng.standard_normal((T, 2))


# ---------------------------------------------------------------- PyTorch twins

def _torch_step(torch, p, s, v):
    """One step of part p in torch, from the PyTorch equations (not from rnndyn)."""
    W, U, b = (torch.tensor(np.array(a)) for a in (p.W, p.U, p.b))
    N = p.N
    if p.cell == "vanilla":
        act = {"tanh": torch.tanh, "sigmoid": torch.sigmoid}[p.activation]
        if p.form == "pascanu":
            return W @ act(s) + U @ v + b
        return act(W @ s + U @ v + b)
    if p.cell == "lstm":
        a = W @ s[:N] + U @ v + b
        i, f = torch.sigmoid(a[:N]), torch.sigmoid(a[N:2 * N])
        g, o = torch.tanh(a[2 * N:3 * N]), torch.sigmoid(a[3 * N:])
        c = f * s[N:] + i * g
        return torch.cat([o * torch.tanh(c), c])
    wh, ux = W @ s, U @ v
    r = torch.sigmoid(wh[:N] + ux[:N] + b[:N])
    z = torch.sigmoid(wh[N:2 * N] + ux[N:2 * N] + b[N:2 * N])
    n = torch.tanh(ux[2 * N:] + b[2 * N:3 * N] + r * (wh[2 * N:] + b[3 * N:]))
    return (1 - z) * n + z * s


def _torch_depth_map(torch, stack, x0, u):
    """ln ‖∂h^L_T/∂h^l_k‖₂ by autograd on a hand-unrolled model in which a zero tensor
    δ^l_k is added to every h^l_k (after the residual sum; c^l_k is left alone)."""
    T = u.shape[0]
    off = stack.offsets
    deltas = [torch.zeros(T + 1, n, dtype=torch.float64, requires_grad=True)
              for n in stack.hidden]
    ut = torch.tensor(u)
    outs = []
    for l, (p,) in enumerate(stack.layers):
        N = p.N

        def perturb(s, k):
            return torch.cat([s[:N] + deltas[l][k], s[N:]])

        s = perturb(torch.tensor(x0[off[l]:off[l + 1]]), 0)
        hs = [s[:N]]
        for t in range(1, T + 1):
            if l == 0:
                v = ut[t - 1]
            elif stack.skip == "dense":
                v = torch.cat([ut[t - 1]] + [outs[j][t] for j in range(l)])
            else:
                v = outs[l - 1][t]
            s = _torch_step(torch, p, s, v)
            if stack.skip == "residual" and l > 0:
                m = min(N, stack.hidden[l - 1])
                s = torch.cat([s[:m] + outs[l - 1][t][:m], s[m:]])
            s = perturb(s, t)
            hs.append(s[:N])
        outs.append(hs)
    y = outs[-1][T]
    rows = [torch.autograd.grad(y[i], deltas, retain_graph=True) for i in range(len(y))]
    out = np.empty((stack.L, T + 1))
    for l in range(stack.L):
        J = np.stack([r[l].numpy() for r in rows])          # (N_L, T+1, N_l)
        for k in range(T + 1):
            out[l, T - k] = np.log(np.linalg.norm(J[:, k, :], 2))
    return out


# ---------------------------------------------------------------- forward vs PyTorch

@pytest.mark.torch
@pytest.mark.parametrize("module", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("layers,bidirectional", [(3, False), (2, True), (1, True)])
def test_forward_matches_torch_modules(tmp_path, module, layers, bidirectional):
    torch = pytest.importorskip("torch", reason="PyTorch comparison")
    torch.manual_seed(7)
    m = getattr(torch.nn, module)(3, 5, num_layers=layers, bidirectional=bidirectional,
                                  batch_first=True).double()
    u = torch.randn(1, 9, 3, dtype=torch.float64)
    h0 = torch.randn(layers * (1 + bidirectional), 1, 5, dtype=torch.float64)
    with torch.no_grad():
        if module == "LSTM":
            c0 = torch.randn_like(h0)
            y, _ = m(u, (h0, c0))
        else:
            y, _ = m(u, h0)
    pt, npz = tmp_path / "w.pt", tmp_path / "w.npz"
    torch.save(m.state_dict(), pt)
    np.savez(npz, **{k: v.numpy() for k, v in m.state_dict().items()})
    for path in (pt, npz):
        st = load_torch_weights(path)
        assert isinstance(st, Stack) and st.L == layers and st.bidirectional == bidirectional
        assert st.origin["num_layers"] == layers and st.origin["module"] == f"nn.{module}"
        # PyTorch's h0 is ordered (layer, direction), as the joint state's parts are
        x0 = np.concatenate([np.concatenate([h0[q, 0].numpy()] + ([c0[q, 0].numpy()]
                                            if module == "LSTM" else []))
                             for q in range(h0.shape[0])])
        X, _ = trajectory(st, x0, 9, u[0].numpy())
        np.testing.assert_allclose(st.outputs(X), y[0].numpy(), rtol=0, atol=RTOL_EXACT)


@pytest.mark.torch
def test_one_layer_dict_is_still_an_rnn(tmp_path):
    torch = pytest.importorskip("torch", reason="PyTorch comparison")
    m = torch.nn.GRU(2, 4)
    np.savez(tmp_path / "w.npz", **{k: v.detach().numpy() for k, v in m.state_dict().items()})
    assert isinstance(load_torch_weights(tmp_path / "w.npz"), RNN)
    assert isinstance(load_stack(tmp_path / "w.npz"), RNN)


def _torch_like_dict(L, bidirectional, H=3, M=2, G=4, bias=True):
    out = {}
    for k in range(L):
        for sfx in ("", "_reverse") if bidirectional else ("",):
            m_in = M if k == 0 else (2 if bidirectional else 1) * H
            out[f"weight_ih_l{k}{sfx}"] = np.zeros((G * H, m_in), np.float32)
            out[f"weight_hh_l{k}{sfx}"] = np.zeros((G * H, H), np.float32)
            if bias:
                out[f"bias_ih_l{k}{sfx}"] = np.zeros(G * H, np.float32)
                out[f"bias_hh_l{k}{sfx}"] = np.zeros(G * H, np.float32)
    return out


@pytest.mark.parametrize("change,message", [
    (lambda d: d.pop("weight_hh_l1"), "missing weight_hh_l1"),
    (lambda d: d.pop("weight_ih_l1_reverse"), "missing weight_ih_l1_reverse"),
    (lambda d: d.pop("bias_ih_l1"), "some layers or directions have biases"),
    (lambda d: d.update(weight_ih_l1=np.zeros((12, 5), np.float32)), "takes the 6 outputs"),
    (lambda d: d.update(weight_hh_l1=np.zeros((9, 3), np.float32),
                        weight_ih_l1=np.zeros((9, 6), np.float32),
                        bias_ih_l1=np.zeros(9, np.float32), bias_hh_l1=np.zeros(9, np.float32)),
     "share cell and hidden"),
    (lambda d: d.update(extra=np.zeros(2, np.float32)), "unknown key"),
])
def test_bad_stacked_dicts(tmp_path, change, message):
    d = _torch_like_dict(2, True)
    change(d)
    np.savez(tmp_path / "w.npz", **d)
    with pytest.raises(InputError, match=message):
        load_torch_weights(tmp_path / "w.npz")


def test_stacked_dict_without_biases(tmp_path):
    np.savez(tmp_path / "w.npz", **_torch_like_dict(3, False, bias=False))
    st = load_torch_weights(tmp_path / "w.npz")
    assert st.L == 3 and st.cells == ["lstm"] * 3 and st.origin["bias"] is False


# ---------------------------------------------------------------- forward vs NumPy twins

@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("skip", SKIPS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_forward_matches_naive(rng, cell, skip, bidirectional):
    st, x0, u = _case(rng, cell, skip, bidirectional=bidirectional)
    X, D = trajectory(st, x0, len(u), u)
    np.testing.assert_allclose(X, naive.stack_trajectory(st, x0, u), rtol=0,
                               atol=RTOL_EXACT)
    assert D.shape == (len(u), st.aux_size)


def test_forward_records_each_layers_aux_rows(rng):
    """A part's auxiliary rows are those its cell's own kernel records on the same inputs."""
    from rnndyn.simulate import trajectory as one_layer
    st, x0, u = _case(rng, "lstm", "dense", hidden=(3, 4))
    X, D = trajectory(st, x0, len(u), u)
    p = st.layers[1][0]
    v = np.concatenate([u, X[1:, :3]], axis=1)
    X1, D1 = one_layer(p, x0[st.offsets[1]:], len(u), v)
    np.testing.assert_array_equal(X[:, st.offsets[1]:], X1)
    np.testing.assert_array_equal(D[:, 18:], D1)


def test_one_layer_vanilla_is_bit_identical_to_trajectory(rng):
    from rnndyn.simulate import trajectory as one_layer
    for form in ("pascanu", "elman"):
        rnn = make_rnn(6, n_inputs=2, form=form, seed=1)
        u = rng.standard_normal((20, 2))
        x0 = rng.standard_normal(6)
        X, D = trajectory(Stack([rnn]), x0, 20, u)
        X1, D1 = one_layer(rnn, x0, 20, u)
        np.testing.assert_array_equal(X, X1)
        np.testing.assert_array_equal(D, D1)


def test_mixed_cells_and_sizes(rng):
    st = make_stack([3, 5, 2], cell=["lstm", "vanilla", "gru"], skip="residual", n_inputs=2,
                    form="elman", seed=2)
    x0 = rng.standard_normal(st.S)
    u = rng.standard_normal((5, 2))
    X, _ = trajectory(st, x0, 5, u)
    np.testing.assert_allclose(X, naive.stack_trajectory(st, x0, u), rtol=0, atol=RTOL_EXACT)
    np.testing.assert_allclose(depth_gradient_flow(st, x0, 5, u).depth_log_norm,
                               naive.stack_depth(st, x0, u), rtol=0, atol=ATOL_LOG)


def test_make_stack_seeds_and_sizes():
    st = make_stack([4, 3], cell="gru", skip="dense", bidirectional=True, n_inputs=2, seed=5)
    assert [p.M for p in st.parts] == [2, 2, 10, 10]
    np.testing.assert_array_equal(st.layers[1][1].W,
                                  make_rnn(3, n_inputs=10, cell="gru", seed=part_seed(5, 3)).W)
    # adding a layer leaves the lower ones as they were
    deeper = make_stack([4, 3, 2], cell="gru", skip="dense", bidirectional=True, n_inputs=2,
                        seed=5)
    np.testing.assert_array_equal(deeper.layers[1][0].W, st.layers[1][0].W)
    assert st.label == "2-layer dense bidirectional gru"


# ---------------------------------------------------------------- the depth map

@pytest.mark.torch
@pytest.mark.parametrize("cell,form", [("vanilla", "pascanu"), ("vanilla", "elman"),
                                       ("lstm", "pascanu"), ("gru", "pascanu")])
@pytest.mark.parametrize("skip", SKIPS)
def test_depth_map_matches_autograd(rng, cell, form, skip):
    torch = pytest.importorskip("torch", reason="PyTorch comparison")
    st, x0, u = _case(rng, cell, skip, form=form)
    res = depth_gradient_flow(st, x0, len(u), u)
    np.testing.assert_allclose(res.depth_log_norm, _torch_depth_map(torch, st, x0, u),
                               rtol=0, atol=ATOL_LOG)
    assert res.depth_log_norm[-1, 0] == 0.0
    np.testing.assert_allclose(res.depth_log10_norm, res.depth_log_norm / np.log(10))


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("skip", SKIPS)
def test_depth_and_joint_norms_match_naive(rng, cell, skip):
    st, x0, u = _case(rng, cell, skip, hidden=(3, 4, 2), T=5)
    res = depth_gradient_flow(st, x0, len(u), u)
    np.testing.assert_allclose(res.depth_log_norm, naive.stack_depth(st, x0, u), rtol=0,
                               atol=ATOL_LOG)
    np.testing.assert_allclose(res.log_norm, naive.stack_joint_log_norms(st, x0, u), rtol=0,
                               atol=ATOL_LOG)
    # the depth map alone (full_state=False) is the same
    X, D = trajectory(st, x0, len(u), u)
    np.testing.assert_allclose(depth_backward(st, D, full_state=False)["depth_log_norm"],
                               res.depth_log_norm, rtol=0, atol=1e-12)


def test_joint_norm_by_lanczos_with_clustered_singular_values(rng):
    """Lanczos on the joint product: LSTMs with a large forget bias (c→c blocks near
    diag(f), top singular values clustered, where a power iteration stalls) agree with
    the SVD of the complex-step product to ATOL_LOG in few matrix-vector pairs."""
    st = make_stack([5, 5, 5], cell="lstm", skip="residual", n_inputs=2, forget_bias=3.0,
                    seed=3)
    x0, u = 0.5 * rng.standard_normal(st.S), rng.standard_normal((12, 2))
    res = depth_gradient_flow(st, x0, len(u), u)
    np.testing.assert_allclose(res.log_norm, naive.stack_joint_log_norms(st, x0, u), rtol=0,
                               atol=ATOL_LOG)
    assert res.power_iterations[0] == 0 and res.power_iterations.max() <= 2 * st.hidden[0]


@pytest.mark.parametrize("cell", CELLS)
def test_one_layer_depth_map_is_gradflow(rng, cell):
    rnn = make_rnn(5, n_inputs=2, cell=cell, seed=4, gain=1.3)
    x0 = 0.3 * rng.standard_normal(rnn.S)
    u = rng.standard_normal((30, 2))
    res = depth_gradient_flow(rnn, x0, 30, u)
    ref = gradient_flow(rnn, x0, 30, u)
    np.testing.assert_allclose(res.log_norm, ref.log_norm, rtol=0, atol=1e-9)
    hh = ref.log_norm_hh if cell == "lstm" else ref.log_norm
    np.testing.assert_allclose(res.depth_log_norm[0], hh, rtol=0, atol=1e-9)


def test_depth_map_overflow_free():
    """A linear stack at rest (x = 0, no inputs): its Jacobians are constant, the products
    grow far beyond float64 and every lag ℓ < T' of a long run equals lag ℓ of a short one
    of T' steps (at ℓ = T' the short run reaches the free initial states)."""
    st = make_stack([4, 4, 4], activation="linear", gain=1.6, seed=1)
    long = depth_gradient_flow(st, "zero", 3000, full_state=False)
    short = depth_gradient_flow(st, "zero", 12)
    assert long.finite and np.max(long.depth_log_norm) > 800
    np.testing.assert_allclose(long.depth_log_norm[:, :12], short.depth_log_norm[:, :12],
                               rtol=1e-10, atol=1e-9)
    vanish = depth_gradient_flow(make_stack([4, 4], activation="tanh", gain=0.3, seed=1),
                                 "zero", 3000, full_state=True)
    assert vanish.finite and np.min(vanish.depth_log_norm) < -800
    assert np.min(vanish.log_norm) < -800


def test_residual_identity_path():
    """With the cells switched off above layer 1 (W = U = 0), h^l = b + P h^{l−1}: the
    gradient reaches every layer at lag 0 unchanged (the truncated identity's norm 1)."""
    base = make_stack([3, 3, 5, 2], skip="residual", seed=0)
    layers = [base.layers[0]] + [(RNN(0 * p.W, 0 * p.U, p.b),) for (p,) in base.layers[1:]]
    res = depth_gradient_flow(Stack(layers, "residual"), "random", 4)
    np.testing.assert_allclose(res.depth_log_norm[:, 0], 0.0, atol=1e-15)


def test_depth_result_saves_and_loads(tmp_path, rng):
    st, x0, u = _case(rng, "gru", "dense")
    res = depth_gradient_flow(st, x0, len(u), u)
    res.save(tmp_path / "depth")
    back = load_result(tmp_path / "depth")
    assert isinstance(back, DepthFlowResult) and back.skip == "dense"
    np.testing.assert_array_equal(back.depth_log10_norm, res.depth_log10_norm)
    assert res.meta["model"]["hidden"] == [4, 5, 3]


# ---------------------------------------------------------------- weights files

@pytest.mark.parametrize("skip,bidirectional", [("residual", False), ("dense", True),
                                                ("none", True)])
def test_stack_file_round_trip(tmp_path, rng, skip, bidirectional):
    st = make_stack([3, 4], cell=["gru", "vanilla"], skip=skip, bidirectional=bidirectional,
                    n_inputs=2, form="elman", activation="sigmoid", seed=9)
    save_stack(st, tmp_path / "s.npz")
    back = load_stack(tmp_path / "s.npz")
    assert isinstance(back, Stack) and back.skip == skip and back.cells == st.cells
    assert back.layers[1][0].activation == "sigmoid" and back.layers[1][0].form == "elman"
    x0, u = rng.standard_normal(st.S), rng.standard_normal((5, 2))
    np.testing.assert_array_equal(trajectory(back, x0, 5, u)[0], trajectory(st, x0, 5, u)[0])


def test_load_stack_reads_plain_weights(tmp_path):
    save_weights(make_rnn(3, seed=0), tmp_path / "w.npz")
    assert isinstance(load_stack(tmp_path / "w.npz"), RNN)


@pytest.mark.parametrize("change,message", [
    (lambda d: d.pop("U_l1"), "U_l1"),
    (lambda d: d.update(extra=np.zeros(1)), "extra"),
    (lambda d: d.update(stack_skip=np.array("sideways")), "skip"),
    (lambda d: d.update(U_l1=np.zeros((3, 2))), "layers\\[1\\] takes 2 inputs"),
    (lambda d: d.update(W_l3=np.zeros((2, 2))), "without gaps"),
])
def test_bad_stack_files(tmp_path, change, message):
    save_stack(make_stack([3, 3], n_inputs=2, seed=0), tmp_path / "s.npz")
    d = dict(np.load(tmp_path / "s.npz"))
    change(d)
    np.savez(tmp_path / "bad.npz", **d)
    with pytest.raises(InputError, match=message):
        load_stack(tmp_path / "bad.npz")


# ---------------------------------------------------------------- bad inputs

@pytest.mark.parametrize("kwargs,message", [
    (dict(hidden=[]), "hidden"),
    (dict(hidden=[3, 0]), "hidden"),
    (dict(hidden="64,32"), "hidden"),
    (dict(cell=["lstm"]), "one per layer"),
    (dict(cell="rnn"), "cell"),
    (dict(skip="highway"), "skip"),
    (dict(bidirectional="yes"), "bidirectional"),
    (dict(n_inputs=-1), "n_inputs"),
    (dict(seed=-2), "seed"),
    (dict(cell="lstm", activation="relu"), "activation"),
])
def test_make_stack_bad_inputs(kwargs, message):
    args = dict(hidden=[3, 2])
    args.update(kwargs)
    with pytest.raises(InputError, match=message):
        make_stack(**args)


def test_stack_and_analysis_bad_inputs():
    a, b = make_rnn(3, n_inputs=1, seed=0), make_rnn(2, n_inputs=2, seed=0)
    with pytest.raises(InputError, match="layers\\[1\\] takes 2 inputs"):
        Stack([a, b])
    with pytest.raises(InputError, match="layers"):
        Stack([])
    with pytest.raises(InputError, match="reverse direction"):
        Stack([(a, make_rnn(3, n_inputs=1, cell="gru", seed=0))])
    with pytest.raises(InputError, match="skip"):
        Stack([a], skip=3)
    st = make_stack([3, 2], n_inputs=1, seed=0)
    with pytest.raises(InputError, match="x0"):
        trajectory(st, np.zeros(4), 3)
    with pytest.raises(InputError, match="inputs"):
        trajectory(st, "zero", 3, np.zeros((3, 2)))
    with pytest.raises(InputError, match="n_steps"):
        depth_gradient_flow(st, "zero", 0)
    with pytest.raises(InputError, match="unidirectional"):
        depth_gradient_flow(make_stack([2], bidirectional=True, seed=0), "zero", 3)
    with pytest.raises(InputError, match="stack must be"):
        depth_gradient_flow("model.npz", "zero", 3)
    with pytest.raises(InputError, match="D must have shape"):
        depth_backward(st, np.zeros((3, 4)))
    with pytest.raises(InputError, match="full_state"):
        depth_backward(st, np.zeros((3, 5)), full_state="yes")


@pytest.mark.parametrize("shape", [(3, 7), (5, 8), (1, 1), (4, 130)])
def test_block_max_is_numpys_and_flags_nan(rng, shape):
    """The kernels' block maximum (four running maxima, a NaN flag) is np.max(np.abs)."""
    from rnndyn._kernels.stack import _max_abs2
    A = rng.standard_normal(shape) * 10.0 ** rng.integers(-300, 300, size=shape)
    assert _max_abs2(A) == np.max(np.abs(A))
    A[-1, -1] = np.nan
    assert np.isnan(_max_abs2(A))
    assert _max_abs2(np.zeros(shape)) == 0.0
