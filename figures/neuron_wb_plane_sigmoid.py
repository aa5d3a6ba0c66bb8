"""The (w, b) plane of one sigmoid neuron: as :mod:`rnndyn.figures.neuron_wb_plane`
(the cusp is at (4, −2); the paper's neuron, w = 5, crosses the bistable wedge for
b in (−2.6556, −2.3444))."""

from rnndyn.figures.neuron_wb_plane import compute, plot  # noqa: F401

NAME = "neuron-wb-sigmoid"
TITLE = "(w, b) diagram of one sigmoid neuron: fold and flip curves, cusp, attractor regions"
DEFAULTS = {"activation": "sigmoid", "w": [-16.0, 16.0, 161], "b": [-12.0, 8.0, 121],
            "n_initial": 6, "n_transient": 600, "n_record": 16, "seed": 0}
