"""The success-rate study of gradient clipping and the regulariser (the paper's Figure 7).

A study is a grid of sequence lengths × training methods × initialisations ×
seeds. Every cell of the grid is one independent training run
(:func:`rnndyn._study_run.train_run`, stopping at success or at the budget); the
study reports, per length × method × initialisation, the fraction of seeds
that reached success and the mean number of updates the successful ones
needed.

Runs are independent: the runner of :mod:`rnndyn._runner` (the one sweeps use)
runs them in this process, in worker processes (1 BLAS/numba thread each: the
machines this is written for have 2 cores and thread pools that fight over them)
or on a Dask cluster. Each finished run is saved at once as its own result file in
a ``runs/`` folder, and the file of a finished run is never computed again (unless
other rnndyn code made it: its source stamp differs): a study killed half-way and
started again only computes what is missing.

A study folder is used by one study at a time: :func:`study_lock` holds an
``flock`` on ``runs/.lock`` for the study's duration (a second study on the
same folder is refused with the first one's pid), and the workers hold a
shared lock on ``runs/.workers.lock`` for their lifetime, so a study is also
refused while workers of a killed one are still alive. Workers exit when the
study's process dies (Linux: ``PR_SET_PDEATHSIG``; elsewhere a watchdog
thread that sees the parent pid change), and SIGTERM to the study's process
stops its workers before it exits.
"""

import contextlib
import os
import time

import numpy as np

# the lock and the run files live in their own modules; these names are the study's API
from rnndyn._folder_lock import (LOCK_FILE, WORKERS_LOCK_FILE,  # noqa: F401
                                 clean_stale_temp, folder_lock as study_lock)
from rnndyn._runner import WORKER_ENV  # noqa: F401
from rnndyn._study_run import StudyRun, execute_run, run_key  # noqa: F401
from rnndyn._validate import as_choice, as_int, InputError
from rnndyn.io import atomic_write, to_jsonable
from rnndyn.results import Result, load_result, make_meta, result_type
from rnndyn.tasks import TASKS, check_length, task_spec

METHODS = ("sgd", "sgd-c", "sgd-cr")
PAPER_INITS = ("sigmoid", "basic-tanh", "smart-tanh")
# Options passed through to rnndyn.training.train (None = the trainer's default).
TRAIN_OPTIONS = ("n_hidden", "lr", "threshold", "alpha", "batch_size", "eval_every",
                 "eval_size", "forget_bias")
RUNS_FOLDER = "runs"


@result_type
class ClippingStudyResult(Result):
    """Success rates of a clipping study, aggregated over seeds.

    Attributes
    ----------
    lengths : ndarray, shape (n_lengths,)
    success_rate : ndarray, shape (n_inits, n_methods, n_lengths)
        Fraction of finished runs that succeeded (NaN where no run finished).
    n_runs, n_success : ndarray, shape (n_inits, n_methods, n_lengths)
        Finished runs and successful runs per cell.
    mean_updates : ndarray, shape (n_inits, n_methods, n_lengths)
        Mean updates to success over the successful runs (NaN where none).
    task : str
    methods, inits : list of str
        The order of the axes of the arrays.
    seeds : list of int
        The run seeds (the same for every cell: paired comparison).
    budget : int
        Maximum number of updates per run.
    rows : list of dict
        One per cell: length, method, init, n_runs, n_success, success_rate,
        mean_updates (None if no success), mean_final_error_rate.
    folder : str or None
        The ``runs/`` folder (None for a study kept in memory).
    n_missing : int
        Planned runs that had not finished when the table was made.
    meta : dict
    """

    lengths: np.ndarray
    success_rate: np.ndarray
    n_runs: np.ndarray
    n_success: np.ndarray
    mean_updates: np.ndarray
    task: str
    methods: list
    inits: list
    seeds: list
    budget: int
    rows: list
    folder: object
    n_missing: int
    meta: dict


