"""The one home of every cell's step and one-step Jacobian (see :mod:`rnndyn.cells`).

Every analysis works from the trajectory X (T+1, S) and the auxiliary rows D (T, A) that
the step records, and applies J_t = ∂s_t/∂s_{t-1} through the functions here, which
dispatch on the integer cell code (rnndyn.codes) once per step:

* pascanu: x_t = W σ(x_{t-1}) + U u_t + b,  D[t-1] = σ'(x_{t-1}),  J_t = W diag(D[t-1])
* elman:   h_t = σ(a_t), a_t = W h_{t-1} + U u_t + b,  D[t-1] = σ'(a_t),  J_t = diag(D[t-1]) W
* lstm, gru: the gated cells, S = 2N and N, with the auxiliary rows of rnndyn.cells

The one-step operators the analyses need, J (dense), Jᵀ, J v, vᵀ J, the block products
P J and (J Ptᵀ)ᵀ, and the map under a constant drive, are written once per cell family
(_vanilla_* and _gated_*) and reached through one dispatch on the cell code (_jacobian,
_jacobian_t, _jv, _vj, _tangent_block). The vanilla operators exploit J = W diag(d)
directly (one BLAS product per step); the gated ones form y = W v_h for the stacked gate
blocks and combine it with the auxiliary row.
"""

import numpy as np

from rnndyn._jit import jit
from rnndyn._kernels.activations import (_act, _apply_act_and_dact, _dact, _sigmoid_pair,
                                         _tanh_sech2)
from rnndyn.codes import ELMAN, LSTM, PASCANU



@jit
def _trajectory(W, U, b, act, form, x0, u, X, D):
    """Fill X (T+1, N) with x_0..x_T and D (T, N) with the derivative factors.

    u has shape (T, M) (M may be 0). Returns nothing; X and D are written in place.
    Vanilla cells only: the gated ones run :func:`_gated_trajectory` (chosen in Python by
    :func:`rnndyn.simulate.trajectory_kernel`), so that compiling this kernel does not
    compile the gated step too (seconds of a first, cold-cache command).
    """
    T = D.shape[0]
    N = x0.shape[0]
    M = U.shape[1]
    s = np.empty(N)
    ds = np.empty(N)
    a = np.empty(N)
    X[0, :] = x0
    # _vanilla_step written out, not called: through it (views of X and D per step) the
    # small-N trajectories measured 5-15% slower (bench small_lyapunov, BLAS-path rows)
    for t in range(1, T + 1):
        if form == PASCANU:
            _apply_act_and_dact(act, X[t - 1], s, ds)
            a[:] = np.dot(W, s)
        else:
            a[:] = np.dot(W, X[t - 1])
        for i in range(N):
            acc = a[i] + b[i]
            for j in range(M):
                acc += U[i, j] * u[t - 1, j]
            a[i] = acc
        if form == PASCANU:
            X[t, :] = a
            D[t - 1, :] = ds
        else:
            _apply_act_and_dact(act, a, s, ds)
            X[t, :] = s
            D[t - 1, :] = ds


@jit(inline="always")
def _vanilla_step(W, U, b, act, form, x, u_t, x_new, d, a, s):
    """One vanilla step, the arithmetic of :func:`_trajectory`: x_new = f(x, u_t) and d its
    derivative factors (the auxiliary row). x, x_new, d, a, s (N,) (a, s scratch), u_t (M,).
    W x is one BLAS matrix-vector product (the loop-sum maps of the fixed-point, basin and
    small-N Lyapunov kernels round differently: :func:`_vanilla_map`, _kernels.lyapunov).
    """
    N = x.shape[0]
    M = U.shape[1]
    if form == PASCANU:
        _apply_act_and_dact(act, x, s, d)
        a[:] = np.dot(W, s)
    else:
        a[:] = np.dot(W, x)
    for i in range(N):
        acc = a[i] + b[i]
        for j in range(M):
            acc += U[i, j] * u_t[j]
        a[i] = acc
    if form == PASCANU:
        x_new[:] = a
    else:
        _apply_act_and_dact(act, a, x_new, d)


