"""RNN parameter containers, initialisers and weight files.

One container for the recurrent parameters, :class:`RNN` (W, U, b of a vanilla, LSTM or
GRU cell), used by every analysis and by training; the readout y_t = V h_t + c, which
only training needs, is its own small container, :class:`Readout`. Training lays both
over one flat vector (``RNN.from_vector``, ``Readout.from_vector``: views, no copies).

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

    @classmethod
    def from_vector(cls, vec, N, M, activation="tanh", form="pascanu", cell="vanilla", *,
                    name="vec"):
        """The RNN whose W, U, b are views of the first :attr:`size` entries of ``vec``.

        No copy: the views are read-only, but an in-place update of ``vec`` (an
        optimiser's step) is what the model's W, U, b then hold. This is how
        :class:`rnndyn.training.Params` lays the model over its flat vector theta.

        Parameters
        ----------
        vec : ndarray, shape (n,), float64, C-contiguous
            n >= :func:`rnn_shapes`' total; the entries after the model's are not read.
        N, M : int
            Hidden units and inputs.
        activation, form, cell
            As for the class.
        name : str
            The argument's name in error messages.
        """
        N = as_int(N, "N", minimum=1)
        M = as_int(M, "M", minimum=0)
        cell = as_choice(cell, "cell", cells.CELLS)
        _check_vector(vec, name)
        shapes = rnn_shapes(N, M, cell)
        need = sum(int(np.prod(s)) for s in shapes)
        if vec.size < need:
            raise InputError(f"{name} must hold at least {need} numbers (W, U, b of a {cell} "
                             f"cell with N={N}, M={M}), got shape {vec.shape}")
        W, U, b = vector_views(vec, shapes)
        # RNN's own checks (finiteness, activation for the cell); float64 C-contiguous
        # views pass through as_array as they are, so they stay views
        return cls(W, U, b, activation, form, cell=cell)

    @property
    def size(self):
        """Number of parameters in W, U and b (their length in a flat vector)."""
        return self.W.size + self.U.size + self.b.size

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


def rnn_shapes(N, M, cell="vanilla"):
    """Shapes of W, U, b: (G·N, N), (G·N, M), (B·N,) with the cell's G gate blocks and B
    bias blocks (:mod:`rnndyn.cells`; vanilla G = B = 1). ``cell`` must be valid."""
    GN = cells.GATES[cell] * N
    return ((GN, N), (GN, M), (cells.BIAS_BLOCKS[cell] * N,))


def _check_vector(vec, name):
    """InputError unless ``vec`` is a C-contiguous float64 vector: what parameters can be
    views of (anything else would have to be converted, a copy)."""
    if not (isinstance(vec, np.ndarray) and vec.dtype == np.float64 and vec.ndim == 1
            and vec.flags.c_contiguous):
        got = f"{vec.dtype} {vec.shape}" if isinstance(vec, np.ndarray) else type(vec).__name__
        raise InputError(f"{name} must be a C-contiguous float64 vector (the parameters are "
                         f"views of it), got {got}")


def vector_views(vec, shapes):
    """Consecutive views of the flat ``vec`` with the given shapes (no copies)."""
    out, i = [], 0
    for s in shapes:
        n = int(np.prod(s))
        out.append(vec[i:i + n].reshape(s))
        i += n
    return tuple(out)


@dataclass(frozen=True, eq=False)
class Readout:
    """The linear readout of a trained network, y_t = V h_t + c.

    Kept apart from :class:`RNN`: the dynamics (and every analysis of them) do not depend
    on it; training needs it (:class:`rnndyn.training.Params` is the model and a readout
    over one flat vector), and a weights file written by training stores it beside the
    network (:func:`save_weights`, :func:`load_with_readout`). h is the hidden part of
    the state: the pascanu form reads r_t = σ(x_t), the elman form h_t, the LSTM its h.

    Attributes
    ----------
    V : ndarray, shape (K, N)
        Output weights (K outputs, N hidden units).
    c : ndarray, shape (K,)
        Output bias; default zeros.
    """

    V: np.ndarray
    c: np.ndarray = None

    def __post_init__(self):
        V = as_array(self.V, "V", ndim=2)
        if 0 in V.shape:
            raise InputError(f"V must have shape (K, N) with K, N >= 1, got {V.shape}")
        K = V.shape[0]
        c = np.zeros(K) if self.c is None else as_array(self.c, "c", shape=(K,))
        for name, value in (("V", V), ("c", c)):
            object.__setattr__(self, name, value)
            value.setflags(write=False)

    @classmethod
    def from_vector(cls, vec, N, K, *, name="vec"):
        """The readout whose V (K, N) and c (K,) are views of ``vec`` (no copy), which must
        hold exactly K·(N + 1) numbers (V row-major, then c); see
        :meth:`RNN.from_vector`."""
        N = as_int(N, "N", minimum=1)
        K = as_int(K, "K", minimum=1)
        _check_vector(vec, name)
        if vec.size != K * (N + 1):
            raise InputError(f"{name} must hold K·(N+1) = {K * (N + 1)} numbers (V, c with "
                             f"K={K}, N={N}), got shape {vec.shape}")
        return cls(*vector_views(vec, ((K, N), (K,))))

    @property
    def K(self):
        """Number of outputs."""
        return self.V.shape[0]

    @property
    def N(self):
        """Number of hidden units read."""
        return self.V.shape[1]

    @property
    def size(self):
        """Number of parameters, K·(N + 1)."""
        return self.V.size + self.c.size

    def outputs(self, H):
        """y = V h + c for hidden states H of shape (..., N): shape (..., K)."""
        return np.asarray(H, dtype=np.float64) @ self.V.T + self.c


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
# the readout a weights file written by training holds beside the network (optional)
READOUT_KEYS = ("V", "c")
_WHAT = "weights file"


def load_weights(path, *, activation=None):
    """Read an RNN from a weights file: rnndyn's ``.npz``, a saved result, or PyTorch's.

    An rnndyn weights file holds ``W`` (required); optional ``U`` (default no inputs),
    ``b`` (default zeros), ``activation`` (default 'tanh'), ``form`` (default 'pascanu')
    and ``cell`` (default 'vanilla'). Vanilla: W (N, N), U (N, M), b (N,). Gated cells
    (``cell`` 'lstm' or 'gru'): the packed layout of :mod:`rnndyn.cells`, W (G·N, N),
    U (G·N, M), b (4N,); :func:`save_weights` writes these keys, so what it saves loads
    back. A file written by training (``rnndyn train --out DIR`` writes
    ``DIR/train.weights.npz``, every cell) also holds the readout, ``V`` (K, N) and
    ``c`` (K,): this function returns the network alone (the dynamics do not depend on
    the readout), :func:`load_with_readout` both. A saved result holding the network it
    was made with (``DIR/train.npz``) loads as that network: ``W``, ``U`` and ``b`` from
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
    return _load(path, activation, with_readout=False)[0]


def load_with_readout(path, *, activation=None):
    """Read a network and its readout: what :func:`rnndyn.training.train` trained.

    Parameters
    ----------
    path : str or os.PathLike
        Any file :func:`load_weights` reads. The readout is that of a weights file
        written with one (``rnndyn train --out DIR``: ``DIR/train.weights.npz``;
        :func:`save_weights` with ``readout``) or of a saved training result
        (``DIR/train.npz``, whose arrays ``V``, ``c`` are the final readout).
    activation : str, optional
        As for :func:`load_weights`.

    Returns
    -------
    (RNN, Readout or None)
        None when the file holds no readout (a drawn network, a PyTorch state dict).
        ``rnndyn.training.Params.from_parts(rnn, readout)`` makes them trainable again.
    """
    return _load(path, activation, with_readout=True)


def _load(path, activation, with_readout):
    """(RNN, Readout or None) of any weights file; the readout only ``with_readout``."""
    from rnndyn import io, torch_weights
    if torch_weights.is_torch_path(path):
        return torch_weights.load_torch_weights(path, activation=activation), None
    names = io.list_npz(path, what=_WHAT)
    path = os.fspath(path)
    if torch_weights.looks_like_state_dict(names):
        return torch_weights.load_torch_weights(path, activation=activation), None
    unknown = sorted(set(names) - set(WEIGHT_KEYS))
    # W, U, b, V, c alone: a weights file written by training, unless it is a saved
    # result's .npz (its .json beside it), whose sha256 must then match
    if unknown and (set(unknown) - set(READOUT_KEYS) or _is_result(path)):
        rnn, data = _load_result_weights(path, names, unknown, with_readout)
    else:
        rnn, data = _load_rnndyn_weights(path, names, with_readout)
    readout = _readout(path, rnn, data) if with_readout else None
    if activation is not None:
        rnn = _build(path, rnn.W, rnn.U, rnn.b, activation, rnn.form, rnn.cell)
    return rnn, readout


def _is_result(path):
    """Whether ``path`` (.npz) has a saved result's metadata (.json) beside it."""
    from rnndyn import io
    js = (path[:-4] if path.endswith(".npz") else path) + ".json"
    if not os.path.exists(js):
        return False
    doc = io.read_json(js, what="result metadata")
    return isinstance(doc, dict) and isinstance(doc.get("fields"), dict)


def _readout(path, rnn, data):
    """The Readout of the arrays ``data`` read from ``path`` (None without ``V``)."""
    if "V" not in data:
        if "c" in data:
            raise InputError(f"{_WHAT} {path}: a readout bias 'c' without its weights 'V'")
        return None
    try:
        readout = Readout(data["V"], data.get("c"))
    except InputError as exc:
        raise InputError(f"{_WHAT} {path}: {exc}") from None
    if readout.N != rnn.N:
        raise InputError(f"{_WHAT} {path}: V must have shape (K, {rnn.N}) (the network's N), "
                         f"got {readout.V.shape}")
    return readout


def _load_rnndyn_weights(path, names, with_readout=False):
    """(the network, the arrays read) of an rnndyn weights file: keys WEIGHT_KEYS, and
    READOUT_KEYS when training wrote it (those are read only ``with_readout``)."""
    from rnndyn import io
    cell = "vanilla"
    if "cell" in names:
        cell = _text(io.read_npz(path, what=_WHAT, keys=("cell",)), "cell", path, "vanilla")
        if cell not in cells.CELLS:
            raise InputError(f"{_WHAT} {path}: unknown cell {cell!r}; expected one of: "
                             f"{', '.join(cells.CELLS)}")
    # a square W for the vanilla cell; W (G·N, N) for a gated one, whose multiple G is
    # RNN's check once the arrays are read; a readout V (K, N) reads the same N
    shapes = {"W": ("N", "N") if cell == "vanilla" else (None, "N"), "V": (None, "N"),
              "c": (None,)}
    allowed = WEIGHT_KEYS + READOUT_KEYS
    keys = allowed if with_readout else WEIGHT_KEYS
    _check_network_fits(path, io.read_npz(path, what=_WHAT, allowed_keys=allowed,
                                          required_keys=("W",), keys=keys,
                                          expected_shapes=shapes, headers_only=True), cell)
    data = io.read_npz(path, what=_WHAT, allowed_keys=allowed, required_keys=("W",),
                       keys=keys, expected_shapes=shapes)
    act = _text(data, "activation", path, "tanh")
    form = _text(data, "form", path, "pascanu")
    return _build(path, data["W"], data.get("U"), data.get("b"), act, form, cell), data


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


def _load_result_weights(path, names, unknown, with_readout=False):
    """(the network a saved result (``.npz`` + ``.json``) was made with, the arrays read:
    its readout ``V``, ``c`` too ``with_readout``)."""
    from rnndyn import io
    stem = path[:-4] if path.endswith(".npz") else path
    js = stem + ".json"
    plain = (f"{_WHAT} {path}: unknown array(s) {unknown}; a weights file holds only "
             f"{', '.join(WEIGHT_KEYS)} (and a readout {', '.join(READOUT_KEYS)})")
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
    shapes.update(V=(None, None), c=(None,))      # the readout: checked against N once read
    _check_network_fits(path, io.read_npz(path, what=_WHAT, keys=("W", "U", "b"),
                                          expected_shapes=shapes, headers_only=True), cell)
    data = io.read_npz(path, what=_WHAT, keys=("W", "U", "b") + (READOUT_KEYS if with_readout
                                                                  else ()),
                       expected_shapes=shapes)
    if "U" not in data and model.get("M", 0) != 0:
        raise InputError(f"{_WHAT} {path}: the {kind} has {model.get('M')} inputs but no "
                         "array 'U'")
    if "b" not in data:
        raise InputError(f"{_WHAT} {path}: the {kind} holds no bias 'b'")
    if cell != "vanilla":
        try:
            return RNN(data["W"], data.get("U"), data["b"], cell=cell), data
        except InputError as exc:
            raise InputError(f"{_WHAT} {path}: {exc}") from None
    return _build(path, data["W"], data.get("U"), data["b"], act, form), data


def save_weights(rnn, path, *, overwrite=False, readout=None):
    """Write ``rnn`` to ``path`` (.npz, atomically); see :func:`load_weights`.

    A vanilla network is stored as W, U, b, activation and form (as before gated cells);
    a gated one as W, U, b (the packed layout of :mod:`rnndyn.cells`) and cell. A
    :class:`Readout` (training's V, c) is stored beside them as ``V`` and ``c``:
    :func:`load_weights` still reads the network, :func:`load_with_readout` both.
    """
    from rnndyn.io import atomic_savez
    arrays = {"W": rnn.W, "U": rnn.U, "b": rnn.b}
    if rnn.cell == "vanilla":
        arrays.update(activation=np.array(rnn.activation), form=np.array(rnn.form))
    else:
        arrays["cell"] = np.array(rnn.cell)
    if readout is not None:
        if not isinstance(readout, Readout) or readout.N != rnn.N:
            raise InputError(f"readout must be an rnndyn.models.Readout of the network's "
                             f"N = {rnn.N} units, got {type(readout).__name__}"
                             + (f" with N = {readout.N}" if isinstance(readout, Readout)
                                else ""))
        arrays.update(V=readout.V, c=readout.c)
    atomic_savez(path, arrays, overwrite=overwrite)
    return path
