"""Backpropagation through time for minibatches of LSTM and GRU cells with a linear readout.

The cells are PyTorch's ``nn.LSTM`` and ``nn.GRU`` in the packed layout of
:mod:`rnndyn.cells` (W (G N, N) = ``weight_hh``, U (G N, M) = ``weight_ih``, b the combined
biases); the readout reads the hidden part h of the state s (LSTM: s = (h, c)):

    s_t = f(s_{t-1}, u_t; W, U, b),   y_t = V h_t + c,   s_0 = 0,   t = 1..T

with the losses, labels, targets and error counting of :mod:`rnndyn._kernels.bptt`
(whose loss helpers are used here). Arrays are time-major, (T, B, ·). Forward, the input
drive Z = u Uᵀ + b is one (T·B, M) x (M, G N) product, and each step one (B, N) x (N, G N)
product of the minibatch's hidden rows; the step's elementwise part records the cell's
auxiliary row (rnndyn.cells). Backward, the adjoint w_t = dE/ds_t gives the gate
pre-activation adjoints g_t (``_gated_vj_gates`` of rnndyn._kernels.cells) and
dE/dh_{t-1} = g_t W is one (B, G N) x (G N, N) product per step; the parameter gradients
are single products at the end, dW = Σ_t g_tᵀ h_{t-1}, dU = Σ_t g̃_tᵀ u_t, where g̃ = g for
the LSTM and, for the GRU, differs in its n block (the input side of n sees e w, the
hidden side (e r) w: the reset gate acts after the hidden product).
"""

import numpy as np

from rnndyn._jit import jit
from rnndyn._kernels.bptt import _at_b, _count_targets, _has_target, _readout_loss
from rnndyn._kernels.cells import _gated_vj_gates, _gru_unit, _lstm_unit
from rnndyn.codes import LOSS_BERNOULLI, LOSS_MSE, LSTM


@jit
def _gates(cell):
    """G, the number of gate blocks stacked in W and U (4 LSTM, 3 GRU)."""
    return 4 if cell == LSTM else 3


@jit
def _aux_blocks(cell):
    """Length of the auxiliary row in units of N (6 LSTM, 5 GRU; rnndyn.cells)."""
    return 6 if cell == LSTM else 5


@jit
def _gated_work_size(T, B, N, M, cell):
    """Length of the float64 workspace :func:`_bptt_gated` needs."""
    G = _gates(cell)
    n = (T + 1) * B * N                  # H
    if cell == LSTM:
        n += (T + 1) * B * N             # C
    n += T * B * _aux_blocks(cell) * N   # aux rows
    n += 2 * T * B * G * N               # Z, Gh
    if cell != LSTM:
        n += T * B * G * N               # Gx (the GRU's input-side adjoint)
    return n


@jit(inline="always")
def _gated_batch_step(cell, N, A, Z, b, h, c, h_new, c_new, aux):
    """The elementwise part of one batched step of a gated cell (rnndyn.cells).

    A (B, G N) = h_{t-1} Wᵀ, Z (B, G N) = u_t Uᵀ + b[:G N]; h, c the previous state (B, N)
    (c unused by the GRU), h_new, c_new the new one; aux (B, A N) the auxiliary rows.
    The units come from ``_lstm_unit`` / ``_gru_unit`` of rnndyn._kernels.cells, as in
    ``_gated_step``; the products are one per step for the whole batch.
    """
    B = A.shape[0]
    # every block is its own 1-D view indexed by i alone: indices like A[k, N + i] carry a
    # negative-index check each that kept the loop scalar (measured 1.5x slower)
    if cell == LSTM:
        for k in range(B):
            Ai, Af, Ag, Ao = A[k, :N], A[k, N:2 * N], A[k, 2 * N:3 * N], A[k, 3 * N:]
            Zi, Zf, Zg, Zo = Z[k, :N], Z[k, N:2 * N], Z[k, 2 * N:3 * N], Z[k, 3 * N:]
            ck, hk, cn = c[k], h_new[k], c_new[k]
            x0, x1, x2 = aux[k, :N], aux[k, N:2 * N], aux[k, 2 * N:3 * N]
            x3, x4, x5 = aux[k, 3 * N:4 * N], aux[k, 4 * N:5 * N], aux[k, 5 * N:]
            for i in range(N):
                hk[i], cn[i], x0[i], x1[i], x2[i], x3[i], x4[i], x5[i] = _lstm_unit(
                    Ai[i] + Zi[i], Af[i] + Zf[i], Ag[i] + Zg[i], Ao[i] + Zo[i], ck[i])
    else:  # GRU: q = W_n h + b_hn stays apart from the input part of n
        bhn = b[3 * N:]
        for k in range(B):
            Ar, Az, An = A[k, :N], A[k, N:2 * N], A[k, 2 * N:]
            Zr, Zz, Zn = Z[k, :N], Z[k, N:2 * N], Z[k, 2 * N:]
            hp_, hk = h[k], h_new[k]
            x0, x1, x2 = aux[k, :N], aux[k, N:2 * N], aux[k, 2 * N:3 * N]
            x3, x4 = aux[k, 3 * N:4 * N], aux[k, 4 * N:]
            for i in range(N):
                hk[i], x0[i], x1[i], x2[i], x3[i], x4[i] = _gru_unit(
                    Ar[i] + Zr[i], Az[i] + Zz[i], Zn[i], An[i] + bhn[i], hp_[i])


