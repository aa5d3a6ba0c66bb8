"""Lyapunov spectra: rnndyn's QR kernels against QR-every-step loops in NumPy,
PyTorch (CPU) and JAX (if installed), on the same trajectory.

Cases (issue 3):
* full spectrum, random tanh RNN, g = 2, N = 256, 1,000 steps after 100 transient;
  every exponent must lie within 1e-6 of the NumPy QR-every-step result;
* top 10 exponents, N = 1,000, 2,000 steps after 100 transient;
* numba compile time on a cold cache and load time on a warm cache.

Flop model of the QR-every-step method per step: dgeqrf (4/3)N³ + applying Q
and the Jacobian 2N³ = 3.33N³ (the issue's "arithmetic floor", 62 GFLOP for
case 1). "fraction of peak" = (that count / time) / (dgemm rate at N measured
in the same run, best of 1 and 2 threads).
"""

import os
import subprocess
import sys
import tempfile
import time

import numpy as np

# JAX with its BLAS on one thread: with two it fights XLA's own pool (issue 15: 3.07 s
# vs 2.61 s quiet, 59.8 s under load). Must be set before jax is imported.
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                                   "intra_op_parallelism_threads=1")

from run import Case, conditions  # noqa: E402

TITLE = "Lyapunov spectra (QR method): rnndyn vs NumPy / PyTorch / JAX loops"


def _numpy_threads(n):
    """Set the thread count of NumPy's bundled OpenBLAS (ctypes; None if not found)."""
    import ctypes
    import glob
    libdir = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
    for path in glob.glob(os.path.join(libdir, "libscipy_openblas*")):
        lib = ctypes.CDLL(path)
        for name in ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads"):
            if hasattr(lib, name):
                getattr(lib, name)(int(n))
                return True
    return False


_CPU = {}  # CPU seconds (process_time) of the best call, by the wall time it went with


def _timed(fn, repeat, long_run=20.0):
    """Best wall time of ``repeat`` calls (callers warm up themselves); a call that
    takes longer than ``long_run`` seconds is not repeated. The process CPU time of
    that call is kept in _CPU (on a shared machine, wall > CPU/threads shows waiting)."""
    best, out, cpu = np.inf, None, np.nan
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        t, c = time.perf_counter() - t0, time.process_time() - c0
        if t < best:
            best, cpu = t, c
        if best > long_run:
            break
    _CPU[best] = cpu
    return best, out


def numpy_qr(W, D, k, transient):
    N = W.shape[0]
    Q = np.linalg.qr(np.random.default_rng(0).standard_normal((N, k)))[0]
    acc = np.zeros(k)
    for t in range(D.shape[0]):
        Q, R = np.linalg.qr(W @ (D[t][:, None] * Q))
        if t >= transient:
            acc += np.log(np.abs(np.diag(R)))
    return np.sort(acc / (D.shape[0] - transient))[::-1]


def torch_qr(W, D, k, transient, threads):
    import torch
    torch.set_num_threads(threads)
    N = W.shape[0]
    Wt, Dt = torch.from_numpy(W.copy()), torch.from_numpy(D.copy())
    Q = torch.from_numpy(np.linalg.qr(np.random.default_rng(0).standard_normal((N, k)))[0])
    acc = torch.zeros(k, dtype=torch.float64)
    for t in range(D.shape[0]):
        Q, R = torch.linalg.qr(Wt @ (Dt[t][:, None] * Q))
        if t >= transient:
            acc += torch.log(torch.abs(torch.diagonal(R)))
    return np.sort(acc.numpy() / (D.shape[0] - transient))[::-1]


def jax_qr_factory(W, D, k, transient):
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    N = W.shape[0]
    Q0 = jnp.asarray(np.linalg.qr(np.random.default_rng(0).standard_normal((N, k)))[0])
    Wj, Dj = jnp.asarray(W), jnp.asarray(D)
    mask = jnp.asarray(np.arange(D.shape[0]) >= transient, dtype=jnp.float64)

    def run(Q, Dj, mask):
        def step(carry, inp):
            Q, acc = carry
            d, m = inp
            Q, R = jnp.linalg.qr(Wj @ (d[:, None] * Q))
            return (Q, acc + m * jnp.log(jnp.abs(jnp.diagonal(R)))), None
        (Q, acc), _ = jax.lax.scan(step, (Q, jnp.zeros(k)), (Dj, mask))
        return acc

    # compiled ahead of time, so that no extra full run is needed to warm up
    compiled = jax.jit(run).lower(Q0, Dj, mask).compile()

    def call():
        acc = np.asarray(compiled(Q0, Dj, mask).block_until_ready())
        return np.sort(acc / (D.shape[0] - transient))[::-1]
    return call


