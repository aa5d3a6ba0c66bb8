"""The gated cells (LSTM, GRU): all-lag spectral norms ‖∂s_T/∂s_{T-ℓ}‖₂ and the full
Lyapunov spectrum, rnndyn against PyTorch autodiff and hand-formed Jacobians (issue 11 §6).

    python benchmarks/run.py gated              # or: python benchmarks/bench_gated.py
    python benchmarks/run.py gated --quick      # small sizes, a look in well under a minute

Cases:

* all-lag norms, LSTM and GRU, N = 50, T = 200, M = 6 inputs: every contender starts from
  the same (x0, u), runs the forward pass itself and returns the T+1 log norms of the full
  state s (LSTM: s = (h, c), S = 2N; GRU: S = N). rnndyn's headline row is
  ``trajectory`` + ``backward_products`` (the same work as the baselines; for the LSTM it
  also returns the h→h and c→c block norms, which no baseline computes); the public
  ``gradient_flow`` is timed too, with its Jacobian statistics off and at its defaults
  (at T = 200 those are an eigenvalue problem and an SVD of every J_t). Baselines:
  ``torch.func.jacrev`` of ``nn.LSTMCell``/``nn.GRUCell`` per step with
  ``matrix_norm(P, 2)`` per lag, the same Jacobians from one ``vmap(jacrev)`` call, and
  J_t formed by hand from the gate values (NumPy and PyTorch). Target: >= 5x the fastest.
* per state dimension vs vanilla: the gated ``gradient_flow`` against the vanilla one at
  N_vanilla = S (same T, same M), target within 3x.
* Lyapunov full spectrum of a GRU, N = 128, M = 6, 3000 steps after 200 transient, against
  PyTorch QR every step (J_t hand-formed or from jacrev). No target: the ratio is reported.

Every contender is checked against rnndyn before anything is timed (log norms within
``ATOL_LOG``, exponents within ``ATOL_LYAP``); all run on one thread (PyTorch
``set_num_threads(1)``, every BLAS through ``rnndyn._threads.blas_threads(1)``), so that
the two cores of a shared machine do not decide the ratios; rounds are interleaved
(``run.interleaved``).
"""

import os
import sys

import numpy as np

from run import Case, conditions, interleaved

TITLE = ("gated cells: all-lag norms (LSTM, GRU, N = 50, T = 200) vs PyTorch jacrev and "
         "hand-formed Jacobians, vs vanilla per state dimension; GRU Lyapunov spectrum "
         "(N = 128) vs PyTorch QR every step")

# the baselines' log norms against rnndyn's: the same products in another order, and
# dense decompositions against Lanczos with rtol 1e-10 (tests/test_cells.py: ATOL_LOG)
ATOL_LOG = 1e-9
# exponents: rnndyn's adaptive QR intervals (tol 1e-8 per block) against a QR every step
# (tests/test_cells.py: ATOL_LYAP)
ATOL_LYAP = 1e-6
# the LSTM's h→h / c→c block norms (a Lanczos iteration per block; its power-iteration
# predecessor stopped 2.9e-6 short at lag 1, where the c→c block is diag(f) with σ2/σ1 =
# 0.993): now checked as tightly as the full state's
ATOL_BLOCK = ATOL_LOG
GATES = {"lstm": 4, "gru": 3}


def gated_rnn(cell, N, M, seed, gain=1.5):
    """A random gated RNN from seeded NumPy arrays (the layout of :mod:`rnndyn.cells`).

    Parameters
    ----------
    cell : {'lstm', 'gru'}
    N, M : int
        Hidden units and inputs.
    seed : int
    gain : float
        W ~ N(0, gain²/N) per gate block; U ~ N(0, 1), b ~ N(0, 0.5²) (the scales of
        ``tests/test_cells.py``: gates neither saturated nor all at one half).

    Returns
    -------
    RNN
    """
    from rnndyn.models import RNN
    rng = np.random.default_rng(seed)
    G = GATES[cell]
    W = rng.standard_normal((G * N, N)) * gain / np.sqrt(N)
    U = rng.standard_normal((G * N, M))
    b = rng.standard_normal(4 * N) * 0.5
    return RNN(W, U, b, cell=cell)


