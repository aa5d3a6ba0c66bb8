"""Slow, obvious twins of every numba kernel. The library never imports this.

Each function follows the mathematics line by line in NumPy, with no attempt
at speed, so that a kernel can be checked against it.
"""

import numpy as np

from rnndyn.activations import NAMES, dsigma, sigma


# ------------------------------------------------------------------ rnn (forward)

def trajectory(W, U, b, act, form, x0, u):
    """Twin of rnndyn._kernels.cells._trajectory: returns X (T+1, N), D (T, N)."""
    name = NAMES[act]
    T = u.shape[0]
    X = [np.array(x0, dtype=float)]
    D = []
    for t in range(1, T + 1):
        x = X[-1]
        if form == 0:  # pascanu
            D.append(dsigma(name, x))
            X.append(W @ sigma(name, x) + U @ u[t - 1] + b)
        else:  # elman
            a = W @ x + U @ u[t - 1] + b
            D.append(dsigma(name, a))
            X.append(sigma(name, a))
    N = len(x0)
    return np.array(X), np.array(D).reshape(T, N)


def jacobian(W, form, d):
    """Twin of rnndyn._kernels.cells._jacobian."""
    return W @ np.diag(d) if form == 0 else np.diag(d) @ W


# ---- bifurcation (one neuron)

def orbits(w, b, act, x0, n_transient, n_record):
    """Twin of rnndyn._kernels.orbit._orbits (every step iterated): returns X (P, n_record)."""
    name = NAMES[act]
    P = len(w)
    X = np.empty((P, n_record))
    for i in range(P):
        x = float(x0[i])
        for _ in range(n_transient):
            x = w[i] * float(sigma(name, x)) + b[i]
        for r in range(n_record):
            x = w[i] * float(sigma(name, x)) + b[i]
            X[i, r] = x
    return X


def classify_orbits(X, rtol, atol, escape, max_period):
    """Twin of rnndyn._kernels.orbit._classify_orbits: returns period (P,) int64."""
    P, R = X.shape
    period = np.zeros(P, dtype=np.int64)
    for i in range(P):
        row = X[i]
        if not np.all(np.isfinite(row)) or abs(row[-1]) > escape:
            period[i] = -1
            continue
        for p in range(1, min(max_period, R - 1) + 1):
            if np.all(np.abs(row[p:] - row[:-p]) <= atol + rtol * np.abs(row[p:])):
                period[i] = p
                break
    return period


# ---- bptt

def _sigma2(name, p):
    """σ''(p) from the tail-accurate σ' (relu and linear: 0): tanh'' = −2 tanh · sech²,
    sigmoid'' = σ'·(σ(−p) − σ(p)); never 1 − tanh², which is 0 beyond |p| = 19.1."""
    if name == "tanh":
        return -2.0 * np.tanh(p) * dsigma("tanh", p)
    if name == "sigmoid":
        return dsigma("sigmoid", p) * (sigma("sigmoid", -p) - sigma("sigmoid", p))
    return np.zeros_like(p)


def _omega_term(delta, J, W, p, r, k, form, name, terms, grads):
    """Ω's term (‖δ J‖/‖δ‖ − 1)² of transition k and its W-gradient, appended to terms and
    grads. δ is scaled to max|δ_i| = 1 first (the ratio ignores scale; deep in a vanishing
    regime |δ| ~ 1e-150 would underflow in the norms); numerically zero δ (below 1e-290)
    adds nothing."""
    s = np.abs(delta).max()
    if s <= 1e-290:
        return
    N = W.shape[0]
    delta = delta / s
    v = delta @ J
    nd, nv = np.linalg.norm(delta), np.linalg.norm(v)
    terms.append((nv / nd - 1.0) ** 2)
    dnv = np.zeros((N, N))
    if nv > 0.0:
        if form == 0:
            dnv = np.outer(delta, v * dsigma(name, p[k])) / nv
        else:
            d1, d2 = dsigma(name, p[k + 1]), _sigma2(name, p[k + 1])
            dnv = (np.outer(delta * d1, v) + np.outer(delta * d2 * (W @ v), r[k])) / nv
    grads.append(2.0 * (nv / nd - 1.0) / nd * dnv)


def bptt(W, U, b, V, c, act, form, loss, labels, targets, u, err_rule, err_tol,
         omega_mode, alpha):
    """Twin of rnndyn._kernels.bptt._bptt, one sequence at a time.

    Returns (gW, gU, gb, gV, gc, wrong, E, omega). loss 0 = CE at labelled steps
    (labels (T, B), -1 = none), 1 = squared error at T (targets (B, K)); omega_mode
    0 off, 1 sum, 2 mean.
    """
    name = NAMES[act]
    T, B, M = u.shape
    N, K = W.shape[0], V.shape[0]
    n_lab = B * K if loss == 1 else max(int(np.sum(labels >= 0)), 1)
    gW, gU, gb = np.zeros((N, N)), np.zeros((N, M)), np.zeros(N)
    gV, gc = np.zeros((K, N)), np.zeros(K)
    wrong = np.zeros(B, dtype=bool)
    E = 0.0
    omega = 0.0
    for s in range(B):
        # forward: p_t = W r_{t-1} + U u_t + b, r_t = σ(p_t); r_0 = σ(0) (pascanu) or 0
        r = [sigma(name, np.zeros(N)) if form == 0 else np.zeros(N)]
        p = [np.zeros(N)]
        for t in range(1, T + 1):
            p.append(W @ r[t - 1] + U @ u[t - 1, s] + b)
            r.append(sigma(name, p[t]))
        # output errors dE/dy_t
        e = [np.zeros(K) for _ in range(T + 1)]
        for t in range(1, T + 1):
            y = V @ r[t] + c
            if loss == 0 and labels[t - 1, s] >= 0:
                lab = labels[t - 1, s]
                prob = np.exp(y - y.max()) / np.sum(np.exp(y - y.max()))
                E += -np.log(prob[lab]) / n_lab
                onehot = np.zeros(K)
                onehot[lab] = 1.0
                e[t] = (prob - onehot) / n_lab
                wrong[s] |= np.argmax(y) != lab
            elif loss == 1 and t == T:
                diff = y - targets[s]
                E += np.sum(diff ** 2) / n_lab
                e[t] = 2.0 * diff / n_lab
                err = diff ** 2 if err_rule == 0 else np.abs(diff)
                wrong[s] |= bool(np.any(err > err_tol))
        # backward: δr_t = dE/dr_t, g_t = dE/dp_t
        g = [None] * (T + 2)
        dr = [None] * (T + 2)
        g[T + 1] = np.zeros(N)
        for t in range(T, 0, -1):
            dr[t] = V.T @ e[t] + W.T @ g[t + 1]
            g[t] = dr[t] * dsigma(name, p[t])
            gW += np.outer(g[t], r[t - 1])
            gU += np.outer(g[t], u[t - 1, s])
            gb += g[t]
            gV += np.outer(e[t], r[t])
            gc += e[t]
        # regulariser with explicit Jacobians of the state x (pascanu) or h (elman)
        terms, grads = [], []
        for k in range(T):
            if form == 0:
                delta = g[k + 1]                                  # dE/dx_{k+1}
                J = W @ np.diag(dsigma(name, p[k]))               # ∂x_{k+1}/∂x_k
            else:
                delta = dr[k + 1]                                 # dE/dh_{k+1}
                J = np.diag(dsigma(name, p[k + 1])) @ W           # ∂h_{k+1}/∂h_k
            _omega_term(delta, J, W, p, r, k, form, name, terms, grads)
        if omega_mode and terms:
            scale = 1.0 / len(terms) if omega_mode == 2 else 1.0
            omega += scale * sum(terms) / B
            gW += alpha * scale * sum(grads) / B
    return gW, gU, gb, gV, gc, wrong, E, omega


