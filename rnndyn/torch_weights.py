"""PyTorch state dicts of recurrent modules as rnndyn networks.

Reads the state dict of an ``nn.RNN``, ``nn.LSTM``, ``nn.GRU`` (keys ``weight_ih_l0``,
``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``; a one-layer, one-direction module is an
:class:`~rnndyn.models.RNN`, one with ``num_layers > 1`` (``_l1``, ``_l2``, … keys) or
``bidirectional=True`` (``_reverse`` keys) a :class:`~rnndyn.stack.Stack`) or of
``nn.RNNCell``, ``nn.LSTMCell``, ``nn.GRUCell`` (keys ``weight_ih``, ``weight_hh``,
``bias_ih``, ``bias_hh``), from a ``.pt`` file (``torch.save(module.state_dict(), path)``,
read with ``torch.load(weights_only=True)``, so never an arbitrary pickle) or, without
torch, from an ``.npz`` holding the same keys. torch is imported only when a ``.pt`` file
is read, never by ``import rnndyn``.
"""

import os
import re
import warnings

import numpy as np

from rnndyn import cells, io
from rnndyn._memory import array_bytes, check_request
from rnndyn._validate import InputError, as_choice
from rnndyn.gated import pack_bias

LAYER_KEYS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
CELL_KEYS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
#: ``nn.RNN``'s ``nonlinearity`` choices (a state dict does not store which one was used)
NONLINEARITIES = ("tanh", "relu")
#: File name endings read with ``torch.load``
TORCH_SUFFIXES = (".pt", ".pth")

_WHAT = "weights file"
# gate blocks stacked in weight_hh → cell, and the module's name (layer, cell form)
_CELL_OF_GATES = {1: "vanilla", 4: "lstm", 3: "gru"}
_MODULE = {"vanilla": ("nn.RNN", "nn.RNNCell"), "lstm": ("nn.LSTM", "nn.LSTMCell"),
           "gru": ("nn.GRU", "nn.GRUCell")}
# a key of a deeper layer, of the reverse direction or of an LSTM projection (proj_size > 0)
_LAYER_KEY = re.compile(r"(weight|bias)_(ih|hh|hr)_l(\d+)(_reverse)?")
_STATE_DICT_KEY = re.compile(r"(weight|bias)_(ih|hh|hr)(_l\d+(_reverse)?)?")
_INSTALL = ("reading a PyTorch .pt file needs torch, which is not installed: pip install torch "
            "(CPU-only: pip install torch --index-url https://download.pytorch.org/whl/cpu); "
            "or, where torch is installed, save the same keys in an .npz, which rnndyn reads "
            "without torch: np.savez('weights.npz', **{k: v.numpy() for k, v in "
            "module.state_dict().items()})")


def looks_like_state_dict(names):
    """Whether array ``names`` (of an ``.npz``) are PyTorch state-dict keys (or a torch archive).

    True when any name, after a ``prefix.`` of a containing module, is a recurrent
    module's key (``weight_hh_l0``, ``bias_ih``, ...), or when the zip is one written by
    ``torch.save`` (it holds ``data.pkl``).
    """
    return any(_STATE_DICT_KEY.fullmatch(n.rsplit(".", 1)[-1]) or _is_torch_member(n)
               for n in names)


def _is_torch_member(name):
    return name == "data.pkl" or name.endswith("/data.pkl")


def is_torch_path(path):
    """Whether ``path`` names a file to read with ``torch.load`` (ends in .pt or .pth)."""
    return (isinstance(path, (str, os.PathLike))
            and os.fspath(path).lower().endswith(TORCH_SUFFIXES))


