"""``rnndyn gradflow``: gradient norms ‖∂x_T/∂x_k‖ for every lag along one trajectory."""

import click

from rnndyn.cli.options import (draw_if, CONTEXT_SETTINGS, build_inputs, build_model, build_x0,
                                cli_errors, common_options, emit, model_options, output_paths,
                                progress, provenance, save_outputs, trajectory_options)
from rnndyn.cli.types import AutoOrInt, Numbers, Span
from rnndyn._validate import InputError
from rnndyn.cli.depth import stack_options


def _fit(span, T):
    if span is None:
        return None
    lo, hi = span
    if not 0 <= lo < hi <= T:
        raise InputError(f"--fit must satisfy 0 <= FIRST < LAST <= --steps ({T}), "
                         f"got {lo}:{hi}")
    return lo, hi


def _delta(spec, rnn, seed):
    """δ_T from --delta: none, random (N(0,1), seeded) or a FILE.npy of shape (N,)."""
    import numpy as np
    from rnndyn.io import read_npy
    if spec == "none":
        return None
    if spec == "random":
        return np.random.default_rng(seed + 3).standard_normal(rnn.S)
    try:
        # never a pickle; δ_T is S numbers, so a bigger array is refused from its header
        arr = read_npy(spec, what="file", max_bytes=max(64 * rnn.S, 1 << 16))
    except InputError as exc:
        raise InputError(f"--delta: {exc}; use none, random or a .npy file of shape "
                         f"({rnn.S},)") from None
    if np.shape(arr) != (rnn.S,):
        raise InputError(f"--delta must have shape ({rnn.S},), got {np.shape(arr)}")
    return arr


@click.command(context_settings=CONTEXT_SETTINGS)
@model_options
@trajectory_options(steps=100, x0="random")
@click.option("--k-singular", type=Numbers(int, metavar="K1,K2,..."), default=None, help="Times k (comma-separated, 0..T) at which the "
              "top singular values of ∂x_T/∂x_k are computed.")
@click.option("--n-top", type=click.IntRange(min=1), default=3,
              help="How many singular values at each --k-singular.")
@click.option("--fit", type=Span(int), default=None, help="Lag window FIRST:LAST of the fitted rate "
              "[default: T//10:T, skipping the first tenth while singular vectors align].")
@click.option("--jacobian-stride", type=AutoOrInt(0), default="auto",
              help="ρ, σ_max, σ_min of every n-th one-step Jacobian J_t: an integer (1: every "
                   "step, 0: none) or 'auto' (every step up to T = 100, then a stride up to "
                   "128 that keeps their eig + SVD below the cost of the products).")
@click.option("--delta", default="none",
              help="Error vector δ_T = ∂E/∂x_T to transport back: none, random or FILE.npy.")
