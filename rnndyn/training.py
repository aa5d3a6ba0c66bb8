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

import dataclasses
import json
import math
import os

import time

import numpy as np

from rnndyn import cells as _cells
from rnndyn import optim, tasks
from rnndyn._threads import pinned
from rnndyn._validate import as_array, as_choice, as_float, as_int, InputError, OutputExistsError
from rnndyn.codes import ACTIVATION_CODES as ACT_CODES, ERR_CODES, OMEGA_CODES
from rnndyn.gated import GATED_INITS
from rnndyn.models import FORMS, INITS
from rnndyn.results import Result, make_meta, result_type

# the parameters, losses, gradients and diagnostics live in their own modules; their public
# names (and the private ones the tests reach) stay importable from here
from rnndyn._train_grad import (LOSSES, OMEGA_MODES, Gradient, _CFG_DEFAULTS,  # noqa: F401
                                _batch_arrays, _evaluate, _forward, _grad, _grad_gated,
                                _loss_arrays, _workspace, ahead_labels, bernoulli_targets,
                                evaluate, flow_rate, loss_and_grad, spectral_stats)
from rnndyn._train_params import Params, init_params, trained_model  # noqa: F401
from rnndyn import _train_stack
from rnndyn._train_stack import StackParams, init_stack_params, trained_stack  # noqa: F401
from rnndyn.stack import SKIPS


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
        Final parameters: the network's W, U, b and the readout's V, c
        (:func:`trained_model` gives them as an RNN and a Readout).
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


def _stack_result_fields():
    """TrainResult's fields with W, U, b replaced by the stack's packed ``theta``."""
    fields = {}
    for f in dataclasses.fields(TrainResult):
        if f.name == "W":
            fields["theta"] = np.ndarray
        elif f.name not in ("U", "b"):
            fields[f.name] = f.type
    return fields


StackTrainResult = result_type(type("StackTrainResult", (Result,), {
    "__module__": __name__, "__annotations__": _stack_result_fields(),
    "__doc__": """One training run of a stacked RNN (``train(..., layers=L)``, L >= 2).

    The fields of :class:`TrainResult`, except:

    theta : ndarray
        The final stack's packed parameters (:meth:`rnndyn.stack.Stack.pack`: each
        layer's W, b, U, bottom first) in place of W, U, b; V, c the readout's
        (:func:`trained_stack` gives the Stack and the Readout; ``meta['params']`` holds
        layers, hidden, skip, cell and the initialiser that rebuild its structure).
    rho, lambda1 : ndarray, shape (n_windows, L)
        ρ(W) and λ1(W) of every layer at the window's end (NaN for a gated layer).
    flow_rate : ndarray
        NaN: the growth rate of ‖∂x_T/∂x_k‖ is a one-layer quantity (a stack's depth map
        is ``rnndyn gradflow --weights`` on the saved stack).
    omega, alpha : ndarray
        NaN and 0: the regulariser Ω is vanilla one-layer mathematics (SGD-CR is refused).
    """}))


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
    depth = _depth(more.pop("layers", None), more.pop("hidden", None),
                   more.pop("skip", "none"), more.pop("bidirectional", False),
                   cfg["n_hidden"])
    if more:
        raise InputError(f"train() got unknown option(s): {', '.join(sorted(more))}")
    if cfg["alpha"] == 0.0 and regularised:
        cfg["regulariser"] = False
    if len(depth["hidden"]) == 1:
        # one layer: the one-layer run, whatever the skip (layer 1 has none)
        cfg["n_hidden"] = depth["hidden"][0]
    else:
        cfg.update(depth, n_hidden=depth["hidden"][-1])
        if cfg["regulariser"]:
            raise InputError(f"method {method!r}: the regulariser Ω is defined for one "
                             "vanilla layer (its W-term of ∂x_{k+1}/∂x_k), not for a "
                             f"stack of {cfg['layers']} layers; use sgd-c or sgd")
    if cfg["regulariser"]:
        _cells.require(cfg["cell"], "omega", f"method {method!r} (the regulariser Ω)")
    return spec, cfg, resume


def _depth(layers, hidden, skip, bidirectional, n_hidden):
    """The validated depth settings {layers, hidden (sizes, bottom first), skip}."""
    if bidirectional:
        raise InputError("bidirectional: a bidirectional model sees the future: it cannot "
                         "solve an online task, and the tasks here read the answer at the "
                         "last step only, where its reverse direction has read one input; "
                         "train a unidirectional stack")
    skip = as_choice(skip, "skip", SKIPS)
    if layers is not None:
        layers = as_int(layers, "layers", minimum=1)
    if hidden is None or isinstance(hidden, (int, np.integer)):
        size = n_hidden if hidden is None else as_int(hidden, "hidden", minimum=1)
        sizes = [size] * (layers or 1)
    else:
        if isinstance(hidden, (str, bytes)) or not hasattr(hidden, "__len__") or \
                not len(hidden):
            raise InputError(f"hidden must be a size or a sequence of layer sizes (e.g. "
                             f"[64, 32]), got {hidden!r}")
        sizes = [as_int(n, "hidden", minimum=1) for n in hidden]
        if layers is not None and layers != len(sizes):
            raise InputError(f"layers={layers} and hidden with {len(sizes)} sizes "
                             "disagree; give one of them")
    return {"layers": len(sizes), "hidden": sizes, "skip": skip}


# settings added after checkpoints were first written: an older checkpoint holds their
# value then (the vanilla cell)


