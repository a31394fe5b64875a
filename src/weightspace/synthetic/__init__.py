"""Synthetic data as a source of diversity: the stage above training that makes samples.

It imports already-made samples (:mod:`~weightspace.synthetic.sources`), trains the built-in
generators and the filter classifier (through ``weightspace.train``), mixes samples into a
run's real training set (:mod:`~weightspace.synthetic.mix`) and scores their quality.

Each modality's synthetic data is one entry of :data:`GENERATORS` (keyed by
:attr:`weightspace.train.modality.Modality.name`): images (:mod:`~weightspace.synthetic.image`:
a class-conditional VAE, or an import) and texts (:mod:`~weightspace.synthetic.text`: a word
bigram model, or an import). Public entry points (used by the training entry points and the
study):

- :func:`build_training_set` — ``RunConfig.synthetic`` + the real training set -> the mix;
  give it to ``weightspace.train.run(..., synthesize=build_training_set)``;
- :func:`show_quality` — the generator's quality for a study's ``synthetic/s<seed>/``;
- :func:`expand_conditions` — a study's ``synthetic`` table -> ``gen`` conditions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weightspace.errors import ConfigError
from weightspace.synthetic.builtin import prepare_builtin
from weightspace.synthetic.generator import GeneratorConfig
from weightspace.synthetic.image import build_image_training_set, build_mix, show_image_quality
from weightspace.synthetic.mix import (
    MODES,
    Mix,
    TextMix,
    filter_by_confidence,
    mix,
    mix_add,
    mix_replace,
    mix_texts,
)
from weightspace.synthetic.settings import SyntheticSettings, expand_conditions
from weightspace.synthetic.sources import load_synthetic
from weightspace.synthetic.text import build_text_training_set, show_text_quality
from weightspace.train.config import RunConfig
from weightspace.train.modalities import modality_of

log = logging.getLogger(__name__)

__all__ = [
    "GENERATORS",
    "MODES",
    "GeneratorConfig",
    "Mix",
    "SyntheticData",
    "SyntheticSettings",
    "TextMix",
    "build_mix",
    "build_training_set",
    "expand_conditions",
    "filter_by_confidence",
    "load_synthetic",
    "mix",
    "mix_add",
    "mix_replace",
    "mix_texts",
    "prepare_builtin",
    "show_quality",
]


@dataclass(frozen=True)
class SyntheticData:
    """What a modality's synthetic data provides.

    ``training_set(config, real_train)``: the mixed training set of a ``gen`` run;
    ``show_quality(config, dest)``: the built-in generator's quality (and a look at its
    samples) for the real training set of ``config``'s seed, written into ``dest``.
    """

    training_set: Callable[[RunConfig, Any], Any]
    show_quality: Callable[[RunConfig, Path], None]


#: modality name -> its synthetic data
GENERATORS: dict[str, SyntheticData] = {
    "image": SyntheticData(build_image_training_set, show_image_quality),
    "text": SyntheticData(build_text_training_set, show_text_quality),
}


def _generator(config: RunConfig) -> SyntheticData:
    modality = modality_of(config.dataset)
    if modality.name not in GENERATORS:
        raise ConfigError(
            f"dataset {config.dataset!r} holds {modality.name} data, for which there is no "
            f"synthetic data (only {', '.join(GENERATORS)}); remove the synthetic settings"
        )
    return GENERATORS[modality.name]


def build_training_set(config: RunConfig, real_train: Any) -> Any:
    """The training set of a run whose ``config.synthetic`` is set.

    The ``synthesize`` argument of ``weightspace.train.run`` (and of a modality's
    ``prepare_data``).
    """
    if config.synthetic is None:
        raise ConfigError("build_training_set was given a run without a synthetic table")
    return _generator(config).training_set(config, real_train)


def show_quality(config: RunConfig, dest: Path) -> None:
    """Write the built-in generator's quality for ``config``'s seed into ``dest``."""
    _generator(config).show_quality(config, dest)
