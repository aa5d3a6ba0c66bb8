"""One BPTT gradient (forward + backward + norm clipping) of an LSTM and a GRU against
PyTorch's nn.LSTM / nn.GRU and a hand-written NumPy BPTT.

Problem (issue 11, §6): N = 50 hidden units, M = 6 inputs (temporal order), K = 4
classes, minibatch B = 20, T = 100, float64, softmax cross-entropy at the last step, the
global gradient norm clipped at 1. Every contender computes the same gradient of the same
network (PyTorch's default initialisation, zero initial state).

    python benchmarks/bench_bptt_gated.py       # or: python benchmarks/run.py bptt_gated
"""

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_bptt import ce_last_numpy, clip_numpy, torch_gradient_fn  # noqa: E402
from run import Case, interleaved, one_thread_torch  # noqa: E402

TITLE = "BPTT gradient + clipping of gated cells, N=50, M=6, B=20, float64"
N, M, K, B = 50, 6, 4, 20
THRESHOLD = 1.0
TORCH_NAME = {"lstm": "pytorch nn.LSTM", "gru": "pytorch nn.GRU"}


def _problem(cell, T):
    from rnndyn.tasks import make_batch
    from rnndyn.training import init_params
    P = init_params(N, M, K, "pytorch", cell=cell, seed=0)
    batch = make_batch("temporal-order", T, B, seed=1)
    return P, batch


def _rnndyn_fn(P, batch):
    from rnndyn import optim
    from rnndyn.codes import LOSS_CE, OMEGA_OFF
    from rnndyn.training import _grad
    g = np.empty(P.size)
    buf = (g, P.views(g))
    tgt = np.zeros((B, K))

    def fn():
        _grad(P, batch.inputs, LOSS_CE, batch.labels, tgt, OMEGA_OFF, 0.0, 0, 0.04, out=buf)
        optim.clip_norm(g, THRESHOLD)
    return fn


def _sigmoid(x, out):
    """σ(x) into ``out`` (NumPy's exp overflows harmlessly to inf for x << 0: σ = 0)."""
    np.negative(x, out=out)
    np.exp(out, out=out)
    out += 1.0
    np.reciprocal(out, out=out)
    return out


def _numpy_fn(P, batch):
    """A careful hand-written NumPy BPTT of the same cell: time-major, batched products,
    preallocated arrays, the parameter gradients as single products at the end."""
    W, U, b, V, c = (a.copy() for a in P.views(P.theta))
    u = batch.inputs
    y_lab = batch.labels[-1]
    T = u.shape[0]
    lstm = P.cell == "lstm"
    G = 4 if lstm else 3
    u2 = u.reshape(T * B, M)
    H = np.empty((T + 1, B, N))
    C = np.empty((T + 1, B, N))
    Gt = np.empty((T, B, G * N))        # gate values
    TC = np.empty((T, B, N))            # tanh(c_t) (LSTM), q (GRU)
    DA = np.empty((T, B, G * N))        # pre-activation adjoints (hidden side)
    DX = np.empty((T, B, G * N))        # input side (GRU n block differs)
    A = np.empty((B, G * N))
    Wt = np.ascontiguousarray(W.T)

    def fn():
        H[0] = 0.0
        C[0] = 0.0
        Z = (u2 @ U.T + b[:G * N]).reshape(T, B, G * N)
        for t in range(T):
            np.dot(H[t], Wt, out=A)
            g = Gt[t]
            if lstm:
                np.add(A, Z[t], out=A)
                _sigmoid(A, g)
                np.tanh(A[:, 2 * N:3 * N], out=g[:, 2 * N:3 * N])
                i, f, gg, o = g[:, :N], g[:, N:2 * N], g[:, 2 * N:3 * N], g[:, 3 * N:]
                np.multiply(f, C[t], out=C[t + 1])
                C[t + 1] += i * gg
                np.tanh(C[t + 1], out=TC[t])
                np.multiply(o, TC[t], out=H[t + 1])
            else:
                _sigmoid(A[:, :2 * N] + Z[t, :, :2 * N], g[:, :2 * N])
                q = TC[t]
                np.add(A[:, 2 * N:], b[3 * N:], out=q)
                np.tanh(Z[t, :, 2 * N:] + g[:, :N] * q, out=g[:, 2 * N:])
                z, n = g[:, N:2 * N], g[:, 2 * N:]
                np.multiply(1.0 - z, n, out=H[t + 1])
                H[t + 1] += z * H[t]
        gV, gc, dh = ce_last_numpy(H[T], V, c, y_lab)
        dc = np.zeros((B, N))
        for t in range(T - 1, -1, -1):
            g, da = Gt[t], DA[t]
            if lstm:
                i, f, gg, o = g[:, :N], g[:, N:2 * N], g[:, 2 * N:3 * N], g[:, 3 * N:]
                tc = TC[t]
                dct = dc + dh * o * (1.0 - tc * tc)
                da[:, :N] = dct * gg * i * (1.0 - i)
                da[:, N:2 * N] = dct * C[t] * f * (1.0 - f)
                da[:, 2 * N:3 * N] = dct * i * (1.0 - gg * gg)
                da[:, 3 * N:] = dh * tc * o * (1.0 - o)
                dc = dct * f
                dh = da @ W
            else:
                r, z, n = g[:, :N], g[:, N:2 * N], g[:, 2 * N:]
                dan = dh * (1.0 - z) * (1.0 - n * n)
                dx = DX[t]
                da[:, :N] = dan * TC[t] * r * (1.0 - r)
                da[:, N:2 * N] = dh * (H[t] - n) * z * (1.0 - z)
                da[:, 2 * N:] = dan * r
                dx[:, :2 * N] = da[:, :2 * N]
                dx[:, 2 * N:] = dan
                dh = dh * z + da @ W
        DA2 = DA.reshape(T * B, G * N)
        DX2 = DA2 if lstm else DX.reshape(T * B, G * N)
        gW = DA2.T @ H[:T].reshape(T * B, N)
        gU = DX2.T @ u2
        gb = DX2.sum(axis=0)
        if not lstm:
            gb = np.concatenate([gb, DA2[:, 2 * N:].sum(axis=0)])
        return clip_numpy((gW, gU, gb, gV, gc), THRESHOLD)
    return fn


