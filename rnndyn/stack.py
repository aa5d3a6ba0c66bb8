"""Stacked RNNs: L layers of any cell, with residual or dense skips, one or two directions.

Layer l (1 … L) is an :class:`rnndyn.models.RNN` of any cell (vanilla in either form, LSTM,
GRU) with N_l units. Its *output* h^l_t is the h part of its state s^l_t (the first N_l
entries: x for the pascanu form, h for elman, LSTM and GRU). Its input v^l_t at step t is

* ``skip='none'``: v^1_t = u_t, v^l_t = h^{l−1}_t (a plain stack, PyTorch ``num_layers``);
* ``skip='residual'``: the same inputs, and for l ≥ 2 the layer adds its input to its output,
  h^l_t = f^l(s^l_{t−1}, h^{l−1}_t) + P h^{l−1}_t (so the recurrence sees the sum);
* ``skip='dense'``: v^l_t = [u_t, h^1_t, …, h^{l−1}_t] (DenseNet-style concatenation).

With ``bidirectional=True`` every layer has a forward and a reverse direction (the reverse
one reads u_T … u_1) and its output is [h^{l,→}_t, h^{l,←}_t], as in PyTorch: layer l + 1
takes both directions of layer l (dense: of every lower layer); a residual direction adds
its own direction's output of the layer below.

The residual projection P
-------------------------
Where N_l = N_{l−1}, P = I. Otherwise P is the *truncated identity* (N_l × N_{l−1}, ones on
the diagonal, zero-padding when the layer grows, truncation when it shrinks; He et al.
2016's parameter-free shortcut, option A). It is chosen over a fixed random projection
because it is a partial isometry (‖P‖₂ = 1, PPᵀ or PᵀP a projection): the skip path neither
amplifies nor damps a gradient, so a depth map shows the cells' effect, and it needs no
seed and nothing stored. Layer 1 gets no residual: its input is data, not a hidden state.

The joint state
---------------
s_t = [s^{1,→}_t, (s^{1,←}_t), s^{2,→}_t, …] (ΣS entries; :attr:`Stack.offsets`). Its
one-step Jacobian is block lower-triangular across layers for a unidirectional stack
(layer l at t depends on layer l at t − 1 and on layers below at t), which the kernels
exploit: they never form a (ΣS)² matrix per step.

Weights files
-------------
:func:`save_stack` writes, and :func:`load_stack` reads, an ``.npz`` with the keys

* ``stack_skip`` (0-d string): 'none', 'residual' or 'dense' (marks a stack file);
* ``W_l{k}``, ``U_l{k}``, ``b_l{k}`` for layer k = 0 … L−1 (the packed layout of
  :mod:`rnndyn.cells`), and ``W_l{k}_reverse``, … for a bidirectional stack's reverse part;
* ``cell_l{k}``, ``activation_l{k}``, ``form_l{k}`` (0-d strings, shared by both
  directions; defaults 'vanilla', 'tanh', 'pascanu').

PyTorch state dicts of ``nn.RNN``/``nn.LSTM``/``nn.GRU`` with ``num_layers > 1`` or
``bidirectional=True`` load as a Stack (skip 'none') through
:func:`rnndyn.torch_weights.load_torch_weights` (and :func:`load_stack`).

References
----------
Graves, Mohamed & Hinton (2013), deep (stacked, bidirectional) RNNs; Pascanu, Gulcehre,
Cho & Bengio (2014), "How to construct deep recurrent neural networks"; He, Zhang, Ren &
Sun (2016), residual shortcuts (option A); Huang et al. (2017), dense connections; Wu et al.
(2016), residual stacked LSTMs; the PyTorch documentation of ``nn.RNN``/``nn.LSTM``/
``nn.GRU`` (``num_layers``, ``bidirectional``) for the exact semantics.
"""

import os
from dataclasses import dataclass

import numpy as np

from rnndyn import cells
from rnndyn._memory import array_bytes, check_request
from rnndyn._validate import InputError, as_array, as_choice, as_int
from rnndyn.inputs import check_inputs

