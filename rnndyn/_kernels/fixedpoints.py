"""The RNN map under a constant drive, its residual F(x) − x and Jacobians.

With the constant input folded into the drive c = U u + b:

* pascanu: F(x) = W σ(x) + c,  ∂F/∂x = W diag(σ'(x))
* elman:   F(h) = σ(W h + c),  ∂F/∂h = diag(σ'(W h + c)) W

Used by the fixed-point search (residual, Jacobian, Newton) and by continuation.
N is small (<= a few hundred), so plain loops beat a BLAS call's overhead.
"""

import numpy as np

from rnndyn._jit import jit
from rnndyn.codes import PASCANU
from rnndyn._kernels.activations import _act, _dact



@jit
def _residual_jacobian(W, c, act, form, x, r, J):
    """r = F(x) − x (N,) and J = ∂F/∂x (N, N), both written in place."""
    N = x.shape[0]
    if form == PASCANU:
        s = np.empty(N)
        ds = np.empty(N)
        for j in range(N):
            s[j] = _act(act, x[j])
            ds[j] = _dact(act, x[j])
        for i in range(N):
            acc = c[i]
            for j in range(N):
                acc += W[i, j] * s[j]
                J[i, j] = W[i, j] * ds[j]
            r[i] = acc - x[i]
    else:
        for i in range(N):
            a = c[i]
            for j in range(N):
                a += W[i, j] * x[j]
            d = _dact(act, a)
            r[i] = _act(act, a) - x[i]
            for j in range(N):
                J[i, j] = d * W[i, j]


@jit
def _dfdp(W, c, WB, cB, act, form, x, out):
    """out = ∂F/∂p (N,) for W(p) = WA + p WB, c(p) = cA + p cB, at W = W(p), c = c(p).

    pascanu: WB σ(x) + cB;  elman: σ'(W h + c) ⊙ (WB h + cB).
    """
    N = x.shape[0]
    if form == PASCANU:
        for i in range(N):
            acc = cB[i]
            for j in range(N):
                acc += WB[i, j] * _act(act, x[j])
            out[i] = acc
    else:
        for i in range(N):
            a = c[i]
            v = cB[i]
            for j in range(N):
                a += W[i, j] * x[j]
                v += WB[i, j] * x[j]
            out[i] = _dact(act, a) * v


@jit
def _newton(W, c, act, form, x, tol, max_iter):
    """Newton on F(x) − x = 0 from x (N,), updated in place; returns (iterations, ‖F(x) − x‖₂).

    Stops when the residual is <= tol·max(1, ‖x‖∞); a singular or non-finite step stops early.
    """
    N = x.shape[0]
    r = np.empty(N)
    J = np.empty((N, N))
    res = np.inf
    for it in range(max_iter + 1):
        _residual_jacobian(W, c, act, form, x, r, J)
        res = np.sqrt(np.sum(r * r))
        scale = max(1.0, np.max(np.abs(x)))
        if not np.isfinite(res) or res <= tol * scale:
            return it, res
        if it == max_iter:
            break
        for i in range(N):
            J[i, i] -= 1.0
        dx = np.linalg.solve(J, r)
        if not np.all(np.isfinite(dx)):
            return it, res
        for i in range(N):
            x[i] -= dx[i]
    return max_iter, res
