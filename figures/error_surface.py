"""The error surface of the paper's one-neuron example (Pascanu et al. 2013, Fig. 6):
the loss over (w, b) with the wall where x_0 sits on the basin boundary, and gradient
descent from the same starts without and with norm clipping."""

import numpy as np
from rnndyn._validate import InputError

NAME = "error-surface"
TITLE = "One-neuron error surface: the wall, plain vs clipped gradient descent"
DEFAULTS = {
    "w": [3.0, 7.0, 161],          # start, stop, num (or one number for a slice)
    "b": [-4.5, -1.0, 141],
    "x0": 0.5,
    "n_steps": 50,
    "target": 0.7,
    "activation": "sigmoid",
    "starts": [[6.0, -3.0], [5.5, -2.9], [5.8, -3.2]],
    "lr": 0.3,
    "path_steps": 200,
    "clip": "norm",
    "threshold": 0.5,
    "jump": 0.05,
    "tol": 1e-5,
    "stat_w": 5.0,
    "seed": 0,
}


def _axis(spec, name):
    """A number, or [start, stop, num] → np.linspace(start, stop, num)."""
    from rnndyn._validate import as_float, as_int
    if isinstance(spec, (list, tuple)):
        if len(spec) != 3:
            raise InputError(f"{name} must be a number or [start, stop, num], got {spec!r}")
        start = as_float(spec[0], f"{name} start")
        stop = as_float(spec[1], f"{name} stop")
        num = as_int(spec[2], f"{name} num", minimum=1)
        return np.linspace(start, stop, num)
    return np.array([spec], dtype=float)


def compute(params):
    """The surface, its wall, the paths and the wall steps for ``params`` (see DEFAULTS)."""
    from rnndyn.surface import error_surface
    p = dict(params)
    return error_surface(_axis(p.pop("w"), "w"), _axis(p.pop("b"), "b"), **p)


# orange-red and white read on both ends of viridis; the markers get an edge of the other tone
_PLAIN, _CLIPPED = "#FF4B00", "white"


def _path_label(result, m):
    if result.path_methods[m] == "none":
        return f"plain GD (lr {result.lr:g})"
    return f"{result.path_methods[m]}-clipped GD (threshold {result.threshold:g})"


