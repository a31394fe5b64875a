"""Learned/random augmentation policies (AutoAugment, RandAugment, TrivialAugmentWide, AugMix).

Each sample gets its own draw: the torchvision transform is applied to one image at a time.
With an explicit ``generator`` the global RNG is forked and seeded from it, so the caller's
global RNG stream is left untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from weightspace.errors import ConfigError, unknown_choice

POLICY_OPS = ("auto", "rand", "trivial", "augmix")
AUTO_POLICIES = ("imagenet", "cifar10", "svhn")

PolicyFn = Callable[[torch.Tensor, "torch.Generator | None"], torch.Tensor]


def _int_param(op: str, params: dict[str, Any], key: str, lo: int) -> int:
    v = params[key]
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise ConfigError(f"op {op!r}: {key} must be an integer >= {lo}, got {v!r}")
    return v


def _torchvision_policy(op: str, params: dict[str, Any]) -> Callable[[torch.Tensor], torch.Tensor]:
    from torchvision.transforms import autoaugment as aa

    if op == "auto":
        name = str(params["policy"]).lower()
        if name not in AUTO_POLICIES:
            raise unknown_choice("AutoAugment policy", params["policy"], AUTO_POLICIES)
        return aa.AutoAugment(aa.AutoAugmentPolicy(name))
    if op == "rand":
        bins = _int_param(op, params, "num_magnitude_bins", 2)
        mag = _int_param(op, params, "magnitude", 0)
        if mag >= bins:
            raise ConfigError(
                f"op 'rand': magnitude must be < num_magnitude_bins={bins}, got {mag}"
            )
        return aa.RandAugment(
            num_ops=_int_param(op, params, "num_ops", 0), magnitude=mag, num_magnitude_bins=bins
        )
    if op == "trivial":
        return aa.TrivialAugmentWide(
            num_magnitude_bins=_int_param(op, params, "num_magnitude_bins", 2)
        )
    if op == "augmix":
        sev = _int_param(op, params, "severity", 1)
        if sev > 10:
            raise ConfigError(f"op 'augmix': severity must be in 1..10, got {sev}")
        alpha = params["alpha"]
        if not isinstance(alpha, (int, float)) or alpha <= 0:
            raise ConfigError(f"op 'augmix': alpha must be > 0, got {alpha!r}")
        depth = params["chain_depth"]
        if not isinstance(depth, int) or depth == 0 or depth < -1:
            raise ConfigError(
                f"op 'augmix': chain_depth must be -1 (random 1..3) or >= 1, got {depth!r}"
            )
        return aa.AugMix(
            severity=sev,
            mixture_width=_int_param(op, params, "mixture_width", 1),
            chain_depth=depth,
            alpha=float(alpha),
        )
    raise unknown_choice("policy op", op, POLICY_OPS)


def make_policy(op: str, params: dict[str, Any], *, in_channels: int) -> PolicyFn:
    """A function applying policy ``op`` independently to every image of a uint8 batch."""
    transform = _torchvision_policy(op, params)

    def apply(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        if generator is None:
            return torch.stack([transform(img) for img in x])
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return torch.stack([transform(img) for img in x])

    return apply
