"""Lyapunov exponents and finite-time growth rates of RNN maps.

The gradient ∂x_T/∂x_k of BPTT is the product of one-step Jacobians
J_t = W diag(σ'(x_{t-1})) (pascanu) or diag(σ'(a_t)) W (elman) along the
trajectory (Pascanu et al. 2013, eq. 5). Lyapunov exponents are the asymptotic
growth rates of such products (natural log per step): gradients explode
along directions with λ > 0 and vanish at rate λ along the others.
"""

import numpy as np

from rnndyn._kernels import lyapunov as _k
from rnndyn._validate import as_array, as_float, as_int, as_rng, InputError
from rnndyn.models import RNN
from rnndyn.results import Result, make_meta, result_type

from rnndyn._lyapunov_runs import (BLAS_THREADS, SCALE_W_ABOVE, SMALL_N_MAX, _chunks,  # noqa: F401
                                   _initial_basis, _run_qr, _run_small, _tangent_scale)
from rnndyn._lyapunov_split import (SPLIT_MIN_HIST_EVERY, SPLIT_MIN_N, _choose_split,  # noqa: F401
                                    _default_threads, _run_full, _run_parts)
from rnndyn._threads import _OPENBLAS, scipy_openblas_threads as blas_threads  # noqa: F401

# Default number of points of a convergence history.
HISTORY_POINTS = 400
# Ensembles with at most this many units run in parallel over the members with
# loop kernels; larger networks run two members at a time (threads, one BLAS thread
# each) through the BLAS/LAPACK kernel.
ENSEMBLE_PARALLEL_MAX_N = 64


@result_type
class LyapunovResult(Result):
    """Lyapunov spectrum (QR method).

    Attributes
    ----------
    exponents : ndarray (k,)
        λ_1 >= ... >= λ_k, natural log per step; -inf for directions that were
        exactly annihilated (σ' = 0, e.g. dead relu units).
    sum : float
        Σ of the k exponents (the phase-space contraction rate when k = N).
    kaplan_yorke_dimension : float
        j + (λ_1+…+λ_j)/|λ_{j+1}| with j the largest index whose partial sum is
        >= 0; 0 if λ_1 < 0; N if every partial sum is >= 0 and k = N; NaN
        (undetermined) if k < N and every partial sum is >= 0.
    n_positive : int
        Number of exponents > 0 (strictly: the neutral exponent of a limit cycle
        or torus lands on either side of 0 by O(1/T) at finite T).
    history_steps : ndarray (H,)
        Steps after the transient at which the running estimates were recorded.
    history : ndarray (H, k)
        Running estimates (1/t) Σ log|R_jj|; column j belongs to ``exponents[j]``.
    n_steps, transient : int
    meta : dict
        Parameters, the model, and ``n_blocks``, ``n_redone`` (blocks 'auto'
        computed twice, shorter), ``mean_interval`` (steps per
        re-orthonormalisation) and ``rounding_error_estimate`` (see Notes of
        :func:`lyapunov_spectrum`); for k = N also ``split`` (b, 0 if none),
        ``split_reason`` (why not, or None), ``path``, and with a split
        ``split_mean_interval``, ``split_n_blocks``, ``split_n_redone`` (the
        J^-T part) and, when chosen by 'auto', ``pilot_steps`` and
        ``predicted_speedup``.
    """
    exponents: np.ndarray
    sum: float
    kaplan_yorke_dimension: float
    n_positive: int
    history_steps: np.ndarray
    history: np.ndarray
    n_steps: int
    transient: int
    meta: dict


@result_type
class LargestLyapunovResult(Result):
    """Largest exponent (vector method): ``exponent``, running ``history``."""
    exponent: float
    history_steps: np.ndarray
    history: np.ndarray
    n_steps: int
    transient: int
    meta: dict


@result_type
class FiniteTimeResult(Result):
    """Finite-time exponents over consecutive windows of ``window`` steps.

    ``exponents`` (n_windows, k), row i from steps i·window … (i+1)·window after
    the transient (``window_start``); ``mean`` and ``std`` over the windows.
    """
    exponents: np.ndarray
    window_start: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    window: int
    n_steps: int
    transient: int
    meta: dict


