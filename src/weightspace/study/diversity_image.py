"""The prediction check's scores for an image study (:func:`weightspace.study.predict.prediction_check`).

Every condition is scored on the data it trained on: the baseline's real training subset
(rebuilt by :func:`weightspace.train.load_run`, the same subset every seed-0 run drew) under
the condition's augmentation, or the synthetic mix it built. The features are the baseline
run's penultimate layer (encoder ``baseline``) or another encoder of
:data:`weightspace.diversity.ENCODERS`; :func:`weightspace.diversity.score_dataset` draws the
augmentation ``draws`` times. ``affinity`` is the baseline model's accuracy on augmented
validation images over its clean accuracy (NaN for synthetic data, which it does not
measure).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from weightspace.diversity.baseline import affinity
from weightspace.diversity.dataset import score_dataset
from weightspace.diversity.encoders import get_encoder
from weightspace.study.scoring import CheckOptions
from weightspace.synthetic import build_training_set
from weightspace.train import RunConfig
from weightspace.train.modalities import MODALITIES
from weightspace.train.restore import load_run

log = logging.getLogger(__name__)

#: the scores correlated with the gains, and the gains
SCORES = (
    "vs_emb", "vs_pixel", "rho", "wvs", "rho_unpaired", "wvs_unpaired", "mmd_sim",
    "affinity", "gl_diversity",
)  # fmt: skip
TARGETS = ("acc_gain", "ood_gain")
# score_dataset's summary columns the check keeps
_FROM_SUMMARY = (
    "vs_pixel", "vs_pixel_std", "vs_emb", "vs_emb_std", "rho", "rho_std", "wvs", "wvs_std",
    "rho_unpaired", "rho_unpaired_std", "wvs_unpaired", "wvs_unpaired_std", "mmd_sim",
    "rho_pixel", "vs_emb_real",
)  # fmt: skip


class ImageScorer:
    """Scores the conditions of an image study against its baseline run ``baseline_dir``."""

    scores: tuple[str, ...] = SCORES
    targets: tuple[str, ...] = TARGETS
    n_test: int | None = None  # the gains' SE: seed spread only, unless the caller gives n_test

    def __init__(self, baseline_dir: Path, baseline: RunConfig, options: CheckOptions) -> None:
        self.options = options
        self.base = load_run(baseline_dir, device=options.device)
        self.real = self.base.data.train_real
        self.encoder = get_encoder(
            options.encoder,
            in_channels=self.real.in_channels,
            device=options.device,
            seed=options.seed,
            run=self.base,
        )

    def score(self, config: RunConfig) -> dict[str, Any]:
        opt = self.options
        synthetic = config.synthetic is not None
        real, other = self.real, None
        if synthetic:  # the condition's own real subset and the mix it trained on
            data = MODALITIES["image"].prepare_data(config, synthesize=build_training_set)
            real, other = data.train_real, data.train
        res = score_dataset(
            real, encoder=self.encoder, augment=config.augment, other=other, draws=opt.draws,
            seed=opt.seed, n=opt.n, q=opt.q, device=opt.device, cache=opt.cache,
        )  # fmt: skip
        summary = res.summary()
        aff, acc_aug, acc_clean = affinity(
            self.base, config.augment, draws=opt.draws, seed=opt.seed,
            max_images=opt.affinity_images,
        )  # fmt: skip
        return {
            **{k: summary[k] for k in _FROM_SUMMARY},
            "affinity": math.nan if synthetic else aff,
            "val_acc_aug": acc_aug,
            "val_acc_clean": acc_clean,
            "encoder": res.encoder,
            "draws": res.draws,
            "n": res.n,
            "q": res.q,
        }
