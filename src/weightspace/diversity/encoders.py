"""Encoders: fixed maps from images to feature vectors, for embedding Vendi scores.

An :class:`Encoder` takes ``float32 (B, C, H, W)`` images with pixels in [0, 1] (what
``weightspace.data.make_augment`` returns) and returns ``float32 (B, D)`` numpy features,
computed in batches on its device without gradients. Its ``ident`` names the encoder and
everything its output depends on (seed, weights hash); the feature cache is keyed by it.

Registry (:data:`ENCODERS`):

* ``pixels`` — images resized to 32×32 and flattened (the paper's pixel Vendi score).
* ``random-conv`` — a fixed, seeded random convolutional network: weak but model-free.
* ``baseline`` — penultimate features of a study's baseline run (``run``, a trained model
  such as ``weightspace.train.load_run(run_dir)`` returns).
* ``clip-rn50``, ``clip-vit-b32`` — open_clip image towers, weights from a local state-dict
  file only (built with ``pretrained=None``, then loaded: open_clip never downloads).
* ``resnet50`` — torchvision ResNet-50 (ImageNet), weights from a local file only.
* ``efficientnet-lite0`` — pooled 1280-d features of the ImageNet EfficientNet-Lite0 whose
  weights ship in an installed package (the default pretrained encoder; ``image_size``,
  default 64, is the side the images are resized to).

Nothing is ever downloaded: missing weights are an error that says where to put them.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from weightspace.checkpoint import file_digest, read_state_dict
from weightspace.diversity.baseline import TrainedModel
from weightspace.errors import CheckpointError, ConfigError, unknown_choice
from weightspace.models import create_model
from weightspace.models import efficientnet as effnet

log = logging.getLogger(__name__)

PIXEL_SIZE = 32
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def weights_dir() -> Path:
    """Where local encoder weights are looked for: ``$WEIGHTSPACE_WEIGHTS`` or
    ``~/.cache/weightspace/weights``."""
    return Path(os.environ.get("WEIGHTSPACE_WEIGHTS", "~/.cache/weightspace/weights")).expanduser()


@dataclasses.dataclass(frozen=True)
class Encoder:
    """A frozen image → feature map. ``preprocess`` maps [0, 1] images to the module's input."""

    name: str
    ident: str
    module: nn.Module | None
    preprocess: Callable[[torch.Tensor], torch.Tensor]
    device: str = "cpu"
    batch_size: int = 256

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ConfigError(f"encoder batch_size must be >= 1, got {self.batch_size}")

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> np.ndarray:
        """Features of ``images`` (B, C, H, W) float in [0, 1]: float32 (B, D)."""
        if images.ndim != 4:
            raise ConfigError(f"encoder input must be (B, C, H, W); got {tuple(images.shape)}")
        out = []
        for chunk in torch.split(images, self.batch_size):
            x = self.preprocess(chunk.to(self.device, torch.float32))
            z = x if self.module is None else self.module(x)
            out.append(z.reshape(len(chunk), -1).float().cpu())  # (b, D)
        return torch.cat(out).numpy()


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[-2:] == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def _to_rgb(x: torch.Tensor) -> torch.Tensor:
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x  # (B, 3, H, W)


