"""Options shared by the commands, and the plumbing every command uses:
error handling (one line, exit 2), output paths, JSON output and progress."""

import contextlib
import functools
import os
import sys

import click
from rnndyn._validate import InputError

CONTEXT_SETTINGS = dict(help_option_names=["-h", "--help"], show_default=True,
                        max_content_width=100)

ACTIVATIONS = ("tanh", "sigmoid", "relu", "linear")
FORMS = ("pascanu", "elman")
CELLS = ("vanilla", "lstm", "gru")
INITS = ("gaussian", "orthogonal", "identity", "sparse", "sigmoid", "basic-tanh", "smart-tanh",
         "pytorch")
FORMATS = ("png", "pdf", "svg")

#: the command line of this run, set by the ``rnndyn`` group (``LazyGroup.main``)
COMMAND_LINE = []


def _stack(*decorators):
    def apply(f):
        for d in reversed(decorators):
            f = d(f)
        return f
    return apply


def common_options(f):
    """--seed, --out, --format, --json, --quiet, --overwrite."""
    return _stack(
        click.option("--seed", type=click.IntRange(min=0), default=0,
                     help="Seed for every random choice (weights, x0, inputs)."),
        click.option("--out", "out", type=click.Path(), default=None,
                     help="Folder for the data (.npz + .json) and the figure. Without it "
                          "nothing is written and no figure is drawn."),
        click.option("--format", "fmt", type=click.Choice(FORMATS), default="png",
                     help="Figure file format."),
        click.option("--json", "as_json", is_flag=True,
                     help="Print one JSON object on stdout (keys: see -h text above; "
                          "non-finite numbers are null)."),
        click.option("--quiet", is_flag=True, help="No progress bar and no summary."),
        click.option("--overwrite", is_flag=True, help="Replace existing output files."),
    )(f)


def model_options(f=None, *, n=50, gain=1.0):
    """--weights or a random model (--cell, --n, --activation, --form, --init, --gain,
    --forget-bias, --n-inputs).

    Use as ``@model_options``, or ``@model_options(n=2, gain=2.0)`` for a command
    whose natural model has other defaults.
    """
    decorate = _stack(
        click.option("--weights", type=click.Path(dir_okay=False), default=None,
                     help="Weights file: rnndyn's .npz (W and optional U, b, activation, "
                          "form, cell), or a PyTorch state dict of nn.RNN/LSTM/GRU(Cell) as "
                          ".pt or .npz (cell inferred); overrides --cell/--n/--init/--gain."),
        click.option("--cell", type=click.Choice(CELLS, case_sensitive=False),
                     default="vanilla",
                     help="Recurrent cell: vanilla (see --form), lstm (state (h, c), 2N) or "
                          "gru, with PyTorch's equations."),
        click.option("--n", "n", type=int, default=n, help="Number of (hidden) units N."),
        click.option("--activation", type=click.Choice(ACTIVATIONS, case_sensitive=False),
                     default=None, help="Activation [default: tanh, or the file's]."),
        click.option("--form", type=click.Choice(FORMS, case_sensitive=False), default=None,
                     help="Update form: pascanu x=Wσ(x)+Uu+b or elman h=σ(Wh+Uu+b) "
                          "[default: pascanu, or the file's]."),
        click.option("--init", type=click.Choice(INITS, case_sensitive=False),
                     default="gaussian",
                     help="Initialiser of the random model (gated cells: gaussian, "
                          "orthogonal or pytorch, PyTorch's default U(-g/√N, g/√N))."),
        click.option("--gain", type=float, default=gain,
                     help="Gain g: W ~ N(0, g²/N), g×orthogonal, g×I, or the sparse radius."),
        click.option("--forget-bias", default="0",
                     help="Gated cells: a number added to the LSTM forget-gate bias (the "
                          "GRU's update-gate bias), or 'chrono' (Tallec & Ollivier 2018, "
                          "with --chrono-t-max)."),
        click.option("--chrono-t-max", type=float, default=None,
                     help="T_max of --forget-bias chrono: b_f ~ log U(1, T_max - 1)."),
        click.option("--n-inputs", type=int, default=0, help="Number of inputs M."),
    )
    return decorate if f is None else decorate(f)


