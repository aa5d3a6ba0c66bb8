"""Small-N Lyapunov exponents: 10^6 steps of x <- W tanh(x) + b (N = 1, 2, 4).

Contenders, timed in interleaved rounds (run.interleaved; ratios are medians of
per-round ratios):

* a plain njit loop written here (the floor: the map, the tangent vector(s), a
  Gram-Schmidt QR and a log per step; libm tanh);
* pynamicalsys (GPL; only in the benchmark environment, the row is skipped when
  it is not installed), with the map and its Jacobian as njit functions;
* rnndyn ``largest_lyapunov`` / ``lyapunov_spectrum`` as a user calls them
  (defaults: history on), and the same call on the BLAS path used before the fused
  small-N kernel (``SMALL_N_MAX = 0``), so that before/after come from one run.

Targets (issue 15): rnndyn within 1.5x of the plain loop, >= 3x pynamicalsys.
"""

import numpy as np

from run import Case, conditions, interleaved

TITLE = "small-N Lyapunov exponents (fused loops) vs a plain njit loop and pynamicalsys"


def _plain():
    from numba import njit

    @njit(cache=True)
    def vector(W, b, x0, v0, T, transient):
        # no allocation inside the loop: scratch vectors only
        N = x0.shape[0]
        x, v = x0.copy(), v0.copy()
        s, y, d = np.empty(N), np.empty(N), np.empty(N)
        acc = 0.0
        for t in range(T):
            for i in range(N):
                th = np.tanh(x[i])
                d[i] = 1.0 - th * th
                s[i] = th
            for i in range(N):
                a = 0.0
                for j in range(N):
                    a += W[i, j] * d[j] * v[j]
                y[i] = a
            for i in range(N):
                a = b[i]
                for j in range(N):
                    a += W[i, j] * s[j]
                x[i] = a
            nrm = 0.0
            for i in range(N):
                nrm += y[i] * y[i]
            nrm = np.sqrt(nrm)
            if t >= transient:
                acc += np.log(nrm)
            for i in range(N):
                v[i] = y[i] / nrm
        return acc / (T - transient)

    @njit(cache=True)
    def scalar(w, b, x, T, transient):
        acc = 0.0
        for t in range(T):
            th = np.tanh(x)
            if t >= transient:
                acc += np.log(abs(w * (1.0 - th * th)))
            x = w * th + b
        return acc / (T - transient)

    @njit(cache=True)
    def qr(W, b, x0, Q0, T, transient):
        N, k = Q0.shape
        x, Q = x0.copy(), Q0.copy()
        acc, s, d, P = np.zeros(k), np.empty(N), np.empty(N), np.empty((N, k))
        for t in range(T):
            for i in range(N):
                th = np.tanh(x[i])
                s[i] = th
                d[i] = 1.0 - th * th
            for i in range(N):
                a = b[i]
                for j in range(N):
                    a += W[i, j] * s[j]
                x[i] = a
            for c in range(k):
                for i in range(N):
                    a = 0.0
                    for j in range(N):
                        a += W[i, j] * d[j] * Q[j, c]
                    P[i, c] = a
            for c in range(k):  # modified Gram-Schmidt
                for c2 in range(c):
                    dot = 0.0
                    for i in range(N):
                        dot += P[i, c2] * P[i, c]
                    for i in range(N):
                        P[i, c] -= dot * P[i, c2]
                nr = 0.0
                for i in range(N):
                    nr += P[i, c] * P[i, c]
                nr = np.sqrt(nr)
                if t >= transient:
                    acc[c] += np.log(nr)
                for i in range(N):
                    P[i, c] /= nr
            Q[:, :] = P
        return acc / (T - transient)
    return scalar, vector, qr


def _pynamicalsys(N):
    """(system, parameters) for x <- W tanh(x) + b in pynamicalsys, or None."""
    try:
        from pynamicalsys import DiscreteDynamicalSystem
    except ImportError:
        return None
    from numba import njit

    @njit
    def f(u, p):
        n = u.shape[0]
        out = np.empty(n)
        for i in range(n):
            s = p[n * n + i]
            for j in range(n):
                s += p[i * n + j] * np.tanh(u[j])
            out[i] = s
        return out

    @njit
    def jac(u, p, *args):
        n = u.shape[0]
        J = np.empty((n, n))
        for i in range(n):
            for j in range(n):
                th = np.tanh(u[j])
                J[i, j] = p[i * n + j] * (1.0 - th * th)
        return J
    return DiscreteDynamicalSystem(mapping=f, jacobian=jac, system_dimension=N,
                                   number_of_parameters=N * N + N)


