"""Lyapunov exponents of RNN maps: the QR (Benettin) method and the vector method.

Storage convention: a tangent basis P (N x k) is held as its transpose ``Pt``
(k x N, C-contiguous), which is P in Fortran order, so LAPACK (column major)
works on it in place. One-step Jacobians come from the auxiliary rows D[t] of the
trajectory, and every product with them from the cell operators of
``rnndyn._kernels.cells`` (dispatched on the cell code):

* pascanu: J = W diag(d),  J P  ->  Pt_new = (Pt diag(d)) W^T
* elman:   J = diag(d) W,  J P  ->  Pt_new = (Pt W^T) diag(d)

LAPACK (dgeqrf, dormqr, dorgqr) is reached through SciPy's cython_lapack
function addresses, registered as LLVM symbols so that ``cache=True`` works.
With NUMBA_DISABLE_JIT=1 the same calls go through scipy.linalg.lapack.
"""

import numpy as np
from numba import config as _nb_config

from rnndyn._jit import jit, prange
from rnndyn._kernels.cells import (_jacobian_t, _jv, _tangent_block, _vanilla_tangent_rows)
from rnndyn.codes import PASCANU
from rnndyn._kernels.activations import _act_dact1

UNIT_ROUNDOFF = 2.0 ** -53
# a block whose columns grow past this norm is split: far from overflow (1e308)
# and from the range where the relative-error estimate stops meaning anything
GROWTH_LIMIT = 1e100
# inside a block, a column whose largest entry leaves [RESCALE_LOW, RESCALE_HIGH] is
# multiplied by a power of 2 (exact) and the log of the factor is carried to logsum:
# QR of P·diag(c) is Q·(R·diag(c)), so log|R_jj| is unchanged. Strong contraction
# (λ below about -11 nats/step over 64 steps) would otherwise underflow to 0 = -inf.
RESCALE_LOW = 1e-150
RESCALE_HIGH = 1e150
LOG2 = 0.6931471805599453
# |R_jj| below N·u·||p_j|| is rounding noise, not growth: the direction was
# annihilated (σ' = 0, dead relu units, rank-deficient W) and log|R_jj| = -inf
FLOOR_FACTOR = 1.0
# a fixed interval (reortho = K) is shortened for a block whose estimated error
# u·max_j ||p_j||/|R_jj| exceeds this (else |R_jj| at rounding level reads as -inf)
FIXED_MAX_ERROR = 1e-6
# 'auto' aims the next block at this fraction of log(tol/u): a block predicted to
# land exactly on tol overshoots about half the time and is then computed twice
AUTO_MARGIN = 0.85
# after a block had to be redone, the next this-many blocks stay at most as long as
# the accepted redo (short intervals of 2-3 steps otherwise fail every other time)
AUTO_BACKOFF = 8

# ------------------------------------------------------------------ LAPACK access

if _nb_config.DISABLE_JIT:
    import scipy.linalg.lapack as _sl

    def _geqrf(F, tau):
        """QR of the Fortran N x k matrix stored as F (k x N); Householder form in place."""
        qr, t, _, info = _sl.dgeqrf(F.T)
        F[:, :] = qr.T
        tau[:] = t
        return info

    def _ormqr_right(F, tau, Ct):
        """C := C Q (Fortran C = Ct^T, N x N), Q from the reflectors in (F, tau)."""
        N = Ct.shape[0]
        cq, _, info = _sl.dormqr("R", "N", F.T, tau, Ct.T, lwork=max(1, 64 * N))
        Ct[:, :] = cq.T
        return info

    def _orgqr(F, tau):
        """Explicit thin Q (Fortran N x k) from the reflectors, in place in F."""
        q, _, info = _sl.dorgqr(F.T, tau)
        F[:, :] = q.T
        return info