# ---------------------------------------------------------------- planning

def _sequence(value, name):
    """``value`` as a non-empty list; a string is refused (the library takes sequences:
    the CLI splits 'a,b,c')."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise InputError(f"{name} must be a list or tuple, got {value!r}")
    if not value:
        raise InputError(f"{name} must not be empty")
    return list(value)


def check_lengths(value):
    """Sequence lengths (a list of ints >= 2, no duplicates), sorted."""
    out = [as_int(s, "lengths", minimum=2) for s in _sequence(value, "lengths")]
    if len(set(out)) != len(out):
        raise InputError(f"lengths contains duplicates: {value!r}")
    return sorted(out)


def _choices(value, name, known):
    items = [as_choice(s, name, known) for s in _sequence(value, name + "s")]
    if len(set(items)) != len(items):
        raise InputError(f"{name}s contains duplicates: {value!r}")
    return items


def plan_clipping_study(task="temporal-order", lengths=(20, 50, 100), methods=METHODS,
                        inits=PAPER_INITS, n_seeds=5, *, seed=0, budget=20000,
                        cells=("vanilla",), gated_init="pytorch", layers=(1,),
                        skips=("none",), **train_options):
    """The list of run specifications of a study (nothing is computed).

    Parameters
    ----------
    task : str
        One of :data:`rnndyn.tasks.TASKS`.
    lengths : str or sequence of int
        Sequence lengths (>= 2), e.g. ``'20,50,100'``.
    methods : str or sequence of str
        Subset of :data:`METHODS`.
    inits : str or sequence of str
        Initialisations of :data:`rnndyn.models.INITS` (the paper's: ``sigmoid``,
        ``basic-tanh``, ``smart-tanh``).
    n_seeds : int
        Seeds per cell (>= 1); run seeds are ``seed, seed + 1, …``, the same in
        every cell, so methods are compared on the same weights and data.
    seed : int
        First run seed (>= 0).
    budget : int
        Maximum parameter updates per run (>= 1).
    cells : str or sequence of str
        The cells (:mod:`rnndyn.cells`): ``vanilla`` trains once per init of ``inits``;
        each gated cell (``lstm``, ``gru``) trains once, from ``gated_init``, and stands
        in the result's init axis under its own name. Ω is the vanilla cell's, so a gated
        cell skips ``sgd-cr`` (those table cells have no runs).
    gated_init : {'pytorch', 'gaussian', 'orthogonal'}
        Initialiser of the gated cells.
    layers : sequence of int
        Depths L (a depth axis, :func:`rnndyn.training.train`'s ``layers``, every layer
        of ``n_hidden`` units): each model above trains once per L. A stack stands on the
        init axis as ``<model>-<L>L`` (``-<skip>`` added for a skip), e.g.
        ``smart-tanh-3L-residual``; L = 1 keeps the model's own label (and has no skip).
        SGD-CR is one-layer vanilla mathematics: a stack skips it.
    skips : sequence of {'none', 'residual', 'dense'}
        The connections between layers each stack (L >= 2) trains with.
    **train_options
        Passed to :func:`rnndyn.training.train`; see :data:`TRAIN_OPTIONS`.
        ``None`` values are dropped (the trainer's default applies).

    Returns
    -------
    list of dict
        One spec per run: task, length, method, init, seed, budget, options (a gated
        cell's spec also has ``cell`` and ``model_init``; a stack's ``layers``,
        ``skip`` and ``model_init``).
    """
    from rnndyn.models import INITS
    task = as_choice(task, "task", TASKS)
    lengths = check_lengths(lengths)
    for length in lengths:  # the task's own minimum length, checked before any run starts
        check_length(length, task_spec(task), "lengths")
    methods = _choices(methods, "method", METHODS)
    inits = _choices(inits, "init", INITS)
    n_seeds = as_int(n_seeds, "n_seeds", minimum=1)
    seed = as_int(seed, "seed", minimum=0)
    budget = as_int(budget, "budget", minimum=1)
    unknown = set(train_options) - set(TRAIN_OPTIONS)
    if unknown:
        raise InputError(f"unknown training option(s) {sorted(unknown)}; "
                        f"known: {', '.join(TRAIN_OPTIONS)}")
    options = {k: v for k, v in train_options.items() if v is not None}
    from rnndyn.cells import CELLS
    from rnndyn.gated import GATED_INITS
    cells = _choices(cells, "cell", CELLS)
    gated_init = as_choice(gated_init, "gated_init", GATED_INITS)
    # (label on the init axis, cell, the initialiser it trains from)
    models = [(init, "vanilla", init) for init in inits] if "vanilla" in cells else []
    models += [(c, c, gated_init) for c in cells if c != "vanilla"]
    models = _deepen(models, layers, skips)
    if options.get("forget_bias") and "vanilla" in cells:
        raise InputError("forget_bias applies to the gated cells; leave it out when the "
                         "study trains the vanilla cell too")
    specs = []
    for label, cell, model_init, depth in models:
        for method in methods:
            if (cell != "vanilla" or depth) and method == "sgd-cr":
                continue  # Ω (the regulariser of SGD-CR) is one vanilla layer's
            for length in lengths:
                for s in range(seed, seed + n_seeds):
                    spec = {"task": task, "length": length, "method": method, "init": label,
                            "seed": s, "budget": budget, "options": dict(options)}
                    if cell != "vanilla":
                        spec.update(cell=cell, model_init=model_init)
                    if depth:
                        spec.update(depth, model_init=model_init)
                    specs.append(to_jsonable(spec))
    if not specs:
        raise InputError("the study has no runs: the gated cells and the stacks do not "
                         "train with sgd-cr (its regulariser Ω is one vanilla layer's)")
    return specs


def _deepen(models, layers, skips):
    """(label, cell, initialiser, depth) per model and depth: depth {} for one layer,
    else {layers, skip}, the label ``<model>-<L>L[-<skip>]``."""
    from rnndyn.stack import SKIPS
    depths = [as_int(v, "layers", minimum=1) for v in _sequence(layers, "layers")]
    if len(set(depths)) != len(depths):
        raise InputError(f"layers contains duplicates: {layers!r}")
    skips = _choices(skips, "skip", SKIPS)
    out = []
    for label, cell, model_init in models:
        for L in depths:
            if L == 1:
                out.append((label, cell, model_init, {}))
                continue
            for skip in skips:
                name = f"{label}-{L}L" + ("" if skip == "none" else f"-{skip}")
                out.append((name, cell, model_init, {"layers": L, "skip": skip}))
    return out


# ---------------------------------------------------------------- plans

def plan_of(specs):
    """The plan of a list of run specs as one dict (what a re-run must match).

    Keys: task, lengths, methods, inits (in plan order), seeds, budget and
    options (the training settings, ``None`` values dropped).
    """
    grid = _grid_of(specs)
    options = [s["options"] for s in specs]
    return to_jsonable({"task": grid["task"], "lengths": grid["lengths"],
                        "methods": grid["methods"], "inits": grid["inits"],
                        "seeds": grid["seeds"], "budget": grid["budget"],
                        "options": options[0] if options and all(o == options[0]
                                                                  for o in options)
                        else None})


def plan_of_result(result):
    """The plan a saved :class:`ClippingStudyResult` was made from.

    Read from ``meta['plan']``; a table saved before that key existed gives the
    plan of its fields, with ``options`` from its parameters (None if unknown).
    """
    plan = result.meta.get("plan")
    if isinstance(plan, dict):
        return plan
    params = result.meta.get("params") or {}
    return to_jsonable({"task": result.task, "lengths": [int(v) for v in result.lengths],
                        "methods": list(result.methods), "inits": list(result.inits),
                        "seeds": list(result.seeds), "budget": int(result.budget),
                        "options": params.get("options")})


def plan_differences(saved, planned):
    """What differs between two plans: a list of ``'name: X saved, Y now'`` strings.

    ``options`` are compared setting by setting (``options.lr: …``); options
    that are unknown on one side (None) are not compared.
    """
    def show(v):
        if isinstance(v, list):
            return ",".join(str(x) for x in v)
        return "default" if v is None else str(v)

    out = []
    for key in ("task", "lengths", "methods", "inits", "seeds", "budget"):
        if saved.get(key) != planned.get(key):
            out.append(f"{key}: {show(saved.get(key))} saved, {show(planned.get(key))} now")
    a, b = saved.get("options"), planned.get("options")
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                out.append(f"options.{key}: {show(a.get(key))} saved, "
                           f"{show(b.get(key))} now")
    return out

# ---------------------------------------------------------------- running

def _store(specs, runs_dir, overwrite):
    """The :class:`rnndyn._runner.Store` of a study's run files in ``runs_dir``."""
    from rnndyn import _study_run
    from rnndyn._runner import Store
    by_key = {run_key(s): s for s in specs}

    def read(key):
        # (training result, run) as train_run gives them; a reused run's training result
        # stays on disk (<key>.train.*): only the run is aggregated
        run = _study_run.read_run(by_key[key], runs_dir, overwrite)
        return None if run is None else ((None, run), run.meta.get("source_sha256"))

    def write(key, result):
        _study_run.save_run(runs_dir, *result)

    return Store(runs_dir, read, write, _study_run.SOURCES)


def count_finished(specs, runs_dir, *, overwrite=False, any_code=False, in_process=False):
    """How many of ``specs`` already have a finished run in ``runs_dir``.

    Runs made by other rnndyn code than would train them now (this process's with
    ``in_process``, else new workers') count only with ``any_code``: a resumed
    study computes them again.
    """
    from rnndyn._runner import saved
    store = _store(specs, runs_dir, overwrite)
    found, stale = saved(store, [run_key(s) for s in specs], in_process=in_process)
    return len(found) + (stale if any_code else 0)


def run_study(specs, runs_dir=None, *, workers=2, scheduler=None, dask_workers=None,
              client=None, overwrite=False, progress=None, notice=None):
    """Run the specs that have no finished run in ``runs_dir``; return all runs.

    Parameters
    ----------
    specs : list of dict
        From :func:`plan_clipping_study`.
    runs_dir : str or None
        Folder of the per-run files. Runs already there (with the same spec)
        are reused, not recomputed, unless other rnndyn code made them (their
        source stamp differs: computed again, with one line on stderr). None keeps
        everything in memory.
    workers : int
        Worker processes (spawned, 1 thread each); 0 runs in this process.
    scheduler : str, optional
        Address of a running ``dask.distributed`` scheduler: train there.
    dask_workers : int, optional
        Start a LocalCluster of this many workers on 127.0.0.1 and train there.
    client : distributed.Client, optional
        Train on this client (the caller's cluster).
    overwrite : bool
        Recompute runs saved with different settings instead of failing.
    progress : callable, optional
        ``progress(n)`` is called with 1 after each newly finished run.
    notice : callable, optional
        Takes the line about recomputed stale runs instead of stderr.

    Returns
    -------
    runs : list of StudyRun
        In the order of ``specs``.
    n_computed : int
        How many of them were computed by this call.

    Notes
    -----
    Each run is saved as soon as it finishes, so an interrupted study loses only
    the runs in progress. Longer sequences are started first to keep the workers
    busy until the end. With ``runs_dir`` the folder's :func:`study_lock` is held
    throughout (another study on it is refused). The workers exit when this
    process dies; while they run, SIGTERM to this process (main thread) raises
    ``SystemExit(143)`` after terminating them, and Ctrl-C terminates them before
    the KeyboardInterrupt propagates. On a cluster given by ``scheduler`` or
    ``client`` the trainer keeps no checkpoint in ``runs_dir`` (its workers may not
    see the folder): a run stopped half-way starts over.
    """
    from rnndyn import _runner, _study_run
    store = None if runs_dir is None else _store(specs, runs_dir, overwrite)
    # the trainer's own checkpoints are written by the workers: only where they share
    # this machine's folders
    shared = scheduler is None and client is None
    order = sorted(specs, key=lambda s: -s["length"])
    tasks = [(run_key(s), (s, runs_dir if shared else None)) for s in order]
    results, n_computed = _runner.run(
        _study_run.train_run, tasks, store=store, workers=workers, scheduler=scheduler,
        dask_workers=dask_workers, client=client, progress=progress, notice=notice,
        describe=lambda key: f"run {key}",
        resume_hint="finished runs are saved; start the study again to resume")
    return [results[run_key(s)][1] for s in specs], n_computed


# ---------------------------------------------------------------- aggregating

def aggregate(runs, *, task, lengths, methods, inits, seeds, budget, folder=None,
              n_missing=0, params=None):
    """Success rate and mean updates to success per length × method × init.

    Parameters
    ----------
    runs : iterable of StudyRun
        Runs outside the grid are ignored.
    task, lengths, methods, inits, seeds, budget
        The grid (as planned).
    folder : str, optional
    n_missing : int
        Planned runs not in ``runs``.
    params : dict, optional
        Study parameters for the metadata.

    Returns
    -------
    ClippingStudyResult
    """
    lengths = [int(v) for v in lengths]
    shape = (len(inits), len(methods), len(lengths))
    n_runs = np.zeros(shape)
    n_success = np.zeros(shape)
    upd_sum = np.zeros(shape)
    err_sum = np.zeros(shape)
    index_l = {v: k for k, v in enumerate(lengths)}
    index_m = {v: k for k, v in enumerate(methods)}
    index_i = {v: k for k, v in enumerate(inits)}
    for run in runs:
        s = run.spec
        try:
            cell = (index_i[s["init"]], index_m[s["method"]], index_l[s["length"]])
        except KeyError:
            continue
        n_runs[cell] += 1
        err_sum[cell] += run.final_error_rate
        if run.success:
            n_success[cell] += 1
            upd_sum[cell] += run.updates
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(n_runs > 0, n_success / np.maximum(n_runs, 1), np.nan)
        mean_upd = np.where(n_success > 0, upd_sum / np.maximum(n_success, 1), np.nan)
        mean_err = np.where(n_runs > 0, err_sum / np.maximum(n_runs, 1), np.nan)
    rows = []
    for a, init in enumerate(inits):
        for b, method in enumerate(methods):
            for c, length in enumerate(lengths):
                rows.append({
                    "length": length, "method": method, "init": init,
                    "n_runs": int(n_runs[a, b, c]), "n_success": int(n_success[a, b, c]),
                    "success_rate": None if n_runs[a, b, c] == 0 else float(rate[a, b, c]),
                    "mean_updates": None if n_success[a, b, c] == 0
                    else float(mean_upd[a, b, c]),
                    "mean_final_error_rate": None if n_runs[a, b, c] == 0
                    else float(mean_err[a, b, c]),
                })
    meta = make_meta(params or {"task": task, "lengths": lengths, "methods": list(methods),
                                "inits": list(inits), "seeds": list(seeds),
                                "budget": budget},
                     seed=min(seeds) if seeds else None)
    return ClippingStudyResult(
        lengths=np.array(lengths, dtype=np.int64), success_rate=rate,
        n_runs=n_runs.astype(np.int64), n_success=n_success.astype(np.int64),
        mean_updates=mean_upd, task=task, methods=list(methods), inits=list(inits),
        seeds=[int(s) for s in seeds], budget=int(budget), rows=rows,
        folder=None if folder is None else os.fspath(folder), n_missing=int(n_missing),
        meta=meta)


def _grid_of(specs):
    """task, lengths, methods, inits, seeds, budget of a list of specs (in plan order)."""
    def unique(key):
        out = []
        for s in specs:
            if s[key] not in out:
                out.append(s[key])
        return out
    budgets = unique("budget")
    tasks = unique("task")
    return {"task": tasks[0] if len(tasks) == 1 else ",".join(tasks),
            "lengths": sorted(unique("length")), "methods": unique("method"),
            "inits": unique("init"), "seeds": sorted(unique("seed")),
            "budget": max(budgets) if budgets else 0}


def clipping_study(task="temporal-order", lengths=(20, 50, 100), methods=METHODS,
                   inits=PAPER_INITS, n_seeds=5, *, seed=0, budget=20000, out=None,
                   workers=2, scheduler=None, dask_workers=None, client=None,
                   overwrite=False, progress=None, notice=None, cells=("vanilla",),
                   gated_init="pytorch", layers=(1,), skips=("none",), **train_options):
    """Run (or resume) a success-rate study and aggregate it (the paper's Figure 7).

    Parameters
    ----------
    task, lengths, methods, inits, n_seeds, seed, budget, cells, gated_init, layers, skips
        The grid, see :func:`plan_clipping_study`.
    **train_options
        The training settings, see :func:`plan_clipping_study`.
    out : str, optional
        Study folder; the runs are saved in ``<out>/runs/`` and reused when
        the study is started again; the folder's :func:`study_lock` is held
        while the study runs. None keeps the runs in memory (nothing written).
    workers : int
        Worker processes (0: in this process).
    scheduler, dask_workers, client : optional
        Train on a Dask cluster instead, see :func:`run_study`.
    overwrite : bool
        Recompute saved runs whose settings differ instead of failing.
    progress : callable, optional
        Called with 1 after each newly finished run.
    notice : callable, optional
        Takes the line about runs recomputed because other code made them.

    Returns
    -------
    ClippingStudyResult
        ``meta`` also records ``plan`` (:func:`plan_of` the specs, what a re-run
        is compared with), ``n_computed`` (runs computed by this call) and
        ``seconds`` (its wall time).

    Notes
    -----
    A run succeeds when the trainer's success test passes (fewer than 1 %
    errors on fresh sequences) within ``budget`` updates. Pascanu, Mikolov &
    Bengio (2013), "On the difficulty of training recurrent neural networks",
    ICML, §5.1 and Figure 7: with up to 5M updates, SGD and SGD-C fail on the
    temporal-order task beyond lengths of about 20 from small initialisations,
    while SGD-CR solves it up to length 200. A smaller budget lowers every
    success rate, so a failure under a small budget is not a failure in the
    paper's sense.
    """
    t0 = time.perf_counter()
    specs = plan_clipping_study(task, lengths, methods, inits, n_seeds, seed=seed,
                                budget=budget, cells=cells, gated_init=gated_init,
                                layers=layers, skips=skips, **train_options)
    runs_dir = None if out is None else os.path.join(os.fspath(out), RUNS_FOLDER)
    lock = contextlib.nullcontext() if out is None else study_lock(runs_dir,
                                                                   f"out {os.fspath(out)}")
    with lock:  # re-entrant: run_study takes it again
        runs, n_computed = run_study(specs, runs_dir, workers=workers, scheduler=scheduler,
                                     dask_workers=dask_workers, client=client,
                                     overwrite=overwrite, progress=progress, notice=notice)
    grid = _grid_of(specs)
    params = dict(grid, n_seeds=n_seeds, first_seed=seed, workers=workers,
                  options={k: v for k, v in train_options.items() if v is not None})
    result = aggregate(runs, folder=runs_dir, params=params, **grid)
    result.meta.update(plan=plan_of(specs), n_computed=int(n_computed),
                       n_reused=len(specs) - int(n_computed),
                       seconds=round(time.perf_counter() - t0, 3))
    return result


def load_runs(runs_dir):
    """Every finished run in ``runs_dir`` (files ``*.json`` of type StudyRun)."""
    runs = []
    for name in sorted(os.listdir(runs_dir)):
        if name.endswith(".json") and not name.endswith(".train.json") \
                and not name.startswith(".tmp-") and "." not in name[:-5]:
            run = load_result(os.path.join(runs_dir, name))
            if isinstance(run, StudyRun):
                runs.append(run)
    return runs


def collect_study(out):
    """Aggregate the finished runs of the study in ``out`` (nothing is computed).

    Useful while a study is still running or after it was killed; the grid is
    whatever the finished runs cover, so ``n_missing`` is 0 by construction.
    """
    runs_dir = os.path.join(os.fspath(out), RUNS_FOLDER)
    if not os.path.isdir(runs_dir):
        raise InputError(f"out: no study in {out!r} (no {RUNS_FOLDER}/ folder)")
    runs = load_runs(runs_dir)
    if not runs:
        raise InputError(f"out: no finished run in {runs_dir!r}")
    grid = _grid_of([r.spec for r in runs])
    # file names sort 'sgd-cr' before 'sgd': put the axes in their usual order
    from rnndyn.models import INITS
    grid["methods"].sort(key=lambda m: METHODS.index(m) if m in METHODS else len(METHODS))
    grid["inits"].sort(key=lambda i: INITS.index(i) if i in INITS else len(INITS))
    result = aggregate(runs, folder=runs_dir, params=dict(grid, collected=True), **grid)
    plan = plan_of([r.spec for r in runs])
    plan.update(methods=list(grid["methods"]), inits=list(grid["inits"]))
    result.meta["plan"] = plan
    return result


# ---------------------------------------------------------------- tables

def _cell(row):
    if row["n_runs"] == 0:
        return "–"
    text = f"{row['n_success']}/{row['n_runs']}"
    if row["mean_updates"] is not None:
        text += f" ({row['mean_updates']:,.0f})"
    return text


def table_markdown(result):
    """A markdown table: one line per init × method, one column per length.

    Each cell is ``successes/runs (mean updates to success)``.
    """
    lengths = [int(v) for v in result.lengths]
    head = "| init | method | " + " | ".join(f"L={v}" for v in lengths) + " |"
    sep = "|---|---|" + "---:|" * len(lengths)
    lines = [f"Task {result.task}, budget {result.budget:,} updates per run, "
             f"{len(result.seeds)} seed(s); cells: successes/runs "
             "(mean updates to success).", "", head, sep]
    by = {(r["init"], r["method"], r["length"]): r for r in result.rows}
    for init in result.inits:
        for method in result.methods:
            cells = [_cell(by[(init, method, v)]) for v in lengths]
            lines.append(f"| {init} | {method} | " + " | ".join(cells) + " |")
    if result.n_missing:
        lines += ["", f"{result.n_missing} planned run(s) had not finished."]
    return "\n".join(lines) + "\n"


CSV_COLUMNS = ("length", "method", "init", "n_runs", "n_success", "success_rate",
               "mean_updates", "mean_final_error_rate")


def table_csv(result):
    """The rows as CSV text (empty fields where a value is undefined)."""
    lines = [",".join(CSV_COLUMNS)]
    for r in result.rows:
        lines.append(",".join("" if r[c] is None else str(r[c]) for c in CSV_COLUMNS))
    return "\n".join(lines) + "\n"


def save_tables(result, stem, *, overwrite=False):
    """Write ``<stem>.csv`` and ``<stem>.md`` atomically; return the paths."""
    paths = []
    for ext, text in ((".csv", table_csv(result)), (".md", table_markdown(result))):
        path = os.fspath(stem) + ext
        atomic_write(path, lambda f, t=text: f.write(t), overwrite=overwrite, mode="w")
        paths.append(path)
    return paths
