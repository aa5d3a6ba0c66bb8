"""Gradient flow through time: norms of ∂x_T/∂x_k for every lag, their growth rate,
the transport of an error vector, and the per-step Jacobians' spectra.

For a trajectory x_0 … x_T the gradient of a loss E_T on x_T reaches x_k through

    ∂x_T/∂x_k = J_T J_{T-1} … J_{k+1},   J_t = ∂x_t/∂x_{t-1},

with J_t = W diag(σ'(x_{t-1})) (pascanu form) or diag(σ'(a_t)) W (elman form).
Its spectral norm as a function of the lag T - k shows vanishing (decay) or
exploding (growth) gradients directly (Pascanu, Mikolov & Bengio 2013, §2).
"""

import functools

import numpy as np

from rnndyn import config
from rnndyn._kernels import gradflow as _k
from rnndyn._validate import as_array, as_float, as_int, as_rng, InputError
from rnndyn.cells import CAPABILITIES
from rnndyn.results import Result, make_meta, result_type
from rnndyn.simulate import initial_state, trajectory
from rnndyn.spectra import _pow2_split

# matrix-vector pairs allowed per lag; the cases measured need 1-16 (mean 3-6 at N = 50)
DEFAULT_MAX_ITER = 500
# Jacobian statistics are computed on stacks of this many N×N matrices at a time.
_STATS_CHUNK_ELEMENTS = 2_000_000
# jacobian_stats='auto': every step up to AUTO_MIN_JACOBIANS steps, then a stride growing
# with T up to AUTO_MAX_STRIDE. Measured here (1 BLAS thread): eig + SVD of one N×N
# Jacobian cost about 100 N×N products for N = 20 … 200 (10-30 below N = 10), and one
# lag of the backward products costs one such product, so from T = 12,800 the statistics
# cost at most the products' cost; shorter runs analyse 100 Jacobians (0.4 s at N = 100).
AUTO_MIN_JACOBIANS = 100
AUTO_MAX_STRIDE = 128
# x0 is a fixed point (the run sits on it) when ‖x_1 - x_0‖_∞ <= this · max(1, ‖x_0‖_∞)
FIXED_POINT_RTOL = 1e-10


