"""Basins of a 2-neuron map on a grid, and a continuation of an N = 50 branch,
against NumPy implementations of the same algorithms measured in the same run."""

import numpy as np

from run import Case, best_time

TITLE = "basins (1000×1000 grid, 2 neurons) and continuation (200 points, N = 50)"


def numpy_settle(W, c, X0, max_steps, max_period, tol, bound):
    """Vectorised NumPy version of rnndyn._kernels.basins._settle (tanh, pascanu) over
    all cells at once, dropping settled cells as they finish. Returns the periods."""
    n = X0.shape[0]
    x = X0.copy()
    anchor = X0.copy()
    since = np.zeros(n, dtype=np.int64)
    period = np.zeros(n, dtype=np.int64)
    idx = np.arange(n)
    sep = max(1e-8, 1e3 * tol)
    for _ in range(max_steps):
        if idx.size == 0:
            break
        xa = x[idx]
        xn = np.tanh(xa) @ W.T + c
        since[idx] += 1
        big = np.maximum(1.0, np.abs(xn).max(axis=1))
        div = ~(np.abs(xn) <= bound).all(axis=1)
        dist = np.abs(xn - anchor[idx]).max(axis=1)
        move = np.abs(xn - xa).max(axis=1)
        fixed = (move <= tol * big) & ~div
        ret = (dist <= tol * big) & ~div & ~fixed
        spiral = ret & (since[idx] > 1) & (move <= sep * big)
        done = (ret & ~spiral) | fixed
        since[idx[fixed]] = 1
        x[idx] = xn
        period[idx[div]] = -1
        period[idx[done]] = since[idx[done]]
        renew = spiral | (~ret & (since[idx] == max_period))
        anchor[idx[renew]] = xn[renew]
        since[idx[renew]] = 0
        idx = idx[~(div | done)]
    return period


def run(quick):
    from rnndyn.basins import basins, settle_grid
    from rnndyn.continuation import _continue, _kernel_evaluator, continuation, parametrise
    from rnndyn.models import RNN, make_rnn

    n = 100 if quick else 1000
    W = np.array([[1.5, 2.3], [2.5, -1.5]])
    c = np.array([-0.2, 0.24])
    rnn = RNN(W, None, c, "tanh", "pascanu")
    xs = np.linspace(-4, 4, n)
    e1, e2 = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    X0 = np.stack(np.meshgrid(xs, xs), axis=-1).reshape(-1, 2)
    kw = dict(max_steps=2000, max_period=16, tol=1e-10, bound=1e6)
    case = Case(f"basins of a 2-neuron tanh map, {n}×{n} grid", baselines=["numpy vectorised"],
                target="report (no target)")
    t_np = best_time(lambda: numpy_settle(W, c, X0, kw["max_steps"], kw["max_period"],
                                          kw["tol"], kw["bound"]), repeat=3)
    case.add("numpy vectorised", t_np, "periods only, same algorithm")
    per_np = numpy_settle(W, c, X0, kw["max_steps"], kw["max_period"], kw["tol"], kw["bound"])
    t_k = best_time(lambda: settle_grid(rnn, c, np.zeros(2), e1, e2, xs, xs, **kw), repeat=3)
    per_k = settle_grid(rnn, c, np.zeros(2), e1, e2, xs, xs, **kw)[0].reshape(-1)
    case.add("numba kernel (prange over rows)", t_k,
             f"periods only; agree with numpy in {np.mean(per_k == per_np):.4%} of cells")
    t_full = best_time(lambda: basins(rnn, xlim=(-4, 4), ylim=(-4, 4), nx=n), repeat=3)
    case.add("rnndyn.basins (kernel + labels + boundary)", t_full)
    yield_cases = [case]

    N = 50
    net = make_rnn(N, gain=0.5, seed=1)
    net = RNN(net.W, None, 0.1 * np.random.default_rng(2).standard_normal(N), "tanh",
              "pascanu")
    npts = 50 if quick else 200
    case = Case(f"continuation in the gain, {npts} points, N = {N}",
                baselines=["numpy evaluation"], target="report (no target)")
    _, p0, WA, WB, cA, cB = parametrise(net, "gain")

    def numpy_eval(x, p):
        Wp = WA + p * WB
        s = np.tanh(x)
        r = Wp @ s + cA + p * cB - x
        J = Wp * (1.0 - s * s)
        return r, J, WB @ s + cB

    from rnndyn.fixedpoints import newton
    x0 = newton(net, np.zeros(N))[0]
    opts = dict(direction=1.0, stop=None, n_points=npts, step=0.01, max_step=0.05,
                min_step=1e-9, tol=1e-12)
    t_np = best_time(lambda: _continue(numpy_eval, x0, 1.0, **opts), repeat=3)
    case.add("numpy evaluation", t_np, "same predictor-corrector, F and J in NumPy")
    ev = _kernel_evaluator(WA, WB, cA, cB, net.act_code, net.form_code)
    t_k = best_time(lambda: _continue(ev, x0, 1.0, **opts), repeat=3)
    case.add("numba evaluation (branch only)", t_k)
    t_full = best_time(lambda: continuation(net, "gain", n_points=npts, max_step=0.05),
                       repeat=3)
    res = continuation(net, "gain", n_points=npts, max_step=0.05)
    case.add("rnndyn.continuation (+ located bifurcations)", t_full,
             f"{len(res.bifurcations)} bifurcations located")
    case.notes.append("per point: a few (N+1)×(N+1) solves and one N×N eigvals (LAPACK); "
                      "the eigenvalues dominate, so numba gains little here")
    yield_cases.append(case)
    return yield_cases
