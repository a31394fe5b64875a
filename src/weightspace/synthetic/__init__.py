"""Synthetic data as a source of diversity: the stage above training that makes samples.

It trains the built-in generator and the filter classifier (through ``weightspace.train``),
scores the samples' Vendi diversity and hands a run its mixed training set. Importing and
mixing already-made samples is :mod:`weightspace.data.synthetic`.

Public entry points (used by the training entry points and the study):

- :func:`build_training_set` — ``RunConfig.synthetic`` + the real training set -> the mix;
  give it to ``weightspace.train.run(..., synthesize=build_training_set)``;
- :func:`expand_conditions` — a study's ``synthetic`` table -> ``gen`` conditions;
- :func:`prepare_builtin`, :func:`build_mix`; :func:`load_synthetic`, :func:`mix` and
  friends are re-exported from :mod:`weightspace.data.synthetic`.
"""

from __future__ import annotations

import logging
from typing import overload

from weightspace.data.imageset import ImageSet
from weightspace.data.synthetic import (
    Mix,
    filter_by_confidence,
    load_synthetic,
    mix,
    mix_add,
    mix_replace,
)
from weightspace.data.text import TextSet
from weightspace.errors import ConfigError
from weightspace.synthetic.builtin import load_builtin, prepare_builtin
from weightspace.synthetic.generator import (
    GeneratorConfig,
    intended_class_confidence,
    train_classifier,
)
from weightspace.synthetic.settings import SyntheticSettings, expand_conditions
from weightspace.synthetic.text import build_text_training_set
from weightspace.train.config import RunConfig

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


@overload
def build_training_set(config: RunConfig, real_train: ImageSet) -> ImageSet: ...
@overload
def build_training_set(config: RunConfig, real_train: TextSet) -> TextSet: ...
def build_training_set(config: RunConfig, real_train: ImageSet | TextSet) -> ImageSet | TextSet:
    """The training set of a run whose ``config.synthetic`` is set.

    The ``synthesize`` argument of ``weightspace.train.run`` / ``prepare_data``.
    """
    if config.synthetic is None:
        raise ConfigError("build_training_set was given a run without a synthetic table")
    if isinstance(real_train, TextSet):  # texts: weightspace.synthetic.text
        return build_text_training_set(config, real_train)
    settings = SyntheticSettings.from_mapping(config.synthetic)
    result = build_mix(settings, real_train, seed=int(config.seed))
    log.info(
        "%s: %d of %d training samples are synthetic",
        result.data.name,
        result.n_synthetic,
        len(result.data),
    )
    return result.data
