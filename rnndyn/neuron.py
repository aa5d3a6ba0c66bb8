"""The one-neuron map x ← w σ(x) + b, analytically: fixed points, their
stability, fold and flip points, the (w, b) bifurcation curves and the cusp,
and the basin boundary.

Everything follows from the fixed-point equation b = h(x) := x − w σ(x)
(Pascanu, Mikolov & Bengio 2013, §2.2; design.md §2). For the smooth
activations here (tanh, the logistic sigmoid) σ' is even, maximal at 0 and
decreasing in |x|, so h has critical points (h' = 1 − w σ'(x) = 0) only when
w > 1/γ, at x = ±x_c(w); between them h decreases, outside it increases. The
fixed points are found by bisection on these monotone pieces, which can
neither miss a root nor return one twice.

Only ``tanh`` and ``sigmoid`` are supported here (relu and linear have no
isolated fold or flip points); :func:`rnndyn.bifurcation.orbit_diagram`
iterates all four activations.
"""

import numpy as np

from rnndyn._validate import as_array, as_choice, as_float, InputError
from rnndyn.activations import GAMMA
from rnndyn.results import Result, make_meta, result_type

SMOOTH = ("tanh", "sigmoid")
# |x| at which the curve parametrisations stop: w = 1/σ'(x) is then ~1e17.
X_MAX = {"tanh": 20.0, "sigmoid": 40.0}
# Bisection stops when the bracket is two adjacent doubles; 2100 halvings
# cover any pair of finite doubles, in practice 60-110 are needed.
_MAX_BISECT = 2100


# ------------------------------------------------------------------ σ and its derivatives

def _check_activation(activation):
    return as_choice(activation, "activation", SMOOTH)


def _s(act, x):
    """σ(x) (the sigmoid through tanh, as everywhere in rnndyn)."""
    if act == "tanh":
        return np.tanh(x)
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _ds(act, x):
    """σ'(x), written so it keeps its relative accuracy in the tails."""
    with np.errstate(over="ignore"):
        if act == "tanh":
            return 1.0 / np.cosh(x) ** 2
        e = np.exp(-np.abs(x))
        return e / (1.0 + e) ** 2


def _sigma_over_dsigma(act, x):
    """σ(x)/σ'(x), accurate in the tails: sinh(x)cosh(x) (tanh), 1 + eˣ (sigmoid)."""
    with np.errstate(over="ignore"):
        if act == "tanh":
            return 0.5 * np.sinh(2.0 * x)
        return 1.0 + np.exp(x)


def _bisect(f, lo, hi, increasing, atol=0.0):
    """Vectorised bisection of a monotone ``f`` on [lo, hi] down to adjacent doubles
    (or to a bracket no wider than ``atol``, scalar or per bracket).

    ``increasing`` (bool array) is the direction of f on each bracket. A bracket
    without a sign change converges to the end nearest the root's side.
    """
    lo, hi = np.broadcast_arrays(np.atleast_1d(np.asarray(lo, dtype=float)),
                                 np.atleast_1d(np.asarray(hi, dtype=float)))
    increasing = np.broadcast_to(increasing, lo.shape)
    for _ in range(_MAX_BISECT):
        mid = lo + 0.5 * (hi - lo)
        active = (mid > lo) & (mid < hi) & (hi - lo > atol)
        if not active.any():
            break
        below = f(mid) < 0.0
        go_right = np.where(increasing, below, ~below) & active
        lo = np.where(go_right, mid, lo)
        hi = np.where(active & ~go_right, mid, hi)
    # the end with the smaller residual (both are within one ulp of the root)
    return np.where(np.abs(f(lo)) <= np.abs(f(hi)), lo, hi)


