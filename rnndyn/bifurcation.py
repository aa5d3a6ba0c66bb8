"""Bifurcation diagrams of the one-neuron map x ← w σ(x) + b.

* :func:`orbit_diagram`: brute force. Iterate the map at every parameter point
  from one or more initial states, drop a transient, record the rest and
  classify each recorded orbit (fixed point, period p, divergence).
* :func:`bifurcation_diagram`: a one-parameter sweep (b or w): the orbit
  diagram together with every fixed point, its stability, the basin boundary
  and the fold and flip points (from :mod:`rnndyn.neuron`).
* :func:`two_parameter_diagram`: the (w, b) plane: fold and flip curves, the
  cusp, and every grid cell labelled by the attractors found there.

Pascanu, Mikolov & Bengio (2013), §2.2: gradients explode where a small change
of the parameters (a bifurcation) or of the state (a basin boundary) sends the
trajectory to another attractor.
"""

import numpy as np

from rnndyn import neuron
from rnndyn._kernels import orbit as _k
from rnndyn._validate import as_array, as_choice, as_float, as_int, InputError
from rnndyn.activations import CODES
from rnndyn.results import Result, make_meta, result_type
from rnndyn._memory import array_bytes, check_request

# period codes written by the classification kernel
DIVERGENT, UNRESOLVED = -1, 0
# Steps between the orbit kernel's checks for an exact repeat (period 1 or 2 in
# floating point), after which a block is filled in without iterating: the
# results are bitwise those of the full iteration. Stable fixed points of the
# paper's neurons are reached to the last bit in tens of steps, so most of a
# 1000-step transient is skipped; a check costs two copies of 64 states.
CHECK_EVERY = 16


@result_type
class OrbitDiagram(Result):
    """Recorded orbits of x ← w σ(x) + b at P parameter points from K initial states.

    Attributes
    ----------
    w, b : ndarray, shape (P,)
    x0 : ndarray, shape (K,)
        Initial states, each run at every parameter point.
    orbits : ndarray, shape (K, P, R)
        x_{T+1} … x_{T+R} after T = ``n_transient`` discarded steps.
    period : ndarray of int, shape (K, P)
        Smallest period p <= ``max_period`` the recorded orbit repeats with
        (1: fixed point, 2: period-2 cycle, ...), 0 if none (chaotic,
        quasi-periodic, longer period, or not converged within the transient),
        −1 for divergence (non-finite or beyond ``escape``).
    activation : str
    n_transient : int
    meta : dict
    """
    w: np.ndarray
    b: np.ndarray
    x0: np.ndarray
    orbits: np.ndarray
    period: np.ndarray
    activation: str
    n_transient: int
    meta: dict


