"""Backpropagation through time for minibatches of vanilla RNNs with a linear readout.

Both forms share one graph, written with p_t the pre-activation and r_t = σ(p_t):

    p_t = W r_{t-1} + U u_t + b,   r_t = σ(p_t),   y_t = V r_t + c,   t = 1..T

* pascanu: p_t = x_t (the state), r_0 = σ(x_0) with x_0 = 0;
* elman:   p_t = a_t, r_t = h_t (the state), r_0 = h_0 = 0.

So one forward/backward pass serves both; the forms differ only in r_0 and in the
one-step Jacobian that the regulariser Ω uses (pascanu: W diag(σ'(x_k)); elman:
diag(σ'(a_{k+1})) W). Arrays are time-major, (T, B, ·), so that every step is one BLAS
product of the minibatch's (B, ·) rows and the parameter gradients are single
(N, T·B) x (T·B, ·) products at the end.

σ'(p_t) is kept from the forward pass (tail-accurate, from p_t itself: rnndyn._kernels.
activations), never derived from r_t as 1 − r² or r(1 − r), which keep no significant
digit where a unit saturates (1 − r² is 0 beyond |p| = 19.1). The batched one-step
operators of both forms (forward step, δ J) live in rnndyn._kernels.cells.
"""

import numpy as np

from rnndyn._jit import jit
from rnndyn.codes import (ELMAN, ERR_ABSOLUTE, ERR_SQUARED, LINEAR, LOSS_BERNOULLI, LOSS_CE,  # noqa: F401
                          LOSS_MSE, OMEGA_MEAN, OMEGA_OFF, OMEGA_SUM, PASCANU, RELU, SIGMOID, TANH)
from rnndyn._kernels.cells import (_vanilla_batch_adjoint, _vanilla_batch_initial,
                                   _vanilla_batch_step, _vanilla_batch_vj)

# LOSS_BERNOULLI: targets (T*B, K) of 0/1, row (t-1)*B + k; a row whose first entry is
# negative carries no target (padding)
# ‖δ‖ below this is numerically zero for Ω: 1/‖δ‖ times a ratio term would overflow
OMEGA_TINY = 1e-290


@jit
def _at_b(A, Bm, out):
    """out = A^T Bm for tall A (R, n), Bm (R, m), summed over blocks of rows.

    Blocks of ~240 rows keep both operands in L2: measured 25% faster than one product.
    """
    R = A.shape[0]
    out[:, :] = 0.0
    step = 240
    for s in range(0, R, step):
        e = min(s + step, R)
        out += np.dot(A[s:e].T, Bm[s:e])


@jit(inline="always")
def _d2act(act, r, d):
    """σ''(p) from r = σ(p) and the tail-accurate d = σ'(p): tanh'' = −2 tanh · sech²,
    sigmoid'' = σ'(1 − 2σ) (= σ'·(σ(−p) − σ(p)); 1 − 2σ is as accurate, to ~1e-16
    absolute, and keeps its relative accuracy in both tails), 0 for relu and linear."""
    if act == TANH:
        return -2.0 * r * d
    if act == SIGMOID:
        return d * (1.0 - 2.0 * r)
    return 0.0


