"""The error surface of the paper's one-neuron example, its wall, and what gradient
descent with and without clipping does there (Pascanu, Mikolov & Bengio 2013, §3.3).

One neuron in the paper's form, ``x_t = w σ(x_{t-1}) + b`` from ``x_0 = 0.5``,
run for 50 steps, with the loss ``L(w, b) = (σ(x_50) − 0.7)²``. Where the map
is bistable, ``x_0`` can sit on the boundary between the two basins of
attraction; across that line of (w, b) the final state switches basin and the
loss jumps (the "wall"). The wall is the set where ``x_0`` is the unstable
middle fixed point::

    b = x_0 − w σ(x_0),   w σ'(x_0) > 1

(sigmoid, x_0 = 0.5: ``b = 0.5 − 0.62246 w`` for ``w > 4.2553``).
"""

import math

import numpy as np

from rnndyn._validate import as_array, as_choice, as_float, as_int, InputError
from rnndyn.codes import CLIP_CODES
from rnndyn.activations import CODES, activation_code, dsigma, sigma
from rnndyn.results import Result, make_meta, result_type

REFINE_AXES = ("auto", "b", "w", "both", "none")
DEFAULT_STARTS = ((6.0, -3.0), (5.5, -2.9), (5.8, -3.2))
DEFAULT_STAT_OFFSETS = (-1e-3, -3e-4, -1e-4, -1e-5, 1e-5, 1e-4, 3e-4, 1e-3)


def _model_args(x0, n_steps, target, activation):
    """Validated (x0, n_steps, target, activation code, activation name)."""
    x0 = as_float(x0, "x0")
    n_steps = as_int(n_steps, "n_steps", minimum=1)
    target = as_float(target, "target")
    act = activation_code(activation)
    return x0, n_steps, target, act, activation.strip().lower()


def loss_and_grad(w, b, *, x0=0.5, n_steps=50, target=0.7, activation="sigmoid"):
    """Loss and exact gradient of the one-neuron example at points (w, b).

    Parameters
    ----------
    w, b : array_like
        Parameters; broadcast against each other.
    x0 : float
        Initial state x_0.
    n_steps : int
        Number of updates T.
    target : float
        Target y of the output σ(x_T).
    activation : {'sigmoid', 'tanh', 'relu', 'linear'}

    Returns
    -------
    loss, grad_w, grad_b, x_final : ndarray
        Arrays of the broadcast shape: L, ∂L/∂w, ∂L/∂b and x_T.

    Notes
    -----
    ``x_t = w σ(x_{t-1}) + b``, ``L = (σ(x_T) − y)²``. The gradient is exact,
    by forward-mode differentiation through the T steps::

        ∂x_t/∂w = σ(x_{t-1}) + w σ'(x_{t-1}) ∂x_{t-1}/∂w
        ∂x_t/∂b = 1 + w σ'(x_{t-1}) ∂x_{t-1}/∂b
        ∂L/∂θ  = 2 (σ(x_T) − y) σ'(x_T) ∂x_T/∂θ

    References: R. Pascanu, T. Mikolov, Y. Bengio, "On the difficulty of
    training recurrent neural networks", ICML 2013, §3.3 and Fig. 6.
    """
    from rnndyn._kernels.surface import _surface_points
    x0, n_steps, target, act, _ = _model_args(x0, n_steps, target, activation)
    # as_array returns at least 1-D; keep the caller's shapes (scalars stay scalars)
    w = as_array(w, "w").reshape(np.shape(w))
    b = as_array(b, "b").reshape(np.shape(b))
    try:
        W, B = np.broadcast_arrays(w, b)
    except ValueError:
        raise InputError(f"w and b must broadcast together, got shapes {w.shape} "
                         f"and {b.shape}") from None
    shape = W.shape
    out = np.empty((W.size, 4))
    _surface_points(np.ascontiguousarray(W.ravel()), np.ascontiguousarray(B.ravel()),
                    x0, n_steps, target, act, out)
    return tuple(out[:, k].reshape(shape) for k in range(4))