SKIPS = ("none", "residual", "dense")
X0_KINDS = ("zero", "random")
# columns of the kernels' layout table (rnndyn._kernels.stack), one row per part
LAY_COLUMNS = ("cell", "act", "N", "M_in", "oW", "oU", "ob", "oX", "oD", "GN", "S", "A",
               "reverse", "skip_off", "skip_len")
_WHAT = "weights file"
_STACK_TEXT = ("cell", "activation", "form")


@dataclass(frozen=True, eq=False)
class Stack:
    """A stack of recurrent layers (see the module docstring for the equations).

    Attributes
    ----------
    layers : tuple of tuple of RNN
        ``layers[l]`` = (forward,) or (forward, reverse): layer l + 1's parts. Both parts of
        a layer have the same cell and size; part inputs must have the sizes the ``skip``
        rule gives (layer 1: the stack's M inputs).
    skip : {'none', 'residual', 'dense'}
    origin : dict, optional
        How the stack was made (``make_stack``'s arguments, or the file it came from).
    """

    layers: tuple
    skip: str = "none"
    origin: dict = None

    def __post_init__(self):
        from rnndyn.models import RNN
        skip = as_choice(self.skip, "skip", SKIPS)
        if isinstance(self.layers, (str, bytes)) or not hasattr(self.layers, "__len__"):
            raise InputError("layers must be a sequence of layers, got "
                             f"{type(self.layers).__name__}")
        layers = []
        for l, layer in enumerate(self.layers):
            parts = (layer,) if isinstance(layer, RNN) else tuple(layer)
            if len(parts) not in (1, 2) or not all(isinstance(p, RNN) for p in parts):
                raise InputError(f"layers[{l}] must be an RNN or a pair (forward, reverse) of "
                                 "RNNs (rnndyn.models.RNN)")
            layers.append(parts)
        if not layers:
            raise InputError("layers must hold at least one layer")
        n_dirs = len(layers[0])
        if any(len(p) != n_dirs for p in layers):
            raise InputError("layers: every layer must have the same number of directions "
                             "(1, or 2 for a bidirectional stack)")
        for l, parts in enumerate(layers):
            fwd = parts[0]
            for p in parts[1:]:
                if (p.cell, p.N, p.form, p.activation) != (fwd.cell, fwd.N, fwd.form,
                                                          fwd.activation):
                    raise InputError(f"layers[{l}]: the reverse direction must have the forward "
                                     f"one's cell, size, form and activation")
            want = self._input_size(l, layers, n_dirs, skip)
            if any(p.M != want for p in parts):
                raise InputError(f"layers[{l}] takes {fwd.M} inputs, but with skip={skip!r}"
                                 f"{' and two directions' if n_dirs == 2 else ''} "
                                 f"it receives {want}")
        object.__setattr__(self, "layers", tuple(layers))
        object.__setattr__(self, "skip", skip)

    @staticmethod
    def _input_size(l, layers, n_dirs, skip):
        if l == 0:
            return layers[0][0].M
        if skip == "dense":
            return layers[0][0].M + n_dirs * sum(p[0].N for p in layers[:l])
        return n_dirs * layers[l - 1][0].N

    # ------------------------------------------------------------ sizes
    @property
    def L(self):
        """Number of layers."""
        return len(self.layers)

    @property
    def n_dirs(self):
        """1, or 2 for a bidirectional stack."""
        return len(self.layers[0])

    @property
    def bidirectional(self):
        return self.n_dirs == 2

    @property
    def hidden(self):
        """[N_1, …, N_L]: units per layer (per direction)."""
        return [p[0].N for p in self.layers]

    @property
    def cells(self):
        """The cell of each layer."""
        return [p[0].cell for p in self.layers]

    @property
    def M(self):
        """Number of inputs of the stack (layer 1's)."""
        return self.layers[0][0].M

    @property
    def parts(self):
        """Every layer-direction RNN in joint-state order (layer by layer, forward first)."""
        return [p for layer in self.layers for p in layer]

    @property
    def offsets(self):
        """Start of each part's state in the joint state (len(parts) + 1 entries)."""
        return np.concatenate([[0], np.cumsum([p.S for p in self.parts])]).astype(int)

    @property
    def S(self):
        """Size of the joint state ΣS."""
        return int(self.offsets[-1])

    @property
    def aux_size(self):
        """Length of the joint auxiliary row (the parts' rows side by side)."""
        return sum(p.aux_size for p in self.parts)

    @property
    def output_size(self):
        """Size of the top layer's output: n_dirs · N_L."""
        return self.n_dirs * self.hidden[-1]

    @property
    def label(self):
        """e.g. '3-layer residual lstm' or '2-layer bidirectional tanh elman/gru'."""
        kinds = []
        for p in self.layers:
            if p[0].label not in kinds:
                kinds.append(p[0].label)
        words = [f"{self.L}-layer"] + ([self.skip] if self.skip != "none" else []) + \
            (["bidirectional"] if self.bidirectional else []) + ["/".join(kinds)]
        return " ".join(words)

    def describe(self):
        """A JSON-able summary (no arrays)."""
        out = {"stack": True, "layers": self.L, "hidden": self.hidden, "cells": self.cells,
               "skip": self.skip, "bidirectional": self.bidirectional, "M": self.M,
               "state_size": self.S}
        vanilla = [p[0] for p in self.layers if p[0].cell == "vanilla"]
        if vanilla:
            out["activation"] = [p.activation for p in vanilla]
            out["form"] = [p.form for p in vanilla]
        out.update(self.origin or {})
        return out

    # ------------------------------------------------------------ kernel layout
    def pack(self):
        """(theta, lay, src, src_start): the kernels' flat parameters and tables.

        theta holds each part's W, b, U (raveled, in that order); ``lay`` (P, 15) int64 has
        the columns :data:`LAY_COLUMNS`; ``src`` (Q, 6) int64 rows (layer, kind 0 = u /
        1 = a part's output in X, column, length, column in the layer's input v, part or
        −1), layer l's rows being src[src_start[l]:src_start[l+1]].
        """
        cached = self.__dict__.get("_packed")
        if cached is not None:
            return cached
        parts = self.parts
        off = self.offsets
        pieces, lay, o, od = [], [], 0, 0
        for i, p in enumerate(parts):
            l, d = divmod(i, self.n_dirs)
            G, N, M = p.W.shape[0], p.N, p.M
            oW, ob = o, o + G * N
            oU = ob + p.b.size
            o = oU + G * M
            pieces += [p.W.ravel(), p.b, p.U.ravel()]
            residual = self.skip == "residual" and l > 0
            n_low = self.hidden[l - 1] if l > 0 else 0
            lay.append([p.cell_code, p.act_code, N, M, oW, oU, ob, off[i], od, G, p.S,
                        p.aux_size, d, d * n_low if residual else -1,
                        n_low if residual else 0])
            od += p.aux_size
        src, start = [], [0]
        for l in range(self.L):
            rows = []
            if l == 0 or self.skip == "dense":
                rows.append((l, 0, 0, self.M, -1))
            lower = range(l) if self.skip == "dense" else ([l - 1] if l else [])
            for j in lower:
                for d in range(self.n_dirs):
                    q = j * self.n_dirs + d
                    rows.append((l, 1, int(off[q]), parts[q].N, q))
            voff = 0
            for layer, kind, col, n, q in rows:
                src.append((layer, kind, col, n, voff, q))
                voff += n
            start.append(len(src))
        packed = (np.ascontiguousarray(np.concatenate(pieces)),
                  np.array(lay, dtype=np.int64), np.array(src, dtype=np.int64).reshape(-1, 6),
                  np.array(start, dtype=np.int64))
        object.__setattr__(self, "_packed", packed)
        return packed

    def split(self, X):
        """The parts' blocks of joint states X (..., ΣS): a list in :attr:`parts` order."""
        off = self.offsets
        return [X[..., off[i]:off[i + 1]] for i in range(len(self.parts))]

    def outputs(self, X, layer=None):
        """Layer outputs [h^{l,→}_t, h^{l,←}_t] (T, n_dirs·N_l) at t = 1 … T from joint
        states X (T+1, ΣS) of :func:`trajectory`; default the top layer (1-based ``layer``)."""
        l = self.L - 1 if layer is None else as_int(layer, "layer", minimum=1,
                                                     maximum=self.L) - 1
        off = self.offsets
        cols = []
        for d in range(self.n_dirs):
            q = l * self.n_dirs + d
            cols.append(X[1:, off[q]:off[q] + self.hidden[l]])
        return np.concatenate(cols, axis=1)


