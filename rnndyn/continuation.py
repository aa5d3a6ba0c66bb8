"""Pseudo-arclength continuation of a fixed-point branch of an RNN map in one
parameter, with eigenvalue monitoring and located fold, flip and
Neimark–Sacker bifurcations.

The parameter p enters affinely: W(p) = WA + p WB and c(p) = cA + p cB, which
covers a gain multiplying W, one bias entry, the strength of a constant input
along a direction, and any single entry of W (see :func:`parametrise`).
"""

import numpy as np

from rnndyn import config
from rnndyn._kernels import fixedpoints as _k
from rnndyn._validate import as_array, as_choice, as_float, as_int, InputError
from rnndyn.fixedpoints import classify, drive
from rnndyn.results import Result, make_meta, result_type

PARAMETERS = ("gain", "bias", "input", "weight")
BIFURCATIONS = ("fold", "flip", "neimark-sacker")
CORRECTOR_MAX_ITER = 8
# A located zero of the Neimark–Sacker test function is a true Neimark–Sacker
# point only if a complex pair sits on the unit circle there; otherwise it is a
# "neutral saddle" (two real eigenvalues with λ_i λ_j = 1) and is not reported.
NS_CIRCLE_TOL = 1e-6
NS_IMAG_TOL = 1e-8


def parametrise(rnn, parameter="gain", *, index=None, direction=None, u=None):
    """The affine dependence W(p) = WA + p WB, c(p) = cA + p cB of one parameter.

    Parameters
    ----------
    rnn : RNN
    parameter : {'gain', 'bias', 'input', 'weight'}
        ``gain``: W(p) = p W (p = 1 is the model); ``bias``: p = b[index];
        ``input``: c(p) = U u + b + p d, the strength of a constant input along
        ``direction`` d (p = 0 is the model); ``weight``: p = W[i, j] with
        ``index`` = (i, j).
    index : int or (int, int)
        Which bias entry or weight entry.
    direction : array_like, shape (N,), optional
        The drive direction d for ``input`` [default: U[:, 0] if the model has
        inputs, else (1, …, 1)/√N].
    u : array_like, shape (M,), optional
        A constant input held fixed (folded into the drive).

    Returns
    -------
    name : str
        'gain', 'b[i]', 'input' or 'W[i,j]'.
    p0 : float
        The parameter's value in the model.
    WA, WB : ndarray, shape (N, N)
    cA, cB : ndarray, shape (N,)
    """
    # W(p) = WA + p WB, c = U u + b (N,) is the vanilla map's parametrisation
    rnn.require("continuation", "parameter continuation")
    parameter = as_choice(parameter, "parameter", PARAMETERS)
    N = rnn.N
    W = np.array(rnn.W)
    c = drive(rnn, u)
    Z, z = np.zeros((N, N)), np.zeros(N)
    if parameter == "gain":
        return "gain", 1.0, Z, W, c, z
    if parameter == "bias":
        i = _index1(index, N)
        cA = c.copy()
        cA[i] -= rnn.b[i]
        cB = z.copy()
        cB[i] = 1.0
        return f"b[{i}]", float(rnn.b[i]), W, Z, cA, cB
    if parameter == "input":
        if direction is None:
            d = np.array(rnn.U[:, 0]) if rnn.M else np.ones(N) / np.sqrt(N)
        else:
            d = as_array(direction, "direction", shape=(N,))
        if not np.any(d):
            raise InputError("direction must not be zero")
        return "input", 0.0, W, Z, c, np.ascontiguousarray(d)
    i, j = _index2(index, N)
    WA = W.copy()
    WA[i, j] = 0.0
    WB = Z.copy()
    WB[i, j] = 1.0
    return f"W[{i},{j}]", float(W[i, j]), WA, WB, c, z


def _index1(index, N):
    if index is None:
        raise InputError("index is required for parameter 'bias' (which bias entry)")
    return as_int(index, "index", minimum=0, maximum=N - 1)


def _index2(index, N):
    if index is None or np.ndim(index) != 1 or len(index) != 2:
        raise InputError(f"index must be a pair (i, j) for parameter 'weight', got {index!r}")
    return (as_int(index[0], "index[0]", minimum=0, maximum=N - 1),
            as_int(index[1], "index[1]", minimum=0, maximum=N - 1))


# ---------------------------------------------------------------- test functions