@jit
def _trajectories(W, U, b, act, form, X0, u, X, D):
    """Batch version: X0 (B, N), u (B, T, M), X (B, T+1, N), D (B, T, N).

    The batch is advanced together, one (B, N) x (N, N) product per step, so
    BLAS does the heavy lifting without a second thread pool. Vanilla cells only (see
    :func:`_trajectory`; the gated cells run :func:`_gated_trajectories`).
    """
    B, N = X0.shape
    T = D.shape[1]
    M = U.shape[1]
    S = np.empty((B, N))
    DS = np.empty((B, N))
    A = np.empty((B, N))
    Wt = np.ascontiguousarray(W.T)
    X[:, 0, :] = X0
    cur = X0.copy()
    for t in range(1, T + 1):
        if form == PASCANU:
            for k in range(B):
                _apply_act_and_dact(act, cur[k], S[k], DS[k])
            A[:, :] = np.dot(S, Wt)
        else:
            A[:, :] = np.dot(cur, Wt)
        for k in range(B):
            for i in range(N):
                acc = A[k, i] + b[i]
                for j in range(M):
                    acc += U[i, j] * u[k, t - 1, j]
                A[k, i] = acc
        if form == PASCANU:
            for k in range(B):
                X[k, t, :] = A[k]
                D[k, t - 1, :] = DS[k]
                cur[k, :] = A[k]
        else:
            for k in range(B):
                _apply_act_and_dact(act, A[k], S[k], DS[k])
                X[k, t, :] = S[k]
                D[k, t - 1, :] = DS[k]
                cur[k, :] = S[k]


# ------------------------------------------------------------------ vanilla one-step operators
#
# J = W diag(d) (pascanu) or diag(d) W (elman), d = D[t-1] the auxiliary row. Each product
# is written here once. The transpose swaps the forms, (W diag(d))ᵀ = diag(d) Wᵀ and
# (diag(d) W)ᵀ = Wᵀ diag(d): the QR kernels' layout (Jᵀ, and Pt ↦ Pt Jᵀ with Wt = Wᵀ) is
# the row layout of the other form (_vanilla_transposed), the same arithmetic bit for bit.

@jit(inline="always")
def _vanilla_transposed(form):
    """The form whose Jacobian built from Wᵀ is Jᵀ: J(W, form)ᵀ = J(Wᵀ, this)."""
    return ELMAN if form == PASCANU else PASCANU


@jit(inline="always")
def _vanilla_jacobian(W, form, d, J):
    """The dense J (N, N) = W diag(d) (pascanu) or diag(d) W (elman), written in place."""
    N = W.shape[0]
    if form == PASCANU:
        for i in range(N):
            for j in range(N):
                J[i, j] = W[i, j] * d[j]
    else:
        for i in range(N):
            di = d[i]
            for j in range(N):
                J[i, j] = di * W[i, j]


@jit(inline="always")
def _vanilla_jv(W, form, d, v, out, w):
    """out = J v (N,), one BLAS matrix-vector product: W (d ⊙ v) (pascanu, w (N,) scratch
    for d ⊙ v) or d ⊙ (W v) (elman)."""
    N = v.shape[0]
    if form == PASCANU:
        for i in range(N):
            w[i] = d[i] * v[i]
        np.dot(W, w, out)
    else:
        np.dot(W, v, out)
        for i in range(N):
            out[i] *= d[i]


@jit(inline="always")
def _vanilla_vj(W, form, d, v, out):
    """out = vᵀ J (N,): (vᵀ W) ⊙ d (pascanu) or (v ⊙ d)ᵀ W (elman), as row updates (rows
    of W are contiguous; loops, so the sums keep one order whatever BLAS is loaded)."""
    N = v.shape[0]
    for j in range(N):
        out[j] = 0.0
    for i in range(N):
        vi = v[i] if form == PASCANU else v[i] * d[i]
        for j in range(N):
            out[j] += vi * W[i, j]
    if form == PASCANU:
        for j in range(N):
            out[j] *= d[j]


@jit(inline="always")
def _vanilla_rows_j(W, form, d, P, out, S, defer):
    """out (k, N) = P J for a block of k row vectors P (k, N), one BLAS product.

    pascanu: (P W) diag(d); elman: (P diag(d)) W with P diag(d) in S (k, N), which may be
    P itself (overwritten) when the caller is done with P. defer: leave pascanu's trailing
    column scaling to the caller, who fuses it into its next pass over out; returns True
    when it did (out = P W then). The QR kernels' (J Ptᵀ)ᵀ = Pt Jᵀ is this with Wᵀ and the
    other form (_vanilla_transposed).
    """
    k, N = P.shape
    if form == PASCANU:
        np.dot(P, W, out)
        if defer:
            return True
        for q in range(k):
            for j in range(N):
                out[q, j] *= d[j]
        return False
    for q in range(k):
        for j in range(N):
            S[q, j] = P[q, j] * d[j]
    np.dot(S, W, out)
    return False


