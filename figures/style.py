"""The packaged matplotlib style, applied through a context (never global rcParams)."""

import contextlib
import logging
import os

STYLE_PATH = os.path.join(os.path.dirname(__file__), "rnndyn.mplstyle")
_STYLED_FIGURE = None  # the Figure subclass, made on first use (matplotlib imported lazily)


def style_context():
    """``with style_context(): ...`` plots in the rnndyn style."""
    import matplotlib.style
    return matplotlib.style.context(STYLE_PATH)


def save_rc():
    """The style's saving settings (``savefig.*``, ``pdf.*``, ``ps.*``: Type 42 fonts, dpi)."""
    from matplotlib import rc_params_from_file
    rc = rc_params_from_file(STYLE_PATH, use_default_template=False)
    return {k: v for k, v in rc.items() if k.startswith(("savefig.", "pdf.", "ps."))}


@contextlib.contextmanager
def _quiet_font_subsetting():
    """Silence fontTools' "'created' timestamp seems very low" warnings: logged on stderr
    for matplotlib's own DejaVu fonts whenever they are subset for a Type 42 PDF."""
    log = logging.getLogger("fontTools.ttLib.tables._h_e_a_d")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def _figure_class():
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    class StyledFigure(Figure):
        """A Figure that saves with the style's settings even outside ``style_context``
        (``fig = res.plot(); fig.savefig("a.pdf")`` embeds TrueType, not Type 3, fonts)."""

        def savefig(self, *args, **kwargs):
            with rc_context(save_rc()), _quiet_font_subsetting():
                return super().savefig(*args, **kwargs)

    return StyledFigure


def new_figure(nrows=1, ncols=1, *, figsize=None, **kwargs):
    """A pyplot-free Figure and its axes (safe in headless and threaded use); it saves
    with the style's ``savefig``/``pdf``/``ps`` settings wherever it is saved."""
    global _STYLED_FIGURE
    if _STYLED_FIGURE is None:
        _STYLED_FIGURE = _figure_class()
    fig = _STYLED_FIGURE(figsize=figsize or (4.2 * ncols, 3.2 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    return fig, axes


INIT_NAMES = {"gaussian": r"$W \sim \mathcal{N}(0, g^2/N)$", "orthogonal": "orthogonal $W$",
              "identity": "$W = gI$", "sparse": "sparse $W$"}


def network_label(meta, gain=None):
    """'tanh RNN, $N$ = 50, $W \\sim \\mathcal{N}(0, g^2/N)$, $g$ = 1.5': what a result's
    metadata says of its network (``meta['model']``, from :meth:`RNN.describe`), for
    titles. ``gain`` overrides the recorded one (a recipe's own parameter)."""
    model = meta.get("model", {})
    cell = model.get("cell", "vanilla")
    kind = cell.upper() if cell != "vanilla" else f"{model.get('activation', '')} RNN".strip()
    parts = [kind, f"$N$ = {model.get('N', '?')}"]
    init = model.get("init")
    if init in INIT_NAMES:
        parts.append(INIT_NAMES[init])
        gain = model.get("gain") if gain is None else gain
    elif init:
        parts.append(f"{init} init")
    if gain is not None:
        parts.append(f"$g$ = {gain:g}")
    return ", ".join(parts)
