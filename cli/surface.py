"""``rnndyn surface``: the paper's one-neuron error surface, its wall, and clipping."""

import click

from rnndyn.cli.options import (draw_if, CONTEXT_SETTINGS, cli_errors, common_options, emit,
                                output_paths, progress, save_outputs)
from rnndyn.cli.types import GRID, NUMBERS, POINT
from rnndyn._validate import InputError

_STAT_OFFSETS = "-1e-3,-3e-4,-1e-4,-1e-5,1e-5,1e-4,3e-4,1e-3"


def _payload(r, files):
    g = lambda a: a.tolist()  # noqa: E731
    return {
        "w": g(r.w), "b": g(r.b), "loss": g(r.loss), "grad_norm": g(r.grad_norm),
        "grad_w": g(r.grad_w), "grad_b": g(r.grad_b),
        "wall": {"formula": "b = x0 - sigma(x0) * w, for w * sigma'(x0) > 1",
                 "x0": r.x0, "sigma_x0": r.sigma_x0, "w_min": r.wall_w_min,
                 "w": g(r.wall_w), "b": g(r.wall_b)},
        "jumps": {"w": g(r.jump_w), "b": g(r.jump_b), "width": g(r.jump_width),
                  "size": g(r.jump_size), "wall_offset": g(r.jump_wall_offset)},
        "refined": {"w": g(r.refined_w), "b": g(r.refined_b), "loss": g(r.refined_loss),
                    "grad_norm": g(r.refined_grad_norm)},
        "paths": {"methods": r.path_methods, "start": g(r.path_start), "lr": r.lr,
                  "threshold": r.threshold, "w": g(r.path_w), "b": g(r.path_b),
                  "loss": g(r.path_loss), "grad_norm": g(r.path_grad_norm),
                  "clipped": g(r.path_clipped)},
        "step_stats": {"w": r.stat_w, "b_wall": r.stat_b_wall, "methods": r.path_methods,
                       "offset": g(r.stat_offset), "b": g(r.stat_b), "loss": g(r.stat_loss),
                       "grad_norm": g(r.stat_grad_norm), "step": g(r.stat_step),
                       "w_after": g(r.stat_w_after), "b_after": g(r.stat_b_after),
                       "loss_after": g(r.stat_loss_after),
                       "offset_after": g(r.stat_offset_after)},
        "files": files,
    }


def _summary(r, files):
    import numpy as np
    lines = [f"grid {r.w.size} x {r.b.size} (w x b): loss in [{r.loss.min():.4g}, "
             f"{r.loss.max():.4g}], max |grad| {r.grad_norm.max():.3g} on the grid, "
             f"{r.refined_grad_norm.max() if r.refined_grad_norm.size else float('nan'):.3g} "
             f"at {r.refined_w.size} refined points",
             f"wall: b = {r.x0:g} - {r.sigma_x0:.6g} w for w > {r.wall_w_min:.6g}; "
             f"at w = {r.stat_w:g}, b* = {r.stat_b_wall:.7g}"]
    near = np.abs(r.jump_wall_offset[np.isfinite(r.jump_wall_offset)])
    if r.jump_w.size:
        lines.append(f"refinement: {r.jump_w.size} jumps located"
                     + (f"; |b - b*| median {np.median(near):.2g}, max {near.max():.2g} "
                        f"on the wall" if near.size else ""))
    lines.append(f"one step from w = {r.stat_w:g} (lr {r.lr:g}, {r.path_methods[1]} "
                 f"threshold {r.threshold:g}):")
    lines.append(f"  {'b - b*':>9s} {'loss':>8s} {'|grad|':>9s} | {'plain step':>10s} "
                 f"{'loss after':>10s} | {'clip step':>9s} {'loss after':>10s}")
    for k in range(r.stat_offset.size):
        lines.append(f"  {r.stat_offset[k]:9.1e} {r.stat_loss[k]:8.4f} "
                     f"{r.stat_grad_norm[k]:9.3g} | {r.stat_step[0, k]:10.3g} "
                     f"{r.stat_loss_after[0, k]:10.4f} | {r.stat_step[1, k]:9.3g} "
                     f"{r.stat_loss_after[1, k]:10.4f}")
    for k in range(r.path_start.shape[0]):
        ends = ", ".join(f"{m} -> ({r.path_w[i, k, -1]:.4g}, {r.path_b[i, k, -1]:.4g}) "
                         f"loss {r.path_loss[i, k, -1]:.4g}"
                         for i, m in enumerate(r.path_methods))
        lines.append(f"path from ({r.path_start[k, 0]:g}, {r.path_start[k, 1]:g}): {ends}")
    lines.extend(f"wrote {f}" for f in files)
    return lines


@click.command(context_settings=CONTEXT_SETTINGS)
@click.option("--w", "w_spec", type=GRID, default="3:7:161",
              help="Recurrent weight w: a VALUE or START:STOP:NUM.")