@result_type
class LyapunovEnsembleResult(Result):
    """Spectra of an ensemble of runs (initial states and/or weight draws).

    ``exponents`` (B, k), each row descending; ``mean``/``std`` (k) over the
    members, index by index; per member ``sum``, ``kaplan_yorke_dimension``,
    ``n_positive`` (B,).
    """
    exponents: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    sum: np.ndarray
    kaplan_yorke_dimension: np.ndarray
    n_positive: np.ndarray
    n_steps: int
    transient: int
    meta: dict


# ------------------------------------------------------------------ derived quantities

def kaplan_yorke_dimension(exponents, n_units=None):
    """Kaplan–Yorke (Lyapunov) dimension of a descending spectrum.

    Parameters
    ----------
    exponents : array_like
        λ_1 >= λ_2 >= … (natural log per step); -inf allowed.
    n_units : int, optional
        N; when given and larger than ``len(exponents)``, a spectrum whose
        partial sums never turn negative gives NaN (undetermined).

    Returns
    -------
    float

    Notes
    -----
    D_KY = j + (λ_1 + … + λ_j) / |λ_{j+1}|, with j the largest index such that
    λ_1 + … + λ_j >= 0 (Kaplan & Yorke 1979; Frederickson et al. 1983).
    """
    lam = np.sort(np.asarray(exponents, dtype=float))[::-1]
    if lam.size == 0 or lam[0] < 0:
        return 0.0
    partial = np.cumsum(lam)
    # the partial sums of a descending spectrum are concave, so {j : sum >= 0} is a prefix
    neg = np.flatnonzero(~(partial >= 0))
    j = int(neg[0]) if neg.size else int(partial.size)
    if j == lam.size:
        if n_units is not None and n_units > lam.size:
            return float("nan")
        return float(lam.size)
    nxt = lam[j]
    if not np.isfinite(nxt):
        return float(j)
    return float(j + partial[j - 1] / abs(nxt))


# ------------------------------------------------------------------ validation helpers

def _check_rnn(rnn):
    if not isinstance(rnn, RNN):
        raise InputError(f"rnn must be an rnndyn.models.RNN, got {type(rnn).__name__}")
    return rnn


def _reortho_code(reortho):
    """'auto' -> 0 (adaptive), an int >= 1 -> that fixed interval."""
    if isinstance(reortho, str):
        if reortho.strip().lower() == "auto":
            return 0
        raise InputError(f"reortho must be 'auto' or an integer >= 1, got {reortho!r}")
    return as_int(reortho, "reortho", minimum=1)


def _common(rnn, x0, n_steps, transient, seed):
    rnn = _check_rnn(rnn)
    x0 = as_array(x0, "x0", shape=(rnn.S,))
    n_steps = as_int(n_steps, "n_steps", minimum=1)
    transient = as_int(transient, "transient", minimum=0)
    as_rng(seed)  # validate early
    return rnn, x0, n_steps, transient


# ------------------------------------------------------------------ public API

