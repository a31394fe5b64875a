"""User datasets: an ``ImageFolder`` tree (``root/<class>/<image>``) and ``.npz`` arrays.

A tree or file without its own train/test split is split deterministically (stratified,
20 % test, seed 0) so that ``split="train"`` and ``split="test"`` never overlap;
``split="all"`` returns everything.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from weightspace.data.imageset import ImageSet, train_val_split
from weightspace.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
SPLITS = ("train", "test", "all")
_TEST_FRACTION = 0.2


def _pick_split(full: ImageSet, split: str) -> ImageSet:
    if split == "all":
        return full
    train, test = train_val_split(full, _TEST_FRACTION, seed=0)
    return train if split == "train" else test


def _check_split(split: str, name: str) -> None:
    if split not in SPLITS:
        raise DataError(f"{name}: unknown split {split!r}; valid: {', '.join(SPLITS)}")


def load_image_folder(root: str | Path, split: str = "train") -> ImageSet:
    """Images under ``root/<class>/``; uses ``root/<split>/`` when that folder exists."""
    root = Path(root).expanduser()
    _check_split(split, str(root))
    if not root.is_dir():
        raise DataError(f"image folder {str(root)!r} does not exist")
    if split != "all" and (root / split).is_dir():
        return _read_tree(root / split, name=f"{root.name}/{split}")
    return _pick_split(_read_tree(root, name=root.name), split)


def _read_tree(root: Path, *, name: str) -> ImageSet:
    from PIL import Image

    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"{root}: no class sub-folders; expected {root}/<class>/<image>.png")
    arrays, labels = [], []
    for label, cls in enumerate(classes):
        for f in sorted((root / cls).rglob("*")):
            if f.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                with Image.open(f) as im:
                    gray = im.mode in ("L", "1", "I;16", "I")
                    arrays.append(np.asarray(im.convert("L" if gray else "RGB"), dtype=np.uint8))
            except OSError as err:
                raise DataError(f"cannot read image {f}: {err}") from err
            labels.append(label)
    if not arrays:
        raise DataError(f"{root}: no images ({', '.join(IMAGE_SUFFIXES)}) found")
    shapes = {a.shape[:2] for a in arrays}
    if len(shapes) > 1:
        raise DataError(f"{root}: images differ in size {sorted(shapes)[:4]}; resize them first")
    rgb = any(a.ndim == 3 for a in arrays)
    stacked = np.stack([_to_hwc(a, rgb) for a in arrays])  # (N, H, W, C)
    return ImageSet(
        images=torch.from_numpy(np.ascontiguousarray(stacked.transpose(0, 3, 1, 2))),
        labels=torch.tensor(labels, dtype=torch.int64),
        classes=tuple(classes),
        name=name,
    )


def _to_hwc(a: np.ndarray, rgb: bool) -> np.ndarray:
    if a.ndim == 2:
        a = a[:, :, None]
    if rgb and a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return a


def load_npz(path: str | Path, split: str = "train") -> ImageSet:
    """Arrays ``image`` (N, H, W, C) or (N, H, W) uint8 and ``label`` (N,) integers.

    ``path`` is a file, or a directory holding ``train.npz`` and ``test.npz``. An optional
    ``classes`` array of strings names the classes.
    """
    path = Path(path).expanduser()
    _check_split(split, str(path))
    if path.is_dir():
        if split == "all":
            raise DataError(f"{path}: split 'all' needs a single .npz file")
        return _read_npz(path / f"{split}.npz", name=f"{path.name}/{split}")
    return _pick_split(_read_npz(path, name=path.stem), split)


def _read_npz(path: Path, *, name: str) -> ImageSet:
    if not path.is_file():
        raise DataError(f"npz file {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as err:
        raise DataError(f"{path} is not a readable .npz file (no pickles allowed): {err}") from err
    for key in ("image", "label"):
        if key not in arrays:
            raise DataError(f"{path}: array {key!r} missing (has {sorted(arrays)})")
    image, label = arrays["image"], arrays["label"]
    if image.dtype != np.uint8 or image.ndim not in (3, 4):
        raise DataError(
            f"{path}: 'image' must be uint8 (N, H, W, C) or (N, H, W), got {image.dtype} "
            f"{image.shape}"
        )
    if image.ndim == 3:
        image = image[..., None]
    if image.shape[3] not in (1, 3):
        raise DataError(f"{path}: 'image' must have 1 or 3 channels last, got {image.shape}")
    if label.ndim != 1 or label.shape[0] != image.shape[0] or label.dtype.kind not in "iu":
        raise DataError(
            f"{path}: 'label' must be N={image.shape[0]} integers, got {label.dtype} {label.shape}"
        )
    if label.size and label.min() < 0:
        raise DataError(f"{path}: negative labels")
    n_classes = int(label.max()) + 1 if label.size else 1
    classes = (
        tuple(str(c) for c in arrays["classes"])
        if "classes" in arrays
        else tuple(str(i) for i in range(n_classes))
    )
    return ImageSet(
        images=torch.from_numpy(np.ascontiguousarray(image.transpose(0, 3, 1, 2))),
        labels=torch.from_numpy(label.astype(np.int64)),
        classes=classes,
        name=name,
    )