def orbit_diagram(w, b, *, activation="tanh", x0=0.0, n_transient=1000, n_record=256,
                  max_period=16, rtol=1e-9, atol=1e-12, escape=1e10, out=None):
    """Brute-force orbit diagram of the neuron x ← w σ(x) + b.

    Parameters
    ----------
    w, b : float or array_like
        Scalars or 1-D arrays of the same length P (a scalar is repeated).
    activation : {'tanh', 'sigmoid', 'relu', 'linear'}
    x0 : float or array_like, shape (K,)
        Initial states; each is run at every parameter point.
    n_transient : int
        Steps discarded before recording (T).
    n_record : int
        Steps recorded (R >= 2).
    max_period : int
        Longest period looked for.
    rtol, atol : float
        An orbit has period p if |x_r − x_{r−p}| <= atol + rtol |x_r| for
        every recorded r.
    escape : float
        |x| beyond which the last recorded state counts as divergence.
    out : ndarray, shape (K, P, n_record), float64, C-contiguous, optional
        Where to write the orbits (returned as ``orbits``, not copied): a caller
        drawing many diagrams of one size reuses one array instead of a fresh one
        per call (a fresh 2 GB array costs about 0.4 s of page faults here).

    Returns
    -------
    OrbitDiagram

    Notes
    -----
    x_{t+1} = w σ(x_t) + b (Pascanu et al. 2013, §2.2). The kernel advances
    blocks of 64 parameter points together in a vectorised loop (with a
    vectorisable tanh, within 3 ulp of libm's), blocks in parallel; a block
    whose states repeat exactly (period 1 or 2, to the last bit) is filled in
    without iterating further, which changes no result. Near a fold
    or flip the convergence is slow (the multiplier is near ±1), so orbits
    there may be classified 0 (unresolved) unless ``n_transient`` is raised.
    """
    act = as_choice(activation, "activation", tuple(CODES))
    w, b = neuron._params(w, b)
    x0 = np.atleast_1d(as_array(x0, "x0"))
    if x0.ndim != 1 or x0.size == 0:
        raise InputError(f"x0 must be a number or a non-empty 1-D array, got shape {x0.shape}")
    T = as_int(n_transient, "n_transient", minimum=0)
    R = as_int(n_record, "n_record", minimum=2)
    pmax = as_int(max_period, "max_period", minimum=1)
    rtol = as_float(rtol, "rtol", minimum=0.0)
    atol = as_float(atol, "atol", minimum=0.0)
    escape = as_float(escape, "escape", minimum=0.0, strict_minimum=True)
    K, P = x0.size, w.size
    # all (initial state, parameter) pairs in one flat kernel call, which also
    # classifies each block of orbits while it is in cache (no second pass over X);
    # the only large allocation is X itself, the array returned
    if K == 1:
        W, B = np.ascontiguousarray(w), np.ascontiguousarray(b)
        X0 = np.full(P, x0[0])
    else:
        W = np.ascontiguousarray(np.tile(w, K))
        B = np.ascontiguousarray(np.tile(b, K))
        X0 = np.ascontiguousarray(np.repeat(x0, P))
    if out is not None:
        if not (isinstance(out, np.ndarray) and out.dtype == np.float64 and
                out.shape == (K, P, R) and out.flags.c_contiguous and out.flags.writeable):
            raise InputError(f"out must be a writeable C-contiguous float64 array of shape "
                             f"({K}, {P}, {R}), got "
                             + (f"{out.dtype} {out.shape}" if isinstance(out, np.ndarray)
                                else type(out).__name__))
    # the recorded orbits (unless given), plus the period, the tiles and the
    # classification per pair
    check_request(array_bytes(K * P, (R if out is None else 0) + 6),
                  f"orbits of {K} initial states × {P} parameter values × n_record={R}")
    X = np.empty((K * P, R)) if out is None else out.reshape(K * P, R)
    period = np.empty(K * P, dtype=np.int64)
    with np.errstate(over="ignore", invalid="ignore"):
        _k._orbits(W, B, CODES[act], X0, T, CHECK_EVERY, X, rtol, atol, escape, pmax,
                   period)
    params = {"activation": act, "n_transient": T, "n_record": R, "max_period": pmax,
              "rtol": rtol, "atol": atol, "escape": escape, "n_points": P, "x0": x0}
    return OrbitDiagram(w, b, x0, X.reshape(K, P, R), period.reshape(K, P), act, T,
                        make_meta(params))


# ------------------------------------------------------------------ one-parameter sweep

