"""The gradient's path through time and depth in a stacked RNN: the depth map.

For a unidirectional :class:`rnndyn.stack.Stack` of L layers run for T steps, the depth map
is, for every layer l and lag ℓ = 0 … T,

    ‖∂h^L_T / ∂h^l_{T−ℓ}‖₂,

the gradient of the top layer's output at T with respect to layer l's hidden state at
k = T − ℓ: a perturbation of h^l_k is seen by both of its consumers, layer l at k + 1 and
the layers above at k (layer l + 1; with dense skips every higher layer), and for an LSTM
c^l_k is held fixed. Row L at lag 0 is 1 (the identity); column 0 is the depth direction
alone (the gradient passing down the layers within one step).
"""

import numpy as np

from rnndyn import config
from rnndyn._validate import InputError, as_array, as_float, as_int
from rnndyn.results import Result, make_meta, result_type
from rnndyn.stack import as_stack, checked_trajectory

DEFAULT_MAX_ITER = 500


@result_type
class DepthFlowResult(Result):
    """The depth map of one trajectory (see :func:`depth_gradient_flow`).

    Attributes
    ----------
    lag : ndarray of int, shape (T+1,)
    depth_log_norm, depth_log10_norm : ndarray, shape (L, T+1)
        Entry [l − 1, ℓ]: ln (log10) ‖∂h^L_T/∂h^l_{T−ℓ}‖₂; -inf for an exactly zero block,
        NaN past a non-finite one.
    log_norm, log10_norm : ndarray, shape (T+1,), or None
        ln (log10) ‖∂s_T/∂s_{T−ℓ}‖₂ of the joint state s (every layer's state, the LSTM's
        c included), as :func:`rnndyn.gradflow.gradient_flow` gives for one layer; None
        when ``full_state=False``.
    power_iterations : ndarray of int, shape (T+1,), or None
        Lanczos matrix-vector pairs of the joint norm at each lag (the name
        :class:`rnndyn.gradflow.GradFlowResult` uses).
    hidden : list of int
        N_1 … N_L.
    cells : list of str
    skip : str
    finite : bool
        Every state and log norm is finite.
    states_finite : bool
    overflow_step : int or None
        First step whose joint state is not finite (then nothing is computed: the maps are NaN).
    x_final : ndarray, shape (ΣS,)
    meta : dict
    """

    lag: np.ndarray
    depth_log_norm: np.ndarray
    depth_log10_norm: np.ndarray
    log_norm: object
    log10_norm: object
    power_iterations: object
    hidden: list
    cells: list
    skip: str
    finite: bool
    states_finite: bool
    overflow_step: object
    x_final: np.ndarray
    meta: dict


def depth_backward(stack, D, *, full_state=True, rtol=config.SINGULAR_VALUE_RTOL,
                   max_iter=DEFAULT_MAX_ITER, seed=0):
    """The depth map (and the joint state's norms) from the auxiliary rows of a run.

    Parameters
    ----------
    stack : Stack
        Unidirectional.
    D : array_like, shape (T, ΣA)
        From :func:`rnndyn.stack.trajectory`.
    full_state : bool
        Also the joint state's ‖∂s_T/∂s_{T−ℓ}‖₂ (ΣS adjoint rows instead of N_L: about
        ΣS/N_L times the work).
    rtol, max_iter, seed
        The Lanczos iterations on B Bᵀ (full reorthogonalisation, as
        :func:`rnndyn.gradflow.gradient_flow`) of the joint product Q = ∂s_T/∂s_k and of
        each depth block: stop when σ1² changes by at most ``rtol`` (relative) or after
        ``max_iter`` matrix-vector pairs at a lag; start vector N(0, I) drawn with
        ``seed``, then warm-started from lag to lag with the Ritz vector.

    Returns
    -------
    dict
        ``depth_log_norm`` (L, T+1); with ``full_state`` also ``log_norm`` (T+1,) and
        ``power_iterations`` (T+1,).

    Notes
    -----
    G^l_k = ∂h^L_T/∂s^l_k obeys G^l_k = G^l_{k+1} J^l_{k+1} + Σ_j G^j_k ∂s^j_k/∂h^l_k (j
    the layers above that take h^l_k, with the residual P added for j = l + 1), computed
    for l = L … 1 at each k = T … 0 from G^L_T = [I 0]: the block lower-triangular joint
    Jacobian is used block by block, each block with its own running log scale (rescaled
    by a power of two whenever its largest entry leaves [2^-200, 2^200]; as
    :func:`rnndyn.gradflow.backward_products` renormalises one layer), so neither growth
    nor decay over any T leaves float64. Each depth entry's norm comes from a Lanczos
    iteration on the (N_L × N_l) block warm-started from the previous lag's Ritz vector. The joint state's ∂s_T/∂s_k has the blocks
    G^l_{k+1} J^l_{k+1} (s^l_k reaches the future only through s^l_{k+1}) with rows for
    every s_T entry. Pascanu, Mikolov & Bengio (2013), eq. 5, through the layers of Pascanu,
    Gulcehre, Cho & Bengio (2014).
    """
    from rnndyn._kernels.stack import _stack_depth
    stack = as_stack(stack, "stack")
    if stack.bidirectional:
        raise InputError("stack: the depth map ∂h^L_T/∂h^l_k is defined for unidirectional "
                         "stacks (a reverse direction's state at T has read only u_T)")
    D = as_array(D, "D", ndim=2, finite=False)
    if D.shape[1] != stack.aux_size:
        raise InputError(f"D must have shape (T, {stack.aux_size}), got {D.shape}")
    if not isinstance(full_state, (bool, np.bool_)):
        raise InputError(f"full_state must be True or False, got {full_state!r}")
    rtol = as_float(rtol, "rtol", minimum=0.0)
    max_iter = as_int(max_iter, "max_iter", minimum=1)
    T = D.shape[0]
    theta, lay, src, start = stack.pack()
    depth = np.full((stack.L, T + 1), np.nan)
    joint = np.full(T + 1, np.nan)
    n_iter = np.zeros(T + 1, dtype=np.int64)
    u0 = np.random.default_rng(as_int(seed, "seed", minimum=0)).standard_normal(stack.S)
    u0 /= np.linalg.norm(u0)
    with np.errstate(over="ignore", invalid="ignore"):
        _stack_depth(theta, lay, src, start, np.ascontiguousarray(D), bool(full_state), u0,
                     rtol, max_iter, depth, joint, n_iter)
    out = {"depth_log_norm": depth}
    if full_state:
        out.update(log_norm=joint, power_iterations=n_iter)
    return out