def _plot_map(fig, ax_loss, ax_grad, result):
    from matplotlib.colors import Normalize
    w, b = result.w, result.b
    im = ax_loss.pcolormesh(w, b, result.loss.T, shading="nearest", cmap="viridis")
    fig.colorbar(im, ax=ax_loss, label="loss $L(w, b)$")
    with np.errstate(divide="ignore"):
        lg = np.log10(result.grad_norm.T)
        lr_ = np.log10(result.refined_grad_norm)
    # one colour scale for grid and refined points: the wall's gradients are off the grid's
    both = np.concatenate([lg.ravel(), lr_])
    both = both[np.isfinite(both)]
    norm = Normalize(both.min(), both.max()) if both.size else None
    im = ax_grad.pcolormesh(w, b, lg, shading="nearest", cmap="magma", norm=norm)
    fig.colorbar(im, ax=ax_grad, label=r"$\log_{10}\|\nabla L\|$ (grid and refinement)")
    for ax in (ax_loss, ax_grad):
        if result.wall_w.size:
            ax.plot(result.wall_w, result.wall_b, "--", color="k", lw=1.0,
                    label=rf"wall $b = {result.x0:g} - {result.sigma_x0:.5f}\,w$")
        ax.set_xlim(w[0], w[-1])
        ax.set_ylim(b[0], b[-1])
        ax.set_xlabel("$w$")
        ax.set_ylabel("$b$")
    if result.refined_w.size:
        ax_grad.scatter(result.refined_w, result.refined_b, c=lr_, cmap="magma", norm=norm,
                        s=4, label="refined points")
    thrown = []
    for m, (color, edge) in enumerate(((_PLAIN, "white"), (_CLIPPED, "black"))):
        every = max(1, (result.path_w.shape[2] - 1) // 10)
        for k in range(result.path_start.shape[0]):
            pw, pb = result.path_w[m, k], result.path_b[m, k]
            # a thin line for the path, a marker every `every` steps (not every step: the
            # clipped path zig-zags across the wall and every-step markers smear into a band)
            ax_loss.plot(pw, pb, "-o", color=color, lw=0.7, markevery=every, ms=3.5,
                         mfc=color, mec=edge, mew=0.7, zorder=4 + m,
                         label=(_path_label(result, m) + f", a marker every {every} steps")
                         if k == 0 else None)
            ax_loss.plot(pw[-1:], pb[-1:], "*", ms=9, mfc=color, mec=edge, mew=0.7, zorder=5,
                         label="end of a path" if (k == 0 and m == 1) else None)
            if not (w[0] <= pw[-1] <= w[-1] and b[0] <= pb[-1] <= b[-1]):
                thrown.append(f"({pw[-1]:.3g}, {pb[-1]:.3g})")
    if result.path_start.shape[0]:
        ax_loss.plot(result.path_start[:, 0], result.path_start[:, 1], "o", mfc="none",
                     mec="k", mew=1.6, ms=7, zorder=6, label="starts", ls="none")
        ax_loss.plot(result.path_start[:, 0], result.path_start[:, 1], "o", mfc="none",
                     mec="w", mew=0.8, ms=7, zorder=6, ls="none")
    if thrown:
        ax_loss.text(0.02, 0.02, "plain GD leaves the plot,\nends at " + ", ".join(thrown),
                     transform=ax_loss.transAxes, fontsize=7, va="bottom",
                     bbox=dict(boxstyle="round", fc="white", ec="0.6", alpha=0.9))
    _zoom_inset(ax_loss, result)
    for ax in (ax_loss, ax_grad):
        # below the panel, on white: the viridis/magma maps leave no corner to read it on
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=1,
                  frameon=False)
    ax_loss.set_title("loss and descent paths")
    ax_grad.set_title("gradient norm")


def _zoom_inset(ax, result, n=14):
    """An inset, top right, with ``n`` steps of the first clipped path from its first
    clipped step, every step marked: the zig-zag across the wall, step by step."""
    if result.path_w.shape[0] < 2 or not result.path_start.shape[0]:
        return None
    clipped = np.flatnonzero(result.path_clipped[1, 0])
    i0 = max(int(clipped[0]) - 2, 0) if clipped.size else 0
    pw = result.path_w[1, 0, i0:i0 + n]
    pb = result.path_b[1, 0, i0:i0 + n]
    ok = np.isfinite(pw) & np.isfinite(pb)
    if ok.sum() < 2:
        return None
    pw, pb = pw[ok], pb[ok]
    span = max(np.ptp(pw), np.ptp(pb), 1e-3)
    cw, cb = (pw.min() + pw.max()) / 2, (pb.min() + pb.max()) / 2
    x0, x1, y0, y1 = cw - 0.6 * span, cw + 0.6 * span, cb - 0.6 * span, cb + 0.6 * span
    ins = ax.inset_axes([0.64, 0.6, 0.34, 0.38], xlim=(x0, x1), ylim=(y0, y1))
    ww = np.linspace(x0, x1, 81)
    bb = np.linspace(y0, y1, 81)
    # the loss is not recomputed here: the inset shows which side of the wall each step is on
    below = bb[:, None] < result.x0 - result.sigma_x0 * ww[None, :]
    ins.pcolormesh(ww, bb, below, cmap="viridis", vmin=-0.6, vmax=1.6, shading="nearest")
    ins.plot(ww, result.x0 - result.sigma_x0 * ww, "--", color="k", lw=0.8)
    ins.plot(pw, pb, "-o", color=_CLIPPED, lw=0.8, ms=3, mfc=_CLIPPED, mec="k", mew=0.6)
    ins.set_xticks([])
    ins.set_yticks([])
    ins.grid(False)
    ins.text(0.03, 0.96, f"zoom: {len(pw)} steps", transform=ins.transAxes,
             fontsize=6, color="w", va="top")
    ax.indicate_inset_zoom(ins, edgecolor="w", lw=0.8)
    return ins


