"""RNN parameter containers, initialisers and weight files.

Two update forms (design.md §2):

* ``pascanu``: x_t = W σ(x_{t-1}) + U u_t + b,  ∂x_t/∂x_{t-1} = W diag(σ'(x_{t-1}))
* ``elman``:   h_t = σ(W h_{t-1} + U u_t + b),  ∂h_t/∂h_{t-1} = diag(σ'(a_t)) W

The one-neuron RNN of the paper is the case N = 1.
"""

from dataclasses import dataclass

import numpy as np

from rnndyn import activations
from rnndyn._validate import as_array, as_choice, as_float, as_int, as_rng

FORMS = ("pascanu", "elman")
FORM_CODES = {"pascanu": 0, "elman": 1}
INITS = ("gaussian", "orthogonal", "identity", "sparse", "sigmoid", "basic-tanh", "smart-tanh")
# The paper's three set-ups fix the activation (Pascanu et al. 2013, §5).
PAPER_ACTIVATION = {"sigmoid": "sigmoid", "basic-tanh": "tanh", "smart-tanh": "tanh"}


@dataclass(frozen=True, eq=False)
class RNN:
    """Parameters of a vanilla RNN.

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
    """

    W: np.ndarray
    U: np.ndarray
    b: np.ndarray
    activation: str = "tanh"
    form: str = "pascanu"

    def __post_init__(self):
        W = as_array(self.W, "W", ndim=2)
        N = W.shape[0]
        if W.shape != (N, N) or N == 0:
            raise ValueError(f"W must be a non-empty square matrix, got shape {W.shape}")
        U = np.zeros((N, 0)) if self.U is None else as_array(self.U, "U")
        if U.ndim == 1 and U.size == N:
            U = U.reshape(N, 1)
        if U.ndim != 2 or U.shape[0] != N:
            raise ValueError(f"U must have shape ({N}, M), got {U.shape}")
        b = np.zeros(N) if self.b is None else as_array(self.b, "b")
        if b.ndim == 0:
            b = np.full(N, float(b))
        if b.shape != (N,):
            raise ValueError(f"b must have shape ({N},), got {b.shape}")
        act = as_choice(self.activation, "activation", tuple(activations.CODES))
        form = as_choice(self.form, "form", FORMS)
        for name, value in (("W", W), ("U", U), ("b", b), ("activation", act), ("form", form)):
            object.__setattr__(self, name, value)
        for arr in (W, U, b):
            arr.setflags(write=False)

    @property
    def N(self):
        """Number of units."""
        return self.W.shape[0]

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
        """Integer form code for kernels (0 pascanu, 1 elman)."""
        return FORM_CODES[self.form]

    @property
    def gamma(self):
        """γ = sup |σ'| of the activation."""
        return activations.GAMMA[self.activation]

    def with_W(self, W):
        """A copy with recurrent weights ``W``."""
        return RNN(W, self.U, self.b, self.activation, self.form)

    def describe(self):
        """A JSON-able summary (no arrays)."""
        return {"N": self.N, "M": self.M, "activation": self.activation, "form": self.form}

    def step(self, x, u=None):
        """One update in NumPy (reference; kernels do the real work)."""
        x = np.asarray(x, dtype=np.float64)
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
        raise ValueError("sparse initialisation produced a nilpotent W; use a larger k")
    return W * (radius / rho)


def make_rnn(n, *, n_inputs=0, activation="tanh", form="pascanu", init="gaussian",
             gain=1.0, sparsity=15, radius=0.95, seed=0):
    """Build a seeded random RNN.

    Parameters
    ----------
    n : int
        Number of units N (>= 1).
    n_inputs : int
        Number of inputs M (>= 0).
    activation : {'tanh', 'sigmoid', 'relu', 'linear'}
        Ignored for the paper's named set-ups, which fix it.
    form : {'pascanu', 'elman'}
    init : {'gaussian', 'orthogonal', 'identity', 'sparse', 'sigmoid', 'basic-tanh', 'smart-tanh'}
        ``gaussian``: W ~ N(0, gain²/N); ``orthogonal``: gain × orthogonal;
        ``identity``: gain × I; ``sparse``: ``sparsity`` non-zeros per row
        rescaled to spectral radius ``gain``; the paper's set-ups (biases zero):
        ``sigmoid`` (W, U ~ N(0, 0.01²)), ``basic-tanh`` (W, U ~ N(0, 0.1²)),
        ``smart-tanh`` (U ~ N(0, 0.01²), W sparse with 15 per row, ρ = 0.95).
    gain : float
        Scale for the generic initialisers.
    seed : int or numpy.random.Generator

    Returns
    -------
    RNN
    """
    N = as_int(n, "n", minimum=1)
    M = as_int(n_inputs, "n_inputs", minimum=0)
    init = as_choice(init, "init", INITS)
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
    return RNN(W, U, np.zeros(N), activation, form)


# ---------------------------------------------------------------- weight files

WEIGHT_DEFAULTS = {"U": "no inputs (shape (N, 0))", "b": "zeros", "activation": "tanh",
                   "form": "pascanu"}


def load_weights(path):
    """Read an RNN from a ``.npz`` weights file.

    Keys: ``W`` (required, N×N); optional ``U`` (N×M; default no inputs),
    ``b`` (N; default zeros), ``activation`` (default 'tanh'), ``form``
    (default 'pascanu'). Read with ``allow_pickle=False``.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = set(data.files)
            if "W" not in keys:
                raise ValueError(f"weights file {path}: missing required key 'W'")
            unknown = keys - {"W", "U", "b", "activation", "form"}
            if unknown:
                raise ValueError(f"weights file {path}: unknown key(s) {sorted(unknown)}")
            W = data["W"]
            U = data["U"] if "U" in keys else None
            b = data["b"] if "b" in keys else None
            act = str(data["activation"]) if "activation" in keys else "tanh"
            form = str(data["form"]) if "form" in keys else "pascanu"
    except (OSError, EOFError) as exc:
        raise ValueError(f"cannot read weights file {path}: {exc}") from None
    except ValueError as exc:
        if "weights file" in str(exc):
            raise
        raise ValueError(f"cannot read weights file {path}: {exc}") from None
    try:
        return RNN(W, U, b, act, form)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"weights file {path}: {exc}") from None


def save_weights(rnn, path, *, overwrite=False):
    """Write ``rnn`` to ``path`` (.npz, atomically); see :func:`load_weights`."""
    from rnndyn.io import atomic_savez
    atomic_savez(path, {"W": rnn.W, "U": rnn.U, "b": rnn.b,
                        "activation": np.array(rnn.activation),
                        "form": np.array(rnn.form)}, overwrite=overwrite)
    return path
