"""The data of one image run: train/validation/test splits, normalisation statistics, OOD sets.

Seeds: the training subset and the validation split are drawn with the run's ``seed``
(a replicate of a study differs in data order, initialisation *and* subset). The test
subset and the corrupted (OOD) test sets use the fixed :data:`EVAL_SEED`, so that every run
of a study is scored on the same images.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import torch

from weightspace.data import ImageSet, corrupt, load_dataset, stratified_subset, train_val_split
from weightspace.errors import ConfigError
from weightspace.train.config import RunConfig
from weightspace.train.inputs import channel_stats
from weightspace.train.modality import TrainingSetBuilder

log = logging.getLogger(__name__)

EVAL_SEED = 0  # test subset and corruption seed, shared by every run


@dataclass(frozen=True)
class RunData:
    """uint8 images (N, C, H, W) and int64 labels (N,) of each split, plus statistics."""

    train: ImageSet  # what the model trains on (synthetic mixed in)
    train_real: ImageSet  # the real training subset (normalisation statistics come from it)
    val: ImageSet | None  # None when val_fraction == 0
    test: ImageSet
    mean: torch.Tensor  # (C,) per-channel mean on [0, 1] of train_real
    std: torch.Tensor  # (C,) per-channel std on [0, 1] of train_real

    @property
    def num_classes(self) -> int:
        return len(self.train.classes)

    @property
    def in_channels(self) -> int:
        return int(self.train.images.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.train.images.shape[-1])


@functools.lru_cache(maxsize=4)
def _load(name: str, split: str, data_dir: str | None) -> ImageSet:
    """Load a split once per process (datasets are read-only: images are never modified)."""
    return load_dataset(name, split=split, data_dir=data_dir)


@functools.lru_cache(maxsize=4)
def _test_set(name: str, data_dir: str | None, test_size: int | None) -> ImageSet:
    test = _load(name, "test", data_dir)
    if test_size is not None and test_size < len(test.labels):
        test = stratified_subset(test, test_size, seed=EVAL_SEED)
    return test


def prepare_data(config: RunConfig, *, synthesize: TrainingSetBuilder | None = None) -> RunData:
    """Load, subset and split the data of ``config`` (see the module docstring for seeds).

    ``synthesize`` builds the training set of a run with ``config.synthetic`` set
    (``weightspace.synthetic.build_training_set``, which sits above this stage).
    """
    full = _load(config.dataset, "train", config.data_dir)
    n_full = len(full.labels)
    if config.train_size is not None and config.train_size > n_full:
        raise ConfigError(
            f"train_size={config.train_size} exceeds the {n_full} training images of "
            f"{config.dataset!r}; use at most {n_full} or leave it unset for all"
        )
    pool = full
    if config.train_size is not None and config.train_size < n_full:
        pool = stratified_subset(full, config.train_size, seed=config.seed)
    val = None
    train = pool
    if config.val_fraction > 0:
        train, val = train_val_split(pool, config.val_fraction, seed=config.seed)
    mean, std = channel_stats(train.images)
    real = train
    if config.synthetic is not None:
        if synthesize is None:
            raise ConfigError(
                "this run has a synthetic table, but no synthetic-data builder was given; "
                "train it with `weightspace train`, in a study, or pass "
                "synthesize=weightspace.synthetic.build_training_set"
            )
        train = synthesize(config, train)
    test = _test_set(config.dataset, config.data_dir, config.test_size)
    log.info(
        "data %s: train %d, val %d, test %d",
        config.dataset,
        len(train.labels),
        0 if val is None else len(val.labels),
        len(test.labels),
    )
    return RunData(train=train, train_real=real, val=val, test=test, mean=mean, std=std)


# -- OOD: deterministic corrupted copies of the test set, cached per process ---------------

_OOD_CACHE: dict[tuple[object, ...], torch.Tensor] = {}
_OOD_KEY: list[tuple[object, ...]] = []  # the test set whose corruptions are cached


def corrupted(config: RunConfig, images: torch.Tensor, kind: str, severity: int) -> torch.Tensor:
    """The test ``images`` under corruption ``kind`` at ``severity`` (uint8, cached).

    Deterministic (seed :data:`EVAL_SEED`), so the cache key is the test set itself:
    (dataset, data_dir, test_size). Only one test set's corruptions are kept at a time.
    """
    base = (config.dataset, config.data_dir, config.test_size)
    if _OOD_KEY != [base]:
        _OOD_CACHE.clear()
        _OOD_KEY[:] = [base]
    key = (kind, severity)
    if key not in _OOD_CACHE:
        _OOD_CACHE[key] = corrupt(images, kind, severity, seed=EVAL_SEED)
    return _OOD_CACHE[key]
