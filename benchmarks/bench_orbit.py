"""Orbit diagram of the tanh neuron x <- w tanh(x) + b over many values of b.

Contenders, in interleaved rounds (run.interleaved: per-round ratios, medians):
in-place NumPy (all values of b advance together, np.tanh(x, out=x) and no
temporaries: the fair NumPy baseline, writing into a preallocated (R, P) array),
JAX (if installed), pynamicalsys' bifurcation diagram (if installed; GPL, benchmark
environment only), the rnndyn kernel ``_orbits`` on a preallocated X (every step /
exact-repeat early exit), and the public ``orbit_diagram()`` (allocation, fused
classification, result object) with a fresh output and with ``out=`` reused.
Checked: the same orbits as NumPy to 1e-12 relative. Sizes 10^4, 10^5, 10^6
values of b (quick: 10^4, 10^5), 1,000 transient + 256 recorded steps.

Targets (issue 15): public call within 1.3x of its kernel, >= 3x in-place NumPy,
memory proportional to what is returned (peak RSS growth is printed).
"""

import resource

import numpy as np

from run import Case, conditions, interleaved

TITLE = "orbit diagram of the tanh neuron (1,000 + 256 iterations per value of b)"

W_VALUE = 5.0          # bistable for |b| < 3.0285: both branches and the folds are swept
B_RANGE = (-4.0, 4.0)
RTOL_SAME = 1e-12
T, R = 1000, 256


def numpy_inplace(w, b, x0, T, out):
    """In-place NumPy: out (R, P); x advanced without temporaries."""
    x = x0.copy()
    for _ in range(T):
        np.tanh(x, out=x)
        x *= w
        x += b
    for r in range(out.shape[0]):
        np.tanh(x, out=x)
        x *= w
        x += b
        out[r] = x
    return out


def make_jax(T, R):
    try:
        import jax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    @jax.jit
    def orbits(w, b, x0):
        x = jax.lax.fori_loop(0, T, lambda _, x: w * jnp.tanh(x) + b, x0)

        def step(x, _):
            x = w * jnp.tanh(x) + b
            return x, x
        return jax.lax.scan(step, x, None, length=R)[1]   # (R, P)
    return lambda w, b, x0: orbits(w, b, x0).block_until_ready()


def make_pynamicalsys():
    try:
        from pynamicalsys import DiscreteDynamicalSystem
    except ImportError:
        return None
    from numba import njit

    @njit
    def f(u, p):
        out = np.empty(1)
        out[0] = p[0] * np.tanh(u[0]) + p[1]
        return out
    ds = DiscreteDynamicalSystem(mapping=f, system_dimension=1, number_of_parameters=2)

    def run(b):
        return ds.bifurcation_diagram(np.array([0.0]), 1, b, total_time=T + R,
                                      parameters=[W_VALUE], transient_time=T)
    return run


def _before(w, b, act, x0, check_every):
    """What orbit_diagram() did before issue 15: tiled copies of the parameters, a fresh
    X, the orbit kernel, then a second parallel pass over X to classify the orbits."""
    from rnndyn._kernels.orbit import _classify_orbits, _orbits
    W, B, X0 = np.tile(w, 1), np.tile(b, 1), np.repeat(x0[:1], w.size)
    X = np.empty((w.size, R))
    period = np.empty(w.size, dtype=np.int64)
    _orbits(W, B, act, X0, T, check_every, X, 0.0, 0.0, 1.0, 0, period)
    _classify_orbits(X, 1e-9, 1e-12, 1e10, 16, period)
    return X.reshape(1, w.size, R), period


def _rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(quick):
    import warnings

    from rnndyn._kernels.orbit import _orbits
    from rnndyn.activations import CODES
    from rnndyn.bifurcation import CHECK_EVERY, orbit_diagram
    sizes = (10_000, 100_000) if quick else (10_000, 100_000, 1_000_000)
    jx = make_jax(T, R)
    pyn = make_pynamicalsys()
    none = np.zeros(0, dtype=np.int64)
    cases = []
    for P in sizes:
        rounds = 3 if quick or P >= 1_000_000 else 5
        b = np.linspace(*B_RANGE, P)
        w = np.full(P, W_VALUE)
        x0 = np.zeros(P)
        ref = np.empty((R, P))
        X = np.empty((P, R))
        out = np.empty((1, P, R))
        tanh = CODES["tanh"]
        contenders = {
            "numpy in-place": lambda: numpy_inplace(W_VALUE, b, x0, T, ref),
            "jax jit": (lambda: jx(w, b, x0)) if jx is not None else None,
            "pynamicalsys bifurcation_diagram": ((lambda: pyn(b)) if pyn is not None and
                                                 P <= 10_000 else None),
            "rnndyn _orbits, every step (kernel)":
                lambda: _orbits(w, b, tanh, x0, T, 0, X, 0.0, 0.0, 1.0, 0, none),
            "rnndyn _orbits, early exit (kernel)":
                lambda: _orbits(w, b, tanh, x0, T, CHECK_EVERY, X, 0.0, 0.0, 1.0, 0, none),
            "before: fresh X, _orbits, 2nd pass _classify_orbits": lambda: _before(
                w, b, tanh, x0, CHECK_EVERY),
            "rnndyn orbit_diagram(), fresh output":
                lambda: orbit_diagram(w, b, activation="tanh", x0=0.0, n_transient=T,
                                      n_record=R),
            "rnndyn orbit_diagram(out=...)":
                lambda: orbit_diagram(w, b, activation="tanh", x0=0.0, n_transient=T,
                                      n_record=R, out=out),
        }
        case = Case(f"tanh neuron orbit diagram: {P:,} values of b, {T} transient + {R} "
                    "recorded", baselines=["numpy in-place", "jax jit",
                                           "pynamicalsys bifurcation_diagram",
                                           "rnndyn _orbits, early exit (kernel)"],
                    target="orbit_diagram() >= 3x in-place NumPy, within 1.3x of its "
                           "kernel (column 'vs rnndyn _orbits, early exit' >= 0.77)")
        case.conditions = conditions(short=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            times = interleaved(contenders, rounds=rounds, min_time=0.05)
        case.add_rounds(times)
        res = orbit_diagram(w, b, activation="tanh", x0=0.0, n_transient=T, n_record=R)
        same = np.max(np.abs(res.orbits[0] - ref.T) / np.abs(ref.T))
        case.notes.append(f"rnndyn vs numpy: max relative difference {same:.1e} "
                          f"({'OK' if same <= RTOL_SAME else 'FAIL'}, limit {RTOL_SAME:g})")
        del res
        import tracemalloc
        tracemalloc.start()
        res = orbit_diagram(w, b, activation="tanh", x0=0.0, n_transient=T, n_record=R)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        returned = res.orbits.nbytes + res.period.nbytes
        del res
        case.notes.append(f"memory: one orbit_diagram() call peaks at {peak / 2**20:.1f} MiB "
                          f"of Python/NumPy allocations (tracemalloc) for {returned / 2**20:.1f}"
                          f" MiB returned ({peak / returned:.3f}x); process peak RSS so far "
                          f"{_rss_mb():.0f} MiB (the bench holds every contender's output)")
        if same > RTOL_SAME:
            raise AssertionError(f"orbits differ from NumPy by {same:.2e} > {RTOL_SAME:g}")
        cases.append(case)
        del ref, X, out
    return cases