def _problem(cell, N, M, T, seed=0):
    """The network, a start state (S,) and inputs (T, M), all seeded."""
    rnn = gated_rnn(cell, N, M, seed)
    rng = np.random.default_rng(seed + 1)
    u = rng.standard_normal((T, M))
    x0 = 0.3 * rng.standard_normal(rnn.S)
    return rnn, x0, u


# ---------------------------------------------------------------- hand-formed Jacobians

def step_and_jacobian(xp, cell, W, b, s, drive):
    """One step of a gated cell and its dense Jacobian, in NumPy or PyTorch (``xp``).

    Parameters
    ----------
    xp : module
        ``numpy`` or ``torch`` (only operations both spell alike are used).
    cell : {'lstm', 'gru'}
    W : array, shape (G·N, N)
    b : array, shape (4N,)
    s : array, shape (S,)
        The state s_{t-1} (LSTM: h then c).
    drive : array, shape (G·N,)
        U u_t + b[:G·N], computed for all steps at once by the caller.

    Returns
    -------
    s_new : array, shape (S,)
    J : array, shape (S, S)
        ∂s_t/∂s_{t-1}, formed from the gate values (equations in :mod:`rnndyn.cells`).
    """
    N = W.shape[1]
    sig = lambda x: 0.5 + 0.5 * xp.tanh(0.5 * x)    # σ without exp overflow  # noqa: E731
    J = xp.zeros((s.shape[0], s.shape[0]), dtype=xp.float64)
    if cell == "lstm":
        h, c = s[:N], s[N:]
        a = W @ h + drive
        i, f, g, o = sig(a[:N]), sig(a[N:2 * N]), xp.tanh(a[2 * N:3 * N]), sig(a[3 * N:])
        c_new = f * c + i * g
        tc = xp.tanh(c_new)
        k = o * (1.0 - tc * tc)
        # ∂c/∂h through the three gates that see h; ∂h/∂· = ∂o-path + k ∂c/∂·
        dc_dh = ((g * i * (1.0 - i))[:, None] * W[:N] + (c * f * (1.0 - f))[:, None] * W[N:2 * N]
                 + (i * (1.0 - g * g))[:, None] * W[2 * N:3 * N])
        J[N:, :N] = dc_dh
        J[N:, N:] = xp.diag(f)
        J[:N, :N] = (tc * o * (1.0 - o))[:, None] * W[3 * N:] + k[:, None] * dc_dh
        J[:N, N:] = xp.diag(k * f)
        s_new = xp.zeros(2 * N, dtype=xp.float64)
        s_new[:N], s_new[N:] = o * tc, c_new
        return s_new, J
    wh = W @ s
    r = sig(wh[:N] + drive[:N])
    z = sig(wh[N:2 * N] + drive[N:2 * N])
    q = wh[2 * N:] + b[3 * N:]
    n = xp.tanh(drive[2 * N:] + r * q)
    e = (1.0 - z) * (1.0 - n * n)
    J[:] = ((e * q * r * (1.0 - r))[:, None] * W[:N] + ((s - n) * z * (1.0 - z))[:, None]
            * W[N:2 * N] + (e * r)[:, None] * W[2 * N:])
    J += xp.diag(z)
    return (1.0 - z) * n + z * s, J


def hand_jacobians(xp, rnn, x0, u):
    """The forward pass with every J_t formed by hand: (T, S, S) in NumPy or PyTorch."""
    W, b = (xp.asarray(a) if xp is np else xp.from_numpy(np.array(a)) for a in (rnn.W, rnn.b))
    drive = u @ rnn.U.T + rnn.b[:rnn.W.shape[0]]     # U u_t + b for every step at once
    drive = drive if xp is np else xp.from_numpy(drive)
    s = x0.copy() if xp is np else xp.from_numpy(x0.copy())
    Js = xp.zeros((len(u), rnn.S, rnn.S), dtype=xp.float64)
    for t in range(len(u)):
        s, Js[t] = step_and_jacobian(xp, rnn.cell, W, b, s, drive[t])
    return Js


