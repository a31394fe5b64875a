"""The paper's augmentation ladder and user-composed policies, with per-sample randomness.

A policy is a list of ops applied in order; :func:`make_augment` turns a policy name
(:data:`AUGMENTATIONS`) or a list of op dicts (``[{"op": "auto"}, {"op": "hflip", "p": 0.5},
{"op": "noise", "sigma": 0.05}]``) into an :class:`Augment`, a callable mapping uint8
``(B, C, H, W)`` batches to float32 in [0, 1]. Every sample draws its own randomness
(its own sub-policy, flip, noise, elastic field) from torch's global RNG, or from
``generator`` when one is passed.

Ops (torchvision semantics):
    auto     AutoAugment; ``policy`` imagenet (default) | cifar10 | svhn
    rand     RandAugment; ``num_ops`` 2, ``magnitude`` 9, ``num_magnitude_bins`` 31
    trivial  TrivialAugmentWide; ``num_magnitude_bins`` 31
    augmix   AugMix; ``severity`` 3, ``mixture_width`` 3, ``chain_depth`` -1, ``alpha`` 1.0
    hflip    horizontal flip with probability ``p`` (0.5)
    vflip    vertical flip with probability ``p`` (0.5)
    elastic  ElasticTransform; ``alpha`` 40, ``sigma`` 6, applied with probability ``p`` (1.0)
    noise    additive Gaussian noise of std ``sigma`` on [0, 1] pixels, clamped to [0, 1]
The policy ops (auto, rand, trivial, augmix) work on uint8 pixels and must come before noise.
``level`` (0..10) in an op dict sets its strength through the one magnitude knob
(:mod:`weightspace.data.magnitude`): ``{"op": "noise", "level": 3}`` is sigma 0.03.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from weightspace.config import check_keys
from weightspace.data import geometry
from weightspace.data.magnitude import LEVEL_OPS, level_params
from weightspace.data.policies import POLICY_OPS, make_policy
from weightspace.errors import ConfigError, unknown_choice
from weightspace.vocabulary import AUGMENT_CONDITIONS

OPS: dict[str, dict[str, Any]] = {
    "auto": {"policy": "imagenet"},
    "rand": {"num_ops": 2, "magnitude": 9, "num_magnitude_bins": 31},
    "trivial": {"num_magnitude_bins": 31},
    "augmix": {"severity": 3, "mixture_width": 3, "chain_depth": -1, "alpha": 1.0},
    "hflip": {"p": 0.5},
    "vflip": {"p": 0.5},
    "elastic": {"alpha": 40.0, "sigma": 6.0, "p": 1.0},
    "noise": {"sigma": None},
}

_AUTO = {"op": "auto"}
AUGMENTATIONS: dict[str, tuple[dict[str, Any], ...]] = {
    "none": (),
    "auto": (_AUTO,),
    "auto-cifar10": ({"op": "auto", "policy": "cifar10"},),
    "auto-svhn": ({"op": "auto", "policy": "svhn"},),
    "rand": ({"op": "rand"},),
    "augmix": ({"op": "augmix"},),
    "trivial": ({"op": "trivial"},),
    "noise10": ({"op": "noise", "sigma": 0.01},),
    "noise30": ({"op": "noise", "sigma": 0.03},),
    "noise50": ({"op": "noise", "sigma": 0.05},),
    "auto1": (_AUTO, {"op": "noise", "sigma": 0.05}),
    "auto2": (_AUTO, {"op": "hflip", "p": 0.5}, {"op": "vflip", "p": 0.3},
              {"op": "noise", "sigma": 0.05}),
    "auto3": (_AUTO, {"op": "hflip", "p": 0.5}, {"op": "elastic", "alpha": 40.0, "sigma": 6.0},
              {"op": "noise", "sigma": 0.05}),
}  # fmt: skip

# A paper condition name (``divNoize30``) also names its policy (weightspace.vocabulary).
_FROM_CONDITION = {v.lower(): k for k, v in AUGMENT_CONDITIONS.items()}


def _draw_device(x: torch.Tensor, g: torch.Generator | None) -> torch.device:
    """Per-pixel random fields come from the generator's device, else the images' device."""
    return g.device if g is not None else x.device


class _Stage:
    needs_uint8 = False

    def __call__(self, x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
        raise NotImplementedError


class _Policy(_Stage):
    needs_uint8 = True

    def __init__(self, op: str, params: dict[str, Any], in_channels: int) -> None:
        self.fn = make_policy(op, params, in_channels=in_channels)

    def __call__(self, x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
        return self.fn(x, g)


class _Flip(_Stage):
    def __init__(self, dim: int, p: float) -> None:
        self.dim, self.p = dim, p

    def __call__(self, x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
        mask = (torch.rand(x.shape[0], generator=g) < self.p).to(x.device)  # (B,) one per sample
        return torch.where(mask.view(-1, 1, 1, 1), x.flip(self.dim), x)


class _Elastic(_Stage):
    def __init__(self, alpha: float, sigma: float, p: float) -> None:
        self.alpha, self.sigma, self.p = alpha, sigma, p

    def __call__(self, x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
        b, _, h, w = x.shape
        disp = geometry.elastic_displacement(
            b, h, w, alpha=self.alpha, sigma=self.sigma, generator=g, device=_draw_device(x, g)
        ).to(x.device)
        if self.p < 1.0:
            disp *= (torch.rand(b, generator=g) < self.p).to(x.device).view(-1, 1, 1, 1)
        if x.dtype == torch.uint8:  # as torchvision: warp raw values, round back to uint8
            return geometry.warp(x.to(torch.float32), disp).round_().clamp_(0, 255).to(torch.uint8)
        return geometry.warp(x, disp)


class _Noise(_Stage):
    def __init__(self, sigma: float) -> None:
        self.sigma = sigma

    def __call__(self, x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
        x = geometry.to_float(x)
        noise = torch.randn(x.shape, generator=g, device=_draw_device(x, g)).to(x.device)
        return (x + self.sigma * noise).clamp_(0.0, 1.0)


def _check_prob(op: str, p: Any) -> float:
    if not isinstance(p, (int, float)) or not 0.0 <= float(p) <= 1.0:
        raise ConfigError(f"op {op!r}: p must be a probability in [0, 1], got {p!r}")
    return float(p)


def _build_stage(op: str, params: dict[str, Any], in_channels: int) -> _Stage:
    if op in POLICY_OPS:
        return _Policy(op, params, in_channels)
    if op in ("hflip", "vflip"):
        return _Flip(-1 if op == "hflip" else -2, _check_prob(op, params["p"]))
    if op == "elastic":
        if params["alpha"] < 0 or params["sigma"] < 0:
            raise ConfigError(f"op 'elastic': alpha and sigma must be >= 0, got {params}")
        return _Elastic(
            float(params["alpha"]), float(params["sigma"]), _check_prob(op, params["p"])
        )
    sigma = params["sigma"]
    if not isinstance(sigma, (int, float)) or not 0.0 <= float(sigma) <= 1.0:
        raise ConfigError(
            f"op 'noise' needs sigma in [0, 1] (std on [0, 1] pixels, e.g. 0.05), got {sigma!r}"
        )
    return _Noise(float(sigma))


def normalize_spec(
    spec: str | Sequence[Mapping[str, Any]] | Mapping[str, Any],
) -> list[dict[str, Any]]:
    """The policy as a list of op dicts with every parameter filled in (validated)."""
    if isinstance(spec, str):
        key = spec.strip().lower()
        key = _FROM_CONDITION.get(key, key)
        if key not in AUGMENTATIONS:
            raise unknown_choice(
                "augmentation", spec, AUGMENTATIONS,
                hint="or give a list of ops, e.g. [{op='auto'}, {op='noise', sigma=0.05}]",
            )  # fmt: skip
        ops: Sequence[Mapping[str, Any]] = AUGMENTATIONS[key]
    elif isinstance(spec, Mapping):
        ops = [spec]
    else:
        ops = list(spec)
    out = []
    for i, item in enumerate(ops):
        if not isinstance(item, Mapping) or "op" not in item:
            raise ConfigError(f"augmentation op #{i} must be a mapping with key 'op', got {item!r}")
        op = str(item["op"]).lower()
        if op not in OPS:
            raise unknown_choice("augmentation op", item["op"], OPS)
        params = {k: v for k, v in item.items() if k != "op"}
        levels = ("level",) if op in LEVEL_OPS else ()
        check_keys(params, (*OPS[op], *levels), f"augmentation op {op!r}")
        full = {**OPS[op], **params}
        if "level" in params:
            level = full.pop("level")
            derived = level_params(op, level, full)
            clash = sorted(k for k in derived if k in params)
            if clash:
                raise ConfigError(
                    f"augmentation op {op!r}: give either level or {', '.join(clash)}, not both"
                )
            full.update(derived)
        out.append({"op": op, **full})
    return out


class Augment:
    """Callable policy: uint8 ``(B, C, H, W)`` -> float32 ``(B, C, H, W)`` in [0, 1]."""

    def __init__(self, spec: list[dict[str, Any]], *, in_channels: int) -> None:
        if in_channels not in (1, 3):
            raise ConfigError(f"augmentation needs 1 or 3 channels, got in_channels={in_channels}")
        self.spec = spec
        self.in_channels = in_channels
        self._stages: list[_Stage] = []
        floated = None
        for item in spec:
            stage = _build_stage(
                item["op"], {k: v for k, v in item.items() if k != "op"}, in_channels
            )
            if stage.needs_uint8 and floated:
                raise ConfigError(
                    f"augmentation op {item['op']!r} works on uint8 pixels and must come before "
                    f"{floated!r}; reorder the ops"
                )
            if isinstance(stage, _Noise):
                floated = item["op"]
            self._stages.append(stage)

    @property
    def is_identity(self) -> bool:
        return not self._stages

    def __call__(
        self, images: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != self.in_channels:
            raise ValueError(
                f"Augment expects uint8 (B, {self.in_channels}, H, W), got {images.dtype} "
                f"{tuple(images.shape)}"
            )
        x = images
        for stage in self._stages:
            x = stage(x, generator)
        out = geometry.to_float(x)
        return out if out is not images else out.clone()

    def __repr__(self) -> str:
        return f"Augment({self.spec!r}, in_channels={self.in_channels})"


def make_augment(
    spec: str | Sequence[Mapping[str, Any]] | Mapping[str, Any], *, in_channels: int
) -> Augment:
    """Build the augmentation for a policy name, paper condition name or list of op dicts."""
    return Augment(normalize_spec(spec), in_channels=in_channels)


def policy_strength(spec: str | Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> float:
    """The dose of a pure-noise policy: its noise ``sigma`` on [0, 1] pixels (``noise30``:
    0.03). NaN for every other policy, which has no single dose (``auto1``..``auto3`` add
    noise on top of AutoAugment; ``none`` has none)."""
    ops = normalize_spec(spec)
    if len(ops) == 1 and ops[0]["op"] == "noise":
        return float(ops[0]["sigma"])
    return float("nan")
