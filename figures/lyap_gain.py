"""Full Lyapunov spectra of random tanh networks for several gains g: the
transition to chaos at g ≈ 1 shows as the top exponent crossing zero."""

import numpy as np

from rnndyn.results import Result, result_type

NAME = "lyapunov-spectrum-gain"
TITLE = "Lyapunov spectra of random tanh networks W ~ N(0, g²/N) for several gains g"
DEFAULTS = {"n": 100, "gains": [0.5, 0.8, 0.95, 1.1, 1.5, 2.0, 3.0], "steps": 1500,
            "transient": 500, "seed": 0}


@result_type
class LyapGainSpectraResult(Result):
    """Spectra ``exponents`` (G, N), row g for ``gains[g]``; Kaplan–Yorke dimensions."""
    gains: np.ndarray
    exponents: np.ndarray
    kaplan_yorke_dimension: np.ndarray
    meta: dict


def compute(params):
    """Full spectrum (QR method, 'auto' interval) for each gain, same weight draw scaled."""
    from rnndyn.lyapunov import lyapunov_spectrum
    from rnndyn.models import make_rnn
    from rnndyn.results import make_meta
    from rnndyn.simulate import initial_state
    seed = int(params["seed"])
    gains = np.asarray(params["gains"], dtype=float)
    base = make_rnn(int(params["n"]), gain=1.0, seed=seed)
    x0 = initial_state(base, "random", seed=seed + 1)
    rows, dky = [], []
    for g in gains:
        res = lyapunov_spectrum(base.with_W(g * base.W), x0, int(params["steps"]),
                                transient=int(params["transient"]), history=False, seed=seed)
        rows.append(res.exponents)
        dky.append(res.kaplan_yorke_dimension)
    meta = make_meta(params, seed=seed, model=base, method="QR (Benettin)",
                     note="one weight draw W0 ~ N(0, 1/N), W = g W0")
    return LyapGainSpectraResult(gains=gains, exponents=np.array(rows),
                                 kaplan_yorke_dimension=np.array(dky), meta=meta)


def plot(result):
    """Left: λ_i against i/N for every g; right: λ_1 and D_KY/N against g."""
    import matplotlib
    from rnndyn.figures.style import new_figure
    fig, axes = new_figure(1, 2, figsize=(8.6, 3.5))
    ax = axes[0, 0]
    G, N = result.exponents.shape
    cmap = matplotlib.colormaps["plasma"]
    for i, g in enumerate(result.gains):
        ax.plot(np.arange(1, N + 1) / N, result.exponents[i], lw=1.2,
                color=cmap(i / max(G - 1, 1) * 0.9), label=f"g = {g:g}")
    ax.axhline(0.0, color="k", lw=0.6, ls=":")
    ax.set_xlabel("i / N")
    ax.set_ylabel("λ_i (nats/step)")
    fin = result.exponents[np.isfinite(result.exponents)]
    ax.set_ylim(max(fin.min(), -6.0) if fin.size else -6.0, max(0.5, fin.max() + 0.1))
    ax.legend(fontsize=7, loc="lower left")
    ax.set_title("full spectra")
    ax = axes[0, 1]
    ax.plot(result.gains, result.exponents[:, 0], "o-", color="C3", label="λ₁")
    ax.axhline(0.0, color="k", lw=0.6, ls=":")
    ax.axvline(1.0, color="grey", lw=0.6, ls="--")
    ax.set_xlabel("gain g")
    ax.set_ylabel("λ₁ (nats/step)")
    ax2 = ax.twinx()
    ax2.plot(result.gains, result.kaplan_yorke_dimension / N, "s--", color="C0", ms=3,
             label="D_KY / N")
    ax2.set_ylabel("Kaplan–Yorke dimension / N")
    ax.set_title("top exponent crosses 0 near g = 1")
    return fig
