"""The gradient reaching each input position of a bidirectional stack, from both ends.

A bidirectional :class:`rnndyn.stack.Stack` of L layers reads u_1 … u_T; its top layer's
forward direction has read the whole sequence at its last step T, its reverse direction at
its first step 1 (PyTorch's ``h_n`` of the top layer holds exactly these two states, what
a sequence classifier reads). For every position t = 1 … T this module gives

    g^→_t = ‖∂h^{L,→}_T / ∂u_t‖₂,    g^←_t = ‖∂h^{L,←}_1 / ∂u_t‖₂,
    g_t   = ‖∂y / ∂u_t‖₂  for  y = [h^{L,→}_T ; h^{L,←}_1]  (the concatenation),

so max(g^→_t, g^←_t) <= g_t <= (g^→_t² + g^←_t²)^½. In one layer, g^→_t decays with the
distance T − t and g^←_t with t − 1; from layer 2 on, each direction also reads the lower
layer's other direction, so both ends reach every position (both contexts).
"""

import numpy as np

from rnndyn._memory import array_bytes, check_request
from rnndyn._validate import InputError, as_array, as_int
from rnndyn.results import Result, make_meta, result_type
from rnndyn.stack import as_stack, checked_trajectory


@result_type
class PositionFlowResult(Result):
    """Input-position gradients of a bidirectional stack (see
    :func:`position_gradient_flow`).

    Attributes
    ----------
    position : ndarray of int, shape (T,)
        t = 1 … T.
    log_norm_forward, log10_norm_forward : ndarray, shape (T,)
        ln (log10) ‖∂h^{L,→}_T/∂u_t‖₂: from the top forward direction's last step.
    log_norm_reverse, log10_norm_reverse : ndarray, shape (T,)
        ln (log10) ‖∂h^{L,←}_1/∂u_t‖₂: from the top reverse direction's first step.
    log_norm_both, log10_norm_both : ndarray, shape (T,)
        ln (log10) ‖∂[h^{L,→}_T; h^{L,←}_1]/∂u_t‖₂ (-inf for a zero gradient, NaN past a
        non-finite one, in every array).
    hidden : list of int
    cells : list of str
    skip : str
    finite : bool
        Every state and log norm is finite.
    states_finite : bool
    overflow_step : int or None
        First position whose joint state is not finite (then the norms are NaN).
    x_final : ndarray, shape (ΣS,)
        The joint state at position T (row T of :func:`rnndyn.stack.trajectory`).
    meta : dict
    """

    position: np.ndarray
    log_norm_forward: np.ndarray
    log10_norm_forward: np.ndarray
    log_norm_reverse: np.ndarray
    log10_norm_reverse: np.ndarray
    log_norm_both: np.ndarray
    log10_norm_both: np.ndarray
    hidden: list
    cells: list
    skip: str
    finite: bool
    states_finite: bool
    overflow_step: object
    x_final: np.ndarray
    meta: dict


def _check_bidirectional(stack):
    stack = as_stack(stack, "stack")
    if not stack.bidirectional:
        raise InputError("stack: the input-position gradients from both ends need a "
                         "bidirectional stack (for one direction see "
                         "rnndyn.gradflow_depth.depth_gradient_flow)")
    if stack.M == 0:
        raise InputError("stack: the gradient reaching each input position needs inputs "
                         "(a stack with M >= 1)")
    return stack


