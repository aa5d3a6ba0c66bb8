"""All-lag spectral norms ‖∂x_T/∂x_{T-ℓ}‖₂, ℓ = 0 … T: rnndyn's kernel against a NumPy
loop with one SVD per lag and against autodiff frameworks' Jacobian accumulation.

    python benchmarks/run.py gradflow

Every method gets the same trajectory (its derivative factors D) and returns the T+1 log
norms; the methods are checked to agree before they are timed. The framework rows
accumulate the products J_T … J_{k+1} with their own matmul and take their own
spectral norms (per lag, and as one batched call on the stack of all products: the
faster of the two is the framework's number). autograd.functional.jacobian per lag
takes seconds and is not shown.
"""

import numpy as np

from run import Case, best_time

TITLE = ("gradient flow: all-lag spectral norms (N = 50, T = 200), long products, and the "
         "long-run defaults (N = 100, T = 2e4) against the dgemm peak")


def _problem(N, T, gain, seed=0):
    from rnndyn.models import make_rnn
    from rnndyn.simulate import trajectory
    rnn = make_rnn(N, activation="tanh", gain=gain, seed=seed)
    x0 = np.random.default_rng(seed + 1).standard_normal(N)
    _, D = trajectory(rnn, x0, T)
    return rnn, D


def numpy_loop(W, D):
    """The obvious loop: P ← P J, renormalise, one SVD per lag."""
    T, N = D.shape
    P = np.eye(N)
    out = np.zeros(T + 1)
    log_scale = 0.0
    for lag in range(1, T + 1):
        P = P @ (W * D[T - lag])          # J = W diag(d)
        s = np.linalg.svd(P, compute_uv=False)[0]
        log_scale += np.log(s)
        P /= s
        out[lag] = log_scale
    return out


def numpy_batched(W, D):
    """All products first (renormalised), then one batched SVD call."""
    T, N = D.shape
    Ps = np.empty((T, N, N))
    scales = np.empty(T)
    P = np.eye(N)
    log_scale = 0.0
    for lag in range(1, T + 1):
        P = P @ (W * D[T - lag])
        f = np.sqrt(np.sum(P * P))
        log_scale += np.log(f)
        P /= f
        Ps[lag - 1] = P
        scales[lag - 1] = log_scale
    s = np.linalg.svd(Ps, compute_uv=False)[:, 0]
    return np.concatenate([[0.0], np.log(s) + scales])


def torch_methods():
    try:
        import torch
    except ImportError:
        return {}
    # one thread: with two, its small SVDs ran 40-100x slower on this shared 2-core machine
    # (thread pools fighting); one thread is torch's best here, so that is what is compared
    torch.set_num_threads(1)

    def prep(W, D):
        Wt = torch.tensor(W)
        Js = Wt[None] * torch.tensor(D)[:, None, :]     # (T, N, N), J_{k+1} = Js[k]
        return Js

    def per_lag(Js):
        T, N, _ = Js.shape
        P = torch.eye(N, dtype=torch.float64)
        out = torch.zeros(T + 1, dtype=torch.float64)
        log_scale = 0.0
        for lag in range(1, T + 1):
            P = P @ Js[T - lag]
            s = torch.linalg.matrix_norm(P, ord=2)
            log_scale += float(torch.log(s))
            P = P / s
            out[lag] = log_scale
        return out.numpy()

    def batched(Js):
        T, N, _ = Js.shape
        P = torch.eye(N, dtype=torch.float64)
        Ps = torch.empty((T, N, N), dtype=torch.float64)
        scales = torch.empty(T, dtype=torch.float64)
        log_scale = torch.zeros((), dtype=torch.float64)
        for lag in range(1, T + 1):
            P = P @ Js[T - lag]
            f = torch.linalg.matrix_norm(P)               # Frobenius: no SVD in the loop
            log_scale = log_scale + torch.log(f)
            P = P / f
            Ps[lag - 1] = P
            scales[lag - 1] = log_scale
        s = torch.linalg.svdvals(Ps)[:, 0]
        return torch.cat([torch.zeros(1, dtype=torch.float64), torch.log(s) + scales]).numpy()

    return {"torch: matmul + matrix_norm(ord=2) per lag": (prep, per_lag),
            "torch: matmul loop + batched svdvals": (prep, batched)}


