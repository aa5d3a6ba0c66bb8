"""The success-rate study of gradient clipping and the regulariser (the paper's Figure 7).

A study is a grid of sequence lengths × training methods × initialisations ×
seeds. Every cell of the grid is one independent training run
(:func:`rnndyn.training.train`, stopping at success or at the budget); the
study reports, per length × method × initialisation, the fraction of seeds
that reached success and the mean number of updates the successful ones
needed.

Runs are independent, so they go to separate worker processes (1 BLAS/numba
thread each: the machines this is written for have 2 cores and thread pools
that fight over them). Each finished run is saved at once as its own result
file in a ``runs/`` folder, and the file of a finished run is never computed
again: a study killed half-way and started again only computes what is
missing.

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
import signal
import sys
import threading
import time

import numpy as np

from rnndyn._threads import pinned
from rnndyn._validate import as_choice, as_int, InputError
from rnndyn.io import atomic_write, to_jsonable
from rnndyn.results import Result, load_result, make_meta, result_type
from rnndyn.tasks import TASKS, check_length, task_spec

METHODS = ("sgd", "sgd-c", "sgd-cr")
PAPER_INITS = ("sigmoid", "basic-tanh", "smart-tanh")
# Options passed through to rnndyn.training.train (None = the trainer's default).
TRAIN_OPTIONS = ("n_hidden", "lr", "threshold", "alpha", "batch_size", "eval_every",
                 "eval_size")
# Set in the environment of the workers before they import numpy/numba: one
# thread each, so `workers` processes use `workers` cores and no more.
WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "NUMBA_NUM_THREADS": "1", "VECLIB_MAXIMUM_THREADS": "1",
              "NUMEXPR_NUM_THREADS": "1"}
RUNS_FOLDER = "runs"


@result_type
class StudyRun(Result):
    """One finished training run of a study.

    Attributes
    ----------
    key : str
        File name of the run inside ``runs/`` (no extension).
    spec : dict
        What was asked: task, length, method, init, seed, budget, options.
    success : bool
        The trainer's success test passed within the budget.
    updates : int
        Parameter updates done (at success, or the budget).
    final_error_rate : float
        Error rate of the last evaluation.
    seconds : float
        Wall time of the training, summed over resumptions from its checkpoint.
    meta : dict
    """

    key: str
    spec: dict
    success: bool
    updates: int
    final_error_rate: float
    seconds: float
    meta: dict


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


def run_key(spec):
    """The file name of a run: ``<task>_L<length>_<method>_<init>_s<seed>``."""
    return (f"{spec['task']}_L{spec['length']}_{spec['method']}_{spec['init']}"
            f"_s{spec['seed']}")


def plan_clipping_study(task="temporal-order", lengths=(20, 50, 100), methods=METHODS,
                        inits=PAPER_INITS, n_seeds=5, *, seed=0, budget=20000,
                        **train_options):
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
    **train_options
        Passed to :func:`rnndyn.training.train`; see :data:`TRAIN_OPTIONS`.
        ``None`` values are dropped (the trainer's default applies).

    Returns
    -------
    list of dict
        One spec per run: task, length, method, init, seed, budget, options.
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
    specs = []
    for init in inits:
        for method in methods:
            for length in lengths:
                for s in range(seed, seed + n_seeds):
                    specs.append(to_jsonable({"task": task, "length": length, "method": method,
                                              "init": init, "seed": s, "budget": budget,
                                              "options": dict(options)}))
    return specs


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


# ---------------------------------------------------------------- locking

try:
    import fcntl as _fcntl
except ImportError:  # pragma: no cover - Windows: no study lock
    _fcntl = None

LOCK_FILE = ".lock"
WORKERS_LOCK_FILE = ".workers.lock"
# locks this process holds: real path of the folder -> [open lock file, depth]
_HELD = {}
_HELD_GUARD = threading.Lock()


def _flock(f, shared=False, block=False):
    """flock ``f``; False if another open file holds a conflicting lock."""
    flags = _fcntl.LOCK_SH if shared else _fcntl.LOCK_EX
    if not block:
        flags |= _fcntl.LOCK_NB
    try:
        _fcntl.flock(f.fileno(), flags)
    except BlockingIOError:
        return False
    return True


def _lock_owner(f):
    f.seek(0)
    text = f.read().strip()
    return text if text.isdigit() else "unknown"


def clean_stale_temp(folder, endings=None):
    """Remove the ``.tmp-*`` files in ``folder`` (left by a process killed while writing).

    Call it only while holding the folder's :func:`study_lock`: it cannot tell a
    stale temporary file from another writer's. ``endings`` limits it to temporary
    files of the named outputs (e.g. ``('clipping-study.json', …)``). Returns the
    names removed.
    """
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for name in os.listdir(folder):
            if name.startswith(".tmp-") and (endings is None or name.endswith(tuple(endings))):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(folder, name))
                    removed.append(name)
    return removed


@contextlib.contextmanager
def study_lock(runs_dir, label=None, *, wait_for_workers=5.0):
    """Hold the study lock of the folder ``runs_dir`` (created if missing).

    An exclusive ``flock`` on ``runs_dir/.lock`` (which records this process's
    pid), held until the block ends; re-entrant within a process. Refused with
    :class:`~rnndyn._validate.InputError` when another process holds it, or when
    worker processes of an earlier study still hold ``.workers.lock`` after
    ``wait_for_workers`` seconds (workers of a killed study are exiting). Once
    held, stale ``.tmp-*`` files in ``runs_dir`` are removed. The lock files are
    never deleted (deleting a lock file races with the next locker). Without
    ``fcntl`` (Windows) nothing is locked.

    ``label`` names the folder in the message (the CLI passes ``'--out DIR'``).
    """
    runs_dir = os.fspath(runs_dir)
    label = label or f"runs folder {runs_dir}"
    os.makedirs(runs_dir, exist_ok=True)
    if _fcntl is None:  # pragma: no cover - not POSIX
        yield
        return
    key = os.path.realpath(runs_dir)
    with _HELD_GUARD:
        held = _HELD.get(key)
        if held is not None:
            held[1] += 1
    if held is None:
        f = open(os.path.join(runs_dir, LOCK_FILE), "a+")
        try:
            if not _flock(f):
                raise InputError(f"{label} is in use by another rnndyn study "
                                 f"(pid {_lock_owner(f)})")
            previous = _lock_owner(f)
            with open(os.path.join(runs_dir, WORKERS_LOCK_FILE), "a") as w:
                deadline = time.monotonic() + wait_for_workers
                while not _flock(w):
                    if time.monotonic() > deadline:
                        raise InputError(
                            f"{label} is in use by worker processes of an earlier rnndyn "
                            f"study (pid {previous}) that have not exited; try again "
                            "when they have")
                    time.sleep(0.1)
                # released at once: this study's workers take it shared
            f.seek(0)
            f.truncate()
            f.write(f"{os.getpid()}\n")
            f.flush()
            clean_stale_temp(runs_dir)
        except BaseException:
            f.close()
            raise
        with _HELD_GUARD:
            _HELD[key] = [f, 1]
    try:
        yield
    finally:
        with _HELD_GUARD:
            _HELD[key][1] -= 1
            done = _HELD[key][1] == 0
            if done:
                f = _HELD.pop(key)[0]
        if done:
            f.close()  # closing the last descriptor releases the flock


# ---------------------------------------------------------------- workers

_WORKER_FILES = []  # open files a worker keeps for its lifetime (its shared lock)


def _die_with_parent(parent_pid, poll=0.5, use_prctl=True):
    """Make this process exit when ``parent_pid`` (its parent) dies.

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, immediate. Everywhere: a daemon
    thread that exits the process once ``os.getppid()`` has changed (the parent
    died and the process was re-parented). Returns True if the prctl was set.
    ``use_prctl=False`` leaves only the watchdog (what other systems get).
    """
    armed = False
    if use_prctl and sys.platform.startswith("linux"):
        try:
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            PR_SET_PDEATHSIG = 1
            armed = libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if os.getppid() != parent_pid:  # the parent died before the prctl
        os._exit(1)

    def watch():
        while True:
            time.sleep(poll)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="rnndyn-parent-watch", daemon=True).start()
    return armed


def _worker_init(parent_pid, workers_lock=None):
    """Initializer of each study worker: die with the parent, hold the workers' lock."""
    _die_with_parent(parent_pid)
    if workers_lock is not None and _fcntl is not None:
        f = open(workers_lock, "a")
        _flock(f, shared=True, block=True)
        _WORKER_FILES.append(f)