@result_type
class BifurcationDiagram(Result):
    """A one-parameter bifurcation diagram of x ← w σ(x) + b.

    Attributes
    ----------
    parameter : {'b', 'w'}
        The swept parameter; the other one is constant.
    w, b : ndarray, shape (P,)
    x0 : ndarray, shape (K,)
    orbits : ndarray, shape (K, P, R)
    period : ndarray of int, shape (K, P)
        See :class:`OrbitDiagram`.
    fixed_points : ndarray, shape (P, 3)
        All fixed points, increasing, NaN-padded (:func:`rnndyn.neuron.fixed_points`).
    multiplier : ndarray, shape (P, 3)
        w σ'(x*).
    stable : ndarray of bool, shape (P, 3)
    boundary : ndarray, shape (P,)
        The repelling middle fixed point separating the two basins (NaN
        where the neuron is not bistable).
    bifurcations : list of dict
        Fold and flip points inside the swept range: ``type``, ``w``, ``b``,
        ``x``, ``multiplier`` (:func:`rnndyn.neuron.bifurcation_points`).
    activation : str
    n_transient : int
    meta : dict
    """
    parameter: str
    w: np.ndarray
    b: np.ndarray
    x0: np.ndarray
    orbits: np.ndarray
    period: np.ndarray
    fixed_points: np.ndarray
    multiplier: np.ndarray
    stable: np.ndarray
    boundary: np.ndarray
    bifurcations: list
    activation: str
    n_transient: int
    meta: dict

    @property
    def values(self):
        """The swept parameter's values, shape (P,)."""
        return self.b if self.parameter == "b" else self.w


def bifurcation_diagram(w, b, *, activation="tanh", x0=(-5.0, 5.0), n_transient=1000,
                        n_record=256, max_period=16):
    """Orbit diagram, fixed points, basin boundary and fold/flip points along a sweep.

    Parameters
    ----------
    w, b : float or array_like
        At most one of them a 1-D array of more than one value (the sweep);
        two scalars give a one-point sweep in b.
    activation : {'tanh', 'sigmoid'}
    x0 : float or array_like, shape (K,)
        Initial states of the orbit diagram; the default reaches both stable
        branches of the bistable neurons.
    n_transient, n_record, max_period
        As in :func:`orbit_diagram`.

    Returns
    -------
    BifurcationDiagram

    Notes
    -----
    Fixed points solve b = x − w σ(x); stable where |w σ'(x*)| < 1; fold where
    w σ'(x*) = 1, flip where w σ'(x*) = −1. For the paper's sigmoid neuron with
    w = 5 the folds are at b = −2.6556 and −2.3444 and the neuron is bistable
    between them (Pascanu et al. 2013, §2.2, Fig. 2).
    """
    act = as_choice(activation, "activation", neuron.SMOOTH)
    nw, nb = np.size(w), np.size(b)
    if np.ndim(w) > 1 or np.ndim(b) > 1:
        raise InputError(f"w and b must be scalars or 1-D, got shapes {np.shape(w)} "
                         f"and {np.shape(b)}")
    if nw > 1 and nb > 1:
        raise InputError("sweep one parameter at a time: give w or b as a single value "
                         "(use two_parameter_diagram for a (w, b) grid)")
    parameter = "w" if nw > 1 else "b"
    orb = orbit_diagram(w, b, activation=act, x0=x0, n_transient=n_transient,
                        n_record=n_record, max_period=max_period)
    fp = neuron.fixed_points(orb.w, orb.b, act)
    if parameter == "b":
        span = (float(orb.b.min()), float(orb.b.max()))
        bif = neuron.bifurcation_points(float(orb.w[0]), span, act)
    else:
        span = (float(orb.w.min()), float(orb.w.max()))
        bif = neuron.bifurcation_points(span, float(orb.b[0]), act)
    params = dict(orb.meta["params"], parameter=parameter, span=span)
    return BifurcationDiagram(parameter, orb.w, orb.b, orb.x0, orb.orbits, orb.period, fp.x,
                              fp.multiplier, fp.stable, fp.boundary, bif, act,
                              orb.n_transient, make_meta(params))


# ------------------------------------------------------------------ two parameters

