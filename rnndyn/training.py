"""Training small RNNs with BPTT, gradient clipping and the vanishing-gradient regulariser.

The model is a vanilla RNN (either form, see :mod:`rnndyn.models`) with a linear readout

    p_t = W r_{t-1} + U u_t + b,   r_t = σ(p_t),   y_t = V r_t + c

(pascanu: p_t = x_t, r_0 = σ(0); elman: r_t = h_t, h_0 = 0), or an LSTM or GRU cell
(:mod:`rnndyn.cells`, PyTorch's equations and layout) read out from its hidden part h,
y_t = V h_t + c. The state starts at zero (LSTM: h = c = 0). Gradients come from the numba
kernels in ``rnndyn._kernels.bptt`` (vanilla) and ``rnndyn._kernels.bptt_gated`` (LSTM,
GRU); :func:`train` runs the experiment of Pascanu, Mikolov & Bengio (2013), §5, on one
task.
"""

import json
import math
import os
import threading
import time

import numpy as np

from rnndyn import cells as _cells
from rnndyn import optim, tasks
from rnndyn._kernels import bptt as _k
from rnndyn._kernels import bptt_gated as _kg
from rnndyn._jit import JIT_DISABLED
from rnndyn._threads import pinned
from rnndyn._validate import as_array, as_choice, as_float, as_int, as_rng, InputError, OutputExistsError
from rnndyn import codes
from rnndyn.codes import ACTIVATION_CODES as ACT_CODES, ERR_CODES, OMEGA_CODES
from rnndyn.gated import GATED_INITS
from rnndyn.models import FORM_CODES, FORMS, INITS, RNN, make_rnn
from rnndyn.results import Result, make_meta, result_type

LOSSES = ("ce-last", "ce-all", "mse-last", "bernoulli-all")
OMEGA_MODES = ("off", "sum", "mean")


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


# ---------------------------------------------------------------- gradients

def bernoulli_targets(targets, mask=None):
    """The kernel's (T*B, K) targets of 'bernoulli-all' from (T, B, K) 0/1 targets and an
    optional (T, B) mask (False: no target at that step; its row starts with -1)."""
    z = np.array(targets, dtype=np.float64, order="C", copy=True)
    T, B, K = z.shape
    z = z.reshape(T * B, K)
    if mask is not None:
        z[~np.asarray(mask, dtype=bool).reshape(T * B), 0] = -1.0
    return z


def ahead_labels(codes, ahead=1):
    """Labels (T, B) of 'ce-all' for predicting the symbol ``ahead`` steps on: labels[t] =
    codes[t + ahead], and -1 (no target) for the last ``ahead`` steps."""
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.dtype.kind not in "iu":
        raise InputError(f"codes must be a (T, B) integer array, got {codes.dtype} "
                         f"{codes.shape}")
    T = codes.shape[0]
    ahead = as_int(ahead, "ahead", minimum=1, maximum=max(T - 1, 1))
    if ahead >= T:
        raise InputError(f"ahead must be < T = {T}, got {ahead}")
    lab = np.full(codes.shape, -1, dtype=np.int64)
    lab[:T - ahead] = codes[ahead:]
    return lab


def _loss_arrays(loss, T, B, K, labels, targets, mask=None):
    """(kernel loss code, labels (T, B) int64, targets) from the public arguments."""
    if loss == "bernoulli-all":
        if targets is None:
            raise InputError(f"loss 'bernoulli-all' needs targets of shape ({T}, {B}, {K})")
        z = as_array(targets, "targets", shape=(T, B, K))
        if np.any((z != 0.0) & (z != 1.0)):
            raise InputError("targets of 'bernoulli-all' must be 0 or 1")
        if mask is not None:
            mask = np.asarray(mask)
            if mask.shape != (T, B) or mask.dtype != bool:
                raise InputError(f"mask must be a bool array of shape ({T}, {B}), got "
                                 f"{mask.dtype} {mask.shape}")
        return codes.LOSS_BERNOULLI, np.full((T, B), -1, dtype=np.int64), \
            bernoulli_targets(z, mask)
    if loss == "mse-last":
        if targets is None:
            raise InputError("loss 'mse-last' needs targets of shape (B, K)")
        targets = as_array(targets, "targets")
        if targets.ndim == 1:
            targets = targets.reshape(-1, 1)
        if targets.shape != (B, K):
            raise InputError(f"targets must have shape ({B}, {K}), got {targets.shape}")
        return codes.LOSS_MSE, np.full((T, B), -1, dtype=np.int64), targets
    if labels is None:
        raise InputError(f"loss {loss!r} needs labels")
    lab = np.asarray(labels)
    if lab.dtype.kind not in "iu":
        raise InputError(f"labels must be integers, got dtype {lab.dtype}")
    if loss == "ce-last":
        if lab.shape != (B,):
            raise InputError(f"labels must have shape ({B},) for 'ce-last', got {lab.shape}")
        full = np.full((T, B), -1, dtype=np.int64)
        full[T - 1] = lab
        lab = full
    elif lab.shape != (T, B):
        raise InputError(f"labels must have shape ({T}, {B}) for 'ce-all', got {lab.shape}")
    lab = np.ascontiguousarray(lab, dtype=np.int64)
    if np.any(lab >= K) or np.any(lab < -1):
        raise InputError(f"labels must lie in 0..{K - 1} (or -1 for no target)")
    return codes.LOSS_CE, lab, np.zeros((B, K))


class Gradient:
    """What :func:`loss_and_grad` returns: ``grad`` (flat, laid out like theta), its views
    ``W, U, b, V, c``, ``loss`` E, ``omega`` Ω and ``wrong`` (B,) bool."""

    def __init__(self, grad, views, loss, omega, wrong):
        self.grad = grad
        self.W, self.U, self.b, self.V, self.c = views
        self.loss = loss
        self.omega = omega
        self.wrong = wrong