def numpy_norms(rnn, x0, u, norm):
    """NumPy: hand-formed J_t, P ← P J_t (Frobenius-renormalised), then the spectral norms
    of all lags in one batched call: ``norm`` 'svd' (σ1 from ``svd``) or 'eigvalsh'
    (σ1² = λmax(P Pᵀ), a symmetric eigenproblem: the faster of the two dense routes)."""
    Js = hand_jacobians(np, rnn, x0, u)
    T, S, _ = Js.shape
    Ps, scales = np.empty((T, S, S)), np.empty(T)
    P, log_scale = np.eye(S), 0.0
    for lag in range(1, T + 1):
        P = P @ Js[T - lag]
        f = np.sqrt(np.sum(P * P))
        log_scale += np.log(f)
        P /= f
        Ps[lag - 1], scales[lag - 1] = P, log_scale
    if norm == "svd":
        log_s = np.log(np.linalg.svd(Ps, compute_uv=False)[:, 0])
    else:
        log_s = 0.5 * np.log(np.linalg.eigvalsh(Ps @ Ps.transpose(0, 2, 1))[:, -1])
    return np.concatenate([[0.0], log_s + scales])


def torch_products_eigvalsh(Js):
    """PyTorch: P ← P J_t (Frobenius-renormalised), then σ1² = λmax(P Pᵀ) for all lags in
    one batched ``eigvalsh`` (measured faster than batched ``svdvals`` here, 1 thread)."""
    import torch
    T, S, _ = Js.shape
    Ps = torch.empty((T, S, S), dtype=torch.float64)
    scales = torch.empty(T, dtype=torch.float64)
    P, log_scale = torch.eye(S, dtype=torch.float64), torch.zeros((), dtype=torch.float64)
    for lag in range(1, T + 1):
        P = P @ Js[T - lag]
        f = torch.linalg.matrix_norm(P)               # Frobenius: no SVD in the loop
        log_scale = log_scale + torch.log(f)
        P = P / f
        Ps[lag - 1], scales[lag - 1] = P, log_scale
    lam = torch.linalg.eigvalsh(Ps @ Ps.mT)[:, -1]
    return torch.cat([torch.zeros(1, dtype=torch.float64), 0.5 * torch.log(lam) + scales]).numpy()


# ---------------------------------------------------------------- PyTorch autodiff

def torch_cell(rnn):
    """``nn.LSTMCell``/``nn.GRUCell`` (float64) holding ``rnn``'s packed parameters, and
    its step as a function s_{t-1}, u_t -> s_t of the full state (LSTM: h then c)."""
    import torch
    N, M, G = rnn.N, rnn.M, GATES[rnn.cell]
    mod = (torch.nn.LSTMCell if rnn.cell == "lstm" else torch.nn.GRUCell)(M, N).double()
    b_ih, b_hh = rnn.b[:G * N].copy(), np.zeros(G * N)
    if rnn.cell == "gru":   # b = [b_r, b_z, b_in, b_hn]: b_hn sits inside r ⊙ (W_n h + b_hn)
        b_hh[2 * N:] = rnn.b[3 * N:]
    with torch.no_grad():
        for p, a in ((mod.weight_hh, rnn.W), (mod.weight_ih, rnn.U), (mod.bias_ih, b_ih),
                     (mod.bias_hh, b_hh)):
            p.copy_(torch.from_numpy(np.array(a)))
    mod.requires_grad_(False)   # only ∂/∂s is wanted: no parameter gradients to carry

    if rnn.cell == "lstm":
        def step(s, ut):
            h, c = mod(ut, (s[:N], s[N:]))
            return torch.cat([h, c])
    else:
        def step(s, ut):
            return mod(ut, s)
    return step


