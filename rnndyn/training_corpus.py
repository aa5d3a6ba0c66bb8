"""Training on real sequence data (rnndyn.data corpora: piano rolls, characters) with
MSGD, MSGD+C or MSGD+CR, early stopping and resumable checkpoints; see
:func:`train_corpus`. Shares the losses, gradients and parameters of
:mod:`rnndyn.training`."""

import json
import math
import os

import time

import numpy as np

from rnndyn import cells as _cells
from rnndyn import optim, tasks
from rnndyn._kernels import bptt as _k
from rnndyn._kernels import bptt_gated as _kg
from rnndyn._threads import pinned
from rnndyn._validate import as_array, as_choice, as_float, as_int, InputError, OutputExistsError
from rnndyn import codes
from rnndyn.codes import ACTIVATION_CODES as ACT_CODES
from rnndyn.gated import GATED_INITS
from rnndyn.models import FORM_CODES, FORMS, INITS
from rnndyn.results import Result, make_meta, result_type
from rnndyn._train_grad import _CFG_DEFAULTS, _forward, _grad, bernoulli_targets, spectral_stats
from rnndyn._train_params import init_params


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
        The parameters with the best validation NLL: the network's W, U, b and the
        readout's V, c (:func:`rnndyn.training.trained_model` gives them as an RNN and a
        Readout).
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