def position_backward(stack, D):
    """The input-position gradients' scaled blocks from the auxiliary rows of a run.

    Parameters
    ----------
    stack : Stack
        Bidirectional, M >= 1 inputs.
    D : array_like, shape (T, ΣA)
        From :func:`rnndyn.stack.trajectory`.

    Returns
    -------
    dict
        ``log_norm_forward``, ``log_norm_reverse``, ``log_norm_both`` (T,): ln of the
        norms of the module docstring, position t at index t − 1.

    Notes
    -----
    One adjoint sweep per end (:func:`rnndyn._kernels.stack._stack_input_grad`): the
    top part's adjoint seeded with [I 0] at its end, every part's adjoint swept against
    its own time direction (a reverse part's from t = 1 up), layer by layer downwards,
    each input adjoint scattered to the lower layers' outputs and to u_t. Every block
    carries its own log scale (renormalised as :func:`rnndyn.gradflow.backward_products`
    does for one layer), so neither growth nor decay over any T leaves float64. The two
    ends' blocks are only brought to a common scale for the concatenation's norm.
    Schuster & Paliwal (1997); Graves & Schmidhuber (2005).
    """
    from rnndyn._kernels.stack import _scaled_log_norms, _stack_input_grad
    stack = _check_bidirectional(stack)
    D = np.ascontiguousarray(as_array(D, "D", ndim=2, finite=False))
    if D.shape[1] != stack.aux_size:
        raise InputError(f"D must have shape (T, {stack.aux_size}), got {D.shape}")
    T, NL, M = D.shape[0], stack.hidden[-1], stack.M
    check_request(array_bytes(T, NL, 2 * M + 2 * sum(stack.hidden)),
                  f"input-position gradients over T = {T} positions")
    theta, lay, src, start = stack.pack()
    top = 2 * (stack.L - 1)
    blocks = []
    for part, t_seed in ((top, T), (top + 1, 1)):
        Gu = np.empty((T, NL, M))
        lam = np.empty(T)
        with np.errstate(over="ignore", invalid="ignore"):
            _stack_input_grad(theta, lay, src, start, D, part, t_seed, Gu, lam)
        blocks.append((Gu, lam))
    out = {}
    for name, (Gu, lam) in zip(("log_norm_forward", "log_norm_reverse"), blocks):
        out[name] = np.empty(T)
        _scaled_log_norms(Gu, lam, out[name])
    # the concatenation: both ends' blocks at their common (larger) scale
    (Gf, lf), (Gr, lr) = blocks
    with np.errstate(invalid="ignore"):
        ref = np.fmax(lf, lr)
        ref = np.where(np.isnan(lf) | np.isnan(lr), np.nan, ref)
        finite_ref = np.where(np.isfinite(ref), ref, 0.0)
        cf = np.where(lf > -np.inf, np.exp(lf - finite_ref), 0.0)[:, None, None]
        cr = np.where(lr > -np.inf, np.exp(lr - finite_ref), 0.0)[:, None, None]
        both = np.ascontiguousarray(np.concatenate([Gf * cf, Gr * cr], axis=1))
    out["log_norm_both"] = np.empty(T)
    _scaled_log_norms(both, ref, out["log_norm_both"])
    return out


def position_gradient_flow(stack, x0, n_steps, inputs=None, *, seed=0):
    """The gradient reaching every input position of a bidirectional stack, from both ends.

    Parameters
    ----------
    stack : Stack
        Bidirectional, M >= 1 inputs (any cells, skips and sizes).
    x0 : array_like, shape (ΣS,), or {'zero', 'random'}
        The joint initial state (a reverse part's: its state before it reads u_T;
        'random': N(0, 1) drawn with ``seed``).
    n_steps : int
        T >= 1.
    inputs : array_like, shape (T, M), optional
        u_1 … u_T (zeros when omitted): the gradients are taken along this sequence.
    seed : int

    Returns
    -------
    PositionFlowResult
        ln and log10 of g^→_t = ‖∂h^{L,→}_T/∂u_t‖₂, g^←_t = ‖∂h^{L,←}_1/∂u_t‖₂ and
        g_t = ‖∂[h^{L,→}_T; h^{L,←}_1]/∂u_t‖₂ for t = 1 … T (for an LSTM, h only: the
        output, not the cell state c).

    Notes
    -----
    See the module docstring for the definitions and :func:`position_backward` for the
    recurrence.

    References
    ----------
    Schuster & Paliwal (1997), "Bidirectional recurrent neural networks", IEEE Trans.
    Signal Processing 45(11); Graves, Mohamed & Hinton (2013), deep bidirectional RNNs;
    Pascanu, Mikolov & Bengio (2013), ICML, eq. 5 (the products of Jacobians).
    """
    stack = _check_bidirectional(stack)
    T = as_int(n_steps, "n_steps", minimum=1)
    x0v, X, D, overflow_step = checked_trajectory(stack, x0, T, inputs, seed=seed)
    names = ("log_norm_forward", "log_norm_reverse", "log_norm_both")
    if overflow_step is None:
        out = position_backward(stack, D)
    else:
        out = {name: np.full(T, np.nan) for name in names}
    ln10 = np.log(10.0)
    finite = overflow_step is None and all(bool(np.all(np.isfinite(out[n]))) for n in names)
    params = {"n_steps": T, "x0": x0 if isinstance(x0, str) else x0v.tolist(),
              "inputs": "none" if inputs is None else "array"}
    meta = make_meta(params, seed=seed, model=stack,
                     method="adjoint block rows from h^{L,→}_T and from h^{L,←}_1, each part "
                            "swept against its own time direction, layers top down, every "
                            "block renormalised with a running log scale")
    return PositionFlowResult(
        position=np.arange(1, T + 1), log_norm_forward=out["log_norm_forward"],
        log10_norm_forward=out["log_norm_forward"] / ln10,
        log_norm_reverse=out["log_norm_reverse"],
        log10_norm_reverse=out["log_norm_reverse"] / ln10,
        log_norm_both=out["log_norm_both"], log10_norm_both=out["log_norm_both"] / ln10,
        hidden=stack.hidden, cells=stack.cells, skip=stack.skip, finite=finite,
        states_finite=overflow_step is None, overflow_step=overflow_step,
        x_final=X[-1].copy(), meta=meta)
