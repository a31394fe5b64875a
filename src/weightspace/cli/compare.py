"""``weightspace compare PATH...``: ΔΔ statistics of studies or WeightWatcher CSV folders."""

from __future__ import annotations

import math
from enum import Enum
from pathlib import Path

import typer

from weightspace.cli._app import app
from weightspace.compare import CategoryRules, compare
from weightspace.compare.result import save_to_study
from weightspace.errors import ConfigError, WeightspaceError
from weightspace.threads import set_threads
from weightspace.vocabulary import Category

# Tables printed on the terminal, in this order (every table is written with --out).
_SHOWN = (
    "category_means",
    "anova",
    "ttests",
    "correlations",
    "classifier",
    "noise_floor",
    "omnibus",
    "category_tests",
    "mixed_model",
    "fingerprint",
    "axis_shape",
    "dose_response",
    "spectral_vs_accuracy",
    "rotation_tests",
    "power",
    "families",
)


class Protocol(str, Enum):
    default = "default"
    paper = "paper"


def _cell(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return f"{value:.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3e}"
    return str(value)


_P_COLUMNS = ("p", "p_value", "p_perm", "p_welch")
_ADJUSTED = ("p_adj", "p_moved_adj", "p_axis_adj")
_LAYERS_AS_SAMPLES = {"anova", "ttests", "correlations"}


def _family_lines(name: str, frame) -> list[str]:
    """The multiplicity family of every p-value in ``frame`` and its size."""
    if name in ("power", "families"):
        return []
    where = ", ".join(c for c in _ADJUSTED if c in frame.columns) or "p_adj"
    if "family" in frame.columns and "n_family" in frame.columns:
        lines = []
        for family, rows in frame.groupby(frame["family"].fillna("").astype(str), sort=False):
            size = rows["n_family"].max()
            if not family or size != size:  # no p-value in these rows
                continue
            lines.append(f"family: {family} — {int(size)} tests; adjusted p-values in {where}")
        return lines
    if "n_family" in frame.columns and frame["n_family"].notna().any():
        size = int(frame["n_family"].max())
        return [f"family: {name} — {size} tests (Benjamini–Hochberg); adjusted p-values in "
                f"{where}"]  # fmt: skip
    cols = [c for c in _P_COLUMNS if c in frame.columns]
    if not cols:
        return []
    count = int(frame[cols[0]].notna().sum())
    why = "layers as samples, as in the paper" if name in _LAYERS_AS_SAMPLES else "cross-check"
    return [f"family: none — {count} p-values not adjusted for multiplicity ({why})"]


def _print_tables(result, *, max_rows: int) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=160)
    console.print(f"[bold]weightspace compare[/bold] — protocol: {result.protocol}")
    for name in _SHOWN:
        frame = result.tables.get(name)
        if frame is None or frame.empty:
            continue
        table = Table(title=name, title_justify="left", show_lines=False)
        for col in frame.columns:
            table.add_column(str(col), overflow="fold")
        for row in frame.head(max_rows).itertuples(index=False):
            table.add_row(*(_cell(v) for v in row))
        console.print(table)
        if len(frame) > max_rows:
            console.print(f"  … {len(frame) - max_rows} more rows (see the written files)")
        for line in _family_lines(name, frame):
            console.print(f"  {line}", markup=False)
    console.print("[bold]Conclusions[/bold]")
    for sentence in result.conclusions:
        console.print(f" • {sentence}")


def _rules(items: list[str]):
    """``["aug=div", ...]`` → CategoryRules with those prefixes first; None when empty."""
    if not items:
        return None
    mapping = {}
    for item in items:
        prefix, sep, cat = item.partition("=")
        if not sep or not prefix.strip() or not cat.strip():
            raise ConfigError(
                f"--category {item!r} is not PREFIX=CATEGORY; e.g. --category aug=div"
            )
        mapping[prefix.strip()] = cat.strip()
    return CategoryRules.from_mapping(mapping)


@app.command("compare")
def compare_command(
    paths: list[Path] = typer.Argument(
        ..., help="Study directories (with layers.parquet) and/or folders of WeightWatcher CSVs."
    ),
    protocol: Protocol = typer.Option(
        Protocol.default, "--protocol", help="paper: the authors' exact protocol; default: ours."
    ),
    metrics: list[str] | None = typer.Option(
        None,
        "--metrics",
        help="A metric column to compare; repeat for several (default: alpha, entropy, "
        "log_norm, log_spectral_norm, stable_rank where present).",
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Directory for CSV tables + compare.json, or a .json file."
    ),
    save: bool = typer.Option(
        False,
        "--save",
        help="Store the result in PATH/compare/<protocol>/ (one PATH), where `weightspace "
        "report PATH` reads it; for a study also its ΔΔ table (dd.parquet).",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of every permutation and bootstrap."),
    category: list[str] = typer.Option(
        [],
        "--category",
        help="Extra category rule PREFIX=CATEGORY (repeatable), tried before "
        "the defaults (bs; 'div' anywhere; combo, gen, dp, wd prefixes).",
    ),
    reference: list[str] = typer.Option(
        [Category.DP.value, Category.WD.value],
        "--reference",
        help="The fingerprint's two reference categories, given twice: the first sits at "
        "θ = 0, the second at θ = 1 (default: --reference dp --reference wd).",
    ),
    n_perm: int = typer.Option(2000, "--n-perm", help="Permutations per test."),
    n_boot: int = typer.Option(1000, "--n-boot", help="Bootstrap resamples per interval."),
    n_sims: int = typer.Option(
        100, "--n-sims", help="Simulated studies behind the power table (0: no power table)."
    ),
    max_rows: int = typer.Option(30, "--max-rows", help="Rows printed per table."),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads for numerics."),
) -> None:
    """Statistics of ΔΔ = (after − before)(condition) − (after − before)(baseline)."""
    if threads is not None:
        set_threads(threads)
    chosen = list(metrics) if metrics else None
    try:
        if save and len(paths) != 1:
            raise ConfigError(
                f"--save stores the result in one study's compare/ folder, but {len(paths)} "
                "paths were given; give one path, or use --out DIR for a pooled comparison"
            )
        rules = _rules(category)
        result = compare(
            paths,
            protocol=protocol.value,
            metrics=chosen,
            seed=seed,
            n_perm=n_perm,
            n_boot=n_boot,
            references=list(reference),
            category_rules=rules,
            n_sims=n_sims,
        )
    except WeightspaceError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(code=2) from None
    _print_tables(result, max_rows=max_rows)
    if out is not None:
        written = result.to_dir(out)
        typer.echo(f"wrote {written}")
    if save:
        for folder in save_to_study(paths[0], {result.protocol: result}):
            typer.echo(f"stored {folder} (read by `weightspace report {paths[0]}`)")
