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


def _sigmoid_pair(x):
    """(σ(x), σ(−x)) = (1/(1 + e), e/(1 + e)), e = e^{−|x|}, swapped for x < 0: both tails
    accurate (1 − σ is never formed by a subtraction)."""
    e = np.exp(-np.abs(x))
    p = 1.0 / (1.0 + e)
    q = e * p
    neg = x < 0
    return np.where(neg, q, p), np.where(neg, p, q)


def sigma(name, x):
    """σ(x) in NumPy (reference implementation, not for hot loops)."""
    name = as_choice(name, "activation", tuple(CODES))
    x = np.asarray(x, dtype=np.float64)
    if name == "tanh":
        return np.tanh(x)
    if name == "sigmoid":
        p, _ = _sigmoid_pair(x)
        return p
    if name == "relu":
        return np.maximum(x, 0.0)
    return x.copy()


def dsigma(name, x):
    """σ'(x) in NumPy (relu: 1 for x > 0, else 0)."""
    name = as_choice(name, "activation", tuple(CODES))
    x = np.asarray(x, dtype=np.float64)
    if name == "tanh":
        # sech² x = 4e/(1 + e)², e = e^{-2|x|}: no cancellation (1 − tanh² has none of
        # its digits left beyond |x| ≈ 19)
        e = np.exp(-2.0 * np.abs(x))
        return 4.0 * e / ((1.0 + e) * (1.0 + e))
    if name == "sigmoid":
        p, q = _sigmoid_pair(x)
        return p * q
    if name == "relu":
        return (x > 0).astype(np.float64)
    return np.ones_like(x)
