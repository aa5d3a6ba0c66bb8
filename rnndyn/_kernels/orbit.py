"""Orbits of the one-neuron map x_{t+1} = w σ(x_t) + b over many parameter points,
and the classification of each recorded orbit (fixed point, period p, divergence).

The orbit kernel is blocked over parameter points: a block of BLOCK points is
advanced one step at a time in a loop with no branches, which LLVM vectorises
(the tanh is the arithmetic-only ``_tanh_fast``); blocks run in parallel. A
block whose states repeat exactly (x_{t+2} == x_t in every lane: the map is a
function of x alone, so they repeat for ever) is filled in without iterating;
that skips most of a long transient and changes no bit of the result.
Recorded states are kept for REC steps in a small (REC, BLOCK) buffer and then
written to X (P, R) a cache line (REC values) per point, interleaved with the
computation instead of as one 256-row transpose at the end of the block.
"""

import numpy as np

from rnndyn._jit import jit, prange
from rnndyn._kernels.activations import RELU, SIGMOID, TANH, _sigmoid_pair, _tanh_fast

# 64 points × (x, w, b) fit in L1 with room for the record buffer rows.
BLOCK = 64
# recorded states buffered per block before they are written to X (8: a cache line)
REC = 8


@jit(inline="always")
def _step_block(act, w, b, x, n):
    """x[j] <- w[j] σ(x[j]) + b[j] for j < n (one loop per code: each vectorises)."""
    if act == TANH:
        for j in range(n):
            x[j] = w[j] * _tanh_fast(x[j]) + b[j]
    elif act == SIGMOID:
        for j in range(n):
            x[j] = w[j] * _sigmoid_pair(x[j])[0] + b[j]
    elif act == RELU:
        for j in range(n):
            v = x[j]
            x[j] = w[j] * (v if v > 0.0 else 0.0) + b[j]
    else:
        for j in range(n):
            x[j] = w[j] * x[j] + b[j]


@jit(inline="always")
def _flush(X, lo, n, r0, nq, buf):
    """X[lo + j, r0 + q] = buf[q, j] for j < n, q < nq: whole cache lines of X per j."""
    if nq == REC:
        # 8 x 8 tiles with constant trip counts: LLVM makes each row one gather
        # from buf and one full-line store (a scalar or scatter form is slower)
        j8 = n - n % 8
        for jb in range(0, j8, 8):
            for jj in range(8):
                for q in range(REC):
                    X[lo + jb + jj, r0 + q] = buf[q, jb + jj]
        for j in range(j8, n):
            for q in range(REC):
                X[lo + j, r0 + q] = buf[q, j]
    else:
        for j in range(n):
            for q in range(nq):
                X[lo + j, r0 + q] = buf[q, j]


@jit(inline="always")
def _record(X, lo, n, t, T, r0, buf, x):
    """After step t: past the transient, put x_t in buf and flush buf to X when full.

    Returns the new r0 (X[:, :r0] written, buf[q] holds x_{T + 1 + r0 + q}).
    """
    if t > T:
        q = t - T - 1 - r0
        for j in range(n):
            buf[q, j] = x[j]
        if q == REC - 1:
            _flush(X, lo, n, r0, REC, buf)
            r0 += REC
    return r0