def gemm_rate(N, threads):
    """dgemm GFLOP/s at N x N (SciPy's BLAS, the one the kernels use)."""
    from scipy.linalg.blas import dgemm
    from rnndyn.lyapunov import blas_threads
    a = np.asfortranarray(np.random.default_rng(0).standard_normal((N, N)))
    with blas_threads(threads):
        dgemm(1.0, a, a)
        # best single call over about a second: on a shared machine the mean
        # measures the other jobs, the best call measures the hardware
        best, t_end = np.inf, time.perf_counter() + 1.0
        while time.perf_counter() < t_end:
            t0 = time.perf_counter()
            dgemm(1.0, a, a)
            best = min(best, time.perf_counter() - t0)
    return 2 * N ** 3 / best / 1e9


def spectrum_case(title, N, k, steps, transient, quick, rounds):
    """All contenders in interleaved rounds (run.interleaved, one call per contender per
    round, order rotating); rows are median times, ratio columns medians of per-round
    ratios; every contender's thread setting is applied inside its own call."""
    from rnndyn import lyapunov as ly
    from rnndyn.models import make_rnn
    from rnndyn.simulate import initial_state, trajectory
    from run import interleaved
    rnn = make_rnn(N, gain=2.0, seed=0)
    x0 = initial_state(rnn, "random", seed=1)
    _, D = trajectory(rnn, x0, transient + steps)
    case = Case(title, baselines=[])
    case.conditions = conditions(short=True)
    flops = (4.0 / 3.0 + 2.0) * N ** 3 * (steps + transient) if k == N else \
        (4.0 * N * k * k + 2.0 * N * N * k) * (steps + transient)
    peak = max(gemm_rate(N, 1), gemm_rate(N, 2))
    case.notes.append(f"dgemm peak at N={N} (SciPy BLAS, best of 1/2 threads, now): "
                      f"{peak:.1f} GFLOP/s; QR-every-step flop model {flops / 1e9:.1f} GFLOP")
    last = {}  # name -> (exponents, CPU seconds of the last call, result meta or None)

    def contender(name, fn, setup=None):
        def call():
            if setup is not None:
                setup()
            c0 = time.process_time()
            out = fn()
            cpu = time.process_time() - c0
            lam, meta = (out.exponents, out.meta) if hasattr(out, "exponents") else (out, None)
            last[name] = (np.asarray(lam), cpu, meta)
        return call

    contenders = {}
    for th in (2, 1):
        name = f"NumPy QR every step ({th} thread{'s' * (th > 1)})"
        contenders[name] = contender(name, lambda: numpy_qr(rnn.W, D, k, transient),
                                     setup=lambda th=th: _numpy_threads(th))
        case.baselines.append(name)
    try:
        import torch  # noqa: F401
        for th in (1, 2):
            name = f"PyTorch CPU QR every step ({th} thread{'s' * (th > 1)})"
            contenders[name] = contender(name, lambda th=th: torch_qr(rnn.W, D, k, transient,
                                                                       th))
            case.baselines.append(name)
    except ImportError:
        case.notes.append("PyTorch not installed")
    try:
        name = "JAX jit(scan) QR every step"
        contenders[name] = contender(name, jax_qr_factory(rnn.W, D, k, transient))
        case.baselines.append(name)
        case.notes.append("JAX: XLA_FLAGS=" + os.environ.get("XLA_FLAGS", "(unset)"))
    except ImportError:
        case.notes.append("JAX not installed")
    # (label, keyword arguments, SciPy BLAS threads); threads=2 runs the split
    # method's two parts at the same time, each with a single-threaded BLAS
    if k == N:
        configs = [("reortho=1 (1 thread)", dict(reortho=1, split=0, threads=1), 1),
                   ("auto split=0 (1 thread)", dict(split=0, threads=1), 1),
                   ("auto (1 thread)", dict(threads=1), 1),
                   ("auto (2 threads)", dict(threads=2), 1),
                   # the default call: with a convergence history (points >= 8 steps apart)
                   ("defaults, history on (2 threads)", dict(threads=2, history=True), 1)]
    else:  # no split for k < N: the second core can only go to the BLAS
        configs = [("reortho=1 (1 BLAS thread)", dict(reortho=1), 1),
                   ("auto (1 BLAS thread)", {}, 1),
                   ("auto (2 BLAS threads)", {}, 2)]

    def set_blas(n):
        ly.BLAS_THREADS = n
        _numpy_threads(os.cpu_count() or 1)

    for label, kwargs, blas in configs:
        kwargs = {"history": False, **kwargs}
        name = f"rnndyn {label}"
        contenders[name] = contender(
            name, lambda kwargs=kwargs: ly.lyapunov_spectrum(rnn, x0, steps, k=k,
                                                             transient=transient, **kwargs),
            setup=lambda blas=blas: set_blas(blas))
    try:
        times = interleaved(contenders, rounds=rounds, min_time=0.0)
    finally:
        ly.BLAS_THREADS = 1
        _numpy_threads(os.cpu_count() or 1)
    case.add_rounds(times)
    ref = last["NumPy QR every step (2 threads)"][0]
    best_base = min(case.baselines, key=lambda b: np.median(times[b]))
    rows = []
    for method, seconds, _ in case.rows:
        lam, cpu, meta = last[method]
        err = float(np.max(np.abs(lam - ref)))
        note = (f"max|Δλ| {err:.1e}  {100 * flops / seconds / 1e9 / peak:5.1f}% of peak  "
                f"cpu {cpu:.2f} s")
        if meta is not None:
            note += f"  interval {meta['mean_interval']:.2f}"
            if meta.get("split"):
                note += (f", split b={meta['split']} (J^-T interval "
                         f"{meta['split_mean_interval']:.2f})")
        rows.append((method, seconds, note))
        if method.startswith("rnndyn auto ("):
            ratio = case.ratios[method][best_base]
            case.notes.append(f"{method}: {ratio:.2f}x the best baseline ({best_base}, "
                              f"median of per-round ratios); max|Δλ| {err:.1e} "
                              f"({'within' if err <= 1e-6 else 'NOT within'} 1e-6)"
                              + (f"; split: {meta.get('split_reason')}" if k == N and
                                 not meta.get("split") else ""))
    case.rows = rows
    case.notes.append(f"{rounds} interleaved rounds; 'cpu' = process CPU time of the last "
                      "call (wall > CPU/threads shows waiting for the machine)")
    case.baselines = [best_base]
    case.target = ">= 3x faster than the best baseline (column 'vs …'), every |Δλ| <= 1e-6"
    return case