def as_stack(model, name="model"):
    """``model`` as a Stack (an RNN becomes a one-layer stack); InputError otherwise."""
    from rnndyn.models import RNN
    if isinstance(model, Stack):
        return model
    if isinstance(model, RNN):
        return Stack([model], origin=model.origin)
    raise InputError(f"{name} must be a Stack (rnndyn.stack) or an RNN, got "
                     f"{type(model).__name__}")


# ---------------------------------------------------------------- building

def _hidden_sizes(hidden):
    if isinstance(hidden, (int, np.integer)) and not isinstance(hidden, bool):
        hidden = [hidden]
    if isinstance(hidden, (str, bytes)) or not hasattr(hidden, "__iter__"):
        raise InputError(f"hidden must be a sequence of layer sizes (e.g. [64, 32]), got "
                         f"{hidden!r}")
    sizes = [as_int(n, "hidden", minimum=1) for n in hidden]
    if not sizes:
        raise InputError("hidden must name at least one layer size")
    return sizes


def part_seed(seed, part):
    """The seed of part ``part`` (layer·n_dirs + direction) of a stack made with ``seed``:
    the first word of SeedSequence([seed, part]), so layers draw independent weights and
    adding a layer leaves the lower ones unchanged."""
    return int(np.random.SeedSequence([seed, part]).generate_state(1)[0])


