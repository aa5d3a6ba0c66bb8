"""BPTT through stacks (rnndyn.stack_bptt): PyTorch autograd in float64 (nn.RNN/LSTM/GRU
with num_layers=2, and hand-built residual, dense and mixed-cell stacks), the naive
complex-step twin, the one-layer kernels, clipping and the refusals."""

import numpy as np
import pytest

import naive
from conftest import RTOL_AUTODIFF, RTOL_KERNEL
from test_bptt_gated import LOSS_CODE, LOSSES, _torch_loss
from rnndyn import InputError, optim
from rnndyn._train_grad import _loss_arrays
from rnndyn.models import Readout, make_rnn
from rnndyn.stack import Stack, make_stack
from rnndyn.stack_bptt import stack_loss_and_grad
from rnndyn.torch_weights import load_torch_weights
from rnndyn.training import Params, loss_and_grad

# a one-layer stack against the one-layer kernels: the same arithmetic up to the order of
# the sums inside the BLAS products
RTOL_ONE_LAYER = 1e-14
M, K, T, B = 3, 4, 6, 3


def _rel(a, b):
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


def _loss_kw(rng, loss, T=T, B=B):
    """The loss arguments of stack_loss_and_grad (Bernoulli: with padded steps)."""
    if loss == "ce-last":
        return {"labels": rng.integers(0, K, size=B)}
    if loss == "ce-all":
        lab = rng.integers(-1, K, size=(T, B))
        lab[-1] = rng.integers(0, K, size=B)
        return {"labels": lab}
    if loss == "mse-last":
        return {"targets": rng.standard_normal((B, K))}
    mask = np.ones((T, B), dtype=bool)
    mask[-2:, 0] = False
    return {"targets": (rng.random((T, B, K)) < 0.4).astype(float), "mask": mask}


def _readout(rng, N):
    return Readout(0.5 * rng.standard_normal((K, N)), 0.1 * rng.standard_normal(K))


def _check(g, want_layers, want_V, want_c, rtol):
    """Per-parameter relative errors of a StackGradient against reference arrays."""
    for l, (got, want) in enumerate(zip(g.layers, want_layers)):
        for name, a, w in zip("WUb", got, want):
            assert _rel(a, w) < rtol, f"layer {l + 1} {name}: {_rel(a, w):.2e}"
    assert _rel(g.V, want_V) < rtol, "V"
    assert _rel(g.c, want_c) < rtol, "c"


# ---------------------------------------------------------------- PyTorch modules

def _torch_readout(torch, ro):
    """nn.Linear (float64) holding the readout's V, c."""
    lin = torch.nn.Linear(ro.N, ro.K, dtype=torch.float64)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(ro.V))
        lin.bias.copy_(torch.tensor(ro.c))
    return lin


def _module_stack(torch, tmp_path, module):
    torch.manual_seed(5)
    m = getattr(torch.nn, module)(M, 5, num_layers=2).double()
    np.savez(tmp_path / "w.npz", **{k: v.detach().numpy() for k, v in m.state_dict().items()})
    st = load_torch_weights(tmp_path / "w.npz")
    assert isinstance(st, Stack) and st.L == 2
    return m, st


def _module_grads(m, module, L=2):
    """(W, U, b) gradients per layer in rnndyn's packed layout (rnndyn.cells)."""
    out = []
    for k in range(L):
        gih = getattr(m, f"bias_ih_l{k}").grad.numpy()
        ghh = getattr(m, f"bias_hh_l{k}").grad.numpy()
        if module == "GRU":
            N = ghh.size // 3
            gb = np.concatenate([gih, ghh[2 * N:]])
        else:
            np.testing.assert_allclose(gih, ghh, rtol=1e-14, atol=0)   # one bias b
            gb = gih
        out.append((getattr(m, f"weight_hh_l{k}").grad.numpy(),
                    getattr(m, f"weight_ih_l{k}").grad.numpy(), gb))
    return out


