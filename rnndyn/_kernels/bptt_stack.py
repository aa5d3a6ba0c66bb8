"""Backpropagation through time for minibatches of unidirectional stacks (rnndyn.stack).

Layer l (part p = l of the layout table of :mod:`rnndyn._kernels.stack`) is any cell; its
input v^l_t is assembled from u_t and the lower layers' outputs as the ``src`` table says
(skip none / residual / dense), and a residual layer adds P v^l_t (P the truncated
identity) to its output. The readout y_t = V r^L_t + c reads the top layer as the one-layer
trainers do: r = σ(x) for a pascanu layer, h otherwise; losses, labels and targets are those
of :mod:`rnndyn._kernels.bptt`. The initial states are zero (pascanu: r_0 = σ(0)).

Forward, layer by layer over the whole sequence (the layers below are done when a layer
starts): the input drive Z = v Uᵀ + b is one (rows, M_l) x (M_l, G N) product per chunk
of steps (below), each step one (B, N) x (N, G N) product. Backward, top layer first (the
joint Jacobian is block lower-triangular, so a layer's output adjoint is complete once
every layer above is done):

    ε^l_t = dE/dh^l_t from its consumers (above) + the readout (top) + the recurrence,

the cell's adjoint (``_gated_vj_gates`` of rnndyn._kernels.cells, or σ' for vanilla
cells) gives the pre-activation adjoints g_t, and then three products per chunk:
dW += Σ g_tᵀ r_{t-1}, dU += Σ g̃_tᵀ v_t, and the input adjoint g̃ U (+ Pᵀ ε for a
residual layer), scattered back to the layers that made v (g̃ = g except the GRU's n
block, as in rnndyn._kernels.bptt_gated). The GRU/LSTM step is ``_gated_batch_step`` of
rnndyn._kernels.bptt_gated, the one-layer kernel's: a one-layer stack gives its numbers
to rounding (the sums of the parameter gradients run in another order).

Chunks: the sequence is cut into runs of :func:`_chunk_steps` steps (80 or 320 rows of
the T·B), and Z, g and g̃ live only for a chunk, in buffers that stay in cache. A
chunk's products run when it starts (forward: Z) or ends (backward: dW, dU, the input
adjoint), over its rows. They do the work of single (T·B)-row products, but Z, g and g̃
(6 of a layer's 13 MB at N = 64, T = 100, B = 20) never go out to memory, and at N = 64
the products fit OpenBLAS's small-matrix kernels (see CHUNK_ROWS_SMALL).
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
H_, C_, R_, D_, AUX, V_, EPS = range(7)
N_ARRAYS = 7
# rows (steps x batch) of a chunk. OpenBLAS multiplies m n k <= 100³ without packing
# its operands (its small-matrix kernels): where a chunk of CHUNK_ROWS_SMALL rows keeps
# the products (rows x N x GN) under that, it is taken (2-layer GRU, N = 64, B = 20,
# T = 100: 80 rows were 6% faster for the whole gradient than 160, 14% than 2000 and
# 17% than one step of 20 rows); bigger layers take CHUNK_ROWS (N = 96, 128 GRU, N = 64
# LSTM: 4-5% faster than 80 rows; 20 rows were 20% slower at N = 128). Measured.
SMALL_GEMM = 100 ** 3
CHUNK_ROWS_SMALL = 80
CHUNK_ROWS = 320


@jit(inline="always")
def _direct_input(lay, src, src_start, p):
    """The part whose whole output is part p's input v (skip 'none' and 'residual' above
    layer 1: v^l = h^{l-1}, read in place), or -1 (v is assembled: layer 1, dense)."""
    q = src_start[p]
    if src_start[p + 1] == q + 1 and src[q, 1] == 1 and src[q, 3] == lay[src[q, 5], N_]:
        return src[q, 5]
    return -1


@jit
def _chunk_steps(T, B, N, GN):
    """Steps per chunk of a layer of N units and GN rows of W: about CHUNK_ROWS_SMALL or
    CHUNK_ROWS rows (see there), at least one step, at most T."""
    rows = CHUNK_ROWS_SMALL if CHUNK_ROWS_SMALL * N * GN <= SMALL_GEMM else CHUNK_ROWS
    return max(1, min(T, rows // max(B, 1)))


@jit
def _work_offsets(lay, src, src_start, T, B, offs):
    """offs (P + 1, N_ARRAYS + 1): where each part's arrays start in the workspace
    (column N_ARRAYS: where the next part starts; row P: the shared chunk buffers, see
    below); returns the workspace length. H (T+1, B, N) the outputs; C the LSTM's cells;
    R the pascanu form's σ(x); D σ' (vanilla); AUX the gated auxiliary rows; V (T, B, M)
    the input, unless it is read in place (:func:`_direct_input`); EPS (T, B, N) dE/dh
    from the consumers, then the total. Shared by all parts, one chunk of
    :func:`_chunk_steps` steps each: the input drive Z (forward), then the pre-activation
    adjoints g (backward), at offs[P, 0]; the GRU's input-side adjoints g̃ at offs[P, 1];
    the input adjoint of a gathered input at offs[P, 2]."""
    o = 0
    gmax = 0                            # the chunk buffers' lengths
    mmax = 0
    for p in range(lay.shape[0]):
        cell, N, G, M = lay[p, CELL], lay[p, N_], lay[p, GN], lay[p, MIN]
        state = (T + 1) * B * N
        sizes = (state, state if cell == LSTM else 0, state if cell == PASCANU else 0,
                 state if cell < LSTM else 0,
                 T * B * _aux_blocks(cell) * N if cell >= LSTM else 0,
                 T * B * M if _direct_input(lay, src, src_start, p) < 0 else 0, T * B * N)
        for a in range(N_ARRAYS):
            offs[p, a] = o
            o += sizes[a]
        offs[p, N_ARRAYS] = o
        rows = _chunk_steps(T, B, N, G) * B
        gmax = max(gmax, rows * G)
        mmax = max(mmax, rows * M)
    P = lay.shape[0]
    offs[P, :] = o
    offs[P, 1] = offs[P, 0] + gmax
    offs[P, 2] = offs[P, 1] + gmax
    return offs[P, 2] + mmax


@jit
def _stack_work_size(lay, src, src_start, T, B):
    """Length of the float64 workspace :func:`_bptt_stack` needs."""
    return _work_offsets(lay, src, src_start, T, B,
                         np.empty((lay.shape[0] + 1, N_ARRAYS + 1), dtype=np.int64))


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
def _accumulate(acc, x):
    """acc += x for C-contiguous arrays of one shape, as one flat loop: numba's 2-D
    ``acc += x`` (an array expression), run for dW and dU at the end of every chunk, was
    7% of the whole 2-layer GRU gradient at N = 64 (measured)."""
    a = acc.reshape(acc.size)
    b = x.reshape(x.size)
    for i in range(a.shape[0]):
        a[i] += b[i]


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
    offs = np.empty((P + 1, N_ARRAYS + 1), dtype=np.int64)
    _work_offsets(lay, src, src_start, T, B, offs)
    dv_off = offs[P, 2]                 # the shared chunk buffers come last

    # ---- forward, bottom up
    for p in range(P):
        W, U, b = _params(theta, lay, p)
        cell, act, N, G, M = lay[p, CELL], lay[p, ACT], lay[p, N_], lay[p, GN], lay[p, MIN]
        H = _block(work, offs, p, H_, T + 1, B, N)
        Vin = _input(work, offs, lay, src, src_start, p, T, B)
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
        Ut = np.ascontiguousarray(U.T)
        Wt = np.ascontiguousarray(W.T)
        A = np.empty((B, G))
        k0, n_skip = lay[p, SKIP_OFF], min(N, lay[p, SKIP_LEN])
        CH = _chunk_steps(T, B, N, G)
        H[0, :, :] = 0.0
        Aux = _block(work, offs, p, AUX, T, B, _aux_blocks(cell) * N if cell >= LSTM else 0)
        C = _block(work, offs, p, C_, T + 1, B, N) if cell == LSTM else H
        D = _block(work, offs, p, D_, T + 1, B, N if cell < LSTM else 0)
        R = _block(work, offs, p, R_, T + 1, B, N) if cell == PASCANU else H
        if cell >= LSTM:
            C[0, :, :] = 0.0
        else:
            _initial_r(act, cell, B, N, R[0], D[0])
        for t0 in range(0, T, CH):
            n_t = min(CH, T - t0)
            # the chunk's input drive Z = v Uᵀ + b, one product over its rows
            Z = _block(work, offs, P, 0, n_t, B, G)
            Z2 = Z.reshape((n_t * B, G))
            if M > 0:
                np.dot(Vin[t0:t0 + n_t].reshape((n_t * B, M)), Ut, Z2)
            else:
                Z2[:, :] = 0.0
            for r in range(n_t * B):
                zr = Z2[r]
                for j in range(G):
                    zr[j] += b[j]
            for t in range(t0 + 1, t0 + n_t + 1):
                Zt = Z[t - 1 - t0]
                if cell >= LSTM:
                    np.dot(H[t - 1], Wt, A)
                    _gated_batch_step(cell, N, A, Zt, b, H[t - 1], C[t - 1], H[t], C[t],
                                      Aux[t - 1])
                    for k in range(B):          # residual: h_t += P v_t
                        for i in range(n_skip):
                            H[t, k, i] += Vin[t - 1, k, k0 + i]
                    continue
                np.dot(R[t - 1], Wt, A)
                for k in range(B):
                    a, z, h = A[k], Zt[k], H[t, k]
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
    # EPS accumulates, except where it is overwritten: a part read in place takes its
    # consumer's input adjoint by assignment, a gated top layer reads it never (residual:
    # writes it)
    direct = np.zeros(P, dtype=np.bool_)
    for p in range(1, P):
        j = _direct_input(lay, src, src_start, p)
        if j >= 0:
            direct[j] = True
    for p in range(P):
        if not (direct[p] or (p == P - 1 and lay[p, CELL] >= LSTM)):
            _block(work, offs, p, EPS, T, B, lay[p, N_])[:, :, :] = 0.0
    scale = _loss_scale(loss, labels, targets, T, B, K)
    Vt = np.ascontiguousarray(V.T)
    Y = np.empty((B, K))
    e = np.empty((B, K))
    eh = np.empty((V.shape[0], V.shape[1]))     # e_tᵀ r_t
    E = 0.0
    for p in range(P - 1, -1, -1):
        W, U, b = _params(theta, lay, p)
        gW, gU, gb = _params(grad, lay, p)
        cell, N, G, M = lay[p, CELL], lay[p, N_], lay[p, GN], lay[p, MIN]
        top = p == P - 1
        residual = lay[p, SKIP_LEN] > 0
        H = _block(work, offs, p, H_, T + 1, B, N)
        Eps = _block(work, offs, p, EPS, T, B, N)
        Vin = _input(work, offs, lay, src, src_start, p, T, B)
        R = _block(work, offs, p, R_, T + 1, B, N) if cell == PASCANU else H
        Aux = _block(work, offs, p, AUX, T, B, _aux_blocks(cell) * N if cell >= LSTM else 0)
        D = _block(work, offs, p, D_, T + 1, B, N if cell < LSTM else 0)
        S = 2 * N if cell == LSTM else N
        w = np.zeros((B, S))            # gated: dE/ds_t; vanilla: g_{t+1} W
        Q = np.empty((B, N))
        ev = np.zeros((B, N))           # e_t V at a step with a target
        tW = np.empty((G, N))           # a chunk's share of dW, dU
        tU = np.empty((G, M))
        j_in = _direct_input(lay, src, src_start, p)
        k0, n_skip = lay[p, SKIP_OFF], min(N, lay[p, SKIP_LEN])
        CH = _chunk_steps(T, B, N, G)
        for t0 in range(((T - 1) // CH) * CH, -1, -CH):
            n_t = min(CH, T - t0)
            Gh = _block(work, offs, P, 0, n_t, B, G)
            Gx = _block(work, offs, P, 1, n_t, B, G) if cell == GRU else Gh
            for t in range(t0 + n_t, t0, -1):
                s_ = t - 1 - t0
                has = top and _has_target(loss, labels, targets, t, T)
                if has:
                    row0 = (t - 1) * B if loss == LOSS_BERNOULLI else 0
                    E += _readout_loss(R[t], Vt, c, Y, loss, labels[t - 1],
                                       targets[row0:row0 + B], err_rule, err_tol, scale, e,
                                       wrong)
                    np.dot(e, V, ev)
                    np.dot(e.T, R[t], eh)
                    _accumulate(gV, eh)
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
                    _gated_batch_vj(cell, N, Aux[t - 1], w, Gh[s_], Gx[s_])
                    if t > 1:
                        np.dot(Gh[s_], W, Q)
                        for k in range(B):
                            wh, qk = w[k, :N], Q[k]
                            if cell == LSTM:
                                for i in range(N):
                                    wh[i] = qk[i]
                            else:
                                for i in range(N):
                                    wh[i] += qk[i]
                else:
                    for k in range(B):
                        eps, wk, dk, gk = Eps[t - 1, k], w[k], D[t, k], Gh[s_, k]
                        for i in range(N):
                            rec = wk[i] + (ev[k, i] if has else 0.0)
                            if cell == PASCANU:   # dE/dx_t: the r_t paths go through σ'(x_t)
                                eps[i] += rec * dk[i]
                                gk[i] = eps[i]
                            else:                 # dE/dh_t; g_t = dE/dh_t σ'(p_t)
                                eps[i] += rec
                                gk[i] = eps[i] * dk[i]
                    if t > 1:
                        np.dot(Gh[s_], W, w)
            # ---- the chunk's share of the parameter gradients, one product each
            rows = n_t * B
            Gh2 = Gh.reshape((rows, G))
            Gx2 = Gx.reshape((rows, G))
            np.dot(Gh2.T, R[t0:t0 + n_t].reshape((rows, N)), tW)
            _accumulate(gW, tW)
            Vin2 = Vin[t0:t0 + n_t].reshape((rows, M))
            if M > 0:
                np.dot(Gx2.T, Vin2, tU)
                _accumulate(gU, tU)
            for r in range(rows):
                xr = Gx2[r]
                for j in range(G):
                    gb[j] += xr[j]
            if cell == GRU:                 # b_hn: the hidden side of n, (e r) w
                bhn = gb[3 * N:]
                for r in range(rows):
                    gn = Gh2[r, 2 * N:]
                    for i in range(N):
                        bhn[i] += gn[i]
            if p == 0:
                continue                    # dE/du is not needed
            # ---- the chunk's input adjoint g̃ U + Pᵀ ε, scattered to the layers that
            # made v; a lower layer read in place has no other consumer: its EPS rows
            # take the product
            if j_in >= 0:
                dV = _block(work, offs, j_in, EPS, T, B, M)[t0:t0 + n_t].reshape((rows, M))
            else:
                dV = work[dv_off:dv_off + rows * M].reshape((rows, M))
            np.dot(Gx2, U, dV)
            Eps2 = Eps[t0:t0 + n_t].reshape((rows, N))
            for r in range(rows):
                for i in range(n_skip):
                    dV[r, k0 + i] += Eps2[r, i]
            if j_in >= 0:
                continue
            for q in range(src_start[p], src_start[p + 1]):
                kind, n, voff, part = src[q, 1], src[q, 3], src[q, 4], src[q, 5]
                if kind == 0:
                    continue
                Ej = _block(work, offs, part, EPS, T, B, lay[part, N_])[t0:t0 + n_t]
                Ej2 = Ej.reshape((rows, lay[part, N_]))
                for r in range(rows):
                    for i in range(n):
                        Ej2[r, i] += dV[r, voff + i]
    stats[0] = E
