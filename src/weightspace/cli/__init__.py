"""The one place that parses argv and configures logging.

Each sub-command lives in its own module (``cli/analyze.py``, ``cli/train.py``, ...) and
registers itself on :data:`app`. User errors (:class:`weightspace.errors.WeightspaceError`)
become a clear message on stderr and exit code 2.
"""

from __future__ import annotations

import importlib
import logging
import sys

import typer

from weightspace.cli._app import app

# Sub-command modules: importing them registers their commands on ``app``.
_COMMANDS = ("analyze", "train", "study", "compare", "report", "diversity", "synthetic")


def _register() -> None:
    for name in _COMMANDS:
        importlib.import_module(f"weightspace.cli.{name}")


def configure_logging(verbose: int = 0) -> None:
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` on stderr and return the exit (code 2) to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def main(argv: list[str] | None = None) -> None:
    from weightspace.errors import WeightspaceError

    _register()
    configure_logging(0)
    try:
        app(args=argv, prog_name="weightspace", standalone_mode=True)
    except WeightspaceError as err:
        typer.echo(f"error: {err}", err=True)
        raise SystemExit(2) from None


_register()
