"""Distribution of finite-time Lyapunov exponents next to the gradient-flow rates
of the same network: what a truncated BPTT horizon of w steps sees."""

import numpy as np

from rnndyn.results import Result, result_type

NAME = "lyapunov-finite-time"
TITLE = "Finite-time top Lyapunov exponents vs gradient-flow rates over the same windows"
DEFAULTS = {"n": 100, "gain": 1.5, "window": 25, "windows": 120, "transient": 300, "seed": 0}


@result_type
class LyapFiniteTimeGradflowResult(Result):
    """Per window i (steps t_i … t_i + w after the transient): the top finite-time
    exponent ``finite_time[i]`` (QR method) and ``gradflow_rate[i]`` =
    log‖∂x_{t_i+w}/∂x_{t_i}‖₂ / w; ``exponent`` is λ_1 over all windows."""
    finite_time: np.ndarray
    gradflow_rate: np.ndarray
    window: int
    exponent: float
    meta: dict


def compute(params):
    """Both quantities on one trajectory of a seeded W ~ N(0, gain²/N) tanh network."""
    from rnndyn.gradflow import gradient_flow
    from rnndyn.lyapunov import finite_time_exponents
    from rnndyn.models import make_rnn
    from rnndyn.results import make_meta
    from rnndyn.simulate import initial_state, trajectory
    seed = int(params["seed"])
    w, nw, tr = int(params["window"]), int(params["windows"]), int(params["transient"])
    rnn = make_rnn(int(params["n"]), gain=float(params["gain"]), seed=seed)
    x0 = initial_state(rnn, "random", seed=seed + 1)
    ft = finite_time_exponents(rnn, x0, w * nw, w, k=1, transient=tr, seed=seed)
    X, _ = trajectory(rnn, x0, tr + w * nw)
    rates = np.empty(nw)
    for i in range(nw):
        # the gradient through window i: ∂x_{t+w}/∂x_t starting from the state x_t
        gf = gradient_flow(rnn, X[tr + i * w], w, jacobian_stats=False, seed=seed)
        rates[i] = gf.log_norm[w] / w
    meta = make_meta(params, seed=seed, model=rnn,
                     method="finite-time: QR method over windows; gradient flow: "
                            "rnndyn.gradflow.gradient_flow, spectral norm at lag w")
    return LyapFiniteTimeGradflowResult(finite_time=ft.exponents[:, 0], gradflow_rate=rates,
                                        window=w, exponent=float(ft.mean[0]), meta=meta)


def plot(result):
    """Left: histograms of both rates; right: one against the other, window by window
    (the spectral norm bounds the growth of any one direction, so points lie above
    the diagonal)."""
    from rnndyn.figures.style import new_figure
    fig, axes = new_figure(1, 2, figsize=(8.6, 3.5))
    ft, gr = result.finite_time, result.gradflow_rate
    ok = np.isfinite(ft) & np.isfinite(gr)
    ax = axes[0, 0]
    lo = float(min(ft[ok].min(), gr[ok].min())) if ok.any() else -1.0
    hi = float(max(ft[ok].max(), gr[ok].max())) if ok.any() else 1.0
    bins = np.linspace(lo, hi, 30) if hi > lo else 10
    ax.hist(ft[ok], bins=bins, alpha=0.7, color="C0",
            label=rf"finite-time $\lambda_1$ ($w$ = {result.window})")
    ax.hist(gr[ok], bins=bins, alpha=0.7, color="C3",
            label=r"$\ln\|\partial x_{t+w}/\partial x_t\|_2\,/\,w$")
    ax.axvline(result.exponent, color="k", lw=1, label=rf"$\lambda_1$ = {result.exponent:.3f}")
    ax.axvline(0.0, color="grey", lw=0.6, ls=":")
    ax.set_xlabel("growth rate (nats/step)")
    ax.set_ylabel("windows")
    ax.legend(fontsize=7, loc="best")
    ax = axes[0, 1]
    ax.plot(ft[ok], gr[ok], ".", color="C2", ms=4)
    if ok.any():
        ax.plot([lo, hi], [lo, hi], color="k", lw=0.6, ls="--", label="equal")
    ax.set_xlabel(r"finite-time $\lambda_1$ (nats/step)")
    ax.set_ylabel(r"gradient-flow rate $\ln\|\partial x_{t+w}/\partial x_t\|_2\,/\,w$")
    ax.legend(fontsize=7, loc="best")
    model = result.meta.get("model", {})
    p = result.meta.get("params", {})
    fig.suptitle(rf"{model.get('activation', 'tanh')} RNN, $N$ = {model.get('N', p.get('n', '?'))},"
                 rf" $W \sim \mathcal{{N}}(0, g^2/N)$, $g$ = {p.get('gain', '?')}; "
                 f"{len(ft)} windows of $w$ = {result.window} steps", fontsize="medium")
    return fig
