"""Synthetic images for the ``gen`` conditions: the built-in generator's samples or an import,
filtered and mixed into a run's real training set; the generator's quality for a study."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from weightspace import store
from weightspace.data.imageset import ImageSet
from weightspace.errors import ConfigError
from weightspace.synthetic.builtin import load_builtin, prepare_builtin
from weightspace.synthetic.generator import (
    GeneratorConfig,
    intended_class_confidence,
    train_classifier,
)
from weightspace.synthetic.mix import Mix, filter_by_confidence, mix
from weightspace.synthetic.settings import SyntheticSettings
from weightspace.synthetic.sources import load_synthetic
from weightspace.train.config import RunConfig
from weightspace.train.data import prepare_data

log = logging.getLogger(__name__)


def build_mix(settings: SyntheticSettings, real: ImageSet, *, seed: int) -> Mix:
    """Load or generate the synthetic source of ``settings`` and mix it with ``real``."""
    if settings.source == "builtin":
        path = prepare_builtin(
            real, config=GeneratorConfig(**settings.generator), oversample=settings.oversample
        )
        synth, confidence = load_builtin(path, real)
    else:
        synth = load_synthetic(settings.source, like=real)
        confidence = None
    if settings.filtered:
        if confidence is None:
            clf, mean, std = train_classifier(real, seed=seed)
            confidence = intended_class_confidence(clf, synth, mean=mean, std=std)
        synth = filter_by_confidence(synth, confidence, settings.tau)
        log.info("filter tau=%.2f kept %d synthetic samples", settings.tau, len(synth))
    return mix(
        real,
        synth,
        mode=settings.mode,
        fraction=settings.fraction,
        seed=seed,
        shortfall=settings.filtered,
    )


def build_image_training_set(config: RunConfig, real_train: ImageSet) -> ImageSet:
    """The training images of a run whose ``config.synthetic`` is set."""
    if config.synthetic is None:
        raise ConfigError("build_image_training_set was given a run without a synthetic table")
    settings = SyntheticSettings.from_mapping(config.synthetic)
    result = build_mix(settings, real_train, seed=int(config.seed))
    log.info(
        "%s: %d of %d training samples are synthetic",
        result.data.name,
        result.n_synthetic,
        len(result.data),
    )
    return result.data


def show_image_quality(config: RunConfig, dest: Path) -> None:
    """Copy the built-in generator's quality table, sample grid and provenance for the real
    training set of ``config``'s seed into ``dest``. The samples are cached (the runs made
    them), so this only looks them up."""
    settings = SyntheticSettings.from_mapping(config.synthetic or {})
    real = prepare_data(config.replace(synthetic=None, ood=False)).train
    path = prepare_builtin(
        real, config=GeneratorConfig(**settings.generator), oversample=settings.oversample
    )
    dest.mkdir(parents=True, exist_ok=True)
    for name in store.SHOWN_SYNTHETIC_FILES:
        shutil.copy2(path / name, dest / name)