def wall_min_w(*, x0=0.5, activation="sigmoid"):
    """Smallest w at which x_0 can be the unstable middle fixed point: ``1/σ'(x_0)``.

    Notes
    -----
    x_0 is a fixed point of ``x ↦ w σ(x) + b`` when ``b = x_0 − w σ(x_0)``; it
    separates two basins (is unstable, the map being increasing) when
    ``w σ'(x_0) > 1``. Sigmoid, x_0 = 0.5: ``1/σ'(0.5) = 4.2553``. Returns inf
    where σ'(x_0) = 0. Reference: Pascanu et al. 2013, §3.3.
    """
    x0 = as_float(x0, "x0")
    name = as_choice(activation, "activation", tuple(CODES))
    d = float(dsigma(name, x0))
    return math.inf if d <= 0.0 else 1.0 / d


def wall(w, *, x0=0.5, activation="sigmoid"):
    """The analytic wall ``b*(w) = x_0 − w σ(x_0)``; NaN where there is none.

    Parameters
    ----------
    w : array_like
    x0 : float
    activation : str

    Returns
    -------
    ndarray
        b*(w), NaN where ``w σ'(x_0) <= 1`` (x_0 is then no basin boundary).

    Notes
    -----
    For ``b`` just above ``b*`` the first update moves x above x_0 and, the map
    being increasing, every later one too: x_T ends in the upper basin; just
    below, in the lower one. So the final state, and the loss, jump across
    ``b = b*(w)``. Sigmoid, x_0 = 0.5: ``b* = 0.5 − 0.62246 w`` (−2.6123 at
    w = 5). Reference: Pascanu et al. 2013, §3.3 and Fig. 6.
    """
    w = as_array(w, "w").reshape(np.shape(w))  # a scalar stays a scalar
    x0 = as_float(x0, "x0")
    name = as_choice(activation, "activation", tuple(CODES))
    b = x0 - w * float(sigma(name, x0))
    return np.where(w * float(dsigma(name, x0)) > 1.0, b, np.nan)


def _starts(starts):
    """Starting points as a (k, 2) array; an empty sequence gives k = 0."""
    arr = as_array(starts, "starts")
    if arr.size == 0:
        return np.zeros((0, 2))
    return as_array(arr, "starts", ndim=2, shape=(None, 2))


@result_type
class DescentResult(Result):
    """Gradient-descent paths on the one-neuron surface (see :func:`descend`)."""
    w: np.ndarray
    b: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    clipped: np.ndarray
    meta: dict


def _descend_arrays(starts, x0, n_steps, target, act, lr, clip, threshold, steps):
    from rnndyn._kernels.surface import _descend
    out = np.empty((starts.shape[0], steps + 1, 5))
    _descend(np.ascontiguousarray(starts[:, 0]), np.ascontiguousarray(starts[:, 1]), x0,
             n_steps, target, act, lr, CLIP_CODES[clip], threshold, out)
    return out


def descend(starts, *, lr=0.3, steps=200, clip="none", threshold=0.5, x0=0.5, n_steps=50,
            target=0.7, activation="sigmoid"):
    """Gradient descent on L(w, b) from each start, optionally with clipping.

    Parameters
    ----------
    starts : array_like, shape (k, 2)
        Starting points (w, b).
    lr : float
        Learning rate, > 0.
    steps : int
        Number of updates.
    clip : {'none', 'norm', 'value'}
        ``norm``: Algorithm 1 of the paper as ``torch.nn.utils.clip_grad_norm_``
        does it; ``value``: each component clipped to [−threshold, threshold].
    threshold : float
        Clipping threshold, > 0.
    x0, n_steps, target, activation
        The model, as in :func:`loss_and_grad`.

    Returns
    -------
    DescentResult
        ``w``, ``b``, ``loss``, ``grad_norm`` (before clipping), ``clipped``
        (bool), each of shape (k, steps + 1): iterate 0 is the start.

    Notes
    -----
    ``θ ← θ − lr ĝ`` with ``g = ∇L(θ)`` and, for norm clipping,
    ``ĝ = g · min(1, threshold / (‖g‖ + 1e-6))`` (PyTorch's form of
    Algorithm 1, ``ĝ = threshold g/‖g‖`` when ``‖g‖ ≥ threshold``). A
    non-finite gradient leaves θ unchanged. Reference: Pascanu et al. 2013,
    §3.2, Algorithm 1.
    """
    x0, n_steps, target, act, name = _model_args(x0, n_steps, target, activation)
    starts = _starts(starts)
    lr = as_float(lr, "lr", minimum=0.0, strict_minimum=True)
    steps = as_int(steps, "steps", minimum=0)
    clip = as_choice(clip, "clip", tuple(CLIP_CODES))
    threshold = as_float(threshold, "threshold", minimum=0.0, strict_minimum=True)
    out = _descend_arrays(starts, x0, n_steps, target, act, lr, clip, threshold, steps)
    params = dict(starts=starts, lr=lr, steps=steps, clip=clip, threshold=threshold, x0=x0,
                  n_steps=n_steps, target=target, activation=name)
    return DescentResult(w=out[:, :, 0].copy(), b=out[:, :, 1].copy(), loss=out[:, :, 2].copy(),
                         grad_norm=out[:, :, 3].copy(), clipped=out[:, :, 4] > 0.5,
                         meta=make_meta(params))


