"""Basins of attraction: iterate every cell of a grid of initial states until it
settles on a cycle (period 1 = fixed point) or diverges.

Cells are independent, so the grid rows of a vanilla map run in parallel (prange);
each cell iterates its own small state vector with plain loops (no BLAS inside prange).
The gated cells (_gated_basin_grid; the constant input folded into the bias c, see
rnndyn._kernels.fixedpoints) step through rnndyn._kernels.cells, whose W·h is a BLAS
product, so their rows run one after another. The step's scratch g is None for a vanilla
map: numba prunes the gated branch, so the vanilla kernels never compile the gated step.
"""

import numpy as np

from rnndyn._jit import jit, prange
from rnndyn._kernels.cells import _vanilla_map
from rnndyn._kernels.fixedpoints import _gated_map, _gated_scratch_size

DIVERGED, UNSETTLED = -1, 0


@jit(inline="always")
def _step(W, c, act, form, x, s, out, g):
    """out = F(x) (pascanu W σ(x) + c, elman σ(W x + c)); s is scratch of shape (N,).

    g None: the vanilla map; else the gated cell ``form`` (out = f(x) (S,), c the folded
    bias) with g (_gated_scratch_size) as scratch.
    """
    if g is not None:
        _gated_map(W, c, form, x, out, g)
        return
    _vanilla_map(W, c, act, form, x, out, s, None)


@jit
def _settle(W, c, act, form, x, max_steps, max_period, tol, bound, rep, s, xn, anchor, g):
    """Iterate x ← F(x) from x (N, in place) until it settles; returns (period, steps).

    period 1: ‖x_t − x_{t−1}‖∞ <= tol·max(1, ‖x‖∞); p > 1: first return to an anchor renewed
    every max_period steps; -1: ‖x‖∞ > bound or NaN; 0: unsettled. rep (N,) gets the cycle's
    lexicographically smallest point; s, xn, anchor (N,) are scratch from the caller.
    g: None, or the gated scratch of _step (then N is the state size S).
    """
    N = x.shape[0]
    sep = max(1e-8, 1e3 * tol)
    for i in range(N):
        anchor[i] = x[i]
    t = 0
    since = 0
    while t < max_steps:
        _step(W, c, act, form, x, s, xn, g)
        t += 1
        since += 1
        big = 0.0
        dist = 0.0
        move = 0.0
        for i in range(N):
            move = max(move, abs(xn[i] - x[i]))
            x[i] = xn[i]
            a = abs(xn[i])
            if not a <= bound:  # also catches NaN
                return DIVERGED, t
            big = max(big, a)
            dist = max(dist, abs(xn[i] - anchor[i]))
        if move <= tol * max(1.0, big):
            # settled on a fixed point: no need to wait for the anchor to catch up
            for i in range(N):
                rep[i] = x[i]
            return 1, t
        if since > 1 and dist <= tol * max(1.0, big) and move <= sep * max(1.0, big):
            # a "return" after p > 1 steps that hardly moved is a spiral into a fixed
            # point with rotation near 2π/p, not a cycle: renew the anchor and go on
            for i in range(N):
                anchor[i] = x[i]
            since = 0
        elif dist <= tol * max(1.0, big):
            # first return to the anchor: the minimal period (anchor on the cycle)
            for i in range(N):
                rep[i] = x[i]
            for _ in range(since - 1):
                _step(W, c, act, form, x, s, xn, g)
                smaller = False
                for i in range(N):
                    # coordinates equal up to the settling noise do not decide the order,
                    # or symmetric cycles would get a different representative per cell
                    if abs(xn[i] - rep[i]) > sep * max(1.0, abs(rep[i])):
                        smaller = xn[i] < rep[i]
                        break
                for i in range(N):
                    x[i] = xn[i]
                if smaller:
                    for i in range(N):
                        rep[i] = x[i]
            return since, t
        if since == max_period:
            # no return within max_period steps: move the anchor to the current state
            for i in range(N):
                anchor[i] = x[i]
            since = 0
    return UNSETTLED, t


@jit(inline="always")
def _basin_row(W, c, act, form, base, e1, e2, xs, y, max_steps, max_period, tol, bound,
               period, steps, rep, g):
    """One grid row: cell j starts at base + xs[j] e1 + y e2; writes period (nx,), steps
    (nx,) and rep (nx, N) as _basin_grid does; g as in _settle."""
    N = base.shape[0]
    x = np.empty(N)
    r = np.empty(N)
    s = np.empty(N)
    xn = np.empty(N)
    anchor = np.empty(N)
    for j in range(xs.shape[0]):
        for k in range(N):
            x[k] = base[k] + xs[j] * e1[k] + y * e2[k]
        p, t = _settle(W, c, act, form, x, max_steps, max_period, tol, bound, r, s, xn,
                       anchor, g)
        period[j] = p
        steps[j] = t
        for k in range(N):
            rep[j, k] = r[k] if p > 0 else np.nan


@jit(parallel=True)
def _basin_grid(W, c, act, form, base, e1, e2, xs, ys, max_steps, max_period, tol, bound,
                period, steps, rep):
    """Cell (i, j) starts at base + xs[j] e1 + ys[i] e2 (N,); writes period (ny, nx),
    steps (ny, nx) and the cycle's representative point rep (ny, nx, N).

    period: p >= 1 settled on a p-cycle, -1 diverged, 0 unsettled (see _settle).
    """
    for i in prange(ys.shape[0]):
        _basin_row(W, c, act, form, base, e1, e2, xs, ys[i], max_steps, max_period, tol,
                   bound, period[i], steps[i], rep[i], None)


@jit
def _gated_basin_grid(W, c, act, cell, base, e1, e2, xs, ys, max_steps, max_period, tol,
                      bound, period, steps, rep):
    """_basin_grid for a gated cell: states (S,), c the folded bias (4N,), ``act`` unused.

    The rows run serially: the gated step's W·h is a BLAS call, which must not run
    inside prange.
    """
    g = np.empty(_gated_scratch_size(W, cell))
    for i in range(ys.shape[0]):
        _basin_row(W, c, act, cell, base, e1, e2, xs, ys[i], max_steps, max_period, tol,
                   bound, period[i], steps[i], rep[i], g)


@jit(parallel=True)
def _match(period, rep, att_period, att_points, tol, labels):
    """labels[i, j] = first k with att_period[k] == period[i, j] and
    max|rep[i, j] − att_points[k]| <= tol; cells with period <= 0 or no match keep
    their label. period, labels (ny, nx); rep (ny, nx, N); att_points (K, N)."""
    ny, nx, N = rep.shape
    K = att_period.shape[0]
    for i in prange(ny):
        for j in range(nx):
            p = period[i, j]
            if p <= 0:
                continue
            for k in range(K):
                if att_period[k] != p:
                    continue
                d = 0.0
                for m in range(N):
                    d = max(d, abs(rep[i, j, m] - att_points[k, m]))
                if d <= tol:
                    labels[i, j] = k
                    break
