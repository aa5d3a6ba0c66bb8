"""Stacked RNNs (rnndyn.stack): the forward pass of the joint state and the depth map.

All layers' parameters come in one flat vector ``theta`` with an int64 table ``lay`` (one
row per layer-direction part p = l·n_dirs + d, columns the ``LAY_*`` indices of
:mod:`rnndyn.stack`) and a table ``src`` of the pieces each layer's input v^l_t is made of
(u_t or another part's output h at the same step). The cells' own maths is that of
:mod:`rnndyn._kernels.cells`: :func:`_vanilla_step`, :func:`_gated_step` and
:func:`_gated_vj_gates` (the gate adjoints; the few terms of :func:`_gated_vj` that bypass W
are applied to blocks of rows here); this module wires layers together.

The depth map propagates the adjoint block rows G^l_k = ∂h^L_T/∂s^l_k (R × S_l) backwards
in time, top layer first at each k (the joint Jacobian is block lower-triangular):

    G^l_k = G^l_{k+1} J^l_{k+1} + Σ_{j consumes h^l} G^j_k ∂s^j_k/∂h^l_k,

each block with its own running log scale, so neither growth nor decay leaves float64.
"""

import math

import numpy as np

from rnndyn._jit import jit
from rnndyn._kernels.cells import _gated_step, _gated_vj_gates, _vanilla_step
from rnndyn.codes import ELMAN, GRU, LSTM, PASCANU

# columns of the layout table (mirrored by rnndyn.stack.LAY_COLUMNS)
CELL, ACT, N_, MIN, OW, OU, OB, OX, OD, GN, S_, A_, REV, SKIP_OFF, SKIP_LEN = range(15)


@jit(inline="always")
def _params(theta, lay, p):
    """W (GN, N), U (GN, M_in), b views of part p's parameters in theta."""
    N = lay[p, N_]
    G = lay[p, GN]
    M = lay[p, MIN]
    W = theta[lay[p, OW]:lay[p, OW] + G * N].reshape((G, N))
    U = theta[lay[p, OU]:lay[p, OU] + G * M].reshape((G, M))
    b = theta[lay[p, OB]:lay[p, OU]]     # packed W, b, U (rnndyn.stack.Stack.pack)
    return W, U, b


@jit
def _stack_trajectory(theta, lay, src, src_start, n_dirs, x0, u, X, D, V):
    """Run every layer over the whole sequence, bottom up: X (T+1, ΣS) the joint states
    (row 0 every part's initial state, row t the states at position t), D (T, ΣA) the
    auxiliary rows of the step that made row t (D[t-1]); V (T, max M_in) scratch for a
    layer's inputs. A reverse part runs t = T … 1 from X[0]."""
    T = D.shape[0]
    X[0, :] = x0
    n_layers = src_start.shape[0] - 1
    for l in range(n_layers):
        for q in range(src_start[l], src_start[l + 1]):
            kind, col, n, voff = src[q, 1], src[q, 2], src[q, 3], src[q, 4]
            for t in range(T):
                for i in range(n):
                    V[t, voff + i] = u[t, col + i] if kind == 0 else X[t + 1, col + i]
        for d in range(n_dirs):
            p = l * n_dirs + d
            W, U, b = _params(theta, lay, p)
            cell, N, S, A = lay[p, CELL], lay[p, N_], lay[p, S_], lay[p, A_]
            M, ox, od = lay[p, MIN], lay[p, OX], lay[p, OD]
            s_prev = X[0, ox:ox + S].copy()
            s_new = np.empty(S)
            aux = np.empty(A)
            a = np.empty(W.shape[0])
            scr = np.empty(N)
            vt = np.empty(M)
            k0, n_skip = lay[p, SKIP_OFF], min(N, lay[p, SKIP_LEN])
            for step in range(T):
                t = T - step if lay[p, REV] else step + 1
                vt[:] = V[t - 1, :M]
                if cell < LSTM:
                    _vanilla_step(W, U, b, lay[p, ACT], cell, s_prev, vt, s_new, aux, a, scr)
                else:
                    _gated_step(W, U, b, cell, s_prev, vt, s_new, aux, a)
                # residual: h^l_t = f(s^l_{t-1}, v_t) + P h^{l-1}_t, P the truncated identity
                for i in range(n_skip):
                    s_new[i] += vt[k0 + i]
                X[t, ox:ox + S] = s_new
                D[t - 1, od:od + A] = aux
                s_prev[:] = s_new


