"""BPTT kernels: naive twin, torch autodiff (float64), the regulariser's direct term
against a finite difference of Ω with x_k and δ_{k+1} frozen, and clipping vs torch."""

import numpy as np
import pytest

import naive
from conftest import FD_STEP, RTOL_AUTODIFF, RTOL_FD, RTOL_KERNEL
from rnndyn import optim
from rnndyn._kernels import bptt as _k
from rnndyn.activations import CODES, dsigma, sigma
from rnndyn.training import Params, _grad, init_params, loss_and_grad

ACTS = ("tanh", "sigmoid", "relu", "linear")
FORMS = ("pascanu", "elman")
LOSSES = ("ce-last", "ce-all", "mse-last")


def _problem(rng, act, form, loss, N=6, M=3, K=4, T=7, B=3):
    """Random parameters (perturbed so no symmetry hides a bug) and a minibatch."""
    P = init_params(N, M, K, "gaussian", activation=act, form=form, gain=0.9, seed=1)
    P.theta += 0.2 * rng.standard_normal(P.size)
    u = rng.standard_normal((T, B, M))
    labels = targets = None
    if loss == "ce-last":
        labels = rng.integers(0, K, size=B)
    elif loss == "ce-all":
        labels = rng.integers(-1, K, size=(T, B))
        labels[-1] = rng.integers(0, K, size=B)
    else:
        targets = rng.standard_normal((B, K))
    return P, u, labels, targets


def _kernel_args(P, u, loss, labels, targets):
    T, B, _ = u.shape
    if loss == "mse-last":
        return _k.LOSS_MSE, np.full((T, B), -1, dtype=np.int64), targets
    lab = labels
    if loss == "ce-last":
        lab = np.full((T, B), -1, dtype=np.int64)
        lab[-1] = labels
    return _k.LOSS_CE, np.ascontiguousarray(lab, dtype=np.int64), np.zeros((B, P.K))


def _rel(a, b):
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("loss", LOSSES)
def test_kernel_matches_naive(act, form, loss, rng):
    P, u, labels, targets = _problem(rng, act, form, loss)
    code, lab, tgt = _kernel_args(P, u, loss, labels, targets)
    for omega, alpha in ((0, 0.0), (1, 0.7), (2, 1.3)):
        g = _grad(P, u, code, lab, tgt, omega, alpha, 0, 0.04)
        ref = naive.bptt(P.W, P.U, P.b, P.V, P.c, CODES[act], 0 if form == "pascanu" else 1,
                         code, lab, tgt, u, 0, 0.04, omega, alpha)
        for got, want in zip((g.W, g.U, g.b, g.V, g.c), ref[:5]):
            assert _rel(got, want) < RTOL_KERNEL
        assert g.loss == pytest.approx(ref[6], rel=RTOL_KERNEL)
        assert g.omega == pytest.approx(ref[7], rel=RTOL_KERNEL, abs=1e-300)
        np.testing.assert_array_equal(g.wrong, ref[5])


@pytest.mark.parametrize("form", FORMS)
def test_omega_gradient_finite_deep_in_the_vanishing_regime(form, rng):
    """The paper's sigmoid init (W ~ N(0, 0.01²)) at T = 120: δ_k falls to ~1e-200,
    where ‖δ‖‖v‖ underflows; Ω depends on δ's direction only, so its gradient must
    still be finite and equal to the twin's (which rescales δ before the norms)."""
    N, M, K, T, B = 8, 3, 4, 120, 2
    P = init_params(N, M, K, "sigmoid", form=form, seed=3)
    u = rng.standard_normal((T, B, M))
    labels = rng.integers(0, K, size=B)
    code, lab, tgt = _kernel_args(P, u, "ce-last", labels, None)
    g0 = _grad(P, u, code, lab, tgt, 0, 0.0, 0, 0.04)
    g = _grad(P, u, code, lab, tgt, 2, 4.0, 0, 0.04)
    assert np.all(np.isfinite(g.W)) and np.isfinite(g.omega)
    ref = naive.bptt(P.W, P.U, P.b, P.V, P.c, CODES["sigmoid"], 0 if form == "pascanu" else 1,
                     code, lab, tgt, u, 0, 0.04, 2, 4.0)
    # the Ω part of the W gradient (the loss part is the same in both)
    assert _rel(g.W - g0.W, ref[0] - g0.W) < RTOL_KERNEL
    assert g.omega == pytest.approx(ref[7], rel=RTOL_KERNEL)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("loss", ("ce-all", "mse-last"))
