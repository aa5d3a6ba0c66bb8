"""``rnndyn sweep``: any measure over a grid of model parameters, local or on Dask."""

import os
import sys

import click

from rnndyn.cli.options import (ACTIVATIONS, CONTEXT_SETTINGS, FORMS, INITS, cli_errors,
                                common_options, emit, progress, provenance, save_figure)
from rnndyn.cli.types import SWEEP_AXIS, AutoOrInt
from rnndyn._validate import InputError

NOT_SAVED = ("note: without --out nothing is saved (a killed sweep loses its tasks); "
             "--out DIR keeps every finished task there and makes the sweep resumable")


def executor_options(f):
    """``--scheduler`` and ``--dask-workers``: where the runner of rnndyn._runner runs the
    tasks (``rnndyn study`` takes them too: one runner, one pair of options)."""
    f = click.option("--dask-workers", type=int, default=None,
                     help="Start a Dask LocalCluster of this many workers on 127.0.0.1 and "
                          "run there.")(f)
    return click.option("--scheduler", default=None,
                        help="Address of a running dask.distributed scheduler to run the "
                             "tasks on.")(f)


def check_executor(workers, scheduler, dask_workers):
    """The options of :func:`executor_options` and ``--workers``, checked (InputError)."""
    if scheduler is not None and dask_workers is not None:
        raise InputError("give --scheduler or --dask-workers, not both")
    if dask_workers is not None and dask_workers < 1:
        raise InputError(f"--dask-workers must be >= 1, got {dask_workers}")
    if workers is not None and workers < 0:
        raise InputError(f"--workers must be >= 0, got {workers}")


def in_process(workers, scheduler, dask_workers):
    """True when the tasks run in this process (``--workers 0``, no Dask)."""
    return workers == 0 and scheduler is None and dask_workers is None


def notice_unless(quiet):
    """Where the runner's line about recomputed stale tasks goes: stderr, or nowhere."""
    return (lambda line: None) if quiet else (lambda line: click.echo(line, err=True))


def _measures_text():
    from rnndyn.sweep import MEASURES
    width = max(len(m) for m in MEASURES)
    return [f"{m.name:{width}s}  {m.help} [{m.units}]" for m in MEASURES.values()]


@click.command(context_settings=CONTEXT_SETTINGS)
@click.option("--param", "params", type=SWEEP_AXIS, multiple=True,
              help="A swept parameter NAME=VALUES, repeatable: a,b,c or START:STOP:NUM. "
                   "Names: gain, input_scale, n, activation, form, init, bias_scale, "
                   "length (train-* measures). The axes keep this order.")
@click.option("--grid-file", type=click.Path(dir_okay=False), default=None,
              help="TOML file with a [grid] table (name = \"START:STOP:NUM\" or "
                   "[values]) and optional seeds = INT, measures = [names]; its axes "
                   "come before the --param ones.")
@click.option("--seeds", type=int, default=None,
              help="Seeds per grid point: --seed, --seed+1, … (the seed axis) "
                   "[default: 1, or the grid file's].")
@click.option("--measure", "measures", multiple=True,
              help="A measure to compute at every point, repeatable (see "
                   "--list-measures) [default: lyapunov-top, or the grid file's].")
@click.option("--list-measures", is_flag=True, help="List the measures and exit.")
@click.option("--n", "n", type=int, default=50, help="Number of units N (when not swept).")
@click.option("--gain", type=float, default=1.0, help="Gain g (when not swept).")
@click.option("--activation", type=click.Choice(ACTIVATIONS, case_sensitive=False),
              default="tanh", help="Activation (when not swept).")
@click.option("--form", type=click.Choice(FORMS, case_sensitive=False), default="pascanu",
              help="Update form (when not swept).")
@click.option("--init", type=click.Choice(INITS, case_sensitive=False), default="gaussian",
              help="Initialiser (when not swept).")
@click.option("--input-scale", type=float, default=0.0,
              help="Std of the Gaussian inputs u_t (when not swept); 0: autonomous.")
@click.option("--bias-scale", type=float, default=0.0,
              help="Std of the biases b ~ N(0, s²) (when not swept).")
@click.option("--n-inputs", type=int, default=1, help="Number of inputs M.")
@click.option("--length", type=int, default=20,
              help="Sequence length of the training task (train-* measures; when not "
                   "swept).")
@click.option("--steps", type=int, default=1000,
              help="Steps T averaged over (Lyapunov) or the gradient flow's length.")
