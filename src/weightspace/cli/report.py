"""``weightspace report STUDY_DIR``: a self-contained HTML report plus PNG/SVG figures."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from weightspace.cli._app import app
from weightspace.compare import PROTOCOLS
from weightspace.errors import WeightspaceError
from weightspace.report import build_report
from weightspace.threads import set_threads


class ReportProtocol(str, Enum):
    both = "both"
    default = "default"
    paper = "paper"


@app.command("report")
def report_command(
    study_dir: Path = typer.Argument(
        ..., help="A study directory, or a folder of WeightWatcher CSV tables."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="HTML file to write (default: STUDY_DIR/report.html)."
    ),
    protocol: ReportProtocol = typer.Option(
        ReportProtocol.both,
        "--protocol",
        help="Which stored statistics to show: paper, default or both.",
    ),
    results: Path | None = typer.Option(
        None,
        "--results",
        help="Folder of stored comparisons (<protocol>/compare.json; default "
        "STUDY_DIR/compare, written by `weightspace study` or `weightspace compare "
        "STUDY_DIR --save`).",
    ),
    formats: list[str] = typer.Option(
        ["png", "svg"],
        "--formats",
        help="A figure file format written beside the HTML (png or svg); repeat for both, "
        "'' for none.",
    ),
    layers: list[str] | None = typer.Option(
        None, "--layers", help="A layer name for the ESD panels; repeat (default: 3 picked)."
    ),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads for numerics."),
) -> None:
    """Write the HTML report (figures embedded, works offline) and figures/*.png|svg from the
    study's tables and stored comparisons; it computes no statistic."""
    if threads is not None:
        set_threads(threads)
    protocols = PROTOCOLS if protocol is ReportProtocol.both else (protocol.value,)
    fmts = tuple(f.lower() for f in formats if f)
    chosen = list(layers) if layers else None
    try:
        path = build_report(study_dir, out=out, formats=fmts, protocols=protocols,
                            results_dir=results, esd_layers=chosen)  # fmt: skip
    except WeightspaceError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(f"wrote {path}")