@contextlib.contextmanager
def _sigterm_exits():
    """In the main thread, SIGTERM raises SystemExit(143) so that cleanup runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_term(signum, frame):
        # once: a second SIGTERM during the cleanup kills at once (the workers then die
        # with this process all the same)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _stop_pool(pool, timeout=5.0):
    """Cancel what is queued, terminate the running workers and wait for them.

    ``ProcessPoolExecutor.shutdown`` alone lets the running workers finish their
    runs (Python 3.14 adds ``terminate_workers``); this reads the pool's private
    ``_processes`` to stop them now.
    """
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        with contextlib.suppress(Exception):
            if p.is_alive():
                p.terminate()
    deadline = time.monotonic() + timeout
    for p in procs:
        with contextlib.suppress(Exception):
            p.join(max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join(1.0)
    # the pool's manager thread sees its workers gone and exits, releasing the queues
    manager = getattr(pool, "_executor_manager_thread", None)
    if manager is not None and manager is not threading.current_thread():
        manager.join(max(0.5, deadline - time.monotonic()))


# ---------------------------------------------------------------- running

def _spec_hash(spec):
    """8 hex digits that change with any setting of ``spec``."""
    import hashlib
    import json
    text = json.dumps(spec, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


_SOURCE_HASH = []


def _source_hash():
    """12 hex digits of the SHA-256 of every rnndyn source file loaded in this process.

    Computed once per process, at its first run, right after the trainer was
    imported: the files may change on disk later, the imported code does not.
    It tells apart runs made by different versions of the trainer.
    """
    if not _SOURCE_HASH:
        import hashlib
        import sys
        h = hashlib.sha256()
        for name in sorted(sys.modules):
            path = getattr(sys.modules[name], "__file__", None)
            if (name == "rnndyn" or name.startswith("rnndyn.")) and path \
                    and path.endswith(".py"):
                with open(path, "rb") as f:
                    h.update(name.encode() + b"\0" + f.read())
        _SOURCE_HASH.append(h.hexdigest()[:12])
    return _SOURCE_HASH[0]


@pinned
def execute_run(spec, runs_dir=None):
    """Train the run ``spec`` and return its :class:`StudyRun` (saved if ``runs_dir``).

    This is what each worker process calls. While it trains, the trainer keeps
    a checkpoint ``<key>.<hash>.ckpt.npz`` (the hash of the spec, so a run with
    other settings never resumes from it), from which a killed run continues.
    At the end the trainer's own result (with its diagnostics) is saved as
    ``<key>.train.npz/.json``, then the small :class:`StudyRun` as
    ``<key>.npz/.json``: a run counts as finished when ``<key>.json`` exists.
    The checkpoint is removed last.
    """
    from rnndyn import training
    source = _source_hash()
    key = run_key(spec)
    checkpoint = None
    if runs_dir is not None:
        checkpoint = os.path.join(runs_dir, f"{key}.{_spec_hash(spec)}.ckpt.npz")
    t0 = time.perf_counter()
    res = training.train(spec["task"], spec["length"], spec["method"], spec["init"],
                         seed=spec["seed"], max_updates=spec["budget"], checkpoint=checkpoint,
                         **spec["options"])
    threads = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS")}
    # res.seconds sums the wall time over resumptions from the checkpoint
    run = StudyRun(key=key, spec=spec, success=bool(res.success), updates=int(res.updates),
                   final_error_rate=float(res.final_error_rate),
                   seconds=round(float(res.seconds), 3),
                   meta=make_meta(spec, seed=spec["seed"], pid=os.getpid(), threads=threads,
                                  seconds_this_process=round(time.perf_counter() - t0, 3),
                                  source_sha256=source,
                                  skipped=int(getattr(res, "skipped", 0))))
    if runs_dir is not None:
        stem = os.path.join(runs_dir, key)
        # overwrite: a leftover of a run killed while saving is incomplete by definition
        res.save(stem + ".train", overwrite=True)
        run.save(stem, overwrite=True)
        # this run's checkpoint and any left by a run of the same key with other
        # settings (keys end before a '.', so key + '.' never matches another run's
        # files). Temporary files are left alone: one may be another process's write in
        # flight; stale ones are removed by the next study_lock on this folder.
        for name in os.listdir(runs_dir):
            if name.startswith(key + ".") and name.endswith(".ckpt.npz"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(runs_dir, name))
    return run


def _finished(spec, runs_dir, overwrite):
    """The saved run of ``spec`` or None; a run saved with other settings is an error."""
    if runs_dir is None:
        return None
    stem = os.path.join(runs_dir, run_key(spec))
    if not os.path.exists(stem + ".json"):
        return None
    try:
        run = load_result(stem)
    except (ValueError, TypeError) as exc:
        if overwrite:
            return None
        raise InputError(f"{stem}.json is unreadable ({exc}); delete it to recompute the run")
    if run.spec != spec:
        if overwrite:
            return None
        diff = sorted(k for k in set(spec) | set(run.spec) if spec.get(k) != run.spec.get(k))
        raise InputError(f"{stem}.json was made with other settings ({', '.join(diff)} differ); "
                         "use another --out, or --overwrite to recompute such runs")
    return run


@contextlib.contextmanager
def _environment(values):
    """Set environment variables for the duration of the block, then restore them."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def count_finished(specs, runs_dir, *, overwrite=False):
    """How many of ``specs`` already have a finished run in ``runs_dir``."""
    return sum(_finished(spec, runs_dir, overwrite) is not None for spec in specs)