def torch_states(step, x0, u):
    """The forward pass s_0 … s_{T-1} (the points the Jacobians are taken at) and u."""
    import torch
    ut = torch.from_numpy(u.copy())
    states = torch.empty((len(u), len(x0)), dtype=torch.float64)
    s = torch.from_numpy(x0.copy())
    with torch.no_grad():
        for t in range(len(u)):
            states[t] = s
            s = step(s, ut[t])
    return states, ut


def torch_jacrev_per_lag(step, x0, u):
    """``jacrev`` of the cell per step, P ← P J_t, ``matrix_norm(P, 2)`` per lag, P / ‖P‖₂."""
    import torch
    states, ut = torch_states(step, x0, u)
    T, S = states.shape
    P = torch.eye(S, dtype=torch.float64)
    out = np.zeros(T + 1)
    log_scale = 0.0
    for lag in range(1, T + 1):
        k = T - lag
        P = P @ torch.func.jacrev(step)(states[k], ut[k])
        s = torch.linalg.matrix_norm(P, ord=2)
        log_scale += float(torch.log(s))
        P = P / s
        out[lag] = log_scale
    return out


def torch_vmap_jacrev(step, x0, u):
    """All J_t from one ``vmap(jacrev)`` call, then :func:`torch_products_eigvalsh`."""
    import torch
    states, ut = torch_states(step, x0, u)
    return torch_products_eigvalsh(torch.func.vmap(torch.func.jacrev(step))(states, ut))


# ---------------------------------------------------------------- cases

def _check(name, got, ref, atol, what):
    """Assert agreement with rnndyn before timing; the error goes into the row's note."""
    err = float(np.max(np.abs(np.asarray(got) - ref)))
    assert err <= atol, f"{name}: max |Δ {what}| = {err:.2e} > {atol:g}"
    return f"max|Δ {what}| {err:.1e}"


def _ratio_note(case, row, base, target=None):
    """'row: 4.01x base' (median of per-round ratios), and whether ``target`` is met."""
    r = case.ratios[row][base]
    verdict = "" if target is None else \
        f" (target >= {target:g}x: {'met' if r >= target else 'NOT met'})"
    return f"{row}: {r:.2f}x {base}{verdict}"


