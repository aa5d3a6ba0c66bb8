"""Success rate against sequence length, one panel per initialisation, one line
per training method (the paper's Figure 7).

The default computation is a *small* study (smart-tanh, lengths 10, 15, 20, four
seeds, 2,000 updates per run: 36 runs, about 15-20 s in this process) so that
``rnndyn figure all`` stays quick. At this budget SGD-CR solves every length with
every seed while plain and clipped SGD fall from 3 of 4 seeds at L = 10 to 1 of 4
at L = 20. Four seeds give a coarse rate (the error bars are 68 % Wilson
intervals), and a failure within 2,000 updates is not a failure in the paper's
sense (up to 5M updates). A real
study is run with ``rnndyn study clipping`` and re-plotted from its folder,
either with ``rnndyn figure clipping-study --replot --out FOLDER --overwrite``
(it reads ``FOLDER/clipping-study.npz/.json``) or through the ``study``
parameter of :func:`compute` (a folder with ``runs/``).
"""

import numpy as np

NAME = "clipping-study"
TITLE = ("Success rate vs sequence length per method and init (paper's Fig. 7); "
         "default: small budget, 4 seeds")
DEFAULTS = {
    "seed": 0,
    "task": "temporal-order",
    "lengths": [10, 15, 20],
    "methods": ["sgd", "sgd-c", "sgd-cr"],
    "inits": ["smart-tanh"],
    "n_seeds": 4,
    "budget": 2000,
    "eval_every": 250,
    "eval_size": 1000,
    "workers": 0,
    "study": None,
}

MARKERS = {"sgd": "o", "sgd-c": "s", "sgd-cr": "^"}
LABELS = {"sgd": "SGD", "sgd-c": "SGD-C (clipping)", "sgd-cr": r"SGD-CR (clipping + $\Omega$)"}
# lines of different methods often coincide (all at 0 % or 100 %): shrinking
# markers, distinct dashes and a small sideways offset keep every one of them visible
SIZES = (7, 5.5, 4.5, 3.5)
DASHES = ("-", "--", ":", "-.")
Z68 = 1.0  # the Wilson interval's z: about 68 % coverage


def wilson_interval(k, n, z=Z68):
    """Wilson score interval (lo, hi) of a success rate k/n (NaN where n = 0)."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        den = 1.0 + z * z / n
        mid = (p + z * z / (2 * n)) / den
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return mid - half, mid + half


def compute(params):
    """A tiny study in memory, or (``study`` = a folder) the runs saved there."""
    from rnndyn.study import clipping_study, collect_study
    if params.get("study"):
        return collect_study(params["study"])
    return clipping_study(params["task"], params["lengths"], params["methods"],
                          params["inits"], params["n_seeds"], seed=params["seed"],
                          budget=params["budget"], eval_every=params["eval_every"],
                          eval_size=params["eval_size"], workers=params["workers"],
                          cells=params.get("cells", ("vanilla",)),
                          gated_init=params.get("gated_init", "pytorch"), out=None)


def _n_hidden(result):
    """Hidden units of the runs: the study's option, else the trainer's default."""
    opts = (result.meta.get("params") or {}).get("options") or {}
    if "n_hidden" in opts:
        return opts["n_hidden"]
    import inspect
    from rnndyn.training import train
    return inspect.signature(train).parameters["n_hidden"].default


def success_line(ax, result, a, b, x, **style):
    """Success rate (%) of the study's cell [a, b] against length, at positions x, with
    68 % Wilson bars (the one drawing of the clipping-study figures)."""
    rate = 100.0 * np.asarray(result.success_rate[a, b], dtype=float)
    lo, hi = wilson_interval(result.n_success[a, b], result.n_runs[a, b])
    yerr = np.vstack([rate - 100 * lo, 100 * hi - rate])
    ax.errorbar(x, rate, yerr=np.where(np.isfinite(yerr), yerr, 0.0), capsize=2,
                elinewidth=0.8, **style)


def length_axes(ax, lengths):
    """Labels, limits and ticks of a one-panel success-rate-against-length plot."""
    ax.set_xlabel("sequence length $T$")
    ax.set_ylabel("success rate (%)")
    ax.set_ylim(-5, 108)
    ax.set_xticks(lengths)
    ax.legend(fontsize=7, loc="best")


def plot(result):
    """One panel per initialisation: success rate (%) against length, a line per method."""
    from rnndyn.figures.style import new_figure
    n = len(result.inits)
    fig, axes = new_figure(1, n, figsize=(max(4.6, 3.6 * n), 3.8), sharey=True)
    lengths = np.asarray(result.lengths)
    nm = len(result.methods)
    step = np.min(np.diff(lengths)) if lengths.size > 1 else 1.0
    for a, init in enumerate(result.inits):
        ax = axes[0, a]
        for b, method in enumerate(result.methods):
            x = lengths + (b - (nm - 1) / 2) * 0.06 * step
            success_line(ax, result, a, b, x, marker=MARKERS.get(method, "o"),
                         label=LABELS.get(method, method.upper()),
                         markersize=SIZES[b % len(SIZES)], linestyle=DASHES[b % len(DASHES)])
        ax.set_title(init)
        ax.set_xlabel("sequence length $T$")
        ax.set_ylim(-5, 108)
        ax.set_xticks(lengths)
        ax.tick_params(axis="x", labelrotation=45 if len(lengths) > 6 else 0)
    axes[0, 0].set_ylabel("success rate (%)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels),
               fontsize="small")
    note = (f"{result.task}, $N$ = {_n_hidden(result)} hidden units: budget "
            f"{result.budget:,} updates,\n{len(result.seeds)} seed(s) per point; "
            "bars: 68 % Wilson interval")
    if result.n_missing:
        note += f", {result.n_missing} run(s) unfinished"
    fig.suptitle(note, fontsize="medium")
    return fig