def jax_methods():
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return {}
    jax.config.update("jax_enable_x64", True)

    @jax.jit
    def scan_products(W, Drev):
        def body(carry, d):
            P, log_scale = carry
            P = P @ (W * d)
            f = jnp.sqrt(jnp.sum(P * P))
            return (P / f, log_scale + jnp.log(f)), (P / f, log_scale + jnp.log(f))
        N = W.shape[0]
        _, (Ps, scales) = jax.lax.scan(body, (jnp.eye(N), 0.0), Drev)
        s = jnp.linalg.svd(Ps, compute_uv=False)[:, 0]
        return jnp.concatenate([jnp.zeros(1), jnp.log(s) + scales])

    def prep(W, D):
        return jnp.asarray(W), jnp.asarray(D[::-1].copy())

    def run(args):
        return np.asarray(scan_products(*args).block_until_ready())

    return {"jax: lax.scan products + batched svd (jit)": (prep, run)}


def _cpu_best(fn, repeat):
    """Best thread CPU time of fn(): on a shared machine, waiting for a core is not counted."""
    import time
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.thread_time()
        fn()
        best = min(best, time.thread_time() - t0)
    return best


def _kernel_case(N, T, gain, quick):
    from rnndyn.gradflow import backward_products
    rnn, D = _problem(N, T, gain)
    ref = numpy_loop(rnn.W, D)
    case = Case(title=f"all-lag spectral norms, tanh, N = {N}, T = {T}, gain {gain}",
                baselines=["NumPy loop, SVD per lag"],
                target="kernel >= 10x the NumPy loop and faster than the fastest framework")
    out = backward_products(rnn, D)
    err = np.max(np.abs(out["log_norm"] - ref))
    assert err < 1e-8, err
    its = out["power_iterations"][1:].mean()
    # every row: best of 7 runs, so that a loaded machine penalises all rows alike
    case.add("rnndyn backward_products (Lanczos)",
             best_time(lambda: backward_products(rnn, D), repeat=7),
             f"{its:.1f} matvec pairs/lag, max |Δ ln| vs SVD {err:.1e}")
    case.add("rnndyn products + 1 matvec pair (floor)",
             best_time(lambda: backward_products(rnn, D, max_iter=1), repeat=7),
             "no convergence check")
    case.add("NumPy loop, SVD per lag", best_time(lambda: numpy_loop(rnn.W, D), repeat=7))
    b = numpy_batched(rnn.W, D)
    assert np.max(np.abs(b - ref)) < 1e-8
    case.add("NumPy: product loop + batched SVD", best_time(lambda: numpy_batched(rnn.W, D),
                                                           repeat=7))
    k_cpu = _cpu_best(lambda: backward_products(rnn, D), 5 if quick else 30)
    n_cpu = _cpu_best(lambda: numpy_loop(rnn.W, D), 3 if quick else 10)
    case.notes.append(f"CPU time (thread_time, best of runs): kernel {k_cpu * 1e3:.3f} ms, "
                      f"NumPy loop {n_cpu * 1e3:.2f} ms: {n_cpu / k_cpu:.1f}x")
    best = None
    for name, (prep, fn) in {**torch_methods(), **jax_methods()}.items():
        args = prep(rnn.W, D)
        got = fn(args)
        assert np.max(np.abs(got - ref)) < 1e-8, name
        t = best_time(lambda: fn(args), repeat=7)
        case.add(name, t)
        if best is None or t < best[1]:
            best = (name, t)
    if best is not None:
        case.baselines.append(best[0])
        case.notes.append(f"fastest framework: {best[0]} (torch with 1 thread, see source)")
    else:
        case.notes.append("no autodiff framework installed (torch, jax): framework rows absent")
    return case


def _dgemm_gflops(N, min_time=0.3):
    """This machine's dgemm rate (GFLOP/s) on N×N operands, NumPy matmul, one BLAS thread
    (call inside ``blas_threads(1)``): best of 5 runs of enough products to take min_time."""
    import time
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((N, N)), rng.standard_normal((N, N))
    C = np.empty((N, N))
    reps = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(reps):
            np.matmul(A, B, out=C)
        if time.perf_counter() - t0 >= min_time / 5:
            break
        reps *= 2
    best = best_time(lambda: [np.matmul(A, B, out=C) for _ in range(reps)], repeat=5,
                     min_time=0)
    return 2.0 * N ** 3 * reps / best / 1e9


