"""One BPTT gradient (forward + backward + norm clipping) of a tanh RNN, and training
throughput, against PyTorch's nn.RNN, hand-written NumPy and JAX (if installed).

Problem (issue 5): N = 50 hidden, M = 6 inputs (temporal order), K = 4 classes,
minibatch B = 20, float64, softmax cross-entropy at the last step, T = 100 and 200.
The elman form h_t = tanh(W h_{t-1} + U u_t + b) is what nn.RNN computes; rnndyn's
pascanu form costs the same and is timed too.

With Ω (the regulariser of Pascanu et al. 2013 §3.3, 'mean' over the transitions, α = 4)
every contender computes the same quantity: E, Ω and ∇E + α ∂⁺Ω/∂W (Ω's direct W-term,
x_k and δ_{k+1} held constant), then clipping. The NumPy contender is a hand-written BPTT
that keeps δ_{k+1} and v = δ_{k+1} J_{k+1} of every step and forms Ω and its gradient
vectorised over time and batch; the PyTorch one takes δ_k from autograd (a step loop, since
nn.RNN does not expose dE/dh_k) and Ω's W-gradient by autograd with the constants
detached. Both are checked against rnndyn's gradient (1e-10) before they are timed.
"""

import os
import subprocess
import sys
import time

import numpy as np

from run import Case, interleaved

# The machine these numbers come from is shared: wall times swing by 10-50x with the load
# of other processes, CPU time (time.process_time) far less. Every gradient row is
# therefore CPU time, the contenders interleaved in rounds (run.interleaved), each on one
# BLAS thread (see run()).
ROUNDS = 9


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


OMEGA_TINY = 1e-290     # rnndyn._kernels.bptt's: terms with max|δ_i| below it are left out


def omega_numpy(Dl, Vv, alpha):
    """Ω ('mean' over each sequence's transitions, then over the batch) and C (T, B, N),
    the weighted vectors of its direct W-gradient, from δ_{k+1} = Dl[k] and
    v = δ_{k+1} J_{k+1} = Vv[k] (T, B, N), vectorised over time and batch:
    ρ_k = ‖v‖/‖δ‖, ∂(ρ_k − 1)²/∂W = 2(ρ_k − 1)/‖δ‖ · (v/‖v‖)·∂v/∂W, and
    C_k = α/(B n_b) · 2(ρ_k − 1)/(‖δ‖‖v‖) · v_k (n_b: the terms of sequence b). As in
    rnndyn, δ and v are divided by s = max|δ_i| first and C is formed in factors of
    moderate size (the ratio ignores the scale; deep in a vanishing regime the norms would
    underflow), and terms with s or ‖v‖/s below OMEGA_TINY are left out."""
    s = np.abs(Dl).max(axis=2)
    ok = s > OMEGA_TINY
    inv = np.where(ok, 1.0 / np.where(ok, s, 1.0), 0.0)[:, :, None]
    nd = np.sqrt(np.sum((Dl * inv) ** 2, axis=2))
    nv = np.sqrt(np.sum((Vv * inv) ** 2, axis=2))
    ratio = np.where(ok, nv / np.where(ok, nd, 1.0), 1.0)
    count = np.maximum(ok.sum(axis=0), 1)
    omega = float(np.mean(np.sum((ratio - 1.0) ** 2, axis=0) / count))
    good = ok & (nv > OMEGA_TINY)
    a = np.where(good, 2.0 * (ratio - 1.0) / np.where(good, nd, 1.0), 0.0) * (alpha / (B * count))
    rnv = 1.0 / np.where(good, nv, 1.0)
    if inv.max() <= 1e100 and rnv.max() <= 1e50:
        # moderate scales (the usual case): one per-row factor, one pass over v
        return omega, (a * rnv * inv[:, :, 0] ** 2)[:, :, None] * Vv
    return omega, a[:, :, None] * ((Vv * inv) * rnv[:, :, None]) * inv