def norms_case(cell, N, M, T, rounds):
    """All-lag norms of one gated cell: rnndyn against the PyTorch and hand-formed baselines."""
    import torch
    from rnndyn import config
    from rnndyn._kernels import gradflow as _kg
    from rnndyn.gradflow import DEFAULT_MAX_ITER, _start_vector, backward_products, gradient_flow
    from rnndyn.simulate import trajectory
    rnn, x0, u = _problem(cell, N, M, T)
    S = rnn.S
    step = torch_cell(rnn)
    _, D = trajectory(rnn, x0, T, u)
    bp = backward_products(rnn, D)
    ref = bp["log_norm"]
    head = "rnndyn trajectory + backward_products"

    def kernel_without_blocks():
        # profile only (private kernel, the public call's arguments): the LSTM's h→h/c→c
        # block norms switched off, to show what they cost; the public call always
        # computes them. Returns the matrix-vector pairs per lag of the full state alone.
        n_iter = np.zeros(T + 1, dtype=np.int64)
        _kg._backward_products(rnn.W, rnn.cell_code, D, _start_vector(S, 0),
                               config.SINGULAR_VALUE_RTOL, DEFAULT_MAX_ITER,
                               np.full(T + 1, -1), np.zeros((0, S, S)), np.zeros(0),
                               np.empty(T + 1), np.empty(T + 1), n_iter, np.empty((0, 0)))
        return n_iter

    contenders = {
        head: lambda: backward_products(rnn, trajectory(rnn, x0, T, u)[1]),
        "rnndyn gradient_flow, jacobian_stats=False":
            lambda: gradient_flow(rnn, x0, T, u, jacobian_stats=False),
        "rnndyn gradient_flow, defaults": lambda: gradient_flow(rnn, x0, T, u),
        "rnndyn backward_products alone (given D)": lambda: backward_products(rnn, D),
        "torch jacrev per step + matrix_norm(2) per lag":
            lambda: torch_jacrev_per_lag(step, x0, u),
        "torch vmap(jacrev) + products + eigvalsh": lambda: torch_vmap_jacrev(step, x0, u),
        "NumPy hand-formed J + products + batched SVD": lambda: numpy_norms(rnn, x0, u, "svd"),
        "NumPy hand-formed J + products + eigvalsh":
            lambda: numpy_norms(rnn, x0, u, "eigvalsh"),
        "torch hand-formed J + products + eigvalsh":
            lambda: torch_products_eigvalsh(hand_jacobians(torch, rnn, x0, u)),
    }
    if cell == "lstm":
        contenders["(profile) kernel without h→h/c→c block norms"] = kernel_without_blocks
    baselines = [n for n in contenders if n.startswith(("torch", "NumPy"))]
    case = Case(f"all-lag norms ‖∂s_T/∂s_(T-ℓ)‖₂, {cell.upper()} N = {N} (S = {S}), M = {M}, "
                f"T = {T}, 1 thread", baselines=list(baselines),
                target=f"'{head}' >= 5x the fastest baseline")
    # validation before timing: every baseline's log norms against rnndyn's
    notes = {head: f"{bp['power_iterations'][1:].mean():.1f} matvec pairs/lag"
             + (" (incl. the block norms' Lanczos pairs)" if cell == "lstm" else "")}
    for name in baselines:
        notes[name] = _check(name, contenders[name](), ref, ATOL_LOG, "ln")
    gf = gradient_flow(rnn, x0, T, u, jacobian_stats=False)
    notes["rnndyn gradient_flow, jacobian_stats=False"] = _check(
        "gradient_flow", gf.log_norm, ref, ATOL_LOG, "ln vs backward_products")
    if cell == "lstm":
        # the block norms, which only rnndyn returns, against dense SVDs of the blocks
        Js = hand_jacobians(np, rnn, x0, u)
        P, hh, cc = np.eye(S), [0.0], [0.0]
        for lag in range(1, T + 1):
            P = P @ Js[T - lag]
            hh.append(np.log(np.linalg.norm(P[:N, :N], 2)))
            cc.append(np.log(np.linalg.norm(P[N:, N:], 2)))
        err = np.abs(np.stack([bp["log_norm_hh"] - hh, bp["log_norm_cc"] - cc]))
        q, lag = np.unravel_index(np.argmax(err), err.shape)
        assert err[q, lag] <= ATOL_BLOCK, f"block norms: max |Δ ln| {err[q, lag]:.2e}"
        notes[head] += (f"; blocks max|Δ ln| {err[q, lag]:.1e} "
                        f"({('h→h', 'c→c')[q]}, lag {lag})")
        # where the kernel's time goes: the full state's Lanczos pairs against the blocks'
        full = kernel_without_blocks()[1:]
        blk = bp["power_iterations"][1:] - full
        profile = (f"per lag: full-state Lanczos {full.mean():.1f} pairs (S = {S}), block "
                   f"Lanczos {blk.mean():.1f} pairs (N = {N}), max {blk.max()} at "
                   f"lag {1 + int(np.argmax(blk))}")
    case.conditions = conditions(short=True)
    times = interleaved(contenders, rounds=rounds)
    case.add_rounds(times, notes)
    fastest = min(baselines, key=lambda b: np.median(times[b]))
    case.baselines = [fastest] + [b for b in baselines if b != fastest]
    case.notes.append(_ratio_note(case, head, fastest, 5.0))
    case.notes.append(_ratio_note(case, "rnndyn gradient_flow, jacobian_stats=False", fastest))
    case.notes.append(f"{rounds} interleaved rounds; every contender starts from (x0, u) and "
                      "runs its own forward pass; baselines compute the full-state norm only")
    if cell == "lstm":
        case.notes.append("profile " + profile)
    return case