else:
    import llvmlite.binding as _ll
    from numba import types as _nbt
    from numba.extending import get_cython_function_address as _addr

    def _external(name, nargs):
        # an LLVM symbol (not a baked-in address) keeps the kernels cacheable:
        # the symbol is re-registered on every import before cached code is linked
        sym = f"rnndyn_lapack_{name}"
        _ll.add_symbol(sym, _addr("scipy.linalg.cython_lapack", name))
        return _nbt.ExternalFunction(sym, _nbt.void(*([_nbt.voidptr] * nargs)))

    _dgeqrf = _external("dgeqrf", 8)
    _dormqr = _external("dormqr", 13)
    _dorgqr = _external("dorgqr", 9)

    @jit
    def _geqrf(F, tau):
        """QR of the Fortran N x k matrix stored as F (k x N); Householder form in place."""
        k, N = F.shape
        ints = np.empty(5, dtype=np.int32)  # m, n, lda, lwork, info
        ints[0] = N
        ints[1] = k
        ints[2] = N
        ints[3] = -1
        query = np.empty(1)
        _dgeqrf(ints[0:].ctypes, ints[1:].ctypes, F.ctypes, ints[2:].ctypes, tau.ctypes,
                query.ctypes, ints[3:].ctypes, ints[4:].ctypes)
        lwork = max(1, int(query[0]))
        work = np.empty(lwork)
        ints[3] = lwork
        _dgeqrf(ints[0:].ctypes, ints[1:].ctypes, F.ctypes, ints[2:].ctypes, tau.ctypes,
                work.ctypes, ints[3:].ctypes, ints[4:].ctypes)
        return ints[4]

    @jit
    def _ormqr_right(F, tau, Ct):
        """C := C Q (Fortran C = Ct^T, N x N), Q from the reflectors in (F, tau)."""
        k, N = F.shape
        chars = np.empty(2, dtype=np.uint8)
        chars[0] = 82  # 'R'
        chars[1] = 78  # 'N'
        ints = np.empty(7, dtype=np.int32)  # m, n, k, lda, ldc, lwork, info
        ints[0] = N
        ints[1] = N
        ints[2] = k
        ints[3] = N
        ints[4] = N
        ints[5] = -1
        query = np.empty(1)
        _dormqr(chars[0:].ctypes, chars[1:].ctypes, ints[0:].ctypes, ints[1:].ctypes,
                ints[2:].ctypes, F.ctypes, ints[3:].ctypes, tau.ctypes, Ct.ctypes,
                ints[4:].ctypes, query.ctypes, ints[5:].ctypes, ints[6:].ctypes)
        lwork = max(1, int(query[0]))
        work = np.empty(lwork)
        ints[5] = lwork
        _dormqr(chars[0:].ctypes, chars[1:].ctypes, ints[0:].ctypes, ints[1:].ctypes,
                ints[2:].ctypes, F.ctypes, ints[3:].ctypes, tau.ctypes, Ct.ctypes,
                ints[4:].ctypes, work.ctypes, ints[5:].ctypes, ints[6:].ctypes)
        return ints[6]

    @jit
    def _orgqr(F, tau):
        """Explicit thin Q (Fortran N x k) from the reflectors, in place in F."""
        k, N = F.shape
        ints = np.empty(6, dtype=np.int32)  # m, n, k, lda, lwork, info
        ints[0] = N
        ints[1] = k
        ints[2] = k
        ints[3] = N
        ints[4] = -1
        query = np.empty(1)
        _dorgqr(ints[0:].ctypes, ints[1:].ctypes, ints[2:].ctypes, F.ctypes, ints[3:].ctypes,
                tau.ctypes, query.ctypes, ints[4:].ctypes, ints[5:].ctypes)
        lwork = max(1, int(query[0]))
        work = np.empty(lwork)
        ints[4] = lwork
        _dorgqr(ints[0:].ctypes, ints[1:].ctypes, ints[2:].ctypes, F.ctypes, ints[3:].ctypes,
                tau.ctypes, work.ctypes, ints[4:].ctypes, ints[5:].ctypes)
        return ints[5]


# ------------------------------------------------------------------ building blocks

@jit(inline="always")
def _log_abs(r):
    """log|r|, with log 0 = -inf written out (no divide-by-zero warning without the JIT)."""
    a = abs(r)
    if a == 0.0:
        return -np.inf
    return np.log(a)


@jit(inline="always")
def _pow2(e):
    """2.0**e for an integer |e| <= 1000, exactly."""
    return np.ldexp(1.0, e)


