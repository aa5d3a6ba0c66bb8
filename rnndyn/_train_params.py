"""The trainable parameters of rnndyn.training: the model (:class:`rnndyn.models.RNN`) and
its readout (:class:`rnndyn.models.Readout`) laid over one flat vector, and their seeded
initialisation."""

import numpy as np

from rnndyn._validate import as_array, as_int, as_rng, InputError
from rnndyn.models import RNN, Readout, make_rnn, rnn_shapes, vector_views


# ---------------------------------------------------------------- parameters

class Params:
    """The trainable parameters: a model and its readout over one flat vector ``theta``.

    One container holds the recurrent parameters, for analyses and training alike:
    ``model`` is an :class:`rnndyn.models.RNN` whose W, U, b are views of ``theta``, and
    ``readout`` an :class:`rnndyn.models.Readout` (V (K, N), c (K,), y_t = V h_t + c)
    over the rest of it, kept apart because the dynamics do not depend on it. ``theta``
    is the optimiser's view of the same numbers: the global gradient norm, clipping and
    the update θ ← θ − lr·g are single vector operations, done in place, and what they
    write is what ``model`` and ``readout`` hold (no copies, ever: theta is never
    rebound). The model's and the readout's arrays are read-only; write through
    ``theta`` (or :meth:`views` of it, the kernels' writable views).

    Layout of theta: W, U, b, V, c, each row-major. Vanilla: W (N, N), U (N, M), b (N,);
    LSTM and GRU: the G gate blocks stacked as in :mod:`rnndyn.cells` (G = 4, 3),
    W (G N, N), U (G N, M), b (4N,).

    Parameters
    ----------
    theta : array_like, shape (size,)
        Copied once (the container owns its vector).
    N, M, K : int
        Hidden units, inputs and outputs.
    activation, form, cell
        As in :class:`rnndyn.models.RNN`, which validates them.

    Notes
    -----
    N, M, activation, form, cell, S and cell_code are the model's; K is the readout's.
    :meth:`rnn` is a copy of the model (a snapshot that later updates do not change),
    :meth:`from_rnn` and :meth:`from_parts` the way back. Training a model with a
    readout by BPTT: Werbos (1990); the set-up is that of Pascanu, Mikolov & Bengio
    (2013), §5.
    """

    def __init__(self, theta, N, M, K, activation="tanh", form="pascanu", cell="vanilla"):
        theta = as_array(theta, "theta", ndim=1).copy()
        # the model validates N, M, activation, form and cell, once; its arrays are views
        model = RNN.from_vector(theta, N, M, activation, form, cell, name="theta")
        K = as_int(K, "K", minimum=1)
        size = model.size + K * (model.N + 1)
        if theta.size != size:
            raise InputError(f"theta must have shape ({size},) (W, U, b of a {model.cell} "
                             f"cell with N={model.N}, M={model.M}, then V, c with K={K}), "
                             f"got {theta.shape}")
        self.theta = theta
        self.model = model
        self.readout = Readout.from_vector(theta[model.size:], model.N, K, name="theta")
        # the kernels' writable views (W, U, b, V, c) of the same memory
        self._views = self.views(self.theta)

    N = property(lambda self: self.model.N, doc="Hidden units (the model's).")
    M = property(lambda self: self.model.M, doc="Inputs (the model's).")
    K = property(lambda self: self.readout.K, doc="Outputs (the readout's).")
    activation = property(lambda self: self.model.activation)
    form = property(lambda self: self.model.form)
    cell = property(lambda self: self.model.cell)
    S = property(lambda self: self.model.S,
                 doc="Size of the cell's state (2N for the LSTM's (h, c), N otherwise).")
    cell_code = property(lambda self: self.model.cell_code,
                         doc="The kernels' integer code of the cell (vanilla: its form's).")

    W = property(lambda self: self.model.W)
    U = property(lambda self: self.model.U)
    b = property(lambda self: self.model.b)
    V = property(lambda self: self.readout.V)
    c = property(lambda self: self.readout.c)

    @property
    def shapes(self):
        """Shapes of W, U, b, V, c in the order theta holds them."""
        return rnn_shapes(self.N, self.M, self.cell) + ((self.K, self.N), (self.K,))

    @property
    def size(self):
        """Length of theta."""
        return self.theta.size

    def views(self, vec):
        """(W, U, b, V, c) as views of ``vec`` (a flat vector laid out like ``theta``)."""
        return vector_views(vec, self.shapes)

    @classmethod
    def from_arrays(cls, W, U, b, V, c, activation="tanh", form="pascanu", cell="vanilla"):
        """Pack arrays (copies); shapes must agree (per cell, see the class docstring)."""
        # copies, so that the RNN and Readout checks do not freeze the caller's arrays
        W, U, b = (_own(a) for a in (W, U, b))
        return cls.from_rnn(RNN(W, U, b, activation, form, cell=cell), V, c)

    @classmethod
    def from_rnn(cls, rnn, V, c):
        """The trainable parameters of an :class:`rnndyn.models.RNN` with the readout
        V (K, N), c (K,) (copies)."""
        if not isinstance(rnn, RNN):
            raise InputError(f"rnn must be an rnndyn.models.RNN, got {type(rnn).__name__}")
        V = as_array(V, "V", ndim=2)
        if V.shape[1] != rnn.N:         # named before c, whose length follows V's
            raise InputError(f"V must have shape (K, {rnn.N}), got {V.shape}")
        return cls.from_parts(rnn, Readout(_own(V), _own(c)))

    @classmethod
    def from_parts(cls, model, readout):
        """The trainable parameters of ``model`` (an :class:`rnndyn.models.RNN`) read out
        by ``readout`` (a :class:`rnndyn.models.Readout` of the model's N units), copied
        into one theta; e.g. ``Params.from_parts(*load_with_readout(path))``."""
        if not isinstance(model, RNN):
            raise InputError(f"model must be an rnndyn.models.RNN, got "
                             f"{type(model).__name__}")
        if not isinstance(readout, Readout):
            raise InputError(f"readout must be an rnndyn.models.Readout, got "
                             f"{type(readout).__name__}")
        if readout.N != model.N:
            raise InputError(f"V must have shape (K, {model.N}), got {readout.V.shape}")
        theta = np.concatenate([model.W.ravel(), model.U.ravel(), model.b, readout.V.ravel(),
                                readout.c])
        return cls(theta, model.N, model.M, readout.K, model.activation, model.form,
                   model.cell)

    def rnn(self):
        """The recurrent part as an :class:`rnndyn.models.RNN` (copies: a snapshot;
        ``model`` is the live one)."""
        return RNN(self.W.copy(), self.U.copy(), self.b.copy(), self.activation, self.form,
                   cell=self.cell)

    def copy(self):
        """Independent parameters with the same values (their own theta)."""
        return Params(self.theta, self.N, self.M, self.K, self.activation, self.form,
                      self.cell)