def test_evaluate_kernel_matches_naive(form, loss, rng):
    P, u, labels, targets = _problem(rng, "tanh", form, loss)
    code, lab, tgt = _kernel_args(P, u, loss, labels, targets)
    wrong = np.empty(u.shape[1])
    stats = np.zeros(2)
    _k._evaluate(P.W, P.U, P.b, P.V, P.c, CODES["tanh"], FORMS.index(form), code, lab, tgt,
                 u, 1, 0.5, wrong, stats)
    ref_wrong, ref_E = naive.evaluate(P.W, P.U, P.b, P.V, P.c, CODES["tanh"], FORMS.index(form),
                                      code, lab, tgt, u, 1, 0.5)
    np.testing.assert_array_equal(wrong > 0.5, ref_wrong)
    assert stats[0] == pytest.approx(ref_E, rel=RTOL_KERNEL)


def _frozen_omega(W, P, u, states, deltas, form, mode):
    """Ω of eq. (10) as a function of W alone: x_k (or h_k) and δ_{k+1} frozen."""
    name = P.activation
    T = u.shape[0]
    B = u.shape[1]
    total = 0.0
    for s in range(B):
        terms = []
        for k in range(T):
            d = deltas[s][k]
            if form == "pascanu":
                J = W @ np.diag(dsigma(name, states[s][k]))
            else:
                a = W @ states[s][k] + P.U @ u[k, s] + P.b
                J = np.diag(dsigma(name, a)) @ W
            terms.append((np.linalg.norm(d @ J) / np.linalg.norm(d) - 1.0) ** 2)
        total += (np.mean(terms) if mode == "mean" else np.sum(terms)) / B
    return total


def _states_and_deltas(P, u, loss, labels, targets):
    """States x_k / h_k (k = 0..T-1) and δ_{k+1} = dE/d(state_{k+1}) from the naive twin."""
    name = P.activation
    T, B, _ = u.shape
    code, lab, tgt = _kernel_args(P, u, loss, labels, targets)
    states, deltas = [], []
    for s in range(B):
        # per-sequence loss derivative, by the twin's backward on a batch of one
        r = [sigma(name, np.zeros(P.N)) if P.form == "pascanu" else np.zeros(P.N)]
        p = [np.zeros(P.N)]
        for t in range(1, T + 1):
            p.append(P.W @ r[-1] + P.U @ u[t - 1, s] + P.b)
            r.append(sigma(name, p[-1]))
        n_lab = B * P.K if code == _k.LOSS_MSE else max(int(np.sum(lab >= 0)), 1)
        e = [np.zeros(P.K) for _ in range(T + 1)]
        for t in range(1, T + 1):
            y = P.V @ r[t] + P.c
            if code == _k.LOSS_CE and lab[t - 1, s] >= 0:
                prob = np.exp(y - y.max())
                prob /= prob.sum()
                prob[lab[t - 1, s]] -= 1.0
                e[t] = prob / n_lab
            elif code == _k.LOSS_MSE and t == T:
                e[t] = 2.0 * (y - tgt[s]) / n_lab
        g = np.zeros(P.N)
        dr = [None] * (T + 1)
        gs = [None] * (T + 2)
        gs[T + 1] = g
        for t in range(T, 0, -1):
            dr[t] = P.V.T @ e[t] + P.W.T @ gs[t + 1]
            gs[t] = dr[t] * dsigma(name, p[t])
        if P.form == "pascanu":
            states.append(p[:T])
            deltas.append(gs[1:T + 1])
        else:
            states.append(r[:T])
            deltas.append(dr[1:T + 1])
    return states, deltas