@jit(inline="always")
def _vanilla_tangent_rows(W, form, d, Pt, out):
    """out (k, N) = (J Ptᵀ)ᵀ, the rows of Pt (k, N) mapped by J one at a time with plain
    loops (small N: a BLAS call costs as much as the arithmetic). Pascanu sums
    W_ij (d_j p_j), elman (Σ_j W_ij p_j) d_i."""
    k, N = Pt.shape
    for q in range(k):
        for i in range(N):
            acc = 0.0
            if form == PASCANU:
                for j in range(N):
                    acc += W[i, j] * (d[j] * Pt[q, j])
            else:
                for j in range(N):
                    acc += W[i, j] * Pt[q, j]
                acc *= d[i]
            out[q, i] = acc


@jit(inline="always")
def _vanilla_map(W, c, act, form, x, out, s, d):
    """out = F(x) (N,): W σ(x) + c (pascanu) or σ(W x + c) (elman), a constant input folded
    into the drive c = U u + b; plain loops, c first in each sum (N small: fixed points,
    basins). s (N,) scratch; d None, or (N,) for the auxiliary row (σ'(x), σ'(W x + c)):
    numba prunes the branch for None, so the settling loops compute no σ'."""
    N = x.shape[0]
    if form == PASCANU:
        for j in range(N):
            s[j] = _act(act, x[j])
            if d is not None:
                d[j] = _dact(act, x[j])
        for i in range(N):
            acc = c[i]
            for j in range(N):
                acc += W[i, j] * s[j]
            out[i] = acc
    else:
        for i in range(N):
            acc = c[i]
            for j in range(N):
                acc += W[i, j] * x[j]
            out[i] = _act(act, acc)
            if d is not None:
                d[i] = _dact(act, acc)


# ------------------------------------------------------------------ dispatch on the cell code
# One operator per step whatever the cell (PASCANU, ELMAN, LSTM, GRU): the scratch
# arguments are sized by W.shape[0] (N vanilla, G N gated) so one call fits every cell.

@jit
def _jacobian(W, form, d, J):
    """J = W diag(d) (pascanu) or diag(d) W (elman); J (N, N) written in place.

    Gated cells: the dense J (S, S) from the auxiliary row d (rnndyn.cells).
    """
    if form >= LSTM:
        _gated_jacobian(W, form, d, J)
    else:
        _vanilla_jacobian(W, form, d, J)


@jit(inline="always")
def _jacobian_t(Wt, cell, d, Ct):
    """Ct (S, S) = Jᵀ, the one-step Jacobian in Fortran order, from Wt = Wᵀ."""
    if cell >= LSTM:
        J = np.empty(Ct.shape)
        _gated_jacobian(Wt.T, cell, d, J)
        Ct[:, :] = J.T
    else:
        _vanilla_jacobian(Wt, _vanilla_transposed(cell), d, Ct)


@jit(inline="always")
def _jv(W, cell, d, v, out, y):
    """out = J v (S,); y (W.shape[0],) scratch."""
    if cell >= LSTM:
        _gated_jv(W, cell, d, v, out, y)
    else:
        _vanilla_jv(W, cell, d, v, out, y)


@jit(inline="always")
def _vj(W, cell, d, w, out, g):
    """out = wᵀ J (S,); g (W.shape[0],) scratch (the gated cells' gate adjoint)."""
    if cell >= LSTM:
        _gated_vj(W, cell, d, w, out, g)
    else:
        _vanilla_vj(W, cell, d, w, out)


@jit(inline="always")
def _tangent_block(Wt, cell, d, Pt, out, scr):
    """out (k, S) = (J Ptᵀ)ᵀ for the rows of Pt (k, S), Wt = Wᵀ; scr (k, S) scratch (vanilla
    pascanu: Pt diag(d), then one BLAS product)."""
    if cell >= LSTM:
        _gated_tangent_step(Wt, cell, d, Pt, out)
    else:
        _vanilla_rows_j(Wt, _vanilla_transposed(cell), d, Pt, out, scr, False)


