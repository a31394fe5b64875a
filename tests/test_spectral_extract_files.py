"""Matrix extraction from weight files: formats, laziness, safety, hostile inputs."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
from safetensors.torch import save_file

from weightspace.errors import CheckpointError
from weightspace.spectral.extract import iter_layers


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(30, 12)
        self.attn = nn.MultiheadAttention(12, 2)
        self.lstm = nn.LSTM(12, 10)
        self.conv = nn.Conv2d(3, 9, 3)
        self.bn = nn.BatchNorm2d(9)
        self.fc = nn.Linear(12, 40)


def _net() -> _Net:
    torch.manual_seed(0)
    return _Net()


def _save_st(sd: dict[str, torch.Tensor], path: Path) -> Path:
    save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    return path


def _loaded(source: object, **kw: object) -> dict[str, np.ndarray]:
    return {s.longname: s.load() for s in iter_layers(source, **kw) if s.load is not None}


def test_state_dict_rows_infer_types_and_match_module_matrices() -> None:
    net = _net()
    specs = {s.longname: s for s in iter_layers(net.state_dict())}
    assert specs["embed"].name == "Embedding" and specs["fc"].name == "Linear"
    assert (
        specs["attn.k"].name == "MultiheadAttention" and specs["lstm.weight_ih_l0.g"].name == "LSTM"
    )
    assert specs["conv"].name == "Conv2d" and specs["conv"].conv_slices
    assert not any(k.startswith("bn") for k in specs)  # 1-D norm tensors have no row
    module = _loaded(net)
    for longname, arr in _loaded(net.state_dict()).items():
        np.testing.assert_array_equal(arr, module[longname])
    ids = [s.layer_id for s in iter_layers(net.state_dict())]
    names = list(net.state_dict())
    assert ids[0] == names.index("embed.weight") and ids[-1] == names.index("fc.weight")


@pytest.mark.parametrize("suffix", [".safetensors", ".pt", ".npz"])
def test_file_formats_round_trip(tmp_path: Path, suffix: str) -> None:
    net = _net()
    sd = net.state_dict()
    path = tmp_path / f"w{suffix}"
    if suffix == ".safetensors":
        _save_st(sd, path)
    elif suffix == ".pt":
        torch.save(sd, path)
    else:
        np.savez(path, **{k: v.numpy() for k, v in sd.items()})
    got = _loaded(path)
    want = _loaded(sd)
    assert (
        set(got) == set(want) and len(got) == 3 + 1 + 8 + 1 + 1 + 1
    )  # qkv, out_proj, 2x4 gates, ...
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])


def test_safetensors_rows_follow_file_order_and_bf16_loads(tmp_path: Path) -> None:
    sd = {"b.weight": torch.randn(16, 8), "a.weight": torch.randn(9, 9, dtype=torch.bfloat16)}
    path = _save_st(sd, tmp_path / "m.safetensors")
    header_len = int.from_bytes(path.read_bytes()[:8], "little")
    header = json.loads(path.read_bytes()[8 : 8 + header_len])
    by_offset = sorted((v["data_offsets"][0], k) for k, v in header.items() if k != "__metadata__")
    specs = list(iter_layers(path))
    assert [s.longname for s in specs] == [k.removesuffix(".weight") for _, k in by_offset]
    assert [s.layer_id for s in specs] == [0, 1]
    a = next(s for s in specs if s.longname == "a").load()
    np.testing.assert_array_equal(a[0], sd["a.weight"].double().numpy())


def test_checkpoint_dict_with_nested_state_dict(tmp_path: Path) -> None:
    net = _net()
    path = tmp_path / "ckpt.pth"
    torch.save({"epoch": 3, "state_dict": net.state_dict(), "lr": 0.1}, path)
    assert set(_loaded(path)) == set(_loaded(net.state_dict()))


def test_legacy_torch_serialization(tmp_path: Path) -> None:
    path = tmp_path / "legacy.pt"
    torch.save({"w.weight": torch.randn(12, 10)}, path, _use_new_zipfile_serialization=False)
    assert _loaded(path)["w"].shape == (1, 12, 10)


def test_gpt2_style_names(tmp_path: Path) -> None:
    sd = {
        "transformer.wte.weight": torch.randn(50, 16),
        "transformer.h.0.attn.c_attn.weight": torch.randn(16, 48),  # Conv1D: (in, out)
        "transformer.h.0.ln_1.weight": torch.ones(16),
        "encoder.pos_embedding": torch.randn(1, 10, 16),
    }
    specs = {s.longname: s for s in iter_layers(sd)}
    assert specs["transformer.wte"].layer_type == "embedding"
    c_attn = specs["transformer.h.0.attn.c_attn"]
    assert c_attn.layer_type == "linear"
    np.testing.assert_array_equal(c_attn.load()[0], sd[c_attn.extra["tensor"]].double().numpy().T)
    pos = specs["encoder.pos_embedding"]
    assert pos.status == "skipped" and "position embedding" in pos.reason
    assert "transformer.h.0.ln_1" not in specs


def test_file_rnn_gates_with_projection() -> None:
    lstm = nn.LSTM(6, 12, proj_size=9)
    specs = {s.longname: s for s in iter_layers(lstm.state_dict(), min_evals=0)}
    assert specs["weight_ih_l0.o"].extra["part"] == "o" and specs["weight_hr_l0"].name == "LSTM"
    np.testing.assert_array_equal(
        specs["weight_hh_l0.g"].load()[0], lstm.weight_hh_l0.detach()[24:36].double().numpy()
    )


# --- sharded Hugging Face directories --------------------------------------------------------


def _sharded(tmp_path: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    torch.manual_seed(1)
    tensors = {f"layers.{i}.weight": torch.randn(20 + i, 16) for i in range(4)}
    tensors["layers.0.bias"] = torch.zeros(20)
    root = tmp_path / "model"
    root.mkdir()
    shards = {"model-00001-of-00002.safetensors": ["layers.2.weight", "layers.0.weight",
                                                   "layers.0.bias"],
              "model-00002-of-00002.safetensors": ["layers.1.weight", "layers.3.weight"]}  # fmt: skip
    for shard, names in shards.items():
        _save_st({n: tensors[n] for n in names}, root / shard)
    order = ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.2.weight",
             "layers.3.weight"]  # fmt: skip
    weight_map = {n: next(s for s, ns in shards.items() if n in ns) for n in order}
    (root / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": 0}, "weight_map": weight_map})
    )
    return root, tensors


class _CountingReads:
    """Records every tensor read (name and rows) through the safetensors store."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from weightspace.spectral.load_safetensors import SafetensorsStore

        self.reads: list[str] = []
        self.rows: list[slice | None] = []
        real = SafetensorsStore.read
        counter = self

        def read(store: SafetensorsStore, name: str, rows: slice | None = None) -> np.ndarray:
            counter.reads.append(name)
            counter.rows.append(rows)
            return real(store, name, rows)

        monkeypatch.setattr(SafetensorsStore, "read", read)