@pytest.mark.parametrize("act", ("tanh", "sigmoid", "relu"))
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("mode", ("sum", "mean"))
def test_omega_direct_term_is_finite_difference_of_frozen_omega(act, form, mode, rng):
    P, u, labels, targets = _problem(rng, act, form, "ce-all", N=5, T=6, B=2)
    states, deltas = _states_and_deltas(P, u, "ce-all", labels, targets)
    alpha = 1.0
    with_omega = loss_and_grad(P, u, labels, loss="ce-all", omega=mode, alpha=alpha)
    without = loss_and_grad(P, u, labels, loss="ce-all", omega="off")
    dW = (with_omega.W - without.W) / alpha
    W0 = P.W.copy()
    assert with_omega.omega == pytest.approx(
        _frozen_omega(W0, P, u, states, deltas, form, mode), rel=RTOL_KERNEL)
    fd = np.empty_like(W0)
    for i in range(P.N):
        for j in range(P.N):
            Wp, Wm = W0.copy(), W0.copy()
            Wp[i, j] += FD_STEP
            Wm[i, j] -= FD_STEP
            fd[i, j] = (_frozen_omega(Wp, P, u, states, deltas, form, mode)
                        - _frozen_omega(Wm, P, u, states, deltas, form, mode)) / (2 * FD_STEP)
    np.testing.assert_allclose(dW, fd, rtol=RTOL_FD, atol=RTOL_FD * np.max(np.abs(fd)))
    # the other parameters never see Ω
    np.testing.assert_array_equal(with_omega.U, without.U)
    np.testing.assert_array_equal(with_omega.V, without.V)


def test_mean_and_sum_conventions_differ_by_the_number_of_terms(rng):
    P, u, labels, _ = _problem(rng, "tanh", "pascanu", "ce-last", T=9, B=1)
    s = loss_and_grad(P, u, labels, omega="sum").omega
    m = loss_and_grad(P, u, labels, omega="mean").omega
    assert s == pytest.approx(9 * m, rel=RTOL_KERNEL)


# ------------------------------------------------------------------ torch autodiff

def _torch_loss(torch, P, u, loss, labels, targets, Wt=None):
    """E in torch (float64) with the same graph; returns (E, params, states, pre-deltas)."""
    dt = torch.float64
    W = Wt if Wt is not None else torch.tensor(P.W, dtype=dt, requires_grad=True)
    U = torch.tensor(P.U, dtype=dt, requires_grad=True)
    b = torch.tensor(P.b, dtype=dt, requires_grad=True)
    V = torch.tensor(P.V, dtype=dt, requires_grad=True)
    c = torch.tensor(P.c, dtype=dt, requires_grad=True)
    act = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu,
           "linear": lambda x: x}[P.activation]
    T, B, _ = u.shape
    uu = torch.tensor(u, dtype=dt)
    r = act(torch.zeros(B, P.N, dtype=dt)) if P.form == "pascanu" else torch.zeros(B, P.N,
                                                                                  dtype=dt)
    ps, rs = [], []
    outs = []
    for t in range(T):
        p = r @ W.T + uu[t] @ U.T + b
        r = act(p)
        ps.append(p)
        rs.append(r)
        outs.append(r @ V.T + c)
    if loss == "mse-last":
        E = torch.nn.functional.mse_loss(outs[-1], torch.tensor(targets, dtype=dt))
    else:
        lab = np.full((T, B), -1, dtype=np.int64)
        if loss == "ce-last":
            lab[-1] = labels
        else:
            lab = labels
        E = torch.nn.functional.cross_entropy(torch.stack(outs).reshape(T * B, P.K),
                                              torch.tensor(lab.reshape(-1)), ignore_index=-1)
    return E, (W, U, b, V, c), ps, rs


@pytest.mark.torch
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("loss", LOSSES)
def test_gradients_equal_torch_autodiff(act, form, loss, rng):
    torch = pytest.importorskip("torch", reason="torch is the autodiff oracle")
    P, u, labels, targets = _problem(rng, act, form, loss, N=8, M=3, K=4, T=12, B=5)
    g = loss_and_grad(P, u, labels, targets, loss=loss, omega="off")
    E, params, _, _ = _torch_loss(torch, P, u, loss, labels, targets)
    E.backward()
    assert g.loss == pytest.approx(E.item(), rel=RTOL_AUTODIFF)
    for mine, tp in zip((g.W, g.U, g.b, g.V, g.c), params):
        assert _rel(mine, tp.grad.numpy()) < RTOL_AUTODIFF


