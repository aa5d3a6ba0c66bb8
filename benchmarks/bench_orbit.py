"""Orbit diagram of the tanh neuron x ← w tanh(x) + b over many values of b, against
vectorised NumPy, JAX (if installed) and a naive numba loop with libm's tanh, all
measured in the same run and checked to give the same orbits to 1e-12 relative."""

import numpy as np

from run import Case, best_time

TITLE = "orbit diagram of the tanh neuron (100,000 values of b, 1,000 + 256 iterations)"

W_VALUE = 5.0          # bistable for |b| < 3.0285: both branches and the folds are swept
B_RANGE = (-4.0, 4.0)
RTOL_SAME = 1e-12


def numpy_orbits(w, b, x0, T, out):
    """Vectorised NumPy: all values of b advance together; out (R, P) (its natural layout)."""
    x = x0.copy()
    for _ in range(T):
        x = w * np.tanh(x) + b
    for r in range(out.shape[0]):
        x = w * np.tanh(x) + b
        out[r] = x
    return out


def make_jax(T, R):
    """A jitted JAX version (lax.fori_loop for the transient, lax.scan to record)."""
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

    def run(w, b, x0):
        return orbits(w, b, x0).block_until_ready()
    return run


def make_naive_numba():
    """The obvious numba kernel: prange over b, scalar libm tanh per step, every step."""
    from rnndyn._jit import jit, prange

    @jit(parallel=True)
    def naive(w, b, x0, T, X):
        P, R = X.shape
        for i in prange(P):
            x = x0[i]
            for _ in range(T):
                x = w[i] * np.tanh(x) + b[i]
            for r in range(R):
                x = w[i] * np.tanh(x) + b[i]
                X[i, r] = x
    return naive


def run(quick):
    from rnndyn._kernels.orbit import _orbits
    from rnndyn.activations import CODES
    from rnndyn.bifurcation import CHECK_EVERY, orbit_diagram

    P, T, R = (10_000, 100, 32) if quick else (100_000, 1000, 256)
    b = np.linspace(*B_RANGE, P)
    w = np.full(P, W_VALUE)
    x0 = np.zeros(P)
    case = Case(f"tanh neuron orbit diagram: {P:,} values of b, {T} transient + {R} recorded",
                baselines=["numpy vectorised", "jax jit"],
                target=">= 3x faster than NumPy and >= 2x faster than JAX, same orbits "
                       "to 1e-12 relative")
    ref = np.empty((R, P))
    case.add("numpy vectorised", best_time(lambda: numpy_orbits(W_VALUE, b, x0, T, ref),
                                           repeat=3))
    ref = ref.T
    jx = make_jax(T, R)
    if jx is not None:
        case.add("jax jit", best_time(lambda: jx(w, b, x0), repeat=3))
        same = np.max(np.abs(np.asarray(jx(w, b, x0)).T - ref) / np.abs(ref))
        case.notes.append(f"jax vs numpy: max relative difference {same:.1e}")
    else:
        case.notes.append("jax not installed: no JAX row")
    naive = make_naive_numba()
    X = np.empty((P, R))
    case.add("numba naive (prange, libm tanh)",
             best_time(lambda: naive(w, b, x0, T, X), repeat=1 if not quick else 3))
    X = np.empty((P, R))
    case.add("rnndyn _orbits, every step iterated",
             best_time(lambda: _orbits(w, b, CODES["tanh"], x0, T, 0, X), repeat=3))
    same_full = np.max(np.abs(X - ref) / np.abs(ref))
    X = np.empty((P, R))
    case.add("rnndyn _orbits, exact-repeat early exit",
             best_time(lambda: _orbits(w, b, CODES["tanh"], x0, T, CHECK_EVERY, X), repeat=5))
    same = max(same_full, np.max(np.abs(X - ref) / np.abs(ref)))
    # one thread: the per-core comparison with (single-threaded) NumPy, and less
    # exposed to other processes on a loaded machine than a 2-thread team
    import numba
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        case.add("rnndyn _orbits, every step, 1 thread",
                 best_time(lambda: _orbits(w, b, CODES["tanh"], x0, T, 0, X), repeat=3))
        case.add("rnndyn _orbits, early exit, 1 thread",
                 best_time(lambda: _orbits(w, b, CODES["tanh"], x0, T, CHECK_EVERY, X),
                           repeat=5))
    finally:
        numba.set_num_threads(threads)
    same = max(same, np.max(np.abs(X - ref) / np.abs(ref)))
    # CPU time (summed over threads): what a shared machine disturbs least; wall / CPU
    # of the 2-thread kernel shows how much of the second core it actually got
    import time
    cpu_np = best_time(lambda: numpy_orbits(W_VALUE, b, x0, T, ref.T), repeat=3,
                       clock=time.process_time)
    cpu_k = best_time(lambda: _orbits(w, b, CODES["tanh"], x0, T, 0, X), repeat=3,
                      clock=time.process_time)
    wall_k = dict((m, s) for m, s, _ in case.rows)["rnndyn _orbits, every step iterated"]
    case.notes.append(f"CPU time: numpy {cpu_np * 1e3:.0f} ms, rnndyn every step "
                      f"{cpu_k * 1e3:.0f} ms ({cpu_np / cpu_k:.2f}x per core, "
                      f"{cpu_k / wall_k:.2f} cores busy in the {threads}-thread run)")
    same = max(same, np.max(np.abs(X - ref) / np.abs(ref)))
    case.notes.append(f"rnndyn vs numpy: max relative difference {same:.1e} "
                      f"({'OK' if same <= RTOL_SAME else 'FAIL'}, limit {RTOL_SAME:g})")
    case.notes.append("early exit: a block of 64 orbits that repeats exactly (period 1 or 2, "
                      "to the last bit) is filled in; bitwise the same orbits")
    case.add("rnndyn orbit_diagram (+ allocation, classification)",
             best_time(lambda: orbit_diagram(w, b, activation="tanh", x0=0.0, n_transient=T,
                                              n_record=R), repeat=3))
    if same > RTOL_SAME:
        raise AssertionError(f"orbits differ from NumPy by {same:.2e} > {RTOL_SAME:g}")
    return [case]
