"""Batched image helpers shared by augmentation and corruptions: blur, elastic warp.

Elastic displacement follows torchvision's ``ElasticTransform`` (uniform noise in [-1, 1]
blurred by a Gaussian of kernel ``int(8σ+1)`` (odd), scaled by ``α / size``), but draws one
field per sample and warps the whole batch with a single ``grid_sample``.
"""

from __future__ import annotations

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


def _blur_axis(x: torch.Tensor, kern: torch.Tensor, dim: int) -> torch.Tensor:
    """1-D blur of float ``(B, C, H, W)`` along ``dim`` (-2 or -1), reflect padding.

    A fixed-order sum of shifted copies: elementwise arithmetic only, so the result is
    bit-identical from run to run (a BLAS matrix product may change its last bits with
    memory alignment or thread count, which flips roundings of warped uint8 pixels).
    """
    r = kern.numel() // 2
    pad = (0, 0, r, r) if dim == -2 else (r, r, 0, 0)
    xp = F.pad(x, pad, mode="reflect")  # reflect: the edge pixel is not repeated
    n = x.shape[dim]
    weights = kern.tolist()
    out = xp.narrow(dim, 0, n) * weights[0]
    for t in range(1, len(weights)):
        out.add_(xp.narrow(dim, t, n), alpha=weights[t])
    return out


def gaussian_blur(x: torch.Tensor, sigma: float, kernel_size: int | None = None) -> torch.Tensor:
    """Separable Gaussian blur of float ``(B, C, H, W)`` with reflect padding.

    A fixed-order sum of shifted copies per axis (deterministic to the bit). The kernel is
    shortened to fit the image when reflect padding would exceed it (torchvision would
    raise for such small images).
    """
    h, w = x.shape[-2:]
    k = kernel_size or odd_kernel_size(sigma)
    k = min(k, 2 * (min(h, w) - 1) + 1)
    if k <= 1 or sigma <= 0:
        return x
    kern = gaussian_kernel1d(k, float(sigma)).to(x)
    return _blur_axis(_blur_axis(x, kern, -2), kern, -1)


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
