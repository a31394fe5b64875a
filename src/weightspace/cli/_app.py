"""The typer application object; sub-command modules register on it."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="weightspace",
    help="How data diversity and explicit regularizers shape the weight spectra of neural networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