@result_type
class TwoParameterDiagram(Result):
    """The (w, b) plane of the neuron: bifurcation curves and attractor census.

    Attributes
    ----------
    w : ndarray, shape (nw,)
    b : ndarray, shape (nb,)
    n_stable_fixed : ndarray of int, shape (nw, nb)
        Stable fixed points, exact (from :func:`rnndyn.neuron.fixed_points`).
    n_fixed, n_period2, n_other, n_divergent : ndarray of int, shape (nw, nb)
        Distinct attractors reached from ``n_initial`` initial states spread over
        the absorbing interval b + w σ(ℝ): fixed points, period-2 cycles,
        anything else (longer period or unresolved), divergence.
    region : ndarray of int, shape (nw, nb)
        Index into ``region_names`` of the cell's census.
    region_names : list of str
    fold_w, fold_b, fold_x : ndarray
        The fold curve w σ'(x*) = 1, sampled in x*.
    flip_w, flip_b, flip_x : ndarray
        The flip curve w σ'(x*) = −1.
    cusp : dict
        ``x``, ``w``, ``b`` of the cusp.
    activation : str
    meta : dict
    """
    w: np.ndarray
    b: np.ndarray
    n_stable_fixed: np.ndarray
    n_fixed: np.ndarray
    n_period2: np.ndarray
    n_other: np.ndarray
    n_divergent: np.ndarray
    region: np.ndarray
    region_names: list
    fold_w: np.ndarray
    fold_b: np.ndarray
    fold_x: np.ndarray
    flip_w: np.ndarray
    flip_b: np.ndarray
    flip_x: np.ndarray
    cusp: dict
    activation: str
    meta: dict


def _count_distinct(period, rep, tol):
    """Distinct attractors per row of (period, representative) pairs, by kind.

    period, rep : (C, K). Two orbits are the same attractor when their periods
    match and their representatives (smallest point of the cycle) differ by
    at most ``tol``. Returns counts (C,) of p = 1, p = 2, other, divergent.
    """
    rep = np.where(period > 0, rep, 0.0)
    order = np.lexsort((rep, period), axis=-1)
    p = np.take_along_axis(period, order, axis=1)
    r = np.take_along_axis(rep, order, axis=1)
    new = np.ones(p.shape, bool)
    new[:, 1:] = (p[:, 1:] != p[:, :-1]) | (np.abs(r[:, 1:] - r[:, :-1])
                                             > tol * (1.0 + np.abs(r[:, 1:])))
    first = new
    n1 = np.sum(first & (p == 1), axis=1)
    n2 = np.sum(first & (p == 2), axis=1)
    nother = np.sum(first & ((p == UNRESOLVED) | (p > 2)), axis=1)
    ndiv = np.sum(first & (p == DIVERGENT), axis=1).clip(max=1)
    return n1, n2, nother, ndiv


def _region_name(n1, n2, nother, ndiv):
    parts = []
    if n1:
        parts.append(f"{n1} fixed point" + ("s" if n1 > 1 else ""))
    if n2:
        parts.append(f"{n2} period-2 cycle" + ("s" if n2 > 1 else ""))
    if nother:
        parts.append(f"{nother} other")
    if ndiv:
        parts.append("divergence")
    return " + ".join(parts) or "none"


