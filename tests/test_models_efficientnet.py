"""EfficientNet-Lite0 with its installed ImageNet weights: mapping, photos, head, dropout, errors."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from weightspace.errors import CheckpointError, WeightspaceError
from weightspace.models import create_model
from weightspace.models import efficientnet as eff

pytest.importorskip("timm")
needs_weights = pytest.mark.skipif(
    importlib.util.find_spec(eff.WEIGHTS_PACKAGE) is None,
    reason=f"weights package not installed ({eff.PIP_HINT})",
)


@pytest.fixture(scope="module")
def imagenet_model() -> torch.nn.Module:
    return create_model(
        "efficientnet-lite0", num_classes=1000, in_channels=3, pretrained="imagenet"
    ).eval()


@needs_weights
def test_key_mapping_pairs_every_entry_in_order_with_equal_shapes() -> None:
    ref = torch.load(eff.weights_path(), map_location="cpu", weights_only=True)
    assert len(ref) == 296
    assert next(iter(ref)) == "_conv_stem.weight" and list(ref)[-1] == "_fc.bias"
    model = create_model("efficientnet-lite0", num_classes=1000, in_channels=3, pretrained=None)
    body = model.backbone.state_dict()
    mapped = eff.map_in_order(dict(list(ref.items())[:-2]), body, where="ref")
    assert list(mapped) == list(body)  # timm's names, in timm's order
    pairs = dict(zip(ref, [*body, "classifier.weight", "classifier.bias"], strict=True))
    assert pairs["_conv_stem.weight"] == "conv_stem.weight"
    assert pairs["_blocks.0._depthwise_conv.weight"] == "blocks.0.0.conv_dw.weight"
    assert pairs["_conv_head.weight"] == "conv_head.weight"
    assert pairs["_bn1.running_var"] == "bn2.running_var"
    assert pairs["_fc.weight"] == "classifier.weight"
    loaded = create_model("efficientnet-lite0", num_classes=1000, in_channels=3,
                          pretrained="imagenet")  # fmt: skip
    state = loaded.state_dict()
    for src, dst in pairs.items():
        key = dst if dst.startswith("classifier") else f"backbone.{dst}"
        assert torch.equal(state[key], ref[src]), (src, dst)


def _photo(image: object) -> torch.Tensor:
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0  # type: ignore[call-overload]
    x = F.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False, antialias=True)
    return (x - 0.5) / 0.5


@needs_weights
@pytest.mark.parametrize(("name", "cls", "prob"), [("chelsea", 285, 0.79), ("coffee", 967, 0.88)])
def test_imagenet_photos_are_classified_as_the_reference_does(
    imagenet_model: torch.nn.Module, name: str, cls: int, prob: float
) -> None:
    skimage_data = pytest.importorskip("skimage.data")
    with torch.no_grad():
        p = imagenet_model(_photo(getattr(skimage_data, name)())).softmax(1)[0]
    assert int(p.argmax()) == cls
    assert float(p[cls]) == pytest.approx(prob, abs=0.02)


@needs_weights
def test_model_declares_the_statistics_of_its_weights(imagenet_model: torch.nn.Module) -> None:
    mean, std = imagenet_model.input_stats(3)  # type: ignore[operator]
    assert mean.tolist() == [0.5] * 3 and std.tolist() == [0.5] * 3
    mean1, std1 = imagenet_model.input_stats(1)  # type: ignore[operator]
    assert mean1.tolist() == [0.5] and std1.tolist() == [0.5]


@needs_weights
def test_new_head_for_another_task_backbone_kept() -> None:
    torch.manual_seed(0)
    ref = create_model("efficientnet-lite0", num_classes=1000, in_channels=3, pretrained="imagenet")
    torch.manual_seed(0)
    gray = create_model(
        "efficientnet-lite0", num_classes=1000, in_channels=1, pretrained="imagenet"
    )
    torch.manual_seed(0)
    ten = create_model("efficientnet-lite0", num_classes=10, in_channels=3, pretrained="imagenet")
    assert ten.classifier.weight.shape == (10, 1280)
    # the backbones are the ImageNet ones; the 1000-way head is kept only for 3-channel input
    for other in (gray, ten):
        for (k, a), b in zip(
            ref.backbone.state_dict().items(), other.backbone.state_dict().values(), strict=True
        ):
            assert torch.equal(a, b), k
    assert not torch.equal(gray.classifier.weight, ref.classifier.weight)
    # one-channel images are repeated to three: the features are those of the 3-channel copy
    x = torch.rand(2, 1, 40, 40)
    gray.eval(), ref.eval()
    with torch.no_grad():
        torch.testing.assert_close(
            gray.forward_features(x), ref.forward_features(x.repeat(1, 3, 1, 1))
        )


def test_dropout_on_every_residual_branch_and_before_the_classifier() -> None:
    model = create_model("efficientnet-lite0", num_classes=10, in_channels=3, dropout=0.3,
                         image_size=32)  # fmt: skip
    drops = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Dropout)]
    skips = [
        f"backbone.blocks.{s}.{b}.drop_path"
        for s, stage in enumerate(model.backbone.blocks)
        for b, block in enumerate(stage)
        if block.has_skip
    ]
    assert len(skips) == 9 and drops == [*skips, "dropout"]
    assert all(m.p == 0.3 for m in model.modules() if isinstance(m, torch.nn.Dropout))
    calls: list[str] = []
    for name in drops:
        model.get_submodule(name).register_forward_hook(lambda m, i, o, n=name: calls.append(n))
    model.train()
    model(torch.rand(2, 3, 32, 32))
    assert calls == drops  # each residual branch passes its dropout, in order
    names = {n for n, _ in model.named_modules()}
    zero = create_model("efficientnet-lite0", num_classes=10, in_channels=3, dropout=0.0,
                        image_size=32)  # fmt: skip
    assert names == {n for n, _ in zero.named_modules()}  # p never changes the layout
    zero.train()
    x = torch.rand(2, 3, 32, 32)
    torch.manual_seed(1)
    a = zero(x)
    torch.manual_seed(2)
    torch.testing.assert_close(a, zero(x))  # p = 0: no randomness in train mode


def test_input_size_is_configurable() -> None:
    model = create_model("efficientnet-lite0", num_classes=10, in_channels=1, image_size=48)
    seen: list[tuple[int, ...]] = []
    model.backbone.conv_stem.register_forward_hook(lambda m, i, o: seen.append(tuple(i[0].shape)))
    model.eval()
    with torch.no_grad():
        assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    assert seen == [(2, 3, 48, 48)]


def test_spectra_of_every_analysable_layer_depthwise_skipped_with_reason() -> None:
    from weightspace.spectral.analyze import analyze

    model = create_model("efficientnet-lite0", num_classes=10, in_channels=1, image_size=32)
    df = analyze(model)
    ok = df[df.status == "success"]
    skipped = df[df.status == "skipped"]
    assert len(ok) == 34  # stem, 16 pw, 15 pwl, head conv, classifier
    assert len(skipped) == 16 and skipped.longname.str.endswith("conv_dw").all()
    assert skipped.reason.str.contains("depthwise").all()
    assert ok.longname.iloc[-1] == "classifier"


def test_missing_weights_package_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: object) -> object:
        return None if name == eff.WEIGHTS_PACKAGE else real(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(eff.importlib.util, "find_spec", find_spec)
    with pytest.raises(WeightspaceError, match=re.escape(eff.PIP_HINT)):
        create_model("efficientnet-lite0", num_classes=10, in_channels=1, pretrained="imagenet")


def test_state_dict_of_another_architecture_is_a_clear_error(tmp_path: Path) -> None:
    other = tmp_path / "resnet.pth"
    torch.save(create_model("resnet-narrow", num_classes=10, in_channels=3).state_dict(), other)
    with pytest.raises(CheckpointError, match="not an EfficientNet-Lite0 state dict"):
        create_model("efficientnet-lite0", num_classes=10, in_channels=3, pretrained=other)
    # right number of entries, one wrong shape
    state = create_model("efficientnet-lite0", num_classes=10, in_channels=3).backbone.state_dict()
    key = "blocks.3.0.conv_pw.weight"
    state[key] = torch.zeros(7, 7, 1, 1)
    bad = tmp_path / "bad.pth"
    torch.save({f"x{i}": v for i, v in enumerate(state.values())}, bad)
    with pytest.raises(CheckpointError, match=rf"{key}.*needs"):
        create_model("efficientnet-lite0", num_classes=10, in_channels=3, pretrained=bad)


def test_weightspace_checkpoint_round_trip(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    torch.manual_seed(3)
    model = create_model("efficientnet-lite0", num_classes=10, in_channels=1, image_size=32)
    path = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    again = create_model("efficientnet-lite0", num_classes=10, in_channels=1, image_size=32,
                         pretrained=path)  # fmt: skip
    x = torch.rand(3, 1, 28, 28)
    model.eval(), again.eval()
    with torch.no_grad():
        torch.testing.assert_close(again(x), model(x))
