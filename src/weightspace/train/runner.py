"""One training run, end to end: data → model → spectra before → train → evaluate → spectra
after → ΔW and subspace overlap → run directory (written atomically; see
:mod:`weightspace.store`)."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from weightspace import store
from weightspace.data import CORRUPTIONS, make_augment
from weightspace.errors import ConfigError
from weightspace.models import create_model
from weightspace.spectral.analyze import analyze
from weightspace.spectral.delta import delta_table
from weightspace.threads import set_threads
from weightspace.train import finetune
from weightspace.train.config import RunConfig
from weightspace.train.data import RunData, TrainingSetBuilder, corrupted, prepare_data
from weightspace.train.loop import EpochStats, fit
from weightspace.train.metrics import evaluate
from weightspace.train.provenance import provenance
from weightspace.train.snapshots import Dynamics, with_step
from weightspace.train.text import (
    TextRunData,
    build_text_model,
    evaluate_text,
    is_text_dataset,
    prepare_text_data,
    text_batch_source,
    text_metrics,
)

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """``torch.device(name)``; an error when CUDA is requested but not available."""
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device {name!r} requested but CUDA is not available on this machine; "
                "use device='cpu'"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(
                f"device {name!r} requested but only {torch.cuda.device_count()} CUDA "
                "device(s) exist; use cuda:0"
            )
    return device


def run(
    config: RunConfig | Mapping[str, Any],
    out_dir: str | Path,
    *,
    progress: bool = True,
    overwrite: bool = False,
    synthesize: TrainingSetBuilder | None = None,
) -> dict[str, Any]:
    """Train and evaluate one run and write its directory ``out_dir``; return the metrics.

    The directory appears only when everything is on disk (an exception or a kill leaves
    no ``out_dir``, at most a ``.<name>.incomplete-<pid>`` sibling). An existing complete
    ``out_dir`` is an error unless ``overwrite``.
    """
    if not isinstance(config, RunConfig):
        config = RunConfig.from_dict(config)
    config.check_names()
    device = resolve_device(config.device)
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    threads = set_threads(config.threads)
    with store.atomic_dir(out_dir, overwrite=overwrite) as tmp:
        # text: tokens from a batch source, no OOD sets (weightspace.train.text)
        data = (
            prepare_text_data(config, synthesize=synthesize)
            if is_text_dataset(config.dataset)
            else prepare_data(config, synthesize=synthesize)
        )
        if isinstance(data, TextRunData):
            model = build_text_model(config, data)
        else:
            model = _build_model(config, data)
        data = finetune.with_model_stats(model, data)  # a model may declare its input statistics
        before = finetune.spectra_before(model, config)
        _save_weights(tmp / store.INIT_WEIGHTS_FILE, model, config)
        model.to(device)
        augment = (
            None if isinstance(data, TextRunData) else _build_augment(config, data.in_channels)
        )
        rows: list[dict[str, Any]] = []
        dynamics = Dynamics.create(
            model=model, config=config, data=data, out_dir=tmp, spectra=_spectra, device=device
        )
        steps_per_epoch = dynamics.total_steps // max(1, config.epochs)
        dynamics.start()

        def on_epoch_end(stats: EpochStats) -> None:
            row = {
                "epoch": stats.epoch,
                "train_loss": stats.train_loss,
                "train_acc": stats.train_acc,
                "val_acc": math.nan,
                "val_loss": math.nan,
                "lr": stats.lr,
                "seconds": stats.seconds,
            }
            if data.val is not None:
                val = _eval(model, data.val, data, config, device)
                row["val_acc"], row["val_loss"] = val["acc"], val["loss"]
            rows.append(row)
            k = config.snapshot_every
            if k is not None and stats.epoch % k == 0 and stats.epoch < config.epochs:
                store.write_table(
                    tmp / store.snapshot_file(f"epoch{stats.epoch}"),
                    with_step(_spectra(model, config), stats.epoch * steps_per_epoch),
                )

        if isinstance(data, TextRunData):
            images, mean, std = None, None, None
            source = text_batch_source(model, data.train, config)
        else:
            images, mean, std, source = data.train.images, data.mean, data.std, None
        history = fit(
            model,
            images,
            data.train.labels,
            config=config,
            mean=mean,
            std=std,
            augment=augment,
            device=device,
            on_epoch_end=on_epoch_end,
            on_step=dynamics.on_step if dynamics.active else None,
            progress=progress,
            batch_source=source,
        )
        metrics = _final_metrics(model, data, config, device, history)
        dynamics.finish(metrics)
        model.cpu()
        after = _spectra(model, config)
        metrics["wall_time_s"] = time.perf_counter() - t0
        ended = datetime.now(timezone.utc)

        store.write_table(tmp / store.snapshot_file("before"), with_step(before, 0))
        store.write_table(
            tmp / store.snapshot_file("after"), with_step(after, dynamics.total_steps)
        )
        store.write_table(tmp / store.HISTORY_FILE, _history_frame(rows))
        _save_weights(tmp / store.WEIGHTS_FILE, model, config)
        if config.overlap_k is not None:  # how the update moved each layer (ΔW, overlap)
            store.write_table(
                tmp / store.WEIGHT_DELTA_TABLE,
                weight_delta(tmp, after, k=config.overlap_k, compat=config.compat),
            )
        store.write_json(tmp / store.CONFIG_FILE, {**config.to_dict(), "run_id": config.run_id()})
        store.write_json(tmp / store.METRICS_FILE, metrics)
        store.write_json(
            tmp / store.PROVENANCE_FILE,
            provenance(
                config=config,
                device=device,
                threads=threads,
                started=started,
                ended=ended,
                wall_time_s=metrics["wall_time_s"],
            ),
        )
    log.info("run %s written to %s", config.run_id(), out_dir)
    return metrics


def _build_model(config: RunConfig, data: RunData) -> nn.Module:
    torch.manual_seed(config.seed)  # initialisation and dropout draw from the global RNG
    return create_model(
        config.model,
        num_classes=data.num_classes,
        in_channels=data.in_channels,
        dropout=config.dropout,
        width=config.width,
        pretrained=config.pretrained,
        image_size=config.image_size or data.image_size,
    )


def _build_augment(config: RunConfig, in_channels: int) -> Any:
    """The batch augmentation, or None for the uint8 fast path (an empty policy: ``none``)."""
    augment = make_augment(config.augment, in_channels=in_channels)
    return None if augment.is_identity else augment


def _spectra(model: nn.Module, config: RunConfig, *, mp_fit: bool | None = None) -> pd.DataFrame:
    was_training = model.training
    try:
        fit_mp = config.mp_fit if mp_fit is None else mp_fit
        return analyze(model, compat=config.compat, mp_fit=fit_mp)
    finally:
        model.train(was_training)


def weight_delta(run_dir: Path, after: pd.DataFrame, *, k: int, compat: str | None) -> pd.DataFrame:
    """ΔW metrics and subspace overlap per layer from a run directory's two weights files
    (:func:`~weightspace.spectral.delta.delta_table`), in the order and with the
    ``layer_id`` of the run's spectra ``after`` (the model's numbering, as ``layers.parquet``;
    a layer the spectra lack keeps the file's)."""
    table = delta_table(
        run_dir / store.INIT_WEIGHTS_FILE, run_dir / store.WEIGHTS_FILE, k=k, compat=compat
    )
    ids = dict(zip(after["longname"], after["layer_id"], strict=True))
    table["layer_id"] = table["longname"].map(ids).fillna(table["layer_id"]).astype("int64")
    return table.sort_values("layer_id", kind="stable", ignore_index=True)


