"""``weightspace train``: one training run into a run directory."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import typer

from weightspace import store
from weightspace.cli._app import app, fail
from weightspace.config import load_toml
from weightspace.errors import ConfigError, WeightspaceError
from weightspace.synthetic import build_training_set
from weightspace.train import RunConfig, run
from weightspace.train.modalities import misplaced_fields, modality_of


def _overrides(**given: Any) -> dict[str, Any]:
    """The options the user actually passed (typer gives None for the others)."""
    return {k: v for k, v in given.items() if v is not None}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4f}"
    return str(value)


@app.command("train")
def train(
    out: Path = typer.Option(..., "--out", "-o", help="Run directory to write."),
    config_file: Path | None = typer.Option(
        None, "--config", help="TOML file whose keys are RunConfig fields; flags override it."
    ),
    dataset: str | None = typer.Option(None, help="Dataset name (default fashion-mnist)."),
    data_dir: str | None = typer.Option(None, help="Directory holding the dataset files."),
    train_size: int | None = typer.Option(None, help="Stratified training subset size."),
    test_size: int | None = typer.Option(None, help="Stratified test subset size."),
    model: str | None = typer.Option(None, help="Model name (default cnn-small)."),
    width: float | None = typer.Option(None, help="Width multiplier of the model (e.g. 0.5, 2)."),
    pretrained: str | None = typer.Option(None, help="Local file with pretrained weights."),
    augment: str | None = typer.Option(None, help="Augmentation policy (default none)."),
    dropout: float | None = typer.Option(None, help="Dropout probability."),
    weight_decay: float | None = typer.Option(None, help="Weight decay (Adam: L2 penalty)."),
    optimizer: str | None = typer.Option(None, help="adam | adamw | sgd."),
    lr: float | None = typer.Option(None, help="Learning rate."),
    schedule: str | None = typer.Option(None, help="constant | cosine | step."),
    epochs: int | None = typer.Option(None, help="Number of epochs."),
    batch_size: int | None = typer.Option(None, help="Training batch size."),
    seed: int | None = typer.Option(None, help="Random seed."),
    threads: int | None = typer.Option(None, help="Torch threads (default 1)."),
    device: str | None = typer.Option(None, help="cpu | cuda | cuda:N."),
    snapshot_every: int | None = typer.Option(
        None, help="Spectral snapshot every k epochs, besides before/after."
    ),
    max_length: int | None = typer.Option(
        None, help="Text models: tokens per text (default 64); longer texts are truncated."
    ),
    freeze_embeddings: bool | None = typer.Option(
        None,
        "--freeze-embeddings/--train-embeddings",
        help="Text models: keep the word-embedding matrix fixed (default: train it).",
    ),
    no_ood: bool = typer.Option(False, "--no-ood", help="Skip the corrupted test sets."),
    overwrite: bool = typer.Option(False, help="Replace an existing complete run directory."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Train one model under one condition, snapshot its weight spectra, and evaluate it."""
    try:
        _train(
            out,
            config_file,
            overwrite=overwrite,
            quiet=quiet,
            no_ood=no_ood,
            options=_overrides(
                dataset=dataset,
                data_dir=data_dir,
                train_size=train_size,
                test_size=test_size,
                model=model,
                width=width,
                pretrained=pretrained,
                augment=augment,
                dropout=dropout,
                weight_decay=weight_decay,
                optimizer=optimizer,
                lr=lr,
                schedule=schedule,
                epochs=epochs,
                batch_size=batch_size,
                seed=seed,
                threads=threads,
                device=device,
                snapshot_every=snapshot_every,
                max_length=max_length,
                freeze_embeddings=freeze_embeddings,
            ),
        )
    except WeightspaceError as err:
        raise fail(str(err)) from None


def _train(
    out: Path,
    config_file: Path | None,
    *,
    overwrite: bool,
    quiet: bool,
    no_ood: bool,
    options: dict[str, Any],
) -> None:
    values: dict[str, Any] = {}
    if config_file is not None:
        values.update(load_toml(config_file))
        where = str(config_file)
    else:
        where = "command-line options"
    values.update(options)
    if no_ood:
        values["ood"] = False
    cfg = RunConfig.from_dict(values, where=where)
    modality = modality_of(cfg.dataset)
    modality.check_names(cfg)
    for owner, fields in misplaced_fields(cfg.dataset, options).items():
        flags = ", ".join("--" + k.replace("_", "-") for k in fields)
        raise ConfigError(
            f"{flags} apply to {owner} datasets only, but dataset {cfg.dataset!r} holds "
            f"{modality.name} data; drop the flag or give a {owner} dataset"
        )
    if store.is_complete(out) and not overwrite:
        raise ConfigError(
            f"{out} already holds a complete run; choose another --out or pass --overwrite"
        )
    metrics = run(cfg, out, progress=not quiet, overwrite=overwrite, synthesize=build_training_set)
    typer.echo(f"run {metrics['run_id']} → {out}")
    for key in ("test_acc", "test_loss", "test_ece", "train_acc", "gap", "ood_acc", "ood_ece"):
        typer.echo(f"  {key:<16}{_fmt(metrics[key])}")
    typer.echo(
        f"  {'images/s':<16}{metrics['images_per_s']:.0f}   wall {metrics['wall_time_s']:.1f} s"
    )