@click.option("--b", "b_spec", type=GRID, default="-4.5:-1:141",
              help="Bias b: a VALUE or START:STOP:NUM. With --w or --b a single value the "
                   "command computes a 1-D slice.")
@click.option("--x0", type=float, default=0.5, help="Initial state x_0.")
@click.option("--steps", type=int, default=50, help="Number of updates T.")
@click.option("--target", type=float, default=0.7, help="Target y of σ(x_T).")
@click.option("--activation", type=click.Choice(("sigmoid", "tanh", "relu", "linear"),
                                                case_sensitive=False),
              default="sigmoid", help="Activation σ.")
@click.option("--refine", type=click.Choice(("auto", "b", "w", "both", "none")),
              default="auto", help="Grid direction refined at jumps (auto: b, or w for a "
                                   "slice along w).")
@click.option("--jump", type=float, default=0.05,
              help="Refine neighbours whose losses differ by more than this.")
@click.option("--tol", type=float, default=1e-5, help="Refinement tolerance (bracket length).")
@click.option("--start", "starts", type=POINT, multiple=True,
              help="Start of a descent path; repeat for several "
                   "[default: 6,-3  5.5,-2.9  5.8,-3.2].")
@click.option("--lr", type=float, default=0.3, help="Learning rate of paths and wall steps.")
@click.option("--path-steps", type=int, default=200, help="Updates per descent path.")
@click.option("--clip", type=click.Choice(("norm", "value")), default="norm",
              help="Clipping compared with plain descent: norm (Algorithm 1, as "
                   "torch clip_grad_norm_) or value (element-wise).")
@click.option("--threshold", type=float, default=0.5, help="Clipping threshold.")
@click.option("--stat-w", type=float, default=5.0,
              help="w at which one step from either side of the wall is measured.")
@click.option("--stat-offsets", type=NUMBERS, default=_STAT_OFFSETS,
              help="Offsets b - b*(w) of the measured steps.")
@common_options
@cli_errors
def surface(w_spec, b_spec, x0, steps, target, activation, refine, jump, tol, starts, lr,
            path_steps, clip, threshold, stat_w, stat_offsets, seed, out, fmt, as_json, quiet,
            overwrite):
    """Error surface of one sigmoid neuron x_t = w σ(x_{t-1}) + b, x_0 = 0.5, loss
    (σ(x_50) − 0.7)² over (w, b) (Pascanu et al. 2013, Fig. 6): loss and gradient-norm
    maps refined by bisection where the loss jumps, the analytic wall b = x_0 − w σ(x_0)
    (x_0 on the basin boundary, w σ'(x_0) > 1), gradient descent with and without
    clipping, and one plain vs one clipped step from just either side of the wall.

    With --out DIR, writes DIR/surface.npz + .json (data) and DIR/surface.FORMAT
    (figure); without it, nothing.

    \b
    --json keys (grids indexed [i][j] at (w[i], b[j])):
      w, b                   grid axes
      loss, grad_norm        L and ‖∇L‖ on the grid; also grad_w, grad_b
      wall                   formula, x0, sigma_x0, w_min, w[], b[] (analytic line)
      jumps                  w, b, width, size (|ΔL|), wall_offset (b − b*) per refined pair
      refined                w, b, loss, grad_norm of every bisection point
      paths                  methods ['none', clip], start, lr, threshold, and
                             w, b, loss, grad_norm, clipped [method][start][update]
      step_stats             w, b_wall, methods, offset, b, loss, grad_norm, and
                             step, w_after, b_after, loss_after, offset_after [method][k]
      files                  paths written
    """
    import numpy as np
    from rnndyn.figures.error_surface import plot
    from rnndyn.surface import DEFAULT_STARTS, error_surface

    w, b = w_spec, b_spec
    if w.size == 1 and b.size == 1:
        raise InputError("--w and --b are both single values; give START:STOP:NUM for one")
    start_pts = [list(s) for s in starts] or [list(p) for p in DEFAULT_STARTS]
    offsets = list(stat_offsets)
    paths = output_paths(out, "surface", fmt, overwrite)
    with progress(w.size * b.size, quiet=quiet or as_json, label="surface") as advance:
        result = error_surface(w, b, x0=x0, n_steps=steps, target=target,
                               activation=activation, refine=refine, jump=jump, tol=tol,
                               starts=np.array(start_pts), lr=lr, path_steps=path_steps,
                               clip=clip, threshold=threshold, stat_w=stat_w,
                               stat_offsets=offsets, seed=seed, progress=advance)
    files = save_outputs(result, draw_if(paths, lambda: plot(result)), paths, overwrite,
                         {"seed": seed})
    emit(_payload(result, files), as_json=as_json, quiet=quiet, lines=_summary(result, files))