def wall_step_stats(w, offsets=DEFAULT_STAT_OFFSETS, *, lr=0.3, clip="norm", threshold=0.5,
                    x0=0.5, n_steps=50, target=0.7, activation="sigmoid"):
    """One plain and one clipped gradient step from points just either side of the wall.

    Parameters
    ----------
    w : float
        Where along the wall; needs ``w σ'(x_0) > 1``.
    offsets : sequence of float
        Signed offsets δ: the points are ``(w, b*(w) + δ)``.
    lr, clip, threshold, x0, n_steps, target, activation
        As in :func:`descend` (``clip`` names the clipped variant).

    Returns
    -------
    dict
        ``w``, ``b_wall`` (floats); ``offset``, ``b``, ``loss``, ``grad_norm`` of shape (k,);
        ``methods`` = ['none', clip]; and, of shape (2, k) (row 0 plain, row 1 clipped):
        ``step`` (length of the step), ``w_after``, ``b_after``, ``loss_after`` and
        ``offset_after`` (``b − b*(w)`` after the step; NaN where the step left the
        range of w that has a wall).

    Notes
    -----
    Near the wall ‖∇L‖ grows like ``(w σ'(x_0))^T``; a plain step ``lr ∇L`` is then
    thrown far away, while the clipped step has length at most ``lr·threshold``.
    Reference: Pascanu et al. 2013, §3.3 and Fig. 6.
    """
    x0, n_steps, target, act, name = _model_args(x0, n_steps, target, activation)
    w = as_float(w, "w")
    offsets = as_array(offsets, "offsets", ndim=1)
    lr = as_float(lr, "lr", minimum=0.0, strict_minimum=True)
    clip = as_choice(clip, "clip", tuple(CLIP_CODES))
    threshold = as_float(threshold, "threshold", minimum=0.0, strict_minimum=True)
    b_wall = float(wall(w, x0=x0, activation=name))
    if not np.isfinite(b_wall):
        raise InputError(f"w = {w} has no wall: x0 = {x0} is the unstable middle fixed point "
                         f"only for w > {wall_min_w(x0=x0, activation=name):.6g}")
    b = b_wall + offsets
    starts = np.ascontiguousarray(np.column_stack([np.full_like(b, w), b]))
    runs = [_descend_arrays(starts, x0, n_steps, target, act, lr, m, threshold, 1)
            for m in ("none", clip)]
    before = runs[0][:, 0, :]
    after = np.stack([r[:, 1, :] for r in runs])
    offset_after = after[:, :, 1] - wall(after[:, :, 0], x0=x0, activation=name)
    return {
        "w": w, "b_wall": b_wall, "offset": offsets, "b": b,
        "loss": before[:, 2].copy(), "grad_norm": before[:, 3].copy(),
        "methods": ["none", clip],
        "step": np.hypot(after[:, :, 0] - w, after[:, :, 1] - b),
        "w_after": after[:, :, 0].copy(), "b_after": after[:, :, 1].copy(),
        "loss_after": after[:, :, 2].copy(), "offset_after": offset_after,
    }


def _grid_axis(value, name):
    arr = as_array(value, name, allow_empty=False)
    arr = np.atleast_1d(arr)
    if arr.ndim != 1:
        raise InputError(f"{name} must be a number or a 1-D array, got shape {arr.shape}")
    if arr.size > 1 and not np.all(np.diff(arr) > 0):
        raise InputError(f"{name} must be strictly increasing")
    return np.ascontiguousarray(arr)


