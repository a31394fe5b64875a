"""Pretrained backbones with a new head: torchvision ResNet-50 / ViT-B/16, open_clip RN50 /
ViT-B-32.

Weights come only from a local file (``pretrained=PATH``: ``.safetensors`` or a ``.pt``/``.pth``
state dict read with ``weights_only=True``) or from the local torch hub cache
(``pretrained="hub"``); nothing is downloaded. ``pretrained=None`` keeps random weights of
the same architecture. The original head is replaced by ``dropout`` → ``classifier``
(``nn.Linear(D, num_classes)``); the backbone lives under ``backbone``. Grayscale inputs are
repeated to 3 channels and inputs are resized to ``image_size`` when it is set (ViT and CLIP
need their native 224 unless told otherwise).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from weightspace.checkpoint import read_state_dict
from weightspace.errors import CheckpointError, ConfigError

log = logging.getLogger(__name__)

HUB_FILES = {"tv-resnet50": "resnet50-*.pth", "tv-vit-b16": "vit_b_16-*.pth"}


class PretrainedClassifier(nn.Module):
    """``backbone`` (images → (B, D)) + ``dropout`` + ``classifier``."""

    def __init__(
        self, backbone: nn.Module, dim: int, *, num_classes: int, in_channels: int,
        dropout: float, image_size: int | None,
    ) -> None:  # fmt: skip
        super().__init__()
        self.backbone = backbone
        self.in_channels = in_channels
        self.image_size = image_size
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(dim, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)  # (B, 1, H, W) -> (B, 3, H, W)
        s = self.image_size
        if s is not None and tuple(x.shape[-2:]) != (s, s):
            x = F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False, antialias=False)
        return self.encode(x)  # (B, D)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.forward_features(x)))


def _hub_file(name: str) -> Path:
    pattern = HUB_FILES.get(name)
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    found = sorted(hub.glob(pattern)) if pattern else []
    if not found:
        raise CheckpointError(
            f"no cached weights for {name!r} in {hub} (looked for {pattern}); weightspace never "
            "downloads weights: copy the file there or pass pretrained=PATH"
        )
    return found[-1]


def _strip(state: dict[str, torch.Tensor], drop: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """Backbone keys only: our own checkpoints carry a ``backbone.`` prefix; heads dropped."""
    if any(k.startswith("backbone.") for k in state):
        state = {k[len("backbone.") :]: v for k, v in state.items() if k.startswith("backbone.")}
    return {k: v for k, v in state.items() if not k.startswith(drop)}


def _load_backbone(backbone: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    try:
        missing, unexpected = backbone.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shape mismatches
        raise CheckpointError(f"{source} does not match the architecture: {err}") from err
    if missing or unexpected:
        raise CheckpointError(
            f"{source} does not match the architecture: {len(missing)} missing keys "
            f"(e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]})"
        )


def _weights(
    name: str, pretrained: str | Path | bool | None
) -> tuple[dict[str, torch.Tensor] | None, str]:
    if pretrained is None or pretrained is False:
        return None, "random"
    if pretrained is True or str(pretrained).lower() in ("hub", "imagenet", "cache"):
        path = _hub_file(name)
    else:
        path = Path(str(pretrained)).expanduser()
    return read_state_dict(path), str(path)


def tv_resnet50(*, num_classes: int, in_channels: int, dropout: float, pretrained: Any,
                image_size: int | None) -> PretrainedClassifier:  # fmt: skip
    from torchvision.models import resnet50

    net = resnet50(weights=None)
    state, source = _weights("tv-resnet50", pretrained)
    net.fc = nn.Identity()
    if state is not None:
        _load_backbone(net, _strip(state, ("fc.",)), source)
    return PretrainedClassifier(net, 2048, num_classes=num_classes, in_channels=in_channels,
                                dropout=dropout, image_size=image_size)  # fmt: skip


def tv_vit_b16(*, num_classes: int, in_channels: int, dropout: float, pretrained: Any,
               image_size: int | None) -> PretrainedClassifier:  # fmt: skip
    from torchvision.models.vision_transformer import interpolate_embeddings, vit_b_16

    size = image_size or 224
    if size % 16:
        raise ConfigError(f"tv-vit-b16 needs image_size divisible by 16, got {size}")
    net = vit_b_16(weights=None, image_size=size)
    state, source = _weights("tv-vit-b16", pretrained)
    net.heads = nn.Identity()
    if state is not None:
        state = _strip(state, ("heads.",))
        pos = "encoder.pos_embedding"
        if pos in state and state[pos].shape != net.encoder.pos_embedding.shape:
            state = interpolate_embeddings(size, 16, state)  # pretrained grid -> our grid
        _load_backbone(net, state, source)
    return PretrainedClassifier(net, 768, num_classes=num_classes, in_channels=in_channels,
                                dropout=dropout, image_size=size)  # fmt: skip


class ClipClassifier(PretrainedClassifier):
    """An open_clip model whose image tower feeds ``dropout`` → ``classifier``.

    The whole CLIP model is registered as ``clip_model`` (then ``dropout``, ``classifier``),
    the layout of the paper's fine-tuning code, so layer names (``clip_model.visual.conv1``
    …, ``classifier``) match its published tables. Only the image tower is used.
    """

    def __init__(self, clip_model: nn.Module, dim: int, *, num_classes: int, in_channels: int,
                 dropout: float, image_size: int) -> None:  # fmt: skip
        nn.Module.__init__(self)
        self.clip_model = clip_model
        self.in_channels = in_channels
        self.image_size = image_size
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(dim, num_classes)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.clip_model.encode_image(x)  # type: ignore[operator]


def clip_visual(arch: str) -> Any:
    def build(*, num_classes: int, in_channels: int, dropout: float, pretrained: Any,
              image_size: int | None) -> PretrainedClassifier:  # fmt: skip
        try:
            import open_clip
        except ImportError as err:
            raise ConfigError(
                f"model 'clip-{arch.lower()}' needs open_clip: pip install open-clip-torch "
                "(weights are then read from pretrained=PATH)"
            ) from err
        model = open_clip.create_model(arch, pretrained=None)
        if pretrained not in (None, False):
            state = _strip(read_state_dict(pretrained), ())
            if any(k.startswith("clip_model.") for k in state):  # a weightspace checkpoint
                state = {k[len("clip_model.") :]: v for k, v in state.items()
                         if k.startswith("clip_model.")}  # fmt: skip
            if any(k.startswith("visual.") for k in state):
                _load_backbone(model, state, str(pretrained))  # the full CLIP state dict
            else:
                _load_backbone(model.visual, state, str(pretrained))  # an image tower only
        native = getattr(model.visual, "image_size", 224)
        size = image_size or int(native[0] if isinstance(native, (tuple, list)) else native)
        return ClipClassifier(model, int(model.visual.output_dim), num_classes=num_classes,
                              in_channels=in_channels, dropout=dropout, image_size=size)  # fmt: skip

    return build
