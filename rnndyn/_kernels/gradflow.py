"""Backward products of one-step Jacobians and the transport of an error vector.

With J_t = ∂x_t/∂x_{t-1} = W diag(D[t-1]) (pascanu) or diag(D[t-1]) W (elman), or the
dense Jacobian of a gated cell (the operators of rnndyn._kernels.cells, from the
auxiliary row D[t-1]),
the gradient-flow products are accumulated backwards from the last step,

    P_T = I,   P_k = P_{k+1} J_{k+1} = ∂x_T/∂x_k,   lag ℓ = T - k,

so each lag costs one N×N product. The stored matrix is renormalised at every
step (a running log scale keeps its size), so T = 10⁴ lags neither overflow in
the exploding regime nor underflow in the vanishing one. Scaling comes before
any square: W enters divided by a power of two near max|W_ij| and each factor
row D[k] by its max, so weights up to the float64 limit (1e308) give finite logs.
"""

import math

import numpy as np

from rnndyn._jit import jit
from rnndyn._kernels.cells import _gated_jacobian, _gated_vj, _vanilla_rows_j, _vanilla_vj
from rnndyn.codes import LSTM



@jit
def _fill_after(arr, lag, value):
    """arr[lag:] = value (the lags after a product became zero or non-finite)."""
    for i in range(lag, arr.shape[0]):
        arr[i] = value


@jit(inline="always")
def _absmax(v):
    """max |v_j| of a 1-D array, NaN if any entry is NaN (a NaN must not pass as a zero
    factor)."""
    m = 0.0
    for j in range(v.shape[0]):
        a = abs(v[j])
        if a > m or a != a:
            m = a
    return m


@jit(inline="always")
def _top_eig_tridiag(alpha, beta, m, lo, hi):
    """Largest eigenvalue θ of the m×m symmetric tridiagonal T (diagonal alpha[:m],
    off-diagonal beta[:m-1]), known to lie in [lo, hi], and s_m², the squared last
    component of its unit eigenvector; returns (θ, s_m²).

    Newton on p(x) = det(T - xI) from the upper bound hi: for a polynomial with real roots
    the iterates decrease monotonically to the largest root (quadratically once near it).
    s_m² = |det(T_{m-1} - θI) / p'(θ)| (Paige), from the same recurrence.
    """
    x = hi
    p0 = 1.0
    d1 = 1.0
    for _ in range(200):
        p0, p1 = 1.0, alpha[0] - x
        d0, d1 = 0.0, -1.0
        for i in range(1, m):
            b2 = beta[i - 1] * beta[i - 1]
            p2 = (alpha[i] - x) * p1 - b2 * p0
            d2 = (alpha[i] - x) * d1 - p1 - b2 * d0
            p0, p1 = p1, p2
            d0, d1 = d1, d2
        if p1 == 0.0 or d1 == 0.0:
            break
        step = p1 / d1
        if not step > 4e-16 * abs(x):
            break
        x -= step
    last2 = abs(p0 / d1) if d1 != 0.0 else np.inf
    return max(x, lo), last2


@jit(inline="always")
def _above_spectrum(alpha, beta, m, x):
    """True if x is above every eigenvalue of the m×m symmetric tridiagonal T (diagonal
    alpha[:m], off-diagonal beta[:m-1]): the leading minors det(T_i - xI), i = 0 … m,
    alternate in sign (Sturm: their sign changes count the eigenvalues below x)."""
    p0 = 1.0
    p1 = alpha[0] - x
    if not p1 < 0.0:
        return False
    for i in range(1, m):
        p2 = (alpha[i] - x) * p1 - beta[i - 1] * beta[i - 1] * p0
        if not p2 * p1 < 0.0:
            return False
        p0, p1 = p1, p2
    return True


