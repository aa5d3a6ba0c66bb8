"""Losses, BPTT gradients, evaluation and per-update diagnostics of rnndyn.training: the
thin layer over the numba kernels (``rnndyn._kernels.bptt``, ``bptt_gated``)."""

import threading

import numpy as np

from rnndyn import cells as _cells
from rnndyn import tasks
from rnndyn._kernels import bptt as _k
from rnndyn._kernels import bptt_gated as _kg
from rnndyn._jit import JIT_DISABLED
from rnndyn._threads import pinned
from rnndyn._validate import as_array, as_choice, as_float, as_int, as_rng, InputError
from rnndyn import codes
from rnndyn.codes import ACTIVATION_CODES as ACT_CODES, ERR_CODES, OMEGA_CODES
from rnndyn.models import FORM_CODES
from rnndyn._train_params import Params  # noqa: F401

LOSSES = ("ce-last", "ce-all", "mse-last", "bernoulli-all")
# settings a checkpoint made before they existed was made with (it resumes with them)
_CFG_DEFAULTS = {"cell": "vanilla", "forget_bias": 0.0}
OMEGA_MODES = ("off", "sum", "mean")


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
    u, code, lab, tgt, err_code, tol = check_batch(inputs, params.M, params.K, loss, labels,
                                                   targets, mask, error_rule, error_tol)
    if omega is None:
        omega = "mean" if params.cell == "vanilla" else "off"
    omega = as_choice(omega, "omega", OMEGA_MODES)
    if omega != "off":
        _cells.require(params.cell, "omega", "the regulariser Ω")
    alpha = as_float(alpha, "alpha", minimum=0.0)
    return _grad(params, u, code, lab, tgt, OMEGA_CODES[omega], alpha, err_code, tol)


def check_batch(inputs, M, K, loss, labels, targets, mask, error_rule, error_tol):
    """A validated minibatch for a model with M inputs and K outputs: (u (T, B, M), the
    loss's kernel arrays code, labels, targets, the error rule's code, its tolerance); the
    one check of :func:`loss_and_grad` and :func:`rnndyn.stack_bptt.stack_loss_and_grad`."""
    u = as_array(inputs, "inputs", ndim=3)
    T, B, m = u.shape
    if T < 1 or B < 1:
        raise InputError(f"inputs must have T >= 1 steps and B >= 1 sequences, got {u.shape}")
    if m != M:
        raise InputError(f"inputs must have {M} channels (M), got {m}")
    loss = as_choice(loss, "loss", LOSSES)
    rule = tasks.error_rule(error_rule)
    tol = as_float(error_tol, "error_tol", minimum=0.0)
    if mask is not None and loss != "bernoulli-all":
        raise InputError("mask is only used by loss 'bernoulli-all' (CE: label -1)")
    code, lab, tgt = _loss_arrays(loss, T, B, K, labels, targets, mask)
    return u, code, lab, tgt, ERR_CODES[rule], tol


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
    params : Params or rnndyn.training.StackParams
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
    from rnndyn._train_stack import StackParams, _evaluate_stack
    if not isinstance(params, (Params, StackParams)):
        raise InputError(f"params must be a Params or a StackParams, got "
                         f"{type(params).__name__}")
    spec = task if isinstance(task, tasks.TaskSpec) else tasks.task_spec(task, **task_options)
    rng = as_rng(seed)
    n = as_int(n, "n", minimum=1)
    chunk = as_int(chunk, "chunk", minimum=1)
    rng_len = tasks.check_length(length, spec)
    err = ERR_CODES[tasks.error_rule(error_rule)]
    run = _evaluate_stack if isinstance(params, StackParams) else _evaluate
    return run(params, spec, rng_len, n, rng, err, chunk)


# inputs of one evaluation chunk are capped at this many numbers (32 MB): long sequences
# with many input channels (permutation: M = 100) would otherwise need gigabytes
_EVAL_CHUNK_ELEMENTS = 4_000_000


def _evaluate(params, spec, length, n, rng, err_code, chunk, forward=_forward):
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
        forward(params, code, lab, tgt, batch.inputs, err_code, tasks.ERROR_TOL, wrong,
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
        # the live model over theta: no copy of the weights per diagnostics window
        res = gradient_flow(params.model, np.zeros(params.S), u.shape[0], u,
                            jacobian_stats=False)
    except ValueError:
        # e.g. states overflowing in an exploded run: a diagnostic never stops training
        return float("nan")
    return float(res.rate_per_step)
