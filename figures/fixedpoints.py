"""Fixed points and slow points of a random tanh network, with the eigenvalues of
the Jacobian at each fixed point against the unit circle (Sussillo & Barak 2013)."""

import numpy as np

NAME = "fixed-points"
TITLE = "Fixed and slow points of a random tanh RNN (N = 20, gain 1.5), eigenvalues at each"
# slow_q: minima of q = ½‖F(x) − x‖² up to this are slow points; this network has two
# (q ≈ 3e-4) that the library's default (1e-4) would not report
DEFAULTS = {"n": 20, "gain": 1.5, "activation": "tanh", "form": "pascanu", "n_starts": 64,
            "slow_q": 1e-2, "seed": 0}
KIND_COLOURS = {"stable": "#009E73", "saddle": "#E69F00", "unstable": "#D55E00",
                "marginal": "#CC79A7"}


def compute(params):
    """FixedPointsResult of a seeded Gaussian network W ~ N(0, gain²/N)."""
    from rnndyn.fixedpoints import fixed_points
    from rnndyn.models import make_rnn
    rnn = make_rnn(int(params["n"]), activation=params["activation"], form=params["form"],
                   gain=float(params["gain"]), seed=int(params["seed"]))
    res = fixed_points(rnn, n_starts=int(params["n_starts"]), seed=int(params["seed"]),
                       slow_q=float(params.get("slow_q", 1e-4)))
    res.meta["recipe"] = {"name": NAME, "gain": float(params["gain"]), "init": "gaussian"}
    return res


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
        labels = ("$x_1$", "$x_2$" if N > 1 else "")
    else:
        mean = allp.mean(axis=0)
        _, _, Vt = np.linalg.svd(allp - mean, full_matrices=False)
        V = Vt[:2].T if Vt.shape[0] >= 2 else np.column_stack([Vt[0], np.zeros(N)])
        proj = lambda X: (X - mean) @ V
        labels = ("PC 1", "PC 2")
    ax = axes[0, 0]
    for kind, col in KIND_COLOURS.items():
        sel = [k for k, kd in enumerate(result.kinds) if kd == kind]
        if sel:
            ax.plot(*proj(P[sel]).T, "o", color=col, ms=7, label=f"{kind} fixed point ({len(sel)})")
    slow_q = result.meta.get("params", {}).get("slow_q")
    if len(S):
        xy = proj(S)
        ax.plot(*xy.T, "D", ms=6, mfc="white", mec="0.2", mew=1.2,
                label=rf"slow point, $q \leq$ {slow_q:g} ({len(S)})" if slow_q is not None
                else f"slow point ({len(S)})")
        for (px, py), q in zip(xy, result.slow_q):
            ax.annotate(f"$q$ = {q:.1e}", (px, py), xytext=(7, 2), textcoords="offset points",
                        fontsize=7, color="0.2")
        ax.margins(0.12)
    else:
        ax.text(0.5, 0.02, "no slow points found" + (rf" with $q \leq$ {slow_q:g}"
                                                    if slow_q is not None else ""),
                transform=ax.transAxes, ha="center", va="bottom", fontsize=7, color="0.3")
    ax.set_xlabel(labels[0] + " of the points")
    ax.set_ylabel(labels[1])
    ax.set_title(r"fixed points $F(x^*) = x^*$ and slow points"
                 "\n" r"(local minima of $q = \frac{1}{2}\|F(x) - x\|^2 > 0$)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.16), ncol=2,
              frameon=False)
    ax = axes[0, 1]
    t = np.linspace(0, 2 * np.pi, 361)
    ax.plot(np.cos(t), np.sin(t), color="black", lw=0.8)
    for k, kind in enumerate(result.kinds):
        ax.plot(result.eig_real[k], result.eig_imag[k], ".", ms=4, color=KIND_COLOURS[kind])
    ax.set_aspect("equal")
    ax.set_xlabel(r"Re $\lambda$")
    ax.set_ylabel(r"Im $\lambda$")
    ax.set_title(r"eigenvalues of $\partial F/\partial x$ at each fixed point")
    fig.suptitle(_network_note(result), fontsize="medium")
    return fig


def _network_note(result):
    model = result.meta.get("model", {})
    gain = result.meta.get("recipe", {}).get("gain")
    act = model.get("activation", "")
    text = rf"{act} RNN $x_t = W\,\sigma(x_{{t-1}})$" if model.get("form") == "pascanu" \
        else f"{act} RNN"
    if "N" in model:
        text += f", $N$ = {model['N']}"
    if gain is not None:
        text += rf", $W \sim \mathcal{{N}}(0, g^2/N)$, $g$ = {gain:g}"
    return text + f"; {result.n_starts} starts"
