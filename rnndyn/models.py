"""RNN parameter containers, initialisers and weight files.

Two update forms (design.md §2):

* ``pascanu``: x_t = W σ(x_{t-1}) + U u_t + b,  ∂x_t/∂x_{t-1} = W diag(σ'(x_{t-1}))
* ``elman``:   h_t = σ(W h_{t-1} + U u_t + b),  ∂h_t/∂h_{t-1} = diag(σ'(a_t)) W

The one-neuron RNN of the paper is the case N = 1.
"""

import os
from dataclasses import dataclass

import numpy as np

from rnndyn import activations, cells
from rnndyn._memory import array_bytes, check_request
from rnndyn._validate import as_array, as_choice, as_float, as_int, as_rng, InputError

FORMS = ("pascanu", "elman")
from rnndyn.codes import FORM_CODES  # noqa: E402  (re-exported)
INITS = ("gaussian", "orthogonal", "identity", "sparse", "sigmoid", "basic-tanh", "smart-tanh")
# The paper's three set-ups fix the activation (Pascanu et al. 2013, §5).
PAPER_ACTIVATION = {"sigmoid": "sigmoid", "basic-tanh": "tanh", "smart-tanh": "tanh"}


@dataclass(frozen=True, eq=False)
class RNN:
    """Parameters of an RNN: a vanilla, LSTM or GRU cell (one layer).

    Attributes
    ----------
    W : ndarray, shape (N, N)
        Recurrent weights.
    U : ndarray, shape (N, M)
        Input weights; M may be 0 (autonomous network).
    b : ndarray, shape (N,)
        Bias.
    activation : {'tanh', 'sigmoid', 'relu', 'linear'}
    form : {'pascanu', 'elman'}
        Where σ is applied, see the module docstring.
    cell : {'vanilla', 'lstm', 'gru'}
        The recurrent cell (:mod:`rnndyn.cells`). For the gated cells W (G·N, N) and U
        (G·N, M) hold the G gate blocks stacked as in PyTorch (W = ``weight_hh_l0``,
        U = ``weight_ih_l0``), b the combined biases; ``form`` and ``activation`` apply to
        the vanilla cell only.
    origin : dict, optional
        How the weights were made (``make_rnn``: init, gain, seed); part of
        :meth:`describe`, so results and their figures can say which network it was.
    """

    W: np.ndarray
    U: np.ndarray
    b: np.ndarray
    activation: str = "tanh"
    form: str = "pascanu"
    origin: dict = None
    cell: str = "vanilla"

    def __post_init__(self):
        cell = as_choice(self.cell, "cell", cells.CELLS)
        W = as_array(self.W, "W", ndim=2)
        G = cells.GATES[cell]
        N = W.shape[1]
        if W.shape != (G * N, N) or N == 0:
            want = "a non-empty square matrix" if G == 1 else f"shape ({G}N, N) (gates stacked)"
            raise InputError(f"W must be {want} for the {cell} cell, got shape {W.shape}")
        U = np.zeros((G * N, 0)) if self.U is None else as_array(self.U, "U")
        if U.ndim == 1 and U.size == G * N:
            U = U.reshape(G * N, 1)
        if U.ndim != 2 or U.shape[0] != G * N:
            raise InputError(f"U must have shape ({G * N}, M), got {U.shape}")
        nb = cells.BIAS_BLOCKS[cell] * N
        b = np.zeros(nb) if self.b is None else as_array(self.b, "b")
        if b.ndim == 0:
            b = np.full(nb, float(b))
        if b.shape != (nb,):
            raise InputError(f"b must have shape ({nb},), got {b.shape}")
        act = as_choice(self.activation, "activation", tuple(activations.CODES))
        form = as_choice(self.form, "form", FORMS)
        if cell != "vanilla" and act != "tanh":
            raise InputError(f"activation={act!r}: the {cell} cell fixes its activations "
                             "(sigmoid gates, tanh candidate); leave activation at 'tanh'")
        for name, value in (("W", W), ("U", U), ("b", b), ("activation", act), ("form", form),
                            ("cell", cell)):
            object.__setattr__(self, name, value)
        for arr in (W, U, b):
            arr.setflags(write=False)

    @property
    def N(self):
        """Number of hidden units."""
        return self.W.shape[1]

    @property
    def S(self):
        """Size of the state s (2N for the LSTM's (h, c), N otherwise)."""
        return cells.STATE_BLOCKS[self.cell] * self.N

    @property
    def aux_size(self):
        """Length of the per-step auxiliary row the kernels record (see rnndyn.cells)."""
        return cells.AUX_BLOCKS[self.cell] * self.N

    @property
    def cell_code(self):
        """Integer cell code for kernels (vanilla: 0 pascanu, 1 elman; 2 lstm; 3 gru)."""
        return cells.cell_code(self.cell, self.form)

    def require(self, capability, what):
        """InputError unless this network's cell supports ``capability`` (rnndyn.cells)."""
        cells.require(self.cell, capability, what)

    @property
    def M(self):
        """Number of inputs."""
        return self.U.shape[1]

    @property
    def act_code(self):
        """Integer activation code for kernels."""
        return activations.CODES[self.activation]

    @property
    def form_code(self):
        """The cell code (kernels' ``form`` argument): 0 pascanu, 1 elman, 2 lstm, 3 gru."""
        return self.cell_code

    @property
    def gamma(self):
        """γ = sup |σ'| of the activation."""
        return activations.GAMMA[self.activation]

    def with_W(self, W):
        """A copy with recurrent weights ``W`` (no longer the drawn network: no origin)."""
        return RNN(W, self.U, self.b, self.activation, self.form, cell=self.cell)

    @property
    def label(self):
        """'tanh pascanu', 'sigmoid elman', 'lstm' or 'gru': the network in two words."""
        return f"{self.activation} {self.form}" if self.cell == "vanilla" else self.cell

    def describe(self):
        """A JSON-able summary (no arrays)."""
        if self.cell == "vanilla":
            out = {"N": self.N, "M": self.M, "activation": self.activation, "form": self.form}
        else:
            out = {"cell": self.cell, "N": self.N, "M": self.M, "state_size": self.S}
        out.update(self.origin or {})
        return out

    def step(self, x, u=None):
        """One update in NumPy (reference; kernels do the real work)."""
        x = np.asarray(x, dtype=np.float64)
        if self.cell != "vanilla":
            return cells.numpy_step(self.cell, self.W, self.U, self.b, x,
                                    None if u is None else np.asarray(u, float))
        drive = self.b if u is None or self.M == 0 else self.U @ np.asarray(u, float) + self.b
        if self.form == "pascanu":
            return self.W @ activations.sigma(self.activation, x) + drive
        return activations.sigma(self.activation, self.W @ x + drive)


