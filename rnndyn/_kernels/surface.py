"""The error surface of one recurrent neuron (Pascanu et al. 2013, §3.3, Fig. 6).

x_t = w σ(x_{t-1}) + b from a fixed x_0, loss L(w, b) = (σ(x_T) − y)². The
gradient is carried forward with the state (forward-mode differentiation):
two parameters make the tangents cheaper than a backward pass and need no
stored trajectory.
"""

import numpy as np

from rnndyn._jit import jit, prange
from rnndyn.codes import NO_CLIP, NORM_CLIP, VALUE_CLIP  # noqa: F401
from rnndyn._kernels.activations import _act, _dact

# torch.nn.utils.clip_grad_norm_ divides by (norm + 1e-6); copied so that the
# clipped step equals PyTorch's to rounding, not only Algorithm 1 up to 1e-6/‖g‖.
NORM_CLIP_EPS = 1e-6


@jit(inline="always")
def _loss_grad(w, b, x0, n_steps, target, act):
    """L = (σ(x_T) − y)², x_t = w σ(x_{t-1}) + b, with ∂L/∂w and ∂L/∂b (forward mode).

    Returns (L, ∂L/∂w, ∂L/∂b, x_T) for one scalar (w, b).
    """
    x = x0
    dw = 0.0  # ∂x_t/∂w; x_0 does not depend on the parameters
    db = 0.0  # ∂x_t/∂b
    for _ in range(n_steps):
        s = _act(act, x)
        a = w * _dact(act, x)  # ∂x_t/∂x_{t-1}
        dw = s + a * dw
        db = 1.0 + a * db
        x = w * s + b
    e = _act(act, x) - target
    r = 2.0 * e * _dact(act, x)  # ∂L/∂x_T
    return e * e, r * dw, r * db, x


@jit(inline="always")
def _clip2(gw, gb, clip, threshold):
    """Clip the gradient (gw, gb) with threshold c: NORM_CLIP as torch's clip_grad_norm_,
    g·min(1, c/(‖g‖ + 1e-6)); VALUE_CLIP each component to [−c, c]; NO_CLIP unchanged.
    Returns (gw, gb, clipped)."""
    if clip == NORM_CLIP:
        coef = threshold / (np.sqrt(gw * gw + gb * gb) + NORM_CLIP_EPS)
        if coef < 1.0:
            return gw * coef, gb * coef, True
        return gw, gb, False
    if clip == VALUE_CLIP:
        cw = min(max(gw, -threshold), threshold)
        cb = min(max(gb, -threshold), threshold)
        return cw, cb, (cw != gw) or (cb != gb)
    return gw, gb, False


@jit(parallel=True)
def _surface_points(w, b, x0, n_steps, target, act, out):
    """out[i] = (L, ∂L/∂w, ∂L/∂b, x_T) at (w[i], b[i]).

    w, b: (n,); out: (n, 4), written in place.
    """
    for i in prange(w.shape[0]):
        L, gw, gb, xT = _loss_grad(w[i], b[i], x0, n_steps, target, act)
        out[i, 0] = L
        out[i, 1] = gw
        out[i, 2] = gb
        out[i, 3] = xT


@jit(parallel=True)
def _bisect_jumps(w0, b0, w1, b1, x0, n_steps, target, act, tol, pts, count, bracket):
    """Bisect segment k, (w0, b0)[k] → (w1, b1)[k], keeping the half where L changes more,
    until the bracket is ≤ tol long or K = pts.shape[1] midpoints are spent. Writes pts (n, K, 5)
    = midpoints (w, b, L, ∂L/∂w, ∂L/∂b), count (n,) = how many, and bracket (n, 4) = final
    (s_lo, s_hi, L(s_lo), L(s_hi)) with s ∈ [0, 1] along the segment."""
    K = pts.shape[1]
    for k in prange(w0.shape[0]):
        dw = w1[k] - w0[k]
        db = b1[k] - b0[k]
        length = np.sqrt(dw * dw + db * db)
        lo = 0.0
        hi = 1.0
        L_lo = _loss_grad(w0[k], b0[k], x0, n_steps, target, act)[0]
        L_hi = _loss_grad(w1[k], b1[k], x0, n_steps, target, act)[0]
        c = 0
        while (hi - lo) * length > tol and c < K:
            m = 0.5 * (lo + hi)
            wm = w0[k] + m * dw
            bm = b0[k] + m * db
            L, gw, gb, _ = _loss_grad(wm, bm, x0, n_steps, target, act)
            pts[k, c, 0] = wm
            pts[k, c, 1] = bm
            pts[k, c, 2] = L
            pts[k, c, 3] = gw
            pts[k, c, 4] = gb
            c += 1
            # the wall is where the loss jumps: follow the half that holds more of the change
            if abs(L - L_lo) >= abs(L_hi - L):
                hi = m
                L_hi = L
            else:
                lo = m
                L_lo = L
        count[k] = c  # count is float64 like every kernel array
        bracket[k, 0] = lo
        bracket[k, 1] = hi
        bracket[k, 2] = L_lo
        bracket[k, 3] = L_hi


@jit
def _descend(w0, b0, x0, n_steps, target, act, lr, clip, threshold, out):
    """Gradient descent θ ← θ − lr·clip(∇L(θ)), θ = (w, b), from each (w0[i], b0[i]).

    out (n, S+1, 5) gets, for iterates 0..S: w, b, L, ‖∇L‖ (before clipping), and 1.0 where
    the gradient there is clipped. A non-finite gradient leaves θ unchanged (no step).
    """
    S = out.shape[1] - 1
    for i in range(w0.shape[0]):
        w = w0[i]
        b = b0[i]
        for t in range(S + 1):
            L, gw, gb, _ = _loss_grad(w, b, x0, n_steps, target, act)
            cw, cb, clipped = _clip2(gw, gb, clip, threshold)
            out[i, t, 0] = w
            out[i, t, 1] = b
            out[i, t, 2] = L
            out[i, t, 3] = np.sqrt(gw * gw + gb * gb)
            out[i, t, 4] = 1.0 if clipped else 0.0
            if np.isfinite(cw) and np.isfinite(cb):
                w = w - lr * cw
                b = b - lr * cb