def bifurcation_functions(eigenvalues):
    """Signed test functions (ψ_fold, ψ_flip, ψ_NS) of a map's fixed point.

    ψ_fold = Π(λ_i − 1), ψ_flip = Π(λ_i + 1), ψ_NS = Π_{i<j}(λ_i λ_j − 1), each
    returned as sign × geometric mean of the factors' moduli, which keeps the sign
    and the zeros while never overflowing (N up to a few hundred).
    ψ_fold changes sign when a real eigenvalue crosses +1, ψ_flip at −1, ψ_NS
    when a complex pair crosses the unit circle (and at neutral saddles,
    λ_i λ_j = 1 with both real, which are not bifurcations).
    """
    lam = np.asarray(eigenvalues, dtype=complex)
    iu = np.triu_indices(lam.size, 1)
    pairs = lam[iu[0]] * lam[iu[1]] - 1.0
    out = []
    for f in (lam - 1.0, lam + 1.0, pairs):
        if f.size == 0:
            out.append(1.0)
            continue
        a = np.abs(f)
        if np.any(a == 0.0):
            out.append(0.0)
            continue
        # conjugate factors pair up, so the product of phases is real: ±1
        sign = np.sign(np.prod(f / a).real)
        out.append(float(sign * np.exp(np.mean(np.log(a)))))
    return out


# ---------------------------------------------------------------- result

@result_type
class ContinuationResult(Result):
    """A fixed-point branch x*(p) with its eigenvalues and bifurcations.

    Attributes
    ----------
    parameter : str
        Name of the continuation parameter ('gain', 'b[i]', 'input', 'W[i,j]').
    values : ndarray, shape (K,)
        Parameter value at each branch point.
    states : ndarray, shape (K, N)
        The fixed point x*(p) at each branch point.
    arclength : ndarray, shape (K,)
        Cumulative pseudo-arclength in (x, p).
    eig_real, eig_imag : ndarray, shape (K, N)
        Eigenvalues of ∂F/∂x, sorted by decreasing modulus.
    stable : ndarray of bool, shape (K,)
        All |λ| < 1.
    n_unstable : ndarray of int, shape (K,)
        Number of eigenvalues with |λ| > 1.
    bifurcations : list of dict
        ``type`` ('fold', 'flip', 'neimark-sacker'), ``parameter`` (the name),
        ``value`` (also under the parameter's name), ``x`` (state), ``index``
        (between branch points index and index+1), ``eigenvalue`` ([re, im]
        of the critical eigenvalue); folds add ``limit_point`` (true when
        the branch turns back, false at a branch point such as a pitchfork);
        Neimark–Sacker points add ``angle`` (arg λ, radians).
    stop_reason : str
        Why the continuation ended.
    meta : dict
    """

    parameter: str
    values: np.ndarray
    states: np.ndarray
    arclength: np.ndarray
    eig_real: np.ndarray
    eig_imag: np.ndarray
    stable: np.ndarray
    n_unstable: np.ndarray
    bifurcations: list
    stop_reason: str
    meta: dict

    @property
    def eigenvalues(self):
        """Complex eigenvalues, shape (K, N)."""
        return self.eig_real + 1j * self.eig_imag


# ---------------------------------------------------------------- the algorithm

def _kernel_evaluator(WA, WB, cA, cB, act, form):
    """evaluate(x, p) -> (F(x) − x, ∂F/∂x, ∂F/∂p) with the numba kernels."""
    N = cA.shape[0]

    def evaluate(x, p):
        W = WA + p * WB
        c = cA + p * cB
        r = np.empty(N)
        J = np.empty((N, N))
        fp = np.empty(N)
        _k._residual_jacobian(W, c, act, form, x, r, J)
        _k._dfdp(W, c, WB, cB, act, form, x, fp)
        return r, J, fp

    return evaluate


def _correct(evaluate, y_pred, t, anchor, sigma, tol):
    """Newton on G(x, p) = 0, t·(y − anchor) = sigma from y_pred; (y, converged, iterations)."""
    N = y_pred.size - 1
    y = y_pred.copy()
    A = np.empty((N + 1, N + 1))
    rhs = np.empty(N + 1)
    for it in range(1, CORRECTOR_MAX_ITER + 1):
        r, J, fp = evaluate(np.ascontiguousarray(y[:N]), y[N])
        A[:N, :N] = J - np.eye(N)
        A[:N, N] = fp
        A[N] = t
        rhs[:N] = r
        rhs[N] = t @ (y - anchor) - sigma
        try:
            dy = np.linalg.solve(A, rhs)
        except np.linalg.LinAlgError:
            return y, False, it
        if not np.all(np.isfinite(dy)):
            return y, False, it
        y -= dy
        scale = max(1.0, float(np.max(np.abs(y))))
        if np.linalg.norm(dy) <= tol * scale:
            r, _, _ = evaluate(np.ascontiguousarray(y[:N]), y[N])
            if np.linalg.norm(r) <= tol * scale:
                return y, True, it
    return y, False, CORRECTOR_MAX_ITER