@jit(inline="always")
def _omega_row_norms(dl, v):
    """(s, ‖δ/s‖, ‖v/s‖) of one row pair, s = max|δ_i| (0: no norms), for Ω's ratio.

    Four independent partial sums (and maxima: max is exact in any order) instead of one
    running sum: a single chain waits on every addition's latency, which made these
    norms the largest part of Ω's cost.
    """
    N = dl.shape[0]
    n4 = N - N % 4
    m0 = m1 = m2 = m3 = 0.0
    for i in range(0, n4, 4):
        m0 = max(m0, abs(dl[i]))
        m1 = max(m1, abs(dl[i + 1]))
        m2 = max(m2, abs(dl[i + 2]))
        m3 = max(m3, abs(dl[i + 3]))
    for i in range(n4, N):
        m0 = max(m0, abs(dl[i]))
    s = max(max(m0, m1), max(m2, m3))
    # the ratio is undefined for δ = 0; below OMEGA_TINY, δ is numerically zero
    # (1/max|δ_i| would overflow): the caller leaves such terms out
    if s <= OMEGA_TINY:
        return s, 0.0, 0.0
    inv = 1.0 / s
    d0 = d1 = d2 = d3 = 0.0
    w0 = w1 = w2 = w3 = 0.0
    for i in range(0, n4, 4):
        a0, a1, a2, a3 = dl[i] * inv, dl[i + 1] * inv, dl[i + 2] * inv, dl[i + 3] * inv
        b0, b1, b2, b3 = v[i] * inv, v[i + 1] * inv, v[i + 2] * inv, v[i + 3] * inv
        d0 += a0 * a0
        d1 += a1 * a1
        d2 += a2 * a2
        d3 += a3 * a3
        w0 += b0 * b0
        w1 += b1 * b1
        w2 += b2 * b2
        w3 += b3 * b3
    for i in range(n4, N):
        a0 = dl[i] * inv
        b0 = v[i] * inv
        d0 += a0 * a0
        w0 += b0 * b0
    return s, np.sqrt((d0 + d1) + (d2 + d3)), np.sqrt((w0 + w1) + (w2 + w3))


@jit(inline="always")
def _param_products(G2, Ra2, Rn2, D2, Q2, Dl2, wk, W, act, form, want_grad, full, extra):
    """full = G2ᵀ Ra2 (N, N+M+1), [dW dU db] of the loss, and with Ω's gradient its two
    terms, in one sweep over blocks of rows (t, k), row = t B + k, that stay in cache:

    * both forms: G2ᵀ (w Q1), riding along in the one product by adding w Q1 to the
      r-columns of Ra2 (rows tt: g_{tt+1} pairs with transition tt);
    * elman: extra = P2ᵀ Ra2 (first N columns count), P2 = w δ ⊙ σ''(a) ⊙ (Q1 Wᵀ),
      σ'(a_{k+1}) moving with W through a_{k+1} = W h_k + ...; σ'' from σ and the forward σ'
      (Rn2 = Ra2 one step on, rows [h_{k+1}, ...], D2 = σ'(a_{k+1})), formed before Q1 joins
      Ra2 (only h_k counts there). Dl2 (δ_{k+1}) is overwritten with P2.

    Blocks of 240 rows keep the operands in L2 (measured 25% faster than one product);
    fusing the Ω passes into the same sweep reads every array once.
    """
    R, N = G2.shape
    B = wk.shape[0]
    full[:, :] = 0.0
    Wt = np.ascontiguousarray(W.T)
    step = 240
    VW = np.empty((step, N))
    for s in range(0, R, step):
        e = min(s + step, R)
        if want_grad:
            if form == ELMAN:
                np.dot(Q2[s:e], Wt, VW[:e - s])          # coef v Wᵀ
                for row in range(s, e):
                    w = wk[row % B]
                    vw, dl, rr, dd = VW[row - s], Dl2[row], Rn2[row], D2[row]
                    if act == TANH:
                        for i in range(N):
                            dl[i] *= w * _d2act(TANH, rr[i], dd[i]) * vw[i]
                    elif act == SIGMOID:
                        for i in range(N):
                            dl[i] *= w * _d2act(SIGMOID, rr[i], dd[i]) * vw[i]
                    else:
                        for i in range(N):
                            dl[i] = 0.0
                extra += np.dot(Dl2[s:e].T, Ra2[s:e])
            for row in range(s, e):
                w = wk[row % B]
                ra, q1 = Ra2[row], Q2[row]
                for i in range(N):
                    ra[i] += w * q1[i]
        full += np.dot(G2[s:e].T, Ra2[s:e])


@jit
def _stacked_wub_t(W, U, b):
    """[W U b]ᵀ (N+M+1, N): the matrix of the augmented step (see :func:`_bptt`)."""
    N, M = U.shape
    WubT = np.empty((N + M + 1, N))
    for i in range(N):
        for j in range(N):
            WubT[j, i] = W[i, j]
        for j in range(M):
            WubT[N + j, i] = U[i, j]
        WubT[N + M, i] = b[i]
    return WubT