@result_type
class GradFlowResult(Result):
    """Gradient flow along one trajectory (see :func:`gradient_flow`).

    Attributes
    ----------
    lag : ndarray of int, shape (T+1,)
        0 … T; lag ℓ is the product ∂x_T/∂x_{T-ℓ}.
    log_norm : ndarray, shape (T+1,)
        ln ‖∂x_T/∂x_{T-ℓ}‖₂ (0 at lag 0); -inf from the lag at which the product is
        exactly zero; NaN only past a non-finite product.
    log10_norm : ndarray, shape (T+1,)
        The same in base 10.
    log_frob : ndarray, shape (T+1,)
        ln of the Frobenius norm (½ ln N at lag 0).
    rate_per_step : float
        Least-squares slope of ``log_norm`` against lag over ``fit_window`` (natural log
        per step); -inf if the product becomes exactly zero in the window; NaN after a
        state overflow (``overflow_step``), never a number computed from it.
    fit_window : list of int
        [first lag, last lag] of the fit, inclusive.
    bound_rate_per_step : float
        ln(γ λ1(W)): ‖∂x_T/∂x_k‖₂ <= (γ λ1)^(T-k), the paper's bound (vanilla cells;
        NaN for the gated ones, where it does not apply).
    finite : bool
        Every log norm, the rate, the states and the optional arrays are finite. False for
        an exactly zero product (log = -inf), which ``zero_product_lag`` names.
    zero_product_lag : int
        First lag with an exactly zero product, -1 if none.
    nonfinite_lag : int
        First lag with a non-finite product, -1 if none.
    states_finite : bool
        The trajectory x_0 … x_T is finite.
    overflow_step : int or None
        First step t whose state x_t is not finite (the trajectory left float64, e.g. an
        exploding relu or linear network), None if none. Then only the part before it is
        valid: every lag-indexed array describes the products ∂x_s/∂x_{s-ℓ} that end at
        the last finite state s = overflow_step - 1 (lags 0 … s; NaN beyond), the Jacobian
        statistics stop at s, and ``rate_per_step`` is NaN.
    log_norm_hh, log_norm_cc, log10_norm_hh, log10_norm_cc : ndarray, shape (T+1,), or None
        LSTM only: ln (and log10) ‖∂h_T/∂h_{T-ℓ}‖₂ and ‖∂c_T/∂c_{T-ℓ}‖₂, the diagonal
        blocks of the full-state product (the other half of the state held fixed). The
        c→c block is the constant error carousel: the product of the forget gates'
        diagonals plus the paths through h.
    on_fixed_point : bool
        x_0 is a fixed point: the first step moves the state by at most
        ``FIXED_POINT_RTOL`` · max(1, ‖x_0‖_∞) (e.g. x_0 = 0 without bias or inputs). The
        rate is then ln of the fixed point's Jacobian growth, not a trajectory's.
    power_iterations : ndarray of int, shape (T+1,)
        Lanczos matrix-vector pairs used at each lag.
    unconverged_lags : int
        Lags where the spectral norm did not meet ``rtol`` within ``max_iter``.
    jac_t : ndarray of int
        Steps t at which the one-step Jacobian statistics were computed.
    jac_spectral_radius, jac_max_sv, jac_min_sv : ndarray
        ρ(J_t), largest and smallest singular value of J_t at those steps.
    sv_k, sv_lag : ndarray of int
        Times k (and lags T - k) at which top singular values were computed (after an
        overflow the lags count from the last finite state; -1 for a k past it).
    log_sv : ndarray, shape (len(sv_k), n_top)
        ln of the top singular values of ∂x_T/∂x_k (-inf for zero ones, and for those
        below about 1e-308 σ1: a product is held as one matrix with one scale).
    log_delta : ndarray, shape (T+1,), or None
        ln ‖δ_Tᵀ ∂x_T/∂x_{T-ℓ}‖ when ``delta_T`` was given.
    x_final : ndarray, shape (N,)
        x_T (after an overflow: the last finite state, x_{overflow_step - 1}).
    meta : dict
    """

    lag: np.ndarray
    log_norm: np.ndarray
    log10_norm: np.ndarray
    log_frob: np.ndarray
    rate_per_step: float
    fit_window: list
    bound_rate_per_step: float
    finite: bool
    zero_product_lag: int
    nonfinite_lag: int
    states_finite: bool
    power_iterations: np.ndarray
    unconverged_lags: int
    jac_t: np.ndarray
    jac_spectral_radius: np.ndarray
    jac_max_sv: np.ndarray
    jac_min_sv: np.ndarray
    sv_k: np.ndarray
    sv_lag: np.ndarray
    log_sv: np.ndarray
    log_delta: object
    x_final: np.ndarray
    meta: dict
    # last, with defaults: results saved before these fields existed still load
    overflow_step: object = None
    on_fixed_point: bool = False
    log_norm_hh: object = None
    log_norm_cc: object = None
    log10_norm_hh: object = None
    log10_norm_cc: object = None


def _start_vector(N, seed):
    """Unit N(0, I) start vector of the first lag's Lanczos iteration (the kernel copies it).

    For an integer seed it is computed once and cached (a copy is returned): making the
    Generator costs about 1% of a whole N = 50, T = 200 call.
    """
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return _seeded_start_vector(int(N), int(seed)).copy()
    u = as_rng(seed).standard_normal(N)
    return u / np.linalg.norm(u)


@functools.lru_cache(maxsize=64)
def _seeded_start_vector(N, seed):
    u = as_rng(seed).standard_normal(N)
    return u / np.linalg.norm(u)