def test_sharded_directory_is_ordered_by_index_and_lazy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, tensors = _sharded(tmp_path)
    counter = _CountingReads(monkeypatch)
    specs = list(iter_layers(root))
    assert [s.longname for s in specs] == [f"layers.{i}" for i in range(4)]
    assert [s.layer_id for s in specs] == [0, 2, 3, 4]  # the bias counts in the file order
    assert counter.reads == []  # enumeration reads headers only
    got = specs[2].load()
    assert counter.reads == ["layers.2.weight"]  # one load reads exactly its own tensor
    np.testing.assert_array_equal(got[0], tensors["layers.2.weight"].double().numpy())


def test_layer_by_layer_loading_does_not_accumulate_memory(tmp_path: Path) -> None:
    import tracemalloc

    root = tmp_path / "big"
    root.mkdir()
    for shard in range(4):  # 4 shards x 2 tensors x 256x256 float32
        tensors = {f"l{shard}.{j}.weight": torch.randn(256, 256) for j in range(2)}
        _save_st(tensors, root / f"model-{shard:05d}-of-00004.safetensors")
    one_layer = 256 * 256 * 8  # bytes of one float64 copy
    tracemalloc.start()
    try:
        total = 0.0
        for spec in iter_layers(root):
            total += float(spec.load().sum())  # each array is dropped before the next load
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert np.isfinite(total)
    assert peak < 2.5 * one_layer  # all 8 layers together would be 8 x one_layer


def test_qkv_split_reads_only_its_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    w = torch.randn(36, 12)
    path = _save_st({"enc.attn.in_proj_weight": w}, tmp_path / "a.safetensors")
    counter = _CountingReads(monkeypatch)
    specs = {s.longname: s for s in iter_layers(path)}
    np.testing.assert_array_equal(specs["enc.attn.v"].load()[0], w[24:].double().numpy())
    assert counter.reads == ["enc.attn.in_proj_weight"]
    assert counter.rows == [slice(24, 36)]


def test_sharded_torch_directory(tmp_path: Path) -> None:
    root = tmp_path / "bins"
    root.mkdir()
    a, b = torch.randn(12, 10), torch.randn(9, 16)
    torch.save({"enc.weight": a}, root / "pytorch_model-00001-of-00002.bin")
    torch.save({"dec.weight": b}, root / "pytorch_model-00002-of-00002.bin")
    weight_map = {"dec.weight": "pytorch_model-00002-of-00002.bin",
                  "enc.weight": "pytorch_model-00001-of-00002.bin"}  # fmt: skip
    (root / "pytorch_model.bin.index.json").write_text(json.dumps({"weight_map": weight_map}))
    specs = list(iter_layers(root))
    assert [s.longname for s in specs] == ["dec", "enc"]
    np.testing.assert_array_equal(specs[0].load()[0], b.double().numpy().T)


