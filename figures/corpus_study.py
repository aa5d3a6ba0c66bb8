"""The figure of `rnndyn study corpus`: Table 1 on the shipped corpora as points.

One panel per corpus row (chorales; characters 1 and 5 ahead), the methods along x,
train (open) and test (filled) NLL as the mean over seeds with the seeds' range as the
bar, and the frequency baseline of the test split as a dashed line. Not a named figure
of ``rnndyn figure``: a study of the paper's size takes hours (its command says how).
"""

import numpy as np


def plot(result):
    """A matplotlib Figure of a :class:`rnndyn.study_corpus.CorpusStudyResult`."""
    import matplotlib.pyplot as plt
    from rnndyn.study_corpus import METHOD_LABELS, ROW_TITLES
    by = {(r["row"], r["method"]): r for r in result.rows}
    n = len(result.row_names)
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.4), squeeze=False)
    x = np.arange(len(result.methods))
    for ax, row in zip(axes[0], result.row_names):
        for fold, dx, face in (("train", -0.1, "none"), ("test", 0.1, None)):
            mean = np.array([np.nan if by[(row, m)][f"{fold}_mean"] is None
                             else by[(row, m)][f"{fold}_mean"] for m in result.methods])
            lo = np.array([np.nan if by[(row, m)][f"{fold}_min"] is None
                           else by[(row, m)][f"{fold}_min"] for m in result.methods])
            hi = np.array([np.nan if by[(row, m)][f"{fold}_max"] is None
                           else by[(row, m)][f"{fold}_max"] for m in result.methods])
            ax.errorbar(x + dx, mean, yerr=[mean - lo, hi - mean], fmt="o", capsize=3,
                        mfc=face, color="C0" if fold == "train" else "C1", label=fold)
        base = next((by[(row, m)]["baseline_nll"] for m in result.methods
                     if by[(row, m)]["baseline_nll"] is not None), None)
        if base is not None:
            ax.axhline(base, color="0.5", ls="--", lw=1, label="frequency baseline")
        ax.set_xticks(x, [METHOD_LABELS[m] for m in result.methods])
        ax.set_title(ROW_TITLES[row], fontsize=9)
        ax.set_xlim(-0.5, len(result.methods) - 0.5)
    axes[0][0].set_ylabel("NLL (mean over seeds, bar: range)")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"{len(result.seeds)} seed(s), at most {result.budget:,} updates, "
                 f"N = {result.n_hidden}", fontsize=9)
    fig.tight_layout()
    return fig
