"""The split (dual) method of a full Lyapunov spectrum: the top exponents by the forward
QR method on J_t, the bottom ones on J_t^-T, each with its own reorthonormalisation
interval, chosen by a cost model from a short pilot run (see rnndyn.lyapunov_spectrum).
Private: used by :mod:`rnndyn.lyapunov`."""

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.linalg

from rnndyn._kernels import lyapunov as _k
from rnndyn._lyapunov_runs import _chunks, _initial_basis, _new_state, _run_qr

# Split method for the full spectrum ('auto' choice, see lyapunov_spectrum Notes):
SPLIT_MIN_N = 16            # below this a QR costs nothing worth saving
SPLIT_MAX_COND = 1e10       # κ(W) above this: forward QR only (W^-1 too inaccurate)
# ‖J_t^-T‖ <= ‖W^-1‖·max 1/d above this: forward QR from there. Small d alone costs no
# accuracy: scaling by diag(1/d) is exact to rounding (checked against an
# extended-precision QR at g = 3 and 4, where min d ~ 1e-7 and 1e-10). But one step of
# the inverse graded by more than ~1/u resolves nothing of its weak directions (read as
# annihilated: −inf, i.e. +inf exponents of the forward map): measured at g = 30, where
# the tail-accurate σ' reaches 1e-87. With 1 − tanh², d was either above ~1e-16 or exactly
# 0 (a fallback), so 1e20 keeps the split where it always ran.
SPLIT_MAX_STEP_GROWTH = 1e20
# chunks with fewer than this many N² x steps run their two parts one after the
# other: starting threads costs more than it saves (N = 16, 200 steps: 0.7 ms on one
# thread, 1.5 ms on two; N = 32: 2.8 vs 2.1 ms)
SPLIT_THREADS_MIN_WORK = 1e5
SPLIT_PILOT_STEPS = 16      # steps of the pilot run that estimates the spectrum's shape
SPLIT_MIN_HIST_EVERY = 8    # closer history points would cap the blocks (measured: 8 costs 5%)
SPLIT_MIN_GAIN = 0.85       # split only if predicted to cost < 85% of forward QR
SPLIT_TOL_FACTOR = 3.0      # the J^-T part uses tol·min(1, 3/sqrt(κ(W))) (measured)
# 'auto' realises about this fraction of the interval log(tol/u)/spread (redone blocks,
# conservative predictions; measured 0.7-0.9)
SPLIT_INTERVAL_FACTOR = 0.7
# Cost model of a block's QR, in N x N x N gemms, x = k/N, fitted at N = 256, 1 thread
# (dgemm 0.65 ms, dgeqrf 1.3 ms, dormqr 0.9 ms; narrow panels run far below the gemm
# rate): dgeqrf QR_GEQRF·g with g = x² - x³/3 (its flops over a gemm's); for k >= N/2
# the next block starts with dormqr (QR_ORMQR·(2x - x²), replacing one tangent gemm),
# else dorgqr (QR_NARROW·g, like the narrow dgeqrf).
QR_GEQRF = 3.0
QR_ORMQR = 1.45
QR_NARROW = 5.5


def _split_tolerance(tol, cond_w):
    """Block tolerance of the inverse-transpose part: W^-1 adds errors up to ~u·κ(W) per
    step that the block estimate does not see; tightening by 3/sqrt(κ(W)) kept the
    measured error at the forward part's level (N = 256, κ(W) ~ 800: tol/10)."""
    return tol * min(1.0, SPLIT_TOL_FACTOR / np.sqrt(cond_w))


def _choose_split(lam, tol, tol_dual, max_interval, threads=1):
    """Number b of bottom exponents to compute with J^-T, from rough exponents ``lam``.

    Predicted cost per step of a part, in units of one N x N x N gemm: tangent
    products (k/N) plus a QR of N x k (see QR_GEQRF, QR_ORMQR, QR_NARROW) every
    s steps, with s = log(tol/u) / (spread of the part's exponents) as 'auto'
    would choose it. The parts' costs add up on one thread; on two (the parts
    run at the same time) the slower part sets the time. Returns (b, predicted
    cost of b, predicted cost of forward only); b = 0 means the split is not
    predicted to be faster.
    """
    lam = np.sort(np.asarray(lam, dtype=float))[::-1]
    N = lam.size
    lf = np.log(tol / _k.UNIT_ROUNDOFF)
    lb = np.log(tol_dual / _k.UNIT_ROUNDOFF)

    def part(spread, k, limit):
        s = max_interval if spread <= 0 else min(max_interval,
                                                 max(1.0, SPLIT_INTERVAL_FACTOR * limit / spread))
        x = k / N
        g = x * x - x ** 3 / 3.0
        if 2 * k >= N:
            qr = QR_GEQRF * g + QR_ORMQR * (2.0 * x - x * x) - x
        else:
            qr = 2.0 * QR_NARROW * g
        return x + qr / s

    forward = part(lam[0] - lam[-1], N, lf)
    best_b, best = 0, forward
    for b in range(1, N):
        k = N - b
        c_top, c_bottom = part(lam[0] - lam[k - 1], k, lf), part(lam[k] - lam[-1], b, lb)
        c = max(c_top, c_bottom) if threads > 1 else c_top + c_bottom
        if c < best:
            best_b, best = b, c
    if best > SPLIT_MIN_GAIN * forward:
        return 0, best, forward
    return best_b, best, forward


