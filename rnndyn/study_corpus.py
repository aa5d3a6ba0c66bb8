"""The paper's Table 1 on the corpora rnndyn ships: MSGD, MSGD+C and MSGD+CR on Bach
chorales (NLL per step) and Shakespeare's characters one and five steps ahead (bits
per character), several seeds a cell, on the runner of studies and sweeps.

Pascanu, Mikolov & Bengio (2013), "On the difficulty of training recurrent neural
networks", §5.2 and Table 1, trained RNNs on polyphonic music (Piano-midi.de,
Nottingham, MuseData) and on character-level Penn Treebank, and compared plain
momentum SGD (MSGD), with norm clipping (MSGD+C) and with clipping and the
regulariser Ω (MSGD+CR). :data:`PAPER_TABLE1` holds their numbers; the corpora here
are others (:mod:`rnndyn.data`), so a row compares in shape, not in value.

Each run is one :func:`rnndyn.training_corpus.train_corpus` call (one corpus row ×
method × seed, code in :mod:`rnndyn._corpus_run`); with a runs folder every finished
run is saved at once and each running one keeps a checkpoint, so a killed study loses
no finished run and continues the unfinished ones where their checkpoints stand.
"""

import os
import time

import numpy as np

from rnndyn._validate import InputError, as_choice, as_float, as_int
from rnndyn.results import Result, make_meta, result_type

#: study row -> (train_corpus task, data set of rnndyn.data, characters ahead)
ROWS = {"music": ("bach-chorales", "bach-chorales", 1),
        "chars-1": ("chars", "shakespeare", 1),
        "chars-5": ("chars", "shakespeare", 5)}
METHODS = ("sgd", "sgd-c", "sgd-cr")
#: the paper's names of the methods (momentum 0.9 throughout)
METHOD_LABELS = {"sgd": "MSGD", "sgd-c": "MSGD+C", "sgd-cr": "MSGD+CR"}
#: train_corpus options a study passes through (validated here, before any run starts)
OPTIONS = {"lr": "float+", "threshold": "float+", "alpha": "float0", "momentum": "unit",
           "batch_size": "int1", "seq_length": "int2", "eval_every": "int1",
           "patience": "int1", "eval_steps": "int1", "activation": "str", "form": "str"}
RUNS_FOLDER = "runs"

#: Pascanu et al. (2013), Table 1: (train, test) for MSGD, MSGD+C, MSGD+CR (None: not
#: reported). Music in negative log-likelihood per time step, Penn Treebank in bits per
#: character.
PAPER_TABLE1 = {
    "Piano-midi.de (NLL)": {"train": (6.87, 6.81, 7.01), "test": (7.56, 7.53, 7.46)},
    "Nottingham (NLL)": {"train": (3.67, 3.21, 3.24), "test": (3.80, 3.48, 3.46)},
    "MuseData (NLL)": {"train": (8.25, 6.54, 6.51), "test": (7.11, 7.00, 6.99)},
    "Penn Treebank, 1 step (bits/char)": {"train": (1.46, 1.34, 1.36),
                                          "test": (1.50, 1.42, 1.41)},
    "Penn Treebank, 5 steps (bits/char)": {"train": (None, 3.76, 3.70),
                                           "test": (None, 3.89, 3.74)},
}


def _names(value, name, known):
    items = [value] if isinstance(value, str) else list(value)
    items = [str(v).strip() for v in items if str(v).strip()]
    if not items:
        raise InputError(f"{name}: give at least one of {', '.join(known)}")
    out = []
    for v in items:
        v = as_choice(v, name.rstrip("s"), tuple(known))
        if v in out:
            raise InputError(f"{name}: {v!r} is given twice")
        out.append(v)
    return out


def _check_options(options):
    out = {}
    for key, value in options.items():
        if value is None:
            continue
        kind = OPTIONS.get(key)
        if kind is None:
            raise InputError(f"unknown corpus-study option {key!r}; expected one of: "
                             f"{', '.join(OPTIONS)}")
        if kind == "str":
            out[key] = str(value)
        elif kind.startswith("int"):
            out[key] = as_int(value, key, minimum=int(kind[3:]))
        elif kind == "unit":
            out[key] = as_float(value, key, minimum=0.0, maximum=1.0)
        else:
            out[key] = as_float(value, key, minimum=0.0, strict_minimum=kind == "float+")
    return out


