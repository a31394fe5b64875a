"""Import synthetic image sets from local files, validated on load.

Accepted sources (the formats in which published synthetic sets circulate):

- ``.npz`` with ``image`` (N×H×W×C or N×H×W uint8) and ``label`` (N,) arrays — the layout
  of the diffusion-generated CIFAR-10 sets (e.g. the EDM sets);
- an ``ImageFolder`` tree ``root/<class>/<image>``;
- a directory of PNGs with a ``labels.csv`` (columns ``filename,label``; the label is a
  class index or a class name).

Every set is checked against the real training set it will be mixed with: image shape,
dtype, label range and class balance. A set that cannot be mixed raises ``DataError``
with what was found and how to fix it.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np
import torch

from weightspace.data.folder import load_image_folder
from weightspace.data.imageset import ImageSet
from weightspace.errors import DataError

log = logging.getLogger(__name__)

LABELS_CSV = "labels.csv"
# A class with fewer than this fraction of the mean class count is flagged as imbalanced.
IMBALANCE_WARN = 0.5


def load_synthetic(path: str | Path, *, like: ImageSet | None = None) -> ImageSet:
    """Read a synthetic set from ``path`` and validate it (against ``like`` if given)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(
            f"synthetic source {str(path)!r} does not exist; give an .npz file, an ImageFolder "
            f'tree or a folder of PNGs with {LABELS_CSV}, or use source = "builtin"'
        )
    if path.is_file():
        if path.suffix.lower() != ".npz":
            raise DataError(
                f"synthetic file {path.name!r} is not an .npz; expected image/label arrays"
            )
        ds = _read_npz(path)
    elif (path / LABELS_CSV).is_file():
        ds = _read_png_csv(path, like)
    else:
        ds = load_image_folder(path, split="all")
    if like is not None:
        ds = conform(ds, like)
    check_balance(ds)
    return ds


def _read_npz(path: Path) -> ImageSet:
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = set(z.files)
            if not {"image", "label"} <= keys:
                raise DataError(
                    f"{path}: expected arrays 'image' and 'label', found {sorted(keys)}; save with "
                    "np.savez(path, image=uint8 N×H×W×C, label=int N)"
                )
            images, labels = z["image"], z["label"]
    except (OSError, ValueError) as err:
        raise DataError(
            f"{path}: not a readable .npz file ({err}); re-export it with numpy.savez"
        ) from err
    if images.dtype != np.uint8:
        raise DataError(
            f"{path}: 'image' has dtype {images.dtype}; expected uint8 pixels in [0, 255]"
        )
    if images.ndim == 3:
        images = images[..., None]  # (N, H, W) -> (N, H, W, 1)
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise DataError(f"{path}: 'image' shaped {images.shape}; expected N×H×W×C with C = 1 or 3")
    labels = np.asarray(labels).reshape(-1)
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{path}: 'label' has dtype {labels.dtype}; expected integer class indices")
    if len(labels) != len(images):
        raise DataError(f"{path}: {len(images)} images but {len(labels)} labels")
    if len(labels) and labels.min() < 0:
        raise DataError(f"{path}: negative label {int(labels.min())}")
    n_classes = int(labels.max()) + 1 if len(labels) else 1
    return ImageSet(
        images=torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))),  # (N, C, H, W)
        labels=torch.from_numpy(labels.astype(np.int64)),
        classes=tuple(str(i) for i in range(n_classes)),
        name=f"synthetic:{path.name}",
    )


