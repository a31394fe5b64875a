"""WeightWatcher's flat-file directories and ``*.layer_map`` files as weight sources."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from weightspace.errors import CheckpointError
from weightspace.spectral.extract import iter_layers
from weightspace.spectral.load import open_store


def _flat_dir(root: Path, arrays: dict[str, np.ndarray], *, model: str = "net") -> Path:
    """A directory as WeightWatcher's extract_pytorch_bins writes it."""
    layers = {}
    for i, (key, w) in enumerate(arrays.items()):
        np.save(root / f"{model}.{i}.weight.npy", w)
        kind = {1: "norm", 2: "dense", 4: "conv2d"}.get(w.ndim, "unknown")
        layers[str(i)] = {
            "key": key, "name": f"{model}.{i}", "longname": key.removesuffix(".weight"),
            "weightfile": f"{model}.{i}.weight.npy", "biasfile": None, "type": kind,
            "dims": json.dumps(list(w.shape)),
        }  # fmt: skip
    config = {"framework": "pytorch", "weights_dir": "/elsewhere", "model_name": model}
    (root / "ww_config.json").write_text(json.dumps({**config, "layers": layers}))
    return root


def test_flat_file_directory_reads_the_original_tensors(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    arrays = {
        "conv.weight": rng.standard_normal((6, 3, 3, 3)).astype(np.float32),
        "bn.weight": np.ones(6, dtype=np.float32),
        "fc.weight": rng.standard_normal((10, 24)).astype(np.float32),
    }
    store = open_store(_flat_dir(tmp_path, arrays))
    assert store.names() == list(arrays)
    np.testing.assert_array_equal(store.read("fc.weight", slice(2, 4)), arrays["fc.weight"][2:4])
    specs = list(iter_layers(tmp_path, min_evals=0))
    assert [s.longname for s in specs] == ["conv", "fc"]  # the 1-D norm scale is no row
    np.testing.assert_allclose(specs[1].load()[0], arrays["fc.weight"].T)


def test_flat_file_directory_errors_name_the_problem(tmp_path: Path) -> None:
    _flat_dir(tmp_path, {"fc.weight": np.ones((4, 3), dtype=np.float32)})
    (tmp_path / "net.0.weight.npy").unlink()
    with pytest.raises(CheckpointError, match="missing"):
        open_store(tmp_path)
    (tmp_path / "ww_config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match=r"ww_config\.json"):
        open_store(tmp_path)


def test_layer_map_orders_a_safetensors_directory(tmp_path: Path) -> None:
    sd = {
        "b.weight": torch.ones(5, 4), "a.weight": torch.ones(6, 4), "c.weight": torch.ones(7, 4),
        "a.bias": torch.ones(6),
    }  # fmt: skip
    save_file(sd, str(tmp_path / "model.0.safetensors"))
    assert open_store(tmp_path).names() == ["a.bias", "a.weight", "b.weight", "c.weight"]
    (tmp_path / "model.0.layer_map").write_text("c\nb\na\n")  # layer names: .weight added
    assert open_store(tmp_path).names() == ["c.weight", "b.weight", "a.weight", "a.bias"]
    assert [s.longname for s in iter_layers(tmp_path, min_evals=0)] == ["c", "b", "a"]
    (tmp_path / "model.0.layer_map").write_text("c.weight\nz.weight\n")
    with pytest.raises(CheckpointError, match=r"z\.weight"):
        open_store(tmp_path)