def _check_rnn(rnn, name="rnn"):
    from rnndyn.models import RNN
    if not isinstance(rnn, RNN):
        raise InputError(f"{name} must be an RNN (rnndyn.models.RNN, e.g. from make_rnn or "
                         f"load_weights), got {type(rnn).__name__}")
    return rnn


def _check_factors(rnn, D):
    _check_rnn(rnn)
    D = as_array(D, "D", ndim=2, finite=False)
    if D.shape[1] != rnn.aux_size:
        raise InputError(f"D must have shape (T, {rnn.aux_size}), got {D.shape}")
    return D


def backward_products(rnn, D, *, store_lags=(), rtol=config.SINGULAR_VALUE_RTOL,
                      max_iter=DEFAULT_MAX_ITER, seed=0):
    """Log norms of every backward product, and the scaled products at chosen lags.

    Parameters
    ----------
    rnn : RNN
    D : array_like, shape (T, A)
        Auxiliary rows from :func:`rnndyn.simulate.trajectory` (vanilla: the derivative
        factors, A = N).
    store_lags : sequence of int
        Lags ℓ (0 … T) whose product ∂x_T/∂x_{T-ℓ} is returned.
    rtol : float
        Stopping rule of the spectral norm, relative: stop when a rigorous bracket
        [lower, upper] of σ1² is at most ``rtol`` · lower wide, or when the σ1² estimate
        changes by at most ``rtol`` (relative) between Lanczos steps.
    max_iter : int
        Matrix-vector pairs allowed per lag.
    seed : int
        Start vector of the first lag's iteration.

    Returns
    -------
    dict
        ``log_norm``, ``log_frob``, ``power_iterations`` (arrays over lags 0 … T),
        ``zero_product_lag``, ``nonfinite_lag``, ``unconverged_lags`` (ints), and
        ``products`` (len(store_lags), S, S), ``log_scale`` (len(store_lags),) with
        ∂x_T/∂x_{T-ℓ} = products[i] · exp(log_scale[i]). For the LSTM also
        ``log_norm_hh`` and ``log_norm_cc``: ln ‖∂h_T/∂h_{T-ℓ}‖₂ and ln ‖∂c_T/∂c_{T-ℓ}‖₂,
        the diagonal blocks of the full-state product (c_{T-ℓ}, resp. h_{T-ℓ}, held fixed).

    Notes
    -----
    P_T = I, P_k = P_{k+1} J_{k+1} (Pascanu et al. 2013, eq. 5), renormalised at each
    step by its Frobenius norm (folded into the diagonal factor) with a running log scale,
    so that the log norms stay finite for any T. Scale comes out before any square: W
    enters divided by a power of two near max|W_ij|, each factor row by its maximum, and a
    product too small to square safely is rescaled first, so growth and decay in both
    directions (weights up to 1e308, products far beyond float64) give finite logs.
    The spectral norm at each lag comes from a Lanczos iteration on P Pᵀ warm-started
    with the previous lag's left singular vector: the left singular vectors (at time T)
    converge as the lag grows (Oseledets), so most lags need 2-5 matrix-vector pairs
    instead of an O(N³) SVD. Every Lanczos estimate is a lower bound of σ1²; an upper
    bound comes from the Kato-Temple inequality with the trace: scaled so that tr(P Pᵀ)
    = 1, λ2 <= 1 - θ, hence λ1 <= θ + r²/(2θ - 1) when the Ritz value θ > 1/2 (r its
    residual, from the tridiagonal matrix; Paige 1971). Where σ1² holds less than half
    of ‖P‖_F², the relative change of the estimate is the rule (Lanczos converges
    superlinearly; measured errors stay below ``rtol``). Measured at N = 50, T = 200:
    3-6 pairs per lag on average, errors 1e-11 to 1e-13 against SVDs;
    a plain warm-started power iteration needed twice the pairs for 1e-9.

    Gated cells: J_{k+1} is formed densely (S × S) from the auxiliary row, scaled by a
    power of two near its largest entry, and multiplied in (one S×S product per lag);
    the LSTM's block norms come from a Lanczos iteration on each block warm-started with
    its left singular vector (its pairs are counted in ``power_iterations``).
    """
    D = _check_factors(rnn, D)
    T = D.shape[0]
    rtol = as_float(rtol, "rtol", minimum=0.0)
    max_iter = as_int(max_iter, "max_iter", minimum=1)
    lags = [as_int(x, "store_lags", minimum=0, maximum=T) for x in np.atleast_1d(store_lags)]
    slot = np.full(T + 1, -1, dtype=np.int64)
    uniq = sorted(set(lags))
    for i, lag in enumerate(uniq):
        slot[lag] = i
    S = rnn.S
    P_store = np.zeros((len(uniq), S, S))
    ls_store = np.full(len(uniq), -np.inf)
    log_sv = np.empty(T + 1)
    log_fro = np.empty(T + 1)
    n_iter = np.zeros(T + 1, dtype=np.int64)
    # the LSTM's h→h and c→c blocks of every product (the kernel fills them as it goes)
    blocks = np.empty((2, T + 1)) if rnn.cell == "lstm" else np.empty((0, 0))
    # an overflow is detected and reported by the kernel (nonfinite_lag); the errstate only
    # matters with NUMBA_DISABLE_JIT, where NumPy scalars would warn about it first
    with np.errstate(over="ignore", invalid="ignore"):
        zero_lag, bad_lag, unconv = _k._backward_products(
            rnn.W, rnn.cell_code, D, _start_vector(S, seed), rtol, max_iter, slot,
            P_store, ls_store, log_sv, log_fro, n_iter, blocks)
    # lags after a zero or non-finite product were never reached: their stored products
    # are zero (log scale -inf) or undefined (NaN)
    for lag in uniq:
        if zero_lag >= 0 and lag >= zero_lag:
            P_store[slot[lag]] = 0.0
            ls_store[slot[lag]] = 0.0
        elif bad_lag >= 0 and lag >= bad_lag:
            P_store[slot[lag]] = np.nan
            ls_store[slot[lag]] = np.nan
    order = [slot[lag] for lag in lags]
    out = {"log_norm": log_sv, "log_frob": log_fro, "power_iterations": n_iter,
           "zero_product_lag": int(zero_lag), "nonfinite_lag": int(bad_lag),
           "unconverged_lags": int(unconv),
           "products": P_store[order], "log_scale": ls_store[order]}
    if rnn.cell == "lstm":
        out["log_norm_hh"], out["log_norm_cc"] = blocks[0], blocks[1]
    return out


