"""Update rules for training: clipping, SGD with momentum, the named methods, α(t).

All functions work on the flat gradient vector of every parameter (W, U, b, V, c
concatenated), so "the global norm" is simply the norm of that vector.
"""

import numpy as np

from rnndyn._validate import as_choice, as_float, InputError

CLIPS = ("none", "norm", "value")
# Pascanu et al. (2013), §5: SGD, SGD with norm clipping, and SGD-C plus the regulariser Ω
METHODS = {"sgd": ("none", False), "sgd-c": ("norm", False), "sgd-cr": ("norm", True)}
ALPHA_SCHEDULES = ("constant", "1/t")
# torch.nn.utils.clip_grad_norm_ divides by (norm + 1e-6); kept so results agree with it
CLIP_EPS = 1e-6


def method_settings(method):
    """(clip, uses_regulariser) of a named method: sgd, sgd-c, sgd-cr."""
    return METHODS[as_choice(method, "method", tuple(METHODS))]


def clip_norm(g, threshold):
    """Algorithm 1 of Pascanu et al. (2013): rescale ``g`` in place if its norm is too large.

    Parameters
    ----------
    g : ndarray
        The flat gradient of all parameters (modified in place).
    threshold : float

    Returns
    -------
    norm : float
        ‖g‖₂ before clipping.
    clipped : bool

    Notes
    -----
    ĝ ← threshold · ĝ / ‖ĝ‖ when ‖ĝ‖ ≥ threshold. The coefficient is computed as in
    ``torch.nn.utils.clip_grad_norm_``: c = threshold / (‖g‖ + 1e-6), applied when c < 1,
    so both give the same numbers. A non-finite norm leaves ``g`` as it is (the caller
    skips the step).
    """
    norm = float(np.sqrt(np.dot(g, g)))
    if not np.isfinite(norm):
        return norm, False
    coef = threshold / (norm + CLIP_EPS)
    if coef < 1.0:
        g *= coef
        return norm, True
    return norm, False


def clip_value(g, threshold):
    """Element-wise clipping to [-threshold, threshold] in place (Mikolov's variant).

    Returns (‖g‖₂ before clipping, whether any element was clipped); same rule as
    ``torch.nn.utils.clip_grad_value_``.
    """
    norm = float(np.sqrt(np.dot(g, g)))
    if not np.isfinite(norm):
        return norm, False
    clipped = bool(np.any(np.abs(g) > threshold))
    if clipped:
        np.clip(g, -threshold, threshold, out=g)
    return norm, clipped


def clip(g, kind, threshold):
    """Dispatch to :func:`clip_norm`, :func:`clip_value` or nothing ('none')."""
    if kind == "norm":
        return clip_norm(g, threshold)
    if kind == "value":
        return clip_value(g, threshold)
    return float(np.sqrt(np.dot(g, g))), False


def sgd_step(theta, g, lr, momentum=0.0, buf=None):
    """θ ← θ - lr·v with v = μ v + g (the convention of ``torch.optim.SGD``), in place.

    ``buf`` holds v between steps (needed when ``momentum`` > 0).
    """
    if momentum:
        if buf is None:
            raise InputError("sgd_step with momentum needs buf (the velocity, same shape)")
        buf *= momentum
        buf += g
        theta -= lr * buf
    else:
        theta -= lr * g


def alpha_at(alpha, schedule, t, tau):
    """Regulariser weight at update t (0-based): α (constant) or α τ / (τ + t) ('1/t')."""
    if schedule == "constant":
        return alpha
    return alpha * tau / (tau + t)


def check_schedule(schedule, tau):
    """Validate an α schedule name and its time constant τ (> 0)."""
    return (as_choice(schedule, "alpha_schedule", ALPHA_SCHEDULES),
            as_float(tau, "alpha_tau", minimum=0.0, strict_minimum=True))