@jit(parallel=True)
def _orbits(w, b, act, x0, n_transient, check_every, X, rtol, atol, escape, max_period,
            period):
    """x_{t+1} = w[i] σ(x_t) + b[i] from x_0 = x0[i]; w, b, x0 (P,), X (P, R).

    After n_transient discarded steps, X[i, r] = x_{n_transient + 1 + r}; X is
    written in place. Every check_every steps (0: never) a block whose states all
    repeat exactly with period 1 or 2 is filled in without further iteration.
    max_period > 0: period (P,) int64 gets each orbit's class as _classify_orbits,
    computed per block while its rows are still in cache (0: period is not touched).
    """
    P, R = X.shape
    T = n_transient
    total = T + R
    n_blocks = (P + BLOCK - 1) // BLOCK
    for blk in prange(n_blocks):
        lo = blk * BLOCK
        n = min(BLOCK, P - lo)
        x = np.empty(BLOCK)
        wb = np.empty(BLOCK)
        bb = np.empty(BLOCK)
        a = np.empty(BLOCK)
        c = np.empty(BLOCK)
        # the last REC recorded states, flushed to X REC at a time (X rows are
        # written a cache line at a time while the block is still computing)
        buf = np.empty((REC, BLOCK))
        for j in range(n):
            x[j] = x0[lo + j]
            wb[j] = w[lo + j]
            bb[j] = b[lo + j]
        t = 0  # steps done: x holds x_t
        r0 = 0  # X[:, :r0] written; buf[q] holds x_{T + 1 + r0 + q}
        q_rep = R  # X[lo:lo+n, q_rep:] repeats exactly with period 2 (R: not known to)
        while t < total:
            if check_every > 0 and t % check_every == 0 and t + 2 <= total:
                # two steps keeping x_t (a) and x_{t+1} (c): if x_{t+2} == x_t in every
                # lane, the map (a function of x alone) repeats them exactly for ever
                for j in range(n):
                    a[j] = x[j]
                _step_block(act, wb, bb, x, n)
                t += 1
                r0 = _record(X, lo, n, t, T, r0, buf, x)
                for j in range(n):
                    c[j] = x[j]
                _step_block(act, wb, bb, x, n)
                t += 1
                r0 = _record(X, lo, n, t, T, r0, buf, x)
                same = True
                for j in range(n):
                    same &= x[j] == a[j]
                if same:
                    # from step t - 2 on the states repeat exactly with period 2
                    q_rep = max(0, t - 2 - T - 1)
                    # x_s = x_t (= a) for s − t even, x_{t−1} (= c) for s − t odd
                    if t > T:
                        _flush(X, lo, n, r0, t - T - r0, buf)
                    for j in range(n):
                        for s_ in range(max(t + 1, T + 1), total + 1):
                            X[lo + j, s_ - T - 1] = a[j] if (s_ - t) % 2 == 0 else c[j]
                    t = total
                    r0 = R
            else:
                _step_block(act, wb, bb, x, n)
                t += 1
                r0 = _record(X, lo, n, t, T, r0, buf, x)
        if r0 < R:
            _flush(X, lo, n, r0, R - r0, buf)
        if max_period > 0:
            for j in range(n):
                period[lo + j] = _classify_row(X, lo + j, rtol, atol, escape, max_period,
                                               q_rep)


@jit(inline="always")
def _classify_row(X, i, rtol, atol, escape, max_period, q):
    """The class of orbit X[i] (see _classify_orbits), given that X[i, q:] repeats
    exactly with period 2 (q = R: nothing known).

    Where r and r - p are both >= q, the test |X[r] - X[r-p]| <= atol + rtol |X[r]|
    depends only on the parity of r, so r < q + p + 2 decides it: the same answer as
    testing every r, without reading the exactly repeating tail.
    """
    R = X.shape[1]
    if abs(X[i, R - 1]) > escape:
        return -1
    for r in range(min(R, q + 2)):
        if not np.isfinite(X[i, r]):
            return -1
    for p in range(1, min(max_period, R - 1) + 1):
        ok = True
        for r in range(p, min(R, q + p + 2)):
            if abs(X[i, r] - X[i, r - p]) > atol + rtol * abs(X[i, r]):
                ok = False
                break
        if ok:
            return p
    return 0


@jit(parallel=True)
def _classify_orbits(X, rtol, atol, escape, max_period, period):
    """period[i] = smallest p <= max_period with |X[i,r] - X[i,r-p]| <= atol + rtol |X[i,r]|
    for every recorded r >= p; 0 if none (aperiodic or unresolved); -1 if X[i] has a
    non-finite value or |X[i, -1]| > escape (divergence). X (P, R), period (P,) int64.
    """
    P, R = X.shape
    for i in prange(P):
        period[i] = _classify_row(X, i, rtol, atol, escape, max_period, R)