def two_parameter_diagram(w, b, *, activation="tanh", n_initial=8, n_transient=1000,
                          n_record=64, n_curve=801, tol=1e-6):
    """The (w, b) bifurcation diagram of x ← w σ(x) + b.

    Parameters
    ----------
    w : array_like, shape (nw,)
    b : array_like, shape (nb,)
        Grid values (each 1-D, at least one value).
    activation : {'tanh', 'sigmoid'}
    n_initial : int
        Initial states per cell, evenly spread over the absorbing interval
        b + w σ(ℝ) (ends included), for the brute-force attractor census.
    n_transient, n_record : int
        As in :func:`orbit_diagram`; orbits that have not reached a fixed point
        are continued for 10 × ``n_transient`` more steps before being classified.
    n_curve : int
        Samples of x* on each bifurcation curve.
    tol : float
        Relative distance below which two attractors of the census are one, and
        a period-2 cycle counts as a fixed point.

    Returns
    -------
    TwoParameterDiagram

    Notes
    -----
    Fold curve (w σ'(x*) = 1): w = 1/σ'(x*), b = x* − σ(x*)/σ'(x*); flip curve
    (w σ'(x*) = −1): w = −1/σ'(x*), b = x* + σ(x*)/σ'(x*). The fold curve's two
    branches meet at the cusp (σ''(x*) = 0: x* = 0, (w, b) = (1, 0) for tanh,
    (4, −2) for sigmoid), and between them the neuron is bistable. The census
    counts what the orbits reach, so a cell near a curve, where convergence is
    slow, may show "other" (unresolved): compare with ``n_stable_fixed``.
    """
    act = as_choice(activation, "activation", neuron.SMOOTH)
    w = np.atleast_1d(as_array(w, "w", allow_empty=False))
    b = np.atleast_1d(as_array(b, "b", allow_empty=False))
    if w.ndim != 1 or b.ndim != 1:
        raise InputError(f"w and b must be 1-D grids, got shapes {w.shape} and {b.shape}")
    K = as_int(n_initial, "n_initial", minimum=2)
    nc = as_int(n_curve, "n_curve", minimum=3)
    tol = as_float(tol, "tol", minimum=0.0, strict_minimum=True)
    Wg, Bg = np.meshgrid(w, b, indexing="ij")
    Wf, Bf = Wg.ravel(), Bg.ravel()
    C = Wf.size
    fp = neuron.fixed_points(Wf, Bf, act)
    n_stable = fp.stable.sum(axis=1).reshape(Wg.shape)
    # the absorbing interval b + w σ(ℝ): every orbit is inside after one step
    lo_s, hi_s = (-1.0, 1.0) if act == "tanh" else (0.0, 1.0)
    lo = Bf + np.minimum(Wf * lo_s, Wf * hi_s)
    hi = Bf + np.maximum(Wf * lo_s, Wf * hi_s)
    frac = np.linspace(0.0, 1.0, K)
    X0 = np.ascontiguousarray((lo[:, None] + (hi - lo)[:, None] * frac).ravel())
    WW = np.ascontiguousarray(np.repeat(Wf, K))
    BB = np.ascontiguousarray(np.repeat(Bf, K))
    T = as_int(n_transient, "n_transient", minimum=0)
    R = as_int(n_record, "n_record", minimum=3)
    X = np.empty((C * K, R))
    period = np.empty(C * K, dtype=np.int64)
    _k._orbits(WW, BB, CODES[act], X0, T, CHECK_EVERY, X, 1e-9, 1e-12, 1e10, 2, period)
    # Orbits that did not settle on a fixed point are continued 10× longer and
    # classified again: near a flip a slowly converging oscillation passes the
    # period-2 test, near a fold it is unresolved. Exact 2-cycles exit early.
    again = np.flatnonzero(period != 1)
    if again.size and T > 0:
        Xa = np.empty((again.size, R))
        pa = np.empty(again.size, dtype=np.int64)
        _k._orbits(np.ascontiguousarray(WW[again]), np.ascontiguousarray(BB[again]),
                   CODES[act], np.ascontiguousarray(X[again, -1]), 10 * T, CHECK_EVERY, Xa,
                   1e-9, 1e-12, 1e10, 2, pa)
        X[again] = Xa
        period[again] = pa
    # a "2-cycle" narrower than tol is a fixed point at the census' resolution
    # (an oscillation still converging with multiplier near −1)
    narrow = np.abs(X[:, -1] - X[:, -2]) <= tol * (1.0 + np.abs(X[:, -1]))
    period[(period == 2) & narrow] = 1
    # a cycle's representative: its smallest point over the last p states
    rep = np.where(period == 2, np.minimum(X[:, -1], X[:, -2]), X[:, -1])
    n1, n2, nother, ndiv = _count_distinct(period.reshape(C, K), rep.reshape(C, K), tol)
    keys = np.stack([n1, n2, nother, ndiv], axis=1)
    uniq, region = np.unique(keys, axis=0, return_inverse=True)
    names = [_region_name(*map(int, k)) for k in uniq]
    X_MAX = neuron.X_MAX[act]
    xs = np.linspace(-X_MAX / 4, X_MAX / 4, nc)
    fold_w, fold_b = neuron.fold_curve(xs, act)
    flip_w, flip_b = neuron.flip_curve(xs, act)
    shape = Wg.shape
    params = {"activation": act, "n_initial": K, "n_transient": T, "n_record": R,
              "n_curve": nc, "tol": tol, "w_range": [float(w.min()), float(w.max()), w.size],
              "b_range": [float(b.min()), float(b.max()), b.size]}
    return TwoParameterDiagram(
        w, b, n_stable, n1.reshape(shape), n2.reshape(shape), nother.reshape(shape),
        ndiv.reshape(shape), region.reshape(shape).astype(np.int64), names,
        fold_w, fold_b, xs, flip_w, flip_b, xs.copy(), neuron.cusp(act), act, make_meta(params))


