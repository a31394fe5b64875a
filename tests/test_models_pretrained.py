"""Pretrained-backbone path with random weights of the same architectures (no downloads)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from weightspace.errors import CheckpointError, ConfigError
from weightspace.models import create_model


@pytest.fixture(scope="module")
def resnet50_state() -> dict[str, torch.Tensor]:
    from torchvision.models import resnet50

    torch.manual_seed(0)
    return resnet50(weights=None).state_dict()  # torchvision key names, fc.* included


@pytest.mark.parametrize("channels", [1, pytest.param(3, marks=pytest.mark.slow)])
def test_tv_resnet50_forward_backward(channels: int) -> None:
    model = create_model("tv-resnet50", num_classes=5, in_channels=channels, dropout=0.2)
    x = torch.randn(2, channels, 32, 32)
    out = model(x)
    assert out.shape == (2, 5)
    out.sum().backward()
    assert model.classifier.weight.grad is not None
    assert model.backbone.conv1.weight.grad is not None
    assert model.forward_features(x).shape == (2, 2048)
    drops = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    assert len(drops) == 1 and drops[0].p == pytest.approx(0.2)


def test_weights_from_torchvision_state_dict(tmp_path: Path, resnet50_state: dict) -> None:
    path = tmp_path / "resnet50.pt"
    torch.save(resnet50_state, path)
    model = create_model("tv-resnet50", num_classes=3, in_channels=3, pretrained=path)
    assert torch.equal(model.backbone.conv1.weight, resnet50_state["conv1.weight"])
    assert torch.equal(
        model.backbone.layer4[2].bn3.running_var, resnet50_state["layer4.2.bn3.running_var"]
    )
    assert model.classifier.out_features == 3  # the old 1000-way head is dropped


def test_weights_from_safetensors_roundtrip(tmp_path: Path) -> None:
    torch.manual_seed(1)
    a = create_model("tv-resnet50", num_classes=4, in_channels=1)
    path = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in a.state_dict().items()}, str(path))
    b = create_model("tv-resnet50", num_classes=4, in_channels=1, pretrained=path)
    for k, v in a.backbone.state_dict().items():
        assert torch.equal(v, b.backbone.state_dict()[k]), k
    a.eval(), b.eval()
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.allclose(a.forward_features(x), b.forward_features(x))


def test_mismatched_or_unsafe_weights(tmp_path: Path) -> None:
    bad = tmp_path / "bad.safetensors"
    save_file({"conv1.weight": torch.zeros(3, 3, 3, 3)}, str(bad))
    with pytest.raises(CheckpointError, match="does not match"):
        create_model("tv-resnet50", num_classes=2, in_channels=3, pretrained=bad)
    pickled = tmp_path / "obj.pt"
    torch.save({"w": torch.zeros(1), "fn": nn.ReLU()}, pickled)  # needs full unpickling
    with pytest.raises(CheckpointError, match="safely"):
        create_model("tv-resnet50", num_classes=2, in_channels=3, pretrained=pickled)
    with pytest.raises(CheckpointError, match="does not exist"):
        create_model("tv-resnet50", num_classes=2, in_channels=3, pretrained=tmp_path / "none.pt")


def test_hub_cache_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, resnet50_state: dict
) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(CheckpointError, match="never downloads"):
        create_model("tv-resnet50", num_classes=2, in_channels=3, pretrained="hub")
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(resnet50_state, tmp_path / "hub" / "checkpoints" / "resnet50-0676ba61.pth")
    model = create_model("tv-resnet50", num_classes=2, in_channels=3, pretrained="hub")
    assert torch.equal(model.backbone.conv1.weight, resnet50_state["conv1.weight"])


@pytest.mark.slow
def test_vit_small_input() -> None:
    model = create_model("tv-vit-b16", num_classes=3, in_channels=1, image_size=32, dropout=0.1)
    x = torch.randn(2, 1, 28, 28)  # resized to 32×32, repeated to 3 channels
    out = model(x)
    assert out.shape == (2, 3)
    out.sum().backward()
    assert model.forward_features(x).shape == (2, 768)
    with pytest.raises(ConfigError, match="divisible by 16"):
        create_model("tv-vit-b16", num_classes=3, in_channels=1, image_size=30)


@pytest.mark.slow
def test_vit_pretrained_grid_is_interpolated(tmp_path: Path) -> None:
    from torchvision.models import vit_b_16

    torch.manual_seed(0)
    state = vit_b_16(weights=None).state_dict()  # 224×224: 14×14 patches + class token
    path = tmp_path / "vit.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    model = create_model("tv-vit-b16", num_classes=2, in_channels=3, image_size=32, pretrained=path)
    assert model.backbone.encoder.pos_embedding.shape == (1, 5, 768)  # 2×2 patches + class
    assert torch.equal(model.backbone.conv_proj.weight, state["conv_proj.weight"])


def test_clip_needs_open_clip() -> None:
    try:
        import open_clip  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match="pip install open-clip-torch"):
            create_model("clip-rn50", num_classes=2, in_channels=3)
    else:  # pragma: no cover - only where open_clip is installed
        model = create_model("clip-rn50", num_classes=2, in_channels=3)
        assert model(torch.randn(1, 3, 224, 224)).shape == (1, 2)


def test_native_model_from_own_weights(tmp_path: Path) -> None:
    torch.manual_seed(0)
    a = create_model("cnn-small", num_classes=10, in_channels=1)
    path = tmp_path / "cnn.safetensors"
    save_file(a.state_dict(), str(path))
    b = create_model("cnn-small", num_classes=10, in_channels=1, pretrained=path)
    assert torch.equal(a.fc1.weight, b.fc1.weight)
    with pytest.raises(CheckpointError):
        create_model("cnn-small", num_classes=10, in_channels=3, pretrained=path)


class _FakeClip(nn.Module):
    """Stands in for an open_clip model: ``visual`` tower + a text part, ``encode_image``."""

    def __init__(self) -> None:
        super().__init__()
        self.visual = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.visual.output_dim = 4  # type: ignore[assignment]
        self.visual.image_size = 16  # type: ignore[assignment]
        self.transformer = nn.Linear(5, 5)

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        return self.visual(x)


def test_clip_wrapper_with_a_stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    fake = types.ModuleType("open_clip")
    fake.create_model = lambda arch, pretrained=None: _FakeClip()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "open_clip", fake)
    model = create_model("clip-rn50", num_classes=3, in_channels=1, dropout=0.1)
    names = [n for n, _ in model.named_modules()]
    # the paper's layout: clip_model.visual.* …, then dropout, classifier
    assert names[1:3] == ["clip_model", "clip_model.visual"] and names[-2:] == [
        "dropout",
        "classifier",
    ]
    x = torch.randn(2, 1, 28, 28)  # repeated to RGB, resized to the tower's 16×16
    assert model(x).shape == (2, 3) and model.forward_features(x).shape == (2, 4)
    # weights: a full CLIP state dict, or an image tower alone
    torch.manual_seed(3)
    src = _FakeClip()
    full = tmp_path / "clip.safetensors"
    save_file(src.state_dict(), str(full))
    loaded = create_model("clip-rn50", num_classes=3, in_channels=3, pretrained=full)
    assert torch.equal(loaded.clip_model.visual[0].weight, src.visual[0].weight)
    tower = tmp_path / "visual.safetensors"
    save_file(src.visual.state_dict(), str(tower))
    loaded = create_model("clip-vit-b32", num_classes=3, in_channels=3, pretrained=tower)
    assert torch.equal(loaded.clip_model.visual[0].bias, src.visual[0].bias)