def load_torch_weights(path, *, activation=None):
    """Read a PyTorch recurrent module's state dict as an RNN, or a Stack of them.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.pt``/``.pth`` file written by ``torch.save(module.state_dict(), path)`` (needs
        torch), or an ``.npz`` holding the same keys (read without torch).
    activation : {'tanh', 'relu'}, optional
        The ``nonlinearity`` of an ``nn.RNN``/``nn.RNNCell``, which its state dict does not
        store; default tanh (PyTorch's default). Gated cells fix theirs: leave it unset.

    Returns
    -------
    RNN or Stack
        A module with ``num_layers > 1`` or ``bidirectional=True``: a
        :class:`~rnndyn.stack.Stack` (skip 'none'; layer k's parts from the ``_l{k}`` and
        ``_l{k}_reverse`` keys, each as below; ``origin`` as below plus ``num_layers`` and
        ``bidirectional``). Otherwise one RNN: ``nn.RNN``/``nn.RNNCell``: the vanilla cell in
        the ``elman`` form; ``nn.LSTM(Cell)``:
        the ``lstm`` cell; ``nn.GRU(Cell)``: the ``gru`` cell. ``origin`` records
        ``source='torch'``, ``module`` (e.g. ``'nn.LSTM'``), the source ``dtype`` (values
        are converted to float64), ``bias`` (False for a ``bias=False`` module, whose
        biases are zeros) and, for nn.RNN, whether the nonlinearity was ``given`` or
        ``assumed``.

    Raises
    ------
    InputError
        Naming the file: torch missing for a ``.pt``; a file that is not a state dict (a
        whole pickled module, which ``weights_only=True`` refuses; a training checkpoint);
        ``proj_size > 0``; unknown or missing keys (a layer or direction missing from a
        stack); shapes that do not fit one cell (or layers of different cells or sizes);
        non-float tensors; non-finite values.

    Notes
    -----
    The cell is inferred from ``weight_hh`` (G·H, H): G = 1 ``nn.RNN``, 3 ``nn.GRU``,
    4 ``nn.LSTM``. W = ``weight_hh``, U = ``weight_ih``, and b is packed as in
    :mod:`rnndyn.cells` (:func:`rnndyn.gated.pack_bias`): b_ih + b_hh, except the GRU's
    [b_ir + b_hr, b_iz + b_hz, b_in, b_hn]. ``nn.RNN`` computes
    h_t = σ(W_ih u_t + b_ih + W_hh h_{t−1} + b_hh), rnndyn's elman form with b = b_ih + b_hh.

    References
    ----------
    The PyTorch documentation of ``nn.RNN``, ``nn.LSTM``, ``nn.GRU`` and their ``Cell``
    variants (equations and parameter names), and of ``torch.load(weights_only=True)``.
    """
    path = os.fspath(path) if isinstance(path, (str, os.PathLike)) else path
    if activation is not None:
        activation = as_choice(activation, "activation", NONLINEARITIES)
    if is_torch_path(path):
        state = _read_pt(path)
    else:
        names = io.list_npz(path, what=_WHAT)
        if any(_is_torch_member(n) for n in names):   # torch.save's zip under another name
            state = _read_pt(path)
        else:
            state = _read_npz(path, names)
    return _network(path, *state, activation)


# ---------------------------------------------------------------- keys and shapes

def _layout(path, names):
    """The key set the state dict uses (LAYER_KEYS or CELL_KEYS), after every key check;
    for a stacked or bidirectional module the dict {(layer, direction): its four keys}."""
    names = set(names)
    if any(n.startswith("weight_hr") for n in names):
        raise InputError(f"{_WHAT} {path}: holds weight_hr_l0: an LSTM with proj_size > 0 is "
                         "not supported")
    if any((m := _LAYER_KEY.fullmatch(n)) and (int(m.group(3)) > 0 or m.group(4))
           for n in names):
        return _stack_layout(path, names)
    layer, cell = names & set(LAYER_KEYS), names & set(CELL_KEYS)
    if layer and cell:
        raise InputError(f"{_WHAT} {path}: mixes the keys of nn.RNN/LSTM/GRU ({sorted(layer)}) "
                         f"and of their Cell modules ({sorted(cell)}); one module's state "
                         "dict holds one kind")
    keys = CELL_KEYS if cell else LAYER_KEYS
    unknown = sorted(names - set(keys))
    if unknown:
        stripped = {n.rsplit(".", 1)[-1] for n in unknown}
        hint = (" (the keys carry a containing model's prefix: save the recurrent "
                "module's own state_dict(), e.g. model.rnn.state_dict())"
                if all("." in n for n in unknown) and stripped <= set(LAYER_KEYS + CELL_KEYS)
                else "")
        raise InputError(f"{_WHAT} {path}: unknown key(s) {unknown[:6]}"
                         f"{' …' if len(unknown) > 6 else ''}{hint}; a recurrent module's "
                         f"state dict holds {', '.join(LAYER_KEYS)} (nn.RNN, nn.LSTM, nn.GRU) "
                         f"or {', '.join(CELL_KEYS)} (their Cell modules)")
    missing = [k for k in keys[:2] if k not in names]
    if missing:
        raise InputError(f"{_WHAT} {path}: missing {', '.join(missing)}")
    if (keys[2] in names) != (keys[3] in names):
        have, lack = (keys[2], keys[3]) if keys[2] in names else (keys[3], keys[2])
        raise InputError(f"{_WHAT} {path}: holds {have} but not {lack} (a module has both "
                         "biases, or none with bias=False)")
    return keys


