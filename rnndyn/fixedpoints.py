"""Fixed points and slow points of an RNN under a constant input.

With a constant input u the network is an autonomous map x ← F(x) with the
drive c folded in:

* pascanu: F(x) = W σ(x) + c,  c = U u + b (N,)
* elman:   F(h) = σ(W h + c),  c = U u + b (N,)
* lstm, gru: F(s) = f(s, u), the cell's step (:mod:`rnndyn.cells`) on its whole
  state (GRU s = h, N; LSTM s = (h, c), 2N, h first), with the input folded into
  the bias: c = b + [U u; 0] (4N; the GRU's b_hn block gets no input)

Fixed points solve F(x*) = x*. They are found from many seeded starts (states
visited by trajectories and random points) by minimising
q(x) = ½‖F(x) − x‖² and polishing with Newton, then deduplicated and classified
by the eigenvalues of the Jacobian ∂F/∂x at x* (Sussillo & Barak 2013).
"""

import numpy as np

from rnndyn import config
from rnndyn._kernels import fixedpoints as _k
from rnndyn._validate import as_array, as_float, as_int, as_rng, InputError
from rnndyn.results import Result, make_meta, result_type
from rnndyn._memory import array_bytes, check_request

KINDS = ("stable", "saddle", "unstable", "marginal")
MARGINAL_TOL = 1e-8        # |λ| within this of 1 counts as marginal
DEDUP_RTOL = 1e-6          # two polished points closer than this (∞-norm, relative) are one
SLOW_DEDUP_RTOL = 1e-3     # slow points are minima of a flat q: merge more coarsely
NEWTON_MAX_ITER = 50
# a few ulps: the rounding error of F(x) − x relative to max(1, ‖x‖∞) (see _located)
LOCATE_EPS = 16 * np.finfo(np.float64).eps


# ---------------------------------------------------------------- the map under constant input

def drive(rnn, u=None):
    """The constant drive the map's kernels take: vanilla c = U u + b, shape (N,); gated
    cells the bias with the input folded in, c = b + [U u; 0], shape (4N,).

    Parameters
    ----------
    rnn : RNN
    u : array_like, shape (M,), optional
        Constant input; zeros when omitted. A scalar is broadcast to every input.

    Notes
    -----
    A gated cell's gate pre-activations are U u + W h + b (G N rows), so a constant u
    only shifts the first G N entries of b; the GRU's last block b_hn sits inside the
    reset product r ⊙ (W_n h + b_hn) and gets no input (Cho et al. 2014; PyTorch nn.GRU).
    """
    if u is None:
        return np.array(rnn.b, dtype=np.float64)
    u = as_array(u, "u")
    if u.ndim == 0:
        u = np.full(rnn.M, float(u))
    if u.shape != (rnn.M,):
        raise InputError(f"u must have shape ({rnn.M},) (one value per input), got {u.shape}")
    if rnn.cell == "vanilla":
        return np.ascontiguousarray(rnn.b + rnn.U @ u)
    c = np.array(rnn.b, dtype=np.float64)
    c[:rnn.U.shape[0]] += rnn.U @ u
    return c


def _cell_kernels(rnn):
    """The residual-Jacobian and Newton kernels of ``rnn``'s cell, both called as
    (W, c, act, cell code, x, ...): the gated cells have their own, so that a vanilla
    run never compiles the gated step."""
    if rnn.cell == "vanilla":
        return _k._residual_jacobian, _k._newton
    return _k._gated_residual_jacobian, _k._gated_newton


def _given_drive(rnn, c):
    """A drive passed in by the caller, checked against the cell (N vanilla, 4N gated)."""
    return as_array(c, "c", shape=rnn.b.shape)


def residual_jacobian(rnn, x, u=None, *, c=None):
    """F(x) − x and the Jacobian ∂F/∂x of the map under constant input ``u``.

    Parameters
    ----------
    rnn : RNN
    x : array_like, shape (S,)
        The state (S = N; the LSTM's (h, c), 2N, h first).
    u : array_like, shape (M,), optional
    c : ndarray, optional
        The drive from :func:`drive`, if already computed (then ``u`` is ignored):
        shape (N,), or (4N,) for a gated cell.

    Returns
    -------
    r : ndarray, shape (S,)
    J : ndarray, shape (S, S)
        pascanu: W diag(σ'(x)); elman: diag(σ'(W h + c)) W; gated cells: the
        one-step Jacobian of :mod:`rnndyn.cells` at s = x.
    """
    x = as_array(x, "x", shape=(rnn.S,))
    c = drive(rnn, u) if c is None else _given_drive(rnn, c)
    r = np.empty(rnn.S)
    J = np.empty((rnn.S, rnn.S))
    _cell_kernels(rnn)[0](rnn.W, c, rnn.act_code, rnn.cell_code, x, r, J)
    return r, J