def _read_png_csv(root: Path, like: ImageSet | None) -> ImageSet:
    from PIL import Image

    names = {c: i for i, c in enumerate(like.classes)} if like is not None else {}
    arrays, labels = [], []
    with (root / LABELS_CSV).open(newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or not {"filename", "label"} <= set(reader.fieldnames):
            raise DataError(
                f"{root / LABELS_CSV}: expected a header 'filename,label', got {reader.fieldnames}"
            )
        for lineno, row in enumerate(reader, start=2):
            f = root / row["filename"]
            if not f.is_file():
                raise DataError(
                    f"{root / LABELS_CSV}:{lineno}: image {row['filename']!r} not found"
                )
            raw = row["label"].strip()
            if raw.lstrip("-").isdigit():
                label = int(raw)
            elif raw in names:
                label = names[raw]
            else:
                raise DataError(
                    f"{root / LABELS_CSV}:{lineno}: label {raw!r} is neither a class index nor a "
                    f"class name ({', '.join(names) or 'no class names known'})"
                )
            with Image.open(f) as raw_image:
                mode = "L" if raw_image.mode in ("L", "1", "I;16", "I") else "RGB"
                a = np.asarray(raw_image.convert(mode), dtype=np.uint8)
            arrays.append(a[..., None] if a.ndim == 2 else a)
            labels.append(label)
    if not arrays:
        raise DataError(f"{root / LABELS_CSV} lists no images")
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise DataError(
            f"{root}: images have different shapes {sorted(shapes)}; resize them to one size"
        )
    lab = np.asarray(labels, dtype=np.int64)
    if lab.min() < 0:
        raise DataError(f"{root / LABELS_CSV}: negative label {int(lab.min())}")
    n_classes = len(names) if names else int(lab.max()) + 1
    return ImageSet(
        images=torch.from_numpy(np.stack(arrays).transpose(0, 3, 1, 2).copy()),  # (N, C, H, W)
        labels=torch.from_numpy(lab),
        classes=like.classes if like is not None else tuple(str(i) for i in range(n_classes)),
        name=f"synthetic:{root.name}",
    )


def conform(ds: ImageSet, like: ImageSet) -> ImageSet:
    """Check that ``ds`` can be mixed with ``like``: same C×H×W and label range.

    Grayscale ↔ RGB is converted (luminance / replication); other mismatches are errors.
    """
    if int(ds.labels.max()) >= like.num_classes:
        raise DataError(
            f"{ds.name}: label {int(ds.labels.max())} is out of range for {like.name} "
            f"({like.num_classes} classes)"
        )
    images = ds.images
    c_real, c_syn = like.in_channels, ds.in_channels
    if c_syn != c_real:
        if c_syn == 3 and c_real == 1:  # (N, 3, H, W) -> (N, 1, H, W), ITU-R 601 luminance
            w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
            images = (images.float() * w).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
        elif c_syn == 1 and c_real == 3:
            images = images.expand(-1, 3, -1, -1).contiguous()
        else:
            raise DataError(f"{ds.name}: {c_syn} channels cannot be matched to {c_real}")
    if images.shape[2:] != like.images.shape[2:]:
        raise DataError(
            f"{ds.name}: images are {tuple(images.shape[2:])} pixels but the real data is "
            f"{tuple(like.images.shape[2:])}; resize the synthetic set to the real image size"
        )
    return ImageSet(images=images, labels=ds.labels, classes=like.classes, name=ds.name)


def class_counts(ds: ImageSet) -> np.ndarray:
    return np.bincount(ds.labels.numpy(), minlength=ds.num_classes)


def check_balance(ds: ImageSet) -> None:
    """Raise if a class is missing; warn if a class has < half the mean count."""
    counts = class_counts(ds)
    missing = [ds.classes[i] for i in np.flatnonzero(counts == 0)]
    if missing:
        raise DataError(
            f"{ds.name}: no samples for class(es) {', '.join(missing)}; a class-balanced mix "
            "needs samples of every class"
        )
    low = np.flatnonzero(counts < IMBALANCE_WARN * counts.mean())
    if len(low):
        log.warning(
            "%s: classes %s have fewer than half the mean number of samples (%s)",
            ds.name,
            ", ".join(ds.classes[i] for i in low),
            counts.tolist(),
        )