# ------------------------------------------------------------------ crossing a basin boundary

@result_type
class BasinCrossing(Result):
    """Two trajectories started just either side of the basin boundary.

    Attributes
    ----------
    w, b : float
    boundary : float
        The repelling fixed point x_u between the two basins.
    multiplier : float
        w σ'(x_u) > 1: the rate at which the two trajectories separate at first.
    delta : float
        The initial states are x_u − delta and x_u + delta.
    x : ndarray, shape (2, T + 1)
        x_0 … x_T of the two trajectories.
    dxdx0 : ndarray, shape (2, T + 1)
        ∂x_t/∂x_0 = Π_{s<t} w σ'(x_s) along each trajectory.
    stable : ndarray, shape (2,)
        The stable fixed points (lower, upper) the trajectories settle on.
    activation : str
    meta : dict
    """
    w: float
    b: float
    boundary: float
    multiplier: float
    delta: float
    x: np.ndarray
    dxdx0: np.ndarray
    stable: np.ndarray
    activation: str
    meta: dict


def basin_crossing(w=5.0, b=-2.5, *, activation="sigmoid", delta=1e-6, n_steps=120):
    """Trajectories from x_u ∓ delta, x_u the basin boundary of a bistable neuron.

    Parameters
    ----------
    w, b : float
        A bistable neuron (three fixed points); the defaults are the paper's.
    activation : {'tanh', 'sigmoid'}
    delta : float
        Half the distance between the two initial states (> 0).
    n_steps : int
        T, the number of updates.

    Returns
    -------
    BasinCrossing

    Notes
    -----
    Near x_u the separation grows like m^t with m = w σ'(x_u) > 1, so the two
    trajectories part after about log(1/delta)/log(m) steps and end on
    different attractors; the derivative ∂x_t/∂x_0 = Π w σ'(x_s) first explodes
    like m^t and then decays on the attractor (Pascanu et al. 2013, §2.2:
    crossing a basin boundary is what makes the gradient explode).
    """
    act = as_choice(activation, "activation", neuron.SMOOTH)
    w = as_float(w, "w")
    b = as_float(b, "b")
    delta = as_float(delta, "delta", minimum=0.0, strict_minimum=True)
    T = as_int(n_steps, "n_steps", minimum=1)
    fp = neuron.fixed_points(w, b, act)
    if fp.n[0] != 3:
        raise InputError(f"w={w:g}, b={b:g}: the {act} neuron is not bistable "
                         f"({fp.n[0]} fixed point(s)); no basin boundary to cross")
    xu = float(fp.boundary[0])
    x0 = np.array([xu - delta, xu + delta])
    orb = orbit_diagram(w, b, activation=act, x0=x0, n_transient=0, n_record=max(T, 2),
                        max_period=1)
    x = np.concatenate([x0[:, None], orb.orbits[:, 0, :T]], axis=1)
    factors = w * neuron._ds(act, x[:, :-1])
    dxdx0 = np.concatenate([np.ones((2, 1)), np.cumprod(factors, axis=1)], axis=1)
    params = {"w": w, "b": b, "activation": act, "delta": delta, "n_steps": T}
    return BasinCrossing(w, b, xu, float(fp.multiplier[0, 1]), delta, x, dxdx0,
                         fp.x[0, [0, 2]].copy(), act, make_meta(params))