def _numpy_omega_fn(P, batch, alpha=4.0, out=None):
    """The NumPy BPTT with Ω (mean) and its direct W-gradient, either form, tanh, CE at
    the last step; ``out``: a list that receives [gradients before clipping, Ω] of the
    last call (the check against rnndyn)."""
    W, U, b, V, c = (a.copy() for a in P.views(P.theta))
    u = batch.inputs
    y_lab = batch.labels[-1]
    T = u.shape[0]
    R = np.empty((T + 1, B, N))       # r_t = σ(p_t): elman h_t, pascanu σ(x_t)
    G = np.empty((T, B, N))           # g_{t+1} = dE/dp_{t+1}
    Dl = np.empty((T, B, N))          # δ_{k+1} = dE/ds_{k+1}
    Vv = np.empty((T, B, N))          # v = δ_{k+1} J_{k+1}
    elman = P.form == "elman"

    def fn():
        R[0] = 0.0                    # elman h_0 = 0; pascanu σ(x_0) = tanh 0 = 0
        Z = (u.reshape(T * B, M) @ U.T + b).reshape(T, B, N)
        for t in range(T):
            np.tanh(R[t] @ W.T + Z[t], out=R[t + 1])
        S = 1.0 - R * R               # σ'(p_t) (pascanu: σ'(x_t), elman: σ'(a_t))
        gV, gc, dr = ce_last_numpy(R[T], V, c, y_lab)
        for t in range(T - 1, -1, -1):
            g = dr * S[t + 1]          # dE/dp_{t+1}
            G[t] = g
            q = g @ W                  # dE/dr_t
            # δ_{t+1} and v: elman δ_{t+1} diag(σ'(a_{t+1})) W, pascanu δ_{t+1} W diag(σ'(x_t))
            Dl[t] = dr if elman else g
            Vv[t] = q if elman else q * S[t]
            dr = q
        omega, C = omega_numpy(Dl, Vv, alpha)
        Q1 = C if elman else C * S[:T]          # pascanu: ∂v/∂W carries σ'(x_k)
        G2 = G.reshape(T * B, N)
        Rp = R[:T].reshape(T * B, N)
        gW = G2.T @ (Rp + Q1.reshape(T * B, N))
        if elman:
            # σ'(a_{k+1}) moves with W: + (δ ⊙ σ''(a_{k+1}) ⊙ (coef v Wᵀ))ᵀ h_k,
            # tanh'' = −2 tanh · σ'
            P2 = Dl * (-2.0 * R[1:] * S[1:]) * (Q1 @ W.T)
            gW += P2.reshape(T * B, N).T @ Rp
        gU = G2.T @ u.reshape(T * B, M)
        gb = G2.sum(axis=0)
        if out is not None:
            out[:] = [tuple(x.copy() for x in (gW, gU, gb, gV, gc)), omega]
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


def _torch_omega_fn(P, batch, torch, alpha=4.0, out=None):
    """fn() = one clipped gradient of E + α Ω in torch (either form, tanh): a step loop so
    that autograd yields δ_k = dE/ds_k of every step, then Ω (mean) from the detached
    δ_{k+1} and s_k, whose W-gradient autograd adds; ``out`` as in _numpy_omega_fn.
    Every term counts here (no δ is numerically zero in this problem: the check against
    rnndyn would see it)."""
    dt = torch.float64
    params = [torch.tensor(a.copy(), dtype=dt, requires_grad=True) for a in P.views(P.theta)]
    W, U, b, V, c = params
    x = torch.tensor(batch.inputs)
    y = torch.tensor(batch.labels[-1])
    T = x.shape[0]
    elman = P.form == "elman"

    def fn():
        Z = x @ U.T + b
        s = torch.zeros(B, N, dtype=dt)          # h_0 = 0, x_0 = 0
        states = []
        for t in range(T):
            states.append(s)
            s = torch.tanh(s @ W.T + Z[t]) if elman else torch.tanh(s) @ W.T + Z[t]
        states.append(s)
        r_T = s if elman else torch.tanh(s)
        E = torch.nn.functional.cross_entropy(r_T @ V.T + c, y)
        *grads, = torch.autograd.grad(E, params + states[1:])
        g, deltas = grads[:5], torch.stack(grads[5:])          # δ_{k+1}, (T, B, N)
        S0 = torch.stack(states[:T]).detach()                  # s_k
        if elman:
            dsig = 1.0 - torch.tanh(S0 @ W.T + Z.detach()) ** 2   # σ'(a_{k+1}), W live
            v = (deltas * dsig) @ W
        else:
            v = (deltas @ W) * (1.0 - torch.tanh(S0) ** 2)      # σ'(x_k) constant
        sc = deltas.abs().amax(dim=2, keepdim=True)            # ratio is scale-free
        ratio = torch.linalg.norm(v / sc, dim=2) / torch.linalg.norm(deltas / sc, dim=2)
        omega = torch.mean(torch.mean((ratio - 1.0) ** 2, dim=0))
        gW_om, = torch.autograd.grad(alpha * omega, W)
        g[0] = g[0] + gW_om
        if out is not None:
            out[:] = [tuple(t.detach().numpy().copy() for t in g), float(omega.detach())]
        for p, gp in zip(params, g):
            p.grad = gp
        torch.nn.utils.clip_grad_norm_(params, THRESHOLD)
    return fn