def _standardize(x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    m = torch.tensor(mean, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(std, device=x.device).view(1, -1, 1, 1)
    return (x - m) / s


# ---- pixels and random-conv -------------------------------------------------------------


def pixels_encoder(*, in_channels: int, device: str = "cpu", **_: object) -> Encoder:
    return Encoder(
        name="pixels",
        ident=f"pixels{PIXEL_SIZE}",
        module=None,
        preprocess=lambda x: resize(x, PIXEL_SIZE),  # (B, C, 32, 32) -> flattened by __call__
        device=device,
    )


class RandomConvNet(nn.Module):
    """Three random zero-mean 3×3 conv layers (ReLU + max-pool between), 2×2 average pooling:
    512 signed features."""

    def __init__(self, in_channels: int, generator: torch.Generator) -> None:
        super().__init__()
        widths = (in_channels, 32, 64, 128)
        convs = [nn.Conv2d(a, b, 3, padding=1) for a, b in itertools.pairwise(widths)]
        with torch.no_grad():
            for conv in convs:  # He init from the caller's generator
                fan_in = conv.in_channels * 9
                w = torch.randn(tuple(conv.weight.shape), generator=generator)  # (out, in, 3, 3)
                # zero-mean filters: flat regions give no response, so the features are not
                # dominated by one shared direction (mean brightness)
                w -= w.mean(dim=(1, 2, 3), keepdim=True)
                conv.weight.copy_(w * (2.0 / fan_in) ** 0.5)
                assert conv.bias is not None
                conv.bias.zero_()
        self.convs = nn.ModuleList(convs)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if i < len(self.convs) - 1:  # no ReLU on the last layer: keep features signed
                x = F.max_pool2d(F.relu(x), 2)
        return F.adaptive_avg_pool2d(x, 2).flatten(1)  # (B, 128 * 2 * 2)


def random_conv_encoder(
    *, in_channels: int, device: str = "cpu", seed: int = 0, **_: object
) -> Encoder:
    net = RandomConvNet(in_channels, torch.Generator().manual_seed(seed)).to(device)
    return Encoder(
        name="random-conv",
        ident=f"random-conv-v1:in{in_channels}:seed{seed}",
        module=net,
        preprocess=lambda x: (resize(x, PIXEL_SIZE) - 0.5) / 0.25,
        device=device,
    )


# ---- encoders that need weights -----------------------------------------------------------


def _find_weights(
    given: str | os.PathLike[str] | None, names: tuple[str, ...], what: str, extra: str = ""
) -> Path:
    if given is not None:
        path = Path(given).expanduser()
        if not path.is_file():
            raise CheckpointError(f"{what} weights file {str(path)!r} not found; check the path")
        return path
    for name in names:
        for cand in sorted(weights_dir().glob(name)):
            if cand.is_file():
                return cand
    raise CheckpointError(
        f"no local weights for {what}: looked for {', '.join(names)} in {weights_dir()} "
        f"(set $WEIGHTSPACE_WEIGHTS to another folder, or pass weights=PATH / --weights PATH). "
        f"weightspace never downloads weights; copy the file there yourself.{extra}"
    )


def resnet50_encoder(
    *, device: str = "cpu", weights: str | os.PathLike[str] | None = None, **_: object
) -> Encoder:
    try:
        import torchvision
    except ImportError as err:
        raise ConfigError(
            "encoder 'resnet50' needs torchvision: pip install 'weightspace[vision]'"
        ) from err
    path = _find_weights(
        weights,
        ("resnet50*.pth", "resnet50*.safetensors"),
        "resnet50",
        " torchvision's file is named like resnet50-0676ba61.pth.",
    )
    net = torchvision.models.resnet50(weights=None)
    try:
        net.load_state_dict(read_state_dict(path))
    except RuntimeError as err:
        raise CheckpointError(f"{path} is not a torchvision ResNet-50 state dict: {err}") from err
    net.fc = nn.Identity()  # 2048-d pooled features
    net.eval().to(device)
    return Encoder(
        name="resnet50",
        ident=f"resnet50:{file_digest(path)}",
        module=net,
        preprocess=lambda x: _standardize(_to_rgb(resize(x, 224)), IMAGENET_MEAN, IMAGENET_STD),
        device=device,
        batch_size=64,
    )


def _clip_encoder(arch: str, name: str, files: tuple[str, ...]) -> Callable[..., Encoder]:
    def build(
        *, device: str = "cpu", weights: str | os.PathLike[str] | None = None, **_: object
    ) -> Encoder:
        try:
            import open_clip
        except ImportError as err:
            raise ConfigError(
                f"encoder {name!r} needs open_clip: pip install open-clip-torch "
                f"(or 'weightspace[clip]'), then put the {arch} weights file in {weights_dir()}"
            ) from err
        path = _find_weights(
            weights, files, name, f" It must be a state dict of open_clip's {arch} (full CLIP or"
            " image tower), as .safetensors or a .pt/.pth/.bin read with weights_only=True.",
        )  # fmt: skip
        previous = logging.root.manager.disable
        logging.disable(logging.WARNING)  # its "initialized randomly" note: we load below
        try:
            model = open_clip.create_model(arch, pretrained=None)  # never fetches anything
        finally:
            logging.disable(previous)
        state = read_state_dict(path)
        state = {k.removeprefix("module."): v for k, v in state.items()}
        target = model if any(k.startswith("visual.") for k in state) else model.visual
        try:
            target.load_state_dict(state)
        except RuntimeError as err:
            raise CheckpointError(f"{path} is not an open_clip {arch} state dict: {err}") from err
        model.eval().to(device)
        size = getattr(model.visual, "image_size", 224)
        size = int(size[0] if isinstance(size, (tuple, list)) else size)
        return Encoder(
            name=name,
            ident=f"{name}:{file_digest(path)}",
            module=_ClipImage(model),
            preprocess=lambda x: _standardize(_to_rgb(resize(x, size)), CLIP_MEAN, CLIP_STD),
            device=device,
            batch_size=64,
        )

    return build


class _ClipImage(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(x)  # type: ignore[operator]


def baseline_encoder(
    *,
    device: str = "cpu",
    run: TrainedModel | None = None,
    **_: object,
) -> Encoder:
    if run is None:
        raise ConfigError(
            "encoder 'baseline' needs the run directory of a trained baseline model "
            "(--run-dir DIR, holding config.json and weights.safetensors); inside a study "
            "the baseline run is found automatically"
        )
    return Encoder(
        name="baseline",
        ident=f"baseline:{run.digest}",
        module=_Features(run.model),
        preprocess=run.preprocess,
        device=device,
    )


class _Features(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_features(x)  # type: ignore[operator]


EFFNET_SIZE = 64  # 2x2 final feature map; 224 costs ~12x more per image on a CPU


def efficientnet_encoder(
    *, device: str = "cpu", weights: str | os.PathLike[str] | None = None,
    image_size: int | tuple[int, int] | None = None, **_: object,
) -> Encoder:  # fmt: skip
    size = int(image_size if isinstance(image_size, int) else (image_size or (EFFNET_SIZE,))[0])
    path = Path(weights).expanduser() if weights is not None else effnet.weights_path()
    net = create_model("efficientnet-lite0", num_classes=effnet.IMAGENET_CLASSES, in_channels=3,
                       pretrained=path, image_size=size)  # fmt: skip
    net.eval().to(device)
    mean, std = effnet.EfficientNetLite0.input_mean, effnet.EfficientNetLite0.input_std
    return Encoder(
        name="efficientnet-lite0",
        ident=f"efficientnet-lite0:{file_digest(path)}:{size}",
        module=_Features(net),
        preprocess=lambda x: _standardize(_to_rgb(resize(x, size)), mean, std),
        device=device,
        batch_size=128,
    )


ENCODERS: dict[str, Callable[..., Encoder]] = {
    "pixels": pixels_encoder,
    "baseline": baseline_encoder,
    "random-conv": random_conv_encoder,
    "clip-rn50": _clip_encoder("RN50", "clip-rn50", ("clip-rn50*", "RN50*.pt")),
    "clip-vit-b32": _clip_encoder("ViT-B-32", "clip-vit-b32", ("clip-vit-b32*", "ViT-B-32*.pt")),
    "resnet50": resnet50_encoder,
    "efficientnet-lite0": efficientnet_encoder,
}


def get_encoder(
    name: str,
    *,
    in_channels: int,
    image_size: int | tuple[int, int] | None = None,
    device: str = "cpu",
    seed: int = 0,
    run: TrainedModel | None = None,
    weights: str | os.PathLike[str] | None = None,
) -> Encoder:
    """Build the encoder registered as ``name`` (see :data:`ENCODERS`).

    ``run``: the trained model of encoder ``baseline`` (``weightspace.train.load_run``).
    """
    if name not in ENCODERS:
        raise unknown_choice("encoder", name, ENCODERS)
    if in_channels not in (1, 3):
        raise ConfigError(f"in_channels must be 1 or 3 for image encoders, got {in_channels}")
    enc = ENCODERS[name](
        in_channels=in_channels,
        image_size=image_size,
        device=device,
        seed=seed,
        run=run,
        weights=weights,
    )
    log.debug("encoder %s ready (%s)", name, enc.ident)
    return enc
