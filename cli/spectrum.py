"""``rnndyn spectrum``: ρ(W), λ1(W) and the paper's vanishing/exploding conditions."""

import click

from rnndyn.cli.options import (draw_if, CONTEXT_SETTINGS, build_model, cli_errors, common_options, emit,
                                model_options, output_paths, save_outputs, provenance)

KEYS = ("spectral_radius", "max_singular_value", "min_singular_value", "gamma", "threshold",
        "vanishing_guaranteed", "exploding_possible", "criterion",
        "linear_vanishing_guaranteed", "linear_exploding_possible", "linear_statement",
        "transient_growth", "henrici_departure", "transient_peak", "transient_peak_k",
        "log_transient_peak", "activation")


@click.command(context_settings=CONTEXT_SETTINGS)
@model_options
@click.option("--max-power", type=click.IntRange(min=0), default=100,
              help="Also compute ‖W^k‖₂ for k <= K, the transient growth of a non-normal W "
                   "(one N×N product per k; 0: skip).")
@common_options
@cli_errors
def spectrum(**opts):
    """Spectrum of W and what it implies for gradients (Pascanu et al. 2013, §2.1).

    λ1 (largest singular value) < 1/γ guarantees vanishing gradients; λ1 > 1/γ is
    necessary for exploding ones (γ = 1 for tanh, relu, linear; 1/4 for sigmoid). The
    linear case is stated separately in terms of the spectral radius ρ; a non-normal W
    with ρ < 1 < λ1 is flagged as transient growth.

    With --out DIR, writes spectrum.npz/.json and spectrum.<format> there; without it,
    nothing.

    --json prints {spectral_radius, max_singular_value, min_singular_value, gamma,
    threshold (1/γ), vanishing_guaranteed, exploding_possible, criterion (text),
    linear_vanishing_guaranteed (ρ < 1), linear_exploding_possible (ρ > 1),
    linear_statement, transient_growth (ρ < 1 < λ1), henrici_departure (0 for normal W),
    transient_peak (max ‖W^k‖ for k <= K; null beyond 1e308), transient_peak_k,
    log_transient_peak (its natural log, always finite), activation, model, provenance
    (what the result came from: network, command line, version), files}.
    """
    from rnndyn.figures.spectrum import plot_spectrum
    from rnndyn.spectra import spectrum as run
    paths = output_paths(opts["out"], "spectrum", opts["fmt"], opts["overwrite"])
    rnn = build_model(opts)
    res = run(rnn, max_power=opts["max_power"])
    fig = draw_if(paths, lambda: plot_spectrum(res))
    files = save_outputs(res, fig, paths, opts["overwrite"], opts)
    payload = res.to_dict(arrays=False, meta=False)
    payload.update(model=rnn.describe(), provenance=provenance(opts), files=files)
    lines = [f"ρ = {res.spectral_radius:.6g}, λ1 = {res.max_singular_value:.6g}, "
             f"γ = {res.gamma:g}", f"  {res.criterion}", f"  {res.linear_statement}"]
    if opts["max_power"]:
        import math
        peak = (f"{res.transient_peak:.6g}" if math.isfinite(res.transient_peak) else
                f"10^{res.log_transient_peak / math.log(10.0):.6g}")
        lines.append(f"  max ‖W^k‖₂ for k <= {opts['max_power']}: "
                     f"{peak} at k = {res.transient_peak_k}")
    lines += [f"wrote {f}" for f in files]
    emit(payload, as_json=opts["as_json"], quiet=opts["quiet"], lines=lines)