def plan_corpus_study(rows=tuple(ROWS), methods=METHODS, seeds=3, *, seed=0, budget=2000,
                      n_hidden=100, init="smart-tanh", **options):
    """The runs of a corpus study: one spec per row × method × seed.

    Parameters
    ----------
    rows : sequence of {'music', 'chars-1', 'chars-5'}
        Table 1's rows: chorales, characters one and five steps ahead.
    methods : sequence of {'sgd', 'sgd-c', 'sgd-cr'}
        MSGD, MSGD+C, MSGD+CR (the trainer's momentum, 0.9 by default).
    seeds : int
        Runs per cell, with seeds ``seed``, ``seed + 1``, ...
    seed : int
    budget : int
        Updates per run (early stopping may end a run sooner).
    n_hidden : int
    init : str
        The initialisation (:data:`rnndyn.models.INITS`).
    **options
        Passed to :func:`rnndyn.training_corpus.train_corpus` (:data:`OPTIONS`);
        unset ones take the trainer's defaults (the paper's thresholds, lr, schedule).

    Returns
    -------
    list of dict
    """
    from rnndyn.models import INITS
    rows = _names(rows, "rows", ROWS)
    methods = _names(methods, "methods", METHODS)
    seeds = as_int(seeds, "seeds", minimum=1)
    seed = as_int(seed, "seed", minimum=0)
    budget = as_int(budget, "budget", minimum=1)
    n_hidden = as_int(n_hidden, "n_hidden", minimum=1)
    init = as_choice(init, "init", INITS)
    options = _check_options(options)
    specs = []
    for row in rows:
        task, _, ahead = ROWS[row]
        for method in methods:
            for s in range(seed, seed + seeds):
                specs.append({"row": row, "task": task, "ahead": ahead, "method": method,
                              "init": init, "seed": s, "budget": budget,
                              "n_hidden": n_hidden, "options": dict(options)})
    return specs


def _store(specs, runs_dir, overwrite):
    from rnndyn import _corpus_run
    from rnndyn._runner import Store
    by_key = {_corpus_run.run_key(s): s for s in specs}

    def read(key):
        run = _corpus_run.read_run(by_key[key], runs_dir, overwrite)
        return None if run is None else ((None, run), run.meta.get("source_sha256"))

    def write(key, result):
        _corpus_run.save_run(runs_dir, *result)

    return Store(runs_dir, read, write, _corpus_run.SOURCES)


def prepare_corpora(specs):
    """Build the cache of every data set the specs use, here and once (the workers then
    only read it); a missing package is an error naming what to install."""
    from rnndyn import data
    for name in sorted({ROWS[s["row"]][1] for s in specs}):
        data.prepare(name)


def run_corpus_study(specs, runs_dir=None, *, workers=2, scheduler=None, dask_workers=None,
                     client=None, overwrite=False, progress=None, notice=None):
    """Run the specs without a finished run in ``runs_dir``; return (runs, n_computed).

    As :func:`rnndyn.study.run_study` (same runner, same guarantees): runs are saved as
    they finish, each keeps its trainer's checkpoint in ``runs_dir`` while it trains
    (not on a ``scheduler``/``client`` cluster, whose workers may not see the folder),
    the folder is locked for the study, and the workers die with this process.
    """
    from rnndyn import _corpus_run, _runner
    prepare_corpora(specs)
    store = None if runs_dir is None else _store(specs, runs_dir, overwrite)
    if runs_dir is not None:
        os.makedirs(runs_dir, exist_ok=True)
    shared = scheduler is None and client is None
    # the characters five ahead and the chorales' whole-piece evaluations take longest
    tasks = [(_corpus_run.run_key(s), (s, runs_dir if shared else None)) for s in specs]
    results, n_computed = _runner.run(
        _corpus_run.train_run, tasks, store=store, workers=workers, scheduler=scheduler,
        dask_workers=dask_workers, client=client, progress=progress, notice=notice,
        describe=lambda key: f"run {key}",
        resume_hint="finished runs are saved; start the study again to resume")
    return [results[_corpus_run.run_key(s)][1] for s in specs], n_computed


