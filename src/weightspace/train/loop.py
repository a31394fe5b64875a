"""The training loop: optimizer, learning-rate schedule and the epoch loop.

Design (each choice is for speed without changing the maths):

- The training images stay ``uint8`` in memory, shaped (N, C, H, W); each batch is
  gathered by index from a pre-shuffled permutation and converted to normalised float32
  in one fused multiply-add (no DataLoader, no PIL, no per-sample Python on the fast path).
- No host synchronisation per step: the running loss and the number of correct
  predictions are accumulated as tensors and read once per epoch (``.item()`` per step
  would stall a GPU pipeline at every batch).
- Augmentation randomness comes from a generator seeded per batch from
  ``(seed, epoch, batch)``, so the augmented images do not depend on how many dropout
  draws came before, nor on whether background threads built the batches ahead
  (``num_workers`` > 0 overlaps augmentation of the next batches with the training step).
- Shuffling uses a dedicated :class:`torch.Generator`; model initialisation and dropout
  use torch's global generator, seeded by the caller.
- On CUDA: channels-last memory format, bf16 autocast, pinned host memory and
  non-blocking copies (images live on the GPU when no augmentation is applied).
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from weightspace.train.config import RunConfig
from weightspace.train.inputs import normalizer, to_input

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


AugmentFn = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
BatchSource = Callable[[list[torch.Tensor], int], Iterator[tuple[torch.Tensor, torch.Tensor]]]


def _epoch_batches(
    images: torch.Tensor,
    labels: torch.Tensor,
    batches: list[torch.Tensor],
    *,
    augment: AugmentFn | None,
    seed: int,
    epoch: int,
    workers: int,
    pin: bool,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (x, y) per batch: uint8 x without augmentation, float [0, 1] x with it.

    Batch b is augmented with its own generator seeded by (seed, epoch, b), so the result
    does not depend on ``workers``: with ``workers`` > 0, background threads augment up to
    ``workers + 1`` batches ahead of the training step (torch kernels release the GIL).
    """
    if augment is None:
        for idx in batches:
            yield images[idx], labels[idx]
        return

    def make(b: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = batches[b]
        g = torch.Generator().manual_seed(batch_seed(seed, epoch, b))
        x = augment(images[idx], g)  # (B, C, H, W) float32 in [0, 1]
        y = labels[idx]
        return (x.pin_memory(), y.pin_memory()) if pin else (x, y)

    if workers == 0:
        for b in range(len(batches)):
            yield make(b)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="augment") as pool:
        ahead = min(len(batches), workers + 1)
        pending = deque(pool.submit(make, b) for b in range(ahead))
        try:
            for b in range(ahead, len(batches) + ahead):
                x, y = pending.popleft().result()
                if b < len(batches):
                    pending.append(pool.submit(make, b))
                yield x, y
        finally:
            for fut in pending:
                fut.cancel()