def newton(rnn, x0, u=None, *, tol=config.FIXED_POINT_TOL, max_iter=NEWTON_MAX_ITER, c=None):
    """Polish a fixed point of x ← F(x) by Newton's method.

    Parameters
    ----------
    rnn : RNN
    x0 : array_like, shape (S,)
        Starting state (S = N; the LSTM's (h, c), 2N, h first).
    u : array_like, shape (M,), optional
        Constant input.
    tol : float
        Stop when ‖F(x) − x‖₂ <= tol·max(1, ‖x‖∞).
    max_iter : int
    c : ndarray, optional
        Precomputed drive from :func:`drive` (overrides ``u``).

    Returns
    -------
    x : ndarray, shape (S,)
    residual : float
        ‖F(x) − x‖₂ at the returned x.
    converged : bool

    Notes
    -----
    Iterates x ← x − (J − I)⁻¹ (F(x) − x), J = ∂F/∂x; quadratic convergence
    near a regular fixed point (det(J − I) ≠ 0). For a gated cell ``converged``
    also needs σ_min(J − I) >= 16ε/``DEDUP_RTOL`` (see :func:`fixed_points`).
    """
    x = as_array(x0, "x0", shape=(rnn.S,)).copy()
    tol = as_float(tol, "tol", minimum=0.0)
    max_iter = as_int(max_iter, "max_iter", minimum=0)
    c = drive(rnn, u) if c is None else _given_drive(rnn, c)
    return _newton(rnn, c, x, tol, max_iter)


def _newton(rnn, c, x, tol, max_iter):
    """Newton in place on x without validation; (x, residual, converged)."""
    try:
        _, res = _cell_kernels(rnn)[1](rnn.W, c, rnn.act_code, rnn.cell_code, x, tol, max_iter)
    except np.linalg.LinAlgError:  # J − I singular: a fold or a degenerate start
        r, _ = residual_jacobian(rnn, x, c=c) if np.all(np.isfinite(x)) else (np.inf, None)
        res = float(np.linalg.norm(r))
    ok = bool(np.isfinite(res) and res <= tol * max(1.0, float(np.max(np.abs(x)))))
    if ok and rnn.cell != "vanilla":
        ok = _located(rnn, c, x)
    return x, float(res), ok


def _located(rnn, c, x):
    """Whether a root of the rounded map at x locates a fixed point of the cell to within
    DEDUP_RTOL: σ_min(J − I) >= LOCATE_EPS / DEDUP_RTOL.

    r = F(x) − x is known to a few ulps, ε max(1, ‖x‖∞), so the root lies within
    ε max(1, ‖x‖∞) / σ_min(J − I) of x. A gated cell freezes in floating point where a
    gate saturates to exactly 1 (the GRU's z: h' = (1 − z) n + z h rounds to h; the
    LSTM's f, with i g below an ulp of c): every state there has r = 0, yet the cell's
    true residual (1 − z)(n − h) vanishes only at n = h. There J − I ≈ 0 and the test
    refuses the point; at a regular fixed point σ_min(J − I) is of order one.
    """
    _, J = residual_jacobian(rnn, x, c=c)
    J[np.diag_indices_from(J)] -= 1.0
    smin = np.linalg.svd(J, compute_uv=False)[-1]
    return bool(np.isfinite(smin) and smin >= LOCATE_EPS / DEDUP_RTOL)


def classify(eigenvalues, *, marginal_tol=MARGINAL_TOL):
    """Stability of a fixed point of a map from its Jacobian's eigenvalues.

    Parameters
    ----------
    eigenvalues : array_like of complex, shape (N,)
    marginal_tol : float
        |λ| within this distance of 1 is neither stable nor unstable.

    Returns
    -------
    kind : {'stable', 'saddle', 'unstable', 'marginal'}
        stable: all |λ| < 1; unstable: all |λ| > 1 (a repeller); saddle: some of
        each; marginal: some |λ| = 1 within ``marginal_tol``.
    n_unstable : int
        The number of eigenvalues with |λ| > 1 (the unstable dimension).
    """
    m = np.abs(np.asarray(eigenvalues))
    n_unstable = int(np.count_nonzero(m > 1.0 + marginal_tol))
    if np.any(np.abs(m - 1.0) <= marginal_tol):
        return "marginal", n_unstable
    if n_unstable == 0:
        return "stable", 0
    if n_unstable == m.size:
        return "unstable", n_unstable
    return "saddle", n_unstable


