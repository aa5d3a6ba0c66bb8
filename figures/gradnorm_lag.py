"""Gradient norm ‖∂x_T/∂x_{T-ℓ}‖ against the lag ℓ for tanh and sigmoid networks at
several gains: vanishing, near the edge, exploding (Pascanu et al. 2013, §2).

Also home of :func:`plot_single`, the picture of one :class:`GradFlowResult`
drawn by ``rnndyn gradflow``.
"""

import numpy as np

from rnndyn.results import Result, make_meta, result_type

NAME = "gradnorm-lag"
TITLE = "Gradient norm against lag: tanh and sigmoid networks, vanishing to exploding"
# W ~ N(0, g²/N) has λ1 ≈ 2g, so the paper's sufficient condition γλ1 < 1 holds for
# g < 1/2 (tanh, γ = 1) and g < 2 (sigmoid, γ = 1/4). Sigmoid states also sit away from 0
# (σ(0) = 1/2 drives every unit), where σ' < 1/4, so its edge lies near g ≈ 10, not 4.
DEFAULTS = {"seed": 0, "n": 50, "steps": 200, "form": "pascanu",
            "tanh_gains": [0.5, 1.0, 2.0], "sigmoid_gains": [2.0, 10.0, 20.0]}
LN10 = np.log(10.0)


@result_type
class GradNormLagResult(Result):
    """Curves of log10 ‖∂x_T/∂x_{T-ℓ}‖₂, one row per (activation, gain)."""

    lag: np.ndarray            # (T+1,)
    log10_norm: np.ndarray     # (curves, T+1)
    gain: np.ndarray           # (curves,)
    rate_per_step: np.ndarray  # (curves,) fitted ln-slope per step
    bound_rate: np.ndarray     # (curves,) ln(γ λ1)
    activations: list          # (curves,) names
    meta: dict


def compute(params):
    """One trajectory from a random x0 (N(0,1)) per network; see :func:`gradient_flow`."""
    from rnndyn.gradflow import gradient_flow
    from rnndyn.models import make_rnn
    rows, gains, rates, bounds, acts = [], [], [], [], []
    for act in ("tanh", "sigmoid"):
        for g in params[f"{act}_gains"]:
            rnn = make_rnn(params["n"], activation=act, form=params["form"], gain=g,
                           seed=params["seed"])
            res = gradient_flow(rnn, "random", params["steps"], jacobian_stats=False,
                                seed=params["seed"])
            rows.append(res.log10_norm)
            gains.append(g)
            rates.append(res.rate_per_step)
            bounds.append(res.bound_rate_per_step)
            acts.append(act)
    return GradNormLagResult(lag=np.arange(params["steps"] + 1), log10_norm=np.array(rows),
                             gain=np.array(gains, dtype=float),
                             rate_per_step=np.array(rates), bound_rate=np.array(bounds),
                             activations=acts, meta=make_meta(params, seed=params["seed"]))


def plot(result):
    """Two panels (tanh, sigmoid): log10 norm against lag, one line per gain."""
    from rnndyn.figures.style import new_figure
    fig, axes = new_figure(1, 2, figsize=(9.0, 3.6), sharey=True)
    for ax, act in zip(axes[0], ("tanh", "sigmoid")):
        idx = [i for i, a in enumerate(result.activations) if a == act]
        for i in idx:
            ax.plot(result.lag, result.log10_norm[i],
                    label=f"$g$ = {result.gain[i]:g}: {result.rate_per_step[i] / LN10:+.3f}"
                          rf" /step (bound $\gamma\lambda_1$ = {np.exp(result.bound_rate[i]):.2g})")
        ax.axhline(0.0, color="0.6", lw=0.8, ls=":")
        gamma = "1" if act == "tanh" else "1/4"
        n = result.meta.get("params", {}).get("n", "?")
        ax.set_title(rf"{act} ($\gamma$ = {gamma}), $N$ = {n}, $W \sim \mathcal{{N}}(0, g^2/N)$")
        ax.set_xlabel("lag $T - k$")
        ax.legend(fontsize="small", title=r"gain: fitted $\log_{10}$ rate")
    axes[0][0].set_ylabel(r"$\log_{10}\|\partial x_T/\partial x_k\|_2$")
    return fig


def plot_single(result):
    """The picture of one gradient-flow run: norms against lag, and J_t's spectra."""
    from rnndyn.figures.style import new_figure
    has_stats = len(result.jac_t) > 0
    fig, axes = new_figure(1, 2 if has_stats else 1, figsize=(9.0 if has_stats else 4.8, 3.6))
    ax = axes[0][0]
    lag = result.lag
    ax.plot(lag, result.log10_norm, label=r"spectral $\|\cdot\|_2$")
    ax.plot(lag, result.log_frob / LN10, ls="--", label="Frobenius")
    if result.log_delta is not None:
        ax.plot(lag, result.log_delta / LN10, ls="-.",
                label=r"$\|\delta_T\, \partial x_T/\partial x_k\|$")
    lo, hi = result.fit_window
    if np.isfinite(result.rate_per_step):
        y0 = np.mean(result.log_norm[lo:hi + 1]) - result.rate_per_step * np.mean(lag[lo:hi + 1])
        seg = np.array([lo, hi])
        ax.plot(seg, (y0 + result.rate_per_step * seg) / LN10, color="k", lw=0.8,
                label=f"fit: {result.rate_per_step:+.4g} /step (ln)")
    finite = result.log10_norm[np.isfinite(result.log10_norm)]
    if np.isfinite(result.bound_rate_per_step) and finite.size:
        ax.plot(lag, lag * result.bound_rate_per_step / LN10, color="0.5", ls=":",
                label=r"bound $(\gamma\lambda_1)^{\mathrm{lag}}$")
        span = finite.max() - finite.min()
        ax.set_ylim(finite.min() - 0.1 * span - 0.5, finite.max() + 0.1 * span + 0.5)
    if result.zero_product_lag >= 0:
        ax.axvline(result.zero_product_lag, color="r", lw=0.8,
                   label=f"product exactly 0 from lag {result.zero_product_lag}")
    ax.set_xlabel("lag $T - k$")
    ax.set_ylabel(r"$\log_{10}$ norm of $\partial x_T/\partial x_k$")
    from rnndyn.figures.style import network_label
    ax.set_title(f"{network_label(result.meta)}, "
                 f"{result.meta.get('model', {}).get('form', '')} form, $T$ = {lag[-1]}")
    ax.legend(fontsize="small")
    if has_stats:
        ax = axes[0][1]
        for values, label in ((result.jac_max_sv, r"$\sigma_\max(J_t)$"),
                              (result.jac_spectral_radius, r"$\rho(J_t)$"),
                              (result.jac_min_sv, r"$\sigma_\min(J_t)$")):
            # zeros (relu units off) have no place on a log axis: left as gaps
            ax.plot(result.jac_t, np.where(values > 0, values, np.nan), label=label)
        ax.axhline(1.0, color="0.6", lw=0.8, ls=":")
        ax.set_yscale("log")
        ax.set_xlabel("step $t$")
        ax.set_title("one-step Jacobians")
        ax.legend(fontsize="small")
    return fig