def _tangent(evaluate, y, t_prev):
    """Unit tangent of the branch at y, oriented along t_prev: [G_x G_p; t_prevᵀ] z = e_{N+1}."""
    N = y.size - 1
    r, J, fp = evaluate(np.ascontiguousarray(y[:N]), y[N])
    A = np.empty((N + 1, N + 1))
    A[:N, :N] = J - np.eye(N)
    A[:N, N] = fp
    A[N] = t_prev
    rhs = np.zeros(N + 1)
    rhs[N] = 1.0
    z = np.linalg.solve(A, rhs)
    z /= np.linalg.norm(z)
    return z if z @ t_prev >= 0 else -z, J


def _sorted_eigs(J):
    lam = np.linalg.eigvals(J)
    return lam[np.lexsort((-lam.imag, -np.abs(lam)))]


def _continue(evaluate, x0, p0, *, direction, stop, n_points, step, max_step, min_step, tol,
              callback=None):
    """The continuation loop, independent of how F is evaluated (see _kernel_evaluator).

    Returns (Y (K, N+1), S (K,), T (K, N+1), eigs (K, N), stop_reason).
    """
    N = x0.size
    y = np.append(x0, p0)
    t = np.zeros(N + 1)
    t[N] = direction
    try:
        t, J = _tangent(evaluate, y, t)
    except np.linalg.LinAlgError:
        raise InputError(f"the branch has no unique tangent at the start p={p0} (a branch "
                         "point or a degenerate fixed point); start at another value") from None
    Y, S, T, E = [y.copy()], [0.0], [t.copy()], [_sorted_eigs(J)]
    h = step
    s = 0.0
    reason = f"reached n_points={n_points}"
    while len(Y) < n_points:
        y_new, ok, iters = _correct(evaluate, y + h * t, t, y, h, tol)
        if ok:
            try:
                t_new, J = _tangent(evaluate, y_new, t)
            except np.linalg.LinAlgError:
                ok = False
        # a sharp turn of the tangent means the step jumped across a tight bend
        if not ok or t_new @ t < 0.95:
            h *= 0.5
            if h < min_step:
                reason = f"step size fell below min_step={min_step:g} at p={y[N]:.12g}"
                break
            continue
        s += h
        if stop is not None and (y_new[N] - stop) * direction > 0:
            # land exactly on p = stop: secant interpolation, then Newton in x at fixed p
            frac = (stop - y[N]) / (y_new[N] - y[N])
            y_new = y + frac * (y_new - y)
            e = np.zeros(N + 1)
            e[N] = 1.0
            y_new, ok, _ = _correct(evaluate, y_new, e, np.zeros(N + 1), stop, tol)
            if ok:
                t_new, J = _tangent(evaluate, y_new, t)
                s += (frac - 1.0) * h
                Y.append(y_new.copy()); S.append(s); T.append(t_new); E.append(_sorted_eigs(J))
            reason = f"reached stop={stop:g}"
            break
        Y.append(y_new.copy()); S.append(s); T.append(t_new); E.append(_sorted_eigs(J))
        if callback is not None:
            callback(1)
        y, t = y_new, t_new
        if iters <= 3:
            h = min(h * 1.5, max_step)
    return np.array(Y), np.array(S), np.array(T), np.array(E), reason


