"""σ and σ' by integer code (see rnndyn.activations), scalar and in-place 1-D.

The sigmoid is written through tanh, σ(x) = (1 + tanh(x/2))/2, which neither
overflows nor loses the tail the way 1/(1+exp(-x)) does.
"""

import numpy as np

from rnndyn._jit import jit

LINEAR, TANH, SIGMOID, RELU = 0, 1, 2, 3


@jit(inline="always")
def _act(code, x):
    """σ(x) for one scalar."""
    if code == TANH:
        return np.tanh(x)
    if code == SIGMOID:
        return 0.5 * (1.0 + np.tanh(0.5 * x))
    if code == RELU:
        return x if x > 0.0 else 0.0
    return x


@jit(inline="always")
def _dact(code, x):
    """σ'(x) for one scalar (relu: 1 for x > 0, else 0)."""
    if code == TANH:
        t = np.tanh(x)
        return 1.0 - t * t
    if code == SIGMOID:
        s = 0.5 * (1.0 + np.tanh(0.5 * x))
        return s * (1.0 - s)
    if code == RELU:
        return 1.0 if x > 0.0 else 0.0
    return 1.0


@jit
def _apply_act(code, a, out):
    """out[i] = σ(a[i]) for 1-D arrays; out may be a."""
    for i in range(a.shape[0]):
        out[i] = _act(code, a[i])


@jit
def _apply_dact(code, a, out):
    """out[i] = σ'(a[i]) for 1-D arrays; out may be a."""
    for i in range(a.shape[0]):
        out[i] = _dact(code, a[i])


@jit
def _apply_act_and_dact(code, a, s, ds):
    """s[i] = σ(a[i]) and ds[i] = σ'(a[i]) in one pass (tanh evaluated once)."""
    for i in range(a.shape[0]):
        x = a[i]
        if code == TANH:
            t = np.tanh(x)
            s[i] = t
            ds[i] = 1.0 - t * t
        elif code == SIGMOID:
            v = 0.5 * (1.0 + np.tanh(0.5 * x))
            s[i] = v
            ds[i] = v * (1.0 - v)
        elif code == RELU:
            s[i] = x if x > 0.0 else 0.0
            ds[i] = 1.0 if x > 0.0 else 0.0
        else:
            s[i] = x
            ds[i] = 1.0
