"""Fixed points and slow points of a random tanh network, with the eigenvalues of
the Jacobian at each fixed point against the unit circle (Sussillo & Barak 2013)."""

import numpy as np

NAME = "fixed-points"
TITLE = "Fixed points of a random tanh RNN (N = 20, gain 1.5) and their eigenvalues"
DEFAULTS = {"n": 20, "gain": 1.5, "activation": "tanh", "form": "pascanu", "n_starts": 64,
            "seed": 0}
KIND_COLOURS = {"stable": "#009E73", "saddle": "#E69F00", "unstable": "#D55E00",
                "marginal": "#CC79A7"}


def compute(params):
    """FixedPointsResult of a seeded Gaussian network W ~ N(0, gain²/N)."""
    from rnndyn.fixedpoints import fixed_points
    from rnndyn.models import make_rnn
    rnn = make_rnn(int(params["n"]), activation=params["activation"], form=params["form"],
                   gain=float(params["gain"]), seed=int(params["seed"]))
    return fixed_points(rnn, n_starts=int(params["n_starts"]), seed=int(params["seed"]))


def plot(result):
    """Left: fixed points (coloured by kind) and slow points (grey) in the plane of
    their first two principal components (raw coordinates for N <= 2); right: the
    eigenvalues at each fixed point and the unit circle."""
    from rnndyn.figures.style import new_figure
    fig, axes = new_figure(1, 2, figsize=(8.4, 3.6))
    P, S = result.points, result.slow_points
    allp = np.concatenate([P, S]) if len(S) else P
    N = allp.shape[1] if allp.ndim == 2 else 1
    if N <= 2 or len(allp) < 2:
        proj = lambda X: np.column_stack([X[:, 0], X[:, 1] if N > 1 else np.zeros(len(X))])
        labels = ("x[0]", "x[1]" if N > 1 else "")
    else:
        mean = allp.mean(axis=0)
        _, _, Vt = np.linalg.svd(allp - mean, full_matrices=False)
        V = Vt[:2].T if Vt.shape[0] >= 2 else np.column_stack([Vt[0], np.zeros(N)])
        proj = lambda X: (X - mean) @ V
        labels = ("PC 1", "PC 2")
    ax = axes[0, 0]
    if len(S):
        ax.plot(*proj(S).T, ".", color="#999999", label=f"slow points ({len(S)})")
    for kind, col in KIND_COLOURS.items():
        sel = [k for k, kd in enumerate(result.kinds) if kd == kind]
        if sel:
            ax.plot(*proj(P[sel]).T, "o", color=col, label=f"{kind} ({len(sel)})")
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_title("fixed points and slow points")
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    t = np.linspace(0, 2 * np.pi, 361)
    ax.plot(np.cos(t), np.sin(t), color="black", lw=0.8)
    for k, kind in enumerate(result.kinds):
        ax.plot(result.eig_real[k], result.eig_imag[k], ".", ms=4, color=KIND_COLOURS[kind])
    ax.set_aspect("equal")
    ax.set_xlabel("Re λ")
    ax.set_ylabel("Im λ")
    ax.set_title("eigenvalues of ∂F/∂x at each fixed point")
    return fig
