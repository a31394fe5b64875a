"""Deterministic OOD corruptions of uint8 images at severities 1..5 (CIFAR-10-C style).

``corrupt(images, kind, severity, seed=...)`` returns a new uint8 tensor; the same inputs and
seed always give the same output, so every run can report an out-of-distribution accuracy
without downloading a corrupted test set. Parameters per severity (on [0, 1] pixels):

    gaussian_noise  std          0.04 0.06 0.08 0.09 0.10     (CIFAR-10-C)
    shot_noise      photons      500  250  100  75   50       (Poisson, CIFAR-10-C)
    gaussian_blur   sigma (px)   0.4  0.6  0.7  0.8  1.0      (CIFAR-10-C)
    contrast        factor       0.75 0.5  0.4  0.3  0.15     (x - mean)·c + mean (CIFAR-10-C)
    brightness      +value       0.05 0.1  0.15 0.2  0.3      (HSV value channel, CIFAR-10-C)
    rotation        degrees      5    10   15   20   30       (random sign, bilinear, zero fill)
    elastic         alpha/sigma  (15,4) (25,4) (35,4) (45,4) (55,4)  (torchvision ElasticTransform units)
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from weightspace.data import geometry
from weightspace.errors import ConfigError, unknown_choice

Corruption = Callable[[torch.Tensor, int, torch.Generator], torch.Tensor]


def _gaussian_noise(x: torch.Tensor, s: int, g: torch.Generator) -> torch.Tensor:
    std = (0.04, 0.06, 0.08, 0.09, 0.10)[s - 1]
    return x + std * torch.randn(x.shape, generator=g)


def _shot_noise(x: torch.Tensor, s: int, g: torch.Generator) -> torch.Tensor:
    photons = (500.0, 250.0, 100.0, 75.0, 50.0)[s - 1]
    return torch.poisson(x * photons, generator=g) / photons


def _gaussian_blur(x: torch.Tensor, s: int, g: torch.Generator) -> torch.Tensor:
    sigma = (0.4, 0.6, 0.7, 0.8, 1.0)[s - 1]
    return geometry.gaussian_blur(x, sigma, kernel_size=2 * math.ceil(3 * sigma) + 1)


def _contrast(x: torch.Tensor, s: int, g: torch.Generator) -> torch.Tensor:
    c = (0.75, 0.5, 0.4, 0.3, 0.15)[s - 1]
    mean = x.mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
    return (x - mean) * c + mean


def _brightness(x: torch.Tensor, s: int, g: torch.Generator) -> torch.Tensor:
    c = (0.05, 0.1, 0.15, 0.2, 0.3)[s - 1]
    v = x.amax(dim=1, keepdim=True)  # HSV value, (B, 1, H, W)
    new_v = (v + c).clamp(max=1.0)
    # hue and saturation are unchanged when every channel scales with V; black pixels
    # (V = 0) become grey of value c
    scale = torch.where(v > 0, new_v / v.clamp(min=1e-12), torch.zeros_like(v))
    return torch.where(v > 0, x * scale, new_v.expand_as(x))


def _rotation(x: torch.Tensor, s: int, g: torch.Generator) -> torch.Tensor:
    deg = (5.0, 10.0, 15.0, 20.0, 30.0)[s - 1]
    b, _, h, w = x.shape
    sign = torch.randint(0, 2, (b,), generator=g) * 2 - 1
    rad = torch.deg2rad(sign * deg)
    cos, sin = torch.cos(rad), torch.sin(rad)
    # rotation about the centre in pixel units (non-square images keep their aspect)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin * h / w
    theta[:, 1, 0], theta[:, 1, 1] = sin * w / h, cos
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _elastic(x: torch.Tensor, s: int, g: torch.Generator) -> torch.Tensor:
    alpha = (15.0, 25.0, 35.0, 45.0, 55.0)[s - 1]
    b, _, h, w = x.shape
    disp = geometry.elastic_displacement(b, h, w, alpha=alpha, sigma=4.0, generator=g)
    return geometry.warp(x, disp)


CORRUPTIONS: dict[str, Corruption] = {
    "gaussian_noise": _gaussian_noise,
    "shot_noise": _shot_noise,
    "gaussian_blur": _gaussian_blur,
    "contrast": _contrast,
    "brightness": _brightness,
    "rotation": _rotation,
    "elastic": _elastic,
}
SEVERITIES = (1, 2, 3, 4, 5)


def corrupt(images: torch.Tensor, kind: str, severity: int, *, seed: int) -> torch.Tensor:
    """Corrupt uint8 ``(N, C, H, W)`` images; deterministic in ``seed``.

    Each image gets its own noise / field / rotation sign from a generator seeded with
    ``seed``, so the result depends only on the inputs, ``kind``, ``severity`` and ``seed``.
    """
    if kind not in CORRUPTIONS:
        raise unknown_choice("corruption", kind, CORRUPTIONS)
    if isinstance(severity, bool) or severity not in SEVERITIES:
        raise ConfigError(f"corruption severity must be one of 1..5, got {severity!r}")
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(
            f"corrupt expects uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}"
        )
    g = torch.Generator().manual_seed(int(seed))
    out = torch.empty_like(images)
    for start in range(0, images.shape[0], 1024):  # bounded memory for large test sets
        # computed on the CPU with a CPU generator: the same result on every device
        chunk = images[start : start + 1024].cpu().to(torch.float32) / 255.0
        y = CORRUPTIONS[kind](chunk, severity, g)
        out[start : start + 1024] = geometry.to_uint8(y.clamp(0.0, 1.0)).to(out.device)
    return out
