"""The (w, b) plane of one tanh neuron x ← w σ(x) + b: fold and flip curves (w σ'(x*) = ±1,
parametrised by the fixed point x*), the cusp, and each cell of a grid coloured by the
attractors a brute-force census finds there (Pascanu et al. 2013, §2.2)."""

import numpy as np

NAME = "neuron-wb-tanh"
TITLE = "(w, b) diagram of one tanh neuron: fold and flip curves, cusp, attractor regions"
DEFAULTS = {"activation": "tanh", "w": [-8.0, 8.0, 161], "b": [-6.0, 6.0, 121],
            "n_initial": 6, "n_transient": 600, "n_record": 16, "seed": 0}

# a region smaller than this fraction of the grid gets no legend entry (a note instead)
MIN_REGION_FRACTION = 0.005

_COLOURS = {"1 fixed point": "#DDEBF7", "2 fixed points": "#9ECAE1",
            "1 period-2 cycle": "#FDD0A2"}


def compute(params):
    """TwoParameterDiagram on the grid (deterministic; the seed is only recorded)."""
    from rnndyn.bifurcation import two_parameter_diagram
    w = np.linspace(*params["w"][:2], int(params["w"][2]))
    b = np.linspace(*params["b"][:2], int(params["b"][2]))
    return two_parameter_diagram(w, b, activation=params["activation"],
                                 n_initial=params["n_initial"],
                                 n_transient=params["n_transient"], n_record=params["n_record"])


def draw(ax, result):
    """Regions as an image, fold (solid) and flip (dashed) curves, the cusp."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch
    names = result.region_names
    extra = ["#F6E8C3", "#C7E9C0", "#DADAEB", "#FCBBA1", "#D9D9D9"]
    colours = [_COLOURS.get(n) or extra[i % len(extra)] for i, n in enumerate(names)]
    w, b = result.w, result.b
    dw = (w[-1] - w[0]) / max(w.size - 1, 1) / 2
    db = (b[-1] - b[0]) / max(b.size - 1, 1) / 2
    ax.imshow(result.region.T, origin="lower", aspect="auto", interpolation="nearest",
              cmap=ListedColormap(colours), vmin=-0.5, vmax=len(names) - 0.5,
              extent=(w[0] - dw, w[-1] + dw, b[0] - db, b[-1] + db))
    inside = lambda cw, cb: ((cw >= w[0] - dw) & (cw <= w[-1] + dw)  # noqa: E731
                             & (cb >= b[0] - db) & (cb <= b[-1] + db))
    for cw, cb, style, label in ((result.fold_w, result.fold_b, "-",
                                  r"fold  $w\,\sigma'(x^*) = 1$"),
                                 (result.flip_w, result.flip_b, "--",
                                  r"flip  $w\,\sigma'(x^*) = -1$")):
        ax.plot(np.where(inside(cw, cb), cw, np.nan), cb, style, color="k", lw=1.3, label=label)
    c = result.cusp
    ax.plot(c["w"], c["b"], "o", ms=6, mfc="#D55E00", mec="k", zorder=5,
            label=f"cusp ({c['w']:g}, {c['b']:g})")
    ax.set_xlim(w[0] - dw, w[-1] + dw)
    ax.set_ylim(b[0] - db, b[-1] + db)
    ax.set_xlabel("$w$")
    ax.set_ylabel("$b$")
    ax.grid(False)
    ax.set_title(rf"one {result.activation} neuron ($N$ = 1) $x_t = w\,\sigma(x_{{t-1}}) + b$:"
                 r" attractors in the $(w, b)$ plane")
    handles, _ = ax.get_legend_handles_labels()
    reg = np.asarray(result.region).ravel()
    counts = np.bincount(reg[reg >= 0], minlength=len(names))
    total = max(int(np.asarray(result.region).size), 1)
    rare = []
    for i, (n, col) in enumerate(zip(names, colours)):
        if counts[i] >= MIN_REGION_FRACTION * total:
            handles.append(Patch(facecolor=col, edgecolor="0.5", label=n))
        elif counts[i]:
            rare.append(f"{n}: {counts[i]} of {total:,} cells")
    leg = ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7)
    if rare:
        # a region of a few cells (census noise near a curve) gets a note, not a legend entry
        ax.annotate("not in the key (under {:.1%} of the grid):\n".format(MIN_REGION_FRACTION)
                    + "\n".join(rare), xy=(1.02, 0.0), xycoords="axes fraction",
                    fontsize=6.5, color="0.3", va="bottom", ha="left")
    return leg


def plot(result):
    from rnndyn.figures.style import new_figure
    fig, axes = new_figure(1, 1, figsize=(7.4, 4.2))
    draw(axes[0, 0], result)
    return fig