def evaluate(W, U, b, V, c, act, form, loss, labels, targets, u, err_rule, err_tol):
    """Twin of rnndyn._kernels.bptt._evaluate: (wrong (B,), E)."""
    out = bptt(W, U, b, V, c, act, form, loss, labels, targets, u, err_rule, err_tol, 0, 0.0)
    return out[5], out[6]


# ---- basins / fixed points

def map_residual_jacobian(W, c, act, form, x):
    """Twin of rnndyn._kernels.fixedpoints._residual_jacobian: (F(x) − x, ∂F/∂x)."""
    name = NAMES[act]
    if form == 0:  # pascanu: F = W σ(x) + c
        return W @ sigma(name, x) + c - x, W @ np.diag(dsigma(name, x))
    a = W @ x + c  # elman: F = σ(W x + c)
    return sigma(name, a) - x, np.diag(dsigma(name, a)) @ W


def map_dfdp(W, c, WB, cB, act, form, x):
    """Twin of rnndyn._kernels.fixedpoints._dfdp: ∂F/∂p for W = WA + p WB, c = cA + p cB."""
    name = NAMES[act]
    if form == 0:
        return WB @ sigma(name, x) + cB
    return dsigma(name, W @ x + c) * (WB @ x + cB)


def map_step(W, c, act, form, x):
    """F(x) for one state."""
    r, _ = map_residual_jacobian(W, c, act, form, x)
    return x + r if form == 0 else sigma(NAMES[act], W @ x + c)


def settle(W, c, act, form, x0, max_steps, max_period, tol, bound):
    """Twin of rnndyn._kernels.basins._settle: (period, steps, representative).

    Keeps the whole orbit; the anchor is the state at index ``a``, renewed
    every max_period steps, or at once after a slow spiral mistaken for a cycle
    (see :func:`settle_with`, the same for any map).
    """
    return settle_with(lambda x: map_step(W, c, act, form, x), x0, max_steps, max_period,
                       tol, bound)


def basin_grid(W, c, act, form, base, e1, e2, xs, ys, max_steps, max_period, tol, bound):
    """Twin of rnndyn._kernels.basins._basin_grid: period, steps (ny, nx), rep (ny, nx, N)."""
    ny, nx, N = len(ys), len(xs), len(base)
    period = np.zeros((ny, nx), dtype=np.int64)
    steps = np.zeros((ny, nx), dtype=np.int64)
    rep = np.full((ny, nx, N), np.nan)
    for i in range(ny):
        for j in range(nx):
            p, t, r = settle(W, c, act, form, base + xs[j] * e1 + ys[i] * e2,
                             max_steps, max_period, tol, bound)
            period[i, j], steps[i, j] = p, t
            if r is not None:
                rep[i, j] = r
    return period, steps, rep


def match_attractors(period, rep, att_period, att_points, tol, labels):
    """Twin of rnndyn._kernels.basins._match: returns the updated labels."""
    labels = labels.copy()
    for i in range(period.shape[0]):
        for j in range(period.shape[1]):
            if period[i, j] <= 0:
                continue
            for k in range(len(att_period)):
                if att_period[k] == period[i, j] and \
                        np.max(np.abs(rep[i, j] - att_points[k])) <= tol:
                    labels[i, j] = k
                    break
    return labels


# ---- gradflow

def backward_products(W, form, D):
    """Twin of rnndyn._kernels.gradflow._backward_products, unscaled (small cases only).

    Returns the list of products P[ℓ] = ∂x_T/∂x_{T-ℓ} = J_T … J_{T-ℓ+1}, ℓ = 0 … T,
    and their spectral and Frobenius norms from full SVDs.
    """
    T, N = D.shape
    P = [np.eye(N)]
    for lag in range(1, T + 1):
        k = T - lag
        P.append(P[-1] @ jacobian(W, form, D[k]))
    sv = np.array([np.linalg.svd(p, compute_uv=False)[0] for p in P])
    fro = np.array([np.sqrt(np.sum(p * p)) for p in P])
    return P, sv, fro


def log_norms_renormalised(W, form, D):
    """The naive NumPy loop the benchmark compares with: one SVD per lag, renormalised.

    Returns ln ‖∂x_T/∂x_{T-ℓ}‖₂ for ℓ = 0 … T.
    """
    T, N = D.shape
    P = np.eye(N)
    log_scale = 0.0
    out = [0.0]
    for lag in range(1, T + 1):
        P = P @ jacobian(W, form, D[T - lag])
        s = np.linalg.svd(P, compute_uv=False)[0]
        if s == 0.0:
            out.extend([-np.inf] * (T + 1 - lag))
            break
        log_scale += np.log(s)
        P = P / s
        out.append(log_scale)
    return np.array(out)


def top_eig_tridiag(alpha, beta, m):
    """Twin of _top_eig_tridiag and _top_vec_tridiag: the largest eigenpair of the m×m
    symmetric tridiagonal matrix (diagonal alpha[:m], off-diagonal beta[:m-1])."""
    T = np.diag(alpha[:m]) + np.diag(beta[:m - 1], 1) + np.diag(beta[:m - 1], -1)
    vals, vecs = np.linalg.eigh(T)
    return vals[-1], vecs[:, -1]