@click.option("--transient", type=int, default=100, help="Steps run first and discarded.")
@click.option("--k", "k", type=int, default=None,
              help="Exponents of lyapunov-spectrum (the top k) [default: the smallest N].")
@click.option("--task", default="temporal-order", help="Training task (train-* measures).")
@click.option("--method", default="sgd-c", help="sgd, sgd-c or sgd-cr (train-* measures).")
@click.option("--updates", "budget", type=int, default=2000,
              help="Updates per training run (the budget of the train-* measures).")
@click.option("--eval-size", type=int, default=1000,
              help="Fresh sequences per success test (train-* measures).")
@click.option("--n-starts", type=int, default=32, help="Starts of n-fixed-points.")
@click.option("--batch", type=AutoOrInt(1), default="auto",
              help="Grid points per task (auto: 1 for heavy measures, up to 64 for cheap "
                   "ones); part of the plan.")
@click.option("--workers", type=int, default=None,
              help="Local worker processes, 1 thread each; 0 runs in this process "
                   "[default: the free cores].")
@executor_options
@common_options
# main thread, as for `rnndyn study`: the pool's SIGTERM handling and its workers'
# PR_SET_PDEATHSIG follow the thread that starts them
@cli_errors(interruptible=False)
def sweep(params, grid_file, seeds, measures, list_measures, n, gain, activation, form, init,
          input_scale, bias_scale, n_inputs, length, steps, transient, k, task, method,
          budget, eval_size, n_starts, batch, workers, scheduler, dask_workers, seed, out,
          fmt, as_json, quiet, overwrite):
    """Compute one or more measures over a grid of parameters × seeds.

    The grid is every combination of the --param axes (and the --grid-file's),
    times --seeds seeds; the options --n, --gain, --activation, … fix what is not
    swept. Every point is a seeded random network (weights: its seed; x0: seed+1;
    inputs: seed+2; biases: seed+3), so gains share their weight draw W = g W0.

    Points are batched into tasks run by --workers local processes, or on Dask
    (--scheduler ADDRESS, or --dask-workers N for a LocalCluster on 127.0.0.1);
    the results are the same bit for bit.

    With --out DIR every finished task is saved at once in DIR/tasks/, and the
    same command started again computes only what is missing (a killed sweep
    loses nothing finished; a task computed by other rnndyn code, whose source
    stamp differs, is computed again, said in one line on stderr); a different
    plan on the folder is refused, naming what differs (--overwrite discards it). At the end DIR/sweep.nc (netCDF,
    an xarray Dataset: one dimension per parameter, then seed, then a measure's
    own, e.g. exponent), DIR/sweep.json and DIR/sweep.<format> (a heat map of the
    mean over seeds for two parameters, with a contour at 0 for exponents and
    rates; a line with the seeds' spread for one) are written. Without --out
    nothing is written and no figure is drawn.

    --json prints {dims (dimension names in order, seed among them), coords
    ({dim: values}), data ({variable: nested list in the order of its dims}),
    var_dims ({variable: dims}), n_points, n_tasks, n_computed (tasks computed by
    this call), n_reused, folder, files}; non-finite numbers are null.
    """
    if list_measures:
        from rnndyn.io import dumps
        from rnndyn.sweep import list_measures as listing
        if as_json:
            click.echo(dumps({"measures": [{"name": a, "help": b, "units": c}
                                           for a, b, c in listing()]}))
        else:
            click.echo("\n".join(_measures_text()))
        return
    from rnndyn import sweep as sw
    check_executor(workers, scheduler, dask_workers)
    if out is not None and not str(out).strip():
        raise InputError("--out: empty folder name; give a folder, or leave --out out to "
                         "run in memory")
    grid, file_seeds, file_measures = [], None, None
    if grid_file is not None:
        doc = sw.read_grid_file(grid_file)
        grid, file_seeds, file_measures = list(doc["grid"]), doc["seeds"], doc["measures"]
    taken = {name for name, _ in grid}
    for name, values in params:
        if name in taken:
            raise InputError(f"--param {name}: {name} is swept twice")
        taken.add(name)
        grid.append((name, values))
    fixed = dict(n=n, gain=gain, activation=activation, form=form, init=init,
                 input_scale=input_scale, bias_scale=bias_scale, length=length)
    fixed = {key: value for key, value in fixed.items() if key not in taken}
    # the whole plan is checked here, before any folder is made or any task runs
    plan = sw.plan_sweep(grid, seeds=seeds if seeds is not None else (file_seeds or 1),
                         measures=list(measures) or file_measures or ["lyapunov-top"],
                         seed=seed, fixed=fixed, batch=batch, steps=steps,
                         transient=transient, n_inputs=n_inputs, k=k, task=task,
                         method=method, budget=budget, eval_size=eval_size,
                         n_starts=n_starts)
    workers = sw.free_cores() if workers is None else workers
    show = not (quiet or as_json)
    record = provenance({"seed": seed})
    files, stats = [], {}
    run = dict(workers=workers, scheduler=scheduler, dask_workers=dask_workers,
               provenance=record, stats=stats, notice=notice_unless(quiet))
    if out is None:
        if not quiet:
            click.echo(NOT_SAVED, err=True)
        with progress(plan["n_tasks"], quiet=not show, label="tasks") as advance:
            ds = sw.run_sweep(plan, None, progress=advance, **run)
        _report(ds, plan, stats, None, files, as_json, quiet)
        return
    ds = _finished_sweep(sw, out, plan, overwrite)
    if ds is not None:
        stats.update(n_tasks=plan["n_tasks"], n_computed=0, n_reused=plan["n_tasks"])
        _report(ds, plan, stats, out, files, as_json, quiet)
        return
    from rnndyn.io import check_target
    targets = sw.paths(out, fmt)
    for path in targets.values():
        check_target(path, overwrite)
    n_done = sw.count_finished(plan, out, in_process=in_process(workers, scheduler,
                                                                 dask_workers))
    if show and n_done:
        click.echo(f"resuming: {n_done} of {plan['n_tasks']} tasks already finished in "
                   f"{os.path.join(out, sw.TASKS_FOLDER)}", err=True)
    from rnndyn._folder_lock import clean_stale_temp, folder_lock
    # the folder's lock (re-entrant: run_sweep takes it again) covers the final files too
    with folder_lock(os.path.join(out, sw.TASKS_FOLDER), f"--out {out}"):
        clean_stale_temp(out, [os.path.basename(p) for p in targets.values()])
        try:
            with progress(plan["n_tasks"] - n_done, quiet=not show, label="tasks") as advance:
                ds = sw.run_sweep(plan, out, overwrite=overwrite, progress=advance, **run)
        except KeyboardInterrupt:
            if not quiet:
                click.echo(f"stopped: the finished tasks are kept in "
                           f"{os.path.join(out, sw.TASKS_FOLDER)}; the same command resumes",
                           err=True)
            sys.exit(130)
        files = sw.save(ds, out, overwrite=overwrite)
        from rnndyn.figures.style import style_context
        with style_context():
            files.append(save_figure(sw.plot(ds), targets["figure"], overwrite))
    _report(ds, plan, stats, out, files, as_json, quiet)