@jit
def _top_vec_tridiag(alpha, beta, m, theta, s, work):
    """Unit eigenvector s[:m] of T (as in _top_eig_tridiag) for its largest eigenvalue theta.

    Inverse iteration shifted just above theta: T - shift I is negative definite there, so
    the tridiagonal elimination needs no pivoting. work (m,) is scratch.
    """
    shift = theta + 1e-12 * abs(theta) + 1e-300
    for i in range(m):
        s[i] = 1.0
    for _ in range(3):
        # forward elimination of (T - shift I) x = s, in place
        d = alpha[0] - shift
        work[0] = d
        for i in range(1, m):
            lmul = beta[i - 1] / work[i - 1]
            work[i] = alpha[i] - shift - lmul * beta[i - 1]
            s[i] -= lmul * s[i - 1]
        s[m - 1] /= work[m - 1]
        for i in range(m - 2, -1, -1):
            s[i] = (s[i] - beta[i] * s[i + 1]) / work[i]
        nrm = 0.0
        for i in range(m):
            nrm += s[i] * s[i]
        nrm = np.sqrt(nrm)
        for i in range(m):
            s[i] /= nrm


@jit(inline="always")
def _matvec(P, x, out, scale):
    """out = scale · P x for P (N, N); rows in blocks of eight share each load of x
    (eight independent sums: 20% faster than four at N = 50)."""
    N = P.shape[0]
    i = 0
    while i + 8 <= N:
        a0 = 0.0
        a1 = 0.0
        a2 = 0.0
        a3 = 0.0
        a4 = 0.0
        a5 = 0.0
        a6 = 0.0
        a7 = 0.0
        for j in range(N):
            xj = x[j]
            a0 += P[i, j] * xj
            a1 += P[i + 1, j] * xj
            a2 += P[i + 2, j] * xj
            a3 += P[i + 3, j] * xj
            a4 += P[i + 4, j] * xj
            a5 += P[i + 5, j] * xj
            a6 += P[i + 6, j] * xj
            a7 += P[i + 7, j] * xj
        out[i] = a0 * scale
        out[i + 1] = a1 * scale
        out[i + 2] = a2 * scale
        out[i + 3] = a3 * scale
        out[i + 4] = a4 * scale
        out[i + 5] = a5 * scale
        out[i + 6] = a6 * scale
        out[i + 7] = a7 * scale
        i += 8
    while i < N:
        acc = 0.0
        for j in range(N):
            acc += P[i, j] * x[j]
        out[i] = acc * scale
        i += 1


@jit(inline="always")
def _rmatvec(P, x, out, scale):
    """out = scale · Pᵀ x for P (N, N), as row updates eight at a time (a row-at-a-time
    update keeps out in memory and does not vectorise: 2x slower at N = 50; eight rows
    per pass halve the traffic on out against four: about 20% faster)."""
    N = P.shape[0]
    for j in range(N):
        out[j] = 0.0
    i = 0
    while i + 8 <= N:
        x0 = x[i] * scale
        x1 = x[i + 1] * scale
        x2 = x[i + 2] * scale
        x3 = x[i + 3] * scale
        x4 = x[i + 4] * scale
        x5 = x[i + 5] * scale
        x6 = x[i + 6] * scale
        x7 = x[i + 7] * scale
        for j in range(N):
            out[j] += (x0 * P[i, j] + x1 * P[i + 1, j] + x2 * P[i + 2, j] + x3 * P[i + 3, j]
                       + x4 * P[i + 4, j] + x5 * P[i + 5, j] + x6 * P[i + 6, j]
                       + x7 * P[i + 7, j])
        i += 8
    while i < N:
        xi = x[i] * scale
        for j in range(N):
            out[j] += xi * P[i, j]
        i += 1


