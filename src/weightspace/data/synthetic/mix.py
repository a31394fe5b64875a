"""Mix real and synthetic training data: the paper's ``gen`` conditions.

- ``replace`` p — a fraction p of the real training set is replaced by synthetic samples of
  the same classes (same size; class-balanced: each class loses and regains round(p·n_c));
  p = 1.0 trains on synthetic data only. Replaced rows keep their positions, so row i of the
  mix is paired with row i of the real set (the pairing the paper's ρ uses).
- ``add`` p — round(p·n) synthetic samples, allocated to classes in the real proportions,
  appended after the full real set.
- filtered — either mode, drawing only from synthetic samples that a classifier trained on
  real data labels as their intended class with confidence ≥ τ (the paper's "verified" set).

Every mix returns the mixed set and a boolean mask of which rows are synthetic.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from weightspace.data.imageset import ImageSet, _allocate
from weightspace.errors import ConfigError, DataError

log = logging.getLogger(__name__)

MODES = ("replace", "add")


@dataclass(frozen=True)
class Mix:
    data: ImageSet
    synthetic: np.ndarray  # bool (N,), True where the row is synthetic

    @property
    def n_synthetic(self) -> int:
        return int(self.synthetic.sum())


def _draw(
    synth: ImageSet, counts: np.ndarray, rng: np.random.Generator, *, why: str, shortfall: bool
) -> np.ndarray:
    """Per class c, ``counts[c]`` synthetic indices drawn without replacement.

    With ``shortfall`` a class with too few samples contributes all it has (and a warning);
    otherwise that is an error.
    """
    labels = synth.labels.numpy()
    out = []
    for c, k in enumerate(counts):
        pool = np.flatnonzero(labels == c)
        if k > len(pool) and shortfall:
            log.warning(
                "%s: class %r has %d synthetic samples, %d wanted; using all of them",
                why,
                synth.classes[c],
                len(pool),
                k,
            )
            k = len(pool)
        if k > len(pool):
            raise DataError(
                f"{why} needs {k} synthetic samples of class {synth.classes[c]!r} but "
                f"{synth.name} has {len(pool)}; generate more samples (e.g. samples_per_class) "
                "or lower the fraction / the filter threshold"
            )
        out.append(rng.choice(pool, size=int(k), replace=False))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def _check_fraction(fraction: float, mode: str) -> None:
    hi = 1.0 if mode == "replace" else 10.0
    if not 0.0 <= fraction <= hi:
        raise ConfigError(f"{mode} fraction must be in [0, {hi}], got {fraction}")


def mix_replace(
    real: ImageSet, synth: ImageSet, fraction: float, *, seed: int, shortfall: bool = False
) -> Mix:
    """Replace round(fraction·n_c) real samples of each class c by synthetic ones.

    With ``shortfall`` (filtered sources) a class replaces only as many rows as it has
    synthetic samples; the rest stay real.
    """
    _check_fraction(fraction, "replace")
    rng = np.random.default_rng(seed)
    labels = real.labels.numpy()
    n_classes = real.num_classes
    counts = np.array([round(fraction * int((labels == c).sum())) for c in range(n_classes)])
    images = real.images.clone()
    mask = np.zeros(len(real), dtype=bool)
    syn_idx = _draw(
        synth, counts, rng, why=f"replacing {fraction:g} of the real set", shortfall=shortfall
    )
    syn_labels = synth.labels.numpy()[syn_idx]
    for c in range(n_classes):
        src = syn_idx[syn_labels == c]
        rows = rng.choice(np.flatnonzero(labels == c), size=len(src), replace=False)
        images[torch.from_numpy(rows)] = synth.images[torch.from_numpy(src)]
        mask[rows] = True
    name = f"{real.name}+gen{fraction:g}"
    return Mix(
        ImageSet(images=images, labels=real.labels.clone(), classes=real.classes, name=name), mask
    )


def mix_add(
    real: ImageSet, synth: ImageSet, fraction: float, *, seed: int, shortfall: bool = False
) -> Mix:
    """Append round(fraction·n) synthetic samples (class proportions of the real set)."""
    _check_fraction(fraction, "add")
    rng = np.random.default_rng(seed)
    n_add = round(fraction * len(real))
    real_counts = np.bincount(real.labels.numpy(), minlength=real.num_classes)
    counts = _allocate(real_counts, n_add) if n_add else np.zeros(real.num_classes, dtype=np.int64)
    # _allocate caps at the real counts; with fraction > 1 allocate the exact share instead
    if counts.sum() < n_add:
        counts = np.floor(real_counts * (n_add / real_counts.sum())).astype(np.int64)
        counts[: n_add - int(counts.sum())] += 1
    syn_idx = rng.permutation(
        _draw(synth, counts, rng, why=f"adding {fraction:g}× the real set", shortfall=shortfall)
    )
    t = torch.from_numpy(syn_idx)
    images = torch.cat([real.images, synth.images[t]])
    labels = torch.cat([real.labels, synth.labels[t]])
    mask = np.concatenate([np.zeros(len(real), bool), np.ones(len(syn_idx), bool)])
    name = f"{real.name}+gen{fraction:g}_add"
    return Mix(ImageSet(images=images, labels=labels, classes=real.classes, name=name), mask)


def filter_by_confidence(synth: ImageSet, confidence: np.ndarray, tau: float) -> ImageSet:
    """Keep synthetic samples whose intended-class probability is at least ``tau``.

    ``confidence[i]`` is a real-data classifier's softmax probability of sample i's
    intended label *when that label is also the arg-max* (0 otherwise), see
    :func:`weightspace.synthetic.generator.intended_class_confidence`.
    """
    if not 0.0 <= tau <= 1.0:
        raise ConfigError(f"filter threshold tau must be in [0, 1], got {tau}")
    confidence = np.asarray(confidence, dtype=np.float64)
    if confidence.shape != (len(synth),):
        raise DataError(f"{len(confidence)} confidences for {len(synth)} synthetic samples")
    keep = np.flatnonzero(confidence >= tau)
    return synth.select(keep, name=f"{synth.name}[vf{tau:g}]")


def mix(
    real: ImageSet,
    synth: ImageSet,
    *,
    mode: str,
    fraction: float,
    seed: int,
    shortfall: bool = False,
) -> Mix:
    if mode == "replace":
        return mix_replace(real, synth, fraction, seed=seed, shortfall=shortfall)
    if mode == "add":
        return mix_add(real, synth, fraction, seed=seed, shortfall=shortfall)
    raise ConfigError(f"unknown synthetic mode {mode!r}; valid: {', '.join(MODES)}")
