"""The typer application object and the helpers every sub-command shares; sub-command
modules register on :data:`app`.

Sub-command modules are imported only when their command runs (or its own ``--help`` is
asked for): ``weightspace --help`` lists them from :data:`COMMANDS` without importing any,
and ``weightspace analyze`` of a weights file never imports torch.
"""

from __future__ import annotations

import importlib
import logging
import sys
from types import ModuleType
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

# sub-command -> its one-line help (the first line of the command's docstring; a test checks)
COMMANDS: dict[str, str] = {
    "analyze": "Per-layer spectral analysis (power-law alpha, norms, ranks) of a model's weights.",
    "train": "Train one model under one condition, snapshot its weight spectra, and evaluate it.",
    "study": "Train every condition × seed of a study, then collect, compare and report.",
    "compare": "Statistics of ΔΔ = (after − before)(condition) − (after − before)(baseline).",
    "report": "Write the HTML report (figures embedded, works offline) and figures/*.png|svg "
    "from the study's tables and stored comparisons; it computes no statistic.",
    "diversity": "Score the diversity of a (augmented / synthetic-mixed) training set: VS, rho "
    "and WVS.",
    "synthetic": "Generate (or import) synthetic training images and report their quality.",
    "power": "Power and false-claim rates of the main verdicts, simulated with a study's own noise.",
}


def load(module: str) -> ModuleType:
    """Import ``weightspace.cli.<module>`` (a sub-command module registers its command)."""
    return importlib.import_module(f"weightspace.cli.{module}")


class LazyGroup(TyperGroup):
    """A group whose sub-commands are imported when resolved, not when listed."""

    # (click's types are left as Any: typer ships its own copy of click)
    def list_commands(self, ctx: Any) -> list[str]:
        return [*self.commands, *(c for c in COMMANDS if c not in self.commands)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in self.commands or cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        # listed in help only: a stand-in carrying the one-line help
        return TyperCommand(cmd_name, help=COMMANDS[cmd_name], short_help=COMMANDS[cmd_name])

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] in COMMANDS and args[0] not in self.commands:
            self.add_command(real_command(args[0]), args[0])
        return super().resolve_command(ctx, args)


def real_command(name: str) -> Any:
    """The click command of sub-command ``name``, importing its module."""
    load(name)
    group: Any = typer.main.get_command(app)
    return group.commands[name]


app = typer.Typer(
    name="weightspace",
    help="How data diversity and explicit regularizers shape the weight spectra of neural networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=LazyGroup,
)


@app.callback()
def _group() -> None:
    """A group even before any sub-command module is imported."""


def configure_logging(verbose: int = 0) -> None:
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` on stderr and return the exit (code 2) to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)