def _inverse_dsigma(act, a):
    """x >= 0 with σ'(x) = 1/a for a >= 1/γ (array); NaN for a < 1/γ.

    σ' = 1/cosh²(x) (tanh) and 1/(4 cosh²(x/2)) (sigmoid), so
    x = k·arsinh(√(γa − 1)) with k = 1, 2: well conditioned for every a, unlike
    artanh(√(1 − 1/a)) near a = 1/γ or for large a.
    """
    a = np.asarray(a, dtype=float)
    u = GAMMA[act] * a - 1.0
    k = 1.0 if act == "tanh" else 2.0
    return np.where(u >= 0, k * np.arcsinh(np.sqrt(np.maximum(u, 0.0))), np.nan)


def critical_points(w, activation="tanh"):
    """Where h(x) = x − w σ(x) turns: w σ'(x) = 1, i.e. x = ±x_c(w).

    Parameters
    ----------
    w : float or array_like
    activation : {'tanh', 'sigmoid'}

    Returns
    -------
    float or ndarray
        x_c(w) >= 0 (same shape as ``w``); NaN where w < 1/γ (h monotone).
        The fold points of the b-sweep at fixed w sit at x = ±x_c.

    Notes
    -----
    tanh: σ'(x) = 1/cosh²x, so x_c = arsinh(√(w − 1)); sigmoid:
    σ'(x) = 1/(4 cosh²(x/2)), so x_c = 2 arsinh(√(w/4 − 1)). Equivalent to
    artanh(√(1 − 1/w)) and logit((1 + √(1 − 4/w))/2), but accurate to a few
    ulp for every w (Pascanu et al. 2013, §2.2).
    """
    act = _check_activation(activation)
    scalar = np.ndim(w) == 0
    w = np.atleast_1d(as_array(w, "w"))
    out = np.where(w > 0, _inverse_dsigma(act, np.where(w > 0, w, 0.0)), np.nan)
    return float(out[0]) if scalar else out


# ------------------------------------------------------------------ fixed points

@result_type
class NeuronFixedPoints(Result):
    """All fixed points of x ← w σ(x) + b at P parameter points.

    Attributes
    ----------
    w, b : ndarray, shape (P,)
    x : ndarray, shape (P, 3)
        Fixed points in increasing order, NaN-padded (1, 2 or 3 per point).
    multiplier : ndarray, shape (P, 3)
        w σ'(x*): the derivative of the map at each fixed point.
    stable : ndarray of bool, shape (P, 3)
        |w σ'(x*)| < 1.
    n : ndarray of int, shape (P,)
        Number of fixed points (2 only exactly on a fold).
    boundary : ndarray, shape (P,)
        The basin boundary: the middle, repelling fixed point when there are
        three; NaN otherwise.
    activation : str
    meta : dict
    """
    w: np.ndarray
    b: np.ndarray
    x: np.ndarray
    multiplier: np.ndarray
    stable: np.ndarray
    n: np.ndarray
    boundary: np.ndarray
    activation: str
    meta: dict


def _params(w, b):
    """Broadcast w and b (scalars or 1-D) to two C-contiguous (P,) arrays, or raise."""
    w = as_array(w, "w")
    b = as_array(b, "b")
    if w.ndim > 1 or b.ndim > 1:
        raise InputError(f"w and b must be scalars or 1-D, got shapes {w.shape} and {b.shape}")
    try:
        w, b = np.broadcast_arrays(np.atleast_1d(w), np.atleast_1d(b))
    except ValueError:
        raise InputError(f"w and b must have the same length (or one be a scalar), "
                         f"got {w.size} and {b.size}") from None
    return np.ascontiguousarray(w), np.ascontiguousarray(b)


