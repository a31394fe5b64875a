"""The built-in text generator's quality, written into the study for the report.

For every seed of a text study with a ``gen`` condition drawn from the built-in generator:
the generator is refitted on that seed's real training split (it is cheap and seeded, so
the texts are those the runs trained on), and its quality table
(:func:`weightspace.synthetic.text.text_quality_table`: fidelity/coverage and Vendi scores
in the *pretrained* encoder's sentence-embedding space, per-class n-gram Vendi) is written
to ``<study>/synthetic/s<seed>/quality.csv`` — where the image generator's table goes, so
the report's synthetic section shows it unchanged — with ``samples.csv`` (a few texts per
class) and ``provenance.json``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from weightspace import store
from weightspace.data.text import is_text_dataset
from weightspace.models.text import create_text_model
from weightspace.study.plan import RunPlan
from weightspace.synthetic.settings import SyntheticSettings
from weightspace.synthetic.text import builtin_text_samples, text_quality_table
from weightspace.train.text import max_length, predict_features, prepare_text_data

log = logging.getLogger(__name__)

SAMPLES_PER_CLASS = 5


def _embed(model: torch.nn.Module, texts: Sequence[str], *, length: int) -> np.ndarray:
    return predict_features(model, texts, length=length, batch_size=128).numpy()


def text_synthetic_quality(study_dir: str | Path, plans: Sequence[RunPlan]) -> list[Path]:
    """Write the quality table of every seed's built-in text generator; returns the folders."""
    paths = store.StudyPaths(Path(study_dir))
    written: list[Path] = []
    encoder = None
    for plan in plans:
        cfg, seed = plan.config, int(plan.seed)
        if cfg.synthetic is None or not is_text_dataset(cfg.dataset):
            continue
        settings = SyntheticSettings.from_mapping(cfg.synthetic)
        dest = paths.synthetic_dir / f"s{seed}"
        done = store.is_complete(paths.root / store.RUNS_DIR / plan.dir_name)
        if settings.source != "builtin" or dest in written or not done:
            continue
        base = cfg.replace(synthetic=None)
        real = prepare_text_data(base).train_real
        synth = builtin_text_samples(settings, real, seed=seed)
        if encoder is None:
            torch.manual_seed(0)
            encoder = create_text_model(
                cfg.model, num_classes=real.num_classes, pretrained=cfg.pretrained
            ).eval()
        length = max_length(base)
        embed = functools.partial(_embed, encoder, length=length)
        quality = text_quality_table(real, synth, embed=embed)
        labels = synth.labels.numpy()
        shown = [i for c in range(real.num_classes)
                 for i in np.flatnonzero(labels == c)[:SAMPLES_PER_CLASS]]  # fmt: skip
        samples = pd.DataFrame(
            {"class": [real.classes[labels[i]] for i in shown],
             "text": [synth.texts[i] for i in shown]}
        )  # fmt: skip
        dest.mkdir(parents=True, exist_ok=True)
        store.write_table(dest / "quality.csv", quality)
        store.write_table(dest / "samples.csv", samples)
        store.write_json(
            dest / "provenance.json",
            {"generator": "word-bigram (weightspace.synthetic.text)", "seed": seed,
             "oversample": settings.oversample, "n_real": len(real), "n_synthetic": len(synth),
             "embedding": f"{cfg.model} (pretrained, mean-pooled)", "max_length": length},
        )  # fmt: skip
        log.info("text generator quality for seed %d written to %s", seed, dest)
        written.append(dest)
    return written
