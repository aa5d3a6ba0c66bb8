"""Two trajectories of the paper's sigmoid neuron (w = 5, b = −2.5) from initial states
10⁻⁶ apart on either side of the basin boundary: they stay together while near the
repelling fixed point, then part for different attractors, and ∂x_t/∂x_0 explodes on
the way (Pascanu et al. 2013, §2.2)."""

import numpy as np

NAME = "basin-crossing"
TITLE = "Nearby initial states on either side of a basin boundary diverge (sigmoid, w = 5)"
DEFAULTS = {"activation": "sigmoid", "w": 5.0, "b": -2.5, "delta": 1e-6, "n_steps": 120,
            "seed": 0}


def compute(params):
    """BasinCrossing (deterministic; the seed is only recorded)."""
    from rnndyn.bifurcation import basin_crossing
    return basin_crossing(params["w"], params["b"], activation=params["activation"],
                          delta=params["delta"], n_steps=params["n_steps"])


def plot(result):
    """Left: x_t of both trajectories, the boundary dashed and the attractors dotted.
    Right: |∂x_t/∂x_0| in log scale with the initial growth rate m^t."""
    from rnndyn.figures.style import new_figure
    fig, axes = new_figure(1, 2, figsize=(8.4, 3.4))
    ax, ax2 = axes[0]
    t = np.arange(result.x.shape[1])
    for k, (sign, col) in enumerate(((-1, "#0072B2"), (1, "#D55E00"))):
        ax.plot(t, result.x[k], color=col,
                label=f"x₀ = x_u {'−' if sign < 0 else '+'} {result.delta:g}")
        ax2.semilogy(t, np.abs(result.dxdx0[k]), color=col)
    ax.axhline(result.boundary, color="k", ls="--", lw=1.0, label="basin boundary x_u")
    for s in result.stable:
        ax.axhline(s, color="0.4", ls=":", lw=1.0)
    ax.set_xlabel("t")
    ax.set_ylabel("x_t")
    ax.set_title(f"{result.activation} neuron, w = {result.w:g}, b = {result.b:g}")
    ax.legend(loc="upper left", fontsize=7)
    m = result.multiplier
    tt = t[: max(2, int(np.log(1.0 / result.delta) / np.log(m)))]
    ax2.semilogy(tt, m ** tt.astype(float), "k--", lw=1.0, label=f"m^t, m = w σ'(x_u) = {m:.3g}")
    ax2.set_xlabel("t")
    ax2.set_ylabel("|∂x_t / ∂x_0|")
    ax2.set_title("the derivative explodes while crossing")
    ax2.legend(loc="lower center", fontsize=7)
    return fig
