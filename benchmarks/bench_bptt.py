"""One BPTT gradient (forward + backward + norm clipping) of a tanh RNN, and training
throughput, against PyTorch's nn.RNN, hand-written NumPy and JAX (if installed).

Problem (issue 5): N = 50 hidden, M = 6 inputs (temporal order), K = 4 classes,
minibatch B = 20, float64, softmax cross-entropy at the last step, T = 100 and 200.
The elman form h_t = tanh(W h_{t-1} + U u_t + b) is what nn.RNN computes; rnndyn's
pascanu form costs the same and is timed too.
"""

import os
import subprocess
import sys
import time

import numpy as np

from run import Case
from run import best_time as _best_time

# The machine these numbers come from is shared: wall times swing by 10-50x with the load
# of other processes, CPU time (time.process_time) far less. Every row here is therefore
# the best CPU time over repeats. Run with OPENBLAS_NUM_THREADS=1 for 1-thread numbers.
REPEAT = 15


def best_time(fn, *, repeat=REPEAT, min_time=0.05):
    """Best CPU time of ``fn()`` in seconds (see run.best_time)."""
    return _best_time(fn, repeat=repeat, min_time=min_time * repeat, clock=time.process_time)


TITLE = "BPTT gradient + clipping, N=50, M=6, B=20, float64"
N, M, K, B = 50, 6, 4, 20
THRESHOLD = 1.0


def _problem(T, form="elman"):
    from rnndyn.tasks import make_batch
    from rnndyn.training import init_params
    P = init_params(N, M, K, "smart-tanh", form=form, seed=0)
    batch = make_batch("temporal-order", T, B, seed=1)
    return P, batch


def _rnndyn_fn(P, batch, omega="off", alpha=0.0):
    from rnndyn import optim
    from rnndyn.codes import OMEGA_CODES as _OMEGA_CODES
    from rnndyn.training import _grad
    from rnndyn._kernels import bptt as _k
    g = np.empty(P.size)
    buf = (g, P.views(g))
    tgt = np.zeros((B, K))
    code = _OMEGA_CODES[omega]

    def fn():
        _grad(P, batch.inputs, _k.LOSS_CE, batch.labels, tgt, code, alpha, 0, 0.04, out=buf)
        optim.clip_norm(g, THRESHOLD)
    return fn


def _numpy_fn(P, batch):
    """A careful hand-written NumPy BPTT (elman, tanh), time-major, batched products."""
    W, U, b, V, c = (a.copy() for a in P.views(P.theta))
    u = batch.inputs
    y_lab = batch.labels[-1]
    T = u.shape[0]
    H = np.empty((T + 1, B, N))
    G = np.empty((T, B, N))

    def fn():
        H[0] = 0.0
        Z = (u.reshape(T * B, M) @ U.T + b).reshape(T, B, N)
        for t in range(T):
            np.tanh(H[t] @ W.T + Z[t], out=H[t + 1])
        gV, gc, dh = ce_last_numpy(H[T], V, c, y_lab)
        for t in range(T - 1, -1, -1):
            g = dh * (1.0 - H[t + 1] * H[t + 1])
            G[t] = g
            dh = g @ W
        G2 = G.reshape(T * B, N)
        gW = G2.T @ H[:T].reshape(T * B, N)
        gU = G2.T @ u.reshape(T * B, M)
        gb = G2.sum(axis=0)
        return clip_numpy((gW, gU, gb, gV, gc))
    return fn


def ce_last_numpy(h, V, c, labels):
    """The readout's part of a NumPy BPTT for the mean softmax cross-entropy of y = V h + c
    at the last step: (dE/dV, dE/dc, dE/dh) for h (B, N), labels (B,)."""
    y = h @ V.T + c
    p = np.exp(y - y.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(h.shape[0]), labels] -= 1.0
    e = p / h.shape[0]
    return e.T @ h, e.sum(axis=0), e @ V


def clip_numpy(grads, threshold=THRESHOLD):
    """Algorithm 1 on a tuple of NumPy gradients, in place (torch's clip_grad_norm_ rule)."""
    norm = np.sqrt(sum(float(np.sum(x * x)) for x in grads))
    coef = threshold / (norm + 1e-6)
    if coef < 1.0:
        for x in grads:
            x *= coef
    return grads


def torch_modules(torch, P, M=M, N=N, K=K):
    """nn.RNN (tanh, float64) and nn.Linear holding P's W, U, V, biases zero (as trained
    from init_params): the PyTorch contender of the BPTT benches."""
    dt = torch.float64
    rnn = torch.nn.RNN(M, N, nonlinearity="tanh", dtype=dt)
    lin = torch.nn.Linear(N, K, dtype=dt)
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(torch.tensor(P.W))
        rnn.weight_ih_l0.copy_(torch.tensor(P.U))
        rnn.bias_ih_l0.zero_()
        rnn.bias_hh_l0.zero_()
        lin.weight.copy_(torch.tensor(P.V))
        lin.bias.zero_()
    return rnn, lin


def _torch_fn(P, batch, torch):
    rnn, lin = torch_modules(torch, P)
    return torch_gradient_fn(torch, rnn, lin, batch)


def torch_gradient_fn(torch, rnn, lin, batch, threshold=THRESHOLD):
    """fn() = one clipped gradient in torch: cross-entropy of lin(y_T) at the batch's last
    labels, backward, clip_grad_norm_ of every parameter (``rnn``: nn.RNN/LSTM/GRU)."""
    params = list(rnn.parameters()) + list(lin.parameters())
    x = torch.tensor(batch.inputs)
    y = torch.tensor(batch.labels[-1])

    def fn():
        for p in params:
            p.grad = None
        out, _ = rnn(x)
        loss = torch.nn.functional.cross_entropy(lin(out[-1]), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, threshold)
    return fn