@pytest.mark.torch
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("mode", ("sum", "mean"))
def test_omega_gradient_equals_torch_with_constants_detached(act, form, mode, rng):
    torch = pytest.importorskip("torch", reason="torch is the autodiff oracle")
    P, u, labels, targets = _problem(rng, act, form, "ce-all", N=7, T=10, B=4)
    dt = torch.float64
    E, params, ps, rs = _torch_loss(torch, P, u, "ce-all", labels, targets)
    state = ps if form == "pascanu" else rs
    deltas = torch.autograd.grad(E, state)
    Wv = torch.tensor(P.W, dtype=dt, requires_grad=True)
    sig = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu,
           "linear": lambda x: x}[act]
    U, b = params[1].detach(), params[2].detach()
    uu = torch.tensor(u, dtype=dt)
    T, B = u.shape[:2]
    x0 = torch.zeros(B, P.N, dtype=dt)
    total = 0.0
    for s in range(B):
        terms = []
        for k in range(T):
            d = deltas[k][s].detach()                         # δ_{k+1}
            xk = (x0[s] if k == 0 else state[k - 1][s]).detach()
            if form == "pascanu":
                xk_req = xk.clone().requires_grad_(True)
                dsg = torch.autograd.grad(sig(xk_req).sum(), xk_req)[0] \
                    if act != "linear" else torch.ones_like(xk)
                v = (d @ Wv) * dsg                            # δ W diag(σ'(x_k))
            else:
                a = Wv @ xk + U @ uu[k, s] + b
                a_req = a
                dsg = torch.autograd.grad(sig(a_req).sum(), a_req, create_graph=True)[0] \
                    if act != "linear" else torch.ones_like(a)
                v = (d * dsg) @ Wv                            # δ diag(σ'(a_{k+1})) W
            terms.append((torch.linalg.norm(v) / torch.linalg.norm(d) - 1.0) ** 2)
        st = torch.stack(terms)
        total = total + (st.mean() if mode == "mean" else st.sum()) / B
    total.backward()
    mine = loss_and_grad(P, u, labels, loss="ce-all", omega=mode, alpha=2.5)
    base = loss_and_grad(P, u, labels, loss="ce-all", omega="off")
    assert mine.omega == pytest.approx(total.item(), rel=RTOL_AUTODIFF)
    assert _rel((mine.W - base.W) / 2.5, Wv.grad.numpy()) < 1e-9


@pytest.mark.torch
def test_norm_clipping_matches_torch_clip_grad_norm(rng):
    torch = pytest.importorskip("torch", reason="torch is the clipping reference")
    P, u, labels, _ = _problem(rng, "tanh", "pascanu", "ce-last")
    for scale, thr in ((1.0, 1e-3), (1.0, 1e3), (50.0, 0.7)):
        g = loss_and_grad(P, u, labels).grad * scale
        tensors = [torch.tensor(v.copy()) for v in P.views(g.copy())]
        for t in tensors:
            t.grad = t.clone()
        total = torch.nn.utils.clip_grad_norm_(tensors, thr)
        mine = g.copy()
        norm, clipped = optim.clip_norm(mine, thr)
        assert norm == pytest.approx(total.item(), rel=RTOL_AUTODIFF)
        assert clipped == (norm > thr)
        theirs = np.concatenate([t.grad.numpy().ravel() for t in tensors])
        assert _rel(mine, theirs) < RTOL_AUTODIFF
        vals = g.copy()
        optim.clip_value(vals, thr)
        tv = [torch.tensor(v.copy()) for v in P.views(g.copy())]
        for t in tv:
            t.grad = t.clone()
        torch.nn.utils.clip_grad_value_(tv, thr)
        np.testing.assert_array_equal(vals, np.concatenate([t.grad.numpy().ravel() for t in tv]))


def test_sgd_momentum_matches_torch_convention():
    theta = np.array([1.0, -2.0])
    buf = np.zeros(2)
    g = np.array([0.5, 0.25])
    optim.sgd_step(theta, g, 0.1, 0.9, buf)
    optim.sgd_step(theta, g, 0.1, 0.9, buf)
    # v1 = g, v2 = 0.9 g + g
    np.testing.assert_allclose(theta, [1.0, -2.0] - 0.1 * (g + 1.9 * g), rtol=1e-15)


def test_bad_arguments_name_themselves(rng):
    P, u, labels, targets = _problem(rng, "tanh", "pascanu", "ce-last")
    with pytest.raises(ValueError, match="inputs must have 3 channels"):
        loss_and_grad(P, u[:, :, :2], labels)
    with pytest.raises(ValueError, match="labels must have shape"):
        loss_and_grad(P, u, labels[:2])
    with pytest.raises(ValueError, match="labels must lie in"):
        loss_and_grad(P, u, labels + 10)
    with pytest.raises(TypeError, match="labels must be integers"):
        loss_and_grad(P, u, labels.astype(float))
    with pytest.raises(ValueError, match="needs targets"):
        loss_and_grad(P, u, loss="mse-last")
    with pytest.raises(ValueError, match="unknown loss"):
        loss_and_grad(P, u, labels, loss="hinge")
    with pytest.raises(ValueError, match="unknown omega"):
        loss_and_grad(P, u, labels, omega="max")
    with pytest.raises(ValueError, match="alpha must be >= 0"):
        loss_and_grad(P, u, labels, alpha=-1.0)
    with pytest.raises(ValueError, match="inputs contains"):
        loss_and_grad(P, np.full_like(u, np.nan), labels)
    with pytest.raises(TypeError, match="params must be a Params"):
        loss_and_grad(P.rnn(), u, labels)
    with pytest.raises(ValueError, match="inputs must have 3 dimension"):
        loss_and_grad(P, u[0], labels)


