"""uint8 images → normalised float32 model inputs, in one fused multiply-add per batch."""

from __future__ import annotations

import torch

from weightspace.data.imageset import channel_moments


def normalizer(
    mean: torch.Tensor,
    std: torch.Tensor,
    *,
    max_value: float = 255.0,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift) with x·scale + shift = (x / max_value − mean) / std.

    ``mean`` and ``std`` are per-channel statistics on the [0, 1] scale; ``max_value`` is
    255 for uint8 batches and 1 for augmented [0, 1] float batches. Both are shaped
    (1, C, 1, 1) to broadcast over (B, C, H, W).
    """
    mean = torch.as_tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1)
    std = torch.as_tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1)
    return (1.0 / (max_value * std)).to(device), (-mean / std).to(device)


def to_input(
    xb: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor, *, channels_last: bool = False
) -> torch.Tensor:
    """Normalised float32 batch (B, C, H, W) from a uint8 or [0, 1] float batch."""
    x = xb.float().mul_(scale).add_(shift)  # (B, C, H, W); .float() copies a uint8 batch
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def channel_stats(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation (float32) of uint8 ``images`` (N, C, H, W) on [0, 1].

    The moments are :func:`weightspace.data.imageset.channel_moments` (float64, chunked);
    a channel with zero variance gets std 1 (normalisation then only centres it).
    """
    if images.ndim != 4 or images.shape[0] == 0:
        raise ValueError(
            f"expected a non-empty (N, C, H, W) batch; got shape {tuple(images.shape)}"
        )
    mean, std = channel_moments(images)
    std[std == 0] = 1.0
    return torch.from_numpy(mean).float(), torch.from_numpy(std).float()
