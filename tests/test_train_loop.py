"""The training loop on a toy problem: it learns, it is deterministic, schedules are right."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from weightspace.train import RunConfig
from weightspace.train.image import ImageBatches
from weightspace.train.inputs import channel_stats
from weightspace.train.loop import batch_seed, fit, lr_factor


def _toy(n: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Two classes separable by mean brightness: uint8 (n, 1, 6, 6)."""
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % 2
    base = torch.where(labels[:, None, None, None] == 1, 170.0, 85.0)
    noise = torch.randn(n, 1, 6, 6, generator=g) * 30
    return (base + noise).clamp(0, 255).to(torch.uint8), labels


def _model(dropout: float = 0.0) -> nn.Module:
    return nn.Sequential(
        nn.Flatten(), nn.Linear(36, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, 2)
    )


def _noise_augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """uint8 (B, C, H, W) -> float [0, 1] plus per-sample noise from ``g``."""
    return (x.float() / 255 + 0.05 * torch.randn(x.shape, generator=g)).clamp(0, 1)


def _train(config: RunConfig, augment=None, num_workers: int = 0) -> tuple[list, nn.Module]:  # type: ignore[no-untyped-def]
    images, labels = _toy()
    mean, std = channel_stats(images)
    torch.manual_seed(config.seed)
    model = _model(config.dropout)
    cfg = config.replace(num_workers=num_workers)
    source = ImageBatches(images, labels, mean, std, augment=augment, seed=cfg.seed,
                          workers=num_workers)  # fmt: skip
    hist = fit(model, source, config=cfg)
    return hist, model


def test_fit_learns_and_reports_epochs() -> None:
    cfg = RunConfig(epochs=3, batch_size=32, lr=1e-2)
    hist, _ = _train(cfg)
    assert [h.epoch for h in hist] == [1, 2, 3]
    assert hist[-1].train_acc > 0.9
    assert hist[-1].train_loss < hist[0].train_loss
    assert all(h.images == 256 and h.seconds > 0 for h in hist)


@pytest.mark.parametrize("augment", [None, _noise_augment])
def test_same_seed_same_weights(augment) -> None:  # type: ignore[no-untyped-def]
    cfg = RunConfig(epochs=2, batch_size=24, lr=1e-2, dropout=0.3, weight_decay=1e-3)
    h1, m1 = _train(cfg, augment)
    h2, m2 = _train(cfg, augment)
    assert [h.train_loss for h in h1] == [h.train_loss for h in h2]
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    h3, _ = _train(cfg.replace(seed=1), augment)
    assert [h.train_loss for h in h3] != [h.train_loss for h in h1]


def test_augmentation_does_not_depend_on_background_threads() -> None:
    cfg = RunConfig(epochs=1, batch_size=64, lr=1e-2, dropout=0.2)
    h0, m0 = _train(cfg, _noise_augment, num_workers=0)
    h1, m1 = _train(cfg, _noise_augment, num_workers=2)
    assert h0[0].train_loss == h1[0].train_loss
    for a, b in zip(m0.state_dict().values(), m1.state_dict().values(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd"])
def test_optimizers_and_weight_decay_shrink_weights(optimizer: str) -> None:
    base = RunConfig(epochs=2, lr=1e-2, optimizer=optimizer)
    _, plain = _train(base)
    _, decayed = _train(base.replace(weight_decay=0.5))
    norm = lambda m: sum(p.norm() ** 2 for p in m.parameters()).item()  # noqa: E731
    assert norm(decayed) < norm(plain)


def test_lr_schedules() -> None:
    kw = {"steps_per_epoch": 10, "epochs": 4}
    assert lr_factor("constant", 37, **kw) == 1.0
    assert lr_factor("cosine", 0, **kw) == 1.0
    assert lr_factor("cosine", 20, **kw) == pytest.approx(0.5)
    assert lr_factor("cosine", 39, **kw) == pytest.approx(0.5 * (1 + math.cos(math.pi * 39 / 40)))
    # step: x0.1 from epoch ceil(4/2) = 2, x0.01 from epoch ceil(3) = 3 (0-based)
    assert [lr_factor("step", 10 * e, **kw) for e in range(4)] == pytest.approx([1, 1, 0.1, 0.01])


def test_history_lr_follows_schedule() -> None:
    hist, _ = _train(RunConfig(epochs=4, lr=0.1, optimizer="sgd", schedule="step"))
    assert [h.lr for h in hist] == pytest.approx([0.1, 0.1, 0.01, 0.001])


def test_batch_seed_distinct() -> None:
    seeds = {batch_seed(s, e, b) for s in range(3) for e in range(3) for b in range(50)}
    assert len(seeds) == 450


def test_no_host_sync_per_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the two per-epoch reads (loss, correct) call ``.item()``; SGD itself calls none."""
    calls = []
    real_item = torch.Tensor.item

    def counting_item(self: torch.Tensor) -> object:
        calls.append(self.shape)
        return real_item(self)

    images, labels = _toy()
    mean, std = channel_stats(images)
    model = _model()
    cfg = RunConfig(epochs=3, batch_size=16, optimizer="sgd", lr=0.05)  # 16 steps per epoch
    monkeypatch.setattr(torch.Tensor, "item", counting_item)
    fit(model, ImageBatches(images, labels, mean, std, augment=_noise_augment), config=cfg)
    monkeypatch.undo()
    assert len(calls) == 2 * 3