def transport(W, form, D, delta):
    """Twin of rnndyn._kernels.gradflow._transport: ln ‖δᵀ ∂x_T/∂x_{T-ℓ}‖, ℓ = 0 … T."""
    T, N = D.shape
    v = np.array(delta, dtype=float)
    log_scale = np.log(np.linalg.norm(v))
    v = v / np.linalg.norm(v)
    out = [log_scale]
    for lag in range(1, T + 1):
        v = v @ jacobian(W, form, D[T - lag])
        n = np.linalg.norm(v)
        if n == 0.0:
            out.extend([-np.inf] * (T + 1 - lag))
            break
        log_scale += np.log(n)
        v = v / n
        out.append(log_scale)
    return np.array(out)


# ---- surface

def surface_loss_grad(w, b, x0, n_steps, target, act):
    """Twin of rnndyn._kernels.surface._loss_grad, by BPTT (reverse mode) instead of
    the kernel's forward mode: returns (L, dL/dw, dL/db, x_T)."""
    name = NAMES[act]
    xs = [float(x0)]
    for _ in range(n_steps):
        xs.append(w * float(sigma(name, xs[-1])) + b)
    y = float(sigma(name, xs[-1]))
    loss = (y - target) ** 2
    delta = 2.0 * (y - target) * float(dsigma(name, xs[-1]))  # dL/dx_T
    gw = gb = 0.0
    for t in range(n_steps, 0, -1):  # x_t = w σ(x_{t-1}) + b
        gw += delta * float(sigma(name, xs[t - 1]))
        gb += delta
        delta = delta * w * float(dsigma(name, xs[t - 1]))
    return loss, gw, gb, xs[-1]


def surface_points(w, b, x0, n_steps, target, act):
    """Twin of _surface_points: (n, 4) rows (L, dL/dw, dL/db, x_T)."""
    return np.array([surface_loss_grad(wi, bi, x0, n_steps, target, act)
                     for wi, bi in zip(w, b)]).reshape(len(w), 4)


def surface_clip(gw, gb, clip, threshold):
    """Twin of _clip2: 0 none, 1 norm (torch clip_grad_norm_), 2 value."""
    g = np.array([gw, gb])
    if clip == 1:
        coef = threshold / (np.linalg.norm(g) + 1e-6)
        if coef < 1.0:
            return g[0] * coef, g[1] * coef, True
    elif clip == 2:
        c = np.clip(g, -threshold, threshold)
        return c[0], c[1], bool(np.any(c != g))
    return gw, gb, False


def surface_bisect(w0, b0, w1, b1, x0, n_steps, target, act, tol, K):
    """Twin of _bisect_jumps: per segment the list of midpoints (w, b, L, gw, gb) and the
    final bracket (s_lo, s_hi, L_lo, L_hi)."""
    points, brackets = [], []
    for p0, p1 in zip(np.column_stack([w0, b0]), np.column_stack([w1, b1])):
        lo, hi = 0.0, 1.0
        L_lo = surface_loss_grad(p0[0], p0[1], x0, n_steps, target, act)[0]
        L_hi = surface_loss_grad(p1[0], p1[1], x0, n_steps, target, act)[0]
        pts = []
        while (hi - lo) * np.linalg.norm(p1 - p0) > tol and len(pts) < K:
            m = (lo + hi) / 2
            p = p0 + m * (p1 - p0)
            L, gw, gb, _ = surface_loss_grad(p[0], p[1], x0, n_steps, target, act)
            pts.append((p[0], p[1], L, gw, gb))
            if abs(L - L_lo) >= abs(L_hi - L):
                hi, L_hi = m, L
            else:
                lo, L_lo = m, L
        points.append(np.array(pts).reshape(-1, 5))
        brackets.append((lo, hi, L_lo, L_hi))
    return points, np.array(brackets).reshape(-1, 4)


def surface_descend(w0, b0, x0, n_steps, target, act, lr, clip, threshold, steps):
    """Twin of _descend: (n, steps+1, 5) rows (w, b, L, |grad|, clipped)."""
    out = np.zeros((len(w0), steps + 1, 5))
    for i, (w, b) in enumerate(zip(w0, b0)):
        for t in range(steps + 1):
            L, gw, gb, _ = surface_loss_grad(w, b, x0, n_steps, target, act)
            cw, cb, clipped = surface_clip(gw, gb, clip, threshold)
            out[i, t] = (w, b, L, np.hypot(gw, gb), float(clipped))
            if np.isfinite(cw) and np.isfinite(cb):
                w, b = w - lr * cw, b - lr * cb
    return out


# ---- lyapunov

def qr_lyapunov(W, form, D, Q0, transient):
    """Twin of rnndyn._kernels.lyapunov._qr_lyapunov with a QR every step.

    Returns the exponents in column order (mean of log|R_jj| after the transient);
    |R_jj| <= N·u·||p_j|| counts as 0 (log = -inf), as in the kernel.
    """
    Q = np.array(Q0, dtype=float)
    N = Q.shape[0]
    acc = np.zeros(Q.shape[1])
    for t in range(D.shape[0]):
        J = W @ np.diag(D[t]) if form == 0 else np.diag(D[t]) @ W
        P = J @ Q
        Q, R = np.linalg.qr(P)
        r = np.abs(np.diag(R))
        r[r <= N * 2.0 ** -53 * np.linalg.norm(P, axis=0)] = 0.0  # rounding floor
        if t >= transient:
            with np.errstate(divide="ignore"):
                acc += np.log(r)
    return acc / (D.shape[0] - transient)


def qr_lyapunov_extended(W, form, D, Q0, transient):
    """QR every step in extended precision (np.longdouble, 64-bit mantissa on x86).

    Gram-Schmidt twice instead of LAPACK (which has no long double); no rounding
    floor. A reference for cases where float64 itself is in doubt (deep saturation).
    Returns the exponents in column order.
    """
    ld = np.longdouble
    W, Q = np.asarray(W, dtype=ld), np.array(Q0, dtype=ld)
    acc = np.zeros(Q.shape[1], dtype=ld)
    for t in range(D.shape[0]):
        d = np.asarray(D[t], dtype=ld)
        P = W @ (d[:, None] * Q) if form == 0 else d[:, None] * (W @ Q)
        r = np.zeros(Q.shape[1], dtype=ld)
        for j in range(P.shape[1]):
            for _ in range(2):
                P[:, j] -= P[:, :j] @ (P[:, :j].T @ P[:, j])
            r[j] = np.sqrt(P[:, j] @ P[:, j])
            P[:, j] /= r[j]
        Q = P
        if t >= transient:
            acc += np.log(r)
    return (acc / (D.shape[0] - transient)).astype(float)