def _long_case(quick):
    """`rnndyn gradflow --n 100 --gain 3 --steps 20000` (chaotic tanh), as its defaults run
    it: the time, and the products' share of this machine's dgemm peak."""
    from rnndyn._threads import blas_threads
    from rnndyn.gradflow import auto_stride, backward_products, gradient_flow
    from rnndyn.models import make_rnn
    from rnndyn.simulate import initial_state, trajectory
    N, T = (30, 2000) if quick else (100, 20_000)
    T_sub = T // 20                      # every-step statistics: timed on a part, scaled
    rnn = make_rnn(N, activation="tanh", gain=3.0, seed=0)
    x0 = initial_state(rnn, "random", seed=1)        # the CLI's start for --seed 0
    case = Case(title=f"long run: gradient_flow defaults, tanh N = {N}, gain 3 (chaotic), "
                      f"T = {T} (1 BLAS thread)",
                baselines=[f"stats every step (T = {T_sub} run × {T // T_sub})"],
                target="the defaults within a few seconds; statistics cheaper than products")
    with blas_threads(1):
        peak = _dgemm_gflops(N)
        flops = 2.0 * N ** 3 * T                     # one N×N×N product per lag
        _, D = trajectory(rnn, x0, T)

        def rate(seconds):
            g = flops / seconds / 1e9
            return f"{g:.1f} GFLOP/s of products = {100 * g / peak:.0f}% of dgemm peak"

        res = gradient_flow(rnn, x0, T)
        t = best_time(lambda: gradient_flow(rnn, x0, T), repeat=2, min_time=0)
        case.add("gradient_flow, defaults (stats 'auto')", t,
                 f"stride {auto_stride(T)}: {len(res.jac_t)} Jacobians; {rate(t)}")
        t = best_time(lambda: gradient_flow(rnn, x0, T, jacobian_stats=False), repeat=2,
                      min_time=0)
        case.add("gradient_flow, no Jacobian statistics", t, rate(t))
        out = backward_products(rnn, D)
        t = best_time(lambda: backward_products(rnn, D), repeat=2, min_time=0)
        case.add("backward_products (Lanczos)", t,
                 f"{out['power_iterations'][1:].mean():.2f} matvec pairs/lag; {rate(t)}")
        t = best_time(lambda: backward_products(rnn, D, max_iter=1), repeat=2, min_time=0)
        case.add("backward_products, 1 matvec pair (floor)", t, rate(t))
        t = best_time(lambda: gradient_flow(rnn, x0, T_sub, jacobian_stats=True), repeat=1,
                      min_time=0)
        case.add(f"stats every step (T = {T_sub} run × {T // T_sub})", t * T / T_sub,
                 "the old default, extrapolated")
    case.add(f"dgemm peak: {T} products at {peak:.1f} GFLOP/s", flops / peak / 1e9,
             f"NumPy matmul N = {N}, 1 BLAS thread, measured in this run")
    case.notes.append(f"dgemm peak {peak:.1f} GFLOP/s (N = {N}, 1 thread); products counted "
                      f"as 2N³ flops per lag = {flops:.2e} flops")
    return case


def run(quick):
    import os
    cases = [_kernel_case(20, 40, 1.0, quick)] if quick else [
        _kernel_case(50, 200, g, quick) for g in (1.0, 0.5, 2.0)]
    cases[0].notes.append(f"os.cpu_count() = {os.cpu_count()}; the machine may be shared: "
                          "compare rows within a case, not across runs")
    if not quick:
        from rnndyn.gradflow import backward_products
        rnn, D = _problem(100, 10_000, 1.5)
        case = Case(title="long products: N = 100, T = 10^4 (tanh, gain 1.5)",
                    baselines=["rnndyn products + 1 matvec pair (floor)"])
        out = backward_products(rnn, D)
        case.add("rnndyn backward_products (Lanczos)",
                 best_time(lambda: backward_products(rnn, D), repeat=2, min_time=0),
                 f"{out['power_iterations'][1:].mean():.1f} matvec pairs/lag; "
                 f"finite: {bool(np.all(np.isfinite(out['log_norm'])))}")
        case.add("rnndyn products + 1 matvec pair (floor)",
                 best_time(lambda: backward_products(rnn, D, max_iter=1), repeat=2,
                           min_time=0))
        cases.append(case)
    cases.append(_long_case(quick))
    return cases
