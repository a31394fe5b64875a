"""Batched image helpers shared by augmentation and corruptions: blur, elastic warp.

Elastic displacement follows torchvision's ``ElasticTransform`` (uniform noise in [-1, 1]
blurred by a Gaussian of kernel ``int(8σ+1)`` (odd), scaled by ``α / size``), but draws one
field per sample and warps the whole batch with a single ``grid_sample``.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F


def gaussian_kernel1d(size: int, sigma: float) -> torch.Tensor:
    half = (size - 1) * 0.5
    x = torch.linspace(-half, half, steps=size)
    pdf = torch.exp(-0.5 * (x / sigma) ** 2)
    return pdf / pdf.sum()


def odd_kernel_size(sigma: float) -> int:
    k = int(8 * sigma + 1)
    return k + 1 if k % 2 == 0 else k


@functools.lru_cache(maxsize=32)
def _blur_matrix(n: int, k: int, sigma: float) -> torch.Tensor:
    """``(n, n)`` matrix M with ``M @ v`` = 1-D Gaussian blur of ``v`` under reflect padding."""
    kern = gaussian_kernel1d(k, sigma).to(torch.float64)
    pad = k // 2
    m = torch.zeros(n, n, dtype=torch.float64)
    for i in range(n):
        for t in range(k):
            j = i + t - pad
            j = -j if j < 0 else (2 * (n - 1) - j if j >= n else j)  # reflect, edge not repeated
            m[i, j] += kern[t]
    return m.to(torch.float32)


def gaussian_blur(x: torch.Tensor, sigma: float, kernel_size: int | None = None) -> torch.Tensor:
    """Separable Gaussian blur of float ``(B, C, H, W)`` with reflect padding.

    Computed as ``M_h @ x @ M_wᵀ`` with the padding folded into the matrices (faster than
    a convolution for the large kernels of elastic fields on small images). The kernel is
    shortened to fit the image when reflect padding would exceed it (torchvision would
    raise for such small images).
    """
    h, w = x.shape[-2:]
    k = kernel_size or odd_kernel_size(sigma)
    k = min(k, 2 * (min(h, w) - 1) + 1)
    if k <= 1 or sigma <= 0:
        return x
    return _blur_matrix(h, k, float(sigma)).to(x) @ x @ _blur_matrix(w, k, float(sigma)).to(x).T


def identity_grid(h: int, w: int) -> torch.Tensor:
    ys = torch.linspace((-h + 1) / h, (h - 1) / h, h)
    xs = torch.linspace((-w + 1) / w, (w - 1) / w, w)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy], -1).unsqueeze(0)  # (1, H, W, 2)


def elastic_displacement(
    n: int, h: int, w: int, *, alpha: float, sigma: float,
    generator: torch.Generator | None = None, device: torch.device | str | None = None,
) -> torch.Tensor:  # fmt: skip
    """``n`` independent displacement fields ``(n, H, W, 2)`` in grid units."""
    d = torch.rand((n, 2, h, w), generator=generator, device=device) * 2 - 1  # (n, [dx, dy], H, W)
    d = gaussian_blur(d, sigma)
    d[:, 0] *= alpha / w  # horizontal displacement normalised by width
    d[:, 1] *= alpha / h  # vertical displacement normalised by height
    return d.permute(0, 2, 3, 1)  # (n, H, W, 2)


def warp(x: torch.Tensor, displacement: torch.Tensor, *, mode: str = "bilinear") -> torch.Tensor:
    """Warp float ``(B, C, H, W)`` by per-sample displacements ``(B, H, W, 2)``; zero fill."""
    grid = identity_grid(x.shape[2], x.shape[3]).to(x) + displacement
    return F.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)


def to_float(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.float32).div_(255.0) if x.dtype == torch.uint8 else x


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] floats to uint8 with rounding (as torchvision casts float results back)."""
    if x.dtype == torch.uint8:
        return x
    return (x * 255.0).round_().clamp_(0, 255).to(torch.uint8)
