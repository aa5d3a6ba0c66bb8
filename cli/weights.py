"""``rnndyn weights``: write a network from an initialiser to a weights file."""

import click

from rnndyn.cli.options import (CONTEXT_SETTINGS, build_model, cli_errors, common_options,
                                emit, model_options, output_paths, provenance)

@click.command(context_settings=CONTEXT_SETTINGS)
@model_options
@common_options
@cli_errors
def weights(**opts):
    """Draw a network from --init/--n/--gain/--seed (or re-save --weights with another
    --activation/--form) and write it as DIR/weights.npz (or, with --out FILE.npz, as
    that file), the file every command's --weights reads; a .json beside it says how it
    was drawn.

    Without --out nothing is written: the summary (N, ρ(W), λ1(W)) is printed.

    --json prints {N, M, activation, form, spectral_radius, max_singular_value,
    provenance, files}.
    """
    import os

    import numpy as np

    from rnndyn.io import atomic_write_json, file_sha256
    from rnndyn.models import save_weights
    out = opts["out"]
    if out is not None and str(out).endswith(".npz"):
        # --out w.npz names the file itself (folder: its parent)
        folder, name = os.path.split(str(out)[:-len(".npz")])
        paths = output_paths(folder or ".", name, opts["fmt"], opts["overwrite"])
    else:
        paths = output_paths(out, "weights", opts["fmt"], opts["overwrite"])
    rnn = build_model(opts)
    payload = {"N": rnn.N, "M": rnn.M, "activation": rnn.activation, "form": rnn.form,
               "spectral_radius": float(np.max(np.abs(np.linalg.eigvals(rnn.W)))),
               "max_singular_value": float(np.linalg.norm(rnn.W, 2)),
               "provenance": provenance(opts)}
    files = []
    if paths is not None:
        files.append(save_weights(rnn, paths["data"], overwrite=opts["overwrite"]))
        record = dict(payload, file=os.path.basename(paths["data"]),
                      sha256=file_sha256(paths["data"]))
        files.append(atomic_write_json(paths["meta"], record, overwrite=opts["overwrite"]))
    payload["files"] = files
    lines = [f"N = {rnn.N}, M = {rnn.M}, {rnn.activation}, {rnn.form} form: "
             f"ρ(W) = {payload['spectral_radius']:.6g}, "
             f"λ1(W) = {payload['max_singular_value']:.6g}"]
    lines += [f"wrote {f}" for f in files]
    emit(payload, as_json=opts["as_json"], quiet=opts["quiet"], lines=lines)