# ---------------------------------------------------------------- result

@result_type
class FixedPointsResult(Result):
    """Fixed points and slow points of an RNN under a constant input.

    Attributes
    ----------
    points : ndarray, shape (K, S)
        The distinct fixed points, stable ones first, then by unstable dimension; S is
        the state size (N; the LSTM's (h, c), 2N, h first).
    residual : ndarray, shape (K,)
        ‖F(x*) − x*‖₂ after Newton.
    eig_real, eig_imag : ndarray, shape (K, S)
        Eigenvalues of ∂F/∂x at each point, sorted by decreasing modulus.
    n_unstable : ndarray of int, shape (K,)
        Number of eigenvalues with |λ| > 1.
    kinds : list of str
        'stable', 'saddle', 'unstable' or 'marginal' (see :func:`classify`).
    slow_points : ndarray, shape (L, S)
        Local minima of q with 0 < q <= slow_q that are not fixed points.
    slow_q : ndarray, shape (L,)
        q = ½‖F(x) − x‖² at each slow point (the squared speed over two).
    drive : ndarray, shape (N,) or (4N,)
        c = U u + b; gated cells: the folded bias b + [U u; 0] (see :func:`drive`).
    n_starts : int
        Number of starting states used.
    meta : dict
    """

    points: np.ndarray
    residual: np.ndarray
    eig_real: np.ndarray
    eig_imag: np.ndarray
    n_unstable: np.ndarray
    kinds: list
    slow_points: np.ndarray
    slow_q: np.ndarray
    drive: np.ndarray
    n_starts: int
    meta: dict

    @property
    def eigenvalues(self):
        """Complex eigenvalues, shape (K, S)."""
        return self.eig_real + 1j * self.eig_imag

    @property
    def spectral_radius(self):
        """max |λ| at each fixed point, shape (K,)."""
        return np.abs(self.eigenvalues).max(axis=1) if len(self.points) else np.zeros(0)

    def summary(self):
        """JSON-able lists: fixed points (x, kind, n_unstable, spectral_radius,
        residual) and slow points (x, q)."""
        rho = self.spectral_radius
        fps = [{"x": self.points[k].tolist(), "kind": self.kinds[k],
                "n_unstable": int(self.n_unstable[k]), "spectral_radius": float(rho[k]),
                "residual": float(self.residual[k])} for k in range(len(self.points))]
        slow = [{"x": self.slow_points[k].tolist(), "q": float(self.slow_q[k])}
                for k in range(len(self.slow_points))]
        return {"fixed_points": fps, "slow_points": slow}


# ---------------------------------------------------------------- search

