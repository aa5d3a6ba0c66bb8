"""The top Lyapunov exponent against the recurrent gain g for a vanilla tanh RNN, an LSTM
and a GRU (random networks, recurrent blocks N(0, g²/N)): the order-to-chaos transition
of each cell.

The vanilla network becomes chaotic at g ≈ 1 (Sompolinsky, Crisanti & Sommers 1988); the
gates multiply the recurrent drive by factors below one and the LSTM/GRU carry their state
through a convex combination, so their transitions lie at larger gains (g ≈ 3-4 at N = 64,
zero biases). Below it both decay to the zero state, where their Jacobians have the same
non-zero spectrum, that of ½ I + ¼ W_block (LSTM: W_g, GRU: W_n; with the same seed the
initialiser draws the same block), so their curves coincide there.
"""

import numpy as np

from rnndyn.results import Result, make_meta, result_type

NAME = "gated-lyapunov-gain"
TITLE = "Top Lyapunov exponent against the recurrent gain: vanilla tanh, LSTM, GRU"
DEFAULTS = {"seed": 0, "n": 64, "gains": [0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0],
            "steps": 1500, "transient": 300, "n_networks": 2}
CELLS = (("vanilla tanh (elman)", {"cell": "vanilla", "form": "elman"}),
         ("LSTM", {"cell": "lstm"}), ("GRU", {"cell": "gru"}))


@result_type
class GatedLyapGainResult(Result):
    """``exponent`` (cells, gains, networks): λ1 in nats per step, autonomous dynamics
    from a random state (seeded)."""

    gains: np.ndarray
    labels: list
    exponent: np.ndarray
    meta: dict


def compute(params):
    """λ1 by the vector method (QR of one vector every step) for each cell, gain and
    weight draw (seeds seed, seed + 1, …)."""
    from rnndyn.lyapunov import largest_lyapunov
    from rnndyn.models import make_rnn
    from rnndyn.simulate import initial_state
    seed = int(params["seed"])
    gains = np.asarray(params["gains"], dtype=float)
    K = int(params["n_networks"])
    lam = np.empty((len(CELLS), gains.size, K))
    for ci, (_, kw) in enumerate(CELLS):
        for gi, g in enumerate(gains):
            for k in range(K):
                rnn = make_rnn(int(params["n"]), gain=g, seed=seed + k, **kw)
                x0 = initial_state(rnn, "random", seed=seed + 1000 + k)
                lam[ci, gi, k] = largest_lyapunov(rnn, x0, int(params["steps"]),
                                                  transient=int(params["transient"]),
                                                  history=False, seed=seed + k).exponent
    meta = make_meta(params, seed=seed, method="vector (QR of one vector every step)",
                     units="natural log per step",
                     note=f"{K} weight draws per cell and gain, autonomous, random x0")
    return GatedLyapGainResult(gains=gains, labels=[c[0] for c in CELLS], exponent=lam,
                               meta=meta)


def plot(result):
    """λ1 against g, one line per cell (mean over networks), the draws as dots."""
    from rnndyn.figures.style import new_figure
    fig, axes = new_figure(1, 1, figsize=(5.4, 3.8))
    ax = axes[0, 0]
    gains = np.asarray(result.gains, dtype=float)
    lam = np.asarray(result.exponent, dtype=float)
    for ci, lab in enumerate(result.labels):
        col = f"C{(3, 0, 1)[ci % 3]}"
        for k in range(lam.shape[2]):
            ax.plot(gains, lam[ci, :, k], ".", color=col, ms=3, alpha=0.6)
        ax.plot(gains, lam[ci].mean(axis=1), "o-", color=col, ms=4, lw=1.3, label=lab)
    ax.axhline(0.0, color="k", lw=0.6, ls=":")
    ax.set_xscale("log")
    ax.set_xticks(gains)
    ax.set_xticklabels([f"{g:g}" for g in gains])
    ax.minorticks_off()
    ax.set_xlabel("recurrent gain $g$ (blocks $\\sim N(0, g^2/N)$)")
    ax.set_ylabel(r"$\lambda_1$ (nats/step)")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(f"{TITLE}\n$N$ = {result.meta.get('params', {}).get('n', '?')}, "
                 "autonomous; dots: single networks", fontsize=8.5)
    return fig