def check_omega_contenders(P, batch, torch, alpha=4.0, rtol=1e-10):
    """The NumPy and PyTorch Ω contenders compute rnndyn's Ω and gradient (before
    clipping) to ``rtol``; raises otherwise."""
    from rnndyn.training import loss_and_grad
    mine = loss_and_grad(P, batch.inputs, batch.labels[-1], omega="mean", alpha=alpha)
    got = {}
    rec = []
    _numpy_omega_fn(P, batch, alpha, rec)()
    got["numpy"] = rec[:]
    if torch is not None:
        _torch_omega_fn(P, batch, torch, alpha, rec)()
        got["pytorch"] = rec[:]
    for name, (grads, omega) in got.items():
        errs = [np.max(np.abs(a - w)) / np.max(np.abs(w))
                for a, w in zip(grads, (mine.W, mine.U, mine.b, mine.V, mine.c))]
        if max(errs) > rtol or abs(omega - mine.omega) > rtol * mine.omega:
            raise AssertionError(f"{name} Ω contender ({P.form}) differs from rnndyn: "
                                 f"gradient {max(errs):.2e}, Ω {omega} vs {mine.omega}")
    return got


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
    """Per T: the plain gradient (rnndyn's two forms against nn.RNN, NumPy, JAX) and, per
    form, the gradient of E + α Ω against NumPy and PyTorch contenders computing Ω too.
    Interleaved rounds of CPU time (see the module docstring); ratio columns are medians
    of per-round ratios."""
    cases = []
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        torch = None
    alpha = 4.0
    for T in ((20,) if quick else (100, 200)):
        P, batch = _problem(T, "elman")
        Pp, _ = _problem(T, "pascanu")
        case = Case(f"one gradient (forward + backward + clip), T = {T}",
                    baselines=["pytorch nn.RNN", "numpy"],
                    target=">= 4x faster than pytorch and >= 2x faster than numpy")
        contenders = {"rnndyn numba (elman)": _rnndyn_fn(P, batch),
                      "rnndyn numba (pascanu)": _rnndyn_fn(Pp, batch),
                      "numpy": _numpy_fn(P, batch),
                      "pytorch nn.RNN": _torch_fn(P, batch, torch) if torch else None}
        notes = {"numpy": "hand-written, batched (elman)"}
        try:
            contenders["jax"] = _jax_fn(P, batch)
            notes["jax"] = "jit, lax.scan"
        except ImportError:
            case.notes.append("jax not installed: no jax row")
        if torch is not None:
            notes["pytorch nn.RNN"] = f"torch {torch.__version__}, 1 thread"
        rounds = interleaved(contenders, rounds=ROUNDS, clock=time.process_time)
        for name in ("rnndyn numba (elman)", "rnndyn numba (pascanu)"):
            notes[name] = f"{1 / np.median(rounds[name]):,.0f} gradients/s"
        case.add_rounds(rounds, notes)
        case.notes.append("CPU time, median of interleaved rounds (see the module docstring)")
        cases.append(case)
        for Pf in (Pp, P):
            form = Pf.form
            check_omega_contenders(Pf, batch, torch, alpha)
            case = Case(f"one gradient of E + α Ω (mean, α = 4, direct W-term) + clip, "
                        f"{form}, T = {T}", baselines=["pytorch + Ω", "numpy + Ω"],
                        target=">= 4x faster than pytorch and >= 2x faster than numpy")
            contenders = {f"rnndyn numba ({form}) + Ω": _rnndyn_fn(Pf, batch, "mean", alpha),
                          "numpy + Ω": _numpy_omega_fn(Pf, batch, alpha),
                          "pytorch + Ω": (_torch_omega_fn(Pf, batch, torch, alpha)
                                          if torch else None)}
            rounds = interleaved(contenders, rounds=ROUNDS, clock=time.process_time)
            name = f"rnndyn numba ({form}) + Ω"
            case.add_rounds(rounds, {name: f"{1 / np.median(rounds[name]):,.0f} gradients/s",
                                     "numpy + Ω": "hand-written, batched, Ω vectorised",
                                     "pytorch + Ω": "autograd, step loop, 1 thread"})
            case.notes.append("every contender computes E, Ω and ∇E + α ∂⁺Ω/∂W; checked "
                              "equal to rnndyn's to 1e-10 before timing")
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
