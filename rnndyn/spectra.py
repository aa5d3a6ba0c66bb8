"""Spectra of the recurrent matrix and the paper's conditions for vanishing and
exploding gradients.

With λ1 the largest singular value of W and γ = sup|σ'| (1 for tanh, relu and
linear, 1/4 for the logistic sigmoid), every one-step Jacobian has
‖J_t‖₂ <= γ λ1, so ‖∂x_t/∂x_k‖₂ <= (γ λ1)^(t-k):

* λ1 < 1/γ is *sufficient* for vanishing gradients;
* λ1 > 1/γ is *necessary* for exploding gradients (not sufficient).

For a linear RNN ∂x_t/∂x_k = W^(t-k), and the spectral radius ρ decides the
limit t - k → ∞: ρ < 1 is sufficient for vanishing, ρ > 1 necessary for
exploding. For finite lags ρ is the wrong quantity: a non-normal W with ρ < 1
and λ1 > 1 makes ‖W^k‖ grow before it decays (Pascanu et al. 2013, §2.1).
"""

import numpy as np

from rnndyn import activations
from rnndyn._validate import as_array, as_choice, as_int, InputError
from rnndyn.results import Result, make_meta, result_type
from rnndyn._memory import array_bytes, check_request


@result_type
class SpectrumResult(Result):
    """Spectrum of W and the conditions it implies (see :func:`spectrum`).

    Attributes
    ----------
    spectral_radius : float
        ρ(W) = max |eigenvalue|.
    max_singular_value, min_singular_value : float
        λ1(W) = ‖W‖₂ and the smallest singular value.
    gamma : float
        γ = sup |σ'| of ``activation``.
    threshold : float
        1/γ.
    vanishing_guaranteed : bool
        λ1 < 1/γ (sufficient condition).
    exploding_possible : bool
        λ1 > 1/γ (necessary condition; exploding may still not happen).
    criterion : str
        The criterion in words, with the numbers.
    linear_vanishing_guaranteed : bool
        ρ < 1: W^k → 0 (the linear case, as k → ∞).
    linear_exploding_possible : bool
        ρ > 1: ‖W^k‖ → ∞ in the linear case.
    linear_statement : str
    transient_growth : bool
        ρ < 1 < λ1: the linear products vanish eventually but ‖W^k‖ > 1 at k = 1 (a
        non-normal W; for a normal W, λ1 = ρ).
    henrici_departure : float
        sqrt(‖W‖_F² - Σ|μ_i|²)/‖W‖_F, 0 for a normal W (μ the eigenvalues).
    eig_real, eig_imag : ndarray, shape (N,)
        Eigenvalues of W, sorted by decreasing modulus.
    singular_values : ndarray, shape (N,)
        Singular values of W, decreasing.
    log_power_norm : ndarray, shape (K+1,)
        ln ‖W^k‖₂ for k = 0 … K (``max_power`` = K; empty when 0).
    transient_peak, transient_peak_k : float, int
        max_k ‖W^k‖₂ over k <= K and where (1 and 0 when K = 0); the peak may be inf
        for a large K and ρ > 1, its log is ``log_transient_peak``.
    log_transient_peak : float
    activation : str
    meta : dict
    """

    spectral_radius: float
    max_singular_value: float
    min_singular_value: float
    gamma: float
    threshold: float
    vanishing_guaranteed: bool
    exploding_possible: bool
    criterion: str
    linear_vanishing_guaranteed: bool
    linear_exploding_possible: bool
    linear_statement: str
    transient_growth: bool
    henrici_departure: float
    eig_real: np.ndarray
    eig_imag: np.ndarray
    singular_values: np.ndarray
    log_power_norm: np.ndarray
    transient_peak: float
    transient_peak_k: int
    log_transient_peak: float
    activation: str
    meta: dict

    @property
    def eigenvalues(self):
        """The eigenvalues as a complex array."""
        return self.eig_real + 1j * self.eig_imag


