"""BPTT through a stacked RNN (:mod:`rnndyn.stack`) with a linear readout on its top layer.

The gradient of one minibatch's loss with respect to every parameter of every layer and
of the readout, from the numba kernel :func:`rnndyn._kernels.bptt_stack._bptt_stack`
(the losses, labels, targets and error rules of :func:`rnndyn.training.loss_and_grad`),
then clipped as the training loop clips (:func:`rnndyn.optim.clip`, the global norm of
all parameters as one vector).
"""

import numpy as np

from rnndyn import optim, tasks
from rnndyn._train_grad import LOSSES, _workspace, check_batch
from rnndyn._validate import InputError, as_array, as_choice, as_float
from rnndyn.codes import ERR_CODES
from rnndyn.models import Readout
from rnndyn.stack import as_stack


class StackGradient:
    """What :func:`stack_loss_and_grad` returns.

    Attributes
    ----------
    grad : ndarray
        The flat gradient: the stack's parameters in the layout of
        :meth:`rnndyn.stack.Stack.pack` (each layer's W, b, U), then V and c.
    layers : tuple of (W, U, b)
        Views of ``grad``: layer l + 1's gradients, shaped as its parameters.
    V, c : ndarray
        Views of ``grad``: the readout's.
    loss : float
        E before clipping.
    wrong : ndarray of bool, shape (B,)
    norm : float
        ‖grad‖₂ before clipping.
    clipped : bool
    omega : float
        NaN: the regulariser Ω is a one-layer vanilla quantity (the training loop's
        diagnostics read it).
    """

    omega = float("nan")

    def __init__(self, grad, views, loss, wrong, norm, clipped):
        self.grad = grad
        self.layers, self.V, self.c = views
        self.loss = loss
        self.wrong = wrong
        self.norm = norm
        self.clipped = clipped


def check_trainable(stack, name="stack"):
    """``stack`` as a Stack this BPTT trains; a one-line InputError for a bidirectional one."""
    stack = as_stack(stack, name)
    if stack.bidirectional:
        raise InputError(f"{name}: BPTT training takes a unidirectional stack; a "
                         "bidirectional one reads u_T before it answers at t < T, and the "
                         "online tasks it would be trained on need causality")
    return stack


def grad_views(stack, K, g):
    """(layers, V, c): views of a flat gradient ``g`` laid out as :class:`StackGradient`'s."""
    theta, lay, _, _ = stack.pack()
    layers = []
    for p, row in zip(stack.parts, lay):
        G, N, M = p.W.shape[0], p.N, p.M
        oW, oU, ob = row[4], row[5], row[6]
        layers.append((g[oW:oW + G * N].reshape(G, N), g[oU:oU + G * M].reshape(G, M),
                       g[ob:oU]))
    n, NL = theta.size, stack.hidden[-1]
    return tuple(layers), g[n:n + K * NL].reshape(K, NL), g[n + K * NL:]


def stack_loss_and_grad(stack, readout, inputs, labels=None, targets=None, *,
                        loss="ce-last", error_rule="squared", error_tol=tasks.ERROR_TOL,
                        mask=None, clip="none", threshold=1.0):
    """BPTT on one minibatch of a stack: E and ∇E for every parameter, then clipping.

    Parameters
    ----------
    stack : rnndyn.stack.Stack or rnndyn.models.RNN
        Unidirectional, any cells, sizes and skip (an RNN is a one-layer stack). Every
        layer starts from the zero state (pascanu: x_0 = 0; LSTM: h = c = 0).
    readout : rnndyn.models.Readout
        y_t = V r^L_t + c on the top layer: r = σ(x) for a pascanu top layer, h
        otherwise (what the one-layer trainers read).
    inputs : ndarray, shape (T, B, M)
        Time-major inputs of B sequences of one length T.
    labels, targets, loss, error_rule, error_tol, mask
        As for :func:`rnndyn.training.loss_and_grad` (readout at the last step for
        'ce-last' and 'mse-last', at every labelled step for 'ce-all' and
        'bernoulli-all').
    clip : {'none', 'norm', 'value'}
        Applied to the whole gradient as one vector (:func:`rnndyn.optim.clip`).
    threshold : float
        The clipping threshold.

    Returns
    -------
    StackGradient

    Notes
    -----
    Backpropagation through time (Werbos 1990) through the stack of
    :mod:`rnndyn.stack`: layer l's output adjoint is the sum of what its consumers send
    back at the same step (the next layer, every layer above for dense skips, Pᵀ of the
    residual path) and what its own recurrence sends from t + 1, so the kernel sweeps
    the layers top down, each over the whole sequence. Norm clipping: Pascanu, Mikolov
    & Bengio (2013), Algorithm 1. The gradients equal PyTorch autograd of ``nn.RNN``,
    ``nn.LSTM`` and ``nn.GRU`` with ``num_layers > 1`` and of hand-built residual and
    dense stacks to 1e-10 (tests/test_bptt_stack.py).
    """
    stack = check_trainable(stack)
    if not isinstance(readout, Readout):
        raise InputError(f"readout must be an rnndyn.models.Readout, got "
                         f"{type(readout).__name__}")
    if readout.N != stack.hidden[-1]:
        raise InputError(f"readout: V must have shape (K, {stack.hidden[-1]}) (the top "
                         f"layer's units), got {readout.V.shape}")
    u, code, lab, tgt, err_code, tol = check_batch(inputs, stack.M, readout.K, loss, labels,
                                                   targets, mask, error_rule, error_tol)
    B = u.shape[1]
    clip = as_choice(clip, "clip", optim.CLIPS)
    threshold = as_float(threshold, "threshold", minimum=0.0, strict_minimum=True)
    theta, lay, src, start = stack.pack()
    g = np.empty(theta.size + readout.size)
    views = grad_views(stack, readout.K, g)
    wrong = np.empty(B)
    E = stack_grad(theta, lay, src, start, readout.V, readout.c, code, lab, tgt, u,
                   err_code, tol, g, views, wrong)
    norm, clipped = optim.clip(g, clip, threshold)
    return StackGradient(g, views, E, wrong > 0.5, norm, clipped)


def stack_grad(theta, lay, src, start, V, c, code, labels, targets, u, err_code, tol, g,
               views, wrong):
    """Unvalidated call of the kernel (a training loop's hot path): writes the flat
    gradient ``g`` (its ``views`` from :func:`grad_views`) and wrong (B,); returns E."""
    from rnndyn._kernels.bptt_stack import _bptt_stack, _stack_work_size
    T, B, _ = u.shape
    work = _workspace(_stack_work_size(lay, src, start, T, B))
    stats = np.zeros(1)
    _, gV, gc = views
    with np.errstate(all="ignore"):     # the kernels never warn; their Python runs neither
        _bptt_stack(theta, lay, src, start, V, c, code, labels, targets, u, err_code, tol,
                    g[:theta.size], gV, gc, wrong, stats, work)
    return float(stats[0])
