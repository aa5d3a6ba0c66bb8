"""One BPTT gradient (forward + backward + norm clipping) of a 2-layer GRU stack against
PyTorch's nn.GRU(num_layers=2) and a hand-written NumPy BPTT.

Problem (issue 12, "Speed"): 2 layers of N = 64 GRU units, M = 6 inputs (temporal order),
K = 4 classes read from the top layer, minibatch B = 20, T = 100, float64, softmax
cross-entropy at the last step, the global gradient norm of all parameters clipped at 1
(torch: clip_grad_norm_). Every contender computes the same gradient of the same network
(PyTorch's default initialisation, zero initial states); BLAS and torch on 1 thread.

    python benchmarks/bench_bptt_stack.py       # or: python benchmarks/run.py bptt_stack
"""

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_bptt import ce_last_numpy, clip_numpy, torch_gradient_fn  # noqa: E402
from bench_bptt_gated import _sigmoid  # noqa: E402
from run import Case, interleaved, one_thread_torch  # noqa: E402

TITLE = "BPTT gradient + clipping of a 2-layer GRU, N=64, M=6, B=20, float64"
N, M, K, B, L = 64, 6, 4, 20, 2
THRESHOLD = 1.0
TORCH_NAME = "pytorch nn.GRU(num_layers=2)"


def _problem(T):
    from rnndyn.models import Readout
    from rnndyn.stack import make_stack
    from rnndyn.tasks import make_batch
    st = make_stack([N] * L, cell="gru", n_inputs=M, init="pytorch", seed=0)
    rng = np.random.default_rng(1)
    ro = Readout(rng.standard_normal((K, N)) / np.sqrt(N), np.zeros(K))
    return st, ro, make_batch("temporal-order", T, B, seed=1)


def _rnndyn_fn(st, ro, batch):
    from rnndyn import optim
    from rnndyn.codes import LOSS_CE
    from rnndyn.stack_bptt import grad_views, stack_grad
    theta, lay, src, start = st.pack()
    g = np.empty(theta.size + ro.size)
    views = grad_views(st, K, g)
    wrong = np.empty(B)
    tgt = np.zeros((B, K))

    def fn():
        stack_grad(theta, lay, src, start, ro.V, ro.c, LOSS_CE, batch.labels, tgt,
                   batch.inputs, 0, 0.04, g, views, wrong)
        optim.clip_norm(g, THRESHOLD)
        return views
    return fn


def _gru_forward(W, U, b, X, H, Gt, Q):
    """One GRU layer over the sequence X (T, B, Min): H (T+1, B, N) the outputs, Gt
    (T, B, 3N) the gates r, z, n, Q (T, B, N) = W_n h + b_hn."""
    T = X.shape[0]
    Z = (X.reshape(T * B, -1) @ U.T + b[:3 * N]).reshape(T, B, 3 * N)
    H[0] = 0.0
    for t in range(T):
        A = H[t] @ W.T
        g = Gt[t]
        _sigmoid(A[:, :2 * N] + Z[t, :, :2 * N], g[:, :2 * N])
        np.add(A[:, 2 * N:], b[3 * N:], out=Q[t])
        np.tanh(Z[t, :, 2 * N:] + g[:, :N] * Q[t], out=g[:, 2 * N:])
        z, n = g[:, N:2 * N], g[:, 2 * N:]
        np.multiply(1.0 - z, n, out=H[t + 1])
        H[t + 1] += z * H[t]


def _gru_backward(W, U, X, H, Gt, Q, ext, DA, DX):
    """The layer's adjoint from ext (T, B, N) = dE/dh_t from outside the layer:
    (gW, gU, gb, dE/dX)."""
    T = X.shape[0]
    dh = np.zeros((B, N))
    for t in range(T - 1, -1, -1):
        dh += ext[t]
        r, z, n = Gt[t, :, :N], Gt[t, :, N:2 * N], Gt[t, :, 2 * N:]
        dan = dh * (1.0 - z) * (1.0 - n * n)
        da, dx = DA[t], DX[t]
        da[:, :N] = dan * Q[t] * r * (1.0 - r)
        da[:, N:2 * N] = dh * (H[t] - n) * z * (1.0 - z)
        da[:, 2 * N:] = dan * r
        dx[:, :2 * N] = da[:, :2 * N]
        dx[:, 2 * N:] = dan
        dh = dh * z + da @ W
    DA2, DX2 = DA.reshape(T * B, 3 * N), DX.reshape(T * B, 3 * N)
    X2 = X.reshape(T * B, -1)
    gb = np.concatenate([DX2.sum(axis=0), DA2[:, 2 * N:].sum(axis=0)])
    return DA2.T @ H[:T].reshape(T * B, N), DX2.T @ X2, gb, (DX2 @ U).reshape(X.shape)


