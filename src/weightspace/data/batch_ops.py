"""torchvision's AutoAugment-family image ops, applied to a batch with per-sample magnitudes.

Each function takes uint8 ``(n, C, H, W)`` and a float64 magnitude per sample ``(n,)`` and
returns what ``torchvision.transforms.autoaugment._apply_op`` returns for every sample with
its own magnitude (nearest interpolation, zero fill) — the same arithmetic, including the
truncating uint8 casts of ``_blend``, so that the per-op parity test can compare pixel by
pixel. All geometric ops of a batch share one ``grid_sample`` call.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

GEOMETRIC = ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate")


def _inverse_affine(center: tuple[float, float], angle: float, translate: tuple[float, float],
                    shear: tuple[float, float]) -> list[float]:  # fmt: skip
    """Inverse of translate·center·rotate·shear·center⁻¹ (scale 1), torchvision's convention."""
    rot, sx, sy = math.radians(angle), math.radians(shear[0]), math.radians(shear[1])
    cx, cy = center
    tx, ty = translate
    a = math.cos(rot - sy) / math.cos(sy)
    b = -math.cos(rot - sy) * math.tan(sx) / math.cos(sy) - math.sin(rot)
    c = math.sin(rot - sy) / math.cos(sy)
    d = -math.sin(rot - sy) * math.tan(sx) / math.cos(sy) + math.cos(rot)
    m = [d, -b, 0.0, -c, a, 0.0]
    m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty) + cx
    m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty) + cy
    return m


def _matrix(op: str, mag: float, h: int, w: int) -> list[float]:
    corner = (-w * 0.5, -h * 0.5)  # torchvision's center=[0, 0] in centred coordinates
    if op == "ShearX":
        return _inverse_affine(corner, 0.0, (0.0, 0.0), (math.degrees(math.atan(mag)), 0.0))
    if op == "ShearY":
        return _inverse_affine(corner, 0.0, (0.0, 0.0), (0.0, math.degrees(math.atan(mag))))
    if op == "TranslateX":
        return _inverse_affine((0.0, 0.0), 0.0, (float(int(mag)), 0.0), (0.0, 0.0))
    if op == "TranslateY":
        return _inverse_affine((0.0, 0.0), 0.0, (0.0, float(int(mag))), (0.0, 0.0))
    if op == "Rotate":
        return _inverse_affine((0.0, 0.0), -mag, (0.0, 0.0), (0.0, 0.0))
    raise ValueError(op)


@functools.lru_cache(maxsize=16)
def _base_grid(h: int, w: int) -> torch.Tensor:
    """Pixel-centre coordinates (x, y, 1) relative to the image centre, ``(1, H*W, 3)``."""
    base = torch.empty(1, h, w, 3)
    base[..., 0].copy_(torch.linspace(-w * 0.5 + 0.5, w * 0.5 - 0.5, steps=w))
    base[..., 1].copy_(torch.linspace(-h * 0.5 + 0.5, h * 0.5 - 0.5, steps=h).unsqueeze_(-1))
    base[..., 2].fill_(1)
    return base.view(1, h * w, 3)


def geometric(x: torch.Tensor, ops: list[str], mags: list[float]) -> torch.Tensor:
    """Per-sample shear/translate/rotate: one affine grid per sample, one grid_sample call."""
    n, _, h, w = x.shape
    theta = torch.tensor([_matrix(o, m, h, w) for o, m in zip(ops, mags, strict=True)],
                         dtype=torch.float32, device=x.device).view(n, 2, 3)  # fmt: skip
    scaled = theta.transpose(1, 2) / torch.tensor([0.5 * w, 0.5 * h], device=x.device)  # (n, 3, 2)
    grid = _base_grid(h, w).to(x.device).expand(n, -1, -1).bmm(scaled).view(n, h, w, 2)
    out = F.grid_sample(x.float(), grid, mode="nearest", padding_mode="zeros", align_corners=False)
    return out.round_().to(torch.uint8)


def _blend(img: torch.Tensor, other: torch.Tensor, ratio: torch.Tensor) -> torch.Tensor:
    # ratio and 1 - ratio are formed in float64 and only then rounded to float32, as
    # torchvision does with its Python-float ratio
    r = ratio.to(img.device, torch.float32).view(-1, 1, 1, 1)  # (n, 1, 1, 1)
    q = (1.0 - ratio).to(img.device, torch.float32).view(-1, 1, 1, 1)
    return (r * img + q * other).clamp_(0, 255).to(torch.uint8)