# ---------------------------------------------------------------- initialisers

def gaussian_matrix(N, gain, rng):
    """W ~ N(0, gain²/N), the random-network convention (spectral radius ≈ gain)."""
    return rng.standard_normal((N, N)) * (gain / np.sqrt(N))


def orthogonal_matrix(N, gain, rng):
    """gain × a Haar-random orthogonal matrix (QR of a Gaussian, signs fixed)."""
    Q, R = np.linalg.qr(rng.standard_normal((N, N)))
    return gain * Q * np.sign(np.diag(R))


def sparse_matrix(N, k, radius, rng):
    """k non-zero Gaussian weights per row, rescaled to spectral radius ``radius``.

    The paper's "smart tanh" initialisation uses k = 15 incoming weights per
    unit and radius 0.95 (Sutskever-style sparse init).
    """
    k = min(k, N)
    W = np.zeros((N, N))
    for i in range(N):
        cols = rng.choice(N, size=k, replace=False)
        W[i, cols] = rng.standard_normal(k)
    rho = np.max(np.abs(np.linalg.eigvals(W)))
    if rho == 0.0:
        raise InputError("sparse initialisation produced a nilpotent W; use a larger k")
    return W * (radius / rho)


# N×N float64 arrays alive at once while each initialiser runs (the draw, its scaled
# copy; QR's input, Q, R and the sign-fixed product; eigvals' copy and workspace)
_INIT_COPIES = {"gaussian": 2, "orthogonal": 5, "identity": 2, "sparse": 4, "sigmoid": 2,
                "basic-tanh": 2, "smart-tanh": 4}


def make_rnn_bytes(n, n_inputs=0, init="gaussian"):
    """Peak bytes :func:`make_rnn` allocates: copies·8N² + 2·8NM + 2·8N."""
    return (_INIT_COPIES.get(init, 5) * array_bytes(n, n) + 2 * array_bytes(n, n_inputs)
            + 2 * array_bytes(n))