def make_stack(hidden=(64, 32), *, cell="vanilla", skip="none", bidirectional=False,
               n_inputs=0, activation="tanh", form="pascanu", init="gaussian", gain=1.0,
               forget_bias=0.0, chrono_t_max=None, seed=0):
    """Build a seeded random stack, each part by :func:`rnndyn.models.make_rnn`.

    Parameters
    ----------
    hidden : int or sequence of int
        Units per layer [N_1, …, N_L] (per direction).
    cell : str or sequence of str
        'vanilla', 'lstm' or 'gru': one for all layers or one per layer.
    skip : {'none', 'residual', 'dense'}
    bidirectional : bool
    n_inputs : int
        M, the stack's inputs (>= 0).
    activation, form, init, gain, forget_bias, chrono_t_max
        As for :func:`rnndyn.models.make_rnn` (activation and form: vanilla layers only;
        forget_bias and chrono_t_max: gated layers only).
    seed : int
        Part p = l·n_dirs + d is drawn with :func:`part_seed` (seed, p).

    Returns
    -------
    Stack

    Notes
    -----
    Input sizes follow from ``skip`` and ``bidirectional`` (module docstring), e.g. a
    dense layer l takes M + n_dirs·(N_1 + … + N_{l−1}) inputs.
    """
    from rnndyn.models import make_rnn
    sizes = _hidden_sizes(hidden)
    L = len(sizes)
    if isinstance(cell, str):
        cell_list = [cell] * L
    else:
        cell_list = list(cell)
        if len(cell_list) != L:
            raise InputError(f"cell names {len(cell_list)} cells for {L} layers (hidden="
                             f"{sizes}); give one cell or one per layer")
    cell_list = [as_choice(c, "cell", cells.CELLS) for c in cell_list]
    if "vanilla" not in cell_list and (activation != "tanh" or form != "pascanu"):
        raise InputError(f"activation and form apply to vanilla layers; the {'/'.join(cell_list)}"
                         " layers have sigmoid gates and a tanh candidate (leave them at their "
                         f"defaults), got activation={activation!r}, form={form!r}")
    if set(cell_list) == {"vanilla"} and (isinstance(forget_bias, str) or forget_bias != 0.0):
        raise InputError(f"forget_bias applies to gated layers (cell 'lstm' or 'gru'), got "
                         f"forget_bias={forget_bias!r} for vanilla layers")
    skip = as_choice(skip, "skip", SKIPS)
    if not isinstance(bidirectional, (bool, np.bool_)):
        raise InputError(f"bidirectional must be True or False, got {bidirectional!r}")
    n_dirs = 2 if bidirectional else 1
    M = as_int(n_inputs, "n_inputs", minimum=0)
    seed = as_int(seed, "seed", minimum=0)
    layers, m_in = [], M
    for l, (n, c) in enumerate(zip(sizes, cell_list)):
        if l > 0:
            m_in = M + n_dirs * sum(sizes[:l]) if skip == "dense" else n_dirs * sizes[l - 1]
        kw = dict(n_inputs=m_in, init=init, gain=gain, cell=c)
        if c == "vanilla":
            kw.update(activation=activation, form=form)
        else:
            kw.update(forget_bias=forget_bias, chrono_t_max=chrono_t_max)
        layers.append(tuple(make_rnn(n, seed=part_seed(seed, l * n_dirs + d), **kw)
                            for d in range(n_dirs)))
    origin = {"init": init, "gain": gain, "seed": seed}
    return Stack(layers, skip, origin=origin)


