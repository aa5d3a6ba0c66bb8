"""``rnndyn continuation``: a fixed-point branch in one parameter, with bifurcations."""

import click

from rnndyn.cli.fixedpoints import U_HELP, constant_input
from rnndyn.cli.types import INDEX, NUMBERS
from rnndyn.cli.options import (draw_if, CONTEXT_SETTINGS, cli_errors, common_options, emit,
                                model_options, output_paths, progress, save_outputs, provenance)
from rnndyn._validate import InputError


def _index(text, parameter):
    if parameter not in ("bias", "weight"):
        return None
    if text is None:
        raise InputError(f"--index is required with --param {parameter} "
                         f"({'i' if parameter == 'bias' else 'i,j'})")
    vals = list(text)
    want = 1 if parameter == "bias" else 2
    if len(vals) != want:
        raise InputError(f"--index must have {want} integer(s) for --param {parameter}, "
                         f"got {','.join(map(str, vals))!r}")
    return vals[0] if want == 1 else tuple(vals)


@click.command(context_settings=CONTEXT_SETTINGS)
@model_options
@click.option("--param", "parameter", type=click.Choice(("gain", "bias", "input", "weight")),
              default="gain", help="Parameter p: gain (W → pW), bias (b[i] = p), input "
                                   "(drive + p·direction), weight (W[i,j] = p).")
@click.option("--index", type=INDEX, default=None, help="Which entry: 'i' for bias, 'i,j' for weight.")
@click.option("--direction", type=NUMBERS, default=None,
              help="Input direction d (N comma-separated numbers) for --param input "
                   "[default: U[:,0], or (1,…,1)/√N without inputs].")
@click.option("--u", "u", type=NUMBERS, default=None, help=U_HELP)
@click.option("--start", type=float, default=None,
              help="Starting value of p [default: the model's: gain 1, b[i], 0, W[i,j]].")
@click.option("--stop", type=float, default=None,
              help="Stop when p reaches this value [default: only --points limits].")
@click.option("--x0", default="zero",
              help="Guess of the starting fixed point: zero, random (seeded), N "
                   "comma-separated numbers or a FILE.npy.")
@click.option("--points", type=click.IntRange(min=2), default=200,
              help="Maximum number of branch points.")
@click.option("--step", type=click.FloatRange(min=0.0, min_open=True), default=0.01,
              help="Initial pseudo-arclength step.")
@click.option("--max-step", type=click.FloatRange(min=0.0, min_open=True), default=0.1,
              help="Largest pseudo-arclength step.")
@common_options
@cli_errors
def continuation(**opts):
    """Continue a fixed-point branch in one parameter (pseudo-arclength) and
    locate its fold, flip and Neimark–Sacker points.

    The branch goes around folds; eigenvalues of ∂F/∂x are monitored at every
    point; a real eigenvalue through +1 (fold), through −1 (flip) or a complex
    pair through |λ| = 1 (Neimark–Sacker) is located by Brent's method on
    the arclength.

    With --out DIR, writes continuation.npz/.json, continuation.<format> and the
    network (continuation.weights.npz) there; without it, nothing.

    \b
    --json prints one object with the keys
      parameter, n_points, range [min p, max p], stable_fraction,
      stop_reason, model, provenance, files, and
      bifurcations: [{type: fold | flip | neimark-sacker,
        parameter (its name), value, <name>: value, x,
        eigenvalue [re, im], index, limit_point (folds only),
        angle (neimark-sacker only)}].
    """
    import numpy as np
    from rnndyn.cli.options import build_model
    from rnndyn.continuation import continuation as run
    from rnndyn.figures import continuation as recipe
    paths = output_paths(opts["out"], "continuation", opts["fmt"], opts["overwrite"])
    rnn = build_model(opts)
    u = constant_input(opts["u"], rnn)
    index = _index(opts["index"], opts["parameter"])
    direction = opts["direction"]
    from rnndyn.cli.options import build_x0
    x0 = None if opts["x0"] == "zero" else build_x0(opts, rnn)
    quiet = opts["quiet"] or opts["as_json"]
    with progress(opts["points"] - 1, quiet=quiet, label="continuation") as advance:
        result = run(rnn, opts["parameter"], index=index, direction=direction, u=u,
                     start=opts["start"], stop=opts["stop"], x0=x0, n_points=opts["points"],
                     step=opts["step"], max_step=max(opts["max_step"], opts["step"]),
                     callback=advance)
    fig = draw_if(paths, lambda: recipe.plot(result))
    files = save_outputs(result, fig, paths, opts["overwrite"], opts)
    payload = {"parameter": result.parameter, "bifurcations": result.bifurcations,
               "n_points": len(result.values),
               "range": [float(result.values.min()), float(result.values.max())],
               "stable_fraction": float(np.mean(result.stable)),
               "stop_reason": result.stop_reason, "model": rnn.describe(), "provenance": provenance(opts),
               "files": files}
    lines = [f"{len(result.values)} branch points, {result.parameter} in "
             f"[{payload['range'][0]:.6g}, {payload['range'][1]:.6g}] ({result.stop_reason})"]
    for b in result.bifurcations:
        lines.append(f"  {b['type']:15s} at {result.parameter} = {b['value']:.12g}")
    lines += [f"wrote {f}" for f in files]
    emit(payload, as_json=opts["as_json"], quiet=opts["quiet"], lines=lines)
