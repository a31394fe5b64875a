"""WeightWatcher's directory and layer-iterator tests ported (see ``tests/ww_port.py``):
``Test_WWFlatFiles``, ``Test_PyStateDictDir``, ``Test_SafeTensorsDir``,
``Test_SafeTensorsDirNoLayerMap``, ``Test_PyStateDictLayers`` and ``Test_PyTorchLayers``.

The inputs are built as the originals build them, from torchvision's ResNet-18 (random
weights, as there): WeightWatcher's own ``extract_pytorch_bins`` flat files, a directory with
``pytorch_model.0.bin``, and ``model.0.safetensors`` with (and without) its ``model.0.layer_map``.
Assertions on WeightWatcher's internal classes (``WWLayer``, ``PyStateDictLayer``, ...) are
replaced by comparing the public attributes of the iterated layers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ww_port
from ww_port import check

pytestmark = pytest.mark.oracle

# (directory names without "safetensors": WeightWatcher looks for the layer_map by replacing
# every "safetensors" in the file glob, the directory part included)
DIRS = ["flatfiles", "statedict_bin", "st_layer_map", "st_no_layer_map"]


@pytest.fixture(scope="module")
def resnet_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Test_WWFlatFiles._make_tmp_weights_dir's four formats (one ResNet-18 state dict)."""
    from safetensors.torch import save_file

    state = ww_port.resnet18().state_dict()
    root = tmp_path_factory.mktemp("resnet")
    out = {"flatfiles": ww_port.flat_files(state, "resnet18", root / "flat")}
    (root / "bin").mkdir()
    ww_port.torch.save(state, root / "bin" / "pytorch_model.0.bin")
    out["statedict_bin"] = str(root / "bin")
    for name, with_map in (("st_layer_map", True), ("st_no_layer_map", False)):
        (root / name).mkdir()
        save_file({k: v.contiguous() for k, v in state.items()},
                  str(root / name / "model.0.safetensors"))  # fmt: skip
        if with_map:
            (root / name / "model.0.layer_map").write_text("".join(f"{k}\n" for k in state))
        out[name] = str(root / name)
    return out


def _layers(ww: Any, model: Any) -> list[Any]:
    return list(ww.WeightWatcher().make_layer_iterator(model))


def _public(layer: Any) -> tuple[Any, ...]:
    return (int(layer.layer_id), layer.name, layer.longname, str(layer.the_type),
            int(layer.N), int(layer.M), int(layer.rf))  # fmt: skip


@pytest.mark.parametrize("kind", DIRS)
def test_ww_layer_iterator(resnet_dirs: dict[str, str], kind: str) -> None:
    """test_ww_layer_iterator and test_ww_layer_iterator_B of the four directory classes:
    21 layers (ResNet-18's convs, downsamples and fc), same ids, names and types."""

    def body(ww: Any, model: Any) -> Any:
        layers = _layers(ww, model)
        assert len(layers) == 21
        return [_public(layer) for layer in layers]

    check(body, resnet_dirs[kind])


@pytest.mark.parametrize("kind", DIRS)
def test_last_and_fc_layer(resnet_dirs: dict[str, str], kind: str) -> None:
    """test_get_last_layer and test_get_resnet_fc_layer (Test_SafeTensorsDir: the layer_map
    puts fc last, id 40; without it the safetensors names come sorted and layer4.1.conv2
    is last, also id 40) and test_ww_layer_attributes (the fc layer's name, framework
    layer name, weight and bias shapes)."""

    def body(ww: Any, model: Any) -> Any:
        layers = _layers(ww, model)
        last = layers[-1]
        fc = [x for x in layers if x.name in ("fc", "resnet18.40")][-1]
        has_w, w, has_b, b = fc.get_weights_and_biases()
        assert fc.framework_layer.name == fc.name and has_w and has_b
        return _public(last), _public(fc), w.shape, b.shape, str(w.dtype)

    last, fc, w_shape, b_shape, _ = check(body, resnet_dirs[kind])
    assert (w_shape, b_shape) == ((1000, 512), (1000,))
    assert fc[0] == (2 if kind == "st_no_layer_map" else 40)  # sorted names: bn1, conv1, fc
    want = {"flatfiles": "resnet18.40", "st_no_layer_map": "layer4.1.conv2"}
    assert last[1] == want.get(kind, "fc") and last[0] == 40