def _plot_slice(ax_loss, ax_grad, result):
    along_b = result.w.size == 1
    if along_b:
        x = np.concatenate([result.b, result.refined_b])
        label = f"$b$ (w = {result.w[0]:g})"
        wall_x = result.x0 - result.sigma_x0 * result.w[0] \
            if result.w[0] > result.wall_w_min else None
    else:
        x = np.concatenate([result.w, result.refined_w])
        label = f"$w$ (b = {result.b[0]:g})"
        wc = (result.x0 - result.b[0]) / result.sigma_x0 if result.sigma_x0 else np.inf
        wall_x = wc if result.wall_w_min < wc < np.inf else None
    # the refined points fill the wall in, so draw grid and refinement as one curve
    order = np.argsort(x, kind="stable")
    loss = np.concatenate([result.loss.ravel(), result.refined_loss])[order]
    gnorm = np.concatenate([result.grad_norm.ravel(), result.refined_grad_norm])[order]
    x = x[order]
    ax_loss.plot(x, loss, "-", color="C0", lw=1.0, label="loss")
    pos = gnorm > 0
    ax_grad.semilogy(x[pos], gnorm[pos], "-", color="C1", lw=1.0, label=r"$\|\nabla L\|$")
    from matplotlib.ticker import MaxNLocator
    for ax in (ax_loss, ax_grad):
        ax.xaxis.set_major_locator(MaxNLocator(6))
        if wall_x is not None:
            ax.axvline(wall_x, ls="--", color="k", lw=1.0, label=f"wall at {wall_x:.6g}")
        ax.set_xlabel(label)
        ax.legend(fontsize=7)
    ax_loss.set_ylabel("loss $L$")
    ax_grad.set_ylabel(r"$\|\nabla L\|$")
    ax_loss.set_title("loss (grid + refinement)")
    ax_grad.set_title("gradient norm")


def _plot_steps(ax, result):
    """Length of one plain and one clipped step from points just either side of the wall."""
    off = result.stat_offset
    for m, (color, marker) in enumerate(((_PLAIN, "o"), ("C0", "s"))):
        for side in (off < 0, off > 0):
            ax.plot(off[side], result.stat_step[m, side], "-", color=color, marker=marker,
                    ms=4, lw=1.0, label=_path_label(result, m) if side[0] else None)
    ax.axhline(result.lr * result.threshold, ls=":", color="C0", lw=1.0,
               label=r"lr $\times$ threshold")
    ax.axvline(0.0, ls="--", color="k", lw=1.0, label="wall")
    ax.set_xscale("symlog", linthresh=float(np.min(np.abs(off))) if off.size else 1e-5)
    ax.set_yscale("log")
    ax.set_xlabel(f"$b - b^*(w)$ at $w$ = {result.stat_w:g}")
    ax.set_ylabel("length of one step")
    ax.set_title("one step from near the wall")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22), frameon=False)


def _network_note(result):
    p = result.meta.get("params", {})
    act = p.get("activation", "sigmoid")
    return (rf"one {act} neuron $x_t = w\,\sigma(x_{{t-1}}) + b$, $N$ = 1, "
            rf"$x_0$ = {result.x0:g}, $T$ = {p.get('n_steps', '?')}, "
            rf"$L = (\sigma(x_T) - {p.get('target', '?')})^2$")


def plot(result):
    """Loss (and descent paths) with the wall, gradient norm, and one step at the wall."""
    from rnndyn.figures.style import new_figure
    fig, axes = new_figure(1, 3, figsize=(13.5, 3.9))
    ax_loss, ax_grad, ax_step = axes[0]
    if result.is_slice:
        _plot_slice(ax_loss, ax_grad, result)
    else:
        _plot_map(fig, ax_loss, ax_grad, result)
    _plot_steps(ax_step, result)
    fig.suptitle(_network_note(result), fontsize="medium")
    return fig