def trajectory_options(steps=100, x0="zero"):
    """--steps, --x0, --inputs, --input-scale with per-command defaults."""
    return _stack(
        click.option("--steps", type=int, default=steps, help="Number of updates T."),
        click.option("--x0", default=x0,
                     help="Initial state: zero, random (N(0,1), seeded), N comma-separated "
                          "numbers, or a FILE.npy of shape (N,)."),
        click.option("--inputs", type=click.Choice(("none", "gaussian", "uniform")),
                     default="none", help="Input sequence u_t (needs --n-inputs > 0)."),
        click.option("--input-scale", type=float, default=1.0,
                     help="Std (gaussian) or half-width (uniform) of the inputs."),
    )


def _note(opts, key, value):
    """Record where a part of the computation came from (see :func:`provenance`)."""
    opts.setdefault("_provenance", {})[key] = value


def provenance(opts):
    """Everything a command's result needs to be recomputed, JSON-able.

    ``command``: the command line; ``network``: the initialiser, N, M, gain,
    activation, form and seed of a random model, or the weights file with its
    sha256; ``x0`` and ``inputs``: how they were drawn (or the file); the rnndyn
    version. The result's ``.json`` keeps it under ``meta['provenance']``.
    """
    import shlex
    from rnndyn import __version__
    record = {"rnndyn_version": __version__,
              "command": shlex.join(COMMAND_LINE or ["rnndyn", *sys.argv[1:]]),
              "seed": opts.get("seed")}
    record.update({k: v for k, v in opts.get("_provenance", {}).items()
                   if not k.startswith("_")})
    return record


def build_model(opts):
    """The RNN named by the model options (a weights file or a seeded random model)."""
    from rnndyn.io import file_sha256
    from rnndyn.models import RNN, load_weights, make_rnn
    if opts.get("weights"):
        rnn = load_weights(opts["weights"])
        if opts.get("activation") or opts.get("form"):
            rnn = RNN(rnn.W, rnn.U, rnn.b, opts.get("activation") or rnn.activation,
                      opts.get("form") or rnn.form, cell=rnn.cell)
        network = {"weights": os.path.abspath(opts["weights"]),
                   "sha256": file_sha256(opts["weights"])}
        # what the file says of itself (e.g. a PyTorch module and its source dtype)
        network.update({k: v for k, v in (rnn.origin or {}).items() if k not in network})
    else:
        network = {"init": opts.get("init", "gaussian"), "n": opts["n"],
                   "n_inputs": opts.get("n_inputs", 0), "gain": opts.get("gain", 1.0),
                   "seed": opts.get("seed", 0)}
        cell = opts.get("cell") or "vanilla"
        gated = {}
        if cell != "vanilla":
            if opts.get("activation") or opts.get("form"):
                raise InputError(f"--activation/--form apply to the vanilla cell; the {cell} "
                                 "cell has sigmoid gates and a tanh candidate")
            gated = {"cell": cell, "forget_bias": _forget_bias(opts.get("forget_bias", 0.0)),
                     "chrono_t_max": opts.get("chrono_t_max")}
            network.update(gated)
        elif _forget_bias(opts.get("forget_bias", 0.0)) != 0.0 or opts.get("chrono_t_max"):
            raise InputError("--forget-bias/--chrono-t-max apply to the gated cells "
                             "(--cell lstm or gru)")
        rnn = make_rnn(opts["n"], n_inputs=opts.get("n_inputs", 0),
                       activation=opts.get("activation") or "tanh",
                       form=opts.get("form") or "pascanu", init=network["init"],
                       gain=network["gain"], seed=network["seed"], **gated)
    network.update(N=rnn.N, M=rnn.M, cell=rnn.cell)
    if rnn.cell == "vanilla":
        network.update(activation=rnn.activation, form=rnn.form)
    _note(opts, "network", network)
    _note(opts, "_rnn", rnn)
    return rnn


def _forget_bias(value):
    """--forget-bias: a number, or 'chrono'."""
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip().lower()
    if text == "chrono":
        return "chrono"
    try:
        return float(text)
    except ValueError:
        raise InputError(f"--forget-bias must be a number or 'chrono', got {value!r}") from None


def _numbers_or_none(text):
    """The floats of 'a,b,...', or None when ``text`` is not such a list (a file name)."""
    import numpy as np
    try:
        return np.array([float(v) for v in str(text).split(",")])
    except ValueError:
        return None