def test_params_pack_and_unpack(rng):
    P = init_params(4, 2, 3, "smart-tanh", seed=3)
    Q = Params.from_arrays(P.W, P.U, P.b, P.V, P.c, P.activation, P.form)
    np.testing.assert_array_equal(P.theta, Q.theta)
    assert P.size == 16 + 8 + 4 + 12 + 3
    assert np.all(P.V != 0) and np.all(P.c == 0)
    assert np.count_nonzero(P.W, axis=1).max() <= 4
    with pytest.raises(ValueError, match="V must have shape"):
        Params.from_arrays(P.W, P.U, P.b, P.V.T, P.c)


# ------------------------------------------------------------------ saturated units

def _saturated_problem(rng, act, form, N=6, M=3, K=4, T=8, B=3):
    """Gain 4, units 0-2 pinned deep in saturation by biases 26-34 (|p| > 15 at every
    step, where 1 − tanh² and σ(1 − σ) keep no significant digit), units 3-5 driven by
    large inputs; CE at every step, so every unit's row of ∇W carries the tail."""
    P = init_params(N, M, K, "gaussian", activation=act, form=form, gain=4.0, seed=5)
    W, U, b, V, c = P.views(P.theta)
    U[:] = 2.0 * rng.standard_normal((N, M))
    U[:3] *= 0.05
    b[:3] = np.array([26.0, 30.0, 34.0]) * (1 if act == "sigmoid" else np.array([1, -1, 1]))
    u = 3.0 * rng.standard_normal((T, B, M))
    labels = rng.integers(0, K, size=(T, B))
    return P, u, labels


def _csigma(name, z):
    """σ and σ' for complex arguments (complex-step derivatives), accurate in the tails:
    tanh' = 1/cosh², sigmoid' = σ(z)σ(−z) with σ = 1/(1 + e^{−z})."""
    if name == "tanh":
        return np.tanh(z), 1.0 / np.cosh(z) ** 2
    s, sm = 1.0 / (1.0 + np.exp(-z)), 1.0 / (1.0 + np.exp(z))
    return s, s * sm


def _complex_loss(P, theta, u, labels, pre=None):
    """E of the CE-at-every-step loss for a complex parameter vector (same graph);
    appends the pre-activations p_t (B, N) to ``pre`` if given."""
    W, U, b, V, c = P.views(theta)
    T, B, _ = u.shape
    r = (_csigma(P.activation, np.zeros((B, P.N)))[0] if P.form == "pascanu"
         else np.zeros((B, P.N)))
    E = 0.0
    for t in range(T):
        p = r @ W.T + u[t] @ U.T + b
        if pre is not None:
            pre.append(p)
        r = _csigma(P.activation, p)[0]
        y = r @ V.T + c
        m = np.max(y.real, axis=1, keepdims=True)
        lse = np.log(np.sum(np.exp(y - m), axis=1)) + m[:, 0]
        E = E + np.sum(lse - y[np.arange(B), labels[t]])
    return E / (T * B)


def _complex_step_grad(f, theta, h=1e-30):
    """∇f by complex steps: Im f(θ + i h e_j)/h, exact to rounding (no subtraction)."""
    g = np.empty(theta.size)
    for j in range(theta.size):
        z = theta.astype(complex)
        z[j] += 1j * h
        g[j] = f(z).imag / h
    return g


