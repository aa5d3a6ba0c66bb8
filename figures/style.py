"""The packaged matplotlib style, applied through a context (never global rcParams)."""

import os

STYLE_PATH = os.path.join(os.path.dirname(__file__), "rnndyn.mplstyle")


def style_context():
    """``with style_context(): ...`` plots in the rnndyn style."""
    import matplotlib.style
    return matplotlib.style.context(STYLE_PATH)


def new_figure(nrows=1, ncols=1, *, figsize=None, **kwargs):
    """A pyplot-free Figure and its axes (safe in headless and threaded use)."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=figsize or (4.2 * ncols, 3.2 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    return fig, axes