def build_x0(opts, rnn):
    """x0 from --x0: 'zero', 'random' (seeded), N comma-separated numbers, or a .npy
    file (read by rnndyn.io.read_npy)."""
    from rnndyn.simulate import initial_state
    spec = opts.get("x0", "zero")
    if spec in ("zero", "random"):
        # the seed is shifted so x0 is not correlated with the weights' draw
        x0 = initial_state(rnn, spec, seed=opts.get("seed", 0) + 1)
        _note(opts, "x0", {"kind": spec, "seed": opts.get("seed", 0) + 1, "values": x0})
        return x0
    numbers = _numbers_or_none(spec)
    if numbers is not None:
        try:
            x0 = initial_state(rnn, numbers)
        except InputError as exc:
            raise InputError(f"--x0 {spec}: {exc}") from None
        _note(opts, "x0", {"kind": "values", "values": x0})
        return x0
    from rnndyn.io import read_npy
    hint = (f"use zero, random, {rnn.S} comma-separated numbers or a .npy file of shape "
            f"({rnn.S},)")
    if not os.path.lexists(spec):
        raise InputError(f"--x0: cannot read {spec}: no such file; {hint}")
    try:
        # never a pickle; an x0 is N numbers, so a bigger array is refused from its header
        arr = read_npy(spec, what="file", max_bytes=max(64 * rnn.S, 1 << 16))
    except InputError as exc:
        raise InputError(f"--x0: {exc}; {hint}") from None
    try:
        x0 = initial_state(rnn, arr)
    except InputError as exc:
        raise InputError(f"--x0 {spec}: {exc}") from None
    from rnndyn.io import file_sha256
    _note(opts, "x0", {"kind": "file", "file": os.path.abspath(spec),
                       "sha256": file_sha256(spec), "values": x0})
    return x0


def build_inputs(opts, rnn):
    """u_1..u_T from --inputs/--input-scale (seeded)."""
    from rnndyn.inputs import make_inputs
    kind = opts.get("inputs", "none")
    if kind != "none" and rnn.M == 0:
        raise InputError("--inputs needs a model with inputs: pass --n-inputs M > 0 "
                         "or a weights file with U")
    spec = {"kind": kind, "steps": opts["steps"], "M": rnn.M,
            "scale": opts.get("input_scale", 1.0), "seed": opts.get("seed", 0) + 2}
    _note(opts, "inputs", spec)
    return make_inputs(kind, spec["steps"], rnn.M, scale=spec["scale"], seed=spec["seed"])


def cli_errors(f=None, *, interruptible=True):
    """Turn bad input (:class:`rnndyn.InputError`) into 'Error: …' on stderr and exit
    status 2. Every other exception is a bug in rnndyn and keeps its traceback.

    With ``interruptible`` (the default) the command body runs in a worker thread
    (:func:`run_interruptible`), so Ctrl-C stops even a long numba kernel at once.
    """
    def decorate(body):
        @functools.wraps(body)
        def wrapper(*args, **kwargs):
            try:
                if interruptible:
                    return run_interruptible(body, *args, **kwargs)
                return body(*args, **kwargs)
            except InputError as exc:
                msg = " ".join(str(exc).split()) or type(exc).__name__
                click.echo(f"Error: {msg}", err=True)
                sys.exit(2)
        return wrapper
    return decorate if f is None else decorate(f)


#: seconds between two looks of the main thread at a running command (Ctrl-C latency)
POLL_SECONDS = 0.05


