"""Success rate against sequence length on the temporal-order task for one tanh layer
against 3-layer stacks without and with residual connections, all trained with SGD-C from
the paper's smart-tanh initialisation (every layer N = 50): a reduced study of issue 12
(`rnndyn study clipping --layers 1,3 --skip none,residual`).

The default is a *small* study: lengths 10, 20, 30, four seeds, at most 2,000 updates per
run (lr 0.01, minibatch 20, clipping threshold 1, success tested every 250 updates on 1,000
fresh sequences): 36 runs on two worker processes. Measured with `rnndyn figure
depth-clipping-study --out DIR` on the 2-core machine, shared with other jobs: 42 s for the
command (41 s for the study) at load average 2.4–3.3, 65 s (63 s) at load average about 5;
the same table both times (seeded), successes/runs (mean updates to success)

    =====================  ===========  ===========  ========
    model                  T = 10       T = 20       T = 30
    =====================  ===========  ===========  ========
    1 layer                3/4 (750)    1/4 (1,500)  0/4
    3 layers               0/4          0/4          0/4
    3 layers, residual     4/4 (250)    4/4 (500)    2/4 (375)
    =====================  ===========  ===========  ========

The plain stack learns nothing within the budget: smart-tanh's input weights (N(0, 0.01²))
scale what each layer passes up by about 0.01·√50 ≈ 0.07, so the readout's gradient reaches
the bottom layer (the only one that sees the input) damped twice. The residual stack's
identity path carries the bottom layer's state to the readout undamped, and the readout sees
the sum of three recurrent layers; it also has three times the parameters of one layer,
so the comparison is of depth at equal width, not at equal size. Four seeds give coarse
rates (68 % Wilson bars), and a failure within 2,000 updates is not a failure in the paper's
sense (up to 5M updates). A real study: `rnndyn study clipping --layers 1,3 --skip
none,residual --methods sgd-c --inits smart-tanh --out DIR`, re-plotted with the ``study``
parameter (its folder).
"""

import re

import numpy as np

from rnndyn.figures.clipping_study import _n_hidden, length_axes, success_line

NAME = "depth-clipping-study"
TITLE = ("Success rate vs sequence length: 1 layer vs 3 layers, with and without residual "
         "connections (SGD-C, temporal order, small budget)")
DEFAULTS = {
    "seed": 0,
    "task": "temporal-order",
    "lengths": [10, 20, 30],
    "init": "smart-tanh",
    "layers": [1, 3],
    "skips": ["none", "residual"],
    "n_seeds": 4,
    "budget": 2000,
    "eval_every": 250,
    "eval_size": 1000,
    "workers": 2,
    "study": None,
}
# (colour, marker, dashes) by skip; one layer has none
STYLE = {"one": ("k", "o", "-"), "none": ("C0", "s", "--"), "residual": ("C3", "^", "-"),
         "dense": ("C2", "D", ":")}


def compute(params):
    """The small SGD-C study in memory, or (``study`` = a folder) the runs saved there."""
    from rnndyn.study import clipping_study, collect_study
    if params.get("study"):
        return collect_study(params["study"])
    return clipping_study(params["task"], params["lengths"], ["sgd-c"], [params["init"]],
                          params["n_seeds"], seed=params["seed"], budget=params["budget"],
                          eval_every=params["eval_every"], eval_size=params["eval_size"],
                          workers=params["workers"], layers=params["layers"],
                          skips=params["skips"], out=None)


def _describe(label):
    """(model, 'one' or the skip, legend text) of an init-axis label of the study, e.g.
    'smart-tanh-3L-residual' -> ('smart-tanh', 'residual', '3 layers, residual')."""
    m = re.fullmatch(r"(.+)-(\d+)L(?:-(none|residual|dense))?", label)
    if m is None:
        return label, "one", "1 layer"
    skip = m.group(3) or "none"
    return m.group(1), skip, f"{m.group(2)} layers" + ("" if skip == "none" else f", {skip}")


def plot(result):
    """One panel: a line per model (depth, skip) with runs, 68 % Wilson bars."""
    from rnndyn.figures.style import new_figure
    fig, axes = new_figure(1, 1, figsize=(5.6, 4.0))
    ax = axes[0, 0]
    lengths = np.asarray(result.lengths)
    step = np.min(np.diff(lengths)) if lengths.size > 1 else 1.0
    b = result.methods.index("sgd-c") if "sgd-c" in result.methods else 0
    models = [a for a in range(len(result.inits)) if np.any(np.asarray(result.n_runs[a, b]))]
    models_of = sorted({_describe(result.inits[a])[0] for a in models})
    for j, a in enumerate(models):
        _, kind, label = _describe(result.inits[a])
        col, mark, ls = STYLE.get(kind, (f"C{j}", "o", "-"))
        x = lengths + (j - (len(models) - 1) / 2) * 0.05 * step
        success_line(ax, result, a, b, x, color=col, marker=mark, ls=ls, label=label)
    length_axes(ax, lengths)
    ax.set_title(f"{result.task}, {result.methods[b].upper()}, {', '.join(models_of)}, $N$ = "
                 f"{_n_hidden(result)} per layer: budget {result.budget:,} updates, "
                 f"{len(result.seeds)} seed(s)", fontsize=8)
    return fig
