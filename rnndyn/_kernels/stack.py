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

each block with its own running log scale (rescaled by a power of two whenever its largest
entry leaves [2^-200, 2^200]), so neither growth nor decay leaves float64; the blocks' norms
come from the one-layer gradflow's Lanczos, warm-started from lag to lag.

The input-position gradients of a bidirectional stack (:func:`_stack_input_grad`) run the
same block products the other way: one adjoint per end, each part swept against its own
time direction, layers top down, scattered to the inputs u_t.
"""

import math

import numpy as np

from rnndyn._jit import jit
from rnndyn._kernels.cells import _gated_step, _gated_vj_gates, _vanilla_step
from rnndyn._kernels.gradflow import _block_log_norm
from rnndyn.codes import ELMAN, GRU, LSTM, PASCANU

# columns of the layout table (mirrored by rnndyn.stack.LAY_COLUMNS)
CELL, ACT, N_, MIN, OW, OU, OB, OX, OD, GN, S_, A_, REV, SKIP_OFF, SKIP_LEN = range(15)
# a block is rescaled (by a power of two) only when its largest entry leaves [1/_BIG, _BIG]
_BIG = 2.0 ** 200
_LN2 = math.log(2.0)


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
def _block_vj(theta, lay, p, d, G, rec, inp, want_inp, gf):
    """rec (R, S) = G J and, if want_inp, inp (R, M_in) = G ∂s/∂v: the rows G (R, S) of an
    adjoint times part p's one-step Jacobians at the step of aux row d.

    Both products share the rows' gate adjoints (one pass for the two): vanilla ∂x/∂v = U
    (pascanu), diag(d) U (elman); gated cells the pre-activation adjoints Gg (R, G N) of
    _gated_vj_gates row by row, then Gg W plus the terms of _gated_vj that bypass W (the
    LSTM's c path, the GRU's z h), and Gg U, where the GRU's candidate input term U_n v sits
    outside the reset gate, so its adjoint is e·w (aux block 3), not e·r·w: that block of
    Gg is replaced after Gg W. gf (R · (G N + N)) scratch; rec and inp C-contiguous.
    """
    W, U, b = _params(theta, lay, p)
    cell = lay[p, CELL]
    R = G.shape[0]
    if cell == PASCANU:          # J = W diag(d), ∂x/∂v = U
        np.dot(G, W, rec)
        for r in range(R):
            for j in range(G.shape[1]):
                rec[r, j] *= d[j]
        if want_inp:
            np.dot(G, U, inp)
    elif cell == ELMAN:          # J = diag(d) W, ∂x/∂v = diag(d) U
        Gd = gf[:G.size].reshape(G.shape)
        for r in range(R):
            for j in range(G.shape[1]):
                Gd[r, j] = G[r, j] * d[j]
        np.dot(Gd, W, rec)
        if want_inp:
            np.dot(Gd, U, inp)
    else:
        N = W.shape[1]
        GN = W.shape[0]
        Gg = gf[:R * GN].reshape((R, GN))
        GW = gf[R * GN:R * (GN + N)].reshape((R, N))
        for r in range(R):
            _gated_vj_gates(N, cell, d, G[r], Gg[r])
        np.dot(Gg, W, GW)
        for r in range(R):
            if cell == LSTM:
                for i in range(N):
                    rec[r, i] = GW[r, i]
                    rec[r, N + i] = d[4 * N + i] * (G[r, N + i] + d[5 * N + i] * G[r, i])
            else:
                for i in range(N):
                    rec[r, i] = GW[r, i] + d[4 * N + i] * G[r, i]
        if want_inp:
            if cell == GRU:
                for r in range(R):
                    for i in range(N):
                        Gg[r, 2 * N + i] = d[3 * N + i] * G[r, i]
            np.dot(Gg, U, inp)


@jit(inline="always")
def _pow2_renormalise(A, lam):
    """The block A (log scale lam) after a step: (new lam, max|A_ij|); lam −inf for an exactly
    zero block, NaN for a non-finite one. A is rescaled, by a power of two (exact), only when
    its largest entry leaves [2^-200, 2^200]: within that range no product of two blocks
    can overflow or lose its small entries, and the pass over A is saved."""
    m = _max_abs2(A)
    if m == 0.0:
        return -np.inf, m
    if m != m or m == np.inf or lam != lam:
        return np.nan, m
    if m > _BIG or m < 1.0 / _BIG:
        e = math.frexp(m)[1]
        f = math.ldexp(1.0, -e)
        for r in range(A.shape[0]):
            for c in range(A.shape[1]):
                A[r, c] *= f
        return lam + e * _LN2, m * f
    return lam, m


@jit
def _max_abs2(A):
    """max |A_ij| of a 2-D array (NaN if any entry is NaN).

    Four independent running maxima by branch-free selects, and a NaN flag: 5x faster than
    one compare-and-branch chain (it ran once per block and step, 1.5 ns an entry)."""
    m0 = 0.0
    m1 = 0.0
    m2 = 0.0
    m3 = 0.0
    nan = False
    C = A.shape[1]
    for r in range(A.shape[0]):
        c = 0
        while c + 4 <= C:
            v0 = abs(A[r, c])
            v1 = abs(A[r, c + 1])
            v2 = abs(A[r, c + 2])
            v3 = abs(A[r, c + 3])
            m0 = v0 if v0 > m0 else m0
            m1 = v1 if v1 > m1 else m1
            m2 = v2 if v2 > m2 else m2
            m3 = v3 if v3 > m3 else m3
            nan |= (v0 != v0) | (v1 != v1) | (v2 != v2) | (v3 != v3)
            c += 4
        while c < C:
            v0 = abs(A[r, c])
            m0 = v0 if v0 > m0 else m0
            nan |= v0 != v0
            c += 1
    if nan:
        return np.nan
    return max(max(m0, m1), max(m2, m3))


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
def _scaled_block_log_norm(B, u, Qk, alpha, beta, svec, work, rtol, max_iter):
    """ln ‖B‖₂ of a block B (R, C, C-contiguous, scaled in place by its max entry so that its
    Gram products cannot underflow) by the one-layer gradflow's Lanczos
    (rnndyn._kernels.gradflow._block_log_norm) warm-started from u (R,), updated to the
    Ritz vector. An exactly zero block gives -inf; a nonzero one whose range the start
    vector misses entirely (possible where relu units switch off) falls back to the Gram
    eigenvalues. Returns (log norm, matrix-vector pairs)."""
    m = _max_abs2(B)
    if m != m or m == np.inf:
        return np.nan, 0
    if m == 0.0:
        return -np.inf, 0
    for r in range(B.shape[0]):
        for c in range(B.shape[1]):
            B[r, c] /= m
    ln, it = _block_log_norm(B, u, Qk, alpha, beta, svec, work, rtol, max_iter)
    if ln == -np.inf:
        ln = _log_norm2(B)
    return ln + math.log(m), it


@jit
def _stack_depth(theta, lay, src, src_start, D, full, u0, rtol, max_iter, depth_log,
                 joint_log, n_iter):
    """The adjoint block rows G^l_k of a unidirectional stack, k = T … 0 (see the module).

    depth_log (L, T+1)[l, T-k] = ln ‖∂h^L_T/∂h^l_k‖₂ (the h columns of G^l_k, rows h^L_T).
    full = False: R = N_L rows, G^L_T = [I 0]. full = True: R = ΣS rows seeded with the
    joint identity, and also joint_log (T+1,)[T-k] = ln ‖∂s_T/∂s_k‖₂ of the joint state
    (block l: the recurrent part G^l_{k+1} J^l_{k+1}, each block with its own scale), by
    Lanczos on Q Qᵀ (rnndyn._kernels.gradflow._block_log_norm, the one-layer gradflow's)
    warm-started from u0 (ΣS,) and then from the previous lag's Ritz vector (it lives at
    time T), with rtol, max_iter; n_iter (T+1,) its matrix-vector pairs per lag.

    Once G^l_k is final, both of its products with layer l's Jacobians at step k are formed
    with one set of gate adjoints (:func:`_block_vj`): the recurrent part G^l_k J^l_k, used
    at k − 1, and the input adjoint G^l_k ∂s^l_k/∂v^l_k, used by the layers below at k.
    """
    L = lay.shape[0]
    T = D.shape[0]
    top = L - 1
    NL = lay[top, N_]
    SS = lay[top, OX] + lay[top, S_]
    R = SS if full else NL
    row0 = lay[top, OX] if full else 0      # the rows of h^L_T
    gof = np.zeros(L + 1, dtype=np.int64)
    iof = np.zeros(L + 1, dtype=np.int64)
    gmax = 0
    nmax = 0
    for l in range(L):
        gof[l + 1] = gof[l] + R * lay[l, S_]
        iof[l + 1] = iof[l] + R * lay[l, MIN]
        gmax = max(gmax, lay[l, GN])
        nmax = max(nmax, lay[l, N_])
    Gf = np.zeros(gof[L])       # G^l_k, block by block
    rec_f = np.zeros(gof[L])    # G^l_{k+1} J^l_{k+1}, at the scale of G^l_{k+1}
    inp_f = np.zeros(iof[L])    # G^l_k ∂s^l_k/∂v^l_k, at the scale of G^l_k
    g = np.empty(R * (gmax + nmax))
    lam = np.full(L, -np.inf)
    Q = np.zeros((R, SS)) if full else np.zeros((0, 0))
    uq = u0.copy()
    mk = min(R, 24)         # Krylov dimension before a restart (as the one-layer gradflow)
    Qk = np.empty((mk + 1, R))
    alpha = np.empty(mk)
    beta = np.empty(mk)
    svec = np.empty(mk)
    work = np.empty(mk)
    qlam = np.full(L, -np.inf)
    # the depth blocks' norms: Lanczos warm-started per layer (the block's left singular
    # vector lives at h^L_T, so it converges from lag to lag); 60x cheaper than their Gram
    # eigenvalues at N = 64
    md = min(NL, 24)
    Qd = np.empty((md + 1, NL))
    ub = np.empty((L, NL))
    for l in range(L):
        ub[l, :] = u0[:NL]
        nrm = math.sqrt(np.dot(ub[l], ub[l]))
        for i in range(NL):
            ub[l, i] = ub[l, i] / nrm if nrm > 0.0 else (1.0 if i == 0 else 0.0)
    Bf = np.empty(NL * nmax)
    for k in range(T, -1, -1):
        for l in range(L - 1, -1, -1):
            S = lay[l, S_]
            N = lay[l, N_]
            ox = lay[l, OX]
            Gl = Gf[gof[l]:gof[l + 1]].reshape((R, S))
            rec = rec_f[gof[l]:gof[l + 1]].reshape((R, S))
            # the recurrent part: the seed at T, else G^l_{k+1} J^l_{k+1} (made at k + 1)
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
                    c = math.exp(lam_rec - mu)
                    for r in range(R):
                        for i in range(S):
                            Gl[r, i] = c * rec[r, i]
                else:
                    Gl[:, :] = 0.0
                for j in range(l + 1, L if k > 0 else l + 1):
                    if lam[j] == -np.inf:
                        continue
                    Sj = lay[j, S_]
                    c = math.exp(lam[j] - mu)
                    inp = inp_f[iof[j]:iof[j + 1]].reshape((R, lay[j, MIN]))
                    for q in range(src_start[j], src_start[j + 1]):
                        if src[q, 1] == 1 and src[q, 5] == l:
                            voff = src[q, 4]
                            for r in range(R):
                                for i in range(N):
                                    Gl[r, i] += c * inp[r, voff + i]
                    # the residual path of layer j = l+1 (truncated identity)
                    if j == l + 1 and lay[j, SKIP_LEN] > 0:
                        Gj = Gf[gof[j]:gof[j + 1]].reshape((R, Sj))
                        for r in range(R):
                            for i in range(min(N, lay[j, N_])):
                                Gl[r, i] += c * Gj[r, i]
                lam[l], _ = _pow2_renormalise(Gl, mu)
            if lam[l] == -np.inf:
                depth_log[l, T - k] = -np.inf
            elif k == T and l == top:
                depth_log[l, 0] = 0.0           # ∂h^L_T/∂h^L_T = I, exactly
            else:
                Bh = Bf[:NL * N].reshape((NL, N))
                Bh[:, :] = Gl[row0:row0 + NL, :N]
                ln, _ = _scaled_block_log_norm(Bh, ub[l], Qd, alpha, beta, svec, work, rtol,
                                               max_iter)
                depth_log[l, T - k] = ln + lam[l]
            # G^l_k's products with the Jacobians of step k (aux row D[k−1])
            if k > 0 and lam[l] != -np.inf:
                inp = inp_f[iof[l]:iof[l + 1]].reshape((R, lay[l, MIN]))
                _block_vj(theta, lay, l, D[k - 1, lay[l, OD]:lay[l, OD] + lay[l, A_]], Gl,
                          rec, inp, l > 0, g)
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
                    ln, it = _block_log_norm(Q, uq, Qk, alpha, beta, svec, work, rtol,
                                             max_iter)
                    if ln == -np.inf:       # uq missed the range: not a zero product
                        ln = _log_norm2(Q)
                    joint_log[T - k] = ln + ref
                    n_iter[T - k] = it


# ---------------------------------------------------------------- gradients by input position

@jit(inline="always")
def _add_scaled(dst, lam_dst, dcol, src, scol, n, lam_src):
    """dst[:, dcol:dcol+n] += src[:, scol:scol+n] · exp(lam_src − lam), both blocks kept
    with log scales (dst's lam_dst, src's lam_src); returns lam = max(lam_dst, lam_src),
    dst rescaled to it first if it grew (neither block leaves float64)."""
    if lam_src == -np.inf:
        return lam_dst
    lam = lam_dst
    if lam_src > lam_dst or lam_dst == -np.inf:
        if lam_dst > -np.inf:
            c = math.exp(lam_dst - lam_src)
            for r in range(dst.shape[0]):
                for j in range(dst.shape[1]):
                    dst[r, j] *= c
        lam = lam_src
    c = math.exp(lam_src - lam)
    for r in range(dst.shape[0]):
        for i in range(n):
            dst[r, dcol + i] += c * src[r, scol + i]
    return lam


@jit
def _stack_input_grad(theta, lay, src, src_start, D, seed_part, seed_t, Gu, lam_u):
    """∂y/∂u_t (t = 1 … T) of a stack for y = h^{p*}_{t*}, the output of part p* =
    ``seed_part`` at position t* = ``seed_t`` (R = N_{p*} rows): Gu (T, R, M) and lam_u (T,)
    with ∂y/∂u_t = Gu[t−1] exp(lam_u[t−1]) (lam −inf: exactly zero).

    Each part's adjoint A^p_t = ∂y/∂s^p_t (R × S_p) is swept against the part's own time
    direction (t = T … 1 for a forward part, 1 … T for a reverse one), layers top down:

        A^p_t = A^p_{t'} J^p_{t'} + [H^p_t 0] (+ [I 0] at the seed),

    t' the part's next step (t + 1 forward, t − 1 reverse) and H^p_t = ∂y/∂h^p_t through
    its consumers at the same position (the parts above it; their input adjoints
    A^j_t ∂s^j_t/∂v^j_t, the residual P included, are scattered to H and to Gu as the
    src table says). Every block (A per part, H per part and position, Gu per position)
    carries its own log scale, so no length or gain leaves float64.
    """
    P = lay.shape[0]
    T = D.shape[0]
    R = Gu.shape[1]
    hof = np.zeros(P + 1, dtype=np.int64)
    smax = 0
    mmax = 0
    gmax = 0
    for p in range(P):
        hof[p + 1] = hof[p] + T * R * lay[p, N_]
        smax = max(smax, lay[p, S_])
        mmax = max(mmax, lay[p, MIN])
        gmax = max(gmax, lay[p, GN])
    Hf = np.zeros(hof[P])
    lam_h = np.full((P, T), -np.inf)
    A_f = np.zeros(R * smax)
    rec_f = np.zeros(R * smax)
    inp_f = np.zeros(R * mmax)
    g = np.empty(R * (gmax + smax))
    Gu[:, :, :] = 0.0
    lam_u[:] = -np.inf
    n_dirs = P // (src_start.shape[0] - 1)
    for p in range(P - 1, -1, -1):
        l = p // n_dirs
        S = lay[p, S_]
        N = lay[p, N_]
        Mp = lay[p, MIN]
        od, na = lay[p, OD], lay[p, A_]
        reverse = lay[p, REV] != 0
        k0, n_skip = lay[p, SKIP_OFF], min(N, lay[p, SKIP_LEN])
        A = A_f[:R * S].reshape((R, S))
        rec = rec_f[:R * S].reshape((R, S))
        B = inp_f[:R * Mp].reshape((R, Mp))
        Hp = Hf[hof[p]:hof[p + 1]].reshape((T, R, N))
        lam_a = -np.inf
        for step in range(T):
            t = step + 1 if reverse else T - step
            # the recurrent term A^p_{t'} J^p_{t'} (made at the part's previous sweep step)
            lam = -np.inf
            if lam_a > -np.inf or lam_a != lam_a:
                A[:, :] = rec
                lam = lam_a
            else:
                A[:, :] = 0.0
            lam = _add_scaled(A, lam, 0, Hp[t - 1], 0, N, lam_h[p, t - 1])
            if p == seed_part and t == seed_t:     # + [I 0], scale 0
                if not lam >= 0.0:
                    c = math.exp(lam) if lam > -np.inf else 0.0
                    for r in range(R):
                        for j in range(S):
                            A[r, j] *= c
                    lam = 0.0
                c = math.exp(-lam)
                for i in range(N):
                    A[i, i] += c
            lam_a, _ = _pow2_renormalise(A, lam)
            if lam_a == -np.inf:
                continue
            # A^p_t's products with the Jacobians of step t (aux row D[t − 1]): the
            # recurrent one for the next sweep step, the input one for the sources
            _block_vj(theta, lay, p, D[t - 1, od:od + na], A, rec, B, True, g)
            # the input adjoint (+ the residual P), scattered to its sources
            for r in range(R):
                for i in range(n_skip):
                    B[r, k0 + i] += A[r, i]
            for q in range(src_start[l], src_start[l + 1]):
                kind, col, n, voff, part = src[q, 1], src[q, 2], src[q, 3], src[q, 4], src[q, 5]
                if kind == 0:
                    lam_u[t - 1] = _add_scaled(Gu[t - 1], lam_u[t - 1], col, B, voff, n, lam_a)
                else:
                    Hq = Hf[hof[part]:hof[part + 1]].reshape((T, R, lay[part, N_]))
                    lam_h[part, t - 1] = _add_scaled(Hq[t - 1], lam_h[part, t - 1], 0, B,
                                                     voff, n, lam_a)


@jit
def _scaled_log_norms(G, lam, out):
    """out[t] = ln ‖G[t] exp(lam[t])‖₂ for blocks G (T, R, C) (−inf for a zero block)."""
    for t in range(G.shape[0]):
        if lam[t] == -np.inf:
            out[t] = -np.inf
        else:
            out[t] = _log_norm2(G[t]) + lam[t]