# ------------------------------------------------------------------ gated cells

@jit(inline="always")
def _gated_aux_size(cell, N):
    """Length A of a gated cell's auxiliary row: 6N (LSTM) or 5N (GRU), the layout of
    rnndyn.cells (AUX_BLOCKS, which a test checks against this)."""
    return (6 if cell == LSTM else 5) * N


@jit(inline="always")
def _lstm_unit(ai, af, ag, ao, c_prev):
    """One LSTM unit from its four gate pre-activations and c_{t-1}: (h_t, c_t, and the
    six entries of its auxiliary row, see rnndyn.cells). The one home of the LSTM's
    elementwise step (the trajectory and the batched BPTT kernel call it)."""
    gi, gi_ = _sigmoid_pair(ai)
    gf, gf_ = _sigmoid_pair(af)
    gg, dgg = _tanh_sech2(ag)
    go, go_ = _sigmoid_pair(ao)
    c = gf * c_prev + gi * gg
    tc, dtc = _tanh_sech2(c)
    return (go * tc, c, gg * (gi * gi_), c_prev * (gf * gf_), gi * dgg,
            tc * (go * go_), gf, go * dtc)


@jit(inline="always")
def _gru_unit(ar, az, an, q, hp):
    """One GRU unit from the r and z pre-activations, the input part an of n, q = W_n h
    + b_hn and h_{t-1}: (h_t and the five entries of its auxiliary row, see rnndyn.cells).
    The one home of the GRU's elementwise step."""
    r, r_ = _sigmoid_pair(ar)
    z, z_ = _sigmoid_pair(az)
    n, dn = _tanh_sech2(an + r * q)
    e = z_ * dn
    return z_ * n + z * hp, e * q * (r * r_), (hp - n) * (z * z_), e * r, e, z


@jit
def _gated_step(W, U, b, cell, s, u_t, s_new, aux, a):
    """One step of a gated cell: s_new = f(s, u_t), aux = its auxiliary row (rnndyn.cells).

    W (G N, N), U (G N, M), b (see rnndyn.cells), s and s_new (S,), u_t (M,), aux (A,),
    a (G N,) scratch for the pre-activations.
    """
    N = W.shape[1]
    GN = W.shape[0]
    M = U.shape[1]
    h = s[:N]
    a[:] = np.dot(W, h)
    if cell == LSTM:
        for r in range(GN):
            acc = a[r] + b[r]
            for j in range(M):
                acc += U[r, j] * u_t[j]
            a[r] = acc
        for i in range(N):
            (s_new[i], s_new[N + i], aux[i], aux[N + i], aux[2 * N + i], aux[3 * N + i],
             aux[4 * N + i], aux[5 * N + i]) = _lstm_unit(a[i], a[N + i], a[2 * N + i],
                                                         a[3 * N + i], s[N + i])
    else:  # GRU: a = W h; the n block keeps b_hn apart (reset after the product)
        for i in range(N):
            ar = a[i] + b[i]
            az = a[N + i] + b[N + i]
            an = b[2 * N + i]
            for j in range(M):
                ar += U[i, j] * u_t[j]
                az += U[N + i, j] * u_t[j]
                an += U[2 * N + i, j] * u_t[j]
            q = a[2 * N + i] + b[3 * N + i]
            (s_new[i], aux[i], aux[N + i], aux[2 * N + i], aux[3 * N + i],
             aux[4 * N + i]) = _gru_unit(ar, az, an, q, h[i])


@jit
def _gated_trajectory(W, U, b, act, cell, x0, u, X, D):
    """X (T+1, S) with s_0..s_T and D (T, A) with the auxiliary rows of a gated cell (the
    signature of :func:`_trajectory`; ``act`` is unused: the gates fix their own)."""
    T = D.shape[0]
    a = np.empty(W.shape[0])
    X[0, :] = x0
    for t in range(1, T + 1):
        _gated_step(W, U, b, cell, X[t - 1], u[t - 1], X[t], D[t - 1], a)


@jit
def _gated_trajectories(W, U, b, act, cell, X0, u, X, D):
    """Batch version of :func:`_gated_trajectory`: X0 (B, S), u (B, T, M), X (B, T+1, S),
    D (B, T, A)."""
    for k in range(X0.shape[0]):
        _gated_trajectory(W, U, b, 0, cell, X0[k], u[k], X[k], D[k])