def make_rnn(n, *, n_inputs=0, activation="tanh", form="pascanu", init="gaussian",
             gain=1.0, sparsity=15, radius=0.95, seed=0, cell="vanilla", forget_bias=0.0,
             chrono_t_max=None):
    """Build a seeded random RNN.

    Parameters
    ----------
    n : int
        Number of units N (>= 1).
    n_inputs : int
        Number of inputs M (>= 0).
    activation : {'tanh', 'sigmoid', 'relu', 'linear'}
        Ignored for the paper's named set-ups, which fix it. Vanilla cell only.
    form : {'pascanu', 'elman'}
        Vanilla cell only.
    init : {'gaussian', 'orthogonal', 'identity', 'sparse', 'sigmoid', 'basic-tanh', 'smart-tanh'}
        ``gaussian``: W ~ N(0, gain²/N); ``orthogonal``: gain × orthogonal;
        ``identity``: gain × I; ``sparse``: ``sparsity`` non-zeros per row
        rescaled to spectral radius ``gain``; the paper's set-ups (biases zero):
        ``sigmoid`` (W, U ~ N(0, 0.01²)), ``basic-tanh`` (W, U ~ N(0, 0.1²)),
        ``smart-tanh`` (U ~ N(0, 0.01²), W sparse with 15 per row, ρ = 0.95).
        Gated cells: ``pytorch``, ``gaussian`` or ``orthogonal``
        (:func:`rnndyn.gated.make_gated`).
    gain : float
        Scale for the generic initialisers.
    sparsity, radius
        The ``sparse`` and ``smart-tanh`` initialisers' parameters (vanilla cell only).
    seed : int or numpy.random.Generator
    cell : {'vanilla', 'lstm', 'gru'}
        A gated cell is made by :func:`rnndyn.gated.make_gated`.
    forget_bias, chrono_t_max
        Gated cells only: the forget-gate (LSTM) or update-gate (GRU) bias, a number or
        ``'chrono'`` with ``chrono_t_max``; see :func:`rnndyn.gated.make_gated`.

    Returns
    -------
    RNN
    """
    cell = as_choice(cell, "cell", cells.CELLS)
    if cell != "vanilla":
        if activation != "tanh" or form != "pascanu":
            raise InputError(f"activation and form apply to the vanilla cell; the {cell} cell "
                             "has sigmoid gates and a tanh candidate (leave them at their "
                             f"defaults), got activation={activation!r}, form={form!r}")
        from rnndyn.gated import make_gated
        return make_gated(cell, n, n_inputs=n_inputs, init=init, gain=gain,
                          forget_bias=forget_bias, chrono_t_max=chrono_t_max, seed=seed)
    if (isinstance(forget_bias, str) or as_float(forget_bias, "forget_bias") != 0.0
            or chrono_t_max is not None):
        raise InputError("forget_bias and chrono_t_max apply to the gated cells (cell='lstm' "
                         f"or 'gru'), not to the vanilla cell; got forget_bias={forget_bias!r}")
    N = as_int(n, "n", minimum=1)
    M = as_int(n_inputs, "n_inputs", minimum=0)
    init = as_choice(init, "init", INITS)
    check_request(make_rnn_bytes(N, M, init), f"a network of n={N} units" +
                  (f" and n_inputs={M} inputs" if M else ""))
    gain = as_float(gain, "gain")
    rng = as_rng(seed)
    activation = PAPER_ACTIVATION.get(init, activation)
    U = np.zeros((N, M))
    if init == "gaussian":
        W = gaussian_matrix(N, gain, rng)
        U = rng.standard_normal((N, M)) / np.sqrt(max(M, 1))
    elif init == "orthogonal":
        W = orthogonal_matrix(N, gain, rng)
        U = rng.standard_normal((N, M)) / np.sqrt(max(M, 1))
    elif init == "identity":
        W = gain * np.eye(N)
        U = rng.standard_normal((N, M)) / np.sqrt(max(M, 1))
    elif init == "sparse":
        W = sparse_matrix(N, as_int(sparsity, "sparsity", minimum=1), gain, rng)
        U = rng.standard_normal((N, M)) / np.sqrt(max(M, 1))
    elif init == "sigmoid":
        W = 0.01 * rng.standard_normal((N, N))
        U = 0.01 * rng.standard_normal((N, M))
    elif init == "basic-tanh":
        W = 0.1 * rng.standard_normal((N, N))
        U = 0.1 * rng.standard_normal((N, M))
    else:  # smart-tanh
        W = sparse_matrix(N, 15, as_float(radius, "radius"), rng)
        U = 0.01 * rng.standard_normal((N, M))
    origin = {"init": init, "gain": gain}
    if isinstance(seed, (int, np.integer)):
        origin["seed"] = int(seed)
    return RNN(W, U, np.zeros(N), activation, form, origin=origin)


# ---------------------------------------------------------------- weight files

