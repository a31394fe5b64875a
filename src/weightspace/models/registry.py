"""``create_model(name, ...)`` and the :data:`MODELS` registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from weightspace.checkpoint import read_state_dict
from weightspace.config import check_int
from weightspace.errors import ConfigError, unknown_choice
from weightspace.models import efficientnet, resnet, small
from weightspace.models import pretrained as pt


@dataclass(frozen=True)
class ModelInfo:
    build: Callable[..., nn.Module]
    description: str
    pretrained_backbone: bool = False  # True: weights from a file/cache, head replaced


def _native(fn: Callable[..., nn.Module], *, uses_size: bool = False) -> Callable[..., nn.Module]:
    def build(*, num_classes: int, in_channels: int, dropout: float, width: float | None,
              image_size: int | None) -> nn.Module:  # fmt: skip
        kw: dict[str, Any] = {"image_size": image_size or 28} if uses_size else {}
        return fn(num_classes=num_classes, in_channels=in_channels, dropout=dropout,
                  width=1.0 if width is None else width, **kw)  # fmt: skip

    return build


MODELS: dict[str, ModelInfo] = {
    "resnet18": ModelInfo(
        _native(resnet.resnet18), "CIFAR-style ResNet-18 of the paper (11M params)"
    ),
    "resnet-narrow": ModelInfo(
        _native(resnet.resnet_narrow), "ResNet, 1 block/stage, widths 16..128"
    ),
    "cnn-small": ModelInfo(
        _native(small.SmallCNN), "2 conv + 1 hidden fc; the scratch CPU study model"
    ),
    "mlp": ModelInfo(_native(small.MLP, uses_size=True), "2 hidden layers (256, 128)"),
    "tv-resnet50": ModelInfo(pt.tv_resnet50, "torchvision ResNet-50 backbone + new head", True),
    "tv-vit-b16": ModelInfo(pt.tv_vit_b16, "torchvision ViT-B/16 backbone + new head", True),
    "efficientnet-lite0": ModelInfo(
        efficientnet.efficientnet_lite0, "timm tf_efficientnet_lite0, ImageNet weights", True
    ),
    "clip-rn50": ModelInfo(pt.clip_visual("RN50"), "open_clip RN50 image tower + new head", True),
    "clip-vit-b32": ModelInfo(
        pt.clip_visual("ViT-B-32"), "open_clip ViT-B-32 image tower + new head", True
    ),
}


def create_model(
    name: str,
    *,
    num_classes: int,
    in_channels: int,
    dropout: float = 0.0,
    width: float | None = None,
    pretrained: str | Path | bool | None = None,
    image_size: int | None = None,
) -> nn.Module:
    """Build model ``name`` with a ``num_classes`` head.

    ``width`` scales channel/hidden widths (native models only); ``pretrained`` is a weights
    file (or ``"hub"`` for the local torch hub cache, backbones only); ``image_size`` is the
    input side length (mlp: sizes ``fc1``; backbones: inputs are resized to it).
    """
    key = name.lower()
    if key not in MODELS:
        raise unknown_choice("model", name, MODELS)
    check_int("num_classes", num_classes, minimum=1)
    check_int("in_channels", in_channels, minimum=1)
    if not isinstance(dropout, (int, float)) or not 0.0 <= float(dropout) < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), got {dropout!r}")
    if width is not None and (not isinstance(width, (int, float)) or width <= 0):
        raise ConfigError(f"width must be a positive number, got {width!r}")
    check_int("image_size", image_size, minimum=1, allow_none=True)
    info = MODELS[key]
    if info.pretrained_backbone:
        if in_channels not in (1, 3):
            raise ConfigError(f"{name} takes 1- or 3-channel images, got in_channels={in_channels}")
        if width not in (None, 1, 1.0):
            raise ConfigError(f"{name} has a fixed width; leave width unset (got {width})")
        return info.build(num_classes=num_classes, in_channels=in_channels, dropout=float(dropout),
                          pretrained=pretrained, image_size=image_size)  # fmt: skip
    model = info.build(num_classes=num_classes, in_channels=in_channels, dropout=float(dropout),
                       width=width, image_size=image_size)  # fmt: skip
    if pretrained not in (None, False):
        pt._load_backbone(model, read_state_dict(str(pretrained)), str(pretrained))
    return model