def vanilla_case(cell, N, M, T, rounds):
    """The gated gradient_flow against the vanilla one of the same state size S."""
    from rnndyn.gradflow import backward_products, gradient_flow
    from rnndyn.models import make_rnn
    from rnndyn.simulate import trajectory
    rnn, x0, u = _problem(cell, N, M, T)
    S = rnn.S
    van = make_rnn(S, n_inputs=M, activation="tanh", gain=1.5, seed=0)
    xv = np.random.default_rng(1).standard_normal(S) * 0.3
    rows = {f"{cell.upper()} gradient_flow, stats off": (rnn, x0, False),
            f"vanilla N = {S} gradient_flow, stats off": (van, xv, False),
            f"{cell.upper()} gradient_flow, defaults": (rnn, x0, "auto"),
            f"vanilla N = {S} gradient_flow, defaults": (van, xv, "auto")}
    contenders = {name: (lambda r=r, x=x, st=st: gradient_flow(r, x, T, u, jacobian_stats=st))
                  for name, (r, x, st) in rows.items()}
    names = list(rows)
    case = Case(f"per state dimension: {cell.upper()} N = {N} vs vanilla tanh N = {S} "
                f"(S = {S} both), M = {M}, T = {T}, 1 thread",
                baselines=[names[1], names[3]],
                target="gated within 3x of vanilla (ratio column >= 0.33)")
    notes = {}
    for name, (r, x, _) in rows.items():
        bp = backward_products(r, trajectory(r, x, T, u)[1])
        notes[name] = f"{bp['power_iterations'][1:].mean():.1f} matvec pairs/lag"
    case.conditions = conditions(short=True)
    case.add_rounds(interleaved(contenders, rounds=rounds), notes)
    for row, base in ((names[0], names[1]), (names[2], names[3])):
        r = 1.0 / case.ratios[row][base]
        case.notes.append(f"{row}: {r:.2f}x the time of {base} (target <= 3x: "
                          f"{'met' if r <= 3 else 'NOT met'})")
    return case


def torch_qr_spectrum(jac_step, x0, u, Q0, transient):
    """QR every step in PyTorch: Q, R = qr(J_t Q); λ = mean log|R_jj| after the transient."""
    import torch
    s, Q = torch.from_numpy(x0.copy()), torch.from_numpy(Q0.copy())
    acc = torch.zeros(Q.shape[1], dtype=torch.float64)
    for t in range(len(u)):
        s, J = jac_step(s, t)
        Q, R = torch.linalg.qr(J @ Q)
        if t >= transient:
            acc += torch.log(torch.abs(torch.diagonal(R)))
    return np.sort(acc.numpy() / (len(u) - transient))[::-1]


