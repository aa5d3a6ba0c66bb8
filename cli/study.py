"""``rnndyn study clipping``: the success-rate study (the paper's Figure 7);
``rnndyn study corpus``: the paper's Table 1 on the shipped corpora."""

import contextlib
import os
import sys

import click

from rnndyn.cli.options import (CONTEXT_SETTINGS, cli_errors, common_options, emit,
                                output_paths, progress, save_figure)
from rnndyn.cli.sweep import check_executor, executor_options, in_process, notice_unless
from rnndyn.cli.types import NAMES, Numbers
from rnndyn._validate import InputError

KINDS = ("clipping", "corpus")
STEM = "clipping-study"
CORPUS_STEM = "corpus-study"
#: the defaults that differ between the kinds: (clipping, corpus; None = the trainer's)
KIND_DEFAULTS = {"inits": (["sigmoid", "basic-tanh", "smart-tanh"], ["smart-tanh"]),
                 "seeds": (5, 3),
                 "budget": (20000, 2000), "n_hidden": (50, 100), "lr": (0.01, None),
                 "threshold": (1.0, None), "alpha": (4.0, None), "batch_size": (20, None)}
#: options of `study clipping` that `study corpus` refuses (parameter -> flag)
CLIPPING_ONLY = {"task": "--task", "lengths": "--lengths", "cells": "--cells",
                 "gated_init": "--gated-init", "layers": "--layers", "skips": "--skip",
                 "forget_bias": "--forget-bias", "eval_size": "--eval-size",
                 "collect": "--collect"}


# the outputs of a study in --out (their stale temporary files are cleaned at start)
OUTPUT_ENDINGS = tuple(f"{STEM}.{ext}" for ext in ("npz", "json", "csv", "md", "png", "pdf",
                                                   "svg"))
NOT_SAVED = ("note: without --out nothing is saved (a killed study loses its runs); "
             "--out DIR keeps every finished run there and makes the study resumable")


def _finished_study(stem, collect, overwrite):
    """True when a study's summary is already in its folder (a finished study re-run)."""
    return not collect and not overwrite and os.path.exists(stem + ".json")


@click.command(context_settings=CONTEXT_SETTINGS)
@click.argument("kind", metavar="KIND")
@click.option("--task", default="temporal-order",
              help="temporal-order, temporal-order-3bit, addition, multiplication, "
                   "permutation or memorisation.")
@click.option("--lengths", type=Numbers(int, metavar="L1,L2,..."), default="20,50,100",
              help="Sequence lengths, comma-separated.")
@click.option("--methods", type=NAMES, default="sgd,sgd-c,sgd-cr",
              help="Training methods, comma-separated: sgd, sgd-c (norm clipping), "
                   "sgd-cr (clipping + regulariser).")
@click.option("--inits", type=NAMES, default=None,
              help="Initialisations, comma-separated (the paper's: sigmoid, basic-tanh, "
                   "smart-tanh) [default: all three; corpus: one, smart-tanh].")
@click.option("--rows", "corpus_rows", type=NAMES, default="music,chars-1,chars-5",
              help="corpus only: Table 1's rows, comma-separated: music (Bach chorales), "
                   "chars-1, chars-5 (Shakespeare, the character 1 or 5 steps ahead).")
@click.option("--cells", type=NAMES, default="vanilla",
              help="Recurrent cells, comma-separated: vanilla (once per --inits), lstm, gru "
                   "(once each, from --gated-init; they skip sgd-cr: Ω is the vanilla "
                   "cell's). A gated cell appears in the table's init column by its name.")
@click.option("--gated-init", default="pytorch",
              help="Initialiser of the gated cells: pytorch, gaussian or orthogonal.")
@click.option("--layers", type=Numbers(int, metavar="L1,L2,..."), default="1",
              help="Depths, comma-separated: each model trains once per depth, every layer "
                   "of --n units; a stack appears in the init column as <model>-<L>L "
                   "(-<skip>), and skips sgd-cr (Ω is one vanilla layer's).")
@click.option("--skip", "skips", type=NAMES, default="none",
              help="Connections of the stacks (--layers >= 2), comma-separated: none, "
                   "residual, dense (one stack per skip).")
@click.option("--forget-bias", type=float, default=None,
              help="Gated cells only: added to the forget-gate (GRU: update-gate) bias.")
