"""One run of a study: train it, save it, read it back (what a study's workers run).

This is the code a study's run files are stamped with (:data:`SOURCES`: this
module, the trainer and what they import): the planning, the aggregation and the
tables of :mod:`rnndyn.study` do not change a run's numbers.
"""

import contextlib
import os
import time

from rnndyn._threads import pinned
from rnndyn._validate import InputError
from rnndyn.results import Result, load_result, make_meta, result_type

#: the modules whose code computes a run (with what they import): its source stamp
SOURCES = ("rnndyn._study_run",)


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


def run_key(spec):
    """The file name of a run: ``<task>_L<length>_<method>_<init>_s<seed>``."""
    return (f"{spec['task']}_L{spec['length']}_{spec['method']}_{spec['init']}"
            f"_s{spec['seed']}")


def _checkpoint_hash(spec, stamp):
    """8 hex digits that change with any setting of ``spec`` and with the source stamp:
    a trainer's checkpoint is continued only by a run of the same settings and code."""
    import hashlib
    import json
    text = json.dumps(spec, sort_keys=True) + "\0" + stamp
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def checkpoint_path(checkpoint_dir, key, spec, stamp):
    """``<checkpoint_dir>/<key>.<hash>.ckpt.npz`` (None without a folder): the trainer's
    checkpoint of a run, continued only by a run of the same settings and code."""
    if checkpoint_dir is None:
        return None
    return os.path.join(checkpoint_dir, f"{key}.{_checkpoint_hash(spec, stamp)}.ckpt.npz")


@pinned
def train_run(spec, checkpoint_dir=None):
    """Train the run ``spec``; return ``(training result, StudyRun)`` (nothing saved).

    What each worker calls. With ``checkpoint_dir`` the trainer keeps a checkpoint
    ``<key>.<hash>.ckpt.npz`` there while it trains (the hash of the spec and of the
    source stamp, so a run with other settings or other code never resumes from it),
    from which a killed run continues. The StudyRun's ``meta['source_sha256']`` is
    the source stamp of this code.
    """
    from rnndyn import training
    from rnndyn._sources import process_stamp
    key = run_key(spec)
    stamp = process_stamp(SOURCES)
    checkpoint = checkpoint_path(checkpoint_dir, key, spec, stamp)
    t0 = time.perf_counter()
    try:
        # a gated cell's or a stack's spec names its cell, depth and initialiser (its
        # init is the model's label)
        cell = {k: spec[k] for k in ("cell", "layers", "skip") if k in spec}
        res = training.train(spec["task"], spec["length"], spec["method"],
                             spec.get("model_init", spec["init"]), seed=spec["seed"],
                             max_updates=spec["budget"], checkpoint=checkpoint, **cell,
                             **spec["options"])
    except InputError as exc:
        raise InputError(f"run {key}: {exc}") from exc
    threads = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS")}
    # res.seconds sums the wall time over resumptions from the checkpoint
    run = StudyRun(key=key, spec=spec, success=bool(res.success), updates=int(res.updates),
                   final_error_rate=float(res.final_error_rate),
                   seconds=round(float(res.seconds), 3),
                   meta=make_meta(spec, seed=spec["seed"], pid=os.getpid(), threads=threads,
                                  seconds_this_process=round(time.perf_counter() - t0, 3),
                                  source_sha256=stamp,
                                  skipped=int(getattr(res, "skipped", 0))))
    return res, run


def save_run(runs_dir, res, run):
    """Save a finished run in ``runs_dir``: the trainer's result (with its diagnostics)
    as ``<key>.train.npz/.json``, then the small StudyRun as ``<key>.npz/.json`` (a run
    counts as finished when ``<key>.json`` exists); its checkpoints are removed last."""
    stem = os.path.join(runs_dir, run.key)
    # overwrite: a leftover of a run killed while saving is incomplete by definition
    res.save(stem + ".train", overwrite=True)
    run.save(stem, overwrite=True)
    # this run's checkpoint and any left by a run of the same key with other settings
    # (keys end before a '.', so key + '.' never matches another run's files). Temporary
    # files are left alone: one may be another process's write in flight; stale ones
    # are removed by the next folder_lock on this folder.
    for name in os.listdir(runs_dir):
        if name.startswith(run.key + ".") and name.endswith(".ckpt.npz"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(runs_dir, name))


def execute_run(spec, runs_dir=None):
    """Train the run ``spec`` and return its :class:`StudyRun` (saved if ``runs_dir``:
    :func:`train_run` with its checkpoint there, then :func:`save_run`)."""
    res, run = train_run(spec, runs_dir)
    if runs_dir is not None:
        save_run(runs_dir, res, run)
    return run


def read_run(spec, runs_dir, overwrite):
    """The saved run of ``spec`` or None; a run saved with other settings is an error
    (None with ``overwrite``: it is computed again)."""
    return load_spec_run(spec, run_key(spec), runs_dir, overwrite)


def load_spec_run(spec, key, runs_dir, overwrite):
    """The run saved as ``runs_dir/<key>.json`` if it was made from ``spec``, else None
    (nothing saved) or an error naming the settings that differ (None with
    ``overwrite``). Shared by the clipping study and the corpus study."""
    if runs_dir is None:
        return None
    stem = os.path.join(runs_dir, key)
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