WEIGHT_DEFAULTS = {"U": "no inputs (shape (N, 0))", "b": "zeros", "activation": "tanh",
                   "form": "pascanu", "cell": "vanilla"}


WEIGHT_KEYS = ("W", "U", "b", "activation", "form", "cell")
_WHAT = "weights file"


def load_weights(path, *, activation=None):
    """Read an RNN from a weights file: rnndyn's ``.npz``, a saved result, or PyTorch's.

    An rnndyn weights file holds ``W`` (required); optional ``U`` (default no inputs),
    ``b`` (default zeros), ``activation`` (default 'tanh'), ``form`` (default 'pascanu')
    and ``cell`` (default 'vanilla'). Vanilla: W (N, N), U (N, M), b (N,). Gated cells
    (``cell`` 'lstm' or 'gru'): the packed layout of :mod:`rnndyn.cells`, W (G·N, N),
    U (G·N, M), b (4N,); :func:`save_weights` writes these keys, so what it saves loads
    back. A saved result holding the network it was made with (``rnndyn train --out
    DIR`` writes ``DIR/train.npz``) loads as that network: ``W``, ``U`` and ``b`` from
    its ``.npz``, the activation, form and cell from the ``.json`` beside it, whose sha256
    of the ``.npz`` must match.

    A PyTorch state dict of a one-layer ``nn.RNN``, ``nn.LSTM``, ``nn.GRU`` or of their
    ``Cell`` modules, as a ``.pt``/``.pth`` file (needs torch) or as an ``.npz`` of the
    same keys (``weight_hh_l0``, ...; no torch needed), is read by
    :func:`rnndyn.torch_weights.load_torch_weights`; the cell is inferred from the shapes.

    Parameters
    ----------
    path : str or os.PathLike
    activation : str, optional
        The network's activation. Default: the file's; for a PyTorch ``nn.RNN``, whose
        state dict does not store its nonlinearity, tanh (pass 'relu' for
        ``nn.RNN(nonlinearity='relu')``). Vanilla cells only.

    Notes
    -----
    rnndyn's files are read by :func:`rnndyn.io.read_npz`: never a pickle, sizes checked
    from the headers before reading; any problem is an InputError naming the file.
    """
    from rnndyn import io, torch_weights
    if torch_weights.is_torch_path(path):
        return torch_weights.load_torch_weights(path, activation=activation)
    names = io.list_npz(path, what=_WHAT)
    path = os.fspath(path)
    if torch_weights.looks_like_state_dict(names):
        return torch_weights.load_torch_weights(path, activation=activation)
    unknown = sorted(set(names) - set(WEIGHT_KEYS))
    if unknown:
        rnn = _load_result_weights(path, names, unknown)
    else:
        rnn = _load_rnndyn_weights(path, names)
    if activation is None:
        return rnn
    return _build(path, rnn.W, rnn.U, rnn.b, activation, rnn.form, rnn.cell)


def _load_rnndyn_weights(path, names):
    """The network of an rnndyn weights file (keys WEIGHT_KEYS)."""
    from rnndyn import io
    cell = "vanilla"
    if "cell" in names:
        cell = _text(io.read_npz(path, what=_WHAT, keys=("cell",)), "cell", path, "vanilla")
        if cell not in cells.CELLS:
            raise InputError(f"{_WHAT} {path}: unknown cell {cell!r}; expected one of: "
                             f"{', '.join(cells.CELLS)}")
    # a square W for the vanilla cell; W (G·N, N) for a gated one, whose multiple G is
    # RNN's check once the arrays are read
    shapes = {"W": ("N", "N") if cell == "vanilla" else (None, "N")}
    _check_network_fits(path, io.read_npz(path, what=_WHAT, allowed_keys=WEIGHT_KEYS,
                                          required_keys=("W",), expected_shapes=shapes,
                                          headers_only=True), cell)
    data = io.read_npz(path, what=_WHAT, allowed_keys=WEIGHT_KEYS, required_keys=("W",),
                       expected_shapes=shapes)
    act = _text(data, "activation", path, "tanh")
    form = _text(data, "form", path, "pascanu")
    return _build(path, data["W"], data.get("U"), data.get("b"), act, form, cell)


def _check_network_fits(path, headers, cell="vanilla"):
    """Refuse, from the headers, a network this machine cannot hold: loading one needs
    what making one does (:func:`make_rnn_bytes` with the Gaussian draw's two copies, or
    :func:`rnndyn.gated.make_gated_bytes`)."""
    N = headers["W"][0][1]
    U = headers.get("U", ((N, 0), None))[0]
    M = U[1] if len(U) == 2 else 1
    if cell == "vanilla":
        need = make_rnn_bytes(N, M)
    else:
        from rnndyn.gated import make_gated_bytes
        need = make_gated_bytes(cell, N, M)
    check_request(need, f"weights file {path} (a network of N={N} units)")


