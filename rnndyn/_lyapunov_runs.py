"""The runs behind rnndyn.lyapunov: the trajectory in chunks, the QR (Benettin) method
on a chunk's auxiliary rows, and the fused small-N kernel. Private: the public functions
and their validation live in :mod:`rnndyn.lyapunov`, the split method in
:mod:`rnndyn._lyapunov_split`."""

import math

import numpy as np
import scipy.linalg

from rnndyn._kernels import lyapunov as _k
from rnndyn._threads import scipy_openblas_threads as blas_threads
from rnndyn._validate import as_rng, InputError
from rnndyn.inputs import check_inputs
from rnndyn.simulate import trajectory_kernel

# Steps of derivative factors held in memory at once (about 32 MB of float64).
_CHUNK_ELEMENTS = 1 << 22
# Networks with at most this many units run the fused small-N kernel (trajectory and
# tangent vectors in one loop, QR every step by Gram-Schmidt, no BLAS and no per-step
# allocation) for largest_lyapunov and for 'auto' / reortho=1 spectra without a split:
# at N = 1..4 a BLAS call per step cost 5-20x the arithmetic (issue 15).
SMALL_N_MAX = 8
# max|W_ij| above which the tangent dynamics run with W scaled by a power of two (the
# QR squares column norms, which overflow near 1e154; well below that nothing changes)
SCALE_W_ABOVE = 1e100
# Threads of SciPy's OpenBLAS (the library the kernels' dgemm/dgeqrf/dormqr run
# in) during a run. One thread is fastest for N up to a few hundred: measured
# here, two threads made N = 100 spectra 6-30x slower on a loaded 2-core machine.
BLAS_THREADS = 1


def _initial_basis(N, k, seed):
    """A seeded random orthonormal N x k basis, transposed (k, N), C-contiguous."""
    G = as_rng(seed).standard_normal((N, k))
    Q, _ = scipy.linalg.qr(G, mode="economic")
    return np.ascontiguousarray(Q.T)


def _chunks(rnn, x0, total, inputs, step=None):
    """Yield the auxiliary rows D (T_chunk, A) of the trajectory from x0, chunk by chunk
    (vanilla: the derivative factors, A = N).

    Chunks bound the memory of long runs; ``step`` (steps per chunk) defaults
    to about 32 MB of factors.
    """
    S, A = rnn.S, rnn.aux_size
    u = check_inputs(inputs, total, rnn.M)
    if step is None:
        step = max(256, _CHUNK_ELEMENTS // max(A, 1))
    x = x0.copy()
    for start in range(0, total, step):
        T = min(step, total - start)
        X = np.empty((T + 1, S))
        D = np.empty((T, A))
        # overflow is checked right below (without the JIT NumPy would warn)
        with np.errstate(over="ignore", invalid="ignore"):
            trajectory_kernel(rnn)(rnn.W, rnn.U, rnn.b, rnn.act_code, rnn.cell_code, x,
                                   np.ascontiguousarray(u[start:start + T]), X, D)
        # a linear map's Jacobian does not depend on the state, so only a
        # nonlinear network needs a finite trajectory
        if rnn.activation != "linear" and not np.all(np.isfinite(X)):
            bad = int(np.argmax(~np.all(np.isfinite(X), axis=1)))
            raise _diverged(rnn, start + bad)
        x = X[-1].copy()
        yield D


def _diverged(rnn, step):
    return InputError(f"the trajectory diverged (non-finite state at step {step}); "
                      f"the exponents of an unbounded {rnn.activation} network are "
                      "undefined: use a smaller gain or a bounded activation")


def _run_small(rnn, x0, n_steps, transient, Qt, inputs, hist_every, max_hist):
    """The fused small-N kernel: QR every step of the k rows of Qt (k = 1: the vector
    method). Returns (logsum, history steps, history, info) as _run_qr."""
    k = Qt.shape[0]
    u = check_inputs(inputs, transient + n_steps, rnn.M)
    logsum = np.zeros(k)
    hs = np.zeros(max(max_hist, 1))
    hist = np.zeros((hs.size, k))
    state = np.zeros(3)
    with np.errstate(over="ignore", invalid="ignore"):
        bad = _k._small_lyapunov(rnn.W, rnn.U, rnn.b, rnn.act_code, rnn.form_code,
                                 x0.copy(), u, Qt, logsum, hs, hist, state, transient,
                                 hist_every)
    # a linear map's Jacobian does not depend on the state (as in _chunks)
    if bad and rnn.activation != "linear":
        raise _diverged(rnn, int(bad))
    n_hist = int(state[0]) if max_hist else 0
    info = {"n_blocks": n_steps, "n_redone": 0, "mean_interval": 1.0,
            "rounding_error_estimate": float(state[1]),
            "rounding_error_bound": float(state[2] / n_steps)}
    return logsum, hs[:n_hist].astype(np.int64), hist[:n_hist], info


def _new_state(transient):
    """State vector of _k._qr_lyapunov: [step, transient, n_hist, max block error,
    sum of block errors, n_blocks, n_redone]."""
    return np.array([0.0, float(transient), 0.0, 0.0, 0.0, 0.0, 0.0])


def _tangent_scale(W):
    """ln s for the power of two s that brings max|W_ij| to about 1, when W is so large
    (above :data:`SCALE_W_ABOVE`) that the QR's squared column norms could overflow;
    0.0 otherwise."""
    wmax = float(np.max(np.abs(W)))
    if not wmax > SCALE_W_ABOVE or not np.isfinite(wmax):
        return 0.0
    return math.frexp(wmax)[1] * math.log(2.0)


def _run_qr(rnn, x0, n_steps, transient, k, reortho, tol, max_interval, inputs, seed,
            hist_every, exact_hist, max_hist):
    # J_t = W D_t: with W / s every product is J / s^t, so every log|R_jj| shrinks by
    # ln s per step, exactly (s a power of two): add it back to the sums
    # (gated cells: J is not W times a diagonal, and their gates bound it: no scaling)
    shift = _tangent_scale(rnn.W) if rnn.cell == "vanilla" else 0.0
    Wt = np.ascontiguousarray(rnn.W.T) if shift == 0.0 else \
        np.ascontiguousarray(rnn.W.T * math.exp(-shift))
    logsum = np.zeros(k)
    hist_steps = np.zeros(max(max_hist, 1))
    hist = np.zeros((hist_steps.size, k))
    state = _new_state(transient)
    with blas_threads(BLAS_THREADS):
        Qt = _initial_basis(rnn.S, k, seed)
        for D in _chunks(rnn, x0, transient + n_steps, inputs):
            _k._qr_lyapunov(Wt, rnn.form_code, D, Qt, logsum, hist_steps, hist, state,
                            reortho, tol, max_interval, hist_every, exact_hist)
    n_hist = int(state[2])
    if shift:
        logsum += shift * n_steps
        hist[:n_hist] += shift * hist_steps[:n_hist, None]
    info = {"n_blocks": int(state[5]), "n_redone": int(state[6]),
            "mean_interval": n_steps / state[5] if state[5] else None,
            "rounding_error_estimate": float(state[3]),
            "rounding_error_bound": float(state[4] / n_steps)}
    return logsum, hist_steps[:n_hist].astype(np.int64), hist[:n_hist], info


# ------------------------------------------------------------------ split (dual) method