def test_sharded_directory_without_index_and_broken_index(tmp_path: Path) -> None:
    root, _ = _sharded(tmp_path)
    (root / "model.safetensors.index.json").unlink()
    assert len(list(iter_layers(root))) == 4
    (root / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"x.weight": "model-00009-of-00009.safetensors"}})
    )
    with pytest.raises(CheckpointError, match="shard missing"):
        list(iter_layers(root))
    (root / "model.safetensors.index.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="weight_map"):
        list(iter_layers(root))


# --- safety and hostile files ----------------------------------------------------------------


class _Payload:
    """Unpickling this runs a shell command that creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("how", ["torch.save", "pickle-2", "pickle-4"])
def test_malicious_pickle_is_refused_not_executed(tmp_path: Path, how: str) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    obj = {"fc.weight": torch.randn(8, 8), "extra": _Payload(marker)}
    if how == "torch.save":
        torch.save(obj, path)
    else:
        path.write_bytes(pickle.dumps(obj, protocol=int(how[-1])))
    with pytest.raises(CheckpointError) as err:
        list(iter_layers(path))
    assert not marker.exists()
    msg = str(err.value)
    assert str(path) in msg and "safetensors" in msg
    if how != "pickle-4":  # protocol 4 fails on an opcode before the global is reached
        assert "refusing" in msg and "needs to run code" in msg
    # the payload is real: unpickling it unsafely would have created the marker
    pickle.loads(pickle.dumps(_Payload(marker)))
    assert marker.exists()


@pytest.mark.parametrize("suffix", [".safetensors", ".pt", ".bin", ".npz"])
@pytest.mark.parametrize(
    "content",
    [b"", b"\x00" * 3, np.random.default_rng(0).bytes(4096), b"PK\x03\x04garbage"],
    ids=["empty", "zeros", "random", "zip-magic"],
)
def test_garbage_files_raise_checkpoint_error(tmp_path: Path, suffix: str, content: bytes) -> None:
    path = tmp_path / f"junk{suffix}"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="cannot read"):
        list(iter_layers(path))


def test_truncated_safetensors(tmp_path: Path) -> None:
    path = _save_st({"fc.weight": torch.randn(32, 32)}, tmp_path / "t.safetensors")
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="truncated"):
        list(iter_layers(path))


def test_missing_paths_and_unknown_types(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such file"):
        list(iter_layers(tmp_path / "absent.safetensors"))
    (tmp_path / "w.h5").write_bytes(b"x")
    with pytest.raises(CheckpointError, match=r"unknown file type '\.h5'"):
        list(iter_layers(tmp_path / "w.h5"))
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "README.md").write_text("hi")
    with pytest.raises(CheckpointError, match=r"no \*\.safetensors files \(found: README.md\)"):
        list(iter_layers(empty))


def test_files_without_matrices_and_non_state_dicts(tmp_path: Path) -> None:
    path = _save_st(
        {"bn.weight": torch.ones(8), "bn.bias": torch.zeros(8)}, tmp_path / "n.safetensors"
    )
    with pytest.raises(CheckpointError, match="no weight tensor with 2 or more dimensions"):
        list(iter_layers(path))
    torch.save([torch.randn(4, 4)], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="not a state dict"):
        list(iter_layers(tmp_path / "list.pt"))
    torch.save({"epoch": 3, "optimizer": {"lr": 0.1}}, tmp_path / "opt.pt")
    with pytest.raises(CheckpointError, match="holds no tensors"):
        list(iter_layers(tmp_path / "opt.pt"))


def test_npz_ignores_non_float_and_never_unpickles(tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    np.savez(
        path,
        w=np.arange(120.0).reshape(12, 10),
        ids=np.arange(20).reshape(4, 5),
        obj=np.array([{"a": 1}, None], dtype=object),
    )
    specs = list(iter_layers(path))
    assert [s.longname for s in specs] == ["w"]
    np.testing.assert_array_equal(specs[0].load()[0], np.arange(120.0).reshape(12, 10))


def test_nan_weights_pass_through_files(tmp_path: Path) -> None:
    w = torch.randn(16, 16)
    w[3, 4] = float("nan")
    path = _save_st({"fc.weight": w}, tmp_path / "nan.safetensors")
    (spec,) = iter_layers(path)
    assert np.isnan(spec.load()).sum() == 1
