"""The prediction check's scores for a text study (:func:`weightspace.study.predict.prediction_check`).

For every condition: n-gram VS (the paper's unigram VS), embedding VS, ρ and WVS of the texts
that condition trained on — EDA draws of the baseline's real training texts, or the synthetic
mix it builds from them (:mod:`weightspace.diversity.text`). The embeddings are the
*pretrained* encoder's mean-pooled sentence embeddings (the model of the study before
fine-tuning), so every condition is scored in the same space. The table keeps the image
check's column names where the quantities coincide (``vs_emb``, ``rho``, ``wvs`` …;
``vs_pixel`` is NaN) and adds ``vs_ngram`` and ``vs_ngram_real``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from weightspace.data.eda import make_text_augment
from weightspace.data.text import text_subset
from weightspace.diversity.text import TEXT_METRICS, score_text_augment, score_texts
from weightspace.models.text import create_text_model
from weightspace.study.scoring import CheckOptions
from weightspace.synthetic import build_training_set
from weightspace.train import RunConfig
from weightspace.train.text import max_length, predict_features, prepare_text_data

log = logging.getLogger(__name__)

#: the scores correlated with the gain, and the gain
SCORES = ("vs_ngram", "vs_emb", "rho", "wvs", "rho_unpaired", "wvs_unpaired", "mmd_sim")
TARGETS = ("acc_gain",)


class TextScorer:
    """Scores the conditions of a text study against the real texts of its baseline run."""

    scores: tuple[str, ...] = SCORES
    targets: tuple[str, ...] = TARGETS

    def __init__(self, baseline_dir: Path, baseline: RunConfig, options: CheckOptions) -> None:
        self.options = options
        data = prepare_text_data(baseline)
        self.n_test: int | None = len(data.test)  # the binomial SE of a gain
        real = data.train_real
        if options.n is not None and options.n < len(real):
            real = text_subset(real, options.n, seed=options.seed)
        self.real = real
        torch.manual_seed(options.seed)  # the encoder's untrained head; embeddings skip it
        self.encoder = create_text_model(
            baseline.model, num_classes=real.num_classes, pretrained=baseline.pretrained
        ).eval()
        self.length = max_length(baseline)
        self.encoder_name = f"{baseline.model} (pretrained)"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return predict_features(self.encoder, texts, length=self.length, batch_size=128).numpy()

    def score(self, config: RunConfig) -> dict[str, Any]:
        real = self.real
        if config.synthetic is not None:  # the mix this condition builds from the scored texts
            mixed = build_training_set(config, real)
            s = {**score_texts(real.texts, mixed.texts, embed=self.embed), "draws": 1.0}
            s.update({f"{m}_std": 0.0 for m in TEXT_METRICS})
        else:
            s = score_text_augment(
                real.texts, augment=make_text_augment(config.augment), embed=self.embed,
                draws=self.options.draws, seed=self.options.seed,
            )  # fmt: skip
        out: dict[str, Any] = {
            "vs_pixel": math.nan,
            "encoder": self.encoder_name,
            "draws": int(s["draws"]),
            "n": len(real),
            "q": 1.0,
        }
        for m in TEXT_METRICS:
            out[m], out[f"{m}_std"] = s[m], s[f"{m}_std"]
        return out
