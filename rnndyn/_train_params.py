"""The trainable parameters of rnndyn.training (a cell's W, U, b and the readout V, c as
views of one flat vector) and their seeded initialisation."""

import numpy as np

from rnndyn import cells as _cells
from rnndyn._validate import as_array, as_choice, as_int, as_rng, InputError
from rnndyn.codes import ACTIVATION_CODES as ACT_CODES
from rnndyn.models import FORMS, RNN, make_rnn


# ---------------------------------------------------------------- parameters

class Params:
    """The trainable parameters: the cell's W, U, b and the readout V (K,N), c (K,).

    Vanilla: W (N,N), U (N,M), b (N,); LSTM and GRU: the G gate blocks stacked as in
    :mod:`rnndyn.cells` (G = 4, 3), W (G N, N), U (G N, M), b (4N,). They are views into
    one flat vector ``theta``, so the global gradient norm and the update are single
    vector operations. ``activation``, ``form`` and ``cell`` as in
    :class:`rnndyn.models.RNN` (the model without its readout: :meth:`rnn`; from one:
    :meth:`from_rnn`).
    """

    def __init__(self, theta, N, M, K, activation="tanh", form="pascanu", cell="vanilla"):
        self.N = as_int(N, "N", minimum=1)
        self.M = as_int(M, "M", minimum=0)
        self.K = as_int(K, "K", minimum=1)
        self.activation = as_choice(activation, "activation", tuple(ACT_CODES))
        self.form = as_choice(form, "form", FORMS)
        self.cell = as_choice(cell, "cell", _cells.CELLS)
        if self.cell != "vanilla" and self.activation != "tanh":
            raise InputError(f"activation={self.activation!r}: the {self.cell} cell fixes "
                             "its activations (sigmoid gates, tanh candidate)")
        self.theta = as_array(theta, "theta", shape=(self.size,)).copy()
        # theta is only ever updated in place, so its views stay valid
        self._views = self.views(self.theta)

    @property
    def shapes(self):
        N, M, K = self.N, self.M, self.K
        GN = _cells.GATES[self.cell] * N
        return ((GN, N), (GN, M), (_cells.BIAS_BLOCKS[self.cell] * N,), (K, N), (K,))

    @property
    def S(self):
        """Size of the cell's state (2N for the LSTM's (h, c), N otherwise)."""
        return _cells.STATE_BLOCKS[self.cell] * self.N

    @property
    def cell_code(self):
        """The kernels' integer code of the cell (vanilla: that of its form)."""
        return _cells.cell_code(self.cell, self.form)

    @property
    def size(self):
        return int(sum(np.prod(s) for s in self.shapes))

    def views(self, vec):
        """(W, U, b, V, c) as views of ``vec`` (a flat vector laid out like ``theta``)."""
        out, i = [], 0
        for s in self.shapes:
            n = int(np.prod(s))
            out.append(vec[i:i + n].reshape(s))
            i += n
        return tuple(out)

    W = property(lambda self: self._views[0])
    U = property(lambda self: self._views[1])
    b = property(lambda self: self._views[2])
    V = property(lambda self: self._views[3])
    c = property(lambda self: self._views[4])

    @classmethod
    def from_arrays(cls, W, U, b, V, c, activation="tanh", form="pascanu", cell="vanilla"):
        """Pack validated arrays; shapes must agree (per cell, see the class docstring)."""
        cell = as_choice(cell, "cell", _cells.CELLS)
        W = as_array(W, "W", ndim=2)
        N = W.shape[1]
        GN = _cells.GATES[cell] * N
        U = as_array(U, "U", ndim=2)
        V = as_array(V, "V", ndim=2)
        K = V.shape[0]
        if W.shape != (GN, N) or U.shape[0] != GN:
            raise InputError(f"W must be ({GN}, {N}) and U ({GN}, M) for the {cell} cell, "
                             f"got {W.shape} and {U.shape}")
        b = as_array(b, "b", shape=(_cells.BIAS_BLOCKS[cell] * N,))
        if V.shape != (K, N):
            raise InputError(f"V must have shape (K, {N}), got {V.shape}")
        c = as_array(c, "c", shape=(K,))
        theta = np.concatenate([W.ravel(), U.ravel(), b, V.ravel(), c])
        return cls(theta, N, U.shape[1], K, activation, form, cell)

    @classmethod
    def from_rnn(cls, rnn, V, c):
        """The trainable parameters of an :class:`rnndyn.models.RNN` with the readout
        V (K, N), c (K,) (copies)."""
        if not isinstance(rnn, RNN):
            raise InputError(f"rnn must be an rnndyn.models.RNN, got {type(rnn).__name__}")
        return cls.from_arrays(rnn.W, rnn.U, rnn.b, V, c, rnn.activation, rnn.form, rnn.cell)

    def rnn(self):
        """The recurrent part as an :class:`rnndyn.models.RNN` (copies)."""
        return RNN(self.W.copy(), self.U.copy(), self.b.copy(), self.activation, self.form,
                   cell=self.cell)

    def copy(self):
        return Params(self.theta, self.N, self.M, self.K, self.activation, self.form,
                      self.cell)


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
    scale = {"sigmoid": 0.01, "smart-tanh": 0.01, "basic-tanh": 0.1}.get(
        init, 1.0 / np.sqrt(rnn.N))
    V = scale * rng.standard_normal((K, rnn.N))
    return Params.from_rnn(rnn, V, np.zeros(K))
