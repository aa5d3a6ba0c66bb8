"""The ``rnndyn`` click group. Commands live one per module and are imported
only when used, so ``rnndyn -h`` stays quick."""

import importlib

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
    "surface": "surface:surface",
    "figure": "figure:figure",
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


@click.group(cls=LazyGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(package_name="rnndyn", message="rnndyn %(version)s")
def cli():
    """rnndyn: dynamics behind vanishing and exploding gradients in RNNs.

    Every command takes --seed, --out, --json and --quiet; `rnndyn COMMAND -h`
    explains each. Errors in the input exit with status 2 and a one-line message.
    """