def _text(data, key, path, default):
    if key not in data:
        return default
    value = data[key]
    if value.ndim != 0 or value.dtype.kind not in "US":
        raise InputError(f"{_WHAT} {path}: {key!r} must be a string, got "
                         f"shape {value.shape} {value.dtype}")
    return str(value.item().decode() if value.dtype.kind == "S" else value.item())


def _build(path, W, U, b, act, form, cell="vanilla"):
    try:
        return RNN(W, U, b, act, form, cell=cell)
    except InputError as exc:
        raise InputError(f"{_WHAT} {path}: {exc}") from None


def _load_result_weights(path, names, unknown):
    """The network a saved result (``.npz`` + ``.json``) was made with."""
    from rnndyn import io
    stem = path[:-4] if path.endswith(".npz") else path
    js = stem + ".json"
    plain = (f"{_WHAT} {path}: unknown array(s) {unknown}; a weights file holds only "
             f"{', '.join(WEIGHT_KEYS)}")
    if not os.path.exists(js):
        if "W" in names:
            raise InputError(f"{plain} (a saved result such as train.npz loads with the .json "
                             f"beside it, which names the activation and form: {js} is "
                             "missing)")
        raise InputError(plain)
    doc = io.read_json(js, what="result metadata")
    if not (isinstance(doc, dict) and isinstance(doc.get("fields"), dict)
            and isinstance(doc.get("array_fields"), list)):
        raise InputError(f"{plain}; {js} is not the metadata of a saved result")
    kind = doc.get("type", "result")
    if "W" not in names or "W" not in doc["array_fields"]:
        raise InputError(f"{_WHAT} {path}: this {kind} holds no network (no array 'W')")
    io.check_npz_sha256(path, doc, js)
    meta = doc["fields"].get("meta") if isinstance(doc["fields"].get("meta"), dict) else {}
    model = meta.get("model") if isinstance(meta.get("model"), dict) else {}
    params = meta.get("params") if isinstance(meta.get("params"), dict) else {}
    # a result without 'cell' was made by a vanilla network (older files)
    cell = model.get("cell", params.get("cell", "vanilla"))
    act = model.get("activation", params.get("activation", "tanh" if cell != "vanilla"
                                                       else None))
    form = model.get("form", params.get("form", "pascanu" if cell != "vanilla" else None))
    for key, value in (("cell", cell), ("activation", act), ("form", form)):
        if not isinstance(value, str):
            raise InputError(f"{_WHAT} {path}: {js} does not name the network's {key}")
    # gated cells stack their gate blocks (rnndyn.cells): RNN checks those shapes
    shapes = ({"W": ("N", "N"), "U": ("N", None), "b": ("N",)} if cell == "vanilla" else
              {"W": (None, None), "U": (None, None), "b": (None,)})
    _check_network_fits(path, io.read_npz(path, what=_WHAT, keys=("W", "U", "b"),
                                          expected_shapes=shapes, headers_only=True), cell)
    data = io.read_npz(path, what=_WHAT, keys=("W", "U", "b"), expected_shapes=shapes)
    if "U" not in data and model.get("M", 0) != 0:
        raise InputError(f"{_WHAT} {path}: the {kind} has {model.get('M')} inputs but no "
                         "array 'U'")
    if "b" not in data:
        raise InputError(f"{_WHAT} {path}: the {kind} holds no bias 'b'")
    if cell != "vanilla":
        try:
            return RNN(data["W"], data.get("U"), data["b"], cell=cell)
        except InputError as exc:
            raise InputError(f"{_WHAT} {path}: {exc}") from None
    return _build(path, data["W"], data.get("U"), data["b"], act, form)


def save_weights(rnn, path, *, overwrite=False):
    """Write ``rnn`` to ``path`` (.npz, atomically); see :func:`load_weights`.

    A vanilla network is stored as W, U, b, activation and form (as before gated cells);
    a gated one as W, U, b (the packed layout of :mod:`rnndyn.cells`) and cell.
    """
    from rnndyn.io import atomic_savez
    arrays = {"W": rnn.W, "U": rnn.U, "b": rnn.b}
    if rnn.cell == "vanilla":
        arrays.update(activation=np.array(rnn.activation), form=np.array(rnn.form))
    else:
        arrays["cell"] = np.array(rnn.cell)
    atomic_savez(path, arrays, overwrite=overwrite)
    return path
