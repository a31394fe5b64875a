"""The image modality: uint8 images, the model registry, the augmentation ladder, OOD sets.

- data: :func:`weightspace.train.data.prepare_data` (subsets, validation split, the real
  training set's channel statistics);
- model: :func:`weightspace.models.create_model` (seeded with the run's seed);
- batches: :class:`ImageBatches` — the training images stay ``uint8`` (N, C, H, W) in
  memory; each batch is gathered by index, augmented (a generator per batch seeded by
  (seed, epoch, batch); ``num_workers`` > 0 augments the next batches in background
  threads, with the same result) and normalised in one fused multiply-add;
- evaluation: :func:`weightspace.train.metrics.evaluate`; run metrics: accuracy and ECE on
  every corruption × severity of the test set (``ood``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from weightspace.data import CORRUPTIONS, DATASETS, make_augment, policy_strength
from weightspace.data.augment import Augment, normalize_spec
from weightspace.data.datasets import PATH_PREFIXES
from weightspace.data.magnitude import policy_level
from weightspace.errors import ConfigError, WeightspaceError, unknown_choice
from weightspace.models import MODELS, create_model
from weightspace.train.config import RunConfig
from weightspace.train.data import RunData, corrupted, prepare_data
from weightspace.train.inputs import normalizer, to_input
from weightspace.train.loop import batch_seed
from weightspace.train.metrics import evaluate
from weightspace.train.modality import Modality, TrainingSetBuilder
from weightspace.train.snapshots import sharpness_batches
from weightspace.vocabulary import AUGMENT_CONDITIONS

# a uint8 (B, C, H, W) batch and a generator -> float32 (B, C, H, W) in [0, 1] (data.Augment)
AugmentFn = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


@dataclass
class ImageBatches:
    """The image :class:`~weightspace.train.loop.BatchSource`: normalised float32
    (B, C, H, W) batches on ``device`` from uint8 ``images`` (N, C, H, W).

    ``augment(batch, generator)`` maps a uint8 batch to float32 in [0, 1]; None takes the
    uint8 fast path (on CUDA the whole set then lives on the GPU and batches are gathered
    there). ``mean`` and ``std``: per-channel statistics on [0, 1].
    """

    images: torch.Tensor
    labels: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    augment: AugmentFn | None = None
    seed: int = 0
    workers: int = 0  # background threads augmenting the next batches
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    def __post_init__(self) -> None:
        self.device = torch.device(self.device)
        self.cuda = self.device.type == "cuda"
        top = 255.0 if self.augment is None else 1.0  # augment returns [0, 1] floats
        self.scale, self.shift = normalizer(self.mean, self.std, max_value=top, device=self.device)
        if self.augment is None and self.cuda:
            self.images, self.labels = self.images.to(self.device), self.labels.to(self.device)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __call__(
        self, batches: list[torch.Tensor], epoch: int
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.augment is None and self.cuda:
            batches = [b.to(self.device) for b in batches]
        for xb, yb in self._gathered(batches, epoch):
            xb = xb.to(self.device, non_blocking=self.cuda)
            yb = yb.to(self.device, non_blocking=self.cuda)
            yield to_input(xb, self.scale, self.shift, channels_last=self.cuda), yb

    def _gathered(
        self, batches: list[torch.Tensor], epoch: int
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(x, y) per batch: uint8 x without augmentation, float [0, 1] x with it.

        Batch b is augmented with its own generator seeded by (seed, epoch, b), so the result
        does not depend on ``workers``: with ``workers`` > 0, background threads augment up
        to ``workers + 1`` batches ahead of the training step (torch kernels release the GIL).
        """
        augment = self.augment
        if augment is None:
            for idx in batches:
                yield self.images[idx], self.labels[idx]
            return

        def make(b: int) -> tuple[torch.Tensor, torch.Tensor]:
            idx = batches[b]
            g = torch.Generator().manual_seed(batch_seed(self.seed, epoch, b))
            x = augment(self.images[idx], g)  # (B, C, H, W) float32 in [0, 1]
            y = self.labels[idx]
            return (x.pin_memory(), y.pin_memory()) if self.cuda else (x, y)

        if self.workers == 0:
            for b in range(len(batches)):
                yield make(b)
            return
        with ThreadPoolExecutor(self.workers, thread_name_prefix="augment") as pool:
            ahead = min(len(batches), self.workers + 1)
            pending = deque(pool.submit(make, b) for b in range(ahead))
            try:
                for b in range(ahead, len(batches) + ahead):
                    x, y = pending.popleft().result()
                    if b < len(batches):
                        pending.append(pool.submit(make, b))
                    yield x, y
            finally:
                for fut in pending:
                    fut.cancel()