@jit
def _loss_scale(loss, labels, targets, T, B, K):
    """1/n: n labelled (t, k) pairs (CE, Bernoulli), or B K (MSE), as the vanilla kernel."""
    if loss == LOSS_MSE:
        return 1.0 / (B * K)
    return 1.0 / max(_count_targets(loss, labels, targets, T, B), 1)


@jit
def _bptt_gated(W, U, b, V, c, cell, loss, labels, targets, u, err_rule, err_tol,
                gW, gU, gb, gV, gc, wrong, stats, work):
    """E and ∇E of a gated cell (cell code LSTM or GRU) on a minibatch u (T, B, M), with
    labels/targets as :func:`rnndyn._kernels.bptt._bptt`; work: _gated_work_size scratch.
    Writes gW (G N, N), gU (G N, M), gb (len(b),), gV (K, N), gc (K,), wrong (B,),
    stats[0] = E, stats[1] = 0 (no Ω for gated cells)."""
    T, B, M = u.shape
    GN, N = W.shape
    K = V.shape[0]
    NA = _aux_blocks(cell) * N
    S = 2 * N if cell == LSTM else N
    TB = T * B
    # the big arrays live in the caller's reusable workspace (see the vanilla kernel)
    off = 0
    H = work[off:off + (T + 1) * B * N].reshape((T + 1, B, N))
    off += (T + 1) * B * N
    if cell == LSTM:
        C = work[off:off + (T + 1) * B * N].reshape((T + 1, B, N))
        off += (T + 1) * B * N
    else:
        C = H                            # the GRU has no cell state: never read
    Aux = work[off:off + TB * NA].reshape((T, B, NA))
    off += TB * NA
    Z = work[off:off + TB * GN].reshape((T, B, GN))
    off += TB * GN
    Gh = work[off:off + TB * GN].reshape((T, B, GN))
    off += TB * GN
    if cell == LSTM:
        Gx = Gh                          # the LSTM's input and hidden sides share g
    else:
        Gx = work[off:off + TB * GN].reshape((T, B, GN))
        off += TB * GN
    # ---- forward: Z = u Uᵀ + b (one product), then one (B, N) x (N, G N) product a step
    u2 = u.reshape((TB, M))
    Z2 = Z.reshape((TB, GN))
    if M > 0:
        np.dot(u2, np.ascontiguousarray(U.T), Z2)
    else:
        Z2[:, :] = 0.0
    for r in range(TB):
        for j in range(GN):
            Z2[r, j] += b[j]
    Wt = np.ascontiguousarray(W.T)
    H[0, :, :] = 0.0
    if cell == LSTM:
        C[0, :, :] = 0.0
    A = np.empty((B, GN))
    for t in range(1, T + 1):
        np.dot(H[t - 1], Wt, A)
        _gated_batch_step(cell, N, A, Z[t - 1], b, H[t - 1], C[t - 1], H[t], C[t],
                          Aux[t - 1])

    # ---- backward: w_t = dE/ds_t = (e_t V, 0) + w_{t+1}ᵀ J_{t+1}
    scale = _loss_scale(loss, labels, targets, T, B, K)
    w = np.zeros((B, S))                 # w_t, h part first
    Q = np.empty((B, N))                 # g_t W
    Y = np.empty((B, K))
    e = np.empty((B, K))
    tmp = np.empty((B, N))
    eh = np.empty((K, N))                # e_tᵀ h_t
    Vt = np.ascontiguousarray(V.T)
    for k in range(B):
        wrong[k] = 0.0
    gV[:, :] = 0.0
    gc[:] = 0.0
    E = 0.0
    for t in range(T, 0, -1):
        if _has_target(loss, labels, targets, t, T):
            row0 = (t - 1) * B if loss == LOSS_BERNOULLI else 0
            E += _readout_loss(H[t], Vt, c, Y, loss, labels[t - 1], targets[row0:row0 + B],
                               err_rule, err_tol, scale, e, wrong)
            np.dot(e, V, tmp)
            for k in range(B):
                for i in range(N):
                    w[k, i] += tmp[k, i]
            np.dot(e.T, H[t], eh)
            gV += eh
            for k in range(B):
                for j in range(K):
                    gc[j] += e[k, j]
        # g_t from w_t; then the parts of w_{t-1} that do not pass through W
        for k in range(B):
            d, wk, gk = Aux[t - 1, k], w[k], Gh[t - 1, k]
            _gated_vj_gates(N, cell, d, wk, gk)
            # blocks as 1-D views indexed by i alone (see _gated_batch_step)
            wh = wk[:N]
            if cell == LSTM:
                wc, f, kc = wk[N:], d[4 * N:5 * N], d[5 * N:]
                for i in range(N):       # dE/dc_{t-1} = f (w_c + o(1 - tanh² c_t) w_h)
                    wc[i] = f[i] * (wc[i] + kc[i] * wh[i])
            else:
                xk = Gx[t - 1, k]
                for i in range(2 * N):   # r and z: the same adjoint on both sides
                    xk[i] = gk[i]
                xn, en, z = xk[2 * N:], d[3 * N:4 * N], d[4 * N:]
                for i in range(N):       # U's n block sees e w; the direct path z w
                    xn[i] = en[i] * wh[i]
                    wh[i] = z[i] * wh[i]
        if t > 1:
            np.dot(Gh[t - 1], W, Q)
            if cell == LSTM:
                for k in range(B):
                    for i in range(N):
                        w[k, i] = Q[k, i]
            else:
                for k in range(B):
                    for i in range(N):
                        w[k, i] += Q[k, i]

    # ---- parameter gradients: single products over all T·B rows
    Gh2 = Gh.reshape((TB, GN))
    Gx2 = Gx.reshape((TB, GN))
    _at_b(Gh2, H[:T].reshape((TB, N)), gW)
    if M > 0:
        _at_b(Gx2, u2, gU)
    gb[:] = 0.0
    for r in range(TB):
        for j in range(GN):
            gb[j] += Gx2[r, j]
    if cell != LSTM:                     # b_hn: the hidden side of n, (e r) w
        for r in range(TB):
            for i in range(N):
                gb[3 * N + i] += Gh2[r, 2 * N + i]
    stats[0] = E
    stats[1] = 0.0