def fixed_points(w, b, activation="tanh"):
    """Every fixed point of x ← w σ(x) + b, with its multiplier and stability.

    Parameters
    ----------
    w, b : float or array_like (1-D, broadcast against each other)
    activation : {'tanh', 'sigmoid'}

    Returns
    -------
    NeuronFixedPoints

    Notes
    -----
    Fixed points solve b = h(x) = x − w σ(x). They lie in the absorbing
    interval b + w·σ(ℝ). For w <= 1/γ, h is increasing and there is one root.
    Otherwise h increases on (−∞, −x_c), decreases on [−x_c, x_c] and increases
    on (x_c, ∞) (:func:`critical_points`), with one root on each piece whose
    range contains b: on the left piece iff b < h(−x_c), the middle iff
    h(x_c) <= b <= h(−x_c), the right iff b > h(x_c). The pieces are disjoint,
    so no root is missed or counted twice; each is bisected to adjacent
    doubles or to 2 eps (1 + |w| + |b|), the accuracy to which the residual is
    known. Stability: |w σ'(x*)| < 1; the middle root is repelling and
    separates the two basins (Pascanu et al. 2013, §2.2, Fig. 2).
    """
    act = _check_activation(activation)
    w, b = _params(w, b)
    P = w.size
    lo_s, hi_s = (-1.0, 1.0) if act == "tanh" else (0.0, 1.0)
    lo = b + np.minimum(w * lo_s, w * hi_s)
    hi = b + np.maximum(w * lo_s, w * hi_s)
    # the bracket is widened by a few ulp so a root at its edge is not lost to rounding
    pad = 8 * np.spacing(np.maximum(np.abs(lo), np.abs(hi)) + 1.0)
    lo, hi = lo - pad, hi + pad

    def g(x):
        return x - w * _s(act, x) - b

    # a root near 0 would otherwise be chased through ~1000 halvings to the
    # subnormals; g itself is only known to about eps·(|x| + |w| + |b|)
    atol = 2.0 * np.finfo(float).eps * (1.0 + np.abs(w) + np.abs(b))

    xc = _inverse_dsigma(act, np.where(w > 0, w, 0.0))
    fold = np.isfinite(xc)
    xcs = np.where(fold, xc, 0.0)
    h_left = np.where(fold, -xcs - w * _s(act, -xcs), np.nan)   # local max of h
    h_right = np.where(fold, xcs - w * _s(act, xcs), np.nan)    # local min of h
    x = np.full((P, 3), np.nan)
    true = np.ones(P, bool)
    # monotone case: one piece, the whole absorbing interval
    one = _bisect(g, lo, hi, true, atol)
    x[:, 0] = np.where(fold, np.nan, one)
    # three pieces (fold possible)
    if fold.any():
        left_ok = fold & (b < h_left)
        mid_ok = fold & (b >= h_right) & (b <= h_left)
        right_ok = fold & (b > h_right)
        xl = _bisect(g, np.minimum(lo, -xcs), -xcs, true, atol)
        xm = _bisect(g, -xcs, xcs, ~true, atol)
        xr = _bisect(g, xcs, np.maximum(hi, xcs), true, atol)
        cand = np.stack([np.where(left_ok, xl, np.nan), np.where(mid_ok, xm, np.nan),
                         np.where(right_ok, xr, np.nan)], axis=1)
        x[fold] = cand[fold]
    # left-justify: pieces are ordered, so NaNs only need moving to the end
    order = np.argsort(np.isnan(x), axis=1, kind="stable")
    x = np.take_along_axis(x, order, axis=1)
    n = np.sum(np.isfinite(x), axis=1).astype(np.int64)
    mult = w[:, None] * _ds(act, x)
    stable = np.abs(mult) < 1.0
    boundary = np.where(n == 3, x[:, 1], np.nan)
    meta = make_meta({"activation": act, "n_points": P})
    return NeuronFixedPoints(w, b, x, mult, stable & np.isfinite(x), n, boundary, act, meta)


# ------------------------------------------------------------------ bifurcation curves