def _gray(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 1:
        return x.clone()
    r, g, b = x.unbind(dim=1)
    return (0.2989 * r + 0.587 * g + 0.114 * b).to(torch.uint8).unsqueeze(1)  # (n, 1, H, W)


def brightness(x: torch.Tensor, mag: torch.Tensor) -> torch.Tensor:
    return _blend(x, torch.zeros_like(x), 1.0 + mag)


def color(x: torch.Tensor, mag: torch.Tensor) -> torch.Tensor:
    return x if x.shape[1] == 1 else _blend(x, _gray(x), 1.0 + mag)


def contrast(x: torch.Tensor, mag: torch.Tensor) -> torch.Tensor:
    mean = _gray(x).to(torch.float32).mean(dim=(-3, -2, -1), keepdim=True)  # (n, 1, 1, 1)
    return _blend(x, mean, 1.0 + mag)


def sharpness(x: torch.Tensor, mag: torch.Tensor) -> torch.Tensor:
    h, w = x.shape[-2:]
    if h <= 2 or w <= 2:
        return x
    # torchvision's 3×3 kernel [[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13 as shifted sums (a
    # small conv2d call costs more than the arithmetic); k/13 is never half-way between
    # integers, so the rounding below matches the convolution's exactly
    f = x.to(torch.float32)
    box = sum(f[..., i : h - 2 + i, j : w - 2 + j] for i in range(3) for j in range(3))
    smooth = ((box + 4.0 * f[..., 1:-1, 1:-1]) / 13.0).round_().to(torch.uint8)  # (n, C, H-2, W-2)
    degenerate = x.clone()
    degenerate[..., 1:-1, 1:-1] = smooth
    return _blend(x, degenerate, 1.0 + mag)


def posterize(x: torch.Tensor, mag: torch.Tensor) -> torch.Tensor:
    bits = mag.to(torch.int64)
    mask = (
        (256 - torch.pow(2, 8 - bits)).to(x.device, torch.uint8).view(-1, 1, 1, 1)
    )  # top `bits` bits
    return x & mask


def solarize(x: torch.Tensor, mag: torch.Tensor) -> torch.Tensor:
    thr = mag.to(x.device, torch.float32).view(-1, 1, 1, 1)
    return torch.where(x >= thr, 255 - x, x)


def autocontrast(x: torch.Tensor, mag: torch.Tensor) -> torch.Tensor:
    lo = x.amin(dim=(-2, -1), keepdim=True).to(torch.float32)  # (n, C, 1, 1)
    hi = x.amax(dim=(-2, -1), keepdim=True).to(torch.float32)
    scale = 255.0 / (hi - lo)
    flat = ~torch.isfinite(scale)
    lo[flat] = 0
    scale[flat] = 1
    return ((x - lo) * scale).clamp_(0, 255).to(torch.uint8)


def equalize(x: torch.Tensor, mag: torch.Tensor) -> torch.Tensor:
    """Histogram equalisation per image and channel, all channels in one bincount."""
    n, c, h, w = x.shape
    k = n * c
    flat = x.reshape(k, h * w).to(torch.int64)  # (k, HW)
    offsets = torch.arange(k, device=x.device).unsqueeze(1) * 256
    hist = torch.bincount((flat + offsets).reshape(-1), minlength=256 * k).view(k, 256)
    # torchvision: step = (sum of all non-zero bins but the last) // 255; the last non-zero
    # bin is the channel's maximum value
    top = flat.amax(dim=1, keepdim=True)  # (k, 1)
    step = (h * w - hist.gather(1, top)) // 255  # (k, 1)
    safe = step.clamp(min=1)
    lut = (hist.cumsum(1) + safe // 2) // safe  # (k, 256)
    lut = F.pad(lut, [1, 0])[:, :-1].clamp(0, 255)
    out = lut.gather(1, flat).to(torch.uint8)
    out = torch.where(step == 0, flat.to(torch.uint8), out)
    return out.view(n, c, h, w)


def invert(x: torch.Tensor, mag: torch.Tensor) -> torch.Tensor:
    return 255 - x


def identity(x: torch.Tensor, mag: torch.Tensor) -> torch.Tensor:
    return x


PIXEL_OPS = {
    "Brightness": brightness, "Color": color, "Contrast": contrast, "Sharpness": sharpness,
    "Posterize": posterize, "Solarize": solarize, "AutoContrast": autocontrast,
    "Equalize": equalize, "Invert": invert, "Identity": identity,
}  # fmt: skip


def apply_ops(
    x: torch.Tensor, names: tuple[str, ...], op: torch.Tensor, mag: torch.Tensor
) -> torch.Tensor:
    """Apply op ``names[op[i]]`` with magnitude ``mag[i]`` to sample ``i`` (``op[i] < 0``: none).

    ``op`` and ``mag`` live on the CPU; ``x`` on any device.
    """
    groups: dict[int, list[int]] = {}
    for i, k in enumerate(op.tolist()):
        if k >= 0 and names[k] != "Identity":
            groups.setdefault(k, []).append(i)
    if not groups:
        return x
    out = x.clone()
    geo = sorted(i for k, rows in groups.items() if names[k] in GEOMETRIC for i in rows)
    if geo:
        idx = torch.tensor(geo)
        ops = [names[k] for k in op[idx].tolist()]
        on = idx.to(x.device)
        out.index_copy_(0, on, geometric(x.index_select(0, on), ops, mag[idx].tolist()))
    for k, rows in groups.items():
        if names[k] in GEOMETRIC:
            continue
        # gather/scatter with index_select/index_copy_: cheaper than boolean-mask indexing
        idx = torch.tensor(rows)
        on = idx.to(x.device)
        out.index_copy_(0, on, PIXEL_OPS[names[k]](x.index_select(0, on), mag.index_select(0, idx)))
    return out
