"""Full Lyapunov spectra of random tanh networks for several gains g: the
transition to chaos at g ≈ 1 shows as the top exponent crossing zero."""

import warnings

import numpy as np

from rnndyn.results import Result, result_type

NAME = "lyapunov-spectrum-gain"
TITLE = "Lyapunov spectra of random tanh networks W ~ N(0, g²/N) for several gains g"
DEFAULTS = {"n": 100, "gains": [0.5, 0.8, 0.95, 1.1, 1.5, 2.0, 3.0], "steps": 1000,
            "transient": 300, "n_networks": 3, "seed": 0}


@result_type
class LyapGainSpectraResult(Result):
    """Spectra ``exponents`` (G, S, N): gain ``gains[g]``, network s (weight draw
    seed + s); Kaplan–Yorke dimensions (G, S)."""
    gains: np.ndarray
    exponents: np.ndarray
    kaplan_yorke_dimension: np.ndarray
    meta: dict


def compute(params):
    """Full spectrum (QR method, 'auto' interval) for each gain and each of
    ``n_networks`` weight draws W0 (seeds seed, seed + 1, …), each scaled by g."""
    from rnndyn.lyapunov import lyapunov_spectrum
    from rnndyn.models import make_rnn
    from rnndyn.results import make_meta
    from rnndyn.simulate import initial_state
    seed = int(params["seed"])
    gains = np.asarray(params["gains"], dtype=float)
    S = int(params.get("n_networks", 1))
    rows = np.empty((gains.size, S, int(params["n"])))
    dky = np.empty((gains.size, S))
    base = None
    for s in range(S):
        base = make_rnn(int(params["n"]), gain=1.0, seed=seed + s)
        x0 = initial_state(base, "random", seed=seed + 1000 + s)
        for i, g in enumerate(gains):
            res = lyapunov_spectrum(base.with_W(g * base.W), x0, int(params["steps"]),
                                    transient=int(params["transient"]), history=False,
                                    seed=seed + s)
            rows[i, s] = res.exponents
            dky[i, s] = res.kaplan_yorke_dimension
    meta = make_meta(params, seed=seed, model=base, method="QR (Benettin)",
                     note=f"{S} weight draws W0 ~ N(0, 1/N) (seeds {seed}..{seed + S - 1}), "
                          "W = g W0")
    return LyapGainSpectraResult(gains=gains, exponents=rows, kaplan_yorke_dimension=dky,
                                 meta=meta)


def _three_d(result):
    """exponents (G, S, N) and D_KY (G, S); files of one network per gain are (G, N)."""
    E = np.asarray(result.exponents, dtype=float)
    D = np.asarray(result.kaplan_yorke_dimension, dtype=float)
    if E.ndim == 2:
        E, D = E[:, None, :], D[:, None]
    return E, D


def _mean_std(x, axis):
    """Mean and standard deviation over ``axis`` of the finite entries."""
    x = np.where(np.isfinite(x), x, np.nan)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
        return np.nanmean(x, axis=axis), np.nanstd(x, axis=axis)


def plot(result):
    """Left: λ_i against i/N for every g (mean over networks, ±1 std band); right:
    λ_1 and D_KY/N against g, every network as a dot, mean ± std as bars."""
    import matplotlib
    from rnndyn.figures.style import new_figure
    fig, axes = new_figure(1, 2, figsize=(9.0, 3.7))
    ax = axes[0, 0]
    E, D = _three_d(result)
    G, S, N = E.shape
    cmap = matplotlib.colormaps["plasma"]
    idx = np.arange(1, N + 1) / N
    for i, g in enumerate(result.gains):
        col = cmap(i / max(G - 1, 1) * 0.9)
        m, sd = _mean_std(E[i], 0)
        ax.plot(idx, m, lw=1.2, color=col, label=f"$g$ = {g:g}")
        if S > 1:
            ax.fill_between(idx, m - sd, m + sd, color=col, alpha=0.25, lw=0)
    ax.axhline(0.0, color="k", lw=0.6, ls=":")
    ax.set_xlabel("$i / N$")
    ax.set_ylabel(r"$\lambda_i$ (nats/step)")
    fin = E[np.isfinite(E)]
    ax.set_ylim(max(fin.min(), -6.0) if fin.size else -6.0, max(0.5, fin.max() + 0.1))
    ax.legend(fontsize=7, loc="lower left")
    ax.set_title(rf"full spectra, $N$ = {N}, {S} network(s) per $g$"
                 + (r" (mean $\pm$ std)" if S > 1 else ""))
    ax = axes[0, 1]
    ax2 = ax.twinx()
    gains = np.asarray(result.gains, dtype=float)
    jitter = 0.012 * (gains.max() - gains.min() if gains.size > 1 else 1.0)
    l1, l1s = _mean_std(E[:, :, 0], 1)
    dk, dks = _mean_std(D / N, 1)
    for s in range(S):
        ax.plot(gains - jitter, E[:, s, 0], ".", color="C3", ms=3.5, alpha=0.6)
        ax2.plot(gains + jitter, D[:, s] / N, ".", color="C0", ms=3.5, alpha=0.6)
    h1 = ax.errorbar(gains, l1, yerr=l1s if S > 1 else None, fmt="o-", color="C3", ms=4,
                     capsize=2, label=r"$\lambda_1$ (left axis)")
    h2 = ax2.errorbar(gains, dk, yerr=dks if S > 1 else None, fmt="s--", color="C0", ms=3,
                      capsize=2, label=r"$D_\mathrm{KY}/N$ (right axis)")
    ax.axhline(0.0, color="k", lw=0.6, ls=":")
    ax.axvline(1.0, color="grey", lw=0.6, ls="--")
    ax.set_xlabel("gain $g$")
    ax.set_ylabel(r"$\lambda_1$ (nats/step)", color="C3")
    ax2.set_ylabel(r"Kaplan–Yorke dimension $D_\mathrm{KY}/N$", color="C0")
    ax2.grid(False)
    ax2.spines["right"].set_visible(True)
    ax.legend(handles=[h1, h2], fontsize=7, loc="upper left",
              title="dots: single networks" if S > 1 else None, title_fontsize=7)
    ax.set_title("top exponent crosses 0 near $g$ = 1")
    return fig
