"""The one weight-file reader: one key rule for models, the spectral engine and encoders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from weightspace.checkpoint import NESTED_KEYS, file_digest, read_state_dict
from weightspace.errors import CheckpointError
from weightspace.models import create_model
from weightspace.spectral.extract import iter_layers


def _model() -> nn.Module:
    torch.manual_seed(0)
    return create_model("cnn-small", num_classes=3, in_channels=1)


@pytest.mark.parametrize("key", [None, *NESTED_KEYS])
def test_every_consumer_reads_the_same_tensors(tmp_path: Path, key: str | None) -> None:
    sd = _model().state_dict()
    obj = sd if key is None else {key: sd, "epoch": 7, "optimizer": {"lr": 0.1}}
    path = tmp_path / "ckpt.pt"
    torch.save(obj, path)
    read = read_state_dict(path)
    assert set(read) == set(sd)  # metadata dropped, nested entry unwrapped
    for k, v in sd.items():
        assert torch.equal(read[k], v)
    # models: loads as a pretrained start (the classifier head is replaced, the rest kept)
    loaded = create_model("cnn-small", num_classes=3, in_channels=1, pretrained=path)
    got = loaded.state_dict()
    assert all(torch.equal(got[k], v) for k, v in sd.items() if not k.startswith("classifier"))
    # spectral: the same tensors under the same names
    specs = {s.longname: s for s in iter_layers(path) if s.load is not None}
    conv = next(k for k in sd if k.endswith(".weight") and sd[k].ndim == 4)
    name = conv.removesuffix(".weight")
    assert np.array_equal(
        np.sort(specs[name].load().ravel()), np.sort(sd[conv].numpy().astype(np.float64).ravel())
    )


def test_safetensors_and_digest(tmp_path: Path) -> None:
    sd = {k: v.contiguous() for k, v in _model().state_dict().items()}
    path = tmp_path / "w.safetensors"
    save_file(sd, str(path))
    read = read_state_dict(path)
    assert all(torch.equal(read[k], v) for k, v in sd.items())
    assert file_digest(path) == file_digest(path) and len(file_digest(path)) == 16
    path.write_bytes(path.read_bytes()[:-50])
    with pytest.raises(CheckpointError, match="truncated"):
        read_state_dict(path)


def test_refusals(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        read_state_dict(tmp_path / "none.pt")
    pickled = tmp_path / "obj.pt"
    torch.save({"w": torch.zeros(1), "fn": nn.ReLU()}, pickled)  # needs code to unpickle
    with pytest.raises(CheckpointError, match=r"refusing.*safely"):
        read_state_dict(pickled)
    empty = tmp_path / "meta.pt"
    torch.save({"epoch": 3}, empty)
    with pytest.raises(CheckpointError, match="holds no tensors"):
        read_state_dict(empty)
