"""A fixed-point branch of a two-neuron network x ← g R(θ) tanh(x) + b continued in
the gain g through a Neimark–Sacker point, where a complex pair of eigenvalues
leaves the unit circle and an invariant circle is born."""

import numpy as np

NAME = "continuation-neimark-sacker"
TITLE = "Continuation in the gain through a Neimark-Sacker bifurcation (2-neuron rotation)"
DEFAULTS = {"theta": 0.9, "b": [0.2, -0.1], "start": 0.3, "stop": 2.0, "n_points": 400,
            "seed": 0}


def compute(params):
    """ContinuationResult of the branch from the origin's neighbourhood at g = start."""
    from rnndyn.continuation import continuation
    from rnndyn.models import RNN
    th = float(params["theta"])
    R = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    rnn = RNN(R, None, np.array(params["b"], float), "tanh", "pascanu")
    res = continuation(rnn, "gain", start=params["start"], stop=params["stop"],
                       n_points=int(params["n_points"]), max_step=0.05)
    res.meta["recipe"] = {"name": NAME, "theta": th, "b": np.asarray(params["b"], float).tolist()}
    return res


def plot(result):
    """Left: the branch (‖x*‖ against p), solid where stable, dashed where not, with the
    located bifurcations; middle: |λ| of every eigenvalue against p; right: the
    eigenvalues in the complex plane against the unit circle."""
    from rnndyn.figures.style import new_figure
    fig, axes = new_figure(1, 3, figsize=(11.5, 3.4))
    p = result.values
    norm = np.linalg.norm(result.states, axis=1)
    ax = axes[0, 0]
    stable = result.stable
    for mask, ls, lab in ((stable, "-", "stable"), (~stable, "--", "unstable")):
        y = np.where(mask, norm, np.nan)
        # extend each run by one point so solid and dashed pieces join
        y = np.where(mask | np.roll(mask, 1) | np.roll(mask, -1), norm, np.nan) if mask.any() else y
        ax.plot(p, y, ls, color="#0072B2", label=lab)
    markers = {"fold": "s", "flip": "^", "neimark-sacker": "o"}
    # one legend entry per kind of bifurcation (a long branch can cross a dozen), listing
    # the parameter values (the first few)
    values = {}
    for bif in result.bifurcations:
        values.setdefault(bif["type"], []).append(bif["value"])
    seen = set()
    for bif in result.bifurcations:
        kind = bif["type"]
        label = None
        if kind not in seen:
            v = values[kind]
            listed = ", ".join(f"{x:.4g}" for x in v[:4]) + (", …" if len(v) > 4 else "")
            label = (f"{kind} at {_pname(result)} = {listed}" if len(v) == 1
                     else f"{kind} ({len(v)}) at {listed}")
        seen.add(kind)
        ax.plot(bif["value"], np.linalg.norm(bif["x"]), markers.get(kind, "o"), color="#D55E00",
                ms=7, label=label)
    ax.set_xlabel(_pname(result))
    ax.set_ylabel(r"$\|x^*\|$")
    ax.set_title("fixed-point branch")
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    mod = np.abs(result.eigenvalues)
    for k in range(mod.shape[1]):
        ax.plot(p, mod[:, k], color="#009E73", lw=1.0)
    ax.axhline(1.0, color="black", lw=0.8, ls=":")
    for bif in result.bifurcations:
        ax.axvline(bif["value"], color="#D55E00", lw=0.8, ls="--")
    ax.set_xlabel(_pname(result))
    ax.set_ylabel(r"$|\lambda|$ of $\partial F/\partial x$ at $x^*$")
    ax.set_title("eigenvalue moduli")
    ax = axes[0, 2]
    t = np.linspace(0, 2 * np.pi, 361)
    ax.plot(np.cos(t), np.sin(t), color="black", lw=0.8)
    lam = result.eigenvalues
    sc = ax.scatter(lam.real.ravel(), lam.imag.ravel(), c=np.repeat(p, lam.shape[1]), s=5,
                    cmap="viridis")
    fig.colorbar(sc, ax=ax, label=_pname(result))
    ax.set_aspect("equal")
    ax.set_xlabel(r"Re $\lambda$")
    ax.set_ylabel(r"Im $\lambda$")
    ax.set_title("eigenvalues and the unit circle")
    from rnndyn.figures.style import network_label
    note = network_label(result.meta)
    theta = result.meta.get("recipe", {}).get("theta")
    if theta is not None:
        note += rf", $W = g\,R(\theta)$, $\theta$ = {theta:g}"
    b = result.meta.get("recipe", {}).get("b")
    if b is not None:
        note += ", $b$ = [" + ", ".join(f"{v:g}" for v in b) + "]"
    fig.suptitle(note + f", continued in {_pname(result)}", fontsize="medium")
    return fig


def _pname(result):
    """The continuation parameter as an axis label ('gain' -> 'gain $g$')."""
    return {"gain": "gain $g$"}.get(result.parameter, result.parameter)
