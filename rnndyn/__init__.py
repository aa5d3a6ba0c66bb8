"""rnndyn: the dynamics behind vanishing and exploding gradients in RNNs.

The library never imports matplotlib or click at module level; plotting lives
in ``rnndyn.figures`` and the command line in ``rnndyn.cli``.
"""

__version__ = "0.1.0"

from rnndyn._validate import InputError  # noqa: E402
from rnndyn.models import RNN, make_rnn, load_weights, save_weights  # noqa: E402

__all__ = ["InputError", "RNN", "make_rnn", "load_weights", "save_weights", "__version__"]
