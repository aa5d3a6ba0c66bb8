"""The stacked-model path of ``rnndyn gradflow`` (--layers, --hidden, --skip,
--bidirectional, or --weights of a stacked PyTorch module): the depth map
‖∂h^L_T/∂h^l_{T−lag}‖₂ beside the joint state's norm, or for a bidirectional stack the
gradient reaching each input position from both ends (issue 12)."""

import os

import click

from rnndyn._validate import InputError

SKIPS = ("none", "residual", "dense")


def stack_options(f):
    """--layers, --hidden, --skip, --bidirectional."""
    from rnndyn.cli.types import Numbers
    for option in reversed((
            click.option("--layers", type=click.IntRange(min=1), default=1,
                         help="Layers L of a stacked model (each --cell, --n units unless "
                              "--hidden gives the sizes)."),
            click.option("--hidden", type=Numbers(int, metavar="N1,N2,..."), default=None,
                         help="Units per layer, bottom first (sets L)."),
            click.option("--skip", type=click.Choice(SKIPS), default="none",
                         help="Connections between layers: none, residual (h^l += h^{l-1}, "
                              "a truncated identity where sizes differ) or dense (each layer "
                              "takes the input and every lower layer's output)."),
            click.option("--bidirectional", is_flag=True,
                         help="Every layer runs forward and backward in time, outputs "
                              "concatenated (PyTorch's bidirectional modules)."))):
        f = option(f)
    return f


def wants_stack(opts):
    """Whether the options name a stacked model (or --weights holds one)."""
    if (opts.get("layers") or 1) > 1 or len(opts.get("hidden") or ()) > 1 \
            or opts.get("skip", "none") != "none" or opts.get("bidirectional"):
        return True
    if opts.get("weights"):
        from rnndyn.stack import Stack, load_stack
        return isinstance(load_stack(opts["weights"]), Stack)
    return False


def layer_sizes(opts):
    """[N_1, …, N_L] from --hidden, or --layers layers of --n units (they must agree)."""
    hidden = list(opts.get("hidden") or [opts["n"]] * (opts.get("layers") or 1))
    if opts.get("hidden") and (opts.get("layers") or 1) not in (1, len(hidden)):
        raise InputError(f"--layers {opts['layers']} and --hidden with {len(hidden)} "
                         "sizes disagree; give one of them")
    return hidden


def build_stack(opts):
    """The Stack the options name (seeded random, or --weights), noted in the provenance."""
    from rnndyn.cli.options import _forget_bias, _note
    from rnndyn.io import file_sha256
    from rnndyn.stack import as_stack, load_stack, make_stack
    if opts.get("weights"):
        stack = as_stack(load_stack(opts["weights"]))
        network = {"weights": os.path.abspath(opts["weights"]),
                   "sha256": file_sha256(opts["weights"])}
    else:
        hidden = layer_sizes(opts)
        cell = opts.get("cell") or "vanilla"
        kw = {}
        if cell == "vanilla":
            kw = {"activation": opts.get("activation") or "tanh",
                  "form": opts.get("form") or "pascanu"}
        else:
            kw = {"forget_bias": _forget_bias(opts.get("forget_bias", 0.0)),
                  "chrono_t_max": opts.get("chrono_t_max")}
        network = {"init": opts.get("init", "gaussian"), "hidden": hidden, "cell": cell,
                   "skip": opts.get("skip", "none"),
                   "bidirectional": bool(opts.get("bidirectional")),
                   "n_inputs": opts.get("n_inputs", 0), "gain": opts.get("gain", 1.0),
                   "seed": opts.get("seed", 0), **kw}
        stack = make_stack(hidden, cell=cell, skip=network["skip"],
                           bidirectional=network["bidirectional"],
                           n_inputs=network["n_inputs"], init=network["init"],
                           gain=network["gain"], seed=network["seed"], **kw)
    network["model"] = stack.describe()
    _note(opts, "network", network)
    _note(opts, "_rnn", stack)
    return stack