def largest_lyapunov(W, form, D, v0, transient):
    """Twin of rnndyn._kernels.lyapunov._largest_lyapunov: the vector method."""
    v = np.array(v0, dtype=float)
    acc = 0.0
    for t in range(D.shape[0]):
        J = W @ np.diag(D[t]) if form == 0 else np.diag(D[t]) @ W
        y = J @ v
        n = np.linalg.norm(y)
        if t >= transient:
            acc += np.log(n)
        v = y / n
    return acc / (D.shape[0] - transient)


def qr_lyapunov_batch(W, form, D, Q0, transient):
    """Twin of rnndyn._kernels.lyapunov._qr_lyapunov_batch: one QR run per member."""
    return np.array([qr_lyapunov(W[b], form, D[b], Q0[b], transient) for b in range(len(W))])


def qr_lyapunov_split(W, form, D, Q0, transient, b):
    """Twin of the split method of rnndyn.lyapunov (QR every step in both parts).

    Top N - b columns of Q0 follow J (forward QR); the bottom b columns, in
    reverse order, follow J^-T = (W diag(d))^-T or (diag(d) W)^-T with a QR every
    step, and their exponents are minus the mean log|R_jj|. Returns the N
    exponents in the column order of Q0.
    """
    N = W.shape[0]
    Qf = np.array(Q0[:, :N - b], dtype=float)
    Qb = np.array(Q0[:, N - b:][:, ::-1], dtype=float)
    top, bottom = np.zeros(N - b), np.zeros(b)
    for t in range(D.shape[0]):
        J = W @ np.diag(D[t]) if form == 0 else np.diag(D[t]) @ W
        Qf, Rf = np.linalg.qr(J @ Qf)
        Qb, Rb = np.linalg.qr(np.linalg.solve(J.T, Qb))
        if t >= transient:
            top += np.log(np.abs(np.diag(Rf)))
            bottom += np.log(np.abs(np.diag(Rb)))
    n = D.shape[0] - transient
    return np.concatenate([top / n, -bottom[::-1] / n])


# ---- gradflow: scaling before squaring

def pow2_scaled(W):
    """Twin of rnndyn._kernels.gradflow._pow2_scaled: (W / 2^e, e ln 2), 2^e the power of
    two at or just above max|W_ij|, e >= -1021 (e = 0 for W = 0)."""
    W = np.asarray(W, dtype=float)
    wmax = np.max(np.abs(W))
    e = max(int(np.frexp(wmax)[1]), -1021) if wmax > 0 else 0
    return W / 2.0 ** e, e * np.log(2.0)


def rescale_pow2(P):
    """Twin of rnndyn._kernels.gradflow._rescale_pow2: (P / 2^e, e ln 2, ‖P / 2^e‖_F²), 2^e
    the power of two at or just above max|P_ij|, e >= -1021; (P, 0, 0) for P = 0."""
    P = np.asarray(P, dtype=float)
    pmax = np.max(np.abs(P))
    if pmax == 0:
        return P.copy(), 0.0, 0.0
    e = max(int(np.frexp(pmax)[1]), -1021)
    Q = P / 2.0 ** e
    return Q, e * np.log(2.0), float(np.sum(Q * Q))


# ---- BPTT with the Bernoulli loss (independent sigmoid outputs at every step)

def bptt_bernoulli(W, U, b, V, c, act, form, targets, u, omega_mode, alpha):
    """Twin of rnndyn._kernels.bptt._bptt with loss 2 (Bernoulli), one sequence at a time.

    targets (T*B, K) of 0/1, row (t-1)*B + k; a row starting with a negative number has
    no target. E = Σ_{t,k,j} softplus(y) - z y over rows with a target, divided by their
    number. Returns (gW, gU, gb, gV, gc, E, omega); Ω and its direct W-gradient as in
    :func:`bptt`.
    """
    name = NAMES[act]
    T, B, M = u.shape
    N, K = W.shape[0], V.shape[0]
    Z = targets.reshape(T, B, K)
    n = max(int(np.sum(Z[:, :, 0] >= 0)), 1)
    gW, gU, gb = np.zeros((N, N)), np.zeros((N, M)), np.zeros(N)
    gV, gc = np.zeros((K, N)), np.zeros(K)
    E = 0.0
    omega = 0.0
    for s in range(B):
        r = [sigma(name, np.zeros(N)) if form == 0 else np.zeros(N)]
        p = [np.zeros(N)]
        for t in range(1, T + 1):
            p.append(W @ r[t - 1] + U @ u[t - 1, s] + b)
            r.append(sigma(name, p[t]))
        e = [np.zeros(K) for _ in range(T + 1)]
        for t in range(1, T + 1):
            z = Z[t - 1, s]
            if z[0] < 0:
                continue
            y = V @ r[t] + c
            E += np.sum(np.logaddexp(0.0, y) - z * y) / n
            e[t] = (1.0 / (1.0 + np.exp(-y)) - z) / n
        g = [None] * (T + 2)
        dr = [None] * (T + 2)
        g[T + 1] = np.zeros(N)
        for t in range(T, 0, -1):
            dr[t] = V.T @ e[t] + W.T @ g[t + 1]
            g[t] = dr[t] * dsigma(name, p[t])
            gW += np.outer(g[t], r[t - 1])
            gU += np.outer(g[t], u[t - 1, s])
            gb += g[t]
            gV += np.outer(e[t], r[t])
            gc += e[t]
        terms, grads = [], []
        for k in range(T):
            if form == 0:
                delta, J = g[k + 1], W @ np.diag(dsigma(name, p[k]))
            else:
                delta, J = dr[k + 1], np.diag(dsigma(name, p[k + 1])) @ W
            _omega_term(delta, J, W, p, r, k, form, name, terms, grads)
        if omega_mode and terms:
            scale = 1.0 / len(terms) if omega_mode == 2 else 1.0
            omega += scale * sum(terms) / B
            gW += alpha * scale * sum(grads) / B
    return gW, gU, gb, gV, gc, E, omega