@click.option("--seeds", type=int, default=None,
              help="Seeds per cell; run seeds are --seed, --seed+1, … in every cell "
                   "(paired: every method starts from the same weights and data) "
                   "[default: 5; corpus: 3].")
@click.option("--updates", "budget", type=int, default=None,
              help="Maximum parameter updates per run (the paper: up to 5,000,000) "
                   "[default: 20,000; corpus: 2,000, early stopping on validation].")
@click.option("--workers", type=int, default=2,
              help="Worker processes, 1 thread each; 0 runs in this process.")
@click.option("--n", "n_hidden", type=int, default=None,
              help="Number of units N [default: 50; corpus: 100].")
@click.option("--lr", type=float, default=None,
              help="Learning rate [default: 0.01; corpus: the trainer's per corpus].")
@click.option("--threshold", type=float, default=None,
              help="Clipping threshold (sgd-c, sgd-cr) [default: 1; corpus: the paper's, "
                   "8 music, 45 text].")
@click.option("--alpha", type=float, default=None,
              help="Regulariser weight α (sgd-cr) [default: 4; corpus: the trainer's].")
@click.option("--batch-size", type=int, default=None,
              help="Minibatch size [default: 20; corpus: 32].")
@click.option("--eval-every", type=int, default=None,
              help="Updates between success tests [default: the trainer's].")
@click.option("--eval-size", type=int, default=None,
              help="Fresh sequences per success test [default: the trainer's].")
@click.option("--collect", is_flag=True,
              help="Only aggregate the runs already finished in --out/runs (needs --out; "
                   "no training; the grid is what has finished, the grid options are "
                   "ignored; refused while a study runs in --out).")
