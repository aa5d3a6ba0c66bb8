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
"""

import numpy as np

from rnndyn._jit import jit
from rnndyn.codes import (ELMAN, ERR_ABSOLUTE, ERR_SQUARED, LINEAR, LOSS_BERNOULLI, LOSS_CE,  # noqa: F401
                          LOSS_MSE, OMEGA_MEAN, OMEGA_OFF, OMEGA_SUM, PASCANU, RELU, SIGMOID, TANH)
from rnndyn._kernels.activations import _apply_act, _apply_act_and_dact

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
def _dact_from_r(act, r):
    """σ'(p) from r = σ(p): 1 - r² (tanh), r(1 - r) (sigmoid), [r > 0] (relu), 1."""
    if act == TANH:
        return 1.0 - r * r
    if act == SIGMOID:
        return r * (1.0 - r)
    if act == RELU:
        return 1.0 if r > 0.0 else 0.0
    return 1.0


@jit
def _initial_r(act, form, B, N, r0, d0):
    """r_0 (B, N) and σ'(p_0) (B, N): σ(0), σ'(0) for pascanu (x_0 = 0); 0, 0 for elman."""
    if form == PASCANU:
        zero = np.zeros(B * N)
        _apply_act_and_dact(act, zero, r0.reshape(B * N), d0.reshape(B * N))
    else:
        r0[:, :] = 0.0
        d0[:, :] = 0.0


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
    n = (T + 1) * B * (N + M + 1) + T * B * N     # Ra, G
    if want_grad:
        n += T * B * N                   # Q1
        if form == ELMAN:
            n += 3 * T * B * N           # Dl, VW, P2
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
    TBN = T * B * N
    Ra = work[0:(T + 1) * B * NA].reshape((T + 1, B, NA))
    off = (T + 1) * B * NA
    for t in range(T + 1):
        for k in range(B):
            for j in range(M):
                Ra[t, k, N + j] = u[t, k, j] if t < T else 0.0
            Ra[t, k, N + M] = 1.0
    r0 = np.empty((B, N))
    _initial_r(act, form, B, N, r0, np.empty((B, N)))
    for k in range(B):
        for i in range(N):
            Ra[0, k, i] = r0[k, i]
    WubT = np.empty((NA, N))
    for i in range(N):
        for j in range(N):
            WubT[j, i] = W[i, j]
        for j in range(M):
            WubT[N + j, i] = U[i, j]
        WubT[N + M, i] = b[i]
    A = np.empty((B, N))
    # ---- forward: one (B, N+M+1) x (N+M+1, N) product per step. σ' is not stored: the
    # backward pass recomputes it from r (cheaper than writing and re-reading it)
    for t in range(1, T + 1):
        np.dot(Ra[t - 1], WubT, A)
        for k in range(B):
            _apply_act(act, A[k], Ra[t, k, :N])

    # ---- backward: g_t = dE/dp_t = (e_t V + g_{t+1} W) ⊙ σ'(p_t)
    n_targets = _count_targets(loss, labels, targets, T, B)
    scale = 1.0 / max(n_targets, 1)
    if loss == LOSS_MSE:
        scale = 1.0 / (B * K)
    Vt = np.ascontiguousarray(V.T)
    G = work[off:off + TBN].reshape((T, B, N))      # G[t-1] = g_t
    off += TBN
    Y = np.empty((B, K))
    e = np.empty((B, K))
    rt = np.empty((B, N))
    q = np.zeros((B, N))                 # g_{t+1} W
    tmp = np.empty((B, N))
    want_omega = omega_mode != OMEGA_OFF
    want_grad = want_omega and alpha != 0.0
    # Ω's W-gradient, per transition k and sequence: Q1 = coef v ⊙ σ'(x_k) (pascanu) or
    # coef v (elman), coef = 2(ρ_k - 1)/(‖δ‖‖v‖); Dl keeps δ_{k+1} for elman's σ'' term
    Q1 = work[off:off + TBN].reshape((T, B, N)) if want_grad else np.zeros((1, 1, 1))
    if want_grad:
        Q1[:, :, :] = 0.0
        off += TBN
    Dl = work[off:off + TBN].reshape((T, B, N)) if want_grad and form == ELMAN \
        else np.zeros((1, 1, 1))
    if want_grad and form == ELMAN:
        Dl[:, :, :] = 0.0
        off += TBN
    om_sum = np.zeros(B)
    om_cnt = np.zeros(B)
    prev_pre = np.zeros((B, N))          # dE/dr_{t+1}: δ_{t+1} of the elman form
    keep_delta = want_omega and form == ELMAN
    for k in range(B):
        wrong[k] = 0.0
    gV[:, :] = 0.0
    gc[:] = 0.0
    E = 0.0
    for t in range(T, -1, -1):
        if t < T:
            np.dot(G[t], W, q)
        if want_omega and t < T:
            # transition k = t -> t+1: v = δ_{t+1} ∂x_{t+1}/∂x_t
            for k in range(B):
                # δ can be ~1e-150 or smaller deep in a vanishing regime, where sums of
                # squares underflow and ‖δ‖‖v‖ becomes 0 (NaN). The ratio is invariant under a
                # common scale, so δ and v are both divided by max|δ_i| first (and fast-math's
                # reciprocals only ever see numbers of moderate size).
                sd = 0.0
                for i in range(N):
                    if form == PASCANU:
                        sd = max(sd, abs(G[t, k, i]))
                    else:
                        sd = max(sd, abs(prev_pre[k, i]))
                # the ratio is undefined for δ = 0; below OMEGA_TINY, δ is numerically zero
                # (1/max|δ_i| would overflow), and such terms are left out as well
                if sd <= OMEGA_TINY:
                    continue
                inv = 1.0 / sd
                nd = 0.0
                nv = 0.0
                for i in range(N):
                    if form == PASCANU:
                        di = G[t, k, i] * inv
                        vi = q[k, i] * _dact_from_r(act, Ra[t, k, i]) * inv
                    else:
                        di = prev_pre[k, i] * inv
                        vi = q[k, i] * inv
                    nd += di * di
                    nv += vi * vi
                nd = np.sqrt(nd)     # in [1, sqrt(N)]
                nv = np.sqrt(nv)
                ratio = nv / nd
                om_sum[k] += (ratio - 1.0) * (ratio - 1.0)
                om_cnt[k] += 1.0
                # v numerically zero next to δ: ‖v‖ has no direction to differentiate
                if want_grad and nv > OMEGA_TINY:
                    # coef v = 2(ρ-1)/(‖δ‖‖v‖) v with ‖δ‖ = sd·nd, ‖v‖ = sd·nv, in factors
                    # of moderate size: (2(ρ-1)/nd)·(v_i/(sd nv))·(1/sd)
                    a = 2.0 * (ratio - 1.0) / nd
                    for i in range(N):
                        if form == PASCANU:
                            d = _dact_from_r(act, Ra[t, k, i])
                            Q1[t, k, i] = a * ((q[k, i] * d * inv) / nv) * d * inv
                        else:
                            Q1[t, k, i] = a * ((q[k, i] * inv) / nv) * inv
                            Dl[t, k, i] = prev_pre[k, i]
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
        for k in range(B):
            for i in range(N):
                G[t - 1, k, i] = q[k, i] * _dact_from_r(act, Ra[t, k, i])
        if keep_delta:
            prev_pre[:, :] = q

    # ---- parameter gradients: [dW dU db] = Σ_t g_t^T [r_{t-1}, u_t, 1], one product
    G2 = G.reshape((T * B, N))
    Ra2 = Ra[:T].reshape((T * B, NA))
    omega = 0.0
    for k in range(B):
        if om_cnt[k] > 0.0:
            omega += om_sum[k] / (om_cnt[k] if omega_mode == OMEGA_MEAN else 1.0)
    omega /= B
    extra = np.zeros((N, NA))
    if want_grad:
        # per-sequence weight of its terms: α/B, and 1/(number of terms) for the mean
        for k in range(B):
            w = alpha / B
            if omega_mode == OMEGA_MEAN and om_cnt[k] > 0.0:
                w /= om_cnt[k]
            for tt in range(T):
                for i in range(N):
                    Q1[tt, k, i] *= w
        Q2 = Q1.reshape((T * B, N))
        if form == ELMAN:
            # dΩ/dW = Σ coef [g^T v + (δ ⊙ σ''(a) ⊙ (v W^T))^T h_k]: σ'(a_{k+1}) moves with W
            # through a_{k+1} = W h_k + ...; σ'' from r and σ'
            VW = work[off:off + TBN].reshape((T * B, N))
            np.dot(Q2, np.ascontiguousarray(W.T), VW)    # rows coef*w*v W^T
            P2 = work[off + TBN:off + 2 * TBN].reshape((T * B, N))
            for tt in range(T):
                for k in range(B):
                    row = tt * B + k
                    for i in range(N):
                        sv = Ra[tt + 1, k, i]
                        ds = _dact_from_r(act, sv)
                        if act == TANH:
                            dds = -2.0 * sv * ds
                        elif act == SIGMOID:
                            dds = ds * (1.0 - 2.0 * sv)
                        else:
                            dds = 0.0
                        P2[row, i] = Dl[tt, k, i] * dds * VW[row, i]
            _at_b(P2, Ra2, extra)                       # only its first N columns count
            _at_b(G2, Q2, gW)
        else:
            # pascanu: the Ω term G^T Q1 rides along by adding Q1 to the r-columns
            for tt in range(T):
                for k in range(B):
                    for i in range(N):
                        Ra[tt, k, i] += Q1[tt, k, i]
            gW[:, :] = 0.0
    else:
        gW[:, :] = 0.0
    full = np.empty((N, NA))
    _at_b(G2, Ra2, full)
    for i in range(N):
        for j in range(N):
            gW[i, j] += full[i, j] + extra[i, j]
        for j in range(M):
            gU[i, j] = full[i, N + j]
        gb[i] = full[i, N + M]
    stats[0] = E
    stats[1] = omega


