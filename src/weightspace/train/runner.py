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
from weightspace.errors import ConfigError
from weightspace.spectral.analyze import analyze
from weightspace.spectral.delta import weight_delta_table
from weightspace.threads import set_threads
from weightspace.train import finetune
from weightspace.train.config import RunConfig
from weightspace.train.loop import EpochStats, fit
from weightspace.train.modalities import modality_of
from weightspace.train.modality import Modality, RunData, TrainingSetBuilder
from weightspace.train.provenance import provenance
from weightspace.train.snapshots import Dynamics, wants_sharpness, with_step

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
    ``out_dir`` is an error unless ``overwrite``. ``synthesize(config, real_train)`` builds
    the training set of a run with ``config.synthetic`` set
    (``weightspace.synthetic.build_training_set``, which sits above this stage).
    """
    if not isinstance(config, RunConfig):
        config = RunConfig.from_dict(config)
    modality = modality_of(config.dataset)  # the one place a run asks what its data is
    modality.check_names(config)
    device = resolve_device(config.device)
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    threads = set_threads(config.threads)
    with store.atomic_dir(out_dir, overwrite=overwrite) as tmp:
        data = modality.prepare_data(config, synthesize=synthesize)
        model = modality.build_model(config, data)
        data = finetune.with_model_stats(model, data)  # a model may declare its input statistics
        before = finetune.spectra_before(model, config)
        _save_weights(tmp / store.INIT_WEIGHTS_FILE, model, config)
        model.to(device)
        training = _Training(modality, model, data, config, device, tmp)
        history = training.fit(progress=progress)
        metrics = training.final_metrics(history)
        model.cpu()
        after = _spectra(model, config)
        metrics["wall_time_s"] = time.perf_counter() - t0
        ended = datetime.now(timezone.utc)
        store.write_table(tmp / store.snapshot_file("before"), with_step(before, 0))
        store.write_table(
            tmp / store.snapshot_file("after"), with_step(after, training.dynamics.total_steps)
        )
        store.write_table(tmp / store.HISTORY_FILE, _history_frame(training.rows))
        _save_weights(tmp / store.WEIGHTS_FILE, model, config)
        if config.overlap_k is not None:  # how the update moved each layer (ΔW, overlap)
            store.write_table(
                tmp / store.WEIGHT_DELTA_TABLE,
                run_weight_delta(tmp, after, k=config.overlap_k, compat=config.compat),
            )
        store.write_json(tmp / store.CONFIG_FILE, {**config.to_dict(), "run_id": config.run_id()})
        store.write_json(tmp / store.METRICS_FILE, metrics)
        store.write_json(
            tmp / store.PROVENANCE_FILE,
            provenance(
                config=config, device=device, threads=threads, started=started, ended=ended,
                wall_time_s=metrics["wall_time_s"],
            ),
        )  # fmt: skip
    log.info("run %s written to %s", config.run_id(), out_dir)
    return metrics


class _Training:
    """The training part of a run: the loop with its epoch hook (validation, epoch
    snapshots), the training dynamics (step snapshots, Hessian trace) and the final scores."""

    def __init__(
        self,
        modality: Modality,
        model: nn.Module,
        data: RunData,
        config: RunConfig,
        device: torch.device,
        out_dir: Path,
    ) -> None:
        self.modality, self.model, self.data = modality, model, data
        self.config, self.device, self.out_dir = config, device, out_dir
        self.rows: list[dict[str, Any]] = []  # history.parquet, one row per epoch
        sharpness = wants_sharpness(config)
        self.dynamics = Dynamics.create(
            model=model,
            config=config,
            n_train=len(data.train),
            out_dir=out_dir,
            spectra=_spectra,
            batches=modality.sharpness_batches(data, config, device) if sharpness else None,
        )

    def evaluate(self, split: Any) -> dict[str, float]:
        return self.modality.evaluate(self.model, split, self.data, self.config, self.device)

    def fit(self, *, progress: bool) -> list[EpochStats]:
        self.dynamics.start()
        return fit(
            self.model,
            self.modality.batch_source(self.model, self.data, self.config, self.device),
            config=self.config,
            device=self.device,
            on_epoch_end=self.on_epoch_end,
            on_step=self.dynamics.on_step if self.dynamics.active else None,
            progress=progress,
        )

    def on_epoch_end(self, stats: EpochStats) -> None:
        """Validation scores into the history; a spectral snapshot every k epochs."""
        row = {
            "epoch": stats.epoch,
            "train_loss": stats.train_loss,
            "train_acc": stats.train_acc,
            "val_acc": math.nan,
            "val_loss": math.nan,
            "lr": stats.lr,
            "seconds": stats.seconds,
        }
        if self.data.val is not None:
            val = self.evaluate(self.data.val)
            row["val_acc"], row["val_loss"] = val["acc"], val["loss"]
        self.rows.append(row)
        config, k = self.config, self.config.snapshot_every
        if k is not None and stats.epoch % k == 0 and stats.epoch < config.epochs:
            steps_per_epoch = self.dynamics.total_steps // max(1, config.epochs)
            store.write_table(
                self.out_dir / store.snapshot_file(f"epoch{stats.epoch}"),
                with_step(_spectra(self.model, config), stats.epoch * steps_per_epoch),
            )

    def final_metrics(self, history: list[EpochStats]) -> dict[str, Any]:
        """Test, clean training and validation scores, throughput, the modality's own metrics
        (OOD accuracy for images, truncation for texts) and the dynamics' summary."""
        test = self.evaluate(self.data.test)
        train = self.evaluate(self.data.train)  # clean, eval mode
        nan = math.nan
        val = self.evaluate(self.data.val) if self.data.val is not None else {}
        seconds = sum(h.seconds for h in history)
        images = sum(h.images for h in history)
        metrics: dict[str, Any] = {
            "run_id": self.config.run_id(),
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
        metrics.update(self.modality.run_metrics(self.model, self.data, self.config, self.device))
        self.dynamics.finish(metrics)
        return metrics


def _spectra(model: nn.Module, config: RunConfig, *, mp_fit: bool | None = None) -> pd.DataFrame:
    was_training = model.training
    try:
        fit_mp = config.mp_fit if mp_fit is None else mp_fit
        return analyze(model, compat=config.compat, mp_fit=fit_mp)
    finally:
        model.train(was_training)


def run_weight_delta(
    run_dir: Path, after: pd.DataFrame, *, k: int, compat: str | None
) -> pd.DataFrame:
    """ΔW metrics and subspace overlap per layer from a run directory's two weights files
    (:func:`~weightspace.spectral.delta.weight_delta_table`), in the order and with the
    ``layer_id`` of the run's spectra ``after`` (the model's numbering, as ``layers.parquet``;
    a layer the spectra lack keeps the file's)."""
    table = weight_delta_table(
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


def _history_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    columns = ["epoch", "train_loss", "train_acc", "val_acc", "val_loss", "lr", "seconds"]
    df = pd.DataFrame(rows, columns=columns)
    return df.astype({c: ("int64" if c == "epoch" else "float64") for c in columns})