def run_interruptible(body, *args, **kwargs):
    """``body(*args, **kwargs)`` in a daemon thread, the main thread waiting for it.

    Why: a numba kernel holds the main thread for as long as it runs, and Python runs
    signal handlers only between bytecodes of the main thread, so Ctrl-C waited for the
    kernel to end (40 s and more). The kernels release the GIL (``nogil=True``), so the
    waiting main thread sees SIGINT within :data:`POLL_SECONDS`. It then removes the
    temporary files of writes in flight (no partial output: final names are only ever
    complete files), prints one line and leaves with status 130, without waiting for
    the kernel.
    """
    import threading
    box = {}

    def target():
        try:
            box["value"] = body(*args, **kwargs)
        except BaseException as exc:  # re-raised in the main thread, as if run there
            box["error"] = exc

    worker = threading.Thread(target=target, name="rnndyn-command", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(POLL_SECONDS)
    except KeyboardInterrupt:
        from rnndyn.io import discard_pending_writes
        discard_pending_writes()
        click.echo("Interrupted: nothing was written.", err=True)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    if "error" in box:
        raise box["error"]
    return box.get("value")


def output_paths(out, stem, fmt, overwrite):
    """Paths of a command's data and figure, or None without ``--out``.

    Checked before computing: an existing file (without --overwrite) and a folder
    that cannot be created or written are errors now, not after the work.
    """
    from rnndyn.io import check_target
    if out is None:
        return None
    if not str(out).strip():
        raise InputError("--out: empty folder name; give a folder, or leave --out out "
                         "to write nothing")
    paths = {"data": os.path.join(out, stem + ".npz"),
             "meta": os.path.join(out, stem + ".json"),
             "figure": os.path.join(out, f"{stem}.{fmt}"),
             "weights": os.path.join(out, stem + ".weights.npz")}
    for p in paths.values():
        check_target(p, overwrite)
    # the folder is made only when there is something to write; check now that it can be
    parent = os.path.abspath(out)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"--out: cannot write into {out} ({parent} is not a "
                              "writable folder)")
    return paths


def draw_if(paths, make):
    """``make()`` (a figure) in the house style when there is somewhere to save it."""
    if paths is None:
        return None
    from rnndyn.figures.style import style_context
    with style_context():
        return make()


def save_figure(fig, path, overwrite):
    """Save a matplotlib Figure atomically (format from the extension)."""
    from rnndyn.io import atomic_write
    fmt = os.path.splitext(path)[1].lstrip(".")
    atomic_write(path, lambda fobj: fig.savefig(fobj, format=fmt, bbox_inches="tight"),
                 overwrite=overwrite)
    return path


def save_outputs(result, fig, paths, overwrite, opts=None):
    """Save the result's data and its figure; return the list of files written
    (empty without ``--out``).

    With ``opts`` (the command's options), the result's ``meta['provenance']`` gets
    :func:`provenance`, and the network is saved beside the result as
    ``<stem>.weights.npz`` (its sha256 in the provenance), which ``--weights`` reads.
    """
    if paths is None:
        return []
    written = []
    if opts is not None:
        record = provenance(opts)
        rnn = opts.get("_provenance", {}).get("_rnn")
        if rnn is not None:
            from rnndyn.io import file_sha256
            from rnndyn.models import save_weights
            from rnndyn.stack import Stack, save_stack
            save = save_stack if isinstance(rnn, Stack) else save_weights
            # a trained network keeps its readout (rnndyn.models.load_with_readout)
            readout = opts["_provenance"].get("_readout")
            wpath = save(rnn, paths["weights"], overwrite=overwrite,
                         **({} if readout is None else {"readout": readout}))
            record["network"] = dict(record["network"], saved=os.path.basename(wpath),
                                     saved_sha256=file_sha256(wpath))
            written.append(wpath)
        result.meta["provenance"] = record
    npz, js = result.save(paths["data"], overwrite=overwrite)
    written[:0] = [npz, js]
    if fig is not None:
        written.append(save_figure(fig, paths["figure"], overwrite))
    return written


def emit(payload, *, as_json, quiet, lines=()):
    """Print one JSON object (``--json``) or human-readable lines (unless ``--quiet``)."""
    from rnndyn.io import dumps
    if as_json:
        click.echo(dumps(payload))
    elif not quiet:
        for line in lines:
            click.echo(line)


@contextlib.contextmanager
def progress(total, *, quiet, label):
    """A progress bar on stderr; yields ``advance(n=1)``.

    The bar appears at the first ``advance``: work that fails on its input before
    any progress shows the one error line, not a bar and then the error.
    """
    if quiet or total <= 1:
        yield lambda n=1: None
        return
    bar = []

    def advance(n=1):
        if not bar:
            bar.append(click.progressbar(length=total, label=label, file=sys.stderr))
            bar[0].__enter__()
        bar[0].update(n)

    try:
        yield advance
    finally:
        if bar:
            bar[0].__exit__(None, None, None)