def depth_gradient_flow(stack, x0, n_steps, inputs=None, *, full_state=True,
                        rtol=config.SINGULAR_VALUE_RTOL, max_iter=DEFAULT_MAX_ITER, seed=0):
    """The depth map ‖∂h^L_T/∂h^l_{T−ℓ}‖₂ of a stack along one trajectory.

    Parameters
    ----------
    stack : Stack or RNN
        Unidirectional (an RNN is a one-layer stack).
    x0 : array_like, shape (ΣS,), or {'zero', 'random'}
        The joint initial state ('random': N(0, 1) drawn with ``seed``).
    n_steps : int
        T >= 1.
    inputs : array_like, shape (T, M), optional
    full_state : bool
        Also the joint state's ‖∂s_T/∂s_{T−ℓ}‖₂ (``log_norm``).
    rtol, max_iter, seed
        See :func:`depth_backward`.

    Returns
    -------
    DepthFlowResult

    Notes
    -----
    See :func:`depth_backward` for the recurrence. For one layer the depth map is the
    h→h block of :func:`rnndyn.gradflow.gradient_flow`'s products (all of it for the
    vanilla cell and the GRU) and ``log_norm`` its full-state norm.

    References
    ----------
    Pascanu, Mikolov & Bengio (2013), "On the difficulty of training recurrent neural
    networks", ICML, eq. 5; Pascanu, Gulcehre, Cho & Bengio (2014), "How to construct deep
    recurrent neural networks", ICLR.
    """
    stack = as_stack(stack, "stack")
    if stack.bidirectional:
        raise InputError("stack: the depth map ∂h^L_T/∂h^l_k is defined for unidirectional "
                         "stacks (a reverse direction's state at T has read only u_T)")
    T = as_int(n_steps, "n_steps", minimum=1)
    x0v, X, D, overflow_step = checked_trajectory(stack, x0, T, inputs, seed=seed)
    if overflow_step is None:
        out = depth_backward(stack, D, full_state=full_state, rtol=rtol, max_iter=max_iter,
                             seed=seed)
    else:
        out = {"depth_log_norm": np.full((stack.L, T + 1), np.nan)}
        if full_state:
            out.update(log_norm=np.full(T + 1, np.nan),
                       power_iterations=np.zeros(T + 1, dtype=np.int64))
    depth = out["depth_log_norm"]
    joint = out.get("log_norm")
    ln10 = np.log(10.0)
    finite = overflow_step is None and bool(np.all(np.isfinite(depth))) and \
        (joint is None or bool(np.all(np.isfinite(joint))))
    params = {"n_steps": T, "x0": x0 if isinstance(x0, str) else x0v.tolist(),
              "inputs": "none" if inputs is None else "array", "full_state": bool(full_state),
              "rtol": rtol, "max_iter": max_iter}
    meta = make_meta(params, seed=seed, model=stack,
                     method="adjoint block rows ∂h^L_T/∂s^l_k backwards through time, top "
                            "layer first, each block renormalised with a running log scale")
    return DepthFlowResult(
        lag=np.arange(T + 1), depth_log_norm=depth, depth_log10_norm=depth / ln10,
        log_norm=joint, log10_norm=None if joint is None else joint / ln10,
        power_iterations=out.get("power_iterations"), hidden=stack.hidden, cells=stack.cells,
        skip=stack.skip, finite=finite, states_finite=overflow_step is None,
        overflow_step=overflow_step, x_final=X[-1].copy(), meta=meta)