def jacobian_product(rnn, D, k):
    """∂x_T/∂x_k as a scaled matrix and a log scale (T = len(D)).

    Parameters
    ----------
    rnn : RNN
    D : array_like, shape (T, N)
        Derivative factors from :func:`rnndyn.simulate.trajectory`.
    k : int
        0 <= k <= T.

    Returns
    -------
    P_scaled : ndarray, shape (N, N)
    log_scale : float
        ∂x_T/∂x_k = P_scaled · exp(log_scale); a zero product is returned as zeros with
        log_scale 0.

    Notes
    -----
    ∂x_T/∂x_k = J_T J_{T-1} … J_{k+1} (Pascanu et al. 2013, eq. 5), accumulated backwards
    from P_T = I with renormalisation; see :func:`backward_products`.
    """
    D = _check_factors(rnn, D)
    T = D.shape[0]
    k = as_int(k, "k", minimum=0, maximum=T)
    out = backward_products(rnn, D, store_lags=[T - k], max_iter=1)
    return out["products"][0], float(out["log_scale"][0])


def transport(rnn, D, delta_T):
    """ln ‖δ_Tᵀ ∂x_T/∂x_{T-ℓ}‖ for ℓ = 0 … T: an error vector carried back in time.

    Parameters
    ----------
    rnn : RNN
    D : array_like, shape (T, A)
    delta_T : array_like, shape (S,)
        ∂E/∂x_T, non-zero (S the state size).

    Returns
    -------
    log_norm : ndarray, shape (T+1,)
        -inf from the lag at which the transported vector is exactly zero.

    Notes
    -----
    δ_k = δ_{k+1} J_{k+1} (row vectors), the backward pass of BPTT (Pascanu et al. 2013,
    eq. 3-5); O(N²) per step, renormalised at every step with a running log scale.
    """
    D = _check_factors(rnn, D)
    delta = as_array(delta_T, "delta_T", shape=(rnn.S,))
    if not np.any(delta):
        raise InputError("delta_T must be non-zero")
    out = np.empty(D.shape[0] + 1)
    with np.errstate(over="ignore", invalid="ignore"):  # see backward_products
        _k._transport(rnn.W, rnn.cell_code, D, delta, out)
    return out