def lyapunov_case(N, M, steps, transient, rounds):
    """Full Lyapunov spectrum of an input-driven GRU: rnndyn against PyTorch QR every step."""
    import torch
    from rnndyn._kernels import lyapunov as _kl
    from rnndyn.lyapunov import _initial_basis, lyapunov_spectrum
    from rnndyn.simulate import trajectory
    rnn, x0, u = _problem("gru", N, M, transient + steps, seed=2)
    # the same start basis as rnndyn's (seed 0), so that both sides follow the same Q_t
    Q0 = _initial_basis(rnn.S, rnn.S, 0).T.copy()
    W, b = torch.from_numpy(rnn.W.copy()), torch.from_numpy(rnn.b.copy())
    drive = torch.from_numpy(u @ rnn.U.T + rnn.b[:3 * N])
    step = torch_cell(rnn)
    ut = torch.from_numpy(u.copy())

    def hand(s, t):
        return step_and_jacobian(torch, "gru", W, b, s, drive[t])

    def jacrev(s, t):
        J, s_new = torch.func.jacrev(lambda x: (step(x, ut[t]),) * 2, has_aux=True)(s)
        return s_new, J

    contenders = {
        "rnndyn lyapunov_spectrum (defaults)":
            lambda: lyapunov_spectrum(rnn, x0, steps, transient=transient, inputs=u).exponents,
        "rnndyn lyapunov_spectrum, reortho=1 (QR every step)":
            lambda: lyapunov_spectrum(rnn, x0, steps, transient=transient, inputs=u,
                                      reortho=1).exponents,
        "torch hand-formed J_t + QR every step":
            lambda: torch_qr_spectrum(hand, x0, u, Q0, transient),
        "torch jacrev J_t + QR every step":
            lambda: torch_qr_spectrum(jacrev, x0, u, Q0, transient),
    }
    names = list(contenders)
    # profile only (private kernel): the tangent steps J_t·Q alone, as the QR kernel calls
    # them (through Wᵀ, (S, 3N)), against a dense S×S·S×S product per step (the flops of
    # J_t·Q once J_t is formed)
    _, D = trajectory(rnn, x0, transient + steps, u)
    Wt, Qt, scratch = np.ascontiguousarray(rnn.W.T), _initial_basis(rnn.S, rnn.S, 0), \
        np.empty((rnn.S, rnn.S))
    A, C = np.random.default_rng(0).standard_normal((2, rnn.S, rnn.S))

    def tangent_steps():
        for t in range(len(D)):
            _kl._tangent_step(Wt, rnn.form_code, D[t], Qt, scratch)

    def dense_products():
        for _ in range(len(D)):
            np.matmul(A, C, out=scratch)

    contenders[f"(profile) kernel tangent steps J_t·Q alone, {len(D)}x"] = tangent_steps
    contenders[f"(profile) dense {rnn.S}³ matmul, {len(D)}x"] = dense_products
    res = lyapunov_spectrum(rnn, x0, steps, transient=transient, inputs=u)
    ref = res.exponents
    case = Case(f"Lyapunov full spectrum, GRU N = {N}, M = {M}, {steps} steps after "
                f"{transient} transient, 1 thread", baselines=names[2:],
                target="none given: the ratio is reported")
    notes = {names[0]: f"λ1 {ref[0]:+.4f}, λ_N {ref[-1]:+.4f}, mean interval "
                       f"{res.meta['mean_interval']:.2f}"}
    for name in names[1:4]:
        notes[name] = _check(name, contenders[name](), ref, ATOL_LYAP, "λ")
    case.conditions = conditions(short=True)
    times = interleaved(contenders, rounds=rounds, min_time=0.0)
    case.add_rounds(times, notes)
    fastest = min(names[2:], key=lambda b: np.median(times[b]))
    case.baselines = [fastest] + [b for b in names[2:] if b != fastest]
    for row in names[:2]:
        case.notes.append(_ratio_note(case, row, fastest))
    med = {name: float(np.median(t)) for name, t in times.items()}
    tang, dense = med[f"(profile) kernel tangent steps J_t·Q alone, {len(D)}x"], \
        med[f"(profile) dense {rnn.S}³ matmul, {len(D)}x"]
    case.notes.append(f"profile: the tangent steps J_t·Q are {100 * tang / med[names[1]]:.0f}% "
                      f"of the reortho=1 call and take {tang / dense:.1f}x a dense {rnn.S}³ "
                      "product per step")
    case.notes.append(f"{rounds} interleaved rounds; J_t and the forward pass inside every "
                      "timed call; the torch loops start from rnndyn's initial basis")
    return case


def run(quick):
    """The cases of this suite (see the module docstring); ``quick``: small sizes, 2 rounds."""
    import torch
    from rnndyn._threads import blas_threads
    # one thread everywhere: torch's small matmuls and decompositions run slower with two
    # on this shared 2-core machine (bench_gradflow), and one thread per contender makes
    # the ratios independent of what else the machine is doing with the second core
    torch.set_num_threads(1)
    N, M, T, rounds = (12, 3, 40, 2) if quick else (50, 6, 200, 7)
    with blas_threads(1):
        cases = [norms_case(cell, N, M, T, rounds) for cell in ("lstm", "gru")]
        cases += [vanilla_case(cell, N, M, T, rounds) for cell in ("lstm", "gru")]
        if quick:
            cases.append(lyapunov_case(24, 3, 300, 50, 1))
        else:
            cases.append(lyapunov_case(128, 6, 3000, 200, 3))
    cases[0].notes.append(f"os.cpu_count() = {os.cpu_count()}; the machine may be shared: "
                          "compare rows within a case, not across runs")
    return cases


if __name__ == "__main__":
    from run import main
    main(["gated"] + sys.argv[1:])