def image_augment(config: RunConfig, in_channels: int) -> Augment | None:
    """The batch augmentation of ``config``, or None for the uint8 fast path (``none``)."""
    augment = make_augment(config.augment, in_channels=in_channels)
    return None if augment.is_identity else augment


class ImageModality(Modality):
    """Images: every dataset the text modality does not claim."""

    name = "image"

    def handles(self, dataset: str) -> bool:
        return True  # asked last (weightspace.train.modalities)

    def check_names(self, config: RunConfig) -> None:
        key = config.dataset.lower()
        if not (key in DATASETS or key.startswith(PATH_PREFIXES) or Path(config.dataset).exists()):
            raise unknown_choice(
                "dataset",
                config.dataset,
                [*DATASETS, "imagefolder:PATH", "npz:PATH"],
                hint="or give the path of an ImageFolder tree or a .npz file",
            )
        if config.model.lower() not in MODELS:
            raise unknown_choice("model", config.model, MODELS)
        normalize_spec(config.augment)  # raises listing the policies / ops

    def check_weights(self, config: RunConfig) -> None:
        if not config.pretrained:
            return
        try:
            create_model(config.model, num_classes=10, in_channels=3, pretrained=config.pretrained)
        except (WeightspaceError, ImportError, OSError) as err:
            raise ConfigError(
                f"cannot load the pretrained weights of model {config.model!r} "
                f"(pretrained = {config.pretrained!r}): {err}. This study fine-tunes a "
                "pretrained backbone, which needs the weight file on this machine: set "
                "[model] pretrained = PATH in the spec (or --pretrained PATH), or use "
                "--preset paper to train from scratch"
            ) from err

    def augment_name(self, policy: str) -> str:
        if policy not in AUGMENT_CONDITIONS:
            raise unknown_choice(
                "augmentation policy",
                policy,
                AUGMENT_CONDITIONS,
                hint="Or give a custom policy as {name = 'divMine', ops = [{op = ..., ...}]}; "
                "for text, an EDA policy such as 'sr0.3' or 'sr0.1+rd0.1'",
            )
        return AUGMENT_CONDITIONS[policy]

    def augment_strength(self, spec: Any) -> float:
        return policy_strength(spec)

    def augment_level(self, spec: Any) -> float:
        return policy_level(normalize_spec(spec))

    def prepare_data(
        self, config: RunConfig, *, synthesize: TrainingSetBuilder | None = None
    ) -> RunData:
        return prepare_data(config, synthesize=synthesize)

    def build_model(
        self, config: RunConfig, data: RunData, *, pretrained: bool = True
    ) -> nn.Module:
        torch.manual_seed(config.seed)  # initialisation and dropout draw from the global RNG
        return create_model(
            config.model,
            num_classes=data.num_classes,
            in_channels=data.in_channels,
            dropout=config.dropout,
            width=config.width,
            pretrained=config.pretrained if pretrained else None,
            image_size=config.image_size or data.image_size,
        )

    def batch_source(
        self, model: nn.Module, data: RunData, config: RunConfig, device: torch.device
    ) -> ImageBatches:
        return ImageBatches(
            data.train.images,
            data.train.labels,
            data.mean,
            data.std,
            augment=image_augment(config, data.in_channels),
            seed=config.seed,
            workers=config.num_workers,
            device=device,
        )

    def evaluate(
        self, model: nn.Module, split: Any, data: RunData, config: RunConfig, device: torch.device
    ) -> dict[str, float]:
        return _scores(model, split.images, split.labels, data, config, device)

    def run_metrics(
        self, model: nn.Module, data: RunData, config: RunConfig, device: torch.device
    ) -> dict[str, Any]:
        """Accuracy and ECE on every corruption × severity, and their unweighted means."""
        if not config.ood:
            return {}
        table: dict[str, dict[str, dict[str, float]]] = {}
        accs, eces = [], []
        for kind in CORRUPTIONS:
            table[kind] = {}
            for severity in config.ood_severities:
                images = corrupted(config, data.test.images, kind, severity)
                res = _scores(model, images, data.test.labels, data, config, device)
                table[kind][str(severity)] = {"acc": res["acc"], "ece": res["ece"]}
                accs.append(res["acc"])
                eces.append(res["ece"])
        return {
            "ood_acc": sum(accs) / len(accs) if accs else math.nan,
            "ood_ece": sum(eces) / len(eces) if eces else math.nan,
            "ood": table,
        }

    def sharpness_batches(
        self, data: RunData, config: RunConfig, device: torch.device
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return sharpness_batches(
            data.train.images,
            data.train.labels,
            config=config,
            mean=data.mean,
            std=data.std,
            device=device,
        )


def _scores(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    data: RunData,
    config: RunConfig,
    device: torch.device,
) -> dict[str, float]:
    return evaluate(
        model,
        images,
        labels,
        mean=data.mean,
        std=data.std,
        batch_size=config.eval_batch_size,
        device=device,
    )
