"""``weightspace synthetic``: make the built-in generator's samples, or validate an import,
and print their quality (fidelity, coverage, per-class Vendi score)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import typer

from weightspace import store
from weightspace.cli._app import app, fail
from weightspace.data import load_dataset, stratified_subset
from weightspace.errors import WeightspaceError
from weightspace.synthetic import GeneratorConfig, load_synthetic, prepare_builtin
from weightspace.threads import set_threads


@app.command("synthetic")
def synthetic(
    dataset: str = typer.Option("fashion-mnist", help="Real dataset the samples are for."),
    data_dir: Path | None = typer.Option(None, help="Directory holding the dataset files."),
    train_size: int | None = typer.Option(
        5000, help="Stratified real subset the generator learns from (0 = all)."
    ),
    seed: int = typer.Option(0, help="Seed of the subset and the generator."),
    source: Path | None = typer.Option(
        None, help="Validate this import (.npz / ImageFolder / PNGs + labels.csv) instead."
    ),
    epochs: int = typer.Option(10, min=1, help="Generator training epochs."),
    oversample: float = typer.Option(3.0, min=1.0, help="Samples per class ÷ largest class."),
    out: Path | None = typer.Option(None, help="Copy samples, grid and quality here."),
    threads: int | None = typer.Option(None, help="Torch threads (default: $WEIGHTSPACE_THREADS)."),
) -> None:
    """Generate (or import) synthetic training images and report their quality."""
    set_threads(threads)
    try:
        _run(dataset, data_dir, train_size, seed, source, epochs, oversample, out)
    except WeightspaceError as err:
        raise fail(str(err)) from None


def _run(
    dataset: str,
    data_dir: Path | None,
    train_size: int | None,
    seed: int,
    source: Path | None,
    epochs: int,
    oversample: float,
    out: Path | None,
) -> None:
    real = load_dataset(dataset, split="train", data_dir=data_dir)
    if train_size:
        real = stratified_subset(real, train_size, seed=seed)
    if source is not None:
        synth = load_synthetic(source, like=real)
        counts = pd.Series(synth.labels.numpy()).value_counts().sort_index()
        typer.echo(f"{source}: {len(synth)} images, {tuple(synth.images.shape[1:])}, per class:")
        for k, v in counts.items():
            typer.echo(f"  {real.classes[int(k)]:<14} {v}")
        return
    typer.echo(f"built-in generator on {real.name} ({len(real)} images); first use trains it")
    path = prepare_builtin(
        real, config=GeneratorConfig(epochs=epochs, seed=seed), oversample=oversample
    )
    quality = pd.read_csv(path / store.QUALITY_TABLE)
    typer.echo(quality.round(3).to_string(index=False))
    typer.echo(f"samples, grid and provenance: {path}")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for f in (store.SAMPLES_FILE, *store.SHOWN_SYNTHETIC_FILES):
            shutil.copy2(path / f, out / f)
        typer.echo(f"copied to {out}")
