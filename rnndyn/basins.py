"""Basins of attraction of an RNN map on a grid of initial states.

Each cell of a grid (a line for a one-dimensional state, a plane for two, a 2-D
slice through a base point for larger states) is iterated under x ← F(x) with a
constant input until it settles on a p-cycle (p = 1: a fixed point) or
diverges. F is a vanilla map or a gated cell's step on its whole state (GRU
s = h; LSTM s = (h, c), h first), see :mod:`rnndyn.fixedpoints`. Cells
reaching the same attractor get the same label across the grid, and the basin
boundary is the set of cells with a differently labelled neighbour.
"""

import numpy as np

from rnndyn._kernels import basins as _k
from rnndyn._validate import as_array, as_float, as_int, InputError
from rnndyn.fixedpoints import drive, residual_jacobian
from rnndyn.results import Result, make_meta, result_type
from rnndyn._memory import array_bytes, check_request

DIVERGED = -1   # label: ‖x‖∞ exceeded the bound (or became non-finite)
UNSETTLED = -2  # label: no period <= max_period within max_steps (aperiodic, chaotic, slow)


@result_type
class BasinsResult(Result):
    """Attractor labels on a grid of initial states.

    Attributes
    ----------
    xs : ndarray, shape (nx,)
        Grid coordinates along the first direction ``e1``.
    ys : ndarray, shape (ny,)
        Grid coordinates along ``e2`` (a single 0.0 for a one-neuron line).
    labels : ndarray of int, shape (ny, nx)
        Attractor index (>= 0, into ``attractors``), -1 divergence, -2 unsettled.
        Cell (i, j) starts at base + xs[j] e1 + ys[i] e2.
    boundary : ndarray of bool, shape (ny, nx)
        Cells with a 4-neighbour of another label.
    steps : ndarray of int, shape (ny, nx)
        Iterations until the cell settled (or diverged).
    periods : ndarray of int, shape (K,)
        Period of each attractor (1 = fixed point).
    attractor_points : ndarray, shape (K, S)
        The lexicographically smallest point of each attractor's cycle (S the state
        size: N, the LSTM's 2N).
    multipliers : ndarray, shape (K,)
        Largest |μ| of the cycle's monodromy matrix (product of the Jacobians
        around the cycle); < 1 for an attractor, about 1 for a slowly settling one.
    attractors : list of dict
        ``label``, ``kind`` ('fixed point' or 'cycle'), ``period``, ``x``,
        ``cycle`` (its points), ``cells``, ``max_multiplier``.
    base, e1, e2 : ndarray, shape (S,)
        The slice: base point and its two directions.
    meta : dict
    """

    xs: np.ndarray
    ys: np.ndarray
    labels: np.ndarray
    boundary: np.ndarray
    steps: np.ndarray
    periods: np.ndarray
    attractor_points: np.ndarray
    multipliers: np.ndarray
    attractors: list
    base: np.ndarray
    e1: np.ndarray
    e2: np.ndarray
    meta: dict

    def label_counts(self):
        """{str(label): cells} for each attractor, plus 'divergence' and 'unsettled'."""
        out = {str(a["label"]): int(a["cells"]) for a in self.attractors}
        out["divergence"] = int(np.count_nonzero(self.labels == DIVERGED))
        out["unsettled"] = int(np.count_nonzero(self.labels == UNSETTLED))
        return out


def boundary(labels):
    """Cells whose label differs from one of their 4-neighbours (bool, same shape)."""
    labels = np.asarray(labels)
    b = np.zeros(labels.shape, dtype=bool)
    dx = labels[:, 1:] != labels[:, :-1]
    b[:, 1:] |= dx
    b[:, :-1] |= dx
    dy = labels[1:] != labels[:-1]
    b[1:] |= dy
    b[:-1] |= dy
    return b


def _limits(value, name):
    lim = as_array(value, name, shape=(2,))
    if not lim[0] < lim[1]:
        raise InputError(f"{name} must be (low, high) with low < high, got {tuple(lim)}")
    return lim