def fit(
    model: nn.Module,
    images: torch.Tensor | None,
    labels: torch.Tensor,
    *,
    config: RunConfig,
    mean: torch.Tensor | None,
    std: torch.Tensor | None,
    augment: AugmentFn | None = None,
    device: torch.device | str = "cpu",
    on_epoch_end: Callable[[EpochStats], None] | None = None,
    on_step: Callable[[int], None] | None = None,
    progress: bool = False,
    batch_source: BatchSource | None = None,
) -> list[EpochStats]:
    """Train ``model`` in place on uint8 ``images`` (N, C, H, W) and ``labels`` (N,).

    ``augment(batch, generator)`` maps a uint8 batch to float32 in [0, 1], drawing its
    per-sample randomness from ``generator`` (seeded here per batch). ``on_epoch_end`` is
    called after each epoch, outside the timed region (validation, spectral snapshots);
    ``on_step(step)`` after each optimizer step (1-based, counted over the whole run), its
    time excluded from the epoch's ``seconds`` (spectra and sharpness every k steps).
    ``batch_source(batches, epoch)``, when given, yields the model-ready (x, y) of each index
    batch instead (the text path: token tensors; ``images`` is then unused).
    """
    device = torch.device(device)
    cuda = device.type == "cuda"
    n = labels.shape[0]
    bs = config.batch_size
    steps_per_epoch = math.ceil(n / bs)
    optimizer = build_optimizer(config, param_groups(config, model))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: lr_factor(
            config.schedule, step, steps_per_epoch=steps_per_epoch, epochs=config.epochs
        ),
    )
    shuffle = torch.Generator().manual_seed(config.seed)
    if batch_source is not None:  # batches arrive model-ready
        scale = shift = torch.empty(0)
    elif images is None or mean is None or std is None:
        raise ValueError("fit needs images, mean and std unless a batch_source is given")
    elif augment is None:
        scale, shift = normalizer(mean, std, max_value=255.0, device=device)
        if cuda:  # the whole uint8 set lives on the GPU; batches are gathered there
            images, labels = images.to(device), labels.to(device)
    else:  # augment returns [0, 1] floats
        scale, shift = normalizer(mean, std, max_value=1.0, device=device)
    if cuda:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    history: list[EpochStats] = []
    step = 0
    bar = _progress_bar(progress, total=config.epochs * n)
    try:
        for epoch in range(1, config.epochs + 1):
            if bar is not None:
                bar.set_description(f"epoch {epoch}/{config.epochs}")
            model.train()
            lr = float(optimizer.param_groups[0]["lr"])
            perm = torch.randperm(n, generator=shuffle)
            batches = list(perm.split(bs))
            if augment is None and batch_source is None and cuda:
                batches = [b.to(device) for b in batches]
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), dtype=torch.int64, device=device)
            start = time.perf_counter()
            paused = 0.0  # time spent in on_step, left out of the epoch's seconds
            stream = (
                batch_source(batches, epoch)
                if batch_source is not None
                else _epoch_batches(
                    images,  # type: ignore[arg-type]  # checked above: not None here
                    labels,
                    batches,
                    augment=augment,
                    seed=config.seed,
                    epoch=epoch,
                    workers=config.num_workers,
                    pin=cuda,
                )
            )
            for xb, yb in stream:
                xb, yb = xb.to(device, non_blocking=cuda), yb.to(device, non_blocking=cuda)
                x = (
                    xb
                    if batch_source is not None
                    else to_input(xb, scale, shift, channels_last=cuda)
                )
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
                    logits = model(x)
                    loss = F.cross_entropy(logits, yb)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                with torch.no_grad():  # running sums stay on the device: no sync per step
                    loss_sum += loss.detach().float() * yb.shape[0]
                    correct += (logits.argmax(1) == yb).sum()
                step += 1
                if on_step is not None:
                    t_hook = time.perf_counter()
                    on_step(step)
                    paused += time.perf_counter() - t_hook
                if bar is not None:
                    bar.update(yb.shape[0])
            stats = EpochStats(
                epoch=epoch,
                train_loss=loss_sum.item() / n,  # the epoch's only host syncs
                train_acc=correct.item() / n,
                # measured after the syncs above, so queued GPU work is included
                lr=lr,
                seconds=time.perf_counter() - start - paused,
                images=n,
            )
            history.append(stats)
            log.info(
                "epoch %d/%d loss %.4f acc %.4f %.0f img/s",
                epoch,
                config.epochs,
                stats.train_loss,
                stats.train_acc,
                n / max(stats.seconds, 1e-9),
            )
            if bar is not None:
                bar.set_postfix(
                    loss=f"{stats.train_loss:.4f}",
                    acc=f"{stats.train_acc:.3f}",
                    img_s=f"{n / max(stats.seconds, 1e-9):.0f}",
                )
            if on_epoch_end is not None:
                on_epoch_end(stats)
    finally:
        if bar is not None:
            bar.close()
        if cuda:
            model.to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]
    return history


def _progress_bar(enabled: bool, *, total: int) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="img", unit_scale=True, leave=False, dynamic_ncols=True)