@result_type
class CorpusStudyResult(Result):
    """Table 1 on the shipped corpora: mean and spread over seeds per row × method.

    Attributes
    ----------
    rows : list of dict
        One per row × method: row, dataset, unit, ahead, method, label (the paper's
        name), n_runs, train_mean, train_std, test_mean, test_std (sample standard
        deviation over seeds; None below two runs), train_min/max, test_min/max,
        baseline_nll (frequency model, test split), mean_updates, clip_fraction,
        seconds (summed over the cell's runs).
    row_names, methods : list of str
    seeds : list of int
    budget, n_hidden : int
    init : str
    n_missing : int
        Planned runs without a result.
    seconds : float
        Training wall time summed over every run.
    meta : dict
    """

    rows: list
    row_names: list
    methods: list
    seeds: list
    budget: int
    n_hidden: int
    init: str
    n_missing: int
    seconds: float
    meta: dict


def _stats(values):
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return None, None, None, None
    std = float(np.std(v, ddof=1)) if v.size > 1 else None
    return float(np.mean(v)), std, float(np.min(v)), float(np.max(v))


def aggregate(runs, specs, *, params=None):
    """The :class:`CorpusStudyResult` of ``runs`` over the plan ``specs``."""
    row_names = list(dict.fromkeys(s["row"] for s in specs))
    methods = list(dict.fromkeys(s["method"] for s in specs))
    seeds = sorted({int(s["seed"]) for s in specs})
    got = {}
    for run in runs:
        got.setdefault((run.spec["row"], run.spec["method"]), []).append(run)
    rows, total = [], 0.0
    for row in row_names:
        task, dataset, ahead = ROWS[row]
        for method in methods:
            cell = got.get((row, method), [])
            tr = _stats([r.train_nll for r in cell])
            te = _stats([r.test_nll for r in cell])
            seconds = float(sum(r.seconds for r in cell))
            total += seconds
            rows.append({
                "row": row, "dataset": dataset, "ahead": ahead, "method": method,
                "label": METHOD_LABELS[method],
                "unit": cell[0].unit if cell else None, "n_runs": len(cell),
                "train_mean": tr[0], "train_std": tr[1], "train_min": tr[2],
                "train_max": tr[3], "test_mean": te[0], "test_std": te[1],
                "test_min": te[2], "test_max": te[3],
                "baseline_nll": float(cell[0].baseline_nll) if cell else None,
                "mean_updates": _stats([r.updates for r in cell])[0],
                "clip_fraction": _stats([r.clip_fraction for r in cell])[0],
                "seconds": round(seconds, 3)})
    first = specs[0] if specs else {}
    n_missing = len(specs) - sum(len(v) for v in got.values())
    return CorpusStudyResult(
        rows=rows, row_names=row_names, methods=methods, seeds=seeds,
        budget=int(first.get("budget", 0)), n_hidden=int(first.get("n_hidden", 0)),
        init=str(first.get("init", "")), n_missing=int(max(n_missing, 0)),
        seconds=round(total, 3), meta=make_meta(params or {}, seed=min(seeds) if seeds
                                                else None))


def plan_params(specs):
    """The plan behind ``specs`` as JSON-able parameters (what a result records)."""
    first = specs[0]
    return {"rows": list(dict.fromkeys(s["row"] for s in specs)),
            "methods": list(dict.fromkeys(s["method"] for s in specs)),
            "seeds": sorted({s["seed"] for s in specs}), "budget": first["budget"],
            "n_hidden": first["n_hidden"], "init": first["init"],
            "options": dict(first["options"])}


