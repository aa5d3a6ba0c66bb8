"""The trainable parameters of a stacked RNN (:mod:`rnndyn.stack`) and the hot path of its
training loop: BPTT (:func:`rnndyn.stack_bptt.stack_grad`), evaluation and per-layer
diagnostics, in the shapes :mod:`rnndyn.training`'s loop uses for one layer."""

import numpy as np

from rnndyn._train_grad import _evaluate, spectral_stats
from rnndyn._train_params import readout_scale
from rnndyn._validate import InputError, as_array, as_int, as_rng
from rnndyn.models import RNN, Readout
from rnndyn.stack import Stack, make_stack
from rnndyn.stack_bptt import StackGradient, check_trainable, grad_views, stack_grad


class StackParams:
    """A unidirectional stack and its readout over one flat vector ``theta``.

    Layout of theta: the stack's packed parameters (:meth:`rnndyn.stack.Stack.pack`:
    each layer's W, b, U, bottom layer first), then the readout's V (K, N_L) and c (K,):
    the layout of :class:`rnndyn.stack_bptt.StackGradient`, so the global gradient norm,
    clipping and θ ← θ − lr·g are single vector operations on all parameters, in place.

    Parameters
    ----------
    theta : array_like, shape (size,)
        Copied once (the container owns its vector; it is never rebound).
    stack : rnndyn.stack.Stack
        The structure: cells, sizes, activations, forms and skip (its own weights are not
        used; :meth:`stack` gives the live values as a new Stack).
    K : int
        Outputs of the readout y_t = V r^L_t + c.

    Notes
    -----
    Deep RNNs trained by BPTT: Graves, Mohamed & Hinton (2013); Pascanu, Gulcehre, Cho &
    Bengio (2014). The readout reads the top layer as the one-layer trainers do
    (:mod:`rnndyn.stack_bptt`).
    """

    def __init__(self, theta, stack, K):
        stack = check_trainable(stack)
        packed, self.lay, self.src, self.start = stack.pack()
        K = as_int(K, "K", minimum=1)
        size = packed.size + K * (stack.hidden[-1] + 1)
        theta = as_array(theta, "theta", ndim=1).copy()
        if theta.size != size:
            raise InputError(f"theta must have shape ({size},) (the packed {stack.label} of "
                             f"layers {stack.hidden}, then V, c with K={K}), got "
                             f"{theta.shape}")
        self.theta = theta
        self.template = stack
        self.K = K
        self.n_stack = packed.size
        # the kernel's views of the same memory: the stack's part, V and c
        self.layers, self.V, self.c = grad_views(stack, K, theta)
        self.stack_theta = theta[:packed.size]

    L = property(lambda self: self.template.L, doc="Number of layers.")
    M = property(lambda self: self.template.M, doc="Inputs of the bottom layer.")
    hidden = property(lambda self: self.template.hidden, doc="Units per layer.")
    skip = property(lambda self: self.template.skip)

    @property
    def size(self):
        """Length of theta."""
        return self.theta.size

    def views(self, vec):
        """(layers, V, c) as views of ``vec`` (laid out like ``theta``)."""
        return grad_views(self.template, self.K, vec)

    def stack(self):
        """The current parameters as a :class:`rnndyn.stack.Stack` (copies: a snapshot)."""
        layers = []
        for p, (W, U, b) in zip(self.template.parts, self.layers):
            layers.append(RNN(W.copy(), U.copy(), b.copy(), p.activation, p.form,
                              cell=p.cell))
        return Stack(layers, self.skip, origin=self.template.origin)

    def readout(self):
        """The readout (copies)."""
        return Readout(self.V.copy(), self.c.copy())

    def copy(self):
        return StackParams(self.theta, self.template, self.K)