# ---------------------------------------------------------------- the forward pass

def initial_state(stack, x0="zero", *, seed=0, scale=1.0):
    """A joint initial state (ΣS,): 'zero', 'random' (N(0, scale²), seeded) or an array."""
    stack = as_stack(stack, "stack")
    if isinstance(x0, str):
        kind = as_choice(x0, "x0", X0_KINDS)
        if kind == "zero":
            return np.zeros(stack.S)
        return scale * np.random.default_rng(as_int(seed, "seed", minimum=0)).standard_normal(
            stack.S)
    return as_array(x0, "x0", shape=(stack.S,))


def trajectory(stack, x0, n_steps, inputs=None):
    """Run every layer of ``stack`` over ``n_steps`` inputs: the joint states.

    Parameters
    ----------
    stack : Stack (or RNN)
    x0 : array_like, shape (ΣS,), or {'zero', 'random'}
        Every part's initial state side by side (:attr:`Stack.offsets`); for a reverse
        part, its state before it reads u_T.
    n_steps : int
        T >= 0.
    inputs : array_like, shape (T, M), optional
        u_1 … u_T (zeros when omitted).

    Returns
    -------
    X : ndarray, shape (T + 1, ΣS)
        Row 0 the initial states, row t every part's state at position t (a forward part
        after reading u_1 … u_t, a reverse one after u_T … u_t).
    D : ndarray, shape (T, ΣA)
        D[t−1]: the auxiliary rows (rnndyn.cells) of the steps that made row t, the parts'
        rows side by side in :attr:`Stack.parts` order.

    Notes
    -----
    h^l_t = f^l(s^l_{t∓1}, v^l_t) (+ P h^{l−1}_t for a residual layer); the layers run one
    after the other over the whole sequence (a reverse part needs all of its inputs), each
    step through the cell kernels of :mod:`rnndyn._kernels.cells`.
    """
    from rnndyn._kernels.stack import _stack_trajectory
    stack = as_stack(stack, "stack")
    x0 = initial_state(stack, x0)
    T = as_int(n_steps, "n_steps", minimum=0)
    theta, lay, src, start = stack.pack()
    m_max = int(lay[:, 3].max())
    check_request(array_bytes(T + 1, stack.S) + array_bytes(T, stack.aux_size)
                  + array_bytes(T, m_max) + array_bytes(T, stack.M),
                  f"a trajectory of n_steps={T} for a stack of hidden={stack.hidden}")
    u = check_inputs(inputs, T, stack.M)
    X = np.empty((T + 1, stack.S))
    D = np.empty((T, stack.aux_size))
    _stack_trajectory(theta, lay, src, start, stack.n_dirs, x0, u, X, D,
                      np.empty((T, m_max)))
    return X, D


def checked_trajectory(stack, x0, n_steps, inputs=None, *, seed=0):
    """The start of every stack analysis: :func:`trajectory` from ``x0`` (an array, or
    'zero'/'random', N(0, 1) drawn with ``seed``) run with float warnings off.

    Returns
    -------
    x0 : ndarray, shape (ΣS,)
    X, D : ndarray
        As :func:`trajectory`.
    overflow_step : int or None
        The first row of X that is not finite (None if every one is).
    """
    stack = as_stack(stack, "stack")
    x0v = initial_state(stack, x0, seed=seed)
    with np.errstate(over="ignore", invalid="ignore"):
        X, D = trajectory(stack, x0v, n_steps, inputs)
    bad = np.flatnonzero(~np.all(np.isfinite(X), axis=1))
    return x0v, X, D, int(bad[0]) if bad.size else None


