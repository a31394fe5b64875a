"""IDX files (the MNIST / Fashion-MNIST format), parsed with numpy.

An IDX file is a 4-byte magic number ``00 00 <dtype> <ndim>``, ``ndim`` big-endian uint32
dimension sizes, then the data in C order. Files may be gzip-compressed (``.gz``).
"""

from __future__ import annotations

import gzip
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from weightspace.data.imageset import ImageSet
from weightspace.errors import DataError

log = logging.getLogger(__name__)

_DTYPES: dict[int, np.dtype[Any]] = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
           0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}  # fmt: skip

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def parse_idx(raw: bytes, *, source: str = "<bytes>") -> np.ndarray:
    """Decode the bytes of one IDX file into an array (raises DataError if malformed)."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{source}: not an IDX file (bad magic number {raw[:4].hex()})")
    code, ndim = raw[2], raw[3]
    if code not in _DTYPES or ndim == 0:
        raise DataError(f"{source}: unsupported IDX type 0x{code:02x} with {ndim} dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{source}: truncated IDX header")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _DTYPES[code]
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(
            f"{source}: IDX header says shape {shape} ({expected} bytes of data) but the file "
            f"holds {len(raw) - header}; the file is truncated or corrupt"
        )
    return (
        np.frombuffer(raw, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def read_idx(path: str | Path) -> np.ndarray:
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError) as err:
        raise DataError(f"cannot read {path}: {err}") from err
    return parse_idx(raw, source=str(path))


def find_idx_file(directory: Path, stem: str) -> Path | None:
    for cand in (
        stem + ".gz",
        stem,
        stem.replace("-idx", ".idx") + ".gz",
        stem.replace("-idx", ".idx"),
    ):
        p = directory / cand
        if p.is_file():
            return p
    return None


def load_idx_pair(directory: Path, split: str, *, classes: tuple[str, ...], name: str) -> ImageSet:
    """Read ``<split>`` images and labels from ``directory`` into an :class:`ImageSet`."""
    if split not in FILES:
        raise DataError(f"{name}: unknown split {split!r}; valid: train, test")
    paths = [find_idx_file(directory, stem) for stem in FILES[split]]
    missing = [stem for stem, p in zip(FILES[split], paths, strict=True) if p is None]
    if missing:
        raise DataError(f"{name}: {', '.join(missing)}(.gz) not found in {directory}")
    assert paths[0] is not None and paths[1] is not None
    images = read_idx(paths[0])
    labels = read_idx(paths[1])
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(
            f"{paths[0]}: expected uint8 images (N, H, W), got {images.dtype} {images.shape}"
        )
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise DataError(
            f"{paths[1]}: {labels.shape} labels for {images.shape[0]} images; files do not match"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= len(classes)):
        raise DataError(f"{paths[1]}: labels outside [0, {len(classes)})")
    log.debug("read %s %s from %s", name, split, directory)
    return ImageSet(
        images=torch.from_numpy(images.copy()).unsqueeze(1),  # (N, H, W) -> (N, 1, H, W)
        labels=torch.from_numpy(labels.astype(np.int64)),
        classes=classes,
        name=f"{name}/{split}",
    )