@jit(inline="always")
def _block_gates(N, cell, d, G, Gg, outside_reset):
    """Gg (R, G N): the pre-activation adjoints of the rows of G (_gated_vj_gates row by
    row). outside_reset: the GRU candidate's input term U_n v sits outside the reset gate,
    so its adjoint is e·w (aux block 3), not e·r·w (the h term's)."""
    for r in range(G.shape[0]):
        w = G[r]
        _gated_vj_gates(N, cell, d, w, Gg[r])
        if outside_reset and cell == GRU:
            for i in range(N):
                Gg[r, 2 * N + i] = d[3 * N + i] * w[i]


@jit(inline="always")
def _block_rec_vj(theta, lay, p, d, G, out, gf):
    """out (R, S) = G J for part p's one-step Jacobian J (aux row d), rows of G (R, S).

    Gated cells: the rows' gate adjoints Gg (R, G N) then one product Gg W, plus the
    terms of _gated_vj that bypass W (the LSTM's c path, the GRU's z h); gf scratch."""
    W, U, b = _params(theta, lay, p)
    cell = lay[p, CELL]
    if cell == PASCANU:          # J = W diag(d)
        out[:, :] = np.dot(G, W)
        for r in range(G.shape[0]):
            for j in range(G.shape[1]):
                out[r, j] *= d[j]
    elif cell == ELMAN:          # J = diag(d) W
        tmp = G * d
        out[:, :] = np.dot(tmp, W)
    else:
        N = W.shape[1]
        R = G.shape[0]
        Gg = gf[:R * W.shape[0]].reshape((R, W.shape[0]))
        _block_gates(N, cell, d, G, Gg, False)
        out[:, :N] = np.dot(Gg, W)
        for r in range(R):
            if cell == LSTM:
                for i in range(N):
                    out[r, N + i] = d[4 * N + i] * (G[r, N + i] + d[5 * N + i] * G[r, i])
            else:
                for i in range(N):
                    out[r, i] += d[4 * N + i] * G[r, i]


@jit(inline="always")
def _block_input_vj(theta, lay, p, d, G, out, gf):
    """out (R, M_in) = G ∂s/∂v for part p's input Jacobian at the step of aux row d.

    vanilla: ∂x/∂v = U (pascanu), diag(d) U (elman); gated: the pre-activation adjoint of
    _gated_vj_gates times U, except the GRU's candidate, whose input term U_n v is outside
    the reset gate (its adjoint is e·w, aux block 3, not e·r·w)."""
    W, U, b = _params(theta, lay, p)
    cell = lay[p, CELL]
    N = lay[p, N_]
    if cell == PASCANU:
        out[:, :] = np.dot(G, U)
    elif cell == ELMAN:
        tmp = G * d
        out[:, :] = np.dot(tmp, U)
    else:
        R = G.shape[0]
        Gg = gf[:R * W.shape[0]].reshape((R, W.shape[0]))
        _block_gates(N, cell, d, G, Gg, True)
        out[:, :] = np.dot(Gg, U)


@jit
def _max_abs2(A):
    """max |A_ij| of a 2-D array (NaN if any entry is NaN)."""
    m = 0.0
    for r in range(A.shape[0]):
        for c in range(A.shape[1]):
            v = abs(A[r, c])
            if v > m or v != v:
                m = v
    return m