def _locate(evaluate, ya, ta, yb, which, tol, xtol):
    """Zero of test function ``which`` (0 fold, 1 flip, 2 NS) between branch points ya and yb.

    The arc is parametrised by σ = ta·(y − ya) in [0, ta·(yb − ya)]; each trial
    point is corrected onto the branch, and Brent's method (bracketing, so it
    cannot leave the interval) finds the sign change of the test function.
    """
    from scipy.optimize import brentq
    N = ya.size - 1
    s_end = float(ta @ (yb - ya))
    cache = {}

    def point(sig):
        if sig not in cache:
            frac = sig / s_end
            guess = ya + frac * (yb - ya)
            y, ok, _ = _correct(evaluate, guess, ta, ya, sig, tol)
            _, J, _ = evaluate(np.ascontiguousarray(y[:N]), y[N])
            cache[sig] = (y, _sorted_eigs(J))
        return cache[sig]

    def phi(sig):
        return bifurcation_functions(point(sig)[1])[which]

    fa, fb = phi(0.0), phi(s_end)
    if fa == 0.0:
        return point(0.0)
    if fb == 0.0 or fa * fb > 0:
        return point(s_end)
    sig = brentq(phi, 0.0, s_end, xtol=xtol, rtol=4 * np.finfo(float).eps, maxiter=200)
    return point(sig)


def continuation(rnn, parameter="gain", *, index=None, direction=None, u=None, start=None,
                 stop=None, x0=None, n_points=200, step=0.01, max_step=0.1, min_step=1e-9,
                 tol=config.FIXED_POINT_TOL, locate_tol=1e-13, callback=None):
    """Continue a fixed-point branch of x ← F(x; p) in one parameter p.

    Parameters
    ----------
    rnn : RNN
        Either form, any activation; a constant input ``u`` is folded into the drive.
    parameter : {'gain', 'bias', 'input', 'weight'}
        See :func:`parametrise` (with ``index``, ``direction``).
    index : int or (int, int), optional
    direction : array_like, shape (N,), optional
    u : array_like, shape (M,), optional
    start : float, optional
        Parameter value where the branch starts [default: the model's value].
    stop : float, optional
        Stop when p reaches this value (the branch may turn at folds on the way).
        The branch goes towards ``stop``; without it, towards increasing p.
    x0 : array_like, shape (N,), optional
        Guess of the starting fixed point, polished by Newton [default: zeros;
        if Newton fails, the fixed point nearest x0 from a seeded search].
    n_points : int
        Maximum number of branch points (including the start).
    step, max_step, min_step : float
        Initial, largest and smallest pseudo-arclength step in (x, p).
    tol : float
        Corrector tolerance on ‖F(x) − x‖₂ and the Newton step, relative to max(1, ‖y‖∞).
    locate_tol : float
        Arclength tolerance of the bifurcation location.
    callback : callable, optional
        Called with 1 per accepted branch point (progress bars).

    Returns
    -------
    ContinuationResult

    Notes
    -----
    With y = (x, p) and G(y) = F(x; p) − x, each step predicts along the unit
    tangent t (the null vector of [G_x G_p]), y_pred = y + h t, then corrects
    with Newton on G(y) = 0, t·(y − y_prev) = h (Keller's pseudo-arclength
    condition), which passes folds where G_x = J − I is singular. The step
    grows by 1.5 after fast convergence and halves on failure or a sharp turn.

    At every point the eigenvalues λ of J = ∂F/∂x are computed and three
    test functions are monitored: ψ_fold = det(J − I) = Π(λ_i − 1) (a real
    eigenvalue through +1), ψ_flip = det(J + I) (through −1) and
    ψ_NS = Π_{i<j}(λ_i λ_j − 1), the determinant of the bialternate product
    J⊙J − I (a complex pair through |λ| = 1). A sign change between
    consecutive points is located by Brent's method on the arclength, each
    trial point corrected onto the branch. Two crossings of the same kind
    within one step cancel and are missed; ``max_step`` bounds that risk.

    References
    ----------
    H. B. Keller, "Numerical solution of bifurcation and nonlinear eigenvalue
    problems", in Applications of Bifurcation Theory (1977).
    Yu. A. Kuznetsov, Elements of Applied Bifurcation Theory, 3rd ed. (2004),
    §10.2 (continuation) and §10.3 (test functions for maps).
    """
    name, p_model, WA, WB, cA, cB = parametrise(rnn, parameter, index=index,
                                                 direction=direction, u=u)
    N = rnn.N
    p_start = p_model if start is None else as_float(start, "start")
    stop = None if stop is None else as_float(stop, "stop")
    if stop is not None and stop == p_start:
        raise InputError(f"stop must differ from start ({p_start})")
    sense = 1.0 if stop is None or stop > p_start else -1.0
    n_points = as_int(n_points, "n_points", minimum=2)
    step = as_float(step, "step", minimum=0.0, strict_minimum=True)
    max_step = as_float(max_step, "max_step", minimum=step)
    min_step = as_float(min_step, "min_step", minimum=0.0, strict_minimum=True)
    tol = as_float(tol, "tol", minimum=0.0, strict_minimum=True)
    locate_tol = as_float(locate_tol, "locate_tol", minimum=0.0, strict_minimum=True)
    x0 = np.zeros(N) if x0 is None else as_array(x0, "x0", shape=(N,))

    x_start = _starting_point(rnn, WA, WB, cA, cB, p_start, x0, tol)
    evaluate = _kernel_evaluator(WA, WB, cA, cB, rnn.act_code, rnn.form_code)
    Y, S, T, E, reason = _continue(evaluate, x_start, p_start, direction=sense, stop=stop,
                                   n_points=n_points, step=step, max_step=max_step,
                                   min_step=min_step, tol=tol, callback=callback)
    bifs = _bifurcations(evaluate, Y, T, E, name, tol, locate_tol)
    K = len(Y)
    kinds = [classify(E[k]) for k in range(K)]
    params = {"parameter": parameter, "name": name, "index": index,
              "direction": None if direction is None else np.asarray(direction).tolist(),
              "u": None if u is None else np.atleast_1d(np.asarray(u, float)).tolist(),
              "start": p_start, "stop": stop, "n_points": n_points, "step": step,
              "max_step": max_step, "min_step": min_step, "tol": tol,
              "locate_tol": locate_tol}
    return ContinuationResult(
        parameter=name, values=np.ascontiguousarray(Y[:, N]),
        states=np.ascontiguousarray(Y[:, :N]), arclength=S,
        eig_real=np.ascontiguousarray(E.real), eig_imag=np.ascontiguousarray(E.imag),
        stable=np.array([k == "stable" for k, _ in kinds]),
        n_unstable=np.array([n for _, n in kinds], dtype=np.int64),
        bifurcations=bifs, stop_reason=reason, meta=make_meta(params, model=rnn))