@jit
def _initial_r(act, form, B, N, r0, d0):
    """r_0 (B, N) and σ'(p_0) (B, N) (see _vanilla_batch_initial; the stacked kernel's
    entry)."""
    _vanilla_batch_initial(act, form, r0, d0)


@jit
def _step_loss(loss, Y, labels_t, targets, err_rule, err_tol, scale, e, wrong):
    """Loss terms of one step from outputs Y (B, K); writes dE/dY into e (B, K).

    CE: labels_t (B,) with -1 = no target; MSE: targets (B, K); Bernoulli: targets (B, K)
    of this step (first entry < 0: no target), a wrong answer being any output on the
    wrong side of 1/2. ``scale`` is the normalisation 1/n. Marks wrong[k] = 1 for a
    wrong answer. Returns the loss sum.
    """
    B, K = Y.shape
    total = 0.0
    for k in range(B):
        if loss == LOSS_CE:
            lab = labels_t[k]
            if lab < 0:
                for j in range(K):
                    e[k, j] = 0.0
                continue
            m = Y[k, 0]
            arg = 0
            for j in range(1, K):
                if Y[k, j] > m:
                    m = Y[k, j]
                    arg = j
            s = 0.0
            for j in range(K):
                s += np.exp(Y[k, j] - m)
            total += m + np.log(s) - Y[k, lab]
            for j in range(K):
                e[k, j] = np.exp(Y[k, j] - m) / s * scale
            e[k, lab] -= scale
            # a NaN output never counts as right
            if arg != lab or not (Y[k, lab] == Y[k, lab]):
                wrong[k] = 1.0
        elif loss == LOSS_BERNOULLI:
            if targets[k, 0] < 0.0:
                for j in range(K):
                    e[k, j] = 0.0
                continue
            for j in range(K):
                y = Y[k, j]
                z = targets[k, j]
                # -log p(z | σ(y)) = softplus(y) - z y, written so that it never overflows
                total += max(y, 0.0) - z * y + np.log1p(np.exp(-abs(y)))
                if y >= 0.0:
                    s = 1.0 / (1.0 + np.exp(-y))
                else:
                    ey = np.exp(y)
                    s = ey / (1.0 + ey)
                e[k, j] = (s - z) * scale
                if (y > 0.0) != (z > 0.5) or not (y == y):
                    wrong[k] = 1.0
        else:
            for j in range(K):
                diff = Y[k, j] - targets[k, j]
                total += diff * diff
                e[k, j] = 2.0 * diff * scale
                bad = diff * diff > err_tol if err_rule == ERR_SQUARED else abs(diff) > err_tol
                if bad or not (diff == diff):
                    wrong[k] = 1.0
    return total * scale


@jit(inline="always")
def _readout_loss(r, Vt, c, Y, loss, labels_t, targets, err_rule, err_tol, scale, e, wrong):
    """Y = r V^T + c (B, K) in place, then the loss of that step (see _step_loss)."""
    np.dot(r, Vt, Y)
    for k in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[k, j] += c[j]
    return _step_loss(loss, Y, labels_t, targets, err_rule, err_tol, scale, e, wrong)


@jit
def _count_targets(loss, labels, targets, T, B):
    """Number of labelled (t, k) pairs (CE, Bernoulli) or B (MSE: one target per sequence
    at T)."""
    if loss == LOSS_MSE:
        return B
    n = 0
    if loss == LOSS_BERNOULLI:
        for r in range(T * B):
            if targets[r, 0] >= 0.0:
                n += 1
        return n
    for t in range(T):
        for k in range(B):
            if labels[t, k] >= 0:
                n += 1
    return n


@jit
def _has_target(loss, labels, targets, t, T):
    """Whether step t (1-based) carries a target."""
    if loss == LOSS_MSE:
        return t == T
    if loss == LOSS_BERNOULLI:
        B = labels.shape[1]
        for k in range(B):
            if targets[(t - 1) * B + k, 0] >= 0.0:
                return True
        return False
    for k in range(labels.shape[1]):
        if labels[t - 1, k] >= 0:
            return True
    return False