_COMPILE_SNIPPET = """
import time, numpy as np
t0 = time.perf_counter()
from rnndyn.lyapunov import lyapunov_spectrum, largest_lyapunov
from rnndyn.models import make_rnn
rnn = make_rnn(8, gain=2.0, seed=0)
t1 = time.perf_counter()
lyapunov_spectrum(rnn, np.ones(8), 20, transient=5)
largest_lyapunov(rnn, np.ones(8), 20, transient=5)
print(t1 - t0, time.perf_counter() - t1)
"""


def compile_case():
    case = Case("numba compile (cold cache) and load (warm cache): import, first calls",
                baselines=[])
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for label in ("cold cache: compile", "warm cache: load"):
            out = subprocess.run([sys.executable, "-c", _COMPILE_SNIPPET], env=env,
                                 capture_output=True, text=True, check=True).stdout.split()
            imp, first = float(out[0]), float(out[1])
            case.add(f"{label} (first spectrum + vector call)", first,
                     f"import rnndyn.lyapunov {imp:.2f} s")
    return case


def run(quick):
    repeat = 1 if quick else 3  # interleaved rounds
    if quick:
        cases = [spectrum_case("full spectrum, tanh g=2, N=64, 200 steps (quick)",
                               64, 64, 200, 20, quick, repeat)]
    else:
        cases = [spectrum_case("full spectrum, random tanh RNN g=2, N=256, "
                               "1000 steps after 100 transient", 256, 256, 1000, 100,
                               quick, repeat),
                 spectrum_case("top 10 exponents, N=1000, 2000 steps after 100 transient",
                               1000, 10, 2000, 100, quick, repeat)]
    cases.append(compile_case())
    return cases
