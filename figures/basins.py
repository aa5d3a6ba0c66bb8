"""Basins of attraction of a two-neuron tanh network (Pascanu et al. 2013, §2.2):
each initial state coloured by the attractor it reaches, the boundary in black."""

import numpy as np

NAME = "basins-2neuron"
TITLE = "Basins of attraction of a 2-neuron tanh RNN: two fixed points and a 2-cycle"
# x ← W tanh(x) + b with strong mutual excitation and self-inhibition: two stable
# fixed points and a stable 2-cycle coexist, with interleaved basins.
DEFAULTS = {"W": [[1.5, 2.3], [2.5, -1.5]], "b": [-0.2, 0.24], "activation": "tanh",
            "form": "pascanu", "lim": 4.0, "grid": 400, "seed": 0}


def compute(params):
    """BasinsResult on a grid × grid square [-lim, lim]² (no randomness; seed recorded)."""
    from rnndyn.basins import basins
    from rnndyn.models import RNN
    rnn = RNN(np.array(params["W"], float), None, np.array(params["b"], float),
              params["activation"], params["form"])
    lim = float(params["lim"])
    res = basins(rnn, xlim=(-lim, lim), ylim=(-lim, lim), nx=int(params["grid"]))
    res.meta["recipe"] = {"name": NAME, "W": np.asarray(params["W"], float).tolist(),
                          "b": np.asarray(params["b"], float).tolist()}
    return res


def plot(result):
    """Labels as an image (one colour per attractor, grey unsettled, white divergence),
    the boundary cells in black and each attractor's cycle points as markers."""
    from matplotlib.colors import ListedColormap
    from rnndyn.figures.style import new_figure
    fig, axes = new_figure(1, 1, figsize=(6.6, 4.2))
    ax = axes[0, 0]
    K = len(result.attractors)
    palette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442"]
    colours = ["#ffffff", "#bbbbbb"] + [palette[k % len(palette)] for k in range(K)]
    img = result.labels + 2  # -2 unsettled -> 0 ... shifted so labels index the colours
    img = np.where(result.labels == -1, 0, np.where(result.labels == -2, 1, img))
    img = np.where(result.boundary, -1, img)
    cmap = ListedColormap(["#000000"] + colours)
    xs, ys = result.xs, result.ys
    one_d = ys.size == 1
    extent = (xs[0], xs[-1], -0.5, 0.5) if one_d else (xs[0], xs[-1], ys[0], ys[-1])
    ax.imshow(img, origin="lower", extent=extent, cmap=cmap, vmin=-1.5, vmax=len(colours) - 0.5,
              interpolation="nearest", aspect="auto")
    i0 = int(np.argmax(result.e1))
    i1 = int(np.argmax(result.e2)) if not one_d else None
    for a in result.attractors:
        cyc = np.array(a["cycle"])
        yv = np.zeros(len(cyc)) if one_d else cyc[:, i1]
        kind = "fixed point" if a["period"] == 1 else f"{a['period']}-cycle"
        ax.plot(cyc[:, i0], yv, "o", ms=6, mfc=palette[a["label"] % len(palette)], mec="white",
                mew=1.2, ls="none", label=f"{a['label']}: {kind}\n({a['cells']:,} cells)")
    ax.set_xlabel(f"initial $x_{{{i0 + 1}}}(0)$")
    ax.set_ylabel("" if one_d else f"initial $x_{{{i1 + 1}}}(0)$")
    ax.grid(False)
    ax.set_title(_network_note(result) + "\nbasins of attraction (boundary in black)")
    # outside the axes: every corner of the square belongs to some basin
    from matplotlib.patches import Patch
    handles, _ = ax.get_legend_handles_labels()
    if np.any(result.labels == -2):
        handles.append(Patch(facecolor="#bbbbbb", label="unsettled"))
    if np.any(result.labels == -1):
        handles.append(Patch(facecolor="#ffffff", edgecolor="0.5", label="diverges"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7,
              title="attractor (marker:\nits cycle points)", title_fontsize=7)
    return fig


def _network_note(result):
    """'tanh RNN, N = 2, W = [1.5, 2.3; 2.5, -1.5], b = [-0.2, 0.24]' (what is known)."""
    from rnndyn.figures.style import network_label
    text = network_label(result.meta)
    rec = result.meta.get("recipe", {})
    if "W" in rec:
        text += ", $W$ = [" + "; ".join(", ".join(f"{v:g}" for v in row)
                                         for row in rec["W"]) + "]"
    if "b" in rec:
        text += ", $b$ = [" + ", ".join(f"{v:g}" for v in rec["b"]) + "]"
    return text