def small_lyapunov(W, U, b, act, form, x0, u, Q0, transient):
    """Twin of rnndyn._kernels.lyapunov._small_lyapunov: the trajectory (naive twin
    ``trajectory``) and a NumPy QR every step of the k rows of Q0. Returns the sums of
    log|R_jj| after the transient, in row order."""
    X, D = trajectory(W, U, b, act, form, x0, u)
    Q = np.array(Q0, dtype=float).T
    N = Q.shape[0]
    acc = np.zeros(Q.shape[1])
    for t in range(D.shape[0]):
        J = W @ np.diag(D[t]) if form == 0 else np.diag(D[t]) @ W
        P = J @ Q
        Q, R = np.linalg.qr(P)
        Q = Q * np.where(np.diag(R) < 0, -1.0, 1.0)  # the positive-R_jj convention
        r = np.abs(np.diag(R))
        r[r <= N * 2.0 ** -53 * np.linalg.norm(P, axis=0)] = 0.0  # rounding floor
        if t >= transient:
            with np.errstate(divide="ignore"):
                acc += np.log(r)
    return acc


# ---------------------------------------------------------------- gated cells (rnndyn.cells)

def _logistic(x):
    return 1.0 / (1.0 + np.exp(-x))


def gated_step(cell, W, U, b, s, u):
    """Twin of rnndyn._kernels.cells._gated_step: the PyTorch equations, written out.

    Returns the next state. LSTM s = (h, c); GRU s = h. W, U stacked (i,f,g,o) / (r,z,n).
    """
    if cell == "lstm":
        i, f, g, o, c2 = _lstm_gates(W, U, b, s, u)
        return np.concatenate([o * np.tanh(c2), c2])
    r, z, q, n = _gru_gates(W, U, b, s, u)
    return (1 - z) * n + z * s


def _lstm_gates(W, U, b, s, u):
    """(i, f, g, o, c_t) of an LSTM step from s = (h, c)."""
    N = W.shape[1]
    a = W @ s[:N] + U @ u + b
    i, f, g, o = (_logistic(a[:N]), _logistic(a[N:2 * N]), np.tanh(a[2 * N:3 * N]),
                  _logistic(a[3 * N:]))
    return i, f, g, o, f * s[N:] + i * g


def _gru_gates(W, U, b, s, u):
    """(r, z, q = W_n h + b_hn, n) of a GRU step from s = h."""
    N = W.shape[1]
    r = _logistic(W[:N] @ s + U[:N] @ u + b[:N])
    z = _logistic(W[N:2 * N] @ s + U[N:2 * N] @ u + b[N:2 * N])
    q = W[2 * N:] @ s + b[3 * N:]
    return r, z, q, np.tanh(U[2 * N:] @ u + b[2 * N:3 * N] + r * q)


def gated_trajectory(cell, W, U, b, x0, u):
    """Twin of rnndyn._kernels.cells._gated_trajectory: X (T+1, S)."""
    X = [np.asarray(x0, float)]
    for t in range(u.shape[0]):
        X.append(gated_step(cell, W, U, b, X[-1], u[t]))
    return np.array(X)


def gated_jacobian(cell, W, U, b, s, u):
    """∂s_t/∂s_{t-1} of a gated cell at state s and input u, by the chain rule written
    out from the states (not from the kernel's auxiliary row)."""
    N = W.shape[1]
    if cell == "lstm":
        c = s[N:]
        i, f, g, o, c2 = _lstm_gates(W, U, b, s, u)
        Wi, Wf, Wg, Wo = W[:N], W[N:2 * N], W[2 * N:3 * N], W[3 * N:]
        dc_dh = (np.diag(c * f * (1 - f)) @ Wf + np.diag(g * i * (1 - i)) @ Wi
                 + np.diag(i * (1 - g ** 2)) @ Wg)
        dc_dc = np.diag(f)
        t2 = np.tanh(c2)
        dh_dh = np.diag(t2 * o * (1 - o)) @ Wo + np.diag(o * (1 - t2 ** 2)) @ dc_dh
        dh_dc = np.diag(o * (1 - t2 ** 2)) @ dc_dc
        return np.block([[dh_dh, dh_dc], [dc_dh, dc_dc]])
    r, z, q, n = _gru_gates(W, U, b, s, u)
    dn = np.diag(1 - n ** 2) @ (np.diag(r) @ W[2 * N:] + np.diag(q * r * (1 - r)) @ W[:N])
    dz = np.diag(z * (1 - z)) @ W[N:2 * N]
    return np.diag(z) + np.diag(1 - z) @ dn + np.diag(s - n) @ dz


def gated_log_norms(cell, W, U, b, x0, u):
    """ln ‖∂s_T/∂s_{T-ℓ}‖₂ for ℓ = 0..T by plain products and SVDs (short T only), and
    for the LSTM the h→h and c→c blocks: (full, hh, cc) (hh, cc None for the GRU)."""
    X = gated_trajectory(cell, W, U, b, x0, u)
    T = u.shape[0]
    N = W.shape[1]
    P = np.eye(X.shape[1])
    full, hh, cc = [0.0], [0.0], [0.0]
    for lag in range(1, T + 1):
        k = T - lag
        P = P @ gated_jacobian(cell, W, U, b, X[k], u[k])
        full.append(np.log(np.linalg.norm(P, 2)))
        if cell == "lstm":
            hh.append(np.log(np.linalg.norm(P[:N, :N], 2)))
            cc.append(np.log(np.linalg.norm(P[N:, N:], 2)))
    if cell != "lstm":
        return np.array(full), None, None
    return np.array(full), np.array(hh), np.array(cc)


def gated_qr_lyapunov(cell, W, U, b, x0, u, Q0, transient):
    """The QR method with a QR every step on the naive gated Jacobians: the exponents."""
    X = gated_trajectory(cell, W, U, b, x0, u)
    Q = Q0.copy()
    logsum = np.zeros(Q.shape[1])
    for t in range(u.shape[0]):
        Q, R = np.linalg.qr(gated_jacobian(cell, W, U, b, X[t], u[t]) @ Q)
        if t >= transient:
            logsum += np.log(np.abs(np.diag(R)))
    return np.sort(logsum / (u.shape[0] - transient))[::-1]


# ---------------------------------------------------------------- gated fixed points and basins
# (the gated kernels of rnndyn._kernels.fixedpoints and rnndyn._kernels.basins)