def _stack_layout(path, names):
    """{(k, d): (weight_ih, weight_hh, bias_ih, bias_hh) keys} of a module with num_layers
    > 1 or bidirectional=True: layers 0 … K−1 without gaps, both directions of every layer
    if any has a reverse one, both biases everywhere or nowhere."""
    unknown = sorted(n for n in names if not _LAYER_KEY.fullmatch(n))
    if unknown:
        raise InputError(f"{_WHAT} {path}: unknown key(s) {unknown[:6]}"
                         f"{' …' if len(unknown) > 6 else ''}; a stacked nn.RNN/LSTM/GRU's "
                         "state dict holds weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, "
                         "bias_hh_l{k} (and their _reverse keys)")
    found = {(int(m.group(3)), 1 if m.group(4) else 0)
             for m in map(_LAYER_KEY.fullmatch, names)}
    K = 1 + max(k for k, _ in found)
    n_dirs = 2 if any(d for _, d in found) else 1
    groups = {}
    for k in range(K):
        for d in range(n_dirs):
            sfx = f"_l{k}" + ("_reverse" if d else "")
            keys = tuple(base + sfx for base in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
            missing = [key for key in keys[:2] if key not in names]
            if missing:
                raise InputError(f"{_WHAT} {path}: missing {', '.join(missing)} (a module with "
                                 f"{K} layer(s){' and two directions' if n_dirs == 2 else ''}"
                                 " has both weights of every layer and direction)")
            groups[(k, d)] = keys
    biased = {(keys[2] in names, keys[3] in names) for keys in groups.values()}
    if len(biased) != 1 or len(set(next(iter(biased)))) != 1:
        raise InputError(f"{_WHAT} {path}: some layers or directions have biases and others "
                         "do not, or only one of bias_ih and bias_hh (a module has both "
                         "biases everywhere, or none with bias=False)")
    return groups


def _infer_layout(path, layout, shapes):
    """(cell, H) of a one-layer ``layout`` (:func:`_infer`) or of every part of a stacked
    one, which must agree (PyTorch's stacks share cell and hidden_size), with layer k > 0
    taking n_dirs·H inputs."""
    if not isinstance(layout, dict):
        return _infer(path, layout, shapes)
    n_dirs = 1 + max(d for _, d in layout)
    kinds = {key: _infer(path, keys, shapes) for key, keys in layout.items()}
    cell, H = kinds[(0, 0)]
    for (k, d), (c, h) in kinds.items():
        if (c, h) != (cell, H):
            raise InputError(f"{_WHAT} {path}: layer {k}{' (reverse)' if d else ''} is a "
                             f"{_MODULE[c][0]} with H={h}, layer 0 a {_MODULE[cell][0]} with "
                             f"H={H}; one module's layers share cell and hidden_size")
        ih = layout[(k, d)][0]
        if k > 0 and tuple(shapes[ih])[1] != n_dirs * H:
            raise InputError(f"{_WHAT} {path}: {ih} has shape {tuple(shapes[ih])}; layer {k} "
                             f"takes the {n_dirs * H} outputs of layer {k - 1}")
    return cell, H


def _infer(path, keys, shapes):
    """(cell, H) from the arrays' shapes; InputError naming the key that does not fit."""
    ih, hh, bih, bhh = keys
    Whh = tuple(shapes[hh])
    if len(Whh) != 2 or Whh[1] == 0 or Whh[0] % Whh[1] or Whh[0] // Whh[1] not in _CELL_OF_GATES:
        raise InputError(f"{_WHAT} {path}: {hh} has shape {Whh}; expected (G·H, H) with G = 1 "
                         "(nn.RNN), 3 (nn.GRU) or 4 (nn.LSTM)")
    H = Whh[1]
    cell = _CELL_OF_GATES[Whh[0] // H]
    want = {ih: (Whh[0], None), bih: (Whh[0],), bhh: (Whh[0],)}
    for key, shape in want.items():
        if key not in shapes:
            continue
        got = tuple(shapes[key])
        if len(got) != len(shape) or any(w is not None and w != g for w, g in zip(shape, got)):
            text = "(" + ", ".join("M" if w is None else str(w) for w in shape) + \
                (",)" if len(shape) == 1 else ")")
            raise InputError(f"{_WHAT} {path}: {key} has shape {got}, but {hh} {Whh} makes "
                             f"it {text} for {_MODULE[cell][keys == CELL_KEYS]} with H={H}")
    return cell, H


def _check_float(path, key, dtype_name, is_float):
    if not is_float:
        raise InputError(f"{_WHAT} {path}: {key} has dtype {dtype_name}; a state dict of "
                         "floating-point tensors is expected")


def _check_fits(path, shapes, H):
    """Refuse, before reading, what this machine cannot hold: the float64 arrays, their
    source-dtype reads and the network's packed copies (three copies in all)."""
    total = sum(array_bytes(*s) for s in shapes.values())
    check_request(3 * total, f"{_WHAT} {path} (a network of N={H} units)")


# ---------------------------------------------------------------- readers

# Each reader checks what it reads and returns (keys, cell, H, {key: float64 array},
# {key: source dtype name}).

def _read_npz(path, names):
    """The state dict in an .npz of state-dict keys (no torch); shapes, dtypes and size
    are checked from the headers before any data are read."""
    keys = _layout(path, names)
    headers = io.read_npz(path, what=_WHAT, headers_only=True)
    for key, (_, dtype) in headers.items():
        _check_float(path, key, str(dtype), dtype.kind == "f")
    shapes = {k: h[0] for k, h in headers.items()}
    cell, H = _infer_layout(path, keys, shapes)
    _check_fits(path, shapes, H)
    data = io.read_npz(path, what=_WHAT)
    return (keys, cell, H, {k: np.asarray(v, dtype=np.float64) for k, v in data.items()},
            {k: str(v.dtype) for k, v in data.items()})


def _read_pt(path):
    """The state dict in a ``torch.save``'d file, through ``torch.load(weights_only=True)``."""
    path, f, size = io._open_user_file(path, _WHAT)   # a missing file says so, torch or not
    with f:
        try:
            import torch
        except ImportError:
            raise InputError(f"{_WHAT} {path}: {_INSTALL}") from None
        # a float16 file becomes 4× larger in float64, and the tensors and arrays coexist
        check_request(5 * size, f"{_WHAT} {path}")
        try:
            with warnings.catch_warnings():
                # torch warns about pickle protocols of files it then reads or refuses;
                # what it returns is checked below either way
                warnings.simplefilter("ignore")
                obj = torch.load(f, weights_only=True, map_location="cpu")
        except MemoryError:
            raise
        except Exception as exc:  # torch raises many types for a file it cannot unpickle
            raise InputError(_load_failure(path, exc)) from None
    state = _state_dict(path, obj, torch)
    keys = _layout(path, state)
    for key, t in state.items():
        _check_float(path, key, str(t.dtype).replace("torch.", ""),
                     t.is_floating_point() and t.layout == torch.strided)
    cell, H = _infer_layout(path, keys, {k: tuple(t.shape) for k, t in state.items()})
    return (keys, cell, H,
            {k: t.detach().to(torch.float64).numpy().copy() for k, t in state.items()},
            {k: str(t.dtype).replace("torch.", "") for k, t in state.items()})


def _load_failure(path, exc):
    """The InputError message for a file ``torch.load(weights_only=True)`` failed on."""
    text = str(exc)
    if "Unsupported global" in text:   # the pickle names classes: a module, not a state dict
        return (f"{_WHAT} {path}: is not a plain state dict: torch.load(weights_only=True) "
                "refused it (a whole pickled module, or other Python objects); save "
                "module.state_dict() instead")
    # torch wraps the unpickler's reason in a long advice text; keep the reason only
    found = re.search(r"WeightsUnpickler error:\s*(.+?)(\n\n|$)", text, re.S)
    reason = found.group(1).strip() if found else (text.strip().splitlines() or [""])[0]
    return (f"cannot read {_WHAT} {path}: not a readable PyTorch file "
            f"({type(exc).__name__}: {reason[:200]})")


def _state_dict(path, obj, torch):
    """``obj`` as {str: Tensor}, or an InputError saying what the file holds instead."""
    if not isinstance(obj, dict):
        raise InputError(f"{_WHAT} {path}: holds a {type(obj).__name__}, not a state dict; "
                         "save module.state_dict()")
    bad = [k for k, v in obj.items() if not (isinstance(k, str) and isinstance(v, torch.Tensor))]
    if bad:
        nested = [k for k in bad if isinstance(obj[k], dict)]
        hint = (f" (a checkpoint? the entry {nested[0]!r} holds a dict: save that state "
                "dict alone)" if nested else "")
        raise InputError(f"{_WHAT} {path}: is not a state dict of tensors: the entries "
                         f"{[str(k) for k in bad[:4]]} are not tensors{hint}")
    return obj


# ---------------------------------------------------------------- the network

def _network(path, keys, cell, H, arrays, dtypes, activation):
    """The RNN of a checked state dict (finiteness is checked here, after conversion)."""
    from rnndyn.models import RNN
    for key, a in arrays.items():
        bad = a.size - np.count_nonzero(np.isfinite(a))
        if bad:
            raise InputError(f"{_WHAT} {path}: {key} holds {bad} non-finite value(s) "
                             "(NaN or inf)")
    if isinstance(keys, dict):
        return _stack_network(path, keys, cell, H, arrays, dtypes, activation)
    ih, hh, bih, bhh = keys
    has_bias = bih in arrays
    b = (pack_bias(cell, arrays[bih], arrays[bhh]) if has_bias
         else np.zeros(cells.BIAS_BLOCKS[cell] * H))
    module = _MODULE[cell][keys == CELL_KEYS]
    kinds = sorted(set(dtypes.values()))
    origin = {"source": "torch", "module": module, "dtype": ", ".join(kinds), "bias": has_bias}
    if cell == "vanilla":
        origin["nonlinearity"] = "assumed" if activation is None else "given"
        return RNN(arrays[hh], arrays[ih], b, activation or "tanh", "elman", origin=origin)
    if activation not in (None, "tanh"):
        raise InputError(f"activation={activation!r} applies to an nn.RNN state dict (its "
                         f"nonlinearity, tanh or relu); {_WHAT} {path} holds an {module}, "
                         "whose gates fix their activations")
    return RNN(arrays[hh], arrays[ih], b, origin=origin, cell=cell)


def _stack_network(path, groups, cell, H, arrays, dtypes, activation):
    """The Stack of a checked stacked or bidirectional state dict: one RNN per (layer,
    direction), each read as a one-layer module's keys would be."""
    from rnndyn.stack import Stack
    n_layers = 1 + max(k for k, _ in groups)
    n_dirs = 1 + max(d for _, d in groups)
    layers = []
    for k in range(n_layers):
        parts = []
        for d in range(n_dirs):
            keys = groups[(k, d)]
            part = {key: arrays[key] for key in keys if key in arrays}
            part_keys = tuple(base + "_l0" for base in ("weight_ih", "weight_hh", "bias_ih",
                                                        "bias_hh"))
            renamed = {new: part[old] for old, new in zip(keys, part_keys) if old in part}
            parts.append(_network(path, part_keys, cell, H, renamed,
                                  {n: dtypes[o] for o, n in zip(keys, part_keys) if o in part},
                                  activation))
        layers.append(tuple(parts))
    origin = dict(layers[0][0].origin)
    origin.update(num_layers=n_layers, bidirectional=n_dirs == 2,
                  dtype=", ".join(sorted(set(dtypes.values()))))
    return Stack(layers, "none", origin=origin)


def state_dict(rnn):
    """``rnn`` as the state dict of the PyTorch module it equals: {key: float64 array}.

    A gated cell gives ``nn.LSTM`` / ``nn.GRU`` keys (``weight_ih_l0``, ``weight_hh_l0``,
    ``bias_ih_l0``, ``bias_hh_l0``; the packed bias split by
    :func:`rnndyn.gated.unpack_bias`), a vanilla elman tanh/relu network ``nn.RNN``'s (with
    ``nonlinearity`` to set by the caller); the pascanu form has no PyTorch module. Load
    it with ``module.load_state_dict({k: torch.from_numpy(v) for k, v in d.items()})``;
    :func:`load_torch_weights` reads it back as the same network.
    """
    from rnndyn.gated import unpack_bias
    from rnndyn.models import RNN
    if not isinstance(rnn, RNN):
        raise InputError(f"rnn must be an rnndyn.models.RNN, got {type(rnn).__name__}")
    if rnn.cell == "vanilla" and (rnn.form != "elman" or rnn.activation not in NONLINEARITIES):
        raise InputError("only an elman tanh or relu vanilla network is a PyTorch nn.RNN, "
                         f"got {rnn.activation} {rnn.form}")
    if rnn.cell == "vanilla":
        b_ih, b_hh = np.array(rnn.b), np.zeros(rnn.N)
    else:
        b_ih, b_hh = unpack_bias(rnn.cell, rnn.b)
    return {"weight_ih_l0": np.array(rnn.U), "weight_hh_l0": np.array(rnn.W),
            "bias_ih_l0": b_ih, "bias_hh_l0": b_hh}