def _numpy_fn(st, ro, batch):
    """A careful hand-written NumPy BPTT of the 2-layer GRU: time-major, batched products,
    preallocated arrays, each layer's parameter gradients as single products at the end."""
    params = [(p.W.copy(), p.U.copy(), p.b.copy()) for p in st.parts]
    V, c = ro.V.copy(), ro.c.copy()
    u = batch.inputs
    T = u.shape[0]
    y_lab = batch.labels[-1]
    H = [np.empty((T + 1, B, N)) for _ in range(L)]
    Gt = [np.empty((T, B, 3 * N)) for _ in range(L)]
    Q = [np.empty((T, B, N)) for _ in range(L)]
    DA, DX = np.empty((T, B, 3 * N)), np.empty((T, B, 3 * N))

    def fn():
        X = u
        for l, (W, U, b) in enumerate(params):
            _gru_forward(W, U, b, X, H[l], Gt[l], Q[l])
            X = H[l][1:]
        gV, gc, dh = ce_last_numpy(H[-1][T], V, c, y_lab)
        ext = np.zeros((T, B, N))
        ext[T - 1] = dh
        grads = []
        for l in range(L - 1, -1, -1):
            W, U, _ = params[l]
            X = u if l == 0 else H[l - 1][1:]
            gW, gU, gb, ext = _gru_backward(W, U, X, H[l], Gt[l], Q[l], ext, DA, DX)
            grads = [gW, gU, gb] + grads
        return clip_numpy(tuple(grads) + (gV, gc), THRESHOLD)
    return fn


def _torch_fn(st, ro, batch, torch):
    from rnndyn.torch_weights import state_dict
    mod = torch.nn.GRU(M, N, num_layers=L, dtype=torch.float64)
    lin = torch.nn.Linear(N, K, dtype=torch.float64)
    sd = {}
    for k, p in enumerate(st.parts):
        sd.update({key.replace("_l0", f"_l{k}"): torch.from_numpy(np.ascontiguousarray(v))
                   for key, v in state_dict(p).items()})
    mod.load_state_dict(sd)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(ro.V))
        lin.bias.copy_(torch.tensor(ro.c))
    return torch_gradient_fn(torch, mod, lin, batch, THRESHOLD)


def check_agreement(T=20):
    """Max |rnndyn - numpy| over the clipped gradients (a guard on the NumPy contender; the
    torch one is tests/test_bptt_stack.py's oracle)."""
    st, ro, batch = _problem(T)
    layers, gV, gc = _rnndyn_fn(st, ro, batch)()
    got = [a for layer in layers for a in (layer[0], layer[1], layer[2])] + [gV, gc]
    ref = _numpy_fn(st, ro, batch)()
    return max(float(np.max(np.abs(a - w))) for a, w in zip(got, ref))


def run(quick=False):
    from threadpoolctl import threadpool_limits
    torch = one_thread_torch()
    T = 20 if quick else 100
    with threadpool_limits(1):
        diff = check_agreement()
        st, ro, batch = _problem(T)
        contenders = {"rnndyn numba (stack kernel)": _rnndyn_fn(st, ro, batch),
                      "numpy": _numpy_fn(st, ro, batch)}
        if torch is not None:
            contenders[TORCH_NAME] = _torch_fn(st, ro, batch, torch)
        rounds = interleaved(contenders, rounds=3 if quick else 9, min_time=0.05,
                             clock=time.process_time)
    base = [TORCH_NAME] if torch is not None else []
    case = Case(f"2-layer GRU: one gradient (forward + backward + clip), N = {N}, T = {T}",
                baselines=base + ["numpy"], target=">= 3x faster than pytorch")
    notes = {k: f"{1 / np.median(v):,.0f} updates/s" for k, v in rounds.items()}
    if torch is not None:
        notes[TORCH_NAME] += f", torch {torch.__version__}, 1 thread"
    notes["numpy"] += ", hand-written, batched"
    case.add_rounds(rounds, notes)
    case.notes.append("CPU time (time.process_time), median of interleaved rounds; BLAS and "
                      "torch on 1 thread")
    case.notes.append(f"max |rnndyn - numpy| of the clipped gradients at T = 20: {diff:.1e}")
    return [case]


if __name__ == "__main__":
    from run import print_case
    for c in run("--quick" in sys.argv):
        print_case(c)