@pytest.mark.parametrize("kind", DIRS)
def test_infer_framework(resnet_dirs: dict[str, str], kind: str) -> None:
    """test_infer_framework of the four directory classes (static methods)."""

    def body(ww: Any, model: Any) -> Any:
        fmt, fileglob = ww.WeightWatcher.infer_model_file_format(model)
        return fmt, fileglob, ww.WeightWatcher.infer_framework(model)

    fmt, _, framework = check(body, resnet_dirs[kind])
    assert (fmt == "ww_flatfiles") == (kind == "flatfiles")
    assert framework == ("ww_flatfiles" if kind == "flatfiles" else "pystatedict_dir")


@pytest.mark.parametrize("kind", DIRS)
def test_directory_analysis(resnet_dirs: dict[str, str], kind: str) -> None:
    """The directories' analysis: the same table (ids, names, every number) as
    WeightWatcher on three layers (the first conv, a downsample, fc)."""

    def body(ww: Any, model: Any) -> Any:
        watcher = ww.WeightWatcher(model=model)
        ids = watcher.describe().layer_id.to_numpy()
        return watcher.analyze(layers=[int(ids[0]), int(ids[7]), int(ids[-1])])

    check(body, resnet_dirs[kind])


def test_unindexed_shards_take_weightwatchers_ids(tmp_path: Path) -> None:
    """Three safetensors shards without an index: WeightWatcher's ids jump ahead from the
    third file on (it adds the running total of layers to each file's first id); the same
    ids here."""
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in ww_port.vgg11().state_dict().items()}
    keys = list(state)
    for i, part in enumerate((keys[:6], keys[6:14], keys[14:])):
        save_file({k: state[k] for k in part}, str(tmp_path / f"model.{i}.safetensors"))

    def body(ww: Any) -> Any:
        return ww.WeightWatcher(model=str(tmp_path)).describe()

    details = check(body)
    assert len(details) == 11 and details.layer_id.iloc[-1] > 10


# -- Test_PyStateDictLayers, Test_PyTorchLayers ----------------------------------------------


@pytest.mark.parametrize("as_dict", [False, True], ids=["PyTorchLayers", "PyStateDictLayers"])
def test_layer_iterator(as_dict: bool) -> None:
    """test_ww_layer_iterator and test_ww_layer_attributes: 21 layers; the last is fc with
    its (1000, 512) weights and (1000,) biases."""

    def body(ww: Any, model: Any) -> Any:
        layers = _layers(ww, model)
        last = layers[-1]
        has_w, w, has_b, b = last.get_weights_and_biases()
        assert last.framework_layer.name == last.name and has_w and has_b
        return [_public(x) for x in layers], w, b

    net = ww_port.resnet18()
    layers, w, b = check(body, (lambda: net.state_dict()) if as_dict else (lambda: net))
    assert len(layers) == 21 and layers[-1][1] == "fc"
    assert w.shape == (1000, 512) and b.shape == (1000,)


@pytest.mark.parametrize("as_dict", [False, True], ids=["PyTorchLayers", "PyStateDictLayers"])
@pytest.mark.parametrize("new_biases", [False, True], ids=["weights_only", "weights_and_biases"])
def test_replace_weights(as_dict: bool, new_biases: bool) -> None:
    """test_replace_weights_only / test_replace_weights_and_biases: replace the last layer's
    weights (and biases), read them back, put the old ones back."""

    def body(ww: Any, model: Any) -> Any:
        last = _layers(ww, model)[-1]
        _, w, _, b = last.get_weights_and_biases()
        w, b = np.array(w), np.array(b)
        last.replace_layer_weights(np.ones_like(w), 2 * np.ones_like(b) if new_biases else b)
        _, w1, _, b1 = last.get_weights_and_biases()
        seen = [float(np.min(w1)), float(np.min(b1))]
        last.replace_layer_weights(w, b)
        _, w2, _, b2 = last.get_weights_and_biases()
        assert np.array_equal(np.asarray(w2), w) and np.array_equal(np.asarray(b2), b)
        return seen, float(np.min(b))

    net = ww_port.resnet18()
    (w_min, b_min), old_b = check(body, (lambda: net.state_dict()) if as_dict else (lambda: net))
    assert w_min == 1.0 and b_min == (2.0 if new_biases else old_b)