@jit(inline="always")
def _scale_fro_rmatvec(P, d, scale_cols, x, out):
    """P[:, j] *= d[j] if scale_cols; then out = Pᵀ x and return ‖P‖_F², in one pass.

    P (N, N), d (N,), x (N,), out (N,). Rows in blocks of eight, as in _rmatvec: the
    first Lanczos product of each lag rides on the pass that scales the new product.
    """
    N = P.shape[0]
    for j in range(N):
        out[j] = 0.0
    f0 = 0.0
    f1 = 0.0
    i = 0
    while i + 8 <= N:
        x0 = x[i]
        x1 = x[i + 1]
        x2 = x[i + 2]
        x3 = x[i + 3]
        x4 = x[i + 4]
        x5 = x[i + 5]
        x6 = x[i + 6]
        x7 = x[i + 7]
        if scale_cols:
            for j in range(N):
                dj = d[j]
                v0 = P[i, j] * dj
                v1 = P[i + 1, j] * dj
                v2 = P[i + 2, j] * dj
                v3 = P[i + 3, j] * dj
                v4 = P[i + 4, j] * dj
                v5 = P[i + 5, j] * dj
                v6 = P[i + 6, j] * dj
                v7 = P[i + 7, j] * dj
                P[i, j] = v0
                P[i + 1, j] = v1
                P[i + 2, j] = v2
                P[i + 3, j] = v3
                P[i + 4, j] = v4
                P[i + 5, j] = v5
                P[i + 6, j] = v6
                P[i + 7, j] = v7
                out[j] += (x0 * v0 + x1 * v1 + x2 * v2 + x3 * v3 + x4 * v4 + x5 * v5
                           + x6 * v6 + x7 * v7)
                f0 += v0 * v0 + v1 * v1 + v2 * v2 + v3 * v3
                f1 += v4 * v4 + v5 * v5 + v6 * v6 + v7 * v7
        else:
            for j in range(N):
                v0 = P[i, j]
                v1 = P[i + 1, j]
                v2 = P[i + 2, j]
                v3 = P[i + 3, j]
                v4 = P[i + 4, j]
                v5 = P[i + 5, j]
                v6 = P[i + 6, j]
                v7 = P[i + 7, j]
                out[j] += (x0 * v0 + x1 * v1 + x2 * v2 + x3 * v3 + x4 * v4 + x5 * v5
                           + x6 * v6 + x7 * v7)
                f0 += v0 * v0 + v1 * v1 + v2 * v2 + v3 * v3
                f1 += v4 * v4 + v5 * v5 + v6 * v6 + v7 * v7
        i += 8
    while i < N:
        xi = x[i]
        for j in range(N):
            v = P[i, j] * d[j] if scale_cols else P[i, j]
            P[i, j] = v
            out[j] += xi * v
            f0 += v * v
        i += 1
    return f0 + f1


@jit(inline="always")
def _max_abs(A):
    """max |A_ij| of a 2-D array, without the temporary np.abs would allocate."""
    m = 0.0
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):
            a = abs(A[i, j])
            if a > m:
                m = a
    return m


@jit
def _pow2_scaled(W, Ws):
    """Ws = W / 2^e with 2^e the power of two at or just above max|W_ij| (exact: a
    power-of-two scaling does not round; e >= -1021 so that 2^-e is finite); returns
    e·ln 2. W, Ws (N, N); e = 0 for W = 0."""
    wmax = _max_abs(W)
    e = 0
    if wmax > 0.0 and wmax < np.inf:
        e = max(math.frexp(wmax)[1], -1021)     # 2^-e must stay finite (subnormal W)
    f = math.ldexp(1.0, -e)
    for i in range(W.shape[0]):
        for j in range(W.shape[1]):
            Ws[i, j] = W[i, j] * f
    return e * math.log(2.0)


@jit
def _rescale_pow2(P):
    """P *= 2^-e with 2^e just above max|P_ij| (exact); returns (e·ln 2, ‖P‖_F² after).

    The careful path for a product so small that its squares would underflow: the scale
    is taken out before squaring. P exactly zero: returns (0, 0) and leaves P alone.
    """
    pmax = _max_abs(P)
    if pmax == 0.0:
        return 0.0, 0.0
    e = max(math.frexp(pmax)[1], -1021)         # 2^-e must stay finite
    f = math.ldexp(1.0, -e)
    fro2 = 0.0
    for i in range(P.shape[0]):
        for j in range(P.shape[1]):
            v = P[i, j] * f
            P[i, j] = v
            fro2 += v * v
    return e * math.log(2.0), fro2


# ‖P‖_F² below this takes the careful path (_rescale_pow2): every entry of the new
# product is then below 1e-100, so squares of the entries that matter cannot underflow
_FRO2_SMALL = 1e-200