def _finished_sweep(sw, out, plan, overwrite):
    """The saved Dataset of ``out`` when it holds this plan's finished sweep (else None;
    another plan's finished sweep is an error without --overwrite)."""
    target = sw.paths(out)
    if overwrite or not os.path.exists(target["json"]):
        return None
    ds = sw.load(out)
    diffs = sw.plan_differences(sw.plan_of(ds), plan)
    if diffs:
        raise InputError(f"--out {out} holds a finished sweep with another plan "
                         f"({'; '.join(diffs)}); use another --out, or --overwrite")
    return ds


def _report(ds, plan, stats, out, files, as_json, quiet):
    from rnndyn import sweep as sw
    payload = sw.to_json(ds)
    payload.update(n_points=plan["n_points"], n_tasks=plan["n_tasks"],
                   n_computed=stats.get("n_computed"), n_reused=stats.get("n_reused"),
                   folder=None if out is None else os.fspath(out), files=files)
    lines = ["sweep: " + " × ".join(f"{d} {ds.sizes[d]}" for d in payload["dims"])
             + f" ({plan['n_points']} points, {plan['n_tasks']} tasks, "
             f"{stats.get('n_computed')} computed now)"]
    import numpy as np
    for name, var in ds.data_vars.items():
        v = var.values.astype(float)
        finite = v[np.isfinite(v)]
        if finite.size:
            lines.append(f"{name}: mean {finite.mean():.4g}, min {finite.min():.4g}, "
                         f"max {finite.max():.4g}"
                         + (f" ({v.size - finite.size} non-finite)"
                            if finite.size < v.size else ""))
        else:
            lines.append(f"{name}: no finite value")
    lines += [f"wrote {f}" for f in files]
    emit(payload, as_json=as_json, quiet=quiet, lines=lines)
