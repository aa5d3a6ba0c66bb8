"""Convergence of the Lyapunov spectrum (QR method) of a random tanh RNN."""

import numpy as np

NAME = "lyapunov-convergence"
TITLE = "Running estimates of every Lyapunov exponent against the number of steps"
DEFAULTS = {"n": 64, "gain": 2.0, "activation": "tanh", "form": "pascanu", "steps": 3000,
            "transient": 200, "seed": 0}


def compute(params):
    """LyapunovResult of a seeded Gaussian network W ~ N(0, gain²/N) from a random state."""
    from rnndyn.lyapunov import lyapunov_spectrum
    from rnndyn.models import make_rnn
    from rnndyn.simulate import initial_state
    seed = int(params["seed"])
    rnn = make_rnn(int(params["n"]), activation=params["activation"], form=params["form"],
                   gain=float(params["gain"]), seed=seed)
    x0 = initial_state(rnn, "random", seed=seed + 1)
    res = lyapunov_spectrum(rnn, x0, int(params["steps"]), transient=int(params["transient"]),
                            seed=seed)
    res.meta["recipe"] = {"name": NAME, "gain": float(params["gain"]), "init": "gaussian"}
    return res


def network_note(result):
    """The network of a result, from its metadata (see style.network_label)."""
    from rnndyn.figures.style import network_label
    return network_label(result.meta, gain=result.meta.get("recipe", {}).get("gain"))


def plot(result, finite_time=None):
    """Left: running estimate of every exponent against steps (log axis); right: the
    final spectrum λ_i against i with the Kaplan–Yorke dimension. With a
    FiniteTimeResult ``finite_time``, a third panel shows the distribution of the
    top finite-time exponent."""
    from rnndyn.figures.style import new_figure
    ncols = 3 if finite_time is not None else 2
    fig, axes = new_figure(1, ncols, figsize=(4.2 * ncols, 3.4))
    ax = axes[0, 0]
    k = result.exponents.size
    steps = result.history_steps
    cmap = _cmap()
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    norm = Normalize(1, max(k, 2))
    for j in range(k):
        ax.plot(steps, result.history[:, j], lw=0.6, color=cmap(norm(j + 1)), alpha=0.8)
    # the two ends of the spectrum, labelled at the right edge
    ends = [0, k - 1] if k > 1 else [0]
    for j in ends:
        h = result.history[:, j]
        ok = np.isfinite(h)
        if ok.any():
            ax.plot(steps, h, lw=1.6, color="k" if j == 0 else "C3", zorder=3)
            last = np.flatnonzero(ok)[-1]
            ax.annotate(rf"$\lambda_{{{j + 1}}}$ = {h[last]:.3f}", (steps[last], h[last]),
                        xytext=(-4, 5 if j == 0 else -9), textcoords="offset points",
                        ha="right", fontsize=7, color="k" if j == 0 else "C3")
    cb = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="exponent index $i$",
                      pad=0.01)
    cb.ax.invert_yaxis()  # index 1 on top, as the lines
    ax.axhline(0.0, color="k", lw=0.6, ls=":")
    if np.any(np.isfinite(result.history)) and np.any(np.asarray(steps) > 0):
        ax.set_xscale("log")
    else:  # nothing to draw on a log axis (e.g. every exponent -inf)
        ax.text(0.5, 0.5, "all exponents −∞", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_xlabel("steps after the transient")
    ax.set_ylabel(r"running estimate of $\lambda_i$ (nats/step)")
    ax.set_title(f"convergence of all {k} exponents ({network_note(result)})")
    _set_finite_ylim(ax, result.history)
    ax = axes[0, 1]
    idx = np.arange(1, k + 1)
    ax.plot(idx, result.exponents, "o-", ms=2.5, lw=0.8, color="C0")
    ax.axhline(0.0, color="k", lw=0.6, ls=":")
    ax.set_xlabel("index $i$")
    ax.set_ylabel(r"$\lambda_i$ (nats/step)")
    ax.set_title(rf"$\lambda_1$ = {result.exponents[0]:.3f}, $D_\mathrm{{KY}}$ = "
                 f"{result.kaplan_yorke_dimension:.2f}, {result.n_positive} positive")
    _set_finite_ylim(ax, result.exponents)
    if not np.any(np.isfinite(result.exponents)):
        ax.text(0.5, 0.5, "all exponents −∞", ha="center", va="center",
                transform=ax.transAxes)
    if finite_time is not None:
        ax = axes[0, 2]
        v = finite_time.exponents[:, 0]
        ax.hist(v[np.isfinite(v)], bins=30, color="C1", alpha=0.8)
        ax.axvline(result.exponents[0], color="k", lw=1, label=r"$\lambda_1$")
        ax.set_xlabel(rf"finite-time $\lambda_1$ over {finite_time.window} steps")
        ax.set_ylabel("windows")
        ax.legend(loc="best")
    return fig


def _cmap():
    import matplotlib
    return matplotlib.colormaps["viridis"]


def _set_finite_ylim(ax, values):
    """y-limits from the finite values only (-inf exponents are off the axis)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size:
        lo, hi = float(v.min()), float(v.max())
        pad = 0.05 * (hi - lo) if hi > lo else 0.5
        ax.set_ylim(lo - pad, hi + pad)
