"""Activation functions by name, their integer codes for kernels, and γ.

γ is the bound on |σ'| used in the paper's conditions (Pascanu et al. 2013,
§2.1): 1 for tanh, 1/4 for the logistic sigmoid, 1 for relu and linear.
"""

import numpy as np

from rnndyn._validate import as_choice

from rnndyn.codes import ACTIVATION_CODES as CODES

NAMES = {code: name for name, code in CODES.items()}
GAMMA = {"linear": 1.0, "tanh": 1.0, "sigmoid": 0.25, "relu": 1.0}


def activation_code(name):
    """Integer code of activation ``name`` (validated)."""
    return CODES[as_choice(name, "activation", tuple(CODES))]


def gamma(name):
    """γ = sup |σ'(x)| of activation ``name``."""
    return GAMMA[as_choice(name, "activation", tuple(CODES))]


def sigma(name, x):
    """σ(x) in NumPy (reference implementation, not for hot loops)."""
    name = as_choice(name, "activation", tuple(CODES))
    x = np.asarray(x, dtype=np.float64)
    if name == "tanh":
        return np.tanh(x)
    if name == "sigmoid":
        return 0.5 * (1.0 + np.tanh(0.5 * x))
    if name == "relu":
        return np.maximum(x, 0.0)
    return x.copy()


def dsigma(name, x):
    """σ'(x) in NumPy (relu: 1 for x > 0, else 0)."""
    name = as_choice(name, "activation", tuple(CODES))
    x = np.asarray(x, dtype=np.float64)
    if name == "tanh":
        t = np.tanh(x)
        return 1.0 - t * t
    if name == "sigmoid":
        s = 0.5 * (1.0 + np.tanh(0.5 * x))
        return s * (1.0 - s)
    if name == "relu":
        return (x > 0).astype(np.float64)
    return np.ones_like(x)