def _own(a):
    """A copy of an ndarray (lists and scalars are converted into new arrays anyway)."""
    return a.copy() if isinstance(a, np.ndarray) else a


def init_params(n_hidden, n_inputs, n_outputs, init="smart-tanh", *, activation="tanh",
                form="pascanu", gain=1.0, seed=0, cell="vanilla", forget_bias=0.0):
    """Seeded initial parameters: W, U, b from :func:`rnndyn.models.make_rnn`, then V.

    Parameters
    ----------
    n_hidden, n_inputs, n_outputs : int
        N, M and K.
    init : str
        One of :data:`rnndyn.models.INITS` (gated cells: :data:`rnndyn.gated.GATED_INITS`).
    activation, form, gain
        As in :func:`rnndyn.models.make_rnn` (the paper's inits fix the activation).
    seed : int or numpy.random.Generator
    cell : {'vanilla', 'lstm', 'gru'}
    forget_bias : float
        Gated cells: the forget-gate bias (see :func:`rnndyn.gated.make_gated`).

    Returns
    -------
    Params

    Notes
    -----
    The readout follows the paper's set-ups (Pascanu, Mikolov & Bengio 2013, §5):
    V ~ N(0, 0.01²) for 'sigmoid' and 'smart-tanh', N(0, 0.1²) for 'basic-tanh';
    N(0, 1/N) for the generic initialisers; c zero (b: the initialiser's, zero for the
    vanilla cell).
    """
    rng = as_rng(seed)
    rnn = make_rnn(n_hidden, n_inputs=n_inputs, activation=activation, form=form, init=init,
                   gain=gain, seed=rng, cell=cell, forget_bias=forget_bias)
    K = as_int(n_outputs, "n_outputs", minimum=1)
    V = readout_scale(init, rnn.N) * rng.standard_normal((K, rnn.N))
    return Params.from_parts(rnn, Readout(V, np.zeros(K)))


def readout_scale(init, N):
    """The standard deviation of the initial readout V over N units for ``init`` (see
    :func:`init_params`)."""
    return {"sigmoid": 0.01, "smart-tanh": 0.01, "basic-tanh": 0.1}.get(init, 1.0 / np.sqrt(N))


def trained_model(result):
    """The network and readout a training result ends with.

    Parameters
    ----------
    result : rnndyn.training.TrainResult or CorpusTrainResult
        A returned or loaded (:func:`rnndyn.results.load_result`) result.

    Returns
    -------
    (rnndyn.models.RNN, rnndyn.models.Readout)
        W, U, b with the activation, form and cell of ``result.meta['model']``; V, c.
    """
    model = result.meta.get("model") or {}
    # copies: the containers freeze their arrays, and the result's stay as they are
    W, U, b, V, c = (np.array(getattr(result, k)) for k in "WUbVc")
    rnn = RNN(W, U, b, model.get("activation", "tanh"), model.get("form", "pascanu"),
              cell=model.get("cell", "vanilla"))
    return rnn, Readout(V, c)