def refine_jumps(w0, b0, w1, b1, *, tol=1e-5, x0=0.5, n_steps=50, target=0.7,
                 activation="sigmoid"):
    """Locate the loss jump on each segment (w0, b0) → (w1, b1) by bisection.

    Parameters
    ----------
    w0, b0, w1, b1 : array_like, shape (k,)
        Segment end points.
    tol : float
        Stop when the bracket is at most ``tol`` long (Euclidean, in (w, b)).
    x0, n_steps, target, activation
        The model, as in :func:`loss_and_grad`.

    Returns
    -------
    dict
        ``w``, ``b``, ``loss``, ``grad_norm`` of every evaluated midpoint (flat);
        per segment ``jump_w``, ``jump_b`` (final bracket's centre), ``jump_width``
        (its length) and ``jump_size`` (|ΔL| across it).

    Notes
    -----
    Each bisection keeps the half across which L changes more, so it follows the
    largest jump of the segment, not every change of sign. At the wall the loss
    changes over a layer of width of order ``(λ − 1) λ^{-T}``, ``λ = w σ'(x_0)``,
    and its steepest point lies about that far below ``b*`` (4.5e-5 at w = 5,
    T = 50). A ``tol`` below that width locates the steepest
    point of the layer, not ``b*`` itself.
    Reference: Pascanu et al. 2013, §3.3 (the wall) and Fig. 6.
    """
    from rnndyn._kernels.surface import _bisect_jumps
    x0, n_steps, target, act, _ = _model_args(x0, n_steps, target, activation)
    w0, b0, w1, b1 = (as_array(v, n, ndim=1) for v, n in
                      ((w0, "w0"), (b0, "b0"), (w1, "w1"), (b1, "b1")))
    if not (w0.shape == b0.shape == w1.shape == b1.shape):
        raise InputError("w0, b0, w1 and b1 must have the same length")
    tol = as_float(tol, "tol", minimum=0.0, strict_minimum=True)
    n = w0.shape[0]
    length = np.hypot(w1 - w0, b1 - b0)
    longest = float(length.max()) if n else 0.0
    K = max(1, int(math.ceil(math.log2(longest / tol))) + 1) if longest > tol else 1
    pts = np.zeros((n, K, 5))
    count = np.zeros(n)  # float64 like every kernel array; holds whole numbers
    bracket = np.zeros((n, 4))
    _bisect_jumps(w0, b0, w1, b1, x0, n_steps, target, act, tol, pts, count, bracket)
    keep = np.arange(K)[None, :] < count.astype(np.int64)[:, None]
    flat = pts[keep]
    mid = 0.5 * (bracket[:, 0] + bracket[:, 1])
    return {
        "w": flat[:, 0].copy(), "b": flat[:, 1].copy(), "loss": flat[:, 2].copy(),
        "grad_norm": np.hypot(flat[:, 3], flat[:, 4]),
        "jump_w": w0 + mid * (w1 - w0), "jump_b": b0 + mid * (b1 - b0),
        "jump_width": (bracket[:, 1] - bracket[:, 0]) * length,
        "jump_size": np.abs(bracket[:, 3] - bracket[:, 2]),
    }


@result_type
class SurfaceResult(Result):
    """Loss and gradient maps of the one-neuron example, the wall, descent paths and
    wall-step statistics (see :func:`error_surface`).

    Grids are indexed ``[i, j]`` at ``(w[i], b[j])``; path arrays are indexed
    ``[method, start, iterate]`` with ``path_methods[method]``; ``stat_*`` arrays of
    shape (2, k) are indexed ``[method, offset]``.
    """
    w: np.ndarray
    b: np.ndarray
    loss: np.ndarray
    grad_w: np.ndarray
    grad_b: np.ndarray
    grad_norm: np.ndarray
    x_final: np.ndarray
    refined_w: np.ndarray
    refined_b: np.ndarray
    refined_loss: np.ndarray
    refined_grad_norm: np.ndarray
    jump_w: np.ndarray
    jump_b: np.ndarray
    jump_width: np.ndarray
    jump_size: np.ndarray
    jump_wall_offset: np.ndarray
    wall_w: np.ndarray
    wall_b: np.ndarray
    wall_w_min: float
    x0: float
    sigma_x0: float
    path_start: np.ndarray
    path_w: np.ndarray
    path_b: np.ndarray
    path_loss: np.ndarray
    path_grad_norm: np.ndarray
    path_clipped: np.ndarray
    path_methods: list
    lr: float
    threshold: float
    stat_w: float
    stat_b_wall: float
    stat_offset: np.ndarray
    stat_b: np.ndarray
    stat_loss: np.ndarray
    stat_grad_norm: np.ndarray
    stat_step: np.ndarray
    stat_w_after: np.ndarray
    stat_b_after: np.ndarray
    stat_loss_after: np.ndarray
    stat_offset_after: np.ndarray
    meta: dict

    @property
    def is_slice(self):
        """True when one of the axes has a single value (a 1-D slice)."""
        return self.w.size == 1 or self.b.size == 1