def _fold_b_offset(act, x):
    """b_fold(x) − b_fold(0), accurate near the cusp x = 0 where it cancels.

    tanh: x − sinh(2x)/2 = −Σ_{k>=1} (2x)^{2k+1} / (2 (2k+1)!);
    sigmoid: −(eˣ − 1 − x) = −Σ_{k>=2} xᵏ/k!. The series are used for |x| < 1/2.
    """
    x = np.asarray(x, dtype=float)
    small = np.abs(x) < 0.5
    xs = np.where(small, x, 0.0)
    series = np.zeros_like(xs)
    if act == "tanh":
        term = 2.0 * xs          # (2x)^{2k+1}/(2k+1)!, starting from k = 0
        for k in range(1, 14):
            term = term * (2.0 * xs) ** 2 / ((2 * k) * (2 * k + 1))
            series = series - 0.5 * term
        with np.errstate(over="ignore", invalid="ignore"):
            direct = x - 0.5 * np.sinh(2.0 * x)
    else:
        term = xs.copy()         # x^k/k!, starting from k = 1
        for k in range(2, 22):
            term = term * xs / k
            series = series - term
        with np.errstate(over="ignore", invalid="ignore"):
            direct = -(np.expm1(x) - x)
    return np.where(small, series, direct)


def _fold_b0(act):
    return 0.0 if act == "tanh" else -2.0


def fold_curve(x, activation="tanh"):
    """The fold (saddle-node) curve in the (w, b) plane, parametrised by the fixed point x*.

    w σ'(x*) = 1 and b = x* − w σ(x*), so ``w = 1/σ'(x*)``,
    ``b = x* − σ(x*)/σ'(x*)`` (tanh: x* − sinh(2x*)/2; sigmoid: x* − 1 − e^{x*}).
    Returns (w, b) arrays shaped like ``x``.
    """
    act = _check_activation(activation)
    x = as_array(x, "x")
    return 1.0 / _ds(act, x), _fold_b0(act) + _fold_b_offset(act, x)


def flip_curve(x, activation="tanh"):
    """The flip (period-doubling) curve: w σ'(x*) = −1, so ``w = −1/σ'(x*)``,
    ``b = x* + σ(x*)/σ'(x*)``. Returns (w, b) arrays shaped like ``x``."""
    act = _check_activation(activation)
    x = as_array(x, "x")
    return -1.0 / _ds(act, x), x + _sigma_over_dsigma(act, x)


def cusp(activation="tanh"):
    """The cusp of the fold curve: where σ''(x*) = 0, at x* = 0 for tanh and sigmoid.

    Returns
    -------
    dict
        ``x``, ``w`` = 1/γ, ``b`` = −σ(0)/γ: (1, 0) for tanh, (4, −2) for sigmoid.
        Inside the cusp's wedge (w > 1/γ, between the two fold branches) the
        neuron is bistable.
    """
    act = _check_activation(activation)
    w, b = fold_curve(np.zeros(1), act)
    return {"x": 0.0, "w": float(w[0]), "b": float(b[0])}


# a fold met at the cusp (x* = 0, w = 1/σ'(0)) is within this of it, in w and x*
CUSP_TOL = 1e-9


def _point(kind, w, b, x, act):
    mult = float(w * _ds(act, x))
    if kind == "fold" and abs(x) <= CUSP_TOL and abs(w * float(_ds(act, 0.0)) - 1.0) <= CUSP_TOL:
        # At the cusp (σ''(0) = 0) the map x -> w σ(x) + b is odd about x* = 0 (tanh with
        # b = 0; sigmoid with w = 4, b = -2): the middle fixed point gives birth to two
        # stable ones symmetrically, a pitchfork, not a saddle-node pair.
        kind = "pitchfork"
    return {"type": kind, "w": float(w), "b": float(b), "x": float(x), "multiplier": mult}