@jit(inline="always")
def _normalise(v):
    """v /= ‖v‖ (a zero v becomes the first unit vector)."""
    n = 0.0
    for i in range(v.shape[0]):
        n += v[i] * v[i]
    if n == 0.0:
        v[0] = 1.0
        return
    n = 1.0 / np.sqrt(n)
    for i in range(v.shape[0]):
        v[i] *= n


@jit
def _block_log_norm(B, u, Q, alpha, beta, svec, work, rtol, max_iter):
    """ln ‖B‖₂ of a block B (n, n, C-contiguous) by Lanczos on B Bᵀ with full
    reorthogonalisation, warm-started from u, the block's left singular vector estimate
    (it lives at time T, so it converges from lag to lag as the full product's does), and
    updated to the Ritz vector. Q (mmax+1, n), alpha, beta, svec, work (mmax,) scratch; the
    two products per pair are BLAS matrix-vector products (one thread: deterministic). Stops when the top Ritz value changes by at most ``rtol`` (relative): Lanczos
    converges superlinearly even where the top singular values cluster (a power iteration
    needed hundreds of pairs at lag 1 of the LSTM's c→c block, diag(f), and stopped 3e-6
    short in ln). Returns (log norm, matrix-vector pairs used); -inf for a zero block.
    """
    n = B.shape[0]
    mmax = Q.shape[0] - 1
    total = 0
    est = 0.0
    while True:
        for j in range(n):
            Q[0, j] = u[j]
        m = 0
        new = 0.0
        converged = False
        while True:
            # z = B (Bᵀ q_m)
            z = np.dot(B, np.dot(Q[m], B))
            total += 1
            a = 0.0
            for j in range(n):
                a += Q[m, j] * z[j]
            # full reorthogonalisation against q_0 … q_m (modified Gram-Schmidt)
            for i in range(m + 1):
                cf = 0.0
                for j in range(n):
                    cf += Q[i, j] * z[j]
                for j in range(n):
                    z[j] -= cf * Q[i, j]
            bb = 0.0
            for j in range(n):
                bb += z[j] * z[j]
            bb = np.sqrt(bb)
            alpha[m] = a
            beta[m] = bb
            m += 1
            if m == 1:
                new = a
            else:
                hi = 0.0     # Gershgorin: above every eigenvalue of the tridiagonal
                for i in range(m):
                    r = alpha[i] + (abs(beta[i - 1]) if i > 0 else 0.0) + \
                        (abs(beta[i]) if i < m - 1 else 0.0)
                    if r > hi:
                        hi = r
                new, _ = _top_eig_tridiag(alpha, beta, m, est, hi)
            if new <= 0.0 and m == 1 and bb == 0.0:
                return -np.inf, total      # B ≡ 0 along u and nothing else reached
            converged = (m > 1 and new - est <= rtol * new) or bb <= 1e-15 * max(new, 1e-300) \
                or m >= n
            est = max(est, new)
            if converged or m >= mmax or total >= max_iter:
                break
            ib = 1.0 / bb
            for j in range(n):
                Q[m, j] = z[j] * ib
        # Ritz vector: the warm start of the next lag, or of a restart
        if m == 1:
            pass
        else:
            _top_vec_tridiag(alpha, beta, m, est, svec, work)
            for j in range(n):
                u[j] = svec[0] * Q[0, j]
            for i in range(1, m):
                for j in range(n):
                    u[j] += svec[i] * Q[i, j]
            _normalise(u)
        if converged or total >= max_iter:
            break
    if est <= 0.0:
        return -np.inf, total
    return 0.5 * np.log(est), total


