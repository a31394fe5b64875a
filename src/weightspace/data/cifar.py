"""CIFAR-10 / CIFAR-100 from their standard python-pickle directories, unpickled safely.

The official archives hold pickled dicts (``b"data"``: uint8 (N, 3072) rows in CHW order,
``b"labels"`` or ``b"fine_labels"``). Pickle can run arbitrary code, so files are read with
:class:`SafeUnpickler`, which reconstructs only plain containers and numpy arrays.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from weightspace.data.imageset import ImageSet
from weightspace.errors import DataError

# (module, name) pairs a CIFAR pickle legitimately needs: numpy array reconstruction
# (numpy 1.x and 2.x module paths, pickle protocols 2-5) and the bytes helper of protocol 2.
_ALLOWED_GLOBALS = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }
)


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that refuses every global except numpy array reconstruction."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"refusing to load global {module}.{name}: only numpy arrays and plain "
            "containers are allowed in dataset pickles"
        )


def safe_load_pickle(path: Path) -> Any:
    """Unpickle ``path`` with :class:`SafeUnpickler` (bytes keys kept as bytes)."""
    try:
        raw = path.read_bytes()
        return SafeUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except OSError as err:
        raise DataError(f"cannot read {path}: {err}") from err
    except Exception as err:  # malformed or malicious: never a partial result
        raise DataError(f"{path} is not a valid CIFAR pickle: {err}") from err


CIFAR10 = {
    "dir": "cifar-10-batches-py",
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
    "label_key": b"labels",
    "meta": ("batches.meta", b"label_names"),
}
CIFAR100 = {
    "dir": "cifar-100-python",
    "train": ("train",),
    "test": ("test",),
    "label_key": b"fine_labels",
    "meta": ("meta", b"fine_label_names"),
}


def _resolve_dir(data_dir: Path, subdir: str) -> Path:
    if (data_dir / subdir).is_dir():
        return data_dir / subdir
    return data_dir


def _get(d: Any, key: bytes, path: Path) -> Any:
    if not isinstance(d, dict):
        raise DataError(f"{path}: expected a pickled dict, got {type(d).__name__}")
    for k in (key, key.decode()):
        if k in d:
            return d[k]
    raise DataError(f"{path}: key {key!r} missing (has {sorted(map(str, d))})")


def load_cifar(data_dir: Path, split: str, *, spec: dict[str, Any], name: str) -> ImageSet:
    """Load one split from a ``cifar-10-batches-py`` / ``cifar-100-python`` directory."""
    if split not in ("train", "test"):
        raise DataError(f"{name}: unknown split {split!r}; valid: train, test")
    root = _resolve_dir(Path(data_dir), spec["dir"])
    files = [root / f for f in spec[split]]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise DataError(
            f"{name}: {', '.join(missing)} not found in {root}; give --data-dir the folder "
            f"holding {spec['dir']}/ (or pass --download when online)"
        )
    images, labels = [], []
    for f in files:
        d = safe_load_pickle(f)
        data = np.asarray(_get(d, b"data", f))
        lab = np.asarray(_get(d, spec["label_key"], f))
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise DataError(f"{f}: data must be uint8 (N, 3072), got {data.dtype} {data.shape}")
        if lab.ndim != 1 or lab.shape[0] != data.shape[0]:
            raise DataError(f"{f}: {lab.shape[0]} labels for {data.shape[0]} images")
        images.append(data.reshape(-1, 3, 32, 32))  # rows are R(1024) G(1024) B(1024)
        labels.append(lab.astype(np.int64))
    meta_file, meta_key = spec["meta"]
    classes = _class_names(root / meta_file, meta_key, n=int(max(lab.max() for lab in labels)) + 1)
    return ImageSet(
        images=torch.from_numpy(np.concatenate(images)),
        labels=torch.from_numpy(np.concatenate(labels)),
        classes=classes,
        name=f"{name}/{split}",
    )


def _class_names(meta: Path, key: bytes, *, n: int) -> tuple[str, ...]:
    if not meta.is_file():
        return tuple(str(i) for i in range(n))
    names = _get(safe_load_pickle(meta), key, meta)
    if not isinstance(names, list) or len(names) < n:
        raise DataError(f"{meta}: {key!r} must list at least {n} class names")
    return tuple(x.decode() if isinstance(x, bytes) else str(x) for x in names)