@jit
def _gated_jacobian(W, cell, d, J):
    """The dense one-step Jacobian J (S, S) of a gated cell from its auxiliary row d."""
    N = W.shape[1]
    if cell == LSTM:
        for i in range(N):
            ai, af, ag, ao = d[i], d[N + i], d[2 * N + i], d[3 * N + i]
            f, k = d[4 * N + i], d[5 * N + i]
            for j in range(N):
                dc = ai * W[i, j] + af * W[N + i, j] + ag * W[2 * N + i, j]
                J[N + i, j] = dc
                J[i, j] = ao * W[3 * N + i, j] + k * dc
                J[N + i, N + j] = 0.0
                J[i, N + j] = 0.0
            J[N + i, N + i] = f
            J[i, N + i] = k * f
    else:
        for i in range(N):
            ar, az, an = d[i], d[N + i], d[2 * N + i]
            for j in range(N):
                J[i, j] = ar * W[i, j] + az * W[N + i, j] + an * W[2 * N + i, j]
            J[i, i] += d[4 * N + i]


@jit(inline="always")
def _gated_jv(W, cell, d, v, out, y):
    """out = J v for a gated cell (v, out (S,), y (G N,) scratch)."""
    N = W.shape[1]
    y[:] = np.dot(W, v[:N])
    if cell == LSTM:
        for i in range(N):
            dc = d[i] * y[i] + d[N + i] * y[N + i] + d[2 * N + i] * y[2 * N + i] \
                + d[4 * N + i] * v[N + i]
            out[N + i] = dc
            out[i] = d[3 * N + i] * y[3 * N + i] + d[5 * N + i] * dc
    else:
        for i in range(N):
            out[i] = (d[4 * N + i] * v[i] + d[i] * y[i] + d[N + i] * y[N + i]
                      + d[2 * N + i] * y[2 * N + i])


@jit(inline="always")
def _gated_vj_gates(N, cell, d, w, g):
    """g (G N,) = the pre-activation adjoint of wᵀJ: wᵀJ = [Wᵀ g (h part), ...] (see _gated_vj)."""
    if cell == LSTM:
        for i in range(N):
            wc = w[N + i] + d[5 * N + i] * w[i]
            g[i] = d[i] * wc
            g[N + i] = d[N + i] * wc
            g[2 * N + i] = d[2 * N + i] * wc
            g[3 * N + i] = d[3 * N + i] * w[i]
    else:
        for i in range(N):
            g[i] = d[i] * w[i]
            g[N + i] = d[N + i] * w[i]
            g[2 * N + i] = d[2 * N + i] * w[i]


@jit(inline="always")
def _gated_vj(W, cell, d, w, out, g):
    """out = wᵀ J for a gated cell (w, out (S,), g (G N,) scratch: the gate adjoint)."""
    N = W.shape[1]
    _gated_vj_gates(N, cell, d, w, g)
    out[:N] = np.dot(g, W)
    if cell == LSTM:
        for i in range(N):
            out[N + i] = d[4 * N + i] * (w[N + i] + d[5 * N + i] * w[i])
    else:
        for i in range(N):
            out[i] += d[4 * N + i] * w[i]


@jit
def _gated_tangent_step(Wt, cell, d, Pt, out):
    """out (k, S) = (J Ptᵀ)ᵀ for a block of k tangent vectors, rows of Pt (k, S).

    Wt = Wᵀ (N, G N). LSTM: Y = Pt_h Wᵀ is one BLAS product (the work of a dense (2N)²
    Jacobian), the rest is elementwise; GRU: one product with the dense Jᵀ.
    """
    k = Pt.shape[0]
    N = Wt.shape[0]
    if cell != LSTM:
        # GRU: Jᵀ formed densely (3N² work) and one k×N×N product, a third of the work of
        # going through Wᵀ (N × 3N); J_ij = z_i δ_ij + Σ_g a_g,i W_g,ij
        Jt = np.empty((N, N))
        for j in range(N):
            for i in range(N):
                Jt[j, i] = (d[i] * Wt[j, i] + d[N + i] * Wt[j, N + i]
                            + d[2 * N + i] * Wt[j, 2 * N + i])
            Jt[j, j] += d[4 * N + j]
        out[:, :] = np.dot(Pt, Jt)
        return
    # the h part of the rows (for the LSTM a strided slice: BLAS wants it contiguous)
    Y = np.dot(np.ascontiguousarray(Pt[:, :N]), Wt)
    for q in range(k):
        for i in range(N):
            dc = d[i] * Y[q, i] + d[N + i] * Y[q, N + i] + d[2 * N + i] * Y[q, 2 * N + i] \
                + d[4 * N + i] * Pt[q, N + i]
            out[q, N + i] = dc
            out[q, i] = d[3 * N + i] * Y[q, 3 * N + i] + d[5 * N + i] * dc