def _save_weights(path: Path, model: nn.Module, config: RunConfig) -> None:
    """The state dict (parameters and buffers) as safetensors, carrying the config."""
    import json

    from safetensors.torch import save_file

    # clone: shared (tied) tensors and non-contiguous views cannot be written as they are
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    meta = {"run_id": config.run_id(), "config": json.dumps(config.to_dict(), sort_keys=True)}
    save_file(tensors, str(path), metadata=meta)


def _eval(
    model: nn.Module,
    split: Any,
    data: RunData | TextRunData,
    config: RunConfig,
    device: torch.device,
) -> dict[str, float]:
    if isinstance(data, TextRunData):
        return evaluate_text(model, split, config, device)
    return evaluate(
        model,
        split.images,
        split.labels,
        mean=data.mean,
        std=data.std,
        batch_size=config.eval_batch_size,
        device=device,
    )


def _final_metrics(
    model: nn.Module,
    data: RunData | TextRunData,
    config: RunConfig,
    device: torch.device,
    history: list[EpochStats],
) -> dict[str, Any]:
    test = _eval(model, data.test, data, config, device)
    train = _eval(model, data.train, data, config, device)  # clean, eval mode
    nan = math.nan
    val = _eval(model, data.val, data, config, device) if data.val is not None else {}
    seconds = sum(h.seconds for h in history)
    images = sum(h.images for h in history)
    metrics: dict[str, Any] = {
        "run_id": config.run_id(),
        "test_acc": test["acc"],
        "test_loss": test["loss"],
        "test_nll": test["nll"],
        "test_ece": test["ece"],
        "train_acc": train["acc"],
        "train_loss": train["loss"],
        "val_acc": val.get("acc", nan),
        "val_loss": val.get("loss", nan),
        "gap": train["acc"] - test["acc"],
        "ood_acc": nan,
        "ood_ece": nan,
        "ood": {},
        "final_train_loss": history[-1].train_loss if history else nan,
        "epochs_run": len(history),
        "images_per_s": images / seconds if seconds > 0 else nan,
        "wall_time_s": nan,
    }
    if isinstance(data, TextRunData):
        metrics.update(text_metrics(model, data, config))
    elif config.ood:
        metrics.update(_ood_metrics(model, data, config, device))
    return metrics


def _ood_metrics(
    model: nn.Module, data: RunData, config: RunConfig, device: torch.device
) -> dict[str, Any]:
    """Accuracy and ECE on every corruption × severity, and their unweighted means."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    accs, eces = [], []
    for kind in CORRUPTIONS:
        table[kind] = {}
        for severity in config.ood_severities:
            images = corrupted(config, data.test.images, kind, severity)
            res = evaluate(
                model,
                images,
                data.test.labels,
                mean=data.mean,
                std=data.std,
                batch_size=config.eval_batch_size,
                device=device,
            )
            table[kind][str(severity)] = {"acc": res["acc"], "ece": res["ece"]}
            accs.append(res["acc"])
            eces.append(res["ece"])
    return {
        "ood_acc": sum(accs) / len(accs) if accs else math.nan,
        "ood_ece": sum(eces) / len(eces) if eces else math.nan,
        "ood": table,
    }


def _history_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    columns = ["epoch", "train_loss", "train_acc", "val_acc", "val_loss", "lr", "seconds"]
    df = pd.DataFrame(rows, columns=columns)
    return df.astype({c: ("int64" if c == "epoch" else "float64") for c in columns})
