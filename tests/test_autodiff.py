"""Autodiff oracle: Jacobian products and a BPTT gradient against PyTorch (float64)."""

import numpy as np
import pytest

from conftest import RTOL_AUTODIFF
from rnndyn.gradflow import jacobian_product
from rnndyn.inputs import make_inputs
from rnndyn.models import make_rnn
from rnndyn.simulate import trajectory

torch = pytest.importorskip("torch", reason="PyTorch (CPU) is the autodiff oracle; "
                                            "install it with `pip install torch`")

pytestmark = pytest.mark.torch

ACTS = ("tanh", "sigmoid", "relu", "linear")
CASES = [(act, form) for act in ACTS for form in ("pascanu", "elman")]


def _sigma(name):
    return {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu,
            "linear": lambda x: x}[name]


def _step(rnn, W, U, b, x, u):
    """One update in torch, the same two forms as rnndyn.models.RNN.step."""
    s = _sigma(rnn.activation)
    if rnn.form == "pascanu":
        return W @ s(x) + U @ u + b
    return s(W @ x + U @ u + b)


def _tensors(rnn, u):
    t = lambda a: torch.tensor(np.asarray(a), dtype=torch.float64)  # noqa: E731
    return t(rnn.W), t(rnn.U), t(rnn.b), t(u)


def _setup(act, form, T, gain=1.2, seed=1):
    rnn = make_rnn(5, n_inputs=2, activation=act, form=form, gain=gain, seed=seed)
    u = make_inputs("gaussian", T, 2, seed=seed + 1)
    x0 = np.random.default_rng(seed + 2).standard_normal(5)
    X, D = trajectory(rnn, x0, T, u)
    return rnn, u, x0, X, D


@pytest.mark.parametrize("act, form", CASES)
def test_jacobian_products_match_torch(act, form):
    T = 12
    rnn, u, _, X, D = _setup(act, form, T)
    W, U, b, ut = _tensors(rnn, u)
    for k in (0, 5, T - 1, T):
        def x_T(xk, k=k):
            x = xk
            for t in range(k + 1, T + 1):
                x = _step(rnn, W, U, b, x, ut[t - 1])
            return x
        want = torch.autograd.functional.jacobian(x_T, torch.tensor(X[k])).numpy()
        P, ls = jacobian_product(rnn, D, k)
        got = P * np.exp(ls)
        scale = np.abs(want).max()
        np.testing.assert_allclose(got, want, rtol=RTOL_AUTODIFF, atol=RTOL_AUTODIFF * scale,
                                   err_msg=f"k = {k}")


@pytest.mark.parametrize("form", ("pascanu", "elman"))
def test_long_product_matches_torch(form):
    # 60 steps of a saturating network at gain 3: the product's size changes by tens of
    # orders of magnitude, so it only exists here through the renormalisation
    T = 60
    rnn, u, _, X, D = _setup("tanh", form, T, gain=3.0, seed=4)
    W, U, b, ut = _tensors(rnn, u)

    def x_T(x0):
        x = x0
        for t in range(1, T + 1):
            x = _step(rnn, W, U, b, x, ut[t - 1])
        return x

    want = torch.autograd.functional.jacobian(x_T, torch.tensor(X[0])).numpy()
    P, ls = jacobian_product(rnn, D, 0)
    assert abs(ls) > 10.0  # the renormalisation did work
    np.testing.assert_allclose(P * np.exp(ls), want, rtol=RTOL_AUTODIFF,
                               atol=RTOL_AUTODIFF * np.abs(want).max())


@pytest.mark.parametrize("act, form", CASES)
def test_bptt_gradient_from_products_matches_torch_backward(act, form):
    """∂E/∂W = Σ_k ∂E/∂x_T · ∂x_T/∂x_k · ∂⁺x_k/∂W (Pascanu et al. 2013, eq. 3-5)."""
    T = 10
    rnn, u, x0, X, D = _setup(act, form, T, seed=7)
    y = np.random.default_rng(9).standard_normal(5)
    # torch: the loss E = ½‖x_T − y‖² through the unrolled network
    W, U, b, ut = _tensors(rnn, u)
    W.requires_grad_(True)
    U.requires_grad_(True)
    x = torch.tensor(x0)
    for t in range(1, T + 1):
        x = _step(rnn, W, U, b, x, ut[t - 1])
    E = 0.5 * torch.sum((x - torch.tensor(y)) ** 2)
    E.backward()
    # rnndyn: assembled from the Jacobian products
    from rnndyn.activations import sigma
    dE_dxT = X[T] - y
    gW = np.zeros_like(rnn.W)
    gU = np.zeros_like(rnn.U)
    for k in range(1, T + 1):
        P, ls = jacobian_product(rnn, D, k)
        delta_k = dE_dxT @ (P * np.exp(ls))          # ∂E/∂x_k
        if rnn.form == "pascanu":                    # x_k = W σ(x_{k-1}) + U u_k + b
            gW += np.outer(delta_k, sigma(rnn.activation, X[k - 1]))
            gU += np.outer(delta_k, u[k - 1])
        else:                                        # h_k = σ(W h_{k-1} + U u_k + b)
            gW += np.outer(delta_k * D[k - 1], X[k - 1])
            gU += np.outer(delta_k * D[k - 1], u[k - 1])
    for got, want in ((gW, W.grad.numpy()), (gU, U.grad.numpy())):
        np.testing.assert_allclose(got, want, rtol=RTOL_AUTODIFF,
                                   atol=RTOL_AUTODIFF * np.abs(want).max())