def corpus_study(rows=tuple(ROWS), methods=METHODS, seeds=3, *, out=None, workers=2,
                 scheduler=None, dask_workers=None, client=None, overwrite=False,
                 progress=None, notice=None, **plan):
    """Plan, run (or resume) and aggregate a corpus study; see :func:`plan_corpus_study`.

    ``out``: the study's folder (runs in ``out/runs``); None keeps everything in
    memory. Returns a :class:`CorpusStudyResult` whose ``meta`` also holds
    ``n_computed``, ``n_reused`` and the wall ``seconds`` of this call.
    """
    t0 = time.perf_counter()
    specs = plan_corpus_study(rows, methods, seeds, **plan)
    runs_dir = None if out is None else os.path.join(os.fspath(out), RUNS_FOLDER)
    runs, n_computed = run_corpus_study(specs, runs_dir, workers=workers,
                                        scheduler=scheduler, dask_workers=dask_workers,
                                        client=client, overwrite=overwrite,
                                        progress=progress, notice=notice)
    result = aggregate(runs, specs, params=plan_params(specs))
    result.meta.update(n_computed=int(n_computed), n_reused=len(specs) - int(n_computed),
                       wall_seconds=round(time.perf_counter() - t0, 3))
    return result


# ---------------------------------------------------------------- tables

def _fmt(mean, std, n):
    if mean is None:
        return "–"
    text = f"{mean:.3f}"
    if std is not None:
        text += f" ± {std:.3f}"
    return text + ("" if n > 1 else " (1 run)")


ROW_TITLES = {"music": "Bach chorales (nats/step)",
              "chars-1": "Shakespeare, 1 step (bits/char)",
              "chars-5": "Shakespeare, 5 steps (bits/char)"}


def table_markdown(result):
    """Table 1's shape: a corpus row × fold (train, test) per line, a column per method
    (mean ± sample standard deviation over the seeds), then the frequency baseline;
    the paper's own table below it."""
    by = {(r["row"], r["method"]): r for r in result.rows}
    labels = [METHOD_LABELS[m] for m in result.methods]
    lines = [f"{len(result.seeds)} seed(s) a cell, {result.budget:,} updates at most a run "
             f"(early stopping on validation), N = {result.n_hidden}, init {result.init}; "
             f"mean ± standard deviation over seeds; {result.seconds:,.0f} s of training "
             "in all.", "",
             "| corpus | fold | " + " | ".join(labels) + " | frequency baseline |",
             "|---|---|" + "---:|" * (len(labels) + 1)]
    for row in result.row_names:
        for fold in ("train", "test"):
            cells = [_fmt(by[(row, m)][f"{fold}_mean"], by[(row, m)][f"{fold}_std"],
                          by[(row, m)]["n_runs"]) for m in result.methods]
            base = next((by[(row, m)]["baseline_nll"] for m in result.methods
                         if by[(row, m)]["baseline_nll"] is not None), None)
            title = ROW_TITLES[row] if fold == "train" else ""
            lines.append(f"| {title} | {fold} | " + " | ".join(cells) + " | "
                         + ("" if fold == "train" or base is None else f"{base:.3f}")
                         + " |")
    lines += ["", "Per cell: updates run (mean), clipped updates (mean fraction), training "
              "seconds (all seeds):", "",
              "| corpus | " + " | ".join(labels) + " |", "|---|" + "---:|" * len(labels)]
    for row in result.row_names:
        cells = []
        for m in result.methods:
            r = by[(row, m)]
            cells.append("–" if not r["n_runs"] else
                         f"{r['mean_updates']:,.0f} upd, {100 * r['clip_fraction']:.1f}% "
                         f"clipped, {r['seconds']:,.0f} s")
        lines.append(f"| {ROW_TITLES[row]} | " + " | ".join(cells) + " |")
    if result.n_missing:
        lines += ["", f"{result.n_missing} planned run(s) had not finished."]
    lines += ["", "Pascanu et al. (2013), Table 1, on their data sets (not these):", "",
              "| data set | fold | MSGD | MSGD+C | MSGD+CR |", "|---|---|---:|---:|---:|"]
    for name, folds in PAPER_TABLE1.items():
        for fold in ("train", "test"):
            vals = ["N/A" if v is None else f"{v:.2f}" for v in folds[fold]]
            lines.append(f"| {name if fold == 'train' else ''} | {fold} | "
                         + " | ".join(vals) + " |")
    return "\n".join(lines) + "\n"


def save_table(result, stem, *, overwrite=False):
    """Write ``<stem>.md`` atomically; return its path."""
    from rnndyn.io import atomic_write
    text = table_markdown(result)
    path = os.fspath(stem) + ".md"
    atomic_write(path, lambda f: f.write(text), overwrite=overwrite, mode="w")
    return path