@jit
def _evaluate_gated(W, U, b, V, c, cell, loss, labels, targets, u, err_rule, err_tol,
                    wrong, stats):
    """Forward pass only of a gated cell: wrong (B,) answers and stats[0] = E.

    Same shapes and conventions as :func:`_bptt_gated`; memory O(B N) beyond the inputs.
    """
    T, B, M = u.shape
    GN, N = W.shape
    K = V.shape[0]
    h = np.zeros((B, N))
    cs = np.zeros((B, N))
    h2 = np.empty((B, N))
    c2 = np.empty((B, N))
    aux = np.empty((B, _aux_blocks(cell) * N))
    Wt = np.ascontiguousarray(W.T)
    Ut = np.ascontiguousarray(U.T)
    Vt = np.ascontiguousarray(V.T)
    A = np.empty((B, GN))
    Z = np.empty((B, GN))
    Y = np.empty((B, K))
    e = np.empty((B, K))
    scale = _loss_scale(loss, labels, targets, T, B, K)
    for k in range(B):
        wrong[k] = 0.0
    E = 0.0
    for t in range(1, T + 1):
        np.dot(h, Wt, A)
        if M > 0:
            np.dot(u[t - 1], Ut, Z)
        else:
            Z[:, :] = 0.0
        for k in range(B):
            for j in range(GN):
                Z[k, j] += b[j]
        _gated_batch_step(cell, N, A, Z, b, h, cs, h2, c2, aux)
        h[:, :] = h2
        if cell == LSTM:
            cs[:, :] = c2
        if _has_target(loss, labels, targets, t, T):
            row0 = (t - 1) * B if loss == LOSS_BERNOULLI else 0
            E += _readout_loss(h, Vt, c, Y, loss, labels[t - 1], targets[row0:row0 + B],
                               err_rule, err_tol, scale, e, wrong)
    stats[0] = E