class _Run:
    """Mutable state of a run: what a checkpoint stores."""

    def __init__(self, cfg, spec):
        self.cfg = cfg
        seq = np.random.SeedSequence(cfg["seed"])
        init_seq, data_seq = seq.spawn(2)
        model = dict(activation=cfg["activation"], form=cfg["form"], gain=cfg["gain"],
                     seed=np.random.default_rng(init_seq), cell=cfg["cell"],
                     forget_bias=cfg["forget_bias"])
        if _stacked(cfg):
            self.params = init_stack_params(cfg["hidden"], spec.n_inputs, spec.n_outputs,
                                            cfg["init"], skip=cfg["skip"], **model)
        else:
            self.params = init_params(cfg["n_hidden"], spec.n_inputs, spec.n_outputs,
                                      cfg["init"], **model)
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
                 "last_eval": self.last_eval, "rng": self.data_rng.bit_generator.state}
        p = self.params
        if isinstance(p, StackParams):      # its structure is the cfg's (checked on load)
            state.update(activation=self.cfg["activation"], form=self.cfg["form"],
                         cell=self.cfg["cell"], shape=[p.hidden[-1], p.M, p.K])
        else:
            state.update(activation=p.activation, form=p.form, cell=p.cell,
                         shape=[p.N, p.M, p.K])
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
            if isinstance(self.params, StackParams):
                params = StackParams(arrays["theta"], self.params.template, K)
            else:
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
        Depth (:mod:`rnndyn.stack`): ``layers`` (L, default 1, or len(hidden)),
        ``hidden`` (units per layer, bottom first, e.g. (64, 32); an int: every layer;
        default n_hidden for every layer), ``skip`` ('none' (default), 'residual',
        'dense'), every layer of ``cell`` with ``init``; ``bidirectional`` must be False
        (a bidirectional model reads the future: it cannot solve an online task, and
        here the answer is read at the last step, where the reverse direction has seen
        one input). With one layer the run is exactly the one-layer run (a skip has
        nothing to connect).

    Returns
    -------
    TrainResult, or StackTrainResult for two layers or more

    Notes
    -----
    Each update: a fresh seeded minibatch; BPTT gives g = ∇E (+ α_t ∇_W Ω for the
    regularised method, Ω's direct W-term only); if ‖g‖ is not finite the step is skipped
    and counted; otherwise g is clipped ('norm': g ← threshold·g/‖g‖ when ‖g‖ ≥
    threshold; 'value': element-wise) and θ ← θ − lr·g (with momentum μ: the buffer
    v ← μv + g is used instead of g). Success follows Pascanu, Mikolov & Bengio (2013),
    §5: fewer than 1% wrong answers on fresh sequences.

    A stack (L >= 2) trains the same way on one flat θ (the stack's packed parameters,
    then V, c: one global norm), with BPTT through all layers
    (:func:`rnndyn.stack_bptt.stack_loss_and_grad`, Graves, Mohamed & Hinton 2013);
    SGD-CR is refused (Ω is one-layer vanilla mathematics), and the diagnostics ρ(W),
    λ1(W) are per layer, the flow rate and Ω NaN (see :class:`StackTrainResult`).
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
    grad = _train_stack._grad if _stacked(cfg) else _grad
    t_start = time.perf_counter()
    t_saved = run.seconds
    batch = None
    while run.updates < cfg["max_updates"] and not (run.success and cfg["stop_at_success"]):
        batch = tasks.make_batch(spec, length, cfg["batch_size"], run.data_rng)
        code, lab, tgt = _batch_arrays(spec, batch)
        a = (optim.alpha_at(cfg["alpha"], cfg["alpha_schedule"], run.updates,
                            cfg["alpha_tau"]) if cfg["regulariser"] else 0.0)
        res = grad(run.params, batch.inputs, code, lab, tgt, omega_code, a, err_code,
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
    stacked = _stacked(run.cfg)
    if stacked:
        rho, lam = _train_stack.layer_spectral_stats(run.params)
    else:
        rho, lam = spectral_stats(run.params.W)
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
    h["flow_rate"].append(float("nan") if stacked else flow_rate(run.params, batch.inputs))
    w[:] = 0.0


def _success_test(run, spec):
    cfg = run.cfg
    rng = np.random.default_rng([cfg["seed"], 1, run.updates])
    evaluate_ = _train_stack._evaluate_stack if _stacked(cfg) else _evaluate
    err, loss = evaluate_(run.params, spec, tuple(cfg["length"]), cfg["eval_size"], rng,
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
    common = dict(
        success=bool(run.success), updates=int(run.updates),
        final_error_rate=float(run.last_eval[1]), skipped=int(run.skipped),
        stop_reason="success" if run.success else "budget", seconds=float(run.seconds),
        **h, **e, V=p.V.copy(), c=p.c.copy())
    about = dict(seed=cfg["seed"], method=cfg["method"], clip=cfg["clip"],
                 omega_convention=cfg["omega"], error_rule=cfg["error_rule"],
                 success_rule=f"error rate < 0.01 on {cfg['eval_size']} fresh sequences")
    if _stacked(cfg):
        for k in ("rho", "lambda1"):          # (windows, L), also with no window
            common[k] = common[k].reshape(-1, cfg["layers"])
        return StackTrainResult(**common, theta=p.stack_theta.copy(),
                                meta=make_meta(cfg, model=p.stack(), **about))
    return TrainResult(**common, W=p.W.copy(), U=p.U.copy(), b=p.b.copy(),
                       meta=make_meta(cfg, model=p.rnn(), **about))


def _stacked(cfg):
    """Whether the run trains a stack (two layers or more)."""
    return cfg.get("layers", 1) > 1


# real sequence data: its own module, re-exported (imported last: it uses the names above)
from rnndyn.training_corpus import (DATA_LR, DATA_TASKS, CorpusTrainResult,  # noqa: E402,F401
                                    train_corpus)
