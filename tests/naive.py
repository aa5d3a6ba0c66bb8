"""Slow, obvious twins of every numba kernel. The library never imports this.

Each function follows the mathematics line by line in NumPy, with no attempt
at speed, so that a kernel can be checked against it.
"""

import numpy as np

from rnndyn.activations import NAMES, dsigma, sigma


# ------------------------------------------------------------------ rnn (forward)

def trajectory(W, U, b, act, form, x0, u):
    """Twin of rnndyn._kernels.rnn._trajectory: returns X (T+1, N), D (T, N)."""
    name = NAMES[act]
    T = u.shape[0]
    X = [np.array(x0, dtype=float)]
    D = []
    for t in range(1, T + 1):
        x = X[-1]
        if form == 0:  # pascanu
            D.append(dsigma(name, x))
            X.append(W @ sigma(name, x) + U @ u[t - 1] + b)
        else:  # elman
            a = W @ x + U @ u[t - 1] + b
            D.append(dsigma(name, a))
            X.append(sigma(name, a))
    N = len(x0)
    return np.array(X), np.array(D).reshape(T, N)


def jacobian(W, form, d):
    """Twin of rnndyn._kernels.rnn._jacobian."""
    return W @ np.diag(d) if form == 0 else np.diag(d) @ W
