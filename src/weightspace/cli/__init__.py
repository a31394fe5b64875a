"""The one place that parses argv and configures logging.

Each sub-command lives in its own module (``cli/analyze.py``, ``cli/train.py``, ...) and
registers itself on :data:`app`. User errors (:class:`weightspace.errors.WeightspaceError`)
become a clear message on stderr and exit code 2.
"""

from __future__ import annotations

import importlib

import typer

from weightspace.cli._app import app, configure_logging, fail
from weightspace.errors import WeightspaceError

__all__ = ["app", "configure_logging", "fail", "main"]

# Sub-command modules: importing them registers their commands on ``app``.
_COMMANDS = ("analyze", "train", "study", "compare", "report", "diversity", "synthetic", "power")


def _register() -> None:
    for name in _COMMANDS:
        importlib.import_module(f"weightspace.cli.{name}")


def main(argv: list[str] | None = None) -> None:
    _register()
    configure_logging(0)
    try:
        app(args=argv, prog_name="weightspace", standalone_mode=True)
    except WeightspaceError as err:
        typer.echo(f"error: {err}", err=True)
        raise SystemExit(2) from None


_register()
