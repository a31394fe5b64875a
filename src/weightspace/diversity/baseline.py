"""A trained run as a fixed encoder and classifier: the study's "baseline" encoder.

:class:`TrainedModel` is what the measures need of a trained run;
``weightspace.train.load_run`` rebuilds one from a finished run directory (same subset,
same validation split, same normalisation statistics as training saw).
:func:`affinity` is Gontijo-Lopes et al.'s affinity: the clean model's accuracy on augmented
validation data divided by its accuracy on the clean validation data.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from weightspace.data import make_augment, stratified_subset

log = logging.getLogger(__name__)


class TrainedModel(Protocol):
    """A trained classifier as the diversity measures use it (``weightspace.train.LoadedRun``)."""

    @property
    def model(self) -> nn.Module: ...

    @property
    def data(self) -> Any: ...  # the run's splits: ``.val`` (or None) and ``.test`` ImageSets

    @property
    def digest(self) -> str: ...

    @property
    def device(self) -> str: ...

    def preprocess(self, x: torch.Tensor) -> torch.Tensor: ...

    def predict(self, images: torch.Tensor, *, batch_size: int = 512) -> np.ndarray: ...


def affinity(
    run: TrainedModel,
    augment: str | Sequence[Mapping[str, Any]],
    *,
    draws: int = 3,
    seed: int = 0,
    max_images: int | None = 2000,
) -> tuple[float, float, float]:
    """(affinity, augmented accuracy, clean accuracy) of ``run``'s model on its validation set.

    Augmented accuracy is the mean over ``draws`` independent augmentation draws; at most
    ``max_images`` validation images (stratified, seeded) are used.
    """
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