@executor_options
@common_options
# in the main thread, not cli_errors' command thread: the study's SIGTERM handler must be
# installed there, and its workers' PR_SET_PDEATHSIG follows the thread that started them.
# Ctrl-C is not held up by a kernel here: the main thread waits on the pool in Python, and
# stops the workers (finished runs are kept) before it leaves.
@cli_errors(interruptible=False)
def study(kind, task, lengths, methods, inits, corpus_rows, cells, gated_init, layers, skips,
          forget_bias, seeds, budget,
          workers, n_hidden, lr, threshold, alpha, batch_size, eval_every, eval_size, collect,
          scheduler, dask_workers, seed, out, fmt, as_json, quiet, overwrite):
    """Run a study; KIND is `clipping` (success rate against sequence length, the
    paper's Figure 7) or `corpus` (the paper's Table 1 on the shipped corpora).

    `rnndyn study corpus` trains MSGD, MSGD+C and MSGD+CR (--methods) on each of
    --rows (music: Bach chorales, NLL in nats per step; chars-1, chars-5:
    Shakespeare, bits per character, the character 1 or 5 steps ahead), --seeds runs
    a cell, with the corpus trainer's defaults (the paper's thresholds 8 and 45, lr
    halved when the validation NLL rises for music, early stopping on validation;
    see `rnndyn train -h`) unless --lr/--threshold/--alpha/--batch-size/--eval-every
    say otherwise; --n units, one --inits. The corpora must be installed (`rnndyn data
    list`); their caches are built once before the runs start. With --out DIR each
    finished run is saved in DIR/runs at once and each running one keeps a checkpoint
    there, so the same command resumes a killed study where its runs stood; it
    writes DIR/corpus-study.npz/.json, .md (the table in Table 1's shape beside the
    paper's numbers) and the figure. Its --json prints {folder, runs_folder,
    corpus_rows, methods, seeds, budget, n_hidden, init, rows: [{row, dataset, ahead,
    method, label, unit, n_runs, train_mean, train_std, train_min, train_max,
    test_mean, test_std, test_min, test_max, baseline_nll, mean_updates,
    clip_fraction, seconds}], n_runs, n_computed, n_reused, n_missing,
    training_seconds, seconds, files}. A study of the paper's size (N = 100-300, 3
    seeds, thousands of updates) takes hours on two cores.

    `rnndyn study clipping`:

    Trains one RNN per length × method × init × seed (in parallel processes) until
    success (under 1% errors on fresh sequences) or --updates updates. With --cells
    lstm,gru the gated cells are trained too (vanilla SGD-C and SGD-CR against LSTM and
    GRU SGD-C: `--cells vanilla,lstm,gru --inits smart-tanh`). With --layers 1,3
    --skip none,residual each model is also trained as 3-layer stacks without and with
    residual connections (`rnndyn figure depth-clipping-study`).

    With --out DIR each finished run is saved at once in DIR/runs/, and the study
    is resumable: started again with the same command it only computes the runs
    that are missing (a killed study loses nothing finished), and once finished the
    same command reports its table. A different plan (task, lengths, methods, inits,
    seeds, budget or any training setting) on a finished study is refused, naming
    what differs (--overwrite recomputes and replaces). DIR is locked while a study
    runs: a second study on it is refused. Writes DIR/clipping-study.npz/.json (the
    table as a result), .csv, .md and the figure (one panel per init, one line per
    method).

    Without --out the study runs in memory: nothing is written, no figure is drawn,
    the table is printed (a note on stderr says that nothing is saved), and a killed
    study must start over.

    Runs go to --workers local processes, or to Dask (--scheduler ADDRESS, or
    --dask-workers N for a LocalCluster on 127.0.0.1), with the same results; on
    --scheduler a run stopped half-way starts over (its workers may not see DIR).
    A saved run made by other rnndyn code (its source stamp differs) is trained
    again, said in one line on stderr. The local workers exit when the study's
    process is killed; SIGTERM or Ctrl-C stops them first.

    --json prints {folder, runs_folder, task, budget, lengths, methods, inits,
    seeds, rows: [{length, method, init, n_runs, n_success, success_rate,
    mean_updates, mean_final_error_rate}], n_runs, n_computed, n_reused,
    n_missing, seconds, files}: folder and runs_folder are null without --out;
    n_computed counts the runs trained by this call, n_reused those read from
    DIR/runs, n_missing planned runs without a result; success_rate,
    mean_updates and mean_final_error_rate are null where undefined; seconds
    is null when a finished table was reported; files lists the files written.
    """
    from rnndyn import study as st
    from rnndyn.io import check_target
    kind = kind.strip().lower()
    if kind not in KINDS:
        raise InputError(f"unknown study {kind!r}; expected one of: {', '.join(KINDS)}")
    given = dict(inits=inits, seeds=seeds, budget=budget, n_hidden=n_hidden, lr=lr,
                 threshold=threshold, alpha=alpha, batch_size=batch_size)
    # the options a user left out take the kind's defaults
    d = {k: (KIND_DEFAULTS[k][KINDS.index(kind)] if v is None else v) for k, v in given.items()}
    if kind == "corpus":
        ctx = click.get_current_context()
        wrong = [flag for name, flag in CLIPPING_ONLY.items()
                 if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT]
        if wrong:
            raise InputError(f"{', '.join(wrong)}: option(s) of `study clipping`, not of "
                             "`study corpus`")
        _corpus(corpus_rows, methods, d, eval_every, workers, scheduler, dask_workers, seed,
                out, fmt, as_json, quiet, overwrite)
        return
    inits, seeds, budget, n_hidden, lr, threshold, alpha, batch_size = (
        d[k] for k in ("inits", "seeds", "budget", "n_hidden", "lr", "threshold", "alpha",
                       "batch_size"))
    if seeds < 1:
        raise InputError(f"--seeds must be >= 1, got {seeds}")
    if budget < 1:
        raise InputError(f"--updates must be >= 1, got {budget}")
    check_executor(workers, scheduler, dask_workers)
    if out is not None and not str(out).strip():
        raise InputError("--out: empty folder name; give a folder, or leave --out out to "
                         "run in memory")
    if collect and out is None:
        raise InputError("--collect needs --out DIR, the folder of the study to collect")
    show = not (quiet or as_json)
    options = dict(n_hidden=n_hidden, lr=lr, threshold=threshold, alpha=alpha,
                   batch_size=batch_size, eval_every=eval_every, eval_size=eval_size,
                   forget_bias=forget_bias)
    grid = dict(seed=seed, budget=budget, cells=cells, gated_init=gated_init,
                layers=layers, skips=skips, **options)
    run = dict(workers=workers, scheduler=scheduler, dask_workers=dask_workers,
               notice=notice_unless(quiet))
    # every grid option is checked before any folder is made or any run starts
    specs = None if collect else st.plan_clipping_study(task, lengths, methods, inits, seeds,
                                                        **grid)
    files = []
    if out is None:
        if not quiet:
            click.echo(NOT_SAVED, err=True)
        with _stopped_note(None, quiet), \
                progress(len(specs), quiet=not show, label="runs") as advance:
            result = st.clipping_study(task, lengths, methods, inits, seeds, out=None,
                                       progress=advance, **run, **grid)
        _report(result, None, None, result.meta["n_computed"], files, as_json, quiet)
        return
    stem = os.path.join(out, STEM)
    runs_dir = os.path.join(out, st.RUNS_FOLDER)
    finished = _finished_study(stem, collect, overwrite)
    paths = None if finished else output_paths(out, STEM, fmt, overwrite)
    if not finished:
        for ext in (".csv", ".md"):
            check_target(stem + ext, overwrite)
    # --collect on a folder without runs/ fails in collect_study, before a lock makes runs/
    locked = not (collect and not os.path.isdir(runs_dir))
    with st.study_lock(runs_dir, f"--out {out}") if locked else contextlib.nullcontext():
        if locked:  # only the lock's holder may take a .tmp-* file for stale
            st.clean_stale_temp(out, OUTPUT_ENDINGS)
        if collect:
            result = st.collect_study(out)
            n_computed = 0
        elif finished:
            # the same command again: report the finished table, if it is this plan's
            result = _finished_table(st, stem, out, runs_dir, specs)
            n_computed = 0
            paths = None
        else:
            n_done = st.count_finished(specs, runs_dir, overwrite=overwrite,
                                       in_process=in_process(workers, scheduler,
                                                             dask_workers))
            if show and n_done:
                click.echo(f"resuming: {n_done} of {len(specs)} runs already finished in "
                           f"{runs_dir}", err=True)
            with _stopped_note(runs_dir, quiet), \
                    progress(len(specs) - n_done, quiet=not show, label="runs") as advance:
                result = st.clipping_study(task, lengths, methods, inits, seeds, out=out,
                                           overwrite=overwrite, progress=advance, **run,
                                           **grid)
            n_computed = result.meta["n_computed"]
        if paths is not None:
            from rnndyn.figures.clipping_study import plot
            from rnndyn.figures.style import style_context
            npz, js = result.save(paths["data"], overwrite=overwrite)
            files = [npz, js] + st.save_tables(result, stem, overwrite=overwrite)
            with style_context():
                files.append(save_figure(plot(result), paths["figure"], overwrite))
    _report(result, out, runs_dir, n_computed, files, as_json, quiet)