@jit
def _backward_products(W, form, D, u0, rtol, max_iter, store_slot, P_store, log_scale_store,
                       log_sv, log_fro, n_iter, block_log_sv):
    """P_k = P_{k+1} J_{k+1} renormalised; lag ℓ = T-k: log_sv[ℓ] = log‖P_k‖₂, log_fro[ℓ] = log‖P_k‖_F.

    D (T, A) the auxiliary rows (vanilla: the factors, A = N); u0 (S,) unit start vector of
    the Lanczos iteration on P Pᵀ (S the state size), warm-started from lag to lag with the
    Ritz vector; n_iter[ℓ] its matrix-vector pairs. If store_slot[ℓ] = s >= 0: P_store[s] =
    P_k exp(-log_scale_store[s]). block_log_sv (2, T+1), used for the LSTM only (shape
    (0, 0) otherwise): ln ‖∂h_T/∂h_k‖₂ and ln ‖∂c_T/∂c_k‖₂, the diagonal blocks of P_k.
    Returns (first lag with P exactly 0, first non-finite lag, number of lags not
    converged within max_iter); -1 = none.
    """
    T = D.shape[0]
    N = u0.shape[0]
    gated = form >= LSTM
    blocks = block_log_sv.shape[0] == 2
    nb = N // 2
    mmax = min(N, 24)       # Krylov dimension before a restart from the Ritz vector
    Wsc = np.empty(W.shape)  # W / 2^e, max entry <= 1: the products cannot overflow
    lw = 0.0 if gated else _pow2_scaled(W, Wsc)
    Jd = np.empty((N, N)) if gated else np.empty((1, 1))
    ub = np.empty((2, nb))   # the blocks' left singular vector estimates
    Bq = np.empty((nb, nb))  # a diagonal block of the product, contiguous for BLAS
    mb = min(nb, 24)
    Qb = np.empty((mb + 1, nb))
    ab = np.empty(mb)
    bb_ = np.empty(mb)
    sb = np.empty(mb)
    wb = np.empty(mb)
    if blocks:
        for q in range(2):
            for i in range(nb):
                ub[q, i] = u0[q * nb + i]
            _normalise(ub[q])
            block_log_sv[q, 0] = 0.0
    Pa = np.eye(N)          # the scaled product of the previous lag
    Pb = np.empty((N, N))   # the scaled product being formed
    u = u0.copy()           # left singular vector estimate (lives at time T)
    Q = np.empty((mmax + 1, N))
    alpha = np.empty(mmax)
    beta = np.empty(mmax)
    svec = np.empty(mmax)
    work = np.empty(mmax)
    w = np.empty(N)
    y = np.empty(N)
    z = np.empty(N)
    dc = np.empty(N)
    log_sv[0] = 0.0
    log_fro[0] = 0.5 * np.log(N)
    n_iter[0] = 0
    if store_slot[0] >= 0:
        P_store[store_slot[0]] = Pa
        log_scale_store[store_slot[0]] = 0.0
    fro = np.sqrt(N)        # ‖Pa‖_F, divided out when the next factor is applied
    lfro = np.log(fro)
    log_scale = 0.0         # P_k = Pb * exp(log_scale)
    unconverged = 0
    for lag in range(1, T + 1):
        k = T - lag
        dmax = _absmax(D[k])
        if dmax == 0.0 or not np.isfinite(dmax):
            # J_{k+1} = 0 exactly (relu, all units off), or a non-finite factor
            val = -np.inf if dmax == 0.0 else np.nan
            _fill_after(log_sv, lag, val)
            _fill_after(log_fro, lag, val)
            if blocks:
                _fill_after(block_log_sv[0], lag, val)
                _fill_after(block_log_sv[1], lag, val)
            return (lag, -1, unconverged) if dmax == 0.0 else (-1, lag, unconverged)
        c = 1.0 / fro
        if gated:
            # the dense J_{k+1}, scaled by a power of two near its largest entry (exact),
            # then Pb = Pa J and the renormalisation 1/‖P_{k+1}‖_F on the columns
            _gated_jacobian(W, form, D[k], Jd)
            lj, _ = _rescale_pow2(Jd)
            log_scale += lfro + lj
            np.dot(Pa, Jd, Pb)
            for j in range(N):
                dc[j] = c
            pending = False
        else:
            # the renormalisation by 1/(‖P_{k+1}‖_F max D[k]) rides on the diagonal factor
            # (no extra pass); dividing by max D[k] too keeps tiny sigmoid slopes from
            # underflowing. (D/dmax) first, then 1/fro: the product fro·dmax could underflow
            log_scale += lfro + np.log(dmax) + lw
            for j in range(N):
                dc[j] = (D[k, j] / dmax) * c
            # Pb = Pa J(Ws, dc): elman (Pa diag(dc)) Ws, scaling Pa in place (it is done
            # with); pascanu Pa Ws, its diag(dc) left to the pass below
            pending = _vanilla_rows_j(Wsc, form, dc, Pa, Pb, Pa, True)
        # column scaling (pascanu, gated), ‖Pb‖_F² and w = Pbᵀ u (the first Lanczos product, scaled
        # by 1/‖Pb‖_F below) in one pass
        fro2 = _scale_fro_rmatvec(Pb, dc, gated or pending, u, w)
        if fro2 < _FRO2_SMALL:
            # a tiny product: take its scale out before squaring (an underflow of the
            # squares must not pass for an exactly zero product), then redo w = Pbᵀ u
            lsh, fro2 = _rescale_pow2(Pb)
            log_scale += lsh
            if fro2 > 0.0:
                _rmatvec(Pb, u, w, 1.0)
        fro = np.sqrt(fro2)
        if not np.isfinite(fro):
            _fill_after(log_sv, lag, np.nan)
            _fill_after(log_fro, lag, np.nan)
            if blocks:
                _fill_after(block_log_sv[0], lag, np.nan)
                _fill_after(block_log_sv[1], lag, np.nan)
            return -1, lag, unconverged
        if fro == 0.0:
            # an exactly zero product (e.g. relu units switched off along the way): every
            # longer product is zero too; its log norm is -inf, not a number to fit
            _fill_after(log_sv, lag, -np.inf)
            _fill_after(log_fro, lag, -np.inf)
            if blocks:
                _fill_after(block_log_sv[0], lag, -np.inf)
                _fill_after(block_log_sv[1], lag, -np.inf)
            return lag, -1, unconverged
        lfro = np.log(fro)
        log_fro[lag] = lfro + log_scale
        # Lanczos on A = (Pb/fro)(Pb/fro)ᵀ, whose top eigenvalue σ1²/fro² lies in [1/N, 1]
        sc = 1.0 / fro
        nw = 0.0
        for j in range(N):
            w[j] *= sc
            nw += w[j] * w[j]
        if not nw > 1e-280:
            # u is (numerically) orthogonal to range(P): restart from the largest row of P
            best = -1.0
            ib = 0
            for i in range(N):
                r = 0.0
                for j in range(N):
                    r += Pb[i, j] * Pb[i, j]
                if r > best:
                    best = r
                    ib = i
            for i in range(N):
                u[i] = 0.0
            u[ib] = 1.0
            nw = 0.0
            for j in range(N):
                w[j] = Pb[ib, j] * sc
                nw += w[j] * w[j]
        total = 0
        est = nw                     # current lower bound on σ1²/fro² (qᵀAq for q = u)
        have_w = True                # w = (Pb/fro)ᵀ u came with the pass above
        theta_t = 0.0                # λmax of the current Lanczos tridiagonal
        last2 = 1.0
        converged = False
        while True:
            for j in range(N):
                Q[0, j] = u[j]
            m = 0
            while True:
                if not have_w:
                    _rmatvec(Pb, Q[m], w, sc)
                have_w = False
                _matvec(Pb, w, z, sc)                 # z = (Pb/fro) w = A q_m
                total += 1
                if m == 0:
                    zz = 0.0
                    for j in range(N):      # A q: the power-iteration direction
                        y[j] = z[j]
                        zz += z[j] * z[j]
                # full reorthogonalisation (modified Gram-Schmidt) gives beta_m, and alpha_m
                # as the coefficient on q_m (= q_mᵀ A q_m up to the orthogonality of the q_i)
                # (each update pass also forms the next coefficient, the last one ‖z‖²)
                cf = 0.0
                for j in range(N):
                    cf += Q[0, j] * z[j]
                for i in range(m):
                    nxt = 0.0
                    for j in range(N):
                        zj = z[j] - cf * Q[i, j]
                        z[j] = zj
                        nxt += Q[i + 1, j] * zj
                    cf = nxt
                a = cf
                bb = 0.0
                for j in range(N):
                    zj = z[j] - a * Q[m, j]
                    z[j] = zj
                    bb += zj * zj
                bb = np.sqrt(bb)
                alpha[m] = a
                beta[m] = bb
                m += 1
                if m == 1:
                    # one power step: ‖Aq‖²/(qᵀAq) >= qᵀAq is the better bound, for free
                    new = zz / a if a > 0.0 else 0.0
                    last2 = 1.0              # T_1 = (alpha_0): its eigenvector is (1)
                else:
                    # Weyl: λmax(T_m) <= max(λmax(T_{m-1}), alpha_m) + beta_{m-1}, a start
                    # for Newton that is tight once the iteration converges
                    hi = max(theta_t, a) + beta[m - 2]
                    # closer: λmax(T_{m-1}) θ' moves up by about b²/(θ' - alpha_m), b the
                    # coupling beta_{m-1} s' (s' the last eigenvector component of T_{m-1});
                    # twice that, if a Sturm count confirms it is above the spectrum, saves
                    # the Newton steps down from hi (7 to 4 on average at N = 50)
                    gap = theta_t - a
                    if gap > 0.0:
                        x1 = theta_t + 2.0 * beta[m - 2] * beta[m - 2] * last2 / gap
                        x1 += 1e-15 * theta_t
                        if x1 < hi and _above_spectrum(alpha, beta, m, x1):
                            hi = x1
                    new, last2 = _top_eig_tridiag(alpha, beta, m, min(est, hi), hi)
                theta_t = a if m == 1 else new   # λmax(T_m), the next step's bound
                # Kato-Temple: trace(A) = 1, so λ2 <= 1 - λ1 <= 1 - θ, and for θ > 1/2
                # λ1 <= θ + r²/(2θ - 1), r the Ritz residual: a rigorous upper bound
                if m == 1:
                    theta_r = a
                    r2 = bb * bb
                else:
                    theta_r = new
                    r2 = bb * bb * last2
                if new < est:
                    new = est
                upper = np.inf
                den = 2.0 * theta_r - 1.0 - 1e-13       # 1e-13: tr(A) = 1 up to rounding
                if den > 0.0:
                    upper = theta_r + r2 / den
                # converged: the bracket [new, upper] is rtol-narrow; or the relative change
                # of the estimate (Lanczos converges superlinearly, so the change bounds the
                # error); or an invariant Krylov space, where the estimate is exact
                converged = (upper - new <= rtol * new or new - est <= rtol * new
                             or bb <= 1e-15 * new or m >= N)
                est = new
                if converged or m >= mmax or total >= max_iter:
                    break
                ib = 1.0 / bb
                for j in range(N):
                    Q[m, j] = z[j] * ib
            # Ritz vector: the warm start of the next lag, or of a restart
            if m == 1:
                src_norm = np.sqrt(zz)
                for j in range(N):
                    u[j] = y[j] / src_norm
            else:
                _top_vec_tridiag(alpha, beta, m, est, svec, work)
                for j in range(N):
                    u[j] = svec[0] * Q[0, j]
                for i in range(1, m):
                    si = svec[i]
                    for j in range(N):
                        u[j] += si * Q[i, j]
                nu = 0.0
                for j in range(N):
                    nu += u[j] * u[j]
                nu = 1.0 / np.sqrt(nu)
                for j in range(N):
                    u[j] *= nu
            if converged:
                break
            if total >= max_iter:
                unconverged += 1
                break
        if blocks:
            for q in range(2):
                Bq[:, :] = Pb[q * nb:(q + 1) * nb, q * nb:(q + 1) * nb]
                lb, used = _block_log_norm(Bq, ub[q], Qb, ab, bb_, sb, wb, rtol, max_iter)
                block_log_sv[q, lag] = lb + log_scale
                total += used
        n_iter[lag] = total
        log_sv[lag] = 0.5 * np.log(est) + lfro + log_scale
        s = store_slot[lag]
        if s >= 0:
            P_store[s] = Pb
            log_scale_store[s] = log_scale
        Pa, Pb = Pb, Pa
    return -1, -1, unconverged


