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


def _sci(x):
    """A power of ten as mathtext 10^{n} (1e-06 -> 10^{-6}), other numbers as %g."""
    if x > 0:
        e = np.log10(x)
        if abs(e - round(e)) < 1e-9:
            return f"10^{{{int(round(e))}}}"
    return f"{x:g}"


def plot(result):
    """Left: x_t of both trajectories, the boundary dashed and the attractors dotted.
    Right: |∂x_t/∂x_0| in log scale with the initial growth rate m^t."""
    from rnndyn.figures.style import new_figure
    fig, axes = new_figure(1, 2, figsize=(8.4, 3.4))
    ax, ax2 = axes[0]
    t = np.arange(result.x.shape[1])
    for k, (sign, col) in enumerate(((-1, "#0072B2"), (1, "#D55E00"))):
        ax.plot(t, result.x[k], color=col,
                label=rf"$x_0 = x_u {'-' if sign < 0 else '+'} {_sci(result.delta)}$")
        # the second dashed: where the two coincide (a symmetric neuron) both stay visible
        ax2.semilogy(t, np.abs(result.dxdx0[k]), color=col, ls="-" if k == 0 else (0, (4, 3)))
    ax.axhline(result.boundary, color="k", ls="--", lw=1.0,
               label=rf"basin boundary $x_u$ = {result.boundary:.4g} (repelling)")
    for i, s in enumerate(result.stable):
        ax.axhline(s, color="0.4", ls=":", lw=1.0, label="stable fixed points" if i == 0 else None)
    ax.set_xlabel("$t$")
    ax.set_ylabel("$x_t$")
    ax.set_title(rf"one {result.activation} neuron ($N$ = 1) $x_t = w\,\sigma(x_{{t-1}}) + b$,"
                 f"\n$w$ = {result.w:g}, $b$ = {result.b:g}")
    # below the panel: the trajectories fill the corners
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.17), ncol=2, fontsize=7)
    m = result.multiplier
    tt = t[: max(2, int(np.log(1.0 / result.delta) / np.log(m)))]
    ax2.semilogy(tt, m ** tt.astype(float), "k--", lw=1.0,
                 label=rf"$m^t$, $m = w\,\sigma'(x_u)$ = {m:.3g}")
    ax2.set_xlabel("$t$")
    ax2.set_ylabel(r"$|\partial x_t / \partial x_0|$")
    ax2.set_title("the derivative explodes while crossing")
    ax2.legend(loc="upper center", bbox_to_anchor=(0.5, -0.17), fontsize=7)
    return fig