@stack_options
@common_options
@cli_errors
def gradflow(**opts):
    """Gradient flow through time: log ‖∂s_T/∂s_k‖₂ for every lag T − k.

    Runs the network from --x0 for --steps updates (x_0 … x_T), accumulates the
    products of the one-step Jacobians backwards with renormalisation (finite logs for
    any T), and fits the growth (> 0) or decay (< 0) rate per step. The bound
    ‖∂x_T/∂x_k‖ <= (γ λ1)^(T-k) is drawn for comparison (Pascanu et al. 2013; vanilla
    cells only). For --cell lstm the state is s = (h, c), 2N long, and the h→h and c→c
    blocks are reported too.

    The initial state defaults to a seeded random one, as for `rnndyn lyapunov` (the
    zero state of a bias-free network is a fixed point, whose rate is ln ρ(W)); a run
    that starts on a fixed point gets a warning on stderr. A state that overflows
    float64 (exploding relu or linear networks) is reported with the step, and no rate.

    With --out DIR, writes gradflow.npz/.json, gradflow.<format> and the network
    (gradflow.weights.npz) there; without it, nothing.

    --json prints {lag (0..T), log10_norm (log10 ‖∂x_T/∂x_{T-lag}‖₂, 0 at lag 0;
    null once the product is exactly zero), log10_frob, rate_per_step (natural log per
    step), rate_log10_per_step, fit_window [first, last], bound_rate_per_step (ln γλ1),
    finite, zero_product_lag, nonfinite_lag, states_finite, overflow_step (first step
    with a non-finite state, null if none; the lag arrays then end at the last finite
    state and rate_per_step is null), on_fixed_point (x_0 is a fixed point),
    warnings (list of text), unconverged_lags, sv_k, log10_sv, log10_delta (null without
    --delta), jacobian_stride (the stride used), jac_t, jac_spectral_radius, jac_max_sv,
    jac_min_sv, model, provenance, files}; for --cell lstm also log10_norm_hh
    (log10 ‖∂h_T/∂h_{T-lag}‖₂, c held fixed) and log10_norm_cc (log10 ‖∂c_T/∂c_{T-lag}‖₂).
    bound_rate_per_step is null for the gated cells.

    A stacked model (--layers L, --hidden N1,N2,…, --skip residual|dense, --bidirectional,
    or --weights of a stacked PyTorch module) prints {lag, log10_norm (the joint state of
    every layer), depth_log10_norm (L × (T+1): entry [l-1][lag] = log10
    ‖∂h^L_T/∂h^l_{T-lag}‖₂, for the LSTM h only with c^l held fixed), finite,
    states_finite, overflow_step, model, provenance, files}. A bidirectional stack
    (needs --n-inputs M > 0) prints instead {position (1..T), log10_norm_forward
    (log10 ‖∂h^{L,fwd}_T/∂u_t‖₂: from the top forward direction's last step),
    log10_norm_reverse (log10 ‖∂h^{L,rev}_1/∂u_t‖₂: from the top reverse direction's
    first step), log10_norm_both (of their concatenation), finite, states_finite,
    overflow_step, model, provenance, files}.
    """
    import numpy as np
    from rnndyn.figures.gradnorm_lag import plot_single
    from rnndyn.gradflow import gradient_flow
    T = opts["steps"]
    if T < 1:
        raise InputError(f"--steps must be >= 1, got {T}")
    paths = output_paths(opts["out"], "gradflow", opts["fmt"], opts["overwrite"])
    ks = list(opts["k_singular"] or ())
    for k in ks:
        if not 0 <= k <= T:
            raise InputError(f"--k-singular values must be in 0..{T} (--steps), got {k}")
    fit = _fit(opts["fit"], T)
    stride = opts["jacobian_stride"]
    from rnndyn.cli import depth
    if depth.wants_stack(opts):
        payload, lines = depth.run(opts, T, paths)
        emit(payload, as_json=opts["as_json"], quiet=opts["quiet"], lines=lines)
        return
    rnn = build_model(opts)
    x0 = build_x0(opts, rnn)
    u = build_inputs(opts, rnn)
    delta = _delta(opts["delta"], rnn, opts["seed"])
    quiet = opts["quiet"] or opts["as_json"]
    with progress(2, quiet=quiet, label="gradflow") as advance:
        res = gradient_flow(rnn, x0, T, u, k_singular=ks, n_top=opts["n_top"],
                            jacobian_stats=stride, delta_T=delta, fit=fit,
                            seed=opts["seed"])
        advance(1)
        fig = draw_if(paths, lambda: plot_single(res))
        advance(1)
    files = save_outputs(res, fig, paths, opts["overwrite"], opts)
    warnings = []
    if res.on_fixed_point:
        warnings.append("x0 is a fixed point (the state does not move): the rate is that "
                        "of the fixed point's Jacobian, not of a trajectory; try --x0 random")
    if res.overflow_step is not None:
        warnings.append(f"the state overflowed float64 at step {res.overflow_step}: no rate; "
                        f"the log norms end at the last finite state "
                        f"(step {res.overflow_step - 1})")
    ln10 = np.log(10.0)
    payload = {
        "lag": res.lag, "log10_norm": res.log10_norm, "log10_frob": res.log_frob / ln10,
        "rate_per_step": res.rate_per_step, "rate_log10_per_step": res.rate_per_step / ln10,
        "fit_window": res.fit_window, "bound_rate_per_step": res.bound_rate_per_step,
        "finite": res.finite, "zero_product_lag": res.zero_product_lag,
        "nonfinite_lag": res.nonfinite_lag, "states_finite": res.states_finite,
        "overflow_step": res.overflow_step, "on_fixed_point": res.on_fixed_point,
        "warnings": warnings, "jacobian_stride": res.meta["params"]["jacobian_stride"],
        "unconverged_lags": res.unconverged_lags, "sv_k": res.sv_k,
        "log10_sv": res.log_sv / ln10,
        "log10_delta": None if res.log_delta is None else res.log_delta / ln10,
        "jac_t": res.jac_t, "jac_spectral_radius": res.jac_spectral_radius,
        "jac_max_sv": res.jac_max_sv, "jac_min_sv": res.jac_min_sv,
        "model": rnn.describe(), "provenance": provenance(opts), "files": files}
    if rnn.cell == "lstm":
        payload["log10_norm_hh"] = res.log10_norm_hh
        payload["log10_norm_cc"] = res.log10_norm_cc
    lines = [f"gradflow: {rnn.label}, N = {rnn.N}, T = {T}"]
    if res.overflow_step is None:
        lines += [f"  log10 ‖∂x_T/∂x_0‖₂ = {res.log10_norm[-1]:.6g}",
                  f"  rate per step (ln) = {res.rate_per_step:.6g} over lags "
                  f"{res.fit_window[0]}..{res.fit_window[1]}; bound ln(γλ1) = "
                  f"{res.bound_rate_per_step:.6g}"]
    else:
        s = res.overflow_step - 1
        lines += [f"  the state overflowed float64 at step {res.overflow_step} (x_t not "
                  f"finite): no rate (the trajectory after it is not a number)",
                  f"  valid part: x_0 … x_{s}; log10 ‖∂x_{s}/∂x_0‖₂ = {res.log10_norm[s]:.6g}",
                  f"  rate per step (ln) = undefined; bound ln(γλ1) = "
                  f"{res.bound_rate_per_step:.6g}"]
    if res.on_fixed_point:
        lines.append("  x0 is a fixed point: the rate is the fixed point's, not a "
                     "trajectory's")
    if res.zero_product_lag >= 0:
        lines.append(f"  the product is exactly zero from lag {res.zero_product_lag} "
                     "(log norm -inf)")
    if not res.finite:
        lines.append("  not every quantity is finite (see finite, zero_product_lag, "
                     "nonfinite_lag, states_finite, overflow_step in the .json)")
    lines += [f"wrote {f}" for f in files]
    for w in warnings:
        click.echo(f"Warning: {w}", err=True)
    emit(payload, as_json=opts["as_json"], quiet=opts["quiet"], lines=lines)