def gated_map_residual_jacobian(cell, W, c, x):
    """Twin of rnndyn._kernels.fixedpoints._gated_residual_jacobian: (f(x) − x, ∂f/∂x),
    the constant input folded into the bias c = b + [U u; 0] (4N)."""
    U0, u0 = np.zeros((W.shape[0], 0)), np.zeros(0)
    return gated_step(cell, W, U0, c, x, u0) - x, gated_jacobian(cell, W, U0, c, x, u0)


def settle_with(step, x0, max_steps, max_period, tol, bound):
    """:func:`settle` for any map ``step`` (state -> next state): (period, steps, rep)."""
    xs = [np.array(x0, dtype=float)]
    a = 0
    sep = max(1e-8, 1e3 * tol)
    for t in range(1, max_steps + 1):
        x = step(xs[-1])
        if not np.all(np.abs(x) <= bound):
            return -1, t, None
        xs.append(x)
        big = max(1.0, np.max(np.abs(x)))
        p = t - a
        if np.max(np.abs(x - xs[-2])) <= tol * big:
            return 1, t, x
        if np.max(np.abs(x - xs[a])) <= tol * big:
            if p > 1 and np.max(np.abs(x - xs[-2])) <= sep * big:
                a = t
                continue
            cycle = [x]
            for _ in range(p - 1):
                cycle.append(step(cycle[-1]))
            rep = cycle[0]
            for y in cycle[1:]:
                for i in range(len(y)):
                    if abs(y[i] - rep[i]) > sep * max(1.0, abs(rep[i])):
                        if y[i] < rep[i]:
                            rep = y
                        break
            return p, t, rep
        if p == max_period:
            a = t
    return 0, max_steps, None


def gated_basin_grid(cell, W, c, base, e1, e2, xs, ys, max_steps, max_period, tol, bound):
    """Twin of rnndyn._kernels.basins._gated_basin_grid: period, steps (ny, nx), rep
    (ny, nx, S), the map f(s) of :func:`gated_step` with the bias c (4N)."""
    U0, u0 = np.zeros((W.shape[0], 0)), np.zeros(0)
    ny, nx, S = len(ys), len(xs), len(base)
    period = np.zeros((ny, nx), dtype=np.int64)
    steps = np.zeros((ny, nx), dtype=np.int64)
    rep = np.full((ny, nx, S), np.nan)
    for i in range(ny):
        for j in range(nx):
            p, t, r = settle_with(lambda s: gated_step(cell, W, U0, c, s, u0),
                                  base + xs[j] * e1 + ys[i] * e2, max_steps, max_period,
                                  tol, bound)
            period[i, j], steps[i, j] = p, t
            if r is not None:
                rep[i, j] = r
    return period, steps, rep


# ---------------------------------------------------------------- gated BPTT
# (rnndyn._kernels.bptt_gated)

def gated_bptt(cell, W, U, b, V, c, loss, labels, targets, u, err_rule, err_tol):
    """Twin of rnndyn._kernels.bptt_gated._bptt_gated, one sequence at a time, with the
    chain rule written out from the PyTorch equations (not from the auxiliary rows).

    loss 0 = CE at labelled steps (labels (T, B), -1 = none), 1 = squared error at T
    (targets (B, K)), 2 = Bernoulli at every step (targets (T*B, K), row (t-1)*B + k, a
    row starting with a negative number has no target). Returns (gW, gU, gb, gV, gc,
    wrong, E).
    """
    T, B, M = u.shape
    N, K = W.shape[1], V.shape[0]
    if loss == 1:
        n = B * K
    elif loss == 2:
        n = max(int(np.sum(targets[:, 0] >= 0)), 1)
    else:
        n = max(int(np.sum(labels >= 0)), 1)
    gW, gU, gb = np.zeros_like(W), np.zeros_like(U), np.zeros_like(b)
    gV, gc = np.zeros_like(V), np.zeros(K)
    wrong = np.zeros(B, dtype=bool)
    E = 0.0
    for s in range(B):
        h, cs, rec = [np.zeros(N)], [np.zeros(N)], [None]
        for t in range(1, T + 1):
            x = u[t - 1, s]
            if cell == "lstm":
                a = W @ h[-1] + U @ x + b
                i, f, g, o = (_logistic(a[:N]), _logistic(a[N:2 * N]), np.tanh(a[2 * N:3 * N]),
                              _logistic(a[3 * N:]))
                cs.append(f * cs[-1] + i * g)
                h.append(o * np.tanh(cs[-1]))
                rec.append((i, f, g, o, a))
            else:
                ar = W[:N] @ h[-1] + U[:N] @ x + b[:N]
                az = W[N:2 * N] @ h[-1] + U[N:2 * N] @ x + b[N:2 * N]
                r, z = _logistic(ar), _logistic(az)
                q = W[2 * N:] @ h[-1] + b[3 * N:]
                an = U[2 * N:] @ x + b[2 * N:3 * N] + r * q
                nn_ = np.tanh(an)
                h.append((1 - z) * nn_ + z * h[-1])
                rec.append((r, z, q, nn_, ar, az, an))
        e = [np.zeros(K) for _ in range(T + 1)]
        for t in range(1, T + 1):
            y = V @ h[t] + c
            if loss == 0 and labels[t - 1, s] >= 0:
                lab = labels[t - 1, s]
                p = np.exp(y - y.max()) / np.sum(np.exp(y - y.max()))
                E += -np.log(p[lab]) / n
                e[t] = p.copy()
                e[t][lab] -= 1.0
                e[t] /= n
                wrong[s] |= np.argmax(y) != lab
            elif loss == 1 and t == T:
                diff = y - targets[s]
                E += np.sum(diff ** 2) / n
                e[t] = 2.0 * diff / n
                err = diff ** 2 if err_rule == 0 else np.abs(diff)
                wrong[s] |= bool(np.any(err > err_tol))
            elif loss == 2 and targets[(t - 1) * B + s, 0] >= 0:
                zt = targets[(t - 1) * B + s]
                E += np.sum(np.logaddexp(0.0, y) - zt * y) / n
                e[t] = (_logistic(y) - zt) / n
                wrong[s] |= bool(np.any((y > 0) != (zt > 0.5)))
        dh_next, dc_next = np.zeros(N), np.zeros(N)
        for t in range(T, 0, -1):
            x = u[t - 1, s]
            gV += np.outer(e[t], h[t])
            gc += e[t]
            dh = V.T @ e[t] + dh_next
            if cell == "lstm":
                # σ' from the pre-activations (dsigma: exact in both tails, as the
                # kernels; σ(1 − σ) and 1 − tanh² lose every digit beyond |a| ≈ 19-37)
                i, f, g, o, a = rec[t]
                tc = np.tanh(cs[t])
                di, df, dg, do = (dsigma("sigmoid", a[:N]), dsigma("sigmoid", a[N:2 * N]),
                                  dsigma("tanh", a[2 * N:3 * N]), dsigma("sigmoid", a[3 * N:]))
                dct = dc_next + dh * o * dsigma("tanh", cs[t])
                da = np.concatenate([dct * g * di, dct * cs[t - 1] * df, dct * i * dg,
                                     dh * tc * do])
                gW += np.outer(da, h[t - 1])
                gU += np.outer(da, x)
                gb += da
                dh_next = W.T @ da
                dc_next = dct * f
            else:
                r, z, q, nn_, ar, az, an = rec[t]
                dan = dh * (1 - z) * dsigma("tanh", an)
                dq = dan * r
                dar = dan * q * dsigma("sigmoid", ar)
                daz = dh * (h[t - 1] - nn_) * dsigma("sigmoid", az)
                gW += np.outer(np.concatenate([dar, daz, dq]), h[t - 1])
                gU += np.outer(np.concatenate([dar, daz, dan]), x)
                gb += np.concatenate([dar, daz, dan, dq])
                dh_next = dh * z + W[:N].T @ dar + W[N:2 * N].T @ daz + W[2 * N:].T @ dq
    return gW, gU, gb, gV, gc, wrong, E


