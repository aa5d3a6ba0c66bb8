"""Named figures (installed as ``rnndyn.figures``).

Each recipe module defines ``NAME``, ``TITLE``, ``DEFAULTS`` (a dict of
parameters), ``compute(params) -> Result`` and ``plot(result) -> Figure``.
Computing and plotting are separate, so a figure can be re-plotted from its
saved data. See :mod:`rnndyn.figures.registry`.
"""
