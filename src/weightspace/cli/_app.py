"""The typer application object and the helpers every sub-command shares; sub-command
modules register on :data:`app`."""

from __future__ import annotations

import logging
import sys

import typer

app = typer.Typer(
    name="weightspace",
    help="How data diversity and explicit regularizers shape the weight spectra of neural networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def configure_logging(verbose: int = 0) -> None:
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` on stderr and return the exit (code 2) to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)