@jit
def _log_norm2(A):
    """ln ‖A‖₂ (-inf for A = 0, NaN if A is not finite): ½ ln of the top eigenvalue of the
    smaller Gram matrix of A / max|A_ij| (the top one keeps full relative accuracy; 3x
    faster than the singular values at 64 × 64)."""
    m = _max_abs2(A)
    if m != m or m == np.inf:
        return np.nan
    if m == 0.0:
        return -np.inf
    B = np.ascontiguousarray(A) / m
    if B.shape[0] <= B.shape[1]:
        Gm = np.dot(B, B.T)
    else:
        Gm = np.dot(B.T, B)
    return 0.5 * math.log(np.linalg.eigvalsh(Gm)[-1]) + math.log(m)


@jit
def _log_norm_power(Q, u, x, y, rtol, max_iter):
    """ln ‖Q‖₂ (Q (R, C), entries at most 1) by a power iteration on Q Qᵀ warm-started from
    u (R,), the left singular vector estimate, updated in place (it lives at time T and
    converges from lag to lag); x (C,), y (R,) scratch. Returns (log norm, iterations)."""
    R, C = Q.shape
    est = 0.0
    it = 0
    while it < max_iter:
        it += 1
        x[:] = np.dot(u, Q)
        xx = np.dot(x, x)
        if xx == 0.0:       # u orthogonal to the range: restart from the largest row
            best, ib = -1.0, 0
            for r in range(R):
                v = np.dot(Q[r], Q[r])
                if v > best:
                    best, ib = v, r
            if best == 0.0:
                return -np.inf, it
            u[:] = 0.0
            u[ib] = 1.0
            continue
        y[:] = np.dot(Q, x)
        yy = np.dot(y, y)
        new = yy / xx       # ‖QQᵀu‖/‖Qᵀu‖ squared: a lower bound of σ1², rising
        u[:] = y / math.sqrt(yy)
        done = new - est <= rtol * new
        est = new
        if done:
            break
    return 0.5 * math.log(est), it