@jit
def _rescale_rows(Pt, shift):
    """Scale every row of Pt whose max |entry| is outside [RESCALE_LOW, RESCALE_HIGH]
    (and not 0) by a power of 2 bringing it to about 1; shift[j] += log of 1/factor.

    Returns max |Pt_ij| before the scaling (NaN if any entry is NaN). Exact: scaling by
    powers of 2 does not round, and a QR's R_jj scales with column j.
    """
    k, N = Pt.shape
    m_all = 0.0
    for j in range(k):
        m = 0.0
        for i in range(N):
            a = abs(Pt[j, i])
            if a > m:
                m = a
            elif a != a:
                return a
        if m > m_all:
            m_all = m
        if m > 0.0 and (m < RESCALE_LOW or m > RESCALE_HIGH):
            e = -int(np.floor(np.log2(m)))  # m·2^e in [1, 2) up to rounding of log2
            while e != 0:
                step = max(-1000, min(1000, e))
                f = _pow2(step)
                for i in range(N):
                    Pt[j, i] *= f
                shift[j] -= step * LOG2
                e -= step
    return m_all


@jit
def _tangent_step(Wt, form, d, Pt, S):
    """Pt (k x S) <- transpose of J P, J the one-step Jacobian of the cell ``form`` from its
    auxiliary row d (rnndyn._kernels.cells._tangent_block). S (k x S) is scratch. Returns
    the new Pt (one BLAS dgemm for the vanilla cells).
    """
    out = np.empty(Pt.shape)
    _tangent_block(Wt, form, d, Pt, out, S)
    return out


# ------------------------------------------------------------------ QR (Benettin) method