def _merge_bases(Qf, Qb):
    """The full basis [Q_top, Q_bottom] from the two parts (re-orthonormalised: in exact
    arithmetic they are orthogonal complements; rounding leaves them a few u apart)."""
    Qt = np.vstack([Qf, Qb[::-1]])
    Q, R = scipy.linalg.qr(Qt.T, mode="economic")
    Q *= np.where(np.diag(R) < 0, -1.0, 1.0)
    return np.ascontiguousarray(Q.T)


def _run_parts(kernel, threads, jobs):
    """kernel(*args) for every args in ``jobs``: at the same time on ``threads`` threads
    if threads > 1 (the kernels release the GIL), else one after the other."""
    if threads <= 1:
        for args in jobs:
            kernel(*args)
        return
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for future in [pool.submit(kernel, *args) for args in jobs]:
            future.result()


def _default_threads():
    """Threads for the split method's two parts: 2 if this process may use 2 cores."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return min(2, cores)


def _run_full(rnn, x0, n_steps, transient, reortho, tol, max_interval, inputs, seed,
              hist_every, max_hist, split, threads):
    """Full spectrum (k = N): the split method where it applies, else the forward QR method.

    split: 'auto' (choose b from a short pilot, or none) or an int b >= 0 (0: forward only).
    threads: 2 runs the two parts of a split at the same time. Call inside blas_threads.
    Returns the same as _run_qr; info also has ``split`` (b), ``split_reason``.
    """
    N = rnn.N
    total = transient + n_steps
    reason = None
    if split == 0:
        reason = "split=0 (forward QR only)"
    elif split == "auto" and reortho != 0:
        reason = "a fixed reortho interval was asked for"
    elif split == "auto" and N < SPLIT_MIN_N:
        reason = f"N < {SPLIT_MIN_N}: nothing to gain"
    cond_w = inv_norm = np.inf
    if reason is None:
        sv = scipy.linalg.svdvals(rnn.W)
        with np.errstate(all="ignore"):
            cond_w, inv_norm = float(sv[0] / sv[-1]), float(1.0 / sv[-1])
        if not (cond_w <= SPLIT_MAX_COND):
            reason = f"W is singular or ill-conditioned (κ(W) = {cond_w:.1e})"
    if reason is not None:
        logsum, hs, hist, info = _run_qr(rnn, x0, n_steps, transient, N, reortho, tol,
                                         max_interval, inputs, seed, hist_every, False,
                                         max_hist)
        info.update(split=0, split_reason=reason, path="forward QR")
        return logsum, hs, hist, info
    tol_dual = _split_tolerance(tol, cond_w)
    Qt = _initial_basis(N, N, seed)
    Wt = np.ascontiguousarray(rnn.W.T)
    Winv = np.ascontiguousarray(scipy.linalg.inv(rnn.W))  # "W^T" of the map J^-T
    form = rnn.form_code
    exact = max_hist > 0
    if not max_hist:
        hist_every = total + 1  # nothing recorded
    logsum = np.zeros(N)
    hs = np.zeros(max(max_hist, 1))
    hist = np.zeros((hs.size, N))
    state = _new_state(transient)
    mode = "pilot" if split == "auto" else "split"
    b = 0 if split == "auto" else int(split)
    pilot_info = None
    parts = None
    for D in _chunks(rnn, x0, total, inputs):
        if mode == "pilot":
            # rough exponents over a few steps choose b; inside the transient the
            # pilot is the start of the run itself, else it runs on a copy
            p = min(SPLIT_PILOT_STEPS, D.shape[0])
            in_transient = transient >= p
            Qp = Qt if in_transient else Qt.copy()
            lp = np.zeros(N)
            sp = _new_state(0)
            _k._qr_lyapunov(Wt, form, np.ascontiguousarray(D[:p]), Qp, lp, np.zeros(1),
                            np.zeros((1, N)), sp, reortho, tol, max_interval, total, False)
            with np.errstate(invalid="ignore"):
                # blocks end at the history points: no interval is longer
                longest = min(max_interval, hist_every) if exact else max_interval
                b, c_split, c_fwd = _choose_split(lp / p, tol, tol_dual, longest, threads)
            pilot_info = {"pilot_steps": p, "predicted_speedup": c_fwd / c_split}
            if in_transient:
                state[0] = p
                D = D[p:]
            if b == 0:
                mode, reason = "forward", "the pilot predicts no gain"
                exact = False
            else:
                mode = "split"
        if mode == "split" and parts is None:
            b = min(b, N - 1)
            st_f, st_b = state.copy(), state.copy()
            parts = [np.ascontiguousarray(Qt[:N - b]), np.ascontiguousarray(Qt[N - b:][::-1]),
                     np.zeros(N - b), np.zeros(b), st_f, st_b,
                     np.zeros((hs.size, N - b)), np.zeros((hs.size, b)), np.zeros(hs.size)]
        if mode == "split" and D.shape[0]:
            dmin = float(D.min())
            ok = dmin > 0.0 and inv_norm / dmin <= SPLIT_MAX_STEP_GROWTH
            if not ok:
                # J singular or nearly so ahead: finish with the forward method
                Qf, Qb, lf, lb, st_f, st_b, hf, hb, hsf = parts
                ran = st_f[0] > state[0]
                if ran:  # else nothing ran: Qt is still the basis
                    Qt = _merge_bases(Qf, Qb)
                logsum = np.concatenate([lf, -lb[::-1]])
                n = int(st_f[2])
                hist[:n] = np.hstack([hf[:n], -hb[:n, ::-1]])
                hs[:n] = hsf[:n]
                state = st_f.copy()
                state[3] = max(st_f[3], st_b[3])
                reason = (f"J singular or ill-conditioned (a zero σ', or ‖W^-1‖·max 1/σ' > "
                          f"{SPLIT_MAX_STEP_GROWTH:.0e}) from step {int(st_f[0])}: "
                          "forward QR from there")
                mode = "forward"
                if not ran:
                    parts = None
        if mode == "split":
            Qf, Qb, lf, lb, st_f, st_b, hf, hb, hsf = parts
            _run_parts(_k._qr_lyapunov,
                       threads if N * N * D.shape[0] >= SPLIT_THREADS_MIN_WORK else 1,
                       [(Wt, form, D, Qf, lf, hsf, hf, st_f, reortho, tol,
                         max_interval, hist_every, exact),
                        (Winv, form, np.ascontiguousarray(1.0 / D), Qb, lb, hs, hb,
                         st_b, reortho, tol_dual, max_interval, hist_every, exact)])
        elif mode == "forward":
            _k._qr_lyapunov(Wt, form, D, Qt, logsum, hs, hist, state, reortho, tol,
                            max_interval, hist_every, exact)
    if mode == "split":
        Qf, Qb, lf, lb, st_f, st_b, hf, hb, hsf = parts
        if int(st_f[2]) != int(st_b[2]) or np.any(hsf[:int(st_f[2])] != hs[:int(st_b[2])]):
            raise RuntimeError("internal error: the two parts recorded different history steps")
        logsum = np.concatenate([lf, -lb[::-1]])
        n = int(st_f[2])
        hist[:n] = np.hstack([hf[:n], -hb[:n, ::-1]])
        info = {"n_blocks": int(st_f[5]), "n_redone": int(st_f[6]),
                "mean_interval": n_steps / st_f[5] if st_f[5] else None,
                "rounding_error_estimate": float(max(st_f[3], st_b[3])),
                "rounding_error_bound": float(max(st_f[4], st_b[4]) / n_steps),
                "split": b, "split_n_blocks": int(st_b[5]), "split_n_redone": int(st_b[6]),
                "split_mean_interval": n_steps / st_b[5] if st_b[5] else None,
                "split_reason": None,
                "path": f"forward QR (top {N - b}) + inverse-transpose QR (bottom {b})"}
    else:
        n = int(state[2])
        info = {"n_blocks": int(state[5]), "n_redone": int(state[6]),
                "mean_interval": n_steps / state[5] if state[5] else None,
                "rounding_error_estimate": float(state[3]),
                "rounding_error_bound": float(state[4] / n_steps),
                "split": b if parts is not None else 0, "split_reason": reason,
                "path": "forward QR" if parts is None else "split, then forward QR"}
    if pilot_info:
        info.update(pilot_info)
    return logsum, hs[:n].astype(np.int64), hist[:n], info