def run_study(specs, runs_dir=None, *, workers=2, overwrite=False, progress=None):
    """Run the specs that have no finished run in ``runs_dir``; return all runs.

    Parameters
    ----------
    specs : list of dict
        From :func:`plan_clipping_study`.
    runs_dir : str or None
        Folder of the per-run files. Runs already there (with the same spec)
        are reused, not recomputed. None keeps everything in memory.
    workers : int
        Worker processes (spawned, 1 thread each); 0 runs in this process.
    overwrite : bool
        Recompute runs saved with different settings instead of failing.
    progress : callable, optional
        ``progress(n)`` is called with 1 after each newly finished run.

    Returns
    -------
    runs : list of StudyRun
        In the order of ``specs``.
    n_computed : int
        How many of them were computed by this call.

    Notes
    -----
    Each run is saved by its worker as soon as it finishes, so an interrupted
    study loses only the runs in progress. Longer sequences are started first
    to keep the workers busy until the end. With ``runs_dir`` the folder's
    :func:`study_lock` is held throughout (another study on it is refused).
    The workers exit when this process dies; while they run, SIGTERM to this
    process (main thread) raises ``SystemExit(143)`` after terminating them,
    and Ctrl-C terminates them before the KeyboardInterrupt propagates.
    """
    workers = as_int(workers, "workers", minimum=0)
    lock = contextlib.nullcontext() if runs_dir is None else study_lock(runs_dir)
    with lock:
        return _run_study(specs, runs_dir, workers, overwrite, progress)


