"""The training loop: optimizer, learning-rate schedule and the epoch loop.

The loop knows nothing of the data: a :class:`BatchSource` (one per modality,
:meth:`weightspace.train.modality.Modality.batch_source`) turns each batch of example
indices into model-ready tensors. Design (each choice is for speed without changing the maths):

- Batches are index batches of a permutation drawn from a dedicated :class:`torch.Generator`
  seeded with the run's seed; model initialisation and dropout use torch's global
  generator, seeded by the caller. The image source gathers uint8 images by index and
  normalises them in one fused multiply-add (no DataLoader, no PIL, no per-sample Python).
- No host synchronisation per step: the running loss and the number of correct
  predictions are accumulated as tensors and read once per epoch (``.item()`` per step
  would stall a GPU pipeline at every batch).
- Augmentation randomness comes from a generator seeded per batch from
  ``(seed, epoch, batch)`` (:func:`batch_seed`), so the augmented examples do not depend on
  how many dropout draws came before, nor on whether background threads built the batches
  ahead.
- On CUDA: channels-last memory format and bf16 autocast here; pinned host memory and
  non-blocking copies in the sources.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from weightspace.train.config import RunConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EpochStats:
    """What one epoch of training measured (training mode, augmented batches)."""

    epoch: int  # 1-based
    train_loss: float  # mean cross-entropy over the epoch's batches, weighted by batch size
    train_acc: float  # fraction of correct arg-max predictions on those batches
    lr: float  # learning rate at the first step of the epoch
    seconds: float  # wall time of the epoch's training steps (evaluation excluded)
    images: int  # images processed


def param_groups(
    config: RunConfig, model: nn.Module
) -> Iterator[nn.Parameter] | list[dict[str, Any]]:
    """What the optimizer gets: every parameter (``weight_decay_params="all"``), or two groups,
    the ``dim() >= 2`` tensors with ``weight_decay`` and the rest with none ("matrices")."""
    if config.weight_decay_params == "all":
        return model.parameters()
    params = list(model.parameters())
    return [
        {"params": [p for p in params if p.dim() >= 2]},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]


def build_optimizer(config: RunConfig, params: Any) -> torch.optim.Optimizer:
    """Adam with coupled L2 ``weight_decay`` (the paper), AdamW, or SGD with momentum.

    ``params``: what :func:`param_groups` returns (a group's own ``weight_decay`` wins).
    """
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(
        params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )


def lr_factor(schedule: str, step: int, *, steps_per_epoch: int, epochs: int) -> float:
    """Multiplier of the base learning rate before optimizer step ``step`` (0-based).

    constant: 1. cosine: ½(1 + cos(π·step/T)) over the T = epochs·steps_per_epoch steps.
    step: ×0.1 from epoch ⌈E/2⌉ and ×0.01 from epoch ⌈3E/4⌉ (0-based epochs).
    """
    if schedule == "constant":
        return 1.0
    total = max(1, epochs * steps_per_epoch)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))
    if schedule == "step":
        epoch = step // max(1, steps_per_epoch)
        return 0.1 ** ((epoch >= math.ceil(epochs / 2)) + (epoch >= math.ceil(3 * epochs / 4)))
    raise ValueError(f"unknown schedule {schedule!r}")


def batch_seed(seed: int, epoch: int, batch: int) -> int:
    """The augmentation seed of one batch: a hash of (run seed, epoch, batch index)."""
    return int(np.random.SeedSequence([seed, epoch, batch]).generate_state(1)[0])


class BatchSource(Protocol):
    """Where :func:`fit` gets its batches (one per modality: ``weightspace.train.image``,
    ``weightspace.train.text``).

    ``len(source)`` is the number of training examples; ``source(batches, epoch)`` yields one
    model-ready ``(x, y)`` on the training device per index batch of ``batches`` (augmented
    with a generator seeded by (seed, epoch, batch), see :func:`batch_seed`).
    """

    def __len__(self) -> int: ...

    def __call__(
        self, batches: list[torch.Tensor], epoch: int
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]: ...


def fit(
    model: nn.Module,
    source: BatchSource,
    *,
    config: RunConfig,
    device: torch.device | str = "cpu",
    on_epoch_end: Callable[[EpochStats], None] | None = None,
    on_step: Callable[[int], None] | None = None,
    progress: bool = False,
) -> list[EpochStats]:
    """Train ``model`` in place on the batches of ``source`` for ``config.epochs`` epochs.

    Each epoch draws a permutation of the ``len(source)`` examples from a generator seeded
    with ``config.seed`` and splits it into batches of ``config.batch_size``.
    ``on_epoch_end`` is called after each epoch, outside the timed region (validation,
    spectral snapshots); ``on_step(step)`` after each optimizer step (1-based, counted over
    the whole run), its time excluded from the epoch's ``seconds`` (spectra and sharpness
    every k steps).
    """
    device = torch.device(device)
    cuda = device.type == "cuda"
    n = len(source)
    steps_per_epoch = math.ceil(n / config.batch_size)
    optimizer = build_optimizer(config, param_groups(config, model))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: lr_factor(
            config.schedule, step, steps_per_epoch=steps_per_epoch, epochs=config.epochs
        ),
    )
    shuffle = torch.Generator().manual_seed(config.seed)
    if cuda:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    history: list[EpochStats] = []
    steps = _StepCounter(on_step)
    bar = _progress_bar(progress, total=config.epochs * n)
    try:
        for epoch in range(1, config.epochs + 1):
            if bar is not None:
                bar.set_description(f"epoch {epoch}/{config.epochs}")
            model.train()
            lr = float(optimizer.param_groups[0]["lr"])
            batches = list(torch.randperm(n, generator=shuffle).split(config.batch_size))
            start = time.perf_counter()
            steps.paused = 0.0
            loss_sum, correct = _train_epoch(
                model, source(batches, epoch), optimizer, scheduler, device, steps, bar
            )
            stats = EpochStats(
                epoch=epoch,
                train_loss=loss_sum.item() / n,  # the epoch's only host syncs
                train_acc=correct.item() / n,
                # measured after the syncs above, so queued GPU work is included
                lr=lr,
                seconds=time.perf_counter() - start - steps.paused,
                images=n,
            )
            history.append(stats)
            _log_epoch(stats, config.epochs, bar)
            if on_epoch_end is not None:
                on_epoch_end(stats)
    finally:
        if bar is not None:
            bar.close()
        if cuda:
            model.to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]
    return history


@dataclass
class _StepCounter:
    """Counts optimizer steps over the run and times the ``on_step`` hook."""

    hook: Callable[[int], None] | None
    step: int = 0
    paused: float = 0.0  # time spent in the hook this epoch, left out of its seconds

    def __call__(self) -> None:
        self.step += 1
        if self.hook is not None:
            t_hook = time.perf_counter()
            self.hook(self.step)
            self.paused += time.perf_counter() - t_hook


def _train_epoch(
    model: nn.Module,
    stream: Iterator[tuple[torch.Tensor, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    device: torch.device,
    steps: _StepCounter,
    bar: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One pass over ``stream``; returns the summed loss and the number of correct
    predictions as device tensors (no host sync per step)."""
    cuda = device.type == "cuda"
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    for x, y in stream:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
            logits = model(x)
            loss = F.cross_entropy(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        with torch.no_grad():  # running sums stay on the device: no sync per step
            loss_sum += loss.detach().float() * y.shape[0]
            correct += (logits.argmax(1) == y).sum()
        steps()
        if bar is not None:
            bar.update(y.shape[0])
    return loss_sum, correct


def _log_epoch(stats: EpochStats, epochs: int, bar: Any) -> None:
    rate = stats.images / max(stats.seconds, 1e-9)
    log.info(
        "epoch %d/%d loss %.4f acc %.4f %.0f img/s",
        stats.epoch, epochs, stats.train_loss, stats.train_acc, rate,
    )  # fmt: skip
    if bar is not None:
        bar.set_postfix(
            loss=f"{stats.train_loss:.4f}", acc=f"{stats.train_acc:.3f}", img_s=f"{rate:.0f}"
        )


def _progress_bar(enabled: bool, *, total: int) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="img", unit_scale=True, leave=False, dynamic_ncols=True)