@jit
def _stack_depth(theta, lay, src, src_start, D, full, u0, rtol, max_iter, depth_log,
                 joint_log, n_iter):
    """The adjoint block rows G^l_k of a unidirectional stack, k = T … 0 (see the module).

    depth_log (L, T+1)[l, T-k] = ln ‖∂h^L_T/∂h^l_k‖₂ (the h columns of G^l_k, rows h^L_T).
    full = False: R = N_L rows, G^L_T = [I 0]. full = True: R = ΣS rows seeded with the
    joint identity, and also joint_log (T+1,)[T-k] = ln ‖∂s_T/∂s_k‖₂ of the joint state
    (block l: the recurrent part G^l_{k+1} J^l_{k+1}), by :func:`_log_norm_power` from u0
    (ΣS,) with rtol, max_iter; n_iter (T+1,) its iterations per lag.
    """
    L = lay.shape[0]
    T = D.shape[0]
    top = L - 1
    NL = lay[top, N_]
    SS = lay[top, OX] + lay[top, S_]
    R = SS if full else NL
    row0 = lay[top, OX] if full else 0      # the rows of h^L_T
    gof = np.zeros(L + 1, dtype=np.int64)
    smax = 0
    mmax = 0
    gmax = 0
    for l in range(L):
        gof[l + 1] = gof[l] + R * lay[l, S_]
        smax = max(smax, lay[l, S_])
        mmax = max(mmax, lay[l, MIN])
        gmax = max(gmax, lay[l, GN])
    Gf = np.zeros(gof[L])
    rec_f = np.zeros(R * smax)
    inp_f = np.zeros(R * mmax)
    g = np.empty(R * gmax)
    lam = np.full(L, -np.inf)
    Q = np.zeros((R, SS)) if full else np.zeros((0, 0))
    uq = u0.copy()
    xq = np.empty(SS)
    yq = np.empty(R)
    qlam = np.full(L, -np.inf)
    for k in range(T, -1, -1):
        for l in range(L - 1, -1, -1):
            S = lay[l, S_]
            N = lay[l, N_]
            ox = lay[l, OX]
            Gl = Gf[gof[l]:gof[l + 1]].reshape((R, S))
            rec = rec_f[:R * S].reshape((R, S))
            # the recurrent part: the seed at T, else G^l_{k+1} J^l_{k+1}
            if k == T:
                rec[:, :] = 0.0
                lam_rec = -np.inf
                if full:
                    for i in range(S):
                        rec[ox + i, i] = 1.0
                    lam_rec = 0.0
                elif l == top:
                    for i in range(NL):
                        rec[i, i] = 1.0
                    lam_rec = 0.0
            else:
                _block_rec_vj(theta, lay, l, D[k, lay[l, OD]:lay[l, OD] + lay[l, A_]],
                              Gl, rec, g)
                lam_rec = lam[l]
            if full and k < T:
                Q[:, ox:ox + S] = rec
                qlam[l] = lam_rec
            # the same-step consumers j > l (none at k = 0: initial states are free)
            mu = lam_rec
            if k > 0:
                for j in range(l + 1, L):
                    if lam[j] > mu:
                        mu = lam[j]
            if mu == -np.inf:
                Gl[:, :] = 0.0
                lam[l] = -np.inf
            else:
                if lam_rec > -np.inf:
                    Gl[:, :] = rec * math.exp(lam_rec - mu)
                else:
                    Gl[:, :] = 0.0
                for j in range(l + 1, L if k > 0 else l + 1):
                    if lam[j] == -np.inf:
                        continue
                    Sj = lay[j, S_]
                    Gj = Gf[gof[j]:gof[j + 1]].reshape((R, Sj))
                    c = math.exp(lam[j] - mu)
                    Mj = lay[j, MIN]
                    consumed = False
                    for q in range(src_start[j], src_start[j + 1]):
                        if src[q, 1] == 1 and src[q, 5] == l:
                            consumed = True
                    if consumed:
                        inp = inp_f[:R * Mj].reshape((R, Mj))
                        _block_input_vj(theta, lay, j, D[k - 1, lay[j, OD]:lay[j, OD]
                                                         + lay[j, A_]], Gj, inp, g)
                        for q in range(src_start[j], src_start[j + 1]):
                            if src[q, 1] == 1 and src[q, 5] == l:
                                voff = src[q, 4]
                                for r in range(R):
                                    for i in range(N):
                                        Gl[r, i] += c * inp[r, voff + i]
                    # the residual path of layer j = l+1 (truncated identity)
                    if j == l + 1 and lay[j, SKIP_LEN] > 0:
                        for r in range(R):
                            for i in range(min(N, lay[j, N_])):
                                Gl[r, i] += c * Gj[r, i]
                m = _max_abs2(Gl)
                if m == 0.0:
                    lam[l] = -np.inf
                elif m == m and m < np.inf:
                    for r in range(R):
                        for i in range(S):
                            Gl[r, i] /= m
                    lam[l] = mu + math.log(m)
                else:
                    lam[l] = np.nan
            if lam[l] == -np.inf:
                depth_log[l, T - k] = -np.inf
            else:
                depth_log[l, T - k] = _log_norm2(Gl[row0:row0 + NL, :N]) + lam[l]
        if full:
            if k == T:
                joint_log[0] = 0.0
            else:
                ref = -np.inf
                for l in range(L):
                    if qlam[l] > ref or qlam[l] != qlam[l]:
                        ref = qlam[l]
                if ref == -np.inf:
                    joint_log[T - k] = -np.inf
                elif ref != ref:
                    joint_log[T - k] = np.nan
                else:
                    for l in range(L):
                        ox = lay[l, OX]
                        S = lay[l, S_]
                        c = math.exp(qlam[l] - ref) if qlam[l] > -np.inf else 0.0
                        for r in range(R):
                            for i in range(S):
                                Q[r, ox + i] *= c
                    ln, it = _log_norm_power(Q, uq, xq, yq, rtol, max_iter)
                    joint_log[T - k] = ln + ref
                    n_iter[T - k] = it