# ---------------------------------------------------------------- stacks (rnndyn._kernels.stack)

def _stack_sigma(name, x):
    """σ for the stack twins, complex-safe (complex-step derivatives): tanh, sigmoid, linear."""
    if name == "tanh":
        return np.tanh(x)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    if name == "linear":
        return x
    return np.maximum(x, 0.0)


def stack_part_step(p, s, v):
    """One step of a stack part p (an RNN: cell, form, activation, W, U, b) from state s
    with input v: vanilla as written in rnndyn.models, gated by :func:`gated_step`."""
    if p.cell != "vanilla":
        return gated_step(p.cell, p.W, p.U, p.b, s, v)
    if p.form == "pascanu":
        return p.W @ _stack_sigma(p.activation, s) + p.U @ v + p.b
    return _stack_sigma(p.activation, p.W @ s + p.U @ v + p.b)


def stack_trajectory(stack, x0, u):
    """Twin of rnndyn._kernels.stack._stack_trajectory: the joint states X (T+1, ΣS),
    layer by layer over the whole sequence, written from the definitions of rnndyn.stack
    (dense inputs [u, h^1, …], residual + truncated identity from layer 2, a reverse
    direction reading u_T … u_1 from its row-0 state). Works in complex arithmetic."""
    T = u.shape[0]
    off = stack.offsets
    n_dirs = stack.n_dirs
    X = np.zeros((T + 1, stack.S), dtype=np.result_type(x0, u, float))
    X[0] = x0
    outs = []           # outs[l]: (T, n_dirs · N_l), the layer's output at t = 1 … T
    for l, layer in enumerate(stack.layers):
        if l == 0:
            V = u
        elif stack.skip == "dense":
            V = np.concatenate([u] + outs, axis=1)
        else:
            V = outs[l - 1]
        out = []
        for d, p in enumerate(layer):
            q = l * n_dirs + d
            s = X[0, off[q]:off[q + 1]]
            H = np.zeros((T, p.N), dtype=X.dtype)
            order = range(T, 0, -1) if d else range(1, T + 1)
            for t in order:
                s = stack_part_step(p, s, V[t - 1])
                if stack.skip == "residual" and l > 0:
                    low = V[t - 1][d * stack.hidden[l - 1]:(d + 1) * stack.hidden[l - 1]]
                    m = min(p.N, len(low))
                    s = np.concatenate([s[:m] + low[:m], s[m:]])
                X[t, off[q]:off[q + 1]] = s
                H[t - 1] = s[:p.N]
            out.append(H)
        outs.append(np.concatenate(out, axis=1))
    return X


def _stack_layers_at(stack, s, prev, u_t, first):
    """Recompute layers first … L−1 of the joint state s (in place) at one step from their
    previous states ``prev`` and the outputs of the layers below in s."""
    off = stack.offsets
    for j in range(first, stack.L):
        p = stack.layers[j][0]
        outs = [s[off[i]:off[i] + stack.hidden[i]] for i in range(j)]
        if j == 0:
            v = u_t
        elif stack.skip == "dense":
            v = np.concatenate([u_t] + outs)
        else:
            v = outs[j - 1]
        new = stack_part_step(p, prev[off[j]:off[j + 1]], v)
        if stack.skip == "residual" and j > 0:
            m = min(p.N, stack.hidden[j - 1])
            new = np.concatenate([new[:m] + outs[j - 1][:m], new[m:]])
        s[off[j]:off[j + 1]] = new


def _stack_run_from(stack, X, u, k, l, delta):
    """h^L_T of a unidirectional stack rerun from time k with h^l_k += delta (complex),
    the layers above l recomputed at k (they consume h^l_k; at k = 0 none does: initial
    states are free), every other s_k as in X."""
    T = u.shape[0]
    off = stack.offsets
    s = X[k].astype(complex)
    s[off[l]:off[l] + stack.hidden[l]] += delta
    if k > 0:
        _stack_layers_at(stack, s, X[k - 1], u[k - 1], l + 1)
    for t in range(k + 1, T + 1):
        _stack_layers_at(stack, s, s.copy(), u[t - 1], 0)
    top = off[stack.L - 1]
    return s[top:top + stack.hidden[-1]]


def stack_depth(stack, x0, u, eps=1e-30):
    """Twin of rnndyn._kernels.stack._stack_depth (depth map only): ln ‖∂h^L_T/∂h^l_{T−ℓ}‖₂
    (L, T+1) by complex-step derivatives (exact to rounding): each column of the Jacobian
    is Im h^L_T / eps after h^l_k += i·eps·e_c, the run redone from k. Analytic activations
    only (not relu)."""
    T = u.shape[0]
    X = stack_trajectory(stack, np.asarray(x0, float), u).real
    out = np.empty((stack.L, T + 1))
    for l in range(stack.L):
        N = stack.hidden[l]
        for k in range(T + 1):
            J = np.empty((stack.hidden[-1], N))
            for c in range(N):
                e = np.zeros(N, dtype=complex)
                e[c] = 1j * eps
                J[:, c] = _stack_run_from(stack, X, u, k, l, e).imag / eps
            out[l, T - k] = np.log(np.linalg.norm(J, 2))
    return out


