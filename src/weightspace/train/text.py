"""The text modality (:class:`TextModality`): splits, the model, the batch source, evaluation.

A text run goes through the same :func:`weightspace.train.run` and :func:`~weightspace.train.
loop.fit` as an image run; its :class:`~weightspace.train.modality.Modality` methods are:

- ``prepare_data`` — :func:`prepare_text_data`: the train/validation/test
  :class:`~weightspace.data.text.TextSet` splits, with the same seeds as images (training
  subset and validation split from the run's seed, test subset from the fixed evaluation seed);
- ``build_model`` — :func:`build_text_model` (:func:`weightspace.models.text.create_text_model`);
- ``batch_source`` — :class:`TextBatches`, what the loop iterates instead of gathering uint8
  images: per batch, the texts are augmented with EDA (a generator seeded by (seed, epoch,
  batch), so each epoch draws new augmentations), tokenized and stacked into one (B, 2, L)
  tensor;
- ``evaluate`` — :func:`evaluate_text`: accuracy, loss, NLL and ECE as for images;
- ``run_metrics`` — :func:`text_metrics`: truncation to ``max_length`` tokens, counted on the
  clean training and test texts (``text_truncated_train``, ``text_truncated_test``: fractions
  of texts). There are no OOD sets for texts.

Without augmentation the training texts are tokenized once, up front.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from weightspace.data.eda import TextAugment, eda_strength, make_text_augment
from weightspace.data.text import (
    TextSet,
    is_text_dataset,
    load_text_dataset,
    text_split,
    text_subset,
)
from weightspace.errors import ConfigError, unknown_choice
from weightspace.models.text import TEXT_MODELS, create_text_model, resolve_text_model_dir
from weightspace.train.config import RunConfig
from weightspace.train.loop import batch_seed
from weightspace.train.metrics import scores_from_logits
from weightspace.train.modality import Modality, TrainingSetBuilder

log = logging.getLogger(__name__)

DEFAULT_MAX_LENGTH = 64
EVAL_SEED = 0  # as for images: every run of a study is scored on the same test texts


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


def prepare_text_data(
    config: RunConfig, *, synthesize: TrainingSetBuilder | None = None
) -> TextRunData:
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


@dataclass
class TextBatches:
    """The text :class:`~weightspace.train.loop.BatchSource`: per index batch, the texts
    augmented with EDA (a generator seeded by (seed, epoch, batch), so each epoch draws new
    augmentations), tokenized and stacked into one int64 (B, 2, L) tensor on ``device``.
    Without augmentation the texts are tokenized once, up front, and each batch is trimmed to
    its longest text."""

    tokenizer: Any
    train: TextSet
    augment: TextAugment
    length: int
    seed: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    def __post_init__(self) -> None:
        self.device = torch.device(self.device)
        self.cuda = self.device.type == "cuda"
        self.clean = None
        if self.augment.is_identity:  # (N, 2, Lmax) once; batches trimmed below
            self.clean = encode(self.tokenizer, self.train.texts, self.length)

    def __len__(self) -> int:
        return len(self.train)

    def __call__(
        self, batches: list[torch.Tensor], epoch: int
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        labels = self.train.labels
        for b, idx in enumerate(batches):
            if self.clean is not None:
                x = self.clean[idx]
                keep = int(x[:, 1].sum(1).max())  # drop columns that are padding in this batch
                x = x[:, :, :keep]
            else:
                rng = np.random.default_rng(batch_seed(self.seed, epoch, b))
                texts = self.augment([self.train.texts[i] for i in idx.tolist()], rng)
                x = encode(self.tokenizer, texts, self.length)
            yield (
                x.to(self.device, non_blocking=self.cuda),
                labels[idx].to(self.device, non_blocking=self.cuda),
            )


def text_batch_source(
    model: nn.Module,
    train: TextSet,
    config: RunConfig,
    *,
    augment: TextAugment | None = None,
    device: torch.device | str = "cpu",
) -> TextBatches:
    """The training batches of ``train`` for ``model`` (its tokenizer), augmented with
    ``augment`` (default: ``config.augment``'s EDA policy)."""
    return TextBatches(
        model.tokenizer,
        train,
        augment if augment is not None else make_text_augment(config.augment),
        max_length(config),
        seed=config.seed,
        device=torch.device(device),
    )


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


class TextModality(Modality):
    """Texts (docs/text.md): a registry name, ``text:PATH`` or a ``.csv/.jsonl/.parquet``."""

    name = "text"
    fields = frozenset({"max_length", "freeze_embeddings"})

    def handles(self, dataset: str) -> bool:
        return is_text_dataset(dataset)

    def check_names(self, config: RunConfig) -> None:
        if config.model not in TEXT_MODELS:
            raise unknown_choice(
                "text model", config.model, TEXT_MODELS,
                hint=f"dataset {config.dataset!r} is text; image models do not apply",
            )  # fmt: skip
        make_text_augment(config.augment)  # raises naming the EDA ops
        resolve_text_model_dir(config.model, config.pretrained)  # the model directory is there

    def augment_name(self, policy: str) -> str:
        return make_text_augment(policy).name  # "sr0.3" -> div_sr_03

    def augment_strength(self, spec: Any) -> float:
        return eda_strength(spec)

    def prepare_data(
        self, config: RunConfig, *, synthesize: TrainingSetBuilder | None = None
    ) -> TextRunData:
        return prepare_text_data(config, synthesize=synthesize)

    def build_model(
        self, config: RunConfig, data: TextRunData, *, pretrained: bool = True
    ) -> nn.Module:
        # the model's directory defines its architecture, so it is read either way
        return build_text_model(config, data)

    def batch_source(
        self, model: nn.Module, data: TextRunData, config: RunConfig, device: torch.device
    ) -> TextBatches:
        return text_batch_source(model, data.train, config, device=device)

    def evaluate(
        self,
        model: nn.Module,
        split: TextSet,
        data: TextRunData,
        config: RunConfig,
        device: torch.device,
    ) -> dict[str, float]:
        return evaluate_text(model, split, config, device)

    def run_metrics(
        self, model: nn.Module, data: TextRunData, config: RunConfig, device: torch.device
    ) -> dict[str, Any]:
        return text_metrics(model, data, config)
