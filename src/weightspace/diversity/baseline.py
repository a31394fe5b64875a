"""A trained run as a fixed encoder and classifier: the study's "baseline" encoder.

:func:`load_run` rebuilds a finished run directory's model (``config.json`` +
``weights.safetensors``) and its data exactly as training saw them (same subset, same
validation split, same normalisation statistics), through ``weightspace.train``.
:func:`affinity` is Gontijo-Lopes et al.'s affinity: the clean model's accuracy on augmented
validation data divided by its accuracy on the clean validation data.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from weightspace import store
from weightspace.errors import CheckpointError, ConfigError

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class LoadedRun:
    """A run's model (eval mode, on ``device``), its data splits and its weights digest."""

    model: nn.Module
    data: Any  # weightspace.train.data.RunData
    config: Any  # weightspace.train.RunConfig
    digest: str
    device: str

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """[0, 1] float images (B, C, H, W) -> the model's normalised input."""
        mean = self.data.mean.to(x.device).view(1, -1, 1, 1)
        std = self.data.std.to(x.device).view(1, -1, 1, 1)
        return (x - mean) / std

    @torch.no_grad()
    def predict(self, images: torch.Tensor, *, batch_size: int = 512) -> np.ndarray:
        """Predicted classes (N,) for [0, 1] float images (N, C, H, W)."""
        out = []
        for chunk in torch.split(images, batch_size):
            x = self.preprocess(chunk.to(self.device, torch.float32))
            out.append(self.model(x).argmax(dim=1).cpu())
        return torch.cat(out).numpy()


def load_run(run_dir: str | Path, *, device: str = "cpu") -> LoadedRun:
    """Rebuild the trained model and the data of the run in ``run_dir``."""
    from safetensors.torch import load_file

    from weightspace.diversity.encoders import file_digest
    from weightspace.models import create_model
    from weightspace.train import RunConfig
    from weightspace.train.data import prepare_data

    run_dir = Path(run_dir)
    cfg_path, w_path = run_dir / store.CONFIG_FILE, run_dir / store.WEIGHTS_FILE
    for p in (cfg_path, w_path):
        if not p.is_file():
            raise CheckpointError(
                f"{run_dir} is not a finished run directory: {p.name} is missing; pass the "
                "directory of a completed `weightspace train` run"
            )
    config = RunConfig.from_dict(store.read_json(cfg_path), where=str(cfg_path))
    data = prepare_data(config)
    model = create_model(
        config.model,
        num_classes=data.num_classes,
        in_channels=data.in_channels,
        dropout=config.dropout,
        width=config.width,
        pretrained=None,  # the trained weights below replace any pretrained start
        image_size=data.image_size,
    )
    try:
        model.load_state_dict(load_file(str(w_path)))
    except RuntimeError as err:
        raise CheckpointError(f"{w_path} does not match model {config.model!r}: {err}") from err
    model.eval().to(device)
    if not hasattr(model, "forward_features"):
        raise ConfigError(f"model {config.model!r} has no forward_features(); cannot encode")
    return LoadedRun(
        model=model, data=data, config=config, digest=file_digest(w_path), device=device
    )


def affinity(
    run: LoadedRun,
    augment: Any,
    *,
    draws: int = 3,
    seed: int = 0,
    max_images: int | None = 2000,
) -> tuple[float, float, float]:
    """(affinity, augmented accuracy, clean accuracy) of ``run``'s model on its validation set.

    Augmented accuracy is the mean over ``draws`` independent augmentation draws; at most
    ``max_images`` validation images (stratified, seeded) are used.
    """
    from weightspace.data import make_augment, stratified_subset

    val = run.data.val
    if val is None:
        val = run.data.test
        log.warning("run has no validation split (val_fraction = 0); using its test set")
    if max_images is not None and len(val) > max_images:
        val = stratified_subset(val, max_images, seed=seed)
    labels = val.labels.numpy()
    clean = float((run.predict(val.images.float() / 255.0) == labels).mean())
    aug = make_augment(augment, in_channels=val.in_channels)
    if aug.is_identity:
        return 1.0, clean, clean
    accs = []
    for k in range(draws):
        x = aug(val.images, generator=torch.Generator().manual_seed(seed + k))  # (N, C, H, W)
        accs.append(float((run.predict(x) == labels).mean()))
    acc_aug = float(np.mean(accs))
    return (acc_aug / clean if clean > 0 else float("nan")), acc_aug, clean
