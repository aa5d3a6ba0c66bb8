"""``rnndyn basins``: basins of attraction on a grid of initial states."""

import click

from rnndyn.cli.fixedpoints import U_HELP, constant_input
from rnndyn.cli.types import NUMBERS, PAIR, SPAN
from rnndyn.cli.options import (draw_if, CONTEXT_SETTINGS, cli_errors, common_options, emit,
                                model_options, output_paths, save_outputs, provenance)


@click.command(context_settings=CONTEXT_SETTINGS)
@model_options(n=2, gain=2.0)
@click.option("--u", "u", type=NUMBERS, default=None, help=U_HELP)
@click.option("--xlim", type=SPAN, default="-3:3", help="Range LOW:HIGH along the first axis.")
@click.option("--ylim", type=SPAN, default="-3:3",
              help="Range LOW:HIGH along the second axis (a state of 2 or more numbers).")
@click.option("--grid", type=click.IntRange(min=2), default=200,
              help="Cells per axis (grid × grid; grid cells for one neuron).")
@click.option("--axes", type=PAIR, default="0,1",
              help="The two state coordinates spanning the slice 'i,j' (others fixed at "
                   "--base); for --cell lstm, 0..N-1 are h and N..2N-1 are c.")
@click.option("--base", type=NUMBERS, default=None,
              help="Base point of the slice: S comma-separated numbers, S the state size (N; "
                   "2N for --cell lstm) [default: zeros].")
@click.option("--max-steps", type=click.IntRange(min=1), default=2000,
              help="Iterations before a cell counts as unsettled.")
@click.option("--max-period", type=click.IntRange(min=1), default=16,
              help="Longest cycle looked for.")
@common_options
@cli_errors
def basins(**opts):
    """Label a grid of initial states by the attractor each reaches (fixed point,
    p-cycle, divergence) and extract the basin boundary.

    The map is the cell's step under the constant input --u: for a vanilla cell
    x ← F(x), for --cell gru the state h, for --cell lstm the state (h, c) (2N
    numbers, h first). For a state of one number (one vanilla or GRU unit) the
    grid is a line over --xlim; for two a plane; for more a 2-D slice through
    --base spanned by the state coordinates --axes.

    With --out DIR, writes basins.npz/.json, basins.<format> and the network
    (basins.weights.npz) there; without it, nothing.

    --json prints {attractors: [{label, kind ('fixed point' or 'cycle'),
    period, x, cycle, cells, max_multiplier}], label_counts: {label: cells,
    divergence, unsettled}, boundary_cells, grid [ny, nx], model, provenance, files}.
    """
    import numpy as np
    from rnndyn.basins import basins as run
    from rnndyn.cli.options import build_model, progress
    from rnndyn.figures import basins as recipe
    paths = output_paths(opts["out"], "basins", opts["fmt"], opts["overwrite"])
    rnn = build_model(opts)
    u = constant_input(opts["u"], rnn)
    axes = opts["axes"]
    base = opts["base"]
    quiet = opts["quiet"] or opts["as_json"]
    # the grid is a line when the state is one number (a one-unit vanilla cell or GRU)
    rows = opts["grid"] if rnn.S > 1 else 1
    with progress(rows, quiet=quiet, label="basins (grid rows)") as advance:
        result = run(rnn, u, xlim=opts["xlim"],
                     ylim=opts["ylim"], nx=opts["grid"],
                     axes=axes if rnn.S > 1 else axes[:1], base=base,
                     max_steps=opts["max_steps"], max_period=opts["max_period"],
                     callback=advance)
    fig = draw_if(paths, lambda: recipe.plot(result))
    files = save_outputs(result, fig, paths, opts["overwrite"], opts)
    counts = result.label_counts()
    payload = {"attractors": result.attractors, "label_counts": counts,
               "boundary_cells": int(np.count_nonzero(result.boundary)),
               "grid": list(result.labels.shape), "model": rnn.describe(), "provenance": provenance(opts),
               "files": files}
    lines = [f"{len(result.attractors)} attractor(s) on a {result.labels.shape[0]}×"
             f"{result.labels.shape[1]} grid"]
    for a in result.attractors:
        kind = "fixed point" if a["period"] == 1 else f"{a['period']}-cycle"
        lines.append(f"  {a['label']}: {kind:12s} {a['cells']} cells  "
                     f"max |multiplier| {a['max_multiplier']:.3g}")
    lines.append(f"  divergence: {counts['divergence']} cells, unsettled: "
                 f"{counts['unsettled']} cells")
    lines += [f"wrote {f}" for f in files]
    emit(payload, as_json=opts["as_json"], quiet=opts["quiet"], lines=lines)
