"""The depth map of a stacked RNN, ‖∂h^L_T/∂h^l_{T−lag}‖₂ for every layer l and lag (issue 12):
rnndyn against PyTorch autograd computing the same map.

    python benchmarks/run.py depth              # or: python benchmarks/bench_depth.py
    python benchmarks/run.py depth --quick      # small sizes, a look in well under a minute

Case: a 3-layer LSTM stack (no skips), N = 64 per layer, M = 6 inputs, T = 200. Every
contender starts from the same (x0, u), runs the forward pass itself and returns the
(L, T+1) log norms (for the LSTM h only, c^l held fixed; the stack of rnndyn.stack).

* rnndyn: ``depth_gradient_flow(..., full_state=False)`` (trajectory + the adjoint block
  rows through the block lower-triangular joint Jacobian); also timed with the joint
  state's norm ``full_state=True`` (more work than the baselines do: ΣS adjoint rows).
* PyTorch, the per-step Jacobians by autograd: each layer's step as an ``nn.LSTMCell``,
  all of its ∂s^l_t/∂s^l_{t−1} and ∂s^l_t/∂h^{l−1}_t from one ``vmap(jacrev)`` call, then
  the same block recurrence G^l_k = G^l_{k+1} J^l_{k+1} + G^{l+1}_k ∂s^{l+1}_k/∂h^l_k with
  matmul (each block renormalised by its Frobenius norm) and one batched ``eigvalsh`` of
  the h-column blocks' Gram matrices (faster than batched ``svdvals`` on one thread).
* PyTorch, hand-unrolled autograd: a zero perturbation δ^l_k added to every h^l_k of an
  unrolled stack of ``nn.LSTMCell`` steps, all N_L rows of ∂h^L_T/∂δ from one
  ``autograd.grad(..., is_grads_batched=True)``, then the same batched ``eigvalsh``.

Target: rnndyn >= 5x the faster PyTorch contender. Every contender is checked against
rnndyn before anything is timed (log norms within ``ATOL_LOG``); all run on one thread
(PyTorch ``set_num_threads(1)``, BLAS through ``rnndyn._threads.blas_threads(1)``);
contenders run in interleaved rounds (``run.interleaved``), ratios are medians of the
per-round ratios.
"""

import sys

import numpy as np

from run import Case, conditions, interleaved

TITLE = ("depth map ‖∂h^L_T/∂h^l_k‖₂ of a 3-layer LSTM stack (N = 64 per layer, T = 200) vs "
         "PyTorch autograd (vmap(jacrev) per step + block products; unrolled autograd)")

# the baselines' log norms against rnndyn's: the same products in another order, dense
# Gram eigenvalues against rnndyn's (tests/test_stack.py: ATOL_LOG)
ATOL_LOG = 1e-9
TARGET = 5.0


def _problem(L, N, M, T, seed=0):
    from rnndyn.inputs import make_inputs
    from rnndyn.stack import initial_state, make_stack
    stack = make_stack([N] * L, cell="lstm", n_inputs=M, seed=seed)
    return (stack, initial_state(stack, "random", seed=seed + 1),
            make_inputs("gaussian", T, M, seed=seed + 2))


def _torch_layers(stack):
    """One step function s, v -> s' per layer (nn.LSTMCell holding the layer's weights)."""
    from bench_gated import torch_cell
    return [torch_cell(p) for (p,) in stack.layers]


def _torch_forward(steps, stack, x0, u):
    """Per layer: the states s^l_0 … s^l_{T−1} and inputs v^l_1 … v^l_T (no autograd)."""
    import torch
    off = stack.offsets
    v = torch.from_numpy(u.copy())
    out = []
    with torch.no_grad():
        for l, step in enumerate(steps):
            T = v.shape[0]
            s = torch.from_numpy(x0[off[l]:off[l + 1]].copy())
            states = torch.empty((T, s.shape[0]), dtype=torch.float64)
            hs = torch.empty((T, stack.hidden[l]), dtype=torch.float64)
            for t in range(T):
                states[t] = s
                s = step(s, v[t])
                hs[t] = s[:stack.hidden[l]]
            out.append((states, v))
            v = hs
    return out


