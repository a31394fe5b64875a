"""The in-memory image dataset every loader returns, and seeded stratified sampling."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from weightspace.errors import ConfigError, DataError


def check_labels(
    labels: torch.Tensor, classes: tuple[str, ...], *, n: int, what: str, name: str
) -> tuple[str, ...]:
    """Validate ``labels`` for ``n`` items (``what``: "images", "texts") against ``classes``.

    Returns the class names as a tuple of strings; raises :class:`DataError` naming ``name``.
    """
    if not isinstance(labels, torch.Tensor) or labels.dtype != torch.int64:
        raise DataError(f"{name}: labels must be a torch.int64 tensor")
    if labels.shape != (n,):
        raise DataError(f"{name}: {n} {what} but labels shaped {tuple(labels.shape)}")
    if not classes:
        raise DataError(f"{name}: no class names")
    names = tuple(str(c) for c in classes)
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= len(names)):
        raise DataError(
            f"{name}: labels span [{int(labels.min())}, {int(labels.max())}] "
            f"but there are {len(names)} classes"
        )
    return names


@dataclass(frozen=True)
class ImageSet:
    """Images and labels held in memory.

    ``images``: ``torch.uint8`` shaped ``(N, C, H, W)``; ``labels``: ``torch.int64 (N,)``
    with values in ``[0, len(classes))``; ``classes``: class names; ``name``: where it came
    from (e.g. ``"fashion-mnist/train"``).
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    name: str

    def __post_init__(self) -> None:
        if not isinstance(self.images, torch.Tensor) or self.images.dtype != torch.uint8:
            raise DataError(f"{self.name}: images must be a torch.uint8 tensor")
        if self.images.ndim != 4:
            raise DataError(
                f"{self.name}: images must be shaped (N, C, H, W), got {tuple(self.images.shape)}"
            )
        classes = check_labels(
            self.labels, self.classes, n=int(self.images.shape[0]), what="images", name=self.name
        )
        object.__setattr__(self, "classes", classes)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.images.shape[2]), int(self.images.shape[3])

    def mean(self) -> tuple[float, ...]:
        """Per-channel mean of the pixels scaled to [0, 1]."""
        return tuple(float(m) for m in channel_moments(self.images)[0])

    def std(self) -> tuple[float, ...]:
        """Per-channel standard deviation of the pixels scaled to [0, 1] (population)."""
        return tuple(float(s) for s in channel_moments(self.images)[1])

    def select(self, indices: torch.Tensor | np.ndarray, *, name: str | None = None) -> ImageSet:
        """The subset at ``indices`` (order kept)."""
        idx = torch.as_tensor(np.asarray(indices), dtype=torch.int64)
        return dataclasses.replace(
            self, images=self.images[idx], labels=self.labels[idx], name=name or self.name
        )


def channel_moments(images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (mean, population std) of uint8 ``images`` on [0, 1], float64, chunked."""
    """Per-channel mean and std of ``images / 255`` from exact 256-bin histograms."""
    c = images.shape[1]
    if images.numel() == 0:
        return np.full(c, np.nan), np.full(c, np.nan)
    values = np.arange(256, dtype=np.float64) / 255.0
    mean, std = np.empty(c), np.empty(c)
    for ch in range(c):
        hist = torch.bincount(images[:, ch].reshape(-1), minlength=256).numpy()  # (256,)
        n = hist.sum()
        mean[ch] = (hist * values).sum() / n
        std[ch] = np.sqrt(max((hist * values**2).sum() / n - mean[ch] ** 2, 0.0))
    return mean, std


def _stratified_order(labels: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Per class, its indices in a seeded random order."""
    return [rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]


def allocate(counts: np.ndarray, n: int) -> np.ndarray:
    """Split ``n`` over classes proportionally to ``counts`` (largest remainders), at most
    ``counts[c]`` for class c."""
    exact = counts * (n / counts.sum())
    take = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - take), kind="stable")
    for i in order[: n - int(take.sum())]:
        take[i] += 1
    return np.minimum(take, counts)


def stratified_subset(ds: ImageSet, n: int, *, seed: int) -> ImageSet:
    """``n`` samples drawn without replacement, class proportions kept, seeded.

    ``n >= len(ds)`` returns ``ds`` unchanged. Indices are returned sorted so that the
    subset keeps the dataset's order.
    """
    if n < 1:
        raise ConfigError(f"subset size must be >= 1, got {n}")
    if n >= len(ds):
        return ds
    labels = ds.labels.numpy()
    per_class = _stratified_order(labels, np.random.default_rng(seed))
    take = allocate(np.array([len(p) for p in per_class]), n)
    idx = np.sort(np.concatenate([p[:k] for p, k in zip(per_class, take, strict=True)]))
    return ds.select(idx, name=f"{ds.name}[{n}]")


def train_val_split(ds: ImageSet, val_fraction: float, *, seed: int) -> tuple[ImageSet, ImageSet]:
    """Stratified, seeded split into (train, validation); each class keeps its proportion."""
    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be in (0, 1), got {val_fraction}")
    labels = ds.labels.numpy()
    per_class = _stratified_order(labels, np.random.default_rng(seed))
    n_val = round(val_fraction * len(ds))
    if n_val < 1 or n_val >= len(ds):
        raise ConfigError(
            f"val_fraction={val_fraction} of {len(ds)} samples leaves an empty split; "
            "use a larger dataset or another fraction"
        )
    take = allocate(np.array([len(p) for p in per_class]), n_val)
    val = np.sort(np.concatenate([p[:k] for p, k in zip(per_class, take, strict=True)]))
    train = np.setdiff1d(np.arange(len(ds)), val)
    return ds.select(train, name=f"{ds.name}:train"), ds.select(val, name=f"{ds.name}:val")