def _jax_fn(P, batch):
    import jax
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", True)
    W, U, b, V, c = (jnp.asarray(a) for a in P.views(P.theta))
    u = jnp.asarray(batch.inputs)
    y = jnp.asarray(batch.labels[-1])

    def loss(params):
        W, U, b, V, c = params

        def step(h, ut):
            h = jnp.tanh(h @ W.T + ut @ U.T + b)
            return h, None
        h, _ = jax.lax.scan(step, jnp.zeros((B, N)), u)
        logits = h @ V.T + c
        return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(B), y])

    @jax.jit
    def grad_clipped(params):
        g = jax.grad(loss)(params)
        norm = jnp.sqrt(sum(jnp.sum(x * x) for x in g))
        coef = jnp.minimum(1.0, THRESHOLD / (norm + 1e-6))
        return [x * coef for x in g]

    params = [W, U, b, V, c]

    def fn():
        jax.block_until_ready(grad_clipped(params))
    return fn


def _gradient_cases(quick):
    cases = []
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        torch = None
    for T in ((20,) if quick else (100, 200)):
        case = Case(f"one gradient (forward + backward + clip), T = {T}",
                    baselines=["pytorch nn.RNN", "numpy"],
                    target=">= 4x faster than pytorch and >= 2x faster than numpy")
        P, batch = _problem(T, "elman")
        t_k = best_time(_rnndyn_fn(P, batch))
        case.add("rnndyn numba (elman)", t_k, f"{1 / t_k:,.0f} gradients/s")
        Pp, _ = _problem(T, "pascanu")
        case.add("rnndyn numba (pascanu)", best_time(_rnndyn_fn(Pp, batch)))
        case.add("rnndyn numba (pascanu) + Ω (mean) gradient",
                 best_time(_rnndyn_fn(Pp, batch, "mean", 4.0)))
        case.add("rnndyn numba (elman) + Ω (mean) gradient",
                 best_time(_rnndyn_fn(P, batch, "mean", 4.0)))
        case.add("numpy", best_time(_numpy_fn(P, batch)), "hand-written, batched")
        case.notes.append("CPU time, best of repeats (see the module docstring)")
        if torch is not None:
            case.add("pytorch nn.RNN", best_time(_torch_fn(P, batch, torch)),
                     f"torch {torch.__version__}, 1 thread")
        try:
            case.add("jax", best_time(_jax_fn(P, batch)), "jit, lax.scan")
        except ImportError:
            case.notes.append("jax not installed: no jax row")
        cases.append(case)
    return cases


_WORKER = r"""
import os, sys, time
import numpy as np
sys.path.insert(0, {here!r})
from rnndyn.training import train
t0 = time.perf_counter()
r = train("temporal-order", {T}, "sgd-c", "smart-tanh", max_updates={n}, eval_every={n},
          eval_size=20, seed=int(sys.argv[1]), stop_at_success=False)
print(time.perf_counter() - t0)
"""

_THREADS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "NUMBA_NUM_THREADS": "1"}


def _parallel_runs(n_procs, T, n):
    """Wall time of ``n_procs`` independent training runs in parallel processes."""
    code = _WORKER.format(here=os.path.dirname(os.path.abspath(__file__)), T=T, n=n)
    env = dict(os.environ, **_THREADS)
    # warm the numba cache first so that compilation is not timed
    subprocess.run([sys.executable, "-c", code.replace(f"max_updates={n}", "max_updates=5")
                    .replace(f"eval_every={n}", "eval_every=5"), "0"], env=env, check=True,
                   capture_output=True)
    t0 = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", code, str(i)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(n_procs)]
    for p in procs:
        _, err = p.communicate()
        if p.returncode:
            raise RuntimeError(err)
    return time.perf_counter() - t0


def _throughput_cases(quick):
    T = 20 if quick else 100
    n = 200 if quick else 2000
    case = Case(f"training throughput: sgd-c, temporal order T = {T}, {n} updates per run, "
                "1 thread per process", baselines=["1 process"])
    from rnndyn.training import train
    train("temporal-order", T, max_updates=5, eval_every=5, eval_size=20)   # compile
    t0 = time.process_time()
    train("temporal-order", T, "sgd-c", max_updates=n, eval_every=n, eval_size=20,
          stop_at_success=False)
    t_in = (time.process_time() - t0) / n
    case.add("in process: train() per update (CPU time)", t_in,
             f"{1 / t_in:,.0f} updates/s (minibatch generation and diagnostics included)")
    t1 = _parallel_runs(1, T, n)
    case.add("1 process", t1 / n, f"{n / t1:,.0f} updates/s (wall, incl. process start-up)")
    t2 = _parallel_runs(2, T, n)
    case.add("2 processes on 2 cores", t2 / (2 * n),
             f"{2 * n / t2:,.0f} updates/s in total (wall, per update of the pair)")
    case.notes.append("process rows are wall times (they measure parallelism): on a shared "
                      "machine they depend on the load; the ratio of the last row is the "
                      "parallel speed-up of independent runs")
    return [case]


def run(quick):
    # every contender on one BLAS thread, as train() runs (rnndyn._threads pins it): with
    # two, the elman + Ω gradient's larger products woke OpenBLAS's second thread, whose
    # spinning doubled the CPU time measured (4.1 ms instead of 1.8 ms at T = 100)
    from rnndyn._threads import blas_threads
    with blas_threads(1):
        return _gradient_cases(quick) + _throughput_cases(quick)
