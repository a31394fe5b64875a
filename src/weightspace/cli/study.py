"""``weightspace study``: run a grid of conditions × seeds, collect, compare and report."""

from __future__ import annotations

import time
from enum import Enum
from pathlib import Path

import pandas as pd
import typer

from weightspace import store
from weightspace.cli._app import app, configure_logging
from weightspace.errors import ConfigError
from weightspace.store import RUNS_TABLE, RunStatus, StudyPaths
from weightspace.study import StudySpec, estimate_seconds, expand, plan_table, run_study
from weightspace.study.collect import collect
from weightspace.study.summary import format_seconds, measured_times
from weightspace.threads import default_threads, set_threads


class Runner(str, Enum):
    local = "local"
    ray = "ray"


@app.command("study")
def study_command(
    spec_file: Path | None = typer.Argument(
        None, help="Study spec (TOML). Default: the 'finetune' preset.", show_default=False
    ),
    preset: str | None = typer.Option(
        None,
        "--preset",
        help="A shipped preset: finetune, scratch, synthetic, sharpness, text, text-quick, paper, paper-finetune.",
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Study directory [default: studies/<name>]."
    ),
    workers: int = typer.Option(2, "--workers", help="Parallel runs (0 = in this process)."),
    threads: int | None = typer.Option(
        None,
        "--threads",
        help="Torch threads per run [default: the thread budget ($WEIGHTSPACE_THREADS or the "
        "number of cores) divided by --workers].",
    ),
    runner: Runner = typer.Option(Runner.local, "--runner", help="Where runs execute."),
    address: str | None = typer.Option(
        None, "--address", help="Ray cluster address (--runner ray)."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the runs and the time estimate; run nothing."
    ),
    collect_only: bool = typer.Option(
        False,
        "--collect",
        help="Rebuild runs.parquet and layers.parquet from the run directories of --out; "
        "train nothing (repairs a damaged table).",
    ),
    seeds: list[int] | None = typer.Option(
        None, "--seeds", help="A seed; repeat to override the seeds (--seeds 0 --seeds 1)."
    ),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda or cuda:N."),
    dataset: str | None = typer.Option(None, "--dataset", help="Override [data] dataset."),
    data_dir: str | None = typer.Option(None, "--data-dir", help="Override [data] data_dir."),
    train_size: int | None = typer.Option(None, "--train-size", help="Override [data] train_size."),
    model: str | None = typer.Option(None, "--model", help="Override [model] name."),
    pretrained: str | None = typer.Option(None, "--pretrained", help="Pretrained weight file."),
    epochs: int | None = typer.Option(None, "--epochs", help="Override [train] epochs."),
    lr: float | None = typer.Option(None, "--lr", help="Override [train] lr."),
    batch_size: int | None = typer.Option(
        None, "--batch-size", help="Override [train] batch_size."
    ),
    no_report: bool = typer.Option(
        False, "--no-report", help="Skip the comparison and the report."
    ),
    diversity: bool = typer.Option(
        False,
        "--diversity",
        help="Also score each condition's data diversity (Vendi, rho, WVS) against its "
        "accuracy gain; adds a report section (about 3 min for the scratch preset).",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More log output."),
) -> None:
    """Train every condition × seed of a study, then collect, compare and report.

    Reruns resume: finished runs are skipped, failed ones retried.
    """
    if verbose:
        configure_logging(verbose)
    if spec_file is not None and preset is not None:
        raise ConfigError("give a spec file or --preset, not both")
    spec = (
        StudySpec.from_toml(spec_file) if spec_file else StudySpec.from_preset(preset or "finetune")
    )
    spec = spec.with_overrides(
        seeds=tuple(seeds) if seeds else None,
        device=device,
        dataset=dataset,
        data_dir=data_dir,
        train_size=train_size,
        model=model,
        pretrained=pretrained,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
    )
    study_dir = out or Path("studies") / spec.name
    threads = threads or max(1, default_threads() // max(1, workers))
    set_threads(threads)

    if collect_only:
        if not StudyPaths(study_dir).runs_dir.is_dir():
            raise ConfigError(
                f"{study_dir} has no runs/ folder; give the study directory with --out"
            )
        runs, layers = collect(study_dir, plans=expand(spec) if spec_file or preset else None)
        counts = runs["status"].value_counts().to_dict() if len(runs) else {}
        typer.echo(
            f"collected {len(runs)} runs ({', '.join(f'{n} {s}' for s, n in counts.items())}) "
            f"and {len(layers)} layer rows into {study_dir}"
        )
        return

    if dry_run:
        plans = expand(spec)
        table = plan_table(plans, study_dir)
        measured = {}
        if (study_dir / RUNS_TABLE).is_file():
            measured = measured_times(store.read_table(study_dir / RUNS_TABLE))
        pending = [p for p, s in zip(plans, table.status, strict=True) if s != RunStatus.DONE]
        est = estimate_seconds(pending, workers=max(1, workers), measured=measured)
        with pd.option_context("display.max_rows", None, "display.width", 120):
            typer.echo(
                table.to_string(
                    index=False, na_rep="-", formatters={"strength": lambda x: f"{x:g}"}
                )
            )
        counts = table.status.value_counts().to_dict()
        typer.echo(
            f"\n{len(plans)} runs ({', '.join(f'{n} {s}' for s, n in counts.items())}) in "
            f"{study_dir}; estimated {format_seconds(est)} for the pending runs on "
            f"{max(1, workers)} worker(s) × {threads} thread(s)"
            + (" (scaled by this study's finished runs)" if measured else " (model-based)")
        )
        return

    start = time.time()
    result = run_study(
        spec,
        study_dir,
        workers=workers,
        threads=threads,
        runner=runner.value,
        address=address,
        progress=not quiet,
        analyze=not no_report,
        diversity=diversity,
    )
    typer.echo(
        f"study {spec.name!r}: {result.done}/{result.total} runs done "
        f"({result.skipped} from before), {result.failed} failed, in {format_seconds(time.time() - start)}"
    )
    typer.echo(f"  spec:    {study_dir / 'study.toml'}")
    typer.echo(f"  runs:    {study_dir / 'runs'}/")
    typer.echo(f"  tables:  {result.runs_table}, {result.layers_table}")
    if result.compare_dir is not None and result.compare_dir.is_dir():
        typer.echo(f"  compare: {result.compare_dir}/")
    if result.report is not None:
        typer.echo(f"  report:  {result.report}")
    for line in result.damaged:
        typer.echo(f"  damaged and run again: {line}")
    for note in result.notes:
        typer.echo(f"  note: {note}")
    if result.failed:
        failed = result.runs.query("status == 'failed'")
        for _, row in failed.iterrows():
            typer.echo(f"  failed: {row['condition']} seed {row['seed']}: {row['error']}")
        typer.echo("  rerun the same command to retry the failed runs")
    lines = result.overview.lines()
    if lines:
        typer.echo("")
        for line in lines:
            typer.echo(line)
    if result.analysis_failed:
        typer.echo(
            "  the comparison or report failed (see the notes above); every finished run and "
            f"the tables are kept: fix the cause and rerun `weightspace report {study_dir}` "
            "or the same study command",
            err=True,
        )
    if result.failed or result.analysis_failed:
        raise typer.Exit(code=1)
