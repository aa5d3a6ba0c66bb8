"""BPTT with norm clipping at the size of the paper's music models, against PyTorch.

Problem (issue 14): N = 300 hidden units, 88 inputs and 88 outputs (a piano roll),
T = 200 steps, minibatch B = 32, float64, independent Bernoulli outputs at every step
(BCEWithLogitsLoss), one gradient = forward + backward + clip of the global norm.
nn.RNN offers tanh and relu only, so PyTorch runs tanh (the elman form it computes);
rnndyn runs the same tanh network and its sigmoid one (the elementwise work differs a
little, the products not at all). GFLOP/s counts the matrix products only,
2TB(3N² + 2NM + 3NK) per gradient, against the machine's one-thread dgemm measured here.

    python benchmarks/bench_bptt_real.py          # or: python benchmarks/run.py bptt_real
"""

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import Case, interleaved, one_thread_torch  # noqa: E402

TITLE = "BPTT + clipping, N=300, 88 in/out, T=200, B=32, Bernoulli outputs, float64"
N, M, K, T, B = 300, 88, 88, 200, 32
THRESHOLD = 8.0


def flops_per_gradient(N=N, M=M, K=K, T=T, B=B):
    """Multiply-adds of the products of one BPTT gradient, times 2."""
    return 2.0 * T * B * (3 * N * N + 2 * N * M + 3 * N * K)


def _problem(act, seed=0):
    from rnndyn.training import bernoulli_targets, init_params
    rng = np.random.default_rng(seed)
    P = init_params(N, M, K, "gaussian", activation=act, form="elman", gain=0.9, seed=1)
    roll = (rng.random((T + 1, B, K)) < 0.05).astype(np.float64)
    u = np.ascontiguousarray(roll[:-1])
    z = roll[1:]
    return P, u, z, bernoulli_targets(z)


def _rnndyn_fn(P, u, tgt):
    from rnndyn import optim
    from rnndyn._kernels import bptt as _k
    from rnndyn.training import _grad
    g = np.empty(P.size)
    buf = (g, P.views(g))
    lab = np.full((T, B), -1, dtype=np.int64)

    def fn():
        _grad(P, u, _k.LOSS_BERNOULLI, lab, tgt, _k.OMEGA_OFF, 0.0, 0, 0.04, out=buf)
        optim.clip_norm(g, THRESHOLD)
    return fn


def _torch_fn(P, u, z, torch):
    from bench_bptt import torch_modules
    rnn, lin = torch_modules(torch, P, M, N, K)
    params = list(rnn.parameters()) + list(lin.parameters())
    x = torch.tensor(u)
    zt = torch.tensor(z)
    bce = torch.nn.BCEWithLogitsLoss(reduction="sum")

    def fn():
        for p in params:
            p.grad = None
        out, _ = rnn(x)
        loss = bce(lin(out), zt) / (T * B)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, THRESHOLD)
    return fn


def dgemm_gflops(n=1000, repeat=5):
    """One-thread float64 matrix-product rate (GFLOP/s), best of ``repeat``."""
    a = np.random.default_rng(0).standard_normal((n, n))
    b = np.random.default_rng(1).standard_normal((n, n))
    c = np.empty((n, n))
    np.dot(a, b, out=c)
    best = np.inf
    for _ in range(repeat):
        t0 = time.process_time()
        np.dot(a, b, out=c)
        best = min(best, time.process_time() - t0)
    return 2.0 * n ** 3 / best / 1e9


def run(quick=False):
    # numba's np.dot on SciPy's OpenBLAS runs on its default threads unless it is loaded
    # before the limit is set (measured 100x slower on these small products)
    from threadpoolctl import threadpool_limits
    torch = one_thread_torch()
    with threadpool_limits(1):
        peak = dgemm_gflops()
        Pt, u, z, tgt = _problem("tanh")
        Ps, _, _, _ = _problem("sigmoid")
        contenders = {"rnndyn numba (elman, tanh)": _rnndyn_fn(Pt, u, tgt),
                      "rnndyn numba (elman, sigmoid)": _rnndyn_fn(Ps, u, tgt)}
        if torch is not None:
            contenders["pytorch nn.RNN (tanh)"] = _torch_fn(Pt, u, z, torch)
        rounds = interleaved(contenders, rounds=3 if quick else 5, min_time=0.0,
                             clock=time.process_time)
    case = Case("one gradient: forward + backward + clip_grad_norm_",
                baselines=["pytorch nn.RNN (tanh)"] if torch is not None else [],
                target=">= 2x faster than pytorch")
    fl = flops_per_gradient()
    notes = {name: f"{fl / np.median(t) / 1e9:.1f} GFLOP/s "
                   f"({100 * fl / np.median(t) / 1e9 / peak:.0f}% of dgemm)"
             for name, t in rounds.items()}
    case.add_rounds(rounds, notes)
    case.notes.append(f"CPU time, median of interleaved rounds, BLAS and torch on 1 thread; "
                      f"{fl / 1e9:.2f} GFLOP per gradient; one-thread dgemm (n=1000) "
                      f"{peak:.1f} GFLOP/s")
    if torch is None:
        case.notes.append("torch not installed: no pytorch row")
    else:
        case.notes.append(f"torch {torch.__version__}")
    return [case]


if __name__ == "__main__":
    from run import print_case
    for c in run(quick="--quick" in sys.argv):
        print_case(c)