def auto_stride(n_steps):
    """The stride of ``jacobian_stats='auto'`` for a run of ``n_steps`` steps.

    1 up to ``AUTO_MIN_JACOBIANS`` steps, then ⌈T / AUTO_MIN_JACOBIANS⌉ capped at
    ``AUTO_MAX_STRIDE``: an eigenvalue problem and an SVD cost about 100 N×N products, so
    the statistics never cost more than 100 Jacobians or the products themselves.
    """
    T = as_int(n_steps, "n_steps", minimum=0)
    return max(1, min(AUTO_MAX_STRIDE, -(-T // AUTO_MIN_JACOBIANS)))


def _stats_stride(jacobian_stats, T):
    """The stride (0: none) from ``jacobian_stats``: 'auto', a bool or an int >= 0."""
    if isinstance(jacobian_stats, str):
        if jacobian_stats.strip().lower() != "auto":
            raise InputError("jacobian_stats must be 'auto', True (every step), False (none) "
                             f"or an integer stride >= 0, got {jacobian_stats!r}")
        return auto_stride(T)
    if isinstance(jacobian_stats, (bool, np.bool_)):
        return 1 if jacobian_stats else 0
    try:
        return as_int(jacobian_stats, "jacobian_stats", minimum=0)
    except InputError:
        raise InputError("jacobian_stats must be 'auto', True (every step), False (none) "
                         f"or an integer stride >= 0, got {jacobian_stats!r}") from None


def jacobian_spectra(rnn, D, *, stride=1):
    """ρ(J_t), σ_max(J_t) and σ_min(J_t) of the one-step Jacobians, t = 1, 1+stride, …

    Parameters
    ----------
    rnn : RNN
    D : array_like, shape (T, N)
    stride : int
        Every stride-th step (the cost is an eigenvalue problem and an SVD per step,
        about 100 N×N products; see :func:`auto_stride`).

    Returns
    -------
    t, spectral_radius, max_sv, min_sv : ndarray
    """
    D = _check_factors(rnn, D)
    stride = as_int(stride, "stride", minimum=1)
    t = np.arange(1, D.shape[0] + 1, stride)
    if rnn.cell != "vanilla":
        return (t,) + _gated_jacobian_spectra(rnn, D[t - 1])
    N = rnn.N
    rho, smax, smin = (np.empty(len(t)) for _ in range(3))
    chunk = max(1, _STATS_CHUNK_ELEMENTS // (N * N))
    Ws, wscale = _pow2_split(rnn.W)
    for start in range(0, len(t), chunk):
        d = D[t[start:start + chunk] - 1]
        # scale before the decompositions (a 1e155 weight must not reach a square): J/s,
        # s a power of two, has the same eigen- and singular vectors, values divided by s
        with np.errstate(over="ignore", invalid="ignore"):
            J = Ws[None] * d[:, None, :] if rnn.form == "pascanu" else d[:, :, None] * Ws[None]
        ok = np.all(np.isfinite(J), axis=(1, 2))
        sl = slice(start, start + len(d))
        rho[sl], smax[sl], smin[sl] = np.nan, np.nan, np.nan
        if np.any(ok):
            s = np.linalg.svd(J[ok], compute_uv=False)
            idx = np.flatnonzero(ok) + start
            with np.errstate(over="ignore"):    # a value beyond 1e308 is inf, not a warning
                smax[idx], smin[idx] = s[:, 0] * wscale, s[:, -1] * wscale
                rho[idx] = np.max(np.abs(np.linalg.eigvals(J[ok])), axis=1) * wscale
    return t, rho, smax, smin


def _gated_jacobian_spectra(rnn, d):
    """ρ, σ_max, σ_min of the dense one-step Jacobians of a gated cell at the rows d."""
    from rnndyn.simulate import jacobian
    S = rnn.S
    rho, smax, smin = (np.full(len(d), np.nan) for _ in range(3))
    chunk = max(1, _STATS_CHUNK_ELEMENTS // (S * S))
    for start in range(0, len(d), chunk):
        J = np.stack([jacobian(rnn, row) for row in d[start:start + chunk]])
        ok = np.all(np.isfinite(J), axis=(1, 2))
        if np.any(ok):
            idx = np.flatnonzero(ok) + start
            s = np.linalg.svd(J[ok], compute_uv=False)
            smax[idx], smin[idx] = s[:, 0], s[:, -1]
            rho[idx] = np.max(np.abs(np.linalg.eigvals(J[ok])), axis=1)
    return rho, smax, smin


def log_spectral_norm(W):
    """ln ‖W‖₂ without overflow (-inf for W = 0): the SVD of W / max|W_ij|."""
    Ws, s = _pow2_split(as_array(W, "W", ndim=2))
    top = float(np.linalg.svd(Ws, compute_uv=False)[0]) if Ws.size else 0.0
    with np.errstate(divide="ignore"):
        return float(np.log(top)) + float(np.log(s))


def fit_rate(lag, log_norm, window):
    """Least-squares slope of ``log_norm`` against ``lag`` over ``window`` (inclusive).

    -inf when a value in the window is -inf (an exactly zero product), NaN when one is
    NaN or the window has fewer than two lags.
    """
    lo, hi = window
    y = np.asarray(log_norm[lo:hi + 1], dtype=float)
    x = np.asarray(lag[lo:hi + 1], dtype=float)
    if len(y) < 2 or np.any(np.isnan(y)):
        return float("nan")
    if np.any(np.isneginf(y)):
        return float("-inf")
    x = x - x.mean()
    return float(np.dot(x, y - y.mean()) / np.dot(x, x))


def default_fit_window(T):
    """Lags [⌊T/10⌋, T]: the first tenth is skipped while the singular vectors align."""
    return [T // 10, T] if T >= 2 else [0, T]


def gradient_flow(rnn, x0, n_steps, inputs=None, *, k_singular=(), n_top=3,
                  jacobian_stats="auto", delta_T=None, fit=None,
                  rtol=config.SINGULAR_VALUE_RTOL, max_iter=DEFAULT_MAX_ITER, seed=0):
    """Gradient norms ‖∂x_T/∂x_k‖ for every lag along one trajectory.

    Parameters
    ----------
    rnn : RNN
    x0 : array_like, shape (N,), or {'zero', 'random'}
        Initial state ('random': N(0, 1) drawn with ``seed``).
    n_steps : int
        T >= 1; the trajectory is x_0 … x_T.
    inputs : array_like, shape (T, M), optional
        u_1 … u_T (zeros when omitted).
    k_singular : sequence of int
        Times k (0 <= k <= T) at which the top ``n_top`` singular values of ∂x_T/∂x_k
        are computed (an SVD each).
    n_top : int
        How many singular values at each k.
    jacobian_stats : 'auto', bool or int
        Spectral radius and extreme singular values of the one-step Jacobians J_t:
        'auto' (default) every step for short runs and a stride that keeps their cost
        below the products' for long ones (:func:`auto_stride`), True (or 1) every step,
        an int n every n-th step, False (or 0) none.
    delta_T : array_like, shape (N,), optional
        An error vector ∂E/∂x_T to transport back: fills ``log_delta``.
    fit : (int, int), optional
        Lag window of ``rate_per_step``; default :func:`default_fit_window`.
    rtol, max_iter, seed
        Stopping rule, iteration cap and start vector of the spectral norms, see
        :func:`backward_products`.

    Returns
    -------
    GradFlowResult

    Notes
    -----
    ∂x_T/∂x_k = Π_{t=k+1}^{T} J_t with J_t = W diag(σ'(x_{t-1})) (pascanu) or
    diag(σ'(a_t)) W (elman), Pascanu, Mikolov & Bengio (2013), "On the difficulty of
    training recurrent neural networks", ICML, eq. 5-7. Since ‖J_t‖ <= γ λ1(W),
    ``log_norm[ℓ] <= ℓ · bound_rate_per_step``; λ1 < 1/γ guarantees vanishing.
    The products are accumulated backwards with renormalisation (see
    :func:`backward_products`), so the log norms stay finite in both regimes (tested to
    T = 10⁴ at N = 100 and T = 10⁵ at N = 1). An exactly zero product (dead relu units,
    J_t = 0) is reported as log norm -inf and ``finite = False``, never as NaN. A state
    that leaves float64 (``overflow_step``) ends the valid part of the run: the products
    are taken from the last finite state and no rate is given. x_0 a fixed point is
    flagged (``on_fixed_point``): there the rate is the fixed point's, e.g. ln ρ(W) at
    x_0 = 0 in a bias-free network, not that of a typical trajectory.
    """
    _check_rnn(rnn)
    T = as_int(n_steps, "n_steps", minimum=1)
    x0v = initial_state(rnn, x0, seed=seed) if isinstance(x0, str) else \
        as_array(x0, "x0", shape=(rnn.S,))
    # a state leaving float64 is detected and reported below (overflow_step); the errstate
    # only matters with NUMBA_DISABLE_JIT, where NumPy would warn about it first
    with np.errstate(over="ignore", invalid="ignore"):
        X, D = trajectory(rnn, x0v, T, inputs)
    n_top = as_int(n_top, "n_top", minimum=1)
    ks = [as_int(k, "k_singular", minimum=0, maximum=T) for k in np.atleast_1d(k_singular)]
    if fit is None:
        window = default_fit_window(T)
    else:
        try:
            lo, hi = fit
        except (TypeError, ValueError):
            raise InputError(f"fit must be a pair of lags (first, last), got {fit!r}") from None
        window = [as_int(lo, "fit", minimum=0, maximum=T),
                  as_int(hi, "fit", minimum=0, maximum=T)]
        if window[1] - window[0] < 1:
            raise InputError(f"fit window must span at least two lags, got {window}")
    stride = _stats_stride(jacobian_stats, T)
    if delta_T is not None:
        delta_T = as_array(delta_T, "delta_T", shape=(rnn.S,))
        if not np.any(delta_T):
            raise InputError("delta_T must be non-zero")

    # the valid part of the run: up to the last finite state
    bad = np.flatnonzero(~np.all(np.isfinite(X), axis=1))
    overflow_step = int(bad[0]) if bad.size else None
    Tv = T if overflow_step is None else overflow_step - 1
    Dv = D[:Tv]
    with np.errstate(over="ignore", invalid="ignore"):
        move0 = float(np.max(np.abs(X[1] - X[0])))
    on_fixed_point = bool(overflow_step is None and
                          move0 <= FIXED_POINT_RTOL * max(1.0, float(np.max(np.abs(X[0])))))

    lag = np.arange(T + 1)
    ks_valid = [k for k in ks if k <= Tv]
    out = backward_products(rnn, Dv, store_lags=[Tv - k for k in ks_valid], rtol=rtol,
                            max_iter=max_iter, seed=seed)

    def full(a, fill):
        """A lag-indexed array of the valid prefix, padded to lags 0 … T."""
        if Tv == T:
            return a
        b = np.full(T + 1, fill, dtype=a.dtype)
        b[:Tv + 1] = a
        return b

    log_norm = full(out["log_norm"], np.nan)
    log_frob = full(out["log_frob"], np.nan)
    n_iter = full(out["power_iterations"], 0)
    rate = fit_rate(lag, log_norm, window) if overflow_step is None else float("nan")

    n_keep = min(n_top, rnn.S)
    log_sv = np.full((len(ks), n_top), -np.inf)
    stored = dict(zip(ks_valid, zip(out["products"], out["log_scale"])))
    for i, k in enumerate(ks):
        if k not in stored:
            log_sv[i] = np.nan           # after the overflow: no product
            continue
        P, ls = stored[k]
        if not np.all(np.isfinite(P)) or not np.isfinite(ls):
            log_sv[i] = np.nan
            continue
        s = np.linalg.svd(P, compute_uv=False)[:n_keep]
        with np.errstate(divide="ignore"):
            log_sv[i, :n_keep] = np.log(s) + ls
    if n_top > n_keep:
        log_sv[:, n_keep:] = np.nan  # there are only N singular values

    if stride and Tv:
        jt, jrho, jmax, jmin = jacobian_spectra(rnn, Dv, stride=stride)
    else:
        jt = np.zeros(0, dtype=np.int64)
        jrho = jmax = jmin = np.zeros(0)

    log_delta = full(transport(rnn, Dv, delta_T), np.nan) if delta_T is not None else None
    if "gamma-bound" in CAPABILITIES[rnn.cell]:
        with np.errstate(divide="ignore"):
            bound = float(np.log(rnn.gamma)) + log_spectral_norm(rnn.W)
    else:
        bound = float("nan")    # the bound γ λ1(W) is the vanilla cell's (rnndyn.cells)
    blocks = {}
    if rnn.cell == "lstm":
        for key in ("log_norm_hh", "log_norm_cc"):
            blocks[key] = full(out[key], np.nan)
            blocks["log10_" + key[4:]] = blocks[key] / np.log(10.0)
    states_finite = overflow_step is None
    pieces = [log_norm, log_frob, [rate], jrho, jmax, jmin, log_sv[:, :n_keep]]
    pieces += [blocks[k] for k in ("log_norm_hh", "log_norm_cc") if k in blocks]
    if log_delta is not None:
        pieces.append(log_delta)
    finite = states_finite and all(bool(np.all(np.isfinite(p))) for p in pieces)
    params = {"n_steps": T, "k_singular": ks, "n_top": n_top, "jacobian_stride": stride,
              "jacobian_stats": jacobian_stats if isinstance(jacobian_stats, str) else stride,
              "fit": window, "rtol": rtol, "max_iter": max_iter,
              "x0": x0 if isinstance(x0, str) else x0v.tolist(),
              "inputs": "none" if inputs is None else "array",
              "delta_T": None if delta_T is None else delta_T.tolist()}
    meta = make_meta(params, seed=seed, model=rnn,
                     method="backward products with renormalisation; Lanczos on P Pᵀ "
                            "warm-started from the previous lag")
    return GradFlowResult(
        lag=lag, log_norm=log_norm, log10_norm=log_norm / np.log(10.0),
        log_frob=log_frob, rate_per_step=rate, fit_window=window,
        bound_rate_per_step=bound, finite=finite,
        zero_product_lag=out["zero_product_lag"], nonfinite_lag=out["nonfinite_lag"],
        states_finite=states_finite, overflow_step=overflow_step,
        on_fixed_point=on_fixed_point, power_iterations=n_iter,
        unconverged_lags=out["unconverged_lags"], jac_t=jt, jac_spectral_radius=jrho,
        jac_max_sv=jmax, jac_min_sv=jmin, sv_k=np.array(ks, dtype=np.int64),
        sv_lag=np.array([Tv - k if k <= Tv else -1 for k in ks], dtype=np.int64),
        log_sv=log_sv,
        log_delta=log_delta, x_final=X[Tv].copy(), meta=meta, **blocks)
