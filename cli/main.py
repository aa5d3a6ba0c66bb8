"""The ``rnndyn`` click group. Commands live one per module and are imported
only when used, so ``rnndyn -h`` stays quick."""

import importlib
import sys

import click

from rnndyn.cli.options import CONTEXT_SETTINGS

# command name -> "module:attribute" inside rnndyn.cli
COMMANDS = {
    "gradflow": "gradflow:gradflow",
    "spectrum": "spectrum:spectrum",
    "lyapunov": "lyapunov:lyapunov",
    "bifurcation": "bifurcation:bifurcation",
    "fixedpoints": "fixedpoints:fixedpoints",
    "continuation": "continuation:continuation",
    "basins": "basins:basins",
    "train": "train:train",
    "study": "study:study",
    "sweep": "sweep:sweep",
    "surface": "surface:surface",
    "figure": "figure:figure",
    "weights": "weights:weights",
    "warmup": "warmup:warmup",
    "data": "data:data",
}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use."""

    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(f"rnndyn.cli.{module}"), attr)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True,
             **extra):
        """Like click's, but a usage error is one line on stderr (exit 2), not three.

        The command line is kept (:data:`rnndyn.cli.options.COMMAND_LINE`) for the
        results' provenance.
        """
        from rnndyn.cli import options
        options.COMMAND_LINE[:] = ["rnndyn", *(sys.argv[1:] if args is None else args)]
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, False, **extra)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else "rnndyn"
            click.echo(f"Error: {exc.format_message()} (see '{where} -h')", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(cls=LazyGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(package_name="rnndyn", message="rnndyn %(version)s")
def cli():
    """rnndyn: dynamics behind vanishing and exploding gradients in RNNs.

    Every command takes --seed, --out, --json and --quiet; `rnndyn COMMAND -h`
    explains each. Errors in the input exit with status 2 and a one-line message.
    """
    # Every command runs with BLAS on one thread (the Lyapunov runs raise it where they
    # ask for --threads): seeded results do not depend on OPENBLAS_NUM_THREADS, and
    # small products in hot loops are not slowed down by two threads fighting.
    from rnndyn._threads import DEFAULT, blas_threads
    click.get_current_context().with_resource(blas_threads(DEFAULT))
