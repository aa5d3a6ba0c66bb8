"""``rnndyn warmup``: compile the numba kernels the commands use into the on-disk cache."""

import click

from rnndyn.cli.options import CONTEXT_SETTINGS, cli_errors, common_options, emit

# One tiny run per command (and per kernel path: the Lyapunov small-N, split and top-k
# paths; the bifurcation sweep and (w, b) plane). Each is the real command, run in
# this process with --json (its output discarded), so exactly the kernel
# specializations the commands use are compiled and cached.
RUNS = (
    ("gradflow", ["gradflow", "--n", "6", "--steps", "20"]),
    ("spectrum", ["spectrum", "--n", "6"]),
    ("lyapunov", ["lyapunov", "--n", "20", "--steps", "80", "--transient", "20",
                  "--window", "20"]),
    ("lyapunov", ["lyapunov", "--n", "20", "--k", "3", "--steps", "40", "--transient", "5"]),
    ("lyapunov", ["lyapunov", "--n", "2", "--steps", "40", "--transient", "5"]),
    ("bifurcation", ["bifurcation", "--w", "5", "--b=-3:3:11"]),
    ("bifurcation", ["bifurcation", "--w", "1:6:4", "--b=-3:3:4"]),
    ("fixedpoints", ["fixedpoints", "--n", "3"]),
    ("continuation", ["continuation", "--n", "2", "--init", "identity", "--gain", "2",
                      "--param", "bias", "--index", "0", "--start=-1", "--stop", "1",
                      "--points", "20"]),
    ("basins", ["basins", "--n", "2", "--grid", "8"]),
    ("surface", ["surface", "--w", "5", "--b=-2.7:-2.5:5"]),
    ("train", ["train", "temporal-order", "--length", "10", "--n", "6", "--updates", "3"]),
    # the gated cells and stacks have kernels of their own (chosen in Python, so that a
    # vanilla command never compiles them)
    ("gradflow", ["gradflow", "--cell", "lstm", "--n", "3", "--steps", "10"]),
    ("gradflow", ["gradflow", "--cell", "gru", "--n", "3", "--steps", "10"]),
    ("gradflow", ["gradflow", "--layers", "2", "--n", "3", "--steps", "10"]),
    ("lyapunov", ["lyapunov", "--cell", "gru", "--n", "3", "--steps", "20", "--transient",
                  "5"]),
    ("lyapunov", ["lyapunov", "--cell", "lstm", "--n", "3", "--steps", "20", "--transient",
                  "5"]),
    ("fixedpoints", ["fixedpoints", "--cell", "gru", "--n", "2"]),
    ("basins", ["basins", "--cell", "gru", "--n", "2", "--grid", "6"]),
    ("train", ["train", "temporal-order", "--length", "10", "--cell", "gru", "--n", "4",
               "--updates", "3"]),
    ("train", ["train", "temporal-order", "--length", "10", "--cell", "lstm", "--n", "4",
               "--updates", "3"]),
)


def kernel_count():
    """Compiled (or cache-loaded) specializations of rnndyn's numba kernels so far."""
    import sys
    count = 0
    for name, mod in list(sys.modules.items()):
        if not name.startswith("rnndyn._kernels") or mod is None:
            continue
        for obj in vars(mod).values():
            sigs = getattr(obj, "signatures", None)
            if sigs is not None and hasattr(obj, "py_func") and obj.__module__ == name:
                count += len(sigs)
    return count


@click.command(context_settings=CONTEXT_SETTINGS)
@click.option("--commands", default="all", show_default=True,
              help="Comma-separated commands to warm up (" + ", ".join(
                  dict.fromkeys(c for c, _ in RUNS)) + "), or all.")
@common_options
@cli_errors(interruptible=False)
def warmup(**opts):
    """Compile the numba kernels every command uses, so that the first real command
    starts in a fraction of a second instead of compiling (about 1 s per kernel).

    Run it once after installing or upgrading rnndyn (or with a new NUMBA_CACHE_DIR);
    a warm cache makes it take a few seconds. Each command runs once on a tiny
    problem in this process; nothing is written (with --out DIR: DIR/warmup.json).
    Progress goes to stderr (one line per command; --quiet: none).

    --json prints {kernels (specializations compiled or loaded), seconds, commands
    (name: seconds), failed (names)}.
    """
    import contextlib
    import io
    import sys
    import time

    from rnndyn._validate import InputError
    from rnndyn.cli.main import cli
    from rnndyn.cli.options import output_paths
    wanted = [c.strip() for c in opts["commands"].split(",") if c.strip()]
    names = list(dict.fromkeys(c for c, _ in RUNS))
    if wanted != ["all"]:
        bad = [c for c in wanted if c not in names]
        if bad or not wanted:
            raise InputError(f"--commands: unknown {', '.join(bad) or '(none)'}; "
                             f"choose from {', '.join(names)} or all")
        names = [c for c in names if c in wanted]
    paths = output_paths(opts["out"], "warmup", "json", opts["overwrite"])
    t_all = time.perf_counter()
    seconds, failed = {}, []
    for name in names:
        t0 = time.perf_counter()
        for cmd, args in RUNS:
            if cmd != name:
                continue
            sink = io.StringIO()
            try:
                with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                    cli.main([*args, "--json", "--quiet", "--seed", str(opts["seed"])],
                             prog_name="rnndyn", standalone_mode=False)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001  (a failing command is reported)
                if not (isinstance(exc, SystemExit) and exc.code in (0, None)):
                    failed.append(name)
                    if not opts["quiet"]:
                        msg = (sink.getvalue().strip().splitlines() or [repr(exc)])[-1]
                        click.echo(f"warmup: {name} failed: {msg}", err=True)
        seconds[name] = round(time.perf_counter() - t0, 3)
        if not opts["quiet"]:
            click.echo(f"warmup: {name:<13s} {seconds[name]:6.2f} s  "
                       f"({kernel_count()} kernel specializations so far)", err=True)
    payload = {"kernels": kernel_count(), "seconds": round(time.perf_counter() - t_all, 3),
               "commands": seconds, "failed": sorted(set(failed))}
    if paths is not None:
        import os

        from rnndyn.io import atomic_write_json
        os.makedirs(opts["out"], exist_ok=True)
        atomic_write_json(paths["meta"], payload, overwrite=opts["overwrite"])
    emit(payload, as_json=opts["as_json"], quiet=opts["quiet"],
         lines=[f"warmed {payload['kernels']} kernel specializations in "
                f"{payload['seconds']:.1f} s"
                + (f"; failed: {', '.join(payload['failed'])}" if failed else "")])
    if failed:
        sys.exit(1)
