"""What the prediction check asks of a modality (:mod:`weightspace.study.predict`).

A :class:`ConditionScorer` is built once per study from its baseline run and scores the
training data of every condition; each modality has one (``diversity_image``,
``diversity_text``), registered in :data:`weightspace.study.predict.SCORERS`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Protocol

from weightspace.train import RunConfig


@dataclasses.dataclass(frozen=True)
class CheckOptions:
    """How the conditions are scored (see :func:`weightspace.study.predict.prediction_check`)."""

    encoder: str = "baseline"  # images: the feature space (weightspace.diversity.ENCODERS)
    draws: int = 3  # augmentation draws per condition
    seed: int = 0
    n: int | None = 2000  # at most this many real training examples are scored
    q: float = 1.0  # the Vendi score's order (images)
    affinity_images: int | None = 2000  # validation images of the affinity (images)
    device: str = "cpu"
    cache: bool | str | Path = True  # the image feature cache (weightspace.diversity.cache)


class ConditionScorer(Protocol):
    """A modality's part of the check, built from the study's baseline run as
    ``Scorer(baseline_dir, baseline_config, options)``."""

    scores: tuple[str, ...]  # the score columns correlated with the targets
    targets: tuple[str, ...]  # the outcome columns they are correlated with
    n_test: int | None  # test-set size for the binomial SE of a gain (None: seed spread only)

    def score(self, config: RunConfig) -> dict[str, Any]:
        """The diversity scores of the training data of the condition run with ``config``."""
        ...