def _gram_log_norms(blocks, log_scales):
    """ln ‖B‖₂ of a batch of blocks B (…, R, C) with log scales: ½ ln λmax(B Bᵀ)."""
    import torch
    lam = torch.linalg.eigvalsh(blocks @ blocks.mT)[..., -1]
    return (0.5 * torch.log(lam) + log_scales).numpy()


def torch_jacrev_blocks(steps, stack, x0, u):
    """All per-step block Jacobians by vmap(jacrev), then the block recurrence in matmul."""
    import torch
    L, NL = stack.L, stack.hidden[-1]
    T = u.shape[0]
    Jrec, Jin = [], []
    for step, (states, v) in zip(steps, _torch_forward(steps, stack, x0, u)):
        a, b = torch.func.vmap(torch.func.jacrev(step, argnums=(0, 1)))(states, v)
        Jrec.append(a)                # [k] = ∂s_{k+1}/∂s_k
        Jin.append(b)                 # [k] = ∂s_{k+1}/∂v_{k+1}
    H = [torch.empty((T + 1, NL, n), dtype=torch.float64) for n in stack.hidden]
    lsc = torch.empty((L, T + 1), dtype=torch.float64)
    G = [None] * L
    lam = [0.0] * L
    for k in range(T, -1, -1):
        for l in range(L - 1, -1, -1):
            S, N = Jrec[l].shape[1], stack.hidden[l]
            if k == T:
                g = torch.zeros((NL, S), dtype=torch.float64)
                if l == L - 1:
                    g[:, :NL] = torch.eye(NL, dtype=torch.float64)
                    mu = 0.0
                else:
                    mu = lam[l + 1]
            else:
                g = G[l] @ Jrec[l][k]
                mu = lam[l]
            if l < L - 1 and k > 0:     # h^l_k feeds layer l+1 at k (not at k = 0: free)
                up = G[l + 1] @ Jin[l + 1][k - 1]
                g[:, :N] += up * float(np.exp(lam[l + 1] - mu))
            f = torch.linalg.matrix_norm(g)
            g = g / f
            G[l], lam[l] = g, mu + float(torch.log(f))
            H[l][T - k] = g[:, :N]
            lsc[l, T - k] = lam[l]
    return np.stack([_gram_log_norms(H[l], lsc[l]) for l in range(L)])


def torch_unrolled_autograd(steps, stack, x0, u):
    """δ^l_k added to every h^l_k of an unrolled stack; all rows of ∂h^L_T/∂δ at once."""
    import torch
    T = u.shape[0]
    off = stack.offsets
    deltas = [torch.zeros((T + 1, n), dtype=torch.float64, requires_grad=True)
              for n in stack.hidden]
    v = list(torch.from_numpy(u.copy()).unbind(0))
    for l, step in enumerate(steps):
        N = stack.hidden[l]
        s = torch.from_numpy(x0[off[l]:off[l + 1]].copy())
        s = torch.cat([s[:N] + deltas[l][0], s[N:]])
        hs = []
        for t in range(1, T + 1):
            s = step(s, v[t - 1])
            s = torch.cat([s[:N] + deltas[l][t], s[N:]])
            hs.append(s[:N])
        v = hs
    y = v[-1]
    NL = y.shape[0]
    grads = torch.autograd.grad(y, deltas, torch.eye(NL, dtype=torch.float64),
                                is_grads_batched=True)          # each (NL, T+1, N_l)
    with torch.no_grad():
        out = []
        for l, g in enumerate(grads):
            blocks = g.permute(1, 0, 2).flip(0)                 # [lag] = ∂h^L_T/∂h^l_{T−lag}
            out.append(_gram_log_norms(blocks, torch.zeros(T + 1, dtype=torch.float64)))
    return np.stack(out)