def _model(N):
    from rnndyn.models import RNN, make_rnn
    if N == 1:
        return RNN(np.array([[5.0]]), None, np.array([-0.5]), "tanh", "pascanu")
    return make_rnn(N, gain=3.0, seed=0)


def run(quick):
    import warnings

    from rnndyn import lyapunov as ly
    steps = 100_000 if quick else 1_000_000
    transient = 100
    rounds = 3 if quick else 7
    scalar, vector, qr = _plain()
    cases = []
    for N in (1, 2, 4):
        rnn = _model(N)
        x0 = np.full(N, 0.3)
        v0 = np.random.default_rng(0).standard_normal(N)
        v0 /= np.linalg.norm(v0)
        Q0 = np.linalg.qr(np.random.default_rng(0).standard_normal((N, N)))[0]
        T = steps + transient
        pyn = _pynamicalsys(N)
        params = np.concatenate([rnn.W.ravel(), rnn.b])

        def old(fn):
            def call():
                keep = ly.SMALL_N_MAX
                ly.SMALL_N_MAX = 0
                try:
                    return fn()
                finally:
                    ly.SMALL_N_MAX = keep
            return call

        for what in ("largest", "spectrum"):
            if what == "largest":
                plain_name = "plain njit loop (vector method)"
                plain = (lambda: scalar(5.0, -0.5, 0.3, T, transient)) if N == 1 else \
                    (lambda: vector(rnn.W, rnn.b, x0, v0, T, transient))
                mine = lambda: ly.largest_lyapunov(rnn, x0, steps, transient=transient)  # noqa
                value = lambda res: np.array([res.exponent])  # noqa
                k = 1
            else:
                plain_name = "plain njit loop (QR every step, MGS)"
                plain = lambda: qr(rnn.W, rnn.b, x0, Q0, T, transient)  # noqa
                mine = lambda: ly.lyapunov_spectrum(rnn, x0, steps, transient=transient)  # noqa
                value = lambda res: res.exponents  # noqa
                k = N
            contenders = {plain_name: plain}
            baselines = [plain_name]
            if pyn is not None:
                name = "pynamicalsys 1.x (QR)" if k > 1 or N == 1 else "pynamicalsys 1.x (QR, k=1)"
                contenders[name] = (lambda k=k: pyn.lyapunov(x0, T, parameters=params,
                                                             transient_time=transient,
                                                             num_exponents=k))
                baselines.append(name)
            label = "largest_lyapunov" if what == "largest" else "lyapunov_spectrum"
            contenders[f"rnndyn {label} (fused small-N)"] = mine
            contenders[f"rnndyn {label} (before: BLAS path)"] = old(mine)
            case = Case(f"{label}, N = {N}, {steps:,} steps + {transient} transient, "
                        "x <- W tanh(x) + b", baselines=baselines,
                        target="within 1.5x of the plain loop (ratio >= 0.67), "
                               ">= 3x pynamicalsys")
            case.conditions = conditions(short=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pynamicalsys' own numba warnings
                times = interleaved(contenders, rounds=rounds, min_time=0.02)
                new, before = value(mine()), value(old(mine)())
                ref = np.sort(np.atleast_1d(plain()))[::-1]
                if pyn is not None:
                    pv = np.sort(np.atleast_1d(contenders[baselines[1]]()).ravel())[::-1]
                    case.notes.append(f"pynamicalsys exponents {np.array2string(pv, precision=6)}")
            case.add_rounds(times)
            case.notes.append(
                f"rnndyn {np.array2string(new, precision=8)}; max |new - before| "
                f"{np.max(np.abs(new - before)):.1e} (same start basis); plain loop "
                f"{np.array2string(ref, precision=8)} (own start vector)")
            if pyn is None:
                case.notes.append("pynamicalsys not installed: no row (pip install "
                                  "pynamicalsys, benchmark environment only: GPL)")
            cases.append(case)
    return cases
