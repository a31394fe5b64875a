"""The one place that parses argv and configures logging.

Each sub-command lives in its own module (``cli/analyze.py``, ``cli/train.py``, ...) and
registers itself on :data:`app` when it is imported, which happens only when that command
runs (``cli/_app.py``: ``--help`` and ``analyze`` stay light). User errors
(:class:`weightspace.errors.WeightspaceError`) become a clear message on stderr and exit 2.
"""

from __future__ import annotations

import typer

from weightspace.cli._app import app, configure_logging, fail
from weightspace.errors import WeightspaceError

__all__ = ["app", "configure_logging", "fail", "main"]


def main(argv: list[str] | None = None) -> None:
    configure_logging(0)
    try:
        app(args=argv, prog_name="weightspace", standalone_mode=True)
    except WeightspaceError as err:
        typer.echo(f"error: {err}", err=True)
        raise SystemExit(2) from None
