"""Model registry contract: forward/backward, features, dropout placement, determinism."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from image_fixtures import needs_fashion
from weightspace.errors import ConfigError
from weightspace.models import MODELS, create_model

NATIVE = ["resnet18", "resnet-narrow", "cnn-small", "mlp"]
# Dropout modules per model: after every block / hidden layer, plus before the classifier.
DROPOUT_COUNTS = {"resnet18": 9, "resnet-narrow": 5, "cnn-small": 3, "mlp": 2}


def _dropouts(model: nn.Module) -> list[nn.Dropout]:
    return [m for m in model.modules() if isinstance(m, nn.Dropout)]


@pytest.mark.parametrize("name", NATIVE)
@pytest.mark.parametrize("channels", [1, 3])
def test_forward_backward_and_features(name: str, channels: int) -> None:
    torch.manual_seed(0)
    kw = {"width": 0.25} if name == "resnet18" else {}
    model = create_model(name, num_classes=7, in_channels=channels, dropout=0.2, **kw)
    x = torch.randn(4, channels, 28, 28)
    out = model(x)
    assert out.shape == (4, 7)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    feats = model.forward_features(x)
    assert feats.ndim == 2 and feats.shape[0] == 4
    assert isinstance(model.classifier, nn.Linear)
    assert model.classifier.in_features == feats.shape[1]
    assert model.classifier.out_features == 7


@pytest.mark.parametrize("name", NATIVE)
def test_dropout_count_and_rate(name: str) -> None:
    model = create_model(name, num_classes=10, in_channels=1, dropout=0.3, width=0.25)
    drops = _dropouts(model)
    assert len(drops) == DROPOUT_COUNTS[name]
    assert all(d.p == pytest.approx(0.3) for d in drops)
    # the module feeding the classifier is a dropout: the classifier's input goes through one
    assert isinstance(model.classifier, nn.Linear)


@pytest.mark.parametrize("name", NATIVE)
def test_zero_dropout_is_deterministic_in_train_mode(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, num_classes=10, in_channels=1, dropout=0.0, width=0.25).train()
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        a, b = model(x), model(x)
    assert torch.equal(a, b)
    # and a positive rate really perturbs the output in train mode
    model = create_model(name, num_classes=10, in_channels=1, dropout=0.5, width=0.25).train()
    with torch.no_grad():
        assert not torch.equal(model(x), model(x))


def test_submodule_names_are_stable() -> None:
    a = create_model("resnet18", num_classes=10, in_channels=3, dropout=0.0, width=0.25)
    b = create_model("resnet18", num_classes=10, in_channels=3, dropout=0.5, width=0.25)
    assert [n for n, _ in a.named_modules()] == [n for n, _ in b.named_modules()]
    names = dict(a.named_modules())
    assert {"conv1", "maxpool", "layer1.0.conv1", "layer4.1.conv2", "fc"} <= set(names)
    assert isinstance(names["maxpool"], nn.MaxPool2d)
    assert a.classifier is names["fc"]


# (layer_id, name) of every Conv2d/Linear in the paper's published ResNet-18 tables
# (WeightWatcher layer ids = module enumeration indices)
PAPER_RN18_LAYERS = [
    (1, "conv1"), (7, "layer1.0.conv1"), (10, "layer1.0.conv2"), (15, "layer1.1.conv1"),
    (18, "layer1.1.conv2"), (24, "layer2.0.conv1"), (27, "layer2.0.conv2"),
    (31, "layer2.0.shortcut.0"), (34, "layer2.1.conv1"), (37, "layer2.1.conv2"),
    (43, "layer3.0.conv1"), (46, "layer3.0.conv2"), (50, "layer3.0.shortcut.0"),
    (53, "layer3.1.conv1"), (56, "layer3.1.conv2"), (62, "layer4.0.conv1"),
    (65, "layer4.0.conv2"), (69, "layer4.0.shortcut.0"), (72, "layer4.1.conv1"),
    (75, "layer4.1.conv2"), (80, "fc"),
]  # fmt: skip


def test_resnet18_layer_ids_match_the_papers_tables() -> None:
    model = create_model("resnet18", num_classes=10, in_channels=3, width=0.25)
    layers = [
        (i, name)
        for i, (name, m) in enumerate(model.named_modules())
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    assert layers == PAPER_RN18_LAYERS


def test_resnet18_full_width_size() -> None:
    model = create_model("resnet18", num_classes=10, in_channels=3)
    n = sum(p.numel() for p in model.parameters())
    assert 11_000_000 < n < 11_300_000  # the CIFAR ResNet-18 has ~11.2M parameters


def test_unknown_model_lists_valid_names() -> None:
    with pytest.raises(ConfigError, match=r"valid: .*cnn-small.*resnet18"):
        create_model("resnet19", num_classes=10, in_channels=1)


@pytest.mark.parametrize(
    "kw",
    [{"num_classes": 0}, {"in_channels": 0}, {"dropout": 1.0}, {"dropout": -0.1}, {"width": 0}],
)
def test_invalid_arguments(kw: dict) -> None:
    args = {"num_classes": 10, "in_channels": 1, **kw}
    with pytest.raises(ConfigError):
        create_model("cnn-small", **args)


def test_registry_names() -> None:
    assert set(NATIVE) <= set(MODELS)
    assert {"tv-resnet50", "tv-vit-b16", "clip-rn50", "clip-vit-b32"} <= set(MODELS)


@pytest.mark.slow
@needs_fashion
def test_cnn_small_learns_fashion_mnist_quickly() -> None:
    """The quick study's promise: ≥ 0.80 test accuracy from 5k images in 3 epochs of Adam."""
    import torch.nn.functional as F

    from weightspace.data import load_dataset, stratified_subset

    train = stratified_subset(load_dataset("fashion-mnist"), 5000, seed=0)
    test = stratified_subset(load_dataset("fashion-mnist", split="test"), 2000, seed=0)
    mean, std = train.mean()[0], train.std()[0]
    torch.manual_seed(0)
    model = create_model("cnn-small", num_classes=10, in_channels=1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(3):
        perm = torch.randperm(len(train))
        for i in range(0, len(train), 32):
            idx = perm[i : i + 32]
            x = (train.images[idx].float() / 255 - mean) / std
            loss = F.cross_entropy(model(x), train.labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        pred = model((test.images.float() / 255 - mean) / std).argmax(1)
    assert (pred == test.labels).float().mean().item() >= 0.80
