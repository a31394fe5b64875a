"""Synthetic data as a source of diversity: imports, the built-in generator, mixing.

Public entry points (used by the training run and the study):

- :func:`build_training_set` — ``RunConfig.synthetic`` + the real training set -> the mix;
- :func:`expand_conditions` — a study's ``synthetic`` table -> ``gen`` conditions;
- :func:`load_synthetic`, :func:`prepare_builtin`, :func:`mix` and friends.
"""

from __future__ import annotations

import logging
from typing import Any

from weightspace.data.imageset import ImageSet
from weightspace.data.synthetic.builtin import load_builtin, prepare_builtin
from weightspace.data.synthetic.generator import GeneratorConfig
from weightspace.data.synthetic.mix import Mix, filter_by_confidence, mix, mix_add, mix_replace
from weightspace.data.synthetic.settings import SyntheticSettings, expand_conditions
from weightspace.data.synthetic.sources import load_synthetic

log = logging.getLogger(__name__)

__all__ = [
    "GeneratorConfig",
    "Mix",
    "SyntheticSettings",
    "build_mix",
    "build_training_set",
    "expand_conditions",
    "filter_by_confidence",
    "load_synthetic",
    "mix",
    "mix_add",
    "mix_replace",
    "prepare_builtin",
]


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
            from weightspace.data.synthetic.generator import (
                intended_class_confidence,
                train_classifier,
            )

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


def build_training_set(config: Any, real_train: ImageSet) -> ImageSet:
    """The training set of a run whose ``config.synthetic`` is set (hook of weightspace.train)."""
    settings = SyntheticSettings.from_mapping(config.synthetic)
    result = build_mix(settings, real_train, seed=int(config.seed))
    log.info(
        "%s: %d of %d training samples are synthetic",
        result.data.name,
        result.n_synthetic,
        len(result.data),
    )
    return result.data
