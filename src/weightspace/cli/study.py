"""``weightspace study``: run a grid of conditions × seeds, collect, compare and report."""

from __future__ import annotations

import time
from enum import Enum
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from weightspace import store
from weightspace.cli._app import app, configure_logging
from weightspace.errors import ConfigError
from weightspace.store import RUNS_TABLE, RunStatus, StudyPaths
from weightspace.study import StudySpec, estimate_seconds, expand, plan_table, run_study
from weightspace.study.collect import collect
from weightspace.study.orchestrate import StudyResult
from weightspace.study.summary import format_seconds, measured_times
from weightspace.threads import default_threads, set_threads


class Runner(str, Enum):
    local = "local"
    ray = "ray"


def _override(flag: str, what: str) -> object:
    return typer.Option(flag, help=f"Override {what}.")


# The options, one line each in the command's signature.
SpecFile = Annotated[
    Path | None,
    typer.Argument(help="Study spec (TOML). Default: the 'finetune' preset.", show_default=False),
]
Preset = Annotated[
    str | None,
    typer.Option(
        "--preset",
        help="A shipped preset: finetune, scratch, synthetic, sharpness, text, text-quick, "
        "paper, paper-finetune.",
    ),
]
Out = Annotated[
    Path | None, typer.Option("--out", help="Study directory [default: studies/<name>].")
]
Workers = Annotated[int, typer.Option("--workers", help="Parallel runs (0 = in this process).")]
Threads = Annotated[
    int | None,
    typer.Option(
        "--threads",
        help="Torch threads per run [default: the thread budget ($WEIGHTSPACE_THREADS or the "
        "number of cores) divided by --workers].",
    ),
]
RunnerOpt = Annotated[Runner, typer.Option("--runner", help="Where runs execute.")]
Address = Annotated[
    str | None,
    typer.Option(
        "--address",
        help="Ray cluster address HOST:PORT (--runner ray); a cluster with token "
        "authentication also needs its token in $RAY_AUTH_TOKEN (docs/study.md).",
    ),
]
DryRun = Annotated[
    bool, typer.Option("--dry-run", help="Print the runs and the time estimate; run nothing.")
]
CollectOnly = Annotated[
    bool,
    typer.Option(
        "--collect",
        help="Rebuild runs.parquet and layers.parquet from the run directories of --out; "
        "train nothing (repairs a damaged table).",
    ),
]
Seeds = Annotated[
    list[int] | None,
    typer.Option("--seeds", help="A seed; repeat to override the seeds (--seeds 0 --seeds 1)."),
]
NoReport = Annotated[bool, typer.Option("--no-report", help="Skip the comparison and the report.")]
Diversity = Annotated[
    bool,
    typer.Option(
        "--diversity",
        help="Also score each condition's data diversity (Vendi, rho, WVS) against its "
        "accuracy gain; adds a report section (about 3 min for the scratch preset).",
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
Verbose = Annotated[int, typer.Option("--verbose", "-v", count=True, help="More log output.")]


@app.command("study")
def study_command(
    spec_file: SpecFile = None,
    preset: Preset = None,
    out: Out = None,
    workers: Workers = 2,
    threads: Threads = None,
    runner: RunnerOpt = Runner.local,
    address: Address = None,
    dry_run: DryRun = False,
    collect_only: CollectOnly = False,
    seeds: Seeds = None,
    device: Annotated[str | None, typer.Option("--device", help="cpu, cuda or cuda:N.")] = None,
    dataset: Annotated[str | None, _override("--dataset", "[data] dataset")] = None,
    data_dir: Annotated[str | None, _override("--data-dir", "[data] data_dir")] = None,
    train_size: Annotated[int | None, _override("--train-size", "[data] train_size")] = None,
    model: Annotated[str | None, _override("--model", "[model] name")] = None,
    pretrained: Annotated[
        str | None, typer.Option("--pretrained", help="Pretrained weight file.")
    ] = None,
    epochs: Annotated[int | None, _override("--epochs", "[train] epochs")] = None,
    lr: Annotated[float | None, _override("--lr", "[train] lr")] = None,
    batch_size: Annotated[int | None, _override("--batch-size", "[train] batch_size")] = None,
    no_report: NoReport = False,
    diversity: Diversity = False,
    quiet: Quiet = False,
    verbose: Verbose = 0,
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
        _collect(spec if spec_file or preset else None, study_dir)
        return
    if dry_run:
        _dry_run(spec, study_dir, workers=max(1, workers), threads=threads)
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
    _print_result(spec.name, study_dir, result, seconds=time.time() - start)
    if result.failed or result.analysis_failed:
        raise typer.Exit(code=1)


def _collect(spec: StudySpec | None, study_dir: Path) -> None:
    """``--collect``: rebuild the study tables from the run directories."""
    if not StudyPaths(study_dir).runs_dir.is_dir():
        raise ConfigError(f"{study_dir} has no runs/ folder; give the study directory with --out")
    runs, layers = collect(study_dir, plans=expand(spec) if spec is not None else None)
    counts = runs["status"].value_counts().to_dict() if len(runs) else {}
    typer.echo(
        f"collected {len(runs)} runs ({', '.join(f'{n} {s}' for s, n in counts.items())}) "
        f"and {len(layers)} layer rows into {study_dir}"
    )


def _dry_run(spec: StudySpec, study_dir: Path, *, workers: int, threads: int) -> None:
    """``--dry-run``: the planned runs, their status and the time estimate."""
    plans = expand(spec)
    table = plan_table(plans, study_dir)
    measured = {}
    if (study_dir / RUNS_TABLE).is_file():
        measured = measured_times(store.read_table(study_dir / RUNS_TABLE))
    pending = [p for p, s in zip(plans, table.status, strict=True) if s != RunStatus.DONE]
    est = estimate_seconds(pending, workers=workers, measured=measured)
    with pd.option_context("display.max_rows", None, "display.width", 120):
        typer.echo(
            table.to_string(index=False, na_rep="-", formatters={"strength": lambda x: f"{x:g}"})
        )
    counts = table.status.value_counts().to_dict()
    typer.echo(
        f"\n{len(plans)} runs ({', '.join(f'{n} {s}' for s, n in counts.items())}) in "
        f"{study_dir}; estimated {format_seconds(est)} for the pending runs on "
        f"{workers} worker(s) × {threads} thread(s)"
        + (" (scaled by this study's finished runs)" if measured else " (model-based)")
    )


def _print_result(name: str, study_dir: Path, result: StudyResult, *, seconds: float) -> None:
    """Where everything went, what failed, and the study's overview."""
    typer.echo(
        f"study {name!r}: {result.done}/{result.total} runs done "
        f"({result.skipped} from before), {result.failed} failed, in {format_seconds(seconds)}"
    )
    if result.answers:
        typer.echo(
            "The answers (default protocol; intervals 95%; power at this study's own effect sizes):"
        )
        for sentence in result.answers:
            typer.echo(f" • {sentence}")
        typer.echo("")
    typer.echo(f"  spec:    {study_dir / store.SPEC_FILE}")
    typer.echo(f"  runs:    {StudyPaths(study_dir).runs_dir}/")
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