@contextlib.contextmanager
def _stopped_note(runs_dir, quiet):
    """One line on stderr when SIGTERM or Ctrl-C stops the study (its workers are
    stopped by then); Ctrl-C exits with status 130, SIGTERM with 143."""
    try:
        yield
    except (KeyboardInterrupt, SystemExit) as exc:
        if not quiet:
            where = ("nothing was saved (no --out)" if runs_dir is None else
                     f"the finished runs are kept in {runs_dir}; the same command resumes")
            click.echo(f"stopped: {where}", err=True)
        if isinstance(exc, KeyboardInterrupt):
            sys.exit(130)
        raise


def _finished_table(st, stem, out, runs_dir, specs):
    """The saved table of ``out`` if it was made from the plan ``specs``, else InputError."""
    from rnndyn.results import load_result
    try:
        saved = load_result(stem)
    except (ValueError, TypeError, OSError) as exc:
        raise InputError(f"--out {out}: cannot read the finished table {stem}.json "
                         f"({' '.join(str(exc).split())}); pass --overwrite to replace it")
    if not isinstance(saved, st.ClippingStudyResult):
        raise InputError(f"--out {out}: {stem}.json is not a clipping-study table; "
                         "use another --out")
    diffs = st.plan_differences(st.plan_of_result(saved), st.plan_of(specs))
    if diffs:
        raise InputError(f"--out {out} holds a finished study with another plan "
                         f"({'; '.join(diffs)}); use another --out, or pass --overwrite "
                         "to run this plan and replace its table")
    # also refuses runs made with other settings; runs of other code count: the table
    # is reported as it was made, nothing is resumed
    n_done = st.count_finished(specs, runs_dir, any_code=True)
    if n_done < len(specs):
        raise InputError(f"--out {out}: the finished table is there but {len(specs) - n_done} "
                         f"of its {len(specs)} runs are missing from {runs_dir}; pass "
                         "--overwrite to compute them and replace the table")
    saved.meta["seconds"] = None  # nothing was computed: this call's time is not the study's
    return saved