def _starting_point(rnn, WA, WB, cA, cB, p, x0, tol):
    """The fixed point at parameter p: Newton from x0, else the nearest found by a search."""
    from rnndyn.fixedpoints import _newton, fixed_points
    from rnndyn.models import RNN
    at_p = RNN(WA + p * WB, None, cA + p * cB, rnn.activation, rnn.form)
    c = np.array(at_p.b)
    x, _, ok = _newton(at_p, c, x0.copy(), tol, 100)
    if ok:
        return x
    found = fixed_points(at_p, n_starts=32, starts=x0[None, :], seed=0)
    if not len(found.points):
        raise InputError(f"no fixed point found at the start value {p}; pass another x0 or start")
    k = int(np.argmin(np.linalg.norm(found.points - x0, axis=1)))
    return found.points[k].copy()


def _bifurcations(evaluate, Y, T, E, name, tol, locate_tol):
    """Detect sign changes of the test functions along the branch and locate them."""
    N = Y.shape[1] - 1
    psi = np.array([bifurcation_functions(E[k]) for k in range(len(Y))]).reshape(len(Y), 3)
    out = []
    for k in range(len(Y) - 1):
        for which, kind in enumerate(BIFURCATIONS):
            if psi[k, which] * psi[k + 1, which] > 0 or psi[k, which] == 0.0:
                continue
            y, lam = _locate(evaluate, Y[k], T[k], Y[k + 1], which, tol, locate_tol)
            info = {"type": kind, "parameter": name, "value": float(y[N]), name: float(y[N]),
                    "x": y[:N].tolist(), "index": k}
            if which == 0:
                crit = lam[np.argmin(np.abs(lam - 1.0))]
                # the branch turns back (a saddle-node) iff dp/ds changes sign
                info["limit_point"] = bool(T[k][N] * T[k + 1][N] < 0)
            elif which == 1:
                crit = lam[np.argmin(np.abs(lam + 1.0))]
            else:
                cplx = lam[np.abs(lam.imag) > NS_IMAG_TOL]
                if cplx.size == 0 or np.min(np.abs(np.abs(cplx) - 1.0)) > NS_CIRCLE_TOL:
                    continue  # a neutral saddle, not a bifurcation
                crit = cplx[np.argmin(np.abs(np.abs(cplx) - 1.0))]
                crit = crit if crit.imag > 0 else np.conj(crit)
                info["angle"] = float(np.angle(crit))
            info["eigenvalue"] = [float(crit.real), float(crit.imag)]
            out.append(info)
    return out