def init_stack_params(hidden, n_inputs, n_outputs, init="smart-tanh", *, skip="none",
                      activation="tanh", form="pascanu", gain=1.0, seed=0, cell="vanilla",
                      forget_bias=0.0):
    """Seeded initial parameters of a stack: :func:`rnndyn.stack.make_stack`, then V.

    Parameters
    ----------
    hidden : sequence of int
        Units per layer, bottom first.
    n_inputs, n_outputs : int
        M and K.
    init, activation, form, gain, cell, forget_bias
        As for :func:`rnndyn.training.init_params`, every layer alike.
    skip : {'none', 'residual', 'dense'}
    seed : int or numpy.random.Generator
        The stack's seed (:func:`rnndyn.stack.part_seed` per layer) is the generator's
        first draw; V is drawn next.

    Returns
    -------
    StackParams

    Notes
    -----
    The readout's scale is :func:`rnndyn.training.init_params`' (Pascanu, Mikolov &
    Bengio 2013, §5); c is zero.
    """
    rng = as_rng(seed)
    stack_seed = int(rng.integers(0, 2 ** 63 - 1))
    kw = dict(activation=activation, form=form) if cell == "vanilla" else \
        dict(forget_bias=forget_bias)
    stack = check_trainable(make_stack(hidden, cell=cell, skip=skip, n_inputs=n_inputs,
                                       init=init, gain=gain, seed=stack_seed, **kw))
    K = as_int(n_outputs, "n_outputs", minimum=1)
    N = stack.hidden[-1]
    V = readout_scale(init, N) * rng.standard_normal((K, N))
    theta = np.concatenate([stack.pack()[0], V.ravel(), np.zeros(K)])
    return StackParams(theta, stack, K)


def layer_spectral_stats(params):
    """(ρ, λ1), each (L,): :func:`rnndyn.training.spectral_stats` of every layer's W
    (NaN for a gated layer's stacked W)."""
    stats = np.array([spectral_stats(W) for W, _, _ in params.layers])
    return stats[:, 0].copy(), stats[:, 1].copy()


def _grad(params, u, code, labels, targets, omega_code, alpha, err_code, tol, out=None):
    """The stack's counterpart of ``rnndyn._train_grad._grad`` (same call; Ω does not
    apply, so ``omega_code`` and ``alpha`` are ignored and the result's Ω is NaN)."""
    if out is None:
        g = np.empty(params.size)
        out = (g, params.views(g))
    g, views = out
    wrong = np.empty(u.shape[1])
    E = stack_grad(params.stack_theta, params.lay, params.src, params.start, params.V,
                   params.c, code, labels, targets, u, err_code, tol, g, views, wrong)
    return StackGradient(g, views, E, wrong > 0.5, float("nan"), False)


def _forward(params, code, labels, targets, u, err_code, tol, wrong, stats):
    """wrong (B,) and stats[0] = E, by the BPTT kernel (there is no forward-only stack
    kernel: an evaluation costs about three forward passes; the gradient is dropped)."""
    g = np.empty(params.size)
    stats[0] = stack_grad(params.stack_theta, params.lay, params.src, params.start,
                          params.V, params.c, code, labels, targets, u, err_code, tol, g,
                          params.views(g), wrong)


# an evaluation chunk's BPTT workspace is capped at this many numbers (32 MB)
_EVAL_WORK_ELEMENTS = 4_000_000


def _evaluate_stack(params, spec, length, n, rng, err_code, chunk):
    """``rnndyn._train_grad._evaluate`` for a stack, chunks capped by the workspace."""
    from rnndyn._kernels.bptt_stack import _stack_work_size
    per_sequence = _stack_work_size(params.lay, params.src, params.start, length[1], 1)
    chunk = max(1, min(chunk, _EVAL_WORK_ELEMENTS // max(per_sequence, 1)))
    return _evaluate(params, spec, length, n, rng, err_code, chunk, forward=_forward)


def trained_stack(result):
    """The stack and readout a stacked training result ends with.

    Parameters
    ----------
    result : rnndyn.training.StackTrainResult
        A returned or loaded result.

    Returns
    -------
    (rnndyn.stack.Stack, rnndyn.models.Readout)
    """
    from rnndyn import tasks
    p = result.meta["params"]
    spec = tasks.task_spec(p["task"], **(p.get("task_options") or {}))
    template = init_stack_params(p["hidden"], spec.n_inputs, spec.n_outputs, p["init"],
                                 skip=p["skip"], activation=p["activation"], form=p["form"],
                                 gain=p["gain"], cell=p["cell"],
                                 forget_bias=p["forget_bias"]).template
    theta = np.concatenate([np.asarray(result.theta), np.asarray(result.V).ravel(),
                            np.asarray(result.c)])
    params = StackParams(theta, template, spec.n_outputs)
    return params.stack(), params.readout()
