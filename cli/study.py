"""``rnndyn study clipping``: the success-rate study (the paper's Figure 7)."""

import os

import click

from rnndyn.cli.options import (CONTEXT_SETTINGS, cli_errors, common_options, emit,
                                output_paths, progress, save_figure)

KINDS = ("clipping",)
STEM = "clipping-study"


STUDY_FOLDER = "rnndyn-study"


def _finished_study(stem, collect, overwrite):
    """True when a study's summary is already in its folder (a finished study re-run)."""
    return not collect and not overwrite and os.path.exists(stem + ".json")


@click.command(context_settings=CONTEXT_SETTINGS)
@click.argument("kind", metavar="KIND")
@click.option("--task", default="temporal-order",
              help="temporal-order, temporal-order-3bit, addition, multiplication, "
                   "permutation or memorisation.")
@click.option("--lengths", default="20,50,100", help="Sequence lengths, comma-separated.")
@click.option("--methods", default="sgd,sgd-c,sgd-cr",
              help="Training methods, comma-separated: sgd, sgd-c (norm clipping), "
                   "sgd-cr (clipping + regulariser).")
@click.option("--inits", default="sigmoid,basic-tanh,smart-tanh",
              help="Initialisations, comma-separated (the paper's: sigmoid, basic-tanh, "
                   "smart-tanh).")
@click.option("--seeds", type=int, default=5,
              help="Seeds per cell; run seeds are --seed, --seed+1, … in every cell "
                   "(paired: every method starts from the same weights and data).")
@click.option("--budget", type=int, default=20000,
              help="Maximum parameter updates per run (the paper: up to 5,000,000).")
@click.option("--workers", type=int, default=2,
              help="Worker processes, 1 thread each; 0 runs in this process.")
@click.option("--n-hidden", type=int, default=50, help="Hidden units.")
@click.option("--lr", type=float, default=0.01, help="Learning rate.")
@click.option("--threshold", type=float, default=1.0, help="Clipping threshold (sgd-c, sgd-cr).")
@click.option("--alpha", type=float, default=4.0, help="Regulariser weight α (sgd-cr).")
@click.option("--batch-size", type=int, default=20, help="Minibatch size.")
@click.option("--eval-every", type=int, default=None,
              help="Updates between success tests [default: the trainer's].")
@click.option("--eval-size", type=int, default=None,
              help="Fresh sequences per success test [default: the trainer's].")
@click.option("--collect", is_flag=True,
              help="Only aggregate the runs already finished in --out/runs (no training; "
                   "the grid is what has finished, the grid options are ignored).")
@common_options
@cli_errors
def study(kind, task, lengths, methods, inits, seeds, budget, workers, n_hidden, lr, threshold,
          alpha, batch_size, eval_every, eval_size, collect, seed, out, fmt, as_json, quiet,
          overwrite):
    """Run a study; KIND is `clipping`: success rate against sequence length.

    Trains one RNN per length × method × init × seed (in parallel processes) until
    success (under 1% errors on fresh sequences) or --budget updates. Each finished
    run is saved at once in --out/runs/; started again with the same options, the
    study only computes the runs that are missing (a killed study loses nothing
    finished; a finished study's command again reports its table). --out defaults to
    rnndyn-study/. Writes --out/clipping-study.npz/.json (the table as a result),
    .csv, .md and the figure (one panel per init, one line per method).

    --json prints {folder, runs_folder, task, budget, lengths, methods, inits,
    seeds, rows: [{length, method, init, n_runs, n_success, success_rate,
    mean_updates, mean_final_error_rate}], n_runs, n_computed, n_reused,
    n_missing, seconds, files}.
    """
    from rnndyn import study as st
    from rnndyn.io import check_target
    if kind.strip().lower() not in KINDS:
        raise ValueError(f"unknown study {kind!r}; expected one of: {', '.join(KINDS)}")
    if seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {seeds}")
    if budget < 1:
        raise ValueError(f"--budget must be >= 1, got {budget}")
    if workers < 0:
        raise ValueError(f"--workers must be >= 0, got {workers}")
    # a study is resumable work: it always has a folder for its runs
    out = STUDY_FOLDER if out is None else out
    stem = os.path.join(out, STEM)
    finished = _finished_study(stem, collect, overwrite)
    paths = None if finished else output_paths(out, STEM, fmt, overwrite)
    if not finished:
        for ext in (".csv", ".md"):
            check_target(stem + ext, overwrite)
    runs_dir = os.path.join(out, st.RUNS_FOLDER)
    show = not (quiet or as_json)
    if collect:
        result = st.collect_study(out)
        n_computed = 0
    else:
        options = dict(n_hidden=n_hidden, lr=lr, threshold=threshold, alpha=alpha,
                       batch_size=batch_size, eval_every=eval_every, eval_size=eval_size)
        specs = st.plan_clipping_study(task, lengths, methods, inits, seeds, seed=seed,
                                       budget=budget, **options)
        n_done = st.count_finished(specs, runs_dir, overwrite=overwrite)
    if not collect and finished and n_done == len(specs):
        # the same command again: report the finished table instead of refusing
        from rnndyn.results import load_result
        result, n_computed = load_result(stem + ".npz"), 0
        files = []
    elif finished:
        raise FileExistsError(f"{stem}.json exists for another plan; pass --overwrite "
                              "to replace it")
    elif not collect:
        if show and n_done:
            click.echo(f"resuming: {n_done} of {len(specs)} runs already finished in "
                       f"{runs_dir}", err=True)
        with progress(len(specs) - n_done, quiet=not show, label="runs") as advance:
            result = st.clipping_study(task, lengths, methods, inits, seeds, seed=seed,
                                       budget=budget, out=out, workers=workers,
                                       overwrite=overwrite, progress=advance, **options)
        n_computed = result.meta["n_computed"]
    from rnndyn.figures.clipping_study import plot
    from rnndyn.figures.style import style_context
    if paths is not None:
        npz, js = result.save(paths["data"], overwrite=overwrite)
        files = [npz, js] + st.save_tables(result, stem, overwrite=overwrite)
        with style_context():
            files.append(save_figure(plot(result), paths["figure"], overwrite))
    n_runs = int(result.n_runs.sum()) + result.n_missing
    payload = {"folder": out, "runs_folder": runs_dir, "task": result.task,
               "budget": result.budget, "lengths": [int(v) for v in result.lengths],
               "methods": result.methods, "inits": result.inits, "seeds": result.seeds,
               "rows": result.rows, "n_runs": n_runs, "n_computed": n_computed,
               "n_reused": n_runs - result.n_missing - n_computed,
               "n_missing": result.n_missing, "seconds": result.meta.get("seconds"),
               "files": files}
    emit(payload, as_json=as_json, quiet=quiet,
         lines=[st.table_markdown(result).rstrip("\n"), ""] + [f"wrote {f}" for f in files])
