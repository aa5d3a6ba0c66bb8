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
    was drawn. A --weights file that holds a readout (``rnndyn train --out DIR`` writes
    DIR/train.weights.npz) keeps it: V and c are saved again beside the network.

    Without --out nothing is written: the summary (N, ρ(W), λ1(W)) is printed.

    --json prints {cell, N, M, activation, form, spectral_radius, max_singular_value,
    provenance, files}; for a gated --cell, spectral_radius and max_singular_value are
    null and gate_spectral_radius, gate_max_singular_value give them per recurrent gate
    block ({"i": …, "f": …, "g": …, "o": …} for the LSTM, r, z, n for the GRU). A
    --weights file may also be a PyTorch state dict (.pt, or .npz with its keys).
    """
    import os

    import numpy as np

    from rnndyn.io import atomic_write_json, file_sha256
    from rnndyn.models import load_with_readout, save_weights
    out = opts["out"]
    if out is not None and str(out).endswith(".npz"):
        # --out w.npz names the file itself (folder: its parent)
        folder, name = os.path.split(str(out)[:-len(".npz")])
        paths = output_paths(folder or ".", name, opts["fmt"], opts["overwrite"])
    else:
        paths = output_paths(out, "weights", opts["fmt"], opts["overwrite"])
    from rnndyn.cells import GATE_NAMES
    rnn = build_model(opts)
    # a trained file's readout (V, c) travels with its network: re-saving with another
    # --activation/--form must not make it untrainable from where it stopped
    readout = load_with_readout(opts["weights"])[1] if opts.get("weights") else None
    # each recurrent (gate) block of W: the vanilla W itself, or W_i, W_f, ... stacked
    N = rnn.N
    blocks = {g: rnn.W[i * N:(i + 1) * N] for i, g in enumerate(GATE_NAMES[rnn.cell])}
    rho = {g: float(np.max(np.abs(np.linalg.eigvals(B)))) for g, B in blocks.items()}
    sv = {g: float(np.linalg.norm(B, 2)) for g, B in blocks.items()}
    payload = {"cell": rnn.cell, "N": rnn.N, "M": rnn.M, "activation": rnn.activation,
               "form": rnn.form}
    if rnn.cell == "vanilla":
        payload.update(spectral_radius=rho[""], max_singular_value=sv[""])
    else:
        payload.update(spectral_radius=None, max_singular_value=None,
                       gate_spectral_radius=rho, gate_max_singular_value=sv)
    payload["provenance"] = provenance(opts)
    files = []
    if paths is not None:
        files.append(save_weights(rnn, paths["data"], overwrite=opts["overwrite"],
                                  readout=readout))
        record = dict(payload, file=os.path.basename(paths["data"]),
                      sha256=file_sha256(paths["data"]))
        files.append(atomic_write_json(paths["meta"], record, overwrite=opts["overwrite"]))
    payload["files"] = files
    if rnn.cell == "vanilla":
        lines = [f"N = {rnn.N}, M = {rnn.M}, {rnn.activation}, {rnn.form} form: "
                 f"ρ(W) = {payload['spectral_radius']:.6g}, "
                 f"λ1(W) = {payload['max_singular_value']:.6g}"]
    else:
        lines = [f"N = {rnn.N}, M = {rnn.M}, {rnn.cell}: " + ", ".join(
            f"ρ(W_{g}) = {rho[g]:.4g}, λ1(W_{g}) = {sv[g]:.4g}" for g in blocks)]
    lines += [f"wrote {f}" for f in files]
    emit(payload, as_json=opts["as_json"], quiet=opts["quiet"], lines=lines)
