"""``weightspace power STUDY``: how often each main verdict would be found (power) and
falsely claimed, simulating a design with the noise and effect sizes of a finished study."""

from __future__ import annotations

import math
import time
from pathlib import Path

import typer

from weightspace import store
from weightspace.cli._app import app, fail
from weightspace.compare.power import plan_from_study, power_table
from weightspace.errors import WeightspaceError
from weightspace.study import StudySpec, expand
from weightspace.threads import set_threads


def _design(
    spec_file: Path | None, preset: str | None, seeds: list[int] | None
) -> tuple[dict[str, list[int]], dict[str, str], dict[str, float]] | None:
    """(seeds per condition, categories, strengths) of a spec or preset, or None."""
    if spec_file is None and preset is None:
        return None
    spec = StudySpec.from_preset(preset) if preset else StudySpec.from_toml(str(spec_file))
    if seeds:
        spec = spec.with_overrides(seeds=tuple(seeds))
    counts: dict[str, list[int]] = {}
    categories: dict[str, str] = {}
    strengths: dict[str, float] = {}
    for plan in expand(spec):
        counts.setdefault(plan.condition, []).append(plan.seed)
        categories[plan.condition] = plan.category
        strengths[plan.condition] = plan.strength
    return counts, categories, strengths


def _fmt(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{100 * value:5.1f}%"


@app.command("power")
def power_command(
    study: Path = typer.Argument(..., help="A finished or pilot study directory (≥ 2 seeds)."),
    spec_file: Path | None = typer.Option(
        None, "--spec", help="Simulate this spec's design (conditions × seeds) instead."
    ),
    preset: str | None = typer.Option(None, "--preset", help="Simulate a shipped preset's design."),
    seeds: list[int] | None = typer.Option(
        None, "--seeds", help="Override the design's seeds (repeat: --seeds 0 --seeds 1)."
    ),
    sims: int = typer.Option(200, "--sims", help="Simulated studies per scenario."),
    seed: int = typer.Option(0, "--seed", help="Seed of the simulations."),
    out: Path | None = typer.Option(None, "--out", help="Write the table as CSV here."),
    threads: int | None = typer.Option(1, "--threads", help="CPU threads for numerics."),
) -> None:
    """Power and false-claim rates of the main verdicts, simulated with a study's own noise.

    The design is the study's own, or a planned one (--spec/--preset), at the effect sizes
    and noise the study measured."""
    set_threads(threads or 1)
    start = time.perf_counter()
    try:
        plan = plan_from_study(study)
        design = _design(spec_file, preset, seeds)
        if design is not None:
            counts, categories, strengths = design
            plan = plan.with_design(counts, categories, strengths)
        table = power_table(plan, n_sims=sims, seed=seed)
    except WeightspaceError as err:
        raise fail(str(err)) from None
    n_runs = sum(len(v) for v in plan.seeds.values())
    base = len(plan.seeds.get(plan.baseline, ()))
    typer.echo(f"design: {len(plan.seeds)} conditions, {n_runs} runs (baseline {base} seeds); "
               f"{sims} simulated studies per scenario")  # fmt: skip
    typer.echo(f"{'family':<18} {'verdict':<44} {'power':>7} {'false':>7}  null")
    for row in table.itertuples():
        typer.echo(f"{row.family:<18} {row.verdict:<44} {_fmt(row.power):>7} "
                   f"{_fmt(row.false_claims):>7}  {row.null}")  # fmt: skip
    typer.echo(f"({time.perf_counter() - start:.0f} s; power at the study's effect sizes, shrunk "
               "toward 0 for their noise; false: the same verdict with nothing to find)")  # fmt: skip
    if out is not None:
        store.write_table(out, table)
        typer.echo(f"wrote {out}")
