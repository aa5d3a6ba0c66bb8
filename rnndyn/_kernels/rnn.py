"""Forward dynamics of a vanilla RNN (both forms) and its one-step Jacobians.

Every analysis works from the trajectory X and the derivative factors D:

* pascanu: x_t = W σ(x_{t-1}) + U u_t + b,  D[t-1] = σ'(x_{t-1}),  J_t = W diag(D[t-1])
* elman:   h_t = σ(a_t), a_t = W h_{t-1} + U u_t + b,  D[t-1] = σ'(a_t),  J_t = diag(D[t-1]) W
"""

import numpy as np

from rnndyn._jit import jit
from rnndyn._kernels.activations import _apply_act_and_dact

PASCANU, ELMAN = 0, 1


@jit
def _trajectory(W, U, b, act, form, x0, u, X, D):
    """Fill X (T+1, N) with x_0..x_T and D (T, N) with the derivative factors.

    u has shape (T, M) (M may be 0). Returns nothing; X and D are written in place.
    """
    T = D.shape[0]
    N = x0.shape[0]
    M = U.shape[1]
    s = np.empty(N)
    ds = np.empty(N)
    a = np.empty(N)
    X[0, :] = x0
    for t in range(1, T + 1):
        if form == PASCANU:
            _apply_act_and_dact(act, X[t - 1], s, ds)
            a[:] = np.dot(W, s)
        else:
            a[:] = np.dot(W, X[t - 1])
        for i in range(N):
            acc = a[i] + b[i]
            for j in range(M):
                acc += U[i, j] * u[t - 1, j]
            a[i] = acc
        if form == PASCANU:
            X[t, :] = a
            D[t - 1, :] = ds
        else:
            _apply_act_and_dact(act, a, s, ds)
            X[t, :] = s
            D[t - 1, :] = ds


@jit
def _trajectories(W, U, b, act, form, X0, u, X, D):
    """Batch version: X0 (B, N), u (B, T, M), X (B, T+1, N), D (B, T, N).

    The batch is advanced together, one (B, N) x (N, N) product per step, so
    BLAS does the heavy lifting without a second thread pool.
    """
    B, N = X0.shape
    T = D.shape[1]
    M = U.shape[1]
    S = np.empty((B, N))
    DS = np.empty((B, N))
    A = np.empty((B, N))
    Wt = np.ascontiguousarray(W.T)
    X[:, 0, :] = X0
    cur = X0.copy()
    for t in range(1, T + 1):
        if form == PASCANU:
            for k in range(B):
                _apply_act_and_dact(act, cur[k], S[k], DS[k])
            A[:, :] = np.dot(S, Wt)
        else:
            A[:, :] = np.dot(cur, Wt)
        for k in range(B):
            for i in range(N):
                acc = A[k, i] + b[i]
                for j in range(M):
                    acc += U[i, j] * u[k, t - 1, j]
                A[k, i] = acc
        if form == PASCANU:
            for k in range(B):
                X[k, t, :] = A[k]
                D[k, t - 1, :] = DS[k]
                cur[k, :] = A[k]
        else:
            for k in range(B):
                _apply_act_and_dact(act, A[k], S[k], DS[k])
                X[k, t, :] = S[k]
                D[k, t - 1, :] = DS[k]
                cur[k, :] = S[k]


@jit
def _jacobian(W, form, d, J):
    """J = W diag(d) (pascanu) or diag(d) W (elman); J (N, N) written in place."""
    N = W.shape[0]
    if form == PASCANU:
        for i in range(N):
            for j in range(N):
                J[i, j] = W[i, j] * d[j]
    else:
        for i in range(N):
            di = d[i]
            for j in range(N):
                J[i, j] = di * W[i, j]