def _check(name, got, ref):
    err = float(np.max(np.abs(np.asarray(got) - ref)))
    assert err <= ATOL_LOG, f"{name}: max |Δ ln| = {err:.2e} > {ATOL_LOG:g}"
    return f"max|Δ ln| {err:.1e}"


def depth_case(L, N, M, T, rounds):
    import torch
    from rnndyn.gradflow_depth import depth_gradient_flow
    stack, x0, u = _problem(L, N, M, T)
    steps = _torch_layers(stack)
    ref = depth_gradient_flow(stack, x0, T, u, full_state=False).depth_log_norm
    head = "rnndyn depth_gradient_flow (depth map)"
    full = "rnndyn depth_gradient_flow, + joint norm"
    jac = "torch vmap(jacrev) + block products"
    unr = "torch unrolled autograd, batched grads"
    res_full = depth_gradient_flow(stack, x0, T, u, full_state=True)
    notes = {
        head: "trajectory + adjoint block rows",
        full: f"full_state=True: ΣS = {stack.S} adjoint rows, Lanczos "
              f"{res_full.power_iterations[1:].mean():.1f} matvec pairs/lag",
        jac: _check(jac, torch_jacrev_blocks(steps, stack, x0, u), ref),
        unr: _check(unr, torch_unrolled_autograd(steps, stack, x0, u), ref)}
    np.testing.assert_allclose(res_full.depth_log_norm, ref, rtol=0, atol=1e-12)
    rounds_out = interleaved({
        head: lambda: depth_gradient_flow(stack, x0, T, u, full_state=False),
        full: lambda: depth_gradient_flow(stack, x0, T, u, full_state=True),
        jac: lambda: torch_jacrev_blocks(steps, stack, x0, u),
        unr: lambda: torch_unrolled_autograd(steps, stack, x0, u)},
        rounds=rounds, min_time=0.0)
    fastest = min((jac, unr), key=lambda k: np.median(rounds_out[k]))
    case = Case(title=f"depth map, {L}-layer LSTM stack, N = {N} per layer, M = {M}, T = {T}, "
                      "float64, 1 thread",
                baselines=[jac, unr],
                target=f"rnndyn >= {TARGET:g}x PyTorch autograd accumulation (the faster)",
                conditions=conditions(short=True))
    case.add_rounds(rounds_out, notes)
    r = case.ratios[head][fastest]
    case.notes.append(f"{head}: {r:.2f}x {fastest} (the faster PyTorch contender; target >= "
                      f"{TARGET:g}x: {'met' if r >= TARGET else 'NOT met'})")
    # CPU time (thread_time, best of runs): waiting for a core on a shared machine is not
    # counted, so this ratio is the steadier one under load
    from bench_gradflow import _cpu_best
    k_cpu = _cpu_best(lambda: depth_gradient_flow(stack, x0, T, u, full_state=False), rounds)
    t_cpu = _cpu_best(lambda: torch_jacrev_blocks(steps, stack, x0, u), max(2, rounds // 2))
    case.notes.append(f"CPU time (thread_time, best of runs): rnndyn {k_cpu * 1e3:.1f} ms, "
                      f"{jac} {t_cpu * 1e3:.1f} ms: {t_cpu / k_cpu:.2f}x")
    case.notes.append(f"torch {torch.__version__}, {torch.get_num_threads()} thread; "
                      f"{rounds} interleaved rounds")
    return case


def run(quick):
    import torch
    from rnndyn._threads import blas_threads
    torch.set_num_threads(1)
    with blas_threads(1):
        if quick:
            return [depth_case(2, 16, 3, 30, rounds=3)]
        return [depth_case(3, 64, 6, 200, rounds=7)]


if __name__ == "__main__":
    from run import print_case
    for c in run("--quick" in sys.argv):
        print_case(c)
    sys.stdout.flush()
