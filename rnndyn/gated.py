"""Seeded initialisers of the gated cells (LSTM, GRU) in rnndyn's packed layout.

The layout is that of :mod:`rnndyn.cells`: W = ``weight_hh`` (G·N, N) and U = ``weight_ih``
(G·N, M) with the G gate blocks stacked as in PyTorch (LSTM i, f, g, o; GRU r, z, n), and
the combined bias b (LSTM: ``bias_ih + bias_hh``, 4N; GRU: [b_ir + b_hr, b_iz + b_hz, b_in,
b_hn], 4N). :func:`pack_bias` turns PyTorch's two bias vectors into that b.
"""

import numpy as np

from rnndyn import cells
from rnndyn._memory import array_bytes, check_request
from rnndyn._validate import InputError, as_choice, as_float, as_int, as_rng

GATED_CELLS = tuple(c for c in cells.CELLS if c != "vanilla")
GATED_INITS = ("pytorch", "gaussian", "orthogonal")
FORGET_BIAS_KINDS = ("chrono",)

# the gate block of the packed b that a forget bias goes to, and the block chrono sets to
# minus it (None: the cell has no separate input gate)
_KEEP_BLOCK = {"lstm": 1, "gru": 1}      # LSTM f; GRU z (h' = (1 - z) n + z h keeps at z → 1)
_INPUT_BLOCK = {"lstm": 0, "gru": None}  # LSTM i; the GRU's input weight is 1 - z already


def pack_bias(cell, b_ih, b_hh):
    """The packed bias b of ``cell`` from PyTorch's ``bias_ih`` and ``bias_hh`` (G·N each).

    Vanilla and LSTM: b = b_ih + b_hh. GRU: b = [b_ir + b_hr, b_iz + b_hz, b_in, b_hn]
    (the reset gate multiplies W_hn h + b_hn, so b_in and b_hn cannot be merged).
    """
    if cell != "gru":
        return b_ih + b_hh
    N = b_ih.shape[0] // 3
    return np.concatenate([b_ih[:2 * N] + b_hh[:2 * N], b_ih[2 * N:], b_hh[2 * N:]])


def unpack_bias(cell, b):
    """(bias_ih, bias_hh) of PyTorch's layout that :func:`pack_bias` packs into ``b``: the
    whole bias on ``bias_ih`` (``bias_hh`` zero) except the GRU's b_hn, which stays on
    ``bias_hh``. ``pack_bias(cell, *unpack_bias(cell, b))`` is ``b`` exactly."""
    N = b.shape[0] // cells.BIAS_BLOCKS[cell]
    G = cells.GATES[cell]
    b_ih = np.array(b[:G * N])
    b_hh = np.zeros(G * N)
    if cell == "gru":
        b_hh[2 * N:] = b[3 * N:]
    return b_ih, b_hh


def make_gated_bytes(cell, n, n_inputs=0, init="gaussian"):
    """Peak bytes :func:`make_gated` allocates.

    The recurrent draw and its scaled copy (2·8GN², plus 5·8N² for the QR of one orthogonal
    block), the input draw and its copy (2·8GNM), and the bias pieces (6·8GN).
    """
    G = cells.GATES[cell]
    qr = 5 * array_bytes(n, n) if init == "orthogonal" else 0
    return (2 * array_bytes(G * n, n) + qr + 2 * array_bytes(G * n, n_inputs)
            + 6 * array_bytes(G * n))


def _recurrent(init, G, N, gain, rng):
    """The stacked recurrent blocks W (G·N, N), block by block in gate order."""
    from rnndyn.models import gaussian_matrix, orthogonal_matrix
    block = orthogonal_matrix if init == "orthogonal" else gaussian_matrix
    return np.vstack([block(N, gain, rng) for _ in range(G)])


