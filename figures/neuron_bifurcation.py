"""The paper's bifurcation diagram (Pascanu et al. 2013, Fig. 2): one sigmoid neuron
x ← w σ(x) + b with w = 5 and b swept. Stable fixed points solid, the repelling one
(the basin boundary) dashed, the brute-force orbits as dots, the folds marked."""

import numpy as np
from rnndyn._validate import InputError

NAME = "neuron-bifurcation"
TITLE = "One sigmoid neuron, w = 5, b swept: stable branches solid, basin boundary dashed"
DEFAULTS = {"activation": "sigmoid", "w": 5.0, "b": [-3.2, -1.8, 701],
            "x0": [-5.0, 5.0], "n_transient": 1000, "n_record": 16, "seed": 0}


def _axis(spec, name):
    from rnndyn._validate import as_float, as_int
    if isinstance(spec, (list, tuple)):
        if len(spec) != 3:
            raise InputError(f"{name} must be a number or [start, stop, num], got {spec!r}")
        return np.linspace(as_float(spec[0], f"{name} start"), as_float(spec[1], f"{name} stop"),
                           as_int(spec[2], f"{name} num", minimum=1))
    return as_float(spec, name)


def compute(params):
    """BifurcationDiagram of the sweep (deterministic; the seed is only recorded)."""
    from rnndyn.bifurcation import bifurcation_diagram
    return bifurcation_diagram(_axis(params["w"], "w"), _axis(params["b"], "b"),
                               activation=params["activation"], x0=params["x0"],
                               n_transient=params["n_transient"], n_record=params["n_record"])


def branches(result):
    """Split the fixed points into continuous branches for plotting.

    Returns a list of (label, values, x, kind) with kind 'stable', 'boundary'
    (repelling, multiplier > 1) or 'flip' (multiplier < −1); x is NaN where the
    branch does not exist. Roots are assigned by position relative to the
    critical points ±x_c(w) of x − w σ(x), so branches never jump across a fold.
    """
    from rnndyn import neuron
    xc = neuron.critical_points(result.w, result.activation)
    xc = np.where(np.isfinite(xc), xc, np.inf)          # monostable: all roots "middle"
    out = []
    X, M = result.fixed_points, result.multiplier
    for label, sel in (("lower", lambda x: x < -xc[:, None]),
                       ("middle", lambda x: np.abs(x) <= xc[:, None]),
                       ("upper", lambda x: x > xc[:, None])):
        mask = np.isfinite(X) & sel(X)
        for kind, kmask in (("stable", np.abs(M) < 1), ("boundary", M >= 1),
                            ("flip", M <= -1)):
            m = mask & kmask
            if m.any():
                # at most one root per branch and parameter value
                out.append((label, result.values, _first(np.where(m, X, np.nan)), kind))
    return out


def _first(x):
    """The finite entry of each row (NaN when none)."""
    has = np.isfinite(x).any(axis=1)
    idx = np.argmax(np.isfinite(x), axis=1)
    return np.where(has, x[np.arange(x.shape[0]), idx], np.nan)


def draw(ax, result, *, orbit_dots=True):
    """Draw the diagram on ``ax`` (used by the recipe and by ``rnndyn bifurcation``)."""
    v = result.values
    if orbit_dots:
        K, P, R = result.orbits.shape
        vv = np.broadcast_to(v[None, :, None], result.orbits.shape)
        ax.plot(vv.ravel(), result.orbits.ravel(), ".", ms=1.2, mew=0, color="0.3",
                rasterized=True, label="orbits (after transient)")
    styles = {"stable": dict(color="#0072B2", ls="-", lw=1.8),
              "boundary": dict(color="#D55E00", ls="--", lw=1.4),
              "flip": dict(color="#CC79A7", ls=":", lw=1.4)}
    names = {"stable": "stable fixed point", "boundary": "basin boundary (unstable)",
             "flip": "unstable (flip) fixed point"}
    seen = set()
    for _, values, x, kind in branches(result):
        ax.plot(values, x, **styles[kind], label=None if kind in seen else names[kind])
        seen.add(kind)
    key = result.parameter
    for p in result.bifurcations:
        ax.plot(p[key], p["x"], "o" if p["type"] == "fold" else "s", ms=5, mfc="white",
                mec="k", zorder=5)
        ax.annotate(f"{p['type']} ${key}$ = {p[key]:.4f}", (p[key], p["x"]), fontsize=7,
                    xytext=(4, 4), textcoords="offset points")
    other = "w" if key == "b" else "b"
    ax.set_xlabel(f"${key}$")
    ax.set_ylabel("$x$")
    ax.set_title(rf"one {result.activation} neuron ($N$ = 1) $x_t = w\,\sigma(x_{{t-1}}) + b$, "
                 f"${other}$ = {getattr(result, other)[0]:g}")
    ax.legend(loc="upper left", fontsize=7)


def plot(result):
    """Orbit dots, fixed-point branches (solid stable, dashed boundary), fold markers."""
    from rnndyn.figures.style import new_figure
    fig, axes = new_figure(1, 1, figsize=(5.2, 3.8))
    draw(axes[0, 0], result)
    return fig