def stack_joint_log_norms(stack, x0, u, eps=1e-30):
    """Twin of the joint-state norms of rnndyn._kernels.stack._stack_depth: ln ‖∂s_T/∂s_{T−ℓ}‖₂
    (T+1,) of the joint state, by complex-step derivatives (each entry of s_k perturbed in
    turn, the whole stack rerun from k + 1)."""
    T = u.shape[0]
    X = stack_trajectory(stack, np.asarray(x0, float), u).real
    out = np.empty(T + 1)
    for k in range(T + 1):
        J = np.empty((stack.S, stack.S))
        for c in range(stack.S):
            s = X[k].astype(complex)
            s[c] += 1j * eps
            for t in range(k + 1, T + 1):
                _stack_layers_at(stack, s, s.copy(), u[t - 1], 0)
            J[:, c] = s.imag / eps
        out[T - k] = np.log(np.linalg.norm(J, 2))
    return out


# ---------------------------------------------------------------- stacks: input-position gradients

def stack_position_log_norms(stack, x0, u, part, t_star, eps=1e-30):
    """Twin of rnndyn._kernels.stack._stack_input_grad (with _scaled_log_norms):
    ln ‖∂h^{part}_{t*}/∂u_t‖₂ (T,), t = 1 … T, by complex-step derivatives: each entry of
    u_t perturbed by i·eps in turn, the whole stack rerun by :func:`stack_trajectory`, the
    column Im h^{part}_{t*} / eps. Also returns the Jacobians (T, N, M)."""
    T, M = u.shape
    off = stack.offsets
    N = stack.parts[part].N
    J = np.empty((T, N, M))
    for t in range(T):
        for c in range(M):
            up = u.astype(complex)
            up[t, c] += 1j * eps
            X = stack_trajectory(stack, np.asarray(x0, float), up)
            J[t, :, c] = X[t_star, off[part]:off[part] + N].imag / eps
    return np.array([np.log(np.linalg.norm(J[t], 2)) for t in range(T)]), J


# ---------------------------------------------------------------- stacks: BPTT
# (rnndyn._kernels.bptt_stack)

def _stack_with(stack, vec):
    """A stand-in for ``stack`` (what :func:`stack_trajectory` reads) whose parts' W, b, U
    are the slices of ``vec`` (possibly complex) in the layout of Stack.pack."""
    from types import SimpleNamespace
    _, lay, _, _ = stack.pack()
    layers = []
    for p, row in zip(stack.parts, lay):
        G = p.W.shape[0]
        oW, oU, ob = row[4], row[5], row[6]
        layers.append((SimpleNamespace(
            cell=p.cell, form=p.form, activation=p.activation, N=p.N,
            W=vec[oW:oW + G * p.N].reshape(G, p.N), U=vec[oU:oU + G * p.M].reshape(G, p.M),
            b=vec[ob:oU]),))
    return SimpleNamespace(layers=layers, offsets=stack.offsets, hidden=stack.hidden,
                           skip=stack.skip, n_dirs=1, S=stack.S)


def _stack_loss(stack, vec, K, loss, labels, targets, u, err_rule, err_tol):
    """(E, wrong) of a unidirectional stack whose parameters and readout are ``vec`` =
    [theta, V, c], written from the definitions, one sequence at a time (complex-safe)."""
    n = stack.pack()[0].size
    NL = stack.hidden[-1]
    V, c = vec[n:n + K * NL].reshape(K, NL), vec[n + K * NL:]
    st = _stack_with(stack, vec)
    top_part = stack.parts[-1]
    T, B, _ = u.shape
    if loss == 1:
        n_terms = B * K
    elif loss == 2:
        n_terms = max(int(np.sum(targets[:, 0] >= 0)), 1)
    else:
        n_terms = max(int(np.sum(labels >= 0)), 1)
    E = 0.0
    wrong = np.zeros(B, dtype=bool)
    top = stack.offsets[-2]
    for s in range(B):
        X = stack_trajectory(st, np.zeros(stack.S, dtype=vec.dtype), u[:, s])
        for t in range(1, T + 1):
            h = X[t, top:top + NL]
            if top_part.cell == "vanilla" and top_part.form == "pascanu":
                h = _stack_sigma(top_part.activation, h)     # the readout reads r = σ(x)
            y = V @ h + c
            if loss == 0 and labels[t - 1, s] >= 0:
                lab = labels[t - 1, s]
                m = np.max(y.real)
                E = E + (m + np.log(np.sum(np.exp(y - m))) - y[lab]) / n_terms
                wrong[s] |= np.argmax(y.real) != lab
            elif loss == 1 and t == T:
                diff = y - targets[s]
                E = E + np.sum(diff * diff) / n_terms
                err = diff.real ** 2 if err_rule == 0 else np.abs(diff.real)
                wrong[s] |= bool(np.any(err > err_tol))
            elif loss == 2 and targets[(t - 1) * B + s, 0] >= 0:
                z = targets[(t - 1) * B + s]
                E = E + np.sum(np.log(1.0 + np.exp(y)) - z * y) / n_terms
                wrong[s] |= bool(np.any((y.real > 0) != (z > 0.5)))
    return E, wrong


def stack_bptt(stack, V, c, loss, labels, targets, u, err_rule, err_tol, eps=1e-30):
    """Twin of rnndyn._kernels.bptt_stack._bptt_stack: the gradient of E with respect to
    [theta (Stack.pack's layout), V, c] by complex-step derivatives (exact to rounding),
    each parameter perturbed by i·eps in turn and the loss recomputed from the stack's
    definitions (:func:`stack_trajectory`). Analytic activations only (not relu).
    Returns (grad, wrong, E)."""
    theta = stack.pack()[0]
    vec = np.concatenate([theta, np.ravel(V), c])
    K = V.shape[0]
    E, wrong = _stack_loss(stack, vec, K, loss, labels, targets, u, err_rule, err_tol)
    grad = np.empty(vec.size)
    for i in range(vec.size):
        z = vec.astype(complex)
        z[i] += 1j * eps
        grad[i] = _stack_loss(stack, z, K, loss, labels, targets, u, err_rule,
                              err_tol)[0].imag / eps
    return grad, wrong, float(np.real(E))