def _torch_fn(P, batch, torch):
    from rnndyn.models import RNN
    from rnndyn.torch_weights import state_dict
    dt = torch.float64
    mod = (torch.nn.LSTM if P.cell == "lstm" else torch.nn.GRU)(M, N, dtype=dt)
    lin = torch.nn.Linear(N, K, dtype=dt)
    sd = state_dict(RNN(P.W, P.U, P.b, cell=P.cell))
    mod.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()})
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(P.V))
        lin.bias.copy_(torch.tensor(P.c))
    return torch_gradient_fn(torch, mod, lin, batch, THRESHOLD)


def check_agreement(T=20):
    """Max |rnndyn - numpy| of the clipped gradients (a guard on the numpy contender; the
    torch one is tests/test_bptt_gated.py's oracle)."""
    from rnndyn import optim
    from rnndyn.codes import LOSS_CE, OMEGA_OFF
    from rnndyn.training import _grad
    out = {}
    for cell in ("lstm", "gru"):
        P, batch = _problem(cell, T)
        g = _grad(P, batch.inputs, LOSS_CE, batch.labels, np.zeros((B, K)), OMEGA_OFF, 0.0,
                  0, 0.04)
        optim.clip_norm(g.grad, THRESHOLD)
        ref = _numpy_fn(P, batch)()
        out[cell] = max(float(np.max(np.abs(a - w))) for a, w in
                        zip((g.W, g.U, g.b, g.V, g.c), ref))
    return out


def run(quick=False):
    from threadpoolctl import threadpool_limits
    torch = one_thread_torch()
    T = 20 if quick else 100
    cases = []
    with threadpool_limits(1):
        for cell in ("lstm", "gru"):
            P, batch = _problem(cell, T)
            name = f"rnndyn numba ({cell})"
            contenders = {name: _rnndyn_fn(P, batch), "numpy": _numpy_fn(P, batch)}
            if torch is not None:
                contenders[TORCH_NAME[cell]] = _torch_fn(P, batch, torch)
            rounds = interleaved(contenders, rounds=3 if quick else 9, min_time=0.05,
                                 clock=time.process_time)
            base = [TORCH_NAME[cell]] if torch is not None else []
            case = Case(f"{cell.upper()}: one gradient (forward + backward + clip), T = {T}",
                        baselines=base + ["numpy"],
                        target=">= 3x faster than pytorch and >= 2x faster than numpy")
            notes = {k: f"{1 / np.median(v):,.0f} updates/s" for k, v in rounds.items()}
            if torch is not None:
                notes[TORCH_NAME[cell]] += f", torch {torch.__version__}, 1 thread"
            notes["numpy"] += ", hand-written, batched"
            case.add_rounds(rounds, notes)
            case.notes.append("CPU time (time.process_time), median of interleaved rounds; "
                              "BLAS and torch on 1 thread")
            cases.append(case)
    return cases


if __name__ == "__main__":
    from run import print_case
    for c in run("--quick" in sys.argv):
        print_case(c)
