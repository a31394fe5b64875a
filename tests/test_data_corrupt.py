"""OOD corruptions: deterministic, graded by severity, shape- and dtype-preserving."""

from __future__ import annotations

import itertools

import pytest
import torch

from weightspace.data import CORRUPTIONS, corrupt
from weightspace.errors import ConfigError


def _images(c: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(16, c, 28, 28, dtype=torch.uint8)
    x[:, :, 6:22, 8:20] = torch.randint(60, 220, (16, c, 16, 12), generator=g, dtype=torch.uint8)
    return x


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
@pytest.mark.parametrize("channels", [1, 3])
def test_deterministic_and_graded(kind: str, channels: int) -> None:
    x = _images(channels)
    dist = []
    for s in range(1, 6):
        y = corrupt(x, kind, s, seed=7)
        assert y.dtype == torch.uint8 and y.shape == x.shape
        assert torch.equal(y, corrupt(x, kind, s, seed=7))
        dist.append((y.float() - x.float()).abs().mean().item())
    assert dist[0] > 0
    assert all(a < b for a, b in itertools.pairwise(dist)), dist  # more severe, further away
    assert torch.equal(x, _images(channels))  # input untouched


@pytest.mark.parametrize("kind", ["gaussian_noise", "shot_noise", "rotation", "elastic"])
def test_seed_changes_random_corruptions(kind: str) -> None:
    x = _images()
    assert not torch.equal(corrupt(x, kind, 3, seed=0), corrupt(x, kind, 3, seed=1))


def test_contrast_closed_form() -> None:
    x = torch.tensor([0, 100, 200, 255], dtype=torch.uint8).view(1, 1, 2, 2)
    y = corrupt(x, "contrast", 2, seed=0)  # factor 0.5 around the image mean
    mean = x.float().mean() / 255
    expected = ((x.float() / 255 - mean) * 0.5 + mean) * 255
    assert torch.equal(y, expected.round().to(torch.uint8))


def test_gaussian_noise_std() -> None:
    x = torch.full((64, 1, 28, 28), 128, dtype=torch.uint8)
    y = corrupt(x, "gaussian_noise", 5, seed=0).float() / 255
    assert float(y.std()) == pytest.approx(0.10, rel=0.05)


def test_invalid() -> None:
    x = _images()
    with pytest.raises(ConfigError, match=r"valid: .*contrast"):
        corrupt(x, "fog", 1, seed=0)
    with pytest.raises(ConfigError, match=r"1\.\.5"):
        corrupt(x, "contrast", 6, seed=0)
    with pytest.raises(ValueError, match="uint8"):
        corrupt(x.float(), "contrast", 1, seed=0)
