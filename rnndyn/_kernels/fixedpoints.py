"""The RNN map under a constant drive, its residual F(x) − x and Jacobians.

With the constant input folded into the drive c = U u + b:

* pascanu: F(x) = W σ(x) + c,  ∂F/∂x = W diag(σ'(x))
* elman:   F(h) = σ(W h + c),  ∂F/∂h = diag(σ'(W h + c)) W
* lstm, gru (_gated_residual_jacobian, _gated_newton; form = the cell code):
  F(s) = f(s, u), the gated step of rnndyn._kernels.cells, with the constant input
  folded into the bias, c = b + [U u; 0] (length 4N), and ∂F/∂s its dense Jacobian (S, S)

The vanilla and gated kernels share their code through helpers whose gated scratch g is
None for a vanilla map: numba prunes that branch at compile time, so a vanilla run never
compiles the gated step (the cold-cache cost of the trajectory kernels' split).
The vanilla map and J are rnndyn._kernels.cells._vanilla_map and _vanilla_jacobian.
Used by the fixed-point search (residual, Jacobian, Newton), by basins and by
continuation (vanilla only). N is small (<= a few hundred), so plain loops beat a
BLAS call's overhead.
"""

import numpy as np

from rnndyn._jit import jit
from rnndyn.codes import PASCANU
from rnndyn._kernels.activations import _act, _dact
from rnndyn._kernels.cells import (_gated_aux_size, _gated_jacobian, _gated_step, _vanilla_jacobian,
                                   _vanilla_map)


@jit(inline="always")
def _residual_any(W, c, act, form, x, r, J, g):
    """r = F(x) − x and J = ∂F/∂x in place: a vanilla map when g is None (numba prunes the
    gated branch at compile time, so vanilla kernels never compile the gated step), else
    the gated cell ``form`` with g (>= _gated_scratch_size) as scratch."""
    if g is not None:
        _gated_map(W, c, form, x, r, g)
        for i in range(x.shape[0]):
            r[i] -= x[i]
        _gated_jacobian(W, form, g[W.shape[0]:], J)
        return
    N = x.shape[0]
    s = np.empty(N)
    d = np.empty(N)
    _vanilla_map(W, c, act, form, x, r, s, d)
    for i in range(N):
        r[i] -= x[i]
    _vanilla_jacobian(W, form, d, J)


@jit
def _residual_jacobian(W, c, act, form, x, r, J):
    """r = F(x) − x (N,) and J = ∂F/∂x (N, N) of a vanilla map, both written in place."""
    _residual_any(W, c, act, form, x, r, J, None)


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


@jit(inline="always")
def _newton_any(W, c, act, form, x, tol, max_iter, g):
    """Newton on F(x) − x = 0 from x, in place; returns (iterations, ‖F(x) − x‖₂).

    Stops when the residual is <= tol·max(1, ‖x‖∞); a singular or non-finite step stops
    early. g: None (vanilla map) or the gated scratch, as in _residual_any.
    """
    N = x.shape[0]
    r = np.empty(N)
    J = np.empty((N, N))
    res = np.inf
    for it in range(max_iter + 1):
        _residual_any(W, c, act, form, x, r, J, g)
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


@jit
def _newton(W, c, act, form, x, tol, max_iter):
    """Newton on F(x) − x = 0 of a vanilla map from x (N,), updated in place; returns
    (iterations, ‖F(x) − x‖₂). See _newton_any."""
    return _newton_any(W, c, act, form, x, tol, max_iter, None)


# ------------------------------------------------------------------ gated cells

@jit(inline="always")
def _gated_scratch_size(W, cell):
    """G N + A: room for one gated step's pre-activations (G N) and auxiliary row (A).

    A from rnndyn._kernels.cells._gated_aux_size (the row layout of rnndyn.cells).
    """
    return W.shape[0] + _gated_aux_size(cell, W.shape[1])


@jit(inline="always")
def _gated_map(W, c, cell, x, out, scratch):
    """out = f(x) (S,) under a constant input folded into the bias c (4N,).

    scratch (>= _gated_scratch_size) receives the pre-activations, then the auxiliary row.
    """
    GN = W.shape[0]
    # the input is in c already: an empty U (a view, no allocation) skips the U u_t loops
    _gated_step(W, W[:, :0], c, cell, x, x[:0], out, scratch[GN:], scratch[:GN])


@jit
def _gated_residual_jacobian(W, c, act, cell, x, r, J):
    """r = f(x) − x (S,) and J = ∂f/∂x (S, S) of a gated cell, c the folded bias (4N,);
    ``act`` is unused (the signature of _residual_jacobian)."""
    _residual_any(W, c, act, cell, x, r, J, np.empty(_gated_scratch_size(W, cell)))


@jit
def _gated_newton(W, c, act, cell, x, tol, max_iter):
    """_newton for a gated cell: x (S,) in place, c the folded bias (4N,); returns
    (iterations, ‖f(x) − x‖₂)."""
    return _newton_any(W, c, act, cell, x, tol, max_iter,
                       np.empty(_gated_scratch_size(W, cell)))
