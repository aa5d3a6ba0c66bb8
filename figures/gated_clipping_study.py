"""Success rate against sequence length on the temporal-order task for vanilla SGD-C and
SGD-CR (smart-tanh) against LSTM and GRU with SGD-C (PyTorch's initialisation): the paper's
Figure 7 set-up with the gated cells added (`rnndyn study clipping --cells`).

The default is a *small* study (lengths 10 and 20, three seeds, 2,000 updates per run, N = 50:
24 runs on two worker processes, about a minute on the 2-core machine) so that
``rnndyn figure all`` stays bounded; a failure within 2,000 updates is not a failure in the
paper's sense (up to 5M updates). A real study is `rnndyn study clipping --cells
vanilla,lstm,gru --inits smart-tanh --methods sgd-c,sgd-cr --out DIR`, re-plotted with the
``study`` parameter (its folder).
"""

import numpy as np

from rnndyn.figures.clipping_study import (_n_hidden, compute, length_axes,  # noqa: F401
                                           success_line, wilson_interval)

NAME = "gated-clipping-study"
TITLE = ("Success rate vs sequence length: vanilla SGD-C, SGD-CR; LSTM, GRU SGD-C "
         "(temporal order, small budget)")
DEFAULTS = {
    "seed": 0,
    "task": "temporal-order",
    "lengths": [10, 20],
    "methods": ["sgd-c", "sgd-cr"],
    "inits": ["smart-tanh"],
    "cells": ["vanilla", "lstm", "gru"],
    "gated_init": "pytorch",
    "n_seeds": 3,
    "budget": 2000,
    "eval_every": 250,
    "eval_size": 1000,
    "workers": 2,
    "study": None,
}
STYLE = {("sgd-c", "vanilla"): ("C3", "s", "-"), ("sgd-cr", "vanilla"): ("C3", "^", "--"),
         ("sgd-c", "lstm"): ("C0", "o", "-"), ("sgd-c", "gru"): ("C1", "D", "-")}


def plot(result):
    """One panel: a line per (cell, method) that has runs, 68 % Wilson bars."""
    from rnndyn.figures.style import new_figure
    fig, axes = new_figure(1, 1, figsize=(5.6, 4.0))
    ax = axes[0, 0]
    lengths = np.asarray(result.lengths)
    step = np.min(np.diff(lengths)) if lengths.size > 1 else 1.0
    lines = [(a, b) for a in range(len(result.inits)) for b in range(len(result.methods))
             if np.any(np.asarray(result.n_runs[a, b]) > 0)]
    for j, (a, b) in enumerate(lines):
        init, method = result.inits[a], result.methods[b]
        cell = init if init in ("lstm", "gru") else "vanilla"
        col, mark, ls = STYLE.get((method, cell), (f"C{j}", "o", "-"))
        x = lengths + (j - (len(lines) - 1) / 2) * 0.05 * step
        label = (f"{cell.upper()} {method.upper()}" if cell != "vanilla"
                 else f"vanilla ({init}) {method.upper()}")
        success_line(ax, result, a, b, x, color=col, marker=mark, ls=ls, label=label)
    length_axes(ax, lengths)
    ax.set_title(f"{result.task}, $N$ = {_n_hidden(result)}: budget {result.budget:,} updates, "
                 f"{len(result.seeds)} seed(s) per point", fontsize=8.5)
    return fig