def loss_and_grad(params, inputs, labels=None, targets=None, *, loss="ce-last",
                  omega=None, alpha=0.0, error_rule="squared", error_tol=tasks.ERROR_TOL,
                  mask=None):
    """BPTT on one minibatch: E, Ω and ∇(E + α Ω) for every parameter.

    Parameters
    ----------
    params : Params
    inputs : ndarray, shape (T, B, M)
        Time-major inputs u_1..u_T of B sequences of one length T.
    labels : int ndarray
        Classes: shape (B,) for 'ce-last', (T, B) for 'ce-all' (-1 = no target at that step).
    targets : ndarray, shape (B, K) or (T, B, K)
        Real targets for 'mse-last' (B, K); 0/1 targets for 'bernoulli-all' (T, B, K).
    loss : {'ce-last', 'ce-all', 'mse-last', 'bernoulli-all'}
        Softmax cross-entropy of y_T (or of every labelled y_t), averaged over the labelled
        (t, sequence) pairs; or the squared error of the linear y_T, averaged over the batch
        and the K outputs (torch's ``MSELoss``); or 'bernoulli-all': independent Bernoulli
        outputs σ(y_t) at every step, the negative log-likelihood summed over the K outputs
        and averaged over the (t, sequence) pairs with a target (nats per step, the
        polyphonic-music convention; torch's ``BCEWithLogitsLoss(reduction='sum')``
        divided by the number of steps). Characters k steps ahead are 'ce-all' with
        labels[t] = the code at t + k (:func:`ahead_labels`).
    omega : {'off', 'sum', 'mean'}, optional
        The regulariser's convention (see Notes); 'off' skips Ω altogether. Default
        'mean' for the vanilla cell, 'off' for the gated ones (Ω is vanilla mathematics:
        asking for it with a gated cell is an InputError).
    alpha : float
        Weight α of Ω's gradient in the W gradient (0: Ω is reported but not used).
    error_rule : {'squared', 'absolute'}
    error_tol : float
        A real-valued answer is wrong when (y - z)² (or |y - z|) exceeds this.
    mask : bool ndarray, shape (T, B), optional
        'bernoulli-all' only: False where a step has no target (padding).

    Returns
    -------
    Gradient

    Notes
    -----
    The regulariser of Pascanu, Mikolov & Bengio (2013), eq. (10), per sequence,

        Ω = Σ_k ( ‖δ_{k+1} ∂x_{k+1}/∂x_k‖ / ‖δ_{k+1}‖ − 1 )²,   δ_{k+1} = ∂E/∂x_{k+1},

    over the transitions k = 0..T-1 ('sum') or their mean ('mean', so α does not scale
    with T), then averaged over the batch. A term is left out when max_i |δ_{k+1,i}| <=
    1e-290 (``OMEGA_TINY`` in the kernel), not only where δ_{k+1} = 0: the ratio is
    undefined at 0, and below that bound it cannot be formed in float64 (the scaled δ
    would overflow). Where gradients vanish these terms are not negligible: about 10% of
    Ω('sum') at T = 400. 'mean' divides by the number of terms kept. Only the direct derivative with respect to W is used: x_k and δ_{k+1}
    are held constant. With the pascanu form ∂x_{k+1}/∂x_k = W diag(σ'(x_k)); with the
    elman form diag(σ'(W h_k + U u_{k+1} + b)) W, whose σ' also moves with W (h_k fixed),
    and that term is included.

    Gated cells (LSTM, GRU): E and ∇E by BPTT through the cell of :mod:`rnndyn.cells`
    with y_t = V h_t + c, equal to PyTorch's autograd of ``nn.LSTM``/``nn.GRU`` with an
    ``nn.Linear`` readout (Werbos 1990; Hochreiter & Schmidhuber 1997; Cho et al. 2014).
    """
    if not isinstance(params, Params):
        raise InputError(f"params must be a Params, got {type(params).__name__}")
    u = as_array(inputs, "inputs", ndim=3)
    T, B, M = u.shape
    if T < 1 or B < 1:
        raise InputError(f"inputs must have T >= 1 steps and B >= 1 sequences, got {u.shape}")
    if M != params.M:
        raise InputError(f"inputs must have {params.M} channels (M), got {M}")
    loss = as_choice(loss, "loss", LOSSES)
    if omega is None:
        omega = "mean" if params.cell == "vanilla" else "off"
    omega = as_choice(omega, "omega", OMEGA_MODES)
    if omega != "off":
        _cells.require(params.cell, "omega", "the regulariser Ω")
    alpha = as_float(alpha, "alpha", minimum=0.0)
    rule = tasks.error_rule(error_rule)
    tol = as_float(error_tol, "error_tol", minimum=0.0)
    if mask is not None and loss != "bernoulli-all":
        raise InputError("mask is only used by loss 'bernoulli-all' (CE: label -1)")
    code, lab, tgt = _loss_arrays(loss, T, B, params.K, labels, targets, mask)
    return _grad(params, u, code, lab, tgt, OMEGA_CODES[omega], alpha, ERR_CODES[rule], tol)


_TLS = threading.local()
_JIT_OFF = JIT_DISABLED


def _workspace(n):
    """A reusable float64 scratch array of at least n elements, one per thread."""
    w = getattr(_TLS, "work", None)
    if w is None or w.size < n:
        w = np.empty(n)
        _TLS.work = w
    return w


def _grad(params, u, code, labels, targets, omega_code, alpha, err_code, tol, out=None):
    """Unvalidated call of the kernel (the training loop's hot path).

    ``out``: optional (flat gradient, its views) to write into, reused between calls.
    """
    if out is None:
        g = np.empty(params.size)
        out = (g, params.views(g))
    g, (gW, gU, gb, gV, gc) = out
    T, B, _ = u.shape
    if params.cell != "vanilla":
        return _grad_gated(params, u, code, labels, targets, err_code, tol, out)
    want_grad = omega_code != codes.OMEGA_OFF and alpha != 0.0
    work = _workspace(_k._work_size(T, B, params.N, params.M, FORM_CODES[params.form],
                                    want_grad))
    W, U, b, V, c = params._views
    wrong = np.empty(B)
    stats = np.zeros(2)
    args = (W, U, b, V, c, ACT_CODES[params.activation], FORM_CODES[params.form], code,
            labels, targets, u, err_code, tol, omega_code, alpha, gW, gU, gb, gV, gc,
            wrong, stats, work)
    if _JIT_OFF:
        # overflow is an expected outcome (exploding states; the caller checks
        # finiteness); compiled kernels never warn, so neither does their Python run
        with np.errstate(all="ignore"):
            _k._bptt(*args)
    else:
        _k._bptt(*args)
    return Gradient(g, (gW, gU, gb, gV, gc), float(stats[0]), float(stats[1]), wrong > 0.5)


def _grad_gated(params, u, code, labels, targets, err_code, tol, out):
    """_grad for an LSTM or GRU (rnndyn._kernels.bptt_gated; no Ω)."""
    T, B, _ = u.shape
    g, views = out
    work = _workspace(_kg._gated_work_size(T, B, params.N, params.M, params.cell_code))
    wrong = np.empty(B)
    stats = np.zeros(2)
    args = (*params._views, params.cell_code, code, labels, targets, u, err_code, tol,
            *views, wrong, stats, work)
    if _JIT_OFF:
        with np.errstate(all="ignore"):
            _kg._bptt_gated(*args)
    else:
        _kg._bptt_gated(*args)
    return Gradient(g, views, float(stats[0]), 0.0, wrong > 0.5)


def _forward(params, code, labels, targets, u, err_code, tol, wrong, stats):
    """The forward-only kernel of ``params``' cell: wrong (B,) and stats[0] = E."""
    W, U, b, V, c = params.views(params.theta)
    with np.errstate(all="ignore"):
        if params.cell == "vanilla":
            _k._evaluate(W, U, b, V, c, ACT_CODES[params.activation],
                         FORM_CODES[params.form], code, labels, targets, u, err_code, tol,
                         wrong, stats)
        else:
            _kg._evaluate_gated(W, U, b, V, c, params.cell_code, code, labels, targets, u,
                                err_code, tol, wrong, stats)


def _batch_arrays(spec, batch):
    """(loss code, labels, targets) for a task minibatch."""
    T, B = batch.labels.shape
    if spec.loss == "mse":
        return codes.LOSS_MSE, batch.labels, batch.targets
    return codes.LOSS_CE, batch.labels, np.zeros((B, spec.n_outputs))


@pinned
def evaluate(params, task, length, n=tasks.SUCCESS_SIZE, *, seed=0, error_rule="squared",
             chunk=500, **task_options):
    """Error rate and mean loss of ``params`` on ``n`` fresh sequences of ``task``.

    Parameters
    ----------
    params : Params
    task : str or rnndyn.tasks.TaskSpec
    length : int or (lo, hi)
        With a range, every chunk of ``chunk`` sequences draws its own length.
    n : int
        Number of sequences (the paper: 10,000).
    seed : int or numpy.random.Generator
    error_rule : {'squared', 'absolute'}
        Only for real-valued outputs, see :func:`rnndyn.tasks.error_rule`.

    Returns
    -------
    (error_rate, loss) : (float, float)
        A sequence counts as wrong if any of its answers is (class not the argmax, or the
        real answer's error above 0.04 by the rule).

    Notes
    -----
    The success test of Pascanu, Mikolov & Bengio (2013), §5 (after Hochreiter &
    Schmidhuber 1997): a run succeeds when ``error_rate`` < 0.01 on 10,000 fresh
    sequences (:func:`rnndyn.tasks.is_success`).
    """
    if not isinstance(params, Params):
        raise InputError(f"params must be a Params, got {type(params).__name__}")
    spec = task if isinstance(task, tasks.TaskSpec) else tasks.task_spec(task, **task_options)
    rng = as_rng(seed)
    n = as_int(n, "n", minimum=1)
    chunk = as_int(chunk, "chunk", minimum=1)
    rng_len = tasks.check_length(length, spec)
    err = ERR_CODES[tasks.error_rule(error_rule)]
    return _evaluate(params, spec, rng_len, n, rng, err, chunk)