def power_norms(W, n_steps):
    """ln ‖W^k‖₂ for k = 0 … n_steps, without overflow or underflow.

    Parameters
    ----------
    W : array_like, shape (N, N)
    n_steps : int

    Returns
    -------
    ndarray, shape (n_steps + 1,)
        -inf from the power at which W^k is exactly zero (nilpotent W).

    Notes
    -----
    The linear RNN's gradient products, ∂x_t/∂x_k = W^(t-k) (Pascanu et al. 2013,
    §2.1), accumulated with renormalisation by :func:`rnndyn.gradflow.backward_products`
    (W scaled by max|W_ij| before any square), so W = 1e200·I gives k·ln 1e200. Small
    problems (K·N³ <= POWER_NUMPY_MAX_WORK) take the same products in NumPy, scaled by
    powers of two, with batched SVDs: the same numbers to ~1e-11 without loading numba.
    """
    W = as_array(W, "W", ndim=2)
    K = as_int(n_steps, "n_steps", minimum=0)
    if W.shape[0] == W.shape[1] and K * W.shape[0] ** 3 <= POWER_NUMPY_MAX_WORK:
        return _power_norms_numpy(W, K)
    from rnndyn.gradflow import backward_products
    from rnndyn.models import RNN
    rnn = RNN(W, None, None, "linear", "pascanu")
    return backward_products(rnn, np.ones((K, rnn.N)))["log_norm"]


# Up to this many K·N³ the powers are formed and their norms taken by NumPy's batched SVD
# (N = 50, K = 100: 40 ms); beyond it the numba kernel's Lanczos iteration is faster, but
# loading numba and its cache costs 0.45 s, most of a one-shot `rnndyn spectrum`.
POWER_NUMPY_MAX_WORK = 3e7
# powers held at once on that path (bounds its memory to 64 N² floats)
_POWER_CHUNK = 64


def _power_norms_numpy(W, K):
    """:func:`power_norms` in NumPy: P_k = P_{k-1} (W/s) rescaled by a power of two at
    every step (exact, so each P_k is W^k up to a known factor), norms by batched SVD."""
    Ws, s = _pow2_split(W)
    N = W.shape[0]
    out = np.full(K + 1, -np.inf)
    out[0] = 0.0 if N else -np.inf
    P = np.eye(N)
    log_scale = 0.0
    chunk, ks, scales = [], [], []
    for k in range(1, K + 1):
        P = P @ Ws
        pmax = float(np.max(np.abs(P)))
        if pmax == 0.0:      # W nilpotent: W^k and every higher power are exactly zero
            break
        if not np.isfinite(pmax):
            out[k:] = np.nan
            break
        e = max(int(np.frexp(pmax)[1]), -1021)
        P = P * np.ldexp(1.0, -e)
        log_scale += e * np.log(2.0) + np.log(s)
        chunk.append(P)
        ks.append(k)
        scales.append(log_scale)
        if len(chunk) == _POWER_CHUNK or k == K:
            _flush_power_norms(chunk, ks, scales, out)
    _flush_power_norms(chunk, ks, scales, out)
    return out


def _flush_power_norms(chunk, ks, scales, out):
    if chunk:
        sv = np.linalg.svd(np.array(chunk), compute_uv=False)[:, 0]
        out[np.array(ks)] = np.log(sv) + np.array(scales)
        chunk.clear()
        ks.clear()
        scales.clear()


def _pow2_split(W):
    """(W / s, s), s the power of two at or just above max|W_ij| (1 for W = 0).

    Scaling by a power of two is exact, so W / s has the eigen- and singular vectors of W
    and its values divided by s; scale first, and no square of an entry overflows.
    """
    wmax = float(np.max(np.abs(W))) if W.size else 0.0
    if not 0.0 < wmax < np.inf:
        return W, 1.0
    s = float(np.ldexp(1.0, max(int(np.frexp(wmax)[1]), -1021)))    # 1/s finite
    return W / s, s


def _fmt(x):
    return f"{x:.4g}"


