"""One run of a corpus study: train it, save it, read it back (what its workers run).

The code a corpus study's run files are stamped with (:data:`SOURCES`: this module,
the corpus trainer and what they import); the planning, aggregation and tables of
:mod:`rnndyn.study_corpus` do not change a run's numbers. Saving and the checkpoint
naming are those of the clipping study's runs (:mod:`rnndyn._study_run`).
"""

import os
import time

import numpy as np

from rnndyn._study_run import checkpoint_path, load_spec_run, save_run
from rnndyn._threads import pinned
from rnndyn._validate import InputError
from rnndyn.results import Result, make_meta, result_type

#: the modules whose code computes a run (with what they import): its source stamp
SOURCES = ("rnndyn._corpus_run",)


@result_type
class CorpusStudyRun(Result):
    """One finished training run of a corpus study (one cell of Table 1, one seed).

    Attributes
    ----------
    key : str
        File name of the run inside ``runs/`` (no extension).
    spec : dict
        What was asked: row, task, ahead, method, init, seed, budget, n_hidden, options.
    unit : str
        'nats per step' (music) or 'bits per character' (text).
    train_nll, valid_nll, test_nll, baseline_nll : float
        At the early-stopping parameters; the baseline is the frequency model of the
        train split on the test split (:class:`rnndyn.training_corpus.CorpusTrainResult`).
    updates, best_update : int
    stop_reason : str
    clip_fraction : float
        Fraction of the updates whose gradient was clipped.
    seconds : float
        Wall time of the training, summed over resumptions from its checkpoint.
    meta : dict
    """

    key: str
    spec: dict
    unit: str
    train_nll: float
    valid_nll: float
    test_nll: float
    baseline_nll: float
    updates: int
    best_update: int
    stop_reason: str
    clip_fraction: float
    seconds: float
    meta: dict


def run_key(spec):
    """The file name of a run: ``<row>_<method>_s<seed>``."""
    return f"{spec['row']}_{spec['method']}_s{spec['seed']}"


def _clip_fraction(res):
    """Clipped updates / updates, from the per-window fractions (windows differ in size
    only at the end of a run; weighting by window length keeps it exact)."""
    upd = np.asarray(res.update, dtype=float)
    frac = np.asarray(res.clip_fraction, dtype=float)
    if upd.size == 0:
        return 0.0
    length = np.diff(np.concatenate(([0.0], upd)))
    return float(np.sum(frac * length) / max(float(np.sum(length)), 1.0))


@pinned
def train_run(spec, checkpoint_dir=None):
    """Train the run ``spec``; return ``(CorpusTrainResult, CorpusStudyRun)``.

    With ``checkpoint_dir`` the trainer keeps ``<key>.<hash>.ckpt.npz`` there (hash of
    the spec and of the source stamp), from which a killed run continues exactly.
    """
    from rnndyn._sources import process_stamp
    from rnndyn.training_corpus import train_corpus
    key = run_key(spec)
    stamp = process_stamp(SOURCES)
    checkpoint = checkpoint_path(checkpoint_dir, key, spec, stamp)
    t0 = time.perf_counter()
    try:
        res = train_corpus(spec["task"], spec["method"], spec["init"], ahead=spec["ahead"],
                           n_hidden=spec["n_hidden"], max_updates=spec["budget"],
                           seed=spec["seed"], checkpoint=checkpoint, **spec["options"])
    except InputError as exc:
        raise InputError(f"run {key}: {exc}") from exc
    threads = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS")}
    run = CorpusStudyRun(
        key=key, spec=spec, unit=res.unit, train_nll=float(res.train_nll),
        valid_nll=float(res.valid_nll), test_nll=float(res.test_nll),
        baseline_nll=float(res.baseline_nll), updates=int(res.updates),
        best_update=int(res.best_update), stop_reason=str(res.stop_reason),
        clip_fraction=_clip_fraction(res), seconds=round(float(res.seconds), 3),
        meta=make_meta(spec, seed=spec["seed"], pid=os.getpid(), threads=threads,
                       seconds_this_process=round(time.perf_counter() - t0, 3),
                       source_sha256=stamp))
    return res, run


def read_run(spec, runs_dir, overwrite):
    """The saved run of ``spec`` in ``runs_dir`` or None (see
    :func:`rnndyn._study_run.load_spec_run`)."""
    return load_spec_run(spec, run_key(spec), runs_dir, overwrite)