@jit
def _qr_lyapunov(Wt, form, D, Qt, logsum, hist_steps, hist, state, reortho, tol,
                 max_interval, hist_every, exact_hist):
    """QR method on a chunk: Q R = J_{t+s}…J_{t+1} Q_t per block of s steps, logsum += log|R_jj|.

    Wt = W^T (N, N), D (T, N), Qt (k, N) basis (overwritten by the final one); state =
    [step, transient, n_hist, max block error, sum of block errors, n_blocks, n_redone]
    updated; hist_steps/hist get cumulative logsums. reortho > 0: fixed s; 0: adaptive, a block
    is redone shorter unless u·max_j ||p_j||/|R_jj| <= tol.
    """
    T = D.shape[0]
    k, N = Qt.shape          # N: the state size (2N for the LSTM)
    use_ormqr = 2 * k >= N  # applying k reflectors beats forming Q (k/N >= ~0.4)
    S = np.empty((k, N))
    F = np.empty((k, N))     # Householder factors of the current basis
    tau = np.empty(k)
    Fn = np.empty((k, N))    # the block being factorised (the old basis survives a redo)
    taun = np.empty(k)
    Ct = np.empty((N, N)) if use_ormqr else np.empty((1, 1))
    norms = np.empty(k)
    shift = np.zeros(k)      # log of the factors the block's columns were rescaled by
    have_factors = False
    g0 = int(state[0])
    transient = int(state[1])
    n_hist = int(state[2])
    max_hist = hist_steps.shape[0]
    log_limit = np.log(tol / UNIT_ROUNDOFF)
    fixed_limit = np.log(FIXED_MAX_ERROR / UNIT_ROUNDOFF)
    s = reortho if reortho > 0 else 1
    cap, cap_left = 0, 0  # backoff after a redone block
    t = 0
    while t < T:
        g = g0 + t
        s_eff = min(s, T - t, max_interval)
        if g < transient and g + s_eff > transient:
            s_eff = transient - g  # a block never straddles the end of the transient
        if exact_hist and g >= transient:
            rel = g - transient
            to_next = hist_every - rel % hist_every
            s_eff = min(s_eff, to_next)
        # ---- propagate the basis through s_eff steps
        if not have_factors:
            Pt = _tangent_step(Wt, form, D[t], Qt, S)
        elif use_ormqr:
            _jacobian_t(Wt, form, D[t], Ct)
            _ormqr_right(F, tau, Ct)
            Pt = Ct[:k, :].copy()
        else:
            Qt[:, :] = F
            _orgqr(Qt, tau)
            Pt = _tangent_step(Wt, form, D[t], Qt, S)
        grown = False
        for j in range(k):
            shift[j] = 0.0
        for u in range(t + 1, t + s_eff):
            Pt = _tangent_step(Wt, form, D[u], Pt, S)
            # columns decaying (or growing) past float64's range are rescaled exactly
            if _rescale_rows(Pt, shift) > GROWTH_LIMIT and u < t + s_eff - 1:
                grown = True
                s_eff = u - t + 1
                break
        for j in range(k):
            acc = 0.0
            for i in range(N):
                acc += Pt[j, i] * Pt[j, i]
            norms[j] = np.sqrt(acc)
        Fn[:, :] = Pt
        _geqrf(Fn, taun)
        # ---- a posteriori rounding-error estimate of log|R_jj| for this block
        rho = 1.0
        floor = FLOOR_FACTOR * N * UNIT_ROUNDOFF
        for j in range(k):
            r = abs(Fn[j, j])
            if r <= floor * norms[j]:
                Fn[j, j] = 0.0
                # over one step this is an annihilated direction (exact, -inf);
                # over a longer block it may be the grading: unknown, redo it
                if s_eff == 1 or norms[j] == 0.0:
                    continue
                ratio = np.inf
            elif r > 0.0:
                ratio = norms[j] / r
            elif norms[j] > 0.0:
                ratio = np.inf
            else:
                ratio = 1.0  # an exactly collapsed direction: log|R_jj| = -inf, no error
            if ratio > rho:
                rho = ratio
        err = UNIT_ROUNDOFF * rho
        if reortho > 0 and s_eff > 1 and not (err <= FIXED_MAX_ERROR):
            # a fixed interval longer than float64 can resolve: some |R_jj| fell to (or
            # near) rounding level, which would read as a fake -inf or a wrong exponent.
            # Redo shorter (down to 1 step, where a zero is exact); the next blocks keep
            # the shorter cap for a while.
            s = max(1, s_eff // 2) if not np.isfinite(rho) else max(1, min(
                s_eff - 1, int(s_eff * AUTO_MARGIN * fixed_limit / np.log(rho) + 0.5)))
            state[6] += 1.0
            cap, cap_left = s, AUTO_BACKOFF + 1
            continue
        if reortho == 0 and s_eff > 1 and not (err <= tol):
            # too graded to trust: redo from the same basis with a shorter block
            s = max(1, s_eff // 2) if not np.isfinite(rho) else max(1, min(
                s_eff - 1, int(s_eff * AUTO_MARGIN * log_limit / np.log(rho) + 0.5)))
            state[6] += 1.0
            cap, cap_left = s, AUTO_BACKOFF + 1
            continue
        # ---- accept the block
        if g >= transient:
            for j in range(k):
                logsum[j] += _log_abs(Fn[j, j]) + shift[j]
            if err > state[3]:
                state[3] = err
            state[4] += err
            state[5] += 1.0
        F, Fn = Fn, F
        tau, taun = taun, tau
        have_factors = True
        t += s_eff
        g = g0 + t
        if g > transient and n_hist < max_hist:
            # record at the first block end at or after each multiple of hist_every
            rel = g - transient
            last = int(hist_steps[n_hist - 1]) if n_hist > 0 else 0
            if rel >= (last // hist_every + 1) * hist_every:
                hist_steps[n_hist] = rel
                hist[n_hist, :] = logsum
                n_hist += 1
        if reortho == 0:
            # predict the next interval from this block's growth of the grading
            if rho > 1.0 and np.isfinite(rho):
                rate = np.log(rho) / s_eff
                s = max(1, min(2 * s_eff + 1, int(AUTO_MARGIN * log_limit / rate + 0.5)))
            else:
                s = 2 * s_eff + 1
            if grown:
                s = s_eff
            if cap_left > 0:
                cap_left -= 1
                s = min(s, cap)
        elif cap_left > 0:
            # fixed interval after a redo (see above): shorter for a few blocks
            cap_left -= 1
            s = cap if cap_left > 0 else reortho
    if have_factors:
        Qt[:, :] = F
        _orgqr(Qt, tau)
    state[0] = g0 + T
    state[2] = n_hist


# ------------------------------------------------------------------ vector method

@jit
def _largest_lyapunov(W, form, D, v, logsum, hist_steps, hist, state, hist_every):
    """Vector method: v <- J_t v / ||J_t v||, logsum += log||J_t v|| after the transient.

    W (N, N), D (T, N), v (N) unit vector, replaced by the final one; state as
    in _qr_lyapunov ([global step, transient, n_hist]); hist gets cumulative sums.
    """
    T, N = D.shape
    g0 = int(state[0])
    transient = int(state[1])
    n_hist = int(state[2])
    w = np.empty(W.shape[0])
    y = np.empty(N)
    for t in range(T):
        _jv(W, form, D[t], v, y, w)
        nrm = np.sqrt(np.dot(y, y))
        g = g0 + t + 1
        if g > transient:
            logsum[0] += _log_abs(nrm)
        if nrm > 0.0:
            for i in range(N):
                v[i] = y[i] / nrm
        # a zero vector stays the last unit vector: the exponent is already -inf
        rel = g - transient
        if rel > 0 and rel % hist_every == 0 and n_hist < hist_steps.shape[0]:
            hist_steps[n_hist] = rel
            hist[n_hist, 0] = logsum[0]
            n_hist += 1
    state[0] = g0 + T
    state[2] = n_hist


# ------------------------------------------------------------------ ensembles (no BLAS)

@jit
def _mgs2(Pt, r):
    """Orthonormalise the rows of Pt in place (Gram-Schmidt twice, loops only); r = |R_jj|.

    A row left at rounding level (<= N·u times its norm) after projection gets
    r = 0 and is replaced by a unit vector orthogonal to the previous rows.
    """
    k, N = Pt.shape
    floor = FLOOR_FACTOR * N * UNIT_ROUNDOFF
    for j in range(k):
        before = 0.0
        for m in range(N):
            before += Pt[j, m] * Pt[j, m]
        before = np.sqrt(before)
        for _ in range(2):  # "twice is enough" (Giraud et al. 2005)
            for i in range(j):
                c = 0.0
                for m in range(N):
                    c += Pt[i, m] * Pt[j, m]
                for m in range(N):
                    Pt[j, m] -= c * Pt[i, m]
        nrm = 0.0
        for m in range(N):
            nrm += Pt[j, m] * Pt[j, m]
        nrm = np.sqrt(nrm)
        if nrm <= floor * before:
            nrm = 0.0
        r[j] = nrm
        if nrm > 0.0:
            for m in range(N):
                Pt[j, m] /= nrm
        else:
            # pick the coordinate vector least covered by the previous rows
            best, best_m = 2.0, 0
            for m in range(N):
                cov = 0.0
                for i in range(j):
                    cov += Pt[i, m] * Pt[i, m]
                if cov < best:
                    best, best_m = cov, m
            for m in range(N):
                Pt[j, m] = 0.0
            Pt[j, best_m] = 1.0
            for _ in range(2):
                for i in range(j):
                    c = Pt[i, best_m]
                    for m in range(N):
                        Pt[j, m] -= c * Pt[i, m]
            nrm = 0.0
            for m in range(N):
                nrm += Pt[j, m] * Pt[j, m]
            nrm = np.sqrt(nrm)
            for m in range(N):
                Pt[j, m] /= nrm


@jit(parallel=True)
def _qr_lyapunov_batch(W, form, D, Qt, transient, out):
    """QR every step for B independent runs, in parallel over the runs (no BLAS inside).

    W (B, N, N), D (B, T, N), Qt (B, k, N) initial bases; out (B, k) gets the
    exponents (mean of log|R_jj| over the T - transient steps after the transient).
    """
    B, T, N = D.shape
    k = Qt.shape[1]
    for b in prange(B):
        Pt = Qt[b].copy()
        Y = np.empty((k, N))
        r = np.empty(k)
        acc = np.zeros(k)
        for t in range(T):
            d = D[b, t]
            # Y = (J Ptᵀ)ᵀ written out, not cells._vanilla_tangent_rows: this kernel's
            # pascanu sum associates (W_im d_m) p_m, the operator's W_im (d_m p_m), so
            # sharing it would move the ensembles' exponents by rounding (their results
            # are kept bit for bit until a deliberate change; elman is the same sum)
            for j in range(k):
                for i in range(N):
                    s = 0.0
                    if form == PASCANU:
                        for m in range(N):
                            s += W[b, i, m] * d[m] * Pt[j, m]
                    else:
                        for m in range(N):
                            s += W[b, i, m] * Pt[j, m]
                        s *= d[i]
                    Y[j, i] = s
            _mgs2(Y, r)
            Pt[:, :] = Y
            if t >= transient:
                for j in range(k):
                    acc[j] += _log_abs(r[j])
        for j in range(k):
            out[b, j] = acc[j] / (T - transient)


# ------------------------------------------------------------------ small N (fused, no BLAS)

# a running product of |R_jj| is turned into a log when it leaves [1/PROD_LIMIT,
# PROD_LIMIT] (one log per many steps instead of one per step; the product of m
# factors has a relative error of about m·u, i.e. an absolute error of m·u in the log)
PROD_LIMIT = 1e100
# and at least every PROD_EVERY steps
PROD_EVERY = 64


# Gram-Schmidt: a row whose norm fell below this fraction of its norm before the
# projection is projected a second time (Kahan-Parlett "twice is enough")
REORTH_FRACTION = 0.7071067811865476


@jit(inline="always")
def _gs_small(Y, r, norms):
    """Orthonormalise the rows of Y in place (modified Gram-Schmidt, a second pass for a
    row that lost more than 1 - 1/sqrt(2) of its norm ``norms[j]``); r = |R_jj|.

    Returns False, leaving Y partly changed, if a row fell to rounding level (<= N·u
    times its norm): the caller then redoes the step with _mgs2, which handles it.
    """
    k, N = Y.shape
    floor = FLOOR_FACTOR * N * UNIT_ROUNDOFF
    for j in range(k):
        before = norms[j]
        nrm = before
        for rep in range(2):
            for i in range(j):
                c = 0.0
                for m in range(N):
                    c += Y[i, m] * Y[j, m]
                for m in range(N):
                    Y[j, m] -= c * Y[i, m]
            acc = 0.0
            for m in range(N):
                acc += Y[j, m] * Y[j, m]
            nrm = np.sqrt(acc)
            if j == 0 or nrm >= REORTH_FRACTION * before:
                break
        if not (nrm > floor * before):
            return False
        r[j] = nrm
        for m in range(N):
            Y[j, m] /= nrm
    return True


@jit(inline="always")
def _qr_rows_small(W, form, ds, Qt, Y, r, norms):
    """Qt <- the orthonormalised rows of Y (Gram-Schmidt, _gs_small; _mgs2 on a step
    that annihilated a direction, recomputing Y = (J Q)^T from Qt); r = |R_jj|,
    norms = the rows' norms before."""
    k, N = Y.shape
    for q in range(k):
        acc = 0.0
        for i in range(N):
            acc += Y[q, i] * Y[q, i]
        norms[q] = np.sqrt(acc)
    if not _gs_small(Y, r, norms):
        # a row at rounding level (an annihilated direction): redo the step
        # from Qt with the careful version
        _vanilla_tangent_rows(W, form, ds, Qt, Y)
        _mgs2(Y, r)
    for q in range(k):
        for i in range(N):
            Qt[q, i] = Y[q, i]


@jit
def _small_lyapunov(W, U, b, act, form, x, u, Qt, logsum, hist_steps, hist, state,
                    transient, hist_every):
    """Trajectory and QR every step in one loop (small N: no BLAS, no per-step allocation).

    x (N) is advanced in place through T = u.shape[0] steps of the map (u (T, M)); Qt
    (k, N) orthonormal rows follow J_t (re-orthonormalised every step by Gram-Schmidt;
    k = 1 is the vector method); logsum (k) += log|R_jj| after the transient; hist_steps
    / hist get cumulative sums at every multiple of hist_every; state = [n_hist, max
    block error, sum of block errors] updated. Returns the first step whose state is
    non-finite (1-based), 0 if none.
    """
    T = u.shape[0]
    N = x.shape[0]
    M = U.shape[1]
    k = Qt.shape[0]
    s = np.empty(N)
    ds = np.empty(N)
    a = np.empty(N)
    Y = np.empty((k, N))
    r = np.empty(k)
    norms = np.empty(k)
    prod = np.ones(k)
    n_hist = int(state[0])
    max_hist = hist_steps.shape[0]
    max_err = state[1]
    sum_err = state[2]
    bad = 0
    since = 0
    to_rec = hist_every
    w00 = W[0, 0]
    b0 = b[0]
    for t in range(1, T + 1):
        if N == 1:
            # ---- one unit: scalars (the same operations as the general branch; the
            # tangent step below is cells._vanilla_tangent_rows on 1×1 arrays, kept in
            # registers)
            v = x[0]
            if form == PASCANU:
                sv, dv = _act_dact1(act, v)
                acc = w00 * sv + b0
                for j in range(M):
                    acc += U[0, j] * u[t - 1, j]
                v = acc
            else:
                acc = w00 * v + b0
                for j in range(M):
                    acc += U[0, j] * u[t - 1, j]
                v, dv = _act_dact1(act, acc)
            x[0] = v
            if bad == 0 and not np.isfinite(v):
                bad = t
            y = w00 * (dv * Qt[0, 0]) if form == PASCANU else (w00 * Qt[0, 0]) * dv
            ay = abs(y)
            r[0] = ay
            norms[0] = ay
            if ay > 0.0:
                Qt[0, 0] = 1.0 if y > 0.0 else -1.0
            else:
                Qt[0, 0] = 1.0  # as _mgs2: an annihilated direction restarts at e_1
        else:
            # ---- the map (cells._vanilla_step's arithmetic with the sums as loops: its
            # W x is a BLAS product, which rounds differently, and the fixed-point map
            # cells._vanilla_map starts each sum from the drive)
            # (inline calls: a call with array arguments costs reference counting
            # per step, as much as the arithmetic at N = 2)
            if form == PASCANU:
                for i in range(N):
                    s[i], ds[i] = _act_dact1(act, x[i])
                for i in range(N):
                    acc = 0.0
                    for j in range(N):
                        acc += W[i, j] * s[j]
                    a[i] = acc
            else:
                for i in range(N):
                    acc = 0.0
                    for j in range(N):
                        acc += W[i, j] * x[j]
                    a[i] = acc
            for i in range(N):
                acc = a[i] + b[i]
                for j in range(M):
                    acc += U[i, j] * u[t - 1, j]
                a[i] = acc
            if form == PASCANU:
                for i in range(N):
                    x[i] = a[i]
            else:
                for i in range(N):
                    s[i], ds[i] = _act_dact1(act, a[i])
                    x[i] = s[i]
            if bad == 0:
                for i in range(N):
                    if not np.isfinite(x[i]):
                        bad = t
                        break
            # ---- tangent step: Y = (J Q)^T, J = W diag(ds) (pascanu) or diag(ds) W
            _vanilla_tangent_rows(W, form, ds, Qt, Y)
            # ---- QR of the step's rows; error estimate u·max_j ||p_j|| / |R_jj|
            if k == 1:
                # one vector: its norm (as _mgs2 for one row, without the second pass)
                acc = 0.0
                for i in range(N):
                    acc += Y[0, i] * Y[0, i]
                nrm = np.sqrt(acc)
                r[0] = nrm
                norms[0] = nrm
                if nrm > 0.0:
                    for i in range(N):
                        Qt[0, i] = Y[0, i] / nrm
                else:  # an annihilated direction restarts at e_1, as in _mgs2
                    for i in range(N):
                        Qt[0, i] = 0.0
                    Qt[0, 0] = 1.0
            else:
                _qr_rows_small(W, form, ds, Qt, Y, r, norms)
        if t > transient:
            rho = 1.0
            if k == 1:
                prod[0] *= r[0]  # one vector: ||p|| / |R_11| = 1
            else:
                for q in range(k):
                    prod[q] *= r[q]
                    if r[q] > 0.0:
                        ratio = norms[q] / r[q]
                        if ratio > rho:
                            rho = ratio
            err = UNIT_ROUNDOFF * rho
            if err > max_err:
                max_err = err
            sum_err += err
            since += 1
            flush = since >= PROD_EVERY
            for q in range(k):
                p = prod[q]
                if not (p >= 1.0 / PROD_LIMIT and p <= PROD_LIMIT):
                    flush = True
            rel = t - transient
            to_rec -= 1  # a countdown instead of rel % hist_every (an integer division)
            record = to_rec == 0 and n_hist < max_hist
            if to_rec == 0:
                to_rec = hist_every
            if flush or record or t == T:
                for q in range(k):
                    logsum[q] += _log_abs(prod[q])
                    prod[q] = 1.0
                since = 0
            if record:
                hist_steps[n_hist] = rel
                for q in range(k):
                    hist[n_hist, q] = logsum[q]
                n_hist += 1
    state[0] = n_hist
    state[1] = max_err
    state[2] = sum_err
    return bad