@jit(inline="always")
def _unit_start(delta, v):
    """v = δ/‖δ‖ with the scale taken out before squaring (δ/max|δ| first); returns
    ln ‖δ‖."""
    n = delta.shape[0]
    dm = 0.0
    for j in range(n):
        if abs(delta[j]) > dm:
            dm = abs(delta[j])
    nv = 0.0
    for j in range(n):
        v[j] = delta[j] / dm
        nv += v[j] * v[j]
    nv = np.sqrt(nv)
    for j in range(n):
        v[j] /= nv
    return np.log(dm) + np.log(nv)


@jit
def _transport(W, form, D, delta, log_norm):
    """Row vector v_T = δ_T, v_k = v_{k+1} J_{k+1}, renormalised; log_norm[ℓ] = log‖v_{T-ℓ}‖.

    D (T, A), delta (S,) non-zero, log_norm (T+1,). Cost O(N²) per lag (no product matrix).
    W and each D[k] are scaled before any square, as in _backward_products.
    Returns (first lag with v exactly 0, first non-finite lag); -1 = none.
    """
    if form >= LSTM:
        return _gated_transport(W, form, D, delta, log_norm)
    T, N = D.shape
    Wsc = np.empty((N, N))
    lw = _pow2_scaled(W, Wsc)
    v = np.empty(N)
    y = np.empty(N)
    dd = np.empty(N)
    log_scale = _unit_start(delta, v)
    log_norm[0] = log_scale
    for lag in range(1, T + 1):
        k = T - lag
        dmax = _absmax(D[k])
        if not np.isfinite(dmax):
            _fill_after(log_norm, lag, np.nan)
            return -1, lag
        if dmax == 0.0:
            _fill_after(log_norm, lag, -np.inf)
            return lag, -1
        for j in range(N):
            dd[j] = D[k, j] / dmax
        _vanilla_vj(Wsc, form, dd, v, y)
        ny = 0.0
        ymax = 0.0
        for j in range(N):
            ny += y[j] * y[j]
            if abs(y[j]) > ymax:
                ymax = abs(y[j])
        if not np.isfinite(ny):
            _fill_after(log_norm, lag, np.nan)
            return -1, lag
        if ymax == 0.0:
            _fill_after(log_norm, lag, -np.inf)
            return lag, -1
        if ny < _FRO2_SMALL:
            # scale before squaring (tiny entries would underflow)
            ny = 0.0
            for j in range(N):
                y[j] /= ymax
                ny += y[j] * y[j]
            log_scale += np.log(ymax)
        ny = np.sqrt(ny)
        log_scale += np.log(ny) + np.log(dmax) + lw
        log_norm[lag] = log_scale
        for j in range(N):
            v[j] = y[j] / ny
    return -1, -1


@jit
def _gated_transport(W, cell, D, delta, log_norm):
    """_transport for a gated cell: v_k = v_{k+1} J_{k+1} through _gated_vj, renormalised
    to unit norm at every step with a running log scale (the factors are bounded by the
    gates, so one step cannot leave float64 for finite weights)."""
    T = D.shape[0]
    S = delta.shape[0]
    v = np.empty(S)
    y = np.empty(S)
    g = np.empty(W.shape[0])
    log_scale = _unit_start(delta, v)
    log_norm[0] = log_scale
    for lag in range(1, T + 1):
        _gated_vj(W, cell, D[T - lag], v, y, g)
        ymax = _absmax(y)
        if not np.isfinite(ymax):
            _fill_after(log_norm, lag, np.nan)
            return -1, lag
        if ymax == 0.0:
            _fill_after(log_norm, lag, -np.inf)
            return lag, -1
        ny = 0.0
        for j in range(S):
            y[j] /= ymax          # the scale comes out before squaring
            ny += y[j] * y[j]
        ny = np.sqrt(ny)
        log_scale += np.log(ny) + np.log(ymax)
        log_norm[lag] = log_scale
        for j in range(S):
            v[j] = y[j] / ny
    return -1, -1
