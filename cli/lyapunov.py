"""``rnndyn lyapunov``: the Lyapunov spectrum of an RNN (QR method)."""

import click

from rnndyn.cli.options import (draw_if, CONTEXT_SETTINGS, cli_errors, common_options, emit,
                                model_options, output_paths, save_outputs, trajectory_options, provenance)
from rnndyn._validate import InputError
from rnndyn.cli.types import AutoOrInt


@click.command(context_settings=CONTEXT_SETTINGS)
@model_options
@trajectory_options(steps=1000, x0="random")
@click.option("--transient", type=int, default=100,
              help="Steps run before averaging (their growth is discarded).")
@click.option("--k", "k", type=int, default=None,
              help="Number of exponents (the top k) [default: all N].")
@click.option("--reortho", type=AutoOrInt(1), default="auto",
              help="Steps between QR re-orthonormalisations: an integer (1 = every step) "
                   "or 'auto' (adaptive, keeps the rounding error of each block below 1e-8).")
@click.option("--window", type=int, default=None,
              help="Also compute finite-time exponents over windows of this many steps.")
@click.option("--threads", type=click.IntRange(1, 2), default=None,
              help="1 or 2: threads for the full spectrum's split method (its two parts "
                   "run at the same time) [default: 2 if this process may use two cores].")
@common_options
@cli_errors
def lyapunov(**opts):
    """Lyapunov exponents (natural log per step) of the RNN along a trajectory of
    --steps updates after --transient, by the QR (Benettin) method.

    λ_i > 0: perturbations, and gradients through that many steps, grow like
    e^{λ_i t}; λ_i < 0: they vanish. -inf marks directions that are annihilated
    exactly (σ' = 0). The initial state defaults to a seeded random one (the zero
    state of a bias-free network is a fixed point).

    With --out DIR, writes lyapunov.npz/.json, lyapunov.<format> (convergence and
    spectrum) and the network (lyapunov.weights.npz) there, with --window also
    lyapunov-finite-time.npz/.json; without --out, nothing.

    For --cell lstm the exponents are those of the full state s = (h, c): 2N of them.

    --json prints {exponents (descending), sum, kaplan_yorke_dimension,
    n_positive, n_steps, transient, k, reortho, mean_interval,
    rounding_error_estimate, split (bottom exponents from J^-T; 0 = none), threads,
    finite_time (null, or {window, n_windows, mean,
    std} of the top exponent), model, provenance (network, x0, inputs, command line, version), files}.
    """
    import os
    from rnndyn.cli.options import build_inputs, build_model, build_x0, progress
    from rnndyn.figures import lyap_convergence as recipe
    from rnndyn.io import check_target
    from rnndyn.lyapunov import finite_time_exponents, lyapunov_spectrum
    paths = output_paths(opts["out"], "lyapunov", opts["fmt"], opts["overwrite"])
    ft_stem = os.path.join(opts["out"] or "", "lyapunov-finite-time")
    if opts["window"] is not None and paths is not None:
        for ext in (".npz", ".json"):
            check_target(ft_stem + ext, opts["overwrite"])
    reortho = opts["reortho"]
    rnn = build_model(opts)
    x0 = build_x0(opts, rnn)
    steps, transient = opts["steps"], opts["transient"]
    if not isinstance(transient, int) or transient < 0:
        raise InputError(f"--transient must be >= 0, got {transient}")
    if not isinstance(steps, int) or steps < 1:
        raise InputError(f"--steps must be >= 1, got {steps}")
    if opts["k"] is not None and not 1 <= opts["k"] <= rnn.S:
        size = f"N = {rnn.S}" if rnn.S == rnn.N else f"the state size 2N = {rnn.S}"
        raise InputError(f"--k must be between 1 and {size}, got {opts['k']}")
    if opts["window"] is not None and not 1 <= opts["window"] <= steps:
        raise InputError(f"--window must be between 1 and --steps = {steps}, "
                         f"got {opts['window']}")
    u = build_inputs(dict(opts, steps=transient + steps), rnn)
    u = None if opts["inputs"] == "none" else u
    quiet = opts["quiet"] or opts["as_json"]
    ft = None
    with progress(3, quiet=quiet, label="lyapunov") as advance:
        result = lyapunov_spectrum(rnn, x0, steps, k=opts["k"], transient=transient,
                                   reortho=reortho, inputs=u, seed=opts["seed"],
                                   threads=opts["threads"])
        advance(1)
        if opts["window"] is not None:
            ft = finite_time_exponents(rnn, x0, steps, opts["window"], k=1,
                                       transient=transient, reortho=reortho, inputs=u,
                                       seed=opts["seed"])
        advance(1)
        fig = draw_if(paths, lambda: recipe.plot(result, finite_time=ft))
        advance(1)
    files = save_outputs(result, fig, paths, opts["overwrite"], opts)
    ft_info = None
    if ft is not None:
        if paths is not None:
            files.extend(ft.save(ft_stem, overwrite=opts["overwrite"]))
        ft_info = {"window": ft.window, "n_windows": int(ft.exponents.shape[0]),
                   "mean": float(ft.mean[0]), "std": float(ft.std[0])}
    meta = result.meta
    payload = result.to_dict(arrays=("exponents",), meta=False)
    payload.update({"k": int(result.exponents.size), "reortho": reortho,
                    "mean_interval": meta["mean_interval"],
                    "rounding_error_estimate": meta["rounding_error_estimate"],
                    "split": int(meta.get("split", 0)), "threads": meta["params"]["threads"],
                    "finite_time": ft_info, "model": rnn.describe(),
                    "provenance": provenance(opts), "files": files})
    lam = result.exponents
    shown = ", ".join(f"{v:.4f}" for v in lam[:5]) + (", …" if lam.size > 5 else "")
    lines = [f"λ (nats/step, top {min(5, lam.size)} of {lam.size}): {shown}",
             f"sum {result.sum:.4f}   Kaplan–Yorke dimension "
             f"{result.kaplan_yorke_dimension:.3f}   positive {result.n_positive}"]
    if ft_info:
        lines.append(f"finite-time λ₁ over {ft_info['window']} steps: mean "
                     f"{ft_info['mean']:.4f}, std {ft_info['std']:.4f} "
                     f"({ft_info['n_windows']} windows)")
    lines += [f"wrote {f}" for f in files]
    emit(payload, as_json=opts["as_json"], quiet=opts["quiet"], lines=lines)
