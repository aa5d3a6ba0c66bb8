"""Backpropagation through time for minibatches of unidirectional stacks (rnndyn.stack).

Layer l (part p = l of the layout table of :mod:`rnndyn._kernels.stack`) is any cell; its
input v^l_t is assembled from u_t and the lower layers' outputs as the ``src`` table says
(skip none / residual / dense), and a residual layer adds P v^l_t (P the truncated
identity) to its output. The readout y_t = V r^L_t + c reads the top layer as the one-layer
trainers do: r = σ(x) for a pascanu layer, h otherwise; losses, labels and targets are those
of :mod:`rnndyn._kernels.bptt`. The initial states are zero (pascanu: r_0 = σ(0)).

Forward, layer by layer over the whole sequence (the layers below are done when a layer
starts): the input drive Z = v Uᵀ + b is one (T·B, M_l) x (M_l, G N) product, each step one
(B, N) x (N, G N) product. Backward, top layer first (the joint Jacobian is block
lower-triangular, so a layer's output adjoint is complete once every layer above is done):

    ε^l_t = dE/dh^l_t from its consumers (above) + the readout (top) + the recurrence,

the cell's adjoint (``_gated_vj_gates`` of rnndyn._kernels.cells, or σ' for vanilla
cells) gives the pre-activation adjoints g_t, and then three products per layer:
dW = Σ g_tᵀ r_{t-1}, dU = Σ g̃_tᵀ v_t, and the input adjoint g̃ U (+ Pᵀ ε for a residual
layer), scattered back to the layers that made v (g̃ = g except the GRU's n block, as in
rnndyn._kernels.bptt_gated). The GRU/LSTM step is ``_gated_batch_step`` of
rnndyn._kernels.bptt_gated, the one-layer kernel's: a one-layer stack gives its numbers
to rounding (the sums of the bias gradients run in another order).
"""

import numpy as np

from rnndyn._jit import jit
from rnndyn._kernels.activations import _apply_act_and_dact
from rnndyn._kernels.bptt import _has_target, _initial_r, _readout_loss
from rnndyn._kernels.bptt_gated import _aux_blocks, _gated_batch_step, _loss_scale
from rnndyn._kernels.cells import _gated_vj_gates
from rnndyn._kernels.stack import ACT, CELL, GN, MIN, N_, SKIP_LEN, SKIP_OFF, _params
from rnndyn.codes import GRU, LOSS_BERNOULLI, LSTM, PASCANU

# a part's arrays in the workspace, in this order (length 0 where a part has none)
H_, C_, R_, D_, AUX, Z_, GX, V_, EPS = range(9)
N_ARRAYS = 9


@jit(inline="always")
def _direct_input(lay, src, src_start, p):
    """The part whose whole output is part p's input v (skip 'none' and 'residual' above
    layer 1: v^l = h^{l-1}, read in place), or -1 (v is assembled: layer 1, dense)."""
    q = src_start[p]
    if src_start[p + 1] == q + 1 and src[q, 1] == 1 and src[q, 3] == lay[src[q, 5], N_]:
        return src[q, 5]
    return -1


@jit
def _work_offsets(lay, src, src_start, T, B, offs):
    """offs (P, N_ARRAYS + 1): where each part's arrays start in the workspace (column
    N_ARRAYS: where the next part starts); returns the workspace length, the shared input
    adjoint (T·B, max M_l) included. H (T+1, B, N) the outputs; C the LSTM's cells; R the
    pascanu form's σ(x); D σ' (vanilla); AUX the gated auxiliary rows; Z (T, B, G N) the
    input drive, then (backward, where Z is spent) the pre-activation adjoints g; GX the
    GRU's input-side adjoints; V (T, B, M) the input, unless it is read in place
    (:func:`_direct_input`); EPS (T, B, N) dE/dh from the consumers, then the total."""
    o = 0
    mmax = 0
    for p in range(lay.shape[0]):
        cell, N, G, M = lay[p, CELL], lay[p, N_], lay[p, GN], lay[p, MIN]
        state = (T + 1) * B * N
        sizes = (state, state if cell == LSTM else 0, state if cell == PASCANU else 0,
                 state if cell < LSTM else 0,
                 T * B * _aux_blocks(cell) * N if cell >= LSTM else 0,
                 T * B * G, T * B * G if cell == GRU else 0,
                 T * B * M if _direct_input(lay, src, src_start, p) < 0 else 0, T * B * N)
        for a in range(N_ARRAYS):
            offs[p, a] = o
            o += sizes[a]
        offs[p, N_ARRAYS] = o
        mmax = max(mmax, M)
    return o + T * B * mmax