def _report(result, out, runs_dir, n_computed, files, as_json, quiet):
    from rnndyn import study as st
    n_runs = int(result.n_runs.sum()) + result.n_missing
    payload = {"folder": None if out is None else os.fspath(out), "runs_folder": runs_dir,
               "task": result.task, "budget": result.budget,
               "lengths": [int(v) for v in result.lengths], "methods": result.methods,
               "inits": result.inits, "seeds": result.seeds, "rows": result.rows,
               "n_runs": n_runs, "n_computed": n_computed,
               "n_reused": n_runs - result.n_missing - n_computed,
               "n_missing": result.n_missing, "seconds": result.meta.get("seconds"),
               "files": files}
    emit(payload, as_json=as_json, quiet=quiet,
         lines=[st.table_markdown(result).rstrip("\n"), ""] + [f"wrote {f}" for f in files])


def _corpus(rows, methods, d, eval_every, workers, scheduler, dask_workers, seed, out, fmt,
            as_json, quiet, overwrite):
    """`rnndyn study corpus`: plan (every option checked first), run or resume, report."""
    from rnndyn import study_corpus as sc
    from rnndyn.results import load_result
    if len(d["inits"]) != 1:
        raise InputError(f"--inits: `study corpus` trains one initialisation, got "
                         f"{', '.join(d['inits'])}")
    check_executor(workers, scheduler, dask_workers)
    options = {k: d[k] for k in ("lr", "threshold", "alpha", "batch_size")}
    options["eval_every"] = eval_every
    specs = sc.plan_corpus_study(rows, methods, d["seeds"], seed=seed, budget=d["budget"],
                                 n_hidden=d["n_hidden"], init=d["inits"][0], **options)
    show = not (quiet or as_json)
    run = dict(workers=workers, scheduler=scheduler, dask_workers=dask_workers,
               notice=notice_unless(quiet))
    plan = dict(seed=seed, budget=d["budget"], n_hidden=d["n_hidden"], init=d["inits"][0],
                **{k: v for k, v in options.items() if v is not None})
    files, paths, result = [], None, None
    runs_dir = None if out is None else os.path.join(out, sc.RUNS_FOLDER)
    stem = None if out is None else os.path.join(out, CORPUS_STEM)
    if out is not None and not overwrite and os.path.exists(stem + ".json"):
        # the same command on a finished study reports its table
        try:
            result = load_result(stem)
        except (ValueError, TypeError, OSError) as exc:
            raise InputError(f"--out {out}: cannot read the finished table {stem}.json "
                             f"({' '.join(str(exc).split())}); pass --overwrite to replace "
                             "it")
        if not isinstance(result, sc.CorpusStudyResult) or \
                result.meta.get("params") != sc.plan_params(specs):
            raise InputError(f"--out {out} holds a finished study of another plan; use "
                             "another --out, or --overwrite to run this one")
        result.meta.update(n_computed=0, wall_seconds=None)
    else:
        paths = output_paths(out, CORPUS_STEM, fmt, overwrite)
        if paths is not None:
            from rnndyn.io import check_target
            check_target(stem + ".md", overwrite)
        elif not quiet:
            click.echo(NOT_SAVED, err=True)
        with _stopped_note(runs_dir, quiet), \
                progress(len(specs), quiet=not show, label="runs") as advance:
            result = sc.corpus_study(rows, methods, d["seeds"], out=out, overwrite=overwrite,
                                     progress=advance, **run, **plan)
    if paths is not None:
        from rnndyn.figures.corpus_study import plot
        from rnndyn.figures.style import style_context
        npz, js = result.save(paths["data"], overwrite=overwrite)
        files = [npz, js, sc.save_table(result, stem, overwrite=overwrite)]
        with style_context():
            files.append(save_figure(plot(result), paths["figure"], overwrite))
    n_runs = len(specs)
    payload = {"folder": None if out is None else os.fspath(out), "runs_folder": runs_dir,
               "corpus_rows": result.row_names, "methods": result.methods,
               "seeds": result.seeds, "budget": result.budget, "n_hidden": result.n_hidden,
               "init": result.init, "rows": result.rows, "n_runs": n_runs,
               "n_computed": result.meta["n_computed"],
               "n_missing": result.n_missing, "training_seconds": result.seconds,
               "seconds": result.meta.get("wall_seconds"), "files": files}
    payload["n_reused"] = n_runs - result.n_missing - payload["n_computed"]
    emit(payload, as_json=as_json, quiet=quiet,
         lines=[sc.table_markdown(result).rstrip("\n"), ""] + [f"wrote {f}" for f in files])
