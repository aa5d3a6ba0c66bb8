"""Largest Lyapunov exponent against the gain g, autonomous and input-driven:
a random input suppresses chaos and moves the transition to larger g."""

import numpy as np

from rnndyn.results import Result, result_type

NAME = "lyapunov-largest-gain"
TITLE = "Largest Lyapunov exponent against gain g, autonomous vs input-driven"
DEFAULTS = {"n": 100, "gains": [0.4, 0.6, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0],
            "steps": 2000, "transient": 500, "input_scale": 1.0, "n_inputs": 1, "seed": 0}


@result_type
class LyapLargestGainResult(Result):
    """λ_1 against ``gains`` without (``autonomous``) and with (``driven``) inputs."""
    gains: np.ndarray
    autonomous: np.ndarray
    driven: np.ndarray
    input_scale: float
    meta: dict


def compute(params):
    """Vector method on one weight draw scaled by g; the driven network gets
    Gaussian inputs u_t ~ N(0, input_scale²) through U ~ N(0, 1/M)."""
    from rnndyn.inputs import make_inputs
    from rnndyn.lyapunov import largest_lyapunov
    from rnndyn.models import make_rnn
    from rnndyn.results import make_meta
    from rnndyn.simulate import initial_state
    seed = int(params["seed"])
    M = int(params["n_inputs"])
    T, tr = int(params["steps"]), int(params["transient"])
    base = make_rnn(int(params["n"]), n_inputs=M, gain=1.0, seed=seed)
    x0 = initial_state(base, "random", seed=seed + 1)
    u = make_inputs("gaussian", T + tr, M, scale=float(params["input_scale"]), seed=seed + 2)
    gains = np.asarray(params["gains"], dtype=float)
    auto, driven = [], []
    for g in gains:
        rnn = base.with_W(g * base.W)
        auto.append(largest_lyapunov(rnn, x0, T, transient=tr, history=False,
                                     seed=seed).exponent)
        driven.append(largest_lyapunov(rnn, x0, T, transient=tr, inputs=u, history=False,
                                       seed=seed).exponent)
    meta = make_meta(params, seed=seed, model=base, method="vector method",
                     note="one weight draw W0 ~ N(0, 1/N), W = g W0")
    return LyapLargestGainResult(gains=gains, autonomous=np.array(auto),
                                 driven=np.array(driven),
                                 input_scale=float(params["input_scale"]), meta=meta)


def plot(result):
    """λ_1 against g for both conditions, with λ = 0 and g = 1 marked."""
    from rnndyn.figures.style import new_figure
    fig, axes = new_figure(1, 1, figsize=(4.8, 3.5))
    ax = axes[0, 0]
    ax.plot(result.gains, result.autonomous, "o-", color="C0", label="autonomous")
    ax.plot(result.gains, result.driven, "s-", color="C1",
            label=rf"driven ($u_t \sim \mathcal{{N}}(0, {result.input_scale:g}^2)$)")
    ax.axhline(0.0, color="k", lw=0.6, ls=":")
    ax.axvline(1.0, color="grey", lw=0.6, ls="--")
    ax.set_xlabel("gain $g$")
    ax.set_ylabel(r"$\lambda_1$ (nats/step)")
    ax.legend(loc="best")
    n = result.meta.get("model", {}).get("N", result.meta.get("params", {}).get("n", "?"))
    ax.set_title(rf"inputs suppress chaos (tanh, $N$ = {n}, $W = g\,W_0$)")
    return fig