def _segments(w, b, loss, axis, jump):
    """End points of neighbouring grid pairs along ``axis`` whose loss differs by > jump."""
    W, B = np.meshgrid(w, b, indexing="ij")
    parts = []
    if axis in ("b", "both") and b.size > 1:
        sel = np.abs(np.diff(loss, axis=1)) > jump
        parts.append((W[:, :-1][sel], B[:, :-1][sel], W[:, 1:][sel], B[:, 1:][sel]))
    if axis in ("w", "both") and w.size > 1:
        sel = np.abs(np.diff(loss, axis=0)) > jump
        parts.append((W[:-1, :][sel], B[:-1, :][sel], W[1:, :][sel], B[1:, :][sel]))
    if not parts:
        return tuple(np.empty(0) for _ in range(4))
    return tuple(np.ascontiguousarray(np.concatenate([p[k] for p in parts])) for k in range(4))


def error_surface(w, b, *, x0=0.5, n_steps=50, target=0.7, activation="sigmoid",
                  refine="auto", jump=0.05, tol=1e-5, starts=DEFAULT_STARTS, lr=0.3,
                  path_steps=200, clip="norm", threshold=0.5, stat_w=5.0,
                  stat_offsets=DEFAULT_STAT_OFFSETS, seed=None, progress=None):
    """The one-neuron error surface over a (w, b) grid, refined at the wall, with descent
    paths with and without clipping and the effect of one step at the wall.

    Parameters
    ----------
    w, b : float or array_like
        Grid axes, each a number or a strictly increasing 1-D array; with one of them
        a single number the result is a 1-D slice.
    x0 : float
        Initial state x_0 (paper: 0.5).
    n_steps : int
        Number of updates T (paper: 50).
    target : float
        Target of σ(x_T) (paper: 0.7).
    activation : {'sigmoid', 'tanh', 'relu', 'linear'}
        σ (paper: sigmoid).
    refine : {'auto', 'b', 'w', 'both', 'none'}
        Grid direction along which neighbouring points are refined; ``auto`` is ``b``
        unless b has a single value, then ``w``.
    jump : float
        Refine a pair of neighbours whose losses differ by more than this.
    tol : float
        Bisect such a pair until the bracket is at most this long.
    starts : array_like, shape (k, 2)
        Starting points (w, b) of the descent paths (k may be 0).
    lr : float
        Learning rate of the paths and of the wall steps.
    path_steps : int
        Number of updates of each path.
    clip : {'norm', 'value'}
        Clipping of the clipped paths and step (each is compared with no clipping).
    threshold : float
        Clipping threshold.
    stat_w : float
        Where on the wall to measure one step (needs ``w σ'(x_0) > 1``).
    stat_offsets : sequence of float
        Signed offsets from the wall, in b, of the measured steps.
    seed : int, optional
        Recorded in the metadata; nothing here is random.
    progress : callable, optional
        Called with the number of grid points done after each chunk.

    Returns
    -------
    SurfaceResult

    Notes
    -----
    ``x_t = w σ(x_{t-1}) + b``, ``L = (σ(x_T) − y)²``, exact gradient by forward
    mode (see :func:`loss_and_grad`). The wall ``b = x_0 − w σ(x_0)`` (for
    ``w σ'(x_0) > 1``) is where x_0 is the unstable fixed point separating the two
    basins; the loss jumps across it within a layer of width of order
    ``(λ − 1) λ^{-T}``, ``λ = w σ'(x_0)`` (about 1e-4 at w = 5), far narrower than a
    grid, hence the refinement (:func:`refine_jumps`).
    Paths: :func:`descend`; steps at the wall: :func:`wall_step_stats`.
    Reference: R. Pascanu, T. Mikolov, Y. Bengio, "On the difficulty of training
    recurrent neural networks", ICML 2013, §3.3, Fig. 6 and Algorithm 1.
    """
    from rnndyn._kernels.surface import _surface_points
    x0, n_steps, target, act, name = _model_args(x0, n_steps, target, activation)
    w = _grid_axis(w, "w")
    b = _grid_axis(b, "b")
    if w.size == 1 and b.size == 1:
        raise InputError("w and b are both single values; give a range for at least one")
    refine = as_choice(refine, "refine", REFINE_AXES)
    if refine == "auto":
        refine = "b" if b.size > 1 else "w"
    jump = as_float(jump, "jump", minimum=0.0, strict_minimum=True)
    tol = as_float(tol, "tol", minimum=0.0, strict_minimum=True)
    starts = _starts(starts)
    lr = as_float(lr, "lr", minimum=0.0, strict_minimum=True)
    path_steps = as_int(path_steps, "path_steps", minimum=0)
    clip = as_choice(clip, "clip", ("norm", "value"))
    threshold = as_float(threshold, "threshold", minimum=0.0, strict_minimum=True)
    stat_w = as_float(stat_w, "stat_w")
    stat_offsets = as_array(stat_offsets, "stat_offsets", ndim=1)
    if seed is not None:
        seed = as_int(seed, "seed", minimum=0)
    w_min = wall_min_w(x0=x0, activation=name)
    if not stat_w > w_min:
        raise InputError(f"stat_w = {stat_w} has no wall: x0 = {x0} is the unstable middle "
                         f"fixed point only for w > {w_min:.6g}")

    # the grid, in chunks so a caller can show progress
    W, B = np.meshgrid(w, b, indexing="ij")
    Wf, Bf = np.ascontiguousarray(W.ravel()), np.ascontiguousarray(B.ravel())
    n = Wf.size
    out = np.empty((n, 4))
    chunk = max(4096, n // 50)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        _surface_points(Wf[start:stop], Bf[start:stop], x0, n_steps, target, act,
                        out[start:stop])
        if progress is not None:
            progress(stop - start)
    grid = [out[:, k].reshape(W.shape).copy() for k in range(4)]
    loss, gw, gb, xT = grid

    model = dict(x0=x0, n_steps=n_steps, target=target, activation=name)
    segs = _segments(w, b, loss, refine, jump)
    ref = refine_jumps(*segs, tol=tol, **model)

    wall_w = np.linspace(max(w[0], w_min), w[-1], 201) if w[-1] > w_min else np.empty(0)
    if w.size == 1:
        wall_w = wall_w[:1]
    # the line itself, from where it is born (w σ'(x0) = 1, where wall() is still NaN)
    wall_b = x0 - float(sigma(name, x0)) * wall_w

    paths = [descend(starts, lr=lr, steps=path_steps, clip=m, threshold=threshold, **model)
             if starts.shape[0] else None for m in ("none", clip)]

    def path_field(name_):
        if starts.shape[0] == 0:
            return np.zeros((2, 0, path_steps + 1), dtype=bool if name_ == "clipped" else float)
        return np.stack([getattr(p, name_) for p in paths])

    stats = wall_step_stats(stat_w, stat_offsets, lr=lr, clip=clip, threshold=threshold, **model)
    params = dict(w=w, b=b, refine=refine, jump=jump, tol=tol, starts=starts, lr=lr,
                  path_steps=path_steps, clip=clip, threshold=threshold, stat_w=stat_w,
                  stat_offsets=stat_offsets, **model)
    return SurfaceResult(
        w=w, b=b, loss=loss, grad_w=gw, grad_b=gb, grad_norm=np.hypot(gw, gb), x_final=xT,
        refined_w=ref["w"], refined_b=ref["b"], refined_loss=ref["loss"],
        refined_grad_norm=ref["grad_norm"], jump_w=ref["jump_w"], jump_b=ref["jump_b"],
        jump_width=ref["jump_width"], jump_size=ref["jump_size"],
        jump_wall_offset=ref["jump_b"] - wall(ref["jump_w"], x0=x0, activation=name),
        wall_w=wall_w, wall_b=wall_b, wall_w_min=w_min, x0=x0,
        sigma_x0=float(sigma(name, x0)), path_start=starts,
        path_w=path_field("w"), path_b=path_field("b"), path_loss=path_field("loss"),
        path_grad_norm=path_field("grad_norm"), path_clipped=path_field("clipped"),
        path_methods=["none", clip], lr=lr, threshold=threshold,
        stat_w=stat_w, stat_b_wall=stats["b_wall"], stat_offset=stats["offset"],
        stat_b=stats["b"], stat_loss=stats["loss"], stat_grad_norm=stats["grad_norm"],
        stat_step=stats["step"], stat_w_after=stats["w_after"], stat_b_after=stats["b_after"],
        stat_loss_after=stats["loss_after"], stat_offset_after=stats["offset_after"],
        meta=make_meta(params, seed=seed),
    )