@jit
def _stack_work_size(lay, src, src_start, T, B):
    """Length of the float64 workspace :func:`_bptt_stack` needs."""
    return _work_offsets(lay, src, src_start, T, B,
                         np.empty((lay.shape[0], N_ARRAYS + 1), dtype=np.int64))


@jit(inline="always")
def _input(work, offs, lay, src, src_start, p, T, B):
    """Part p's input v (T, B, M_l): the lower part's outputs H[1:] in place, or its own
    V block."""
    j = _direct_input(lay, src, src_start, p)
    if j < 0:
        o = offs[p, V_]
    else:
        o = offs[j, H_] + B * lay[j, N_]
    M = lay[p, MIN]
    return work[o:o + T * B * M].reshape((T, B, M))


@jit(inline="always")
def _block(work, offs, p, a, shape0, shape1, shape2):
    """Array ``a`` of part p as a (shape0, shape1, shape2) view of the workspace."""
    return work[offs[p, a]:offs[p, a] + shape0 * shape1 * shape2].reshape(
        (shape0, shape1, shape2))


@jit(inline="always")
def _gated_batch_vj(cell, N, Aux_t, w, Gh_t, Gx_t):
    """One batched step of a gated cell's adjoint: from w (B, S) = dE/ds_t, the gate
    pre-activation adjoints Gh_t (B, G N) (and the GRU's input side Gx_t), and w turned in
    place into the parts of dE/ds_{t-1} that bypass W (the LSTM's c path, the GRU's z h);
    the caller adds Gh_t W. The arithmetic of rnndyn._kernels.bptt_gated's backward step."""
    for k in range(w.shape[0]):
        d, wk, gk = Aux_t[k], w[k], Gh_t[k]
        _gated_vj_gates(N, cell, d, wk, gk)
        wh = wk[:N]
        if cell == LSTM:
            wc, f, kc = wk[N:], d[4 * N:5 * N], d[5 * N:]
            for i in range(N):
                wc[i] = f[i] * (wc[i] + kc[i] * wh[i])
        else:
            xk = Gx_t[k]
            for i in range(2 * N):
                xk[i] = gk[i]
            xn, en, z = xk[2 * N:], d[3 * N:4 * N], d[4 * N:]
            for i in range(N):
                xn[i] = en[i] * wh[i]
                wh[i] = z[i] * wh[i]


