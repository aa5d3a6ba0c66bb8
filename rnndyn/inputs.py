"""Input sequences u_1 … u_T for driving an RNN."""

import numpy as np

from rnndyn._validate import as_array, as_choice, as_float, as_int, as_rng, InputError

KINDS = ("none", "gaussian", "uniform")


def make_inputs(kind, n_steps, n_inputs, *, scale=1.0, seed=0):
    """An input array of shape (n_steps, n_inputs).

    Parameters
    ----------
    kind : {'none', 'gaussian', 'uniform'}
        ``none``: zeros (autonomous dynamics); ``gaussian``: N(0, scale²);
        ``uniform``: U(-scale, scale).
    n_steps, n_inputs : int
    scale : float
    seed : int or numpy.random.Generator
    """
    kind = as_choice(kind, "inputs", KINDS)
    T = as_int(n_steps, "n_steps", minimum=0)
    M = as_int(n_inputs, "n_inputs", minimum=0)
    scale = as_float(scale, "scale", minimum=0.0)
    rng = as_rng(seed)
    if kind == "none" or M == 0:
        return np.zeros((T, M))
    if kind == "gaussian":
        return scale * rng.standard_normal((T, M))
    return rng.uniform(-scale, scale, size=(T, M))


def check_inputs(u, n_steps, n_inputs, name="inputs"):
    """Validate a user input array: shape (n_steps, n_inputs), finite; None → zeros."""
    if u is None:
        return np.zeros((n_steps, n_inputs))
    u = as_array(u, name)
    if u.ndim == 1 and n_inputs == 1:
        u = u.reshape(-1, 1)
    if u.ndim != 2 or u.shape[1] != n_inputs or u.shape[0] < n_steps:
        raise InputError(f"{name} must have shape ({n_steps}, {n_inputs}) "
                         f"(n_steps, number of inputs M), got {u.shape}")
    return np.ascontiguousarray(u[:n_steps])
