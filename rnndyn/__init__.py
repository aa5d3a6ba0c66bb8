"""rnndyn: the dynamics behind vanishing and exploding gradients in RNNs.

The library never imports matplotlib or click at module level; plotting lives
in ``rnndyn.figures`` and the command line in ``rnndyn.cli``.
"""

__version__ = "0.1.0"

from rnndyn._validate import InputError  # noqa: E402
from rnndyn.models import (RNN, Readout, make_rnn, load_weights, load_with_readout,  # noqa: E402
                           save_weights)

__all__ = ["InputError", "RNN", "Readout", "make_rnn", "load_weights", "load_with_readout",
           "save_weights", "__version__"]