@jit
def _evaluate(W, U, b, V, c, act, form, loss, labels, targets, u, err_rule, err_tol,
              wrong, stats):
    """Forward pass only: wrong (B,) answers and stats[0] = E, keeping one state row.

    Same shapes and conventions as :func:`_bptt`; memory O(B N) beyond the inputs.
    """
    T, B, M = u.shape
    N = W.shape[0]
    K = V.shape[0]
    r = np.empty((B, N))
    d = np.empty((B, N))
    _initial_r(act, form, B, N, r, d)
    Wt = np.ascontiguousarray(W.T)
    Ut = np.ascontiguousarray(U.T)
    Vt = np.ascontiguousarray(V.T)
    A = np.empty((B, N))
    Zt = np.empty((B, N))
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
        np.dot(r, Wt, A)
        if M > 0:
            np.dot(u[t - 1], Ut, Zt)
            for k in range(B):
                for i in range(N):
                    A[k, i] += Zt[k, i]
        for k in range(B):
            for i in range(N):
                A[k, i] += b[i]
        _apply_act_and_dact(act, A.reshape(B * N), r.reshape(B * N), d.reshape(B * N))
        if _has_target(loss, labels, targets, t, T):
            row0 = (t - 1) * B if loss == LOSS_BERNOULLI else 0
            E += _readout_loss(r, Vt, c, Y, loss, labels[t - 1], targets[row0:row0 + B],
                               err_rule, err_tol, scale, e, wrong)
    stats[0] = E
