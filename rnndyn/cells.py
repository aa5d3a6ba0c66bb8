"""The recurrent cells: what each one is, its parameter layout and what it supports.

A cell is a map s_t = f(s_{t-1}, u_t; θ) of a state of size S. Every analysis works through
the same few operations of a cell (one step, which also records a per-step auxiliary row
a_t; the one-step Jacobian J_t = ∂s_t/∂s_{t-1} applied to vectors and blocks, J·v, vᵀ·J,
J·P; the parameter vector-Jacobian product for BPTT), implemented once per cell in
:mod:`rnndyn._kernels.cells`. Adding a cell is one entry here and its branch there.

Cells and their parameters (N hidden units, M inputs; W, U, b as stored by :class:`RNN`)
=====================================================================================

``vanilla`` (two forms, see :mod:`rnndyn.models`), S = N, a_t = D[t-1] (N values)::

    pascanu: x_t = W σ(x_{t-1}) + U u_t + b     J_t = W diag(a_t),  a_t = σ'(x_{t-1})
    elman:   h_t = σ(W h_{t-1} + U u_t + b)      J_t = diag(a_t) W,  a_t = σ'(W h_{t-1} + U u_t + b)

``lstm`` (PyTorch ``nn.LSTM``), state s = (h, c), S = 2N, h first::

    (i, f, g, o) = (σ, σ, tanh, σ)(W h_{t-1} + U u_t + b)      W (4N, N), U (4N, M), b (4N,)
    c_t = f ⊙ c_{t-1} + i ⊙ g,   h_t = o ⊙ tanh(c_t)

  W = ``weight_hh_l0``, U = ``weight_ih_l0`` (gates stacked i, f, g, o), b = ``bias_ih_l0`` +
  ``bias_hh_l0``. Auxiliary row (6N): [g·i(1-i), c_{t-1}·f(1-f), i·(1-g²),
  tanh(c_t)·o(1-o), f, o·(1-tanh² c_t)], so that with y = W v_h (4N)::

    (J v)_c = a_i y_i + a_f y_f + a_g y_g + f v_c,   (J v)_h = a_o y_o + k (J v)_c

``gru`` (PyTorch ``nn.GRU``), S = N::

    r = σ(U_r u + W_r h + b_r),  z = σ(U_z u + W_z h + b_z)      W (3N, N), U (3N, M), b (4N,)
    n = tanh(U_n u + b_in + r ⊙ (W_n h + b_hn)),   h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}

  W = ``weight_hh_l0``, U = ``weight_ih_l0`` (gates stacked r, z, n), b = [b_ir + b_hr,
  b_iz + b_hz, b_in, b_hn] (the reset gate acts after the hidden product, so b_in and b_hn
  stay apart). Auxiliary row (5N), with q = W_n h + b_hn and e = (1-z)(1-n²):
  [e·q·r(1-r), (h-n)·z(1-z), e·r, e, z], so that with y = W v (3N)::

    J v = z v + a_r y_r + a_z y_z + (e r) y_n

References
----------
Hochreiter & Schmidhuber (1997), Long short-term memory; Gers, Schmidhuber & Cummins (2000),
the forget gate; Cho et al. (2014), the GRU; the PyTorch documentation of ``nn.LSTM`` and
``nn.GRU`` for the exact equations and layouts used here.
"""

import numpy as np

from rnndyn._validate import InputError
from rnndyn.codes import ELMAN, GRU, LSTM, PASCANU

CELLS = ("vanilla", "lstm", "gru")

# number of gate blocks stacked in W and U
GATES = {"vanilla": 1, "lstm": 4, "gru": 3}
# length of b in units of N
BIAS_BLOCKS = {"vanilla": 1, "lstm": 4, "gru": 4}
# state size in units of N
STATE_BLOCKS = {"vanilla": 1, "lstm": 2, "gru": 1}
# auxiliary row per step, in units of N
AUX_BLOCKS = {"vanilla": 1, "lstm": 6, "gru": 5}

# What is cell-specific maths. A request a cell does not support is an InputError naming the
# cell (never a wrong number):
#   split       the Lyapunov split method (needs W⁻¹ and J = W diag(d))
#   gamma-bound the bound ‖J‖ <= γ λ1(W) and the paper's vanishing/exploding conditions
#   spectra     rnndyn.spectra (eigen- and singular values of W as the map's linearisation)
#   omega       the regulariser Ω (Pascanu et al. 2013, eq. 9), derived for J = W diag(σ')
#   activation  a choice of σ (gated cells fix theirs: σ for gates, tanh for the candidate)
#   continuation, bifurcation  parameter continuation and orbit diagrams (vanilla maps)
CAPABILITIES = {
    "vanilla": frozenset({"split", "gamma-bound", "spectra", "omega", "activation",
                          "continuation", "bifurcation", "fixed-points", "basins"}),
    "lstm": frozenset({"fixed-points", "basins"}),
    "gru": frozenset({"fixed-points", "basins"}),
}

# the gate names of each cell's stacked blocks, in order
GATE_NAMES = {"vanilla": ("",), "lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}


def cell_code(cell, form="pascanu"):
    """The kernels' integer code of a cell (vanilla: that of its form)."""
    if cell == "vanilla":
        return PASCANU if form == "pascanu" else ELMAN
    return LSTM if cell == "lstm" else GRU


def require(cell, capability, what):
    """Raise an InputError unless ``cell`` supports ``capability`` (see CAPABILITIES)."""
    if capability not in CAPABILITIES[cell]:
        raise InputError(f"{what} is not available for the {cell} cell "
                         f"(it is defined for: {', '.join(c for c in CELLS if capability in CAPABILITIES[c])})")


def _sigmoid(x):
    """σ(x) = 1/(1 + e^{-x}) without overflow, tail-accurate on both sides."""
    e = np.exp(-np.abs(x))
    p = 1.0 / (1.0 + e)
    return np.where(x >= 0, p, e * p)


def numpy_step(cell, W, U, b, s, u):
    """One step of a gated cell in NumPy (reference; the kernels do the real work)."""
    N = W.shape[1]
    drive = b[:W.shape[0]] + (U @ u if u is not None and U.shape[1] else 0.0)
    if cell == "lstm":
        h, c = s[:N], s[N:]
        a = W @ h + drive
        i, f, g, o = _sigmoid(a[:N]), _sigmoid(a[N:2 * N]), np.tanh(a[2 * N:3 * N]), \
            _sigmoid(a[3 * N:])
        c_new = f * c + i * g
        return np.concatenate([o * np.tanh(c_new), c_new])
    wh = W @ s
    r = _sigmoid(wh[:N] + drive[:N])
    z = _sigmoid(wh[N:2 * N] + drive[N:2 * N])
    n = np.tanh(drive[2 * N:] + r * (wh[2 * N:] + b[3 * N:]))
    return (1.0 - z) * n + z * s