def _run_study(specs, runs_dir, workers, overwrite, progress):
    done = {}
    todo = []
    for i, spec in enumerate(specs):
        run = _finished(spec, runs_dir, overwrite)
        if run is None:
            todo.append(i)
        else:
            done[i] = run
    todo.sort(key=lambda i: -specs[i]["length"])
    advance = progress or (lambda n=1: None)
    if workers == 0 or len(todo) == 0:
        for i in todo:
            done[i] = execute_run(specs[i], runs_dir)
            advance(1)
    else:
        _run_in_processes(specs, todo, runs_dir, min(workers, len(todo)), done, advance)
    return [done[i] for i in range(len(specs))], len(todo)


def _run_in_processes(specs, todo, runs_dir, workers, done, advance):
    import concurrent.futures as cf
    import multiprocessing
    # spawn, not fork: a forked child would inherit the parent's numba/BLAS
    # thread pools; the worker environment must be set before the child
    # imports numpy, so it is set around the submits, which start the workers.
    ctx = multiprocessing.get_context("spawn")
    workers_lock = None if runs_dir is None else os.path.join(runs_dir, WORKERS_LOCK_FILE)
    with _sigterm_exits():
        pool = None
        try:
            with _environment(WORKER_ENV):
                pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                              initializer=_worker_init,
                                              initargs=(os.getpid(), workers_lock))
                futures = {pool.submit(execute_run, specs[i], runs_dir): i for i in todo}
            _collect(futures, specs, done, advance)
        except BaseException:
            if pool is not None:
                _stop_pool(pool)
            raise
        pool.shutdown(wait=True)


def _collect(futures, specs, done, advance):
    import concurrent.futures as cf
    for fut in cf.as_completed(futures):
        i = futures[fut]
        try:
            done[i] = fut.result()
        except InputError as exc:
            raise InputError(f"run {run_key(specs[i])}: {exc}") from exc
        except cf.process.BrokenProcessPool as exc:
            raise RuntimeError(f"a worker process died during run {run_key(specs[i])} "
                               "(finished runs are saved; start the study again to "
                               "resume)") from exc
        advance(1)


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
                   workers=2, overwrite=False, progress=None, **train_options):
    """Run (or resume) a success-rate study and aggregate it (the paper's Figure 7).

    Parameters
    ----------
    task, lengths, methods, inits, n_seeds, seed, budget, **train_options
        The grid and the training settings, see :func:`plan_clipping_study`.
    out : str, optional
        Study folder; the runs are saved in ``<out>/runs/`` and reused when
        the study is started again; the folder's :func:`study_lock` is held
        while the study runs. None keeps the runs in memory (nothing written).
    workers : int
        Worker processes (0: in this process).
    overwrite : bool
        Recompute saved runs whose settings differ instead of failing.
    progress : callable, optional
        Called with 1 after each newly finished run.

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
                                budget=budget, **train_options)
    runs_dir = None if out is None else os.path.join(os.fspath(out), RUNS_FOLDER)
    lock = contextlib.nullcontext() if out is None else study_lock(runs_dir,
                                                                   f"out {os.fspath(out)}")
    with lock:  # re-entrant: run_study takes it again
        runs, n_computed = run_study(specs, runs_dir, workers=workers, overwrite=overwrite,
                                     progress=progress)
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