def lyapunov_spectrum(rnn, x0, n_steps, *, k=None, transient=100, reortho="auto", tol=1e-8,
                      inputs=None, history=True, seed=0, max_interval=64, split="auto",
                      threads=None):
    """Lyapunov spectrum (top ``k`` exponents) of an RNN by the QR method.

    Parameters
    ----------
    rnn : rnndyn.models.RNN
    x0 : array_like, shape (N,)
        Initial state. (The zero state of a bias-free network is a fixed point:
        starting there gives the exponents of that point only.)
    n_steps : int
        Number of steps T averaged over, after the transient.
    k : int, optional
        Number of exponents (1 <= k <= N); all N by default.
    transient : int
        Steps run first, whose growth is discarded (the basis still turns
        towards the leading directions during them).
    reortho : 'auto' or int
        Steps between QR re-orthonormalisations: an int fixes the interval
        (1 = QR every step, the reference); 'auto' chooses it block by block
        so that the estimated rounding error of every block stays below ``tol``.
        In both, a column whose largest entry leaves [1e-150, 1e150] inside a
        block is rescaled by a power of 2 (exact; its log is added to the sums),
        so strong contraction cannot underflow to a fake -inf. A fixed interval
        is a cap: a block whose estimated error exceeds 1e-6 (|R_jj| near
        rounding level) is redone shorter, and the next 8 blocks stay at that
        length (``meta['n_redone']``, ``meta['mean_interval']`` show it).
    tol : float
        Target relative rounding error of log|R_jj| per block for 'auto'.
    inputs : array_like, shape (transient + n_steps, M), optional
        u_1 … u_{transient+n_steps}; zeros (autonomous network) when omitted.
    history : bool
        Record the running estimates (about 400 points; for the full spectrum
        with ``reortho='auto'`` at least 8 steps apart, see Notes).
    seed : int
        Seed of the random initial orthonormal basis.
    max_interval : int
        Longest re-orthonormalisation interval for 'auto'.
    split : 'auto' or int
        Full spectrum only (k = N): compute the bottom b exponents with the
        inverse-transpose map J^-T (see Notes). 'auto' chooses b from a short
        pilot run, or no split (``meta['split_reason']`` says why); an int
        fixes b (0 = forward QR only, the classical method).
    threads : int, optional
        1 or 2. With 2 the two parts of a split run at the same time, each on
        one thread with a single-threaded BLAS (the parts are independent
        given the trajectory). Default: 2 if this process may use two cores.
        With a fixed ``split`` the result is the same bit for bit; with 'auto'
        b is chosen for the number of threads, so the exponents may differ at
        the level of ``tol``.

    Returns
    -------
    LyapunovResult

    Notes
    -----
    QR (Benettin) method: with Q_0 orthonormal (N x k) and
    J_t Q_{t-1} = Q_t R_t (R_t upper triangular),

        λ_j = (1/T) Σ_{t=1}^{T} log |(R_t)_{jj}|,

    natural log per step (Benettin et al. 1980; Shimada & Nagashima 1979;
    for RNNs Engelken, Wolf & Abbott 2023). Re-orthonormalising only every s
    steps gives the same R products in exact arithmetic, because the R factor
    of J_s…J_1 Q is R_s…R_1. In floating point the block's columns p_j line
    up with the leading direction, and log|R_jj| loses about
    u·‖p_j‖/|R_jj| (u = 2^-53); that ratio is computed for every block and
    reported (``meta['rounding_error_estimate']``, the largest over blocks;
    ``rounding_error_bound``, their sum / T). 'auto' redoes a block that
    exceeds ``tol`` with a shorter interval and predicts the next interval
    from the growth of the ratio, aiming at 85% of log(tol/u) so that few
    blocks are computed twice. The sum of all N exponents equals the mean
    of log|det J_t| along the trajectory.

    Split method (full spectrum). The ratio for column j grows like
    exp((λ_1 - λ_j)s), so the bottom exponents limit the interval. With
    Q = [Q_1 Q_2] (top N - b, bottom b columns) and J Q = Q' R,
    J^-T Q_2 = Q_2' R_22^-T: the complement Q_2 follows J^-T = W^-T diag(1/d)
    (pascanu) or diag(1/d) W^-T (elman) with a lower-triangular factor, i.e. a
    QR method on J^-T with Q_2's columns in reverse order, whose exponents are
    -λ_N >= … >= -λ_{N-b+1}. So the top N - b exponents come from a forward
    QR of N - b columns (spread λ_1 - λ_{N-b}) and the bottom b from a QR
    iteration on J^-T (spread λ_{N-b+1} - λ_N): both allow longer blocks, and
    in exact arithmetic the result is that of QR every step from the same
    start basis. The two parts are independent given the trajectory and
    run at the same time on two threads (``threads``). b minimises a cost
    model (the slower part's time on two threads, the sum on one) fed by a
    pilot of 16 steps (inside the transient when it is long enough). W^-1
    adds errors ~u·κ(W) per step, so the J^-T part uses the tolerance
    tol·min(1, 3/√κ(W)) (measured). Small σ' costs no accuracy (scaling by
    diag(1/d) is exact to rounding), but where κ(W) > 1e10 or J_t is
    singular (a zero σ': dead relu units, tanh saturated to rounding) or so
    nearly singular that one step of J^-T could overflow (‖W^-1‖·max 1/d >
    1e100), the run uses (or continues with) the forward method. Blocks end at the history points, so with ``history`` these are
    at least 8 steps apart whenever a split may be used.
    """
    rnn, x0, n_steps, transient = _common(rnn, x0, n_steps, transient, seed)
    S = rnn.S
    k = S if k is None else as_int(k, "k", minimum=1, maximum=S)
    code = _reortho_code(reortho)
    tol = as_float(tol, "tol", minimum=0.0, strict_minimum=True)
    max_interval = as_int(max_interval, "max_interval", minimum=1)
    if isinstance(split, str):
        if split.strip().lower() != "auto":
            raise InputError(f"split must be 'auto' or an integer >= 0, got {split!r}")
        split = "auto"
    else:
        split = as_int(split, "split", minimum=0, maximum=S - 1)
        if split and k != S:
            raise InputError("split applies to the full spectrum only (k = N)")
        if split:
            rnn.require("split", "the split (dual) Lyapunov method")
    threads = _default_threads() if threads is None else as_int(threads, "threads",
                                                                  minimum=1, maximum=2)
    hist_every = max(1, n_steps // HISTORY_POINTS)
    if k == rnn.N and split != 0 and code == 0 and rnn.N >= SPLIT_MIN_N:
        # blocks end at history points: denser ones would cap the split's blocks
        hist_every = max(hist_every, SPLIT_MIN_HIST_EVERY)
    max_hist = n_steps // hist_every + 1 if history else 0
    if rnn.cell != "vanilla":
        # gated cells: the forward QR method on the full state (2N exponents for the LSTM)
        logsum, hs, hist, info = _run_qr(rnn, x0, n_steps, transient, k, code, tol,
                                         max_interval, inputs, seed, hist_every, False, max_hist)
        info.update(split=0, split_reason=f"the {rnn.cell} cell has no split method",
                    path="forward QR")
    elif _tangent_scale(rnn.W):
        # a W large enough to overflow squared norms: forward QR with W scaled (exact)
        logsum, hs, hist, info = _run_qr(rnn, x0, n_steps, transient, k, code, tol,
                                         max_interval, inputs, seed, hist_every, False, max_hist)
        info.update(split=0, split_reason=f"max|W| > {SCALE_W_ABOVE:g}: forward QR of W "
                    "scaled by a power of two", path="scaled W")
    elif rnn.N <= SMALL_N_MAX and code in (0, 1) and (split == "auto" or split == 0):
        # QR every step (the 'auto' interval's reference) in one fused loop
        logsum, hs, hist, info = _run_small(rnn, x0, n_steps, transient,
                                            _initial_basis(rnn.N, k, seed), inputs,
                                            hist_every, max_hist)
        if k == rnn.N:
            info.update(split=0, split_reason=(
                "split=0 (forward QR only)" if split == 0 else
                "a fixed reortho interval was asked for" if code else
                f"N < {SPLIT_MIN_N}: nothing to gain"),
                        path="small N: fused loops, QR every step")
    elif k == rnn.N:
        # the whole run in SciPy's BLAS/LAPACK (NumPy's own pool would spin on the other
        # core after a call), one thread per part when the split's parts run concurrently
        with blas_threads(BLAS_THREADS if threads <= 1 else 1):
            logsum, hs, hist, info = _run_full(rnn, x0, n_steps, transient, code, tol,
                                               max_interval, inputs, seed, hist_every,
                                               max_hist, split, threads)
    else:
        logsum, hs, hist, info = _run_qr(rnn, x0, n_steps, transient, k, code, tol,
                                         max_interval, inputs, seed, hist_every, False, max_hist)
    lam = logsum / n_steps
    order = np.argsort(-lam, kind="stable")
    lam = lam[order]
    if history:
        if hs.size == 0 or hs[-1] != n_steps:
            hs = np.append(hs, n_steps)
            hist = np.vstack([hist, logsum[None, :]])
        running = hist[:, order] / hs[:, None]
    else:
        hs, running = np.zeros(0, dtype=np.int64), np.zeros((0, k))
    params = {"n_steps": n_steps, "transient": transient, "k": k, "reortho": reortho,
              "tol": tol, "max_interval": max_interval, "inputs": inputs is not None,
              "split": split, "threads": threads}
    meta = make_meta(params, seed=seed, model=rnn, method="QR (Benettin)",
                     units="natural log per step", **info)
    return LyapunovResult(exponents=lam, sum=float(np.sum(lam)),
                          kaplan_yorke_dimension=kaplan_yorke_dimension(lam, S),
                          n_positive=int(np.count_nonzero(lam > 0)), history_steps=hs,
                          history=running, n_steps=n_steps, transient=transient, meta=meta)


def largest_lyapunov(rnn, x0, n_steps, *, transient=100, inputs=None, history=True, seed=0):
    """Largest Lyapunov exponent by the vector method.

    Parameters
    ----------
    rnn, x0, n_steps, transient, inputs
        As in :func:`lyapunov_spectrum`.
    history : bool
        Record the running estimate (about 400 points).
    seed : int
        Seed of the random initial unit vector.

    Returns
    -------
    LargestLyapunovResult

    Notes
    -----
    v_t = J_t v_{t-1} / ‖J_t v_{t-1}‖ and λ_1 = (1/T) Σ_t log ‖J_t v_{t-1}‖
    (Benettin et al. 1980): one matrix-vector product per step. It equals the
    first exponent of the QR method with the same start vector.
    """
    rnn, x0, n_steps, transient = _common(rnn, x0, n_steps, transient, seed)
    hist_every = max(1, n_steps // HISTORY_POINTS)
    max_hist = n_steps // hist_every + 1 if history else 0
    v = as_rng(seed).standard_normal(rnn.S)
    v /= np.linalg.norm(v)
    if rnn.cell != "vanilla":
        # gated cells: QR every step of one vector (= the vector method), J·v by the cell
        logsum, hs, hist, _ = _run_qr(rnn, x0, n_steps, transient, 1, 1, 1e-8, 64, inputs,
                                      seed, hist_every, False, max_hist)
        hist = hist[:, 0]
    elif _tangent_scale(rnn.W):
        # W large enough to overflow squared norms: QR every step of one vector, W scaled
        logsum, hs, hist, _ = _run_qr(rnn, x0, n_steps, transient, 1, 1, 1e-8, 64, inputs,
                                      seed, hist_every, False, max_hist)
        hist = hist[:, 0]
    elif rnn.N <= SMALL_N_MAX:
        logsum, hs, hist, _ = _run_small(rnn, x0, n_steps, transient,
                                         np.ascontiguousarray(v[None, :]), inputs,
                                         hist_every, max_hist)
        hist = hist[:, 0]
    else:
        logsum = np.zeros(1)
        hs = np.zeros(max(max_hist, 1))
        hist = np.zeros((hs.size, 1))
        state = np.array([0.0, float(transient), 0.0])
        with blas_threads(BLAS_THREADS):
            for D in _chunks(rnn, x0, transient + n_steps, inputs):
                _k._largest_lyapunov(rnn.W, rnn.form_code, D, v, logsum, hs, hist, state,
                                     hist_every)
        n_hist = int(state[2]) if history else 0
        hs, hist = hs[:n_hist].astype(np.int64), hist[:n_hist, 0]
    lam = float(logsum[0] / n_steps)
    if history and (hs.size == 0 or hs[-1] != n_steps):
        hs, hist = np.append(hs, n_steps), np.append(hist, logsum[0])
    running = hist / hs if history else np.zeros(0)
    params = {"n_steps": n_steps, "transient": transient, "inputs": inputs is not None}
    meta = make_meta(params, seed=seed, model=rnn, method="vector",
                     units="natural log per step")
    return LargestLyapunovResult(exponent=lam, history_steps=hs, history=running,
                                 n_steps=n_steps, transient=transient, meta=meta)


def finite_time_exponents(rnn, x0, n_steps, window, *, k=1, transient=100, inputs=None,
                          reortho="auto", tol=1e-8, seed=0):
    """Finite-time (local) Lyapunov exponents over consecutive windows.

    Parameters
    ----------
    rnn, x0, n_steps, transient, inputs, reortho, tol, seed
        As in :func:`lyapunov_spectrum`; ``n_steps // window`` whole windows are used.
    window : int
        Window length w in steps (1 <= w <= n_steps).
    k : int
        Number of exponents per window.

    Returns
    -------
    FiniteTimeResult

    Notes
    -----
    λ_j^{(i)} = (1/w) Σ_{t in window i} log |(R_t)_{jj}| with the QR method's
    running basis, which after the transient points along the leading
    (backward Lyapunov) directions. Their spread is the variability a
    truncated BPTT horizon of w steps sees; their mean over windows is the
    exponent λ_j. The block length of 'auto' never crosses a window edge.
    See e.g. Abarbanel, Brown & Kennel (1991), J. Nonlinear Sci. 1, 175.
    """
    rnn, x0, n_steps, transient = _common(rnn, x0, n_steps, transient, seed)
    window = as_int(window, "window", minimum=1, maximum=n_steps)
    k = as_int(k, "k", minimum=1, maximum=rnn.S)
    code = _reortho_code(reortho)
    tol = as_float(tol, "tol", minimum=0.0, strict_minimum=True)
    n_win = n_steps // window
    used = n_win * window
    logsum, hs, hist, info = _run_qr(rnn, x0, used, transient, k, code, tol, 64, inputs, seed,
                                     window, True, n_win)
    if hs.size != n_win or np.any(hs != window * np.arange(1, n_win + 1)):
        raise RuntimeError("internal error: window edges were not all recorded")
    cum = np.vstack([np.zeros((1, k)), hist])
    with np.errstate(invalid="ignore"):
        ft = np.diff(cum, axis=0) / window
    # -inf - (-inf) is NaN: a direction annihilated earlier stays annihilated
    ft[np.isnan(ft)] = -np.inf
    # columns in the order of the exponents (descending over the whole run)
    ft = ft[:, np.argsort(-logsum, kind="stable")]
    with np.errstate(invalid="ignore"):
        mean = np.mean(ft, axis=0)
        std = np.std(ft, axis=0) if n_win > 1 else np.zeros(k)
    std[~np.isfinite(std)] = 0.0
    params = {"n_steps": n_steps, "window": window, "k": k, "transient": transient,
              "reortho": reortho, "tol": tol, "inputs": inputs is not None}
    meta = make_meta(params, seed=seed, model=rnn, method="QR (Benettin), windowed",
                     units="natural log per step", **info)
    return FiniteTimeResult(exponents=ft, window_start=window * np.arange(n_win),
                            mean=mean, std=std, window=window, n_steps=used,
                            transient=transient, meta=meta)


def lyapunov_ensemble(models, X0, n_steps, *, k=None, transient=100, inputs=None, seed=0):
    """Spectra of several runs: initial states, weight draws, or both.

    Parameters
    ----------
    models : RNN or sequence of RNN
        One network for every member, or one per member (e.g. different weight
        seeds); all with the same N and form.
    X0 : array_like (B, N) or (N,), or int
        Initial states, one per member (a single state is shared); an int B
        draws B seeded states x0 ~ N(0, 1).
    n_steps, k, transient, inputs
        As in :func:`lyapunov_spectrum` (the inputs are shared).
    seed : int
        Seed of the random states (when X0 is an int) and of the start basis,
        the same for every member (as ``lyapunov_spectrum(..., seed=seed)``).

    Returns
    -------
    LyapunovEnsembleResult

    Notes
    -----
    Every member uses the QR method with a QR every step. Networks with
    N <= 64 run in parallel over the members (numba ``prange``; loop kernels
    without BLAS, so that no two BLAS thread pools compete); larger ones run
    two members at a time on two threads, each through the BLAS/LAPACK kernel
    of :func:`lyapunov_spectrum` with ``reortho=1`` and one BLAS thread. λ_j as in
    :func:`lyapunov_spectrum`; ``mean`` and ``std`` are over members.
    """
    rnns = [models] if isinstance(models, RNN) else list(models)
    if not rnns or not all(isinstance(r, RNN) for r in rnns):
        raise InputError("models must be an RNN or a non-empty sequence of RNN")
    N, form, cell = rnns[0].S, rnns[0].form, rnns[0].cell
    if any(r.S != N or r.form != form or r.cell != cell for r in rnns):
        raise InputError("models must all have the same number of units N, the same form and "
                         "the same cell")
    n_steps = as_int(n_steps, "n_steps", minimum=1)
    transient = as_int(transient, "transient", minimum=0)
    k = N if k is None else as_int(k, "k", minimum=1, maximum=N)
    rng = as_rng(seed)
    if isinstance(X0, (int, np.integer)) and not isinstance(X0, bool):
        B = as_int(X0, "X0", minimum=1)
        if len(rnns) > 1 and B != len(rnns):
            raise InputError(f"X0 asks for {B} states but {len(rnns)} models were given")
        X0 = rng.standard_normal((B, N))
    else:
        X0 = as_array(X0, "X0")
        if X0.ndim == 1:
            X0 = X0.reshape(1, -1)
        if X0.ndim != 2 or X0.shape[1] != N:
            raise InputError(f"X0 must have shape (B, {N}) or ({N},), got {X0.shape}")
    B = max(X0.shape[0], len(rnns))
    if X0.shape[0] not in (1, B) or len(rnns) not in (1, B):
        raise InputError(f"{len(rnns)} models and {X0.shape[0]} initial states do not match")
    X0 = np.ascontiguousarray(np.broadcast_to(X0, (B, N)))
    members = [rnns[b if len(rnns) > 1 else 0] for b in range(B)]
    total = transient + n_steps
    if N <= ENSEMBLE_PARALLEL_MAX_N and cell == "vanilla":
        D = np.empty((B, total, N))
        for b, r in enumerate(members):
            D[b] = next(_chunks(r, X0[b], total, inputs, step=total))
        W = np.ascontiguousarray(np.stack([r.W for r in members]))
        Qt = np.ascontiguousarray(np.broadcast_to(_initial_basis(N, k, seed), (B, k, N)))
        out = np.empty((B, k))
        _k._qr_lyapunov_batch(W, members[0].form_code, D, Qt, transient, out)
        exps = -np.sort(-out, axis=1)
        path = "parallel loops (prange)"
    else:
        exps = np.empty((B, k))

        def member(b):
            exps[b] = lyapunov_spectrum(members[b], X0[b], n_steps, k=k, transient=transient,
                                        reortho=1, inputs=inputs, history=False, seed=seed,
                                        split=0, threads=1).exponents

        threads = min(_default_threads(), B)
        # every member sets the same single BLAS thread, so their contexts cannot clash
        with blas_threads(1):
            _run_parts(member, threads, [(b,) for b in range(B)])
        path = f"members on {threads} thread(s) (BLAS/LAPACK)"
    with np.errstate(invalid="ignore"):
        mean = np.mean(exps, axis=0)
        std = np.std(exps, axis=0)
    mean[np.isnan(mean)] = -np.inf  # only from all -inf columns
    std[~np.isfinite(std)] = 0.0
    params = {"n_steps": n_steps, "transient": transient, "k": k, "members": B,
              "models": len(rnns), "inputs": inputs is not None}
    meta = make_meta(params, seed=seed, model=rnns[0], method="QR (Benettin), every step",
                     path=path, units="natural log per step")
    return LyapunovEnsembleResult(
        exponents=exps, mean=mean, std=std, sum=np.sum(exps, axis=1),
        kaplan_yorke_dimension=np.array([kaplan_yorke_dimension(e, N) for e in exps]),
        n_positive=np.count_nonzero(exps > 0, axis=1), n_steps=n_steps,
        transient=transient, meta=meta)

