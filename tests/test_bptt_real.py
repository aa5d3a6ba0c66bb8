"""The real-data losses of the BPTT kernel: independent Bernoulli per output at every
step (piano rolls, nats per step) and softmax cross-entropy k steps ahead (characters),
against the naive twin and PyTorch's float64 autodiff; padding masks; the old losses'
numbers unchanged."""

import numpy as np
import pytest

import naive
from conftest import RTOL_AUTODIFF, RTOL_KERNEL
from rnndyn._kernels import bptt as _k
from rnndyn._validate import InputError
from rnndyn.activations import CODES
from rnndyn.training import (_grad, ahead_labels, bernoulli_targets, init_params,
                             loss_and_grad)

ACTS = ("tanh", "sigmoid", "relu", "linear")
FORMS = ("pascanu", "elman")


def _rel(a, b):
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


def _roll_problem(rng, act, form, N=6, K=5, T=7, B=3, pad=True):
    """Piano-roll-like minibatch: inputs = frame t, targets = frame t+1, with padding."""
    P = init_params(N, K, K, "gaussian", activation=act, form=form, gain=0.9, seed=2)
    P.theta += 0.3 * rng.standard_normal(P.size)
    roll = (rng.random((T + 1, B, K)) < 0.4).astype(np.float64)
    mask = np.ones((T, B), dtype=bool)
    if pad:
        mask[T - 2:, 0] = False      # sequence 0 is two steps shorter
        mask[T - 1:, 2] = False
    u = roll[:-1] * mask[:, :, None]
    return P, np.ascontiguousarray(u), roll[1:], mask


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("form", FORMS)
def test_bernoulli_kernel_matches_naive(act, form, rng):
    P, u, z, mask = _roll_problem(rng, act, form)
    tgt = bernoulli_targets(z, mask)
    lab = np.full(mask.shape, -1, dtype=np.int64)
    for omega, alpha in ((0, 0.0), (1, 0.7), (2, 1.3)):
        g = _grad(P, u, _k.LOSS_BERNOULLI, lab, tgt, omega, alpha, 0, 0.04)
        ref = naive.bptt_bernoulli(P.W, P.U, P.b, P.V, P.c, CODES[act], FORMS.index(form),
                                   tgt, u, omega, alpha)
        for got, want in zip((g.W, g.U, g.b, g.V, g.c), ref[:5]):
            assert _rel(got, want) < RTOL_KERNEL
        assert g.loss == pytest.approx(ref[5], rel=RTOL_KERNEL)
        assert g.omega == pytest.approx(ref[6], rel=RTOL_KERNEL, abs=1e-300)


def test_bernoulli_evaluate_kernel_matches_bptt(rng):
    P, u, z, mask = _roll_problem(rng, "sigmoid", "pascanu")
    tgt = bernoulli_targets(z, mask)
    lab = np.full(mask.shape, -1, dtype=np.int64)
    g = _grad(P, u, _k.LOSS_BERNOULLI, lab, tgt, 0, 0.0, 0, 0.04)
    wrong, stats = np.empty(u.shape[1]), np.zeros(2)
    _k._evaluate(P.W, P.U, P.b, P.V, P.c, CODES["sigmoid"], 0, _k.LOSS_BERNOULLI, lab, tgt,
                 u, 0, 0.04, wrong, stats)
    assert stats[0] == pytest.approx(g.loss, rel=1e-13)
    np.testing.assert_array_equal(wrong > 0.5, g.wrong)


def test_bernoulli_loss_is_stable_for_huge_logits(rng):
    P, u, z, mask = _roll_problem(rng, "tanh", "pascanu", pad=False)
    P.theta[-P.K:] = np.where(np.arange(P.K) % 2, 800.0, -800.0)   # c: y = ±800
    g = loss_and_grad(P, u, targets=z, loss="bernoulli-all")
    assert np.isfinite(g.loss) and np.all(np.isfinite(g.grad))


def test_masked_steps_contribute_nothing(rng):
    """Padding at the end of a sequence changes neither E nor ∇E of the real steps."""
    P, u, z, _ = _roll_problem(rng, "tanh", "elman", pad=False, T=6, B=2)
    short = loss_and_grad(P, u[:4], targets=z[:4], loss="bernoulli-all")
    pad_u = u.copy()
    pad_u[4:] = 0.0
    mask = np.ones((6, 2), dtype=bool)
    mask[4:] = False
    padded = loss_and_grad(P, pad_u, targets=z, loss="bernoulli-all", mask=mask)
    assert padded.loss == pytest.approx(short.loss, rel=1e-13)
    np.testing.assert_allclose(padded.grad, short.grad, rtol=1e-12, atol=1e-15)


def test_ahead_labels_shift_and_pad():
    codes = np.array([[3, 1, 4, 1, 5, 9]]).T          # (T=6, B=1)
    np.testing.assert_array_equal(ahead_labels(codes, 1)[:, 0], [1, 4, 1, 5, 9, -1])
    np.testing.assert_array_equal(ahead_labels(codes, 5)[:, 0], [9, -1, -1, -1, -1, -1])
    with pytest.raises(InputError, match="ahead"):
        ahead_labels(codes, 6)


@pytest.mark.parametrize("bad, match", [
    (dict(targets=None), "needs targets"),
    (dict(targets=np.full((7, 3, 5), 0.5)), "0 or 1"),
    (dict(mask=np.ones((7, 2), dtype=bool)), "mask"),
])
def test_bernoulli_bad_input(bad, match, rng):
    P, u, z, mask = _roll_problem(rng, "tanh", "pascanu")
    kw = dict(targets=z, loss="bernoulli-all")
    kw.update(bad)
    with pytest.raises(InputError, match=match):
        loss_and_grad(P, u, **kw)


