"""The edge of chaos: the top Lyapunov exponent of random tanh networks over gain ×
input scale, from a parameter sweep (:mod:`rnndyn.sweep`).

Autonomous networks h ← tanh(W h), W ~ N(0, g²/N), turn chaotic at g ≈ 1; a random
input drive u_t ~ N(0, s²) suppresses chaos and moves the transition (λ1 = 0, the
contour) to larger g. The default computation is small (N = 100, 11 gains × 5 input
scales × 2 seeds, 1,000 steps: a few seconds); ``rnndyn sweep`` runs the big one,
e.g. ``--param gain=0.5:3:26 --param input_scale=0:2:11 --seeds 3 --n 200 --steps
2000``.
"""

import numpy as np

from rnndyn.results import Result, result_type

NAME = "edge-of-chaos"
TITLE = "Top Lyapunov exponent over gain × input scale (random tanh networks), λ1 = 0 contour"
DEFAULTS = {"n": 100, "gains": [0.5, 3.0, 11], "input_scales": [0.0, 0.5, 1.0, 1.5, 2.0],
            "n_seeds": 2, "steps": 1000, "transient": 200, "n_inputs": 1, "workers": 0,
            "seed": 0}


@result_type
class EdgeOfChaosResult(Result):
    """λ1 (natural log per step) of shape (gains, input scales, seeds)."""
    gains: np.ndarray
    input_scales: np.ndarray
    seeds: np.ndarray
    lyapunov_top: np.ndarray
    meta: dict


def compute(params):
    """A ``lyapunov-top`` sweep (vector method) over ``gains`` (start, stop, num) ×
    ``input_scales``; W = g W0 for one draw W0 per seed."""
    from rnndyn import sweep as sw
    from rnndyn.results import make_meta
    lo, hi, num = params["gains"]
    ds = sw.sweep([("gain", f"{float(lo)}:{float(hi)}:{int(num)}"),
                   ("input_scale", [float(v) for v in params["input_scales"]])],
                  seeds=int(params["n_seeds"]), seed=int(params["seed"]),
                  measures=["lyapunov-top"], fixed={"n": int(params["n"])},
                  steps=int(params["steps"]), transient=int(params["transient"]),
                  n_inputs=int(params["n_inputs"]), workers=int(params["workers"]))
    meta = make_meta(params, seed=int(params["seed"]), method="vector method",
                     plan=sw.plan_of(ds))
    return EdgeOfChaosResult(gains=ds.gain.values, input_scales=ds.input_scale.values,
                             seeds=ds.seed.values, lyapunov_top=ds.lyapunov_top.values,
                             meta=meta)


def dataset(result):
    """The result as the sweep's Dataset (what :func:`rnndyn.sweep.plot_variable` draws)."""
    import xarray as xr
    return xr.Dataset({"lyapunov_top": (("gain", "input_scale", "seed"), result.lyapunov_top,
                                        {"measure": "λ1 (nats/step)"})},
                      coords={"gain": result.gains, "input_scale": result.input_scales,
                              "seed": result.seeds})


def plot(result):
    """Left: heat map of the seed mean with the λ1 = 0 contour; right: λ1 against g,
    autonomous and at the strongest drive, with the seeds' range."""
    from rnndyn import sweep as sw
    from rnndyn.figures.style import new_figure
    ds = dataset(result)
    fig, axes = new_figure(1, 2, figsize=(9.4, 3.6))
    sw.plot_variable(ds, "lyapunov_top", axes[0, 0])
    n = result.meta.get("params", {}).get("n", "?")
    axes[0, 0].set_title(rf"edge of chaos (tanh, $N$ = {n})")
    ax = axes[0, 1]
    for j, color in ((0, "C0"), (result.input_scales.size - 1, "C1")):
        s = float(result.input_scales[j])
        v = result.lyapunov_top[:, j, :]
        label = "autonomous" if s == 0 else rf"driven, $u_t \sim \mathcal{{N}}(0, {s:g}^2)$"
        ax.fill_between(result.gains, v.min(axis=1), v.max(axis=1), color=color, alpha=0.2,
                        lw=0)
        ax.plot(result.gains, v.mean(axis=1), "o-", ms=3, color=color, label=label)
    ax.axhline(0.0, color="k", lw=0.6, ls=":")
    ax.axvline(1.0, color="grey", lw=0.6, ls="--")
    ax.set_xlabel("gain $g$")
    ax.set_ylabel(r"$\lambda_1$ (nats/step)")
    ax.legend(loc="upper left", fontsize="small")
    ax.set_title("inputs suppress chaos")
    return fig
