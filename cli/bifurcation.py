"""``rnndyn bifurcation``: the one-neuron map x ← w σ(x) + b swept in b or w (orbit
diagram, fixed points, fold and flip points), or the (w, b) plane."""

import click

from rnndyn.cli.options import (CONTEXT_SETTINGS, cli_errors, common_options, emit,
                                output_paths, save_outputs)
from rnndyn.cli.types import GRID, NUMBERS
from rnndyn._validate import InputError

ACTIVATIONS = ("tanh", "sigmoid")


def _fixed_point_info(x, mult, stable):
    """Per parameter point: the fixed points with multiplier and stability (JSON-able)."""
    import numpy as np
    out = []
    for i in range(x.shape[0]):
        ok = np.isfinite(x[i])
        out.append([{"x": float(x[i, k]), "multiplier": float(mult[i, k]),
                     "stable": bool(stable[i, k])} for k in np.flatnonzero(ok)])
    return out


def _one_parameter(r, files):
    import numpy as np
    kinds = {-1: "divergent", 0: "unresolved", 1: "fixed point", 2: "period 2"}
    counts = {}
    for p in r.period.ravel():
        key = kinds.get(int(p), f"period {int(p)}")
        counts[key] = counts.get(key, 0) + 1
    n = np.sum(np.isfinite(r.fixed_points), axis=1)
    payload = {
        "mode": "sweep", "activation": r.activation, "parameter": r.parameter,
        "w": r.w.tolist(), "b": r.b.tolist(), "x0": r.x0.tolist(),
        "bifurcations": r.bifurcations,
        "fixed_points": _fixed_point_info(r.fixed_points, r.multiplier, r.stable),
        "n_fixed_points": n.tolist(),
        "boundary": r.boundary.tolist(),
        "attractors": counts,
        "files": files,
    }
    v = r.values
    lines = [f"{r.activation} neuron, {r.parameter} swept over [{v.min():g}, {v.max():g}] "
             f"({v.size} values), {'w' if r.parameter == 'b' else 'b'} = "
             f"{(r.w if r.parameter == 'b' else r.b)[0]:g}"]
    lines += [f"  {p['type']:5s} at w = {p['w']:.10g}, b = {p['b']:.10g}, x = {p['x']:.10g}"
              for p in r.bifurcations] or ["  no fold, flip or pitchfork point in the range"]
    per = ", ".join(f"{int(k)} at {int(c)} values" for k, c in zip(*np.unique(n, return_counts=True)))
    lines.append(f"  fixed points: {per}")
    lines.append("  orbits: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    lines += [f"wrote {f}" for f in files]
    return payload, lines


def _two_parameter(r, files):
    import numpy as np
    from rnndyn.neuron import bifurcation_points
    span = (float(r.b.min()), float(r.b.max()))
    bif = [p for wv in r.w for p in bifurcation_points(float(wv), span, r.activation)]
    regions = {name: int(np.sum(r.region == i)) for i, name in enumerate(r.region_names)}
    payload = {"mode": "plane", "activation": r.activation, "w": r.w.tolist(),
               "b": r.b.tolist(), "bifurcations": bif, "cusp": r.cusp, "regions": regions,
               "n_stable_fixed_points": r.n_stable_fixed.tolist(), "files": files}
    lines = [f"{r.activation} neuron, (w, b) grid {r.w.size} x {r.b.size}; "
             f"cusp at w = {r.cusp['w']:g}, b = {r.cusp['b']:g}",
             f"  {len(bif)} fold/flip points on the grid's w lines"]
    lines += [f"  {name}: {cells} cells" for name, cells in regions.items()]
    lines += [f"wrote {f}" for f in files]
    return payload, lines


@click.command(context_settings=CONTEXT_SETTINGS)
@click.option("--w", "w_spec", type=GRID, default="5", help="Recurrent weight w: a VALUE or START:STOP:NUM.")
@click.option("--b", "b_spec", type=GRID, default="-3.2:-1.8:701",
              help="Bias b: a VALUE or START:STOP:NUM.")
@click.option("--activation", default="sigmoid",
              help="Activation σ: tanh or sigmoid.")
@click.option("--transient", "n_transient", type=int, default=1000,
              help="Iterations discarded before recording.")
@click.option("--record", "n_record", type=int, default=64,
              help="Iterations recorded per orbit.")
@click.option("--x0", "x0_spec", type=NUMBERS, default="-5,5",
              help="Initial states of the orbits, comma-separated (each run at every "
                   "parameter value; the default reaches both branches).")
@click.option("--max-period", type=int, default=16, help="Longest period looked for.")
@click.option("--n-initial", type=int, default=8,
              help="(w, b) plane only: initial states per cell of the attractor census.")
@common_options
@cli_errors
def bifurcation(w_spec, b_spec, activation, n_transient, n_record, x0_spec, max_period,
                n_initial, seed, out, fmt, as_json, quiet, overwrite):
    """One neuron x ← w σ(x) + b: orbit diagram, all fixed points with their
    stability, the basin boundary, and the fold (w σ'(x*) = 1) and flip
    (w σ'(x*) = −1) points (Pascanu et al. 2013, §2.2).

    Give one of --w/--b as START:STOP:NUM to sweep it (the orbit diagram), or
    both to map the (w, b) plane (fold/flip curves, cusp, attractor regions).
    No randomness is involved: --seed is accepted for uniformity and unused.

    With --out DIR, writes DIR/bifurcation.npz + .json (data) and
    DIR/bifurcation.FORMAT; without it, nothing.

    \b
    --json keys, sweep (one range):
      mode            "sweep"
      activation, parameter ("b" or "w"), w, b, x0
      bifurcations    [{type: fold|flip|pitchfork, w, b, x, multiplier}] inside the range
      fixed_points    per value: [{x, multiplier (w σ'(x)), stable}]
      n_fixed_points  per value; boundary: the basin boundary per value (nan if none)
      attractors      {kind: count} over all orbits (fixed point, period 2, ...)
      files           paths written
    --json keys, plane (two ranges):
      mode            "plane"
      activation, w, b, cusp {x, w, b}
      bifurcations    [{type, w, b, x, multiplier}] on every grid line w = w_i
      regions         {name: cells}; n_stable_fixed_points [i][j] at (w[i], b[j])
      files           paths written
    """
    import numpy as np
    from rnndyn._validate import as_choice
    from rnndyn.figures.style import new_figure, style_context

    act = as_choice(activation, "--activation", ACTIVATIONS)
    w, b, x0 = w_spec, b_spec, np.array(x0_spec)
    for name, value, low in (("--transient", n_transient, 0), ("--record", n_record, 3),
                             ("--max-period", max_period, 1), ("--n-initial", n_initial, 2)):
        if value < low:
            raise InputError(f"{name} must be >= {low}, got {value}")
    paths = output_paths(out, "bifurcation", fmt, overwrite)
    if w.size > 1 and b.size > 1:
        from rnndyn.bifurcation import two_parameter_diagram
        from rnndyn.figures.neuron_wb_plane import draw
        result = two_parameter_diagram(w, b, activation=act, n_initial=n_initial,
                                       n_transient=n_transient, n_record=n_record)
        summarise, figsize = _two_parameter, (7.4, 4.2)
    else:
        from rnndyn.bifurcation import bifurcation_diagram
        from rnndyn.figures.neuron_bifurcation import draw
        result = bifurcation_diagram(w if w.size > 1 else w[0], b if b.size > 1 else b[0],
                                     activation=act, x0=x0, n_transient=n_transient,
                                     n_record=n_record, max_period=max_period)
        summarise, figsize = _one_parameter, (5.2, 3.8)
    files = []
    if paths is not None:
        with style_context():
            fig, axes = new_figure(1, 1, figsize=figsize)
            draw(axes[0, 0], result)
            files = save_outputs(result, fig, paths, overwrite, {"seed": None})
    data, text = summarise(result, files)
    emit(data, as_json=as_json, quiet=quiet, lines=text)