@jit
def _bptt_stack(theta, lay, src, src_start, V, c, loss, labels, targets, u, err_rule,
                err_tol, grad, gV, gc, wrong, stats, work):
    """E and ∇E of a unidirectional stack (theta, lay, src, src_start of
    rnndyn.stack.Stack.pack) with readout V (K, N_L), c (K,) on a minibatch u (T, B, M);
    labels/targets as rnndyn._kernels.bptt._bptt. Writes grad (laid out like theta), gV,
    gc, wrong (B,), stats[0] = E; work: _stack_work_size scratch."""
    T, B, _ = u.shape
    P = lay.shape[0]
    K = V.shape[0]
    TB = T * B
    offs = np.empty((P, N_ARRAYS + 1), dtype=np.int64)
    _work_offsets(lay, src, src_start, T, B, offs)
    dv_off = offs[P - 1, N_ARRAYS]      # the shared input adjoint comes last

    # ---- forward, bottom up
    for p in range(P):
        W, U, b = _params(theta, lay, p)
        cell, act, N, G, M = lay[p, CELL], lay[p, ACT], lay[p, N_], lay[p, GN], lay[p, MIN]
        H = _block(work, offs, p, H_, T + 1, B, N)
        Vin = _input(work, offs, lay, src, src_start, p, T, B)
        Z = _block(work, offs, p, Z_, T, B, G)
        gather = _direct_input(lay, src, src_start, p) < 0
        for q in range(src_start[p], src_start[p + 1] if gather else src_start[p]):
            kind, col, n, voff, part = src[q, 1], src[q, 2], src[q, 3], src[q, 4], src[q, 5]
            if kind == 0:
                for t in range(T):
                    for k in range(B):
                        Vin[t, k, voff:voff + n] = u[t, k, col:col + n]
            else:
                Hq = _block(work, offs, part, H_, T + 1, B, lay[part, N_])
                for t in range(T):
                    for k in range(B):
                        Vin[t, k, voff:voff + n] = Hq[t + 1, k, :n]
        Z2 = Z.reshape((TB, G))
        if M > 0:
            np.dot(Vin.reshape((TB, M)), np.ascontiguousarray(U.T), Z2)
        else:
            Z2[:, :] = 0.0
        for r in range(TB):
            for j in range(G):
                Z2[r, j] += b[j]
        Wt = np.ascontiguousarray(W.T)
        A = np.empty((B, G))
        k0, n_skip = lay[p, SKIP_OFF], min(N, lay[p, SKIP_LEN])
        H[0, :, :] = 0.0
        if cell >= LSTM:
            Aux = _block(work, offs, p, AUX, T, B, _aux_blocks(cell) * N)
            C = _block(work, offs, p, C_, T + 1, B, N) if cell == LSTM else H
            C[0, :, :] = 0.0
            for t in range(1, T + 1):
                np.dot(H[t - 1], Wt, A)
                _gated_batch_step(cell, N, A, Z[t - 1], b, H[t - 1], C[t - 1], H[t], C[t],
                                  Aux[t - 1])
                for k in range(B):          # residual: h_t += P v_t
                    for i in range(n_skip):
                        H[t, k, i] += Vin[t - 1, k, k0 + i]
        else:
            D = _block(work, offs, p, D_, T + 1, B, N)
            R = _block(work, offs, p, R_, T + 1, B, N) if cell == PASCANU else H
            _initial_r(act, cell, B, N, R[0], D[0])
            for t in range(1, T + 1):
                np.dot(R[t - 1], Wt, A)
                for k in range(B):
                    a, z, h = A[k], Z[t - 1, k], H[t, k]
                    for i in range(N):
                        a[i] += z[i]
                    if cell == PASCANU:     # x_t = p_t (+ P v_t); r_t = σ(x_t)
                        h[:] = a
                        for i in range(n_skip):
                            h[i] += Vin[t - 1, k, k0 + i]
                        _apply_act_and_dact(act, h, R[t, k], D[t, k])
                    else:                   # h_t = σ(p_t) (+ P v_t)
                        _apply_act_and_dact(act, a, h, D[t, k])
                        for i in range(n_skip):
                            h[i] += Vin[t - 1, k, k0 + i]

    # ---- backward, top down
    grad[:] = 0.0
    gV[:, :] = 0.0
    gc[:] = 0.0
    for k in range(B):
        wrong[k] = 0.0
    for p in range(P):
        _block(work, offs, p, EPS, T, B, lay[p, N_])[:, :, :] = 0.0
    scale = _loss_scale(loss, labels, targets, T, B, K)
    Vt = np.ascontiguousarray(V.T)
    ones = np.ones(TB)
    Y = np.empty((B, K))
    e = np.empty((B, K))
    E = 0.0
    for p in range(P - 1, -1, -1):
        W, U, b = _params(theta, lay, p)
        gW, gU, gb = _params(grad, lay, p)
        cell, N, G, M = lay[p, CELL], lay[p, N_], lay[p, GN], lay[p, MIN]
        top = p == P - 1
        residual = lay[p, SKIP_LEN] > 0
        H = _block(work, offs, p, H_, T + 1, B, N)
        Eps = _block(work, offs, p, EPS, T, B, N)
        Gh = _block(work, offs, p, Z_, T, B, G)     # Z is spent: g takes its place
        Gx = _block(work, offs, p, GX, T, B, G) if cell == GRU else Gh
        R = _block(work, offs, p, R_, T + 1, B, N) if cell == PASCANU else H
        Aux = _block(work, offs, p, AUX, T, B, _aux_blocks(cell) * N if cell >= LSTM else 0)
        D = _block(work, offs, p, D_, T + 1, B, N if cell < LSTM else 0)
        S = 2 * N if cell == LSTM else N
        w = np.zeros((B, S))            # gated: dE/ds_t; vanilla: g_{t+1} W
        Q = np.empty((B, N))
        ev = np.zeros((B, N))           # e_t V at a step with a target
        for t in range(T, 0, -1):
            has = top and _has_target(loss, labels, targets, t, T)
            if has:
                row0 = (t - 1) * B if loss == LOSS_BERNOULLI else 0
                E += _readout_loss(R[t], Vt, c, Y, loss, labels[t - 1],
                                   targets[row0:row0 + B], err_rule, err_tol, scale, e, wrong)
                np.dot(e, V, ev)
                gV += np.dot(e.T, R[t])
                for k in range(B):
                    for j in range(K):
                        gc[j] += e[k, j]
            if cell >= LSTM:
                for k in range(B):
                    wh = w[k, :N]
                    if not top:
                        eps = Eps[t - 1, k]
                        for i in range(N):
                            wh[i] += eps[i]
                    if has:
                        evk = ev[k]
                        for i in range(N):
                            wh[i] += evk[i]
                    if residual:            # EPS keeps the total dE/dh_t for Pᵀ
                        Eps[t - 1, k, :] = wh
                _gated_batch_vj(cell, N, Aux[t - 1], w, Gh[t - 1], Gx[t - 1])
                if t > 1:
                    np.dot(Gh[t - 1], W, Q)
                    if cell == LSTM:
                        w[:, :N] = Q
                    else:
                        for k in range(B):
                            wh, qk = w[k, :N], Q[k]
                            for i in range(N):
                                wh[i] += qk[i]
            else:
                for k in range(B):
                    eps, wk, dk, gk = Eps[t - 1, k], w[k], D[t, k], Gh[t - 1, k]
                    for i in range(N):
                        rec = wk[i] + (ev[k, i] if has else 0.0)
                        if cell == PASCANU:   # dE/dx_t: the r_t paths go through σ'(x_t)
                            eps[i] += rec * dk[i]
                            gk[i] = eps[i]
                        else:                 # dE/dh_t; g_t = dE/dh_t σ'(p_t)
                            eps[i] += rec
                            gk[i] = eps[i] * dk[i]
                if t > 1:
                    np.dot(Gh[t - 1], W, w)
        # ---- the parameter gradients: single products over all T·B rows
        Gh2 = Gh.reshape((TB, G))
        Gx2 = Gx.reshape((TB, G))
        # one product each: measured 13% faster than _at_b's blocks of rows at N = 64
        gW[:, :] = np.dot(Gh2.T, R[:T].reshape((TB, N)))
        Vin2 = _input(work, offs, lay, src, src_start, p, T, B).reshape((TB, M))
        if M > 0:
            gU[:, :] = np.dot(Gx2.T, Vin2)
        gb[:G] = np.dot(ones, Gx2)
        if cell == GRU:                 # b_hn: the hidden side of n, (e r) w
            gb[3 * N:] = np.dot(ones, Gh2)[2 * N:]
        if p == 0:
            continue                    # dE/du is not needed
        # ---- the input adjoint g̃ U + Pᵀ ε, scattered to the layers that made v; a
        # lower layer read in place has no other consumer: its EPS takes the product
        j = _direct_input(lay, src, src_start, p)
        if j >= 0:
            dV = _block(work, offs, j, EPS, T, B, M).reshape((TB, M))
        else:
            dV = work[dv_off:dv_off + TB * M].reshape((TB, M))
        np.dot(Gx2, U, dV)
        k0, n_skip = lay[p, SKIP_OFF], min(N, lay[p, SKIP_LEN])
        Eps2 = Eps.reshape((TB, N))
        for r in range(TB):
            for i in range(n_skip):
                dV[r, k0 + i] += Eps2[r, i]
        for q in range(src_start[p], src_start[p + 1]):
            kind, n, voff, part = src[q, 1], src[q, 3], src[q, 4], src[q, 5]
            if kind == 0 or j >= 0:
                continue
            Ej = _block(work, offs, part, EPS, T, B, lay[part, N_]).reshape(
                (TB, lay[part, N_]))
            for r in range(TB):
                for i in range(n):
                    Ej[r, i] += dV[r, voff + i]
    stats[0] = E