def make_gated(cell, n, *, n_inputs=0, init="gaussian", gain=1.0, forget_bias=0.0,
               chrono_t_max=None, seed=0):
    """Build a seeded random LSTM or GRU (one layer, PyTorch's equations and layout).

    Parameters
    ----------
    cell : {'lstm', 'gru'}
    n : int
        Number of hidden units N (>= 1); the state has 2N entries (h, c) for the LSTM.
    n_inputs : int
        Number of inputs M (>= 0).
    init : {'pytorch', 'gaussian', 'orthogonal'}
        With k = 1/√N and G gate blocks (LSTM 4, GRU 3):

        * ``pytorch``: PyTorch's default ``reset_parameters``: W_ih, W_hh, b_ih, b_hh all
          ~ U(−k, k), b packed from the two bias draws (:func:`pack_bias`) as PyTorch adds
          them. ``gain`` g scales the recurrent bound only, W_hh ~ U(−gk, gk), so g = 1 is
          PyTorch's default (each entry then has variance g²/(3N)).
        * ``gaussian``: every recurrent entry ~ N(0, g²/N), input weights ~ N(0, 1/M),
          biases 0.
        * ``orthogonal``: each N×N recurrent gate block g × a Haar-random orthogonal matrix
          (:func:`rnndyn.models.orthogonal_matrix`, drawn independently per gate), input
          weights ~ N(0, 1/M), biases 0.
    gain : float
        The recurrent scale g (see ``init``).
    forget_bias : float or 'chrono'
        A number is added to the bias of the gate that keeps memory: the LSTM's forget
        gate f (block 1 of b), the GRU's update gate z (block 1 of b, b_iz + b_hz), since
        h_t = (1 − z) ⊙ n + z ⊙ h_{t−1} keeps h as z → 1, as c_t = f ⊙ c_{t−1} + … keeps c
        as f → 1. ``'chrono'`` is the chrono initialisation (Tallec & Ollivier 2018), with
        ``chrono_t_max``: b_f ~ log U(1, T_max − 1) per unit and b_i = −b_f for the LSTM
        (replacing what ``init`` drew for those two blocks); for the GRU the same draw sets
        b_z, which is our analogue (the GRU's input weight 1 − z is tied to z, so there is no
        separate input-gate bias to set).
    chrono_t_max : float, optional
        T_max > 2, the longest time dependency expected (``forget_bias='chrono'`` only).
    seed : int or numpy.random.Generator

    Returns
    -------
    RNN
        With ``cell`` and ``origin`` (init, gain, forget_bias, chrono_t_max when chrono, and
        the seed when it is an integer).

    Notes
    -----
    LSTM (PyTorch ``nn.LSTM``, gates stacked i, f, g, o), a = W h_{t−1} + U u_t + b::

        (i, f, g, o) = (σ, σ, tanh, σ)(a),  c_t = f ⊙ c_{t−1} + i ⊙ g,  h_t = o ⊙ tanh(c_t)

    GRU (PyTorch ``nn.GRU``, gates r, z, n)::

        r = σ(U_r u + W_r h + b_r),  z = σ(U_z u + W_z h + b_z)
        n = tanh(U_n u + b_in + r ⊙ (W_n h + b_hn)),  h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}

    A bias b_f makes f ≈ σ(b_f) at small drive, a memory time of about 1/(1 − f) =
    1 + e^{b_f} steps; chrono spreads these times uniformly over [2, T_max]. The draws are
    made in a fixed order (recurrent blocks in gate order, then inputs, then PyTorch's two
    biases, then the chrono biases), so the same seed gives the same arrays.

    References
    ----------
    Hochreiter & Schmidhuber (1997), Long short-term memory. Gers, Schmidhuber & Cummins
    (2000), Learning to forget. Jozefowicz, Zaremba & Sutskever (2015), An empirical
    exploration of recurrent network architectures (forget bias 1). Cho et al. (2014), the
    GRU. Saxe, McClelland & Ganguli (2014), orthogonal initialisation. Tallec & Ollivier
    (2018), Can recurrent neural networks warp time?, ICLR (chrono initialisation). The
    PyTorch documentation of ``nn.LSTM`` and ``nn.GRU`` (default initialisation).
    """
    from rnndyn.models import RNN
    cell = as_choice(cell, "cell", GATED_CELLS)
    N = as_int(n, "n", minimum=1)
    M = as_int(n_inputs, "n_inputs", minimum=0)
    init = as_choice(init, "init", GATED_INITS)
    gain = as_float(gain, "gain")
    if isinstance(forget_bias, str):
        forget_bias = as_choice(forget_bias, "forget_bias", FORGET_BIAS_KINDS)
        if chrono_t_max is None:
            raise InputError("forget_bias='chrono' needs chrono_t_max (T_max > 2, the longest "
                             "time dependency expected)")
        chrono_t_max = as_float(chrono_t_max, "chrono_t_max", minimum=2.0, strict_minimum=True)
    else:
        forget_bias = as_float(forget_bias, "forget_bias")
        if chrono_t_max is not None:
            raise InputError("chrono_t_max goes with forget_bias='chrono'; got "
                             f"forget_bias={forget_bias!r}")
    check_request(make_gated_bytes(cell, N, M, init),
                  f"an {cell.upper()} of n={N} units" + (f" and n_inputs={M} inputs" if M else ""))
    rng = as_rng(seed)
    G = cells.GATES[cell]
    if init == "pytorch":
        # PyTorch's parameter order: weight_ih, weight_hh, bias_ih, bias_hh
        k = 1.0 / np.sqrt(N)
        U = rng.uniform(-k, k, (G * N, M))
        W = rng.uniform(-gain * k, gain * k, (G * N, N))
        b = pack_bias(cell, rng.uniform(-k, k, G * N), rng.uniform(-k, k, G * N))
    else:
        W = _recurrent(init, G, N, gain, rng)
        U = rng.standard_normal((G * N, M)) / np.sqrt(max(M, 1))
        b = np.zeros(cells.BIAS_BLOCKS[cell] * N)
    keep = slice(_KEEP_BLOCK[cell] * N, (_KEEP_BLOCK[cell] + 1) * N)
    origin = {"init": init, "gain": gain, "forget_bias": forget_bias}
    if forget_bias == "chrono":
        b[keep] = np.log(rng.uniform(1.0, chrono_t_max - 1.0, N))
        if _INPUT_BLOCK[cell] is not None:
            i = _INPUT_BLOCK[cell]
            b[i * N:(i + 1) * N] = -b[keep]
        origin["chrono_t_max"] = chrono_t_max
    else:
        b[keep] += forget_bias
    if isinstance(seed, (int, np.integer)):
        origin["seed"] = int(seed)
    return RNN(W, U, b, origin=origin, cell=cell)
