"""The configuration of one training run.

A :class:`RunConfig` is a frozen, validated dataclass. Its :meth:`~RunConfig.run_id` is a
short hash of every field that can change the result, so that two runs with the same id are
the same experiment (up to floating-point summation order when the thread count differs).

Fields left out of the id, because they change speed and not results:
``threads``, ``num_workers`` and ``eval_batch_size``. ``device`` stays in: CUDA runs use
bf16 autocast and therefore give different numbers. Of the three study labels, ``condition``
stays in (two conditions of a study are two runs even when their settings coincide, e.g.
``dp0.1`` and a combination ``{dropout = 0.1, name = "dp0.1-again"}``); ``category`` and
``strength`` are left out (labels the study's condition sets, which change nothing in
training).
Fields added later enter the id only when they differ from their default
(:data:`NEW_FIELD_DEFAULTS`), so that the ids of earlier runs stay valid.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from weightspace.config import check_int, check_keys, config_hash, from_mapping, to_dict
from weightspace.errors import ConfigError, unknown_choice
from weightspace.vocabulary import Category

OPTIMIZERS = ("adam", "adamw", "sgd")
# which parameters weight_decay applies to: "all" (the paper: Adam's weight_decay on every
# parameter) or "matrices" (only tensors with dim() >= 2: conv kernels and linear weights;
# biases and normalisation scales are not decayed)
WEIGHT_DECAY_PARAMS = ("all", "matrices")
# Training-dynamics outputs (docs/dynamics.md), new fields like weight_decay_params.
DYNAMICS_DEFAULTS: dict[str, Any] = {
    "snapshot_every_steps": None,
    "snapshot_mp_fit": False,
    "hessian": False,
    "hessian_every_steps": None,
    "hessian_probes": 16,
    "hessian_batches": 2,
}
NEW_FIELD_DEFAULTS: dict[str, object] = {
    "weight_decay_params": "all",
    "image_size": None,
    "overlap_k": 10,
    **DYNAMICS_DEFAULTS,
}
SCHEDULES = ("constant", "cosine", "step")
# Fields that change speed, not results, and the study labels (see the module docstring).
NOT_IN_RUN_ID = ("threads", "num_workers", "eval_batch_size", "category", "strength")
# Text-model fields, left out of the id while at their default (ids of image runs unchanged).
TEXT_FIELD_DEFAULTS: dict[str, object] = {"max_length": None, "freeze_embeddings": False}

Augment = str | tuple[dict[str, Any], ...]


def _nonneg_float(name: str, value: Any, *, upper: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number; got {value!r}")
    value = float(value)
    if value < 0 or (upper is not None and value >= upper):
        bound = f"in [0, {upper:g})" if upper is not None else ">= 0"
        raise ConfigError(f"{name} must be {bound}; got {value!r}")
    return value


def _normalise_augment(value: Any) -> Augment:
    """A policy name stays a string; a list of op dicts becomes a tuple of plain dicts."""
    if isinstance(value, str):
        if not value:
            raise ConfigError("augment must be a policy name (e.g. 'none', 'auto') or op dicts")
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(op, Mapping) for op in value):
        ops = tuple(dict(op) for op in value)
        for op in ops:
            if "op" not in op and "name" not in op:
                raise ConfigError(
                    f"each augmentation op needs an 'op' (or 'name') key; got {op!r}. "
                    "Example: [{op = 'hflip', p = 0.5}, {op = 'noise', sigma = 0.05}]"
                )
        return ops
    raise ConfigError(
        f"augment must be a policy name or a list of op dicts; got {type(value).__name__} {value!r}"
    )


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one training run (see ``docs/training.md``)."""

    # data
    dataset: str = "fashion-mnist"
    data_dir: str | None = None
    train_size: int | None = None  # stratified subset of the train split (None = all of it)
    val_fraction: float = 0.1  # held out of the (subset of the) train split
    test_size: int | None = None  # stratified subset of the test split (None = all of it)
    # model
    model: str = "cnn-small"
    width: float | None = None  # width multiplier of the native models (None = 1)
    pretrained: str | None = None
    max_length: int | None = None  # text models: tokens per text (None = 64); longer truncated
    freeze_embeddings: bool = False  # text models: keep the word-embedding matrix fixed
    image_size: int | None = None  # model input side (inputs resized to it); None = the data's
    # condition
    augment: Augment = "none"
    dropout: float = 0.0
    weight_decay: float = 0.0
    weight_decay_params: str = "all"  # all | matrices (dim() >= 2); see WEIGHT_DECAY_PARAMS
    # optimisation
    optimizer: str = "adam"  # adam = Adam with L2 weight_decay (the paper) | adamw | sgd
    lr: float = 1e-3
    momentum: float = 0.9  # sgd only
    schedule: str = "constant"
    epochs: int = 3
    batch_size: int = 32
    seed: int = 0
    # execution
    threads: int = 1
    device: str = "cpu"
    num_workers: int = 0
    eval_batch_size: int = 512
    # outputs
    snapshot_every: int | None = None  # spectral snapshot every k epochs (besides before/after)
    compat: str | None = None  # passed to weightspace.spectral.analyze
    mp_fit: bool = False
    # ΔW = W_after − W_init per layer and the top-k singular-subspace overlap of W_init and
    # W_after (weight_delta.parquet; docs/weightwatcher.md); None: not recorded
    overlap_k: int | None = 10
    # training dynamics (docs/dynamics.md)
    snapshot_every_steps: int | None = None  # spectra every k optimizer steps (cheap path)
    snapshot_mp_fit: bool = False  # the step snapshots also fit Marchenko-Pastur
    hessian: bool = False  # Hessian trace (Hutchinson) before and after training
    hessian_every_steps: int | None = None  # ... and every k optimizer steps
    hessian_probes: int = 16  # Rademacher probes per trace
    hessian_batches: int = 2  # fixed, seeded training batches (of batch_size) for the loss
    ood: bool = True
    ood_severities: tuple[int, ...] = (1, 3, 5)
    # synthetic data: a mapping handed to the synthesize function of weightspace.train.run
    # (weightspace.synthetic.build_training_set; see docs/synthetic.md)
    synthetic: dict[str, Any] | None = None
    # study labels, set from the study's Condition (weightspace.study.conditions)
    condition: str = ""
    category: str = ""  # a weightspace.vocabulary.Category value ("" outside a study)
    strength: float | None = None  # the condition's dose; None when it has no single one

    def __post_init__(self) -> None:
        self._check_choices()
        self._check_numbers()
        self._check_tables_and_labels()

    def _check_choices(self) -> None:
        """Names and choices, normalised (frozen: through ``object.__setattr__``)."""
        set_ = object.__setattr__
        for name in ("dataset", "model", "optimizer", "schedule", "device", "weight_decay_params"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{name} must be a non-empty string; got {value!r}")
        set_(self, "optimizer", self.optimizer.lower())
        set_(self, "schedule", self.schedule.lower())
        set_(self, "device", self.device.lower())
        set_(self, "weight_decay_params", self.weight_decay_params.strip().lower())
        if self.weight_decay_params not in WEIGHT_DECAY_PARAMS:
            raise unknown_choice(
                "weight_decay_params",
                self.weight_decay_params,
                WEIGHT_DECAY_PARAMS,
                "'all' decays every parameter (the paper); 'matrices' only dim() >= 2 tensors.",
            )
        if self.optimizer not in OPTIMIZERS:
            raise unknown_choice("optimizer", self.optimizer, OPTIMIZERS)
        if self.schedule not in SCHEDULES:
            raise unknown_choice("schedule", self.schedule, SCHEDULES)
        if not (self.device == "cpu" or self.device.split(":")[0] == "cuda"):
            raise ConfigError(f"device must be 'cpu', 'cuda' or 'cuda:N'; got {self.device!r}")
        for name in ("data_dir", "pretrained", "compat"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                set_(self, name, str(value))
        set_(self, "model", self.model.strip().lower())  # registry names are lower-case
        set_(self, "augment", _normalise_augment(self.augment))
        if isinstance(self.augment, str):
            set_(self, "augment", self.augment.strip().lower())

    def _check_numbers(self) -> None:
        """Sizes, counts, rates and flags."""
        set_ = object.__setattr__
        check_int("train_size", self.train_size, minimum=1, allow_none=True)
        check_int("test_size", self.test_size, minimum=1, allow_none=True)
        check_int("image_size", self.image_size, minimum=1, allow_none=True)
        if self.width is not None:
            if isinstance(self.width, bool) or not isinstance(self.width, (int, float)):
                raise ConfigError(f"width must be a positive number or None; got {self.width!r}")
            if not (math.isfinite(self.width) and self.width > 0):
                raise ConfigError(f"width must be a positive number or None; got {self.width!r}")
            set_(self, "width", float(self.width))
        check_int("epochs", self.epochs, minimum=0)
        check_int("batch_size", self.batch_size, minimum=1)
        check_int("eval_batch_size", self.eval_batch_size, minimum=1)
        check_int("threads", self.threads, minimum=1)
        check_int("num_workers", self.num_workers, minimum=0)
        check_int("snapshot_every", self.snapshot_every, minimum=1, allow_none=True)
        check_int("max_length", self.max_length, minimum=2, allow_none=True)
        check_int("seed", self.seed, minimum=0)
        check_int("overlap_k", self.overlap_k, minimum=1, allow_none=True)
        for name in ("snapshot_every_steps", "hessian_every_steps"):
            check_int(name, getattr(self, name), minimum=1, allow_none=True)
        check_int("hessian_probes", self.hessian_probes, minimum=1)
        check_int("hessian_batches", self.hessian_batches, minimum=1)
        set_(self, "val_fraction", _nonneg_float("val_fraction", self.val_fraction, upper=1.0))
        set_(self, "dropout", _nonneg_float("dropout", self.dropout, upper=1.0))
        set_(self, "weight_decay", _nonneg_float("weight_decay", self.weight_decay))
        set_(self, "momentum", _nonneg_float("momentum", self.momentum, upper=1.0))
        lr = _nonneg_float("lr", self.lr)
        if lr == 0:
            raise ConfigError("lr must be > 0; got 0")
        set_(self, "lr", lr)
        for name in ("mp_fit", "ood", "snapshot_mp_fit", "hessian", "freeze_embeddings"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false; got {getattr(self, name)!r}")

    def _check_tables_and_labels(self) -> None:
        """OOD severities, the synthetic table and the study labels."""
        set_ = object.__setattr__
        sev = self.ood_severities
        if isinstance(sev, int) or not isinstance(sev, (list, tuple)):
            raise ConfigError(f"ood_severities must be a list of integers 1..5; got {sev!r}")
        sev = tuple(sev)
        if not sev or any(isinstance(s, bool) or s not in (1, 2, 3, 4, 5) for s in sev):
            raise ConfigError(f"ood_severities must be a non-empty list of 1..5; got {list(sev)}")
        set_(self, "ood_severities", tuple(sorted(set(sev))))
        if self.synthetic is not None:
            if not isinstance(self.synthetic, Mapping):
                raise ConfigError(f"synthetic must be a table of settings; got {self.synthetic!r}")
            set_(self, "synthetic", dict(self.synthetic))
        for name in ("condition", "category"):
            if not isinstance(getattr(self, name), str):
                raise ConfigError(f"{name} must be a string; got {getattr(self, name)!r}")
        if self.category:
            try:
                set_(self, "category", Category(self.category).value)
            except ValueError:
                raise unknown_choice(
                    "category", self.category, [c.value for c in Category]
                ) from None
        if self.strength is not None:
            set_(self, "strength", _nonneg_float("strength", self.strength))

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True, default=str))

    # -- conversion ---------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str | None = None) -> RunConfig:
        """Build from a mapping (e.g. a TOML table); unknown keys are an error listing the valid ones.

        A ``run_id`` key (as written in ``config.json``) is accepted and checked.
        """
        data = dict(data)
        run_id = data.pop("run_id", None)
        check_keys(data, field_names(), where or "RunConfig")
        cfg = from_mapping(cls, data, where)
        if run_id is not None and run_id != cfg.run_id():
            raise ConfigError(
                f"run_id {run_id!r} does not match the settings (which hash to {cfg.run_id()!r}); "
                "the file was edited or written by another version — drop the run_id key"
            )
        return cfg

    def to_dict(self) -> dict[str, Any]:
        """A JSON/TOML-friendly dict of every field (tuples become lists)."""
        return to_dict(self)

    def run_id(self) -> str:
        """Short hash of the fields that can change the result (see the module docstring)."""
        d = self.to_dict()
        for name in NOT_IN_RUN_ID:
            d.pop(name, None)
        for name, default in {**NEW_FIELD_DEFAULTS, **TEXT_FIELD_DEFAULTS}.items():
            if d.get(name) == default:
                d.pop(name)
        return config_hash(d)

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with ``changes`` applied (validated; unknown names are an error)."""
        check_keys(changes, field_names(), "RunConfig.replace")
        return dataclasses.replace(self, **changes)


def field_names() -> list[str]:
    """The settable fields of :class:`RunConfig`, in declaration order."""
    return [f.name for f in dataclasses.fields(RunConfig)]