# ---- batched vanilla steps (BPTT)
# The minibatch forms of the vanilla step and of δ J that rnndyn._kernels.bptt runs: the
# batch's rows advance together, one BLAS product per step, in BPTT's layout, where both
# forms share one graph p_t = W r_{t-1} + U u_t + b, r_t = σ(p_t) (pascanu: the state
# x_t = p_t; elman: h_t = r_t) and the rows Ra = [r, u, 1] carry the inputs and a 1, so
# that the product with [W U b]ᵀ is the whole affine map.

@jit
def _vanilla_batch_initial(act, form, R0, D0):
    """r_0 and σ'(p_0) of a batch into the first N columns of R0 (B, ≥ N) and D0 (B, N):
    σ(0), σ'(0) for pascanu (x_0 = 0); 0, 0 for elman (h_0 = 0)."""
    B, N = D0.shape
    zero = np.zeros(N)
    for k in range(B):
        if form == PASCANU:
            _apply_act_and_dact(act, zero, R0[k, :N], D0[k])
        else:
            R0[k, :N] = 0.0
            D0[k, :] = 0.0


@jit(inline="always")
def _vanilla_batch_step(act, Ra_prev, WubT, A, Ra_t, D_t):
    """One forward step of a batch in BPTT's augmented layout (both forms):
    p_t = [r_{t-1}, u_t, 1] [W U b]ᵀ, r_t = σ(p_t), σ'(p_t).

    Ra_prev, Ra_t (B, N+M+1) rows [r, u, 1], WubT (N+M+1, N), A (2B, N) scratch (p_t,
    then r_t), the first N columns of Ra_t receive r_t and D_t (B, N) receives σ'(p_t)
    (tail-accurate, from p_t itself). Pascanu: p_t = x_t, the state; elman: p_t = a_t,
    r_t = h_t.
    """
    B, N = D_t.shape
    np.dot(Ra_prev, WubT, A[:B])
    # σ over the whole contiguous block into the other half of A, then copied into the
    # strided rows of Ra_t: one long vectorised loop, not B short ones with a scalar tail
    # each (measured 5-7% of the whole BPTT gradient); in place (out = a) it did not
    # vectorise at all
    R = A[B:]
    _apply_act_and_dact(act, A[:B].reshape(B * N), R.reshape(B * N), D_t.reshape(B * N))
    for k in range(B):
        for i in range(N):
            Ra_t[k, i] = R[k, i]


@jit(inline="always")
def _vanilla_batch_vj(W, form, G_next, d, q, vb, want_v):
    """v = δ_{t+1} J_{t+1} for every row of a batch, from g_{t+1} = dE/dp_{t+1} (B, N)
    as BPTT carries it (δ_{t+1} for pascanu, δ_{t+1} ⊙ σ'(a_{t+1}) for elman).

    Writes q = g_{t+1} W (B, N), the adjoint of r_t through the recurrence, which BPTT
    continues from. Returns v: pascanu, J_{t+1} = W diag(σ'(x_t)), d = σ'(x_t):
    v = q ⊙ d written into vb (only if want_v); elman, J_{t+1} = diag(σ'(a_{t+1})) W
    with the diagonal already inside g: v = q itself.
    """
    np.dot(G_next, W, q)
    if form != PASCANU:
        return q
    if want_v:
        for k in range(q.shape[0]):
            for i in range(q.shape[1]):
                vb[k, i] = q[k, i] * d[k, i]
    return vb


@jit(inline="always")
def _vanilla_batch_adjoint(form, G_next, Rho_next):
    """δ_{t+1} = dE/ds_{t+1}, the adjoint of the state, from BPTT's adjoints of step t+1:
    g = dE/dp (pascanu: s = x = p) or ρ = dE/dr (elman: s = h = r); both (B, N)."""
    if form == PASCANU:
        return G_next
    return Rho_next
