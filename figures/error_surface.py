"""The error surface of the paper's one-neuron example (Pascanu et al. 2013, Fig. 6):
the loss over (w, b) with the wall where x_0 sits on the basin boundary, and gradient
descent from the same starts without and with norm clipping."""

import numpy as np

NAME = "error-surface"
TITLE = "One-neuron error surface: the wall, plain vs clipped gradient descent"
DEFAULTS = {
    "w": [3.0, 7.0, 161],          # start, stop, num (or one number for a slice)
    "b": [-4.5, -1.0, 141],
    "x0": 0.5,
    "n_steps": 50,
    "target": 0.7,
    "activation": "sigmoid",
    "starts": [[6.0, -3.0], [5.5, -2.9], [6.0, -3.5]],
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
            raise ValueError(f"{name} must be a number or [start, stop, num], got {spec!r}")
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


_PLAIN, _CLIPPED = "r", "w"


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
    for m, color in ((0, _PLAIN), (1, _CLIPPED)):
        for k in range(result.path_start.shape[0]):
            pw, pb = result.path_w[m, k], result.path_b[m, k]
            ax_loss.plot(pw, pb, "-", color=color, lw=0.9, marker=".", ms=2,
                         label=_path_label(result, m) if k == 0 else None)
            if not (w[0] <= pw[-1] <= w[-1] and b[0] <= pb[-1] <= b[-1]):
                thrown.append(f"({pw[-1]:.3g}, {pb[-1]:.3g})")
    if result.path_start.shape[0]:
        ax_loss.plot(result.path_start[:, 0], result.path_start[:, 1], "o", mfc="none",
                     color="w", ms=5, label="starts")
    if thrown:
        ax_loss.text(0.02, 0.02, "leave the plot, end at\n" + "\n".join(thrown),
                     transform=ax_loss.transAxes, fontsize=7, color="w", va="bottom")
    ax_loss.legend(fontsize=7, loc="upper right")
    ax_grad.legend(fontsize=7, loc="upper right")
    ax_loss.set_title("loss and descent paths")
    ax_grad.set_title("gradient norm")


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
    for m, (color, marker) in enumerate((("r", "o"), ("C0", "s"))):
        for side in (off < 0, off > 0):
            ax.plot(off[side], result.stat_step[m, side], "-", color=color, marker=marker,
                    ms=4, lw=1.0, label=_path_label(result, m) if side[0] else None)
    ax.axhline(result.lr * result.threshold, ls=":", color="C0", lw=1.0,
               label="lr × threshold")
    ax.axvline(0.0, ls="--", color="k", lw=1.0, label="wall")
    ax.set_xscale("symlog", linthresh=float(np.min(np.abs(off))) if off.size else 1e-5)
    ax.set_yscale("log")
    ax.set_xlabel(f"$b - b^*(w)$ at w = {result.stat_w:g}")
    ax.set_ylabel("length of one step")
    ax.set_title("one step from near the wall")
    ax.legend(fontsize=7)


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
    return fig