def run(opts, T, paths):
    """gradflow on a stack: returns (payload, summary lines, result)."""
    import numpy as np
    from rnndyn.cli.options import _note, build_inputs, save_outputs
    from rnndyn.gradflow_depth import depth_gradient_flow
    from rnndyn.stack import initial_state
    for name in ("k_singular", "fit"):
        if opts.get(name):
            raise InputError(f"--{name.replace('_', '-')} is not available for a stacked "
                             "model (its depth map is reported instead)")
    if opts.get("delta", "none") != "none":
        raise InputError("--delta is not available for a stacked model")
    stack = build_stack(opts)
    spec = opts.get("x0", "random")
    if spec not in ("zero", "random"):
        raise InputError("--x0 of a stacked model: zero or random")
    x0 = initial_state(stack, spec, seed=opts.get("seed", 0) + 1)
    _note(opts, "x0", {"kind": spec, "seed": opts.get("seed", 0) + 1})
    u = build_inputs(opts, stack)
    if stack.bidirectional:
        return _run_bidirectional(opts, stack, x0, T, u, paths)
    res = depth_gradient_flow(stack, x0, T, u, seed=opts.get("seed", 0))
    fig = None
    if paths is not None:
        fig = plot_depth(res)
    files = save_outputs(res, fig, paths, opts["overwrite"], opts)
    from rnndyn.cli.options import provenance
    payload = {"lag": res.lag, "log10_norm": res.log10_norm,
               "depth_log10_norm": res.depth_log10_norm, "finite": res.finite,
               "states_finite": res.states_finite, "overflow_step": res.overflow_step,
               "model": stack.describe(), "provenance": provenance(opts), "files": files}
    bottom = res.depth_log10_norm[0]
    lines = [f"gradflow: {stack.label}, layers {stack.hidden}, T = {T}",
             f"  log10 ‖∂h^L_T/∂h^1_T‖₂ (depth only, lag 0) = {bottom[0]:.6g}",
             f"  log10 ‖∂h^L_T/∂h^1_0‖₂ (bottom layer, lag T) = {bottom[-1]:.6g}"]
    if res.log10_norm is not None and np.isfinite(res.log10_norm[-1]):
        lines.append(f"  log10 ‖∂s_T/∂s_0‖₂ (joint state) = {res.log10_norm[-1]:.6g}")
    lines += [f"wrote {f}" for f in files]
    return payload, lines


def _run_bidirectional(opts, stack, x0, T, u, paths):
    """gradflow on a bidirectional stack: log10 ‖∂y/∂u_t‖₂ per input position t for
    y = h^{L,→}_T and y = h^{L,←}_1 (rnndyn.gradflow_bidir)."""
    import numpy as np
    from rnndyn.cli.options import provenance, save_outputs
    from rnndyn.gradflow_bidir import position_gradient_flow
    if stack.M == 0:
        raise InputError("--bidirectional: the gradient reaching each input position needs "
                         "inputs; pass --n-inputs M > 0 (or a weights file with inputs)")
    res = position_gradient_flow(stack, x0, T, u, seed=opts.get("seed", 0))
    fig = None if paths is None else plot_positions(res)
    files = save_outputs(res, fig, paths, opts["overwrite"], opts)
    payload = {"position": res.position, "log10_norm_forward": res.log10_norm_forward,
               "log10_norm_reverse": res.log10_norm_reverse,
               "log10_norm_both": res.log10_norm_both, "finite": res.finite,
               "states_finite": res.states_finite, "overflow_step": res.overflow_step,
               "model": stack.describe(), "provenance": provenance(opts), "files": files}
    f, r = res.log10_norm_forward, res.log10_norm_reverse
    lines = [f"gradflow: {stack.label}, layers {stack.hidden}, T = {T}",
             f"  log10 ‖∂h^(L,fwd)_T/∂u_t‖₂ at t = 1, T: {f[0]:.6g}, {f[-1]:.6g}",
             f"  log10 ‖∂h^(L,rev)_1/∂u_t‖₂ at t = 1, T: {r[0]:.6g}, {r[-1]:.6g}"]
    lines += [f"wrote {f}" for f in files]
    return payload, lines


def plot_positions(result):
    """log10 ‖∂y/∂u_t‖₂ against the input position t, from each end of a bidirectional
    stack and for their concatenation."""
    from rnndyn.figures.bidir_position import draw_positions
    from rnndyn.figures.style import new_figure, style_context
    with style_context():
        fig, axes = new_figure(1, 1, figsize=(6.4, 3.4))
        ax = axes[0, 0]
        draw_positions(ax, result.position, result.log10_norm_forward,
                       result.log10_norm_reverse, result.log10_norm_both)
        ax.legend(fontsize=8)
        ax.set_title(f"bidirectional {', '.join(result.cells)}, layers {result.hidden}",
                     fontsize=8.5)
    return fig


def plot_depth(result):
    """A time × depth heat map of log10 ‖∂h^L_T/∂h^l_{T−lag}‖₂."""
    import numpy as np
    from rnndyn.figures.style import new_figure, style_context
    with style_context():
        fig, axes = new_figure(1, 1, figsize=(6.4, 1.2 + 0.55 * len(result.hidden)))
        ax = axes[0, 0]
        z = np.asarray(result.depth_log10_norm, dtype=float)
        finite = z[np.isfinite(z)]
        lo, hi = (finite.min(), finite.max()) if finite.size else (-1.0, 1.0)
        im = ax.imshow(np.where(np.isfinite(z), z, np.nan), aspect="auto", origin="lower",
                       extent=(-0.5, z.shape[1] - 0.5, 0.5, z.shape[0] + 0.5),
                       vmin=lo, vmax=hi, cmap="viridis")
        ax.set_xlabel("lag (steps back from T)")
        ax.set_ylabel("layer $l$")
        ax.set_yticks(range(1, z.shape[0] + 1))
        fig.colorbar(im, ax=ax, label=r"$\log_{10}\|\partial h^L_T/\partial h^l_{T-\mathrm{lag}}\|_2$")
        ax.set_title(f"{result.skip} skips, layers {result.hidden}, cells "
                     f"{', '.join(result.cells)}", fontsize=8.5)
    return fig