def settle_grid(rnn, c, base, e1, e2, xs, ys, *, max_steps, max_period, tol, bound,
                callback=None):
    """Run the grid kernel; returns period, steps (ny, nx) and reps (ny, nx, S).

    With a ``callback``, the rows go to the kernel in about 50 blocks (each
    still parallel over its rows) and ``callback(rows)`` follows each block.
    """
    ny, nx = ys.size, xs.size
    period = np.empty((ny, nx), dtype=np.int64)
    steps = np.empty((ny, nx), dtype=np.int64)
    rep = np.empty((ny, nx, rnn.S))
    block = ny if callback is None else max(1, -(-ny // 50))
    # the gated cells have their own kernel, so a vanilla run never compiles their step
    grid = _k._basin_grid if rnn.cell == "vanilla" else _k._gated_basin_grid
    for i0 in range(0, ny, block):
        i1 = min(ny, i0 + block)
        grid(rnn.W, c, rnn.act_code, rnn.cell_code, base, e1, e2, xs, ys[i0:i1], max_steps,
             max_period, tol, bound, period[i0:i1], steps[i0:i1], rep[i0:i1])
        if callback is not None:
            callback(i1 - i0)
    return period, steps, rep


def identify(period, rep, *, cluster_rtol=1e-6, max_attractors=256):
    """Attractor labels from per-cell periods and cycle representatives.

    Two cells reach the same attractor when their periods agree and their
    representatives lie within ``cluster_rtol``·max(1, max|x|) (∞-norm). New
    attractors are taken greedily from the cells no known attractor matches
    (at most 4096 candidates a round), then every cell is matched in a
    parallel kernel; rounds repeat until all settled cells have a label.
    Labels are ordered by period, then lexicographically by point, so they do
    not depend on the grid. More than ``max_attractors`` is a ValueError.

    Returns
    -------
    labels : ndarray of int, shape of ``period``
    periods : ndarray of int, shape (K,)
    points : ndarray, shape (K, N)
    """
    N = rep.shape[-1]
    period = np.ascontiguousarray(period, dtype=np.int64)
    rep = np.ascontiguousarray(rep, dtype=np.float64)
    NEW = -3
    labels = np.where(period == _k.DIVERGED, DIVERGED,
                      np.where(period > 0, NEW, UNSETTLED)).astype(np.int64)
    ok = period > 0
    if not np.any(ok):
        return labels, np.zeros(0, dtype=np.int64), np.zeros((0, N))
    tol = cluster_rtol * max(1.0, float(np.max(np.abs(rep[ok]))))
    pts, pers = [], []
    while True:
        todo = np.flatnonzero(labels.reshape(-1) == NEW)
        if todo.size == 0:
            break
        cand_rep = rep.reshape(-1, N)[todo[:4096]]
        cand_per = period.reshape(-1)[todo[:4096]]
        for x, p in zip(cand_rep, cand_per):
            if pts:
                P = np.array(pts)
                if np.any((np.array(pers) == p) & (np.abs(P - x).max(axis=1) <= tol)):
                    continue
            if len(pts) == max_attractors:
                raise InputError(
                    f"more than max_attractors={max_attractors} distinct attractors on the "
                    "grid (a continuum of neutral fixed points, e.g. W = I?); raise "
                    "max_attractors or cluster_rtol")
            pts.append(x)
            pers.append(int(p))
        # re-match only the unlabelled cells: known ones keep their first match
        sub = labels == NEW
        new_labels = np.full(labels.shape, NEW, dtype=np.int64)
        _k._match(np.where(sub, period, 0), rep, np.array(pers, dtype=np.int64),
                  np.array(pts).reshape(len(pts), N), tol, new_labels)
        # each round ends: the first candidate was unmatched, so it founded an attractor
        labels[sub] = new_labels[sub]
    order = sorted(range(len(pts)), key=lambda g: (pers[g], tuple(pts[g])))
    rank = np.empty(len(pts), dtype=np.int64)
    rank[order] = np.arange(len(pts))
    lab = labels >= 0
    labels[lab] = rank[labels[lab]]
    return (labels, np.array([pers[g] for g in order], dtype=np.int64),
            np.array([pts[g] for g in order]).reshape(len(pts), N))


def _cycle(rnn, c, x, period):
    """The cycle's points and the largest |multiplier| of its monodromy matrix."""
    pts, M = [], np.eye(rnn.S)
    for _ in range(period):
        pts.append(x.copy())
        r, J = residual_jacobian(rnn, x, c=c)
        M = J @ M
        x = x + r
    return np.array(pts), float(np.max(np.abs(np.linalg.eigvals(M))))


def basins(rnn, u=None, *, xlim=(-3.0, 3.0), ylim=(-3.0, 3.0), nx=200, ny=None, axes=(0, 1),
           base=None, max_steps=2000, max_period=16, tol=1e-10, bound=1e6, cluster_rtol=1e-6,
           max_attractors=256, callback=None):
    """Label a grid of initial states by the attractor each one reaches.

    Parameters
    ----------
    rnn : RNN
        A vanilla cell (either form, any activation), an LSTM or a GRU, N >= 1.
    u : array_like, shape (M,), optional
        Constant input (folded into the drive, see :func:`rnndyn.fixedpoints.drive`).
    xlim, ylim : (float, float)
        Range of the grid along the two directions (``ylim`` unused for S = 1).
    nx, ny : int
        Grid size [ny default: nx; 1 for S = 1].
    axes : (int, int)
        The state coordinates that span the slice: cell (i, j) starts at
        base + xs[j] e_axes[0] + ys[i] e_axes[1]. For the LSTM, 0..N−1 are h and
        N..2N−1 are c.
    base : array_like, shape (S,), optional
        Base point of the slice [default: zeros]; its entries on ``axes`` are
        replaced by the grid coordinates.
    max_steps : int
        Iterations before a cell counts as unsettled.
    max_period : int
        Longest cycle looked for.
    tol : float
        Settled when ‖x_t − x_{t−p}‖∞ <= tol·max(1, ‖x_t‖∞).
    bound : float
        Diverged when ‖x_t‖∞ > bound.
    cluster_rtol : float
        Relative distance under which two cells' cycles are the same attractor.
    max_attractors : int
        More distinct attractors than this is an error (a continuum of neutral
        fixed points, as for W = I, has one per cell).
    callback : callable, optional
        Called with the number of grid rows done, about 50 times (progress bars).

    Returns
    -------
    BasinsResult

    Notes
    -----
    The map is x ← F(x) = W σ(x) + c (pascanu) or σ(W x + c) (elman), or a gated
    cell's step s ← f(s, u) (:mod:`rnndyn.cells`). Every cell of a vanilla map is
    iterated in a parallel kernel (one grid row per thread; a gated cell's rows
    run serially, as its step uses BLAS); periods are
    found by comparing x_t with an anchor state renewed every ``max_period``
    steps, so the first return gives the minimal period. Each cycle is named by
    its lexicographically smallest point, which makes the same attractor
    reached from different cells (at different phases) one label. A basin
    boundary crossed by a small change of the state or of the parameters is
    where gradients explode (Pascanu, Mikolov & Bengio 2013, §2.2).

    References
    ----------
    R. Pascanu, T. Mikolov and Y. Bengio, "On the difficulty of training
    recurrent neural networks", ICML 2013.
    """
    rnn.require("basins", "basins of attraction")
    N = rnn.S
    c = drive(rnn, u)
    xlim = _limits(xlim, "xlim")
    nx = as_int(nx, "nx", minimum=2)
    if N == 1:
        ny, ys = 1, np.zeros(1)
        axes = (as_int(axes[0] if np.ndim(axes) else axes, "axes[0]", minimum=0, maximum=0),)
    else:
        ylim = _limits(ylim, "ylim")
        ny = nx if ny is None else as_int(ny, "ny", minimum=2)
        ys = np.linspace(ylim[0], ylim[1], ny)
        if np.ndim(axes) != 1 or len(axes) != 2:
            raise InputError(f"axes must be two state indices (i, j), got {axes!r}")
        axes = (as_int(axes[0], "axes[0]", minimum=0, maximum=N - 1),
                as_int(axes[1], "axes[1]", minimum=0, maximum=N - 1))
        if axes[0] == axes[1]:
            raise InputError(f"axes must be two different units, got {axes}")
    # period, steps, representative states, labels and boundary of every cell
    check_request(array_bytes(ny, nx, N + 4), f"a basin grid of {ny}×{nx} cells (S={N})")
    xs = np.linspace(xlim[0], xlim[1], nx)
    base = np.zeros(N) if base is None else as_array(base, "base", shape=(N,)).copy()
    e1, e2 = np.zeros(N), np.zeros(N)
    e1[axes[0]] = 1.0
    base[axes[0]] = 0.0
    if N > 1:
        e2[axes[1]] = 1.0
        base[axes[1]] = 0.0
    max_steps = as_int(max_steps, "max_steps", minimum=1)
    max_period = as_int(max_period, "max_period", minimum=1)
    tol = as_float(tol, "tol", minimum=0.0, strict_minimum=True)
    bound = as_float(bound, "bound", minimum=0.0, strict_minimum=True)
    cluster_rtol = as_float(cluster_rtol, "cluster_rtol", minimum=0.0, strict_minimum=True)
    max_attractors = as_int(max_attractors, "max_attractors", minimum=1)

    period, steps, rep = settle_grid(rnn, c, base, e1, e2, xs, ys, max_steps=max_steps,
                                     max_period=max_period, tol=tol, bound=bound,
                                     callback=callback)
    labels, periods, points = identify(period, rep, cluster_rtol=cluster_rtol,
                                       max_attractors=max_attractors)
    attractors, mult = [], np.empty(len(periods))
    for k in range(len(periods)):
        cyc, mult[k] = _cycle(rnn, c, points[k], int(periods[k]))
        attractors.append({"label": k, "kind": "fixed point" if periods[k] == 1 else "cycle",
                           "period": int(periods[k]), "x": points[k].tolist(),
                           "cycle": cyc.tolist(), "cells": int(np.count_nonzero(labels == k)),
                           "max_multiplier": float(mult[k])})
    params = {"u": None if u is None else np.atleast_1d(np.asarray(u, float)).tolist(),
              "xlim": xlim.tolist(), "ylim": None if N == 1 else ylim.tolist(),
              "nx": nx, "ny": ny, "axes": list(axes), "max_steps": max_steps,
              "max_period": max_period, "tol": tol, "bound": bound,
              "cluster_rtol": cluster_rtol, "max_attractors": max_attractors}
    return BasinsResult(xs=xs, ys=ys, labels=labels, boundary=boundary(labels), steps=steps,
                        periods=periods, attractor_points=points, multipliers=mult,
                        attractors=attractors, base=base, e1=e1, e2=e2,
                        meta=make_meta(params, model=rnn))