def _frozen_omega_c(P, W, u, states, deltas, mode):
    """:func:`_frozen_omega` for a complex W (σ' of :func:`_csigma`), for complex steps."""
    T, B = u.shape[:2]
    total = 0.0
    for s in range(B):
        terms = []
        for k in range(T):
            d = deltas[s][k]
            if P.form == "pascanu":
                v = (d @ W) * _csigma(P.activation, states[s][k])[1]
            else:
                a = W @ states[s][k] + P.U @ u[k, s] + P.b
                v = (d * _csigma(P.activation, a)[1]) @ W
            # ‖v‖ with complex entries: sqrt(Σ v²), analytic in the step (not |v|)
            terms.append((np.sqrt(np.sum(v * v)) / np.linalg.norm(d) - 1.0) ** 2)
        total = total + (np.mean(terms) if mode == "mean" else np.sum(terms)) / B
    return total


def _rowwise_rel(got, want):
    """max over rows of max|got − want| / max|want| in that row: a saturated unit's row
    is tiny, and a max over the whole matrix would never see its error."""
    got, want = np.atleast_2d(got), np.atleast_2d(want)
    return max(np.max(np.abs(g - w)) / max(np.max(np.abs(w)), 1e-300)
               for g, w in zip(got, want))


@pytest.mark.parametrize("act", ("tanh", "sigmoid"))
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("omega", ("off", "mean"))
def test_saturated_gradients_are_tail_accurate(act, form, omega, rng):
    """σ' kept from the forward pass: every row of every gradient, the saturated units'
    included (~1e-20 of the others), equals complex-step derivatives to 1e-10, and so
    does the naive twin (the reference is accurate there too)."""
    P, u, labels = _saturated_problem(rng, act, form)
    # the saturated units really are beyond the reach of 1 − r², the others not always
    pre = []
    _complex_loss(P, P.theta, u, labels, pre)
    assert np.min(np.abs(np.array(pre)[:, :, :3])) > 15
    assert np.min(np.abs(np.array(pre)[:, :, 3:])) < 1
    alpha = 3.0
    g = loss_and_grad(P, u, labels, loss="ce-all", omega=omega, alpha=alpha)
    ref = _complex_step_grad(lambda th: _complex_loss(P, th, u, labels), P.theta)
    refs = list(P.views(ref))
    if omega != "off":
        states, deltas = _states_and_deltas(P, u, "ce-all", labels, None)
        gW_om = _complex_step_grad(
            lambda w: _frozen_omega_c(P, w.reshape(P.N, P.N), u, states, deltas, omega),
            P.W.ravel()).reshape(P.N, P.N)
        refs[0] = refs[0] + alpha * gW_om
        assert g.omega == pytest.approx(_frozen_omega(P.W, P, u, states, deltas, form,
                                                      omega), rel=RTOL_KERNEL)
    code, lab, tgt = _kernel_args(P, u, "ce-all", labels, None)
    twin = naive.bptt(P.W, P.U, P.b, P.V, P.c, CODES[act], FORMS.index(form), code, lab,
                      tgt, u, 0, 0.04, {"off": 0, "sum": 1, "mean": 2}[omega], alpha)
    assert np.max(np.abs(refs[0][:3])) < 1e-6 * np.max(np.abs(refs[0][3:]))
    for name, mine, tw, want in zip("WUbVc", (g.W, g.U, g.b, g.V, g.c), twin[:5], refs):
        assert _rowwise_rel(mine, want) < RTOL_KERNEL, name
        assert _rowwise_rel(tw, want) < RTOL_KERNEL, name


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("omega", (0, 2))
def test_work_size_covers_the_kernel(form, omega, rng):
    """The kernel writes inside _work_size elements and nowhere beyond (a sentinel after
    the workspace stays untouched; numba does not check bounds)."""
    P, u, labels, _ = _problem(rng, "tanh", form, "ce-all")
    code, lab, tgt = _kernel_args(P, u, "ce-all", labels, None)
    T, B, _ = u.shape
    fc = FORMS.index(form)
    n = _k._work_size(T, B, P.N, P.M, fc, omega != 0)
    work = np.full(n + 64, 7.25)
    views = [np.empty_like(a) for a in (P.W, P.U, P.b, P.V, P.c)]
    wrong, stats = np.empty(B), np.zeros(2)
    _k._bptt(P.W, P.U, P.b, P.V, P.c, CODES["tanh"], fc, code, lab, tgt, u, 0, 0.04, omega,
             1.5, *views, wrong, stats, work[:n])
    assert np.all(work[n:] == 7.25)
    ref = loss_and_grad(P, u, labels, loss="ce-all", omega=("off", "sum", "mean")[omega],
                        alpha=1.5)
    np.testing.assert_array_equal(views[0], ref.W)