def starting_states(rnn, n_starts, u=None, *, trajectory_steps=200, scale=None, seed=0):
    """Seeded starting states: half visited by trajectories, half random.

    Trajectories start from N(0, 1) states and run ``trajectory_steps`` updates
    under the constant input; one state is taken from each at a random time.
    Random points are N(0, scale²), with ``scale`` defaulting to the spread of
    the trajectory states. Non-finite states (divergent trajectories) are dropped.
    States have the cell's state size S (the LSTM's (h, c), 2N).
    """
    from rnndyn.simulate import trajectories
    n = as_int(n_starts, "n_starts", minimum=1)
    T = as_int(trajectory_steps, "trajectory_steps", minimum=0)
    S = rnn.S
    # the random half, the trajectories of the visited half and the Newton copies
    check_request(array_bytes(n, S, 4) + array_bytes(n // 2 + 1, T + 1, S),
                  f"n_starts={n} starting states for N={rnn.N}")
    rng = as_rng(seed)
    c = drive(rnn, u)
    n_traj = n // 2
    parts = []
    if n_traj:
        X0 = rng.standard_normal((n_traj, S))
        # the constant input is folded into b so trajectories need no input array
        from rnndyn.models import RNN
        auto = RNN(rnn.W, None, c, rnn.activation, rnn.form, cell=rnn.cell)
        with np.errstate(over="ignore", invalid="ignore"):
            X, _ = trajectories(auto, X0, T)
        times = rng.integers(0, T + 1, size=n_traj)
        parts.append(X[np.arange(n_traj), times])
    visited = np.concatenate(parts) if parts else np.zeros((0, S))
    visited = visited[np.all(np.isfinite(visited), axis=1)]
    if scale is None:
        scale = float(np.std(visited)) if visited.size > 1 else 1.0
        scale = scale if np.isfinite(scale) and scale > 0 else 1.0
    scale = as_float(scale, "scale", minimum=0.0)
    rand = scale * rng.standard_normal((n - n_traj, S))
    return np.ascontiguousarray(np.concatenate([visited, rand]))


def _close(x, y, rtol):
    return np.max(np.abs(x - y)) <= rtol * max(1.0, np.max(np.abs(x)))


def _search_one(res_fun, jac_fun, rnn, c, x0, tol, max_iter):
    """One start: Levenberg–Marquardt on q, then Newton (Powell's hybrid if Newton fails).

    Returns (x, residual, converged, x_min, q_min), x_min the minimiser's end point.
    """
    from scipy.optimize import least_squares, root
    if max_iter:
        # MINPACK's LM: no BLAS threads, whose hand-offs made L-BFGS-B 10× slower on a
        # loaded machine; LM is also the natural minimiser of q = ½‖r‖²
        opt = least_squares(res_fun, x0, jac=jac_fun, method="lm", xtol=1e-15, ftol=1e-15,
                            gtol=1e-15, max_nfev=max_iter)
        xm, qm = np.ascontiguousarray(opt.x), float(opt.cost)
    else:
        xm = x0.copy()
        qm = 0.5 * float(np.sum(res_fun(x0) ** 2))
    if not (np.all(np.isfinite(xm)) and np.isfinite(qm)):
        return xm, np.inf, False, xm, np.inf
    x, res, ok = _newton(rnn, c, xm.copy(), tol, NEWTON_MAX_ITER)
    if not ok:
        # plain Newton overshoots from flat regions of q; Powell's hybrid
        # (trust-region) method is robust there, then Newton polishes again
        sol = root(lambda z: (res_fun(z), jac_fun(z)), xm, jac=True, method="hybr")
        if np.all(np.isfinite(sol.x)):
            x, res, ok = _newton(rnn, c, np.ascontiguousarray(sol.x), tol, NEWTON_MAX_ITER)
    return x, res, ok, xm, qm


def fixed_points(rnn, u=None, *, n_starts=64, starts=None, trajectory_steps=200, scale=None,
                 tol=config.FIXED_POINT_TOL, slow_q=1e-4, max_iter=500, seed=0,
                 callback=None):
    """Find the fixed points and slow points of x ← F(x) under a constant input.

    Parameters
    ----------
    rnn : RNN
        A vanilla cell (either update form, any activation), an LSTM or a GRU; the
        state searched is the cell's whole state (the LSTM's (h, c), S = 2N).
    u : array_like, shape (M,), optional
        Constant input (zeros when omitted; a scalar is broadcast).
    n_starts : int
        Number of seeded starts (see :func:`starting_states`).
    starts : array_like, shape (K, S), optional
        Extra starting states, used in addition.
    trajectory_steps : int
        Length of the trajectories that supply half of the starts.
    scale : float, optional
        Standard deviation of the random starts [default: spread of visited states].
    tol : float
        Newton stops at ‖F(x) − x‖₂ <= tol·max(1, ‖x‖∞); only such points are fixed points.
    slow_q : float
        Local minima of q with q <= slow_q that are not fixed points are slow points.
    max_iter : int
        Function evaluations of the q minimiser (Levenberg–Marquardt) per start.
    seed : int or numpy.random.Generator
    callback : callable, optional
        Called with 1 after each start (progress bars).

    Returns
    -------
    FixedPointsResult

    Notes
    -----
    F is the map under the constant input (see the module docstring; for a gated
    cell its step f(s, u) on the whole state, with the analytic Jacobian of
    :mod:`rnndyn.cells`). Each start is moved by Levenberg–Marquardt on
    q(x) = ½‖F(x) − x‖² (residual r = F(x) − x, its Jacobian J − I), which ends
    at a root of r or at a local minimum of q (∇q = (J − I)ᵀ r = 0), then by
    Newton x ← x − (J − I)⁻¹(F(x) − x) (Powell's hybrid method when Newton
    fails). For a gated cell a point must also be located: σ_min(J − I) >=
    16ε/``DEDUP_RTOL``, which refuses the states where a saturated gate (the
    GRU's z, the LSTM's f rounding to 1) makes the rounded map the identity:
    roots of the floating-point map that are no fixed points of the cell.
    Points are deduplicated in the ∞-norm (relative tolerance ``DEDUP_RTOL``)
    and classified by the eigenvalues of J = ∂F/∂x at x*: stable if all
    |λ| < 1, a saddle with unstable dimension #{|λ| > 1}, unstable if all
    |λ| > 1, marginal if some |λ| = 1 within
    ``MARGINAL_TOL``. Slow points are local minima of q with q > 0, where the
    dynamics is slow but not stopped (Sussillo & Barak 2013). A search from
    finitely many starts can miss fixed points with small basins of attraction
    under q; more starts find more.

    References
    ----------
    D. Sussillo and O. Barak, "Opening the black box: low-dimensional dynamics
    in high-dimensional recurrent neural networks", Neural Comput. 25 (2013).
    """
    rnn.require("fixed-points", "the fixed-point search")
    c = drive(rnn, u)
    tol = as_float(tol, "tol", minimum=0.0)
    slow_q = as_float(slow_q, "slow_q", minimum=0.0)
    max_iter = as_int(max_iter, "max_iter", minimum=0)
    rng = as_rng(seed)
    X0 = starting_states(rnn, n_starts, u, trajectory_steps=trajectory_steps, scale=scale,
                         seed=rng)
    if starts is not None:
        extra = as_array(starts, "starts", ndim=2)
        if extra.shape[1] != rnn.S:
            raise InputError(f"starts must have shape (K, {rnn.S}) (K states of the "
                             f"{rnn.cell} cell), got {extra.shape}")
        X0 = np.concatenate([X0, extra])
    W, act, form = rnn.W, rnn.act_code, rnn.cell_code
    residual_kernel = _cell_kernels(rnn)[0]
    r = np.empty(rnn.S)
    J = np.empty((rnn.S, rnn.S))
    eye = np.eye(rnn.S)

    def res_fun(x):
        residual_kernel(W, c, act, form, np.ascontiguousarray(x), r, J)
        return r.copy()

    def jac_fun(x):
        residual_kernel(W, c, act, form, np.ascontiguousarray(x), r, J)
        return J - eye

    found, slow = [], []
    # divergent starts (relu, linear) overflow on the way; they are dropped, not warned about
    with np.errstate(over="ignore", invalid="ignore"):
        for x0 in X0:
            x, res, ok, xm, qm = _search_one(res_fun, jac_fun, rnn, c, x0, tol, max_iter)
            if ok:
                found.append((x, res))
            # a minimum of q well above the Newton scale is a slow point, not a fixed point
            if tol ** 2 < qm <= slow_q:
                slow.append((xm, qm))
            if callback is not None:
                callback(1)

    points = []
    for x, res in found:
        if not any(_close(x, y, DEDUP_RTOL) for y, _ in points):
            points.append((x, res))
    slows = []
    for x, q in sorted(slow, key=lambda t: t[1]):
        if any(_close(x, y, SLOW_DEDUP_RTOL) for y, _ in points):
            continue
        if not any(_close(x, y, SLOW_DEDUP_RTOL) for y, _ in slows):
            slows.append((x, q))

    N = rnn.S
    K = len(points)
    P = np.array([p for p, _ in points]).reshape(K, N)
    res = np.array([r for _, r in points])
    eig = np.empty((K, N), dtype=complex)
    kinds, nun = [], np.zeros(K, dtype=np.int64)
    for k in range(K):
        _, J = residual_jacobian(rnn, P[k], c=c)
        lam = np.linalg.eigvals(J)
        eig[k] = lam[np.lexsort((-lam.imag, -np.abs(lam)))]
        kind, nun[k] = classify(eig[k])
        kinds.append(kind)
    order = sorted(range(K), key=lambda k: (nun[k], KINDS.index(kinds[k]), tuple(P[k])))
    S = np.array([s for s, _ in slows]).reshape(len(slows), N)
    params = {"u": None if u is None else np.atleast_1d(np.asarray(u, float)).tolist(),
              "n_starts": int(n_starts), "trajectory_steps": int(trajectory_steps),
              "scale": scale, "tol": tol, "slow_q": slow_q, "max_iter": max_iter}
    return FixedPointsResult(
        points=np.ascontiguousarray(P[order]), residual=res[order],
        eig_real=np.ascontiguousarray(eig[order].real),
        eig_imag=np.ascontiguousarray(eig[order].imag),
        n_unstable=nun[order], kinds=[kinds[k] for k in order],
        slow_points=S, slow_q=np.array([q for _, q in slows]), drive=c,
        n_starts=int(len(X0)), meta=make_meta(params, seed=seed if isinstance(seed, int) else None,
                                              model=rnn))