def spectrum(W_or_rnn, activation=None, *, max_power=0):
    """Spectral radius, largest singular value and the vanishing/exploding conditions.

    Parameters
    ----------
    W_or_rnn : RNN or array_like, shape (N, N)
        The recurrent matrix, or a model whose W and activation are used.
    activation : {'tanh', 'sigmoid', 'relu', 'linear'}, optional
        Sets γ; default the model's activation, or 'tanh' for a bare matrix.
    max_power : int
        K >= 0: also compute ln ‖W^k‖₂ for k <= K (K matrix products).

    Returns
    -------
    SpectrumResult

    Notes
    -----
    ‖∂x_t/∂x_k‖₂ <= Π ‖diag(σ')‖ ‖W‖ <= (γ λ1)^(t-k), so λ1 < 1/γ is sufficient for
    vanishing and λ1 > 1/γ necessary for exploding gradients; for a linear RNN
    ∂x_t/∂x_k = W^(t-k) and ρ < 1 is sufficient for vanishing as t - k → ∞, ρ > 1
    necessary for exploding (Pascanu, Mikolov & Bengio 2013, §2.1 and appendix A.1).
    Both forms (pascanu, elman) have the same bound.
    """
    from rnndyn.models import RNN
    if isinstance(W_or_rnn, RNN):
        W_or_rnn.require("spectra", "the spectrum of W and the vanishing/exploding "
                         "conditions (they assume J = W diag(σ'))")
        W = W_or_rnn.W
        act = W_or_rnn.activation if activation is None else activation
        model = W_or_rnn
    else:
        W = as_array(W_or_rnn, "W", ndim=2)
        if W.shape[0] != W.shape[1] or W.size == 0:
            raise InputError(f"W must be a non-empty square matrix, got shape {W.shape}")
        act = "tanh" if activation is None else activation
        model = None
    act = as_choice(act, "activation", tuple(activations.CODES))
    K = as_int(max_power, "max_power", minimum=0)
    check_request(array_bytes(K + 1, W.shape[0] + 4), f"max_power={K} for N={W.shape[0]}")
    gamma = activations.GAMMA[act]
    # scale before any square: the decompositions and ‖W‖_F² of W / s (s a power of two
    # near max|W_ij|, an exact scaling), then the values times s; 1e200·I gives 1e200
    Ws, s = _pow2_split(W)
    eig_s = np.linalg.eigvals(Ws)
    eig_s = eig_s[np.argsort(-np.abs(eig_s), kind="stable")]
    sv_s = np.linalg.svd(Ws, compute_uv=False)
    with np.errstate(over="ignore"):        # only a product beyond 1e308 is inf
        eig, sv = eig_s * s, sv_s * s
    rho, lam1, lam_min = float(np.abs(eig[0])), float(sv[0]), float(sv[-1])
    thr = 1.0 / gamma
    vanish = lam1 < thr
    explode = lam1 > thr
    if vanish:
        verdict = "vanishing guaranteed (sufficient condition)"
    elif explode:
        verdict = "exploding possible (necessary condition met, not sufficient)"
    else:
        verdict = "at the edge: neither condition holds strictly"
    criterion = (f"λ1 = {_fmt(lam1)} vs 1/γ = {_fmt(thr)} ({act}, γ = {_fmt(gamma)}): "
                 f"{verdict}; Pascanu et al. 2013 §2.1 (λ1 = largest singular value of W)")
    lin_v, lin_e = rho < 1.0, rho > 1.0
    lin = ("vanish as k → ∞ (ρ < 1 sufficient)" if lin_v else
           "may explode (ρ > 1 necessary)" if lin_e else "neither vanish nor explode (ρ = 1)")
    transient = bool(rho < 1.0 < lam1)
    linear_statement = (f"linear case, ∂x_t/∂x_k = W^(t-k), ρ = {_fmt(rho)}: gradients {lin}"
                        + (f"; non-normal W: ρ < 1 but λ1 = {_fmt(lam1)} > 1, so ‖W^k‖ "
                           "grows transiently before it decays" if transient else ""))
    fro2 = float(np.sum(Ws * Ws))          # of W / s: no overflow, and the ratio is s-free
    henrici = float(np.sqrt(max(fro2 - float(np.sum(np.abs(eig_s) ** 2)), 0.0) / fro2)) \
        if fro2 > 0 else 0.0
    if K:
        # ln ‖W^k‖₂ by renormalised products (power_norms): finite for any W and K; the
        # peak is located on the logs, and only its value may be inf (beyond 1e308)
        lpn = power_norms(W, K)
        valid = np.where(np.isnan(lpn) | np.isneginf(lpn), -np.inf, lpn)
        i = int(np.argmax(valid))
        with np.errstate(over="ignore"):
            peak, peak_k = float(np.exp(lpn[i])), i
    else:
        lpn, peak, peak_k = np.zeros(0), 1.0, 0
    meta = make_meta({"activation": act, "max_power": K}, model=model,
                     N=int(W.shape[0]))
    return SpectrumResult(
        spectral_radius=rho, max_singular_value=lam1, min_singular_value=lam_min,
        gamma=gamma, threshold=thr, vanishing_guaranteed=bool(vanish),
        exploding_possible=bool(explode), criterion=criterion,
        linear_vanishing_guaranteed=bool(lin_v), linear_exploding_possible=bool(lin_e),
        linear_statement=linear_statement, transient_growth=transient,
        henrici_departure=henrici, eig_real=np.ascontiguousarray(eig.real),
        eig_imag=np.ascontiguousarray(eig.imag), singular_values=sv, log_power_norm=lpn,
        transient_peak=peak, transient_peak_k=peak_k,
        log_transient_peak=float(lpn[peak_k]) if K else 0.0, activation=act, meta=meta)