@pytest.mark.torch
@pytest.mark.parametrize("module", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("loss", LOSSES)
def test_two_layer_torch_modules(module, loss, rng, tmp_path):
    torch = pytest.importorskip("torch", reason="PyTorch (CPU) is the autodiff oracle")
    m, st = _module_stack(torch, tmp_path, module)
    ro = _readout(rng, 5)
    u = rng.standard_normal((T, B, M))
    kw = _loss_kw(rng, loss)
    g = stack_loss_and_grad(st, ro, u, loss=loss, **kw)
    lin = _torch_readout(torch, ro)
    E = _torch_loss(torch, m, lin, u, loss, kw)
    E.backward()
    assert g.loss == pytest.approx(E.item(), rel=RTOL_AUTODIFF)
    _check(g, _module_grads(m, module), lin.weight.grad.numpy(), lin.bias.grad.numpy(),
           RTOL_AUTODIFF)


# ---------------------------------------------------------------- hand-built stacks

def _torch_cell(torch, p, W, U, b, s, v):
    """One batched step (s (B, S), v (B, M)) of part p from the PyTorch equations."""
    N = p.N
    if p.cell == "vanilla":
        act = {"tanh": torch.tanh, "sigmoid": torch.sigmoid}[p.activation]
        if p.form == "pascanu":
            return act(s) @ W.T + v @ U.T + b
        return act(s @ W.T + v @ U.T + b)
    if p.cell == "lstm":
        a = s[:, :N] @ W.T + v @ U.T + b
        i, f = torch.sigmoid(a[:, :N]), torch.sigmoid(a[:, N:2 * N])
        gg, o = torch.tanh(a[:, 2 * N:3 * N]), torch.sigmoid(a[:, 3 * N:])
        cc = f * s[:, N:] + i * gg
        return torch.cat([o * torch.tanh(cc), cc], dim=1)
    wh, ux = s @ W.T, v @ U.T
    r = torch.sigmoid(wh[:, :N] + ux[:, :N] + b[:N])
    z = torch.sigmoid(wh[:, N:2 * N] + ux[:, N:2 * N] + b[N:2 * N])
    n = torch.tanh(ux[:, 2 * N:] + b[2 * N:3 * N] + r * (wh[:, 2 * N:] + b[3 * N:]))
    return (1 - z) * n + z * s


def _torch_stack(torch, st):
    """A hand-unrolled torch stack of st's parts (leaf tensors W, U, b per layer): a
    callable x (T, B, M) -> (r^L (T, B, N_L), None), the readout's input, with skip
    'none' / 'residual' (the truncated identity from layer 2) / 'dense'."""
    leaves = [tuple(torch.tensor(np.array(a), requires_grad=True) for a in (p.W, p.U, p.b))
              for p in st.parts]

    def forward(x):
        Tn, Bn, _ = x.shape
        outs = []
        for l, p in enumerate(st.parts):
            if l == 0:
                v = x
            elif st.skip == "dense":
                v = torch.cat([x] + outs, dim=2)
            else:
                v = outs[-1]
            s = torch.zeros(Bn, p.S, dtype=torch.float64)
            hs = []
            for t in range(Tn):
                s = _torch_cell(torch, p, *leaves[l], s, v[t])
                if st.skip == "residual" and l > 0:
                    m = min(p.N, st.hidden[l - 1])
                    s = torch.cat([s[:, :m] + v[t][:, :m], s[:, m:]], dim=1)
                hs.append(s[:, :p.N])
            outs.append(torch.stack(hs))
        top = st.parts[-1]
        if top.cell == "vanilla" and top.form == "pascanu":
            return {"tanh": torch.tanh, "sigmoid": torch.sigmoid}[top.activation](
                outs[-1]), None
        return outs[-1], None
    return forward, leaves


HAND_BUILT = [
    # (hidden, cells, skip, form)
    ((4, 5), "vanilla", "none", "pascanu"),
    ((4, 5), "vanilla", "residual", "elman"),
    ((4, 4), "vanilla", "residual", "pascanu"),
    ((4, 5, 3), "lstm", "residual", "pascanu"),
    ((4, 3), "gru", "dense", "pascanu"),
    ((3, 4, 2), ("gru", "vanilla", "lstm"), "dense", "elman"),
    ((4, 5, 3), ("lstm", "gru", "vanilla"), "residual", "pascanu"),
    ((3, 4, 3), ("vanilla", "lstm", "gru"), "none", "pascanu"),
]


def _hand_stack(hidden, cells, skip, form):
    return make_stack(list(hidden), cell=cells, skip=skip, n_inputs=M, form=form, gain=1.3,
                      seed=11)


@pytest.mark.torch
@pytest.mark.parametrize("hidden,cells,skip,form", HAND_BUILT)
@pytest.mark.parametrize("loss", ["ce-all", "bernoulli-all"])
def test_hand_built_stacks_match_autograd(hidden, cells, skip, form, loss, rng):
    torch = pytest.importorskip("torch", reason="PyTorch (CPU) is the autodiff oracle")
    st = _hand_stack(hidden, cells, skip, form)
    ro = _readout(rng, hidden[-1])
    u = rng.standard_normal((T, B, M))
    kw = _loss_kw(rng, loss)
    g = stack_loss_and_grad(st, ro, u, loss=loss, **kw)
    forward, leaves = _torch_stack(torch, st)
    lin = _torch_readout(torch, ro)
    E = _torch_loss(torch, forward, lin, u, loss, kw)
    E.backward()
    assert g.loss == pytest.approx(E.item(), rel=RTOL_AUTODIFF)
    _check(g, [tuple(a.grad.numpy() for a in leaf) for leaf in leaves],
           lin.weight.grad.numpy(), lin.bias.grad.numpy(), RTOL_AUTODIFF)


# B = 27: the kernel's chunks (rnndyn._kernels.bptt_stack._chunk_steps) are 2 steps of
# these small layers, so T = 7 runs 4 chunks, the last one (the backward's first) short
T_CHUNKED, B_CHUNKED = 7, 27


@pytest.mark.torch
@pytest.mark.parametrize("hidden,cells,skip,form", HAND_BUILT)
def test_chunks_match_autograd(hidden, cells, skip, form, rng):
    from rnndyn._kernels.bptt_stack import _chunk_steps
    torch = pytest.importorskip("torch", reason="PyTorch (CPU) is the autodiff oracle")
    st = _hand_stack(hidden, cells, skip, form)
    for p in st.parts:
        steps = _chunk_steps(T_CHUNKED, B_CHUNKED, p.N, p.W.shape[0])
        assert 1 < steps < T_CHUNKED and T_CHUNKED % steps != 0
    ro = _readout(rng, hidden[-1])
    u = rng.standard_normal((T_CHUNKED, B_CHUNKED, M))
    kw = _loss_kw(rng, "ce-all", T_CHUNKED, B_CHUNKED)
    g = stack_loss_and_grad(st, ro, u, loss="ce-all", **kw)
    forward, leaves = _torch_stack(torch, st)
    lin = _torch_readout(torch, ro)
    E = _torch_loss(torch, forward, lin, u, "ce-all", kw)
    E.backward()
    assert g.loss == pytest.approx(E.item(), rel=RTOL_AUTODIFF)
    _check(g, [tuple(a.grad.numpy() for a in leaf) for leaf in leaves],
           lin.weight.grad.numpy(), lin.bias.grad.numpy(), RTOL_AUTODIFF)


# ---------------------------------------------------------------- the naive twin

@pytest.mark.parametrize("hidden,cells,skip,form", HAND_BUILT[1::2])
@pytest.mark.parametrize("loss", LOSSES)
def test_kernel_matches_naive(hidden, cells, skip, form, loss, rng):
    st = _hand_stack(hidden, cells, skip, form)
    ro = _readout(rng, hidden[-1])
    u = rng.standard_normal((T, B, M))
    kw = _loss_kw(rng, loss)
    g = stack_loss_and_grad(st, ro, u, loss=loss, error_rule="absolute", error_tol=0.5,
                            **kw)
    _, lab, tgt = _loss_arrays(loss, T, B, K, kw.get("labels"), kw.get("targets"),
                               kw.get("mask"))
    grad, wrong, E = naive.stack_bptt(st, ro.V, ro.c, LOSS_CODE[loss], lab, tgt, u, 1, 0.5)
    theta = st.pack()[0]
    for name, a, w in (("theta", g.grad[:theta.size], grad[:theta.size]),
                       ("V, c", g.grad[theta.size:], grad[theta.size:])):
        assert _rel(a, w) < RTOL_KERNEL, name
    assert g.loss == pytest.approx(E, rel=RTOL_KERNEL)
    np.testing.assert_array_equal(g.wrong, wrong)


# ---------------------------------------------------------------- one layer

@pytest.mark.parametrize("cell,form", [("vanilla", "pascanu"), ("vanilla", "elman"),
                                       ("lstm", "pascanu"), ("gru", "pascanu")])
@pytest.mark.parametrize("loss", LOSSES)
def test_one_layer_stack_is_the_one_layer_kernel(cell, form, loss, rng):
    kw_model = {"form": form, "activation": "sigmoid"} if cell == "vanilla" else {}
    rnn = make_rnn(5, n_inputs=M, cell=cell, gain=1.2, seed=2, **kw_model)
    ro = _readout(rng, 5)
    u = rng.standard_normal((T, B, M))
    kw = _loss_kw(rng, loss)
    g = stack_loss_and_grad(Stack([rnn]), ro, u, loss=loss, **kw)
    ref = loss_and_grad(Params.from_parts(rnn, ro), u, loss=loss, omega="off", **kw)
    _check(g, [(ref.W, ref.U, ref.b)], ref.V, ref.c, RTOL_ONE_LAYER)
    assert g.loss == pytest.approx(ref.loss, rel=RTOL_ONE_LAYER)
    np.testing.assert_array_equal(g.wrong, ref.wrong)
    # an RNN is taken as the one-layer stack it is
    np.testing.assert_array_equal(stack_loss_and_grad(rnn, ro, u, loss=loss, **kw).grad,
                                  g.grad)


# ---------------------------------------------------------------- clipping and refusals

def test_clipping_is_the_training_loops(rng):
    st = _hand_stack((4, 5), "gru", "residual", "pascanu")
    ro = _readout(rng, 5)
    u = 3.0 * rng.standard_normal((T, B, M))
    kw = _loss_kw(rng, "ce-all")
    raw = stack_loss_and_grad(st, ro, u, **kw, loss="ce-all")
    threshold = 0.5 * raw.norm
    clipped = stack_loss_and_grad(st, ro, u, **kw, loss="ce-all", clip="norm",
                                  threshold=threshold)
    want = raw.grad.copy()
    norm, was = optim.clip_norm(want, threshold)
    assert clipped.clipped and was and clipped.norm == norm == raw.norm
    np.testing.assert_array_equal(clipped.grad, want)
    # the views follow the clipped vector
    np.testing.assert_array_equal(clipped.layers[1][0], want[st.pack()[1][1, 4]:][:15 * 5]
                                  .reshape(15, 5))
    assert not raw.clipped


def test_refusals_are_one_line(rng):
    u = rng.standard_normal((T, B, M))
    lab = rng.integers(0, K, size=B)
    bi = make_stack([3, 3], bidirectional=True, n_inputs=M, seed=1)
    with pytest.raises(InputError, match="causality") as info:
        stack_loss_and_grad(bi, _readout(rng, 3), u, lab)
    assert "\n" not in str(info.value)
    st = _hand_stack((4, 5), "gru", "none", "pascanu")
    with pytest.raises(InputError, match=r"readout: V must have shape \(K, 5\)"):
        stack_loss_and_grad(st, _readout(rng, 4), u, lab)
    with pytest.raises(InputError, match="3 channels"):
        stack_loss_and_grad(st, _readout(rng, 5), u[:, :, :2], lab)
    with pytest.raises(InputError, match="clip"):
        stack_loss_and_grad(st, _readout(rng, 5), u, lab, clip="global")