def bifurcation_points(w, b, activation="tanh"):
    """Fold and flip points met along a one-parameter sweep.

    Exactly one of ``w`` and ``b`` is a pair (start, stop), the swept range;
    the other a number.

    Returns
    -------
    list of dict
        Sorted by the swept parameter; each has ``type`` ('fold', 'flip', or
        'pitchfork' for the fold met exactly at the cusp, w = 1/σ'(0), x* = 0),
        ``w``, ``b``, ``x`` (the fixed point) and ``multiplier`` w σ'(x)
        (+1 at a fold, −1 at a flip, to rounding).

    Notes
    -----
    b swept at fixed w: folds (w > 1/γ) at x = ±x_c(w) and flips
    (w < −1/γ) at x = ±x_c(|w|), where σ'(x) = 1/|w|; then b = x − w σ(x).
    w swept at fixed b: the points where the line meets :func:`fold_curve`
    or :func:`flip_curve`; the curve's b(x*) is monotone on x* < 0 and on
    x* >= 0 for both activations, so each half is bisected once for b.
    Both are located to adjacent doubles in x (far below 1e-10).
    """
    act = _check_activation(activation)
    w_range, b_range = np.ndim(w) == 1, np.ndim(b) == 1
    if w_range == b_range:
        raise InputError("give exactly one of w and b as a (start, stop) range")
    out = []
    if b_range:
        w = as_float(w, "w")
        b_lo, b_hi = sorted(as_array(b, "b", shape=(2,)))
        if w != 0.0:
            xc = float(_inverse_dsigma(act, np.array(abs(w))))
            if np.isfinite(xc):
                kind = "fold" if w > 0 else "flip"
                for x in sorted({-xc + 0.0, xc + 0.0}):
                    bb = x - w * float(_s(act, x))
                    if b_lo <= bb <= b_hi:
                        out.append(_point(kind, w, bb, x, act))
        return sorted(out, key=lambda p: p["b"])
    b = as_float(b, "b")
    w_lo, w_hi = sorted(as_array(w, "w", shape=(2,)))
    X = X_MAX[act]
    for kind, curve in (("fold", fold_curve), ("flip", flip_curve)):
        for lo, hi in ((-X, 0.0), (0.0, X)):
            b_lo_end, b_hi_end = curve(np.array([lo, hi]), act)[1]
            increasing = b_hi_end > b_lo_end
            inside = min(b_lo_end, b_hi_end) <= b <= max(b_lo_end, b_hi_end)
            # half-open halves: a crossing exactly at x* = 0 is kept once (right half)
            if not inside or (hi == 0.0 and b == b_hi_end):
                continue
            if kind == "fold":
                # (b_fold(0) − b) + offset: exact near the cusp, where b_fold is flat
                gap = _fold_b0(act) - b
                f = lambda x: gap + _fold_b_offset(act, x)  # noqa: E731
            else:
                f = lambda x: curve(x, act)[1] - b  # noqa: E731
            x = float(_bisect(f, lo, hi, increasing)[0]) + 0.0
            ww = float(curve(np.array([x]), act)[0][0])
            if w_lo <= ww <= w_hi:
                out.append(_point(kind, ww, b, x, act))
    return sorted(out, key=lambda p: p["w"])


def boundary_curve(x0, w, activation="tanh"):
    """The (w, b) curve on which the initial state ``x0`` is the basin boundary.

    Parameters
    ----------
    x0 : float
    w : float or array_like
    activation : {'tanh', 'sigmoid'}

    Returns
    -------
    b : ndarray
        b = x0 − w σ(x0): the bias that makes x0 a fixed point.
    on_boundary : ndarray of bool
        Where that fixed point is the repelling middle one, w σ'(x0) > 1. There
        a trajectory from x0 stays put, and an arbitrarily small change of b
        sends it to one stable branch or the other: the "wall" of the error
        surface (Pascanu et al. 2013, §2.2 and Fig. 6; for the sigmoid,
        x0 = 0.5, w = 5: b = −2.6123).
    """
    act = _check_activation(activation)
    x0 = as_float(x0, "x0")
    w = as_array(w, "w")
    b = x0 - w * float(_s(act, x0))
    return b, w * float(_ds(act, x0)) > 1.0
