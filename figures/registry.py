"""The registry of named figures and the code that renders them.

A recipe is a module in ``rnndyn.figures`` with:

* ``NAME``: the figure's CLI name (lower case, dashes);
* ``TITLE``: one line saying what it shows;
* ``DEFAULTS``: dict of parameters ``compute`` accepts (``seed`` among them);
* ``compute(params) -> Result``: the numbers (a ``rnndyn.results`` object);
* ``plot(result) -> matplotlib.figure.Figure``: the picture, from the result only.
"""

import importlib
import os

from rnndyn.figures.style import style_context
from rnndyn._validate import InputError

# module names inside rnndyn.figures, in the order `figure all` renders them
RECIPES = (
    # §2: gradient flow and spectra
    "gradnorm_lag",
    "nonnormal_transient",
    "spectrum",
    # Lyapunov exponents: the asymptotic growth rates
    "lyap_convergence",
    "lyap_gain",
    "lyap_driven",
    "lyap_finite_time",
    # §2.2: one neuron, bifurcations and basin boundaries
    "neuron_bifurcation",
    "neuron_wb_plane",
    "neuron_wb_plane_sigmoid",
    "basin_crossing",
    # small RNNs: fixed points, continuation, basins
    "fixedpoints",
    "continuation",
    "basins",
    # §3-5: the error surface and the clipping study
    "error_surface",
    "clipping_study",
    # parameter sweeps: phase diagrams
    "edge_of_chaos",
    "trainability_map",
    # gated cells: LSTM and GRU beside the vanilla RNN
    "gated_gradnorm",
    "gated_lyap_gain",
    "gated_clipping_study",
    # deep RNNs: the gradient through time and depth
    "depth_map",
    "depth_scaling",
    "bidir_position",
    "depth_clipping_study",
)


def recipes():
    """{NAME: module} for every registered recipe."""
    out = {}
    for mod in RECIPES:
        m = importlib.import_module(f"rnndyn.figures.{mod}")
        out[m.NAME] = m
    return out


def get(name):
    """The recipe module called ``name``; ValueError listing the names otherwise."""
    table = recipes()
    if name not in table:
        raise InputError(f"unknown figure {name!r}; known: {', '.join(table)}")
    return table[name]


def merge_params(recipe, overrides):
    """DEFAULTS updated by ``overrides``; unknown keys are an error."""
    params = dict(recipe.DEFAULTS)
    for key, value in (overrides or {}).items():
        if key not in params:
            raise InputError(f"figure {recipe.NAME}: unknown parameter {key!r}; "
                             f"known: {', '.join(sorted(params))}")
        params[key] = value
    return params


def render(name, out_dir, *, fmt="png", overwrite=False, params=None, replot=False):
    """Compute (or load, with ``replot``) figure ``name`` and save data and picture.

    Returns
    -------
    dict
        ``name``, ``figure`` (path), ``data`` (path of the .npz), ``json``.
    """
    from rnndyn.io import atomic_write, check_target
    from rnndyn.results import load_result
    recipe = get(name)
    stem = os.path.join(out_dir, name)
    fig_path = f"{stem}.{fmt}"
    check_target(fig_path, overwrite)
    if replot:
        result = load_result(stem)
    else:
        check_target(stem + ".npz", overwrite)
        check_target(stem + ".json", overwrite)
        result = recipe.compute(merge_params(recipe, params))
        result.save(stem, overwrite=overwrite)
    with style_context():
        fig = recipe.plot(result)
        atomic_write(fig_path, lambda f: fig.savefig(f, format=fmt, bbox_inches="tight"),
                     overwrite=overwrite or replot)
    return {"name": name, "figure": fig_path, "data": stem + ".npz", "json": stem + ".json"}
