"""Loaders for formats we cannot download here, on fixtures written in the exact format."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from weightspace.data import load_dataset
from weightspace.data.cifar import safe_load_pickle
from weightspace.errors import DataError


def _cifar_batch(n: int, label_key: bytes, n_classes: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {
        b"batch_label": b"fixture",
        label_key: [int(v) for v in rng.integers(0, n_classes, n)],
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"filenames": [b"img%d.png" % i for i in range(n)],
    }


def write_cifar10(root: Path, protocol: int = 2) -> dict:
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    batches = {}
    for i, name in enumerate([*(f"data_batch_{k}" for k in range(1, 6)), "test_batch"]):
        batches[name] = _cifar_batch(4, b"labels", 10, seed=i)
        (d / name).write_bytes(pickle.dumps(batches[name], protocol=protocol))
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse",
             b"ship", b"truck"]  # fmt: skip
    meta = {b"label_names": names, b"num_cases_per_batch": 4, b"num_vis": 3072}
    (d / "batches.meta").write_bytes(pickle.dumps(meta, protocol=protocol))
    return batches


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar10_fixture(tmp_path: Path, protocol: int) -> None:
    batches = write_cifar10(tmp_path, protocol)
    tr = load_dataset("cifar10", data_dir=tmp_path)
    te = load_dataset("cifar10", split="test", data_dir=tmp_path / "cifar-10-batches-py")
    assert tr.images.shape == (20, 3, 32, 32) and te.images.shape == (4, 3, 32, 32)
    assert tr.classes[1] == "automobile"
    first = batches["data_batch_1"]
    # row layout: 1024 red, 1024 green, 1024 blue values, each 32×32 row-major
    assert torch.equal(tr.images[0, 1].flatten(), torch.from_numpy(first[b"data"][0, 1024:2048]))
    assert tr.labels[:4].tolist() == first[b"labels"]


def test_cifar100_fixture(tmp_path: Path) -> None:
    d = tmp_path / "cifar-100-python"
    d.mkdir()
    for split in ("train", "test"):
        batch = _cifar_batch(6, b"fine_labels", 100, seed=1)
        batch[b"coarse_labels"] = [0] * 6
        (d / split).write_bytes(pickle.dumps(batch))
    names = [f"class{i}".encode() for i in range(100)]
    (d / "meta").write_bytes(pickle.dumps({b"fine_label_names": names, b"coarse_label_names": []}))
    ds = load_dataset("cifar100", data_dir=tmp_path)
    assert ds.images.shape == (6, 3, 32, 32) and len(ds.classes) == 100
    assert ds.classes[7] == "class7"


class _Evil:
    def __reduce__(self) -> tuple:
        import os

        return (os.system, ("echo pwned > /dev/null",))


def test_malicious_pickle_is_refused(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    target = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    target.write_bytes(pickle.dumps({b"data": _Evil(), b"labels": [0]}))
    with pytest.raises(DataError, match=r"refusing to load global (posix|os)\.system"):
        load_dataset("cifar10", data_dir=tmp_path)
    evil = tmp_path / "evil.pkl"
    # a hand-written pickle calling builtins.eval
    evil.write_bytes(b"cbuiltins\neval\n(V1+1\ntR.")
    assert pickle.loads(evil.read_bytes()) == 2  # the plain unpickler would run it
    with pytest.raises(DataError, match=r"builtins\.eval"):
        safe_load_pickle(evil)


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda b: b.pop(b"labels"), "labels"),
        (lambda b: b.__setitem__(b"data", np.zeros((4, 100), np.uint8)), "3072"),
        (lambda b: b.__setitem__(b"labels", [0, 1]), "labels for"),
    ],
)
def test_malformed_cifar(tmp_path: Path, mutate, match: str) -> None:  # type: ignore[no-untyped-def]
    batches = write_cifar10(tmp_path)
    bad = batches["test_batch"]
    mutate(bad)
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps(bad))
    with pytest.raises(DataError, match=match):
        load_dataset("cifar10", split="test", data_dir=tmp_path)
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(DataError):
        load_dataset("cifar10", split="test", data_dir=tmp_path)


def test_missing_cifar_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="data-dir"):
        load_dataset("cifar10", data_dir=tmp_path)


def _write_tree(root: Path, mode: str, per_class: int = 5) -> None:
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            shape = (12, 10) if mode == "L" else (12, 10, 3)
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode=mode).save(
                root / cls / f"{i}.png"
            )


@pytest.mark.parametrize("mode,channels", [("L", 1), ("RGB", 3)])
def test_image_folder(tmp_path: Path, mode: str, channels: int) -> None:
    _write_tree(tmp_path / "tree", mode)
    full = load_dataset(f"imagefolder:{tmp_path / 'tree'}", split="all")
    assert full.images.shape == (10, channels, 12, 10) and full.classes == ("cat", "dog")
    first = np.asarray(Image.open(tmp_path / "tree" / "cat" / "0.png"))
    got = full.images[0].permute(1, 2, 0).squeeze(-1).numpy()
    np.testing.assert_array_equal(got, first)
    tr = load_dataset(str(tmp_path / "tree"))  # a bare path works too
    te = load_dataset(f"imagefolder:{tmp_path / 'tree'}", split="test")
    assert len(tr) == 8 and len(te) == 2 and torch.bincount(te.labels).tolist() == [1, 1]


def test_image_folder_with_split_dirs(tmp_path: Path) -> None:
    _write_tree(tmp_path / "t" / "train", "L", per_class=3)
    _write_tree(tmp_path / "t" / "test", "L", per_class=2)
    assert len(load_dataset(f"imagefolder:{tmp_path / 't'}")) == 6
    assert len(load_dataset(f"imagefolder:{tmp_path / 't'}", split="test")) == 4


def test_image_folder_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="class sub-folders"):
        load_dataset(f"imagefolder:{tmp_path / 'empty'}")
    _write_tree(tmp_path / "mixed", "L")
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(tmp_path / "mixed" / "dog" / "odd.png")
    with pytest.raises(DataError, match="differ in size"):
        load_dataset(f"imagefolder:{tmp_path / 'mixed'}")
    (tmp_path / "broken" / "a").mkdir(parents=True)
    (tmp_path / "broken" / "a" / "x.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="cannot read image"):
        load_dataset(f"imagefolder:{tmp_path / 'broken'}")


@pytest.mark.parametrize("hwc", [True, False])
def test_npz(tmp_path: Path, hwc: bool) -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (20, 32, 32, 3) if hwc else (20, 28, 28), dtype=np.uint8)
    label = np.arange(20) % 4
    np.savez(tmp_path / "edm.npz", image=image, label=label)
    full = load_dataset(f"npz:{tmp_path / 'edm.npz'}", split="all")
    assert full.images.shape == ((20, 3, 32, 32) if hwc else (20, 1, 28, 28))
    assert torch.equal(full.images[3].permute(1, 2, 0).squeeze(-1), torch.from_numpy(image[3]))
    assert full.labels.tolist() == label.tolist() and len(full.classes) == 4
    tr = load_dataset(str(tmp_path / "edm.npz"))
    te = load_dataset(str(tmp_path / "edm.npz"), split="test")
    assert len(tr) == 16 and len(te) == 4


def test_npz_directory_with_splits(tmp_path: Path) -> None:
    for split, n in (("train", 6), ("test", 3)):
        np.savez(
            tmp_path / f"{split}.npz", image=np.zeros((n, 8, 8), np.uint8), label=np.zeros(n, int)
        )
    assert len(load_dataset(f"npz:{tmp_path}", split="test")) == 3


@pytest.mark.parametrize(
    "arrays,match",
    [
        ({"image": np.zeros((4, 8, 8), np.uint8)}, "'label' missing"),
        ({"image": np.zeros((4, 8, 8), np.float32), "label": np.zeros(4, int)}, "uint8"),
        ({"image": np.zeros((4, 8, 8), np.uint8), "label": np.zeros(3, int)}, "label"),
        ({"image": np.zeros((4, 8, 8, 2), np.uint8), "label": np.zeros(4, int)}, "channels"),
        ({"image": np.zeros((4, 8, 8), np.uint8), "label": np.array(["a"] * 4)}, "integers"),
        (
            {"image": np.zeros((2, 8, 8), np.uint8), "label": np.array([0, None], dtype=object)},
            "pickle",
        ),
    ],
)
def test_npz_malformed(tmp_path: Path, arrays: dict, match: str) -> None:
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=match):
        load_dataset(f"npz:{tmp_path / 'bad.npz'}", split="all")
