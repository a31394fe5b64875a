"""Rebuild a finished image run: its trained model and its data exactly as training saw them.

:func:`load_run` reads a run directory's ``config.json`` and ``weights.safetensors`` and
prepares the same subset, validation split and normalisation statistics as the run did.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn

from weightspace import store
from weightspace.checkpoint import file_digest
from weightspace.errors import CheckpointError, ConfigError
from weightspace.train.config import RunConfig
from weightspace.train.data import RunData
from weightspace.train.finetune import with_model_stats
from weightspace.train.image import ImageModality

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class LoadedRun:
    """A run's model (eval mode, on ``device``), its data splits and its weights digest."""

    model: nn.Module
    data: RunData
    config: RunConfig
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
    run_dir = Path(run_dir)
    cfg_path, w_path = run_dir / store.CONFIG_FILE, run_dir / store.WEIGHTS_FILE
    for p in (cfg_path, w_path):
        if not p.is_file():
            raise CheckpointError(
                f"{run_dir} is not a finished run directory: {p.name} is missing; pass the "
                "directory of a completed `weightspace train` run"
            )
    config = RunConfig.from_dict(store.read_json(cfg_path), where=str(cfg_path))
    image = ImageModality()
    data = image.prepare_data(config)
    model = image.build_model(config, data, pretrained=False)  # the trained weights replace it
    data = with_model_stats(model, data)  # the statistics the run normalised with
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
