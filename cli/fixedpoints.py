"""``rnndyn fixedpoints``: fixed points and slow points under a constant input."""

import click

from rnndyn.cli.options import (draw_if, CONTEXT_SETTINGS, cli_errors, common_options, emit,
                                model_options, output_paths, progress, save_outputs, provenance)
from rnndyn._validate import InputError
from rnndyn.cli.types import NUMBERS


def constant_input(text, rnn):
    """The --u option (numbers) as an array of shape (M,) (one number is broadcast),
    or None."""
    import numpy as np
    vals = None if text is None else list(text)
    if vals is None:
        return None
    if rnn.M == 0:
        raise InputError("--u needs a model with inputs: pass --n-inputs M > 0 or a weights "
                         "file with U")
    if len(vals) == 1:
        vals = vals * rnn.M
    if len(vals) != rnn.M:
        raise InputError(f"--u must have 1 or {rnn.M} values, got {len(vals)}")
    return np.array(vals)


U_HELP = ("Constant input u: one number for every input channel, or M comma-separated "
          "numbers [default: zeros].")


@click.command(context_settings=CONTEXT_SETTINGS)
@model_options
@click.option("--u", "u", type=NUMBERS, default=None, help=U_HELP)
@click.option("--starts", type=click.IntRange(min=1), default=64,
              help="Number of seeded starts (half trajectory states, half random).")
@click.option("--slow-q", type=click.FloatRange(min=0.0), default=1e-4,
              help="Minima of q = ½‖F(x) − x‖² up to this value are reported as slow points.")
@common_options
@cli_errors
def fixedpoints(**opts):
    """Find the fixed points of x ← F(x) (constant input) and classify them.

    F is the cell's step under the constant input --u: a vanilla map, or for
    --cell gru|lstm the gated step on the whole state (GRU h; LSTM (h, c), 2N
    numbers, h first: each x below is the whole state). Minimises
    q(x) = ½‖F(x) − x‖² from many seeded starts, polishes with Newton
    (residual <= 1e-12), deduplicates and classifies each point by the
    eigenvalues of the Jacobian: stable, saddle (with its unstable dimension),
    unstable or marginal. Slow points are minima of q with 0 < q <= --slow-q.

    With --out DIR, writes fixedpoints.npz/.json, fixedpoints.<format> and the
    network (fixedpoints.weights.npz) there; without it, nothing.

    --json prints {n_fixed_points, fixed_points: [{x, kind, n_unstable,
    spectral_radius, residual}], n_slow_points, slow_points: [{x, q}],
    model, provenance, files}.
    """
    from rnndyn.cli.options import build_model
    from rnndyn.fixedpoints import fixed_points
    from rnndyn.figures import fixedpoints as recipe
    paths = output_paths(opts["out"], "fixedpoints", opts["fmt"], opts["overwrite"])
    rnn = build_model(opts)
    u = constant_input(opts["u"], rnn)
    quiet = opts["quiet"] or opts["as_json"]
    with progress(opts["starts"], quiet=quiet, label="fixed points") as advance:
        result = fixed_points(rnn, u, n_starts=opts["starts"], slow_q=opts["slow_q"],
                              seed=opts["seed"], callback=advance)
    fig = draw_if(paths, lambda: recipe.plot(result))
    files = save_outputs(result, fig, paths, opts["overwrite"], opts)
    summary = result.summary()
    payload = {"n_fixed_points": len(result.points), "fixed_points": summary["fixed_points"],
               "n_slow_points": len(result.slow_points), "slow_points": summary["slow_points"],
               "model": rnn.describe(), "provenance": provenance(opts),
               "files": files}
    lines = [f"{len(result.points)} fixed point(s), {len(result.slow_points)} slow point(s)"]
    for k, fp in enumerate(summary["fixed_points"]):
        lines.append(f"  {k}: {fp['kind']:8s} unstable dim {fp['n_unstable']:3d}  "
                     f"ρ = {fp['spectral_radius']:.4f}  |x| = "
                     f"{sum(v * v for v in fp['x']) ** 0.5:.4f}")
    lines += [f"wrote {f}" for f in files]
    emit(payload, as_json=opts["as_json"], quiet=opts["quiet"], lines=lines)