def test_mask_is_refused_for_other_losses(rng):
    P, u, z, mask = _roll_problem(rng, "tanh", "pascanu")
    with pytest.raises(InputError, match="mask"):
        loss_and_grad(P, u, labels=np.zeros(3, dtype=int), loss="ce-last", mask=mask)


# ------------------------------------------------------------------ torch autodiff

def _torch_forward(torch, P, u):
    dt = torch.float64
    ts = [torch.tensor(a, dtype=dt, requires_grad=True) for a in (P.W, P.U, P.b, P.V, P.c)]
    W, U, b, V, c = ts
    act = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu,
           "linear": lambda x: x}[P.activation]
    T, B, _ = u.shape
    uu = torch.tensor(u, dtype=dt)
    r = act(torch.zeros(B, P.N, dtype=dt)) if P.form == "pascanu" else \
        torch.zeros(B, P.N, dtype=dt)
    outs = []
    for t in range(T):
        r = act(r @ W.T + uu[t] @ U.T + b)
        outs.append(r @ V.T + c)
    return torch.stack(outs), ts


@pytest.mark.torch
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("form", FORMS)
def test_bernoulli_gradient_equals_torch(act, form, rng):
    """E = BCEWithLogitsLoss(reduction='sum') over the unmasked steps / their number."""
    torch = pytest.importorskip("torch", reason="torch is the autodiff oracle")
    P, u, z, mask = _roll_problem(rng, act, form)
    Y, ts = _torch_forward(torch, P, u)
    m = torch.tensor(mask)
    E = torch.nn.functional.binary_cross_entropy_with_logits(
        Y[m], torch.tensor(z, dtype=torch.float64)[m], reduction="sum") / int(mask.sum())
    E.backward()
    g = loss_and_grad(P, u, targets=z, loss="bernoulli-all", mask=mask)
    assert g.loss == pytest.approx(E.item(), rel=RTOL_AUTODIFF)
    for got, t in zip((g.W, g.U, g.b, g.V, g.c), ts):
        want = t.grad.numpy()
        np.testing.assert_allclose(got, want, rtol=RTOL_AUTODIFF,
                                   atol=RTOL_AUTODIFF * np.abs(want).max())


@pytest.mark.torch
@pytest.mark.parametrize("ahead", (1, 3))
@pytest.mark.parametrize("act", ("tanh", "sigmoid"))
def test_ce_ahead_gradient_equals_torch(ahead, act, rng):
    """Characters k steps ahead: one-hot input c_t, target c_{t+k}, CE averaged over
    the predicted steps; bits = nats / ln 2."""
    torch = pytest.importorskip("torch", reason="torch is the autodiff oracle")
    C, T, B = 6, 9, 3
    P = init_params(7, C, C, "gaussian", activation=act, gain=1.1, seed=4)
    P.theta += 0.2 * rng.standard_normal(P.size)
    codes = rng.integers(0, C, size=(T, B))
    u = np.eye(C)[codes]
    lab = ahead_labels(codes, ahead)
    Y, ts = _torch_forward(torch, P, u)
    E = torch.nn.functional.cross_entropy(Y.reshape(T * B, C),
                                          torch.tensor(lab.reshape(-1)), ignore_index=-1)
    E.backward()
    g = loss_and_grad(P, u, labels=lab, loss="ce-all")
    assert g.loss == pytest.approx(E.item(), rel=RTOL_AUTODIFF)
    for got, t in zip((g.W, g.U, g.b, g.V, g.c), ts):
        want = t.grad.numpy()
        np.testing.assert_allclose(got, want, rtol=RTOL_AUTODIFF,
                                   atol=RTOL_AUTODIFF * np.abs(want).max())


@pytest.mark.torch
def test_bernoulli_clipped_step_equals_torch_nn_rnn(rng):
    """One SGD-C step: nn.RNN(sigmoid is not offered: tanh, elman form) + nn.Linear +
    BCEWithLogitsLoss + clip_grad_norm_ against loss_and_grad + optim.clip_norm."""
    torch = pytest.importorskip("torch", reason="torch is the autodiff oracle")
    from rnndyn import optim
    P, u, z, _ = _roll_problem(rng, "tanh", "elman", pad=False)
    dt = torch.float64
    rnn = torch.nn.RNN(P.M, P.N, nonlinearity="tanh", bias=True).to(dt)
    lin = torch.nn.Linear(P.N, P.K).to(dt)
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(torch.tensor(P.W))
        rnn.weight_ih_l0.copy_(torch.tensor(P.U))
        rnn.bias_ih_l0.copy_(torch.tensor(P.b))
        rnn.bias_hh_l0.zero_()
        lin.weight.copy_(torch.tensor(P.V))
        lin.bias.copy_(torch.tensor(P.c))
    h, _ = rnn(torch.tensor(u, dtype=dt))
    T, B, K = z.shape
    E = torch.nn.BCEWithLogitsLoss(reduction="sum")(lin(h), torch.tensor(z, dtype=dt)) / (T * B)
    E.backward()
    params = [rnn.weight_hh_l0, rnn.weight_ih_l0, rnn.bias_ih_l0, lin.weight, lin.bias]
    tnorm = float(torch.nn.utils.clip_grad_norm_(params, 0.5))
    g = loss_and_grad(P, u, targets=z, loss="bernoulli-all")
    norm, clipped = optim.clip_norm(g.grad, 0.5)
    assert clipped and norm == pytest.approx(tnorm, rel=1e-12)
    for got, t in zip((g.W, g.U, g.b, g.V, g.c), params):
        np.testing.assert_allclose(got, t.grad.numpy(), rtol=1e-10, atol=1e-14)