# inputs of one evaluation chunk are capped at this many numbers (32 MB): long sequences
# with many input channels (permutation: M = 100) would otherwise need gigabytes
_EVAL_CHUNK_ELEMENTS = 4_000_000


def _evaluate(params, spec, length, n, rng, err_code, chunk):
    chunk = max(1, min(chunk, _EVAL_CHUNK_ELEMENTS // (length[1] * max(spec.n_inputs, 1))))
    n_wrong = 0
    loss = 0.0
    done = 0
    while done < n:
        B = min(chunk, n - done)
        batch = tasks.make_batch(spec, length, B, rng)
        code, lab, tgt = _batch_arrays(spec, batch)
        wrong = np.empty(B)
        stats = np.zeros(2)
        _forward(params, code, lab, tgt, batch.inputs, err_code, tasks.ERROR_TOL, wrong,
                 stats)
        n_wrong += int(np.count_nonzero(wrong > 0.5))
        loss += stats[0] * B
        done += B
    return n_wrong / n, loss / n


# ---------------------------------------------------------------- diagnostics

def spectral_stats(W):
    """(ρ(W), λ1(W)): spectral radius and largest singular value (NaN if W is not finite).

    Both are reported because they answer different questions (Pascanu et al. 2013, §2.1):
    λ1 < 1/γ is sufficient for vanishing gradients at every lag, while ρ governs only the
    long-lag limit (a non-normal W can have ρ < 1 < λ1 and grow transiently). A gated
    cell's stacked W (G N, N) is no map's linearisation (rnndyn.cells' 'spectra'
    capability): NaN for both.
    """
    if W.shape[0] != W.shape[1] or not np.all(np.isfinite(W)):
        return float("nan"), float("nan")
    return (float(np.max(np.abs(np.linalg.eigvals(W)))),
            float(np.linalg.norm(W, 2)))


def flow_rate(params, inputs):
    """Growth rate per step of ‖∂x_T/∂x_k‖₂ along the first sequence of ``inputs``.

    ``rate_per_step`` of :func:`rnndyn.gradflow.gradient_flow` (the slope of
    log‖∂x_T/∂x_k‖₂ against the lag, renormalised products) for the trajectory from the
    zero state (LSTM: h = c = 0) driven by ``inputs[:, 0]`` (T, B, M), of the full state.
    Negative: vanishing; positive:
    exploding; NaN if the parameters are not finite.
    """
    from rnndyn.gradflow import gradient_flow
    if not np.all(np.isfinite(params.theta)):
        return float("nan")
    u = np.ascontiguousarray(inputs[:, 0, :])
    try:
        res = gradient_flow(params.rnn(), np.zeros(params.S), u.shape[0], u,
                            jacobian_stats=False)
    except ValueError:
        # e.g. states overflowing in an exploded run: a diagnostic never stops training
        return float("nan")
    return float(res.rate_per_step)


# ---------------------------------------------------------------- the training run

_HISTORY = ("update", "loss", "error_rate", "grad_norm", "grad_norm_max", "clip_fraction",
            "skipped", "omega", "alpha", "rho", "lambda1", "flow_rate")
_EVALS = ("eval_update", "eval_error_rate", "eval_loss")


@result_type
class TrainResult(Result):
    """One training run (Pascanu et al. 2013, §5).

    Attributes
    ----------
    success : bool
        Fewer than 1% wrong answers on ``eval_size`` fresh sequences at some evaluation.
    updates : int
        Parameter updates attempted (skipped ones included).
    final_error_rate : float
        Error rate on fresh sequences at the final parameters.
    skipped : int
        Updates skipped because the gradient was not finite.
    stop_reason : {'success', 'budget'}
    seconds : float
        Wall time of the run (summed over resumptions).
    update, loss, error_rate, grad_norm, grad_norm_max, clip_fraction, skipped_per_window,
    omega, alpha, rho, lambda1, flow_rate : ndarray
        Diagnostics per window of ``diag_every`` updates: the update count at the window's
        end; means over the window of the minibatch loss, the minibatch error rate, ‖∇‖
        before clipping (and its maximum), the fraction of clipped and the number of
        skipped steps, Ω and α; at the window's end ρ(W), λ1(W) and the gradient-flow rate
        per step (:func:`flow_rate`).
    eval_update, eval_error_rate, eval_loss : ndarray
        The success evaluations on fresh sequences.
    W, U, b, V, c : ndarray
        Final parameters.
    meta : dict
        Parameters of the run (``meta['params']``), seed, model, versions.
    """

    success: bool
    updates: int
    final_error_rate: float
    skipped: int
    stop_reason: str
    seconds: float
    update: np.ndarray
    loss: np.ndarray
    error_rate: np.ndarray
    grad_norm: np.ndarray
    grad_norm_max: np.ndarray
    clip_fraction: np.ndarray
    skipped_per_window: np.ndarray
    omega: np.ndarray
    alpha: np.ndarray
    rho: np.ndarray
    lambda1: np.ndarray
    flow_rate: np.ndarray
    eval_update: np.ndarray
    eval_error_rate: np.ndarray
    eval_loss: np.ndarray
    W: np.ndarray
    U: np.ndarray
    b: np.ndarray
    V: np.ndarray
    c: np.ndarray
    meta: dict


# settings that may differ between a checkpoint and the call that resumes it
_RESUMABLE = ("max_updates",)


def _config(task, length, method, init, n_hidden, lr, threshold, alpha, batch_size,
            max_updates, eval_every, eval_size, seed, more):
    """Validate every setting of :func:`train`; return a JSON-able dict."""
    more = dict(more)
    task_options = more.pop("task_options", None) or {}
    if not isinstance(task_options, dict):
        raise InputError(f"task_options must be a dict, got {type(task_options).__name__}")
    spec = tasks.task_spec(task, **task_options)
    lo, hi = tasks.check_length(length, spec)
    method = as_choice(method, "method", tuple(optim.METHODS))
    clip_kind, regularised = optim.METHODS[method]
    cell = as_choice(more.pop("cell", "vanilla"), "cell", _cells.CELLS)
    init = as_choice(init, "init", INITS if cell == "vanilla" else GATED_INITS)
    cfg = {
        "task": spec.name, "task_options": spec.options, "length": [lo, hi],
        "method": method, "init": init,
        "n_hidden": as_int(n_hidden, "n_hidden", minimum=1),
        "lr": as_float(lr, "lr", minimum=0.0, strict_minimum=True),
        "threshold": as_float(threshold, "threshold", minimum=0.0, strict_minimum=True),
        "alpha": as_float(alpha, "alpha", minimum=0.0),
        "batch_size": as_int(batch_size, "batch_size", minimum=1),
        "max_updates": as_int(max_updates, "max_updates", minimum=0),
        "eval_every": as_int(eval_every, "eval_every", minimum=1),
        "eval_size": as_int(eval_size, "eval_size", minimum=1),
        "seed": as_int(seed, "seed", minimum=0),
    }
    clip_kind = as_choice(more.pop("clip", clip_kind), "clip", optim.CLIPS)
    regularised = bool(more.pop("regulariser", regularised))
    schedule, tau = optim.check_schedule(more.pop("alpha_schedule", "constant"),
                                         more.pop("alpha_tau", 1000.0))
    cfg.update({
        "clip": clip_kind, "regulariser": regularised,
        "omega": as_choice(more.pop("omega", "mean"), "omega", ("sum", "mean")),
        "alpha_schedule": schedule, "alpha_tau": tau,
        "momentum": as_float(more.pop("momentum", 0.0), "momentum", minimum=0.0,
                             maximum=1.0),
        "activation": as_choice(more.pop("activation", "tanh"), "activation",
                                tuple(ACT_CODES)),
        "form": as_choice(more.pop("form", "pascanu"), "form", FORMS),
        "gain": as_float(more.pop("gain", 1.0), "gain"),
        "cell": cell,
        "forget_bias": as_float(more.pop("forget_bias", 0.0), "forget_bias"),
        "error_rule": tasks.error_rule(more.pop("error_rule", "squared")),
        "diag_every": as_int(more.pop("diag_every", math.gcd(100, cfg["eval_every"])),
                             "diag_every", minimum=1),
        "eval_screen": as_float(more.pop("eval_screen", 0.05), "eval_screen", minimum=0.0),
        "stop_at_success": bool(more.pop("stop_at_success", True)),
    })
    cfg["checkpoint_every"] = as_int(more.pop("checkpoint_every", cfg["eval_every"]),
                                     "checkpoint_every", minimum=1)
    if cfg["eval_every"] % cfg["diag_every"]:
        raise InputError(f"diag_every ({cfg['diag_every']}) must divide eval_every "
                         f"({cfg['eval_every']}): the success test is screened by the "
                         "window that ends with it")
    resume = bool(more.pop("resume", True))
    if more:
        raise InputError(f"train() got unknown option(s): {', '.join(sorted(more))}")
    if cfg["alpha"] == 0.0 and regularised:
        cfg["regulariser"] = False
    if cfg["regulariser"]:
        _cells.require(cfg["cell"], "omega", f"method {method!r} (the regulariser Ω)")
    return spec, cfg, resume


# settings added after checkpoints were first written: an older checkpoint holds their
# value then (the vanilla cell)
_CFG_DEFAULTS = {"cell": "vanilla", "forget_bias": 0.0}


class _Run:
    """Mutable state of a run: what a checkpoint stores."""

    def __init__(self, cfg, spec):
        self.cfg = cfg
        seq = np.random.SeedSequence(cfg["seed"])
        init_seq, data_seq = seq.spawn(2)
        self.params = init_params(cfg["n_hidden"], spec.n_inputs, spec.n_outputs, cfg["init"],
                                  activation=cfg["activation"], form=cfg["form"],
                                  gain=cfg["gain"], seed=np.random.default_rng(init_seq),
                                  cell=cfg["cell"], forget_bias=cfg["forget_bias"])
        self.buf = np.zeros(self.params.size)
        self.data_rng = np.random.default_rng(data_seq)
        self.updates = 0
        self.skipped = 0
        self.success = False
        self.seconds = 0.0
        self.last_eval = None          # (update, error_rate, loss)
        self.window = np.zeros(8)      # sums over the current diagnostics window
        self.history = {k: [] for k in _HISTORY + ("skipped_per_window",) if k != "skipped"}
        self.evals = {k: [] for k in _EVALS}

    # window slots
    N_STEPS, LOSS, ERR, GNORM, GMAX, CLIPPED, SKIPPED, OMEGA = range(8)

    def save(self, path):
        from rnndyn.io import atomic_savez
        state = {"cfg": self.cfg, "updates": self.updates, "skipped": self.skipped,
                 "success": self.success, "seconds": self.seconds,
                 "last_eval": self.last_eval, "rng": self.data_rng.bit_generator.state,
                 "activation": self.params.activation, "form": self.params.form,
                 "cell": self.params.cell,
                 "shape": [self.params.N, self.params.M, self.params.K]}
        arrays = {"theta": self.params.theta, "buf": self.buf, "window": self.window,
                  "state": np.array(json.dumps(state))}
        for k, v in list(self.history.items()) + list(self.evals.items()):
            arrays["h_" + k] = np.asarray(v, dtype=np.float64)
        atomic_savez(path, arrays, overwrite=True)

    def load(self, path):
        from rnndyn.io import read_npz
        history = ["h_" + k for k in list(self.history) + list(self.evals)]
        arrays = read_npz(path, what="checkpoint",
                          required_keys=["theta", "buf", "window", "state"] + history)
        try:
            state = json.loads(str(arrays["state"][()]))
            old = dict(state["cfg"])
            N, M, K = (int(v) for v in state["shape"])
            missing = [k for k in ("updates", "skipped", "success", "seconds", "last_eval",
                                   "rng", "activation", "form") if k not in state]
            if missing:
                raise KeyError(", ".join(missing))
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise InputError(f"checkpoint {path}: not a training checkpoint, or a damaged "
                             f"one ({type(exc).__name__}: {exc})") from None
        for key in set(old) | set(self.cfg):
            was = old.get(key, _CFG_DEFAULTS.get(key))
            if key not in _RESUMABLE and was != self.cfg.get(key):
                raise InputError(f"checkpoint {path} was made with {key}={was!r}, "
                                 f"this run has {key}={self.cfg.get(key)!r}")
        try:
            params = Params(arrays["theta"], N, M, K, state["activation"], state["form"],
                            state.get("cell", "vanilla"))
            buf = as_array(arrays["buf"], "buf", shape=(params.size,)).copy()
            window = as_array(arrays["window"], "window", shape=self.window.shape).copy()
            self.data_rng.bit_generator.state = state["rng"]
        except (ValueError, TypeError, KeyError) as exc:
            raise InputError(f"checkpoint {path}: damaged ({exc})") from None
        self.params, self.buf, self.window = params, buf, window
        self.updates = state["updates"]
        self.skipped = state["skipped"]
        self.success = state["success"]
        self.seconds = state["seconds"]
        self.last_eval = state["last_eval"]
        for k in self.history:
            self.history[k] = arrays["h_" + k].tolist()
        for k in self.evals:
            self.evals[k] = arrays["h_" + k].tolist()


@pinned
def train(task, length, method="sgd-c", init="smart-tanh", *, n_hidden=50, lr=0.01,
          threshold=1.0, alpha=4.0, batch_size=20, max_updates=100_000, eval_every=1000,
          eval_size=tasks.SUCCESS_SIZE, seed=0, checkpoint=None, progress=None, **more):
    """Train an RNN on a synthetic task with SGD, SGD-C or SGD-CR until success or budget.

    Parameters
    ----------
    task : str
        One of :data:`rnndyn.tasks.TASKS`: 'temporal-order', 'temporal-order-3bit',
        'addition', 'multiplication', 'permutation', 'memorisation'.
    length : int or (lo, hi)
        Sequence length, or a range from which every minibatch draws its own length.
    method : {'sgd', 'sgd-c', 'sgd-cr'}
        Plain SGD; SGD with norm clipping (Algorithm 1, global norm of all parameters);
        SGD-C plus the regulariser Ω with weight ``alpha``.
    init : str
        One of :data:`rnndyn.models.INITS`; the paper's set-ups are 'sigmoid',
        'basic-tanh' and 'smart-tanh' (which fix the activation).
    n_hidden : int
        N (the paper: 50).
    lr : float
        Learning rate (the paper: 0.01).
    threshold : float
        Clipping threshold (the paper: 1).
    alpha : float
        Weight of Ω for 'sgd-cr' (the paper: 4 with its convention; see ``omega``).
    batch_size : int
        Minibatch size (the paper: 20).
    max_updates : int
        Budget in parameter updates (the paper: up to 5 million).
    eval_every : int
        Test for success every this many updates.
    eval_size : int
        Fresh sequences per success test (the paper: 10,000).
    seed : int
        Seeds the initial weights and the data (the success tests use their own streams).
    checkpoint : path, optional
        A ``.npz`` written atomically every ``checkpoint_every`` updates and at the end.
        If it exists (and ``resume`` is true) the run continues from it exactly; a finished
        run returns at once. Settings must match, except ``max_updates``.
    progress : callable, optional
        Called with the number of updates done so far (every ``diag_every`` updates).
    **more
        ``clip`` ('none', 'norm', 'value': overrides the method's), ``regulariser`` (bool,
        overrides the method's), ``omega`` ('mean' (default) or 'sum' over the transitions
        k, see :func:`loss_and_grad`), ``alpha_schedule`` ('constant' or '1/t':
        α_t = α τ/(τ + t)), ``alpha_tau`` (τ, default 1000), ``momentum`` (default 0),
        ``activation``, ``form``, ``gain`` (model, see :func:`rnndyn.models.make_rnn`),
        ``cell`` ('vanilla' (default), 'lstm', 'gru': BPTT through the gated cell of
        :mod:`rnndyn.cells`; Ω, and so 'sgd-cr' with α > 0, is vanilla-only),
        ``forget_bias`` (gated cells, see :func:`init_params`),
        ``error_rule`` ('squared' or 'absolute', real-valued tasks), ``task_options``
        (dict, see :func:`rnndyn.tasks.task_spec`), ``diag_every`` (K, default
        gcd(100, eval_every); must divide eval_every), ``eval_screen`` (run the full
        success test only when the minibatch error rate of the last window is below this,
        default 0.05: the test costs about eval_size/batch_size forward passes; the final
        parameters are always tested), ``checkpoint_every`` (default
        eval_every), ``stop_at_success`` (default True), ``resume`` (default True: an
        existing checkpoint is continued; False: it is an error).

    Returns
    -------
    TrainResult

    Notes
    -----
    Each update: a fresh seeded minibatch; BPTT gives g = ∇E (+ α_t ∇_W Ω for the
    regularised method, Ω's direct W-term only); if ‖g‖ is not finite the step is skipped
    and counted; otherwise g is clipped ('norm': g ← threshold·g/‖g‖ when ‖g‖ ≥
    threshold; 'value': element-wise) and θ ← θ − lr·g (with momentum μ: the buffer
    v ← μv + g is used instead of g). Success follows Pascanu, Mikolov & Bengio (2013),
    §5: fewer than 1% wrong answers on fresh sequences.
    """
    spec, cfg, resume = _config(task, length, method, init, n_hidden, lr, threshold, alpha,
                                batch_size, max_updates, eval_every, eval_size, seed, more)
    run = _Run(cfg, spec)
    if checkpoint is not None:
        checkpoint = os.fspath(checkpoint)
        if os.path.exists(checkpoint):
            if not resume:
                raise OutputExistsError(f"checkpoint {checkpoint} exists; resume it or remove it")
            run.load(checkpoint)
    # an interrupted run resumes from its last periodic checkpoint: saving the state of
    # an update cut off half-way would not resume exactly. Overflow in an exploding run
    # is expected and handled (skipped steps, NaN diagnostics), not a warning.
    with np.errstate(all="ignore"):
        _loop(run, spec, progress, checkpoint)
    if checkpoint is not None:
        run.save(checkpoint)
    return _result(run)


def _loop(run, spec, progress, checkpoint):
    cfg = run.cfg
    length = tuple(cfg["length"])
    err_code = ERR_CODES[cfg["error_rule"]]
    omega_code = OMEGA_CODES[cfg["omega"]]
    lr, mom, thr = cfg["lr"], cfg["momentum"], cfg["threshold"]
    K = cfg["diag_every"]
    w = run.window
    g = np.empty(run.params.size)
    gbuf = (g, run.params.views(g))
    t_start = time.perf_counter()
    t_saved = run.seconds
    batch = None
    while run.updates < cfg["max_updates"] and not (run.success and cfg["stop_at_success"]):
        batch = tasks.make_batch(spec, length, cfg["batch_size"], run.data_rng)
        code, lab, tgt = _batch_arrays(spec, batch)
        a = (optim.alpha_at(cfg["alpha"], cfg["alpha_schedule"], run.updates,
                            cfg["alpha_tau"]) if cfg["regulariser"] else 0.0)
        res = _grad(run.params, batch.inputs, code, lab, tgt, omega_code, a, err_code,
                    tasks.ERROR_TOL, out=gbuf)
        norm, clipped = optim.clip(g, cfg["clip"], thr)
        run.updates += 1
        w[run.N_STEPS] += 1
        if np.isfinite(norm) and np.isfinite(res.loss):
            optim.sgd_step(run.params.theta, g, lr, mom, run.buf)
            w[run.LOSS] += res.loss
            w[run.ERR] += np.mean(res.wrong)
            w[run.GNORM] += norm
            w[run.GMAX] = max(w[run.GMAX], norm)
            w[run.CLIPPED] += clipped
            w[run.OMEGA] += res.omega
        else:
            run.skipped += 1
            w[run.SKIPPED] += 1
        closed = run.updates % K == 0 or run.updates == cfg["max_updates"]
        if closed:
            _close_window(run, batch, a)
        if run.updates % cfg["eval_every"] == 0 and _screen_passes(run):
            _success_test(run, spec)
        if checkpoint is not None and run.updates % cfg["checkpoint_every"] == 0:
            run.seconds = t_saved + time.perf_counter() - t_start
            run.save(checkpoint)
        # last, so that an exception raised by the callback leaves a consistent state
        if closed and progress is not None:
            progress(run.updates)
    if w[run.N_STEPS] > 0 and batch is not None:
        _close_window(run, batch, a)
    if run.last_eval is None or run.last_eval[0] != run.updates:
        _success_test(run, spec)
    run.seconds = t_saved + time.perf_counter() - t_start


def _screen_passes(run):
    h = run.history["error_rate"]
    return bool(h) and run.history["update"][-1] == run.updates and \
        h[-1] < run.cfg["eval_screen"]


def _close_window(run, batch, alpha_now):
    """Append the diagnostics of the finished window and reset the sums."""
    w = run.window
    n_ok = max(w[run.N_STEPS] - w[run.SKIPPED], 1.0)
    W = run.params.W
    rho, lam = spectral_stats(W)
    h = run.history
    h["update"].append(run.updates)
    h["loss"].append(w[run.LOSS] / n_ok if w[run.N_STEPS] > w[run.SKIPPED] else np.nan)
    h["error_rate"].append(w[run.ERR] / n_ok if w[run.N_STEPS] > w[run.SKIPPED] else np.nan)
    h["grad_norm"].append(w[run.GNORM] / n_ok if w[run.N_STEPS] > w[run.SKIPPED] else np.nan)
    h["grad_norm_max"].append(w[run.GMAX])
    h["clip_fraction"].append(w[run.CLIPPED] / max(w[run.N_STEPS], 1.0))
    h["skipped_per_window"].append(w[run.SKIPPED])
    h["omega"].append(w[run.OMEGA] / n_ok if w[run.N_STEPS] > w[run.SKIPPED] else np.nan)
    h["alpha"].append(alpha_now)
    h["rho"].append(rho)
    h["lambda1"].append(lam)
    h["flow_rate"].append(flow_rate(run.params, batch.inputs))
    w[:] = 0.0


def _success_test(run, spec):
    cfg = run.cfg
    rng = np.random.default_rng([cfg["seed"], 1, run.updates])
    err, loss = _evaluate(run.params, spec, tuple(cfg["length"]), cfg["eval_size"], rng,
                          ERR_CODES[cfg["error_rule"]], 500)
    run.last_eval = [run.updates, err, loss]
    run.evals["eval_update"].append(run.updates)
    run.evals["eval_error_rate"].append(err)
    run.evals["eval_loss"].append(loss)
    if tasks.is_success(err):
        run.success = True


def _result(run):
    cfg = run.cfg
    p = run.params
    h = {k: np.asarray(v, dtype=np.float64) for k, v in run.history.items()}
    e = {k: np.asarray(v, dtype=np.float64) for k, v in run.evals.items()}
    h["update"] = h["update"].astype(np.int64)
    e["eval_update"] = e["eval_update"].astype(np.int64)
    return TrainResult(
        success=bool(run.success), updates=int(run.updates),
        final_error_rate=float(run.last_eval[1]), skipped=int(run.skipped),
        stop_reason="success" if run.success else "budget", seconds=float(run.seconds),
        **h, **e, W=p.W.copy(), U=p.U.copy(), b=p.b.copy(), V=p.V.copy(), c=p.c.copy(),
        meta=make_meta(cfg, seed=cfg["seed"], model=p.rnn(), method=cfg["method"],
                       clip=cfg["clip"], omega_convention=cfg["omega"],
                       error_rule=cfg["error_rule"], success_rule="error rate < 0.01 on "
                       f"{cfg['eval_size']} fresh sequences"))


# ---------------------------------------------------------------- real sequence data

#: task -> (data set of :mod:`rnndyn.data`, loss, paper's clipping threshold)
DATA_TASKS = {"bach-chorales": ("bach-chorales", "bernoulli-all", 8.0),
              "chars": ("shakespeare", "ce-all", 45.0)}
#: default learning rates (with momentum 0.9): the largest of 0.05, 0.1, 0.15, 0.2, 0.5
#: that did not diverge in 150-update trials at N = 100
DATA_LR = {"bach-chorales": 0.05, "chars": 0.15}
_LN2 = math.log(2.0)


class _Batches:
    """Minibatches and evaluation batches of a :class:`rnndyn.data.Corpus`, as kernel
    arrays: (inputs (T, B, M), labels (T, B), targets, number of predicted steps)."""

    def __init__(self, corpus, loss, seq_length, ahead):
        self.corpus, self.loss, self.L, self.ahead = corpus, loss, seq_length, ahead
        self.K = corpus.n_symbols
        if loss == "ce-all":
            self.text = {s: (np.concatenate(v) if v else np.zeros(0, np.uint8))
                         for s, v in corpus.sequences.items()}
            if self.text["train"].size < seq_length + ahead + 1:
                raise InputError(f"the train split has {self.text['train'].size} "
                                 f"characters, fewer than seq_length + ahead = "
                                 f"{seq_length + ahead}")
        elif not corpus.sequences["train"]:
            raise InputError("the train split holds no sequence")

    def _rolls(self, seqs):
        """Pad piano-roll pieces (each T_i + 1 frames): input frames 0..T_i-1, targets
        1..T_i, mask of real steps."""
        T = max(len(s) - 1 for s in seqs)
        B = len(seqs)
        u = np.zeros((T, B, self.K))
        z = np.zeros((T, B, self.K))
        mask = np.zeros((T, B), dtype=bool)
        for k, s in enumerate(seqs):
            n = len(s) - 1
            u[:n, k] = s[:-1]
            z[:n, k] = s[1:]
            mask[:n, k] = True
        lab = np.full((T, B), -1, dtype=np.int64)
        return u, lab, bernoulli_targets(z, mask), int(mask.sum())

    def _chars(self, windows):
        """Character windows (B, L + ahead) -> one-hot inputs of the first L, labels
        ahead."""
        w = np.asarray(windows, dtype=np.int64).T          # (L + ahead, B)
        L = w.shape[0] - self.ahead
        u = np.ascontiguousarray(np.eye(self.K)[w[:L]])
        lab = np.ascontiguousarray(w[self.ahead:self.ahead + L])
        return u, lab, np.zeros((w.shape[1], self.K)), int(lab.size)

    def train_batch(self, B, rng):
        if self.loss == "ce-all":
            text = self.text["train"]
            span = self.L + self.ahead
            starts = rng.integers(0, text.size - span + 1, size=B)
            return self._chars([text[s:s + span] for s in starts])
        seqs = self.corpus.sequences["train"]
        pick = rng.integers(0, len(seqs), size=B)
        pieces = []
        for i in pick:
            s = seqs[i]
            if len(s) > self.L + 1:                      # a random window of L steps
                a = int(rng.integers(0, len(s) - self.L))
                s = s[a:a + self.L + 1]
            pieces.append(s)
        return self._rolls(pieces)

    def eval_batches(self, split, max_steps, chunk=64):
        """Deterministic batches covering ``split`` (characters: at most ``max_steps``
        predicted characters, in windows of L spread evenly over the split)."""
        if self.loss == "ce-all":
            text = self.text[split]
            span = self.L + self.ahead
            n_win = text.size // span
            if n_win == 0:
                return
            n_use = n_win if max_steps is None else max(1, min(n_win, max_steps // self.L))
            idx = np.unique(np.linspace(0, n_win - 1, n_use).round().astype(np.int64))
            for a in range(0, idx.size, chunk):
                yield self._chars([text[i * span:(i + 1) * span] for i in idx[a:a + chunk]])
            return
        seqs = [s for s in self.corpus.sequences[split] if len(s) >= 2]
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        for a in range(0, len(order), chunk):
            yield self._rolls([seqs[i] for i in order[a:a + chunk]])


def _corpus_nll(params, batches, split, max_steps, loss_code, unit_scale):
    """Mean NLL per predicted step of ``split`` (nats; ``unit_scale`` converts)."""
    total, n = 0.0, 0
    for u, lab, tgt, count in batches.eval_batches(split, max_steps):
        wrong = np.empty(u.shape[1])
        stats = np.zeros(2)
        _forward(params, loss_code, lab, tgt, u, 0, tasks.ERROR_TOL, wrong, stats)
        total += stats[0] * count
        n += count
    return total / n * unit_scale if n else float("nan")


@result_type
class CorpusTrainResult(Result):
    """One training run on a real corpus (Pascanu et al. 2013, §5.2, Table 1 shape).

    Attributes
    ----------
    task, dataset, unit : str
        'bach-chorales' (nats per step) or 'chars' (bits per character).
    ahead : int
        Characters: the target is the character this many steps ahead.
    train_nll, valid_nll, test_nll : float
        At the parameters with the best validation NLL (early stopping).
    baseline_nll : float
        The same metric on the test split for the frequency model of the train split
        (:func:`rnndyn.data.frequency_baseline`); ``baseline_train_nll``,
        ``baseline_valid_nll`` on the other splits.
    updates, best_update, skipped : int
    stop_reason : {'early-stop', 'budget'}
    seconds : float
    update, loss, grad_norm, grad_norm_max, clip_fraction, omega, rho, lambda1 : ndarray
        Diagnostics per window (means of the minibatch loss in the unit, ‖∇‖ before
        clipping, fraction clipped, Ω; ρ(W) and λ1(W) at the window's end).
    eval_update, eval_valid_nll, eval_lr : ndarray
        The validation evaluations and the learning rate after each.
    W, U, b, V, c : ndarray
        The parameters with the best validation NLL.
    meta : dict
    """

    task: str
    dataset: str
    unit: str
    ahead: int
    train_nll: float
    valid_nll: float
    test_nll: float
    baseline_nll: float
    baseline_train_nll: float
    baseline_valid_nll: float
    updates: int
    best_update: int
    skipped: int
    stop_reason: str
    seconds: float
    update: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    grad_norm_max: np.ndarray
    clip_fraction: np.ndarray
    omega: np.ndarray
    rho: np.ndarray
    lambda1: np.ndarray
    eval_update: np.ndarray
    eval_valid_nll: np.ndarray
    eval_lr: np.ndarray
    W: np.ndarray
    U: np.ndarray
    b: np.ndarray
    V: np.ndarray
    c: np.ndarray
    meta: dict


@pinned
def train_corpus(task, method="sgd-c", init="smart-tanh", *, corpus=None, ahead=1,
                 n_hidden=100, lr=None, threshold=None, alpha=0.5, momentum=0.9,
                 batch_size=32, seq_length=200, max_updates=2000, eval_every=100,
                 patience=5, eval_steps=50_000, halve_lr=None, seed=0, checkpoint=None,
                 resume=True, progress=None, **more):
    """Train an RNN on a real corpus with MSGD, MSGD+C or MSGD+CR and early stopping.

    Parameters
    ----------
    task : {'bach-chorales', 'chars'}
        Piano rolls of Bach chorales (next frame, independent Bernoulli outputs, NLL in
        nats per step) or Shakespeare's characters (the character ``ahead`` steps on,
        softmax, bits per character); see :mod:`rnndyn.data`.
    method : {'sgd', 'sgd-c', 'sgd-cr'}
        With ``momentum`` > 0 these are the paper's MSGD, MSGD+C and MSGD+CR.
    init : str
        One of :data:`rnndyn.models.INITS`.
    corpus : rnndyn.data.Corpus, optional
        The data (default: :func:`rnndyn.data.load` of the task's data set).
    ahead : int
        Characters only: predict the character this many steps ahead (the paper: 1, 5).
    n_hidden : int
    lr : float, optional
        Learning rate (halved whenever the validation NLL rises, if ``halve_lr``);
        default :data:`DATA_LR` (0.05 music, 0.15 text).
    threshold : float, optional
        Norm-clipping threshold; default the paper's: 8 for music, 45 for text.
    alpha : float
        Weight of Ω (mean over the transitions, see :func:`loss_and_grad`) for 'sgd-cr'.
    momentum : float
    batch_size : int
    seq_length : int
        Training sequences are cut to this many steps (random windows); the paper: 200.
    max_updates : int
        Budget in updates.
    eval_every : int
        Updates between validation evaluations (an "epoch" for the lr rule).
    patience : int
        Stop after this many evaluations without a better validation NLL.
    eval_steps : int or None
        Characters: predicted characters per evaluation of a split (windows of
        ``seq_length`` spread evenly over it; None: all). Music: every chorale, whole.
    halve_lr : bool, optional
        Halve lr when the validation NLL rises; default True for music (the paper), False
        for text.
    seed : int
    checkpoint : path, optional
        A ``.npz`` written atomically at every periodic evaluation (every ``eval_every``
        updates). If it exists (and ``resume``) the run continues from it exactly, as if
        never interrupted; settings must match, except ``max_updates``.
    resume : bool
        False: an existing checkpoint is an error.
    progress : callable, optional
        Called with the number of updates done (every diagnostics window).
    **more
        ``activation``, ``form``, ``gain``, ``cell``, ``forget_bias`` (model, as in
        :func:`train`), ``clip``/``regulariser`` (override
        the method), ``diag_every`` (default gcd(100, eval_every)).

    Returns
    -------
    CorpusTrainResult

    Notes
    -----
    Music: a minibatch holds ``batch_size`` chorales drawn with replacement (a random
    window of ``seq_length`` + 1 frames of a longer one), input frame t, target frame
    t + 1, padded and masked. Evaluation runs every chorale of a split whole. Text: random
    windows of the train split (its plays concatenated), one-hot input c_t, target
    c_{t+ahead}; each evaluation window starts from the zero state. The state starts at
    zero in every sequence. Pascanu, Mikolov & Bengio (2013), §5.2 / Table 1 report these
    metrics on other corpora (Piano-midi.de, Nottingham, MuseData; Penn Treebank).
    """
    from rnndyn import data as _data
    task = as_choice(task, "task", tuple(DATA_TASKS))
    dataset, loss, paper_threshold = DATA_TASKS[task]
    if corpus is None:
        corpus = _data.load(dataset)
    if not isinstance(corpus, _data.Corpus):
        raise InputError(f"corpus must be an rnndyn.data.Corpus, got {type(corpus).__name__}")
    want_kind = "piano-roll" if loss == "bernoulli-all" else "characters"
    if corpus.kind != want_kind:
        raise InputError(f"task {task!r} needs a {want_kind} corpus, got {corpus.kind!r}")
    method = as_choice(method, "method", tuple(optim.METHODS))
    clip_kind, regularised = optim.METHODS[method]
    more = dict(more)
    cfg = {
        "task": task, "dataset": corpus.name, "loss": loss, "method": method,
        "init": None,
        "ahead": as_int(ahead, "ahead", minimum=1) if loss == "ce-all" else 1,
        "n_hidden": as_int(n_hidden, "n_hidden", minimum=1),
        "lr": as_float(DATA_LR[task] if lr is None else lr, "lr", minimum=0.0,
                       strict_minimum=True),
        "threshold": as_float(paper_threshold if threshold is None else threshold,
                              "threshold", minimum=0.0, strict_minimum=True),
        "alpha": as_float(alpha, "alpha", minimum=0.0),
        "momentum": as_float(momentum, "momentum", minimum=0.0, maximum=1.0),
        "batch_size": as_int(batch_size, "batch_size", minimum=1),
        "seq_length": as_int(seq_length, "seq_length", minimum=2),
        "max_updates": as_int(max_updates, "max_updates", minimum=0),
        "eval_every": as_int(eval_every, "eval_every", minimum=1),
        "patience": as_int(patience, "patience", minimum=1),
        "eval_steps": None if eval_steps is None else as_int(eval_steps, "eval_steps",
                                                             minimum=1),
        "halve_lr": (loss == "bernoulli-all") if halve_lr is None else bool(halve_lr),
        "seed": as_int(seed, "seed", minimum=0),
        "clip": as_choice(more.pop("clip", clip_kind), "clip", optim.CLIPS),
        "regulariser": bool(more.pop("regulariser", regularised)),
        "activation": as_choice(more.pop("activation", "tanh"), "activation",
                                tuple(ACT_CODES)),
        "form": as_choice(more.pop("form", "pascanu"), "form", FORMS),
        "gain": as_float(more.pop("gain", 1.0), "gain"),
        "cell": as_choice(more.pop("cell", "vanilla"), "cell", _cells.CELLS),
        "forget_bias": as_float(more.pop("forget_bias", 0.0), "forget_bias"),
    }
    cfg["init"] = as_choice(init, "init", INITS if cfg["cell"] == "vanilla" else GATED_INITS)
    cfg["diag_every"] = as_int(more.pop("diag_every", math.gcd(100, cfg["eval_every"])),
                               "diag_every", minimum=1)
    if more:
        raise InputError(f"train_corpus() got unknown option(s): {', '.join(sorted(more))}")
    if cfg["alpha"] == 0.0:
        cfg["regulariser"] = False
    if cfg["regulariser"]:
        _cells.require(cfg["cell"], "omega", f"method {method!r} (the regulariser Ω)")
    from rnndyn._memory import array_bytes, check_request
    T, B, N, K = cfg["seq_length"], cfg["batch_size"], cfg["n_hidden"], corpus.n_symbols
    if cfg["cell"] == "vanilla":
        work = _k._work_size(T, B, N, K, FORM_CODES[cfg["form"]], cfg["regulariser"])
    else:
        work = _kg._gated_work_size(T, B, N, K, _cells.cell_code(cfg["cell"]))
    # BPTT workspace + a minibatch's inputs and targets (evaluation batches are smaller)
    check_request(array_bytes(work) + 2 * array_bytes(T, max(B, 64), K),
                  f"BPTT of {B} sequences × {T} steps × {N} units")
    if checkpoint is not None:
        checkpoint = os.fspath(checkpoint)
    with np.errstate(all="ignore"):
        return _corpus_loop(cfg, corpus, progress, checkpoint, resume)


_CORPUS_HISTORY = ("update", "loss", "grad_norm", "grad_norm_max", "clip_fraction",
                   "omega", "rho", "lambda1")
_CORPUS_EVALS = ("eval_update", "eval_valid_nll", "eval_lr")
_CORPUS_STATE = ("updates", "skipped", "lr", "best_valid", "best_update", "since_best",
                 "prev_valid", "stop", "seconds")


def _corpus_save(path, cfg, S):
    """Checkpoint of a corpus run: every array and number the loop needs to go on."""
    from rnndyn.io import atomic_savez
    state = {k: S[k] for k in _CORPUS_STATE}
    state.update(cfg=cfg, rng=S["rng"].bit_generator.state,
                 hist={k: list(map(float, v)) for k, v in S["hist"].items()},
                 evals={k: list(map(float, v)) for k, v in S["evals"].items()})
    arrays = {"theta": S["params"].theta, "buf": S["buf"], "best_theta": S["best_theta"],
              "window": S["win"], "state": np.array(json.dumps(_jsonable_state(state)))}
    atomic_savez(path, arrays, overwrite=True)


def _jsonable_state(state):
    """JSON numbers for a checkpoint state (inf as a string, restored on loading)."""
    return {k: (repr(v) if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in state.items()}


def _corpus_load(path, cfg, S):
    from rnndyn.io import read_npz
    arrays = read_npz(path, what="checkpoint",
                      required_keys=["theta", "buf", "best_theta", "window", "state"])
    try:
        state = json.loads(str(arrays["state"][()]))
        old = dict(state["cfg"])
        for k in _CORPUS_STATE + ("rng", "hist", "evals"):
            if k not in state:
                raise KeyError(k)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise InputError(f"checkpoint {path}: not a corpus training checkpoint, or a "
                         f"damaged one ({type(exc).__name__}: {exc})") from None
    for key in set(old) | set(cfg):
        was = old.get(key, _CFG_DEFAULTS.get(key))
        if key != "max_updates" and was != cfg.get(key):
            raise InputError(f"checkpoint {path} was made with {key}={was!r}, "
                             f"this run has {key}={cfg.get(key)!r}")
    n = S["params"].size
    try:
        S["params"].theta[:] = as_array(arrays["theta"], "theta", shape=(n,))
        S["buf"][:] = as_array(arrays["buf"], "buf", shape=(n,))
        S["best_theta"] = as_array(arrays["best_theta"], "best_theta", shape=(n,)).copy()
        S["win"][:] = as_array(arrays["window"], "window", shape=S["win"].shape)
        S["rng"].bit_generator.state = state["rng"]
    except (ValueError, TypeError, KeyError) as exc:
        raise InputError(f"checkpoint {path}: damaged ({exc})") from None
    for k in _CORPUS_STATE:
        v = state[k]
        S[k] = float(v) if isinstance(v, str) and k != "stop" else v
    S["hist"] = {k: list(state["hist"][k]) for k in _CORPUS_HISTORY}
    S["evals"] = {k: list(state["evals"][k]) for k in _CORPUS_EVALS}


def _corpus_loop(cfg, corpus, progress, checkpoint=None, resume=True):
    from rnndyn import data as _data
    t_start = time.perf_counter()
    loss = cfg["loss"]
    code = codes.LOSS_BERNOULLI if loss == "bernoulli-all" else codes.LOSS_CE
    unit_scale = 1.0 if loss == "bernoulli-all" else 1.0 / _LN2
    batches = _Batches(corpus, loss, cfg["seq_length"], cfg["ahead"])
    seq = np.random.SeedSequence(cfg["seed"])
    init_seq, data_seq = seq.spawn(2)
    K = corpus.n_symbols
    params = init_params(cfg["n_hidden"], K, K, cfg["init"], activation=cfg["activation"],
                         form=cfg["form"], gain=cfg["gain"],
                         seed=np.random.default_rng(init_seq), cell=cfg["cell"],
                         forget_bias=cfg["forget_bias"])
    # the whole mutable state of the run, as a checkpoint stores it
    S = {"params": params, "buf": np.zeros(params.size), "best_theta": params.theta.copy(),
         "win": np.zeros(7),   # steps, loss, gnorm, gmax, clipped, skipped, omega
         "rng": np.random.default_rng(data_seq), "updates": 0, "skipped": 0,
         "lr": cfg["lr"], "best_valid": math.inf, "best_update": 0, "since_best": 0,
         "prev_valid": math.inf, "stop": "budget", "seconds": 0.0,
         "hist": {k: [] for k in _CORPUS_HISTORY}, "evals": {k: [] for k in _CORPUS_EVALS}}
    if checkpoint is not None and os.path.exists(checkpoint):
        if not resume:
            raise OutputExistsError(f"checkpoint {checkpoint} exists; resume it or remove it")
        _corpus_load(checkpoint, cfg, S)
    g = np.empty(params.size)
    gbuf = (g, params.views(g))
    thr = cfg["threshold"]
    a = cfg["alpha"] if cfg["regulariser"] else 0.0
    omega_code = codes.OMEGA_MEAN
    win, rng, buf, hist, evals = S["win"], S["rng"], S["buf"], S["hist"], S["evals"]

    def close_window():
        n_ok = win[0] - win[5]
        rho, lam = spectral_stats(params.W)
        hist["update"].append(S["updates"])
        for key, j in (("loss", 1), ("grad_norm", 2), ("omega", 6)):
            hist[key].append(win[j] / n_ok if n_ok > 0 else np.nan)
        hist["grad_norm_max"].append(win[3])
        hist["clip_fraction"].append(win[4] / max(win[0], 1.0))
        hist["rho"].append(rho)
        hist["lambda1"].append(lam)
        win[:] = 0.0

    while S["updates"] < cfg["max_updates"] and S["stop"] == "budget":
        u, lab, tgt, _ = batches.train_batch(cfg["batch_size"], rng)
        res = _grad(params, u, code, lab, tgt, omega_code if a else codes.OMEGA_OFF, a, 0,
                    tasks.ERROR_TOL, out=gbuf)
        norm, clipped = optim.clip(g, cfg["clip"], thr)
        S["updates"] += 1
        updates = S["updates"]
        win[0] += 1
        if np.isfinite(norm) and np.isfinite(res.loss):
            optim.sgd_step(params.theta, g, S["lr"], cfg["momentum"], buf)
            win[1] += res.loss * unit_scale
            win[2] += norm
            win[3] = max(win[3], norm)
            win[4] += clipped
            win[6] += res.omega
        else:
            S["skipped"] += 1
            win[5] += 1
        if updates % cfg["diag_every"] == 0 or updates == cfg["max_updates"]:
            close_window()
            if progress is not None:
                progress(updates)
        periodic = updates % cfg["eval_every"] == 0
        if periodic or updates == cfg["max_updates"]:
            v = _corpus_nll(params, batches, "valid", cfg["eval_steps"], code, unit_scale)
            if cfg["halve_lr"] and v > S["prev_valid"]:
                S["lr"] *= 0.5
            S["prev_valid"] = v
            evals["eval_update"].append(updates)
            evals["eval_valid_nll"].append(v)
            evals["eval_lr"].append(S["lr"])
            if v < S["best_valid"]:
                S["best_valid"], S["best_update"], S["since_best"] = v, updates, 0
                S["best_theta"][:] = params.theta
            else:
                S["since_best"] += 1
                if S["since_best"] >= cfg["patience"]:
                    S["stop"] = "early-stop"
            # only periodic states are saved: a resumed run then repeats exactly what a
            # run without the interruption would have done
            if checkpoint is not None and periodic:
                S["seconds"] += time.perf_counter() - t_start
                t_start = time.perf_counter()
                _corpus_save(checkpoint, cfg, S)
    updates, skipped, stop = S["updates"], S["skipped"], S["stop"]
    best = (S["best_valid"], S["best_update"], S["best_theta"])
    if win[0] > 0:
        close_window()
    if np.isfinite(best[0]):
        params.theta[:] = best[2]
    nll = {s: _corpus_nll(params, batches, s, cfg["eval_steps"], code, unit_scale)
           for s in _data.SPLITS}
    base = _data.frequency_baseline(corpus, cfg["ahead"])
    unit = "nats per step" if loss == "bernoulli-all" else "bits per character"
    h = {k: np.asarray(v, dtype=np.float64) for k, v in hist.items()}
    h["update"] = h["update"].astype(np.int64)
    e = {k: np.asarray(v, dtype=np.float64) for k, v in evals.items()}
    e["eval_update"] = e["eval_update"].astype(np.int64)
    p = params
    return CorpusTrainResult(
        task=cfg["task"], dataset=cfg["dataset"], unit=unit, ahead=cfg["ahead"],
        train_nll=float(nll["train"]), valid_nll=float(nll["valid"]),
        test_nll=float(nll["test"]),
        baseline_nll=base["test"], baseline_train_nll=base["train"],
        baseline_valid_nll=base["valid"], updates=updates, best_update=int(best[1]),
        skipped=skipped, stop_reason=stop,
        seconds=S["seconds"] + time.perf_counter() - t_start,
        **h, **e, W=p.W.copy(), U=p.U.copy(), b=p.b.copy(), V=p.V.copy(), c=p.c.copy(),
        meta=make_meta(cfg, seed=cfg["seed"], model=p.rnn(), method=cfg["method"],
                       clip=cfg["clip"], omega_convention="mean",
                       corpus=dict(corpus.meta, sizes={s: int(sum(len(x) for x in v))
                                                       for s, v in
                                                       corpus.sequences.items()})))
