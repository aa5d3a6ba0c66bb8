"""Options shared by the commands, and the plumbing every command uses:
error handling (one line, exit 2), output paths, JSON output and progress."""

import contextlib
import functools
import os
import sys

import click

CONTEXT_SETTINGS = dict(help_option_names=["-h", "--help"], show_default=True,
                        max_content_width=100)

ACTIVATIONS = ("tanh", "sigmoid", "relu", "linear")
FORMS = ("pascanu", "elman")
INITS = ("gaussian", "orthogonal", "identity", "sparse", "sigmoid", "basic-tanh", "smart-tanh")
FORMATS = ("png", "pdf", "svg")


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
        click.option("--out", "out", type=click.Path(file_okay=False), default=None,
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
    """--weights or a random model (--n, --activation, --form, --init, --gain, --n-inputs).

    Use as ``@model_options``, or ``@model_options(n=2, gain=2.0)`` for a command
    whose natural model has other defaults.
    """
    decorate = _stack(
        click.option("--weights", type=click.Path(dir_okay=False), default=None,
                     help="Weights file (.npz with W and optional U, b, activation, form); "
                          "overrides --n/--init/--gain."),
        click.option("--n", "n", type=int, default=n, help="Number of units N."),
        click.option("--activation", type=click.Choice(ACTIVATIONS, case_sensitive=False),
                     default=None, help="Activation [default: tanh, or the file's]."),
        click.option("--form", type=click.Choice(FORMS, case_sensitive=False), default=None,
                     help="Update form: pascanu x=Wσ(x)+Uu+b or elman h=σ(Wh+Uu+b) "
                          "[default: pascanu, or the file's]."),
        click.option("--init", type=click.Choice(INITS, case_sensitive=False),
                     default="gaussian", help="Initialiser of the random model."),
        click.option("--gain", type=float, default=gain,
                     help="Gain g: W ~ N(0, g²/N), g×orthogonal, g×I, or the sparse radius."),
        click.option("--n-inputs", type=int, default=0, help="Number of inputs M."),
    )
    return decorate if f is None else decorate(f)


def trajectory_options(steps=100, x0="zero"):
    """--steps, --x0, --inputs, --input-scale with per-command defaults."""
    return _stack(
        click.option("--steps", type=int, default=steps, help="Number of updates T."),
        click.option("--x0", default=x0,
                     help="Initial state: zero, random (N(0,1), seeded) or a FILE.npy of shape (N,)."),
        click.option("--inputs", type=click.Choice(("none", "gaussian", "uniform")),
                     default="none", help="Input sequence u_t (needs --n-inputs > 0)."),
        click.option("--input-scale", type=float, default=1.0,
                     help="Std (gaussian) or half-width (uniform) of the inputs."),
    )


def build_model(opts):
    """The RNN named by the model options (a weights file or a seeded random model)."""
    from rnndyn.models import RNN, load_weights, make_rnn
    if opts.get("weights"):
        rnn = load_weights(opts["weights"])
        if opts.get("activation") or opts.get("form"):
            rnn = RNN(rnn.W, rnn.U, rnn.b, opts.get("activation") or rnn.activation,
                      opts.get("form") or rnn.form)
        return rnn
    return make_rnn(opts["n"], n_inputs=opts.get("n_inputs", 0),
                    activation=opts.get("activation") or "tanh",
                    form=opts.get("form") or "pascanu", init=opts.get("init", "gaussian"),
                    gain=opts.get("gain", 1.0), seed=opts.get("seed", 0))


def build_x0(opts, rnn):
    """x0 from --x0: 'zero', 'random' (seeded) or a .npy file."""
    import numpy as np
    from rnndyn.simulate import initial_state
    spec = opts.get("x0", "zero")
    if spec in ("zero", "random"):
        # the seed is shifted so x0 is not correlated with the weights' draw
        return initial_state(rnn, spec, seed=opts.get("seed", 0) + 1)
    try:
        arr = np.load(spec, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"--x0: cannot read {spec!r} ({exc}); use zero, random or a .npy file")
    return initial_state(rnn, arr)


def build_inputs(opts, rnn):
    """u_1..u_T from --inputs/--input-scale (seeded)."""
    from rnndyn.inputs import make_inputs
    if opts.get("inputs", "none") != "none" and rnn.M == 0:
        raise ValueError("--inputs needs a model with inputs: pass --n-inputs M > 0 "
                         "or a weights file with U")
    return make_inputs(opts.get("inputs", "none"), opts["steps"], rnn.M,
                       scale=opts.get("input_scale", 1.0), seed=opts.get("seed", 0) + 2)


def parse_number(text, what):
    """A finite float from ``text``; ValueError naming ``what`` otherwise."""
    import math
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{what}: {text.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{what}: {text.strip()!r} is not finite")
    return value


def parse_range(text, opt):
    """``VALUE`` or ``START:STOP:NUM`` (NUM >= 1; START < STOP when NUM > 1) → array."""
    import numpy as np
    parts = text.split(":")
    if len(parts) == 1:
        return np.array([parse_number(parts[0], opt)])
    if len(parts) != 3:
        raise ValueError(f"{opt}: expected a value or start:stop:num, got {text!r}")
    start = parse_number(parts[0], f"{opt} start")
    stop = parse_number(parts[1], f"{opt} stop")
    try:
        num = int(parts[2])
    except ValueError:
        raise ValueError(f"{opt}: num must be an integer, got {parts[2].strip()!r}") from None
    if num < 1:
        raise ValueError(f"{opt}: num must be >= 1, got {num}")
    if num > 1 and not start < stop:
        raise ValueError(f"{opt}: start must be below stop, got {start:g}:{stop:g}")
    return np.linspace(start, stop, num)


def cli_errors(f):
    """Turn library errors into 'Error: …' on stderr and exit status 2 (no traceback)."""
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        try:
            return f(*args, **kwargs)
        except (ValueError, TypeError, FileExistsError, OSError) as exc:
            msg = " ".join(str(exc).split()) or type(exc).__name__
            click.echo(f"Error: {msg}", err=True)
            sys.exit(2)
    return wrapper


def output_paths(out, stem, fmt, overwrite):
    """Paths of a command's data and figure, or None without ``--out``.

    Checked before computing: an existing file (without --overwrite) and a folder
    that cannot be created or written are errors now, not after the work.
    """
    from rnndyn.io import check_target
    if out is None:
        return None
    if not str(out).strip():
        raise ValueError("--out: empty folder name; give a folder, or leave --out out "
                         "to write nothing")
    paths = {"data": os.path.join(out, stem + ".npz"),
             "meta": os.path.join(out, stem + ".json"),
             "figure": os.path.join(out, f"{stem}.{fmt}")}
    for p in paths.values():
        check_target(p, overwrite)
    # the folder is made only when there is something to write; check now that it can be
    parent = os.path.abspath(out)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"--out: cannot write into {out} ({parent} is not a "
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


def save_outputs(result, fig, paths, overwrite):
    """Save the result's data and its figure; return the list of files written
    (empty without ``--out``)."""
    if paths is None:
        return []
    npz, js = result.save(paths["data"], overwrite=overwrite)
    written = [npz, js]
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
    """A progress bar on stderr; yields ``advance(n=1)``."""
    if quiet or total <= 1:
        yield lambda n=1: None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update
