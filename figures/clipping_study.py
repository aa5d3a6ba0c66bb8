"""Success rate against sequence length, one panel per initialisation, one line
per training method (the paper's Figure 7).

The default computation is a *tiny* study (1,000 updates per run, one seed,
lengths 10 and 20, about 12 s of CPU) so that ``rnndyn figure all`` stays
quick; at this budget only SGD-CR solves L = 10, which is a hint, not a result. A real
study is run with ``rnndyn study clipping`` and re-plotted from its folder,
either with ``rnndyn figure clipping-study --replot --out FOLDER --overwrite``
(it reads ``FOLDER/clipping-study.npz/.json``) or through the ``study``
parameter of :func:`compute` (a folder with ``runs/``).
"""

import numpy as np

NAME = "clipping-study"
TITLE = ("Success rate vs sequence length per method and init (paper's Fig. 7); "
         "default: tiny budget")
DEFAULTS = {
    "seed": 0,
    "task": "temporal-order",
    "lengths": [10, 20],
    "methods": ["sgd", "sgd-c", "sgd-cr"],
    "inits": ["smart-tanh"],
    "n_seeds": 1,
    "budget": 1000,
    "eval_every": 250,
    "eval_size": 1000,
    "workers": 0,
    "study": None,
}

MARKERS = {"sgd": "o", "sgd-c": "s", "sgd-cr": "^"}
# lines of different methods often coincide (all at 0 % or 100 %): shrinking
# markers and distinct dashes keep every one of them visible
SIZES = (8, 6, 4.5, 3.5)
DASHES = ("-", "--", ":", "-.")


def compute(params):
    """A tiny study in memory, or (``study`` = a folder) the runs saved there."""
    from rnndyn.study import clipping_study, collect_study
    if params.get("study"):
        return collect_study(params["study"])
    return clipping_study(params["task"], params["lengths"], params["methods"],
                          params["inits"], params["n_seeds"], seed=params["seed"],
                          budget=params["budget"], eval_every=params["eval_every"],
                          eval_size=params["eval_size"],
                          workers=params["workers"], out=None)


def plot(result):
    """One panel per initialisation: success rate (%) against length, a line per method."""
    from rnndyn.figures.style import new_figure
    n = len(result.inits)
    fig, axes = new_figure(1, n, figsize=(3.6 * n, 3.2), sharey=True)
    lengths = np.asarray(result.lengths)
    for a, init in enumerate(result.inits):
        ax = axes[0, a]
        for b, method in enumerate(result.methods):
            rate = 100.0 * np.asarray(result.success_rate[a, b])
            ax.plot(lengths, rate, marker=MARKERS.get(method, "o"), label=method.upper(),
                    markersize=SIZES[b % len(SIZES)], linestyle=DASHES[b % len(DASHES)])
        ax.set_title(init)
        ax.set_xlabel("sequence length")
        ax.set_ylim(-5, 105)
        ax.set_xticks(lengths)
        ax.tick_params(axis="x", labelrotation=45 if len(lengths) > 6 else 0)
    axes[0, 0].set_ylabel("success rate (%)")
    axes[0, -1].legend(loc="best", fontsize="small")
    note = f"{result.task}: budget {result.budget:,} updates, {len(result.seeds)} seed(s)"
    if result.n_missing:
        note += f", {result.n_missing} run(s) unfinished"
    fig.suptitle(note, fontsize="medium")
    return fig