# ---------------------------------------------------------------- weights files

def save_stack(stack, path, *, overwrite=False):
    """Write ``stack`` to ``path`` (.npz, atomically) with the keys of the module docstring."""
    from rnndyn.io import atomic_savez
    stack = as_stack(stack, "stack")
    arrays = {"stack_skip": np.array(stack.skip)}
    for k, layer in enumerate(stack.layers):
        for d, p in enumerate(layer):
            sfx = f"_l{k}" + ("_reverse" if d else "")
            arrays.update({"W" + sfx: p.W, "U" + sfx: p.U, "b" + sfx: p.b})
        p = layer[0]
        arrays.update({f"cell_l{k}": np.array(p.cell), f"activation_l{k}": np.array(p.activation),
                       f"form_l{k}": np.array(p.form)})
    atomic_savez(path, arrays, overwrite=overwrite)
    return path


def is_stack_file(names):
    """Whether .npz array ``names`` are those of a stack file (it holds ``stack_skip``)."""
    return "stack_skip" in names


def load_stack(path, *, activation=None):
    """Read a model that may be a stack: an rnndyn stack file, or anything
    :func:`rnndyn.models.load_weights` reads (a PyTorch dict with ``num_layers > 1`` or
    ``bidirectional=True`` is a Stack, a one-layer file an RNN).

    Parameters
    ----------
    path : str or os.PathLike
    activation : {'tanh', 'relu'}, optional
        For PyTorch ``nn.RNN`` dicts (not stored in them); see :func:`load_weights`.

    Returns
    -------
    Stack or RNN
    """
    from rnndyn import io, torch_weights
    from rnndyn.models import load_weights
    if torch_weights.is_torch_path(path):
        return load_weights(path, activation=activation)
    names = io.list_npz(path, what=_WHAT)
    if not is_stack_file(names):
        return load_weights(path, activation=activation)
    path = os.fspath(path)
    if activation is not None:
        raise InputError(f"activation: a stack file {path} names each layer's activation; "
                         "leave activation unset")
    return _read_stack_file(path, names)


def _read_stack_file(path, names):
    from rnndyn import io
    from rnndyn.models import RNN, _text
    layers = sorted({int(n[3:].split("_")[0]) for n in names if n.startswith("W_l")
                     and n[3:].split("_")[0].isdigit()})
    if not layers or layers != list(range(len(layers))):
        raise InputError(f"{_WHAT} {path}: a stack file needs W_l0, W_l1, … (layers "
                         f"numbered from 0 without gaps), got {sorted(names)[:8]}")
    bidir = "W_l0_reverse" in names
    allowed = {"stack_skip"}
    for k in layers:
        for sfx in (f"_l{k}", f"_l{k}_reverse") if bidir else (f"_l{k}",):
            allowed.update({"W" + sfx, "U" + sfx, "b" + sfx})
        allowed.update(f"{t}_l{k}" for t in _STACK_TEXT)
    required = [n for n in allowed if n.startswith(("W_", "U_", "b_")) or n == "stack_skip"]
    headers = io.read_npz(path, what=_WHAT, allowed_keys=allowed, required_keys=required,
                          headers_only=True)
    check_request(3 * sum(array_bytes(*h[0]) for h in headers.values()), f"{_WHAT} {path}")
    data = io.read_npz(path, what=_WHAT, allowed_keys=allowed, required_keys=required)

    skip = _text(data, "stack_skip", path, "none")
    built = []
    try:
        for k in layers:
            c = _text(data, f"cell_l{k}", path, "vanilla")
            act = _text(data, f"activation_l{k}", path, "tanh")
            form = _text(data, f"form_l{k}", path, "pascanu")
            parts = []
            for sfx in (f"_l{k}", f"_l{k}_reverse") if bidir else (f"_l{k}",):
                parts.append(RNN(data["W" + sfx], data["U" + sfx], data["b" + sfx], act, form,
                                 cell=c))
            built.append(tuple(parts))
        return Stack(built, skip, origin={"source": "rnndyn stack file"})
    except InputError as exc:
        raise InputError(f"{_WHAT} {path}: {exc}") from None