@jit
def _work_size(T, B, N, M, form, want_grad):
    """Length of the float64 workspace :func:`_bptt` needs."""
    n = (T + 1) * B * (N + M + 1) + T * B * N + (T + 1) * B * N    # Ra, G, D
    if want_grad:
        n += T * B * N                   # Q1
        if form == ELMAN:
            n += T * B * N               # Dl (becomes P2)
    return n


# strict_order: Ω's terms scale δ by 1/max|δ_i| (up to 1e290); reassociating those
# products could overflow where the written order cannot
@jit(strict_order=True)
def _bptt(W, U, b, V, c, act, form, loss, labels, targets, u, err_rule, err_tol,
          omega_mode, alpha, gW, gU, gb, gV, gc, wrong, stats, work):
    """E, Ω and ∇(E + α Ω) (Ω: direct W-term) of a minibatch u (T, B, M), labels (T, B)
    (CE, -1 = none), targets (B, K) (MSE at T) or (T*B, K) (Bernoulli at every step,
    row (t-1)*B + k; labels then only give T, B); work: scratch of _work_size elements.
    Writes gW (N,N), gU (N,M), gb (N,), gV (K,N), gc (K,), wrong (B,) (1 = wrong answer),
    stats[0] = E, stats[1] = Ω (batch mean; 0 when omega_mode = 0)."""
    T, B, M = u.shape
    N = W.shape[0]
    K = V.shape[0]
    NA = N + M + 1
    # Augmented states Ra[t] = [r_t, u_{t+1}, 1] (B, N+M+1): one product with [W U b]^T
    # per step gives W r + U u + b with no separate input or bias pass, and at the end
    # the single product G^T Ra yields [dW dU db] at once. The big arrays live in the
    # caller's reusable workspace: allocated afresh they are mmap'ed and page-faulted on
    # every call, which measured 2x slower overall.
    # What is stored, T·B·N float64 each: Ra (r_t and the inputs, (T+1)·B·(N+M+1)), G
    # (g_t = dE/dp_t), D (σ'(p_t), (T+1) rows, written by the forward pass from p itself:
    # deriving σ' from r, as 1 − r² or r(1 − r), loses every digit where a unit
    # saturates); with Ω's gradient also Q1 (coef v) and, for elman, Dl (δ_{k+1}, then
    # P2); beyond the workspace only O(B N + N²) scratch. D is the price of the accurate
    # σ': at T = 100, B = 20, N = 50, 0.8 MB, the workspace 2.5 MB instead of 1.7 MB
    # (elman with Ω's gradient: 4.1 MB, 4.9 MB before Dl took P2's place and VW went
    # to a block scratch).
    TBN = T * B * N
    Ra = work[0:(T + 1) * B * NA].reshape((T + 1, B, NA))
    off = (T + 1) * B * NA
    G = work[off:off + TBN].reshape((T, B, N))      # G[t-1] = g_t
    off += TBN
    D = work[off:off + TBN + B * N].reshape((T + 1, B, N))   # D[t] = σ'(p_t)
    off += TBN + B * N
    for t in range(T + 1):
        for k in range(B):
            for j in range(M):
                Ra[t, k, N + j] = u[t, k, j] if t < T else 0.0
            Ra[t, k, N + M] = 1.0
    _vanilla_batch_initial(act, form, Ra[0], D[0])
    WubT = _stacked_wub_t(W, U, b)
    A = np.empty((2 * B, N))           # p_t, then σ(p_t) (see _vanilla_batch_step)
    # ---- forward: one (B, N+M+1) x (N+M+1, N) product per step, σ and σ' from p_t
    for t in range(1, T + 1):
        _vanilla_batch_step(act, Ra[t - 1], WubT, A, Ra[t], D[t])

    # ---- backward: g_t = dE/dp_t = (e_t V + g_{t+1} W) ⊙ σ'(p_t)
    n_targets = _count_targets(loss, labels, targets, T, B)
    scale = 1.0 / max(n_targets, 1)
    if loss == LOSS_MSE:
        scale = 1.0 / (B * K)
    Vt = np.ascontiguousarray(V.T)
    Y = np.empty((B, K))
    e = np.empty((B, K))
    rt = np.empty((B, N))
    # q = g_{t+1} W, then dE/dr_t; two buffers taking turns, so that elman's Ω still has
    # last step's dE/dr_{t+1} = δ_{t+1} (the state adjoint) without a copy
    Qb = np.zeros((2, B, N))
    vb = np.empty((B, N))
    tmp = np.empty((B, N))
    want_omega = omega_mode != OMEGA_OFF
    want_grad = want_omega and alpha != 0.0
    # Ω's W-gradient, per transition k and sequence: Q1 = coef v ⊙ σ'(x_k) (pascanu) or
    # coef v (elman), coef = 2(ρ_k - 1)/(‖δ‖‖v‖); Dl = δ_{k+1} for elman's second term
    # (every row of Q1 is written at its transition: no zeroing pass)
    Q1 = work[off:off + TBN].reshape((T, B, N)) if want_grad else np.zeros((1, B, N))
    if want_grad:
        off += TBN
    elman_grad = want_grad and form == ELMAN
    Dl = work[off:off + TBN].reshape((T, B, N)) if elman_grad else np.zeros((1, B, N))
    if elman_grad:
        off += TBN
    om_sum = np.zeros(B)
    om_cnt = np.zeros(B)
    for k in range(B):
        wrong[k] = 0.0
    gV[:, :] = 0.0
    gc[:] = 0.0
    E = 0.0
    v = vb
    for t in range(T, -1, -1):
        q = Qb[t & 1]
        if t < T:
            # v = δ_{t+1} J_{t+1} (pascanu: (g W) ⊙ σ'(x_t) in vb; elman: q itself)
            v = _vanilla_batch_vj(W, form, G[t], D[t], q, vb, want_omega)
        if want_omega and t < T:
            # transition k = t -> t+1: δ = δ_{t+1}, the adjoint of the state s_{t+1}
            dl = _vanilla_batch_adjoint(form, G[t], Qb[(t + 1) & 1])
            for k in range(B):
                # δ can be ~1e-150 or smaller deep in a vanishing regime, where sums of
                # squares underflow and ‖δ‖‖v‖ becomes 0 (NaN). The ratio is invariant under a
                # common scale, so δ and v are both divided by max|δ_i| first (and fast-math's
                # reciprocals only ever see numbers of moderate size).
                sd, nd, nv = _omega_row_norms(dl[k], v[k])     # nd in [1, sqrt(N)]
                q1 = Q1[t if want_grad else 0, k]    # (a dummy row without Ω's gradient)
                if sd <= OMEGA_TINY:
                    if want_grad:
                        q1[:] = 0.0
                    continue
                inv = 1.0 / sd
                ratio = nv / nd
                om_sum[k] += (ratio - 1.0) * (ratio - 1.0)
                om_cnt[k] += 1.0
                if not want_grad:
                    continue
                # v numerically zero next to δ: ‖v‖ has no direction to differentiate
                if nv <= OMEGA_TINY:
                    q1[:] = 0.0
                    continue
                # coef v = 2(ρ-1)/(‖δ‖‖v‖) v with ‖δ‖ = sd·nd, ‖v‖ = sd·nv, in factors of
                # moderate size: (2(ρ-1)/nd)·(v_i/(sd nv))·(1/sd); pascanu's direction
                # carries σ'(x_t) (∂v/∂W = δ ⊗ σ'(x_t)), elman's does not
                # (1/nv <= 1/OMEGA_TINY, and |v_i/sd|/nv <= 1: a product as safe as the
                # division, without a division per unit)
                a = 2.0 * (ratio - 1.0) / nd
                rnv = 1.0 / nv
                vk = v[k]
                if form == PASCANU:
                    dk = D[t, k]
                    for i in range(N):
                        q1[i] = a * ((vk[i] * inv) * rnv) * inv * dk[i]
                else:
                    for i in range(N):
                        q1[i] = a * ((vk[i] * inv) * rnv) * inv
        if t == 0:
            break
        # q becomes dE/dr_t = g_{t+1} W (+ e_t V at a step with targets)
        if _has_target(loss, labels, targets, t, T):
            for k in range(B):
                for i in range(N):
                    rt[k, i] = Ra[t, k, i]
            row0 = (t - 1) * B if loss == LOSS_BERNOULLI else 0
            E += _readout_loss(rt, Vt, c, Y, loss, labels[t - 1], targets[row0:row0 + B],
                               err_rule, err_tol, scale, e, wrong)
            np.dot(e, V, tmp)
            for k in range(B):
                for i in range(N):
                    q[k, i] += tmp[k, i]
            gV += np.dot(e.T, rt)
            for k in range(B):
                for j in range(K):
                    gc[j] += e[k, j]
        Gt, Dt = G[t - 1], D[t]
        for k in range(B):
            for i in range(N):
                Gt[k, i] = q[k, i] * Dt[k, i]
        if elman_grad:
            Dl[t - 1, :, :] = q          # δ_t, for the σ'' term (see _param_products)

    # ---- parameter gradients: [dW dU db] = Σ_t g_t^T [r_{t-1}, u_t, 1], one product
    omega = 0.0
    for k in range(B):
        if om_cnt[k] > 0.0:
            omega += om_sum[k] / (om_cnt[k] if omega_mode == OMEGA_MEAN else 1.0)
    omega /= B
    wk = np.empty(B)
    if want_grad:
        # per-sequence weight of its terms: α/B, and 1/(number of terms) for the mean;
        # applied where Q1 is used (row scaling commutes with Q1 Wᵀ), not in a pass of its own
        for k in range(B):
            wk[k] = alpha / B
            if omega_mode == OMEGA_MEAN and om_cnt[k] > 0.0:
                wk[k] /= om_cnt[k]
    full = np.empty((N, NA))
    extra = np.zeros((N, NA))
    _param_products(G.reshape((T * B, N)), Ra[:T].reshape((T * B, NA)),
                    Ra[1:].reshape((T * B, NA)), D[1:].reshape((T * B, N)),
                    Q1.reshape((Q1.shape[0] * B, N)), Dl.reshape((Dl.shape[0] * B, N)), wk, W,
                    act, form, want_grad, full, extra)
    for i in range(N):
        for j in range(N):
            gW[i, j] = full[i, j] + extra[i, j]
        for j in range(M):
            gU[i, j] = full[i, N + j]
        gb[i] = full[i, N + M]
    stats[0] = E
    stats[1] = omega


