"""The gradient reaching each input position of a bidirectional stack, from both ends:
log10 ‖∂h^{L,→}_T/∂u_t‖₂ (the forward direction's last step) and log10 ‖∂h^{L,←}_1/∂u_t‖₂
(the reverse direction's first step) against t, for tanh, LSTM and GRU bidirectional stacks
of 1 and 2 layers (issue 12; Schuster & Paliwal 1997).

Every layer has 32 units per direction, recurrent blocks N(0, g²/N) with g = 1, and is driven
by Gaussian inputs (T = 100). What the default run shows (log10): each end sees its own
neighbourhood at O(1) (+0.40 tanh, +0.04 LSTM, +0.20 GRU at t = T from the forward end, one
layer) and the far end of the sequence about 20 decades lower (−20.1 tanh, −19.6 LSTM,
−18.7 GRU at t = 1); the concatenation of both ends is weakest in the middle (−8.1, −10.0,
−8.6). A second layer, whose directions each read both directions below, lifts the far end
to −14.6, −13.3 and −12.2 and the middle to −6.6, −7.0 and −6.6: the paths are no shorter
(every path from u_1 to h^{2,→}_T still takes T − 1 recurrent steps), but there are more of
them.
"""

import numpy as np

from rnndyn.results import Result, make_meta, result_type

NAME = "bidir-position"
TITLE = "Gradient reaching each input position of bidirectional tanh, LSTM, GRU stacks, from both ends"
DEFAULTS = {"seed": 0, "layers": [1, 2], "n": 32, "n_inputs": 4, "steps": 100, "gain": 1.0,
            "cells": ["vanilla", "lstm", "gru"]}


@result_type
class BidirPositionResult(Result):
    """``forward``, ``reverse``, ``both`` (cells, layers, T): log10 ‖∂y/∂u_t‖₂ for y the
    top forward direction's last output, the top reverse one's first, their concatenation."""

    position: np.ndarray
    cells: list
    layers: np.ndarray
    forward: np.ndarray
    reverse: np.ndarray
    both: np.ndarray
    meta: dict


def compute(params):
    """One input-driven trajectory from a random joint state per stack (seeded)."""
    from rnndyn.gradflow_bidir import position_gradient_flow
    from rnndyn.inputs import make_inputs
    from rnndyn.stack import initial_state, make_stack
    seed, T, M = int(params["seed"]), int(params["steps"]), int(params["n_inputs"])
    layers = np.asarray(params["layers"], dtype=int)
    u = make_inputs("gaussian", T, M, seed=seed + 2)
    shape = (len(params["cells"]), layers.size, T)
    out = {k: np.empty(shape) for k in ("forward", "reverse", "both")}
    for a, cell in enumerate(params["cells"]):
        kw = {"form": "elman"} if cell == "vanilla" else {}
        for b, L in enumerate(layers):
            stack = make_stack([int(params["n"])] * int(L), cell=cell, bidirectional=True,
                               n_inputs=M, gain=float(params["gain"]), seed=seed, **kw)
            res = position_gradient_flow(stack, initial_state(stack, "random", seed=seed + 1),
                                         T, u, seed=seed)
            out["forward"][a, b] = res.log10_norm_forward
            out["reverse"][a, b] = res.log10_norm_reverse
            out["both"][a, b] = res.log10_norm_both
    meta = make_meta(params, seed=seed, note="N units per direction, Gaussian inputs, "
                                             "g = gain, elman tanh layers")
    return BidirPositionResult(position=np.arange(1, T + 1), cells=list(params["cells"]),
                               layers=layers, **out, meta=meta)


def draw_positions(ax, t, forward, reverse, both, label="", **style):
    """The forward-end (solid) and reverse-end (dashed) curves of log10 ‖∂y/∂u_t‖₂ against
    the position t on ``ax``, and the concatenation's as a wide faint band (it hugs the
    upper envelope of the two); non-finite points are left out."""
    lines = []
    lw = style.pop("lw", 1.2)
    for values, what, kw in ((forward, r"from $h^{L,\rightarrow}_T$", dict(ls="-", lw=lw)),
                             (reverse, r"from $h^{L,\leftarrow}_1$", dict(ls="--", lw=lw)),
                             (both, "both ends (concatenated)",
                              dict(ls="-", lw=4 * lw, alpha=0.25, zorder=1))):
        v = np.asarray(values, dtype=float)
        lines += ax.plot(t, np.where(np.isfinite(v), v, np.nan), label=f"{label}{what}",
                         **kw, **style)
        style["color"] = lines[0].get_color()
    ax.set_xlabel("input position $t$")
    ax.set_ylabel(r"$\log_{10}\|\partial y/\partial u_t\|_2$")
    return lines


def plot(result):
    """One panel per cell: both ends' curves for every depth."""
    from rnndyn.figures.style import new_figure
    C = len(result.cells)
    fig, axes = new_figure(1, C, figsize=(3.4 * C, 3.4), sharey=True)
    for a, cell in enumerate(result.cells):
        ax = axes[0, a]
        for b, L in enumerate(result.layers):
            draw_positions(ax, result.position, result.forward[a, b], result.reverse[a, b],
                           result.both[a, b], label=f"L = {L}: ", lw=1.0 + 0.6 * b)
        ax.set_title("tanh" if cell == "vanilla" else cell.upper(), fontsize=9)
        if a:
            ax.set_ylabel("")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    # off the data (the curves fill every panel), one column per depth
    fig.legend(handles, labels, loc="outside lower center", ncol=len(result.layers),
               fontsize=7)
    fig.suptitle(TITLE, fontsize=9)
    return fig
