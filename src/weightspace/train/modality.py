"""The modality seam: what a run does differently for images and for texts, behind one interface.

A run is the same for every kind of data — spectra before, the training loop, evaluation,
spectra after, the run directory — except for a handful of steps. A :class:`Modality`
implements those steps; :func:`weightspace.train.modalities.modality_of` picks the
implementation for a dataset once, and everything else (:func:`weightspace.train.run`, the
study, the synthetic-data builder, the prediction check) calls its methods instead of asking
what the data is.

=====================  ==================================================================
method                 what it does
=====================  ==================================================================
``handles``            whether a dataset name is this modality's (the data registries)
``check_names``        the dataset, model and augmentation policy of a config exist
``check_weights``      a pretrained weight file loads (once, before a study starts)
``augment_name``       a policy's condition name (``auto`` → ``divAuto``, ``sr0.3`` →
                       ``div_sr_03``); ``augment_strength`` its dose, ``augment_level``
                       its magnitude level
``prepare_data``       the train/validation/test splits (synthetic samples mixed in by the
                       ``synthesize`` function the caller hands down)
``build_model``        the network, seeded
``batch_source``       what :func:`~weightspace.train.loop.fit` iterates: model-ready batches
``evaluate``           accuracy, loss, NLL and ECE on a split
``run_metrics``        metrics of this modality only (OOD accuracy; truncated texts)
``sharpness_batches``  the fixed batches the Hessian trace is measured on
=====================  ==================================================================

Adding a modality is one module with a :class:`Modality` subclass, listed in
:data:`weightspace.train.modalities.MODALITIES` (before the image modality, which takes every
dataset no other claims); its building blocks live where they belong (a loader in ``data``, a
model in ``models``). The stages above training cannot be imported from here, so what only
they do is registered there, keyed by :attr:`Modality.name`: the generator of synthetic data
(:data:`weightspace.synthetic.GENERATORS`) and the diversity scores of the prediction check
(:data:`weightspace.study.predict.SCORERS`).
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

import torch
from torch import nn

from weightspace.errors import ConfigError
from weightspace.train.config import RunConfig
from weightspace.train.loop import BatchSource

# (config, real training set) -> the training set with synthetic samples mixed in; the
# caller hands weightspace.synthetic.build_training_set down (it sits above this stage)
TrainingSetBuilder = Callable[[RunConfig, Any], Any]


class RunData(Protocol):
    """The splits of a run, whatever the modality (``train`` is what the model trains on,
    ``train_real`` the real part of it; ``val`` is None when ``val_fraction == 0``)."""

    @property
    def train(self) -> Any: ...

    @property
    def train_real(self) -> Any: ...

    @property
    def val(self) -> Any | None: ...

    @property
    def test(self) -> Any: ...

    @property
    def num_classes(self) -> int: ...


class Modality(abc.ABC):
    """One kind of data: how a run prepares, trains on, evaluates and embeds it."""

    #: the value of ``runs.parquet``'s ``modality`` column
    name: ClassVar[str]
    #: RunConfig fields that only this modality reads (refused for a dataset of another)
    fields: ClassVar[frozenset[str]] = frozenset()

    @abc.abstractmethod
    def handles(self, dataset: str) -> bool:
        """Whether ``dataset`` (a registry name or a path) holds this modality's data."""

    # -- configuration -------------------------------------------------------------------

    @abc.abstractmethod
    def check_names(self, config: RunConfig) -> None:
        """Raise a ConfigError naming the fix if a name in ``config`` is unknown here."""

    def check_weights(self, config: RunConfig) -> None:  # noqa: B027 - optional hook
        """Raise a ConfigError if ``config``'s pretrained weights cannot be loaded (checked
        once before a study starts, rather than failing in every run)."""

    # -- the condition vocabulary of augmentation ------------------------------------------

    @abc.abstractmethod
    def augment_name(self, policy: str) -> str:
        """The condition name of augmentation policy ``policy`` (an error if unknown)."""

    @abc.abstractmethod
    def augment_strength(self, spec: Any) -> float:
        """The dose of augmentation ``spec`` (a policy name or op list); NaN if it has none."""

    def augment_level(self, spec: Any) -> float:
        """The magnitude level (0..10) of augmentation ``spec``; NaN without one."""
        return math.nan

    # -- one run ---------------------------------------------------------------------------

    @abc.abstractmethod
    def prepare_data(
        self, config: RunConfig, *, synthesize: TrainingSetBuilder | None = None
    ) -> RunData:
        """Load, subset and split the data of ``config``: the training subset and the
        validation split from the run's seed, the test subset from a fixed seed (every run
        of a study is scored on the same examples)."""

    @abc.abstractmethod
    def build_model(self, config: RunConfig, data: Any, *, pretrained: bool = True) -> nn.Module:
        """The network of ``config`` for ``data`` (seeded with ``config.seed``); without
        ``pretrained`` the pretrained weights are not loaded (a finished run's replace them)."""

    @abc.abstractmethod
    def batch_source(
        self, model: nn.Module, data: Any, config: RunConfig, device: torch.device
    ) -> BatchSource:
        """The training batches of ``data.train`` (augmented as ``config`` says)."""

    @abc.abstractmethod
    def evaluate(
        self, model: nn.Module, split: Any, data: Any, config: RunConfig, device: torch.device
    ) -> dict[str, float]:
        """``acc``, ``loss``, ``nll`` and ``ece`` of ``model`` on ``split`` (eval mode)."""

    def run_metrics(
        self, model: nn.Module, data: Any, config: RunConfig, device: torch.device
    ) -> dict[str, Any]:
        """The run metrics only this modality has (merged into ``metrics.json``)."""
        return {}

    def sharpness_batches(
        self, data: Any, config: RunConfig, device: torch.device
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Fixed, seeded, clean training batches for the Hessian trace (docs/dynamics.md)."""
        raise ConfigError(
            f"hessian / hessian_every_steps are not measured on {self.name} runs; "
            "set hessian = false"
        )