@jit
def _evaluate(W, U, b, V, c, act, form, loss, labels, targets, u, err_rule, err_tol,
              wrong, stats):
    """Forward pass only: wrong (B,) answers and stats[0] = E, keeping two state rows.

    Same shapes and conventions as :func:`_bptt`, and the same step (bit for bit the
    states of its forward pass); memory O(B (N + M)) beyond the inputs.
    """
    T, B, M = u.shape
    N = W.shape[0]
    K = V.shape[0]
    NA = N + M + 1
    Ra = np.empty((2, B, NA))            # [r_t, u_{t+1}, 1], two rows taking turns
    d = np.empty((B, N))
    _vanilla_batch_initial(act, form, Ra[0], d)
    WubT = _stacked_wub_t(W, U, b)
    Vt = np.ascontiguousarray(V.T)
    A = np.empty((2 * B, N))           # p_t, then σ(p_t) (see _vanilla_batch_step)
    rt = np.empty((B, N))
    Y = np.empty((B, K))
    e = np.empty((B, K))
    n_targets = _count_targets(loss, labels, targets, T, B)
    scale = 1.0 / max(n_targets, 1)
    if loss == LOSS_MSE:
        scale = 1.0 / (B * K)
    for k in range(B):
        wrong[k] = 0.0
    E = 0.0
    for t in range(1, T + 1):
        prev, cur = Ra[(t - 1) & 1], Ra[t & 1]
        for k in range(B):
            for j in range(M):
                prev[k, N + j] = u[t - 1, k, j]
            prev[k, N + M] = 1.0
        _vanilla_batch_step(act, prev, WubT, A, cur, d)
        if _has_target(loss, labels, targets, t, T):
            for k in range(B):
                for i in range(N):
                    rt[k, i] = cur[k, i]
            row0 = (t - 1) * B if loss == LOSS_BERNOULLI else 0
            E += _readout_loss(rt, Vt, c, Y, loss, labels[t - 1], targets[row0:row0 + B],
                               err_rule, err_tol, scale, e, wrong)
    stats[0] = E
