"""The text path of a run: splits, the model, the batch source of the loop, evaluation.

A text run goes through the same :func:`weightspace.train.run` and :func:`~weightspace.train.
loop.fit` as an image run. What differs is behind four calls:

- :func:`prepare_text_data` — the train/validation/test :class:`~weightspace.data.text.TextSet`
  splits, with the same seeds as images (training subset and validation split from the run's
  seed, test subset from the fixed evaluation seed);
- :func:`build_text_model` — :func:`weightspace.models.text.create_text_model`;
- :func:`text_batch_source` — what the loop iterates instead of gathering uint8 images: per
  batch, the texts are augmented with EDA (a generator seeded by (seed, epoch, batch), so each
  epoch draws new augmentations), tokenized and stacked into one (B, 2, L) tensor;
- :func:`evaluate_text` — accuracy, loss, NLL and ECE as for images.

Without augmentation the training texts are tokenized once, up front. Truncation to
``max_length`` tokens is counted on the clean training and test texts and reported in the
run's metrics (``text_truncated_train``, ``text_truncated_test``: fractions of texts).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from weightspace.data.eda import TextAugment, make_text_augment
from weightspace.data.text import (
    TextSet,
    is_text_dataset,
    load_text_dataset,
    text_split,
    text_subset,
)
from weightspace.errors import ConfigError
from weightspace.models.text import create_text_model
from weightspace.train.config import RunConfig
from weightspace.train.loop import BatchSource, batch_seed
from weightspace.train.metrics import scores_from_logits

log = logging.getLogger(__name__)

DEFAULT_MAX_LENGTH = 64
EVAL_SEED = 0  # as for images: every run of a study is scored on the same test texts

__all__ = ["is_text_dataset"]


def max_length(config: RunConfig) -> int:
    return config.max_length or DEFAULT_MAX_LENGTH


@dataclass(frozen=True)
class TextRunData:
    """The splits of a text run (the text counterpart of ``RunData``)."""

    train: TextSet  # what the model trains on
    train_real: TextSet
    val: TextSet | None
    test: TextSet

    @property
    def num_classes(self) -> int:
        return len(self.train.classes)


@functools.lru_cache(maxsize=4)
def _load(name: str, split: str, data_dir: str | None) -> TextSet:
    return load_text_dataset(name, split=split, data_dir=data_dir)


def prepare_text_data(config: RunConfig, *, synthesize: Any = None) -> TextRunData:
    """Load, subset and split the text data of ``config`` (seeds as for images).

    ``synthesize(config, real_train)`` builds the training set of a run with
    ``config.synthetic`` set (``weightspace.synthetic.build_training_set``).
    """
    full = _load(config.dataset, "train", config.data_dir)
    if config.train_size is not None and config.train_size > len(full):
        raise ConfigError(
            f"train_size={config.train_size} exceeds the {len(full)} training texts of "
            f"{config.dataset!r}; use at most {len(full)} or leave it unset for all"
        )
    pool = full
    if config.train_size is not None and config.train_size < len(full):
        pool = text_subset(full, config.train_size, seed=config.seed)
    train, val = pool, None
    if config.val_fraction > 0:
        train, val = text_split(pool, config.val_fraction, seed=config.seed)
    real = train
    if config.synthetic is not None:
        if synthesize is None:
            raise ConfigError(
                "this run has synthetic settings but no synthesize function was given; call "
                "weightspace.train.run(..., synthesize=weightspace.synthetic.build_training_set)"
            )
        train = synthesize(config, train)
    test = _load(config.dataset, "test", config.data_dir)
    if config.test_size is not None and config.test_size < len(test):
        test = text_subset(test, config.test_size, seed=EVAL_SEED)
    log.info(
        "text data %s: train %d, val %d, test %d",
        config.dataset, len(train), 0 if val is None else len(val), len(test),
    )  # fmt: skip
    return TextRunData(train=train, train_real=real, val=val, test=test)


def build_text_model(config: RunConfig, data: TextRunData) -> nn.Module:
    torch.manual_seed(config.seed)  # the head's initialisation and dropout draws
    return create_text_model(
        config.model,
        num_classes=data.num_classes,
        dropout=config.dropout,
        pretrained=config.pretrained,
        freeze_embeddings=config.freeze_embeddings,
    )


def encode(tokenizer: Any, texts: Sequence[str], length: int) -> torch.Tensor:
    """Token ids and attention mask stacked: int64 (B, 2, L), L = the longest, at most ``length``."""
    enc = tokenizer(
        list(texts), padding="longest", truncation=True, max_length=length, return_tensors="pt"
    )
    return torch.stack([enc["input_ids"], enc["attention_mask"]], dim=1)  # (B, 2, L)


def truncated_fraction(tokenizer: Any, texts: Sequence[str], length: int) -> float:
    """Fraction of ``texts`` longer than ``length`` tokens (special tokens included)."""
    if not texts:
        return float("nan")
    lengths = [len(ids) for ids in tokenizer(list(texts), truncation=False)["input_ids"]]
    return float(np.mean(np.asarray(lengths) > length))


def text_batch_source(
    model: nn.Module, train: TextSet, config: RunConfig, *, augment: TextAugment | None = None
) -> BatchSource:
    """``source(batches, epoch)`` yields ((B, 2, L) token tensors, labels) per index batch."""
    tok = model.tokenizer
    length = max_length(config)
    aug = augment if augment is not None else make_text_augment(config.augment)
    labels = train.labels
    if aug.is_identity:
        clean = encode(tok, train.texts, length)  # (N, 2, Lmax) once; batches trimmed below

        def fixed(batches: list[torch.Tensor], epoch: int) -> Iterator[tuple[torch.Tensor, ...]]:
            for idx in batches:
                x = clean[idx]
                keep = int(x[:, 1].sum(1).max())  # drop columns that are padding in this batch
                yield x[:, :, :keep], labels[idx]

        return fixed  # type: ignore[return-value]

    def augmented(batches: list[torch.Tensor], epoch: int) -> Iterator[tuple[torch.Tensor, ...]]:
        for b, idx in enumerate(batches):
            rng = np.random.default_rng(batch_seed(config.seed, epoch, b))
            texts = aug([train.texts[i] for i in idx.tolist()], rng)
            yield encode(tok, texts, length), labels[idx]

    return augmented  # type: ignore[return-value]


@torch.no_grad()
def _predict(
    fn: Any, texts: Sequence[str], *, tokenizer: Any, length: int, batch_size: int, device: Any
) -> torch.Tensor:
    """``fn`` on every batch of ``texts`` (float32 rows on the CPU, in the order of ``texts``);
    texts are batched sorted by length so that little padding is computed."""
    device = torch.device(device)
    order = np.argsort([len(t) for t in texts], kind="stable")
    chunks = []
    for start in range(0, len(texts), batch_size):
        idx = order[start : start + batch_size]
        x = encode(tokenizer, [texts[i] for i in idx], length).to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            chunks.append(fn(x).float().cpu())
    if not chunks:
        return torch.empty(0)
    rows = torch.cat(chunks)
    out = torch.empty_like(rows)
    out[torch.from_numpy(order)] = rows
    return out


def _eval_mode(model: nn.Module, fn: Any, *args: Any, **kw: Any) -> torch.Tensor:
    was_training = model.training
    model.eval()
    try:
        return _predict(fn, *args, tokenizer=model.tokenizer, **kw)
    finally:
        model.train(was_training)


def predict_text_logits(
    model: nn.Module, texts: Sequence[str], *, length: int, batch_size: int, device: Any = "cpu"
) -> torch.Tensor:
    """Logits (N, K) float32 on the CPU, eval mode."""
    return _eval_mode(model, model, texts, length=length, batch_size=batch_size, device=device)


def predict_features(
    model: nn.Module, texts: Sequence[str], *, length: int, batch_size: int, device: Any = "cpu"
) -> torch.Tensor:
    """Sentence embeddings (N, D) float32 on the CPU (``model.forward_features``), eval mode."""
    fn = model.forward_features  # type: ignore[operator]
    return _eval_mode(model, fn, texts, length=length, batch_size=batch_size, device=device)


def evaluate_text(
    model: nn.Module, split: TextSet, config: RunConfig, device: Any = "cpu"
) -> dict[str, float]:
    """acc, loss, nll, ece of ``model`` on ``split`` (see ``weightspace.train.metrics``)."""
    logits = predict_text_logits(
        model,
        split.texts,
        length=max_length(config),
        batch_size=min(config.eval_batch_size, 256),
        device=device,
    )
    return scores_from_logits(logits, split.labels)


def text_metrics(model: nn.Module, data: TextRunData, config: RunConfig) -> dict[str, Any]:
    """Run metrics specific to text: how many texts ``max_length`` cuts."""
    length = max_length(config)
    return {
        "max_length": length,
        "text_truncated_train": truncated_fraction(model.tokenizer, data.train.texts, length),
        "text_truncated_test": truncated_fraction(model.tokenizer, data.test.texts, length),
    }
